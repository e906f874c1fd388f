//! Encoders for WebSocket API requests, into preallocated buffers.
//!
//! [`encode_into`] writes one request frame
//! `{"id":N,"method":"..","params":{..}}` into a caller-provided buffer.
//! Parameters go into one slot per known name; the names are declared in
//! signing order (byte order, as Binance sorts them), so walking the slots
//! emits them sorted without sorting. `order.place`, the request on the
//! tick path, skips the slots: it is written straight through in that
//! order, with every key a constant (a property test holds it to the slot
//! path byte for byte). Each parameter is rendered once: its bytes go to
//! the JSON frame and, for a signed request, to the signing payload
//! (`name=value&..`, in a second caller-provided buffer), so what is signed
//! is exactly what is sent. The signature is appended last. Prices and
//! quantities are written as plain decimals by `shared`'s fixed-point
//! printer, never in exponent notation. Nothing here allocates.

use odex_shared::market::{Amount, Price, Qty, SCALE, SCALE_DIGITS, Side};

use super::sign::{MAX_SIGNATURE_LEN, SignError, Signer};

/// Longest `newClientOrderId` Binance accepts.
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 36;

/// Why a request could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The frame or payload buffer is too small.
    #[error("request buffer too small")]
    BufferTooSmall,
    /// A string parameter is empty, too long or has a byte that would need
    /// escaping or would change the signing payload.
    #[error("invalid value for parameter {0}")]
    InvalidParam(&'static str),
    /// A parameter the method needs is missing.
    #[error("missing parameter {0}")]
    MissingParam(&'static str),
    /// The method must be signed (`session.logon`,
    /// `userDataStream.subscribe.signature`) but no signer was given.
    #[error("method {0} needs a signed request")]
    NeedsSignature(&'static str),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Sign(#[from] SignError),
}

/// Order type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    /// `LIMIT`.
    Limit,
    /// `MARKET`.
    Market,
    /// `LIMIT_MAKER`: rejected instead of taking.
    LimitMaker,
    /// `STOP_LOSS`.
    StopLoss,
    /// `STOP_LOSS_LIMIT`.
    StopLossLimit,
    /// `TAKE_PROFIT`.
    TakeProfit,
    /// `TAKE_PROFIT_LIMIT`.
    TakeProfitLimit,
}

impl OrderType {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Limit => "LIMIT",
            Self::Market => "MARKET",
            Self::LimitMaker => "LIMIT_MAKER",
            Self::StopLoss => "STOP_LOSS",
            Self::StopLossLimit => "STOP_LOSS_LIMIT",
            Self::TakeProfit => "TAKE_PROFIT",
            Self::TakeProfitLimit => "TAKE_PROFIT_LIMIT",
        }
    }
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till canceled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

impl TimeInForce {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "GTC",
            Self::Ioc => "IOC",
            Self::Fok => "FOK",
        }
    }
}

/// `newOrderRespType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// Ids only.
    Ack,
    /// The order's state.
    Result,
    /// The state and the fills.
    Full,
}

impl ResponseType {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ACK",
            Self::Result => "RESULT",
            Self::Full => "FULL",
        }
    }
}

/// `selfTradePreventionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StpMode {
    /// `NONE`.
    None,
    /// `EXPIRE_TAKER`.
    ExpireTaker,
    /// `EXPIRE_MAKER`.
    ExpireMaker,
    /// `EXPIRE_BOTH`.
    ExpireBoth,
    /// `DECREMENT`.
    Decrement,
}

impl StpMode {
    /// Binance's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::ExpireTaker => "EXPIRE_TAKER",
            Self::ExpireMaker => "EXPIRE_MAKER",
            Self::ExpireBoth => "EXPIRE_BOTH",
            Self::Decrement => "DECREMENT",
        }
    }
}

/// `order.place` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderPlace<'a> {
    /// Symbol, upper case.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// Type.
    pub order_type: OrderType,
    /// Time in force (LIMIT-style orders only).
    pub time_in_force: Option<TimeInForce>,
    /// Limit price.
    pub price: Option<Price>,
    /// Base quantity.
    pub quantity: Option<Qty>,
    /// Quote quantity (MARKET orders instead of `quantity`).
    pub quote_order_qty: Option<Amount>,
    /// Stop price (stop and take-profit types).
    pub stop_price: Option<Price>,
    /// Client order id: the idempotency key, `[A-Za-z0-9_-]{1,36}`.
    pub new_client_order_id: Option<&'a str>,
    /// Response detail.
    pub response_type: Option<ResponseType>,
    /// Self-trade prevention.
    pub stp_mode: Option<StpMode>,
    /// Fractional digits the price is padded to (`0` trims: `52000`; `2`
    /// writes `52000.00`). Values are exact either way.
    pub price_decimals: u8,
    /// Fractional digits quantities are padded to.
    pub qty_decimals: u8,
}

impl<'a> OrderPlace<'a> {
    /// A GTC limit order with trimmed decimals.
    pub const fn limit(symbol: &'a str, side: Side, price: Price, quantity: Qty) -> Self {
        Self {
            symbol,
            side,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(price),
            quantity: Some(quantity),
            quote_order_qty: None,
            stop_price: None,
            new_client_order_id: None,
            response_type: None,
            stp_mode: None,
            price_decimals: 0,
            qty_decimals: 0,
        }
    }
}

/// Which order an `order.cancel` or `order.status` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRef<'a> {
    /// Symbol.
    pub symbol: &'a str,
    /// Exchange order id.
    pub order_id: Option<u64>,
    /// Client order id it was placed with.
    pub orig_client_order_id: Option<&'a str>,
}

