//! One logical websocket connection and its state machine.
//!
//! A connection owns two link slots, each with its own preallocated
//! [`WsCodec`] buffers. A link goes `Connecting -> Tls -> Upgrading -> Open
//! -> Closing`. Normally one slot is `active` (delivering data); the other is
//! used for a `pending` link: a reconnect, or a replacement during rotation.
//!
//! Rotation (age limit, `serverShutdown`, or [`EventLoop::rotate`](super::EventLoop::rotate))
//! opens the replacement while the old link keeps delivering. The new link
//! sends its (paced) subscriptions and is *held*: its first data frame stays
//! unparsed in its buffer, later bytes wait in the kernel. Once data has come
//! after the last subscription, the server is streaming to it; after
//! `rotation_overlap` more (so whatever the server had queued on the old link
//! is out), the old link is closed. Everything the old link received up to
//! its close is delivered, then the new link resumes from its first frame.
//! The two overlap in time, so nothing is missed and delivery stays in
//! order; the overlap repeats some messages, which consumers drop by
//! exchange sequence number.
//!
//! Failures end the link with a [`CloseReason`]; an ended active link is
//! replaced after a jittered exponential backoff, and the subscription
//! messages are sent again on every open.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use odex_shared::market::Nanos;
use rustls::ClientConfig;

use super::backoff::Backoff;
use super::config::{Endpoint, NetConfig};
use super::error::{NetError, ProtocolError};
use super::handshake;
use super::rng::SeededRng;
use super::sink::{CloseReason, ConnEvent, ConnId, ConnStats, FrameSink, MessageKind};
use super::timer::{TimerId, Timers};
use super::tls;
use super::transport::Transport;
use super::ws::{OP_BINARY, OP_TEXT, WsCodec, WsEvent};

/// What a network timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKey {
    /// Per link: connect timeout, stale check, or close timeout, by phase.
    Watchdog {
        /// Connection index.
        conn: u16,
        /// Link slot (0 or 1).
        slot: u8,
    },
    /// Per connection: reconnect after backoff, or rotation when a link is up.
    Conn {
        /// Connection index.
        conn: u16,
    },
    /// The caller's (order timeouts); delivered to [`FrameSink::on_timer`].
    User(u64),
}

/// What the connection code borrows from the event loop.
pub struct Ctx<'a> {
    /// To register and deregister sockets.
    pub registry: &'a Registry,
    /// The shared timer queue.
    pub timers: &'a mut Timers<TimerKey>,
    /// Monotonic now.
    pub now: Nanos,
    /// Sizes and timeouts.
    pub cfg: &'a NetConfig,
}

