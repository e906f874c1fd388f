//! The server loop: one thread, one `mio::Poll`, a listener on 127.0.0.1,
//! connections that start as HTTP/1.1 and may upgrade to websockets
//! (market streams or the WebSocket API), the replay clock, server pings,
//! fault injection and shutdown.
//!
//! Replay pacing: each symbol's ticks are due at
//! `start + (tick data time - first data time) / speed` on the monotonic
//! clock; with `speed == 0` up to [`FAST_BATCH`] ticks go out per loop turn.
//! A market connection whose send buffer is full skips messages (they are
//! counted) rather than stalling the venue: a client that falls behind sees
//! a gap in the depth ids and must resynchronise, as with Binance.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::net::{MessageKind, OP_PING, OP_TEXT, WsCodec, WsEvent};
use odex_shared::market::Nanos;

use super::api::{self, Session};
use super::auth::Window;
use super::config::SimConfig;
use super::exchange::{SimExchange, UserEvent};
use super::feed::{KlineRow, TICKS_PER_BAR};
use super::http::{self, HttpError};
use super::market::{Market, dec8, known_stream_suffix};
use super::probe::{Probe, ProbeAction};
use super::rest;
use super::state::SimState;
use super::tls::{SimStream, self_signed};

/// Ticks sent per loop turn at `--speed 0`.
pub const FAST_BATCH: usize = 64;
/// Largest websocket message accepted from a client.
const MAX_MESSAGE: usize = 64 * 1024;
/// Send buffer per websocket connection.
const WS_TX: usize = 4 * 1024 * 1024;
/// At most this many streams per market connection (Binance's limit).
const MAX_STREAMS: usize = 1024;
const LISTENER: Token = Token(0);
/// Incoming messages per second a market-stream connection may send.
const MAX_CONTROL_PER_SECOND: u32 = 5;
/// What marks a WebSocket API request as an order for the latency probe.
const ORDER_PLACE: &[u8] = b"\"order.place\"";

/// Failures that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A socket or poll call failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The feed could not be loaded.
    #[error("feed: {0}")]
    Feed(#[from] super::feed::FeedError),
    /// The settings are unusable.
    #[error("config: {0}")]
    Config(String),
}

#[derive(Debug)]
enum Phase {
    Http,
    Market { subs: Vec<String>, combined: bool, micros: bool },
    Api(Session),
}

#[derive(Debug)]
struct Conn {
    stream: SimStream,
    phase: Phase,
    http_in: Vec<u8>,
    http_out: Vec<u8>,
    ws: Option<WsCodec>,
    sent: u64,
    close_when_flushed: bool,
    /// Drop without a close frame once flushed (fault injection).
    abort_when_flushed: bool,
    held: Option<String>,
    skipped: u64,
    /// Monotonic ms of the last pong (or of the upgrade).
    last_pong_ms: u64,
    /// Control messages in the current second (market streams allow 5).
    control: (u64, u32),
}

/// Counters a test or the operator can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Ticks replayed.
    pub ticks: u64,
    /// Market messages queued to connections.
    pub market_messages: u64,
    /// Market messages skipped because a client was too slow.
    pub skipped: u64,
    /// Connections accepted.
    pub accepted: u64,
}

/// The venue server.
#[derive(Debug)]
pub struct Server<E, C> {
    poll: Poll,
    listener: TcpListener,
    addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    state: SimState<E>,
    clock: C,
    stop: Arc<AtomicBool>,
    started_mono_ms: u64,
    /// Per market: next (bar, step) and the monotonic ms its replay started.
    cursors: Vec<(usize, usize, u64)>,
    frozen_until_ms: Option<u64>,
    freeze_done: bool,
    delayed: VecDeque<(u64, usize, String)>,
    next_sub: u64,
    last_ping_ms: u64,
    stats: SimStats,
    tls: Option<Arc<rustls::ServerConfig>>,
    probe: Option<Probe>,
    /// Monotonic time of the last socket read that returned websocket bytes (probe only).
    last_read: Nanos,
}

