//! `odex-sim`: a local Binance-compatible venue on 127.0.0.1 (see
//! `odex_runtime::sim` and `runtime/SIM-NOTES.md`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::Parser;
use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::sim::config::interval_ms;
use odex_runtime::sim::feed::load_all;
use odex_runtime::sim::venue_adapter::VenueExchange;
use odex_runtime::sim::{
    ApiKey, Faults, KeySecret, KlineCsv, KlineRow, ProbeConfig, ProbeExchange, Process, Server, SimConfig, SimExchange,
    SymbolSpec, Synthetic, SyntheticParams, TouchExchange,
};
use odex_shared::market::{Amount, Nanos, Price};

const EXAMPLES: &str = "Examples:
  odex-sim --port 0 --doc-example-key --klines ETHUSDT=../shared/data/binance/klines/ETHUSDT-1m-2022-08-14.csv --speed 60
  ODEX_SIM_HMAC_SECRET=s3cret odex-sim --api-key mykey --hmac-key-env ODEX_SIM_HMAC_SECRET --speed 0 --duration 30 --ledger-out ledger.json
  odex-sim --doc-example-key --order-limit 1000000000 --probe-ticks 100000 --probe-out probe.json
The first stdout line is `odex-sim listening on 127.0.0.1:PORT`.";

/// Which matching engine answers orders.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Matching {
    /// The venue model (`odex_runtime::venue`), as the backtester uses it.
    Venue,
    /// Fill at the current touch (`TouchExchange`).
    Touch,
}

/// A local Binance-compatible venue: market streams, WebSocket API, REST.
#[derive(Debug, Parser)]
#[command(name = "odex-sim", version, after_help = EXAMPLES)]
struct Args {
    /// Port on 127.0.0.1 (0: any free port, printed on the first line).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Symbols served, `NAME:BASE:QUOTE:TICK:STEP:MIN_NOTIONAL` (default ETHUSDT and BTCUSDT as on Binance).
    #[arg(long = "symbol")]
    symbols: Vec<String>,
    /// Replay a Binance spot kline archive CSV for a symbol: `SYMBOL=PATH` (repeatable).
    #[arg(long = "klines")]
    klines: Vec<String>,
    /// Matching: `venue` (the backtester's venue model: queue position,
    /// partial fills, slippage) or `touch` (fill at the touch, simplest).
    #[arg(long, value_enum, default_value = "venue")]
    matching: Matching,
    /// Seed of the synthetic series used for symbols without `--klines`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Synthetic process: `ou` or `gbm`.
    #[arg(long, default_value = "ou")]
    process: String,
    /// Bars per synthetic series.
    #[arg(long, default_value_t = 1440)]
    bars: usize,
    /// Kline interval of the data (`1m`, `1h`, ...).
    #[arg(long, default_value = "1m")]
    interval: String,
    /// Replay speed: 1 real time, N times faster, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Spread in ticks.
    #[arg(long, default_value_t = 1)]
    spread_ticks: i64,
    /// Server ping period in seconds.
    #[arg(long, default_value_t = 20.0)]
    ping_secs: f64,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Add `"odexSendNs"` (wall clock ns at encode) to every market message.
    #[arg(long)]
    stamp: bool,
    /// API key id for the HMAC secret or Ed25519 public key given below.
    #[arg(long)]
    api_key: Option<String>,
    /// Name of the environment variable holding the HMAC secret.
    #[arg(long)]
    hmac_key_env: Option<String>,
    /// File holding the HMAC secret.
    #[arg(long)]
    hmac_key_file: Option<PathBuf>,
    /// PEM file with an Ed25519 public key (for `--api-key`).
    #[arg(long)]
    ed25519_pubkey_file: Option<PathBuf>,
    /// Also accept the published documentation example HMAC key pair.
    #[arg(long)]
    doc_example_key: bool,
    /// Starting balance `ASSET=AMOUNT` (repeatable; default USDT=10000 ETH=10 BTC=1).
    #[arg(long = "balance")]
    balances: Vec<String>,
    /// Commission rate (0.001 = 0.1%).
    #[arg(long, default_value = "0.001")]
    commission: String,
    /// REQUEST_WEIGHT limit per minute.
    #[arg(long, default_value_t = 6000)]
    weight_limit: u32,
    /// ORDERS limit per 10 seconds.
    #[arg(long, default_value_t = 50)]
    order_limit: u32,
    /// Fault: drop a websocket connection after sending it N messages.
    #[arg(long)]
    drop_after: Option<u64>,
    /// Fault: hold every market message this many ms.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Fault: freeze market data after N ticks ...
    #[arg(long)]
    freeze_after: Option<u64>,
    /// ... for this many ms (0: for good).
    #[arg(long, default_value_t = 0)]
    freeze_ms: u64,
    /// Fault: send every Nth market message twice.
    #[arg(long)]
    duplicate_every: Option<u64>,
    /// Fault: swap every Nth market message with the next.
    #[arg(long)]
    reorder_every: Option<u64>,
    /// Fault: reject every Nth order.place with -2010.
    #[arg(long)]
    reject_every: Option<u64>,
    /// Fault: place every Nth order but answer 503 / -1007 (outcome unknown).
    #[arg(long)]
    error_5xx_every: Option<u64>,
    /// Fault: skew the server clock by this many ms.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_skew_ms: i64,
    /// Write the ledger (orders, fills, balances) as JSON here at exit.
    #[arg(long)]
    ledger_out: Option<PathBuf>,
    /// Stop the feed at the end of the data instead of looping.
    #[arg(long)]
    no_loop: bool,
    /// Serve TLS (wss://, https://) with a generated certificate; its CA PEM goes to this file.
    #[arg(long)]
    tls_ca_out: Option<PathBuf>,
    /// Latency probe: after the client's first order, send this many
    /// bookTicker ticks of the first symbol one at a time and measure each
    /// tick's write to the arrival of the order it causes; every order is
    /// acknowledged and expires. Needs --probe-out; exits when done.
    #[arg(long, requires = "probe_out")]
    probe_ticks: Option<u64>,
    /// Probe: gap between an order's arrival and the next tick, in µs.
    #[arg(long, default_value_t = 300)]
    probe_interval_us: u64,
    /// Probe: a tick without an order after this many ms is counted as unanswered.
    #[arg(long, default_value_t = 50)]
    probe_timeout_ms: u64,
    /// Probe: write the summary (JSON, ns percentiles) here.
    #[arg(long)]
    probe_out: Option<PathBuf>,
}

