//! The Prometheus text endpoint, served from the trading loop's own `mio`
//! poller (no thread): `GET /metrics` answers the exposition format,
//! `POST /kill` trips the kill switch. Requests are read and answered off
//! the hot path, between events; a client gets at most 4 KiB of request
//! and one response, then the connection is closed.

use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::net::USER_TOKEN_BASE;

/// Every metric name the endpoint exports (the deploy files' alerts and
/// dashboard may use no other; a test checks).
pub const NAMES: &[&str] = &[
    "odex_up",
    "odex_info",
    "odex_market_events_total",
    "odex_orders_total",
    "odex_fills_total",
    "odex_rejects_total",
    "odex_refusals_total",
    "odex_position",
    "odex_equity",
    "odex_realised_pnl",
    "odex_unrealised_pnl",
    "odex_fees",
    "odex_drawdown_bps",
    "odex_breaker_state",
    "odex_kill_switch",
    "odex_connection_up",
    "odex_reconnects_total",
    "odex_decode_errors_total",
    "odex_market_data_age_seconds",
    "odex_tick_to_order_seconds",
    "odex_stage_seconds",
    "odex_hot_path_allocations_total",
    "odex_journal_dropped_total",
    "odex_open_orders",
];

/// One connection's numbers.
#[derive(Debug, Clone, Default)]
pub struct ConnSnapshot {
    /// `market` or `api`.
    pub name: &'static str,
    /// Open now.
    pub up: bool,
    /// Reconnects so far.
    pub reconnects: u64,
    /// Frames that did not decode.
    pub decode_errors: u64,
}

