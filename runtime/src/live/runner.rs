//! `odex run`: the trading loop of live and paper modes.
//!
//! One thread, one `mio` poller: the market-stream connection, the
//! WebSocket API connection and the metrics endpoint. Per market frame:
//! decode -> engine (features, model, sizing, risk, orders) -> venue. In
//! live mode the venue encodes and signs requests into an outbox; after
//! each poll the journal is written ahead and the outbox goes on the wire.
//! In paper mode the venue model of the backtester fills the orders.
//!
//! Start-up: connect, sync the clock (`time`), read the symbols' filters
//! (`exchangeInfo`), and in live mode log on (Ed25519), subscribe to the
//! user data stream, read `account.status` and `openOrders.status`; then
//! build the engine, replay the journal and reconcile with the exchange.
//! SIGINT / SIGTERM: stop trading, cancel open orders (per config), flush
//! the journal, print the summary, exit 0.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use odex_shared::market::{Amount, Nanos, Qty};
use odex_shared::model_file::ModelFile;

use crate::alloc_count;
use crate::binance::keys::{KeySource, load_signer};
use crate::binance::market_data::{MarketEvent as WireMarket, MarketFrame};
use crate::binance::request::Request;
use crate::binance::sign::SignatureKind;
use crate::binance::ws_api::{ApiFrame, ApiResponse, ResponseId, UserEvent};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigErrors, KeyKind, Mode, SecretSource, UnknownOrders, check_config};
use crate::engine::{
    Balance, BreakerState, Engine, JournalRecord, JournalWriter, KillSwitch, RequestKind, Stage, Venue, recover,
    run_prefix,
};
use crate::filters::SymbolFilters;
use crate::net::{
    ClockSync, ConnEvent, ConnId, ConnSpec, ConnStats, EventLoop, FrameSink, MessageKind, NetConfig, TimeSample,
};
use crate::order::{ClientOrderId, ExecutionReport, OrderRequest, OrderType, SymbolId, TimeInForce};
use crate::venue::DepthBook;

use super::metrics::{Ask, ConnSnapshot, MetricsServer, Snapshot};
use super::paper::{self, PaperVenue};
use super::wire::{self, SymbolTable};
use super::ws_venue::{Credentials, ORDER_ID_BASE, Pending, WsApiVenue};

/// What `odex run` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The TOML config.
    pub config: PathBuf,
    /// Stop by itself after this long (as on SIGTERM).
    pub duration: Option<Duration>,
    /// Poll without sleeping (a core spins; lowest latency on a dedicated core).
    pub busy_poll: bool,
    /// Also write the summary as JSON here.
    pub summary_json: Option<PathBuf>,
    /// Print a progress line this often.
    pub progress_every: Option<Duration>,
    /// Latency probe: every market event causes one order (see `Engine::set_probe`).
    pub latency_probe: bool,
}

/// Why `odex run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config has problems (nothing was connected).
    #[error("{0}")]
    Config(ConfigErrors),
    /// Model, keys, journal or metrics port (nothing was connected).
    #[error("{0}")]
    Setup(String),
    /// Start-up with the exchange failed, or the loop failed.
    #[error("{0}")]
    Runtime(String),
}

impl RunError {
    /// The process exit code: 2 for a bad config, 1 otherwise.
    pub const fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) => 2,
            Self::Setup(_) | Self::Runtime(_) => 1,
        }
    }
}

/// What a run did, printed on exit.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// `live` or `paper`.
    pub mode: String,
    /// Seconds trading.
    pub seconds: f64,
    /// Market events handled.
    pub market_events: u64,
    /// `order.place` sent.
    pub orders: u64,
    /// `order.cancel` sent.
    pub cancels: u64,
    /// Fills booked.
    pub fills: u64,
    /// Orders the exchange refused.
    pub rejects: u64,
    /// Requests whose outcome was unknown (5xx or time-out), resolved by `order.status`.
    pub unknown_outcomes: u64,
    /// Intents the risk layer refused.
    pub refusals: u64,
    /// The refusals by reason.
    pub refusals_by_reason: Vec<(String, u64)>,
    /// Cancels that lost the race with the order's fill or end (`-2011`).
    pub cancel_races: u64,
    /// Requests not sent: frames not written (API connection down) and
    /// failed intents that did not fit the queue back to the engine (each
    /// order is then resolved by its time-out and `order.status`).
    pub send_failures: u64,
    /// Paper venue reports dropped because its queue was full (their
    /// orders were then resolved by time-out and query).
    pub paper_events_lost: u64,
    /// L2 books given to the paper venue (`paper.depth_levels`).
    pub paper_depth_updates: u64,
    /// Realised PnL before fees, quote.
    pub realised_pnl: String,
    /// Unrealised PnL, quote.
    pub unrealised_pnl: String,
    /// Fees, quote.
    pub fees: String,
    /// Equity at exit, quote.
    pub equity: String,
    /// Position per symbol at exit.
    pub positions: Vec<(String, String)>,
    /// Open orders at exit.
    pub open_orders: u64,
    /// Their client order ids.
    pub open_order_ids: Vec<String>,
    /// Tick-to-order samples.
    pub tick_to_order_count: u64,
    /// Tick-to-order p50, ns.
    pub tick_to_order_p50_ns: u64,
    /// Tick-to-order p99, ns.
    pub tick_to_order_p99_ns: u64,
    /// Tick-to-order p99.9, ns.
    pub tick_to_order_p999_ns: u64,
    /// Tick-to-order max, ns.
    pub tick_to_order_max_ns: u64,
    /// Allocations on the hot path after warm-up (`None`: not counted,
    /// the binary does not use the counting allocator).
    pub hot_path_allocations: Option<u64>,
    /// Journal file.
    pub journal: String,
    /// Journal records replayed at start.
    pub journal_replayed: u64,
    /// Start-up discrepancies with the exchange.
    pub discrepancies: Vec<String>,
    /// Peak resident memory, KiB (Linux).
    pub peak_rss_kib: Option<u64>,
    /// Stage timings, as text.
    pub stages: String,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |ns: u64| ns as f64 / 1e3;
        writeln!(f, "odex run summary ({} mode, {:.1} s)", self.mode, self.seconds)?;
        writeln!(
            f,
            "  PnL: realised {} unrealised {} fees {} -> equity {}",
            self.realised_pnl, self.unrealised_pnl, self.fees, self.equity
        )?;
        for (s, q) in &self.positions {
            writeln!(f, "  position {s}: {q}")?;
        }
        writeln!(
            f,
            "  market events {}, orders {}, cancels {}, fills {}, rejects {}, risk refusals {}, open at exit {}",
            self.market_events, self.orders, self.cancels, self.fills, self.rejects, self.refusals, self.open_orders
        )?;
        if !self.refusals_by_reason.is_empty() {
            let parts: Vec<String> = self.refusals_by_reason.iter().map(|(r, n)| format!("{r} {n}")).collect();
            writeln!(f, "  risk refusals by reason: {}", parts.join(", "))?;
        }
        if self.paper_depth_updates > 0 {
            writeln!(f, "  paper venue matched against {} L2 book updates", self.paper_depth_updates)?;
        }
        if self.cancel_races + self.send_failures + self.paper_events_lost > 0 {
            writeln!(
                f,
                "  cancels that crossed a fill (-2011): {}, frames not sent (API down): {}, paper reports lost: {}",
                self.cancel_races, self.send_failures, self.paper_events_lost
            )?;
        }
        writeln!(
            f,
            "  tick-to-order ({} orders): p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
            self.tick_to_order_count,
            us(self.tick_to_order_p50_ns),
            us(self.tick_to_order_p99_ns),
            us(self.tick_to_order_p999_ns),
            us(self.tick_to_order_max_ns)
        )?;
        match self.hot_path_allocations {
            Some(n) => writeln!(f, "  hot-path allocations after warm-up: {n}")?,
            None => writeln!(f, "  hot-path allocations: not counted")?,
        }
        if let Some(kib) = self.peak_rss_kib {
            writeln!(f, "  peak resident memory: {:.1} MiB", kib as f64 / 1024.0)?;
        }
        writeln!(f, "  journal: {} ({} records replayed at start)", self.journal, self.journal_replayed)?;
        for d in &self.discrepancies {
            writeln!(f, "  start-up discrepancy: {d}")?;
        }
        write!(f, "{}", self.stages)
    }
}