fn parse_symbol(s: &str) -> anyhow::Result<SymbolSpec> {
    let f: Vec<&str> = s.split(':').collect();
    let [name, base, quote, tick, step, notional] = f.as_slice() else {
        bail!("--symbol {s:?}: expected NAME:BASE:QUOTE:TICK:STEP:MIN_NOTIONAL");
    };
    for (what, v) in [("tick", tick), ("step", step), ("min notional", notional)] {
        Price::parse(v).map_err(|e| anyhow::anyhow!("--symbol {s:?}: {what} {v:?}: {e:?}"))?;
    }
    Ok(SymbolSpec::new(name, base, quote, tick, step, notional))
}

fn keys(args: &Args) -> anyhow::Result<Vec<ApiKey>> {
    let mut keys = Vec::new();
    if args.doc_example_key {
        keys.push(ApiKey::doc_example());
    }
    let secret = match (&args.hmac_key_env, &args.hmac_key_file) {
        (Some(var), _) => {
            Some(std::env::var(var).with_context(|| format!("--hmac-key-env: ${var} is not set"))?.into_bytes())
        }
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--hmac-key-file {}", path.display()))?
                .trim()
                .as_bytes()
                .to_vec(),
        ),
        (None, None) => None,
    };
    if let Some(secret) = secret {
        let Some(api_key) = &args.api_key else { bail!("--hmac-key-env/--hmac-key-file need --api-key") };
        keys.push(ApiKey { api_key: api_key.clone(), secret: KeySecret::Hmac(secret) });
    }
    if let Some(path) = &args.ed25519_pubkey_file {
        use ed25519_dalek::pkcs8::DecodePublicKey as _;
        let Some(api_key) = &args.api_key else { bail!("--ed25519-pubkey-file needs --api-key") };
        let pem = std::fs::read_to_string(path).with_context(|| format!("--ed25519-pubkey-file {}", path.display()))?;
        let vk = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem)
            .map_err(|e| anyhow::anyhow!("--ed25519-pubkey-file {}: {e}", path.display()))?;
        keys.push(ApiKey { api_key: api_key.clone(), secret: KeySecret::Ed25519(vk.to_bytes()) });
    }
    Ok(keys)
}