/// One WebSocket API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `time`: the server clock.
    Time,
    /// `ping`: connectivity check.
    Ping,
    /// `exchangeInfo`, optionally for one symbol.
    ExchangeInfo {
        /// Restrict to this symbol.
        symbol: Option<&'a str>,
    },
    /// `order.place`.
    OrderPlace(OrderPlace<'a>),
    /// `order.cancel`.
    OrderCancel {
        /// The order.
        order: OrderRef<'a>,
        /// Client id for the cancel itself.
        new_client_order_id: Option<&'a str>,
    },
    /// `order.status`.
    OrderStatus(OrderRef<'a>),
    /// `openOrders.status`, for one symbol or all.
    OpenOrdersStatus {
        /// Restrict to this symbol.
        symbol: Option<&'a str>,
    },
    /// `openOrders.cancelAll` for one symbol.
    OpenOrdersCancelAll {
        /// The symbol.
        symbol: &'a str,
    },
    /// `account.status`.
    AccountStatus {
        /// Leave out zero balances.
        omit_zero_balances: bool,
    },
    /// `session.logon` (Ed25519 keys): later requests need no signature.
    SessionLogon,
    /// `userDataStream.subscribe` (after `session.logon`).
    UserDataStreamSubscribe,
    /// `userDataStream.subscribe.signature` (any key type).
    UserDataStreamSubscribeSignature,
}

impl Request<'_> {
    /// The method name.
    pub const fn method(&self) -> &'static str {
        match self {
            Self::Time => "time",
            Self::Ping => "ping",
            Self::ExchangeInfo { .. } => "exchangeInfo",
            Self::OrderPlace(_) => "order.place",
            Self::OrderCancel { .. } => "order.cancel",
            Self::OrderStatus(_) => "order.status",
            Self::OpenOrdersStatus { .. } => "openOrders.status",
            Self::OpenOrdersCancelAll { .. } => "openOrders.cancelAll",
            Self::AccountStatus { .. } => "account.status",
            Self::SessionLogon => "session.logon",
            Self::UserDataStreamSubscribe => "userDataStream.subscribe",
            Self::UserDataStreamSubscribeSignature => "userDataStream.subscribe.signature",
        }
    }

    /// True for methods that carry account parameters (`timestamp`, and
    /// `apiKey` + `signature` unless the session is logged on).
    const fn is_private(&self) -> bool {
        !matches!(self, Self::Time | Self::Ping | Self::ExchangeInfo { .. } | Self::UserDataStreamSubscribe)
    }

    /// True for methods that must carry a signature even after logon.
    const fn always_signed(&self) -> bool {
        matches!(self, Self::SessionLogon | Self::UserDataStreamSubscribeSignature)
    }
}

/// How a private request is authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'k> {
    /// No account parameters (public methods).
    None,
    /// The connection is logged on (`session.logon`): send `timestamp`
    /// (and `recvWindow`), no `apiKey` or `signature`.
    Session {
        /// Request time, ms since the epoch, from the offset-corrected clock.
        timestamp_ms: u64,
        /// `recvWindow`, ms.
        recv_window_ms: Option<u32>,
    },
    /// Sign this request.
    Signed {
        /// The API key.
        api_key: &'k str,
        /// The signer for the key's secret.
        signer: &'k Signer,
        /// Request time, ms since the epoch, from the offset-corrected clock.
        timestamp_ms: u64,
        /// `recvWindow`, ms.
        recv_window_ms: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    /// A validated string, quoted in JSON.
    Str(&'a str),
    /// An integer, bare in JSON.
    Int(u64),
    /// A fixed-point raw value and its minimum fractional digits, quoted.
    Decimal(i64, u8),
    /// A boolean, bare in JSON.
    Bool(bool),
}

/// Every parameter name odex sends, declared in signing order (byte order
/// of the names; a test holds the two together), so that walking the
/// variants in declaration order emits parameters sorted with no sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Name {
    /// `apiKey`.
    ApiKey,
    /// `newClientOrderId`.
    NewClientOrderId,
    /// `newOrderRespType`.
    NewOrderRespType,
    /// `omitZeroBalances`.
    OmitZeroBalances,
    /// `orderId`.
    OrderId,
    /// `origClientOrderId`.
    OrigClientOrderId,
    /// `price`.
    Price,
    /// `quantity`.
    Quantity,
    /// `quoteOrderQty`.
    QuoteOrderQty,
    /// `recvWindow`.
    RecvWindow,
    /// `selfTradePreventionMode`.
    SelfTradePreventionMode,
    /// `side`.
    Side,
    /// `stopPrice`.
    StopPrice,
    /// `symbol`.
    Symbol,
    /// `timeInForce`.
    TimeInForce,
    /// `timestamp`.
    Timestamp,
    /// `type`.
    Type,
}

impl Name {
    const COUNT: usize = 17;
    const ALL: [Self; Self::COUNT] = [
        Self::ApiKey,
        Self::NewClientOrderId,
        Self::NewOrderRespType,
        Self::OmitZeroBalances,
        Self::OrderId,
        Self::OrigClientOrderId,
        Self::Price,
        Self::Quantity,
        Self::QuoteOrderQty,
        Self::RecvWindow,
        Self::SelfTradePreventionMode,
        Self::Side,
        Self::StopPrice,
        Self::Symbol,
        Self::TimeInForce,
        Self::Timestamp,
        Self::Type,
    ];