/// mio token of a link.
pub fn token(conn: u16, slot: usize) -> Token {
    Token(usize::from(conn) * 2 + (slot & 1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Tls,
    Upgrading,
    Open,
    Closing,
}

#[derive(Debug)]
struct Link {
    transport: Transport,
    phase: Phase,
    accept: String,
    last_rx: Nanos,
    watchdog: Option<TimerId>,
    /// Why we are closing (reported when the close completes).
    closing: Option<CloseReason>,
    /// A write failed outside the read path; ended at the next watchdog.
    failed: Option<CloseReason>,
    /// As a held replacement: when the old link is to be closed.
    retire_at: Option<Nanos>,
    /// The old link's close was started.
    retire_started: bool,
    /// Subscriptions sent so far on this link.
    subs_sent: usize,
    /// When the next subscription may go out (paced).
    next_sub_at: Option<Nanos>,
}

impl Link {
    /// The watchdog's next deadline: staleness, the end of a rotation
    /// overlap, or the next paced subscription, whichever comes first.
    fn next_deadline(&self, stale_after: Nanos) -> Nanos {
        let mut next = Nanos(self.last_rx.0.saturating_add(stale_after.0));
        if let Some(at) = self.retire_at.filter(|_| !self.retire_started) {
            next = next.min(at);
        }
        if let Some(at) = self.next_sub_at {
            next = next.min(at);
        }
        next
    }
}

#[derive(Debug)]
struct Slot {
    codec: WsCodec,
    link: Option<Link>,
}

/// What one pump of a link found besides messages.
#[derive(Debug, Default, Clone, Copy)]
struct Pumped {
    opened: bool,
    shutdown_seen: bool,
    held: bool,
    delivered: bool,
}

/// One logical connection (see the module doc).
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    endpoint: Endpoint,
    subscriptions: Vec<Vec<u8>>,
    tls: Option<Arc<ClientConfig>>,
    slots: [Slot; 2],
    active: Option<usize>,
    pending: Option<usize>,
    wanted: bool,
    conn_timer: Option<TimerId>,
    backoff: Backoff,
    rng: SeededRng,
    stats: ConnStats,
    /// A slot to pump again after a promotion (its held bytes are waiting).
    kick: Option<usize>,
    /// Resolved addresses of the endpoint, dialed round robin after failures.
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    /// Resolve again at the next reconnect (a dial failed).
    refresh_addrs: bool,
}

impl Connection {
    /// Allocates both slots' buffers.
    pub fn new(
        id: ConnId,
        endpoint: Endpoint,
        subscriptions: Vec<Vec<u8>>,
        tls: Option<Arc<ClientConfig>>,
        cfg: &NetConfig,
    ) -> Self {
        let seed = cfg.seed ^ u64::from(id.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let codec = || WsCodec::new(cfg.max_message, cfg.read_chunk, cfg.write_buffer);
        Self {
            id,
            endpoint,
            subscriptions,
            tls,
            slots: [Slot { codec: codec(), link: None }, Slot { codec: codec(), link: None }],
            active: None,
            pending: None,
            wanted: false,
            conn_timer: None,
            backoff: Backoff::new(cfg.backoff_base, cfg.backoff_max, seed),
            rng: SeededRng::new(seed.rotate_left(17)),
            stats: ConnStats::default(),
            kick: None,
            addrs: Vec::new(),
            next_addr: 0,
            refresh_addrs: false,
        }
    }

    /// Counters.
    pub const fn stats(&self) -> ConnStats {
        self.stats
    }

    /// True when a link is open for sending.
    pub fn is_open(&self) -> bool {
        self.send_slot().is_some()
    }

    /// Starts connecting (and keeps the connection up from now on).
    pub fn start<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        self.wanted = true;
        if self.active.is_none() && self.pending.is_none() {
            self.connect_pending(ctx, sink);
        }
    }

    /// Opens a replacement link now (e.g. the codec saw `serverShutdown`).
    pub fn rotate<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        if self.wanted && self.active.is_some() && self.pending.is_none() {
            sink.on_event(self.id, ConnEvent::Rotating);
            self.connect_pending(ctx, sink);
        }
    }

    /// Closes every link gracefully; no reconnect follows.
    pub fn close<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        self.wanted = false;
        if let Some(t) = self.conn_timer.take() {
            ctx.timers.cancel(t);
        }
        for slot in 0..2 {
            let open = self.slot_link(slot).is_some_and(|l| l.phase == Phase::Open);
            if open {
                self.begin_close(slot, CloseReason::Local, ctx);
            } else if self.slot_link(slot).is_some_and(|l| l.phase != Phase::Closing) {
                self.end_link(slot, CloseReason::Local, ctx, sink);
            }
        }
        self.drain_kicks(ctx, sink);
    }

    /// Queues a data message on the open link and writes what the socket takes.
    ///
    /// # Errors
    /// [`NetError::NotOpen`], [`NetError::WriteBufferFull`] (nothing queued;
    /// try after the next poll), [`NetError::MessageTooBig`] (larger than the
    /// whole send buffer).
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        now: Nanos,
        timers: &mut Timers<TimerKey>,
    ) -> Result<(), NetError> {
        let id = self.id.0;
        let slot = self.send_slot().ok_or(NetError::NotOpen(id))?;
        let mask = self.rng.next_u32();
        let opcode = if kind == MessageKind::Text { OP_TEXT } else { OP_BINARY };
        let s = self.slots.get_mut(slot).ok_or(NetError::NotOpen(id))?;
        s.codec.encode(opcode, payload, mask).map_err(|e| match e {
            ProtocolError::MessageTooBig => NetError::MessageTooBig(id),
            _ => NetError::WriteBufferFull(id),
        })?;
        let Some(link) = s.link.as_mut() else { return Err(NetError::NotOpen(id)) };
        if let Err(reason) = flush_tx(&mut s.codec, &mut link.transport) {
            // the read path or the watchdog ends it; make the watchdog fire now
            link.failed = Some(reason);
            if let Some(w) = link.watchdog {
                timers.reschedule(w, now);
            }
        }
        Ok(())
    }

    /// Socket readiness for `slot`; `read_closed`: the event also reported
    /// the peer's end of the stream (or an error).
    pub fn on_ready<S: FrameSink>(&mut self, slot: usize, read_closed: bool, ctx: &mut Ctx<'_>, sink: &mut S) {
        let result = self.pump(slot, Drain::from_event(read_closed), ctx, sink);
        self.after_pump(slot, result, ctx, sink);
        self.drain_kicks(ctx, sink);
    }

    /// Pumps links promoted meanwhile: their held or leftover bytes wait
    /// for no new readiness edge.
    fn drain_kicks<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        while let Some(next) = self.kick.take() {
            let result = self.pump(next, Drain::UntilWouldBlock, ctx, sink);
            self.after_pump(next, result, ctx, sink);
        }
    }

    /// A watchdog fired for `slot`.
    pub fn on_watchdog<S: FrameSink>(&mut self, slot: usize, ctx: &mut Ctx<'_>, sink: &mut S) {
        let now = ctx.now;
        let stale_after = ctx.cfg.stale_after;
        let key = self.watchdog_key(slot);
        let Some(link) = self.slots.get_mut(slot).and_then(|s| s.link.as_mut()) else { return };
        link.watchdog = None;
        let mut retire = false;
        let end = if let Some(reason) = link.failed {
            Some(reason)
        } else {
            match link.phase {
                Phase::Connecting | Phase::Tls | Phase::Upgrading => Some(CloseReason::ConnectTimeout),
                Phase::Closing => Some(link.closing.unwrap_or(CloseReason::Local)),
                Phase::Open => {
                    if link.retire_at.is_some_and(|at| at <= now) && !link.retire_started {
                        link.retire_started = true;
                        retire = true;
                    }
                    let sent = match self.slots.get_mut(slot) {
                        Some(Slot { codec, link: Some(link) }) => send_due_subscriptions(
                            link,
                            codec,
                            &self.subscriptions,
                            &mut self.rng,
                            now,
                            ctx.cfg.subscription_interval,
                        )
                        .and_then(|()| flush_tx(codec, &mut link.transport)),
                        _ => Ok(()),
                    };
                    match (sent, self.slots.get_mut(slot).and_then(|s| s.link.as_mut())) {
                        (Err(reason), _) => Some(reason),
                        (Ok(()), Some(link)) => {
                            let next = link.next_deadline(stale_after);
                            if next <= now && link.last_rx.0.saturating_add(stale_after.0) <= now.0 {
                                Some(CloseReason::Stale)
                            } else {
                                link.watchdog = ctx.timers.schedule(next.max(now), key).ok();
                                None
                            }
                        }
                        (Ok(()), None) => None,
                    }
                }
            }
        };
        if retire {
            self.retire_active(ctx);
        }
        if let Some(reason) = end {
            self.end_link(slot, reason, ctx, sink);
        }
        self.drain_kicks(ctx, sink);
    }

    /// The held replacement has data and the overlap has passed: close the old link.
    fn retire_active(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(old) = self.active
            && self.slot_link(old).is_some_and(|l| l.phase == Phase::Open)
        {
            self.begin_close(old, CloseReason::Rotated, ctx);
        }
    }

    /// The connection timer fired: reconnect, or rotate an aged link.
    pub fn on_conn_timer<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        self.conn_timer = None;
        if !self.wanted || self.pending.is_some() {
            return;
        }
        if self.active.is_some() {
            sink.on_event(self.id, ConnEvent::Rotating);
        }
        self.connect_pending(ctx, sink);
    }

    fn watchdog_key(&self, slot: usize) -> TimerKey {
        TimerKey::Watchdog { conn: self.id.0, slot: u8::from(slot == 1) }
    }

    fn slot_link(&self, slot: usize) -> Option<&Link> {
        self.slots.get(slot).and_then(|s| s.link.as_ref())
    }

    fn send_slot(&self) -> Option<usize> {
        let open = |s: Option<usize>| s.filter(|i| self.slot_link(*i).is_some_and(|l| l.phase == Phase::Open));
        open(self.active).or_else(|| open(self.pending))
    }

    /// Opens a link in the free slot as `pending`; failures schedule a retry.
    fn connect_pending<S: FrameSink>(&mut self, ctx: &mut Ctx<'_>, sink: &mut S) {
        let slot = match self.active {
            Some(0) => 1,
            _ => 0,
        };
        if self.slot_link(slot).is_some() {
            return;
        }
        match self.open_link(slot, ctx) {
            Ok(()) => self.pending = Some(slot),
            Err(reason) => {
                self.stats.link_failures = self.stats.link_failures.saturating_add(1);
                self.next_addr = self.next_addr.wrapping_add(1);
                self.refresh_addrs = true;
                self.retry_later(reason, ctx, sink);
            }
        }
    }

    fn open_link(&mut self, slot: usize, ctx: &mut Ctx<'_>) -> Result<(), CloseReason> {
        let addr = self.address()?;
        let mut sock = TcpStream::connect(addr).map_err(|e| CloseReason::Io(e.kind()))?;
        ctx.registry
            .register(&mut sock, token(self.id.0, slot), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| CloseReason::Io(e.kind()))?;
        let transport = match &self.tls {
            Some(config) => match tls::client_session(config, &self.endpoint.host) {
                Ok(session) => Transport::Tls { sock, tls: Box::new(session) },
                Err(_) => {
                    let _ = ctx.registry.deregister(&mut sock);
                    return Err(CloseReason::Tls);
                }
            },
            None => Transport::Plain(sock),
        };
        let watchdog = ctx
            .timers
            .schedule(Nanos(ctx.now.0.saturating_add(ctx.cfg.connect_timeout.0)), self.watchdog_key(slot))
            .ok();
        let Some(s) = self.slots.get_mut(slot) else { return Err(CloseReason::Resolve) };
        s.codec.reset();
        s.link = Some(Link {
            transport,
            phase: Phase::Connecting,
            accept: String::new(),
            last_rx: ctx.now,
            watchdog,
            closing: None,
            failed: None,
            retire_at: None,
            retire_started: false,
            subs_sent: 0,
            next_sub_at: None,
        });
        Ok(())
    }

    /// The address to dial. Resolution (blocking `getaddrinfo`) happens only
    /// when nothing is cached or after a failure while no link serves; a
    /// rotation, with the old link still delivering, dials the cached
    /// addresses (round robin after failures) and never blocks the loop on DNS.
    fn address(&mut self) -> Result<SocketAddr, CloseReason> {
        let serving = self.active.is_some();
        if self.addrs.is_empty() || (self.refresh_addrs && !serving) {
            match (self.endpoint.host.as_str(), self.endpoint.port).to_socket_addrs() {
                Ok(found) => {
                    self.addrs.clear();
                    self.addrs.extend(found);
                    self.refresh_addrs = false;
                }
                // keep dialing what we had, if anything
                Err(_) if !self.addrs.is_empty() => {}
                Err(_) => return Err(CloseReason::Resolve),
            }
        }
        let len = self.addrs.len();
        if len == 0 {
            return Err(CloseReason::Resolve);
        }
        self.addrs.get(self.next_addr % len).copied().ok_or(CloseReason::Resolve)
    }

    /// Reads, parses and delivers until the socket would block, or (see
    /// [`Drain`]) until a read shows it empty.
    fn pump<S: FrameSink>(
        &mut self,
        slot: usize,
        drain: Drain,
        ctx: &mut Ctx<'_>,
        sink: &mut S,
    ) -> Result<Pumped, CloseReason> {
        let hold = self.pending == Some(slot) && self.active.is_some();
        let Self { slots, stats, rng, id, endpoint, subscriptions, .. } = self;
        let Some(Slot { codec, link: Some(link) }) = slots.get_mut(slot) else { return Ok(Pumped::default()) };
        if let Some(reason) = link.failed {
            return Err(reason);
        }
        let mut out = Pumped::default();
        if link.phase == Phase::Connecting {
            match link.transport.socket().take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return Err(CloseReason::Io(e.kind())),
            }
            match link.transport.socket().peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return Ok(out),
                Err(e) => return Err(CloseReason::Io(e.kind())),
            }
            let _ = link.transport.socket().set_nodelay(true);
            link.phase = Phase::Tls;
        }
        if link.phase == Phase::Tls {
            match link.transport.drive_handshake() {
                Ok(true) => {}
                Ok(false) => return Ok(out),
                Err(e) => return Err(io_reason(&e)),
            }
            let (request, accept) = handshake::request(endpoint, rng);
            codec.tx_raw(request.as_bytes()).map_err(CloseReason::Protocol)?;
            link.accept = accept;
            link.phase = Phase::Upgrading;
        }
        if link.phase == Phase::Upgrading {
            flush_tx(codec, &mut link.transport)?;
            loop {
                match handshake::parse_response(codec.rx_data(), &link.accept) {
                    Ok(Some(n)) => {
                        codec.rx_consume(n);
                        break;
                    }
                    Ok(None) => {}
                    Err(p) => return Err(CloseReason::Protocol(p)),
                }
                match read_into(codec, &mut link.transport)? {
                    Some(_) => link.last_rx = ctx.now,
                    None => return Ok(out),
                }
            }
            // open: the first subscription goes out before anything else,
            // the rest paced by the watchdog
            link.phase = Phase::Open;
            link.last_rx = ctx.now;
            send_due_subscriptions(link, codec, subscriptions, rng, ctx.now, ctx.cfg.subscription_interval)?;
            if let Some(w) = link.watchdog {
                ctx.timers.reschedule(w, link.next_deadline(ctx.cfg.stale_after));
            }
            stats.opens = stats.opens.saturating_add(1);
            // promotion and events happen in after_pump, then this link is pumped again
            out.opened = true;
            return Ok(out);
        }
        let mut emptied = false;
        loop {
            loop {
                match codec.next_event(hold, rng.next_u32()) {
                    Ok(None) => break,
                    Ok(Some(WsEvent::Message(kind, payload))) => {
                        stats.messages = stats.messages.saturating_add(1);
                        out.delivered = true;
                        out.shutdown_seen |= is_server_shutdown(payload);
                        sink.on_message(*id, kind, payload);
                    }
                    Ok(Some(WsEvent::Ping)) => stats.pings = stats.pings.saturating_add(1),
                    Ok(Some(WsEvent::Pong)) => {}
                    Ok(Some(WsEvent::Close(code))) => {
                        let _ = flush_tx(codec, &mut link.transport);
                        return Err(link.closing.unwrap_or(CloseReason::ServerClose(code)));
                    }
                    Ok(Some(WsEvent::Held)) => {
                        out.held = true;
                        break;
                    }
                    Err(p) => return Err(CloseReason::Protocol(p)),
                }
            }
            flush_tx(codec, &mut link.transport)?;
            if out.held || emptied {
                return Ok(out);
            }
            match read_into(codec, &mut link.transport) {
                Ok(Some((n, read_emptied))) => {
                    link.last_rx = ctx.now;
                    stats.bytes_in = stats.bytes_in.saturating_add(n as u64);
                    emptied = drain == Drain::UntilEmpty && read_emptied;
                }
                Ok(None) => return Ok(out),
                Err(reason) => return Err(link.closing.unwrap_or(reason)),
            }
        }
    }

    /// Acts on what a pump found, or ends the link it failed on.
    fn after_pump<S: FrameSink>(
        &mut self,
        slot: usize,
        result: Result<Pumped, CloseReason>,
        ctx: &mut Ctx<'_>,
        sink: &mut S,
    ) {
        let pumped = match result {
            Ok(p) => p,
            Err(reason) => return self.end_link(slot, reason, ctx, sink),
        };
        if pumped.opened {
            if self.active.is_none() {
                self.promote(slot, ConnEvent::Opened, ctx, sink);
            } else {
                // a replacement: pump it once more to send the subscriptions
                // and find its first frame (bytes after the 101 may be waiting)
                self.kick = Some(slot);
            }
        }
        if pumped.delivered && self.active == Some(slot) {
            // only a link that carried data proves the server is healthy
            self.backoff.reset();
        }
        if pumped.held {
            self.on_held(slot, ctx);
        }
        if pumped.shutdown_seen {
            self.rotate(ctx, sink);
        }
    }

    /// The replacement in `slot` has its first data frame waiting: after the
    /// configured overlap (both links live), the old link is closed.
    fn on_held(&mut self, slot: usize, ctx: &mut Ctx<'_>) {
        let overlap = ctx.cfg.rotation_overlap;
        let key = self.watchdog_key(slot);
        let all_subscribed = self.subscriptions.len();
        let Some(link) = self.slots.get_mut(slot).and_then(|s| s.link.as_mut()) else { return };
        // the overlap counts from data after the last subscription: the
        // server answers it, so a later readiness event brings us back here
        if link.retire_at.is_some() || link.subs_sent < all_subscribed {
            return;
        }
        let at = Nanos(ctx.now.0.saturating_add(overlap.0));
        link.retire_at = Some(at);
        if overlap.0 == 0 {
            link.retire_started = true;
            self.retire_active(ctx);
            return;
        }
        if let Some(w) = link.watchdog.take() {
            ctx.timers.cancel(w);
        }
        link.watchdog = ctx.timers.schedule(link.next_deadline(ctx.cfg.stale_after).max(ctx.now), key).ok();
    }

    /// Makes `slot` the active link and arms its rotation.
    fn promote<S: FrameSink>(&mut self, slot: usize, event: ConnEvent, ctx: &mut Ctx<'_>, sink: &mut S) {
        self.active = Some(slot);
        if self.pending == Some(slot) {
            self.pending = None;
        }
        if let Some(t) = self.conn_timer.take() {
            ctx.timers.cancel(t);
        }
        let at = Nanos(ctx.now.0.saturating_add(ctx.cfg.rotate_after.0));
        self.conn_timer = ctx.timers.schedule(at, TimerKey::Conn { conn: self.id.0 }).ok();
        sink.on_event(self.id, event);
        self.kick = Some(slot);
    }

    /// Sends a close frame and waits (bounded) for the server's answer.
    fn begin_close(&mut self, slot: usize, reason: CloseReason, ctx: &mut Ctx<'_>) {
        let mask = self.rng.next_u32();
        let key = self.watchdog_key(slot);
        let Some(Slot { codec, link: Some(link) }) = self.slots.get_mut(slot) else { return };
        link.closing = Some(reason);
        link.phase = Phase::Closing;
        if codec.send_close(1000, mask).is_err() {
            link.failed = Some(reason);
        } else if let Err(e) = flush_tx(codec, &mut link.transport) {
            link.failed = Some(e);
        }
        let at = if link.failed.is_some() { ctx.now } else { Nanos(ctx.now.0.saturating_add(ctx.cfg.close_timeout.0)) };
        if let Some(w) = link.watchdog.take() {
            ctx.timers.cancel(w);
        }
        link.watchdog = ctx.timers.schedule(at, key).ok();
    }

    /// Drops the link in `slot` and decides what follows.
    fn end_link<S: FrameSink>(&mut self, slot: usize, reason: CloseReason, ctx: &mut Ctx<'_>, sink: &mut S) {
        let was_active = self.active == Some(slot);
        let was_pending = self.pending == Some(slot);
        self.teardown(slot, ctx);
        match reason {
            CloseReason::Protocol(_) => self.stats.protocol_errors = self.stats.protocol_errors.saturating_add(1),
            CloseReason::Stale => self.stats.stale = self.stats.stale.saturating_add(1),
            CloseReason::ServerClose(_) | CloseReason::Rotated | CloseReason::Local => {}
            _ => self.stats.link_failures = self.stats.link_failures.saturating_add(1),
        }
        if was_active {
            self.active = None;
            let pending_open = self.pending.filter(|p| self.slot_link(*p).is_some_and(|l| l.phase == Phase::Open));
            match (reason, pending_open) {
                (CloseReason::Rotated, Some(p)) => {
                    self.stats.rotations = self.stats.rotations.saturating_add(1);
                    self.promote(p, ConnEvent::Rotated, ctx, sink);
                }
                (_, Some(p)) => {
                    sink.on_event(self.id, ConnEvent::Closed(reason));
                    self.promote(p, ConnEvent::Opened, ctx, sink);
                }
                (_, None) => sink.on_event(self.id, ConnEvent::Closed(reason)),
            }
        } else if was_pending {
            self.pending = None;
            if matches!(
                reason,
                CloseReason::Io(_) | CloseReason::ConnectTimeout | CloseReason::Tls | CloseReason::Resolve
            ) {
                // dial the next address, and look the name up again when nothing serves
                self.next_addr = self.next_addr.wrapping_add(1);
                self.refresh_addrs = true;
            }
        }
        if !self.wanted || self.pending.is_some() {
            return;
        }
        if self.active.is_none() || was_pending {
            self.retry_later(reason, ctx, sink);
        }
    }

    /// After a failure: a reconnect (announced) when no link serves, or a
    /// quiet new rotation attempt when the old link still does.
    fn retry_later<S: FrameSink>(&mut self, reason: CloseReason, ctx: &mut Ctx<'_>, sink: &mut S) {
        if self.active.is_none() {
            self.schedule_retry(reason, ctx, sink);
            return;
        }
        let delay = self.backoff.next_delay();
        if let Some(t) = self.conn_timer.take() {
            ctx.timers.cancel(t);
        }
        let at = Nanos(ctx.now.0.saturating_add(delay.0));
        self.conn_timer = ctx.timers.schedule(at, TimerKey::Conn { conn: self.id.0 }).ok();
    }

    /// Schedules a reconnect after the next backoff delay.
    fn schedule_retry<S: FrameSink>(&mut self, reason: CloseReason, ctx: &mut Ctx<'_>, sink: &mut S) {
        if !self.wanted {
            return;
        }
        if let Some(t) = self.conn_timer.take() {
            ctx.timers.cancel(t);
        }
        let delay = self.backoff.next_delay();
        let at = Nanos(ctx.now.0.saturating_add(delay.0));
        self.conn_timer = ctx.timers.schedule(at, TimerKey::Conn { conn: self.id.0 }).ok();
        self.stats.reconnects = self.stats.reconnects.saturating_add(1);
        sink.on_event(self.id, ConnEvent::Reconnecting { attempt: self.backoff.attempts(), delay, after: reason });
    }

    /// Closes the socket of `slot` and frees its timers; keeps the buffers.
    fn teardown(&mut self, slot: usize, ctx: &mut Ctx<'_>) {
        let Some(s) = self.slots.get_mut(slot) else { return };
        s.codec.reset();
        let Some(mut link) = s.link.take() else { return };
        if let Some(w) = link.watchdog.take() {
            ctx.timers.cancel(w);
        }
        if link.failed.is_none() {
            link.transport.close_notify();
        }
        let _ = ctx.registry.deregister(link.transport.socket());
        if self.kick == Some(slot) {
            self.kick = None;
        }
    }
}