fn config(args: &Args) -> anyhow::Result<SimConfig> {
    let mut cfg = SimConfig::default();
    if !args.symbols.is_empty() {
        cfg.symbols = args.symbols.iter().map(|s| parse_symbol(s)).collect::<anyhow::Result<_>>()?;
    }
    if interval_ms(&args.interval).is_none() {
        bail!("--interval {:?}: expected e.g. 1s, 1m, 15m, 1h, 1d", args.interval);
    }
    if !(args.speed >= 0.0 && args.speed.is_finite()) {
        bail!("--speed {}: must be 0 (as fast as possible) or positive", args.speed);
    }
    if args.ping_secs.is_nan() || args.ping_secs <= 0.0 {
        bail!("--ping-secs {}: must be positive", args.ping_secs);
    }
    if !args.balances.is_empty() {
        cfg.balances = args
            .balances
            .iter()
            .map(|b| {
                let (a, v) = b.split_once('=').with_context(|| format!("--balance {b:?}: expected ASSET=AMOUNT"))?;
                let v = Amount::parse(v).map_err(|e| anyhow::anyhow!("--balance {b:?}: {e:?}"))?;
                Ok((a.to_ascii_uppercase(), v))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    cfg.port = args.port;
    cfg.interval = args.interval.clone();
    cfg.speed = args.speed;
    cfg.spread_ticks = args.spread_ticks.max(1);
    cfg.ping_ms = (args.ping_secs * 1000.0) as u64;
    cfg.duration_ms = args.duration.map(|d| (d.max(0.0) * 1000.0) as u64);
    cfg.stamp = args.stamp;
    cfg.keys = keys(args)?;
    cfg.commission =
        Price::parse(&args.commission).map_err(|e| anyhow::anyhow!("--commission {:?}: {e:?}", args.commission))?;
    cfg.weight_limit = args.weight_limit;
    cfg.order_limit = args.order_limit;
    cfg.faults = Faults {
        drop_after: args.drop_after,
        delay_ms: args.delay_ms,
        freeze_after_ticks: args.freeze_after,
        freeze_ms: args.freeze_ms,
        duplicate_every: args.duplicate_every,
        reorder_every: args.reorder_every,
        reject_every: args.reject_every,
        error_5xx_every: args.error_5xx_every,
        clock_skew_ms: args.clock_skew_ms,
    };
    cfg.ledger_out = args.ledger_out.clone();
    cfg.loop_data = !args.no_loop;
    cfg.tls_ca_out = args.tls_ca_out.clone();
    if let (Some(ticks), Some(out)) = (args.probe_ticks, &args.probe_out) {
        cfg.probe = Some(ProbeConfig {
            ticks,
            interval: Nanos(args.probe_interval_us.saturating_mul(1000)),
            timeout: Nanos::from_millis(args.probe_timeout_ms.max(1)),
            out: out.clone(),
        });
    }
    Ok(cfg)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = config(&args)?;
    let clock = SystemClock::new();
    let step_ms = interval_ms(&cfg.interval).unwrap_or(60_000);
    let start_ms = i64::try_from(clock.wall().as_millis()).unwrap_or(0) / step_ms * step_ms
        - step_ms * i64::try_from(args.bars).unwrap_or(0);
    let mut series = Vec::new();
    for (i, spec) in cfg.symbols.iter().enumerate() {
        let path = args
            .klines
            .iter()
            .find_map(|k| k.split_once('=').filter(|(s, _)| s.eq_ignore_ascii_case(&spec.name)).map(|(_, p)| p));
        let rows = if let Some(path) = path {
            load_all(KlineCsv::open(std::path::Path::new(path))?)?
        } else {
            let start = if spec.base == "BTC" { 20_000.0 } else { 2_000.0 };
            let process = match args.process.as_str() {
                "ou" => Process::OrnsteinUhlenbeck { kappa: 0.05, mu: start },
                "gbm" => Process::Gbm { drift: 0.0 },
                other => bail!("--process {other:?}: expected ou or gbm"),
            };
            let tick = spec.tick().to_f64();
            load_all(Synthetic::new(SyntheticParams {
                seed: args.seed.wrapping_add(i as u64),
                process,
                start,
                sigma: 0.002,
                tick,
                start_ms,
                interval_ms: step_ms,
                bars: args.bars.max(1),
            }))?
        };
        series.push(rows);
    }
    for k in &args.klines {
        let Some((sym, _)) = k.split_once('=') else { bail!("--klines {k:?}: expected SYMBOL=PATH") };
        if !cfg.symbols.iter().any(|s| s.name.eq_ignore_ascii_case(sym)) {
            bail!("--klines {k:?}: {sym} is not a configured symbol");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    if cfg.probe.is_some() {
        let exchange = ProbeExchange::new(cfg.symbols.clone(), &cfg.balances);
        return serve(cfg, series, exchange, clock, stop);
    }
    match args.matching {
        Matching::Venue => {
            let exchange = VenueExchange::new(&cfg, args.seed).map_err(|e| anyhow::anyhow!("venue model: {e}"))?;
            serve(cfg, series, exchange, clock, stop)
        }
        Matching::Touch => {
            let exchange = TouchExchange::new(cfg.symbols.clone(), &cfg.balances, cfg.commission);
            serve(cfg, series, exchange, clock, stop)
        }
    }
}

/// Binds, announces the port, serves until stopped, then writes the ledger.
fn serve<E: SimExchange, C: Clock>(
    cfg: SimConfig,
    series: Vec<Vec<KlineRow>>,
    exchange: E,
    clock: C,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let ledger_out = cfg.ledger_out.clone();
    let mut server = Server::bind(cfg, series, exchange, clock, stop)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "odex-sim listening on {}", server.local_addr())?;
        out.flush()?;
    }
    server.run()?;
    let stats = server.stats();
    eprintln!(
        "odex-sim: stopped after {} ticks, {} market messages ({} skipped), {} connections",
        stats.ticks, stats.market_messages, stats.skipped, stats.accepted
    );
    if let Some(path) = ledger_out {
        let text = serde_json::to_string_pretty(&server.state().ledger())?;
        std::fs::write(&path, text).with_context(|| format!("--ledger-out {}", path.display()))?;
    }
    Ok(())
}
