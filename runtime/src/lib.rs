//! odex-runtime: the tiny executor that trades a model exported by the trainer.
//!
//! One thread, one `mio` event loop, `rustls` and `tungstenite` to Binance.
//! Per market event it updates the features, integrates the model, sizes and
//! risk-checks a position and places orders, without allocating. The same
//! engine drives live trading, paper trading and backtests; only the venue
//! and the clock behind it change.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod alloc_count;
pub mod backtest;
pub mod binance;
pub mod clock;
pub mod config;
pub mod engine;
pub mod event;
pub mod filters;
pub mod live;
pub mod net;
pub mod order;
pub mod sim;
pub mod venue;
