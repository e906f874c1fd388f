//! The simulated venue: one model of an exchange, used three ways (the
//! backtester in process, paper trading fed live market data, and the
//! `odex-sim` server behind websockets).
//!
//! It is transport-free: [`Venue::submit`] and [`Venue::cancel`] answer at
//! once with an ack or a Binance error, [`Venue::on_market`] feeds it market
//! events and reports fills to a caller-provided [`ReportSink`], and time is
//! always an explicit [`Nanos`](odex_shared::market::Nanos). Seeded and
//! deterministic: the same config, seed and inputs give byte-identical
//! ledgers.
//!
//! - [`matching`]: the matching rules (top of book, L2 depth, queue, bars)
//!   and the [`Venue`] itself;
//! - [`depth`]: the local L2 book ([`DepthBook`]) kept by Binance's rules;
//! - [`ledger`]: balances, order records, fills, errors, the JSON dump;
//! - [`fees`], [`slippage`], [`latency`]: the cost and delay seams;
//! - [`rng`]: the seeded generator behind every random draw.

pub mod depth;
pub mod fees;
pub mod latency;
pub mod ledger;
pub mod matching;
pub mod rng;
pub mod slippage;

pub use depth::{Applied, DepthBook, DepthError};
pub use fees::{FeeModel, FeeRate, FixedFees};
pub use latency::{Latency, LatencyModel, LatencySpec};
pub use ledger::{Account, Fill, Ledger, SimOrder, SymbolNames, VenueError};
pub use matching::{
    CancelReject, FnSink, NullSink, OrderRef, ReportSink, SymbolConfig, Venue, VenueConfig, VenueConfigError,
};
pub use rng::Rng;
pub use slippage::{Slippage, SlippageModel, SlippageParseError};
