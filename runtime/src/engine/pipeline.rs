//! [`Engine`]: the per-event pipeline, written once for live, paper and
//! backtest.
//!
//! Per market event: features and model, target fraction, target position
//! (fraction x equity / mid), risk clamp, order manager plan, risk check of
//! each order, exchange budgets, journal ring, venue. Per report: order
//! state machine, portfolio, journal ring. Every buffer is allocated in
//! [`Engine::new`]; nothing on these paths allocates, locks, reads a file or
//! panics. Journal writing, reporting and reconciliation are separate calls
//! the event loop makes when idle.

use hdrhistogram::errors::CreationError;
use odex_shared::features::Observation;
use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty};
use odex_shared::model::ShapeError;
use odex_shared::model_file::ModelFile;
use odex_shared::predictor::Predictor;
use odex_shared::sizing;

use crate::clock::Clock;
use crate::config::Config;
use crate::engine::journal::{JournalError, JournalRecord, JournalRing, JournalWriter};
use crate::engine::order_manager::{
    Action, Actions, OrderManager, OrderManagerError, OrderState, RateLimit, RequestKind,
};
use crate::engine::portfolio::Portfolio;
use crate::engine::risk::{BreakerState, KillSwitch, OrderCheck, Refusal, RiskManager};
use crate::engine::timings::{Stage, StageTimings};
use crate::engine::venue::Venue;
use crate::event::{MarketData, MarketEvent};
use crate::filters::SymbolFilters;
use crate::order::{ClientOrderId, ExecutionReport, OrderRequest, SymbolId};

/// Why the engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file's parts do not fit.
    #[error("model: {0}")]
    Model(ShapeError),
    /// Bad client order id prefix.
    #[error(transparent)]
    Orders(#[from] OrderManagerError),
    /// One filter set per configured symbol is needed.
    #[error("{symbols} symbols configured but {filters} filter sets given")]
    Filters {
        /// Configured symbols.
        symbols: usize,
        /// Filter sets given.
        filters: usize,
    },
    /// Histogram creation failed.
    #[error("histogram: {0}")]
    Histogram(#[from] CreationError),
}

/// Engine event counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Market events seen.
    pub events: u64,
    /// Events for a symbol the engine does not trade.
    pub unknown_symbol: u64,
    /// Events whose price the features refused.
    pub bad_observation: u64,
    /// Execution reports seen.
    pub reports: u64,
    /// Reports the state machine refused.
    pub illegal_reports: u64,
    /// Reports for orders not tracked (fills still booked).
    pub stray_reports: u64,
    /// Journal records dropped (ring full).
    pub journal_dropped: u64,
}

#[derive(Debug, Clone)]
struct SymbolSlot {
    predictor: Predictor,
    filters: SymbolFilters,
    top: Option<BookTop>,
    /// Engine clock time the last event was processed.
    last_event: Nanos,
    /// How old the last event already was when it arrived (wall clock minus
    /// its exchange time; zero when the venue gives none).
    last_lag: Nanos,
    /// The target fraction of equity decided on the last event.
    fraction: f64,
}

/// The trading engine for one set of symbols.
#[derive(Debug)]
pub struct Engine<V: Venue, C: Clock> {
    clock: C,
    venue: V,
    symbols: Vec<SymbolSlot>,
    risk: RiskManager,
    orders: OrderManager,
    portfolio: Portfolio,
    journal: JournalRing,
    timings: StageTimings,
    counters: EngineCounters,
    actions: Actions,
    kill_handled: bool,
    halt_handled: bool,
    /// Latency probe: the target alternates so that every event orders.
    probe: bool,
}

/// The target fraction of equity the latency probe asks for when flat.
pub const PROBE_FRACTION: f64 = 0.05;

/// The client id prefix of one run: the configured prefix, a dash, the
/// run's start time (Unix seconds, base 36, last 6 digits) and a dash, e.g.
/// `odx-1a2b3c-`. At most 16 bytes for a prefix of at most 8, so ids stay
/// within Binance's 36 and differ between runs.
pub fn run_prefix(prefix: &str, wall: Nanos) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut secs = wall.0 / 1_000_000_000;
    let mut part = [b'0'; 6];
    for d in part.iter_mut().rev() {
        *d = DIGITS.get((secs % 36) as usize).copied().unwrap_or(b'0');
        secs /= 36;
    }
    format!("{prefix}-{}-", String::from_utf8_lossy(&part))
}

fn mid_of(top: &BookTop) -> Price {
    Price::from_raw(top.bid.raw() / 2 + top.ask.raw() / 2 + (top.bid.raw() % 2 + top.ask.raw() % 2) / 2)
}

