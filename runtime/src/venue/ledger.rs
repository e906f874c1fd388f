//! The venue's books of account: balances, our orders and their state,
//! fills with their fees, and the Binance errors an order can get.
//!
//! Each simulated symbol has its own account of a base and a quote asset
//! (a spot account restricted to that pair). Accepting an order locks what
//! it may spend (quote for a buy: limit price x quantity plus the largest
//! fee; base for a sell), so resting orders are always backed and balances
//! never go negative. Storage is allocated once from the config: order
//! slots, the pending-message queue and a ring of recent fills. The JSON
//! dump ([`Ledger::to_json`]) is the cold-path view used for reconciliation.

use odex_shared::market::{Amount, Nanos, Price, Qty, SCALE, Side};
use serde::Serialize;

use crate::filters::FilterFailure;
use crate::order::{ClientOrderId, ExecutionReport, OrderRequest, OrderStatus, OrderType, SymbolId, TimeInForce};

/// Why the venue refused a request, with Binance's code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// An exchange filter failed (`-1013`), or the order is malformed (`-1102`).
    #[error("{0}")]
    Filter(FilterFailure),
    /// Not enough free balance.
    #[error("Account has insufficient balance for requested action.")]
    InsufficientBalance,
    /// A LIMIT_MAKER order would have taken liquidity.
    #[error("Order would immediately match and take.")]
    WouldTake,
    /// An open order already has this client order id.
    #[error("Duplicate order sent.")]
    DuplicateOrder,
    /// A cancel for an order that is not open.
    #[error("Unknown order sent.")]
    UnknownOrder,
    /// A symbol the venue does not trade.
    #[error("Invalid symbol.")]
    InvalidSymbol,
    /// A limit order without a time in force.
    #[error("Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")]
    MissingTimeInForce,
    /// A time in force on an order type that takes none.
    #[error("Parameter 'timeInForce' sent when not required.")]
    UnexpectedTimeInForce,
    /// A price on a market order.
    #[error("Parameter 'price' sent when not required.")]
    UnexpectedPrice,
    /// All order slots (or the in-flight queue) are in use.
    #[error("Filter failure: MAX_NUM_ORDERS")]
    TooManyOrders,
    /// A market order before any market data: there is no price to fill at.
    #[error("Market is closed.")]
    NoMarket,
}

impl VenueError {
    /// Binance's error code.
    pub const fn code(self) -> i32 {
        match self {
            Self::Filter(f) => f.code(),
            Self::InsufficientBalance | Self::WouldTake | Self::DuplicateOrder | Self::NoMarket => -2010,
            Self::UnknownOrder => -2011,
            Self::InvalidSymbol => -1121,
            Self::MissingTimeInForce => -1102,
            Self::UnexpectedTimeInForce | Self::UnexpectedPrice => -1106,
            Self::TooManyOrders => -1013,
        }
    }
}

/// One symbol's balances and running totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// Base asset held (free plus locked).
    pub base: Qty,
    /// Quote asset held (free plus locked).
    pub quote: Amount,
    /// Base locked by open sell orders.
    pub locked_base: Qty,
    /// Quote locked by open buy orders.
    pub locked_quote: Amount,
    /// Commissions paid, in quote.
    pub fees: Amount,
    /// Base bought.
    pub bought: Qty,
    /// Base sold.
    pub sold: Qty,
    /// Quote paid for purchases (before fees).
    pub buy_notional: Amount,
    /// Quote received for sales (before fees).
    pub sell_notional: Amount,
    /// Number of fills.
    pub fills: u64,
}

impl Account {
    /// Base not locked by orders.
    pub const fn free_base(&self) -> Qty {
        self.base.saturating_sub(self.locked_base)
    }

    /// Quote not locked by orders.
    pub const fn free_quote(&self) -> Amount {
        self.quote.saturating_sub(self.locked_quote)
    }
}

/// Where an accepted order is in its life at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sent, not yet at the matching engine (order latency).
    InFlight,
    /// At the matching engine, not yet evaluated against any market data.
    Arrived,
    /// Evaluated once; now resting on the book (or waiting for a bar).
    Resting,
}

