//! Order vocabulary shared by the engine, the venue model and the codecs.
//!
//! Everything here is `Copy` and fixed-size, so order requests and execution
//! reports move through the hot path without allocating. Names follow
//! Binance's spellings ([`OrderType::as_str`] and friends give the wire form).

use core::fmt;

use odex_shared::market::{Amount, Nanos, Price, Qty, Side};

/// Index of a symbol in the runtime's symbol table (set up at start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SymbolId(pub u16);

/// Maximum length of a Binance `newClientOrderId`.
pub const CLIENT_ORDER_ID_MAX: usize = 36;

/// A client order id: at most 36 bytes of `[A-Za-z0-9._:-]` (Binance's
/// pattern `^[\.A-Z\:/a-z0-9_-]{1,36}$` minus `/`), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientOrderId {
    len: u8,
    bytes: [u8; CLIENT_ORDER_ID_MAX],
}

/// Why a client order id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClientOrderIdError {
    /// Empty, or longer than 36 bytes.
    #[error("client order id must be 1 to 36 bytes, got {0}")]
    Length(usize),
    /// A byte outside `[A-Za-z0-9._:-]`.
    #[error("client order id has invalid byte {byte:#04x} at offset {at}")]
    Byte {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        byte: u8,
    },
}

/// A byte Binance accepts in a client order id: `[A-Za-z0-9._:-]`.
#[inline(always)]
const fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() | matches!(b, b'.' | b'_' | b':' | b'-')
}

impl ClientOrderId {
    /// Validates and copies an id.
    ///
    /// # Errors
    /// [`ClientOrderIdError`] for a bad length or byte.
    pub fn new(s: &[u8]) -> Result<Self, ClientOrderIdError> {
        if s.is_empty() || s.len() > CLIENT_ORDER_ID_MAX {
            return Err(ClientOrderIdError::Length(s.len()));
        }
        // a fold without early exit vectorises; the position only on refusal
        if !s.iter().fold(true, |ok, &b| ok & id_byte(b)) {
            let at = s.iter().position(|&b| !id_byte(b)).unwrap_or_default();
            return Err(ClientOrderIdError::Byte { at, byte: s.get(at).copied().unwrap_or_default() });
        }
        let mut bytes = [0u8; CLIENT_ORDER_ID_MAX];
        if let Some(dst) = bytes.get_mut(..s.len()) {
            dst.copy_from_slice(s);
        }
        Ok(Self { len: s.len() as u8, bytes })
    }

