//! Binance Spot codecs and signing.
//!
//! The hot path lives here: frames from the market streams and the
//! WebSocket API are decoded in place by a purpose-built borrowed scanner
//! ([`scan`]) into `shared`'s fixed-point types without copying or
//! allocating ([`market_data`], [`ws_api`]); requests are encoded into
//! caller-provided buffers with their parameters in signing order and
//! signed from the same bytes ([`request`], [`sign`]). Keys are loaded once
//! at start-up from the environment or a private file ([`keys`]), and the
//! cold-path `exchangeInfo` parser ([`exchange_info`]) turns per-symbol
//! filters into plain fixed-point values.

pub mod exchange_info;
pub mod keys;
pub mod market_data;
pub mod request;
pub mod scan;
pub mod sign;
pub mod ws_api;

pub use market_data::{
    AggTrade, BookTicker, DepthUpdate, Kline, Level, Levels, MarketEvent, MarketFrame, PartialDepth, ServerShutdown,
    StreamKind, Trade,
};
pub use scan::{DecodeError, DecodeErrorKind, JsonStr, RawJson};
pub use ws_api::{ApiError, ApiFrame, ApiResponse, ErrorCode, ExecutionReport, UserEvent};
