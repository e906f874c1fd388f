//! The simulated exchange: our orders matched against recorded or synthetic
//! market data, one symbol at a time, deterministically.
//!
//! # Model
//! - **Messages and latency.** [`Venue::submit`] and [`Venue::cancel`]
//!   validate at once (shape, filters, duplicates, balances; Binance's codes)
//!   and answer with an ack or an error. The order then travels for one draw
//!   of the order-latency model and reaches the matching engine at
//!   `arrival`; messages keep their order (one connection), so arrivals never
//!   go backwards. Nothing happens between market events: an arrival is
//!   processed when [`Venue::on_market`] (against the market as it was
//!   before that event) or [`Venue::advance`] reaches its time.
//! - **Top of book** ([`BookUpdate`]). A marketable order takes the displayed
//!   quantity at the top, then the synthetic levels of
//!   [`Slippage::BookWalk`] if configured, each fill priced by the slippage
//!   model, rounded onto the tick grid against the taker, and never beyond a
//!   limit price. Liquidity we took stays taken until the next book update.
//!   MARKET and IOC remainders expire; FOK fills entirely or expires with no
//!   fill; LIMIT_MAKER that would take is rejected (`-2010 Order would
//!   immediately match and take.`); a GTC remainder rests.
//! - **L2 depth** ([`Venue::on_depth`], a [`DepthBook`] kept by Binance's
//!   snapshot + diff rules). Once a symbol has been given depth, its orders
//!   match against the book's real levels instead of the top and the
//!   synthetic ones: a taker walks the levels at their prices (slippage on
//!   top), FOK counts the liquidity of every level within its limit, and a
//!   resting order's queue is the quantity shown at its price at any depth
//!   (zero if no level is there within what the book covers, unknown beyond
//!   it). `bookTicker` updates of such a symbol then only move the
//!   reference price.
//! - **Queue.** A resting order's queue ahead is the quantity displayed at
//!   its price when it arrived (zero if it improved the best price, unknown
//!   if its level was not visible, then the displayed quantity once it
//!   is). Public trades at its price and decreases of the displayed quantity
//!   at its level eat the queue; trade volume beyond the queue fills it.
//!   A trade through its price, or the opposite best price reaching it,
//!   fills it completely (the level it sat in is gone). Resting fills are
//!   maker fills at the limit price.
//! - **Bars** ([`BarUpdate`], used only while no book has been seen for the
//!   symbol). A bar is delivered when it closes. An order can use only bars
//!   that opened at or after the end of the last bar the venue had seen when
//!   the order arrived: no same-bar look-ahead. On its first such bar a
//!   market or marketable limit order takes at the bar's open (plus
//!   slippage, capped at the limit). A resting limit fills at its price only
//!   if the bar traded strictly through it (a touch counts only with
//!   `fill_on_touch`, since the queue is unknown on bars). All our fills in
//!   one bar together take at most `bar_participation` of its volume.
//! - **Balances.** See [`ledger`](super::ledger): orders lock what they may
//!   spend; a buy never spends quote reserved for other orders.
//!
//! Storage is allocated once in [`Venue::new`]; the per-event path does not
//! allocate.

use std::collections::VecDeque;

use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty, SCALE, Side};

use super::depth::DepthBook;
use super::fees::{FeeModel, FeeRate, FixedFees};
use super::latency::{Latency, LatencyError, LatencyModel, LatencySpec};
use super::ledger::{Account, Fill, Ledger, Phase, SimOrder, SymbolNames, VenueError, buy_lock, check_shape};
use super::rng::Rng;
use super::slippage::{Slippage, SlippageModel};
use crate::event::{BarUpdate, BookUpdate, MarketData, MarketEvent, TradeUpdate};
use crate::filters::SymbolFilters;
use crate::order::{
    ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderStatus, OrderType, SymbolId, TimeInForce,
};

/// Most synthetic book levels a taker order walks.
const MAX_LEVELS: u32 = 64;

/// Where the venue's reports go.
///
/// Rules for implementors: called on the hot path, once per report, in the
/// order events happen; must not call back into the venue.
pub trait ReportSink {
    /// An order changed (fill, cancel, expiry, reject in matching).
    fn report(&mut self, report: &ExecutionReport);

    /// A cancel that was acknowledged reached the matching engine after its
    /// order had ended: Binance answers `-2011 Unknown order sent.`
    fn cancel_rejected(&mut self, _reject: &CancelReject) {}
}

/// A cancel that lost the race with its order's last fill or expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelReject {
    /// Symbol.
    pub symbol: SymbolId,
    /// Venue order id.
    pub order_id: u64,
    /// Client order id of the order.
    pub client_id: ClientOrderId,
    /// Always [`VenueError::UnknownOrder`] today.
    pub error: VenueError,
    /// When the cancel reached the matching engine.
    pub time: Nanos,
}

impl ReportSink for Vec<ExecutionReport> {
    fn report(&mut self, report: &ExecutionReport) {
        self.push(*report);
    }
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl ReportSink for NullSink {
    fn report(&mut self, _report: &ExecutionReport) {}
}

/// A sink that calls a closure.
#[derive(Debug, Clone, Copy)]
pub struct FnSink<F>(pub F);

impl<F: FnMut(&ExecutionReport)> ReportSink for FnSink<F> {
    fn report(&mut self, report: &ExecutionReport) {
        (self.0)(report);
    }
}

/// One symbol the venue trades, with the account's opening balances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SymbolConfig {
    /// Names for the JSON ledger.
    pub names: SymbolNames,
    /// Exchange filters, applied exactly as Binance applies them.
    pub filters: SymbolFilters,
    /// Opening base balance.
    pub base_balance: Qty,
    /// Opening quote balance.
    pub quote_balance: Amount,
}

/// Everything the venue model needs; validated by [`Venue::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct VenueConfig {
    /// Symbols, indexed by [`SymbolId`].
    pub symbols: Vec<SymbolConfig>,
    /// Maker/taker fees.
    pub fees: FixedFees,
    /// Slippage model.
    pub slippage: Slippage,
    /// Order (and cancel) latency, one way.
    pub order_latency: LatencySpec,
    /// Seed of every random draw the venue makes.
    pub seed: u64,
    /// Most orders open at once over all symbols (slots are preallocated).
    pub max_open_orders: usize,
    /// Fills kept in the ledger's ring (older ones are only counted).
    pub fill_log_capacity: usize,
    /// Largest fraction of a bar's volume our fills may take, in `(0, 1]`.
    pub bar_participation: f64,
    /// On bars, a resting order at exactly the bar's low (buy) or high
    /// (sell) fills. Off by default: the queue at a touched price is unknown.
    pub fill_on_touch: bool,
    /// Extra quote a market buy locks above the reference price, in bps.
    pub market_buy_reserve_bps: f64,
    /// EWMA weight of the newest squared log return in the venue's
    /// volatility estimate (for [`Slippage::VolatilityScaled`]), in `(0, 1]`.
    pub volatility_alpha: f64,
    /// On bars, only bars that open at or after an order's arrival may fill
    /// it. Off (the default), an order may use the first bar that opened
    /// after the last bar the venue had seen when it arrived: decided on bar
    /// t's close, it executes on bar t+1, whose range may include the first
    /// `latency` of that bar.
    pub strict_bar_arrival: bool,
    /// Levels per side kept of each symbol's L2 book ([`Venue::on_depth`]),
    /// `1..=5000`; storage for them is allocated with the venue.
    pub depth_levels: usize,
}

impl Default for VenueConfig {
    fn default() -> Self {
        Self {
            symbols: Vec::new(),
            fees: FixedFees::default(),
            slippage: Slippage::None,
            order_latency: LatencySpec::default(),
            seed: 0,
            max_open_orders: 64,
            fill_log_capacity: 1024,
            bar_participation: 0.1,
            fill_on_touch: false,
            market_buy_reserve_bps: 500.0,
            volatility_alpha: 0.05,
            strict_bar_arrival: false,
            depth_levels: 100,
        }
    }
}

