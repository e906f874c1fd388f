//! The latency harness end to end at CI size: `latency_harness --quick`
//! (plain ws, no busy-poll) measures the floor, `odex run --latency-probe`
//! against `odex-sim --probe-ticks`, and the tokio baseline; every
//! configuration answers (nearly) every tick and the numbers are sane.
//!
//! `odex` and `odex-sim` belong to another package, so cargo does not
//! build them for this test: it runs `cargo build -p odex-runtime --bins`
//! with the test's own profile first (a no-op when they are up to date).

use odex_benches::latency::Measured;
use odex_runtime::clock::{Clock, SystemClock};
use std::path::Path;
use std::process::Command;

const TICKS: u64 = 3_000;

fn build_runtime_bins(bin_dir: &Path) {
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(other) => other.to_string(),
        None => "dev".to_string(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "odex-runtime", "--bins", "--profile", &profile])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building odex and odex-sim failed");
}

#[test]
fn quick_run_measures_every_configuration() {
    let harness = Path::new(env!("CARGO_BIN_EXE_latency_harness"));
    let bin_dir = harness.parent().unwrap();
    build_runtime_bins(bin_dir);
    let json = std::env::temp_dir().join(format!("odex-latency-test-{}.json", std::process::id()));
    let clock = SystemClock::new();
    let started = clock.monotonic();
    let out = Command::new(harness)
        .args(["--quick", "--ticks", &TICKS.to_string(), "--json"])
        .arg(&json)
        .arg("--bin-dir")
        .arg(bin_dir)
        .output()
        .expect("the harness runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "harness failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}(harness took {:.1} s)", clock.monotonic().saturating_sub(started).0 as f64 / 1e9);
    let results: Vec<Measured> = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);

    let kinds: Vec<&str> = results.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["floor", "odex", "baseline"], "quick mode: plain ws, no busy-poll");
    for m in &results {
        let w = &m.wire;
        assert_eq!(w.ticks, TICKS, "{}", m.name);
        assert!(w.count * 10 >= w.ticks * 9, "{}: only {} of {} ticks answered", m.name, w.count, w.ticks);
        let chain = [w.min_ns, w.p50_ns, w.p90_ns, w.p99_ns, w.p999_ns, w.max_ns];
        assert!(w.min_ns > 0, "{}: {w:?}", m.name);
        assert!(chain.windows(2).all(|p| p[0] <= p[1]), "{}: percentiles not monotone: {w:?}", m.name);
    }
    let floor = &results[0].wire;
    let odex = &results[1].wire;
    assert!(floor.p50_ns < odex.p50_ns, "the floor ({floor:?}) is not below odex ({odex:?})");
    assert!(text.contains("odex vs floor") && text.contains("baseline/odex p99"), "{text}");
}
