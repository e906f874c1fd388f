//! odex-trainer: the offline trainer behind `odex-train`.
//!
//! It fits the hybrid ODE market model `dx/dt = f_phys(x) + f_nn(x)` with
//! LibTorch (f64 throughout) and exports it through `odex_shared`'s model
//! file, so what is trained is exactly what the runtime integrates:
//!
//! - [`data`]: Binance kline archives (`.csv`, `.zip`, spot and futures) and
//!   generic OHLCV CSV, validated (order, duplicates, gaps, OHLC);
//! - [`synth`]: seeded OU, GBM, regime-switching and sine series with their
//!   true parameters;
//! - [`dataset`]: states from `odex_shared::features`, rollout windows, a
//!   time-ordered split, training-only normalisation;
//! - [`model`]: the differentiable hybrid model, Euler and RK4;
//! - [`loss`]: prediction loss plus the PnL terms of the shared sizing rule;
//! - [`fit`]: warm start, Adam, schedule, clipping, early stopping;
//! - [`export`]: the `.odex` file and its JSON model card;
//! - [`report`]: loss curves and prediction charts (SVG) with CSV/JSON numbers;
//! - [`run`]: one training run end to end, and [`sweep`]: many of them,
//!   all or one [`shard`] of them (`--shard K/N`, for array jobs);
//! - [`fetch`]: klines from a Binance REST endpoint into CSV;
//! - [`config`]: the documented TOML configuration;
//! - [`pade`]: the Pade tanh activation as one pass with its own slope.
//!
//! `unsafe` is denied everywhere but in [`pade`], which reads and writes
//! LibTorch's CPU buffers directly (one function, its conditions checked
//! and written down).
#![deny(unsafe_code)]

pub mod config;
pub mod data;
pub mod dataset;
pub mod export;
pub mod fetch;
pub mod fit;
pub mod loss;
pub mod model;
pub mod pade;
pub mod report;
pub mod run;
pub mod shard;
pub mod sweep;
pub mod synth;
pub mod walk_forward;
