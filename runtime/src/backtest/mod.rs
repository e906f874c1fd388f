//! The backtester: replays market events through the live engine and the
//! venue model on a simulated clock, and reports what happened.
//!
//! - [`data`]: kline CSV reader and synthetic series;
//! - [`signal`]: the [`SignalSource`] seam, for the shared `Predictor` and
//!   the OU oracle (whose targets the engine trades instead of the model's);
//! - [`config`](mod@config): [`BacktestConfig`] (with the engine's `odex run` settings)
//!   and [`BacktestError`];
//! - [`replay`](mod@replay): the per-event loop around the engine;
//! - [`metrics`]: returns, Sharpe, Sortino, drawdown, regimes, with their conventions;
//! - [`plots`]: the SVG line charts of the report;
//! - [`report`]: the summary and the files written;
//! - [`runner`]: [`run`], the entry point of `odex backtest`.
//!
//! Deterministic: the same config and data write byte-identical results.

pub mod config;
pub mod data;
pub mod metrics;
pub mod plots;
pub mod replay;
pub mod report;
pub mod runner;
pub mod signal;

pub use config::{BacktestConfig, BacktestError, DataSource, SignalConfig};
pub use metrics::Metrics;
pub use replay::{Replay, replay};
pub use report::{BacktestReport, Summary};
pub use runner::{load_events, run};
pub use signal::{OuOracle, OuParams, SignalSource};
