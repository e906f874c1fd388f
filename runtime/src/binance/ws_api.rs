//! Decoders for frames received on the Binance WebSocket API connection.
//!
//! A frame is either the response to one of our requests (`id`, `status`,
//! `result` or `error`, `rateLimits`), a user data event wrapped as
//! `{"subscriptionId":N,"event":{..}}`, or a bare `serverShutdown`.
//! [`ApiFrame::decode`] tells them apart in one pass. The `result` of a
//! response stays a borrowed [`RawJson`] slice; typed accessors decode it
//! on demand ([`ApiResponse::order_result`], [`ApiResponse::server_time_ms`],
//! [`ApiResponse::orders`]). Rate limits go into a fixed-capacity array, so
//! nothing here allocates.

use odex_shared::market::{Amount, Price, Qty, Side};

use super::market_data::ServerShutdown;
use super::scan::{DecodeError, DecodeErrorKind, InField, JsonStr, RawJson, Scanner, fuse, required};

/// How many `rateLimits` entries a response keeps; extra ones are counted
/// in [`ApiResponse::rate_limits_dropped`].
pub const MAX_RATE_LIMITS: usize = 8;

/// The `id` echoed back in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseId<'a> {
    /// An integer id (what odex sends).
    Int(u64),
    /// A string id.
    Str(JsonStr<'a>),
    /// `null` or absent (Binance answers unparseable requests this way).
    Null,
}

/// Which budget a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitType {
    /// `REQUEST_WEIGHT`, per IP.
    RequestWeight,
    /// `ORDERS`, per account.
    Orders,
    /// `RAW_REQUESTS`.
    RawRequests,
    /// A type this decoder does not know.
    Other,
}

/// The unit of a rate limit window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateInterval {
    /// `SECOND`.
    Second,
    /// `MINUTE`.
    Minute,
    /// `HOUR`.
    Hour,
    /// `DAY`.
    Day,
    /// A unit this decoder does not know.
    Other,
}

/// One entry of `rateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `rateLimitType`.
    pub kind: RateLimitType,
    /// `interval`.
    pub interval: RateInterval,
    /// `intervalNum`: the window is this many intervals long.
    pub interval_num: u32,
    /// `limit`.
    pub limit: u64,
    /// `count`: what has been used in the current window.
    pub count: u64,
}

/// The `error` object of a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiError<'a> {
    /// Binance error code, e.g. -1021 or -2010.
    pub code: i32,
    /// Human-readable message, as sent.
    pub msg: JsonStr<'a>,
    /// `data.retryAfter` (epoch ms) on 418 and 429 answers.
    pub retry_after_ms: Option<u64>,
}

impl ApiError<'_> {
    /// The named meaning of the code, when it is one odex acts on.
    pub const fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }
}

/// The Binance error codes odex reacts to (see `BINANCE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// -1003: too much request weight or too many requests.
    TooManyRequests,
    /// -1013: rejected before matching, e.g. a filter failure.
    FilterFailure,
    /// -1015: too many new orders.
    TooManyOrders,
    /// -1021: timestamp outside recvWindow; resynchronise the clock.
    TimestampOutsideWindow,
    /// -1022: signature not valid.
    InvalidSignature,
    /// -1100: illegal characters in a parameter.
    IllegalChars,
    /// -1102: a mandatory parameter missing or malformed.
    MandatoryParamMissing,
    /// -1111: too much precision.
    BadPrecision,
    /// -1121: invalid symbol.
    BadSymbol,
    /// -2010: new order rejected.
    NewOrderRejected,
    /// -2011: cancel rejected.
    CancelRejected,
    /// -2013: order does not exist.
    NoSuchOrder,
    /// -2015: invalid API key, IP or permissions.
    RejectedApiKey,
}

impl ErrorCode {
    /// The variant for a numeric code.
    pub const fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            -1003 => Self::TooManyRequests,
            -1013 => Self::FilterFailure,
            -1015 => Self::TooManyOrders,
            -1021 => Self::TimestampOutsideWindow,
            -1022 => Self::InvalidSignature,
            -1100 => Self::IllegalChars,
            -1102 => Self::MandatoryParamMissing,
            -1111 => Self::BadPrecision,
            -1121 => Self::BadSymbol,
            -2010 => Self::NewOrderRejected,
            -2011 => Self::CancelRejected,
            -2013 => Self::NoSuchOrder,
            -2015 => Self::RejectedApiKey,
            _ => return None,
        })
    }
}

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse<'a> {
    /// The request id.
    pub id: ResponseId<'a>,
    /// HTTP-like status: 200 ok, 4xx refused, 5xx outcome unknown.
    pub status: u16,
    /// The `result` value, undecoded.
    pub result: Option<RawJson<'a>>,
    /// The `error` object of a failed request.
    pub error: Option<ApiError<'a>>,
    /// The `rateLimits` entries, up to [`MAX_RATE_LIMITS`].
    pub rate_limits: heapless::Vec<RateLimit, MAX_RATE_LIMITS>,
    /// Entries past [`MAX_RATE_LIMITS`] that were skipped.
    pub rate_limits_dropped: u16,
}

