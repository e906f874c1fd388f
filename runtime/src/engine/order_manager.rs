//! The order manager: target position in, order intents out, and the life
//! of every order in between.
//!
//! - [`OrderState`] and [`transition`] are the explicit state machine. The
//!   legal edges include what the real exchange does: a fill after the
//!   cancel request, the accept (NEW) arriving after a cancel request, an IOC
//!   going straight from pending to EXPIRED, fills arriving before the ack
//!   (the `order.place` response lags the user-data stream). Anything else is
//!   refused with an [`IllegalTransition`] and counted; nothing panics.
//! - Orders live in a fixed number of slots allocated at start-up
//!   (`runtime.order_slots`). Final orders stay in their slot until it is
//!   needed again, so late acks and duplicate reports still find them.
//! - A 5xx or a timeout makes an order [`OrderState::Unknown`]: the manager
//!   asks for its status ([`Action::Query`]) and takes no other action on
//!   that symbol until an answer resolves it.
//! - The exchange's ORDERS and REQUEST_WEIGHT windows ([`ExchangeBudgets`])
//!   are counted locally, corrected from each response's `rateLimits`, and
//!   checked before anything is sent.

use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty, Side};

use crate::config::{OrderPolicy, OrderStyle};
use crate::engine::risk::Refusal;
use crate::filters::SymbolFilters;
use crate::order::{
    CLIENT_ORDER_ID_MAX, ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderStatus, OrderType, SymbolId,
    TimeInForce,
};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Sent, not yet acknowledged.
    PendingNew,
    /// Working, nothing filled.
    New,
    /// Working, partly filled.
    PartiallyFilled,
    /// Completely filled (final).
    Filled,
    /// Cancel sent, not yet confirmed.
    PendingCancel,
    /// Cancelled (final).
    Canceled,
    /// Refused by the exchange (final).
    Rejected,
    /// Expired by its time in force or the exchange (final).
    Expired,
    /// A request about it failed with 5xx or timed out: outcome unknown
    /// until `order.status` answers.
    Unknown,
}

impl OrderState {
    /// True when the order can no longer change.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Filled | Self::Canceled | Self::Rejected | Self::Expired)
    }

    /// True while the order may still fill (every non-final state).
    pub const fn is_open(self) -> bool {
        !self.is_final()
    }
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// Accepted by the exchange (`order.place` response or executionReport NEW).
    Accepted,
    /// A fill; `cum_qty` is the total filled after it.
    Fill {
        /// Total filled quantity after this fill.
        cum_qty: Qty,
    },
    /// We sent a cancel.
    CancelRequested,
    /// The exchange refused our cancel (`-2011`): the order goes on working.
    CancelRejected,
    /// Cancelled.
    Canceled,
    /// Rejected.
    Rejected,
    /// Expired.
    Expired,
    /// A request about the order failed with 5xx or timed out.
    Unknown,
    /// An `order.status` answer.
    Resolved {
        /// The exchange's status.
        status: OrderStatus,
        /// Its filled quantity.
        cum_qty: Qty,
    },
    /// `order.status` says the order does not exist (`-2013`): the place
    /// never reached the book.
    NotFound,
}

/// A refused transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal order transition: {event:?} in state {from:?}")]
pub struct IllegalTransition {
    /// State before.
    pub from: OrderState,
    /// The event.
    pub event: OrderEvent,
}

/// The state machine. `filled` and `qty` are the order's filled and total
/// quantity before the event.
///
/// # Errors
/// [`IllegalTransition`] for an event that cannot happen in `from`
/// (including a fill that does not add to the filled quantity or overfills).
pub fn transition(from: OrderState, event: OrderEvent, filled: Qty, qty: Qty) -> Result<OrderState, IllegalTransition> {
    use OrderState as S;
    let illegal = Err(IllegalTransition { from, event });
    let working = |f: Qty| if f.is_positive() { S::PartiallyFilled } else { S::New };
    let after_fill = |cum: Qty, stay: S| {
        if cum <= filled || cum > qty {
            None
        } else if cum == qty {
            Some(S::Filled)
        } else {
            Some(stay)
        }
    };
    let resolved = |status: OrderStatus, cum: Qty| -> Option<S> {
        if cum < filled || cum > qty {
            return None;
        }
        Some(match status {
            OrderStatus::New | OrderStatus::PartiallyFilled => working(cum),
            OrderStatus::Filled if cum == qty => S::Filled,
            OrderStatus::Filled => return None,
            OrderStatus::Canceled => S::Canceled,
            OrderStatus::PendingCancel => S::PendingCancel,
            OrderStatus::Rejected if cum.is_zero() => S::Rejected,
            OrderStatus::Rejected => return None,
            OrderStatus::Expired | OrderStatus::ExpiredInMatch => S::Expired,
        })
    };
    let next = match (from, event) {
        // late or duplicate acks change nothing (the place response can
        // arrive after fills, a cancel or even the end of the order)
        (S::PendingNew | S::Unknown, OrderEvent::Accepted) => Some(working(filled)),
        (s, OrderEvent::Accepted) if s != S::Rejected => Some(s),
        // fills: before the ack, while working, after the cancel request,
        // and as the answer to an unknown outcome
        (S::PendingNew | S::New | S::PartiallyFilled | S::Unknown, OrderEvent::Fill { cum_qty }) => {
            after_fill(cum_qty, S::PartiallyFilled)
        }
        (S::PendingCancel, OrderEvent::Fill { cum_qty }) => after_fill(cum_qty, S::PendingCancel),
        (S::PendingNew | S::New | S::PartiallyFilled | S::PendingCancel, OrderEvent::CancelRequested) => {
            Some(S::PendingCancel)
        }
        (S::PendingCancel, OrderEvent::CancelRejected) => Some(working(filled)),
        (S::Unknown, OrderEvent::CancelRejected) => Some(S::Unknown),
        (S::PendingNew | S::New | S::PartiallyFilled | S::PendingCancel | S::Unknown, OrderEvent::Canceled) => {
            Some(S::Canceled)
        }
        // IOC / FOK straight to expired; STP expiry while working
        (S::PendingNew | S::New | S::PartiallyFilled | S::PendingCancel | S::Unknown, OrderEvent::Expired) => {
            Some(S::Expired)
        }
        // a reject answers the place, so it needs a not-yet-accepted order
        // (a cancel may already have been sent)
        (S::PendingNew | S::PendingCancel | S::Unknown, OrderEvent::Rejected) if filled.is_zero() => Some(S::Rejected),
        (S::PendingNew | S::New | S::PartiallyFilled | S::PendingCancel | S::Unknown, OrderEvent::Unknown) => {
            Some(S::Unknown)
        }
        // a request's failure that arrives after the stream told the end
        // (a 5xx or timeout on the place, `-2011` on the cancel of an order
        // that has just filled) changes nothing
        (s, OrderEvent::Unknown | OrderEvent::CancelRejected) if s.is_final() => Some(s),
        // an `order.status` answer can be older than the stream's latest
        // report (it was written before a fill that the stream delivered
        // first): a final state, or more filled than the answer says, wins
        (s, OrderEvent::Resolved { cum_qty, .. }) if s.is_final() && cum_qty <= qty => Some(s),
        (s, OrderEvent::Resolved { cum_qty, .. }) if cum_qty < filled => Some(s),
        (_, OrderEvent::Resolved { status, cum_qty }) => resolved(status, cum_qty),
        (S::PendingNew | S::PendingCancel | S::Unknown, OrderEvent::NotFound) if filled.is_zero() => Some(S::Rejected),
        _ => None,
    };
    next.map_or(illegal, Ok)
}

