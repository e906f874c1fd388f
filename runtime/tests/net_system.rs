//! The websocket client against local servers, over TLS (a test CA made by
//! rcgen, passed as the extra CA) and plain loopback `ws://`: pings,
//! fragmented messages, a server-initiated close, a dropped connection with
//! reconnect and resubscription, garbage from the server, and rotation with
//! no gap in a sequence-numbered stream.

mod support;

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use odex_runtime::clock::{Clock as _, SystemClock};
use odex_runtime::net::{
    CloseReason, ConnEvent, ConnSpec, EventLoop, MessageKind, NetConfig, ProtocolError, SeededRng,
};
use odex_shared::market::Nanos;
use support::{Recorder, TestPki, accept, fast_config, listener, run_until};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::{Bytes, Message};

const SUB: &str = r#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}"#;

/// Reads until a text message arrives, answering nothing (tungstenite queues pongs itself).
fn read_text(ws: &mut tungstenite::WebSocket<support::ServerStream>) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return t.to_string(),
            _ => continue,
        }
    }
}

/// The scripted server: three connections exercising the whole life cycle.
/// Reports what it checked on `report`.
fn scripted_server(tls: Option<Arc<rustls::ServerConfig>>, report: mpsc::Sender<String>) -> u16 {
    let (l, port) = listener();
    thread::spawn(move || {
        // 1: subscription, data, ping, fragments, binary; then an abrupt drop
        let mut ws = accept(&l, tls.as_ref());
        report.send(format!("sub1 {}", read_text(&mut ws))).unwrap();
        ws.send(Message::text("m1")).unwrap();
        ws.send(Message::Ping(Bytes::from_static(b"ping-1"))).unwrap();
        ws.write(Message::Frame(Frame::message(Bytes::from_static(b"frag"), OpCode::Data(Data::Text), false))).unwrap();
        ws.write(Message::Ping(Bytes::from_static(b"ping-2"))).unwrap();
        ws.write(Message::Frame(Frame::message(Bytes::from_static(b"men"), OpCode::Data(Data::Continue), false)))
            .unwrap();
        ws.write(Message::Frame(Frame::message(Bytes::from_static(b"ted"), OpCode::Data(Data::Continue), true)))
            .unwrap();
        ws.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
        let mut pongs = Vec::new();
        while pongs.len() < 2 {
            if let Message::Pong(p) = ws.read().unwrap() {
                pongs.push(String::from_utf8_lossy(&p).into_owned());
            }
        }
        report.send(format!("pongs {}", pongs.join(","))).unwrap();
        drop(ws); // no close frame: the client sees EOF

        // 2: resubscription, then a server-initiated close
        let mut ws = accept(&l, tls.as_ref());
        report.send(format!("sub2 {}", read_text(&mut ws))).unwrap();
        ws.send(Message::text("m2")).unwrap();
        ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "bye".into() })).unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("server 2: {e}"),
            }
        }
        report.send("closed2".to_owned()).unwrap();

        // 3: resubscription, data, then the client closes
        let mut ws = accept(&l, tls.as_ref());
        report.send(format!("sub3 {}", read_text(&mut ws))).unwrap();
        ws.send(Message::text("m3")).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Close(f)) => {
                    report.send(format!("client close {}", f.map_or(0, |f| u16::from(f.code)))).unwrap();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    port
}