/// Why a venue config was refused; `key` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueConfigError {
    /// A value out of range.
    #[error("venue config `{key}`: {why}")]
    Invalid {
        /// The field.
        key: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// A bad latency model.
    #[error("venue config `order_latency`: {0}")]
    Latency(#[from] LatencyError),
}

impl VenueConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`VenueConfigError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), VenueConfigError> {
        let bad = |key, why| Err(VenueConfigError::Invalid { key, why });
        if self.symbols.is_empty() || self.symbols.len() > usize::from(u16::MAX) {
            return bad("symbols", "between 1 and 65535 symbols are needed");
        }
        if self.symbols.iter().any(|s| s.base_balance.raw() < 0 || s.quote_balance.raw() < 0) {
            return bad("symbols.balance", "opening balances must not be negative");
        }
        if !(1..=1 << 20).contains(&self.max_open_orders) {
            return bad("max_open_orders", "must be between 1 and 1048576");
        }
        if self.fill_log_capacity > 1 << 24 {
            return bad("fill_log_capacity", "must be at most 16777216");
        }
        if !(self.bar_participation > 0.0 && self.bar_participation <= 1.0) {
            return bad("bar_participation", "must be in (0, 1]");
        }
        if !(self.volatility_alpha > 0.0 && self.volatility_alpha <= 1.0) {
            return bad("volatility_alpha", "must be in (0, 1]");
        }
        if !(self.market_buy_reserve_bps.is_finite() && (0.0..=10_000.0).contains(&self.market_buy_reserve_bps)) {
            return bad("market_buy_reserve_bps", "must be in [0, 10000]");
        }
        if let Some(key) = self.slippage.invalid_field() {
            return bad(key, "out of range");
        }
        if !(1..=5_000).contains(&self.depth_levels) {
            return bad("depth_levels", "must be between 1 and 5000");
        }
        self.order_latency.validate()?;
        Ok(())
    }
}

/// Which order a cancel or query means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRef {
    /// By venue order id.
    Id(u64),
    /// By client order id.
    Client(ClientOrderId),
}

/// What the venue knows about one symbol's market.
#[derive(Debug, Clone, Copy, Default)]
struct MarketState {
    top: Option<BookTop>,
    /// Quantity our takers took from the bid / ask since the last book update.
    bid_taken: Qty,
    ask_taken: Qty,
    /// The last mid, trade or close: the average price for filters.
    reference: Option<Price>,
    /// End (ms) of the last bar seen.
    last_bar_end_ms: i64,
    log_ref: f64,
    variance: f64,
    observed: u64,
    /// Matching uses the symbol's L2 book (`depths`) since it was given one.
    has_depth: bool,
}

/// The book an order is matched against: the top (with any synthetic
/// levels of the slippage model) or a real L2 book.
#[derive(Debug, Clone, Copy)]
enum View<'a> {
    Top(&'a BookTop),
    Depth(&'a DepthBook),
}

impl View<'_> {
    /// Best bid and ask (zeros for an empty side of a book).
    fn top(&self) -> BookTop {
        match self {
            Self::Top(t) => **t,
            Self::Depth(d) => {
                let (b, a) = (d.levels(Side::Buy).first(), d.levels(Side::Sell).first());
                BookTop {
                    bid: b.map_or(Price::ZERO, |l| l.price),
                    bid_qty: b.map_or(Qty::ZERO, |l| l.qty),
                    ask: a.map_or(Price::ZERO, |l| l.price),
                    ask_qty: a.map_or(Qty::ZERO, |l| l.qty),
                }
            }
        }
    }

    /// What rests on `side` at `p` ahead of a new order there: the level's
    /// quantity, zero at a price better than the best or (in a book) with no
    /// level within what the book covers, `None` where the venue cannot see.
    fn queue_at(&self, side: Side, p: Price) -> Option<Qty> {
        let top = self.top();
        let best = match side {
            Side::Buy => top.bid,
            Side::Sell => top.ask,
        };
        if better(side, p, best) || !best.is_positive() {
            return Some(Qty::ZERO);
        }
        match self {
            Self::Top(_) if p == best => Some(match side {
                Side::Buy => top.bid_qty,
                Side::Sell => top.ask_qty,
            }),
            Self::Top(_) => None,
            Self::Depth(d) => match d.qty_at(side, p) {
                Some(q) => Some(q),
                None if d.covers(side, p) => Some(Qty::ZERO),
                None => None,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    arrival: Nanos,
    order_id: u64,
    symbol: SymbolId,
    client_id: ClientOrderId,
    cancel: bool,
}

/// The simulated venue. `F`, `S` and `L` are the fee, slippage and latency
/// seams; the defaults are the configurable implementations.
#[derive(Debug, Clone)]
pub struct Venue<F: FeeModel = FixedFees, S: SlippageModel = Slippage, L: LatencyModel = Latency> {
    symbols: Vec<SymbolConfig>,
    names: Vec<SymbolNames>,
    markets: Vec<MarketState>,
    /// Each symbol's L2 book as last given to [`Venue::on_depth`].
    depths: Vec<DepthBook>,
    ledger: Ledger,
    pending: VecDeque<Pending>,
    pending_cap: usize,
    fees: F,
    slippage: S,
    latency: L,
    next_order_id: u64,
    next_trade_id: u64,
    last_arrival: Nanos,
    participation: f64,
    fill_on_touch: bool,
    market_reserve: FeeRate,
    volatility_alpha: f64,
    track_volatility: bool,
    strict_bar_arrival: bool,
    dirty: bool,
}

impl Venue {
    /// A venue with the configured fee, slippage and latency models.
    ///
    /// # Errors
    /// [`VenueConfigError`] naming the first bad field.
    pub fn new(config: &VenueConfig) -> Result<Self, VenueConfigError> {
        let latency = Latency::new(config.order_latency.clone(), Rng::stream(config.seed, 1))?;
        Self::with_models(config, config.fees, config.slippage, latency)
    }
}

impl<F: FeeModel, S: SlippageModel, L: LatencyModel> Venue<F, S, L> {
    /// A venue with caller-provided models (`config.fees`, `slippage` and
    /// `order_latency` are then ignored).
    ///
    /// # Errors
    /// [`VenueConfigError`] naming the first bad field.
    pub fn with_models(config: &VenueConfig, fees: F, slippage: S, latency: L) -> Result<Self, VenueConfigError> {
        config.validate()?;
        let accounts = config
            .symbols
            .iter()
            .map(|s| Account { base: s.base_balance, quote: s.quote_balance, ..Account::default() })
            .collect();
        let pending_cap = config.max_open_orders.saturating_mul(2);
        let market_reserve = FeeRate::from_bps(config.market_buy_reserve_bps.min(9_999.0))
            .map_err(|_| VenueConfigError::Invalid { key: "market_buy_reserve_bps", why: "must be in [0, 10000]" })?;
        let track_volatility = matches!(config.slippage, Slippage::VolatilityScaled { .. });
        Ok(Self {
            names: config.symbols.iter().map(|s| s.names.clone()).collect(),
            markets: vec![MarketState::default(); config.symbols.len()],
            depths: vec![DepthBook::new(config.depth_levels); config.symbols.len()],
            symbols: config.symbols.clone(),
            ledger: Ledger::new(accounts, config.max_open_orders, config.fill_log_capacity),
            pending: VecDeque::with_capacity(pending_cap),
            pending_cap,
            fees,
            slippage,
            latency,
            next_order_id: 1,
            next_trade_id: 1,
            last_arrival: Nanos(0),
            participation: config.bar_participation,
            fill_on_touch: config.fill_on_touch,
            market_reserve,
            volatility_alpha: config.volatility_alpha,
            track_volatility,
            strict_bar_arrival: config.strict_bar_arrival,
            dirty: false,
        })
    }

    /// The ledger: accounts, open orders, recent fills.
    pub const fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The account of a symbol.
    pub fn account(&self, symbol: SymbolId) -> Option<&Account> {
        self.ledger.account(symbol)
    }

    /// The ledger as JSON (cold path; see [`Ledger::to_json`]).
    pub fn ledger_json(&self) -> String {
        self.ledger.to_json(&self.names)
    }

    /// A symbol's filters.
    pub fn filters(&self, symbol: SymbolId) -> Option<&SymbolFilters> {
        self.symbols.get(usize::from(symbol.0)).map(|s| &s.filters)
    }

    /// The last top of book seen for a symbol.
    pub fn top(&self, symbol: SymbolId) -> Option<BookTop> {
        self.markets.get(usize::from(symbol.0)).and_then(|m| m.top)
    }

    /// The reference (average) price: the last mid, trade or close.
    pub fn reference_price(&self, symbol: SymbolId) -> Option<Price> {
        self.markets.get(usize::from(symbol.0)).and_then(|m| m.reference)
    }

    /// The venue's per-event volatility estimate (EWMA of squared log
    /// returns of the reference price); zero unless a volatility-scaled
    /// slippage model is configured.
    pub fn volatility(&self, symbol: SymbolId) -> f64 {
        self.markets.get(usize::from(symbol.0)).map_or(0.0, |m| m.variance.sqrt())
    }

    /// An open order (in flight or live).
    pub fn order(&self, symbol: SymbolId, which: OrderRef) -> Option<&SimOrder> {
        self.ledger.orders.iter().find(|o| o.request.symbol == symbol && matches_ref(o, which))
    }

    /// An order's latest state: open, or ended recently (the ledger keeps
    /// as many ended orders as fills), as `order.status` answers it.
    pub fn order_status(&self, symbol: SymbolId, which: OrderRef) -> Option<&SimOrder> {
        self.order(symbol, which).or_else(|| {
            let mut found = None;
            for o in self.ledger.recently_ended() {
                if o.request.symbol == symbol && matches_ref(o, which) {
                    found = Some(o);
                }
            }
            found
        })
    }

    /// Open orders of one symbol, oldest first.
    pub fn open_orders(&self, symbol: SymbolId) -> impl Iterator<Item = &SimOrder> {
        self.ledger.orders.iter().filter(move |o| o.request.symbol == symbol)
    }

    /// Messages still travelling to the matching engine.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Places an order at time `now`: validated at once, matched when it
    /// arrives (after the order latency). Returns the `NEW` acknowledgement.
    ///
    /// # Errors
    /// The [`VenueError`] Binance would answer with.
    pub fn submit(&mut self, req: OrderRequest, now: Nanos) -> Result<ExecutionReport, VenueError> {
        let r = self.accept(req, now);
        if r.is_err() {
            self.ledger.rejected += 1;
        }
        r
    }

    fn accept(&mut self, req: OrderRequest, now: Nanos) -> Result<ExecutionReport, VenueError> {
        let sym = usize::from(req.symbol.0);
        let spec = self.symbols.get(sym).ok_or(VenueError::InvalidSymbol)?;
        let market = self.markets.get(sym).ok_or(VenueError::InvalidSymbol)?;
        let account = self.ledger.accounts.get(sym).ok_or(VenueError::InvalidSymbol)?;
        check_shape(&req)?;
        let avg = match (req.kind, market.reference) {
            (_, Some(p)) => p,
            (OrderType::Market, None) => return Err(VenueError::NoMarket),
            (_, None) => req.price.unwrap_or(Price::ZERO),
        };
        spec.filters.check(&req, avg).map_err(VenueError::Filter)?;
        if self.ledger.orders.iter().any(|o| o.request.symbol == req.symbol && o.request.client_id == req.client_id) {
            return Err(VenueError::DuplicateOrder);
        }
        if let (OrderType::LimitMaker, Some(top), Some(p)) = (req.kind, market.top, req.price)
            && would_take(&top, req.side, p)
        {
            return Err(VenueError::WouldTake);
        }
        if self.ledger.is_full() || self.pending.len() >= self.pending_cap {
            return Err(VenueError::TooManyOrders);
        }
        let (lock_price, locked) = match req.side {
            Side::Buy => {
                let lock_price = match req.price {
                    Some(p) => p,
                    None => Price::from_raw(buy_lock(avg, Qty::ONE, self.market_reserve.raw())),
                };
                let locked = buy_lock(lock_price, req.qty, self.fees.max_rate_raw());
                if account.free_quote().raw() < locked {
                    return Err(VenueError::InsufficientBalance);
                }
                (lock_price, locked)
            }
            Side::Sell => {
                if account.free_base() < req.qty {
                    return Err(VenueError::InsufficientBalance);
                }
                (req.price.unwrap_or(avg), req.qty.raw())
            }
        };
        let arrival = Nanos(now.0.saturating_add(self.latency.next_latency().0)).max(self.last_arrival);
        self.last_arrival = arrival;
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let order = SimOrder {
            order_id,
            request: req,
            status: OrderStatus::New,
            phase: Phase::InFlight,
            filled: Qty::ZERO,
            cum_quote: Amount::ZERO,
            fees: Amount::ZERO,
            submitted: now,
            arrival,
            queue_ahead: None,
            min_bar_open_ms: 0,
            lock_price,
            locked,
        };
        if let Some(a) = self.ledger.accounts.get_mut(sym) {
            match req.side {
                Side::Buy => a.locked_quote = a.locked_quote.saturating_add(Amount::from_raw(locked)),
                Side::Sell => a.locked_base = a.locked_base.saturating_add(req.qty),
            }
        }
        self.ledger.orders.push(order);
        self.pending.push_back(Pending {
            arrival,
            order_id,
            symbol: req.symbol,
            client_id: req.client_id,
            cancel: false,
        });
        self.ledger.placed += 1;
        Ok(order.report(ExecType::New, now))
    }

    /// Requests a cancel at time `now`; it takes effect when it arrives
    /// (the order may fill meanwhile, then the sink's
    /// [`ReportSink::cancel_rejected`] hears of it). Returns the order id.
    ///
    /// # Errors
    /// [`VenueError::UnknownOrder`] if no such order is open,
    /// [`VenueError::TooManyOrders`] if the message queue is full.
    pub fn cancel(&mut self, symbol: SymbolId, which: OrderRef, now: Nanos) -> Result<u64, VenueError> {
        let Some((order_id, client_id)) = self.order(symbol, which).map(|o| (o.order_id, o.request.client_id)) else {
            self.ledger.rejected += 1;
            return Err(VenueError::UnknownOrder);
        };
        if self.pending.len() >= self.pending_cap {
            self.ledger.rejected += 1;
            return Err(VenueError::TooManyOrders);
        }
        let arrival = Nanos(now.0.saturating_add(self.latency.next_latency().0)).max(self.last_arrival);
        self.last_arrival = arrival;
        self.pending.push_back(Pending { arrival, order_id, symbol, client_id, cancel: true });
        Ok(order_id)
    }

    /// Requests a cancel of every open order of a symbol; returns how many.
    pub fn cancel_all(&mut self, symbol: SymbolId, now: Nanos) -> usize {
        let mut n = 0;
        let mut i = 0;
        while let Some(o) = self.ledger.orders.get(i) {
            i += 1;
            if o.request.symbol == symbol && self.cancel(symbol, OrderRef::Id(o.order_id), now).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Delivers every message that has arrived by `now` (against the market
    /// as last seen).
    pub fn advance<K: ReportSink>(&mut self, now: Nanos, sink: &mut K) {
        while let Some(p) = self.pending.front().copied() {
            if p.arrival > now {
                break;
            }
            self.pending.pop_front();
            if p.cancel {
                self.deliver_cancel(&p, sink);
            } else {
                self.deliver_order(p.order_id, p.arrival, sink);
            }
        }
        self.sweep();
    }

    /// Feeds one market event: first delivers what arrived before it, then
    /// applies it, reporting every resulting fill to `sink`. The event's
    /// time is its `exchange_time`, or `recv` when it has none.
    pub fn on_market<K: ReportSink>(&mut self, event: &MarketEvent, sink: &mut K) {
        let t = event.exchange_time.unwrap_or(event.recv);
        if !self.pending.is_empty() {
            self.advance(t, sink);
        }
        match event.data {
            MarketData::Book(b) => self.on_book(&b, t, sink),
            MarketData::Trade(tr) => self.on_trade(&tr, t, sink),
            MarketData::Bar(b) => self.on_bar(&b, t, sink),
        }
        self.sweep();
    }

    fn sweep(&mut self) {
        if self.dirty {
            self.ledger.sweep();
            self.dirty = false;
        }
    }

    fn index_of(&self, order_id: u64) -> Option<usize> {
        self.ledger.orders.iter().position(|o| o.order_id == order_id)
    }

    fn deliver_cancel<K: ReportSink>(&mut self, p: &Pending, sink: &mut K) {
        match self.index_of(p.order_id) {
            Some(i) if self.ledger.orders.get(i).is_some_and(|o| !o.status.is_final()) => {
                self.close(i, OrderStatus::Canceled, ExecType::Canceled, 0, p.arrival, sink);
            }
            _ => sink.cancel_rejected(&CancelReject {
                symbol: p.symbol,
                order_id: p.order_id,
                client_id: p.client_id,
                error: VenueError::UnknownOrder,
                time: p.arrival,
            }),
        }
    }

    fn deliver_order<K: ReportSink>(&mut self, order_id: u64, time: Nanos, sink: &mut K) {
        let Some(i) = self.index_of(order_id) else { return };
        let Some(o) = self.ledger.orders.get_mut(i) else { return };
        if o.status.is_final() {
            return;
        }
        let sym = usize::from(o.request.symbol.0);
        let market = self.markets.get(sym).copied().unwrap_or_default();
        o.phase = Phase::Arrived;
        o.min_bar_open_ms = market.last_bar_end_ms;
        if self.strict_bar_arrival {
            let arrival_ms = i64::try_from(time.0.div_ceil(1_000_000)).unwrap_or(i64::MAX);
            o.min_bar_open_ms = o.min_bar_open_ms.max(arrival_ms);
        }
        if market.has_depth {
            let book = self.take_depth(sym);
            self.evaluate_on_book(i, View::Depth(&book), time, sink);
            self.put_depth(sym, book);
        } else if let Some(top) = market.top {
            self.evaluate_on_book(i, View::Top(&top), time, sink);
        }
    }

    /// Moves a symbol's stored book out (for matching against it while the
    /// venue is borrowed mutably); [`Self::put_depth`] puts it back. Neither
    /// allocates.
    fn take_depth(&mut self, sym: usize) -> DepthBook {
        self.depths.get_mut(sym).map(std::mem::take).unwrap_or_default()
    }

    fn put_depth(&mut self, sym: usize, book: DepthBook) {
        if let Some(slot) = self.depths.get_mut(sym) {
            *slot = book;
        }
    }

    /// Feeds a symbol's L2 book at time `t` (after delivering what arrived
    /// before it): arrived orders are matched against its levels, resting
    /// ones see their queue move and fill when the other side reaches them.
    /// From then on the symbol matches against depth (see the module docs).
    pub fn on_depth<K: ReportSink>(&mut self, symbol: SymbolId, book: &DepthBook, t: Nanos, sink: &mut K) {
        if !self.pending.is_empty() {
            self.advance(t, sink);
        }
        let sym = usize::from(symbol.0);
        let Some(m) = self.markets.get_mut(sym) else { return };
        let first = !m.has_depth;
        m.has_depth = true;
        let prev_top = self.set_top(sym, book.top());
        let mut prev = self.take_depth(sym);
        let before = match (first, prev_top.as_ref()) {
            (false, _) => Some(View::Depth(&prev)),
            (true, Some(top)) => Some(View::Top(top)),
            (true, None) => None,
        };
        self.match_book(symbol, before, View::Depth(book), t, sink);
        prev.copy_from(book);
        self.put_depth(sym, prev);
        self.sweep();
    }

    /// Ends an order: releases its lock, reports, counts.
    fn close<K: ReportSink>(
        &mut self,
        i: usize,
        status: OrderStatus,
        exec: ExecType,
        code: i32,
        time: Nanos,
        sink: &mut K,
    ) {
        let Some(o) = self.ledger.orders.get_mut(i) else { return };
        let locked = o.locked;
        o.locked = 0;
        o.status = status;
        let mut report = o.report(exec, time);
        report.reject_code = code;
        let (sym, side) = (usize::from(o.request.symbol.0), o.request.side);
        if let Some(a) = self.ledger.accounts.get_mut(sym) {
            match side {
                Side::Buy => a.locked_quote = a.locked_quote.saturating_sub(Amount::from_raw(locked)),
                Side::Sell => a.locked_base = a.locked_base.saturating_sub(Qty::from_raw(locked)),
            }
        }
        self.ledger.count_closed(status);
        self.dirty = true;
        sink.report(&report);
    }

    /// Fills up to `want` of order `i` at `price`; returns the quantity
    /// filled (less when a buy cannot afford more).
    fn fill<K: ReportSink>(
        &mut self,
        i: usize,
        price: Price,
        want: Qty,
        maker: bool,
        time: Nanos,
        sink: &mut K,
    ) -> Qty {
        let Some(o) = self.ledger.orders.get(i).copied() else { return Qty::ZERO };
        let sym = usize::from(o.request.symbol.0);
        let Some(acct) = self.ledger.accounts.get(sym).copied() else { return Qty::ZERO };
        let mut q = want.min(o.remaining());
        if !q.is_positive() || !price.is_positive() {
            return Qty::ZERO;
        }
        let step = self.symbols.get(sym).and_then(|s| s.filters.lot).map_or(0, |l| l.step_size.raw());
        if o.request.side == Side::Buy {
            let budget = acct.quote.raw().saturating_sub(acct.locked_quote.raw().saturating_sub(o.locked));
            q = self.affordable(price, q, budget, maker, step);
            if !q.is_positive() {
                return Qty::ZERO;
            }
        }
        let Some(notional) = price.notional(q) else { return Qty::ZERO };
        let fee = self.fees.fee(notional, maker);
        let mut a = acct;
        match o.request.side {
            Side::Buy => {
                a.quote = a.quote.saturating_sub(notional).saturating_sub(fee);
                a.base = a.base.saturating_add(q);
                a.bought = a.bought.saturating_add(q);
                a.buy_notional = a.buy_notional.saturating_add(notional);
            }
            Side::Sell => {
                a.base = a.base.saturating_sub(q);
                a.quote = a.quote.saturating_add(notional).saturating_sub(fee);
                a.sold = a.sold.saturating_add(q);
                a.sell_notional = a.sell_notional.saturating_add(notional);
            }
        }
        a.fees = a.fees.saturating_add(fee);
        a.fills += 1;
        let mut n = o;
        n.filled = n.filled.saturating_add(q);
        n.cum_quote = n.cum_quote.saturating_add(notional);
        n.fees = n.fees.saturating_add(fee);
        let remaining = n.remaining();
        n.locked = match n.request.side {
            Side::Buy if remaining.is_positive() => buy_lock(n.lock_price, remaining, self.fees.max_rate_raw()),
            Side::Buy => 0,
            Side::Sell => remaining.raw(),
        };
        match n.request.side {
            Side::Buy => {
                a.locked_quote = a.locked_quote.saturating_sub(Amount::from_raw(o.locked - n.locked));
            }
            Side::Sell => a.locked_base = a.locked_base.saturating_sub(Qty::from_raw(o.locked - n.locked)),
        }
        n.status = if remaining.is_positive() { OrderStatus::PartiallyFilled } else { OrderStatus::Filled };
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        if let Some(slot) = self.ledger.accounts.get_mut(sym) {
            *slot = a;
        }
        if let Some(slot) = self.ledger.orders.get_mut(i) {
            *slot = n;
        }
        self.ledger.record_fill(Fill {
            trade_id,
            order_id: n.order_id,
            client_id: n.request.client_id,
            symbol: n.request.symbol,
            side: n.request.side,
            price,
            qty: q,
            quote: notional,
            fee,
            maker,
            time,
        });
        let mut report = n.report(ExecType::Trade, time);
        report.last_qty = q;
        report.last_price = price;
        report.commission = fee;
        report.maker = maker;
        report.trade_id = trade_id;
        if n.status == OrderStatus::Filled {
            self.ledger.count_closed(OrderStatus::Filled);
            self.dirty = true;
        }
        sink.report(&report);
        q
    }

    /// The largest quantity `<= want` (on the lot step) whose cost with fees
    /// fits in `budget` quote (raw).
    fn affordable(&self, price: Price, want: Qty, budget: i64, maker: bool, step: i64) -> Qty {
        let cost =
            |q: Qty| price.notional(q).map_or(i64::MAX, |n| n.raw().saturating_add(self.fees.fee(n, maker).raw()));
        if cost(want) <= budget {
            return want;
        }
        if budget <= 0 {
            return Qty::ZERO;
        }
        let scale = i128::from(SCALE);
        let per_unit = i128::from(price.raw()) * (scale + i128::from(self.fees.max_rate_raw())) / scale;
        let mut q = i64::try_from(i128::from(budget) * scale / per_unit.max(1)).unwrap_or(0).min(want.raw());
        if step > 0 {
            q -= q.rem_euclid(step);
        }
        let dec = step.max(1);
        while q > 0 && cost(Qty::from_raw(q)) > budget {
            q -= dec;
        }
        Qty::from_raw(q.max(0))
    }

    fn adverse(&self, sym: usize, side: Side, price: Price) -> Price {
        // round_price rounds passively for the side given: the opposite side
        // rounds against this taker.
        self.symbols.get(sym).map_or(price, |s| s.filters.round_price(price, side.opposite()))
    }

    fn taken(&self, sym: usize, side: Side) -> Qty {
        self.markets.get(sym).map_or(Qty::ZERO, |m| match side {
            Side::Buy => m.ask_taken,
            Side::Sell => m.bid_taken,
        })
    }

    /// Level `k` of the liquidity a taker on `side` lifts.
    fn level(&self, view: View<'_>, side: Side, k: u32) -> Option<(Price, Qty)> {
        let top = match view {
            View::Top(t) => t,
            View::Depth(d) => {
                let l = d.levels(side.opposite()).get(usize::try_from(k).ok()?)?;
                return Some((l.price, l.qty.max(Qty::ZERO)));
            }
        };
        let (px, qty) = match side {
            Side::Buy => (top.ask, top.ask_qty),
            Side::Sell => (top.bid, top.bid_qty),
        };
        if !px.is_positive() {
            return None;
        }
        // a negative displayed quantity (bad data) counts as none
        let qty = qty.max(Qty::ZERO);
        if k == 0 { Some((px, qty)) } else { self.slippage.synthetic_level(side, px, qty, k) }
    }

    /// Quantity a taker could get within `limit` right now.
    fn liquidity_within(&self, sym: usize, view: View<'_>, side: Side, limit: Option<Price>) -> Qty {
        let mut skip = self.taken(sym, side).raw();
        let mut total: i64 = 0;
        for k in 0..=self.max_levels(view) {
            let Some((px, qty)) = self.level(view, side, k) else { break };
            if limit.is_some_and(|l| beyond(side, px, l)) {
                break;
            }
            let used = skip.min(qty.raw());
            skip -= used;
            total = total.saturating_add(qty.raw() - used);
        }
        Qty::from_raw(total)
    }

    /// Takes liquidity for order `i` level by level.
    fn take<K: ReportSink>(&mut self, i: usize, view: View<'_>, time: Nanos, sink: &mut K) {
        let Some(o) = self.ledger.orders.get(i).copied() else { return };
        let sym = usize::from(o.request.symbol.0);
        let side = o.request.side;
        let limit = o.request.price;
        let vol = if self.track_volatility { self.volatility(o.request.symbol) } else { 0.0 };
        let mut skip = self.taken(sym, side).raw();
        for k in 0..=self.max_levels(view) {
            let Some((px, qty)) = self.level(view, side, k) else { break };
            if limit.is_some_and(|l| beyond(side, px, l)) {
                break;
            }
            let used = skip.min(qty.raw());
            skip -= used;
            let avail = Qty::from_raw(qty.raw() - used);
            if !avail.is_positive() {
                continue;
            }
            let mut fill_px = self.adverse(sym, side, self.slippage.taker_price(side, px, vol));
            if let Some(l) = limit {
                fill_px = cap(side, fill_px, l);
            }
            let remaining = self.ledger.orders.get(i).map_or(Qty::ZERO, SimOrder::remaining);
            let want = remaining.min(avail);
            let got = self.fill(i, fill_px, want, false, time, sink);
            if let Some(m) = self.markets.get_mut(sym) {
                match side {
                    Side::Buy => m.ask_taken = m.ask_taken.saturating_add(got),
                    Side::Sell => m.bid_taken = m.bid_taken.saturating_add(got),
                }
            }
            if got < want || got == remaining {
                break;
            }
        }
    }

    /// Levels a taker may walk: the synthetic ones of the slippage model
    /// on a top, every kept one of a book.
    fn max_levels(&self, view: View<'_>) -> u32 {
        match view {
            View::Top(_) => MAX_LEVELS,
            View::Depth(d) => u32::try_from(d.capacity()).unwrap_or(u32::MAX),
        }
    }

    /// First look at the book for an order that has arrived.
    fn evaluate_on_book<K: ReportSink>(&mut self, i: usize, view: View<'_>, time: Nanos, sink: &mut K) {
        let top = &view.top();
        let Some(o) = self.ledger.orders.get(i).copied() else { return };
        let sym = usize::from(o.request.symbol.0);
        let side = o.request.side;
        let crosses = match (o.request.kind, o.request.price) {
            (OrderType::Market, _) => true,
            (_, Some(p)) => would_take(top, side, p),
            (_, None) => false,
        };
        let tif = o.request.time_in_force;
        if crosses && o.request.kind == OrderType::LimitMaker {
            self.close(i, OrderStatus::Rejected, ExecType::Rejected, VenueError::WouldTake.code(), time, sink);
            return;
        }
        if crosses
            && tif == Some(TimeInForce::Fok)
            && self.liquidity_within(sym, view, side, o.request.price) < o.remaining()
        {
            self.close(i, OrderStatus::Expired, ExecType::Expired, 0, time, sink);
            return;
        }
        if crosses {
            self.take(i, view, time, sink);
        }
        let Some(o) = self.ledger.orders.get(i).copied() else { return };
        if o.status.is_final() {
            return;
        }
        let rests = o.request.kind != OrderType::Market && matches!(tif, None | Some(TimeInForce::Gtc));
        if !rests {
            self.close(i, OrderStatus::Expired, ExecType::Expired, 0, time, sink);
            return;
        }
        let queue = view.queue_at(side, o.limit());
        if let Some(slot) = self.ledger.orders.get_mut(i) {
            slot.phase = Phase::Resting;
            slot.queue_ahead = queue;
        }
    }

    fn observe_reference(&mut self, sym: usize, price: Price) {
        let alpha = self.volatility_alpha;
        let track = self.track_volatility;
        let Some(m) = self.markets.get_mut(sym) else { return };
        m.reference = Some(price);
        if track && price.is_positive() {
            let lp = price.to_f64().ln();
            if m.observed > 0 {
                let r = lp - m.log_ref;
                m.variance += alpha * (r * r - m.variance);
            }
            m.log_ref = lp;
            m.observed += 1;
        }
    }

    fn on_book<K: ReportSink>(&mut self, b: &BookUpdate, t: Nanos, sink: &mut K) {
        let sym = usize::from(b.symbol.0);
        let Some(m) = self.markets.get(sym) else { return };
        if m.has_depth {
            // the L2 book rules this symbol's matching; the ticker only marks
            self.observe_mid(sym, &b.top);
            return;
        }
        let prev = self.set_top(sym, Some(b.top));
        self.match_book(b.symbol, prev.as_ref().map(View::Top), View::Top(&b.top), t, sink);
    }

    /// A new book for `sym`: its top replaces the last one, the liquidity
    /// our takers took is back, and its mid marks the reference price.
    /// Returns the previous top.
    fn set_top(&mut self, sym: usize, top: Option<BookTop>) -> Option<BookTop> {
        let m = self.markets.get_mut(sym)?;
        let prev = std::mem::replace(&mut m.top, top);
        m.bid_taken = Qty::ZERO;
        m.ask_taken = Qty::ZERO;
        if let Some(top) = top {
            self.observe_mid(sym, &top);
        }
        prev
    }

    /// Marks the reference price at a book's mid (when both sides show one).
    fn observe_mid(&mut self, sym: usize, top: &BookTop) {
        if top.bid.is_positive() && top.ask.is_positive() {
            self.observe_reference(sym, Price::from_raw(top.bid.raw() / 2 + top.ask.raw() / 2));
        }
    }

    /// Every live order of `symbol` against a new book `now`: arrived ones
    /// take their first look, resting ones see their queue move (from
    /// `prev`, the book before) or fill.
    fn match_book<K: ReportSink>(
        &mut self,
        symbol: SymbolId,
        prev: Option<View<'_>>,
        now: View<'_>,
        t: Nanos,
        sink: &mut K,
    ) {
        let mut i = 0;
        while let Some(o) = self.ledger.orders.get(i).copied() {
            if o.request.symbol == symbol && !o.status.is_final() {
                match o.phase {
                    Phase::InFlight => {}
                    Phase::Arrived => self.evaluate_on_book(i, now, t, sink),
                    Phase::Resting => self.resting_on_book(i, &o, prev, now, t, sink),
                }
            }
            i += 1;
        }
    }

    fn resting_on_book<K: ReportSink>(
        &mut self,
        i: usize,
        o: &SimOrder,
        prev: Option<View<'_>>,
        now: View<'_>,
        t: Nanos,
        sink: &mut K,
    ) {
        let p = o.limit();
        let side = o.request.side;
        let top = now.top();
        let opp = match side {
            Side::Buy => top.ask,
            Side::Sell => top.bid,
        };
        if opp.is_positive() && reaches(side, opp, p) {
            self.fill(i, p, o.remaining(), true, t, sink);
            return;
        }
        let shown = now.queue_at(side, p);
        let queue = match (o.queue_ahead, shown) {
            // first sight of the level: everything shown is ahead
            (None, shown) => shown,
            (Some(q), Some(shown)) => {
                // what left the level since the last look came from ahead of us
                let before = prev.and_then(|v| v.queue_at(side, p)).unwrap_or(shown);
                let decrease = before.saturating_sub(shown).max(Qty::ZERO);
                Some(q.saturating_sub(decrease).max(Qty::ZERO).min(shown))
            }
            (Some(q), None) => Some(q),
        };
        if let Some(slot) = self.ledger.orders.get_mut(i) {
            slot.queue_ahead = queue;
        }
    }

    fn on_trade<K: ReportSink>(&mut self, tr: &TradeUpdate, t: Nanos, sink: &mut K) {
        let sym = usize::from(tr.symbol.0);
        if self.markets.get(sym).is_some_and(|m| m.top.is_none()) {
            self.observe_reference(sym, tr.price);
        }
        // a trade at the top consumed displayed quantity there: keep our view
        // of the book in step, so the next update's decrease is not counted
        // twice against a queue
        if let Some(top) = self.markets.get_mut(sym).and_then(|m| m.top.as_mut()) {
            match tr.taker_side {
                Side::Sell if tr.price == top.bid => top.bid_qty = top.bid_qty.saturating_sub(tr.qty).max(Qty::ZERO),
                Side::Buy if tr.price == top.ask => top.ask_qty = top.ask_qty.saturating_sub(tr.qty).max(Qty::ZERO),
                _ => {}
            }
        }
        if self.markets.get(sym).is_some_and(|m| m.has_depth)
            && let Some(d) = self.depths.get_mut(sym)
        {
            d.consume(tr.taker_side.opposite(), tr.price, tr.qty);
        }
        let mut pool = tr.qty;
        let mut i = 0;
        while let Some(o) = self.ledger.orders.get(i).copied() {
            i += 1;
            if o.request.symbol != tr.symbol || o.phase != Phase::Resting || o.status.is_final() {
                continue;
            }
            let p = o.limit();
            let side = o.request.side;
            if beyond(side.opposite(), tr.price, p) {
                // traded through our price: the whole level went
                self.fill(i - 1, p, o.remaining(), true, t, sink);
            } else if tr.price == p && tr.taker_side == side.opposite() {
                let Some(q) = o.queue_ahead else { continue };
                let excess = pool.saturating_sub(q).max(Qty::ZERO);
                let got = if excess.is_positive() { self.fill(i - 1, p, excess, true, t, sink) } else { Qty::ZERO };
                pool = pool.saturating_sub(got);
                if let Some(slot) = self.ledger.orders.get_mut(i - 1) {
                    slot.queue_ahead = Some(q.saturating_sub(tr.qty).max(Qty::ZERO));
                }
            }
        }
    }

    fn on_bar<K: ReportSink>(&mut self, b: &BarUpdate, t: Nanos, sink: &mut K) {
        let sym = usize::from(b.symbol.0);
        let bar = b.bar;
        let Some(m) = self.markets.get(sym).copied() else { return };
        let end_ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
        if m.top.is_some() {
            self.observe_reference(sym, bar.close);
            if let Some(m) = self.markets.get_mut(sym) {
                m.last_bar_end_ms = end_ms;
            }
            return;
        }
        let vol = if self.track_volatility { self.volatility(b.symbol) } else { 0.0 };
        let step = self.symbols.get(sym).and_then(|s| s.filters.lot).map_or(0, |l| l.step_size.raw());
        let mut cap_left = {
            let raw = (bar.volume.raw() as f64 * self.participation).floor() as i64;
            Qty::from_raw(if step > 0 { raw - raw.rem_euclid(step) } else { raw }.max(0))
        };
        let mut i = 0;
        while let Some(o) = self.ledger.orders.get(i).copied() {
            let idx = i;
            i += 1;
            if o.request.symbol != b.symbol
                || o.status.is_final()
                || o.phase == Phase::InFlight
                || o.min_bar_open_ms > bar.open_time_ms
            {
                continue;
            }
            let side = o.request.side;
            let limit = o.request.price;
            if o.phase == Phase::Arrived {
                let crosses = limit.is_none_or(|l| !beyond(side, bar.open, l));
                let tif = o.request.time_in_force;
                if crosses && o.request.kind == OrderType::LimitMaker {
                    self.close(idx, OrderStatus::Rejected, ExecType::Rejected, VenueError::WouldTake.code(), t, sink);
                    continue;
                }
                if crosses && tif == Some(TimeInForce::Fok) && cap_left < o.remaining() {
                    self.close(idx, OrderStatus::Expired, ExecType::Expired, 0, t, sink);
                    continue;
                }
                if crosses {
                    let mut px = self.adverse(sym, side, self.slippage.taker_price(side, bar.open, vol));
                    if let Some(l) = limit {
                        px = cap(side, px, l);
                    }
                    let got = self.fill(idx, px, o.remaining().min(cap_left), false, t, sink);
                    cap_left = cap_left.saturating_sub(got);
                }
                let Some(o) = self.ledger.orders.get(idx).copied() else { continue };
                if o.status.is_final() {
                    continue;
                }
                if o.request.kind == OrderType::Market || matches!(tif, Some(TimeInForce::Ioc | TimeInForce::Fok)) {
                    self.close(idx, OrderStatus::Expired, ExecType::Expired, 0, t, sink);
                    continue;
                }
                if let Some(slot) = self.ledger.orders.get_mut(idx) {
                    slot.phase = Phase::Resting;
                }
            }
            let Some(o) = self.ledger.orders.get(idx).copied() else { continue };
            let p = o.limit();
            let (extreme, through) = match side {
                Side::Buy => (bar.low, bar.low < p),
                Side::Sell => (bar.high, bar.high > p),
            };
            if (through || (self.fill_on_touch && extreme == p)) && cap_left.is_positive() {
                let got = self.fill(idx, p, o.remaining().min(cap_left), true, t, sink);
                cap_left = cap_left.saturating_sub(got);
            }
        }
        self.observe_reference(sym, bar.close);
        if let Some(m) = self.markets.get_mut(sym) {
            m.last_bar_end_ms = end_ms;
        }
    }
}

fn matches_ref(o: &SimOrder, which: OrderRef) -> bool {
    match which {
        OrderRef::Id(id) => o.order_id == id,
        OrderRef::Client(c) => o.request.client_id == c,
    }
}

/// True when a limit at `p` on `side` would take against `top`.
fn would_take(top: &BookTop, side: Side, p: Price) -> bool {
    match side {
        Side::Buy => top.ask.is_positive() && p >= top.ask,
        Side::Sell => top.bid.is_positive() && p <= top.bid,
    }
}

/// True when `a` is a strictly better price than `b` for a resting order on
/// `side` (higher bid, lower ask).
fn better(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// True when level price `px` is worse for a taker on `side` than `limit`.
fn beyond(side: Side, px: Price, limit: Price) -> bool {
    match side {
        Side::Buy => px > limit,
        Side::Sell => px < limit,
    }
}

/// True when the opposite best price `opp` has reached a resting order at `p`.
fn reaches(side: Side, opp: Price, p: Price) -> bool {
    match side {
        Side::Buy => opp <= p,
        Side::Sell => opp >= p,
    }
}

/// A taker price no worse than the limit.
fn cap(side: Side, px: Price, limit: Price) -> Price {
    match side {
        Side::Buy => px.min(limit),
        Side::Sell => px.max(limit),
    }
}

#[cfg(test)]
mod tests {
    use odex_shared::market::Bar;
    use proptest::prelude::*;

    use super::*;
    use crate::filters::{FilterFailure, LotSize, NotionalFilter, PriceFilter};
    use crate::venue::rng::Rng;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }
    fn a(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    const S: SymbolId = SymbolId(0);

    fn eth_filters() -> SymbolFilters {
        SymbolFilters {
            price: Some(PriceFilter { min_price: p("0.01"), max_price: p("1000000"), tick_size: p("0.01") }),
            lot: Some(LotSize { min_qty: q("0.0001"), max_qty: q("9000"), step_size: q("0.0001") }),
            market_lot: None,
            notional: Some(NotionalFilter {
                min_notional: p("5"),
                apply_min_to_market: true,
                max_notional: p("9000000"),
                apply_max_to_market: false,
            }),
            notional_is_legacy: false,
            percent: None,
        }
    }

    fn config() -> VenueConfig {
        VenueConfig {
            symbols: vec![SymbolConfig {
                names: SymbolNames { symbol: "ETHUSDT".into(), base_asset: "ETH".into(), quote_asset: "USDT".into() },
                filters: eth_filters(),
                base_balance: q("10"),
                quote_balance: a("100000"),
            }],
            ..VenueConfig::default()
        }
    }

    fn venue() -> Venue {
        Venue::new(&config()).unwrap()
    }

    fn id(n: u64) -> ClientOrderId {
        ClientOrderId::with_sequence(b"t-", n).unwrap()
    }

    fn limit(n: u64, side: Side, px: &str, qty: &str, tif: TimeInForce) -> OrderRequest {
        OrderRequest {
            symbol: S,
            client_id: id(n),
            side,
            kind: OrderType::Limit,
            time_in_force: Some(tif),
            price: Some(p(px)),
            qty: q(qty),
        }
    }

    fn market(n: u64, side: Side, qty: &str) -> OrderRequest {
        OrderRequest {
            symbol: S,
            client_id: id(n),
            side,
            kind: OrderType::Market,
            time_in_force: None,
            price: None,
            qty: q(qty),
        }
    }

    fn maker(n: u64, side: Side, px: &str, qty: &str) -> OrderRequest {
        OrderRequest { kind: OrderType::LimitMaker, time_in_force: None, ..limit(n, side, px, qty, TimeInForce::Gtc) }
    }

    fn book(t: u64, bid: &str, bq: &str, ask: &str, aq: &str) -> MarketEvent {
        MarketEvent {
            recv: Nanos(t),
            exchange_time: Some(Nanos(t)),
            data: MarketData::Book(BookUpdate {
                symbol: S,
                update_id: t,
                top: BookTop { bid: p(bid), bid_qty: q(bq), ask: p(ask), ask_qty: q(aq) },
            }),
        }
    }

    fn trade(t: u64, px: &str, qty: &str, taker: Side) -> MarketEvent {
        MarketEvent {
            recv: Nanos(t),
            exchange_time: Some(Nanos(t)),
            data: MarketData::Trade(TradeUpdate {
                symbol: S,
                trade_id: t,
                price: p(px),
                qty: q(qty),
                taker_side: taker,
            }),
        }
    }

    /// A one-minute bar opening at minute `m`, delivered at its end.
    fn bar(m: i64, o: &str, h: &str, l: &str, c: &str, v: &str) -> MarketEvent {
        let open_ms = m * 60_000;
        let end = Nanos::from_millis((open_ms + 60_000) as u64);
        MarketEvent {
            recv: end,
            exchange_time: Some(end),
            data: MarketData::Bar(BarUpdate {
                symbol: S,
                bar: Bar { open_time_ms: open_ms, open: p(o), high: p(h), low: p(l), close: p(c), volume: q(v) },
                taker_buy_volume: Qty::ZERO,
            }),
        }
    }

    fn trades(r: &[ExecutionReport]) -> Vec<(Qty, Price, bool)> {
        r.iter().filter(|r| r.exec_type == ExecType::Trade).map(|r| (r.last_qty, r.last_price, r.maker)).collect()
    }

    fn lv(px: &str, qty: &str) -> crate::binance::Level {
        crate::binance::Level { price: p(px), qty: q(qty) }
    }

    /// An L2 book at update id `id`: bids and asks best first.
    fn depth(id: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> DepthBook {
        let mut d = DepthBook::new(100);
        d.apply_snapshot(id, bids.iter().map(|(x, y)| lv(x, y)), asks.iter().map(|(x, y)| lv(x, y)));
        d
    }

    #[test]
    fn takers_walk_the_real_depth_levels_at_their_prices() {
        let mut v = venue();
        let mut out = Vec::new();
        let d = depth(1, &[("1599.9", "2")], &[("1600", "1"), ("1600.5", "0.5"), ("1602", "3")]);
        v.on_depth(S, &d, Nanos(1), &mut out);
        assert_eq!(v.top(S).map(|t| (t.bid, t.ask)), Some((p("1599.9"), p("1600"))));
        // a market buy of 2 takes 1 @ 1600, 0.5 @ 1600.5, 0.5 @ 1602
        v.submit(market(1, Side::Buy, "2"), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(
            trades(&out),
            [(q("1"), p("1600"), false), (q("0.5"), p("1600.5"), false), (q("0.5"), p("1602"), false)]
        );
        // what we took stays taken until the next book: 2.5 left at 1602
        out.clear();
        v.submit(market(2, Side::Buy, "3"), Nanos(3)).unwrap();
        v.advance(Nanos(3), &mut out);
        assert_eq!(trades(&out), [(q("2.5"), p("1602"), false)]);
        assert_eq!(out.last().map(|r| r.status), Some(OrderStatus::Expired));
        // a marketable limit stops at its price; FOK counts every level within it
        out.clear();
        v.on_depth(
            S,
            &depth(2, &[("1599.9", "2")], &[("1600", "1"), ("1601", "1"), ("1603", "5")]),
            Nanos(4),
            &mut out,
        );
        v.submit(limit(3, Side::Buy, "1601", "3", TimeInForce::Fok), Nanos(5)).unwrap();
        v.advance(Nanos(5), &mut out);
        assert!(trades(&out).is_empty(), "2 within 1601, FOK for 3 must not fill");
        assert_eq!(out.last().map(|r| r.status), Some(OrderStatus::Expired));
        out.clear();
        v.submit(limit(4, Side::Buy, "1601", "1.5", TimeInForce::Fok), Nanos(6)).unwrap();
        v.advance(Nanos(6), &mut out);
        assert_eq!(trades(&out), [(q("1"), p("1600"), false), (q("0.5"), p("1601"), false)]);
    }

    #[test]
    fn a_resting_order_queues_behind_the_depth_at_its_level() {
        let mut v = venue();
        let mut out = Vec::new();
        let bids = [("1599", "1"), ("1598", "4"), ("1597", "2")];
        v.on_depth(S, &depth(1, &bids, &[("1600", "1")]), Nanos(1), &mut out);
        // a bid at the second level: 4 ahead; one between levels: nobody ahead
        v.submit(limit(1, Side::Buy, "1598", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.submit(limit(2, Side::Buy, "1597.5", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        let queue = |v: &Venue, n| v.order(S, OrderRef::Client(id(n))).and_then(|o| o.queue_ahead);
        assert_eq!((queue(&v, 1), queue(&v, 2)), (Some(q("4")), Some(Qty::ZERO)));
        // the level shrinks to 2.5: those left were ahead of us
        let bids = [("1599", "1"), ("1598", "2.5"), ("1597", "2")];
        v.on_depth(S, &depth(2, &bids, &[("1600", "1")]), Nanos(3), &mut out);
        assert_eq!(queue(&v, 1), Some(q("2.5")));
        // a sale of 3 at 1598 clears the queue and fills 0.5 of ours
        out.clear();
        v.on_market(&trade(4, "1598", "3", Side::Sell), &mut out);
        assert_eq!(trades(&out), [(q("0.5"), p("1598"), true)]);
        // a bookTicker no longer rematches a symbol that has depth
        out.clear();
        v.on_market(&book(5, "1590", "1", "1591", "1"), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(v.top(S).map(|t| t.ask), Some(p("1600")));
        // the asks coming down to 1598 fill the rest of ours at its price,
        // not the bid below it
        v.on_depth(S, &depth(3, &[("1597", "2")], &[("1598", "5")]), Nanos(6), &mut out);
        assert_eq!(trades(&out), [(q("0.5"), p("1598"), true)]);
        assert_eq!(queue(&v, 2), Some(Qty::ZERO));
    }

    #[test]
    fn market_order_takes_the_top_and_expires_the_rest() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599.99", "3", "1600", "1"), &mut out);
        let ack = v.submit(market(1, Side::Buy, "1.5"), Nanos(2)).unwrap();
        assert_eq!((ack.exec_type, ack.status), (ExecType::New, OrderStatus::New));
        v.advance(Nanos(2), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1600"), false)]);
        let last = out.last().unwrap();
        assert_eq!((last.exec_type, last.status, last.cum_qty), (ExecType::Expired, OrderStatus::Expired, q("1")));
        // the liquidity we took is gone until the next book update
        out.clear();
        v.submit(market(2, Side::Buy, "0.5"), Nanos(3)).unwrap();
        v.advance(Nanos(3), &mut out);
        assert!(trades(&out).is_empty());
        assert_eq!(out[0].status, OrderStatus::Expired);
        let acct = v.account(S).unwrap();
        assert_eq!(acct.base, q("11"));
        assert_eq!(acct.quote, a("98400"));
        assert_eq!(acct.locked_quote, Amount::ZERO);
        assert_eq!(v.ledger().open_orders().len(), 0);
    }

    #[test]
    fn book_walk_and_fixed_slippage_price_fills_against_the_taker() {
        let mut cfg = config();
        cfg.slippage = Slippage::BookWalk { levels: 2, spacing_bps: 10.0 };
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        v.submit(market(1, Side::Buy, "2.5"), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(
            trades(&out),
            vec![(q("1"), p("1600"), false), (q("1"), p("1601.6"), false), (q("0.5"), p("1603.2"), false)]
        );
        assert_eq!(out.last().unwrap().status, OrderStatus::Filled);

        let mut cfg = config();
        cfg.slippage = Slippage::FixedBps { bps: 1.0 };
        let mut v = Venue::new(&cfg).unwrap();
        out.clear();
        v.on_market(&book(1, "1599.99", "5", "1600.01", "5"), &mut out);
        v.submit(market(1, Side::Sell, "1"), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        // 1599.99 x (1 - 0.0001) = 1599.830001, rounded down to the tick
        assert_eq!(trades(&out), vec![(q("1"), p("1599.83"), false)]);
    }

    #[test]
    fn marketable_limit_never_fills_beyond_its_price() {
        let mut cfg = config();
        cfg.slippage = Slippage::FixedBps { bps: 100.0 };
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1605", "1", TimeInForce::Ioc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1605"), false)]);
    }

    #[test]
    fn passive_order_waits_for_its_queue() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1600", "2", "1600.5", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1600", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert!(out.is_empty());
        assert_eq!(v.order(S, OrderRef::Client(id(1))).unwrap().queue_ahead, Some(q("2")));
        // a sell of 1.5 at our price eats 1.5 of the 2 ahead
        v.on_market(&trade(3, "1600", "1.5", Side::Sell), &mut out);
        assert!(out.is_empty());
        assert_eq!(v.order(S, OrderRef::Id(1)).unwrap().queue_ahead, Some(q("0.5")));
        // a buyer's trade at our price does not touch the bid queue
        v.on_market(&trade(4, "1600", "5", Side::Buy), &mut out);
        assert!(out.is_empty());
        // the displayed quantity drops by 0.25 (cancel ahead of us)
        v.on_market(&book(5, "1600", "0.25", "1600.5", "1"), &mut out);
        assert_eq!(v.order(S, OrderRef::Id(1)).unwrap().queue_ahead, Some(q("0.25")));
        // 0.25 clears the queue, the next 0.5 fills us partly, as maker
        v.on_market(&trade(6, "1600", "0.75", Side::Sell), &mut out);
        assert_eq!(trades(&out), vec![(q("0.5"), p("1600"), true)]);
        assert_eq!(out[0].status, OrderStatus::PartiallyFilled);
        // a trade through our price fills the rest
        out.clear();
        v.on_market(&trade(7, "1599.5", "0.01", Side::Sell), &mut out);
        assert_eq!(trades(&out), vec![(q("0.5"), p("1600"), true)]);
        assert_eq!(out[0].status, OrderStatus::Filled);
    }

    #[test]
    fn hidden_level_queue_becomes_visible_and_opposite_side_reaching_fills() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1600", "2", "1600.5", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1599", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(v.order(S, OrderRef::Id(1)).unwrap().queue_ahead, None);
        // a trade at our price while the level is hidden does not reach us
        v.on_market(&trade(3, "1599", "100", Side::Sell), &mut out);
        assert!(out.is_empty());
        v.on_market(&book(4, "1599", "3", "1599.5", "1"), &mut out);
        assert_eq!(v.order(S, OrderRef::Id(1)).unwrap().queue_ahead, Some(q("3")));
        // the ask comes down to our price: our level is consumed
        v.on_market(&book(5, "1598.5", "1", "1599", "4"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1599"), true)]);
    }

    #[test]
    fn improving_the_price_puts_us_first() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1600", "2", "1601", "1"), &mut out);
        v.submit(limit(1, Side::Sell, "1600.5", "0.5", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(v.order(S, OrderRef::Id(1)).unwrap().queue_ahead, Some(Qty::ZERO));
        v.on_market(&trade(3, "1600.5", "0.2", Side::Buy), &mut out);
        assert_eq!(trades(&out), vec![(q("0.2"), p("1600.5"), true)]);
    }

    #[test]
    fn limit_maker_that_would_take_is_rejected() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1600", "2", "1600.5", "1"), &mut out);
        let e = v.submit(maker(1, Side::Buy, "1600.5", "1"), Nanos(2)).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), (-2010, "Order would immediately match and take."));
        // accepted while passive, but the book moves before it arrives
        let mut cfg = config();
        cfg.order_latency = LatencySpec::Constant(Nanos(10));
        let mut v = Venue::new(&cfg).unwrap();
        v.on_market(&book(1, "1600", "2", "1600.5", "1"), &mut out);
        v.submit(maker(1, Side::Buy, "1600.4", "1"), Nanos(2)).unwrap();
        assert_eq!(v.account(S).unwrap().locked_quote, a("1600.4"));
        v.on_market(&book(5, "1600", "2", "1600.3", "1"), &mut out);
        v.on_market(&book(20, "1600", "2", "1600.3", "1"), &mut out);
        let r = out.last().unwrap();
        assert_eq!((r.exec_type, r.status, r.reject_code), (ExecType::Rejected, OrderStatus::Rejected, -2010));
        assert_eq!(v.account(S).unwrap().locked_quote, Amount::ZERO);
        // a passive maker order rests
        out.clear();
        v.submit(maker(2, Side::Sell, "1600.5", "1"), Nanos(21)).unwrap();
        v.advance(Nanos(40), &mut out);
        assert!(out.is_empty());
        assert_eq!(v.order(S, OrderRef::Id(2)).unwrap().phase, Phase::Resting);
    }

    #[test]
    fn fill_or_kill_is_all_or_nothing() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1600", "1.5", TimeInForce::Fok), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].status, out[0].cum_qty), (OrderStatus::Expired, Qty::ZERO));
        out.clear();
        v.submit(limit(2, Side::Buy, "1600", "1", TimeInForce::Fok), Nanos(3)).unwrap();
        v.advance(Nanos(3), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1600"), false)]);
        assert_eq!(out[0].status, OrderStatus::Filled);
    }

    #[test]
    fn immediate_or_cancel_expires_the_remainder() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1600", "0.4", "1601", "1"), &mut out);
        v.submit(limit(1, Side::Sell, "1600", "1", TimeInForce::Ioc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(trades(&out), vec![(q("0.4"), p("1600"), false)]);
        let last = out.last().unwrap();
        assert_eq!((last.exec_type, last.status, last.cum_qty), (ExecType::Expired, OrderStatus::Expired, q("0.4")));
        assert_eq!(v.account(S).unwrap().locked_base, Qty::ZERO);
        // not marketable at all: expires with nothing
        out.clear();
        v.submit(limit(2, Side::Sell, "1700", "1", TimeInForce::Ioc), Nanos(3)).unwrap();
        v.advance(Nanos(3), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].status, OrderStatus::Expired);
    }

    #[test]
    fn gtc_takes_then_rests() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1600", "3", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(2), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1600"), false)]);
        let o = v.order(S, OrderRef::Id(1)).unwrap();
        assert_eq!((o.status, o.phase, o.queue_ahead), (OrderStatus::PartiallyFilled, Phase::Resting, Some(Qty::ZERO)));
        // its lock now covers only the remaining 2
        assert_eq!(v.account(S).unwrap().locked_quote, a("3200"));
    }

    #[test]
    fn balances_and_filters_are_checked_with_binance_codes() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        let e = v.submit(limit(1, Side::Buy, "1500", "70", TimeInForce::Gtc), Nanos(2)).unwrap_err();
        assert_eq!(e, VenueError::InsufficientBalance);
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            (-2010, "Account has insufficient balance for requested action.")
        );
        // locks count: two buys that fit alone but not together
        v.submit(limit(2, Side::Buy, "1500", "40", TimeInForce::Gtc), Nanos(2)).unwrap();
        assert_eq!(
            v.submit(limit(3, Side::Buy, "1500", "40", TimeInForce::Gtc), Nanos(2)),
            Err(VenueError::InsufficientBalance)
        );
        assert_eq!(
            v.submit(limit(4, Side::Sell, "1700", "11", TimeInForce::Gtc), Nanos(2)),
            Err(VenueError::InsufficientBalance)
        );
        let e = v.submit(limit(5, Side::Buy, "1500", "0.00015", TimeInForce::Gtc), Nanos(2)).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), (-1013, "Filter failure: LOT_SIZE"));
        let e = v.submit(limit(5, Side::Buy, "1500.001", "1", TimeInForce::Gtc), Nanos(2)).unwrap_err();
        assert_eq!(e, VenueError::Filter(FilterFailure::PriceFilter));
        let e = v.submit(limit(5, Side::Buy, "1500", "0.001", TimeInForce::Gtc), Nanos(2)).unwrap_err();
        assert_eq!(e.to_string(), "Filter failure: NOTIONAL");
        let mut no_tif = limit(5, Side::Buy, "1500", "1", TimeInForce::Gtc);
        no_tif.time_in_force = None;
        assert_eq!(v.submit(no_tif, Nanos(2)).unwrap_err().code(), -1102);
        let mut priced_market = market(5, Side::Buy, "1");
        priced_market.price = Some(p("1"));
        assert_eq!(v.submit(priced_market, Nanos(2)).unwrap_err().code(), -1106);
        let e = v.submit(limit(2, Side::Buy, "1500", "1", TimeInForce::Gtc), Nanos(2)).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), (-2010, "Duplicate order sent."));
        let mut other = limit(6, Side::Buy, "1500", "1", TimeInForce::Gtc);
        other.symbol = SymbolId(9);
        assert_eq!(v.submit(other, Nanos(2)).unwrap_err().code(), -1121);
        let e = v.cancel(S, OrderRef::Id(99), Nanos(2)).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), (-2011, "Unknown order sent."));
        assert_eq!(v.ledger().rejected, 11);
        // a market order with no market data yet
        let mut fresh = venue();
        assert_eq!(fresh.submit(market(1, Side::Buy, "1"), Nanos(0)), Err(VenueError::NoMarket));
    }

    #[test]
    fn order_slots_are_bounded() {
        let mut cfg = config();
        cfg.max_open_orders = 2;
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "1", "1600", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1500", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.submit(limit(2, Side::Buy, "1500", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        assert_eq!(
            v.submit(limit(3, Side::Buy, "1500", "1", TimeInForce::Gtc), Nanos(2)),
            Err(VenueError::TooManyOrders)
        );
        v.cancel(S, OrderRef::Client(id(1)), Nanos(3)).unwrap();
        v.advance(Nanos(3), &mut out);
        assert_eq!(out.last().unwrap().status, OrderStatus::Canceled);
        v.submit(limit(3, Side::Buy, "1500", "1", TimeInForce::Gtc), Nanos(4)).unwrap();
    }

    #[derive(Default)]
    struct Recorder {
        reports: Vec<ExecutionReport>,
        cancel_rejects: Vec<CancelReject>,
    }

    impl ReportSink for Recorder {
        fn report(&mut self, r: &ExecutionReport) {
            self.reports.push(*r);
        }
        fn cancel_rejected(&mut self, r: &CancelReject) {
            self.cancel_rejects.push(*r);
        }
    }

    #[test]
    fn latency_delays_orders_and_cancels_can_lose_the_race() {
        let mut cfg = config();
        cfg.order_latency = LatencySpec::Constant(Nanos(100));
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Recorder::default();
        v.on_market(&book(0, "1599", "1", "1600", "1"), &mut out);
        v.submit(limit(1, Side::Buy, "1599", "1", TimeInForce::Gtc), Nanos(10)).unwrap();
        assert_eq!(v.in_flight(), 1);
        // before arrival the book moves: the order meets the book of t=50
        v.on_market(&book(50, "1598", "1", "1599", "5"), &mut out);
        assert!(out.reports.is_empty());
        v.on_market(&book(150, "1598", "1", "1599", "5"), &mut out);
        assert_eq!(trades(&out.reports), vec![(q("1"), p("1599"), false)]);
        // a cancel sent while the order is resting but filled before arrival
        v.submit(limit(2, Side::Sell, "1600", "1", TimeInForce::Gtc), Nanos(200)).unwrap();
        v.on_market(&book(300, "1598", "1", "1601", "1"), &mut out);
        v.cancel(S, OrderRef::Id(2), Nanos(310)).unwrap();
        v.on_market(&trade(320, "1600.5", "1", Side::Buy), &mut out);
        assert_eq!(out.reports.last().unwrap().status, OrderStatus::Filled);
        v.on_market(&book(500, "1598", "1", "1601", "1"), &mut out);
        assert_eq!(out.cancel_rejects.len(), 1);
        let r = out.cancel_rejects[0];
        assert_eq!((r.order_id, r.client_id, r.error.code(), r.time), (2, id(2), -2011, Nanos(410)));
        assert_eq!(v.ledger().open_orders().len(), 0);
    }

    #[test]
    fn bars_have_no_look_ahead_and_need_a_trade_through() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&bar(0, "1600", "1610", "1590", "1605", "100"), &mut out);
        // submitted at the close of bar 0, inside bar 0's range
        v.submit(limit(1, Side::Buy, "1595", "1", TimeInForce::Gtc), Nanos::from_millis(60_000)).unwrap();
        // bar 1 touches 1595 but does not trade through: no fill
        v.on_market(&bar(1, "1605", "1606", "1595", "1600", "100"), &mut out);
        assert!(out.is_empty());
        // bar 2 trades through: fill at our price, as maker
        v.on_market(&bar(2, "1600", "1601", "1594.99", "1596", "100"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1595"), true)]);

        // an order arriving after bar 3 closed cannot fill from bar 3
        let mut cfg = config();
        cfg.order_latency = LatencySpec::Constant(Nanos::from_millis(90_000));
        let mut v = Venue::new(&cfg).unwrap();
        out.clear();
        v.on_market(&bar(2, "1600", "1610", "1590", "1605", "100"), &mut out);
        v.submit(limit(1, Side::Buy, "1595", "1", TimeInForce::Gtc), Nanos::from_millis(180_000)).unwrap();
        v.on_market(&bar(3, "1600", "1601", "1500", "1596", "100"), &mut out);
        assert!(out.is_empty(), "bar 3 started before the order arrived");
        v.on_market(&bar(4, "1600", "1601", "1590", "1596", "100"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1595"), true)]);
    }

    #[test]
    fn strict_bar_arrival_skips_the_bar_the_order_arrived_in() {
        let mut cfg = config();
        cfg.strict_bar_arrival = true;
        cfg.order_latency = LatencySpec::Constant(Nanos::from_millis(1));
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&bar(0, "1600", "1610", "1590", "1605", "100"), &mut out);
        v.submit(limit(1, Side::Buy, "1595", "1", TimeInForce::Gtc), Nanos::from_millis(60_000)).unwrap();
        v.on_market(&bar(1, "1600", "1601", "1500", "1596", "100"), &mut out);
        assert!(out.is_empty(), "bar 1 opened 1 ms before the order arrived");
        v.on_market(&bar(2, "1600", "1601", "1590", "1596", "100"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1595"), true)]);
    }

    #[test]
    fn bars_fill_market_orders_at_the_next_open_within_participation() {
        let mut cfg = config();
        cfg.slippage = Slippage::FixedBps { bps: 10.0 };
        cfg.bar_participation = 0.1;
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&bar(0, "1600", "1610", "1590", "1605", "100"), &mut out);
        v.submit(market(1, Side::Buy, "5"), Nanos::from_millis(60_000)).unwrap();
        v.on_market(&bar(1, "1606", "1620", "1600", "1610", "30"), &mut out);
        // 10% of 30 = 3 at 1606 x 1.001 = 1607.606 -> 1607.61
        assert_eq!(trades(&out), vec![(q("3"), p("1607.61"), false)]);
        assert_eq!(out.last().unwrap().status, OrderStatus::Expired);
        // a marketable limit fills at the open, not at its own price
        out.clear();
        v.submit(limit(2, Side::Sell, "1500", "1", TimeInForce::Gtc), Nanos::from_millis(120_000)).unwrap();
        v.on_market(&bar(2, "1610", "1620", "1600", "1610", "30"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1608.39"), false)]);
        // a maker order that the next open would cross is rejected then
        out.clear();
        v.submit(maker(3, Side::Sell, "1611", "1"), Nanos::from_millis(180_000)).unwrap();
        v.on_market(&bar(3, "1612", "1620", "1600", "1610", "30"), &mut out);
        assert_eq!((out[0].status, out[0].reject_code), (OrderStatus::Rejected, -2010));
        // FOK larger than the participation cap expires
        out.clear();
        v.submit(limit(4, Side::Buy, "1700", "4", TimeInForce::Fok), Nanos::from_millis(240_000)).unwrap();
        v.on_market(&bar(4, "1612", "1620", "1600", "1610", "30"), &mut out);
        assert_eq!((out[0].status, out[0].cum_qty), (OrderStatus::Expired, Qty::ZERO));
    }

    #[test]
    fn touch_fills_only_when_configured() {
        let mut cfg = config();
        cfg.fill_on_touch = true;
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&bar(0, "1600", "1610", "1590", "1605", "100"), &mut out);
        v.submit(limit(1, Side::Sell, "1606", "1", TimeInForce::Gtc), Nanos::from_millis(60_000)).unwrap();
        v.on_market(&bar(1, "1605", "1606", "1595", "1600", "100"), &mut out);
        assert_eq!(trades(&out), vec![(q("1"), p("1606"), true)]);
    }

    #[test]
    fn fees_are_charged_by_liquidity_side() {
        let mut cfg = config();
        cfg.fees = FixedFees::from_bps(2.0, 10.0).unwrap();
        let mut v = Venue::new(&cfg).unwrap();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "5", "1600", "5"), &mut out);
        v.submit(market(1, Side::Buy, "1"), Nanos(2)).unwrap();
        v.submit(limit(2, Side::Sell, "1601", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.on_market(&trade(3, "1602", "1", Side::Buy), &mut out);
        let fees: Vec<(Amount, bool)> =
            out.iter().filter(|r| r.exec_type == ExecType::Trade).map(|r| (r.commission, r.maker)).collect();
        assert_eq!(fees, vec![(a("1.6"), false), (a("0.3202"), true)]);
        let acct = v.account(S).unwrap();
        assert_eq!(acct.fees, a("1.9202"));
        assert_eq!(acct.quote, a("99999.0798"));
    }

    #[test]
    fn ledger_json_lists_accounts_orders_and_fills() {
        let mut v = venue();
        let mut out = Vec::new();
        v.on_market(&book(1, "1599", "5", "1600", "5"), &mut out);
        v.submit(market(1, Side::Buy, "1"), Nanos(2)).unwrap();
        v.submit(limit(2, Side::Sell, "1700", "1", TimeInForce::Gtc), Nanos(2)).unwrap();
        v.advance(Nanos(3), &mut out);
        let json: serde_json::Value = serde_json::from_str(&v.ledger_json()).unwrap();
        assert_eq!(json["accounts"][0]["symbol"], "ETHUSDT");
        assert_eq!(json["accounts"][0]["base"], "11");
        assert_eq!(json["accounts"][0]["locked_base"], "1");
        assert_eq!(json["open_orders"][0]["client_id"], "t-2");
        assert_eq!(json["open_orders"][0]["type"], "LIMIT");
        assert_eq!(json["fills"][0]["price"], "1600");
        assert_eq!(json["orders_filled"], 1);
        assert_eq!(json["recently_ended_orders"][0]["status"], "FILLED");
        let ended = v.order_status(S, OrderRef::Client(id(1))).unwrap();
        assert_eq!((ended.status, ended.filled), (OrderStatus::Filled, q("1")));
        assert_eq!(v.order_status(S, OrderRef::Id(2)).unwrap().status, OrderStatus::New);
        assert!(v.order(S, OrderRef::Id(1)).is_none());
    }

    /// A random but reproducible session: prices random-walk, orders of every
    /// kind arrive with random latency, some get cancelled.
    fn session(seed: u64, steps: usize, bars: bool) -> (Venue, Vec<ExecutionReport>) {
        let mut cfg = config();
        cfg.seed = seed;
        cfg.fees = FixedFees::from_bps(1.0, 7.5).unwrap();
        cfg.slippage = Slippage::BookWalk { levels: 3, spacing_bps: 2.0 };
        cfg.order_latency = LatencySpec::LogNormal { median: Nanos(500), sigma: 1.0 };
        let mut v = Venue::new(&cfg).unwrap();
        let mut rng = Rng::new(seed ^ 0xABCD);
        let mut out = Vec::new();
        let mut mid = 160_000i64; // cents
        let mut n = 0;
        for step in 0..steps {
            let prev = mid;
            mid += rng.below(5) as i64 - 2;
            let cents = |c: i64| Price::from_raw(c * 1_000_000);
            let ev = if bars {
                let hi = prev.max(mid) + rng.below(4) as i64;
                let lo = prev.min(mid) - rng.below(4) as i64;
                let vol = Qty::from_raw((rng.below(50) as i64 + 1) * 10_000_000).to_string();
                let [o, h, l, c] = [prev, hi, lo, mid].map(|x| cents(x).to_string());
                bar(step as i64, &o, &h, &l, &c, &vol)
            } else if rng.below(3) == 0 {
                trade(
                    step as u64 * 1_000,
                    &cents(mid + rng.below(5) as i64 - 2).to_string(),
                    "0.3",
                    if rng.below(2) == 0 { Side::Buy } else { Side::Sell },
                )
            } else {
                book(step as u64 * 1_000, &cents(mid - 1).to_string(), "0.7", &cents(mid + 1).to_string(), "0.9")
            };
            // trades and books use t = step x 1 us, bars their end time
            let t = if bars { ev.recv.0 } else { step as u64 * 1_000 };
            v.on_market(&ev, &mut out);
            if rng.below(2) == 0 {
                n += 1;
                let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
                let qty = Qty::from_raw((rng.below(20) as i64 + 1) * 10_000_000).to_string();
                let px = cents(mid + rng.below(9) as i64 - 4).to_string();
                let req = match rng.below(5) {
                    0 => market(n, side, &qty),
                    1 => maker(n, side, &px, &qty),
                    2 => limit(n, side, &px, &qty, TimeInForce::Ioc),
                    3 => limit(n, side, &px, &qty, TimeInForce::Fok),
                    _ => limit(n, side, &px, &qty, TimeInForce::Gtc),
                };
                let _ = v.submit(req, Nanos(t + 1));
            }
            if rng.below(4) == 0
                && let Some(o) = v.ledger().open_orders().first().map(|o| o.order_id)
            {
                let _ = v.cancel(S, OrderRef::Id(o), Nanos(t + 2));
            }
        }
        (v, out)
    }

    #[test]
    fn same_seed_same_ledger() {
        let (a1, r1) = session(5, 3_000, false);
        let (a2, r2) = session(5, 3_000, false);
        assert_eq!(a1.ledger_json(), a2.ledger_json());
        assert_eq!(r1, r2);
        assert!(a1.ledger().fills_total() > 100, "{}", a1.ledger().fills_total());
        let (b, _) = session(6, 3_000, false);
        let (c1, _) = session(5, 2_000, true);
        let (c2, _) = session(5, 2_000, true);
        assert_eq!(c1.ledger_json(), c2.ledger_json());
        assert!(c1.ledger().fills_total() > 100, "{}", c1.ledger().fills_total());
        assert_ne!(a1.ledger_json(), b.ledger_json());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn invariants_hold_over_random_sessions(seed in any::<u64>(), steps in 10usize..600, bars in any::<bool>()) {
            let (v, reports) = session(seed, steps, bars);
            let acct = *v.account(S).unwrap();
            prop_assert!(acct.base.raw() >= 0 && acct.quote.raw() >= 0);
            prop_assert!(acct.locked_base <= acct.base && acct.locked_quote.raw() >= 0);
            // conservation: balances move only by traded value and fees
            prop_assert_eq!(acct.base, q("10").saturating_add(acct.bought).saturating_sub(acct.sold));
            prop_assert_eq!(
                acct.quote,
                a("100000").saturating_sub(acct.buy_notional).saturating_add(acct.sell_notional).saturating_sub(acct.fees)
            );
            // the reports add up to the same totals
            let mut fees = Amount::ZERO;
            let mut bought = Qty::ZERO;
            let mut cum: std::collections::HashMap<u64, Qty> = Default::default();
            for r in &reports {
                prop_assert!(r.commission.raw() >= 0);
                prop_assert!(r.cum_qty <= r.qty, "{:?}", r);
                if r.exec_type == ExecType::Trade {
                    fees = fees.saturating_add(r.commission);
                    if r.side == Side::Buy {
                        bought = bought.saturating_add(r.last_qty);
                    }
                    let c = cum.entry(r.order_id).or_default();
                    *c = c.saturating_add(r.last_qty);
                    prop_assert_eq!(*c, r.cum_qty);
                    prop_assert!(r.last_qty.is_positive());
                }
            }
            prop_assert_eq!(fees, acct.fees);
            prop_assert_eq!(bought, acct.bought);
            // what open orders lock is what the account says is locked
            let locked_quote: i64 = v.ledger().open_orders().iter().filter(|o| o.request.side == Side::Buy).map(|o| o.locked).sum();
            let locked_base: i64 = v.ledger().open_orders().iter().filter(|o| o.request.side == Side::Sell).map(|o| o.locked).sum();
            prop_assert_eq!(locked_quote, acct.locked_quote.raw());
            prop_assert_eq!(locked_base, acct.locked_base.raw());
            for o in v.ledger().open_orders() {
                prop_assert!(o.filled <= o.request.qty);
            }
        }
    }
}