/// Order status (`status` in results, `X` in execution reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// `NEW`.
    New,
    /// `PENDING_NEW` (order lists).
    PendingNew,
    /// `PARTIALLY_FILLED`.
    PartiallyFilled,
    /// `FILLED`.
    Filled,
    /// `CANCELED`.
    Canceled,
    /// `PENDING_CANCEL`.
    PendingCancel,
    /// `REJECTED`.
    Rejected,
    /// `EXPIRED`.
    Expired,
    /// `EXPIRED_IN_MATCH` (self-trade prevention).
    ExpiredInMatch,
    /// A status this decoder does not know.
    Other,
}

impl OrderStatus {
    fn from_bytes(b: &[u8]) -> Self {
        match b {
            b"NEW" => Self::New,
            b"PENDING_NEW" => Self::PendingNew,
            b"PARTIALLY_FILLED" => Self::PartiallyFilled,
            b"FILLED" => Self::Filled,
            b"CANCELED" => Self::Canceled,
            b"PENDING_CANCEL" => Self::PendingCancel,
            b"REJECTED" => Self::Rejected,
            b"EXPIRED" => Self::Expired,
            b"EXPIRED_IN_MATCH" => Self::ExpiredInMatch,
            _ => Self::Other,
        }
    }

    /// True when the order can no longer fill.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Filled | Self::Canceled | Self::Rejected | Self::Expired | Self::ExpiredInMatch)
    }
}

/// Execution type (`x` in execution reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionType {
    /// `NEW`.
    New,
    /// `CANCELED`.
    Canceled,
    /// `REPLACED`.
    Replaced,
    /// `REJECTED`.
    Rejected,
    /// `TRADE`: a fill.
    Trade,
    /// `EXPIRED`.
    Expired,
    /// `TRADE_PREVENTION`.
    TradePrevention,
    /// A type this decoder does not know.
    Other,
}

impl ExecutionType {
    fn from_bytes(b: &[u8]) -> Self {
        match b {
            b"NEW" => Self::New,
            b"CANCELED" => Self::Canceled,
            b"REPLACED" => Self::Replaced,
            b"REJECTED" => Self::Rejected,
            b"TRADE" => Self::Trade,
            b"EXPIRED" => Self::Expired,
            b"TRADE_PREVENTION" => Self::TradePrevention,
            _ => Self::Other,
        }
    }
}

fn side(sc: &mut Scanner<'_>, field: &'static str) -> Result<Side, DecodeError> {
    let at = sc.offset();
    match sc.string_bytes().in_field(field)? {
        b"BUY" => Ok(Side::Buy),
        b"SELL" => Ok(Side::Sell),
        _ => Err(DecodeError { kind: DecodeErrorKind::UnknownValue, at, field: Some(field) }),
    }
}

/// The result of `order.place` (any response type), `order.cancel` or
/// `order.status`. Fields absent from ACK responses are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderResult<'a> {
    /// `symbol`.
    pub symbol: JsonStr<'a>,
    /// `orderId`.
    pub order_id: u64,
    /// `clientOrderId`.
    pub client_order_id: JsonStr<'a>,
    /// `origClientOrderId` (cancel results).
    pub orig_client_order_id: Option<JsonStr<'a>>,
    /// `transactTime` or, for `order.status`, `updateTime` (ms).
    pub transact_time_ms: Option<u64>,
    /// `price`.
    pub price: Option<Price>,
    /// `origQty`.
    pub orig_qty: Option<Qty>,
    /// `executedQty`.
    pub executed_qty: Option<Qty>,
    /// `cummulativeQuoteQty` (Binance's spelling).
    pub cumulative_quote_qty: Option<Amount>,
    /// `status`.
    pub status: Option<OrderStatus>,
    /// `timeInForce`.
    pub time_in_force: Option<JsonStr<'a>>,
    /// `type`.
    pub order_type: Option<JsonStr<'a>>,
    /// `side`.
    pub side: Option<Side>,
    /// `fills` of a FULL response, undecoded.
    pub fills: Option<RawJson<'a>>,
}

