//! The hot path allocates nothing: 1,000,000 book updates of a seeded random
//! walk through the full engine (features, model, sizing, risk, order
//! manager, journal ring, venue seam), with a recording venue that acks,
//! fills and cancels, and the journal flushed to a file every 1,000 events,
//! under a counting global allocator. Zero allocations after warm-up, and
//! orders were produced.
//!
//! The allocator counts on each test's own thread only, so the tests of
//! this file may run in parallel.

use odex_runtime::alloc_count as counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

use std::path::Path;

use odex_runtime::clock::{Clock, SimClock, SystemClock};
use odex_runtime::config::{FsyncPolicy, RawConfig};
use odex_runtime::engine::{Engine, JournalWriter, KillSwitch, RecordingVenue, RequestKind, Sent, Stage};
use odex_runtime::event::{BookUpdate, MarketData, MarketEvent};
use odex_runtime::filters::SymbolFilters;
use odex_runtime::order::{ExecType, ExecutionReport, OrderRequest, OrderStatus, SymbolId};
use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty, Side};

const EVENTS: u64 = 1_000_000;
const WARMUP: u64 = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The exchange's side of the test: resting orders, fills at the limit
/// price when the book crosses them, acks, cancels and status answers.
struct Exchange {
    resting: Vec<(OrderRequest, u64)>,
    inbox: Vec<Sent>,
    reports: Vec<ExecutionReport>,
    not_found: Vec<(SymbolId, odex_runtime::order::ClientOrderId)>,
    /// Places whose response "timed out" (the order rests all the same).
    lost: Vec<(SymbolId, odex_runtime::order::ClientOrderId)>,
    /// `order.status` answers.
    status: Vec<ExecutionReport>,
    next_id: u64,
    fills: u64,
}

fn report(req: &OrderRequest, order_id: u64, exec_type: ExecType, status: OrderStatus) -> ExecutionReport {
    ExecutionReport { maker: true, ..ExecutionReport::unfilled(req, order_id, exec_type, status) }
}

impl Exchange {
    fn fill(&mut self, i: usize) {
        let (req, id) = self.resting.swap_remove(i);
        let px = req.price.unwrap_or(Price::ZERO);
        let mut r = report(&req, id, ExecType::Trade, OrderStatus::Filled);
        r.last_qty = req.qty;
        r.last_price = px;
        r.cum_qty = req.qty;
        r.cum_quote = px.notional(req.qty).unwrap_or(Amount::ZERO);
        r.commission = Amount::from_raw(r.cum_quote.raw() / 1000);
        r.trade_id = id;
        self.fills += 1;
        self.reports.push(r);
    }

    fn on_book(&mut self, top: &BookTop) {
        let mut i = 0;
        while i < self.resting.len() {
            let (req, _) = self.resting[i];
            let px = req.price.unwrap_or(Price::ZERO);
            let crossed = match req.side {
                Side::Buy => top.ask <= px,
                Side::Sell => top.bid >= px,
            };
            if crossed { self.fill(i) } else { i += 1 }
        }
    }

    fn handle(&mut self, top: &BookTop) {
        let mut k = 0;
        while k < self.inbox.len() {
            match self.inbox[k] {
                Sent::Place(req) => {
                    self.next_id += 1;
                    if self.next_id.is_multiple_of(25) {
                        // the response is lost: outcome unknown to the engine
                        self.lost.push((req.symbol, req.client_id));
                    } else {
                        self.reports.push(report(&req, self.next_id, ExecType::New, OrderStatus::New));
                    }
                    self.resting.push((req, self.next_id));
                }
                Sent::Cancel(_, id) => {
                    if let Some(i) = self.resting.iter().position(|(r, _)| r.client_id == id) {
                        let (req, oid) = self.resting.swap_remove(i);
                        self.reports.push(report(&req, oid, ExecType::Canceled, OrderStatus::Canceled));
                    }
                }
                Sent::Query(sym, id) => match self.resting.iter().find(|(r, _)| r.client_id == id) {
                    Some((req, oid)) => self.status.push(report(req, *oid, ExecType::New, OrderStatus::New)),
                    None => self.not_found.push((sym, id)),
                },
            }
            k += 1;
        }
        self.inbox.clear();
        self.on_book(top);
    }
}

