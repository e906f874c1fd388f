//! In-process tick-to-order: from the bytes of a combined-stream bookTicker
//! frame to a signed, masked `order.place` frame ready to encrypt, through
//! the code `odex run` uses (see `odex_benches::tick_path`). 1,000,000 ticks
//! of a seeded random walk; an hdrhistogram of every tick and one of the
//! ticks that produced an order; the counting allocator armed around the
//! measured region after warm-up. Twice: with HMAC-signed orders, and with
//! an Ed25519 session whose orders need no signature.
//!
//! Run with `cargo bench -p odex-benches --bench tick_to_order`
//! (`TICKS=N` to change the count, `AUTH=hmac` or `AUTH=session` to run one of the two).

use hdrhistogram::Histogram;
use odex_benches::tick_path::{self, PathAuth, WARMUP};
use odex_runtime::alloc_count;
use odex_shared::model::kernel_name;

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

fn main() {
    let ticks: u64 = std::env::var("TICKS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    for (auth, how) in [
        (PathAuth::Hmac, "HMAC-signed orders"),
        (PathAuth::Session, "Ed25519 session (session.logon), unsigned orders"),
    ] {
        if std::env::var("AUTH").is_ok_and(|a| !how.to_lowercase().contains(&a.to_lowercase())) {
            continue;
        }
        let r = tick_path::run(ticks, auth);
        println!(
            "in-process tick-to-order, {ticks} ticks ({WARMUP} warm-up), reference model ({} kernel), {how}",
            kernel_name()
        );
        for (name, h) in [("every tick (decode + engine)", &r.all), ("ticks that placed an order", &r.with_order)] {
            println!(
                "  {name:<30} n={:<8} p50 {:>6.2} us  p90 {:>6.2} us  p99 {:>6.2} us  p99.9 {:>7.2} us  max {:>8.2} us",
                h.len(),
                us(h, 0.5),
                us(h, 0.9),
                us(h, 0.99),
                us(h, 0.999),
                h.max() as f64 / 1e3
            );
        }
        println!("  orders {}, allocations in the measured region after warm-up: {}", r.orders, r.allocations);
        println!("  the engine's stage timings (every tick, warm-up included):");
        for line in r.stages.lines() {
            println!("    {}", line.trim());
        }
        assert_eq!(r.allocations, 0, "the hot path allocated");
        assert!(r.orders > 1000, "too few orders to measure: {}", r.orders);
    }
}
