//! The wire-to-wire latency harness (`latency_harness`, `benches/latency.sh`).
//!
//! Three measurements, all on 127.0.0.1, all timed by the side that plays
//! the venue (one clock, one process):
//! - [`venue`]: the real `odex run --latency-probe` against
//!   `odex-sim --probe-ticks`: a bookTicker tick written, the order it
//!   causes read back (ws and wss, with and without `--busy-poll`), and the
//!   same for the [`baseline`] client (tokio + tokio-tungstenite + serde_json);
//! - [`floor`]: a TCP ping-pong of the same sizes with the same pacing, the
//!   least any client could take on this machine.
//!
//! [`report`] prints the table and the ratios against the targets.

pub mod baseline;
pub mod floor;
pub mod report;
pub mod venue;

use serde::{Deserialize, Serialize};

/// Bytes out per floor ping: a bookTicker frame on the combined stream (about 144 B), rounded up.
pub const TICK_BYTES: usize = 160;
/// Bytes back per floor pong: a signed `order.place` frame (about 375 B), rounded up.
pub const ORDER_BYTES: usize = 420;

/// One configuration's latency distribution, nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Ticks sent while measuring.
    pub ticks: u64,
    /// Samples.
    pub count: u64,
    /// Ticks that got no answer within the timeout.
    pub no_order: u64,
    /// Smallest sample.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
}

impl Stats {
    /// The summary of histogram `h` after `ticks` pings.
    pub fn from_histogram(h: &hdrhistogram::Histogram<u64>, ticks: u64) -> Self {
        let q = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Self {
            ticks,
            count: h.len(),
            no_order: ticks.saturating_sub(h.len()),
            min_ns: if h.is_empty() { 0 } else { h.min() },
            p50_ns: q(0.5),
            p90_ns: q(0.9),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            max_ns: h.max(),
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// What was measured (`odex ws`, `floor busy-poll`, ...).
    pub name: String,
    /// Which group it belongs to: `odex`, `floor` or `baseline`.
    pub kind: String,
    /// Transport: `ws` or `wss` (`tcp` for the floor).
    pub transport: String,
    /// Whether the client busy-polled.
    pub busy_poll: bool,
    /// The wire-to-wire distribution.
    pub wire: Stats,
    /// odex's own tick-to-order histogram and stage timings (its summary), when known.
    pub in_process: Option<String>,
}