/// One of our orders at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOrder {
    /// Venue order id.
    pub order_id: u64,
    /// The request as accepted.
    pub request: OrderRequest,
    /// Status (as the last report said).
    pub status: OrderStatus,
    /// Where the order is.
    pub phase: Phase,
    /// Quantity filled.
    pub filled: Qty,
    /// Quote amount filled (before fees).
    pub cum_quote: Amount,
    /// Commission paid so far.
    pub fees: Amount,
    /// When it was submitted.
    pub submitted: Nanos,
    /// When it reaches (reached) the matching engine.
    pub arrival: Nanos,
    /// Quantity displayed ahead of it at its price (`None`: the level is not
    /// visible, so the queue is unknown and no partial trade reaches it).
    pub queue_ahead: Option<Qty>,
    /// Bars that opened before this time (ms) cannot fill it (no
    /// look-ahead): the end of the last bar the venue had seen when the
    /// order arrived.
    pub min_bar_open_ms: i64,
    /// The price used to size the quote lock (limit price, or the reference
    /// price plus a reserve for a market buy).
    pub lock_price: Price,
    /// What the order currently locks: quote for a buy, base for a sell.
    pub locked: i64,
}

impl SimOrder {
    /// Quantity still to fill.
    pub const fn remaining(&self) -> Qty {
        self.request.qty.saturating_sub(self.filled)
    }

    /// The limit price (zero for a market order).
    pub fn limit(&self) -> Price {
        self.request.price.unwrap_or(Price::ZERO)
    }

    /// The report for this order's current state (no fill in it).
    pub fn report(&self, exec_type: crate::order::ExecType, time: Nanos) -> ExecutionReport {
        ExecutionReport {
            symbol: self.request.symbol,
            client_id: self.request.client_id,
            order_id: self.order_id,
            side: self.request.side,
            kind: self.request.kind,
            exec_type,
            status: self.status,
            qty: self.request.qty,
            price: self.limit(),
            last_qty: Qty::ZERO,
            last_price: Price::ZERO,
            cum_qty: self.filled,
            cum_quote: self.cum_quote,
            commission: Amount::ZERO,
            fee_in_base: false,
            maker: false,
            trade_id: 0,
            time,
            reject_code: 0,
        }
    }
}

/// One fill, as kept in the ledger's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Trade id.
    pub trade_id: u64,
    /// Order id.
    pub order_id: u64,
    /// Client order id.
    pub client_id: ClientOrderId,
    /// Symbol.
    pub symbol: SymbolId,
    /// Side of our order.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// `price x qty`.
    pub quote: Amount,
    /// Commission, in quote.
    pub fee: Amount,
    /// True when our order was the maker.
    pub maker: bool,
    /// Venue time.
    pub time: Nanos,
}

/// Quote locked by a buy of `qty` at `price` with fees of up to `rate_raw`
/// (10^-8 scale), rounded up; saturates instead of overflowing.
pub fn buy_lock(price: Price, qty: Qty, rate_raw: i64) -> i64 {
    let scale = i128::from(SCALE);
    let s2 = scale * scale;
    i128::from(price.raw())
        .checked_mul(i128::from(qty.raw()))
        .and_then(|n| n.checked_mul(scale + i128::from(rate_raw)))
        .and_then(|w| w.checked_add(s2 - 1))
        .and_then(|w| i64::try_from(w / s2).ok())
        .unwrap_or(i64::MAX)
}

/// Balances, orders and fills of the simulated venue.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// One account per symbol, indexed by [`SymbolId`].
    pub(crate) accounts: Vec<Account>,
    /// Open orders (in flight or live), in submission order.
    pub(crate) orders: Vec<SimOrder>,
    max_orders: usize,
    fills: Vec<Fill>,
    fill_head: usize,
    /// Recently ended orders (a ring as large as the fill ring), so a status
    /// query after the end still has an answer.
    ended: Vec<SimOrder>,
    ended_head: usize,
    fills_total: u64,
    /// Orders accepted.
    pub(crate) placed: u64,
    /// Requests refused.
    pub(crate) rejected: u64,
    /// Orders that ended by status, in [`OrderStatus`] order of
    /// `Filled, Canceled, Rejected, Expired`.
    pub(crate) closed: [u64; 4],
}

impl Ledger {
    /// An empty ledger with room for `max_orders` open orders and the last
    /// `fill_capacity` fills.
    pub fn new(accounts: Vec<Account>, max_orders: usize, fill_capacity: usize) -> Self {
        Self {
            accounts,
            orders: Vec::with_capacity(max_orders),
            max_orders,
            fills: Vec::with_capacity(fill_capacity),
            fill_head: 0,
            ended: Vec::with_capacity(fill_capacity),
            ended_head: 0,
            fills_total: 0,
            placed: 0,
            rejected: 0,
            closed: [0; 4],
        }
    }

    /// The account of a symbol.
    pub fn account(&self, symbol: SymbolId) -> Option<&Account> {
        self.accounts.get(usize::from(symbol.0))
    }

    /// Every account, indexed by symbol.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Open orders (in flight or live), oldest first.
    pub fn open_orders(&self) -> &[SimOrder] {
        &self.orders
    }

    /// True when no slot is free.
    pub fn is_full(&self) -> bool {
        self.orders.len() >= self.max_orders
    }

