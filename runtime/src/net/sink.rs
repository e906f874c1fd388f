//! What the network layer hands to its caller: messages and connection events.
//!
//! The [`FrameSink`] is a generic parameter of
//! [`EventLoop::poll_once`](super::EventLoop::poll_once), so calls are static and
//! can inline. Payload slices borrow the connection's receive buffers and are
//! valid only during the call; decode them in place, do not keep them.

use odex_shared::market::Nanos;

use super::error::ProtocolError;

/// Index of a connection in its [`EventLoop`](super::EventLoop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u16);

/// Websocket data message kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// UTF-8 text (validated).
    Text,
    /// Binary.
    Binary,
}

/// Why a link (one socket of a connection) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server sent a close frame with this status code (1005 when none).
    ServerClose(u16),
    /// The server closed the socket without a close handshake.
    Eof,
    /// An I/O error from the socket.
    Io(std::io::ErrorKind),
    /// TLS failed (certificate, alert, decrypt).
    Tls,
    /// The peer broke the websocket protocol.
    Protocol(ProtocolError),
    /// Connecting, TLS and upgrade did not finish within `connect_timeout`.
    ConnectTimeout,
    /// Nothing arrived for `stale_after`.
    Stale,
    /// The address could not be resolved or the socket not created.
    Resolve,
    /// Replaced by a fresh link (rotation or `serverShutdown`).
    Rotated,
    /// Closed by the caller.
    Local,
}

/// Connection life-cycle events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// The websocket is open and the subscriptions were sent.
    Opened,
    /// The connection is down; a reconnect follows unless it was closed locally.
    Closed(CloseReason),
    /// A reconnect is scheduled after `delay` (attempt counts from 1).
    Reconnecting {
        /// Attempt number since the last successful open.
        attempt: u32,
        /// Backoff delay before it.
        delay: Nanos,
        /// Why the previous attempt or link ended.
        after: CloseReason,
    },
    /// A replacement link is being opened (age limit or `serverShutdown`);
    /// data keeps flowing on the old one.
    Rotating,
    /// The replacement took over; the old link is closed. Messages between
    /// the last one of the old link and the first of the new may repeat
    /// (never miss): consumers drop exchange sequence numbers already seen.
    Rotated,
}

/// Receives what the event loop reads.
///
/// Implementors must not block; they run on the event-loop thread between
/// socket reads. To send in reaction, queue the intent and send after
/// [`poll_once`](super::EventLoop::poll_once) returns.
pub trait FrameSink {
    /// One complete data message (fragments already reassembled).
    fn on_message(&mut self, conn: ConnId, kind: MessageKind, payload: &[u8]);

    /// A connection life-cycle event.
    fn on_event(&mut self, conn: ConnId, event: ConnEvent);

    /// A timer scheduled with [`EventLoop::schedule`](super::EventLoop::schedule) fired.
    fn on_timer(&mut self, key: u64) {
        let _ = key;
    }

    /// Readiness of a socket the caller registered itself with a token at or
    /// above [`USER_TOKEN_BASE`](super::USER_TOKEN_BASE).
    fn on_io(&mut self, token: mio::Token, readable: bool, writable: bool) {
        let _ = (token, readable, writable);
    }
}

/// Counters per connection (monotonic; read with [`EventLoop::stats`](super::EventLoop::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Data messages delivered.
    pub messages: u64,
    /// Pings answered.
    pub pings: u64,
    /// Links opened successfully.
    pub opens: u64,
    /// Reconnects scheduled after a failure.
    pub reconnects: u64,
    /// Rotations completed.
    pub rotations: u64,
    /// Protocol errors (each one ends its link).
    pub protocol_errors: u64,
    /// Links ended for staleness.
    pub stale: u64,
    /// Links ended by I/O, TLS, EOF or timeouts.
    pub link_failures: u64,
    /// Plaintext bytes received.
    pub bytes_in: u64,
}
