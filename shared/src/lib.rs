//! odex-shared: the `no_std` core that the trainer and the runtime both run.
//!
//! Everything that decides what a model sees and what it predicts lives here
//! once, so that what is trained is exactly what trades:
//!
//! - [`market`]: exact fixed-point [`Price`] and
//!   [`Qty`] parsed from Binance decimal strings, and the
//!   top-of-book and bar types built from them.
//! - [`features`]: the streaming state builder (log return, EWMA level and
//!   variance, scalar Kalman filter, order-flow imbalance) with frozen
//!   normalisation statistics.
//! - [`kline`]: one kline (OHLCV) text row into a validated bar, for the
//!   trainer's archive reader and the backtester alike.
//! - [`model`]: the hybrid vector field `f(x) = f_phys(x) + f_nn(x)` with an
//!   optional diffusion term.
//! - [`integrator`]: fixed-step Euler and RK4 over a horizon.
//! - [`sizing`]: the signal-to-position rule (fractional Kelly, volatility
//!   target, caps) and the drawdown breaker.
//! - [`model_file`]: the versioned, checksummed model file.
//!
//! The crate has no allocator and no `std` outside its own tests; every
//! dependency is built with default features off.
#![cfg_attr(not(test), no_std)]
// `deny`, not `forbid`: `model::kernel` holds the crate's one unsafe call (to
// the AVX2 build of the model kernel, after checking the CPU has AVX2).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod checksum;
pub mod features;
pub mod integrator;
pub mod kline;
pub mod market;
pub mod model;
pub mod model_file;
pub mod predictor;
pub mod sizing;

pub use features::{FeatureKind, FeatureSpec, FeatureState, Observation};
pub use integrator::Method;
pub use market::{Price, Qty, Side};
pub use model::{HybridModel, MAX_HIDDEN, MAX_LAYERS, MAX_STATE, State};
pub use model_file::{ModelFile, ModelSpec};
pub use predictor::Predictor;
pub use sizing::{Signal, SizingParams};