    #[inline(always)]
    const fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "apiKey",
            Self::NewClientOrderId => "newClientOrderId",
            Self::NewOrderRespType => "newOrderRespType",
            Self::OmitZeroBalances => "omitZeroBalances",
            Self::OrderId => "orderId",
            Self::OrigClientOrderId => "origClientOrderId",
            Self::Price => "price",
            Self::Quantity => "quantity",
            Self::QuoteOrderQty => "quoteOrderQty",
            Self::RecvWindow => "recvWindow",
            Self::SelfTradePreventionMode => "selfTradePreventionMode",
            Self::Side => "side",
            Self::StopPrice => "stopPrice",
            Self::Symbol => "symbol",
            Self::TimeInForce => "timeInForce",
            Self::Timestamp => "timestamp",
            Self::Type => "type",
        }
    }

    /// `"name":` as written into the JSON frame.
    #[inline(always)]
    const fn json_key(self) -> &'static [u8] {
        match self {
            Self::ApiKey => b"\"apiKey\":",
            Self::NewClientOrderId => b"\"newClientOrderId\":",
            Self::NewOrderRespType => b"\"newOrderRespType\":",
            Self::OmitZeroBalances => b"\"omitZeroBalances\":",
            Self::OrderId => b"\"orderId\":",
            Self::OrigClientOrderId => b"\"origClientOrderId\":",
            Self::Price => b"\"price\":",
            Self::Quantity => b"\"quantity\":",
            Self::QuoteOrderQty => b"\"quoteOrderQty\":",
            Self::RecvWindow => b"\"recvWindow\":",
            Self::SelfTradePreventionMode => b"\"selfTradePreventionMode\":",
            Self::Side => b"\"side\":",
            Self::StopPrice => b"\"stopPrice\":",
            Self::Symbol => b"\"symbol\":",
            Self::TimeInForce => b"\"timeInForce\":",
            Self::Timestamp => b"\"timestamp\":",
            Self::Type => b"\"type\":",
        }
    }

    /// `name=` as written into the signing payload.
    #[inline(always)]
    const fn payload_key(self) -> &'static [u8] {
        match self {
            Self::ApiKey => b"apiKey=",
            Self::NewClientOrderId => b"newClientOrderId=",
            Self::NewOrderRespType => b"newOrderRespType=",
            Self::OmitZeroBalances => b"omitZeroBalances=",
            Self::OrderId => b"orderId=",
            Self::OrigClientOrderId => b"origClientOrderId=",
            Self::Price => b"price=",
            Self::Quantity => b"quantity=",
            Self::QuoteOrderQty => b"quoteOrderQty=",
            Self::RecvWindow => b"recvWindow=",
            Self::SelfTradePreventionMode => b"selfTradePreventionMode=",
            Self::Side => b"side=",
            Self::StopPrice => b"stopPrice=",
            Self::Symbol => b"symbol=",
            Self::TimeInForce => b"timeInForce=",
            Self::Timestamp => b"timestamp=",
            Self::Type => b"type=",
        }
    }
}

/// The parameters of one request, one slot per [`Name`].
struct Params<'a> {
    slots: [Option<Value<'a>>; Name::COUNT],
}

impl<'a> Params<'a> {
    const fn new() -> Self {
        Self { slots: [None; Name::COUNT] }
    }

    fn push(&mut self, name: Name, value: Value<'a>) -> Result<(), EncodeError> {
        let slot = self.slots.get_mut(name as usize).ok_or(EncodeError::InvalidParam(name.as_str()))?;
        *slot = Some(value);
        Ok(())
    }

    fn push_opt(&mut self, name: Name, value: Option<Value<'a>>) -> Result<(), EncodeError> {
        match value {
            Some(v) => self.push(name, v),
            None => Ok(()),
        }
    }

    fn text(&mut self, name: Name, s: &'a str, max_len: usize) -> Result<(), EncodeError> {
        check_text(name.as_str(), s, max_len)?;
        self.push(name, Value::Str(s))
    }

    fn text_opt(&mut self, name: Name, s: Option<&'a str>, max_len: usize) -> Result<(), EncodeError> {
        match s {
            Some(s) => self.text(name, s, max_len),
            None => Ok(()),
        }
    }

    /// The parameters that are set, in signing order.
    fn sorted(&self) -> impl Iterator<Item = (Name, Value<'a>)> + '_ {
        Name::ALL.iter().zip(&self.slots).filter_map(|(n, v)| v.map(|v| (*n, v)))
    }
}

/// Printable ASCII without the bytes that would need JSON escaping or that
/// would make the signing payload ambiguous.
fn check_text(name: &'static str, s: &str, max_len: usize) -> Result<(), EncodeError> {
    let ok = !s.is_empty()
        && s.len() <= max_len
        // a fold without early exit, so the check vectorises
        && s.bytes().fold(true, |ok, b| {
            ok & (b > b' ') & (b < 0x7f) & (b != b'"') & (b != b'\\') & (b != b'&') & (b != b'=')
        });
    if ok { Ok(()) } else { Err(EncodeError::InvalidParam(name)) }
}

fn check_client_id(name: Name, s: &str) -> Result<(), EncodeError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_CLIENT_ORDER_ID_LEN
        // a fold without early exit, so the check vectorises
        && s.bytes().fold(true, |ok, b| ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_')));
    if ok { Ok(()) } else { Err(EncodeError::InvalidParam(name.as_str())) }
}

/// A cursor writing into a fixed buffer.
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Out<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.len.checked_add(bytes.len()).ok_or(EncodeError::BufferTooSmall)?;
        copy_short(self.buf.get_mut(self.len..end).ok_or(EncodeError::BufferTooSmall)?, bytes);
        self.len = end;
        Ok(())
    }

    fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// `dst.copy_from_slice(src)` for slices of equal length, without a
