//! The engine: one strategy path from a market event to order intents.
//!
//! `on_market` -> features and model ([`odex_shared::Predictor`]) -> target
//! fraction -> target position -> [`risk`] -> [`order_manager`] -> the
//! [`Venue`] seam; `on_execution` -> order manager -> [`portfolio`] ->
//! [`journal`] ring. [`Engine`] is generic over the venue and the clock, so
//! live trading, paper trading and backtests drive the same code, and it
//! allocates nothing after construction (proven by `tests/engine_alloc.rs`).
//! [`timings`] keeps a preallocated histogram per stage.

pub mod journal;
mod journal_map;
pub mod order_manager;
pub mod pipeline;
pub mod portfolio;
pub mod risk;
pub mod timings;
pub mod venue;

pub use journal::{JournalRecord, JournalRing, JournalWriter, Recovery, StopReason, recover};
pub use order_manager::{Action, OrderManager, OrderState, RateLimit, RateLimitKind, RequestKind, TrackedOrder};
pub use pipeline::{Engine, EngineCounters, EngineError, run_prefix};
pub use portfolio::{Balance, Discrepancy, Portfolio, Position};
pub use risk::{BreakerState, KillSwitch, Refusal, RefusalCounts, RiskManager};
pub use timings::{Stage, StageTimings};
pub use venue::{RecordingVenue, Sent, Venue};