/// Sends the subscriptions that are due on a freshly opened link: one now,
/// then one per `interval` (Binance counts control messages against 5 per
/// second per connection).
fn send_due_subscriptions(
    link: &mut Link,
    codec: &mut WsCodec,
    subscriptions: &[Vec<u8>],
    rng: &mut SeededRng,
    now: Nanos,
    interval: Nanos,
) -> Result<(), CloseReason> {
    if link.next_sub_at.is_some_and(|at| at > now) {
        return Ok(());
    }
    link.next_sub_at = None;
    if let Some(sub) = subscriptions.get(link.subs_sent) {
        codec.encode(OP_TEXT, sub, rng.next_u32()).map_err(CloseReason::Protocol)?;
        link.subs_sent = link.subs_sent.saturating_add(1);
        if link.subs_sent < subscriptions.len() {
            link.next_sub_at = Some(Nanos(now.0.saturating_add(interval.0)));
        }
    }
    Ok(())
}

/// A `serverShutdown` notice, raw (market streams) or wrapped in `event`
/// (WebSocket API). Two prefix compares: other messages differ within a few
/// bytes, so this costs next to nothing per message. Wrapped in a combined
/// stream it is not seen here; the codec then calls `EventLoop::rotate`.
fn is_server_shutdown(payload: &[u8]) -> bool {
    payload.starts_with(b"{\"e\":\"serverShutdown\"") || payload.starts_with(b"{\"event\":{\"e\":\"serverShutdown\"")
}