/// `memcpy` call for the short pieces (keys, quotes, numbers) a request is
/// made of: up to 32 bytes are two fixed-size copies from the front and the
/// back, overlapping in the middle. A request has some 40 such pieces, and
/// the calls were a tenth of encoding it.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    #[inline(always)]
    fn ends<const K: usize>(dst: &mut [u8], src: &[u8]) {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<K>(), src.first_chunk::<K>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<K>(), src.last_chunk::<K>()) {
            *d = *s;
        }
    }
    match src.len() {
        n if n != dst.len() => {}
        0..4 => dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s),
        4..8 => ends::<4>(dst, src),
        8..16 => ends::<8>(dst, src),
        16..=32 => ends::<16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// Renders a value's text (what is signed; JSON adds quotes for strings).
#[inline(always)]
fn render<'s>(value: &Value<'s>, tmp: &'s mut [u8; 32]) -> Result<&'s [u8], EncodeError> {
    match *value {
        Value::Str(s) => Ok(s.as_bytes()),
        Value::Bool(true) => Ok(b"true"),
        Value::Bool(false) => Ok(b"false"),
        Value::Int(v) => {
            let start = write_digits(tmp, 32, v, None)?;
            tmp.get(start..).ok_or(EncodeError::BufferTooSmall)
        }
        Value::Decimal(raw, min_frac) => {
            let start = write_decimal(tmp, raw, min_frac)?;
            tmp.get(start..).ok_or(EncodeError::BufferTooSmall)
        }
    }
}

/// Writes `v` in decimal ending just before `end`, right to left, padded
/// with leading zeros to `width` digits when given; returns the start.
#[inline]
fn write_digits(tmp: &mut [u8], end: usize, mut v: u64, width: Option<usize>) -> Result<usize, EncodeError> {
    // "00" "01" .. "99": two digits per division while two more are due
    // (a 13-digit timestamp takes 7 dependent divisions, not 13)
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut i = end;
    let stop = width.map(|w| end.saturating_sub(w));
    while match stop {
        Some(stop) => i >= stop.saturating_add(2),
        None => v >= 100,
    } {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i = i.checked_sub(2).ok_or(EncodeError::BufferTooSmall)?;
        match (tmp.get_mut(i..i + 2), PAIRS.get(pair..pair + 2)) {
            (Some(d), Some(s)) => d.copy_from_slice(s),
            _ => return Err(EncodeError::BufferTooSmall),
        }
    }
    if stop.is_some_and(|stop| i <= stop) {
        return Ok(i);
    }
    loop {
        i = i.checked_sub(1).ok_or(EncodeError::BufferTooSmall)?;
        *tmp.get_mut(i).ok_or(EncodeError::BufferTooSmall)? = b'0' + (v % 10) as u8;
        v /= 10;
        let done = match stop {
            Some(stop) => i <= stop,
            None => v == 0,
        };
        if done {
            return Ok(i);
        }
    }
}

/// Writes a fixed-point value as a plain decimal at the end of `tmp`:
/// trailing fractional zeros trimmed, then padded back to `min_frac`
/// digits (at most eight); returns the start. The same text as `shared`'s
/// `write_to` when `min_frac` is 0 (a property test holds them together).
#[inline]
fn write_decimal(tmp: &mut [u8; 32], raw: i64, min_frac: u8) -> Result<usize, EncodeError> {
    let abs = raw.unsigned_abs();
    let scale = SCALE_DIGITS_POW;
    let (int, mut frac) = (abs / scale, abs % scale);
    let mut frac_digits = SCALE_DIGITS as usize;
    if frac == 0 {
        frac_digits = 0;
    } else {
        while frac % 10 == 0 {
            frac /= 10;
            frac_digits -= 1;
        }
    }
    let want = usize::from(min_frac).min(SCALE_DIGITS as usize);
    while frac_digits < want {
        frac *= 10;
        frac_digits += 1;
    }
    let mut i = tmp.len();
    if frac_digits > 0 {
        i = write_digits(tmp, i, frac, Some(frac_digits))?;
        i = i.checked_sub(1).ok_or(EncodeError::BufferTooSmall)?;
        *tmp.get_mut(i).ok_or(EncodeError::BufferTooSmall)? = b'.';
    }
    i = write_digits(tmp, i, int, None)?;
    if raw < 0 {
        i = i.checked_sub(1).ok_or(EncodeError::BufferTooSmall)?;
        *tmp.get_mut(i).ok_or(EncodeError::BufferTooSmall)? = b'-';
    }
    Ok(i)
}

/// `10^SCALE_DIGITS` as the unsigned divisor.
const SCALE_DIGITS_POW: u64 = SCALE.unsigned_abs();

fn gather<'a>(req: &Request<'a>, p: &mut Params<'a>) -> Result<(), EncodeError> {
    match *req {
        Request::Time | Request::Ping | Request::SessionLogon => {}
        Request::UserDataStreamSubscribe | Request::UserDataStreamSubscribeSignature => {}
        Request::ExchangeInfo { symbol } | Request::OpenOrdersStatus { symbol } => {
            p.text_opt(Name::Symbol, symbol, 32)?;
        }
        Request::OpenOrdersCancelAll { symbol } => p.text(Name::Symbol, symbol, 32)?,
        Request::AccountStatus { omit_zero_balances } => {
            if omit_zero_balances {
                p.push(Name::OmitZeroBalances, Value::Bool(true))?;
            }
        }
        Request::OrderStatus(o) => order_ref(o, p)?,
        Request::OrderCancel { order, new_client_order_id } => {
            order_ref(order, p)?;
            if let Some(id) = new_client_order_id {
                check_client_id(Name::NewClientOrderId, id)?;
                p.push(Name::NewClientOrderId, Value::Str(id))?;
            }
        }
        // written straight through by `order_place`, in signing order
        Request::OrderPlace(_) => {}
    }
    Ok(())
}