/// Books a market event against its symbol (last book, arrival time and
/// lag) and returns the model's observation of it with the symbol's slot.
fn note_market<'a>(
    symbols: &'a mut [SymbolSlot],
    counters: &mut EngineCounters,
    clock: &impl Clock,
    ev: &MarketEvent,
    t0: Nanos,
) -> Option<(Observation, &'a mut SymbolSlot)> {
    counters.events += 1;
    let Some(slot) = symbols.get_mut(usize::from(ev.symbol().0)) else {
        counters.unknown_symbol += 1;
        return None;
    };
    slot.last_event = t0;
    slot.last_lag = ev.exchange_time.map_or(Nanos(0), |t| clock.wall().saturating_sub(t));
    match ev.data {
        MarketData::Book(b) if b.top.is_sane() => slot.top = Some(b.top),
        // bars only (klines, a backtest): the close is both sides of a
        // locked book, so orders are priced and marked at it
        MarketData::Bar(b) if b.bar.close.is_positive() => {
            slot.top = Some(BookTop { bid: b.bar.close, ask: b.bar.close, bid_qty: Qty::ZERO, ask_qty: Qty::ZERO });
        }
        _ => {}
    }
    let obs = ev.data.observation();
    Some((obs, slot))
}

impl<V: Venue, C: Clock> Engine<V, C> {
    /// Builds an engine: one predictor per symbol from `model` (sizing as
    /// already overridden by the config), the symbols' exchange `filters`
    /// in `SymbolId` order, client ids `<run_prefix><sequence>`.
    ///
    /// # Errors
    /// [`EngineError`] for a model that does not build, a bad prefix or a
    /// filter count that does not match the symbols.
    pub fn new(
        config: &Config,
        model: &ModelFile,
        filters: &[SymbolFilters],
        run_prefix: &str,
        kill: KillSwitch,
        venue: V,
        clock: C,
    ) -> Result<Self, EngineError> {
        if filters.len() != config.symbols.len() {
            return Err(EngineError::Filters { symbols: config.symbols.len(), filters: filters.len() });
        }
        let mut predictor = Predictor::new(model).map_err(EngineError::Model)?;
        predictor.set_sizing(config.sizing_for(model.spec.sizing));
        let now = clock.monotonic();
        let symbols = filters
            .iter()
            .map(|f| SymbolSlot {
                predictor: predictor.clone(),
                filters: *f,
                top: None,
                last_event: now,
                last_lag: Nanos(0),
                fraction: 0.0,
            })
            .collect();
        let quote = config.symbols.first().map_or("", |s| s.quote.as_str());
        let bases: Vec<&str> = config.symbols.iter().map(|s| s.base.as_str()).collect();
        Ok(Self {
            risk: RiskManager::new(config.risk.clone(), kill, now),
            orders: OrderManager::new(config.runtime.order_slots, run_prefix, config.orders.clone())?,
            portfolio: Portfolio::new(config.risk.capital, quote, &bases),
            journal: JournalRing::new(config.runtime.journal_ring_records),
            timings: StageTimings::new()?,
            counters: EngineCounters::default(),
            actions: Actions::new(),
            kill_handled: false,
            halt_handled: false,
            probe: false,
            symbols,
            clock,
            venue,
        })
    }

    /// Latency probe mode (`odex run --latency-probe`): the model still
    /// runs on every event, but its target is replaced by
    /// [`PROBE_FRACTION`] when the position is flat and zero otherwise, so
    /// every event with nothing in flight causes exactly one order.
    pub fn set_probe(&mut self, on: bool) {
        self.probe = on;
    }

    /// The venue.
    pub const fn venue(&self) -> &V {
        &self.venue
    }

    /// Takes the venue back (the end of a backtest).
    pub fn into_venue(self) -> V {
        self.venue
    }

    /// The target fraction of equity decided on a symbol's last event
    /// (before sizing limits and risk); zero before any.
    pub fn target_fraction(&self, symbol: SymbolId) -> f64 {
        self.symbols.get(usize::from(symbol.0)).map_or(0.0, |s| s.fraction)
    }

    /// The venue, mutably (a simulator or recorder to drain).
    pub fn venue_mut(&mut self) -> &mut V {
        &mut self.venue
    }

    /// The clock.
    pub const fn clock(&self) -> &C {
        &self.clock
    }

    /// The risk layer (limits, breaker, refusal counters).
    pub const fn risk(&self) -> &RiskManager {
        &self.risk
    }

    /// Operator reset of a halted breaker.
    pub fn reset_breaker(&mut self) {
        self.risk.reset_breaker();
        self.halt_handled = false;
    }

    /// The order manager (open orders, counters, budgets).
    pub const fn orders(&self) -> &OrderManager {
        &self.orders
    }

    /// The portfolio.
    pub const fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// The portfolio, mutably (baseline balances at start).
    pub fn portfolio_mut(&mut self) -> &mut Portfolio {
        &mut self.portfolio
    }

    /// Stage timings, every value recorded so far included.
    pub fn timings(&mut self) -> &StageTimings {
        self.timings.flushed()
    }

    /// Moves the stage times of the last event into their histograms: call
    /// once its orders are on the wire (see [`StageTimings`]).
    pub fn flush_timings(&mut self) {
        self.timings.flush();
    }

