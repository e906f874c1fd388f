//! The event loop: one `mio::Poll` owning every socket, the timer queue, and
//! the connections.
//!
//! Tokens: connection `c`, link slot `s` uses `Token(2c + s)`; tokens from
//! [`USER_TOKEN_BASE`] up are the caller's (e.g. a metrics listener
//! registered through [`EventLoop::registry`]) and are reported to
//! [`FrameSink::on_io`]. One [`EventLoop::poll_once`] waits for readiness or
//! the next deadline, drains every ready socket (edge-triggered) into the
//! sink, then fires expired timers. In steady state it allocates nothing.

use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll, Registry};
use odex_shared::market::Nanos;
use rustls::ClientConfig;

use super::config::{ConnSpec, Endpoint, NetConfig, TIMERS_PER_CONNECTION};
use super::conn::{Connection, Ctx, TimerKey};
use super::error::NetError;
use super::sink::{ConnId, ConnStats, FrameSink, MessageKind};
use super::timer::{TimerId, Timers};
use super::tls;
use crate::clock::Clock;

/// First token free for the caller's own sockets.
pub const USER_TOKEN_BASE: usize = 1 << 24;

/// The network half of the runtime (see the module doc).
#[derive(Debug)]
pub struct EventLoop {
    poll: Poll,
    events: Events,
    timers: Timers<TimerKey>,
    conns: Vec<Connection>,
    cfg: NetConfig,
    tls: Option<Arc<ClientConfig>>,
}