    /// Fills recorded in total (the ring keeps the most recent ones).
    pub const fn fills_total(&self) -> u64 {
        self.fills_total
    }

    /// The fills still in the ring, oldest first.
    pub fn recent_fills(&self) -> impl Iterator<Item = &Fill> {
        let (newer, older) = self.fills.split_at(self.fill_head.min(self.fills.len()));
        older.iter().chain(newer.iter())
    }

    /// Orders that ended recently (open orders excluded), oldest first.
    pub fn recently_ended(&self) -> impl Iterator<Item = &SimOrder> {
        let (newer, older) = self.ended.split_at(self.ended_head.min(self.ended.len()));
        older.iter().chain(newer.iter())
    }

    /// Moves ended orders out of the open list into the ring of recently
    /// ended ones, keeping the open ones in submission order.
    pub(crate) fn sweep(&mut self) {
        let mut i = 0;
        while let Some(o) = self.orders.get(i).copied() {
            if !o.status.is_final() {
                i += 1;
                continue;
            }
            self.orders.remove(i);
            let cap = self.ended.capacity();
            if cap == 0 {
                continue;
            }
            if self.ended.len() < cap {
                self.ended.push(o);
            } else if let Some(slot) = self.ended.get_mut(self.ended_head) {
                *slot = o;
                self.ended_head = (self.ended_head + 1) % cap;
            }
        }
    }

    pub(crate) fn record_fill(&mut self, fill: Fill) {
        self.fills_total += 1;
        let cap = self.fills.capacity();
        if cap == 0 {
            return;
        }
        if self.fills.len() < cap {
            self.fills.push(fill);
        } else if let Some(slot) = self.fills.get_mut(self.fill_head) {
            *slot = fill;
            self.fill_head = (self.fill_head + 1) % cap;
        }
    }

    pub(crate) fn count_closed(&mut self, status: OrderStatus) {
        let i = match status {
            OrderStatus::Filled => 0,
            OrderStatus::Canceled => 1,
            OrderStatus::Rejected => 2,
            _ => 3,
        };
        if let Some(c) = self.closed.get_mut(i) {
            *c += 1;
        }
    }

    /// The whole ledger as pretty-printed JSON: accounts (with the asset
    /// names given, one per symbol), open orders, the fills in the ring and
    /// the counters. Amounts are exact decimal strings. Cold path: it
    /// allocates.
    pub fn to_json(&self, names: &[SymbolNames]) -> String {
        let name = |s: SymbolId| names.get(usize::from(s.0)).map_or_else(String::new, |n| n.symbol.clone());
        let accounts = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let n = names.get(i);
                AccountJson {
                    symbol: n.map_or_else(String::new, |n| n.symbol.clone()),
                    base_asset: n.map_or_else(String::new, |n| n.base_asset.clone()),
                    quote_asset: n.map_or_else(String::new, |n| n.quote_asset.clone()),
                    base: a.base.to_string(),
                    quote: a.quote.to_string(),
                    locked_base: a.locked_base.to_string(),
                    locked_quote: a.locked_quote.to_string(),
                    fees: a.fees.to_string(),
                    bought: a.bought.to_string(),
                    sold: a.sold.to_string(),
                    buy_notional: a.buy_notional.to_string(),
                    sell_notional: a.sell_notional.to_string(),
                    fills: a.fills,
                }
            })
            .collect();
        let order_json = |o: &SimOrder| OrderJson {
            order_id: o.order_id,
            client_id: o.request.client_id.to_string(),
            symbol: name(o.request.symbol),
            side: o.request.side.as_str(),
            kind: o.request.kind.as_str(),
            time_in_force: o.request.time_in_force.map(TimeInForce::as_str),
            price: o.request.price.map(|p| p.to_string()),
            qty: o.request.qty.to_string(),
            filled: o.filled.to_string(),
            cum_quote: o.cum_quote.to_string(),
            status: o.status.as_str(),
            submitted_ns: o.submitted.0,
            arrival_ns: o.arrival.0,
        };
        let open_orders = self.orders.iter().map(order_json).collect();
        let recently_ended_orders = self.recently_ended().map(order_json).collect();
        let fills = self
            .recent_fills()
            .map(|f| FillJson {
                trade_id: f.trade_id,
                order_id: f.order_id,
                client_id: f.client_id.to_string(),
                symbol: name(f.symbol),
                side: f.side.as_str(),
                price: f.price.to_string(),
                qty: f.qty.to_string(),
                quote: f.quote.to_string(),
                fee: f.fee.to_string(),
                maker: f.maker,
                time_ns: f.time.0,
            })
            .collect();
        let [filled, canceled, rejected_in_match, expired] = self.closed;
        let doc = LedgerJson {
            accounts,
            open_orders,
            recently_ended_orders,
            fills,
            fills_total: self.fills_total,
            orders_placed: self.placed,
            requests_rejected: self.rejected,
            orders_filled: filled,
            orders_canceled: canceled,
            orders_rejected_in_match: rejected_in_match,
            orders_expired: expired,
        };
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