    /// Records a stage the event loop timed (decode, journal, wire).
    pub fn record_stage(&mut self, stage: Stage, ns: u64) {
        self.timings.record(stage, ns);
    }

    /// Counters.
    pub const fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// The journal ring (records waiting for [`Self::flush_journal`]).
    pub const fn journal(&self) -> &JournalRing {
        &self.journal
    }

    /// How old a symbol's market data is now: time since its last event
    /// plus how old that event already was on arrival.
    pub fn data_age(&self, symbol: SymbolId) -> Option<Nanos> {
        let s = self.symbols.get(usize::from(symbol.0))?;
        Some(Nanos(self.clock.monotonic().saturating_sub(s.last_event).0.saturating_add(s.last_lag.0)))
    }

    /// The last book of a symbol.
    pub fn book(&self, symbol: SymbolId) -> Option<BookTop> {
        self.symbols.get(usize::from(symbol.0)).and_then(|s| s.top)
    }

    /// Writes the journal ring to the file (call when idle).
    ///
    /// # Errors
    /// [`JournalError`] from the write or fsync.
    pub fn flush_journal(&mut self, writer: &mut JournalWriter) -> Result<usize, JournalError> {
        writer.flush(&mut self.journal, self.clock.monotonic())
    }

    /// Drops the journal ring's records unwritten (a backtest baseline
    /// that keeps no journal).
    pub fn discard_journal(&mut self) {
        self.journal.clear();
    }

    /// Writes the journal ring before the venue's requests go on the wire
    /// (see [`JournalWriter::write_ahead`]).
    ///
    /// # Errors
    /// [`JournalError`] from the write or fsync.
    pub fn write_ahead(&mut self, writer: &mut JournalWriter) -> Result<usize, JournalError> {
        writer.write_ahead(&mut self.journal, self.clock.monotonic())
    }

    fn journal_push(&mut self, rec: &JournalRecord) {
        if self.journal.push(rec).is_err() {
            self.counters.journal_dropped += 1;
        }
    }

    /// One market event through the whole pipeline.
    pub fn on_market(&mut self, ev: &MarketEvent) {
        let t0 = self.clock.monotonic();
        let Some((obs, slot)) = note_market(&mut self.symbols, &mut self.counters, &self.clock, ev, t0) else {
            return;
        };
        if !slot.predictor.observe(&obs) {
            self.counters.bad_observation += 1;
        }
        let tf = self.clock.monotonic();
        let signal = slot.predictor.signal();
        let t1 = self.clock.monotonic();
        let mut fraction = signal.map_or(0.0, |s| sizing::target_fraction(&s, slot.predictor.sizing()));
        let symbol = ev.symbol();
        if self.probe {
            fraction = if self.portfolio.position(symbol).qty.is_positive() { 0.0 } else { PROBE_FRACTION };
        }
        slot.fraction = fraction;
        self.timings.record(Stage::Features, tf.saturating_sub(t0).0);
        self.timings.record(Stage::Integrate, t1.saturating_sub(tf).0);
        let end = self.act(symbol, fraction, t1);
        self.timings.record(Stage::Total, end.saturating_sub(t0).0);
    }

    /// One market event with the target fraction decided elsewhere (a
    /// backtest's oracle or baseline): the book and the data age are updated
    /// as by [`Self::on_market`], the model is not run, and the rest of the
    /// pipeline (risk, orders, venue) is the same.
    pub fn on_market_with_target(&mut self, ev: &MarketEvent, fraction: f64) {
        let t0 = self.clock.monotonic();
        if let Some((_, slot)) = note_market(&mut self.symbols, &mut self.counters, &self.clock, ev, t0) {
            slot.fraction = fraction;
            let _ = self.act(ev.symbol(), fraction, t0);
        }
    }

    /// The pipeline after the model: a target fraction of equity for one
    /// symbol (external signals, tests). Uses the symbol's last book.
    pub fn on_target(&mut self, symbol: SymbolId, fraction: f64) {
        let now = self.clock.monotonic();
        let _ = self.act(symbol, fraction, now);
    }