impl<'a> OrderResult<'a> {
    /// Decodes an order object at the scanner's position.
    ///
    /// # Errors
    /// Malformed JSON, or a missing `symbol`, `orderId` or `clientOrderId`.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut symbol, mut order_id, mut client) = (None, None, None);
        let mut r = Self {
            symbol: JsonStr::default(),
            order_id: 0,
            client_order_id: JsonStr::default(),
            orig_client_order_id: None,
            transact_time_ms: None,
            price: None,
            orig_qty: None,
            executed_qty: None,
            cumulative_quote_qty: None,
            status: None,
            time_in_force: None,
            order_type: None,
            side: None,
            fills: None,
        };
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"symbol" => symbol = Some(sc.string().in_field("symbol")?),
                b"orderId" => order_id = Some(sc.u64().in_field("orderId")?),
                b"clientOrderId" => client = Some(sc.string().in_field("clientOrderId")?),
                b"origClientOrderId" => r.orig_client_order_id = Some(sc.string().in_field("origClientOrderId")?),
                b"transactTime" => r.transact_time_ms = Some(sc.u64().in_field("transactTime")?),
                b"updateTime" if r.transact_time_ms.is_none() => {
                    r.transact_time_ms = Some(sc.u64().in_field("updateTime")?);
                }
                b"price" => r.price = Some(sc.price().in_field("price")?),
                b"origQty" => r.orig_qty = Some(sc.qty().in_field("origQty")?),
                b"executedQty" => r.executed_qty = Some(sc.qty().in_field("executedQty")?),
                b"cummulativeQuoteQty" => r.cumulative_quote_qty = Some(sc.amount().in_field("cummulativeQuoteQty")?),
                b"status" => r.status = Some(OrderStatus::from_bytes(sc.string_bytes().in_field("status")?)),
                b"timeInForce" => r.time_in_force = Some(sc.string().in_field("timeInForce")?),
                b"type" => r.order_type = Some(sc.string().in_field("type")?),
                b"side" => r.side = Some(side(sc, "side")?),
                b"fills" => r.fills = Some(sc.raw_value().in_field("fills")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        r.symbol = required(symbol, "symbol", end)?;
        r.order_id = required(order_id, "orderId", end)?;
        r.client_order_id = required(client, "clientOrderId", end)?;
        Ok(r)
    }
}

/// Iterator over an array of orders (`openOrders.status`).
#[derive(Debug, Clone)]
pub struct OrderIter<'a> {
    sc: Scanner<'a>,
    first: bool,
    done: bool,
}

impl<'a> Iterator for OrderIter<'a> {
    type Item = Result<OrderResult<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = match self.sc.next_element(&mut self.first) {
            Ok(true) => OrderResult::decode_in(&mut self.sc).map(Some),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        fuse(&mut self.done, step)
    }
}

impl<'a> ApiResponse<'a> {
    /// Decodes a whole response frame.
    ///
    /// # Errors
    /// Malformed JSON, a missing `status`, or a frame that is an event.
    pub fn decode(frame: &'a [u8]) -> Result<Self, DecodeError> {
        match ApiFrame::decode(frame)? {
            ApiFrame::Response(r) => Ok(r),
            _ => Err(DecodeError::new(DecodeErrorKind::WrongKind, 0)),
        }
    }

    /// True for a 2xx status.
    pub const fn is_ok(&self) -> bool {
        self.status >= 200 && self.status < 300
    }

    /// True for a 5xx status: the request may or may not have taken effect.
    pub const fn outcome_unknown(&self) -> bool {
        self.status >= 500
    }

    /// The integer id, when the response carries one.
    pub const fn int_id(&self) -> Option<u64> {
        match self.id {
            ResponseId::Int(id) => Some(id),
            _ => None,
        }
    }

    fn result_scanner(&self) -> Result<Scanner<'a>, DecodeError> {
        self.result.map(|r| r.scanner()).ok_or(DecodeError::missing("result", 0))
    }

    /// The `result` decoded as an order (`order.place`, `order.cancel`, `order.status`).
    ///
    /// # Errors
    /// No result, or not an order object.
    pub fn order_result(&self) -> Result<OrderResult<'a>, DecodeError> {
        let mut sc = self.result_scanner()?;
        OrderResult::decode_in(&mut sc).in_field("result")
    }

    /// `result.serverTime` of a `time` response, ms.
    ///
    /// # Errors
    /// No result, or no `serverTime` in it.
    pub fn server_time_ms(&self) -> Result<u64, DecodeError> {
        let mut sc = self.result_scanner()?;
        sc.begin_object()?;
        let mut first = true;
        let mut t = None;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"serverTime" => t = Some(sc.u64().in_field("serverTime")?),
                _ => sc.skip_value()?,
            }
        }
        required(t, "serverTime", sc.offset())
    }

    /// The `result` array decoded lazily as orders (`openOrders.status`).
    ///
    /// # Errors
    /// No result, or it is not an array.
    pub fn orders(&self) -> Result<OrderIter<'a>, DecodeError> {
        let mut sc = self.result_scanner()?;
        sc.begin_array().in_field("result")?;
        Ok(OrderIter { sc, first: true, done: false })
    }
}