/// The engine's venue in either mode.
#[derive(Debug)]
pub enum ExecVenue {
    /// Orders over the WebSocket API.
    Live(WsApiVenue),
    /// Orders filled by the venue model; `ctl` carries the public start-up
    /// requests.
    Paper {
        /// The venue model (boxed: far larger than the live venue).
        paper: Box<PaperVenue>,
        /// Public requests (time sync).
        ctl: WsApiVenue,
    },
}

impl ExecVenue {
    fn ws(&mut self) -> &mut WsApiVenue {
        match self {
            Self::Live(v) | Self::Paper { ctl: v, .. } => v,
        }
    }
}

impl Venue for ExecVenue {
    #[inline]
    fn place(&mut self, req: &OrderRequest) {
        match self {
            Self::Live(v) => v.place(req),
            Self::Paper { paper, .. } => paper.place(req),
        }
    }

    #[inline]
    fn cancel(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        match self {
            Self::Live(v) => v.cancel(symbol, client_id),
            Self::Paper { paper, .. } => paper.cancel(symbol, client_id),
        }
    }

    #[inline]
    fn query(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        match self {
            Self::Live(v) => v.query(symbol, client_id),
            Self::Paper { paper, .. } => paper.query(symbol, client_id),
        }
    }
}

// Runner request tags.
const TAG_TIME: u32 = 1;
const TAG_LOGON: u32 = 2;
const TAG_SUBSCRIBE: u32 = 3;
const TAG_ACCOUNT: u32 = 4;
const TAG_OPEN_ORDERS: u32 = 5;
const TAG_CANCEL_UNKNOWN: u32 = 6;
const TAG_RECONCILE: u32 = 7;
const TAG_EXCHANGE_INFO: u32 = 100; // + symbol index

/// Market events before the allocation count starts (first connections,
/// first orders and histogram buckets warm up).
const WARMUP_EVENTS: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Starting,
    Trading,
    Stopping,
}

/// What start-up gathers before the engine can be built.
#[derive(Debug, Default)]
struct Startup {
    filters: Vec<Option<SymbolFilters>>,
    account: Option<Vec<Balance>>,
    open_orders: Option<Vec<(OrderRequest, ExecutionReport)>>,
    logged_on: bool,
    subscribed: bool,
    clock_synced: bool,
    private_sent: bool,
    problems: Vec<String>,
}

#[derive(Debug, Default)]
struct Counters {
    md_decode_errors: u64,
    api_decode_errors: u64,
    rejects: u64,
    dropped_before_start: u64,
    send_failures: u64,
    logged_errors: u64,
    cancel_races: u64,
    depth_updates: u64,
}

/// Levels kept of each paper L2 book: the largest partial depth stream.
const DEPTH_BOOK_LEVELS: usize = 20;

struct Trader {
    cfg: Config,
    model: ModelFile,
    symbols: SymbolTable,
    md: ConnId,
    api: ConnId,
    clock: SystemClock,
    phase: Phase,
    engine: Option<Engine<ExecVenue, SystemClock>>,
    ctl: Option<WsApiVenue>,
    startup: Startup,
    next_control: u64,
    replay: Vec<JournalRecord>,
    kill: KillSwitch,
    counters: Counters,
    md_up: bool,
    api_up: bool,
    /// The market stream URL is a combined stream (`/stream`).
    combined_stream: bool,
    /// Paper mode with `paper.depth_levels`: each symbol's L2 book, from
    /// the partial depth streams, for the venue model to match against.
    depth: Vec<DepthBook>,
    /// Connection counters as of the last poll.
    md_stats: ConnStats,
    api_stats: ConnStats,
    /// Receipt time of the oldest tick whose orders wait for the wire.
    tick_t0: Option<Nanos>,
    t2o: Histogram<u64>,
    clock_sync: ClockSync,
    time_sent_wall: Nanos,
    rate: heapless::Vec<crate::engine::RateLimit, 8>,
    metrics: Option<MetricsServer>,
    registry: mio::Registry,
    metrics_text: String,
    hot_allocs: u64,
    discrepancies: Vec<String>,
    key_kind: Option<KeyKind>,
    /// Orders queried at start-up whose answers are awaited.
    startup_queries: Vec<ClientOrderId>,
    /// When set: compare balances once the start-up queries are answered
    /// or at this monotonic time (ns).
    balance_check: Option<u64>,
}

fn log(msg: std::fmt::Arguments<'_>) {
    eprintln!("odex: {msg}");
}

impl Trader {
    fn ws(&mut self) -> Option<&mut WsApiVenue> {
        match self.engine.as_mut() {
            Some(e) => Some(e.venue_mut().ws()),
            None => self.ctl.as_mut(),
        }
    }

    fn control(&mut self, req: &Request<'_>, tag: u32) {
        self.next_control += 1;
        let id = self.next_control;
        let failed = self.ws().map(|v| v.control(id, req, tag));
        if let Some(Err(e)) = failed {
            self.startup.problems.push(format!("{} could not be encoded: {e}", req.method()));
        }
    }

