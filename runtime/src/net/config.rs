//! Network configuration and connection endpoints, validated before use.
//!
//! Every buffer the network layer uses is sized from [`NetConfig`] when a
//! connection is added; nothing grows afterwards.

use std::net::IpAddr;
use std::path::PathBuf;

use odex_shared::market::Nanos;

use super::error::NetError;

const SECOND: u64 = 1_000_000_000;

/// Sizes, timeouts and policies of the network layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Largest websocket message accepted (frame or reassembled), bytes.
    pub max_message: usize,
    /// Bytes asked of the socket per read, on top of `max_message` room.
    pub read_chunk: usize,
    /// Outgoing buffer per link, bytes (largest message sent plus 14).
    pub write_buffer: usize,
    /// Most connections one loop holds.
    pub max_connections: usize,
    /// Most timers (network ones take 4 per connection; the rest are the caller's).
    pub timer_capacity: usize,
    /// mio events taken per poll.
    pub events_capacity: usize,
    /// TCP connect + TLS + websocket upgrade must finish within this.
    pub connect_timeout: Nanos,
    /// A link with nothing received (data or ping) for this long is dropped.
    pub stale_after: Nanos,
    /// Links are replaced after this age (Binance closes them at 24 h).
    pub rotate_after: Nanos,
    /// During rotation, both links stay up this long after the new one has
    /// data, so the old one delivers everything the server had queued.
    pub rotation_overlap: Nanos,
    /// Gap between subscription messages after an open (the first goes at
    /// once). Binance counts them, pings and pongs against 5 messages per
    /// second per market-stream connection; 250 ms keeps 4 per second.
    pub subscription_interval: Nanos,
    /// Wait at most this long for the server to answer our close frame.
    pub close_timeout: Nanos,
    /// First reconnect delay.
    pub backoff_base: Nanos,
    /// Largest reconnect delay.
    pub backoff_max: Nanos,
    /// Seed of backoff jitter and masking keys.
    pub seed: u64,
    /// Allow `ws://` (no TLS) to loopback addresses; for tests and the local simulator.
    pub allow_plain_loopback: bool,
    /// A PEM file of extra trusted CA certificates, added to the Mozilla roots.
    pub extra_ca_pem: Option<PathBuf>,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            max_message: 256 * 1024,
            read_chunk: 16 * 1024,
            write_buffer: 64 * 1024,
            max_connections: 8,
            timer_capacity: 128,
            events_capacity: 256,
            connect_timeout: Nanos(10 * SECOND),
            stale_after: Nanos(60 * SECOND),
            rotate_after: Nanos(23 * 3600 * SECOND + 30 * 60 * SECOND),
            rotation_overlap: Nanos(SECOND / 2),
            subscription_interval: Nanos(SECOND / 4),
            close_timeout: Nanos(2 * SECOND),
            backoff_base: Nanos(SECOND / 4),
            backoff_max: Nanos(30 * SECOND),
            seed: 0x6f64_6578,
            allow_plain_loopback: false,
            extra_ca_pem: None,
        }
    }
}

impl NetConfig {
    /// Checks ranges; names the first bad field.
    ///
    /// # Errors
    /// [`NetError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |field, reason| Err(NetError::Config { field, reason });
        if self.max_message < 125 || self.max_message > 1 << 30 {
            return bad("max_message", "must be within 125 bytes and 1 GiB");
        }
        if self.read_chunk < 512 {
            return bad("read_chunk", "must be at least 512 bytes");
        }
        if self.write_buffer < 256 {
            return bad("write_buffer", "must be at least 256 bytes");
        }
        if self.max_connections == 0 || self.max_connections > 4096 {
            return bad("max_connections", "must be within 1 and 4096");
        }
        if self.timer_capacity < self.max_connections.saturating_mul(TIMERS_PER_CONNECTION) {
            return bad("timer_capacity", "must hold at least 4 timers per connection");
        }
        if self.events_capacity == 0 {
            return bad("events_capacity", "must be positive");
        }
        for (field, v) in [
            ("connect_timeout", self.connect_timeout),
            ("stale_after", self.stale_after),
            ("rotate_after", self.rotate_after),
            ("close_timeout", self.close_timeout),
            ("subscription_interval", self.subscription_interval),
            ("backoff_base", self.backoff_base),
        ] {
            if v.0 == 0 {
                return bad(field, "must be positive");
            }
        }
        if self.rotation_overlap >= self.stale_after {
            return bad("rotation_overlap", "must be shorter than stale_after");
        }
        if self.backoff_max < self.backoff_base {
            return bad("backoff_max", "must be at least backoff_base");
        }
        Ok(())
    }
}