fn decode_error_object<'a>(sc: &mut Scanner<'a>) -> Result<ApiError<'a>, DecodeError> {
    sc.begin_object()?;
    let (mut code, mut msg, mut retry) = (None, None, None);
    let mut first = true;
    while let Some(key) = sc.next_key(&mut first)? {
        match key {
            b"code" => code = Some(sc.i32().in_field("code")?),
            b"msg" => msg = Some(sc.string().in_field("msg")?),
            b"data" => {
                if sc.peek_token()? == b'{' {
                    sc.begin_object()?;
                    let mut f = true;
                    while let Some(k) = sc.next_key(&mut f)? {
                        match k {
                            b"retryAfter" => retry = Some(sc.u64().in_field("retryAfter")?),
                            _ => sc.skip_value()?,
                        }
                    }
                } else {
                    sc.skip_value()?;
                }
            }
            _ => sc.skip_value()?,
        }
    }
    let end = sc.offset();
    Ok(ApiError { code: required(code, "code", end)?, msg: msg.unwrap_or_default(), retry_after_ms: retry })
}

fn decode_rate_limit(sc: &mut Scanner<'_>) -> Result<RateLimit, DecodeError> {
    sc.begin_object()?;
    let mut r =
        RateLimit { kind: RateLimitType::Other, interval: RateInterval::Other, interval_num: 1, limit: 0, count: 0 };
    let mut first = true;
    while let Some(key) = sc.next_key(&mut first)? {
        match key {
            b"rateLimitType" => {
                r.kind = match sc.string_bytes().in_field("rateLimitType")? {
                    b"REQUEST_WEIGHT" => RateLimitType::RequestWeight,
                    b"ORDERS" => RateLimitType::Orders,
                    b"RAW_REQUESTS" => RateLimitType::RawRequests,
                    _ => RateLimitType::Other,
                }
            }
            b"interval" => {
                r.interval = match sc.string_bytes().in_field("interval")? {
                    b"SECOND" => RateInterval::Second,
                    b"MINUTE" => RateInterval::Minute,
                    b"HOUR" => RateInterval::Hour,
                    b"DAY" => RateInterval::Day,
                    _ => RateInterval::Other,
                }
            }
            b"intervalNum" => r.interval_num = sc.u32().in_field("intervalNum")?,
            b"limit" => r.limit = sc.u64().in_field("limit")?,
            b"count" => r.count = sc.u64().in_field("count")?,
            _ => sc.skip_value()?,
        }
    }
    Ok(r)
}

/// A balance in an `outboundAccountPosition` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance<'a> {
    /// Asset (`a`).
    pub asset: JsonStr<'a>,
    /// Free amount (`f`).
    pub free: Amount,
    /// Locked amount (`l`).
    pub locked: Amount,
}

/// The `B` array of an `outboundAccountPosition`, still in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balances<'a> {
    raw: RawJson<'a>,
    len: usize,
}

impl<'a> Balances<'a> {
    /// Number of balances.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when there are none.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The balances in the order sent (validated at decode; always `Ok`).
    pub fn iter(&self) -> BalanceIter<'a> {
        BalanceIter { sc: self.raw.scanner(), first: true, started: false, done: false }
    }

    fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.peek_token()?;
        let offset = sc.offset();
        let mut it = BalanceIter { sc: sc.clone(), first: true, started: false, done: false };
        let mut len = 0usize;
        for b in it.by_ref() {
            b?;
            len += 1;
        }
        let end = it.sc.offset();
        *sc = it.sc;
        Ok(Self { raw: RawJson { bytes: sc.frame_slice(offset, end), offset }, len })
    }
}

/// Iterator over [`Balances`].
#[derive(Debug, Clone)]
pub struct BalanceIter<'a> {
    sc: Scanner<'a>,
    first: bool,
    started: bool,
    done: bool,
}