    /// Risk, orders and the venue for a target `fraction`, from time `t1`;
    /// returns the time it finished (one clock read serves the order stage
    /// and the caller's total).
    fn act(&mut self, symbol: SymbolId, fraction: f64, t1: Nanos) -> Nanos {
        let Some(slot) = self.symbols.get(usize::from(symbol.0)) else { return t1 };
        let (filters, last_event, last_lag) = (slot.filters, slot.last_event, slot.last_lag);
        let Some(top) = slot.top else {
            self.risk.count(Refusal::NoMarketData);
            return t1;
        };
        let mid = mid_of(&top);
        let equity = self.portfolio.mark(symbol, mid);
        let breaker = self.risk.on_equity(equity);
        let pos = self.portfolio.position(symbol);
        let want = self.sized_target(fraction, equity, mid, pos.qty);
        let target = Qty::from_f64(if want.is_finite() { want } else { 0.0 }).unwrap_or(Qty::ZERO);
        // stale data: the last event was old on arrival, or nothing came since
        let data_age = Nanos(t1.saturating_sub(last_event).0.saturating_add(last_lag.0));
        let target = self.risk.clamp_target(target, pos.qty, pos.avg_entry, mid, data_age);
        let t2 = self.clock.monotonic();
        self.timings.record(Stage::Risk, t2.saturating_sub(t1).0);

        self.actions.clear();
        let killed = self.risk.killed();
        if killed && !self.kill_handled {
            self.orders.cancel_all(&mut self.actions);
            self.kill_handled = true;
        } else if !killed {
            self.kill_handled = false;
        }
        if breaker == BreakerState::Halted && !self.halt_handled {
            self.orders.cancel_all(&mut self.actions);
            self.halt_handled = true;
        }
        self.orders.check_timeouts(t2, &mut self.actions);
        if let Err(r) = self.orders.plan(symbol, target, pos.qty, &top, &filters, &mut self.actions) {
            self.risk.count(r);
        }
        let handed = self.execute(t2, mid, data_age);
        let end = self.clock.monotonic();
        // the order stage ends where the first hand-off to the venue began
        let venue_from = handed.unwrap_or(end);
        self.timings.record(Stage::Orders, venue_from.saturating_sub(t2).0);
        if handed.is_some() {
            self.timings.record(Stage::EncodeSign, end.saturating_sub(venue_from).0);
        }
        end
    }

    /// The position (base units) the model's `fraction` of `equity` asks
    /// for at `mid`, before the risk clamp: unchanged from `held` when the
    /// change is worth less than `orders.min_rebalance_bps` of equity, and
    /// for a spot account no more than the quote cash buys with
    /// `risk.cash_reserve_bps` kept back.
    #[inline]
    fn sized_target(&self, fraction: f64, equity: Amount, mid: Price, held: Qty) -> f64 {
        let (equity, mid, held) = (equity.to_f64(), mid.to_f64(), held.to_f64());
        let mut want = fraction * equity / mid;
        let band = f64::from(self.orders.policy().min_rebalance_bps) * 1e-4 * equity / mid;
        if (want - held).abs() < band {
            want = held;
        }
        let limits = self.risk.limits();
        if !limits.allow_short {
            let reserve = 1.0 + f64::from(limits.cash_reserve_bps) * 1e-4;
            let cash = self.portfolio.quote_cash().to_f64().max(0.0);
            want = want.min(held.max(0.0) + cash / (mid * reserve));
        }
        want
    }

    /// Housekeeping when no event arrived for a while: kill switch, timeouts
    /// and status queries. Call from the idle part of the event loop.
    pub fn on_idle(&mut self) {
        let now = self.clock.monotonic();
        self.actions.clear();
        if self.risk.killed() && !self.kill_handled {
            self.orders.cancel_all(&mut self.actions);
            self.kill_handled = true;
        }
        self.orders.check_timeouts(now, &mut self.actions);
        let _ = self.execute(now, Price::ZERO, Nanos(0));
    }

    /// Cancels every working order (shutdown, operator request).
    pub fn cancel_all(&mut self) {
        let now = self.clock.monotonic();
        self.actions.clear();
        self.orders.cancel_all(&mut self.actions);
        let _ = self.execute(now, Price::ZERO, Nanos(0));
    }

    /// Vets and sends the planned actions; returns when the first hand-off
    /// to the venue began (the order stage's end), if any.
    fn execute(&mut self, now: Nanos, mid: Price, data_age: Nanos) -> Option<Nanos> {
        if self.actions.is_empty() {
            return None;
        }
        let mut handed = None;
        let wall = self.clock.wall();
        // by index, each action copied out: moving the whole action buffer
        // out and back would copy all its slots twice per event
        let mut next = 0;
        while let Some(&a) = self.actions.get(next) {
            next += 1;
            match a {
                Action::Place(req) => {
                    let check = OrderCheck {
                        side: req.side,
                        qty: req.qty,
                        price: req.price,
                        mid,
                        position: self.portfolio.position(req.symbol).qty,
                        open_same_side: self.orders.open_qty(req.symbol, req.side),
                        open_orders: self.orders.open_count(),
                        data_age,
                    };
                    if self.risk.check_order(&check, now).is_err() {
                        continue;
                    }
                    if !self.journal.has_room(2) {
                        self.risk.count(Refusal::JournalFull);
                        continue;
                    }
                    if !self.orders.budgets_mut().try_spend(RequestKind::Place, wall) {
                        self.risk.count(Refusal::ExchangeBudget);
                        continue;
                    }
                    if let Err(r) = self.orders.commit_place(&req, now) {
                        self.risk.count(r);
                        continue;
                    }
                    self.journal_push(&JournalRecord::Place { req, time: now });
                    handed.get_or_insert_with(|| self.clock.monotonic());
                    self.venue.place(&req);
                }
                Action::Cancel { symbol, client_id } => {
                    let working = self.orders.get(&client_id).is_some_and(|o| {
                        matches!(o.state, OrderState::PendingNew | OrderState::New | OrderState::PartiallyFilled)
                    });
                    if !working {
                        continue; // already cancelling (kill and plan may both ask)
                    }
                    if !self.orders.budgets_mut().try_spend(RequestKind::Cancel, wall) {
                        self.risk.count(Refusal::ExchangeBudget);
                        continue;
                    }
                    if self.orders.commit_cancel(&client_id, now).is_ok() {
                        self.journal_push(&JournalRecord::Cancel { symbol, client_id, time: now });
                        handed.get_or_insert_with(|| self.clock.monotonic());
                        self.venue.cancel(symbol, &client_id);
                    }
                }
                Action::Query { symbol, client_id } => {
                    if !self.orders.budgets_mut().try_spend(RequestKind::Query, wall) {
                        self.risk.count(Refusal::ExchangeBudget);
                        continue;
                    }
                    self.orders.commit_query(&client_id, now);
                    handed.get_or_insert_with(|| self.clock.monotonic());
                    self.venue.query(symbol, &client_id);
                }
            }
        }
        self.actions.clear();
        handed
    }

