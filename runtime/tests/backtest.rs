//! End-to-end backtests: the real ETHUSDT archives, synthetic OU data with
//! the oracle, byte-identical reruns, the engine's settings and journal, and
//! error messages.

use std::path::{Path, PathBuf};

use odex_runtime::backtest::data::OuSeries;
use odex_runtime::backtest::{self, BacktestConfig, DataSource, OuParams, SignalConfig};
use odex_runtime::config::OrderStyle;
use odex_runtime::engine::{JournalRecord, recover};
use odex_runtime::venue::{FixedFees, LatencySpec, Slippage};
use odex_shared::market::{Amount, Nanos, Qty};
use odex_shared::sizing::SizingParams;

/// The shared data folder: `<workspace>/../shared/data`, else
/// `/work/shared/data`. Missing data is a failure, not a skip.
fn data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [root.join("../shared/data"), PathBuf::from("/work/shared/data")];
    for c in &candidates {
        if c.join("binance/klines").is_dir() {
            return c.clone();
        }
    }
    panic!(
        "market data not found: looked in {candidates:?}; the backtest tests need the shared Binance kline archives"
    );
}

fn eth_days() -> Vec<PathBuf> {
    let k = data_dir().join("binance/klines");
    vec![k.join("ETHUSDT-1m-2022-08-14.csv"), k.join("ETHUSDT-1m-2022-08-15.csv")]
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/golden-v1.odex")
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("odex-backtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn eth_config(name: &str) -> BacktestConfig {
    let mut c =
        BacktestConfig::new(DataSource::Klines(eth_days()), golden(), SignalConfig::Model, out_dir(name)).unwrap();
    // trade on every edge so the run exercises the venue
    c.set_sizing(SizingParams { kelly_fraction: 0.5, vol_target: 0.05, max_leverage: 1.0, min_edge: 0.0 });
    c.fees = FixedFees::from_bps(10.0, 10.0).unwrap();
    c.slippage = Slippage::FixedBps { bps: 2.0 };
    c.order_latency = LatencySpec::LogNormal { median: Nanos(2_000_000), sigma: 0.5 };
    c.market_data_latency = LatencySpec::Uniform { lo: Nanos(100_000), hi: Nanos(900_000) };
    c.seed = 42;
    c
}

#[test]
fn real_ethusdt_archive_end_to_end_with_fees_and_slippage() {
    let c = eth_config("eth");
    let r = backtest::run(&c).unwrap();
    let s = &r.summary;
    eprintln!("{}", std::fs::read_to_string(c.out_dir.join("summary.json")).unwrap());
    assert_eq!(s.events, 2 * 1440);
    assert_eq!(s.observations, 2 * 1440);
    assert_eq!(s.strategy.samples, 2 * 1440);
    assert!(s.fills > 10, "{s:#?}");
    let fees = Amount::parse(&s.fees).unwrap();
    assert!(fees.is_positive());
    // every bar is one minute: 525,600 periods a year
    assert!((s.strategy.periods_per_year - 525_600.0).abs() < 1.0, "{}", s.strategy.periods_per_year);
    assert!(s.strategy.sharpe.is_finite() && s.buy_and_hold.sharpe.is_finite());
    assert!(s.strategy.max_drawdown >= 0.0 && s.strategy.max_drawdown < 1.0);
    // the baselines ran on the same events through the same engine
    assert_eq!((s.momentum.samples, s.physics_only.map(|m| m.samples)), (2 * 1440, Some(2 * 1440)));
    assert!(s.momentum.total_return != s.strategy.total_return);
    assert!(s.baselines.contains("momentum") && s.baselines.contains("physics-only"), "{}", s.baselines);
    // every labelled interval is in one regime: all but the first 60 of 2879
    assert_eq!(s.regimes.iter().map(|r| r.regime).collect::<Vec<_>>(), ["bull", "bear", "sideways"]);
    assert_eq!(s.regimes.iter().map(|r| r.intervals).sum::<usize>(), 2 * 1440 - 1 - 60);
    assert!(s.regimes.iter().all(|r| r.intervals > 100), "{:?}", s.regimes);
    for f in ["summary.json", "equity.csv", "fills.csv", "ledger.json", "journal.bin", "equity.svg", "drawdown.svg"] {
        assert!(c.out_dir.join(f).is_file(), "{f} missing");
    }
    // one self-contained page: the numbers, both plots inline, no outside references
    let html = std::fs::read_to_string(c.out_dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(!html.contains("src=") && !html.contains("href="), "the page references something outside itself");
    for needle in ["buy and hold", "momentum", "physics-only", "sideways", &format!("{:.2}", s.strategy.sharpe)] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    let equity = std::fs::read_to_string(c.out_dir.join("equity.csv")).unwrap();
    assert_eq!(equity.lines().count(), 2 * 1440 + 1);
    let fills = std::fs::read_to_string(c.out_dir.join("fills.csv")).unwrap();
    assert_eq!(fills.lines().count(), s.fills + 1);
    // the ledger reconciles with the fills file: base = bought - sold
    let mut base = Qty::ZERO;
    let mut fee_sum = Amount::ZERO;
    for line in fills.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let q = Qty::parse(cols[5]).unwrap();
        base = if cols[3] == "BUY" { base.saturating_add(q) } else { base.saturating_sub(q) };
        fee_sum = fee_sum.saturating_add(Amount::parse(cols[7]).unwrap());
    }
    assert_eq!(base.to_string(), s.final_base);
    assert_eq!(fee_sum, fees);
    let ledger: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(c.out_dir.join("ledger.json")).unwrap()).unwrap();
    assert_eq!(ledger["accounts"][0]["base"], s.final_base.as_str());
    assert_eq!(ledger["accounts"][0]["fees"], s.fees.as_str());
    // the engine traded: its journal holds one Place per order sent, and
    // its fills add up to the ledger's position
    let rec = recover(&c.out_dir.join("journal.bin")).unwrap();
    assert!(rec.stop.is_none(), "{:?}", rec.stop);
    let places = rec.records.iter().filter(|r| matches!(r, JournalRecord::Place { .. })).count();
    assert_eq!(places as u64, s.orders);
    let mut journal_base = Qty::ZERO;
    for r in &rec.records {
        if let JournalRecord::Report(x) = r
            && x.last_qty.is_positive()
        {
            journal_base = match x.side {
                odex_shared::market::Side::Buy => journal_base.saturating_add(x.last_qty),
                odex_shared::market::Side::Sell => journal_base.saturating_sub(x.last_qty),
            };
        }
    }
    assert_eq!(journal_base.to_string(), s.final_base);
    let _ = std::fs::remove_dir_all(&c.out_dir);
}