impl<'a> BalanceIter<'a> {
    fn step(&mut self) -> Result<Option<Balance<'a>>, DecodeError> {
        if !self.started {
            self.started = true;
            self.sc.begin_array()?;
        }
        if !self.sc.next_element(&mut self.first)? {
            return Ok(None);
        }
        let sc = &mut self.sc;
        sc.begin_object()?;
        let (mut a, mut f, mut l) = (None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"a" => a = Some(sc.string().in_field("B.a")?),
                b"f" => f = Some(sc.amount().in_field("B.f")?),
                b"l" => l = Some(sc.amount().in_field("B.l")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Some(Balance {
            asset: required(a, "B.a", end)?,
            free: required(f, "B.f", end)?,
            locked: required(l, "B.l", end)?,
        }))
    }
}

impl<'a> Iterator for BalanceIter<'a> {
    type Item = Result<Balance<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        fuse(&mut self.done, step)
    }
}

/// `executionReport`: an order changed (new, fill, cancel, reject, expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Symbol (`s`).
    pub symbol: JsonStr<'a>,
    /// Client order id (`c`); for a cancel, the cancel request's id.
    pub client_order_id: JsonStr<'a>,
    /// Original client order id of a canceled order (`C`); `None` when empty.
    pub orig_client_order_id: Option<JsonStr<'a>>,
    /// Side (`S`).
    pub side: Side,
    /// Order type (`o`), e.g. `LIMIT`.
    pub order_type: JsonStr<'a>,
    /// Time in force (`f`).
    pub time_in_force: JsonStr<'a>,
    /// Order quantity (`q`).
    pub qty: Qty,
    /// Order price (`p`).
    pub price: Price,
    /// Execution type (`x`).
    pub execution_type: ExecutionType,
    /// Order status (`X`).
    pub order_status: OrderStatus,
    /// Reject reason (`r`), `NONE` when not rejected.
    pub reject_reason: JsonStr<'a>,
    /// Order id (`i`).
    pub order_id: u64,
    /// Last executed quantity (`l`).
    pub last_qty: Qty,
    /// Cumulative filled quantity (`z`).
    pub cumulative_qty: Qty,
    /// Last executed price (`L`).
    pub last_price: Price,
    /// Commission amount (`n`).
    pub commission: Amount,
    /// Commission asset (`N`); `None` when there was no fill.
    pub commission_asset: Option<JsonStr<'a>>,
    /// Transaction time, ms (`T`).
    pub transaction_time_ms: u64,
    /// Trade id (`t`); `None` when -1 (no trade).
    pub trade_id: Option<u64>,
    /// True when this fill was on the maker side (`m`).
    pub is_maker: bool,
    /// Cumulative quote quantity (`Z`).
    pub cumulative_quote_qty: Amount,
    /// Order creation time, ms (`O`), when present.
    pub order_creation_time_ms: Option<u64>,
}

#[derive(Default)]
struct ExecFields<'a> {
    ev: Option<u64>,
    s: Option<JsonStr<'a>>,
    c: Option<JsonStr<'a>>,
    cc: Option<JsonStr<'a>>,
    side: Option<Side>,
    o: Option<JsonStr<'a>>,
    f: Option<JsonStr<'a>>,
    q: Option<Qty>,
    p: Option<Price>,
    x: Option<ExecutionType>,
    xs: Option<OrderStatus>,
    r: Option<JsonStr<'a>>,
    i: Option<u64>,
    l: Option<Qty>,
    z: Option<Qty>,
    lp: Option<Price>,
    n: Option<Amount>,
    na: Option<Option<JsonStr<'a>>>,
    t: Option<u64>,
    tid: Option<i64>,
    m: Option<bool>,
    zq: Option<Amount>,
    oc: Option<u64>,
}