fn life_cycle(tls: bool) {
    let pki = tls.then(|| TestPki::new("life"));
    let (tx, rx) = mpsc::channel();
    let port = scripted_server(pki.as_ref().map(|p| Arc::clone(&p.server_config)), tx);
    let cfg = NetConfig { extra_ca_pem: pki.as_ref().map(|p| p.ca_file.clone()), ..fast_config() };
    let mut net = EventLoop::new(cfg).unwrap();
    let scheme = if tls { "wss" } else { "ws" };
    let conn = net
        .add_connection(ConnSpec {
            url: format!("{scheme}://127.0.0.1:{port}/ws/btcusdt@bookTicker"),
            subscriptions: vec![SUB.as_bytes().to_vec()],
        })
        .unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 20, |_, r| r.texts().iter().any(|t| t == "m3"));
    net.close(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 5, |n, _| !n.is_open(conn));
    // let the server see the close
    for _ in 0..20 {
        net.poll_once(&clock, &mut rec, Some(Duration::from_millis(5))).unwrap();
    }

    let texts: Vec<_> = rec.messages.iter().map(|m| (m.1, m.2.clone())).collect();
    assert_eq!(
        texts,
        vec![
            (MessageKind::Text, b"m1".to_vec()),
            (MessageKind::Text, b"fragmented".to_vec()),
            (MessageKind::Binary, vec![0, 1, 2, 255]),
            (MessageKind::Text, b"m2".to_vec()),
            (MessageKind::Text, b"m3".to_vec()),
        ]
    );
    let events: Vec<_> = rec.events.iter().map(|e| e.1).collect();
    assert_eq!(events[0], ConnEvent::Opened);
    assert_eq!(events[1], ConnEvent::Closed(CloseReason::Eof));
    assert!(matches!(events[2], ConnEvent::Reconnecting { attempt: 1, after: CloseReason::Eof, .. }));
    assert_eq!(events[3], ConnEvent::Opened);
    assert_eq!(events[4], ConnEvent::Closed(CloseReason::ServerClose(1001)));
    assert!(matches!(events[5], ConnEvent::Reconnecting { after: CloseReason::ServerClose(1001), .. }));
    assert_eq!(events[6], ConnEvent::Opened);
    assert_eq!(events[7], ConnEvent::Closed(CloseReason::Local));
    assert_eq!(events.len(), 8, "{events:?}");

    let reports: Vec<String> = rx.iter().take(6).collect();
    assert_eq!(
        reports,
        vec![
            format!("sub1 {SUB}"),
            "pongs ping-1,ping-2".to_owned(),
            format!("sub2 {SUB}"),
            "closed2".to_owned(),
            format!("sub3 {SUB}"),
            "client close 1000".to_owned(),
        ]
    );
    let stats = net.stats(conn).unwrap();
    assert_eq!((stats.messages, stats.pings, stats.opens, stats.reconnects), (5, 2, 3, 2));
    assert_eq!(stats.protocol_errors, 0);
}

#[test]
fn life_cycle_over_plain_loopback() {
    life_cycle(false);
}

#[test]
fn life_cycle_over_tls_with_a_test_ca() {
    life_cycle(true);
}

