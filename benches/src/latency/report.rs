//! The harness's table and the ratios against issue 7's targets.

use std::fmt::Write as _;

use super::Measured;

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// The table, the ratios and the targets, as text.
pub fn render(results: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>15} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "wire-to-wire (us)", "samples/ticks", "p50", "p90", "p99", "p99.9", "max"
    );
    for m in results {
        let w = &m.wire;
        let _ = writeln!(
            out,
            "{:<26} {:>15} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1}",
            m.name,
            format!("{}/{}", w.count, w.ticks),
            us(w.p50_ns),
            us(w.p90_ns),
            us(w.p99_ns),
            us(w.p999_ns),
            us(w.max_ns)
        );
    }
    let floor = |busy: bool| results.iter().find(|m| m.kind == "floor" && m.busy_poll == busy);
    let _ = writeln!(out, "\nodex vs floor (target: p50 within 5 us of the floor's, p99 within 1.5x the floor's):");
    for m in results.iter().filter(|m| m.kind == "odex") {
        let Some(f) = floor(m.busy_poll).or_else(|| floor(false)) else { continue };
        let d50 = us(m.wire.p50_ns) - us(f.wire.p50_ns);
        let r99 = m.wire.p99_ns as f64 / f.wire.p99_ns.max(1) as f64;
        let _ = writeln!(
            out,
            "  {:<24} vs {:<18} p50 +{:>6.1} us [{}]   p99 {:>5.2}x [{}]",
            m.name,
            f.name,
            d50,
            if d50 <= 5.0 { "met" } else { "NOT met" },
            r99,
            if r99 <= 1.5 { "met" } else { "NOT met" }
        );
    }
    let base = results.iter().find(|m| m.kind == "baseline");
    let _ = writeln!(out, "\nbaseline vs odex (target: odex p99 at least 3x lower than the baseline's):");
    if let Some(b) = base {
        for m in results.iter().filter(|m| m.kind == "odex" && m.transport == b.transport) {
            let r = b.wire.p99_ns as f64 / m.wire.p99_ns.max(1) as f64;
            let r50 = b.wire.p50_ns as f64 / m.wire.p50_ns.max(1) as f64;
            let _ = writeln!(
                out,
                "  {:<24} baseline/odex p99 {:>5.2}x [{}]   (p50 {:.2}x)",
                m.name,
                r,
                if r >= 3.0 { "met" } else { "NOT met" },
                r50
            );
        }
    } else {
        let _ = writeln!(out, "  (baseline not run)");
    }
    for m in results.iter().filter(|m| m.in_process.is_some()) {
        if let Some(s) = &m.in_process {
            let _ = writeln!(out, "\n{}: {s}", m.name);
        }
    }
    out
}
