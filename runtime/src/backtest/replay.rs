//! The backtest loop: the live engine ([`Engine`]) over the venue model, on
//! a simulated clock.
//!
//! Per event: the venue model sees it first, at its own time (fills of
//! working orders happen); the clock moves on by the market-data latency
//! and orders in flight arrive; then the engine sees the event and runs its
//! whole pipeline (model, sizing, risk, order manager) exactly as `odex run`
//! does, its orders going to the venue model through the same
//! [`PaperVenue`] that paper trading uses. Acknowledgements and fills reach
//! the engine as reports, in order, before the next event. The engine's
//! journal is written to `journal.bin` in the output folder.
//!
//! The account is a spot account: it starts with quote only and cannot
//! borrow (the engine's `risk.allow_short` and `risk.cash_reserve_bps`).
//! Storage is reserved up front; the loop allocates only when the fill list
//! or the equity curve outgrows its reserve.

use odex_shared::market::{Amount, Nanos, Price, Qty, Side};
use odex_shared::model_file::ModelFile;

use super::config::{BacktestConfig, BacktestError, SignalConfig};
use super::signal::{Momentum, OuOracle, SignalSource, observation};
use crate::clock::SimClock;
use crate::config::FsyncPolicy;
use crate::engine::journal::JournalWriter;
use crate::engine::{Engine, KillSwitch, RefusalCounts};
use crate::event::MarketEvent;
use crate::live::paper::{self, PaperEvent, PaperVenue};
use crate::order::{ClientOrderId, ExecType, ExecutionReport, SymbolId};
use crate::venue::latency::{Latency, LatencyModel};
use crate::venue::rng::Rng;
use crate::venue::{SymbolConfig, Venue, VenueConfig};

/// The one symbol a backtest trades.
pub const SYMBOL: SymbolId = SymbolId(0);

/// One sample of the equity curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityPoint {
    /// Event time.
    pub time: Nanos,
    /// Mark price (mid or close).
    pub mark: Price,
    /// Base held.
    pub base: Qty,
    /// Quote held.
    pub quote: Amount,
    /// `quote + base x mark`, exact.
    pub equity: Amount,
    /// The signal's target fraction after this event (before clamping).
    pub target: f64,
}

/// One fill of the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRow {
    /// Venue time.
    pub time: Nanos,
    /// Venue order id.
    pub order_id: u64,
    /// Client order id.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Commission, in quote.
    pub fee: Amount,
    /// Maker or taker.
    pub maker: bool,
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Equity samples.
    pub equity: Vec<EquityPoint>,
    /// Fills, in order.
    pub fills: Vec<FillRow>,
    /// Events replayed.
    pub events: u64,
    /// Events the model observed (books and bars).
    pub observations: u64,
    /// Orders the engine sent.
    pub orders: u64,
    /// Orders the venue refused at submission.
    pub rejects: u64,
    /// Orders that ended rejected or expired in matching.
    pub unfilled_ends: u64,
    /// What the engine's risk layer refused, by reason.
    pub refusals: RefusalCounts,
    /// The venue at the end (ledger, balances).
    pub venue: Venue,
}

#[derive(Debug, Default)]
struct Collector {
    fills: Vec<FillRow>,
    unfilled_ends: u64,
}

impl Collector {
    fn report(&mut self, r: &ExecutionReport) {
        match r.exec_type {
            ExecType::Trade => self.fills.push(FillRow {
                time: r.time,
                order_id: r.order_id,
                client_id: r.client_id,
                side: r.side,
                price: r.last_price,
                qty: r.last_qty,
                fee: r.commission,
                maker: r.maker,
            }),
            ExecType::Rejected | ExecType::Expired if r.cum_qty.is_zero() => self.unfilled_ends += 1,
            _ => {}
        }
    }
}

/// The venue config a backtest uses.
pub fn venue_config(config: &BacktestConfig) -> VenueConfig {
    VenueConfig {
        symbols: vec![SymbolConfig {
            names: config.symbol(),
            filters: config.filters,
            base_balance: Qty::ZERO,
            quote_balance: config.initial_quote(),
        }],
        fees: config.fees,
        slippage: config.slippage,
        order_latency: config.order_latency.clone(),
        seed: config.seed,
        max_open_orders: 16,
        fill_log_capacity: 4096,
        bar_participation: config.bar_participation,
        fill_on_touch: false,
        market_buy_reserve_bps: config.buy_reserve_bps,
        volatility_alpha: 0.05,
        strict_bar_arrival: config.strict_bar_arrival,
        depth_levels: 100,
    }
}

/// Who decides the target on each event.
enum Decider {
    /// The engine's own model.
    Model,
    /// The OU oracle.
    Oracle(OuOracle),
    /// The momentum baseline.
    Momentum(Momentum),
}

impl Decider {
    /// Runs the engine on `ev`, with the outside target if there is one;
    /// returns the target fraction decided.
    #[inline]
    fn drive(&mut self, engine: &mut BacktestEngine<'_>, ev: &MarketEvent) -> f64 {
        let outside = |s: &mut dyn SignalSource, engine: &mut BacktestEngine<'_>| {
            s.observe(ev);
            let f = s.target_fraction();
            engine.on_market_with_target(ev, f);
            f
        };
        match self {
            Self::Model => {
                engine.on_market(ev);
                engine.target_fraction(SYMBOL)
            }
            Self::Oracle(o) => outside(o, engine),
            Self::Momentum(m) => outside(m, engine),
        }
    }
}