#[test]
fn tls_refuses_a_server_the_roots_do_not_trust() {
    let pki = TestPki::new("untrusted");
    let (l, port) = listener();
    let server_cfg = Arc::clone(&pki.server_config);
    thread::spawn(move || {
        // handshakes fail on the client side; just keep accepting
        for s in l.incoming().take(3) {
            let Ok(sock) = s else { continue };
            let conn = rustls::ServerConnection::new(Arc::clone(&server_cfg)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let _ = tls.flush();
            let _ = std::io::Read::read(&mut tls, &mut [0u8; 1]);
        }
    });
    // no extra CA: only the Mozilla roots
    let mut net = EventLoop::new(fast_config()).unwrap();
    let conn =
        net.add_connection(ConnSpec { url: format!("wss://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 10, |_, r| !r.events.is_empty());
    assert_eq!(
        rec.events[0].1,
        ConnEvent::Reconnecting {
            attempt: 1,
            delay: match rec.events[0].1 {
                ConnEvent::Reconnecting { delay, .. } => delay,
                _ => Nanos(0),
            },
            after: CloseReason::Tls
        }
    );
    assert!(rec.messages.is_empty());
    net.close(conn, &clock, &mut rec).unwrap();
}

#[test]
fn plain_ws_is_refused_unless_asked_and_loopback() {
    let mut net = EventLoop::new(NetConfig { allow_plain_loopback: false, ..fast_config() }).unwrap();
    assert!(net.add_connection(ConnSpec { url: "ws://127.0.0.1:1/ws".into(), subscriptions: vec![] }).is_err());
    let mut net = EventLoop::new(fast_config()).unwrap();
    assert!(net.add_connection(ConnSpec { url: "ws://192.0.2.1:1/ws".into(), subscriptions: vec![] }).is_err());
}

/// Seeded garbage: each connection gets random bytes or a malformed frame
/// after the handshake, then is dropped. The client must count protocol
/// errors, reconnect every time and never panic.
#[test]
fn garbage_from_the_server_is_counted_and_reconnected() {
    const CONNECTIONS: u64 = 60;
    let (l, port) = listener();
    let done = Arc::new(AtomicBool::new(false));
    let done_server = Arc::clone(&done);
    thread::spawn(move || {
        let mut rng = SeededRng::new(0x6a7b);
        for i in 0..CONNECTIONS {
            let mut ws = accept(&l, None);
            let garbage: Vec<u8> = match i % 6 {
                // pure noise
                0 | 1 => (0..1 + rng.up_to(200)).map(|_| rng.next_u32() as u8).collect(),
                2 => vec![0x81, 0x85, 1, 2, 3, 4, 0, 0, 0, 0, 0], // masked server frame
                3 => vec![0x81, 0x02, 0xff, 0xfe],                // text that is not UTF-8
                4 => [vec![0x82, 127], (1u64 << 40).to_be_bytes().to_vec()].concat(), // too big
                _ => vec![0x8B, 0x00],                            // reserved opcode
            };
            let stream = ws.get_mut();
            let _ = stream.write_all(&garbage);
            let _ = stream.flush();
            // wait until the client drops us (or a moment), then hang up
            stream.tcp().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
            let _ = std::io::Read::read(stream, &mut [0u8; 64]);
        }
        done_server.store(true, Ordering::SeqCst);
        // keep the listener open so late reconnects get refused cleanly
        thread::sleep(Duration::from_secs(2));
    });
    let mut net = EventLoop::new(fast_config()).unwrap();
    let conn =
        net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 30, |n, _| n.stats(conn).unwrap().opens >= CONNECTIONS);
    run_until(&mut net, &clock, &mut rec, 10, |n, _| n.stats(conn).unwrap().reconnects >= CONNECTIONS);
    let stats = net.stats(conn).unwrap();
    // 40 deliberately malformed connections, plus most of the noise ones
    assert!(stats.protocol_errors >= 40, "{stats:?}");
    assert!(stats.protocol_errors + stats.link_failures >= CONNECTIONS, "{stats:?}");
    let reasons: Vec<CloseReason> =
        rec.events.iter().filter_map(|e| if let ConnEvent::Closed(r) = e.1 { Some(r) } else { None }).collect();
    assert!(reasons.contains(&CloseReason::Protocol(ProtocolError::MaskedFrame)));
    assert!(reasons.contains(&CloseReason::Protocol(ProtocolError::InvalidUtf8)));
    assert!(reasons.contains(&CloseReason::Protocol(ProtocolError::MessageTooBig)));
    assert!(reasons.contains(&CloseReason::Protocol(ProtocolError::UnknownOpcode(0xB))));
    net.close(conn, &clock, &mut rec).unwrap();
}

/// A broadcast stream: every subscribed connection receives the sequence
/// numbers appended to a shared log from the moment it subscribed.
/// Rotations happen by `serverShutdown` (first connection) and by age.
#[test]
fn rotation_opens_the_new_link_first_and_loses_no_frame() {
    let (l, port) = listener();
    let log = Arc::new(AtomicU64::new(0)); // next sequence number
    let stop = Arc::new(AtomicBool::new(false));
    let timeline = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                log.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_micros(200));
            }
        });
    }
    {
        let (log, stop, timeline) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&timeline));
        thread::spawn(move || {
            for k in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let mut ws = accept(&l, None);
                timeline.lock().unwrap().push(format!("open {k}"));
                let (log, stop, timeline) = (Arc::clone(&log), Arc::clone(&stop), Arc::clone(&timeline));
                thread::spawn(move || {
                    // the subscription (a late connection may die with the test: fine)
                    loop {
                        match ws.read() {
                            Ok(Message::Text(_)) => break,
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                    ws.get_ref().tcp().set_read_timeout(Some(Duration::from_micros(500))).unwrap();
                    let mut next = log.load(Ordering::SeqCst);
                    let mut sent_shutdown = false;
                    let opened = SystemClock::new();
                    loop {
                        let head = log.load(Ordering::SeqCst);
                        while next < head {
                            if ws.send(Message::text(format!("{{\"seq\":{next}}}"))).is_err() {
                                break;
                            }
                            next += 1;
                        }
                        if k == 0 && !sent_shutdown && opened.monotonic() > Nanos(150_000_000) {
                            let _ = ws.send(Message::text(r#"{"e":"serverShutdown","E":1}"#));
                            sent_shutdown = true;
                        }
                        match ws.read() {
                            Ok(_) => {}
                            Err(tungstenite::Error::Io(e))
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => break,
                        }
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                    timeline.lock().unwrap().push(format!("closed {k}"));
                });
            }
        });
    }
    const MS: u64 = 1_000_000;
    // a generous overlap: the test server sends in batches and may be descheduled under load
    let cfg = NetConfig {
        rotate_after: Nanos(400 * MS),
        rotation_overlap: Nanos(100 * MS),
        subscription_interval: Nanos(30 * MS),
        ..fast_config()
    };
    let mut net = EventLoop::new(cfg).unwrap();
    // two paced subscriptions: the overlap must count from after the second
    let subscriptions = vec![SUB.as_bytes().to_vec(), br#"{"method":"SUBSCRIBE","params":["x"],"id":2}"#.to_vec()];
    let conn = net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions }).unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 30, |n, _| n.stats(conn).unwrap().rotations >= 3);
    // a little more data on the last link
    let target = log.load(Ordering::SeqCst) + 50;
    run_until(&mut net, &clock, &mut rec, 10, |_, r| {
        r.texts()
            .last()
            .and_then(|t| t.strip_prefix("{\"seq\":").and_then(|s| s.trim_end_matches('}').parse::<u64>().ok()))
            .is_some_and(|s| s >= target)
    });
    stop.store(true, Ordering::SeqCst);

    // a consumer that drops sequence numbers already seen sees no gap
    let mut last: Option<u64> = None;
    let mut duplicates = 0;
    for t in rec.texts() {
        let Some(seq) = t.strip_prefix("{\"seq\":").and_then(|s| s.trim_end_matches('}').parse::<u64>().ok()) else {
            continue;
        };
        match last {
            Some(l) if seq <= l => duplicates += 1,
            Some(l) => {
                assert_eq!(seq, l + 1, "gap after {l}");
                last = Some(seq);
            }
            None => last = Some(seq),
        }
    }
    let events: Vec<_> = rec.events.iter().map(|e| e.1).collect();
    assert_eq!(events.iter().filter(|e| **e == ConnEvent::Rotated).count() as u64, net.stats(conn).unwrap().rotations);
    assert!(!events.iter().any(|e| matches!(e, ConnEvent::Closed(_) | ConnEvent::Reconnecting { .. })), "{events:?}");
    // each new link was opened on the server before the old one was closed
    let clock_wait = SystemClock::new();
    while !timeline.lock().unwrap().iter().any(|e| e == "closed 2") && clock_wait.monotonic() < Nanos(2_000_000_000) {
        thread::sleep(Duration::from_millis(5));
    }
    let timeline = timeline.lock().unwrap().clone();
    for k in 0..3 {
        let find = |what: String| {
            timeline.iter().position(|e| *e == what).unwrap_or_else(|| panic!("{what}: {timeline:?} {events:?}"))
        };
        let open_next = find(format!("open {}", k + 1));
        let closed = find(format!("closed {k}"));
        assert!(open_next < closed, "{timeline:?}");
    }
    eprintln!(
        "rotation: {} messages, {duplicates} repeated across rotations, timeline {timeline:?}",
        rec.messages.len()
    );
}