/// One tracked order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedOrder {
    /// The request as sent.
    pub req: OrderRequest,
    /// Current state.
    pub state: OrderState,
    /// Filled so far.
    pub filled: Qty,
    /// Quote amount filled so far.
    pub cum_quote: Amount,
    /// Venue order id once known (0 before).
    pub order_id: u64,
    /// When the state last changed (or a request about it was sent).
    pub since: Nanos,
    /// When the last `order.status` query was sent, if any.
    pub queried_at: Option<Nanos>,
}

impl TrackedOrder {
    /// Quantity still open.
    pub fn remaining(&self) -> Qty {
        self.req.qty.saturating_sub(self.filled)
    }
}

/// Something the engine should send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Place this order (after the risk check).
    Place(OrderRequest),
    /// Cancel an order.
    Cancel {
        /// Symbol.
        symbol: SymbolId,
        /// The order.
        client_id: ClientOrderId,
    },
    /// Ask for an order's status (`order.status`).
    Query {
        /// Symbol.
        symbol: SymbolId,
        /// The order.
        client_id: ClientOrderId,
    },
}

/// Most actions one planning step emits.
pub const MAX_ACTIONS: usize = 16;

/// The actions of one planning step (fixed capacity, no allocation).
pub type Actions = heapless::Vec<Action, MAX_ACTIONS>;

/// Rate-limit window kinds from `rateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKind {
    /// `ORDERS` (per account).
    Orders,
    /// `REQUEST_WEIGHT` (per IP).
    RequestWeight,
}

/// One entry of a response's `rateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Kind.
    pub kind: RateLimitKind,
    /// Window length (`intervalNum` x `interval`).
    pub interval: Nanos,
    /// Limit in the window.
    pub limit: u32,
    /// Used so far in the window.
    pub count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    kind: RateLimitKind,
    interval: Nanos,
    limit: u32,
    count: u32,
    start: Nanos,
}

impl Window {
    /// Windows reset on the interval boundary (wall time), as Binance's do.
    fn roll(&mut self, wall: Nanos) {
        let i = self.interval.0.max(1);
        let start = Nanos(wall.0 - wall.0 % i);
        if start > self.start {
            self.start = start;
            self.count = 0;
        }
    }
}

/// A request kind, for its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `order.place`: one ORDERS unit, weight 1.
    Place,
    /// `order.cancel`: weight 1.
    Cancel,
    /// `order.status`: weight 4.
    Query,
}

const MAX_WINDOWS: usize = 6;

/// The exchange's ORDERS and REQUEST_WEIGHT budgets, counted locally and
/// corrected from `rateLimits`.
#[derive(Debug, Clone)]
pub struct ExchangeBudgets {
    windows: [Option<Window>; MAX_WINDOWS],
}

impl Default for ExchangeBudgets {
    fn default() -> Self {
        Self::binance_spot()
    }
}

impl ExchangeBudgets {
    /// Binance Spot's published defaults: ORDERS 50 / 10 s and 160000 / day,
    /// REQUEST_WEIGHT 6000 / min.
    pub fn binance_spot() -> Self {
        let w = |kind, secs: u64, limit| {
            Some(Window { kind, interval: Nanos(secs * 1_000_000_000), limit, count: 0, start: Nanos(0) })
        };
        Self {
            windows: [
                w(RateLimitKind::Orders, 10, 50),
                w(RateLimitKind::Orders, 86_400, 160_000),
                w(RateLimitKind::RequestWeight, 60, 6000),
                None,
                None,
                None,
            ],
        }
    }

    /// Takes in a response's `rateLimits`: the exchange's count wins when it
    /// is higher than ours; an unseen window is added.
    pub fn update(&mut self, limits: &[RateLimit], wall: Nanos) {
        for l in limits {
            let found = self.windows.iter_mut().flatten().find(|w| w.kind == l.kind && w.interval == l.interval);
            match found {
                Some(w) => {
                    w.roll(wall);
                    w.limit = l.limit;
                    w.count = w.count.max(l.count);
                }
                None => {
                    if let Some(slot) = self.windows.iter_mut().find(|w| w.is_none()) {
                        let mut w = Window {
                            kind: l.kind,
                            interval: l.interval,
                            limit: l.limit,
                            count: l.count,
                            start: Nanos(0),
                        };
                        w.roll(wall);
                        w.count = l.count;
                        *slot = Some(w);
                    }
                }
            }
        }
    }

    fn cost(kind: RequestKind, w: &Window) -> u32 {
        match (w.kind, kind) {
            (RateLimitKind::Orders, RequestKind::Place) => 1,
            (RateLimitKind::Orders, _) => 0,
            (RateLimitKind::RequestWeight, RequestKind::Query) => 4,
            (RateLimitKind::RequestWeight, _) => 1,
        }
    }