    fn book_fill(&mut self, r: &ExecutionReport, fill: Option<(Qty, Price)>, commission: Amount) {
        if let Some((qty, price)) = fill {
            self.portfolio.apply_fill(r.symbol, r.side, qty, price, commission, r.fee_in_base);
        }
    }

    fn apply_report(&mut self, r: &ExecutionReport, now: Nanos) {
        self.counters.reports += 1;
        let out = self.orders.on_report(r, now);
        self.counters.illegal_reports += u64::from(out.illegal);
        self.counters.stray_reports += u64::from(out.stray);
        self.book_fill(r, out.fill, r.commission);
    }

    /// An executionReport (or an `order.place` response turned into one).
    pub fn on_execution(&mut self, r: &ExecutionReport) {
        let now = self.clock.monotonic();
        self.journal_push(&JournalRecord::Report(*r));
        self.apply_report(r, now);
    }

    fn apply_status(&mut self, r: &ExecutionReport, now: Nanos) {
        let out = self.orders.on_status(r, now);
        self.counters.illegal_reports += u64::from(out.illegal);
        // the commission of fills only seen through a status answer is not
        // known here; the account reconciliation reports the difference
        self.book_fill(r, out.fill, Amount::ZERO);
    }

    /// An `order.status` answer (as a report with `status`, `cum_qty`,
    /// `cum_quote`): resolves an `Unknown` order.
    pub fn on_order_status(&mut self, r: &ExecutionReport) {
        let now = self.clock.monotonic();
        self.journal_push(&JournalRecord::Status(*r));
        self.apply_status(r, now);
    }

    /// Takes an open order found on the exchange at start-up as the
    /// engine's own (`lifecycle.unknown_orders = "adopt"`): tracked and
    /// journaled as if this run had placed it, then brought to the
    /// exchange's `state` (its fills so far are booked). False when the
    /// tracker is full.
    pub fn adopt(&mut self, req: &OrderRequest, state: &ExecutionReport) -> bool {
        let now = self.clock.monotonic();
        if self.orders.commit_place(req, now).is_err() {
            return false;
        }
        self.journal_push(&JournalRecord::Place { req: *req, time: now });
        self.journal_push(&JournalRecord::Status(*state));
        self.apply_status(state, now);
        true
    }

    /// A request failed: `unknown` for 5xx or a timeout (the order becomes
    /// `Unknown` and is queried), otherwise a definite 4xx refusal. For a
    /// failed `order.status` (`request = Query`, not unknown) this means
    /// `-2013`: the order does not exist.
    pub fn on_request_failed(
        &mut self,
        symbol: SymbolId,
        client_id: &ClientOrderId,
        request: RequestKind,
        unknown: bool,
    ) {
        let now = self.clock.monotonic();
        self.journal_push(&JournalRecord::RequestFailed { symbol, client_id: *client_id, request, unknown, time: now });
        let out = self.orders.on_request_failed(client_id, request, unknown, now);
        self.counters.illegal_reports += u64::from(out.illegal);
    }

    /// A multi-line summary for the end of a run (off the hot path):
    /// positions, PnL, orders, refusals by reason and stage timings.
    pub fn summary(&mut self) -> String {
        let equity = self.portfolio.equity();
        let pf = &self.portfolio;
        let mut s = format!(
            "equity {equity} (high water {}, drawdown {} bps, breaker {:?}), realised {}, unrealised {}, fees {}, exposure {}\n",
            pf.high_water(),
            self.risk.drawdown_bps(),
            self.risk.breaker(),
            pf.realised(),
            pf.unrealised(),
            pf.fees(),
            pf.exposure()
        );
        for (i, p) in pf.positions().iter().enumerate() {
            s.push_str(&format!("symbol {i}: position {} at {} ({} fills)\n", p.qty, p.avg_entry, p.fills));
        }
        s.push_str(&format!("orders: {:?}, open {}\n", self.orders.counters(), self.orders.open_count()));
        s.push_str(&format!("engine: {:?}\n", self.counters));
        s.push_str("refusals:");
        for (r, n) in self.risk.refusals().iter().filter(|(_, n)| *n > 0) {
            s.push_str(&format!(" {}={n}", r.as_str()));
        }
        s.push('\n');
        s.push_str(&self.timings.summary());
        s
    }