impl<'a> ExecutionReport<'a> {
    /// Decodes the fields of an execution report whose `{` and `e` key the
    /// caller has already consumed; `first` is the caller's object state.
    fn decode_rest(sc: &mut Scanner<'a>, first: &mut bool) -> Result<Self, DecodeError> {
        let mut v = ExecFields::default();
        while let Some(key) = sc.next_key(first)? {
            match key {
                b"E" => v.ev = Some(sc.u64().in_field("E")?),
                b"s" => v.s = Some(sc.string().in_field("s")?),
                b"c" => v.c = Some(sc.string().in_field("c")?),
                b"C" => v.cc = sc.string_or_null().in_field("C")?,
                b"S" => v.side = Some(side(sc, "S")?),
                b"o" => v.o = Some(sc.string().in_field("o")?),
                b"f" => v.f = Some(sc.string().in_field("f")?),
                b"q" => v.q = Some(sc.qty().in_field("q")?),
                b"p" => v.p = Some(sc.price().in_field("p")?),
                b"x" => v.x = Some(ExecutionType::from_bytes(sc.string_bytes().in_field("x")?)),
                b"X" => v.xs = Some(OrderStatus::from_bytes(sc.string_bytes().in_field("X")?)),
                b"r" => v.r = Some(sc.string().in_field("r")?),
                b"i" => v.i = Some(sc.u64().in_field("i")?),
                b"l" => v.l = Some(sc.qty().in_field("l")?),
                b"z" => v.z = Some(sc.qty().in_field("z")?),
                b"L" => v.lp = Some(sc.price().in_field("L")?),
                b"n" => v.n = Some(sc.amount().in_field("n")?),
                b"N" => v.na = Some(sc.string_or_null().in_field("N")?),
                b"T" => v.t = Some(sc.u64().in_field("T")?),
                b"t" => v.tid = Some(sc.i64().in_field("t")?),
                b"m" => v.m = Some(sc.boolean().in_field("m")?),
                b"Z" => v.zq = Some(sc.amount().in_field("Z")?),
                b"O" => v.oc = Some(sc.u64().in_field("O")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            event_time_ms: required(v.ev, "E", end)?,
            symbol: required(v.s, "s", end)?,
            client_order_id: required(v.c, "c", end)?,
            orig_client_order_id: v.cc.filter(|c| !c.as_bytes().is_empty()),
            side: required(v.side, "S", end)?,
            order_type: required(v.o, "o", end)?,
            time_in_force: required(v.f, "f", end)?,
            qty: required(v.q, "q", end)?,
            price: required(v.p, "p", end)?,
            execution_type: required(v.x, "x", end)?,
            order_status: required(v.xs, "X", end)?,
            reject_reason: required(v.r, "r", end)?,
            order_id: required(v.i, "i", end)?,
            last_qty: required(v.l, "l", end)?,
            cumulative_qty: required(v.z, "z", end)?,
            last_price: required(v.lp, "L", end)?,
            commission: required(v.n, "n", end)?,
            commission_asset: required(v.na, "N", end)?,
            transaction_time_ms: required(v.t, "T", end)?,
            trade_id: required(v.tid, "t", end)?.try_into().ok(),
            is_maker: required(v.m, "m", end)?,
            cumulative_quote_qty: required(v.zq, "Z", end)?,
            order_creation_time_ms: v.oc,
        })
    }
}

/// `outboundAccountPosition`: balances that changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountPosition<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Time of the last account update, ms (`u`).
    pub last_update_ms: u64,
    /// The changed balances (`B`).
    pub balances: Balances<'a>,
}

/// `balanceUpdate`: a deposit, withdrawal or transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceUpdate<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Asset (`a`).
    pub asset: JsonStr<'a>,
    /// Balance delta (`d`), signed.
    pub delta: Amount,
    /// Clear time, ms (`T`).
    pub clear_time_ms: u64,
}

