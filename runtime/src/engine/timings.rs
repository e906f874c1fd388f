//! Per-stage latency histograms, preallocated with fixed bounds so that
//! recording on the hot path never allocates (no auto-resize: values past
//! the top are clamped to it).

use hdrhistogram::Histogram;
use hdrhistogram::errors::CreationError;

/// Highest value tracked, in nanoseconds (10 s).
pub const MAX_TRACKED_NS: u64 = 10_000_000_000;

/// One histogram per stage of [`crate::engine::Engine::on_market`], in
/// nanoseconds of the engine's clock.
#[derive(Debug, Clone)]
pub struct StageTimings {
    /// Features update and model forecast (signal and target fraction).
    pub model: Histogram<u64>,
    /// Sizing to a position and the risk clamp.
    pub risk: Histogram<u64>,
    /// Order manager, order checks and hand-off to the venue.
    pub orders: Histogram<u64>,
    /// The whole event.
    pub total: Histogram<u64>,
}

fn hist() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3)
}

/// Records `v` clamped into the histogram's fixed range (never resizes).
pub fn record(h: &mut Histogram<u64>, v: u64) {
    let _ = h.record(v.clamp(1, MAX_TRACKED_NS));
}

impl StageTimings {
    /// Four empty histograms (1 ns to 10 s, 3 significant figures).
    ///
    /// # Errors
    /// [`CreationError`] (never with these bounds).
    pub fn new() -> Result<Self, CreationError> {
        Ok(Self { model: hist()?, risk: hist()?, orders: hist()?, total: hist()? })
    }

    /// `(name, histogram)` pairs for printing or export (off the hot path).
    pub fn stages(&self) -> [(&'static str, &Histogram<u64>); 4] {
        [("model", &self.model), ("risk", &self.risk), ("orders", &self.orders), ("total", &self.total)]
    }

    /// A one-line-per-stage summary: count, p50, p99, p99.9 and max in ns.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (name, h) in self.stages() {
            s.push_str(&format!(
                "{name:>6}: n={} p50={}ns p99={}ns p99.9={}ns max={}ns\n",
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            ));
        }
        s
    }
}
