//! The network transport: one `mio` event loop, rustls TLS, websocket
//! framing over preallocated buffers, timers, reconnects and rotation.
//!
//! - [`EventLoop`] owns the `mio::Poll`, every socket, the [`Timers`] and the
//!   connections; [`EventLoop::poll_once`] hands messages and events to a
//!   [`FrameSink`].
//! - A connection (`conn.rs`) goes connecting -> TLS -> upgrading -> open ->
//!   closing, reconnects with jittered exponential [`Backoff`], and rotates
//!   before Binance's 24 h limit (or on `serverShutdown`) with no gap.
//! - [`WsCodec`] frames RFC 6455 over buffers sized once from [`NetConfig`];
//!   a received frame allocates nothing in this code.
//! - [`ClockSync`] estimates the server clock offset from `time` round trips.
//!
//! ```no_run
//! use std::time::Duration;
//! use odex_runtime::clock::SystemClock;
//! use odex_runtime::net::{ConnEvent, ConnId, ConnSpec, EventLoop, FrameSink, MessageKind, NetConfig};
//!
//! struct Engine;
//! impl FrameSink for Engine {
//!     fn on_message(&mut self, _conn: ConnId, _kind: MessageKind, payload: &[u8]) {
//!         // decode in place; `payload` borrows the connection's buffer
//!         let _ = payload;
//!     }
//!     fn on_event(&mut self, _conn: ConnId, _event: ConnEvent) {}
//! }
//!
//! # fn main() -> Result<(), odex_runtime::net::NetError> {
//! let mut net = EventLoop::new(NetConfig::default())?;
//! let md = net.add_connection(ConnSpec {
//!     url: "wss://stream.binance.com:9443/ws".into(),
//!     subscriptions: vec![br#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}"#.to_vec()],
//! })?;
//! let clock = SystemClock::new();
//! let mut engine = Engine;
//! net.connect(md, &clock, &mut engine)?;
//! loop {
//!     net.poll_once(&clock, &mut engine, Some(Duration::from_millis(1)))?;
//!     // then send what the engine decided: net.send_text(api, order, &clock)?
//! }
//! # }
//! ```

mod backoff;
mod clock_sync;
mod config;
mod conn;
mod error;
mod event_loop;
mod handshake;
mod rng;
mod sink;
mod timer;
mod tls;
mod transport;
mod ws;

pub use backoff::Backoff;
pub use clock_sync::{ClockOffset, ClockSync, TimeSample};
pub use config::{ConnSpec, Endpoint, NetConfig};
pub use error::{NetError, ProtocolError};
pub use event_loop::{EventLoop, USER_TOKEN_BASE};
pub use rng::SeededRng;
pub use sink::{CloseReason, ConnEvent, ConnId, ConnStats, FrameSink, MessageKind};
pub use timer::{TimerId, Timers};
pub use tls::client_config;
pub use ws::{OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, WsCodec, WsEvent};