    fn send_time(&mut self) {
        self.time_sent_wall = self.clock.wall();
        self.control(&Request::Time, TAG_TIME);
    }

    /// The WebSocket API connection opened: start-up requests, or the
    /// session and subscription again after a reconnect.
    fn on_api_open(&mut self) {
        self.send_time();
        let live = self.cfg.mode == Mode::Live;
        if self.phase == Phase::Starting {
            let names: Vec<String> = self.symbols.names().to_vec();
            for (i, name) in names.iter().enumerate() {
                let tag = TAG_EXCHANGE_INFO + u32::try_from(i).unwrap_or(0);
                self.control(&Request::ExchangeInfo { symbol: Some(name) }, tag);
            }
        }
        if live {
            if let Some(v) = self.ws() {
                v.set_session(false);
            }
            self.startup.logged_on = false;
            self.startup.subscribed = false;
            self.startup.private_sent = false;
            if self.key_kind == Some(KeyKind::Ed25519) {
                self.control(&Request::SessionLogon, TAG_LOGON);
            } else {
                self.send_private();
            }
        }
    }

    /// Private start-up requests: after `session.logon` with Ed25519 keys,
    /// at once with HMAC keys.
    fn send_private(&mut self) {
        if self.startup.private_sent {
            return;
        }
        self.startup.private_sent = true;
        let subscribe = if self.key_kind == Some(KeyKind::Ed25519) {
            Request::UserDataStreamSubscribe
        } else {
            Request::UserDataStreamSubscribeSignature
        };
        self.control(&subscribe, TAG_SUBSCRIBE);
        if self.phase == Phase::Starting {
            self.control(&Request::AccountStatus { omit_zero_balances: true }, TAG_ACCOUNT);
            self.control(&Request::OpenOrdersStatus { symbol: None }, TAG_OPEN_ORDERS);
        }
    }

    fn ready(&self) -> bool {
        let s = &self.startup;
        let filters = !s.filters.is_empty() && s.filters.iter().all(Option::is_some);
        match self.cfg.mode {
            Mode::Paper => filters && s.clock_synced,
            Mode::Live => filters && s.clock_synced && s.subscribed && s.account.is_some() && s.open_orders.is_some(),
        }
    }

    fn on_control(&mut self, tag: u32, resp: &ApiResponse<'_>) {
        if !resp.is_ok() {
            let (code, msg) = resp.error.as_ref().map_or((0, ""), |e| (e.code, e.msg.as_str().unwrap_or("")));
            let what = match tag {
                TAG_TIME => "time",
                TAG_LOGON => "session.logon",
                TAG_SUBSCRIBE => "userDataStream.subscribe",
                TAG_ACCOUNT => "account.status",
                TAG_OPEN_ORDERS => "openOrders.status",
                TAG_CANCEL_UNKNOWN => "order.cancel (unknown order)",
                TAG_RECONCILE => "account.status (reconciliation)",
                _ => "exchangeInfo",
            };
            let line = format!("{what} refused: {} {code} {msg}", resp.status);
            log(format_args!("{line}"));
            if self.phase == Phase::Starting {
                self.startup.problems.push(line);
            }
            return;
        }
        match tag {
            TAG_TIME => {
                let Ok(server_ms) = resp.server_time_ms() else { return };
                let sample = TimeSample {
                    sent: self.time_sent_wall,
                    server: Nanos(server_ms.saturating_mul(1_000_000)),
                    received: self.clock.wall(),
                };
                if let Some(off) = self.clock_sync.add_sample(sample) {
                    if let Some(v) = self.ws() {
                        v.set_clock_offset(off.offset_ns);
                    }
                    self.startup.clock_synced = true;
                }
            }
            TAG_LOGON => {
                if let Some(v) = self.ws() {
                    v.set_session(true);
                }
                self.startup.logged_on = true;
                self.send_private();
            }
            TAG_SUBSCRIBE => self.startup.subscribed = true,
            TAG_ACCOUNT => self.startup.account = Some(balances(resp)),
            TAG_RECONCILE => self.on_reconcile(&balances(resp)),
            TAG_OPEN_ORDERS => {
                let mut orders = Vec::new();
                if let Ok(iter) = resp.orders() {
                    for o in iter.flatten() {
                        if let (Some(r), Some(req)) =
                            (wire::order_result_report(&o, &self.symbols), open_request(&o, &self.symbols))
                        {
                            orders.push((req, r));
                        }
                    }
                }
                self.startup.open_orders = Some(orders);
            }
            TAG_CANCEL_UNKNOWN => {}
            t if t >= TAG_EXCHANGE_INFO => {
                let i = (t - TAG_EXCHANGE_INFO) as usize;
                let text = resp.result.map(|r| String::from_utf8_lossy(r.bytes).into_owned()).unwrap_or_default();
                match crate::binance::exchange_info::parse_exchange_info(&text) {
                    Ok(infos) => {
                        let name = self.symbols.name(SymbolId(u16::try_from(i).unwrap_or(0))).unwrap_or("");
                        match infos.iter().find(|s| s.symbol == name) {
                            Some(info) => {
                                if let Some(slot) = self.startup.filters.get_mut(i) {
                                    *slot = Some(info.filters);
                                }
                                if info.status != "TRADING" {
                                    log(format_args!("{name} status is {} (orders will be refused)", info.status));
                                }
                            }
                            None => self.startup.problems.push(format!("exchangeInfo does not list {name}")),
                        }
                    }
                    Err(e) => self.startup.problems.push(format!("exchangeInfo: {e}")),
                }
            }
            _ => {}
        }
    }

    /// Builds the engine once start-up has what it needs; replays the
    /// journal and reconciles with the exchange.
    fn start_trading(&mut self) -> Result<(), RunError> {
        let filters: Vec<SymbolFilters> = self.startup.filters.iter().map(|f| f.unwrap_or_default()).collect();
        let Some(ctl) = self.ctl.take() else { return Err(RunError::Runtime("venue missing".into())) };
        let venue = match self.cfg.mode {
            Mode::Live => ExecVenue::Live(ctl),
            Mode::Paper => {
                let paper = PaperVenue::new(&self.symbols, &filters, self.cfg.risk.capital, &self.cfg.paper)
                    .map_err(|e| RunError::Runtime(format!("paper venue: {e}")))?;
                ExecVenue::Paper { paper: Box::new(paper), ctl }
            }
        };
        let prefix = run_prefix(&self.cfg.orders.client_id_prefix, self.clock.wall());
        let mut engine = Engine::new(&self.cfg, &self.model, &filters, &prefix, self.kill.clone(), venue, self.clock)
            .map_err(|e| RunError::Runtime(format!("engine: {e}")))?;
        engine.replay(&self.replay);
        if self.cfg.mode == Mode::Live {
            self.reconcile(&mut engine);
        }
        self.engine = Some(engine);
        self.phase = Phase::Trading;
        Ok(())
    }