/// Writes queued frames until done or the socket would block.
fn flush_tx(codec: &mut WsCodec, transport: &mut Transport) -> Result<(), CloseReason> {
    loop {
        let pending = codec.tx_pending();
        if pending.is_empty() {
            break;
        }
        match transport.write(pending) {
            Ok(0) => return Err(CloseReason::Io(std::io::ErrorKind::WriteZero)),
            Ok(n) => codec.tx_consume(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(io_reason(&e)),
        }
    }
    transport.flush().map_err(|e| io_reason(&e))
}

/// One socket read into the codec: `Some(n)`, or `None` on `WouldBlock`.
/// Reads what the socket has into the codec: `Some((bytes, emptied))`,
/// `emptied` when the read showed the socket's queue empty
/// ([`Transport::read_emptied`]); `None` on `WouldBlock`.
fn read_into(codec: &mut WsCodec, transport: &mut Transport) -> Result<Option<(usize, bool)>, CloseReason> {
    let space = codec.rx_space();
    if space.is_empty() {
        return Err(CloseReason::Protocol(ProtocolError::MessageTooBig));
    }
    let offered = space.len();
    match transport.read(space) {
        Ok(0) => Err(CloseReason::Eof),
        Ok(n) => {
            codec.rx_filled(n);
            Ok(Some((n, transport.read_emptied(n, offered))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(io_reason(&e)),
    }
}

/// How far [`Connection::pump`] reads a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// Until `WouldBlock`: what edge-triggered readiness asks in general.
    UntilWouldBlock,
    /// Until a plain TCP read returns less than it was offered: the
    /// receive queue was then empty (the kernel copies while it holds
    /// data), and anything arriving later raises a new readiness edge, so
    /// the read that would only say `WouldBlock` (a syscall between a tick
    /// and its order) is skipped, as nginx does. Only for an event that did
    /// not also report the peer's end of the stream: a FIN queued with the
    /// data raises no later edge, so that case reads on to see it.
    UntilEmpty,
}

impl Drain {
    const fn from_event(read_closed: bool) -> Self {
        if read_closed { Self::UntilWouldBlock } else { Self::UntilEmpty }
    }
}

/// TLS failures surface as `InvalidData` from the transport.
fn io_reason(e: &std::io::Error) -> CloseReason {
    if e.kind() == std::io::ErrorKind::InvalidData { CloseReason::Tls } else { CloseReason::Io(e.kind()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_shutdown_is_recognised_raw_and_wrapped_only() {
        assert!(is_server_shutdown(br#"{"e":"serverShutdown","E":1770123456789}"#));
        assert!(is_server_shutdown(br#"{"event":{"e":"serverShutdown","E":1770123456789}}"#));
        assert!(!is_server_shutdown(br#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000"}"#));
        assert!(!is_server_shutdown(br#"{"e":"trade","E":1}"#));
        assert!(!is_server_shutdown(b""));
    }

    #[test]
    fn tokens_map_connection_and_slot() {
        assert_eq!(token(0, 0), Token(0));
        assert_eq!(token(0, 1), Token(1));
        assert_eq!(token(3, 1), Token(7));
    }
}