/// The names a symbol is known by, for the JSON dump.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SymbolNames {
    /// Exchange symbol, e.g. `ETHUSDT`.
    pub symbol: String,
    /// Base asset, e.g. `ETH`.
    pub base_asset: String,
    /// Quote asset, e.g. `USDT`.
    pub quote_asset: String,
}

#[derive(Serialize)]
struct AccountJson {
    symbol: String,
    base_asset: String,
    quote_asset: String,
    base: String,
    quote: String,
    locked_base: String,
    locked_quote: String,
    fees: String,
    bought: String,
    sold: String,
    buy_notional: String,
    sell_notional: String,
    fills: u64,
}

#[derive(Serialize)]
struct OrderJson {
    order_id: u64,
    client_id: String,
    symbol: String,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    time_in_force: Option<&'static str>,
    price: Option<String>,
    qty: String,
    filled: String,
    cum_quote: String,
    status: &'static str,
    submitted_ns: u64,
    arrival_ns: u64,
}

#[derive(Serialize)]
struct FillJson {
    trade_id: u64,
    order_id: u64,
    client_id: String,
    symbol: String,
    side: &'static str,
    price: String,
    qty: String,
    quote: String,
    fee: String,
    maker: bool,
    time_ns: u64,
}

#[derive(Serialize)]
struct LedgerJson {
    accounts: Vec<AccountJson>,
    open_orders: Vec<OrderJson>,
    recently_ended_orders: Vec<OrderJson>,
    fills: Vec<FillJson>,
    fills_total: u64,
    orders_placed: u64,
    requests_rejected: u64,
    orders_filled: u64,
    orders_canceled: u64,
    orders_rejected_in_match: u64,
    orders_expired: u64,
}

/// Checks an order's shape (type, time in force, price) before filters.
///
/// # Errors
/// The [`VenueError`] Binance would give.
pub fn check_shape(req: &OrderRequest) -> Result<(), VenueError> {
    match req.kind {
        OrderType::Market if req.price.is_some() => Err(VenueError::UnexpectedPrice),
        OrderType::Market | OrderType::LimitMaker if req.time_in_force.is_some() => {
            Err(VenueError::UnexpectedTimeInForce)
        }
        OrderType::Limit if req.time_in_force.is_none() => Err(VenueError::MissingTimeInForce),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_are_binances() {
        assert_eq!(VenueError::InsufficientBalance.code(), -2010);
        assert_eq!(
            VenueError::InsufficientBalance.to_string(),
            "Account has insufficient balance for requested action."
        );
        assert_eq!(VenueError::WouldTake.to_string(), "Order would immediately match and take.");
        assert_eq!(VenueError::UnknownOrder.code(), -2011);
        assert_eq!(VenueError::Filter(FilterFailure::LotSize).code(), -1013);
        assert_eq!(VenueError::Filter(FilterFailure::LotSize).to_string(), "Filter failure: LOT_SIZE");
    }

    #[test]
    fn buy_lock_rounds_up_with_fees() {
        let p = Price::parse("100").unwrap();
        let q = Qty::parse("0.5").unwrap();
        // 50 x 1.001 = 50.05
        assert_eq!(Amount::from_raw(buy_lock(p, q, 100_000)).to_string(), "50.05");
        assert_eq!(buy_lock(Price::from_raw(1), Qty::from_raw(1), 0), 1);
        assert_eq!(buy_lock(Price::from_raw(i64::MAX), Qty::from_raw(i64::MAX), 0), i64::MAX);
    }

    #[test]
    fn fill_ring_keeps_the_most_recent() {
        let mut l = Ledger::new(vec![Account::default()], 4, 3);
        let f = |id| Fill {
            trade_id: id,
            order_id: 1,
            client_id: ClientOrderId::new(b"a").unwrap(),
            symbol: SymbolId(0),
            side: Side::Buy,
            price: Price::ONE,
            qty: Qty::ONE,
            quote: Amount::ONE,
            fee: Amount::ZERO,
            maker: true,
            time: Nanos(id),
        };
        for id in 1..=5 {
            l.record_fill(f(id));
        }
        let ids: Vec<u64> = l.recent_fills().map(|f| f.trade_id).collect();
        assert_eq!(ids, vec![3, 4, 5]);
        assert_eq!(l.fills_total(), 5);
    }
}