/// Everything the endpoint shows, gathered by the runner when asked.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `live` or `paper`.
    pub mode: &'static str,
    /// Market events handled.
    pub market_events: u64,
    /// Requests sent: place, cancel, query.
    pub orders: [u64; 3],
    /// Fills booked.
    pub fills: u64,
    /// Orders the exchange rejected.
    pub rejects: u64,
    /// Risk refusals by reason.
    pub refusals: Vec<(&'static str, u64)>,
    /// Position per symbol, base units.
    pub positions: Vec<(String, f64)>,
    /// Equity, quote.
    pub equity: f64,
    /// Realised PnL, quote.
    pub realised: f64,
    /// Unrealised PnL, quote.
    pub unrealised: f64,
    /// Fees, quote.
    pub fees: f64,
    /// Drawdown from peak, bps.
    pub drawdown_bps: i64,
    /// 0 normal, 1 reducing-only, 2 halted.
    pub breaker: u8,
    /// Kill switch on.
    pub killed: bool,
    /// Connections.
    pub conns: Vec<ConnSnapshot>,
    /// Market data age per symbol, seconds.
    pub data_age: Vec<(String, f64)>,
    /// Tick-to-order quantiles (quantile, seconds).
    pub tick_to_order: Vec<(f64, f64)>,
    /// Stage quantiles (stage, quantile, seconds).
    pub stages: Vec<(&'static str, f64, f64)>,
    /// Allocations on the hot path.
    pub hot_path_allocations: u64,
    /// Journal records dropped.
    pub journal_dropped: u64,
    /// Open orders.
    pub open_orders: u64,
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl Snapshot {
    /// Renders the Prometheus text exposition format into `out`.
    pub fn render(&self, out: &mut String) {
        out.clear();
        head(out, "odex_up", "gauge", "1 while the runtime runs.");
        out.push_str("odex_up 1\n");
        head(out, "odex_info", "gauge", "Mode and version.");
        let _ = writeln!(out, "odex_info{{mode=\"{}\",version=\"{}\"}} 1", self.mode, env!("CARGO_PKG_VERSION"));
        head(out, "odex_market_events_total", "counter", "Market events handled.");
        let _ = writeln!(out, "odex_market_events_total {}", self.market_events);
        head(out, "odex_orders_total", "counter", "Order requests sent, by kind.");
        for (kind, n) in ["place", "cancel", "query"].iter().zip(self.orders) {
            let _ = writeln!(out, "odex_orders_total{{kind=\"{kind}\"}} {n}");
        }
        head(out, "odex_fills_total", "counter", "Fills booked.");
        let _ = writeln!(out, "odex_fills_total {}", self.fills);
        head(out, "odex_rejects_total", "counter", "Orders the exchange rejected.");
        let _ = writeln!(out, "odex_rejects_total {}", self.rejects);
        head(out, "odex_refusals_total", "counter", "Intents the risk layer refused, by reason.");
        for (reason, n) in &self.refusals {
            let _ = writeln!(out, "odex_refusals_total{{reason=\"{reason}\"}} {n}");
        }
        head(out, "odex_position", "gauge", "Position, base units.");
        for (symbol, q) in &self.positions {
            let _ = writeln!(out, "odex_position{{symbol=\"{symbol}\"}} {q}");
        }
        for (name, help, v) in [
            ("odex_equity", "Equity, quote units.", self.equity),
            ("odex_realised_pnl", "Realised PnL before fees, quote units.", self.realised),
            ("odex_unrealised_pnl", "Unrealised PnL at the mid, quote units.", self.unrealised),
            ("odex_fees", "Fees paid, quote units.", self.fees),
        ] {
            head(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        }
        head(out, "odex_drawdown_bps", "gauge", "Drawdown from peak equity, bps.");
        let _ = writeln!(out, "odex_drawdown_bps {}", self.drawdown_bps);
        head(out, "odex_breaker_state", "gauge", "Drawdown breaker: 0 normal, 1 reducing-only, 2 halted.");
        let _ = writeln!(out, "odex_breaker_state {}", self.breaker);
        head(out, "odex_kill_switch", "gauge", "1 while the kill switch is on.");
        let _ = writeln!(out, "odex_kill_switch {}", u8::from(self.killed));
        head(out, "odex_connection_up", "gauge", "1 while the connection is open.");
        for c in &self.conns {
            let _ = writeln!(out, "odex_connection_up{{conn=\"{}\"}} {}", c.name, u8::from(c.up));
        }
        head(out, "odex_reconnects_total", "counter", "Reconnects scheduled.");
        for c in &self.conns {
            let _ = writeln!(out, "odex_reconnects_total{{conn=\"{}\"}} {}", c.name, c.reconnects);
        }
        head(out, "odex_decode_errors_total", "counter", "Frames that did not decode.");
        for c in &self.conns {
            let _ = writeln!(out, "odex_decode_errors_total{{conn=\"{}\"}} {}", c.name, c.decode_errors);
        }
        head(out, "odex_market_data_age_seconds", "gauge", "Time since the symbol's last market event.");
        for (symbol, age) in &self.data_age {
            let _ = writeln!(out, "odex_market_data_age_seconds{{symbol=\"{symbol}\"}} {age}");
        }
        head(out, "odex_tick_to_order_seconds", "gauge", "Tick-to-order latency quantiles since start.");
        for (q, v) in &self.tick_to_order {
            let _ = writeln!(out, "odex_tick_to_order_seconds{{quantile=\"{q}\"}} {v}");
        }
        head(out, "odex_stage_seconds", "gauge", "Per-stage latency quantiles since start.");
        for (stage, q, v) in &self.stages {
            let _ = writeln!(out, "odex_stage_seconds{{stage=\"{stage}\",quantile=\"{q}\"}} {v}");
        }
        head(out, "odex_hot_path_allocations_total", "counter", "Heap allocations on the hot path after warm-up.");
        let _ = writeln!(out, "odex_hot_path_allocations_total {}", self.hot_path_allocations);
        head(out, "odex_journal_dropped_total", "counter", "Journal records dropped (ring full).");
        let _ = writeln!(out, "odex_journal_dropped_total {}", self.journal_dropped);
        head(out, "odex_open_orders", "gauge", "Orders open or in flight.");
        let _ = writeln!(out, "odex_open_orders {}", self.open_orders);
    }
}

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// `GET /metrics`.
    Metrics,
    /// `POST /kill`.
    Kill,
}

const MAX_CLIENTS: usize = 8;
const MAX_REQUEST: usize = 4096;

#[derive(Debug)]
struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    response: Vec<u8>,
    written: usize,
}

/// The endpoint: a listener and up to eight clients on the caller's poller.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
    clients: Vec<Option<Client>>,
}

/// The listener's token; clients follow it.
pub const LISTENER_TOKEN: Token = Token(USER_TOKEN_BASE);