impl EventLoop {
    /// Validates `cfg`, creates the poller and the timer queue.
    ///
    /// # Errors
    /// [`NetError::Config`] for a bad value, [`NetError::Io`] if the poller
    /// cannot be created.
    pub fn new(cfg: NetConfig) -> Result<Self, NetError> {
        cfg.validate()?;
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(cfg.events_capacity),
            timers: Timers::with_capacity(cfg.timer_capacity),
            conns: Vec::with_capacity(cfg.max_connections),
            tls: None,
            cfg,
        })
    }

    /// Adds a connection (not yet connecting; see [`connect`](Self::connect)).
    /// Its buffers are allocated here.
    ///
    /// # Errors
    /// [`NetError::Url`] for a bad or disallowed URL, [`NetError::CaFile`]
    /// for a bad extra CA, [`NetError::TooManyConnections`].
    pub fn add_connection(&mut self, spec: ConnSpec) -> Result<ConnId, NetError> {
        if self.conns.len() >= self.cfg.max_connections {
            return Err(NetError::TooManyConnections(self.cfg.max_connections));
        }
        let endpoint = Endpoint::parse(&spec.url, self.cfg.allow_plain_loopback)?;
        let tls = if endpoint.tls {
            if self.tls.is_none() {
                self.tls = Some(tls::client_config(self.cfg.extra_ca_pem.as_deref())?);
            }
            self.tls.clone()
        } else {
            None
        };
        let id = ConnId(u16::try_from(self.conns.len()).map_err(|_| NetError::TooManyConnections(self.conns.len()))?);
        self.conns.push(Connection::new(id, endpoint, spec.subscriptions, tls, &self.cfg));
        Ok(id)
    }

    /// Starts connecting `conn`; from now on it is kept up until [`close`](Self::close).
    ///
    /// # Errors
    /// [`NetError::UnknownConnection`].
    pub fn connect<C: Clock, S: FrameSink>(&mut self, conn: ConnId, clock: &C, sink: &mut S) -> Result<(), NetError> {
        self.with_conn(conn, clock, |c, ctx| c.start(ctx, sink))
    }

    /// Replaces the link of `conn` without a gap (call it when the codec sees
    /// `serverShutdown` wrapped in a combined stream; raw and WebSocket API ones
    /// are seen by the loop itself).
    ///
    /// # Errors
    /// [`NetError::UnknownConnection`].
    pub fn rotate<C: Clock, S: FrameSink>(&mut self, conn: ConnId, clock: &C, sink: &mut S) -> Result<(), NetError> {
        self.with_conn(conn, clock, |c, ctx| c.rotate(ctx, sink))
    }

    /// Closes `conn` gracefully; it is not reconnected.
    ///
    /// # Errors
    /// [`NetError::UnknownConnection`].
    pub fn close<C: Clock, S: FrameSink>(&mut self, conn: ConnId, clock: &C, sink: &mut S) -> Result<(), NetError> {
        self.with_conn(conn, clock, |c, ctx| c.close(ctx, sink))
    }

    /// Sends a text message on `conn` (masked into the link's send buffer,
    /// then written as far as the socket takes it).
    ///
    /// # Errors
    /// [`NetError::NotOpen`], [`NetError::WriteBufferFull`] (retry after the
    /// next poll), [`NetError::MessageTooBig`], [`NetError::UnknownConnection`].
    pub fn send_text<C: Clock>(&mut self, conn: ConnId, payload: &[u8], clock: &C) -> Result<(), NetError> {
        self.send(conn, MessageKind::Text, payload, clock)
    }

    /// Sends a binary message on `conn`.
    ///
    /// # Errors
    /// As [`send_text`](Self::send_text).
    pub fn send_binary<C: Clock>(&mut self, conn: ConnId, payload: &[u8], clock: &C) -> Result<(), NetError> {
        self.send(conn, MessageKind::Binary, payload, clock)
    }

    fn send<C: Clock>(&mut self, conn: ConnId, kind: MessageKind, payload: &[u8], clock: &C) -> Result<(), NetError> {
        let c = self.conns.get_mut(usize::from(conn.0)).ok_or(NetError::UnknownConnection(conn.0))?;
        c.send(kind, payload, clock.monotonic(), &mut self.timers)
    }

    /// True when `conn` has a link open for sending.
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.get(usize::from(conn.0)).is_some_and(Connection::is_open)
    }

    /// Counters of `conn`.
    pub fn stats(&self, conn: ConnId) -> Option<ConnStats> {
        self.conns.get(usize::from(conn.0)).map(Connection::stats)
    }

    /// Schedules a caller timer (e.g. an order timeout) at monotonic `deadline`;
    /// it fires as [`FrameSink::on_timer`]`(key)`.
    ///
    /// # Errors
    /// [`NetError::TimersFull`] when the caller's share of the queue is used
    /// up (the network keeps 4 slots per possible connection).
    pub fn schedule(&mut self, deadline: Nanos, key: u64) -> Result<TimerId, NetError> {
        let reserved = self.cfg.max_connections.saturating_mul(TIMERS_PER_CONNECTION);
        if self.timers.len().saturating_add(reserved) >= self.timers.capacity() {
            return Err(NetError::TimersFull);
        }
        self.timers.schedule(deadline, TimerKey::User(key)).map_err(|_| NetError::TimersFull)
    }

    /// Cancels a caller timer; false if it already fired.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id).is_some()
    }

    /// The mio registry, to register the caller's own sockets with tokens
    /// at or above [`USER_TOKEN_BASE`].
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Waits for readiness (at most `timeout`, or until the next timer),
    /// handles every ready socket and expired timer, delivering to `sink`.
    /// `Some(Duration::ZERO)` busy-polls.
    ///
    /// # Errors
    /// [`NetError::Io`] if waiting itself fails (not for connection failures,
    /// which are reported to the sink and retried).
    pub fn poll_once<C: Clock, S: FrameSink>(
        &mut self,
        clock: &C,
        sink: &mut S,
        timeout: Option<Duration>,
    ) -> Result<(), NetError> {
        let timeout = match self.timers.next_deadline() {
            Some(deadline) => {
                let until = Duration::from_nanos(deadline.saturating_sub(clock.monotonic()).0);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
            None => timeout,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(NetError::Io(e)),
        }
        let Self { poll, events, timers, conns, cfg, .. } = self;
        let mut ctx = Ctx { registry: poll.registry(), timers, now: clock.monotonic(), cfg };
        for event in events.iter() {
            let token = event.token().0;
            if token >= USER_TOKEN_BASE {
                sink.on_io(event.token(), event.is_readable(), event.is_writable());
                continue;
            }
            if let Some(c) = conns.get_mut(token / 2) {
                c.on_ready(token % 2, event.is_read_closed() || event.is_error(), &mut ctx, sink);
            }
        }
        ctx.now = clock.monotonic();
        while let Some((_, key)) = ctx.timers.pop_expired(ctx.now) {
            match key {
                TimerKey::User(k) => sink.on_timer(k),
                TimerKey::Watchdog { conn, slot } => {
                    if let Some(c) = conns.get_mut(usize::from(conn)) {
                        c.on_watchdog(usize::from(slot), &mut ctx, sink);
                    }
                }
                TimerKey::Conn { conn } => {
                    if let Some(c) = conns.get_mut(usize::from(conn)) {
                        c.on_conn_timer(&mut ctx, sink);
                    }
                }
            }
        }
        Ok(())
    }

    fn with_conn<C: Clock>(
        &mut self,
        conn: ConnId,
        clock: &C,
        f: impl FnOnce(&mut Connection, &mut Ctx<'_>),
    ) -> Result<(), NetError> {
        let Self { poll, timers, conns, cfg, .. } = self;
        let c = conns.get_mut(usize::from(conn.0)).ok_or(NetError::UnknownConnection(conn.0))?;
        let mut ctx = Ctx { registry: poll.registry(), timers, now: clock.monotonic(), cfg };
        f(c, &mut ctx);
        Ok(())
    }
}
