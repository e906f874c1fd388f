//! `odex-sim`: a local Binance-compatible venue on 127.0.0.1.
//!
//! One thread and one `mio` loop serve, over plain TCP or TLS:
//! - market streams at `/ws/<stream>` and `/stream?streams=a/b` (bookTicker,
//!   trade, aggTrade, kline, diff and partial depth) with SUBSCRIBE,
//!   UNSUBSCRIBE and LIST_SUBSCRIPTIONS, replayed from a kline archive or a
//!   seeded synthetic series by the tick rule in [`feed`];
//! - the WebSocket API at `/ws-api/v3` ([`api`]) with HMAC and Ed25519
//!   signatures, recvWindow, rate limits and the order methods, routed
//!   through the [`SimExchange`] seam;
//! - REST `/api/v3/{ping,time,exchangeInfo,klines,depth,ticker/bookTicker}`
//!   and `/sim/ledger` ([`rest`]);
//! - fault injection ([`Faults`]) and a JSON ledger of orders, fills and balances;
//! - optional TLS with a generated certificate ([`tls`]);
//! - a wire-to-wire latency probe: one tick at a time, the time to the
//!   client's order measured on the venue's clock ([`probe`]).
//!
//! [`venue_adapter`] implements [`SimExchange`] over the venue model (the
//! backtester's matching, fees, slippage and queue model);
//! [`TouchExchange`] is a simpler fallback that fills at the touch.
//!
//! The websocket framing is the runtime's own [`WsCodec`](crate::net::WsCodec)
//! in its server role. Responses are built with `serde_json` and `format!`:
//! this is the venue's side of the wire, not the runtime's hot path.

pub mod api;
pub mod auth;
pub mod config;
pub mod exchange;
pub mod feed;
pub mod http;
pub mod market;
pub mod probe;
pub mod rest;
pub mod server;
pub mod state;
pub mod tls;
pub mod venue_adapter;

pub use config::{ApiKey, Faults, KeySecret, SimConfig, SymbolSpec};
pub use exchange::{ApiError, SimExchange, TouchExchange};
pub use feed::{FeedSource, KlineCsv, KlineRow, Process, Synthetic, SyntheticParams};
pub use probe::{Probe, ProbeConfig, ProbeExchange, ProbeSummary};
pub use server::{Server, SimError, SimStats};
pub use state::SimState;
