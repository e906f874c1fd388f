//! Allocation counting, by a global allocator that counts on the thread
//! under test only:
//! - the receive path allocates nothing: 100,000 websocket frames (with a
//!   ping every 100, answered by pongs) over loopback `ws://` after a warm-up;
//! - the send path allocates nothing over `ws://`;
//! - what rustls allocates per TLS record received and sent: through the
//!   event loop, and with rustls' buffered and unbuffered APIs directly.
//!   Printed (run with `--nocapture`), recorded in `NET-NOTES.md`.
use odex_runtime::alloc_count as counting;
mod support;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

use std::io::Write as _;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use odex_runtime::clock::SystemClock;
use odex_runtime::net::{ConnEvent, ConnId, ConnSpec, EventLoop, FrameSink, MessageKind};
use support::{accept, fast_config, listener};
use tungstenite::{Bytes, Message};

const WARM_UP: u64 = 1_000;
const MEASURED: u64 = 100_000;
const PING_EVERY: u64 = 100;

/// Counts and checks, allocation-free.
struct Sink {
    messages: u64,
    bytes: u64,
    opened: bool,
    allocations_at_warm_up: u64,
    allocations_at_end: u64,
}

impl FrameSink for Sink {
    fn on_message(&mut self, _conn: ConnId, kind: MessageKind, payload: &[u8]) {
        assert_eq!(kind, MessageKind::Text);
        self.messages += 1;
        self.bytes += payload.len() as u64;
        if self.messages == WARM_UP {
            self.allocations_at_warm_up = counting::count();
        }
        if self.messages == WARM_UP + MEASURED {
            self.allocations_at_end = counting::count();
        }
    }
    fn on_event(&mut self, _conn: ConnId, event: ConnEvent) {
        if event == ConnEvent::Opened {
            self.opened = true;
        }
    }
}

#[test]
fn receive_path_allocates_nothing_over_100k_frames() {
    let (l, port) = listener();
    let server = thread::spawn(move || {
        let mut ws = accept(&l, None);
        let mut pings = 0u64;
        for i in 0..WARM_UP + MEASURED {
            let msg = format!(
                r#"{{"u":{i},"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#
            );
            ws.write(Message::text(msg)).unwrap();
            if i % PING_EVERY == 0 {
                ws.write(Message::Ping(Bytes::copy_from_slice(&i.to_be_bytes()))).unwrap();
                pings += 1;
            }
            if i % 64 == 0 {
                ws.flush().unwrap();
            }
        }
        ws.flush().unwrap();
        ws.get_mut().flush().unwrap();
        // every ping must come back as a pong with its payload
        let mut pongs = 0u64;
        let mut expected = 0u64;
        while pongs < pings {
            if let Message::Pong(p) = ws.read().unwrap() {
                assert_eq!(p.as_ref(), &expected.to_be_bytes());
                expected += PING_EVERY;
                pongs += 1;
            }
        }
        pongs
    });

    let mut net = EventLoop::new(fast_config()).unwrap();
    let conn =
        net.add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut sink = Sink { messages: 0, bytes: 0, opened: false, allocations_at_warm_up: 0, allocations_at_end: 0 };
    net.connect(conn, &clock, &mut sink).unwrap();
    counting::arm(true);
    while sink.messages < WARM_UP + MEASURED {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(100))).unwrap();
    }
    counting::arm(false);
    // keep flushing pongs until the server has them all
    let pongs = loop {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(1))).unwrap();
        if server.is_finished() {
            break server.join().unwrap();
        }
    };
    assert!(sink.opened);
    assert_eq!(pongs, (WARM_UP + MEASURED).div_ceil(PING_EVERY));
    let stats = net.stats(conn).unwrap();
    assert_eq!(stats.pings, pongs);
    let allocations = sink.allocations_at_end - sink.allocations_at_warm_up;
    eprintln!(
        "zero-alloc: {MEASURED} frames ({} bytes, {} pings answered) after warm-up: {allocations} allocations",
        sink.bytes, stats.pings
    );
    assert!(sink.allocations_at_warm_up > 0, "the counter works: connecting allocates");
    assert_eq!(allocations, 0);
}

/// Counts messages only.
#[derive(Default)]
struct Count {
    messages: u64,
}

impl FrameSink for Count {
    fn on_message(&mut self, _conn: ConnId, _kind: MessageKind, _payload: &[u8]) {
        self.messages += 1;
    }
    fn on_event(&mut self, _conn: ConnId, _event: ConnEvent) {}
}

