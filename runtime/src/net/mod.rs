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
pub use ws::{WsCodec, WsEvent};
