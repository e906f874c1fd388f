//! Live and paper trading: `odex run`.
//!
//! - [`wire`]: the codecs' borrowed frames to the engine's types.
//! - [`ws_venue`]: the live venue (WebSocket API requests, signed, in an outbox).
//! - [`paper`]: the paper venue (the backtester's venue model).
//! - [`metrics`]: the Prometheus endpoint and the kill-switch POST.
//! - [`runner`]: the loop that joins them.

pub mod metrics;
pub mod paper;
pub mod runner;
pub mod wire;
pub mod ws_venue;

pub use runner::{ExecVenue, RunError, RunOptions, RunSummary, run};