#[test]
fn same_backtest_twice_writes_identical_bytes() {
    let a = eth_config("rerun-a");
    let mut b = eth_config("rerun-b");
    b.out_dir = out_dir("rerun-b");
    let ra = backtest::run(&a).unwrap();
    let rb = backtest::run(&b).unwrap();
    assert_eq!(ra.summary, rb.summary);
    for f in ["summary.json", "equity.csv", "fills.csv", "ledger.json", "journal.bin", "report.html"] {
        let x = std::fs::read(a.out_dir.join(f)).unwrap();
        let y = std::fs::read(b.out_dir.join(f)).unwrap();
        assert!(x == y, "{f} differs between identical runs");
    }
    // a rerun into the same folder replaces the journal, not appends to it
    backtest::run(&a).unwrap();
    assert!(
        std::fs::read(a.out_dir.join("journal.bin")).unwrap() == std::fs::read(b.out_dir.join("journal.bin")).unwrap()
    );
    // on bars, latencies far below a bar do not move fills; a different
    // execution style does
    let mut c = eth_config("rerun-c");
    c.seed = 43;
    c.engine.orders.style = OrderStyle::Ioc;
    let rc = backtest::run(&c).unwrap();
    let fa = std::fs::read(a.out_dir.join("fills.csv")).unwrap();
    let fc = std::fs::read(c.out_dir.join("fills.csv")).unwrap();
    assert!(fa != fc, "a different execution style gave the same fills");
    assert!(rc.summary.fills > 0);
    for d in [a.out_dir, b.out_dir, c.out_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn oracle_earns_on_mean_reverting_data_after_fees() {
    let params = OuParams { kappa: 0.05, mu: 2000f64.ln(), sigma: 0.003 };
    let ou = OuSeries {
        kappa: params.kappa,
        mu: params.mu,
        sigma: params.sigma,
        bars: 5_000,
        start_ms: 1_600_000_000_000,
        interval_ms: 60_000,
        volume: Qty::from_raw(500 * 100_000_000),
        seed: 7,
    };
    let mut c = BacktestConfig::new(
        DataSource::SyntheticOu(ou),
        golden(),
        SignalConfig::Oracle { params, horizon: 10.0 },
        out_dir("oracle"),
    )
    .unwrap();
    c.set_sizing(SizingParams { kelly_fraction: 0.5, vol_target: 0.05, max_leverage: 1.0, min_edge: 0.0 });
    c.fees = FixedFees::from_bps(1.0, 2.0).unwrap();
    c.slippage = Slippage::FixedBps { bps: 0.5 };
    let r = backtest::run(&c).unwrap();
    let s = &r.summary;
    eprintln!("oracle: {:?}", s.strategy);
    assert!(s.fills > 50, "{s:#?}");
    assert!(s.strategy.sharpe > 2.0, "oracle Sharpe {} {s:#?}", s.strategy.sharpe);
    assert!(s.strategy.total_return > 0.0);
    let _ = std::fs::remove_dir_all(&c.out_dir);
}

#[test]
fn passive_execution_fills_as_maker() {
    let mut c = eth_config("passive");
    c.engine.orders.style = OrderStyle::PostOnly;
    c.engine.orders.price_offset_ticks = 50;
    let r = backtest::run(&c).unwrap();
    assert!(r.summary.fills > 0, "{:#?}", r.summary);
    assert_eq!(r.summary.maker_fills, r.summary.fills);
    let _ = std::fs::remove_dir_all(&c.out_dir);
}

#[test]
fn bad_inputs_are_named() {
    let dir = out_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "1660435200000,1980.75,1981.86,1978.34,1979.20,371.758,1660435259999,736185.7246,731,152.0439,301077.72458,0\n\
         1660435260000,1979.20,oops,1978.34,1979.20,371.758,1660435319999,736185.7246,731,152.0439,301077.72458,0\n",
    )
    .unwrap();
    let c = BacktestConfig::new(DataSource::Klines(vec![bad.clone()]), golden(), SignalConfig::Model, dir.join("out"))
        .unwrap();
    let e = backtest::run(&c).unwrap_err().to_string();
    assert_eq!(e, format!("{}:2:23: high: `oops`: bad decimal: invalid byte 'o' at offset 0", bad.display()));
    let c = BacktestConfig::new(
        DataSource::Klines(eth_days()),
        dir.join("none.odex"),
        SignalConfig::Model,
        dir.join("out"),
    )
    .unwrap();
    let e = backtest::run(&c).unwrap_err().to_string();
    assert!(e.contains("none.odex") && e.contains("No such file"), "{e}");
    let mut c = eth_config("bad-config");
    c.bar_participation = 2.0;
    assert_eq!(backtest::run(&c).unwrap_err().to_string(), "backtest config `bar_participation`: must be in (0, 1]");
    // an engine config file: every problem with its key and the file
    let toml = dir.join("engine.toml");
    let text = backtest::config::DEFAULT_ENGINE_TOML
        .replace("{symbol}", "ETHUSDT")
        .replace("{base}", "ETH")
        .replace("{quote}", "USDT")
        .replace("{capital}", "-5")
        .replace("type = \"market\"", "type = \"stop\"");
    std::fs::write(&toml, text).unwrap();
    let e = eth_config("bad-engine").with_engine_file(&toml).unwrap_err().to_string();
    assert!(e.contains("engine.toml: 2 problems"), "{e}");
    assert!(e.contains("risk.capital") && e.contains("orders.type"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_oracle_reads_a_synth_sidecar_and_trades_with_the_model_sizing() {
    let dir = out_dir("cli-oracle");
    std::fs::create_dir_all(&dir).unwrap();
    // an OU log-price series in the generic OHLCV layout, as odex-train synth writes it
    let (kappa, mu, sigma) = (0.05f64, 2000f64.ln(), 0.003f64);
    let mut x = mu + 0.02;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut csv = String::from("timestamp,open,high,low,close,volume\n");
    for i in 0..4000u64 {
        // two uniforms -> one normal (Box-Muller)
        let mut u = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (u1, u2) = (u().max(1e-12), u());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let open = x.exp();
        x += kappa * (mu - x) + sigma * z;
        let close = x.exp();
        let (hi, lo) = (open.max(close) * 1.0002, open.min(close) * 0.9998);
        csv.push_str(&format!("{},{open:.2},{hi:.2},{lo:.2},{close:.2},500\n", 1_600_000_000_000 + i * 60_000));
    }
    let data = dir.join("ou.csv");
    std::fs::write(&data, csv).unwrap();
    let sidecar = dir.join("ou.json");
    let meta = serde_json::json!({"spec": {"process": {"kind": "ou", "kappa": kappa, "mu": mu, "sigma": sigma}}});
    std::fs::write(&sidecar, meta.to_string()).unwrap();
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default.odex");
    let run = |sidecar: &std::path::Path, out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_odex"))
            .args(["backtest", "--model"])
            .arg(&model)
            .arg("--oracle")
            .arg(sidecar)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let out = run(&sidecar, "oracle");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("oracle/summary.json")).unwrap()).unwrap();
    assert!(s["signal"].as_str().unwrap().contains("oracle"), "{s}");
    assert!(s["fills"].as_u64().unwrap() > 20, "{s}");
    assert!(s["strategy"]["sharpe"].as_f64().unwrap() > 0.0, "the oracle loses on its own process: {s}");

    let gbm = dir.join("gbm.json");
    std::fs::write(&gbm, r#"{"spec":{"process":{"kind":"gbm","drift":0.0,"sigma":0.01}}}"#).unwrap();
    let out = run(&gbm, "gbm");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gbm.json") && err.contains("needs \"ou\""), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The largest position (base units) in a backtest's equity curve.
fn largest_position(out: &Path) -> f64 {
    let equity = std::fs::read_to_string(out.join("equity.csv")).unwrap();
    equity.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap()).fold(0.0, f64::max)
}

#[test]
fn the_engines_risk_limits_and_order_policy_apply_in_a_backtest() {
    // unlimited, the sized position reaches several ETH
    let free = eth_config("limits-free");
    let rf = backtest::run(&free).unwrap();
    assert!(largest_position(&free.out_dir) > 1.0, "{:#?}", rf.summary);
    assert!(rf.summary.refusals.is_empty(), "{:?}", rf.summary.refusals);
    // risk.max_position = 0.5 ETH: never exceeded, and the cuts are counted
    let mut capped = eth_config("limits-capped");
    capped.engine.risk.max_position = Qty::parse("0.5").unwrap();
    let rc = backtest::run(&capped).unwrap();
    assert!(largest_position(&capped.out_dir) <= 0.5, "{:#?}", rc.summary);
    assert!(rc.summary.refusals.get("max_position").is_some_and(|n| *n > 0), "{:?}", rc.summary.refusals);
    // without the default 2% rebalance band, small target changes trade too
    let mut banded = eth_config("limits-band");
    banded.engine.orders.min_rebalance_bps = 0;
    let rb = backtest::run(&banded).unwrap();
    assert!(rb.summary.orders > rf.summary.orders + 50, "{} vs {}", rb.summary.orders, rf.summary.orders);
    for c in [free, capped, banded] {
        let _ = std::fs::remove_dir_all(&c.out_dir);
    }
}

#[test]
fn cli_backtest_takes_the_engine_settings_from_an_odex_run_config() {
    let dir = out_dir("cli-config");
    std::fs::create_dir_all(&dir).unwrap();
    let odex = env!("CARGO_BIN_EXE_odex");
    // the built-in settings, printed, are a valid config once filled in
    let printed = std::process::Command::new(odex).args(["backtest", "--print-engine-config"]).output().unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(text, backtest::config::DEFAULT_ENGINE_TOML);
    let text = text
        .replace("{symbol}", "ETHUSDT")
        .replace("{base}", "ETH")
        .replace("{quote}", "USDT")
        .replace("{capital}", "5000")
        .replace("max_position = \"1000000000\"", "max_position = \"0.25\"")
        .replace("file = \"model.odex\"", &format!("file = {:?}", golden().display().to_string()));
    let config = dir.join("deployed.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = std::process::Command::new(odex);
    cmd.args(["backtest", "--config"]).arg(&config).arg("--out").arg(dir.join("out"));
    for d in eth_days() {
        cmd.arg("--data").arg(d);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap()).unwrap();
    assert_eq!(s["initial_equity"], "5000", "{s}");
    assert!(s["signal"].as_str().unwrap().contains("golden-v1.odex"), "{s}");
    assert!(largest_position(&dir.join("out")) <= 0.25, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}