/// A server that goes silent is dropped as stale; one that never answers the
/// upgrade hits the connect timeout; both are retried. Caller timers fire.
#[test]
fn stale_links_and_connect_timeouts_are_retried_and_user_timers_fire() {
    const MS: u64 = 1_000_000;
    let (l, port) = listener();
    thread::spawn(move || {
        // 1: open, one message, then silence (no pings either)
        let mut ws = accept(&l, None);
        ws.send(Message::text("hello")).unwrap();
        // 2: TCP accepted, upgrade request never answered
        let (_silent, _) = l.accept().unwrap();
        // 3 on: healthy ones (more than one if the client gave up on a slow one)
        let mut keep = vec![ws];
        loop {
            let mut healthy = accept(&l, None);
            healthy.send(Message::text("again")).unwrap();
            keep.push(healthy);
        }
    });
    let cfg = NetConfig {
        stale_after: Nanos(200 * MS),
        connect_timeout: Nanos(200 * MS),
        rotation_overlap: Nanos(10 * MS),
        ..fast_config()
    };
    let mut net = EventLoop::new(cfg).unwrap();
    let conn =
        net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut rec = TimerRecorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    let start = clock.monotonic();
    net.schedule(Nanos(start.0 + 50 * MS), 7).unwrap();
    let cancelled = net.schedule(Nanos(start.0 + 60 * MS), 8).unwrap();
    assert!(net.cancel(cancelled));
    run_until(&mut net, &clock, &mut rec, 10, |_, r| r.inner.texts().iter().any(|t| t == "again"));
    let events: Vec<_> = rec.inner.events.iter().map(|e| e.1).collect();
    assert_eq!(events[0], ConnEvent::Opened);
    assert_eq!(events[1], ConnEvent::Closed(CloseReason::Stale));
    assert!(matches!(events[2], ConnEvent::Reconnecting { after: CloseReason::Stale, .. }));
    assert!(matches!(events[3], ConnEvent::Reconnecting { after: CloseReason::ConnectTimeout, .. }));
    // under heavy load the healthy server may itself need more than 200 ms once
    assert!(events[4..].contains(&ConnEvent::Opened), "{events:?}");
    let stats = net.stats(conn).unwrap();
    assert_eq!((stats.stale, stats.opens), (1, 2));
    assert!(stats.link_failures >= 1);
    assert_eq!(rec.timers, vec![7]);
}

