//! The in-process tick-to-order path, as `odex run` runs it, driven by a
//! seeded random walk: combined-stream bookTicker frame bytes ->
//! `MarketFrame::decode` -> `live::wire` -> `Engine::on_market` (features,
//! reference model, sizing, risk, order manager, journal ring) ->
//! `WsApiVenue` (encode, and HMAC-sign unless the session is logged on,
//! into the outbox) -> `WsCodec::encode` (websocket framing with the client
//! mask). Fills for the orders are fed
//! back outside the measured region, as a venue would, so the engine keeps
//! trading. Shared by `benches/tick_to_order.rs` (timings) and
//! `tests/full_path_alloc.rs` (zero allocations, in CI).

use hdrhistogram::Histogram;
use odex_runtime::alloc_count;
use odex_runtime::binance::market_data::MarketFrame;
use odex_runtime::binance::sign::{Ed25519Signer, HmacSigner, Signer};
use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::config::{FsyncPolicy, RawConfig};
use odex_runtime::engine::{Engine, JournalWriter, KillSwitch, RateLimit, RateLimitKind, TrackedOrder};
use odex_runtime::filters::SymbolFilters;
use odex_runtime::live::wire::{self, SymbolTable};
use odex_runtime::live::ws_venue::{Credentials, WsApiVenue};
use odex_runtime::net::{OP_TEXT, WsCodec};
use odex_runtime::order::{ExecType, ExecutionReport, OrderStatus};
use odex_shared::market::{Amount, Nanos, Price, Qty};
use std::io::Write as _;

use crate::reference_model;

const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
/// Ticks before measuring and counting allocations.
pub const WARMUP: u64 = 20_000;

const CONFIG: &str = r#"
mode = "live"
[endpoints]
market_stream = "wss://stream.binance.com:9443/stream"
ws_api = "wss://ws-api.binance.com:443/ws-api/v3"
rest = "https://api.binance.com"
[[symbols]]
name = "ETHUSDT"
base = "ETH"
quote = "USDT"
[model]
file = "unused.odex"
[keys]
kind = "hmac"
api_key_env = "UNUSED"
secret_env = "UNUSED"
[risk]
capital = "10000"
max_position = "2"
max_notional = "100000"
max_orders_per_sec = 1000000.0
order_burst = 1000000
max_open_orders = 8
price_band_bps = 500
stop_loss_bps = 0
take_profit_bps = 0
drawdown_reduce_bps = 10000
drawdown_halt_bps = 10000
stale_data_ms = 60000
allow_short = true
[orders]
type = "limit"
requote_ticks = 1
timeout_ms = 60000
client_id_prefix = "odx"
[journal]
path = "unused.journal"
fsync = "never"
[runtime]
journal_ring_records = 1000000
"#;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn fill(order: &TrackedOrder, id: u64) -> ExecutionReport {
    let req = order.req;
    let px = req.price.unwrap_or(Price::ZERO);
    ExecutionReport {
        last_qty: req.qty,
        last_price: px,
        cum_qty: req.qty,
        cum_quote: px.notional(req.qty).unwrap_or(Amount::ZERO),
        maker: true,
        trade_id: id,
        ..ExecutionReport::unfilled(&req, id, ExecType::Trade, OrderStatus::Filled)
    }
}

/// What a run of [`run`] measured.
#[derive(Debug)]
pub struct PathRun {
    /// Every tick after warm-up, ns.
    pub all: Histogram<u64>,
    /// Ticks that placed an order, ns.
    pub with_order: Histogram<u64>,
    /// Orders placed after warm-up.
    pub orders: u64,
    /// Allocations inside the measured region after warm-up (zero unless
    /// the caller's global allocator is `alloc_count::Counting`).
    pub allocations: u64,
    /// The engine's own per-stage timings over the run (warm-up included),
    /// one line per stage.
    pub stages: String,
}

/// How the path's orders are authenticated, as `odex run` does it for each
/// kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathAuth {
    /// An HMAC key: every `order.place` carries `apiKey` and a signature.
    Hmac,
    /// An Ed25519 key after `session.logon`: orders go unsigned.
    Session,
}