struct Outcome {
    allocs_after_warmup: u64,
    places_after_warmup: u64,
    fills: u64,
}

/// Drives `EVENTS` book updates through `engine`; `tick` moves the clock
/// before each event (a no-op for the real clock).
fn drive<C: Clock>(engine: &mut Engine<RecordingVenue, C>, tick: impl Fn(&C), name: &str) -> Outcome {
    let journal_path = std::env::temp_dir().join(format!("odex-alloc-{name}-{}.journal", std::process::id()));
    let _ = std::fs::remove_file(&journal_path);
    let mut writer = JournalWriter::open(&journal_path, FsyncPolicy::Never).unwrap();
    let mut ex = Exchange {
        resting: Vec::with_capacity(1024),
        inbox: Vec::with_capacity(1024),
        reports: Vec::with_capacity(1024),
        not_found: Vec::with_capacity(1024),
        lost: Vec::with_capacity(1024),
        status: Vec::with_capacity(1024),
        next_id: 0,
        fills: 0,
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let tick_size = 1_000_000i64; // 0.01
    let mut mid_ticks: i64 = 5_000_000; // 50000.00
    let mut places_at_warmup = 0;
    counting::reset();

    for n in 0..EVENTS {
        if n == WARMUP {
            places_at_warmup = engine.venue().totals().0;
            counting::arm(true);
        }
        // random walk: mostly small moves, a drift regime every 50k events
        let r = rng.next();
        let drift = if (n / 50_000) % 2 == 0 { 1 } else { -1 };
        let step = (r % 7) as i64 - 3 + if r.is_multiple_of(11) { drift } else { 0 };
        mid_ticks = (mid_ticks + step).max(1000);
        tick(engine.clock());
        let top = BookTop {
            bid: Price::from_raw(mid_ticks * tick_size),
            bid_qty: Qty::from_raw(((r >> 20) % 500 + 1) as i64 * 1_000_000),
            ask: Price::from_raw((mid_ticks + 1) * tick_size),
            ask_qty: Qty::from_raw(((r >> 40) % 500 + 1) as i64 * 1_000_000),
        };
        let ev = MarketEvent {
            recv: engine.clock().monotonic(),
            exchange_time: None,
            data: MarketData::Book(BookUpdate { symbol: SymbolId(0), update_id: n, top }),
        };
        engine.on_market(&ev);
        if n % 2 == 0 {
            // as `odex run` after the write; odd events record the waiting
            // values on the path instead (a backtest never flushes)
            engine.flush_timings();
        }
        ex.inbox.extend(engine.venue_mut().drain());
        ex.handle(&top);
        for r in ex.reports.drain(..) {
            engine.on_execution(&r);
        }
        for (sym, id) in ex.not_found.drain(..) {
            engine.on_request_failed(sym, &id, RequestKind::Query, false);
        }
        for (sym, id) in ex.lost.drain(..) {
            engine.on_request_failed(sym, &id, RequestKind::Place, true);
        }
        for r in ex.status.drain(..) {
            engine.on_order_status(&r);
        }
        // the kill switch for a while: cancel everything, flatten, resume
        if n == EVENTS / 2 {
            engine.risk().kill_switch().trigger();
        }
        if n == EVENTS / 2 + 20_000 {
            engine.risk().kill_switch().reset();
        }
        if n % 100 == 0 {
            engine.on_idle();
        }
        if n % 1000 == 999 {
            engine.flush_journal(&mut writer).unwrap();
        }
    }
    counting::arm(false);
    let allocs_after_warmup = counting::count();

    let (places, cancels, queries) = engine.venue().totals();
    let c = engine.orders().counters();
    println!(
        "[{name}] events {EVENTS}, places {places} ({} after warm-up), cancels {cancels}, queries {queries}, fills {}, allocations after warm-up {allocs_after_warmup}",
        places - places_at_warmup,
        ex.fills
    );
    println!("[{name}] order manager: {c:?}");
    println!("[{name}] refusals: {:?}", engine.risk().refusals().iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>());
    let pf = engine.portfolio();
    println!(
        "[{name}] position {:?}, realised {}, fees {}, high water {}, breaker {:?}, journal records {}, bytes {}",
        pf.position(SymbolId(0)).qty,
        pf.realised(),
        pf.fees(),
        pf.high_water(),
        engine.risk().breaker(),
        engine.journal().pushed(),
        writer.written()
    );
    println!("[{name}] stage timings (engine clock):\n{}", engine.timings().summary());
    std::fs::remove_file(&journal_path).ok();
    assert_eq!(engine.counters().illegal_reports, 0);
    assert_eq!(engine.counters().journal_dropped, 0);
    assert_eq!(engine.venue().overflow(), 0);
    Outcome { allocs_after_warmup, places_after_warmup: places - places_at_warmup, fills: ex.fills }
}

fn config() -> (odex_runtime::config::Config, odex_shared::model_file::ModelFile, SymbolFilters) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(dir.join("paper.toml")).unwrap();
    // the golden model's forecast barely moves on a random walk; a tight
    // volatility target makes the position follow the volatility instead,
    // and a quicker order rate keeps the engine trading
    let text = text
        .replace("vol_target = 0.02", "vol_target = 0.0005")
        .replace("max_orders_per_sec = 5.0", "max_orders_per_sec = 20.0");
    let cfg = RawConfig::parse(&text).unwrap().validate(Some(&dir)).unwrap();
    let model = cfg.load_model().unwrap();
    let filters = SymbolFilters::tick_step(Price::parse("0.01").unwrap(), Qty::parse("0.00001").unwrap());
    (cfg, model, filters)
}