    /// True (and counted) when every window has room for the request.
    pub fn try_spend(&mut self, kind: RequestKind, wall: Nanos) -> bool {
        let mut ok = true;
        for w in self.windows.iter_mut().flatten() {
            w.roll(wall);
            ok &= w.count.saturating_add(Self::cost(kind, w)) <= w.limit;
        }
        if ok {
            for w in self.windows.iter_mut().flatten() {
                w.count = w.count.saturating_add(Self::cost(kind, w));
            }
        }
        ok
    }

    /// Used and limit of the first window of a kind (for metrics).
    pub fn usage(&self, kind: RateLimitKind) -> Option<(u32, u32)> {
        self.windows.iter().flatten().find(|w| w.kind == kind).map(|w| (w.count, w.limit))
    }
}

/// What an incoming report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportOutcome {
    /// A new fill to book: quantity and price.
    pub fill: Option<(Qty, Price)>,
    /// The report was refused by the state machine (counted).
    pub illegal: bool,
    /// No tracked order has this client id.
    pub stray: bool,
}

/// Counters of the order manager.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounters {
    /// Orders placed.
    pub placed: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Status queries sent.
    pub queries: u64,
    /// Fills booked.
    pub fills: u64,
    /// Illegal transitions refused.
    pub illegal: u64,
    /// Reports for orders not tracked.
    pub stray: u64,
    /// Orders that became `Unknown`.
    pub unknown: u64,
    /// Orders rejected by the exchange.
    pub rejected: u64,
}

/// A tracked order's [`OrderManager`] reuse key: `u64::MAX` while open,
/// else one more than when it ended (an empty slot's key, 0, comes first).
fn reuse_key(state: OrderState, since: Nanos) -> u64 {
    if state.is_final() { since.0.saturating_add(1) } else { u64::MAX }
}

/// The order manager.
#[derive(Debug, Clone)]
pub struct OrderManager {
    slots: Vec<Option<TrackedOrder>>,
    /// Bit `i` is set while slot `i` holds an open order, so the scans that
    /// run on every tick (timeouts, planning, risk counts) visit the open
    /// orders, in slot order, instead of every slot.
    open: Vec<u64>,
    /// Per slot, which to fill first: 0 while empty, 1 + the time it became
    /// final for a final order (the longest-ended first), `u64::MAX` while
    /// open (never). Eight bytes a slot, so a placement's search does not
    /// walk every slot's order.
    reuse: Vec<u64>,
    prefix: [u8; CLIENT_ORDER_ID_MAX],
    prefix_len: usize,
    seq: u64,
    policy: OrderPolicy,
    budgets: ExchangeBudgets,
    counters: OrderCounters,
}

/// Why the order manager could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderManagerError {
    /// The client id prefix leaves too little room for sequence numbers.
    #[error("client order id prefix {0:?} is invalid or longer than 16 bytes")]
    Prefix(String),
}

impl OrderManager {
    /// A manager with `slots` order slots; client ids are
    /// `<run_prefix><sequence>` (`run_prefix` at most 16 bytes, so 20 digits
    /// always fit in Binance's 36).
    ///
    /// # Errors
    /// [`OrderManagerError::Prefix`] for a prefix that is too long or has
    /// bytes Binance refuses.
    pub fn new(slots: usize, run_prefix: &str, policy: OrderPolicy) -> Result<Self, OrderManagerError> {
        let bytes = run_prefix.as_bytes();
        if bytes.len() > 16 || ClientOrderId::with_sequence(bytes, u64::MAX).is_err() {
            return Err(OrderManagerError::Prefix(run_prefix.to_string()));
        }
        let mut prefix = [0u8; CLIENT_ORDER_ID_MAX];
        prefix.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
        Ok(Self {
            slots: vec![None; slots.max(1)],
            open: vec![0; slots.max(1).div_ceil(64)],
            reuse: vec![0; slots.max(1)],
            prefix,
            prefix_len: bytes.len(),
            seq: 1,
            policy,
            budgets: ExchangeBudgets::default(),
            counters: OrderCounters::default(),
        })
    }

    /// The order policy.
    pub const fn policy(&self) -> &OrderPolicy {
        &self.policy
    }

    /// Counters.
    pub const fn counters(&self) -> &OrderCounters {
        &self.counters
    }

    /// Exchange budgets.
    pub fn budgets_mut(&mut self) -> &mut ExchangeBudgets {
        &mut self.budgets
    }

    /// Exchange budgets (read-only).
    pub const fn budgets(&self) -> &ExchangeBudgets {
        &self.budgets
    }

    /// The next sequence number.
    pub const fn next_sequence(&self) -> u64 {
        self.seq
    }

    /// Moves the sequence past `seq` (after a journal replay).
    pub fn advance_sequence(&mut self, seq: u64) {
        self.seq = self.seq.max(seq.saturating_add(1));
    }

    /// The sequence number of an id made with this manager's prefix.
    pub fn sequence_of(&self, id: &ClientOrderId) -> Option<u64> {
        let digits = id.as_bytes().strip_prefix(self.prefix.get(..self.prefix_len)?)?;
        core::str::from_utf8(digits).ok()?.parse().ok()
    }

    fn next_id(&self) -> Option<ClientOrderId> {
        ClientOrderId::with_sequence(self.prefix.get(..self.prefix_len).unwrap_or(&[]), self.seq).ok()
    }