impl MetricsServer {
    /// Binds `addr` and registers with `registry`.
    ///
    /// # Errors
    /// The address is in use or cannot be bound.
    pub fn bind(addr: SocketAddr, registry: &Registry) -> io::Result<Self> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, LISTENER_TOKEN, Interest::READABLE)?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr, clients: (0..MAX_CLIENTS).map(|_| None).collect() })
    }

    /// The bound address (the port is known when 0 was asked for).
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// True when `token` is this server's.
    pub fn owns(token: Token) -> bool {
        (LISTENER_TOKEN.0..=LISTENER_TOKEN.0 + MAX_CLIENTS).contains(&token.0)
    }

    /// Handles readiness of one of its sockets. `answer` builds the body
    /// for a complete request (called at most once per client).
    pub fn on_ready(&mut self, token: Token, registry: &Registry, mut answer: impl FnMut(Ask) -> String) {
        if token == LISTENER_TOKEN {
            self.accept(registry);
            return;
        }
        let i = token.0 - LISTENER_TOKEN.0 - 1;
        let done = match self.clients.get_mut(i).and_then(Option::as_mut) {
            Some(c) => serve(c, &mut answer),
            None => false,
        };
        if done && let Some(mut c) = self.clients.get_mut(i).and_then(Option::take) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            let Ok((mut stream, _)) = self.listener.accept() else { return };
            let Some(i) = self.clients.iter().position(Option::is_none) else {
                continue; // all slots busy: dropping the stream closes it
            };
            let token = Token(LISTENER_TOKEN.0 + 1 + i);
            if registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE).is_ok()
                && let Some(slot) = self.clients.get_mut(i)
            {
                *slot = Some(Client { stream, request: Vec::new(), response: Vec::new(), written: 0 });
            }
        }
    }
}

/// Reads, answers and writes; true when the client is finished with.
fn serve(c: &mut Client, answer: &mut impl FnMut(Ask) -> String) -> bool {
    if c.response.is_empty() {
        let mut buf = [0u8; 1024];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => c.request.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
            if c.request.len() > MAX_REQUEST {
                c.response = response(431, "text/plain", "request too large\n");
                break;
            }
        }
        if c.response.is_empty() {
            if !c.request.windows(4).any(|w| w == b"\r\n\r\n") {
                return false;
            }
            let line = c.request.split(|&b| b == b'\r').next().unwrap_or_default();
            let mut parts = line.split(|&b| b == b' ');
            c.response = match (parts.next(), parts.next()) {
                (Some(b"GET"), Some(b"/metrics" | b"/")) => {
                    response(200, "text/plain; version=0.0.4", &answer(Ask::Metrics))
                }
                (Some(b"POST"), Some(b"/kill")) => response(200, "text/plain", &answer(Ask::Kill)),
                (Some(b"GET" | b"POST"), Some(_)) => response(404, "text/plain", "GET /metrics or POST /kill\n"),
                _ => response(405, "text/plain", "GET /metrics or POST /kill\n"),
            };
        }
    }
    loop {
        let Some(rest) = c.response.get(c.written..) else { return true };
        if rest.is_empty() {
            return true;
        }
        match c.stream.write(rest) {
            Ok(0) => return true,
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exported_name_is_rendered_and_declared() {
        let s = Snapshot {
            mode: "paper",
            refusals: vec![("max_position", 3)],
            positions: vec![("ETHUSDT".into(), 0.5)],
            conns: vec![ConnSnapshot { name: "market", up: true, reconnects: 1, decode_errors: 2 }],
            data_age: vec![("ETHUSDT".into(), 0.01)],
            tick_to_order: vec![(0.5, 1e-6)],
            stages: vec![("model", 0.99, 2e-6)],
            ..Snapshot::default()
        };
        let mut out = String::new();
        s.render(&mut out);
        for name in NAMES {
            assert!(out.contains(&format!("# TYPE {name} ")), "{name} not declared");
            assert!(out.lines().any(|l| l.starts_with(name) && !l.starts_with('#')), "{name} has no sample");
        }
        assert!(out.contains("odex_refusals_total{reason=\"max_position\"} 3\n"));
        assert!(out.contains("odex_position{symbol=\"ETHUSDT\"} 0.5\n"));
        // every sample line is `name{labels} value` with a number
        for l in out.lines().filter(|l| !l.starts_with('#')) {
            let v = l.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(NAMES.contains(&name), "{name} is not in NAMES");
        }
    }
}