impl<E: SimExchange, C: Clock> Server<E, C> {
    /// Binds 127.0.0.1:`config.port`, loads the markets (`rows` per symbol,
    /// in config order) and primes each book with its first tick.
    ///
    /// # Errors
    /// [`SimError`] when binding fails or the rows do not match the symbols.
    pub fn bind(
        config: SimConfig,
        rows: Vec<Vec<KlineRow>>,
        exchange: E,
        clock: C,
        stop: Arc<AtomicBool>,
    ) -> Result<Self, SimError> {
        if rows.len() != config.symbols.len() || rows.iter().any(Vec::is_empty) {
            return Err(SimError::Config("every symbol needs a non-empty series of bars".into()));
        }
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port)))?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let addr = listener.local_addr()?;
        let tls = config.tls_ca_out.as_deref().map(self_signed).transpose()?;
        let probe = config.probe.clone().map(Probe::new).transpose().map_err(SimError::Config)?;
        let markets: Vec<Market> = config
            .symbols
            .iter()
            .cloned()
            .zip(rows)
            .map(|(spec, rows)| Market::new(spec, rows, config.spread_ticks))
            .collect();
        let weight = Window::new(60_000, config.weight_limit);
        let orders_10s = Window::new(10_000, config.order_limit);
        let now_mono = clock.monotonic().as_millis();
        let n = markets.len();
        let mut server = Self {
            poll,
            listener,
            addr,
            conns: Vec::new(),
            state: SimState { config, markets, exchange, weight, orders_10s, place_count: 0 },
            clock,
            stop,
            started_mono_ms: now_mono,
            cursors: vec![(0, 0, now_mono); n],
            frozen_until_ms: None,
            freeze_done: false,
            delayed: VecDeque::new(),
            next_sub: 0,
            last_ping_ms: now_mono,
            stats: SimStats::default(),
            tls,
            probe,
            last_read: Nanos(0),
        };
        for i in 0..n {
            server.tick(i);
        }
        Ok(server)
    }

    /// The bound address (127.0.0.1 and the real port).
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (markets, exchange).
    pub const fn state(&self) -> &SimState<E> {
        &self.state
    }

    /// Counters so far.
    pub const fn stats(&self) -> SimStats {
        self.stats
    }

    /// The venue's wall time in ms, with the configured skew.
    fn now_ms(&self) -> u64 {
        let wall = i64::try_from(self.clock.wall().as_millis()).unwrap_or(i64::MAX);
        u64::try_from(wall.saturating_add(self.state.config.faults.clock_skew_ms)).unwrap_or(0)
    }

    /// Runs until the stop flag is set or the duration passes, then says
    /// `serverShutdown`, closes every connection and returns.
    ///
    /// # Errors
    /// [`SimError::Io`] when polling fails.
    pub fn run(&mut self) -> Result<(), SimError> {
        let mut events = Events::with_capacity(256);
        loop {
            let mono = self.clock.monotonic().as_millis();
            let over = self.state.config.duration_ms.is_some_and(|d| mono.saturating_sub(self.started_mono_ms) >= d);
            if over || self.stop.load(Ordering::Relaxed) {
                break;
            }
            // as fast as possible means not sleeping while data is left
            let feeding = self.cursors.iter().any(|c| c.0 != usize::MAX) && self.frozen_until_ms.is_none();
            let timeout = if self.probe.is_some() {
                Duration::from_millis(1)
            } else if self.state.config.speed == 0.0 && feeding {
                Duration::ZERO
            } else {
                Duration::from_millis(5)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            for event in &events {
                if event.token() == LISTENER {
                    self.accept()?;
                } else {
                    self.on_readable(event.token().0 - 1);
                }
            }
            if self.probe.is_none() {
                self.pump_market();
            }
            self.flush_delayed();
            self.pings();
            self.deliver_user_events();
            self.flush_all();
            if self.probe.is_some() && self.probe_step()? {
                break;
            }
        }
        self.shutdown();
        Ok(())
    }

    fn accept(&mut self) -> Result<(), SimError> {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let idx = self.conns.iter().position(Option::is_none).unwrap_or(self.conns.len());
                    self.poll.registry().register(
                        &mut stream,
                        Token(idx + 1),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    let stream = match &self.tls {
                        None => SimStream::Plain(stream),
                        Some(cfg) => match rustls::ServerConnection::new(Arc::clone(cfg)) {
                            Ok(tls) => SimStream::Tls(stream, Box::new(tls)),
                            Err(_) => continue,
                        },
                    };
                    let conn = Conn {
                        stream,
                        phase: Phase::Http,
                        http_in: Vec::new(),
                        http_out: Vec::new(),
                        ws: None,
                        sent: 0,
                        close_when_flushed: false,
                        abort_when_flushed: false,
                        held: None,
                        skipped: 0,
                        last_pong_ms: self.clock.monotonic().as_millis(),
                        control: (0, 0),
                    };
                    if idx == self.conns.len() {
                        self.conns.push(Some(conn));
                    } else if let Some(slot) = self.conns.get_mut(idx) {
                        *slot = Some(conn);
                    }
                    self.stats.accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(()), // a failed accept (e.g. too many files) is the client's loss
            }
        }
    }

    fn drop_conn(&mut self, idx: usize) {
        if let Some(slot) = self.conns.get_mut(idx)
            && let Some(mut conn) = slot.take()
        {
            let _ = self.poll.registry().deregister(conn.stream.socket());
        }
    }

    fn on_readable(&mut self, idx: usize) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
        let mut eof = false;
        if conn.ws.is_none() {
            let mut buf = [0u8; 8192];
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        conn.http_in.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                        if conn.http_in.len() > http::MAX_HEAD * 4 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            self.on_http(idx);
        } else if let Some(ws) = conn.ws.as_mut() {
            loop {
                let space = ws.rx_space();
                if space.is_empty() {
                    eof = true; // a frame bigger than the buffer: protocol violation
                    break;
                }
                match conn.stream.read(space) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        ws.rx_filled(n);
                        if self.probe.is_some() {
                            self.last_read = self.clock.monotonic();
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            self.on_frames(idx);
        }
        if eof {
            self.drop_conn(idx);
        }
    }

    fn on_http(&mut self, idx: usize) {
        loop {
            let now_ms = self.now_ms();
            let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
            if conn.close_when_flushed || conn.ws.is_some() {
                return;
            }
            let req = match http::parse(&conn.http_in) {
                Ok(Some(req)) => req,
                Ok(None) => return,
                Err(e) => {
                    let status = if e == HttpError::TooLong { 431 } else { 400 };
                    let body = json!({"code": -1000, "msg": e.to_string()}).to_string();
                    conn.http_out.extend_from_slice(&http::response(status, &[], &body, true));
                    conn.http_in.clear();
                    conn.close_when_flushed = true;
                    return;
                }
            };
            let body_len = req.content_length();
            if body_len > MAX_MESSAGE {
                let body = json!({"code": -1000, "msg": "request body too large"}).to_string();
                conn.http_out.extend_from_slice(&http::response(413, &[], &body, true));
                conn.http_in.clear();
                conn.close_when_flushed = true;
                return;
            }
            let need = req.head_len.saturating_add(body_len);
            if conn.http_in.len() < need {
                return; // the body is still coming
            }
            let mut req = req;
            req.body = String::from_utf8_lossy(conn.http_in.get(req.head_len..need).unwrap_or(&[])).into_owned();
            conn.http_in.drain(..need);
            if req.is_upgrade() {
                let Some(key) = req.header("sec-websocket-key").map(str::to_string) else {
                    conn.http_out.extend_from_slice(&http::response(
                        400,
                        &[],
                        r#"{"code":-1000,"msg":"missing Sec-WebSocket-Key"}"#,
                        true,
                    ));
                    conn.close_when_flushed = true;
                    return;
                };
                let phase = match self.ws_route(&req) {
                    Ok(phase) => phase,
                    Err(msg) => {
                        let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
                        let body = json!({"code": -1121, "msg": msg}).to_string();
                        conn.http_out.extend_from_slice(&http::response(400, &[], &body, true));
                        conn.close_when_flushed = true;
                        return;
                    }
                };
                let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
                let mut ws = WsCodec::new_server(MAX_MESSAGE, 16 * 1024, WS_TX);
                let _ = ws.tx_raw(&http::upgrade_response(&key));
                let rest = std::mem::take(&mut conn.http_in);
                let space = ws.rx_space();
                let n = rest.len().min(space.len());
                if let (Some(dst), Some(src)) = (space.get_mut(..n), rest.get(..n)) {
                    dst.copy_from_slice(src);
                }
                ws.rx_filled(n);
                conn.phase = match phase {
                    Phase::Api(mut s) => {
                        s.connected_ms = now_ms;
                        Phase::Api(s)
                    }
                    other => other,
                };
                conn.ws = Some(ws);
                self.on_frames(idx);
                return;
            }
            let out = rest::handle(&mut self.state, &req, now_ms);
            let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
            conn.http_out.extend_from_slice(&out);
            if req.wants_close() {
                conn.close_when_flushed = true;
            }
        }
    }

    /// Which websocket service a path names.
    fn ws_route(&self, req: &http::Request) -> Result<Phase, String> {
        let path = req.path.as_str();
        if path == "/ws-api/v3" {
            return Ok(Phase::Api(Session::default()));
        }
        let (streams, combined): (Vec<String>, bool) = if path == "/stream" {
            (
                req.param("streams").unwrap_or("").split('/').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                true,
            )
        } else if path == "/ws" || path == "/ws/" {
            (Vec::new(), false)
        } else if let Some(rest) = path.strip_prefix("/ws/") {
            (rest.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect(), false)
        } else {
            return Err(format!("no websocket service at {path}"));
        };
        for s in &streams {
            if !self.stream_known(s) {
                return Err(format!("Invalid stream name {s:?}"));
            }
        }
        let micros = req
            .param("timeUnit")
            .is_some_and(|u| u.eq_ignore_ascii_case("MICROSECOND") || u.eq_ignore_ascii_case("us"));
        Ok(Phase::Market { subs: streams, combined, micros })
    }

    fn stream_known(&self, stream: &str) -> bool {
        let Some((sym, suffix)) = stream.split_once('@') else { return false };
        sym.chars().all(|c| !c.is_ascii_uppercase())
            && self.state.market(&sym.to_ascii_uppercase()).is_some()
            && known_stream_suffix(suffix, &self.state.config.interval)
    }

    fn on_frames(&mut self, idx: usize) {
        let mono = self.clock.monotonic().as_millis();
        loop {
            let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
            let Some(ws) = conn.ws.as_mut() else { return };
            let text = match ws.next_event(false, 0) {
                Ok(None) => return,
                Ok(Some(WsEvent::Message(MessageKind::Text, payload))) => payload.to_vec(),
                Ok(Some(WsEvent::Message(MessageKind::Binary, _))) => {
                    let _ = ws.send_close(1003, 0);
                    conn.close_when_flushed = true;
                    return;
                }
                Ok(Some(WsEvent::Close(_))) => {
                    conn.close_when_flushed = true;
                    return;
                }
                Ok(Some(WsEvent::Pong)) => {
                    conn.last_pong_ms = mono;
                    continue;
                }
                Ok(Some(_)) => continue,
                Err(_) => {
                    let _ = ws.send_close(1002, 0);
                    conn.close_when_flushed = true;
                    return;
                }
            };
            self.on_text(idx, &text);
        }
    }

    fn on_text(&mut self, idx: usize, text: &[u8]) {
        let now_ms = self.now_ms();
        if let Some(probe) = self.probe.as_mut()
            && matches!(self.conns.get(idx), Some(Some(Conn { phase: Phase::Api(_), .. })))
            && text.windows(ORDER_PLACE.len()).any(|w| w == ORDER_PLACE)
        {
            probe.order(self.last_read);
        }
        let mut next_sub = self.next_sub;
        let reply = {
            let Some(Some(conn)) = self.conns.get_mut(idx) else { return };
            match &mut conn.phase {
                Phase::Api(session) => api::handle(&mut self.state, session, text, now_ms, &mut next_sub).text,
                Phase::Market { subs, .. } => {
                    // Binance: at most 5 incoming messages per second, else disconnect
                    let second = self.clock.monotonic().as_millis() / 1000;
                    conn.control = if conn.control.0 == second { (second, conn.control.1 + 1) } else { (second, 1) };
                    if conn.control.1 > MAX_CONTROL_PER_SECOND {
                        if let Some(ws) = conn.ws.as_mut() {
                            let _ = ws.send_close(1008, 0);
                        }
                        conn.close_when_flushed = true;
                        return;
                    }
                    let interval = self.state.config.interval.clone();
                    let markets: Vec<String> =
                        self.state.markets.iter().map(|m| m.spec.name.to_ascii_lowercase()).collect();
                    control(subs, text, |s| {
                        s.split_once('@').is_some_and(|(sym, suf)| {
                            markets.iter().any(|m| m == sym) && known_stream_suffix(suf, &interval)
                        })
                    })
                }
                Phase::Http => return,
            }
        };
        self.next_sub = next_sub;
        self.send_text(idx, &reply);
    }

    /// Queues a text frame, counting it for the drop-after fault.
    fn send_text(&mut self, idx: usize, text: &str) -> bool {
        let drop_after = self.state.config.faults.drop_after;
        let Some(Some(conn)) = self.conns.get_mut(idx) else { return false };
        if conn.abort_when_flushed || conn.close_when_flushed {
            return false;
        }
        let Some(ws) = conn.ws.as_mut() else { return false };
        if ws.encode(OP_TEXT, text.as_bytes(), 0).is_err() {
            conn.skipped += 1;
            self.stats.skipped += 1;
            return false;
        }
        conn.sent += 1;
        if drop_after.is_some_and(|n| conn.sent >= n) {
            conn.abort_when_flushed = true;
        }
        true
    }

    /// The latency probe's turn (after every poll): sends the next tick of
    /// the first symbol when it is due, sleeping for gaps under a
    /// millisecond (finer than the poll timeout); writes the summary and
    /// returns true when the probe is over.
    fn probe_step(&mut self) -> Result<bool, SimError> {
        loop {
            let now = self.clock.monotonic();
            let Some(probe) = self.probe.as_mut() else { return Ok(false) };
            match probe.next(now) {
                ProbeAction::Poll => return Ok(false),
                ProbeAction::WaitUntil(due) => {
                    let gap = due.saturating_sub(now).0.min(1_000_000);
                    std::thread::sleep(Duration::from_nanos(gap));
                }
                ProbeAction::Tick => {
                    self.tick(0);
                    let sent = self.clock.monotonic();
                    if let Some(probe) = self.probe.as_mut() {
                        probe.sent(sent);
                    }
                    self.flush_all();
                    return Ok(false);
                }
                ProbeAction::Finish => {
                    let text = serde_json::to_string_pretty(&probe.summary())
                        .map_err(|e| SimError::Config(format!("probe summary: {e}")))?;
                    std::fs::write(&probe.config().out, text)?;
                    return Ok(true);
                }
            }
        }
    }

    /// Replays the ticks that are due.
    fn pump_market(&mut self) {
        let mono = self.clock.monotonic().as_millis();
        if let Some(until) = self.frozen_until_ms {
            if mono < until {
                return;
            }
            self.frozen_until_ms = None;
        }
        let speed = self.state.config.speed;
        let mut budget = FAST_BATCH;
        for i in 0..self.state.markets.len() {
            while let Some(&(bar, step, start)) = self.cursors.get(i) {
                let Some(m) = self.state.markets.get(i) else { break };
                let first = m.rows.first().map_or(0, |r| r.open_time_ms);
                let Some(t) = m.tick_time(bar, step) else { break };
                let due = if speed > 0.0 {
                    start.saturating_add(((t - first).max(0) as f64 / speed) as u64)
                } else {
                    if budget == 0 {
                        break;
                    }
                    budget -= 1;
                    0
                };
                if due > mono {
                    break;
                }
                self.tick(i);
                if self.frozen_until_ms.is_some() {
                    return;
                }
            }
        }
    }

    /// Applies the next tick of market `i` and broadcasts it.
    fn tick(&mut self, i: usize) {
        let Some(&(bar, step, start)) = self.cursors.get(i) else { return };
        let now_ms = self.now_ms();
        let wall = self.clock.wall().0;
        let skew_us = self.state.config.faults.clock_skew_ms.saturating_mul(1000);
        let now_us = u64::try_from(i64::try_from(wall / 1000).unwrap_or(i64::MAX).saturating_add(skew_us)).unwrap_or(0);
        let stamp = self.state.config.stamp.then_some(wall);
        let interval = self.state.config.interval.clone();
        let Some(m) = self.state.markets.get_mut(i) else { return };
        let msgs = m.apply(bar, step, now_us, &interval, stamp);
        let (name, top, bars) = (m.spec.name.clone(), m.top, m.rows.len());
        self.state.exchange.on_market(&name, &top, now_ms);
        let (mut nb, mut ns) = (bar, step + 1);
        if ns == TICKS_PER_BAR {
            nb += 1;
            ns = 0;
        }
        let mut next = (nb, ns, start);
        if nb >= bars {
            if self.state.config.loop_data {
                next = (0, 0, self.clock.monotonic().as_millis());
            } else {
                next = (usize::MAX, 0, start);
            }
        }
        if let Some(c) = self.cursors.get_mut(i) {
            *c = next;
        }
        self.stats.ticks += 1;
        self.broadcast(&msgs.messages, &msgs.messages_us);
        let faults = &self.state.config.faults;
        if !self.freeze_done && faults.freeze_after_ticks.is_some_and(|n| self.stats.ticks >= n) {
            self.freeze_done = true;
            let mono = self.clock.monotonic().as_millis();
            self.frozen_until_ms =
                Some(if faults.freeze_ms == 0 { u64::MAX } else { mono.saturating_add(faults.freeze_ms) });
        }
    }

    fn broadcast(&mut self, messages: &[(String, String)], messages_us: &[(String, String)]) {
        let delay = self.state.config.faults.delay_ms;
        let due = self.clock.monotonic().as_millis().saturating_add(delay);
        for idx in 0..self.conns.len() {
            let texts: Vec<String> = {
                let Some(Some(conn)) = self.conns.get(idx) else { continue };
                let Phase::Market { subs, combined, micros } = &conn.phase else { continue };
                let source = if *micros { messages_us } else { messages };
                source
                    .iter()
                    .filter(|(stream, _)| subs.contains(stream))
                    .map(|(stream, payload)| {
                        if *combined {
                            format!("{{\"stream\":\"{stream}\",\"data\":{payload}}}")
                        } else {
                            payload.clone()
                        }
                    })
                    .collect()
            };
            for text in texts {
                if delay > 0 {
                    self.delayed.push_back((due, idx, text));
                } else {
                    self.deliver_market(idx, text);
                }
            }
        }
    }

    /// Sends one market message through the duplicate/reorder faults.
    fn deliver_market(&mut self, idx: usize, text: String) {
        self.stats.market_messages += 1;
        let n = self.stats.market_messages;
        let faults = self.state.config.faults;
        if faults.reorder_every.is_some_and(|k| k > 0 && n.is_multiple_of(k))
            && let Some(Some(conn)) = self.conns.get_mut(idx)
            && conn.held.is_none()
        {
            conn.held = Some(text);
            return;
        }
        self.send_text(idx, &text);
        if faults.duplicate_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
            self.send_text(idx, &text);
        }
        if let Some(Some(conn)) = self.conns.get_mut(idx)
            && let Some(held) = conn.held.take()
        {
            self.send_text(idx, &held);
        }
    }

    fn flush_delayed(&mut self) {
        let mono = self.clock.monotonic().as_millis();
        while self.delayed.front().is_some_and(|(due, _, _)| *due <= mono) {
            if let Some((_, idx, text)) = self.delayed.pop_front() {
                self.deliver_market(idx, text);
            }
        }
    }

    fn pings(&mut self) {
        let mono = self.clock.monotonic().as_millis();
        if mono.saturating_sub(self.last_ping_ms) < self.state.config.ping_ms.max(1) {
            return;
        }
        self.last_ping_ms = mono;
        let payload = self.now_ms().to_string();
        // Binance drops a client that has not answered for a minute (three pings)
        let timeout = self.state.config.ping_ms.saturating_mul(3);
        for conn in self.conns.iter_mut().flatten() {
            let Some(ws) = conn.ws.as_mut() else { continue };
            if mono.saturating_sub(conn.last_pong_ms) > timeout {
                let _ = ws.send_close(1008, 0);
                conn.close_when_flushed = true;
            } else {
                let _ = ws.encode(OP_PING, payload.as_bytes(), 0);
            }
        }
    }

    fn deliver_user_events(&mut self) {
        let mut events = Vec::new();
        self.state.exchange.drain_events(&mut events);
        if events.is_empty() {
            return;
        }
        let texts: Vec<Value> = events.iter().map(user_event_json).collect();
        for idx in 0..self.conns.len() {
            let sub = match self.conns.get(idx) {
                Some(Some(Conn { phase: Phase::Api(s), .. })) => s.user_stream,
                _ => None,
            };
            let Some(sub) = sub else { continue };
            for event in &texts {
                let text = json!({"subscriptionId": sub, "event": event}).to_string();
                self.send_text(idx, &text);
            }
        }
    }

    /// Writes what each connection has pending; closes the finished ones.
    fn flush_all(&mut self) {
        for idx in 0..self.conns.len() {
            let Some(Some(conn)) = self.conns.get_mut(idx) else { continue };
            let ok = flush(conn);
            let empty = conn.http_out.is_empty()
                && conn.ws.as_ref().is_none_or(|w| w.tx_pending().is_empty())
                && !conn.stream.tls_pending();
            let close = conn.close_when_flushed || conn.abort_when_flushed;
            if !ok || (close && empty) {
                if conn.abort_when_flushed {
                    let _ = conn.stream.socket().shutdown(std::net::Shutdown::Both);
                }
                self.drop_conn(idx);
            }
        }
    }

    fn shutdown(&mut self) {
        let now_ms = self.now_ms();
        let notice = json!({"e": "serverShutdown", "E": now_ms}).to_string();
        let wrapped = json!({"event": {"e": "serverShutdown", "E": now_ms}}).to_string();
        for idx in 0..self.conns.len() {
            let text = match self.conns.get(idx) {
                Some(Some(Conn { phase: Phase::Market { .. }, .. })) => notice.clone(),
                Some(Some(Conn { phase: Phase::Api(_), .. })) => wrapped.clone(),
                _ => continue,
            };
            self.send_text(idx, &text);
            if let Some(Some(conn)) = self.conns.get_mut(idx) {
                if let Some(ws) = conn.ws.as_mut() {
                    let _ = ws.send_close(1001, 0);
                }
                conn.close_when_flushed = true;
            }
        }
        let deadline = self.clock.monotonic().as_millis().saturating_add(200);
        while self.conns.iter().any(Option::is_some) && self.clock.monotonic().as_millis() < deadline {
            self.flush_all();
            let mut events = Events::with_capacity(16);
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(5)));
        }
        for idx in 0..self.conns.len() {
            self.drop_conn(idx);
        }
    }
}