const RECORDS: u64 = 10_000;
const RECORD_WARM_UP: u64 = 200;
const BOOK_TICKER: &str =
    r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;

/// A websocket server sending `RECORD_WARM_UP + RECORDS` messages, each
/// flushed on its own (one TLS record each), then reading as many back.
fn record_server(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, thread::JoinHandle<u64>) {
    let (l, port) = listener();
    let handle = thread::spawn(move || {
        let mut ws = accept(&l, tls.as_ref());
        for _ in 0..RECORD_WARM_UP + RECORDS {
            ws.send(Message::text(BOOK_TICKER)).unwrap();
        }
        let mut got = 0;
        while got < RECORD_WARM_UP + RECORDS {
            if let Message::Text(_) = ws.read().unwrap() {
                got += 1;
            }
        }
        got
    });
    (port, handle)
}

/// Allocations per message received and per message sent through the event loop.
fn event_loop_allocations(tls: bool) -> (f64, f64) {
    let pki = tls.then(|| support::TestPki::new("alloc"));
    let (port, server) = record_server(pki.as_ref().map(|p| Arc::clone(&p.server_config)));
    let cfg = odex_runtime::net::NetConfig { extra_ca_pem: pki.as_ref().map(|p| p.ca_file.clone()), ..fast_config() };
    let mut net = EventLoop::new(cfg).unwrap();
    let scheme = if tls { "wss" } else { "ws" };
    let conn =
        net.add_connection(ConnSpec { url: format!("{scheme}://127.0.0.1:{port}/ws"), subscriptions: vec![] }).unwrap();
    let clock = SystemClock::new();
    let mut sink = Count::default();
    net.connect(conn, &clock, &mut sink).unwrap();
    while sink.messages < RECORD_WARM_UP {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(100))).unwrap();
    }
    let received = counting::allocations_in(|| {
        while sink.messages < RECORD_WARM_UP + RECORDS {
            net.poll_once(&clock, &mut sink, Some(Duration::from_millis(100))).unwrap();
        }
    });
    for _ in 0..RECORD_WARM_UP {
        net.send_text(conn, BOOK_TICKER.as_bytes(), &clock).unwrap();
        net.poll_once(&clock, &mut sink, Some(Duration::ZERO)).unwrap();
    }
    let sent = counting::allocations_in(|| {
        for _ in 0..RECORDS {
            // the send buffer is large; keep it drained like a live loop would
            while net.send_text(conn, BOOK_TICKER.as_bytes(), &clock).is_err() {
                net.poll_once(&clock, &mut sink, Some(Duration::from_millis(1))).unwrap();
            }
            net.poll_once(&clock, &mut sink, Some(Duration::ZERO)).unwrap();
        }
    });
    while !server.is_finished() {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(1))).unwrap();
    }
    assert_eq!(server.join().unwrap(), RECORD_WARM_UP + RECORDS);
    (received as f64 / RECORDS as f64, sent as f64 / RECORDS as f64)
}

#[test]
fn send_path_allocates_nothing_over_plain_ws() {
    let (received, sent) = event_loop_allocations(false);
    eprintln!("ws:// through the event loop: {received} allocations per message received, {sent} per message sent");
    assert_eq!((received, sent), (0.0, 0.0));
}

#[test]
fn tls_allocations_per_record_through_the_event_loop() {
    let (received, sent) = event_loop_allocations(true);
    eprintln!(
        "wss:// through the event loop (rustls 0.23 buffered): {received} allocations per record received, {sent} per record sent"
    );
    // what rustls does; our own code adds nothing (the ws:// test above)
    assert!(received <= 2.0 && sent <= 2.0, "{received} {sent}");
}