    /// A response's `rateLimits`.
    pub fn on_rate_limits(&mut self, limits: &[RateLimit]) {
        let wall = self.clock.wall();
        self.orders.budgets_mut().update(limits, wall);
    }

    /// Rebuilds open orders and positions from journal records (at start,
    /// before any event). Nothing is sent and nothing journaled again. If a
    /// recorded client id has this run's prefix, the sequence moves past it
    /// so that no id is ever reused.
    pub fn replay(&mut self, records: &[JournalRecord]) {
        for rec in records {
            match rec {
                JournalRecord::Place { req, time } => {
                    let _ = self.orders.commit_place(req, *time);
                    if let Some(seq) = self.orders.sequence_of(&req.client_id) {
                        self.orders.advance_sequence(seq);
                    }
                }
                JournalRecord::Cancel { client_id, time, .. } => {
                    let _ = self.orders.commit_cancel(client_id, *time);
                }
                JournalRecord::Report(r) => self.apply_report(r, r.time),
                JournalRecord::Status(r) => self.apply_status(r, r.time),
                JournalRecord::RequestFailed { client_id, request, unknown, time, .. } => {
                    let _ = self.orders.on_request_failed(client_id, *request, *unknown, *time);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;
    use crate::config::RawConfig;
    use crate::engine::venue::{RecordingVenue, Sent};
    use crate::event::BookUpdate;

    use crate::order::{ExecType, OrderStatus};
    use odex_shared::market::{Amount, Side};

    pub(crate) fn config() -> Config {
        let text = include_str!("../../examples/paper.toml");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        RawConfig::parse(text).unwrap().validate(Some(&dir)).unwrap()
    }

    fn filters() -> SymbolFilters {
        SymbolFilters::tick_step(Price::parse("0.01").unwrap(), Qty::parse("0.001").unwrap())
    }

    fn engine() -> Engine<RecordingVenue, SimClock> {
        engine_with(config())
    }

    fn engine_with(cfg: Config) -> Engine<RecordingVenue, SimClock> {
        let model = cfg.load_model().unwrap();
        Engine::new(
            &cfg,
            &model,
            &[filters()],
            "odx-t-",
            KillSwitch::new(),
            RecordingVenue::new(64),
            SimClock::new(Nanos(1_000_000_000_000)),
        )
        .unwrap()
    }

    fn book(e: &mut Engine<RecordingVenue, SimClock>, bid: &str, ask: &str) {
        let ev = MarketEvent {
            recv: e.clock().monotonic(),
            exchange_time: None,
            data: MarketData::Book(BookUpdate {
                symbol: SymbolId(0),
                update_id: 1,
                top: BookTop {
                    bid: Price::parse(bid).unwrap(),
                    bid_qty: Qty::ONE,
                    ask: Price::parse(ask).unwrap(),
                    ask_qty: Qty::ONE,
                },
            }),
        };
        e.on_market(&ev);
    }

    fn placed(e: &mut Engine<RecordingVenue, SimClock>) -> Vec<OrderRequest> {
        e.venue_mut().drain().filter_map(|s| if let Sent::Place(r) = s { Some(r) } else { None }).collect()
    }

    #[test]
    fn target_changes_inside_the_rebalance_band_place_no_order() {
        let mut cfg = config();
        cfg.orders.min_rebalance_bps = 100; // 1% of equity
        let mut e = engine_with(cfg);
        book(&mut e, "50000", "50000.02");
        e.venue_mut().drain().for_each(drop);
        e.on_target(SymbolId(0), 0.009);
        assert!(placed(&mut e).is_empty());
        e.on_target(SymbolId(0), 0.011);
        let p = placed(&mut e);
        assert_eq!(p.iter().map(|r| r.qty).collect::<Vec<_>>(), [Qty::parse("0.002").unwrap()], "{p:?}");
    }

    #[test]
    fn a_spot_account_buys_no_more_than_its_cash_pays_for() {
        let mut cfg = config();
        cfg.risk.max_position = Qty::parse("10").unwrap();
        cfg.risk.max_notional = Amount::parse("1000000").unwrap();
        cfg.risk.cash_reserve_bps = 100;
        let mut e = engine_with(cfg.clone());
        book(&mut e, "50000", "50000.02");
        e.venue_mut().drain().for_each(drop);
        // 100% of 10000 at ~50000 is 0.2; the cash pays for 10000 / (50000.01 x 1.01) = 0.19801
        e.on_target(SymbolId(0), 1.0);
        assert_eq!(placed(&mut e).iter().map(|r| r.qty).collect::<Vec<_>>(), [Qty::parse("0.198").unwrap()]);
        // with shorts allowed (a margin account) the cash is not the limit
        cfg.risk.allow_short = true;
        let mut e = engine_with(cfg);
        book(&mut e, "50000", "50000.02");
        e.venue_mut().drain().for_each(drop);
        e.on_target(SymbolId(0), 1.0);
        assert_eq!(placed(&mut e).iter().map(|r| r.qty).collect::<Vec<_>>(), [Qty::parse("0.199").unwrap()]);
    }

    #[test]
    fn bars_give_a_locked_book_at_the_close_and_orders_priced_at_it() {
        let mut e = engine();
        let close = Price::parse("2000").unwrap();
        let bar = MarketEvent {
            recv: e.clock().monotonic(),
            exchange_time: None,
            data: MarketData::Bar(crate::event::BarUpdate {
                symbol: SymbolId(0),
                bar: odex_shared::market::Bar {
                    open_time_ms: 0,
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume: Qty::ONE,
                },
                taker_buy_volume: Qty::ZERO,
            }),
        };
        e.on_market_with_target(&bar, 0.05);
        assert_eq!(e.book(SymbolId(0)).map(|t| (t.bid, t.ask)), Some((close, close)));
        assert!((e.target_fraction(SymbolId(0)) - 0.05).abs() < 1e-15);
        let p = placed(&mut e);
        assert_eq!(
            p.iter().map(|r| (r.qty, r.price)).collect::<Vec<_>>(),
            [(Qty::parse("0.25").unwrap(), Some(close))]
        );
    }

    #[test]
    fn run_prefixes_fit_and_differ() {
        let a = run_prefix("odx", Nanos(1_700_000_000_000_000_000));
        let b = run_prefix("odx", Nanos(1_700_000_001_000_000_000));
        assert_ne!(a, b);
        assert!(a.len() <= 16 && a.starts_with("odx-"), "{a}");
        assert!(
            crate::order::ClientOrderId::with_sequence(run_prefix("abcdefgh", Nanos(u64::MAX)).as_bytes(), u64::MAX)
                .is_ok()
        );
    }

    #[test]
    fn replay_moves_the_sequence_past_recorded_ids() {
        let mut e = engine();
        book(&mut e, "50000", "50000.02");
        e.on_target(SymbolId(0), 0.01);
        let records: Vec<JournalRecord> = crate::engine::journal::scan(e.journal().pending()).0;
        assert_eq!(records.len(), 1);
        let mut fresh = engine();
        fresh.replay(&records);
        assert_eq!(fresh.orders().next_sequence(), 2);
        assert_eq!(fresh.orders().open_count(), 1);
        assert!(fresh.summary().contains("open 1"));
    }

    #[test]
    fn target_to_order_to_fill_to_position() {
        let mut e = engine();
        book(&mut e, "50000", "50000.02");
        e.venue_mut().drain().for_each(drop);
        // long 1% of 10000 equity at ~50000 = 0.002 BTC
        e.on_target(SymbolId(0), 0.01);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        let [Sent::Place(req)] = sent.as_slice() else { panic!("{sent:?}") };
        assert_eq!(
            (req.side, req.qty, req.price),
            (Side::Buy, Qty::parse("0.002").unwrap(), Some(Price::parse("50000").unwrap()))
        );
        let mut rep = ExecutionReport {
            price: Price::parse("50000").unwrap(),
            last_qty: req.qty,
            last_price: Price::parse("50000").unwrap(),
            cum_qty: req.qty,
            cum_quote: Amount::parse("100").unwrap(),
            commission: Amount::parse("0.1").unwrap(),
            maker: true,
            trade_id: 1,
            ..ExecutionReport::unfilled(req, 1, ExecType::Trade, OrderStatus::Filled)
        };
        // the fill arrives before the ack
        e.on_execution(&rep);
        rep.exec_type = ExecType::New;
        rep.status = OrderStatus::New;
        e.on_execution(&rep);
        assert_eq!(e.counters().illegal_reports, 0);
        assert_eq!(e.orders().get(&req.client_id).unwrap().state, OrderState::Filled);
        assert_eq!(e.portfolio().position(SymbolId(0)).qty, Qty::parse("0.002").unwrap());
        // at target: nothing more
        e.on_target(SymbolId(0), 0.01);
        assert!(e.venue().sent().is_empty(), "{:?}", e.venue().sent());
        assert_eq!(e.journal().pushed(), 3);
    }

    #[test]
    fn probe_mode_orders_on_every_event_with_nothing_in_flight() {
        let mut plain = engine();
        book(&mut plain, "50000", "50000.02");
        assert!(plain.venue().sent().is_empty(), "a cold model wants nothing: {:?}", plain.venue().sent());

        let mut e = engine();
        e.set_probe(true);
        for round in 0..3 {
            book(&mut e, "50000", "50000.02");
            let sent: Vec<Sent> = e.venue_mut().drain().collect();
            let [Sent::Place(req)] = sent.as_slice() else { panic!("round {round}: {sent:?}") };
            assert_eq!(req.side, Side::Buy);
            // in flight: the next event waits for the exchange
            book(&mut e, "50000", "50000.02");
            assert!(e.venue().sent().is_empty(), "round {round}: {:?}", e.venue().sent());
            // the exchange lets it expire (as odex-sim's probe venue does)
            for (exec_type, status) in [(ExecType::New, OrderStatus::New), (ExecType::Expired, OrderStatus::Expired)] {
                e.on_execution(&ExecutionReport::unfilled(req, round + 1, exec_type, status));
            }
        }
        assert_eq!(e.counters().illegal_reports, 0);
    }

    #[test]
    fn stale_data_blocks_new_exposure() {
        let mut e = engine();
        // an event that was already 3 s old on arrival (limit: 2 s)
        let ev = MarketEvent {
            recv: e.clock().monotonic(),
            exchange_time: Some(Nanos(e.clock().wall().0 - 3_000_000_000)),
            data: MarketData::Book(BookUpdate {
                symbol: SymbolId(0),
                update_id: 1,
                top: BookTop {
                    bid: Price::parse("50000").unwrap(),
                    bid_qty: Qty::ONE,
                    ask: Price::parse("50000.02").unwrap(),
                    ask_qty: Qty::ONE,
                },
            }),
        };
        e.on_market(&ev);
        e.venue_mut().drain().for_each(drop);
        e.on_target(SymbolId(0), 0.01);
        assert!(e.venue().sent().is_empty());
        assert!(e.risk().refusals().get(Refusal::StaleData) > 0);
        // fresh data: trading resumes; then silence for 2.5 s: stale again
        book(&mut e, "50000", "50000.02");
        e.venue_mut().drain().for_each(drop);
        e.on_target(SymbolId(0), 0.01);
        assert_eq!(e.venue_mut().drain().count(), 1);
        let before = e.risk().refusals().get(Refusal::StaleData);
        e.clock().advance(Nanos(2_500_000_000));
        e.on_target(SymbolId(0), 0.02);
        assert_eq!(e.risk().refusals().get(Refusal::StaleData), before + 1);
        assert!(e.venue().sent().is_empty());
    }

    #[test]
    fn kill_switch_cancels_and_flattens() {
        let mut e = engine();
        book(&mut e, "50000", "50000.02");
        e.on_target(SymbolId(0), 0.01);
        let Some(Sent::Place(req)) = e.venue_mut().drain().next() else { panic!() };
        let mut rep = ExecutionReport {
            price: Price::parse("50000").unwrap(),
            maker: true,
            ..ExecutionReport::unfilled(&req, 1, ExecType::New, OrderStatus::New)
        };
        e.on_execution(&rep);
        rep.exec_type = ExecType::Trade;
        rep.status = OrderStatus::PartiallyFilled;
        rep.last_qty = Qty::parse("0.001").unwrap();
        rep.last_price = Price::parse("50000").unwrap();
        rep.cum_qty = rep.last_qty;
        e.on_execution(&rep);
        e.risk().kill_switch().trigger();
        e.clock().advance(Nanos(1_000_000_000));
        e.on_target(SymbolId(0), 0.5);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        assert_eq!(sent, vec![Sent::Cancel(SymbolId(0), req.client_id)]);
        rep.exec_type = ExecType::Canceled;
        rep.status = OrderStatus::Canceled;
        e.on_execution(&rep);
        e.clock().advance(Nanos(1_000_000_000));
        e.on_target(SymbolId(0), 0.5);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        let [Sent::Place(flat)] = sent.as_slice() else { panic!("{sent:?}") };
        assert_eq!((flat.side, flat.qty), (Side::Sell, Qty::parse("0.001").unwrap()));
        assert!(e.risk().refusals().total() < 10);
    }

    #[test]
    fn unknown_order_blocks_and_is_queried() {
        let mut e = engine();
        book(&mut e, "50000", "50000.02");
        e.on_target(SymbolId(0), 0.01);
        let Some(Sent::Place(req)) = e.venue_mut().drain().next() else { panic!() };
        e.on_request_failed(SymbolId(0), &req.client_id, RequestKind::Place, true);
        e.clock().advance(Nanos(1_000_000_000));
        e.on_target(SymbolId(0), 0.02);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        assert_eq!(sent, vec![Sent::Query(SymbolId(0), req.client_id)]);
        assert_eq!(e.risk().refusals().get(Refusal::UnknownOrder), 1);
        // -2013: it never existed; trading resumes
        e.on_request_failed(SymbolId(0), &req.client_id, RequestKind::Query, false);
        e.clock().advance(Nanos(1_000_000_000));
        e.on_target(SymbolId(0), 0.02);
        let sent: Vec<Sent> = e.venue_mut().drain().collect();
        assert!(matches!(sent.as_slice(), [Sent::Place(r)] if r.side == Side::Buy), "{sent:?}");
    }
}