    fn reconcile(&mut self, engine: &mut Engine<ExecVenue, SystemClock>) {
        let open = self.startup.open_orders.take().unwrap_or_default();
        for (req, state) in &open {
            if engine.orders().get(&req.client_id).is_some() {
                engine.on_order_status(state);
                continue;
            }
            let what = format!("open order {} on the exchange is not in the journal", req.client_id);
            match self.cfg.lifecycle.unknown_orders {
                UnknownOrders::Adopt => {
                    let ok = engine.adopt(req, state);
                    self.discrepancies.push(format!("{what}: {}", if ok { "adopted" } else { "tracker full" }));
                }
                UnknownOrders::Cancel => {
                    self.discrepancies.push(format!("{what}: cancelled"));
                    let name = self.symbols.name(req.symbol).unwrap_or("").to_string();
                    let order = crate::binance::request::OrderRef {
                        symbol: &name,
                        order_id: None,
                        orig_client_order_id: Some(req.client_id.as_str()),
                    };
                    self.next_control += 1;
                    let _ = engine.venue_mut().ws().control(
                        self.next_control,
                        &Request::OrderCancel { order, new_client_order_id: None },
                        TAG_CANCEL_UNKNOWN,
                    );
                }
            }
        }
        // orders the journal holds open but the exchange does not: ask
        let gone: Vec<(SymbolId, ClientOrderId)> = engine
            .orders()
            .open_orders()
            .filter(|o| !open.iter().any(|(r, _)| r.client_id == o.req.client_id))
            .map(|o| (o.req.symbol, o.req.client_id))
            .collect();
        for (symbol, id) in gone {
            engine.venue_mut().query(symbol, &id);
            self.startup_queries.push(id);
        }
        if let Some(balances) = self.startup.account.take() {
            let baseline = baseline_path(&self.cfg.journal.path);
            match read_baseline(&baseline) {
                Some(b) => {
                    // compared once the start-up queries have booked what
                    // the journal missed (see `check_balances`)
                    engine.portfolio_mut().set_baseline(&b);
                    self.balance_check = Some(self.clock.monotonic().0.saturating_add(5_000_000_000));
                }
                None => {
                    // first run on this journal: what the account holds now is the baseline
                    engine.portfolio_mut().set_baseline(&balances);
                    if let Err(e) = write_baseline(&baseline, &balances) {
                        log(format_args!("cannot write {}: {e}", baseline.display()));
                    }
                }
            }
        }
    }

    /// Once the start-up `order.status` answers are in (or 5 s passed),
    /// asks for the balances again to compare them with the journal's.
    fn check_balances(&mut self, now: Nanos) {
        let Some(deadline) = self.balance_check else { return };
        if self.startup_queries.is_empty() || now.0 >= deadline {
            self.balance_check = None;
            self.control(&Request::AccountStatus { omit_zero_balances: true }, TAG_RECONCILE);
        }
    }

    fn on_reconcile(&mut self, balances: &[Balance]) {
        let Some(engine) = self.engine.as_ref() else { return };
        for d in engine.portfolio().reconcile(balances) {
            let line = format!(
                "{}: journal implies {}, exchange reports {} (difference {})",
                d.asset,
                d.expected,
                d.reported,
                d.difference()
            );
            log(format_args!("reconciliation: {line}"));
            self.discrepancies.push(line);
        }
    }