/// Drives `ticks` ticks through the path.
///
/// # Panics
/// When the fixed config or the engine cannot be built (a bug here).
#[allow(clippy::missing_panics_doc, clippy::unwrap_used, clippy::expect_used)]
pub fn run(ticks: u64, auth: PathAuth) -> PathRun {
    let cfg = RawConfig::parse(CONFIG).expect("config parses").validate(None).expect("config is valid");
    let filters = SymbolFilters::tick_step(Price::parse("0.01").unwrap(), Qty::parse("0.0001").unwrap());
    let symbols = SymbolTable::new([("ETHUSDT", "ETH")], "USDT");
    // as `odex run` builds it: an HMAC signer absorbs the payload's apiKey
    // block once
    let signer = match auth {
        PathAuth::Hmac => Signer::Hmac(HmacSigner::new(SECRET).unwrap()),
        PathAuth::Session => Signer::Ed25519(Ed25519Signer::from_seed(&[7; 32])),
    }
    .for_api_key(API_KEY);
    let mut venue = WsApiVenue::new(
        symbols.clone(),
        Credentials::Signed { api_key: API_KEY.into(), signer: Box::new(signer) },
        64,
        4096,
    );
    venue.set_session(auth == PathAuth::Session);
    let clock = SystemClock::new();
    let model = reference_model();
    let mut engine =
        Engine::new(&cfg, &model, &[filters], "odx-bench-", KillSwitch::new(), venue, clock).expect("engine builds");
    // the benchmark is not an exchange account: lift its order budgets
    let lifted: Vec<RateLimit> = [
        (RateLimitKind::Orders, 10_000_000_000u64),
        (RateLimitKind::Orders, 86_400_000_000_000),
        (RateLimitKind::RequestWeight, 60_000_000_000),
    ]
    .iter()
    .map(|&(kind, ns)| RateLimit { kind, interval: Nanos(ns), limit: u32::MAX, count: 0 })
    .collect();
    engine.on_rate_limits(&lifted);
    let mut ws = WsCodec::new(1 << 16, 1 << 14, 1 << 16);

    let mut all = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut with_order = all.clone();
    let mut rng = Rng(0x0dec_0ded);
    let mut price: i64 = 200_000; // cents
    let mut frame: Vec<u8> = Vec::with_capacity(512);
    let mut next_id = 1u64;
    let (mut allocs, mut orders) = (0u64, 0u64);
    let mut fills: Vec<ExecutionReport> = Vec::with_capacity(64);
    let journal_path = std::env::temp_dir().join(format!("odex-bench-tick-to-order-{}.journal", std::process::id()));
    let mut journal = JournalWriter::open(&journal_path, FsyncPolicy::Never).unwrap();

    for i in 0..ticks {
        // the next frame (outside the measured region), in Binance's layout:
        // every decimal with eight fraction digits, as the recorded session
        // in ../shared/data has them
        let r = rng.next();
        price = (price + (r % 5) as i64 - 2).max(100);
        let bid_qty = 1 + (r >> 8) % 50;
        let ask_qty = 1 + (r >> 16) % 50;
        frame.clear();
        write!(
            frame,
            r#"{{"stream":"ethusdt@bookTicker","data":{{"u":{i},"s":"ETHUSDT","b":"{}.{:02}000000","B":"{bid_qty}.00000000","a":"{}.{:02}000000","A":"{ask_qty}.00000000"}}}}"#,
            price / 100,
            price % 100,
            (price + 1) / 100,
            (price + 1) % 100
        )
        .unwrap();

        let counting = i >= WARMUP;
        let before_allocs = alloc_count::count();
        let placed_before = engine.orders().counters().placed;
        if counting {
            alloc_count::arm(true);
        }
        // ---- measured: bytes in -> signed, masked order frame out
        let t0 = clock.monotonic();
        if let Ok(MarketFrame::Event { event, .. }) = MarketFrame::decode(&frame)
            && let Some(ev) = wire::market_event(&event, &symbols, t0)
        {
            engine.on_market(&ev);
        }
        let outbox = engine.venue_mut().outbox();
        for f in outbox.frames() {
            let _ = ws.encode(OP_TEXT, f, 0x3ee8_a51c);
        }
        let t1 = clock.monotonic();
        // ----
        engine.flush_timings(); // as `odex run` does once the frame is written
        if counting {
            alloc_count::arm(false);
            allocs += alloc_count::count() - before_allocs;
        }
        let dt = t1.saturating_sub(t0).0.max(1);
        let placed = engine.orders().counters().placed > placed_before;
        if counting {
            let _ = all.record(dt);
            if placed {
                let _ = with_order.record(dt);
                orders += 1;
            }
        }
        // the "wire" and the "exchange": frames leave, orders fill
        engine.venue_mut().outbox().clear();
        let pending = ws.tx_pending().len();
        ws.tx_consume(pending);
        fills.clear();
        for o in engine.orders().open_orders() {
            next_id += 1;
            fills.push(fill(o, next_id));
        }
        for f in &fills {
            engine.on_execution(f);
        }
        if i % 1000 == 0 {
            engine.flush_journal(&mut journal).unwrap();
        }
    }
    let _ = std::fs::remove_file(&journal_path);
    PathRun { all, with_order, orders, allocations: allocs, stages: engine.timings().summary() }
}
