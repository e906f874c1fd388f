//! Errors of the network layer.
//!
//! Set-up errors ([`NetError`]) name what was wrong; per-connection failures
//! on the hot path are small `Copy` values ([`ProtocolError`], [`CloseReason`](super::CloseReason))
//! reported through the sink and counted, because a connection that fails is
//! reconnected rather than bubbled up.

use std::io;

/// A websocket protocol violation by the peer (RFC 6455), or a message the
/// configured limits cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV1-3 set without a negotiated extension.
    #[error("reserved bits set in a frame header")]
    ReservedBits,
    /// Opcode 3-7 or 11-15.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// The server masked a frame (servers must not).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A client sent an unmasked frame (clients must mask; server role only).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A control frame longer than 125 bytes or fragmented.
    #[error("malformed control frame")]
    BadControlFrame,
    /// A continuation frame with no message started.
    #[error("continuation frame without a started message")]
    UnexpectedContinuation,
    /// A new data frame while a fragmented message is unfinished.
    #[error("data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A frame or a reassembled message above the configured maximum.
    #[error("message longer than the configured maximum")]
    MessageTooBig,
    /// A 64-bit length with the top bit set, or a non-minimal length encoding.
    #[error("invalid payload length")]
    BadLength,
    /// A text message (or close reason) that is not UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A close frame with a 1-byte payload or a forbidden code.
    #[error("invalid close frame payload")]
    BadClose,
    /// The outgoing buffer has no room for a pong or close reply.
    #[error("write buffer full")]
    WriteBufferFull,
    /// The HTTP upgrade answer was not a valid `101 Switching Protocols`.
    #[error("websocket upgrade refused or malformed")]
    Upgrade,
}

/// Errors from setting up or using the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A configuration value is out of range.
    #[error("net config: `{field}` {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A connection URL could not be used.
    #[error("url `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The extra CA file could not be read or holds no usable certificate.
    #[error("CA file `{path}`: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration or the server name.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// An operating-system error (poll creation, registration).
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// More connections than `NetConfig::max_connections`.
    #[error("connection table full ({0} connections)")]
    TooManyConnections(usize),
    /// The connection id does not exist.
    #[error("no connection {0}")]
    UnknownConnection(u16),
    /// The connection is not open for sending.
    #[error("connection {0} is not open")]
    NotOpen(u16),
    /// The outgoing buffer cannot take the message now.
    #[error("write buffer full on connection {0}")]
    WriteBufferFull(u16),
    /// The message is larger than the whole send buffer (`NetConfig::write_buffer`).
    #[error("message larger than the send buffer on connection {0}")]
    MessageTooBig(u16),
    /// The timer queue is full.
    #[error("timer queue full")]
    TimersFull,
}