    fn on_market_frame(&mut self, payload: &[u8]) {
        let t0 = self.clock.monotonic();
        let mut stream = None;
        // combined streams (`/stream`) wrap each payload; raw ones (`/ws`) do not
        let decoded = if self.combined_stream {
            MarketFrame::decode(payload).map(|f| match f {
                MarketFrame::Event { event, stream: name } => {
                    stream = Some(name);
                    Some(event)
                }
                MarketFrame::ControlReply { .. } | MarketFrame::ServerShutdown(_) => None,
            })
        } else if payload.starts_with(b"{\"result\"") || payload.starts_with(b"{\"id\"") {
            Ok(None) // a SUBSCRIBE answer
        } else {
            WireMarket::decode_sniffed(payload).map(Some)
        };
        let event = match decoded {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                self.counters.md_decode_errors += 1;
                self.log_error(format_args!("market frame does not decode: {e}"));
                return;
            }
        };
        if let WireMarket::PartialDepth(d) = event {
            let name = stream.map(|s| s.as_bytes()).unwrap_or_default();
            self.on_depth(name, &d);
            return;
        }
        let Some(ev) = wire::market_event(&event, &self.symbols, t0) else { return };
        let Some(engine) = self.engine.as_mut() else {
            self.counters.dropped_before_start += 1;
            return;
        };
        if self.phase != Phase::Trading {
            return;
        }
        engine.record_stage(Stage::Decode, self.clock.monotonic().saturating_sub(t0).0);
        let placed = engine.orders().counters().placed;
        if let ExecVenue::Paper { paper, .. } = engine.venue_mut() {
            paper.on_market(&ev);
        }
        engine.on_market(&ev);
        if engine.orders().counters().placed > placed {
            match engine.venue() {
                // paper: the order reached the venue model
                ExecVenue::Paper { .. } => {
                    let dt = self.clock.monotonic().saturating_sub(t0).0;
                    let _ = self.t2o.record(dt.max(1));
                }
                ExecVenue::Live(_) => {
                    self.tick_t0.get_or_insert(t0);
                }
            }
        }
        self.drain_paper();
    }

    /// A partial depth snapshot (`<symbol>@depth<N>`): the symbol's L2 book
    /// for the paper venue to match against. The symbol comes from the
    /// stream name (the payload has none); a raw stream of one symbol is
    /// that symbol's.
    fn on_depth(&mut self, stream: &[u8], d: &crate::binance::PartialDepth<'_>) {
        let name = stream.split(|&b| b == b'@').next().unwrap_or_default();
        let symbol = match self.symbols.id(name) {
            Some(s) => s,
            None if self.symbols.len() == 1 => SymbolId(0),
            None => return,
        };
        let Some(book) = self.depth.get_mut(usize::from(symbol.0)) else { return };
        book.apply_snapshot(
            d.last_update_id,
            d.bids.iter().filter_map(Result::ok),
            d.asks.iter().filter_map(Result::ok),
        );
        if self.phase != Phase::Trading {
            return;
        }
        let Some(engine) = self.engine.as_mut() else { return };
        if let ExecVenue::Paper { paper, .. } = engine.venue_mut() {
            paper.on_depth(symbol, book);
            self.counters.depth_updates += 1;
        }
        self.drain_paper();
    }

    fn drain_paper(&mut self) {
        let Some(engine) = self.engine.as_mut() else { return };
        self.counters.rejects += paper::deliver(engine, |e| match e.venue_mut() {
            ExecVenue::Paper { paper, .. } => paper.pop(),
            ExecVenue::Live(_) => None,
        });
    }

    fn on_api_frame(&mut self, payload: &[u8]) {
        let frame = match ApiFrame::decode(payload) {
            Ok(f) => f,
            Err(e) => {
                self.counters.api_decode_errors += 1;
                self.log_error(format_args!("API frame does not decode: {e}"));
                return;
            }
        };
        match frame {
            ApiFrame::Response(resp) => {
                let id = match resp.id {
                    ResponseId::Int(id) => id,
                    _ => return,
                };
                if let Some(engine) = self.engine.as_mut() {
                    wire::rate_limits(&resp.rate_limits, &mut self.rate);
                    if !self.rate.is_empty() {
                        engine.on_rate_limits(&self.rate);
                    }
                }
                let pending = self.ws().and_then(|v| v.take_pending(id));
                match pending {
                    Some(Pending::Control(tag)) => self.on_control(tag, &resp),
                    Some(Pending::Order { kind, symbol, client_id }) => {
                        self.on_order_response(id, kind, symbol, &client_id, &resp);
                    }
                    None if id >= ORDER_ID_BASE => {
                        self.log_error(format_args!("response to unknown request id {id}"));
                    }
                    None => {}
                }
            }
            ApiFrame::Event { event: UserEvent::ExecutionReport(r), .. } => {
                let Some(report) = wire::execution_report(&r, &self.symbols) else { return };
                if let Some(engine) = self.engine.as_mut() {
                    engine.on_execution(&report);
                }
            }
            ApiFrame::Event { .. } | ApiFrame::ServerShutdown(_) => {}
        }
    }

    fn on_order_response(
        &mut self,
        id: u64,
        kind: RequestKind,
        symbol: SymbolId,
        client_id: &ClientOrderId,
        resp: &ApiResponse<'_>,
    ) {
        if kind == RequestKind::Query && !self.startup_queries.is_empty() {
            self.startup_queries.retain(|q| q != client_id);
        }
        let Some(engine) = self.engine.as_mut() else { return };
        if resp.is_ok() {
            if kind == RequestKind::Query
                && let Ok(o) = resp.order_result()
                && let Some(r) = wire::order_result_report(&o, &self.symbols)
            {
                engine.on_order_status(&r);
            }
            return;
        }
        let unknown = resp.outcome_unknown();
        if kind == RequestKind::Place && !unknown {
            self.counters.rejects += 1;
        }
        engine.on_request_failed(symbol, client_id, kind, unknown);
        if resp.error.as_ref().is_some_and(|e| e.code == -1021) {
            self.clock_sync.on_timestamp_rejected();
        }
        let (code, msg) = resp.error.as_ref().map_or((0, ""), |e| (e.code, e.msg.as_str().unwrap_or("")));
        if kind == RequestKind::Cancel && code == -2011 {
            // the order filled or ended before the cancel arrived: a race
            // every venue has, not an error (its final report follows)
            self.counters.cancel_races += 1;
            return;
        }
        self.log_error(format_args!("request {id} ({kind:?} {client_id}) refused: {} {code} {msg}", resp.status));
    }

    /// Logs the first hundred errors, then every thousandth.
    fn log_error(&mut self, msg: std::fmt::Arguments<'_>) {
        self.counters.logged_errors += 1;
        let n = self.counters.logged_errors;
        if n <= 100 || n.is_multiple_of(1000) {
            log(msg);
        }
    }

    fn snapshot(&mut self) -> Snapshot {
        let mut s = Snapshot { mode: mode_name(self.cfg.mode), ..Snapshot::default() };
        s.conns = vec![
            ConnSnapshot {
                name: "market",
                up: self.md_up,
                reconnects: 0,
                decode_errors: self.counters.md_decode_errors,
            },
            ConnSnapshot {
                name: "api",
                up: self.api_up,
                reconnects: 0,
                decode_errors: self.counters.api_decode_errors,
            },
        ];
        s.rejects = self.counters.rejects;
        s.hot_path_allocations = self.hot_allocs;
        s.killed = self.kill.is_triggered();
        for q in [0.5, 0.99, 0.999] {
            s.tick_to_order.push((q, self.t2o.value_at_quantile(q) as f64 / 1e9));
        }
        let Some(engine) = self.engine.as_mut() else { return s };
        let c = engine.orders().counters();
        s.orders = [c.placed, c.cancels, c.queries];
        s.fills = c.fills;
        s.market_events = engine.counters().events;
        s.journal_dropped = engine.counters().journal_dropped;
        s.open_orders = engine.orders().open_count() as u64;
        s.refusals = engine.risk().refusals().iter().map(|(r, n)| (r.as_str(), n)).collect();
        s.breaker = match engine.risk().breaker() {
            BreakerState::Normal => 0,
            BreakerState::ReducingOnly => 1,
            BreakerState::Halted => 2,
        };
        s.drawdown_bps = engine.risk().drawdown_bps();
        for (i, name) in self.symbols.names().iter().enumerate() {
            let id = SymbolId(u16::try_from(i).unwrap_or(0));
            s.positions.push((name.clone(), engine.portfolio().position(id).qty.to_f64()));
            if let Some(age) = engine.data_age(id) {
                s.data_age.push((name.clone(), age.0 as f64 / 1e9));
            }
        }
        let pf = engine.portfolio_mut();
        s.equity = pf.equity().to_f64();
        s.realised = pf.realised().to_f64();
        s.unrealised = pf.unrealised().to_f64();
        s.fees = pf.fees().to_f64();
        for (stage, h) in engine.timings().stages() {
            for q in [0.5, 0.99, 0.999] {
                s.stages.push((stage, q, h.value_at_quantile(q) as f64 / 1e9));
            }
        }
        s
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Live => "live",
        Mode::Paper => "paper",
    }
}