type BacktestEngine<'c> = Engine<PaperVenue<&'c SimClock>, &'c SimClock>;

/// Hands the venue's reports to the engine, noting fills; returns the
/// number of `order.place` refusals.
fn deliver(engine: &mut BacktestEngine<'_>, sink: &mut Collector) -> u64 {
    paper::deliver(engine, |e| {
        let ev = e.venue_mut().pop();
        if let Some(PaperEvent::Report(r)) = &ev {
            sink.report(r);
        }
        ev
    })
}

/// A journal file written from empty (a rerun into the same folder must
/// give the same bytes), without fsync: a backtest can be run again.
fn fresh_journal(path: &std::path::Path) -> Result<JournalWriter, BacktestError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::engine::journal::JournalError::Io { path: path.to_path_buf(), source: e }.into())
        }
        _ => Ok(JournalWriter::open(path, FsyncPolicy::Never)?),
    }
}

/// Replays `events` through the engine built from `model`; with an oracle or
/// momentum signal, the engine trades its targets instead of running the
/// model. Writes the engine's journal to `journal` (replaced), or keeps none.
///
/// # Errors
/// [`BacktestError`] for a bad config, an engine that does not build, or a
/// journal that cannot be written.
pub fn replay(
    config: &BacktestConfig,
    events: &[MarketEvent],
    model: &ModelFile,
    journal: Option<&std::path::Path>,
) -> Result<Replay, BacktestError> {
    config.validate()?;
    let sizing = config.engine.sizing_for(model.spec.sizing);
    let mut decider = match &config.signal {
        SignalConfig::Model => Decider::Model,
        SignalConfig::Oracle { params, horizon } => Decider::Oracle(OuOracle::new(*params, *horizon, sizing)),
        SignalConfig::Momentum { lookback } => Decider::Momentum(Momentum::new(*lookback)),
    };
    let start = events.first().map_or(Nanos(0), |e| e.exchange_time.unwrap_or(e.recv));
    let clock = SimClock::new(start);
    let venue = PaperVenue::with_model(Venue::new(&venue_config(config))?, &clock);
    let prefix = format!("{}-", config.engine.orders.client_id_prefix);
    let mut engine = Engine::new(&config.engine, model, &[config.filters], &prefix, KillSwitch::new(), venue, &clock)?;
    let mut writer = journal.map(fresh_journal).transpose()?;
    let ring_half = config.engine.runtime.journal_ring_records / 2;
    let mut md_latency = Latency::new(config.market_data_latency.clone(), Rng::stream(config.seed, 2))
        .map_err(|_| BacktestError::Config { key: "market_data_latency", why: "out of range" })?;
    let every = u64::from(config.equity_every);
    let mut sink = Collector { fills: Vec::with_capacity(4096), unfilled_ends: 0 };
    let mut equity_curve = Vec::with_capacity(events.len() / usize::try_from(every).unwrap_or(1).max(1) + 2);
    let (mut n_events, mut observations, mut rejects) = (0u64, 0u64, 0u64);
    for ev in events {
        n_events += 1;
        let t = ev.exchange_time.unwrap_or(ev.recv);
        // the venue sees the event at its own time ...
        engine.venue_mut().on_market_at_recv(&MarketEvent { recv: t, ..*ev });
        rejects += deliver(&mut engine, &mut sink);
        // ... the strategy a market-data latency later (never before its
        // previous decision: the clock does not go back)
        clock.set(Nanos(t.0.saturating_add(md_latency.next_latency().0)));
        engine.venue_mut().advance();
        rejects += deliver(&mut engine, &mut sink);
        let observed = observation(ev).is_some();
        let target = decider.drive(&mut engine, ev);
        rejects += deliver(&mut engine, &mut sink);
        if !engine.journal().has_room(ring_half) {
            match writer.as_mut() {
                Some(w) => {
                    engine.flush_journal(w)?;
                }
                None => engine.discard_journal(),
            }
        }
        if !observed {
            continue;
        }
        observations += 1;
        let model = engine.venue().model();
        if observations % every == 0
            && let (Some(mark), Some(acct)) = (model.reference_price(SYMBOL), model.account(SYMBOL))
        {
            let equity = acct.quote.saturating_add(mark.notional(acct.base).unwrap_or(Amount::ZERO));
            equity_curve.push(EquityPoint { time: t, mark, base: acct.base, quote: acct.quote, equity, target });
        }
    }
    if let Some(w) = writer.as_mut() {
        engine.flush_journal(w)?;
    }
    let orders = engine.orders().counters().placed;
    let refusals = *engine.risk().refusals();
    Ok(Replay {
        equity: equity_curve,
        fills: sink.fills,
        events: n_events,
        observations,
        orders,
        rejects,
        unfilled_ends: sink.unfilled_ends,
        refusals,
        venue: engine.into_venue().into_model(),
    })
}