    /// Builds `<prefix><n>` in decimal, e.g. `odx-1a2b-42`: the engine's
    /// idempotent ids (a per-run prefix plus a sequence number).
    ///
    /// # Errors
    /// [`ClientOrderIdError`] if the prefix is invalid or the result too long.
    pub fn with_sequence(prefix: &[u8], n: u64) -> Result<Self, ClientOrderIdError> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let tail = digits.get(i..).unwrap_or(&[]);
        let total = prefix.len() + tail.len();
        if total > CLIENT_ORDER_ID_MAX {
            return Err(ClientOrderIdError::Length(total));
        }
        let mut buf = [0u8; CLIENT_ORDER_ID_MAX];
        for (at, part) in [(0, prefix), (prefix.len(), tail)] {
            if let Some(dst) = buf.get_mut(at..at + part.len()) {
                dst.copy_from_slice(part);
            }
        }
        Self::new(buf.get(..total).unwrap_or(&[]))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({})", self.as_str())
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Binance's spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            /// Parses Binance's spelling.
            pub fn from_wire(s: &[u8]) -> Option<Self> {
                match s {
                    $(x if x == $wire.as_bytes() => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Order type.
    OrderType {
        /// Rests at a price (with a time in force).
        Limit => "LIMIT",
        /// Takes liquidity at any price.
        Market => "MARKET",
        /// Post-only limit: rejected if it would take.
        LimitMaker => "LIMIT_MAKER",
    }
);

wire_enum!(
    /// Time in force of a limit order.
    TimeInForce {
        /// Good till cancelled.
        Gtc => "GTC",
        /// Immediate or cancel: fill what can be filled now, expire the rest.
        Ioc => "IOC",
        /// Fill or kill: fill entirely now or expire entirely.
        Fok => "FOK",
    }
);

wire_enum!(
    /// Order status (`X` in an executionReport).
    OrderStatus {
        /// Accepted, nothing filled.
        New => "NEW",
        /// Partly filled, still working.
        PartiallyFilled => "PARTIALLY_FILLED",
        /// Completely filled.
        Filled => "FILLED",
        /// Cancelled by the user.
        Canceled => "CANCELED",
        /// Cancel requested (not used by Binance Spot, kept for completeness).
        PendingCancel => "PENDING_CANCEL",
        /// Refused by the matching engine.
        Rejected => "REJECTED",
        /// Expired by its time in force (IOC/FOK) or by the exchange.
        Expired => "EXPIRED",
        /// Expired by self-trade prevention.
        ExpiredInMatch => "EXPIRED_IN_MATCH",
    }
);

impl OrderStatus {
    /// True when the order can no longer change.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Filled | Self::Canceled | Self::Rejected | Self::Expired | Self::ExpiredInMatch)
    }
}

wire_enum!(
    /// Execution type (`x` in an executionReport): what just happened.
    ExecType {
        /// The order was accepted.
        New => "NEW",
        /// The order was cancelled.
        Canceled => "CANCELED",
        /// The order was replaced (cancel-replace).
        Replaced => "REPLACED",
        /// The order was rejected.
        Rejected => "REJECTED",
        /// A fill.
        Trade => "TRADE",
        /// The order expired.
        Expired => "EXPIRED",
        /// Amended with a smaller quantity.
        TradePrevention => "TRADE_PREVENTION",
    }
);

/// A request to place an order: what the engine's order manager emits and
/// what a venue (live, paper or simulated) receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// Symbol.
    pub symbol: SymbolId,
    /// Idempotency key.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force (limit orders only).
    pub time_in_force: Option<TimeInForce>,
    /// Limit price (limit and limit-maker orders).
    pub price: Option<Price>,
    /// Base quantity.
    pub qty: Qty,
}

/// A venue's report on an order: the owned form of an `executionReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionReport {
    /// Symbol.
    pub symbol: SymbolId,
    /// Client order id of the order.
    pub client_id: ClientOrderId,
    /// Venue order id.
    pub order_id: u64,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// What just happened.
    pub exec_type: ExecType,
    /// Status after this event.
    pub status: OrderStatus,
    /// Order quantity.
    pub qty: Qty,
    /// Order price (zero for market orders).
    pub price: Price,
    /// Quantity filled by this event.
    pub last_qty: Qty,
    /// Price of this fill.
    pub last_price: Price,
    /// Total filled so far.
    pub cum_qty: Qty,
    /// Total quote amount filled so far.
    pub cum_quote: Amount,
    /// Commission charged for this fill, in quote units (odex converts fees
    /// to the quote asset; the asset charged is `fee_in_base`).
    pub commission: Amount,
    /// True when the commission was charged in the base asset.
    pub fee_in_base: bool,
    /// True when this fill was on the maker side.
    pub maker: bool,
    /// Trade id of this fill (0 when not a fill).
    pub trade_id: u64,
    /// Venue transaction time.
    pub time: Nanos,
    /// Binance reject reason code or 0.
    pub reject_code: i32,
}

impl ExecutionReport {
    /// A report on `req` that carries no fill: the order, named `order_id`
    /// by the exchange, is now `status` after `exec_type`. Fill, commission,
    /// trade id and time are zero and the side is taker; a caller that
    /// reports a fill sets those fields.
    pub fn unfilled(req: &OrderRequest, order_id: u64, exec_type: ExecType, status: OrderStatus) -> Self {
        Self {
            symbol: req.symbol,
            client_id: req.client_id,
            order_id,
            side: req.side,
            kind: req.kind,
            exec_type,
            status,
            qty: req.qty,
            price: req.price.unwrap_or(Price::ZERO),
            last_qty: Qty::ZERO,
            last_price: Price::ZERO,
            cum_qty: Qty::ZERO,
            cum_quote: Amount::ZERO,
            commission: Amount::ZERO,
            fee_in_base: false,
            maker: false,
            trade_id: 0,
            time: Nanos(0),
            reject_code: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_validated() {
        assert_eq!(ClientOrderId::new(b"odx-1").unwrap().as_str(), "odx-1");
        assert_eq!(ClientOrderId::new(b""), Err(ClientOrderIdError::Length(0)));
        assert_eq!(ClientOrderId::new(&[b'a'; 37]), Err(ClientOrderIdError::Length(37)));
        assert_eq!(ClientOrderId::new(b"a b"), Err(ClientOrderIdError::Byte { at: 1, byte: b' ' }));
        assert_eq!(ClientOrderId::with_sequence(b"odx-7f-", 42).unwrap().as_str(), "odx-7f-42");
        assert_eq!(ClientOrderId::with_sequence(b"x", 0).unwrap().as_str(), "x0");
        assert_eq!(ClientOrderId::with_sequence(b"x", u64::MAX).unwrap().as_str(), "x18446744073709551615");
        assert!(ClientOrderId::with_sequence(&[b'p'; 30], 1_000_000).is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for t in [OrderType::Limit, OrderType::Market, OrderType::LimitMaker] {
            assert_eq!(OrderType::from_wire(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(OrderStatus::from_wire(b"EXPIRED_IN_MATCH"), Some(OrderStatus::ExpiredInMatch));
        assert_eq!(TimeInForce::from_wire(b"GTX"), None);
        assert!(OrderStatus::Filled.is_final() && !OrderStatus::PartiallyFilled.is_final());
    }
}