    /// Every slot's order (open and recently final).
    pub fn orders(&self) -> impl Iterator<Item = &TrackedOrder> + '_ {
        self.slots.iter().flatten()
    }

    /// Open (non-final) orders, in slot order.
    pub fn open_orders(&self) -> impl Iterator<Item = &TrackedOrder> + '_ {
        self.open_slots().filter_map(|i| self.slots.get(i).and_then(Option::as_ref)).filter(|o| o.state.is_open())
    }

    /// Indices of the slots whose open bit is set, ascending.
    fn open_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.open.iter().enumerate().flat_map(|(w, &bits)| SetBits(bits).map(move |b| w * 64 + b))
    }

    /// Keeps slot `i`'s open bit equal to `open`.
    fn mark(&mut self, i: usize, open: bool) {
        if let Some(word) = self.open.get_mut(i / 64) {
            let bit = 1u64 << (i % 64);
            if open {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    /// The open bits and the reuse keys agree with the slots (tests).
    #[cfg(test)]
    fn open_bits_agree(&self) -> bool {
        self.slots.iter().enumerate().all(|(i, s)| {
            let bit = self.open.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
            let key = s.as_ref().map_or(0, |o| reuse_key(o.state, o.since));
            bit == s.is_some_and(|o| o.state.is_open()) && self.reuse.get(i) == Some(&key)
        })
    }

    /// Number of open orders.
    pub fn open_count(&self) -> usize {
        self.open_orders().count()
    }

    /// Remaining quantity of a symbol's open orders on one side.
    pub fn open_qty(&self, symbol: SymbolId, side: Side) -> Qty {
        self.open_orders()
            .filter(|o| o.req.symbol == symbol && o.req.side == side)
            .fold(Qty::ZERO, |a, o| a.saturating_add(o.remaining()))
    }

    /// True while an order of the symbol is `Unknown`.
    pub fn is_blocked(&self, symbol: SymbolId) -> bool {
        self.open_orders().any(|o| o.req.symbol == symbol && o.state == OrderState::Unknown)
    }

    /// The tracked order with this id.
    pub fn get(&self, id: &ClientOrderId) -> Option<&TrackedOrder> {
        self.orders().find(|o| o.req.client_id == *id)
    }

    fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut TrackedOrder> {
        self.slots.iter_mut().flatten().find(|o| o.req.client_id == *id)
    }

    /// Applies an event to a tracked order (counts an illegal one).
    ///
    /// # Errors
    /// [`IllegalTransition`], or `None` inside when the order is not tracked.
    fn apply(
        &mut self,
        id: &ClientOrderId,
        event: OrderEvent,
        now: Nanos,
    ) -> Result<OrderState, Option<IllegalTransition>> {
        let found = self
            .slots
            .iter_mut()
            .enumerate()
            .find_map(|(i, s)| s.as_mut().filter(|o| o.req.client_id == *id).map(|o| (i, o)));
        let Some((slot, o)) = found else {
            self.counters.stray += 1;
            return Err(None);
        };
        match transition(o.state, event, o.filled, o.req.qty) {
            Ok(next) => {
                let openness_changed = next.is_open() != o.state.is_open();
                if next != o.state {
                    o.since = now;
                    if next == OrderState::Unknown {
                        o.queried_at = None;
                        self.counters.unknown += 1;
                    }
                    if next == OrderState::Rejected {
                        self.counters.rejected += 1;
                    }
                }
                o.state = next;
                let key = reuse_key(next, o.since);
                if let Some(k) = self.reuse.get_mut(slot) {
                    *k = key;
                }
                if openness_changed {
                    self.mark(slot, next.is_open());
                }
                Ok(next)
            }
            Err(e) => {
                self.counters.illegal += 1;
                Err(Some(e))
            }
        }
    }

    /// The price and type for an order on `side` from the touch.
    fn price_for(&self, side: Side, top: &BookTop, filters: &SymbolFilters) -> Option<Price> {
        let tick = filters.price.map_or(Price::ZERO, |f| f.tick_size);
        let offset = i64::from(self.policy.price_offset_ticks).saturating_mul(tick.raw());
        let raw = match (self.policy.style, side) {
            (OrderStyle::Market, _) => return None,
            (OrderStyle::Limit | OrderStyle::PostOnly, Side::Buy) => top.bid.raw().saturating_sub(offset),
            (OrderStyle::Limit | OrderStyle::PostOnly, Side::Sell) => top.ask.raw().saturating_add(offset),
            (OrderStyle::Ioc, Side::Buy) => top.ask.raw().saturating_add(offset),
            (OrderStyle::Ioc, Side::Sell) => top.bid.raw().saturating_sub(offset),
        };
        let p = filters.round_price(Price::from_raw(raw), side);
        p.is_positive().then_some(p)
    }

    fn order_type(&self) -> (OrderType, Option<TimeInForce>) {
        match self.policy.style {
            OrderStyle::Limit => (OrderType::Limit, Some(TimeInForce::Gtc)),
            OrderStyle::Market => (OrderType::Market, None),
            OrderStyle::PostOnly => (OrderType::LimitMaker, None),
            OrderStyle::Ioc => (OrderType::Limit, Some(TimeInForce::Ioc)),
        }
    }

    /// Time-outs: pending requests older than the policy's timeout become
    /// `Unknown`; `Unknown` orders get an `order.status` query (again after
    /// each timeout). Call once per event (or when idle).
    pub fn check_timeouts(&mut self, now: Nanos, out: &mut Actions) {
        let timeout = self.policy.timeout;
        let mut newly_unknown = 0u64;
        let mut word_index = 0;
        while let Some(&word) = self.open.get(word_index) {
            for i in SetBits(word).map(|b| word_index * 64 + b) {
                let Some(Some(o)) = self.slots.get_mut(i) else { continue };
                let pending = matches!(o.state, OrderState::PendingNew | OrderState::PendingCancel);
                if pending && now.saturating_sub(o.since) > timeout {
                    o.state = OrderState::Unknown;
                    o.since = now;
                    o.queried_at = None;
                    newly_unknown += 1;
                }
                if o.state == OrderState::Unknown {
                    let due = o.queried_at.is_none_or(|t| now.saturating_sub(t) > timeout);
                    if due && out.push(Action::Query { symbol: o.req.symbol, client_id: o.req.client_id }).is_ok() {
                        // marked as sent by `commit_query`
                    }
                }
            }
            word_index += 1;
        }
        self.counters.unknown += newly_unknown;
    }

    /// Plans the actions that move `symbol` from `position` toward `target`:
    /// cancels of working orders that no longer fit (wrong side, price off by
    /// `requote_ticks` or more, more than the remaining need), then, once
    /// nothing is working,
    /// one new order for the rounded difference. Actions are pushed to
    /// `out`; places still need the risk check and [`Self::commit_place`].
    ///
    /// # Errors
    /// [`Refusal::UnknownOrder`] while the symbol is blocked,
    /// [`Refusal::Filters`] when the rounded order fails the exchange filters.
    pub fn plan(
        &self,
        symbol: SymbolId,
        target: Qty,
        position: Qty,
        top: &BookTop,
        filters: &SymbolFilters,
        out: &mut Actions,
    ) -> Result<(), Refusal> {
        if self.is_blocked(symbol) {
            return Err(Refusal::UnknownOrder);
        }
        let delta = target.raw().saturating_sub(position.raw());
        let side = if delta > 0 { Side::Buy } else { Side::Sell };
        let (kind, tif) = self.order_type();
        let qty = filters.round_qty(Qty::from_raw(delta.saturating_abs()), kind);
        let price = self.price_for(side, top, filters);
        let tick = filters.price.map_or(0, |f| f.tick_size.raw()).max(1);
        let requote = i64::from(self.policy.requote_ticks.max(1)).saturating_mul(tick);
        let mut busy = false;
        for o in self.open_orders().filter(|o| o.req.symbol == symbol) {
            busy = true;
            if !matches!(o.state, OrderState::New | OrderState::PartiallyFilled) {
                continue; // in flight: wait for the exchange
            }
            let price_ok = match (o.req.price, price) {
                (Some(a), Some(b)) => a.raw().saturating_sub(b.raw()).saturating_abs() < requote,
                (None, None) => true,
                _ => false,
            };
            // a working order smaller than the need is kept (it will fill
            // and the rest follows); one larger than the need is not
            let keep = qty.is_positive() && o.req.side == side && price_ok && o.remaining() <= qty;
            if !keep {
                let _ = out.push(Action::Cancel { symbol, client_id: o.req.client_id });
            }
        }
        if busy || !qty.is_positive() {
            return Ok(());
        }
        let Some(client_id) = self.next_id() else { return Ok(()) };
        if kind != OrderType::Market && price.is_none() {
            return Ok(());
        }
        let req = OrderRequest { symbol, client_id, side, kind, time_in_force: tif, price, qty };
        let mid = Price::from_raw(top.bid.raw() / 2 + top.ask.raw() / 2);
        if filters.check(&req, mid).is_err() {
            return Err(Refusal::Filters);
        }
        let _ = out.push(Action::Place(req));
        Ok(())
    }

    /// Cancels for every working order (kill switch, halt, shutdown).
    pub fn cancel_all(&self, out: &mut Actions) {
        for o in self.open_orders() {
            if matches!(o.state, OrderState::PendingNew | OrderState::New | OrderState::PartiallyFilled) {
                let _ = out.push(Action::Cancel { symbol: o.req.symbol, client_id: o.req.client_id });
            }
        }
    }

    /// Tracks a placed order (`PendingNew`) and advances the sequence.
    ///
    /// # Errors
    /// [`Refusal::TrackerFull`] when every slot holds an open order.
    pub fn commit_place(&mut self, req: &OrderRequest, now: Nanos) -> Result<(), Refusal> {
        // the first empty slot, else the final order that ended longest ago
        // (the first such in slot order)
        let slot = self.reuse.iter().enumerate().min_by_key(|(_, k)| **k).filter(|(_, k)| **k != u64::MAX);
        let Some((index, slot)) = slot.and_then(|(i, _)| self.slots.get_mut(i).map(|s| (i, s))) else {
            return Err(Refusal::TrackerFull);
        };
        *slot = Some(TrackedOrder {
            req: *req,
            state: OrderState::PendingNew,
            filled: Qty::ZERO,
            cum_quote: Amount::ZERO,
            order_id: 0,
            since: now,
            queried_at: None,
        });
        self.mark(index, true);
        if let Some(k) = self.reuse.get_mut(index) {
            *k = u64::MAX;
        }
        self.seq = self.seq.saturating_add(1);
        self.counters.placed += 1;
        Ok(())
    }

    /// Records a sent cancel.
    ///
    /// # Errors
    /// The refused transition (`None` if untracked).
    pub fn commit_cancel(&mut self, id: &ClientOrderId, now: Nanos) -> Result<OrderState, Option<IllegalTransition>> {
        let r = self.apply(id, OrderEvent::CancelRequested, now);
        if r.is_ok() {
            self.counters.cancels += 1;
        }
        r
    }

    /// Records a sent `order.status` query.
    pub fn commit_query(&mut self, id: &ClientOrderId, now: Nanos) {
        if let Some(o) = self.get_mut(id) {
            o.queried_at = Some(now);
            self.counters.queries += 1;
        }
    }

    /// A request about an order failed: `unknown` for 5xx / timeout (outcome
    /// unknown), otherwise a definite refusal (4xx: the place was rejected,
    /// or the cancel was refused).
    pub fn on_request_failed(
        &mut self,
        id: &ClientOrderId,
        request: RequestKind,
        unknown: bool,
        now: Nanos,
    ) -> ReportOutcome {
        let event = match (request, unknown) {
            (_, true) => OrderEvent::Unknown,
            (RequestKind::Place, false) => OrderEvent::Rejected,
            (RequestKind::Cancel, false) => OrderEvent::CancelRejected,
            (RequestKind::Query, false) => OrderEvent::NotFound,
        };
        outcome(self.apply(id, event, now))
    }

    /// An executionReport (or the `order.place` response turned into one).
    pub fn on_report(&mut self, r: &ExecutionReport, now: Nanos) -> ReportOutcome {
        let event = match r.exec_type {
            ExecType::New | ExecType::Replaced => OrderEvent::Accepted,
            ExecType::Trade => OrderEvent::Fill { cum_qty: r.cum_qty },
            ExecType::Canceled => OrderEvent::Canceled,
            ExecType::Rejected => OrderEvent::Rejected,
            ExecType::Expired => OrderEvent::Expired,
            ExecType::TradePrevention if r.status.is_final() => OrderEvent::Expired,
            ExecType::TradePrevention => OrderEvent::Accepted,
        };
        let res = self.apply(&r.client_id, event, now);
        let mut out = outcome(res);
        if let Some(o) = self.get_mut(&r.client_id) {
            if r.order_id != 0 {
                o.order_id = r.order_id;
            }
            if res.is_ok() && r.exec_type == ExecType::Trade {
                o.filled = r.cum_qty;
                o.cum_quote = r.cum_quote;
            }
        }
        if r.exec_type == ExecType::Trade && r.last_qty.is_positive() && (res.is_ok() || out.stray) {
            out.fill = Some((r.last_qty, r.last_price));
        }
        if out.fill.is_some() {
            self.counters.fills += 1;
        }
        out
    }

    /// An `order.status` answer (as a report: `status`, `cum_qty`,
    /// `cum_quote`). A fill the stream has not told about is returned as
    /// one fill at the average price of the missing quantity.
    pub fn on_status(&mut self, r: &ExecutionReport, now: Nanos) -> ReportOutcome {
        let (before_qty, before_quote) =
            self.get(&r.client_id).map_or((Qty::ZERO, Amount::ZERO), |o| (o.filled, o.cum_quote));
        let res = self.apply(&r.client_id, OrderEvent::Resolved { status: r.status, cum_qty: r.cum_qty }, now);
        let mut out = outcome(res);
        if res.is_ok() && r.cum_qty > before_qty {
            let dq = r.cum_qty.saturating_sub(before_qty);
            let dn = r.cum_quote.saturating_sub(before_quote);
            let px = i128::from(dn.raw()) * i128::from(odex_shared::market::SCALE) / i128::from(dq.raw().max(1));
            out.fill = Some((dq, Price::from_raw(i64::try_from(px).unwrap_or(0))));
            self.counters.fills += 1;
            if let Some(o) = self.get_mut(&r.client_id) {
                o.filled = r.cum_qty;
                o.cum_quote = r.cum_quote;
            }
        }
        out
    }
}

/// The positions of a word's set bits, lowest first.
struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

fn outcome(r: Result<OrderState, Option<IllegalTransition>>) -> ReportOutcome {
    match r {
        Ok(_) => ReportOutcome::default(),
        Err(Some(_)) => ReportOutcome { illegal: true, ..ReportOutcome::default() },
        Err(None) => ReportOutcome { stray: true, ..ReportOutcome::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{LotSize, NotionalFilter, PriceFilter};
    use OrderState as S;
    use proptest::prelude::*;

    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }
    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    pub(crate) fn policy(style: OrderStyle) -> OrderPolicy {
        OrderPolicy {
            style,
            price_offset_ticks: 0,
            requote_ticks: 2,
            min_rebalance_bps: 0,
            timeout: Nanos::from_millis(1000),
            client_id_prefix: "odx".into(),
        }
    }

    pub(crate) fn filters() -> SymbolFilters {
        SymbolFilters {
            price: Some(PriceFilter { min_price: p("0.01"), max_price: p("1000000"), tick_size: p("0.01") }),
            lot: Some(LotSize { min_qty: q("0.001"), max_qty: q("1000"), step_size: q("0.001") }),
            market_lot: None,
            notional: Some(NotionalFilter {
                min_notional: p("5"),
                apply_min_to_market: true,
                max_notional: Price::ZERO,
                apply_max_to_market: false,
            }),
            notional_is_legacy: false,
            percent: None,
        }
    }

    fn top() -> BookTop {
        BookTop { bid: p("100"), bid_qty: q("1"), ask: p("100.02"), ask_qty: q("1") }
    }

    #[test]
    fn exchange_oddities_are_legal() {
        let qty = q("1");
        // fill before ack, then the late ack
        let s = transition(S::PendingNew, OrderEvent::Fill { cum_qty: q("0.4") }, Qty::ZERO, qty).unwrap();
        assert_eq!(s, S::PartiallyFilled);
        assert_eq!(transition(s, OrderEvent::Accepted, q("0.4"), qty), Ok(S::PartiallyFilled));
        // accept after the cancel request, then a fill, then the cancel
        let s = transition(S::PendingNew, OrderEvent::CancelRequested, Qty::ZERO, qty).unwrap();
        assert_eq!(transition(s, OrderEvent::Accepted, Qty::ZERO, qty), Ok(S::PendingCancel));
        assert_eq!(transition(s, OrderEvent::Fill { cum_qty: q("0.5") }, Qty::ZERO, qty), Ok(S::PendingCancel));
        assert_eq!(transition(s, OrderEvent::Fill { cum_qty: qty }, Qty::ZERO, qty), Ok(S::Filled));
        assert_eq!(transition(s, OrderEvent::Canceled, q("0.5"), qty), Ok(S::Canceled));
        // IOC straight to expired
        assert_eq!(transition(S::PendingNew, OrderEvent::Expired, Qty::ZERO, qty), Ok(S::Expired));
        // the late place response after the end
        assert_eq!(transition(S::Filled, OrderEvent::Accepted, qty, qty), Ok(S::Filled));
        // late failures of requests about an order already final
        assert_eq!(transition(S::Canceled, OrderEvent::Unknown, Qty::ZERO, qty), Ok(S::Canceled));
        assert_eq!(transition(S::Filled, OrderEvent::CancelRejected, qty, qty), Ok(S::Filled));
        // unknown resolved by status
        let r = OrderEvent::Resolved { status: OrderStatus::PartiallyFilled, cum_qty: q("0.2") };
        assert_eq!(transition(S::Unknown, r, Qty::ZERO, qty), Ok(S::PartiallyFilled));
        assert_eq!(transition(S::Unknown, OrderEvent::NotFound, Qty::ZERO, qty), Ok(S::Rejected));
        // a stale status answer (written before a fill the stream already told)
        let stale = OrderEvent::Resolved { status: OrderStatus::New, cum_qty: Qty::ZERO };
        assert_eq!(transition(S::Filled, stale, qty, qty), Ok(S::Filled));
        assert_eq!(transition(S::PartiallyFilled, stale, q("0.5"), qty), Ok(S::PartiallyFilled));
    }

    #[test]
    fn impossible_events_are_refused() {
        let qty = q("1");
        for (from, ev, filled) in [
            (S::Canceled, OrderEvent::Fill { cum_qty: q("0.5") }, Qty::ZERO),
            (S::Filled, OrderEvent::Canceled, qty),
            (S::New, OrderEvent::Rejected, Qty::ZERO),
            (S::New, OrderEvent::Fill { cum_qty: q("1.5") }, Qty::ZERO),
            (S::PartiallyFilled, OrderEvent::Fill { cum_qty: q("0.5") }, q("0.5")),
            (S::Unknown, OrderEvent::CancelRequested, Qty::ZERO),
            (S::Rejected, OrderEvent::Accepted, Qty::ZERO),
            (S::New, OrderEvent::CancelRejected, Qty::ZERO),
            (S::Canceled, OrderEvent::Rejected, Qty::ZERO),
        ] {
            assert!(transition(from, ev, filled, qty).is_err(), "{from:?} {ev:?}");
        }
    }

    #[test]
    fn plan_places_then_requotes() {
        let mut om = OrderManager::new(8, "odx-t-", policy(OrderStyle::Limit)).unwrap();
        let mut out = Actions::new();
        om.plan(SymbolId(0), q("0.5"), Qty::ZERO, &top(), &filters(), &mut out).unwrap();
        let Some(Action::Place(req)) = out.first().copied() else { panic!("{out:?}") };
        assert_eq!((req.side, req.qty, req.price), (Side::Buy, q("0.5"), Some(p("100"))));
        assert_eq!(req.client_id.as_str(), "odx-t-1");
        om.commit_place(&req, Nanos(0)).unwrap();
        // in flight: nothing more
        out.clear();
        om.plan(SymbolId(0), q("0.5"), Qty::ZERO, &top(), &filters(), &mut out).unwrap();
        assert!(out.is_empty());
        // acked; the book moves 3 ticks up: requote
        let mut rep = report(&req, ExecType::New, OrderStatus::New);
        assert!(!om.on_report(&rep, Nanos(1)).illegal);
        let moved = BookTop { bid: p("100.03"), ..top() };
        om.plan(SymbolId(0), q("0.5"), Qty::ZERO, &moved, &filters(), &mut out).unwrap();
        assert_eq!(out.as_slice(), &[Action::Cancel { symbol: SymbolId(0), client_id: req.client_id }]);
        // min notional: 0.01 x 100 < 5
        out.clear();
        rep.exec_type = ExecType::Canceled;
        om.on_report(&rep, Nanos(2));
        assert_eq!(om.plan(SymbolId(0), q("0.01"), Qty::ZERO, &top(), &filters(), &mut out), Err(Refusal::Filters));
    }

    fn report(req: &OrderRequest, exec_type: ExecType, status: OrderStatus) -> ExecutionReport {
        ExecutionReport::unfilled(req, 7, exec_type, status)
    }

    #[test]
    fn unknown_blocks_the_symbol_until_status_answers() {
        let mut om = OrderManager::new(4, "odx-", policy(OrderStyle::Limit)).unwrap();
        let mut out = Actions::new();
        om.plan(SymbolId(0), q("0.5"), Qty::ZERO, &top(), &filters(), &mut out).unwrap();
        let Some(Action::Place(req)) = out.first().copied() else { panic!() };
        om.commit_place(&req, Nanos(0)).unwrap();
        let o = om.on_request_failed(&req.client_id, RequestKind::Place, true, Nanos(5));
        assert!(!o.illegal);
        assert!(om.is_blocked(SymbolId(0)));
        out.clear();
        assert_eq!(
            om.plan(SymbolId(0), q("-0.5"), Qty::ZERO, &top(), &filters(), &mut out),
            Err(Refusal::UnknownOrder)
        );
        om.check_timeouts(Nanos(6), &mut out);
        assert_eq!(out.as_slice(), &[Action::Query { symbol: SymbolId(0), client_id: req.client_id }]);
        om.commit_query(&req.client_id, Nanos(6));
        out.clear();
        om.check_timeouts(Nanos(7), &mut out);
        assert!(out.is_empty(), "no second query before the timeout");
        // the answer: it was filled 0.2 at 100
        let mut st = report(&req, ExecType::New, OrderStatus::PartiallyFilled);
        st.cum_qty = q("0.2");
        st.cum_quote = Amount::parse("20").unwrap();
        let o = om.on_status(&st, Nanos(8));
        assert_eq!(o.fill, Some((q("0.2"), p("100"))));
        assert!(!om.is_blocked(SymbolId(0)));
        assert_eq!(om.get(&req.client_id).unwrap().state, S::PartiallyFilled);
    }

    #[test]
    fn pending_requests_time_out_into_unknown() {
        let mut om = OrderManager::new(4, "odx-", policy(OrderStyle::Limit)).unwrap();
        let mut out = Actions::new();
        om.plan(SymbolId(0), q("0.5"), Qty::ZERO, &top(), &filters(), &mut out).unwrap();
        let Some(Action::Place(req)) = out.first().copied() else { panic!() };
        om.commit_place(&req, Nanos(0)).unwrap();
        out.clear();
        om.check_timeouts(Nanos::from_millis(1001), &mut out);
        assert_eq!(om.get(&req.client_id).unwrap().state, S::Unknown);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn budgets_follow_rate_limits() {
        let mut b = ExchangeBudgets::binance_spot();
        let t = Nanos(1_000_000_000_000);
        b.update(
            &[RateLimit { kind: RateLimitKind::Orders, interval: Nanos(10_000_000_000), limit: 50, count: 49 }],
            t,
        );
        assert!(b.try_spend(RequestKind::Place, t));
        assert!(!b.try_spend(RequestKind::Place, t));
        assert!(b.try_spend(RequestKind::Cancel, t), "cancels do not use ORDERS");
        assert!(b.try_spend(RequestKind::Place, Nanos(t.0 + 10_000_000_000)), "window reset on the boundary");
        b.update(
            &[RateLimit { kind: RateLimitKind::RequestWeight, interval: Nanos(60_000_000_000), limit: 10, count: 8 }],
            t,
        );
        assert!(!b.try_spend(RequestKind::Query, t));
    }

    fn any_state() -> impl Strategy<Value = OrderState> {
        prop_oneof![
            Just(S::PendingNew),
            Just(S::New),
            Just(S::PartiallyFilled),
            Just(S::Filled),
            Just(S::PendingCancel),
            Just(S::Canceled),
            Just(S::Rejected),
            Just(S::Expired),
            Just(S::Unknown),
        ]
    }

    fn any_event() -> impl Strategy<Value = OrderEvent> {
        let status = prop_oneof![
            Just(OrderStatus::New),
            Just(OrderStatus::PartiallyFilled),
            Just(OrderStatus::Filled),
            Just(OrderStatus::Canceled),
            Just(OrderStatus::Rejected),
            Just(OrderStatus::Expired),
        ];
        prop_oneof![
            Just(OrderEvent::Accepted),
            (0i64..=12).prop_map(|c| OrderEvent::Fill { cum_qty: Qty::from_raw(c) }),
            Just(OrderEvent::CancelRequested),
            Just(OrderEvent::CancelRejected),
            Just(OrderEvent::Canceled),
            Just(OrderEvent::Rejected),
            Just(OrderEvent::Expired),
            Just(OrderEvent::Unknown),
            (status, 0i64..=12).prop_map(|(status, c)| OrderEvent::Resolved { status, cum_qty: Qty::from_raw(c) }),
            Just(OrderEvent::NotFound),
        ]
    }

    /// The edges the exchange can produce, written out independently of
    /// `transition` (fills and resolutions are checked by their effect).
    fn allowed(from: OrderState, to: OrderState, ev: OrderEvent) -> bool {
        use OrderEvent as E;
        if from.is_final() {
            return to == from; // a final state never changes
        }
        match ev {
            E::Accepted => {
                matches!((from, to), (S::PendingNew | S::Unknown, S::New | S::PartiallyFilled)) || to == from
            }
            E::Fill { .. } => matches!(to, S::PartiallyFilled | S::Filled | S::PendingCancel),
            E::CancelRequested => to == S::PendingCancel && from != S::Unknown,
            E::CancelRejected => {
                matches!((from, to), (S::PendingCancel, S::New | S::PartiallyFilled) | (S::Unknown, S::Unknown))
            }
            E::Canceled => to == S::Canceled,
            E::Expired => to == S::Expired,
            E::Rejected | E::NotFound => {
                to == S::Rejected && matches!(from, S::PendingNew | S::PendingCancel | S::Unknown)
            }
            E::Unknown => to == S::Unknown,
            E::Resolved { .. } => true,
        }
    }

    proptest! {
        #[test]
        fn state_machine_never_makes_an_illegal_move(start in any_state(), events in proptest::collection::vec(any_event(), 0..40)) {
            let qty = Qty::from_raw(10);
            let mut state = start;
            let mut filled = if matches!(start, S::PartiallyFilled) { Qty::from_raw(3) } else if start == S::Filled { qty } else { Qty::ZERO };
            for ev in events {
                match transition(state, ev, filled, qty) {
                    Ok(next) => {
                        prop_assert!(allowed(state, next, ev), "{state:?} --{ev:?}--> {next:?}");
                        match ev {
                            OrderEvent::Fill { cum_qty } => {
                                prop_assert!(cum_qty > filled && cum_qty <= qty);
                                prop_assert_eq!(next == S::Filled, cum_qty == qty);
                                filled = cum_qty;
                            }
                            OrderEvent::Resolved { cum_qty, .. } if cum_qty < filled || state.is_final() => {
                                prop_assert!(cum_qty <= qty);
                                prop_assert_eq!(next, state, "a stale answer changes nothing");
                            }
                            OrderEvent::Resolved { cum_qty, .. } => {
                                prop_assert!(cum_qty <= qty);
                                filled = cum_qty;
                            }
                            _ => {}
                        }
                        if next == S::Rejected { prop_assert!(filled.is_zero()); }
                        state = next;
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
            }
        }

        /// Random, out-of-order reports against the manager, new orders
        /// that reuse the slots of final ones, and time-outs: no panic,
        /// every illegal one counted, open orders never exceed the slots,
        /// filled never exceeds the order quantity, and the open-slot bits
        /// always match the orders' states.
        #[test]
        fn manager_survives_any_report_order(ops in proptest::collection::vec((0usize..64, 0u8..11, 0i64..=12), 0..120)) {
            let mut om = OrderManager::new(4, "odx-", policy(OrderStyle::Limit)).unwrap();
            let mut ids = Vec::new();
            for i in 0..4u64 {
                let req = OrderRequest {
                    symbol: SymbolId(0),
                    client_id: ClientOrderId::with_sequence(b"odx-", i).unwrap(),
                    side: Side::Buy,
                    kind: OrderType::Limit,
                    time_in_force: Some(TimeInForce::Gtc),
                    price: Some(p("100")),
                    qty: Qty::from_raw(10),
                };
                om.commit_place(&req, Nanos(0)).unwrap();
                ids.push(req);
            }
            let mut illegal = 0;
            for (k, (which, what, cum)) in ops.into_iter().enumerate() {
                let req = ids[which % ids.len()];
                let now = Nanos(k as u64 + 1);
                let mut rep = report(&req, ExecType::New, OrderStatus::New);
                let before = om.counters().illegal;
                let o = match what {
                    0 => om.on_report(&rep, now),
                    1 | 2 => {
                        rep.exec_type = ExecType::Trade;
                        rep.cum_qty = Qty::from_raw(cum.min(10));
                        rep.last_qty = Qty::from_raw(1);
                        rep.status = if cum >= 10 { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
                        om.on_report(&rep, now)
                    }
                    3 => { let _ = om.commit_cancel(&req.client_id, now); ReportOutcome::default() }
                    4 => { rep.exec_type = ExecType::Canceled; rep.status = OrderStatus::Canceled; om.on_report(&rep, now) }
                    5 => { rep.exec_type = ExecType::Expired; rep.status = OrderStatus::Expired; om.on_report(&rep, now) }
                    6 => om.on_request_failed(&req.client_id, RequestKind::Place, cum % 2 == 0, now),
                    7 => om.on_request_failed(&req.client_id, RequestKind::Cancel, cum % 2 == 0, now),
                    8 => { rep.status = OrderStatus::PartiallyFilled; rep.cum_qty = Qty::from_raw(cum); rep.cum_quote = Amount::from_raw(cum * 100); om.on_status(&rep, now) }
                    9 => {
                        // a new order: into a free slot or the oldest final one, if any
                        let mut fresh = req;
                        fresh.client_id = ClientOrderId::with_sequence(b"odx-", ids.len() as u64).unwrap();
                        if om.commit_place(&fresh, now).is_ok() { ids.push(fresh); }
                        ReportOutcome::default()
                    }
                    _ => { let mut out = Actions::new(); om.check_timeouts(Nanos(now.0 + 10_000_000_000_000), &mut out); ReportOutcome::default() }
                };
                prop_assert!(om.open_bits_agree(), "open bits out of step after op {}", what);
                if o.illegal { illegal += 1; }
                prop_assert!(om.counters().illegal >= before);
                for t in om.orders() {
                    prop_assert!(t.filled <= t.req.qty);
                    prop_assert!(t.state != S::Filled || t.filled == t.req.qty);
                }
                prop_assert!(om.open_count() <= 4);
            }
            prop_assert!(om.counters().illegal >= illegal);
        }
    }
}