/// A raw TLS server: sends records of 100 bytes, then reads until EOF.
fn raw_tls_server(config: Arc<rustls::ServerConfig>) -> (u16, thread::JoinHandle<usize>) {
    let (l, port) = listener();
    let handle = thread::spawn(move || {
        let (sock, _) = l.accept().unwrap();
        sock.set_nodelay(true).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        for _ in 0..RECORD_WARM_UP + RECORDS {
            tls.write_all(&BOOK_TICKER.as_bytes()[..100]).unwrap();
            tls.flush().unwrap();
        }
        let mut total = 0;
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut tls, &mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    (port, handle)
}

/// rustls' unbuffered API with caller-owned buffers: allocations per
/// record received and per record encrypted.
#[test]
fn tls_allocations_per_record_with_the_unbuffered_api() {
    use rustls::client::UnbufferedClientConnection;
    use rustls::unbuffered::{ConnectionState, UnbufferedStatus};
    use std::io::Read as _;

    let pki = support::TestPki::new("unbuffered");
    let (port, server) = raw_tls_server(Arc::clone(&pki.server_config));
    let config = odex_runtime::net::client_config(Some(&pki.ca_file)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = UnbufferedClientConnection::new(config, name).unwrap();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_nodelay(true).unwrap();
    let mut incoming = vec![0u8; 64 * 1024];
    let mut in_len = 0;
    let mut outgoing = vec![0u8; 64 * 1024];
    let mut out_len = 0;
    let mut records = 0u64;
    let mut recv_allocs = 0u64;
    let mut measuring = false;
    let mut send_allocs = None;
    loop {
        if records >= RECORD_WARM_UP && !measuring && records < RECORD_WARM_UP + RECORDS {
            measuring = true;
            counting::arm(true);
            recv_allocs = counting::count();
        }
        let UnbufferedStatus { discard, state } = conn.process_tls_records(&mut incoming[..in_len]);
        let mut need_read = false;
        let mut done = false;
        match state.unwrap() {
            ConnectionState::EncodeTlsData(mut s) => out_len += s.encode(&mut outgoing[out_len..]).unwrap(),
            ConnectionState::TransmitTlsData(s) => {
                sock.write_all(&outgoing[..out_len]).unwrap();
                out_len = 0;
                s.done();
            }
            ConnectionState::BlockedHandshake => need_read = true,
            ConnectionState::ReadTraffic(mut r) => {
                while let Some(rec) = r.next_record() {
                    assert_eq!(rec.unwrap().payload.len(), 100);
                    records += 1;
                }
            }
            ConnectionState::WriteTraffic(mut w) => {
                if records < RECORD_WARM_UP + RECORDS {
                    need_read = true;
                } else {
                    if measuring {
                        counting::arm(false);
                        recv_allocs = counting::count() - recv_allocs;
                        measuring = false;
                    }
                    // encrypt RECORDS records into the caller's buffer, flushing as it fills
                    let mut flushes = Vec::with_capacity(RECORDS as usize);
                    let allocs = counting::allocations_in(|| {
                        for _ in 0..RECORDS {
                            if outgoing.len() - out_len < 512 {
                                flushes.push(out_len);
                                sock.write_all(&outgoing[..out_len]).unwrap();
                                out_len = 0;
                            }
                            out_len += w.encrypt(&BOOK_TICKER.as_bytes()[..100], &mut outgoing[out_len..]).unwrap();
                        }
                    });
                    sock.write_all(&outgoing[..out_len]).unwrap();
                    send_allocs = Some(allocs);
                    done = true;
                }
            }
            ConnectionState::PeerClosed | ConnectionState::Closed => done = true,
            other => panic!("unexpected {other:?}"),
        }
        incoming.copy_within(discard..in_len, 0);
        in_len -= discard;
        if done {
            break;
        }
        if need_read {
            let n = sock.read(&mut incoming[in_len..]).unwrap();
            assert!(n > 0, "server closed early");
            in_len += n;
        }
    }
    drop(sock);
    assert_eq!(server.join().unwrap(), RECORDS as usize * 100);
    let received = recv_allocs as f64 / RECORDS as f64;
    let sent = send_allocs.unwrap() as f64 / RECORDS as f64;
    eprintln!(
        "rustls 0.23 unbuffered API, caller-owned buffers: {received} allocations per record received, {sent} per record encrypted"
    );
}

/// rustls' buffered `ClientConnection` directly (no websocket), for comparison.
#[test]
fn tls_allocations_per_record_with_the_buffered_api() {
    use std::io::Read as _;
    let pki = support::TestPki::new("buffered");
    let (port, server) = raw_tls_server(Arc::clone(&pki.server_config));
    let config = odex_runtime::net::client_config(Some(&pki.ca_file)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_nodelay(true).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut buf = [0u8; 100];
    for _ in 0..RECORD_WARM_UP {
        tls.read_exact(&mut buf).unwrap();
    }
    let received = counting::allocations_in(|| {
        for _ in 0..RECORDS {
            tls.read_exact(&mut buf).unwrap();
        }
    });
    let sent = counting::allocations_in(|| {
        for _ in 0..RECORDS {
            tls.write_all(&buf).unwrap();
            tls.flush().unwrap();
        }
    });
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    drop(tls);
    assert_eq!(server.join().unwrap(), RECORDS as usize * 100);
    eprintln!(
        "rustls 0.23 buffered API directly: {} allocations per record received, {} per record sent",
        received as f64 / RECORDS as f64,
        sent as f64 / RECORDS as f64
    );
}