#[derive(Default)]
struct TimerRecorder {
    inner: Recorder,
    timers: Vec<u64>,
}

impl odex_runtime::net::FrameSink for TimerRecorder {
    fn on_message(&mut self, conn: odex_runtime::net::ConnId, kind: MessageKind, payload: &[u8]) {
        self.inner.on_message(conn, kind, payload);
    }
    fn on_event(&mut self, conn: odex_runtime::net::ConnId, event: ConnEvent) {
        self.inner.on_event(conn, event);
    }
    fn on_timer(&mut self, key: u64) {
        self.timers.push(key);
    }
}

/// Host names resolve. Where `localhost` gives `::1` first (not on every
/// machine) while the server listens on 127.0.0.1 only, this also shows a
/// refused dial moving on to the next cached address.
#[test]
fn localhost_resolves_and_refused_addresses_fail_over() {
    let (l, port) = listener();
    thread::spawn(move || {
        let mut ws = accept(&l, None);
        ws.send(Message::text("here")).unwrap();
        thread::sleep(Duration::from_secs(2));
    });
    let mut net = EventLoop::new(fast_config()).unwrap();
    let conn =
        net.add_connection(ConnSpec { url: format!("ws://localhost:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 10, |_, r| r.texts().iter().any(|t| t == "here"));
    let refused = rec.events.iter().filter(|e| matches!(e.1, ConnEvent::Reconnecting { .. })).count();
    eprintln!("localhost: {refused} refused address(es) before 127.0.0.1");
    net.close(conn, &clock, &mut rec).unwrap();
}

/// Reconnect timing runs on the Clock seam: with a simulated clock nothing
/// is retried until the clock passes the backoff delay, delays follow the
/// equal-jitter bounds, and a second run with the same seed repeats them.
#[test]
fn reconnect_backoff_runs_on_the_sim_clock_and_is_reproducible() {
    use odex_runtime::clock::SimClock;
    const MS: u64 = 1_000_000;
    let run = || {
        let (l, port) = listener();
        drop(l); // nobody listens: every dial is refused
        let cfg = NetConfig { backoff_base: Nanos(10 * MS), backoff_max: Nanos(80 * MS), seed: 42, ..fast_config() };
        let mut net = EventLoop::new(cfg).unwrap();
        let conn =
            net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
        let clock = SimClock::new(Nanos(1_000 * MS));
        let mut rec = Recorder::default();
        net.connect(conn, &clock, &mut rec).unwrap();
        let mut delays = Vec::new();
        for attempt in 1..=6u32 {
            // the refusal arrives as a socket event; real time passes, simulated time does not
            let mut spins = 0;
            while rec.events.len() < attempt as usize {
                net.poll_once(&clock, &mut rec, Some(Duration::from_millis(1))).unwrap();
                spins += 1;
                assert!(spins < 5_000, "no refusal seen");
            }
            let ConnEvent::Reconnecting { attempt: a, delay, after } = rec.events[attempt as usize - 1].1 else {
                panic!("{:?}", rec.events)
            };
            assert_eq!(a, attempt);
            assert_eq!(after, CloseReason::Io(std::io::ErrorKind::ConnectionRefused));
            let cap = ((10 * MS) << (attempt - 1)).min(80 * MS);
            assert!(delay.0 >= cap / 2 && delay.0 <= cap, "attempt {attempt}: {delay:?} outside [{}, {cap}]", cap / 2);
            // one nanosecond short of the deadline: no new attempt
            clock.advance(Nanos(delay.0 - 1));
            for _ in 0..20 {
                net.poll_once(&clock, &mut rec, Some(Duration::from_millis(1))).unwrap();
            }
            assert_eq!(rec.events.len(), attempt as usize, "retried before the backoff delay");
            clock.advance(Nanos(1));
            delays.push(delay);
        }
        assert_eq!(net.stats(conn).unwrap().reconnects, 6);
        delays
    };
    assert_eq!(run(), run());
}

/// Subscriptions go out one per `subscription_interval` (Binance allows 5
/// control messages per second), in order, and again after a reconnect.
#[test]
fn subscriptions_are_paced_and_resent_after_a_reconnect() {
    const MS: u64 = 1_000_000;
    let (l, port) = listener();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let clock = SystemClock::new();
        for _ in 0..2 {
            let mut ws = accept(&l, None);
            let mut got = Vec::new();
            while got.len() < 3 {
                let text = read_text(&mut ws);
                got.push((text, clock.monotonic()));
            }
            ws.send(Message::text("subscribed")).unwrap();
            tx.send(got).unwrap();
            // then drop: the client reconnects and subscribes again
        }
        thread::sleep(Duration::from_secs(2));
    });
    let cfg = NetConfig { subscription_interval: Nanos(100 * MS), ..fast_config() };
    let mut net = EventLoop::new(cfg).unwrap();
    let subs = ["a", "b", "c"].map(|s| s.as_bytes().to_vec()).to_vec();
    let conn = net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: subs }).unwrap();
    let clock = SystemClock::new();
    let mut rec = Recorder::default();
    net.connect(conn, &clock, &mut rec).unwrap();
    run_until(&mut net, &clock, &mut rec, 10, |_, r| r.texts().iter().filter(|t| *t == "subscribed").count() == 2);
    for round in rx.iter().take(2) {
        let texts: Vec<_> = round.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        for pair in round.windows(2) {
            let gap = pair[1].1.0 - pair[0].1.0;
            assert!(gap >= 90 * MS, "subscriptions {gap} ns apart");
        }
    }
    net.close(conn, &clock, &mut rec).unwrap();
}