/// `account.status` balances (cold path: serde).
fn balances(resp: &ApiResponse<'_>) -> Vec<Balance> {
    #[derive(serde::Deserialize)]
    struct B {
        asset: String,
        free: String,
        locked: String,
    }
    #[derive(serde::Deserialize)]
    struct A {
        balances: Vec<B>,
    }
    let Some(raw) = resp.result else { return Vec::new() };
    let Ok(a) = serde_json::from_slice::<A>(raw.bytes) else { return Vec::new() };
    a.balances
        .into_iter()
        .filter_map(|b| {
            let free = Amount::parse(&b.free).ok()?;
            let locked = Amount::parse(&b.locked).ok()?;
            Some(Balance { asset: b.asset, total: free.saturating_add(locked) })
        })
        .collect()
}

/// The request an open order stands for (to adopt it).
fn open_request(o: &crate::binance::ws_api::OrderResult<'_>, symbols: &SymbolTable) -> Option<OrderRequest> {
    let kind = o.order_type.and_then(|t| OrderType::from_wire(t.as_bytes()))?;
    Some(OrderRequest {
        symbol: symbols.id(o.symbol.as_bytes())?,
        client_id: ClientOrderId::new(o.client_order_id.as_bytes()).ok()?,
        side: o.side?,
        kind,
        time_in_force: o.time_in_force.and_then(|t| TimeInForce::from_wire(t.as_bytes())),
        price: o.price.filter(|p| p.is_positive()),
        qty: o.orig_qty?,
    })
}

fn baseline_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".baseline.json");
    PathBuf::from(p)
}

fn read_baseline(path: &Path) -> Option<Vec<Balance>> {
    let text = std::fs::read_to_string(path).ok()?;
    let rows: Vec<(String, String)> = serde_json::from_str(&text).ok()?;
    rows.into_iter().map(|(asset, total)| Some(Balance { asset, total: Amount::parse(&total).ok()? })).collect()
}