#[test]
fn one_million_events_allocate_nothing_after_warmup() {
    let (cfg, model, filters) = config();
    let clock = SimClock::new(Nanos(1_700_000_000_000_000_000));
    let mut engine =
        Engine::new(&cfg, &model, &[filters], "odx-a-", KillSwitch::new(), RecordingVenue::new(256), clock).unwrap();
    // 1 ms between events: 1,000 s of simulated trading
    let out = drive(&mut engine, |c| c.advance(Nanos(1_000_000)), "sim-clock");
    assert_eq!(out.allocs_after_warmup, 0, "the hot path allocated");
    assert!(out.places_after_warmup >= 300, "too few orders after warm-up: {}", out.places_after_warmup);
    assert!(out.fills >= 100, "too few fills: {}", out.fills);
    let c = engine.orders().counters();
    assert!(c.unknown > 0 && c.queries > 0, "the unknown-order path was not exercised: {c:?}");
    assert!(engine.risk().refusals().get(odex_runtime::engine::Refusal::KillSwitch) > 0 || c.cancels > 0);
}

/// The same run on the machine's clock: the stage histograms then hold
/// real durations (printed; run with `--release --nocapture` for figures).
/// Fewer orders pass the rate limits here, since the run takes seconds.
#[test]
fn one_million_events_on_the_real_clock_allocate_nothing() {
    let (cfg, model, filters) = config();
    let mut engine = Engine::new(
        &cfg,
        &model,
        &[filters],
        "odx-b-",
        KillSwitch::new(),
        RecordingVenue::new(256),
        SystemClock::new(),
    )
    .unwrap();
    let out = drive(&mut engine, |_| {}, "real-clock");
    assert_eq!(out.allocs_after_warmup, 0, "the hot path allocated");
    assert!(out.places_after_warmup > 0);
    let mut count = |s| engine.timings().get(s).map_or(0, |h| h.len());
    assert_eq!((count(Stage::Features), count(Stage::Integrate), count(Stage::Total)), (EVENTS, EVENTS, EVENTS));
    // the hand-off is timed once per event that sent something, never more
    assert!(count(Stage::EncodeSign) > 0 && count(Stage::EncodeSign) <= EVENTS);
    assert_eq!(count(Stage::Decode), 0, "decode is the event loop's to time");
}