fn order_ref<'a>(o: OrderRef<'a>, p: &mut Params<'a>) -> Result<(), EncodeError> {
    p.text(Name::Symbol, o.symbol, 32)?;
    p.push_opt(Name::OrderId, o.order_id.map(Value::Int))?;
    if let Some(id) = o.orig_client_order_id {
        check_client_id(Name::OrigClientOrderId, id)?;
        p.push(Name::OrigClientOrderId, Value::Str(id))?;
    }
    if o.order_id.is_none() && o.orig_client_order_id.is_none() {
        return Err(EncodeError::MissingParam("orderId"));
    }
    Ok(())
}

/// Encodes request `req` with integer id `id` into `frame`, using `payload`
/// as scratch for the signing payload. Returns both lengths.
///
/// Public methods ignore `auth`; `session.logon` and
/// `userDataStream.subscribe.signature` need [`Auth::Signed`].
///
/// # Errors
/// [`EncodeError`]: a buffer too small, an invalid or missing parameter, a
/// method that needs a signature.
pub fn encode_into(
    frame: &mut [u8],
    payload: &mut [u8],
    id: u64,
    req: &Request<'_>,
    auth: &Auth<'_>,
) -> Result<Encoded, EncodeError> {
    encode_with(frame, payload, id, req, auth, |w, account| match req {
        Request::OrderPlace(o) => order_place(w, o, account),
        _ => {
            let mut params = Params::new();
            gather(req, &mut params)?;
            write_slots(w, &mut params, account)
        }
    })
}

/// The frame around the parameters `write` gives: id, method, the
/// parameters, the signature over them when `auth` signs.
fn encode_with<'k>(
    frame: &mut [u8],
    payload: &mut [u8],
    id: u64,
    req: &Request<'_>,
    auth: &Auth<'k>,
    write: impl FnOnce(&mut Writer<'_>, &Account<'k>) -> Result<(), EncodeError>,
) -> Result<Encoded, EncodeError> {
    let account = Account::of(req, auth)?;
    let sig = account.signer.map(|_| Out { buf: payload, len: 0 });
    let mut w = Writer { out: Out { buf: frame, len: 0 }, sig, params: 0 };
    let mut tmp = [0u8; 32];
    w.out.put(b"{\"id\":")?;
    w.out.put(render(&Value::Int(id), &mut tmp)?)?;
    w.out.put(b",\"method\":\"")?;
    w.out.put(req.method().as_bytes())?;
    w.out.put(b"\"")?;
    write(&mut w, &account)?;
    let Writer { mut out, sig, params } = w;
    if let (Some(signer), Some(sig_in)) = (account.signer, &sig) {
        let mut signature = [0u8; MAX_SIGNATURE_LEN];
        let n = signer.sign_into(sig_in.written(), &mut signature)?;
        out.put(b",\"signature\":\"")?;
        out.put(signature.get(..n).ok_or(EncodeError::BufferTooSmall)?)?;
        out.put(b"\"")?;
    }
    out.put(if params > 0 { b"}}" } else { b"}" })?;
    Ok(Encoded { frame_len: out.len, payload_len: sig.map_or(0, |s| s.len) })
}

/// The account parameters `auth` adds to `req`, and its signer.
#[derive(Clone, Copy)]
struct Account<'k> {
    api_key: Option<&'k str>,
    timestamp_ms: Option<u64>,
    recv_window_ms: Option<u32>,
    signer: Option<&'k Signer>,
}

impl<'k> Account<'k> {
    fn of(req: &Request<'_>, auth: &Auth<'k>) -> Result<Self, EncodeError> {
        let none = Self { api_key: None, timestamp_ms: None, recv_window_ms: None, signer: None };
        if !req.is_private() {
            return Ok(none);
        }
        match *auth {
            Auth::None | Auth::Session { .. } if req.always_signed() => Err(EncodeError::NeedsSignature(req.method())),
            // an unauthenticated private request: Binance refuses it with a
            // clear error; nothing to add
            Auth::None => Ok(none),
            Auth::Session { timestamp_ms, recv_window_ms } => {
                Ok(Self { timestamp_ms: Some(timestamp_ms), recv_window_ms, ..none })
            }
            Auth::Signed { api_key, signer, timestamp_ms, recv_window_ms } => {
                check_text(Name::ApiKey.as_str(), api_key, 128)?;
                Ok(Self {
                    api_key: Some(api_key),
                    timestamp_ms: Some(timestamp_ms),
                    recv_window_ms,
                    signer: Some(signer),
                })
            }
        }
    }
}

/// The gathered parameters of `p` and the account's, in signing order.
fn write_slots<'p>(w: &mut Writer<'_>, p: &mut Params<'p>, a: &Account<'p>) -> Result<(), EncodeError> {
    p.push_opt(Name::ApiKey, a.api_key.map(Value::Str))?;
    p.push_opt(Name::Timestamp, a.timestamp_ms.map(Value::Int))?;
    p.push_opt(Name::RecvWindow, a.recv_window_ms.map(|ms| Value::Int(u64::from(ms))))?;
    for (name, value) in p.sorted() {
        w.param(name, value)?;
    }
    Ok(())
}

/// Writes parameters into the JSON frame and, when the request is signed,
/// into the signing payload, from one rendering of each value.
struct Writer<'b> {
    out: Out<'b>,
    sig: Option<Out<'b>>,
    params: usize,
}