/// A user data event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEvent<'a> {
    /// `executionReport`.
    ExecutionReport(ExecutionReport<'a>),
    /// `outboundAccountPosition`.
    AccountPosition(AccountPosition<'a>),
    /// `balanceUpdate`.
    BalanceUpdate(BalanceUpdate<'a>),
    /// `serverShutdown`.
    ServerShutdown(ServerShutdown),
    /// Any other event type (`listStatus`, `eventStreamTerminated`, ...),
    /// kept as its type name.
    Other(JsonStr<'a>),
}

impl<'a> UserEvent<'a> {
    /// Decodes an event object at the scanner's position. The `e` field
    /// must come first, as Binance sends it, so the event decodes in one pass.
    ///
    /// # Errors
    /// Malformed JSON, `e` not first, or a missing or invalid field.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let mut first = true;
        let key_at = sc.offset();
        match sc.next_key(&mut first)? {
            Some(b"e") => {}
            Some(_) => {
                return Err(DecodeError {
                    kind: DecodeErrorKind::Expected("\"e\" first"),
                    at: key_at,
                    field: Some("e"),
                });
            }
            None => return Err(DecodeError::missing("e", sc.offset())),
        }
        let event = sc.string().in_field("e")?;
        match event.as_bytes() {
            b"executionReport" => ExecutionReport::decode_rest(sc, &mut first).map(Self::ExecutionReport),
            b"outboundAccountPosition" => {
                let (mut ev, mut u, mut b) = (None, None, None);
                while let Some(key) = sc.next_key(&mut first)? {
                    match key {
                        b"E" => ev = Some(sc.u64().in_field("E")?),
                        b"u" => u = Some(sc.u64().in_field("u")?),
                        b"B" => b = Some(Balances::decode_in(sc).in_field("B")?),
                        _ => sc.skip_value()?,
                    }
                }
                let end = sc.offset();
                Ok(Self::AccountPosition(AccountPosition {
                    event_time_ms: required(ev, "E", end)?,
                    last_update_ms: required(u, "u", end)?,
                    balances: required(b, "B", end)?,
                }))
            }
            b"balanceUpdate" => {
                let (mut ev, mut a, mut d, mut t) = (None, None, None, None);
                while let Some(key) = sc.next_key(&mut first)? {
                    match key {
                        b"E" => ev = Some(sc.u64().in_field("E")?),
                        b"a" => a = Some(sc.string().in_field("a")?),
                        b"d" => d = Some(sc.amount().in_field("d")?),
                        b"T" => t = Some(sc.u64().in_field("T")?),
                        _ => sc.skip_value()?,
                    }
                }
                let end = sc.offset();
                Ok(Self::BalanceUpdate(BalanceUpdate {
                    event_time_ms: required(ev, "E", end)?,
                    asset: required(a, "a", end)?,
                    delta: required(d, "d", end)?,
                    clear_time_ms: required(t, "T", end)?,
                }))
            }
            b"serverShutdown" => {
                let mut ev = None;
                while let Some(key) = sc.next_key(&mut first)? {
                    match key {
                        b"E" => ev = Some(sc.u64().in_field("E")?),
                        _ => sc.skip_value()?,
                    }
                }
                Ok(Self::ServerShutdown(ServerShutdown { event_time_ms: ev }))
            }
            _ => {
                sc.skip_rest_of_object(&mut first)?;
                Ok(Self::Other(event))
            }
        }
    }
}

/// One frame received on the WebSocket API connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFrame<'a> {
    /// The response to a request.
    Response(ApiResponse<'a>),
    /// A user data event.
    Event {
        /// The subscription it belongs to, when given.
        subscription_id: Option<u64>,
        /// The event.
        event: UserEvent<'a>,
    },
    /// A bare `{"e":"serverShutdown",..}` notice.
    ServerShutdown(ServerShutdown),
}

impl<'a> ApiFrame<'a> {
    /// Decodes one frame in a single pass (fields in any order).
    ///
    /// # Errors
    /// Malformed JSON, a missing `status` in a response, an invalid field,
    /// or a shape that is none of the three.
    pub fn decode(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let mut sc = Scanner::new(frame);
        sc.begin_object()?;
        let mut first = true;
        let mut id = ResponseId::Null;
        let (mut status, mut result, mut error) = (None, None, None);
        let mut rate_limits = heapless::Vec::new();
        let mut dropped = 0u16;
        let (mut subscription_id, mut event, mut shutdown) = (None, None, None);
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"id" => {
                    id = match sc.peek_token()? {
                        b'"' => ResponseId::Str(sc.string().in_field("id")?),
                        b'n' => {
                            sc.null().in_field("id")?;
                            ResponseId::Null
                        }
                        _ => ResponseId::Int(sc.u64().in_field("id")?),
                    }
                }
                b"status" => {
                    let at = sc.offset();
                    let s = sc.u64().in_field("status")?;
                    status = Some(u16::try_from(s).map_err(|_| DecodeError {
                        kind: DecodeErrorKind::BadInteger,
                        at,
                        field: Some("status"),
                    })?);
                }
                b"result" => result = Some(sc.raw_value().in_field("result")?),
                b"error" => error = Some(decode_error_object(&mut sc).in_field("error")?),
                b"rateLimits" => {
                    if sc.null()? {
                        continue;
                    }
                    sc.begin_array().in_field("rateLimits")?;
                    let mut f = true;
                    while sc.next_element(&mut f)? {
                        let limit = decode_rate_limit(&mut sc).in_field("rateLimits")?;
                        if rate_limits.push(limit).is_err() {
                            dropped = dropped.saturating_add(1);
                        }
                    }
                }
                b"subscriptionId" => subscription_id = Some(sc.u64().in_field("subscriptionId")?),
                b"event" => event = Some(UserEvent::decode_in(&mut sc).in_field("event")?),
                b"e" => {
                    // a bare event: only serverShutdown is expected here
                    let at = sc.offset();
                    if sc.string_bytes().in_field("e")? != b"serverShutdown" {
                        return Err(DecodeError { kind: DecodeErrorKind::WrongKind, at, field: Some("e") });
                    }
                    shutdown = Some(ServerShutdown { event_time_ms: None });
                }
                b"E" => {
                    let t = sc.u64().in_field("E")?;
                    if let Some(s) = shutdown.as_mut() {
                        s.event_time_ms = Some(t);
                    } else {
                        shutdown = Some(ServerShutdown { event_time_ms: Some(t) });
                    }
                }
                _ => sc.skip_value()?,
            }
        }
        sc.finish()?;
        if let Some(event) = event {
            return Ok(Self::Event { subscription_id, event });
        }
        if let Some(status) = status {
            return Ok(Self::Response(ApiResponse {
                id,
                status,
                result,
                error,
                rate_limits,
                rate_limits_dropped: dropped,
            }));
        }
        match shutdown {
            Some(s) => {
                // `E` alone is not a shutdown notice
                ServerShutdown::decode(frame)?;
                Ok(Self::ServerShutdown(s))
            }
            None => Err(DecodeError::missing("status", frame.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACED: &[u8] = br#"{"id":7,"status":200,"result":{"symbol":"BTCUSDT","orderId":12569099453,"orderListId":-1,"clientOrderId":"4d96324ff9d44481926157ec08158a40","transactTime":1660801715639,"price":"23416.10000000","origQty":"0.00847000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000","status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"SELL","workingTime":1660801715639,"selfTradePreventionMode":"NONE"},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":1},{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000,"count":1},{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":1}]}"#;

    #[test]
    fn order_place_response() {
        let r = ApiResponse::decode(PLACED).unwrap();
        assert_eq!(r.int_id(), Some(7));
        assert!(r.is_ok());
        assert_eq!(r.rate_limits.len(), 3);
        assert_eq!(
            r.rate_limits[0],
            RateLimit {
                kind: RateLimitType::Orders,
                interval: RateInterval::Second,
                interval_num: 10,
                limit: 50,
                count: 1
            }
        );
        let o = r.order_result().unwrap();
        assert_eq!(o.order_id, 12_569_099_453);
        assert_eq!(o.price, Some(Price::parse("23416.1").unwrap()));
        assert_eq!(o.status, Some(OrderStatus::New));
        assert_eq!(o.side, Some(Side::Sell));
        assert!(o.client_order_id.eq_str("4d96324ff9d44481926157ec08158a40"));
    }

    #[test]
    fn error_with_retry_after() {
        let f = br#"{"id":"abc","status":429,"error":{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE.","data":{"serverTime":1659526848000,"retryAfter":1659526850000}},"rateLimits":[]}"#;
        let r = ApiResponse::decode(f).unwrap();
        assert_eq!(r.id, ResponseId::Str(JsonStr(b"abc")));
        let e = r.error.unwrap();
        assert_eq!(
            (e.code, e.retry_after_ms, e.kind()),
            (-1003, Some(1_659_526_850_000), Some(ErrorCode::TooManyRequests))
        );
        assert!(r.order_result().is_err());
    }

    #[test]
    fn time_and_open_orders() {
        let r = ApiResponse::decode(br#"{"id":null,"status":200,"result":{"serverTime":1656400526260}}"#).unwrap();
        assert_eq!(r.server_time_ms().unwrap(), 1_656_400_526_260);
        let r = ApiResponse::decode(br#"{"id":3,"status":200,"result":[{"symbol":"A","orderId":1,"clientOrderId":"x"},{"symbol":"A","orderId":2,"clientOrderId":"y"}]}"#).unwrap();
        let ids: Vec<u64> = r.orders().unwrap().map(|o| o.unwrap().order_id).collect();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn user_events() {
        let f = br#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}}"#;
        let ApiFrame::Event { subscription_id, event: UserEvent::AccountPosition(p) } = ApiFrame::decode(f).unwrap()
        else {
            panic!()
        };
        assert_eq!(subscription_id, Some(0));
        let b = p.balances.iter().next().unwrap().unwrap();
        assert_eq!((b.asset, b.free), (JsonStr(b"ETH"), Amount::parse("10000").unwrap()));
        let f = br#"{"subscriptionId":1,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"-100.00000000","T":1573200697068}}"#;
        let ApiFrame::Event { event: UserEvent::BalanceUpdate(b), .. } = ApiFrame::decode(f).unwrap() else { panic!() };
        assert_eq!(b.delta, Amount::parse("-100").unwrap());
        let f = br#"{"subscriptionId":1,"event":{"e":"listStatus","E":1}}"#;
        assert!(matches!(ApiFrame::decode(f).unwrap(), ApiFrame::Event { event: UserEvent::Other(_), .. }));
        assert_eq!(
            ApiFrame::decode(br#"{"e":"serverShutdown","E":5}"#).unwrap(),
            ApiFrame::ServerShutdown(ServerShutdown { event_time_ms: Some(5) })
        );
        assert!(ApiFrame::decode(br#"{"E":5}"#).is_err());
    }
}