/// Writes pending bytes until the socket would block; false on a dead socket.
fn flush(conn: &mut Conn) -> bool {
    if conn.stream.flush_tls().is_err() {
        return false;
    }
    loop {
        let pending: &[u8] = match conn.ws.as_ref() {
            Some(ws) if conn.http_out.is_empty() => ws.tx_pending(),
            _ => &conn.http_out,
        };
        if pending.is_empty() {
            return true;
        }
        match conn.stream.write(pending) {
            Ok(0) => return false,
            Ok(n) => {
                if conn.http_out.is_empty() {
                    if let Some(ws) = conn.ws.as_mut() {
                        ws.tx_consume(n);
                    }
                } else {
                    conn.http_out.drain(..n.min(conn.http_out.len()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Answers a market-stream control message, updating `subs`.
fn control(subs: &mut Vec<String>, text: &[u8], known: impl Fn(&str) -> bool) -> String {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(text) else {
        return json!({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}).to_string();
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let params: Vec<String> = req
        .get("params")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    match method {
        "SUBSCRIBE" => {
            if let Some(bad) = params.iter().find(|s| !known(s)) {
                return json!({"error": {"code": 2, "msg": format!("Invalid request: invalid stream name {bad:?}")}, "id": id}).to_string();
            }
            for s in params {
                if !subs.contains(&s) && subs.len() < MAX_STREAMS {
                    subs.push(s);
                }
            }
            json!({"result": null, "id": id}).to_string()
        }
        "UNSUBSCRIBE" => {
            subs.retain(|s| !params.contains(s));
            json!({"result": null, "id": id}).to_string()
        }
        "LIST_SUBSCRIPTIONS" => json!({"result": subs, "id": id}).to_string(),
        _ => json!({"error": {"code": 2, "msg": format!("Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`")}, "id": id}).to_string(),
    }
}

/// A user-data event in Binance's shape.
fn user_event_json(event: &UserEvent) -> Value {
    match event {
        UserEvent::Execution { order: o, exec_type, fill, time_ms } => {
            let (l, lp, n, na, t, m) = match fill {
                Some(f) => (
                    dec8(f.qty.raw()),
                    dec8(f.price.raw()),
                    dec8(f.commission.raw()),
                    json!(f.commission_asset),
                    json!(f.trade_id),
                    f.maker,
                ),
                None => (dec8(0), dec8(0), dec8(0), Value::Null, json!(-1), false),
            };
            let last_quote = fill.as_ref().and_then(|f| f.price.notional(f.qty)).map_or(0, |a| a.raw());
            json!({
                "e": "executionReport", "E": time_ms, "s": o.symbol, "c": o.client_id, "S": o.side.as_str(),
                "o": o.kind.as_str(), "f": o.time_in_force.map_or("GTC", |t| t.as_str()), "q": dec8(o.orig_qty.raw()),
                "p": dec8(o.price.raw()), "P": dec8(0), "F": dec8(0), "g": -1, "C": "", "x": exec_type.as_str(),
                "X": o.status.as_str(), "r": "NONE", "i": o.order_id, "l": l, "z": dec8(o.executed_qty.raw()), "L": lp,
                "n": n, "N": na, "T": time_ms, "t": t, "I": time_ms, "w": !o.status.is_final(), "m": m, "M": fill.is_some(),
                "O": o.time_ms, "Z": dec8(o.cum_quote.raw()), "Y": dec8(last_quote), "Q": dec8(0), "W": o.time_ms, "V": "NONE"
            })
        }
        UserEvent::Account { time_ms, balances } => {
            let b: Vec<Value> = balances
                .iter()
                .map(|b| json!({"a": b.asset, "f": dec8(b.free.raw()), "l": dec8(b.locked.raw())}))
                .collect();
            json!({"e": "outboundAccountPosition", "E": time_ms, "u": time_ms, "B": b})
        }
    }
}
