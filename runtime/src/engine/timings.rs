//! Per-stage latency histograms, preallocated with fixed bounds so that
//! recording on the hot path never allocates (no auto-resize: values past
//! the top are clamped to it).

use hdrhistogram::Histogram;
use hdrhistogram::errors::CreationError;

/// Highest value tracked, in nanoseconds (10 s).
pub const MAX_TRACKED_NS: u64 = 10_000_000_000;

/// A stage of the tick-to-order path, in path order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Frame bytes to a market event (recorded by the event loop).
    Decode,
    /// The model's features updated with the event.
    Features,
    /// The model integrated over its horizon: expected return and variance.
    Integrate,
    /// Sizing to a target position and the risk clamp.
    Risk,
    /// Order manager and order checks, up to the hand-off to the venue.
    Orders,
    /// The venue's hand-off: encode and sign (live), or the venue model (paper).
    EncodeSign,
    /// The write-ahead journal write before the wire (event loop).
    Journal,
    /// TLS and the socket write of the order frames (event loop).
    Wire,
    /// The engine's whole event, features to hand-off.
    Total,
}

impl Stage {
    /// Every stage, in path order.
    pub const ALL: [Self; 9] = [
        Self::Decode,
        Self::Features,
        Self::Integrate,
        Self::Risk,
        Self::Orders,
        Self::EncodeSign,
        Self::Journal,
        Self::Wire,
        Self::Total,
    ];

    /// Its name in summaries and the `stage` metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Features => "features",
            Self::Integrate => "integrate",
            Self::Risk => "sizing_risk",
            Self::Orders => "orders",
            Self::EncodeSign => "encode_sign",
            Self::Journal => "journal",
            Self::Wire => "tls_write",
            Self::Total => "total",
        }
    }
}

/// One histogram per [`Stage`], in nanoseconds of the engine's clock.
/// Stages the engine does not see (decode, journal, wire) are recorded by
/// the event loop through [`StageTimings::record`]; a stage that never ran
/// (the journal and wire stages in a backtest) stays empty.
///
/// Recording on the tick path is one store: the event's value waits in a
/// slot per stage until [`StageTimings::flush`], which the event loop calls
/// once the order is on the wire, moves it into the histogram (an update
/// there is some 10 ns and touches a line of a 200 KiB table). A second
/// value for a stage before a flush records the first at once, so nothing
/// is lost when no one flushes (a backtest); the histograms are read
/// through [`StageTimings::flushed`].
#[derive(Debug, Clone)]
pub struct StageTimings {
    hists: [Histogram<u64>; Stage::ALL.len()],
    waiting: [u64; Stage::ALL.len()],
}

fn hist() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3)
}

/// Records `v` clamped into the histogram's fixed range (never resizes).
pub fn record(h: &mut Histogram<u64>, v: u64) {
    let _ = h.record(v.clamp(1, MAX_TRACKED_NS));
}

impl StageTimings {
    /// Empty histograms (1 ns to 10 s, 3 significant figures).
    ///
    /// # Errors
    /// [`CreationError`] (never with these bounds).
    pub fn new() -> Result<Self, CreationError> {
        Ok(Self {
            hists: [hist()?, hist()?, hist()?, hist()?, hist()?, hist()?, hist()?, hist()?, hist()?],
            waiting: [0; Stage::ALL.len()],
        })
    }

    /// Records `ns` for `stage` (clamped into range; never allocates): kept
    /// until [`Self::flush`], see the type's documentation.
    #[inline]
    pub fn record(&mut self, stage: Stage, ns: u64) {
        if let (Some(w), Some(h)) = (self.waiting.get_mut(stage as usize), self.hists.get_mut(stage as usize)) {
            if *w != 0 {
                record(h, *w);
            }
            *w = ns.max(1);
        }
    }

    /// Moves the waiting values into the histograms (off the tick path).
    pub fn flush(&mut self) {
        for (w, h) in self.waiting.iter_mut().zip(&mut self.hists) {
            if *w != 0 {
                record(h, *w);
                *w = 0;
            }
        }
    }

    /// The timings with every waiting value recorded.
    pub fn flushed(&mut self) -> &Self {
        self.flush();
        self
    }

    /// One stage's histogram.
    pub fn get(&self, stage: Stage) -> Option<&Histogram<u64>> {
        self.hists.get(stage as usize)
    }

    /// `(name, histogram)` of every stage that recorded something, in path
    /// order (off the hot path).
    pub fn stages(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        Stage::ALL.into_iter().zip(&self.hists).filter(|(_, h)| !h.is_empty()).map(|(s, h)| (s.as_str(), h))
    }

    /// A one-line-per-stage summary: count, p50, p99, p99.9 and max in ns.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (name, h) in self.stages() {
            s.push_str(&format!(
                "{name:>11}: n={} p50={}ns p99={}ns p99.9={}ns max={}ns\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_counted_once_flushed_or_not() {
        let mut t = StageTimings::new().unwrap();
        t.record(Stage::Integrate, 600);
        assert!(t.get(Stage::Integrate).unwrap().is_empty(), "waits for the flush");
        t.flush();
        t.flush();
        assert_eq!(t.get(Stage::Integrate).unwrap().len(), 1);
        // no flush between events (a backtest): the earlier value goes in at the next record
        for ns in [700, 800, 900] {
            t.record(Stage::Integrate, ns);
        }
        t.record(Stage::Wire, 0);
        assert_eq!(t.get(Stage::Integrate).unwrap().len(), 3);
        let h = t.flushed().get(Stage::Integrate).unwrap();
        assert_eq!((h.len(), h.min(), h.max()), (4, 600, h.highest_equivalent(900)));
        assert_eq!(t.get(Stage::Wire).unwrap().len(), 1, "a zero is recorded as 1 ns, not dropped");
        assert_eq!(t.stages().map(|(name, _)| name).collect::<Vec<_>>(), ["integrate", "tls_write"]);
    }
}