impl Writer<'_> {
    /// One parameter; callers give them in signing order. Inlined, so that
    /// where `name` and the kind of `value` are constants (`order_place`)
    /// the keys and quotes become fixed-size copies and the branches on
    /// them go away.
    #[inline(always)]
    fn param(&mut self, name: Name, value: Value<'_>) -> Result<(), EncodeError> {
        let mut tmp = [0u8; 32];
        let text = render(&value, &mut tmp)?;
        self.out.put(if self.params == 0 { b",\"params\":{" } else { b"," })?;
        self.out.put(name.json_key())?;
        if matches!(value, Value::Str(_) | Value::Decimal(..)) {
            self.out.put(b"\"")?;
            self.out.put(text)?;
            self.out.put(b"\"")?;
        } else {
            self.out.put(text)?;
        }
        if let Some(sig) = &mut self.sig {
            if self.params > 0 {
                sig.put(b"&")?;
            }
            sig.put(name.payload_key())?;
            sig.put(text)?;
        }
        self.params += 1;
        Ok(())
    }
}

/// `order.place`, the request on the tick-to-order path, written straight
/// through in signing order instead of gathered into slots and walked: each
/// parameter's name is a constant here, so its key is a fixed-size copy.
/// The same bytes as the slot path (a property test in this module holds
/// the two together).
fn order_place(w: &mut Writer<'_>, o: &OrderPlace<'_>, a: &Account<'_>) -> Result<(), EncodeError> {
    check_text(Name::Symbol.as_str(), o.symbol, 32)?;
    if let Some(id) = o.new_client_order_id {
        check_client_id(Name::NewClientOrderId, id)?;
    }
    if o.quantity.is_none() && o.quote_order_qty.is_none() {
        return Err(EncodeError::MissingParam("quantity"));
    }
    if let Some(key) = a.api_key {
        w.param(Name::ApiKey, Value::Str(key))?;
    }
    if let Some(id) = o.new_client_order_id {
        w.param(Name::NewClientOrderId, Value::Str(id))?;
    }
    if let Some(t) = o.response_type {
        w.param(Name::NewOrderRespType, Value::Str(t.as_str()))?;
    }
    if let Some(v) = o.price {
        w.param(Name::Price, Value::Decimal(v.raw(), o.price_decimals))?;
    }
    if let Some(v) = o.quantity {
        w.param(Name::Quantity, Value::Decimal(v.raw(), o.qty_decimals))?;
    }
    if let Some(v) = o.quote_order_qty {
        w.param(Name::QuoteOrderQty, Value::Decimal(v.raw(), o.qty_decimals))?;
    }
    if let Some(ms) = a.recv_window_ms {
        w.param(Name::RecvWindow, Value::Int(u64::from(ms)))?;
    }
    if let Some(m) = o.stp_mode {
        w.param(Name::SelfTradePreventionMode, Value::Str(m.as_str()))?;
    }
    w.param(Name::Side, Value::Str(o.side.as_str()))?;
    if let Some(v) = o.stop_price {
        w.param(Name::StopPrice, Value::Decimal(v.raw(), o.price_decimals))?;
    }
    w.param(Name::Symbol, Value::Str(o.symbol))?;
    if let Some(t) = o.time_in_force {
        w.param(Name::TimeInForce, Value::Str(t.as_str()))?;
    }
    if let Some(ms) = a.timestamp_ms {
        w.param(Name::Timestamp, Value::Int(ms))?;
    }
    w.param(Name::Type, Value::Str(o.order_type.as_str()))
}

/// Lengths written by [`encode_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded {
    /// Bytes of the request frame.
    pub frame_len: usize,
    /// Bytes of the signing payload (what was, or would be, signed).
    pub payload_len: usize,
}

/// Owns a frame buffer and a payload buffer sized once at start-up, and
/// encodes requests into them.
#[derive(Debug)]
pub struct RequestEncoder {
    frame: Box<[u8]>,
    payload: Box<[u8]>,
    payload_len: usize,
}

impl RequestEncoder {
    /// Buffers of `capacity` bytes each (1 KiB fits every request odex sends).
    pub fn new(capacity: usize) -> Self {
        Self {
            frame: vec![0; capacity].into_boxed_slice(),
            payload: vec![0; capacity].into_boxed_slice(),
            payload_len: 0,
        }
    }

    /// Encodes a request; the returned frame borrows the encoder's buffer.
    ///
    /// # Errors
    /// As [`encode_into`].
    #[inline]
    pub fn encode(&mut self, id: u64, req: &Request<'_>, auth: &Auth<'_>) -> Result<&[u8], EncodeError> {
        self.payload_len = 0;
        let n = encode_into(&mut self.frame, &mut self.payload, id, req, auth)?;
        self.payload_len = n.payload_len;
        self.frame.get(..n.frame_len).ok_or(EncodeError::BufferTooSmall)
    }