/// Timer slots reserved per connection: one watchdog per link slot (connect
/// timeout, stale check or close timeout, by phase), one connection timer
/// (reconnect backoff or rotation), and one spare.
pub(crate) const TIMERS_PER_CONNECTION: usize = 4;

/// One websocket connection the loop keeps open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSpec {
    /// `wss://host[:port]/path?query`, or `ws://` to a loopback address when allowed.
    pub url: String,
    /// Text messages sent after every open, in order (e.g. `SUBSCRIBE` requests),
    /// paced by `NetConfig::subscription_interval`. Put many streams in one
    /// request: a rotation waits for the data after them.
    pub subscriptions: Vec<Vec<u8>>,
}

/// A parsed `ws://` / `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// TLS on.
    pub tls: bool,
    /// Host name or IP literal (brackets removed).
    pub host: String,
    /// Port (443 / 80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses `url`; `ws://` passes only when `allow_plain_loopback` and the
    /// host is a loopback IP literal or `localhost`.
    ///
    /// # Errors
    /// [`NetError::Url`] saying what is wrong.
    pub fn parse(url: &str, allow_plain_loopback: bool) -> Result<Self, NetError> {
        let err = |reason| NetError::Url { url: url.to_owned(), reason };
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(err("scheme must be wss:// (or ws:// to loopback)"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') { format!("/{path}") } else { path.to_owned() };
        if authority.is_empty() || authority.contains('@') {
            return Err(err("missing host, or user info (not supported)"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed [ in host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse::<u16>().map_err(|_| err("bad port"))?),
                None if after.is_empty() => (h, default_port),
                None => return Err(err("junk after ]")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| err("bad port"))?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() || path.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
            return Err(err("empty host or whitespace in path"));
        }
        if !tls {
            let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if !allow_plain_loopback {
                return Err(err("ws:// is off (set allow_plain_loopback for tests)"));
            }
            if !loopback {
                return Err(err("ws:// only to loopback addresses"));
            }
        }
        Ok(Self { tls, host: host.to_owned(), port, path })
    }

    /// The `Host` header value (port omitted when it is the scheme's default).
    pub fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == default { host } else { format!("{host}:{}", self.port) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binance_urls() {
        let e = Endpoint::parse("wss://stream.binance.com:9443/stream?streams=a/b", false).unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "stream.binance.com", 9443, "/stream?streams=a/b")
        );
        assert_eq!(e.host_header(), "stream.binance.com:9443");
        let e = Endpoint::parse("wss://ws-api.binance.com/ws-api/v3", false).unwrap();
        assert_eq!((e.port, e.host_header().as_str()), (443, "ws-api.binance.com"));
        let e = Endpoint::parse("wss://h?x=1", false).unwrap();
        assert_eq!(e.path, "/?x=1");
        let e = Endpoint::parse("ws://[::1]:9/ws", true).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.host_header().as_str()), ("::1", 9, "[::1]:9"));
    }

    #[test]
    fn plain_ws_only_to_loopback_and_only_when_asked() {
        assert!(Endpoint::parse("ws://127.0.0.1:8080/ws", true).is_ok());
        assert!(Endpoint::parse("ws://localhost/ws", true).is_ok());
        assert!(Endpoint::parse("ws://127.0.0.1:8080/ws", false).is_err());
        assert!(Endpoint::parse("ws://10.0.0.1/ws", true).is_err());
        assert!(Endpoint::parse("ws://example.com/ws", true).is_err());
        for bad in ["http://x/", "wss://", "wss://:1/", "wss://h:99999/", "wss://u@h/", "wss://h/a b", "wss://[::1/"] {
            assert!(Endpoint::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_validation_names_the_field() {
        assert!(NetConfig::default().validate().is_ok());
        let c = NetConfig { max_message: 10, ..NetConfig::default() };
        assert!(matches!(c.validate(), Err(NetError::Config { field: "max_message", .. })));
        let c = NetConfig { timer_capacity: 3, ..NetConfig::default() };
        assert!(matches!(c.validate(), Err(NetError::Config { field: "timer_capacity", .. })));
        let c = NetConfig { stale_after: Nanos(0), ..NetConfig::default() };
        assert!(matches!(c.validate(), Err(NetError::Config { field: "stale_after", .. })));
    }
}