fn write_baseline(path: &Path, balances: &[Balance]) -> std::io::Result<()> {
    let rows: Vec<(String, String)> = balances.iter().map(|b| (b.asset.clone(), b.total.to_string())).collect();
    let text = serde_json::to_string_pretty(&rows).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

impl FrameSink for Trader {
    fn on_message(&mut self, conn: ConnId, _kind: MessageKind, payload: &[u8]) {
        let counting = self.engine.as_ref().is_some_and(|e| e.counters().events >= WARMUP_EVENTS);
        let before = alloc_count::count();
        if counting {
            alloc_count::arm(true);
        }
        if conn == self.md {
            self.on_market_frame(payload);
        } else if conn == self.api {
            self.on_api_frame(payload);
        }
        if counting {
            alloc_count::arm(false);
            self.hot_allocs += alloc_count::count() - before;
        }
    }

    fn on_event(&mut self, conn: ConnId, event: ConnEvent) {
        let up = matches!(event, ConnEvent::Opened | ConnEvent::Rotating | ConnEvent::Rotated);
        let down = matches!(event, ConnEvent::Closed(_) | ConnEvent::Reconnecting { .. });
        if conn == self.md {
            self.md_up = (self.md_up || up) && !down;
        } else if conn == self.api {
            self.api_up = (self.api_up || up) && !down;
        }
        if !matches!(event, ConnEvent::Rotating | ConnEvent::Rotated) {
            let name = if conn == self.md { "market stream" } else { "WebSocket API" };
            log(format_args!("{name}: {event:?}"));
        }
        if conn == self.api && matches!(event, ConnEvent::Opened) {
            self.on_api_open();
        }
    }

    fn on_io(&mut self, token: mio::Token, _readable: bool, _writable: bool) {
        if !MetricsServer::owns(token) {
            return;
        }
        let Some(mut server) = self.metrics.take() else { return };
        let Ok(registry) = self.registry.try_clone() else {
            self.metrics = Some(server);
            return;
        };
        server.on_ready(token, &registry, |ask| match ask {
            Ask::Metrics => {
                let snap = self.snapshot();
                snap.render(&mut self.metrics_text);
                self.metrics_text.clone()
            }
            Ask::Kill => {
                self.kill.trigger();
                log(format_args!("kill switch triggered by POST /kill"));
                "kill switch on\n".to_string()
            }
        });
        self.metrics = Some(server);
    }
}

fn credentials(cfg: &Config) -> Result<(Credentials, Option<KeyKind>), RunError> {
    let Some(keys) = cfg.keys.as_ref().filter(|_| cfg.mode == Mode::Live) else {
        return Ok((Credentials::None, None));
    };
    let api_key = std::env::var(&keys.api_key_env).map_err(|_| {
        RunError::Setup(format!("keys.api_key_env: environment variable {} is not set", keys.api_key_env))
    })?;
    let source = match &keys.secret {
        SecretSource::Env(v) => KeySource::Env(v.clone()),
        SecretSource::File(p) => KeySource::File(p.clone()),
    };
    let kind = match keys.kind {
        KeyKind::Hmac => SignatureKind::Hmac,
        KeyKind::Ed25519 => SignatureKind::Ed25519,
    };
    let api_key = api_key.trim().to_string();
    let signer = load_signer(kind, &source).map_err(|e| RunError::Setup(format!("keys: {e}")))?.for_api_key(&api_key);
    Ok((Credentials::Signed { api_key, signer: Box::new(signer) }, Some(keys.kind)))
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `odex run` until SIGINT / SIGTERM or the duration; returns the
/// summary it printed.
///
/// # Errors
/// [`RunError`]: a bad config, model, key, journal or metrics address
/// (before any connection), or a start-up the exchange did not complete.
pub fn run(opts: &RunOptions) -> Result<RunSummary, RunError> {
    let cfg = check_config(&opts.config).map_err(RunError::Config)?;
    let model = cfg.load_model().map_err(|e| RunError::Setup(format!("model.file: {e}")))?;
    let (creds, key_kind) = credentials(&cfg)?;
    let recovery = recover(&cfg.journal.path).map_err(|e| RunError::Setup(format!("journal.path: {e}")))?;
    if let Some(stop) = recovery.stop {
        log(format_args!(
            "journal {}: stopped at byte {} ({stop:?}); the tail was truncated",
            cfg.journal.path.display(),
            recovery.valid_len
        ));
    }
    let mut writer = JournalWriter::open(&cfg.journal.path, cfg.journal.fsync)
        .map_err(|e| RunError::Setup(format!("journal.path: {e}")))?;
    let quote = cfg.symbols.first().map_or("", |s| s.quote.as_str()).to_string();
    let symbols = SymbolTable::new(cfg.symbols.iter().map(|s| (s.name.as_str(), s.base.as_str())), &quote);

    let net_cfg = NetConfig {
        allow_plain_loopback: cfg.endpoints.allow_plain_loopback,
        extra_ca_pem: cfg.endpoints.extra_ca_file.clone(),
        read_chunk: cfg.runtime.read_buffer_bytes,
        write_buffer: cfg.runtime.write_buffer_bytes.max(64 * 1024),
        max_message: 1 << 20,
        ..NetConfig::default()
    };
    let mut net = EventLoop::new(net_cfg).map_err(|e| RunError::Setup(format!("endpoints: {e}")))?;
    let mut streams: Vec<String> =
        symbols.names().iter().map(|n| format!("\"{}@bookTicker\"", n.to_lowercase())).collect();
    if cfg.mode == Mode::Paper && cfg.paper.depth_levels > 0 {
        let n = cfg.paper.depth_levels;
        streams.extend(symbols.names().iter().map(|s| format!("\"{}@depth{n}@100ms\"", s.to_lowercase())));
    }
    let subscribe = format!(r#"{{"method":"SUBSCRIBE","params":[{}],"id":1}}"#, streams.join(","));
    let md = net
        .add_connection(ConnSpec {
            url: cfg.endpoints.market_stream.clone(),
            subscriptions: vec![subscribe.into_bytes()],
        })
        .map_err(|e| RunError::Setup(format!("endpoints.market_stream: {e}")))?;
    let api = net
        .add_connection(ConnSpec { url: cfg.endpoints.ws_api.clone(), subscriptions: vec![] })
        .map_err(|e| RunError::Setup(format!("endpoints.ws_api: {e}")))?;
    let metrics = MetricsServer::bind(cfg.metrics_listen, net.registry())
        .map_err(|e| RunError::Setup(format!("metrics.listen: {}: {e}", cfg.metrics_listen)))?;
    let registry = net.registry().try_clone().map_err(|e| RunError::Setup(format!("poller: {e}")))?;
    log(format_args!(
        "{} mode, {} symbol(s), model {} ({} kernel), metrics on http://{}/metrics, journal {} ({} records)",
        mode_name(cfg.mode),
        symbols.len(),
        cfg.model_file.display(),
        odex_shared::model::kernel_name(),
        metrics.local_addr(),
        cfg.journal.path.display(),
        recovery.records.len()
    ));

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(|e| RunError::Setup(format!("signals: {e}")))?;
    }

    let n_symbols = symbols.len();
    let journal_replayed = recovery.records.len() as u64;
    let clock = SystemClock::new();
    let ctl = WsApiVenue::new(symbols.clone(), creds, 256, 4096);
    let mut t = Trader {
        startup: Startup { filters: vec![None; n_symbols], ..Startup::default() },
        model,
        symbols,
        md,
        api,
        clock,
        phase: Phase::Starting,
        engine: None,
        ctl: Some(ctl),
        next_control: 0,
        replay: recovery.records,
        kill: KillSwitch::new(),
        counters: Counters::default(),
        md_up: false,
        api_up: false,
        combined_stream: cfg.endpoints.market_stream.contains("/stream"),
        depth: vec![DepthBook::new(DEPTH_BOOK_LEVELS); n_symbols],
        md_stats: ConnStats::default(),
        api_stats: ConnStats::default(),
        tick_t0: None,
        t2o: Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| RunError::Setup(e.to_string()))?,
        clock_sync: ClockSync::new(1, Nanos::from_millis(300_000)),
        time_sent_wall: Nanos(0),
        rate: heapless::Vec::new(),
        metrics: Some(metrics),
        registry,
        metrics_text: String::with_capacity(16 * 1024),
        hot_allocs: 0,
        discrepancies: Vec::new(),
        key_kind,
        startup_queries: Vec::new(),
        balance_check: None,
        cfg,
    };
    net.connect(md, &clock, &mut t).map_err(|e| RunError::Runtime(format!("endpoints.market_stream: {e}")))?;
    net.connect(api, &clock, &mut t).map_err(|e| RunError::Runtime(format!("endpoints.ws_api: {e}")))?;

    let started = clock.monotonic();
    let mut trading_since = started;
    let mut stop_at: Option<Nanos> = None;
    let mut last_idle = started;
    let mut last_progress = started;
    let timeout = if opts.busy_poll { Some(Duration::ZERO) } else { Some(Duration::from_millis(1)) };
    loop {
        net.poll_once(&clock, &mut t, timeout).map_err(|e| RunError::Runtime(format!("event loop: {e}")))?;
        let now = clock.monotonic();
        t.md_stats = net.stats(md).unwrap_or_default();
        t.api_stats = net.stats(api).unwrap_or_default();

        if t.phase == Phase::Starting {
            if t.ready() {
                t.start_trading()?;
                if let Some(engine) = t.engine.as_mut() {
                    engine.set_probe(opts.latency_probe);
                }
                trading_since = now;
                log(format_args!("trading ({} journal records replayed)", journal_replayed));
                for d in &t.discrepancies {
                    log(format_args!("start-up: {d}"));
                }
            } else if now.saturating_sub(started) > t.cfg.lifecycle.startup_timeout {
                let mut why = t.startup.problems.join("; ");
                if why.is_empty() {
                    why = format!(
                        "no complete answer from {} (market stream {}, API {})",
                        t.cfg.endpoints.ws_api,
                        if t.md_up { "open" } else { "not open" },
                        if t.api_up { "open" } else { "not open" }
                    );
                }
                return Err(RunError::Runtime(format!("start-up did not complete: {why}")));
            }
        }

        // paper: orders and cancels in flight arrive; live: intents that
        // could not be encoded go back to the engine
        if let Some(engine) = t.engine.as_mut() {
            loop {
                let failed = match engine.venue_mut() {
                    ExecVenue::Paper { paper, .. } => {
                        paper.advance();
                        None
                    }
                    ExecVenue::Live(v) => v.pop_failed(),
                };
                match failed {
                    Some(Pending::Order { kind, symbol, client_id }) => {
                        engine.on_request_failed(symbol, &client_id, kind, false);
                    }
                    Some(Pending::Control(_)) => {}
                    None => break,
                }
            }
        }
        t.drain_paper();

        // write-ahead, then the wire
        if let Some(engine) = t.engine.as_mut() {
            let before = clock.monotonic();
            let written = engine.write_ahead(&mut writer).map_err(|e| RunError::Runtime(format!("journal: {e}")))?;
            if written > 0 {
                engine.record_stage(Stage::Journal, clock.monotonic().saturating_sub(before).0);
            }
        }
        let api_open = net.is_open(api);
        if let Some(v) = t.ws()
            && !v.outbox().is_empty()
        {
            let before = clock.monotonic();
            let mut failures = 0;
            for frame in v.outbox().frames() {
                if !api_open || net.send_text(api, frame, &clock).is_err() {
                    failures += 1;
                }
            }
            v.outbox().clear();
            t.counters.send_failures += failures;
            let sent = clock.monotonic();
            if let Some(t0) = t.tick_t0.take() {
                let _ = t.t2o.record(sent.saturating_sub(t0).0.max(1));
            }
            if let Some(engine) = t.engine.as_mut() {
                engine.record_stage(Stage::Wire, sent.saturating_sub(before).0);
            }
        }
        if let Some(engine) = t.engine.as_mut() {
            // the orders are on the wire: the bookkeeping the tick put off
            engine.flush_timings();
            engine.flush_journal(&mut writer).map_err(|e| RunError::Runtime(format!("journal: {e}")))?;
        }

        // idle work, every 10 ms
        if now.saturating_sub(last_idle) >= Nanos::from_millis(10) {
            last_idle = now;
            t.check_balances(now);
            if let Some(engine) = t.engine.as_mut() {
                engine.on_idle();
            }
            if let Some(f) = t.cfg.risk.kill_switch_file.clone() {
                let was = t.kill.is_triggered();
                if t.kill.check_file(&f) && !was {
                    log(format_args!("kill switch file {} exists: trading stops", f.display()));
                }
            }
            if t.cfg.mode == Mode::Live && t.phase == Phase::Trading && t.clock_sync.needs_sync(clock.wall()) {
                t.send_time();
            }
            if let Some(every) = opts.progress_every
                && now.saturating_sub(last_progress) >= Nanos(u64::try_from(every.as_nanos()).unwrap_or(u64::MAX))
                && t.phase == Phase::Trading
            {
                last_progress = now;
                let s = t.snapshot();
                let pos: Vec<String> = s.positions.iter().map(|(n, q)| format!("{n} {q}")).collect();
                log(format_args!(
                    "{:.0} s: {} events, {} orders, {} fills, {} rejects, equity {:.2}, position {}",
                    now.saturating_sub(trading_since).0 as f64 / 1e9,
                    s.market_events,
                    s.orders[0],
                    s.fills,
                    s.rejects,
                    s.equity,
                    pos.join(", ")
                ));
            }
        }

        // stopping
        let duration_over = opts.duration.is_some_and(|d| {
            t.phase == Phase::Trading && now.saturating_sub(trading_since).0 >= u64::try_from(d.as_nanos()).unwrap_or(0)
        });
        if stop_at.is_none() && (term.load(Ordering::Relaxed) || duration_over) {
            if t.phase == Phase::Starting {
                log(format_args!("stopped before start-up completed"));
                return Err(RunError::Runtime("stopped before start-up completed".into()));
            }
            log(format_args!(
                "stopping: no new orders{}",
                if t.cfg.lifecycle.cancel_on_exit { ", cancelling open orders" } else { "" }
            ));
            t.phase = Phase::Stopping;
            stop_at = Some(now);
            if let Some(engine) = t.engine.as_mut()
                && t.cfg.lifecycle.cancel_on_exit
            {
                engine.cancel_all();
            }
        }
        if let Some(since) = stop_at {
            let open = t.engine.as_ref().map_or(0, |e| e.orders().open_count());
            let waiting = t.cfg.lifecycle.cancel_on_exit && open > 0;
            if !waiting || now.saturating_sub(since) >= t.cfg.lifecycle.exit_timeout {
                break;
            }
        }
    }

    if let Some(engine) = t.engine.as_mut() {
        engine.flush_journal(&mut writer).map_err(|e| RunError::Runtime(format!("journal: {e}")))?;
    }
    let _ = net.close(md, &clock, &mut t);
    let _ = net.close(api, &clock, &mut t);
    let seconds = clock.monotonic().saturating_sub(trading_since).0 as f64 / 1e9;
    let summary = summarize(&mut t, seconds, journal_replayed);
    println!("{summary}");
    if let Some(path) = &opts.summary_json {
        let text = serde_json::to_string_pretty(&summary).map_err(|e| RunError::Runtime(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| RunError::Runtime(format!("{}: {e}", path.display())))?;
    }
    Ok(summary)
}

fn summarize(t: &mut Trader, seconds: f64, journal_replayed: u64) -> RunSummary {
    let h = &t.t2o;
    let counted = alloc_count::is_global();
    let mut s = RunSummary {
        mode: mode_name(t.cfg.mode).into(),
        seconds,
        rejects: t.counters.rejects,
        cancel_races: t.counters.cancel_races,
        send_failures: t.counters.send_failures,
        tick_to_order_count: h.len(),
        tick_to_order_p50_ns: h.value_at_quantile(0.5),
        tick_to_order_p99_ns: h.value_at_quantile(0.99),
        tick_to_order_p999_ns: h.value_at_quantile(0.999),
        tick_to_order_max_ns: h.max(),
        hot_path_allocations: counted.then_some(t.hot_allocs),
        journal: t.cfg.journal.path.display().to_string(),
        journal_replayed,
        discrepancies: t.discrepancies.clone(),
        peak_rss_kib: peak_rss_kib(),
        ..RunSummary::default()
    };
    let names: Vec<String> = t.symbols.names().to_vec();
    if let Some(engine) = t.engine.as_mut() {
        let c = engine.orders().counters();
        s.orders = c.placed;
        s.cancels = c.cancels;
        s.fills = c.fills;
        s.unknown_outcomes = c.unknown;
        match engine.venue() {
            ExecVenue::Paper { paper, .. } => {
                s.paper_events_lost = paper.lost();
                s.paper_depth_updates = t.counters.depth_updates;
            }
            ExecVenue::Live(v) => s.send_failures += v.failed_overflow(),
        }
        s.market_events = engine.counters().events;
        s.open_orders = engine.orders().open_count() as u64;
        s.open_order_ids = engine.orders().open_orders().map(|o| o.req.client_id.as_str().to_string()).collect();
        s.refusals = engine.risk().refusals().total();
        s.refusals_by_reason =
            engine.risk().refusals().iter().filter(|(_, n)| *n > 0).map(|(r, n)| (r.as_str().to_string(), n)).collect();
        let pf = engine.portfolio_mut();
        let equity = pf.equity();
        s.equity = equity.to_string();
        s.realised_pnl = pf.realised().to_string();
        s.unrealised_pnl = pf.unrealised().to_string();
        s.fees = pf.fees().to_string();
        for (i, name) in names.iter().enumerate() {
            let q: Qty = pf.position(SymbolId(u16::try_from(i).unwrap_or(0))).qty;
            s.positions.push((name.clone(), q.to_string()));
        }
        let mut stages = String::new();
        let _ = write!(stages, "{}", engine.timings().summary());
        s.stages = stages;
    }
    s
}
