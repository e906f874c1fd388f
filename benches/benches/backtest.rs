//! Backtester throughput: top-of-book events replayed through the engine
//! and the venue model with the reference model (4-dimensional state, MLP
//! 4 -> 32 -> 32 -> 4, PadeTanh, one RK4 step) evaluated on every event (the
//! engine's journal written to a temporary file as in a real backtest), the
//! model alone, and the venue model alone (a resting order, every event
//! matched against it).
//!
//! Run with `cargo bench -p odex-benches --bench backtest`; criterion prints
//! events per second as `thrpt`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use odex_benches::reference_model;
use odex_runtime::backtest::data::synthetic_book;
use odex_runtime::backtest::replay::{SYMBOL, replay, venue_config};
use odex_runtime::backtest::{BacktestConfig, DataSource, SignalConfig};
use odex_runtime::order::{ClientOrderId, OrderRequest, OrderType, TimeInForce};
use odex_runtime::venue::{LatencySpec, NullSink, Slippage, Venue};
use odex_shared::market::{Nanos, Price, Qty, Side};
use odex_shared::predictor::Predictor;

const EVENTS: usize = 200_000;

fn config() -> BacktestConfig {
    let mut c = BacktestConfig::new(
        DataSource::Klines(vec![PathBuf::from("synthetic")]),
        PathBuf::from("reference"),
        SignalConfig::Model,
        PathBuf::from("unused"),
    )
    .unwrap();
    c.slippage = Slippage::BookWalk { levels: 3, spacing_bps: 1.0 };
    c.order_latency = LatencySpec::Constant(Nanos(200_000));
    c.market_data_latency = LatencySpec::Constant(Nanos(100_000));
    c
}

fn journal() -> PathBuf {
    std::env::temp_dir().join(format!("odex-bench-backtest-{}.journal", std::process::id()))
}

/// The venue alone: one resting bid far below the market, so every event
/// is matched against a live order; returns the fills (none).
fn venue_pass(events: &[odex_runtime::event::MarketEvent], vc: &odex_runtime::venue::VenueConfig) -> u64 {
    let mut v = Venue::new(vc).unwrap();
    let mut sink = NullSink;
    if let Some(first) = events.first() {
        v.on_market(first, &mut sink);
    }
    let rest = OrderRequest {
        symbol: SYMBOL,
        client_id: ClientOrderId::new(b"rest").unwrap(),
        side: Side::Buy,
        kind: OrderType::Limit,
        time_in_force: Some(TimeInForce::Gtc),
        price: Some(Price::parse("1000").unwrap()),
        qty: Qty::parse("0.01").unwrap(),
    };
    v.submit(rest, Nanos(0)).unwrap();
    for ev in events {
        v.on_market(ev, &mut sink);
    }
    v.ledger().fills_total()
}

fn backtest(c: &mut Criterion) {
    let events = synthetic_book(SYMBOL, EVENTS, Nanos(10_000_000), 1);
    let model = reference_model();
    let predictor = Predictor::new(&model).unwrap();
    let cfg = config();
    let journal = journal();
    let mut g = c.benchmark_group("backtest");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("model_every_event", |b| {
        b.iter(|| {
            let r = replay(&cfg, black_box(&events), &model, Some(&journal)).unwrap();
            black_box(r.fills.len())
        });
    });
    // the model alone, the same events: the ratio shows what the venue and
    // the loop add
    g.bench_function("model_only", |b| {
        b.iter(|| {
            let mut p = predictor.clone();
            let mut acc = 0.0;
            for ev in black_box(&events) {
                if odex_runtime::backtest::SignalSource::observe(&mut p, ev) {
                    acc += odex_runtime::backtest::SignalSource::target_fraction(&p);
                }
            }
            black_box(acc)
        });
    });
    g.bench_function("venue_only", |b| {
        let vc = venue_config(&cfg);
        b.iter(|| venue_pass(black_box(&events), &vc));
    });
    g.finish();
    let _ = std::fs::remove_file(&journal);
}

/// `ODEX_BENCH_CPU=model:N`, `signal:N` (the model alone) or `venue:N` runs that workload N times over the
/// events and exits, so `/usr/bin/time` can report the CPU time it used: a
/// per-core figure on a machine shared with other work, where criterion's
/// wall-clock times are inflated by the contention.
fn cpu_time_mode() -> bool {
    let Ok(spec) = std::env::var("ODEX_BENCH_CPU") else { return false };
    let (what, n) = spec.split_once(':').unwrap_or((spec.as_str(), "10"));
    let reps: usize = n.parse().unwrap_or(10);
    let events = synthetic_book(SYMBOL, EVENTS, Nanos(10_000_000), 1);
    let model = reference_model();
    let predictor = Predictor::new(&model).unwrap();
    let cfg = config();
    let journal = journal();
    let mut total = 0u64;
    for _ in 0..reps {
        total += match what {
            "model" => replay(&cfg, black_box(&events), &model, Some(&journal)).unwrap().fills.len() as u64,
            "signal" => {
                let mut p = predictor.clone();
                let mut trading = 0u64;
                for ev in black_box(&events) {
                    if odex_runtime::backtest::SignalSource::observe(&mut p, ev)
                        && odex_runtime::backtest::SignalSource::target_fraction(&p) > 0.0
                    {
                        trading += 1;
                    }
                }
                trading
            }
            _ => venue_pass(&events, &venue_config(&cfg)),
        };
    }
    let _ = std::fs::remove_file(&journal);
    println!("{what}: {} events replayed ({total} fills)", reps * EVENTS);
    true
}

fn benches() {
    if cpu_time_mode() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    backtest(&mut c);
    c.final_summary();
}

criterion_main!(benches);