    /// The signing payload of the last successful [`RequestEncoder::encode`]
    /// (for logging what was signed when Binance answers -1022).
    pub fn last_payload(&self) -> &[u8] {
        self.payload.get(..self.payload_len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::sign::HmacSigner;

    fn enc(req: &Request<'_>, auth: &Auth<'_>) -> String {
        let mut e = RequestEncoder::new(1024);
        String::from_utf8(e.encode(1, req, auth).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn public_methods() {
        assert_eq!(enc(&Request::Time, &Auth::None), r#"{"id":1,"method":"time"}"#);
        assert_eq!(enc(&Request::Ping, &Auth::None), r#"{"id":1,"method":"ping"}"#);
        assert_eq!(
            enc(&Request::ExchangeInfo { symbol: Some("BTCUSDT") }, &Auth::None),
            r#"{"id":1,"method":"exchangeInfo","params":{"symbol":"BTCUSDT"}}"#
        );
        assert_eq!(
            enc(&Request::UserDataStreamSubscribe, &Auth::None),
            r#"{"id":1,"method":"userDataStream.subscribe"}"#
        );
    }

    #[test]
    fn session_auth_adds_timestamp_only() {
        let auth = Auth::Session { timestamp_ms: 1_700_000_000_000, recv_window_ms: Some(5000) };
        let order = OrderRef { symbol: "BTCUSDT", order_id: Some(12), orig_client_order_id: None };
        assert_eq!(
            enc(&Request::OrderStatus(order), &auth),
            r#"{"id":1,"method":"order.status","params":{"orderId":12,"recvWindow":5000,"symbol":"BTCUSDT","timestamp":1700000000000}}"#
        );
        assert_eq!(
            encode_into(&mut [0; 256], &mut [0; 256], 1, &Request::SessionLogon, &auth),
            Err(EncodeError::NeedsSignature("session.logon"))
        );
    }

    #[test]
    fn refuses_bad_strings_and_small_buffers() {
        let mut o = OrderPlace::limit("BTCUSDT", Side::Buy, Price::ONE, Qty::ONE);
        o.new_client_order_id = Some("0123456789012345678901234567890123456"); // 37
        let auth = Auth::None;
        assert_eq!(
            encode_into(&mut [0; 512], &mut [0; 512], 1, &Request::OrderPlace(o), &auth),
            Err(EncodeError::InvalidParam("newClientOrderId"))
        );
        o.new_client_order_id = None;
        o.symbol = "BTC\"USDT";
        assert_eq!(
            encode_into(&mut [0; 512], &mut [0; 512], 1, &Request::OrderPlace(o), &auth),
            Err(EncodeError::InvalidParam("symbol"))
        );
        o.symbol = "BTCUSDT";
        assert_eq!(
            encode_into(&mut [0; 20], &mut [0; 512], 1, &Request::OrderPlace(o), &auth),
            Err(EncodeError::BufferTooSmall)
        );
    }

    /// `order.place` through the slots, as every other request is written:
    /// the reference `order_place` must match byte for byte.
    fn order_place_by_slots(
        frame: &mut [u8],
        payload: &mut [u8],
        id: u64,
        o: &OrderPlace<'_>,
        auth: &Auth<'_>,
    ) -> Result<Encoded, EncodeError> {
        encode_with(frame, payload, id, &Request::OrderPlace(*o), auth, |w, account| {
            let mut p = Params::new();
            p.text(Name::Symbol, o.symbol, 32)?;
            p.push(Name::Side, Value::Str(o.side.as_str()))?;
            p.push(Name::Type, Value::Str(o.order_type.as_str()))?;
            p.push_opt(Name::TimeInForce, o.time_in_force.map(|t| Value::Str(t.as_str())))?;
            p.push_opt(Name::Price, o.price.map(|v| Value::Decimal(v.raw(), o.price_decimals)))?;
            p.push_opt(Name::Quantity, o.quantity.map(|v| Value::Decimal(v.raw(), o.qty_decimals)))?;
            p.push_opt(Name::QuoteOrderQty, o.quote_order_qty.map(|v| Value::Decimal(v.raw(), o.qty_decimals)))?;
            p.push_opt(Name::StopPrice, o.stop_price.map(|v| Value::Decimal(v.raw(), o.price_decimals)))?;
            if let Some(id) = o.new_client_order_id {
                check_client_id(Name::NewClientOrderId, id)?;
                p.push(Name::NewClientOrderId, Value::Str(id))?;
            }
            p.push_opt(Name::NewOrderRespType, o.response_type.map(|t| Value::Str(t.as_str())))?;
            p.push_opt(Name::SelfTradePreventionMode, o.stp_mode.map(|m| Value::Str(m.as_str())))?;
            if o.quantity.is_none() && o.quote_order_qty.is_none() {
                return Err(EncodeError::MissingParam("quantity"));
            }
            write_slots(w, &mut p, account)
        })
    }

    fn order_strategy() -> impl proptest::strategy::Strategy<Value = (OrderPlace<'static>, u8)> {
        use proptest::prelude::*;
        const TYPES: [OrderType; 7] = [
            OrderType::Limit,
            OrderType::Market,
            OrderType::LimitMaker,
            OrderType::StopLoss,
            OrderType::StopLossLimit,
            OrderType::TakeProfit,
            OrderType::TakeProfitLimit,
        ];
        const TIFS: [TimeInForce; 3] = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok];
        const RESP: [ResponseType; 3] = [ResponseType::Ack, ResponseType::Result, ResponseType::Full];
        const STP: [StpMode; 5] =
            [StpMode::None, StpMode::ExpireTaker, StpMode::ExpireMaker, StpMode::ExpireBoth, StpMode::Decrement];
        const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "bad symbol"];
        const IDS: [&str; 3] = ["x-odex-1-42", "A_b-9", "not valid!"];
        let raw = || prop_oneof![any::<i64>(), 0i64..10_000_000_000_000, Just(0i64)];
        (
            (0..SYMBOLS.len(), any::<bool>(), 0..TYPES.len(), proptest::option::of(0..TIFS.len())),
            (
                proptest::option::of(raw()),
                proptest::option::of(raw()),
                proptest::option::of(raw()),
                proptest::option::of(raw()),
            ),
            (
                proptest::option::of(0..IDS.len()),
                proptest::option::of(0..RESP.len()),
                proptest::option::of(0..STP.len()),
            ),
            (0u8..10, 0u8..10, 0u8..3),
        )
            .prop_map(|((sym, buy, ty, tif), (price, qty, quote, stop), (id, resp, stp), (pd, qd, auth))| {
                let o = OrderPlace {
                    symbol: SYMBOLS[sym],
                    side: if buy { Side::Buy } else { Side::Sell },
                    order_type: TYPES[ty],
                    time_in_force: tif.map(|i| TIFS[i]),
                    price: price.map(Price::from_raw),
                    quantity: qty.map(Qty::from_raw),
                    quote_order_qty: quote.map(Amount::from_raw),
                    stop_price: stop.map(Price::from_raw),
                    new_client_order_id: id.map(|i| IDS[i]),
                    response_type: resp.map(|i| RESP[i]),
                    stp_mode: stp.map(|i| STP[i]),
                    price_decimals: pd,
                    qty_decimals: qd,
                };
                (o, auth)
            })
    }

    proptest::proptest! {
        #[test]
        fn order_place_writes_what_the_slots_write(
            (o, auth) in order_strategy(),
            id in proptest::prelude::any::<u64>(),
            ts in proptest::prelude::any::<u64>(),
            window in proptest::option::of(proptest::prelude::any::<u32>()),
        ) {
            let signer = Signer::Hmac(HmacSigner::new(b"secret").unwrap());
            let auth = match auth {
                0 => Auth::None,
                1 => Auth::Session { timestamp_ms: ts, recv_window_ms: window },
                _ => Auth::Signed { api_key: "KEY", signer: &signer, timestamp_ms: ts, recv_window_ms: window },
            };
            let (mut f1, mut p1, mut f2, mut p2) = ([0u8; 1024], [0u8; 1024], [0u8; 1024], [0u8; 1024]);
            let fast = encode_into(&mut f1, &mut p1, id, &Request::OrderPlace(o), &auth);
            let slots = order_place_by_slots(&mut f2, &mut p2, id, &o, &auth);
            proptest::prop_assert_eq!(fast, slots);
            if let Ok(n) = fast {
                proptest::prop_assert_eq!(&f1[..n.frame_len], &f2[..n.frame_len]);
                proptest::prop_assert_eq!(&p1[..n.payload_len], &p2[..n.payload_len]);
            }
        }

        #[test]
        fn integers_render_as_std_prints_them(v in proptest::prelude::any::<u64>(), small in 0u64..1000) {
            for v in [v, small, v % 1_000_000_000_000_000] {
                let mut tmp = [0u8; 32];
                let ours = render(&Value::Int(v), &mut tmp).unwrap().to_vec();
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), v.to_string());
            }
        }

        #[test]
        fn short_copies_copy_every_byte(src in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let mut dst = vec![0xa5u8; src.len()];
            copy_short(&mut dst, &src);
            proptest::prop_assert_eq!(dst, src);
        }

        #[test]
        fn decimals_match_the_shared_printer(raw in proptest::prelude::any::<i64>(), min_frac in 0u8..12) {
            let mut tmp = [0u8; 32];
            let ours = render(&Value::Decimal(raw, min_frac), &mut tmp).unwrap().to_vec();
            let mut shared = [0u8; 32];
            let n = Amount::from_raw(raw).write_to(&mut shared).unwrap();
            if min_frac == 0 {
                proptest::prop_assert_eq!(&ours[..], &shared[..n]);
            }
            proptest::prop_assert_eq!(Amount::parse_bytes(&ours).unwrap().raw(), raw);
        }

        #[test]
        fn integers_print_exactly(v in proptest::prelude::any::<u64>()) {
            let mut tmp = [0u8; 32];
            let text = render(&Value::Int(v), &mut tmp).unwrap().to_vec();
            proptest::prop_assert_eq!(String::from_utf8(text).unwrap(), v.to_string());
        }
    }

    #[test]
    fn names_are_declared_in_signing_order() {
        let names = Name::ALL.map(Name::as_str);
        for n in Name::ALL {
            assert_eq!(n.json_key(), format!("\"{}\":", n.as_str()).as_bytes());
            assert_eq!(n.payload_key(), format!("{}=", n.as_str()).as_bytes());
        }
        assert!(names.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()), "{names:?}");
        assert!(Name::ALL.iter().enumerate().all(|(i, n)| *n as usize == i));
    }

    #[test]
    fn decimals_are_padded_never_exponent() {
        let mut tmp = [0u8; 32];
        let p = Price::parse("52000").unwrap();
        assert_eq!(render(&Value::Decimal(p.raw(), 2), &mut tmp).unwrap(), b"52000.00");
        assert_eq!(render(&Value::Decimal(Price::from_raw(1).raw(), 0), &mut tmp).unwrap(), b"0.00000001");
        assert_eq!(render(&Value::Decimal(Price::parse("0.01").unwrap().raw(), 8), &mut tmp).unwrap(), b"0.01000000");
        assert_eq!(render(&Value::Decimal(Price::parse("0.00100").unwrap().raw(), 0), &mut tmp).unwrap(), b"0.001");
        assert_eq!(render(&Value::Int(u64::MAX), &mut tmp).unwrap(), b"18446744073709551615");
    }

    #[test]
    fn signed_params_are_sorted_and_signature_last() {
        let signer = Signer::Hmac(HmacSigner::new(b"secret").unwrap());
        let auth = Auth::Signed { api_key: "KEY", signer: &signer, timestamp_ms: 5, recv_window_ms: None };
        let s = enc(&Request::OpenOrdersCancelAll { symbol: "BNBUSDT" }, &auth);
        assert!(s.starts_with(r#"{"id":1,"method":"openOrders.cancelAll","params":{"apiKey":"KEY","symbol":"BNBUSDT","timestamp":5,"signature":""#), "{s}");
        let sig = HmacSigner::new(b"secret").unwrap().sign_hex(b"apiKey=KEY&symbol=BNBUSDT&timestamp=5");
        assert!(s.ends_with(&format!("\"{}\"}}}}", std::str::from_utf8(&sig).unwrap())), "{s}");
    }
}
