//! Rough timings of the receive path (ignored by default; run optimised):
//! `cargo test --release -p odex-runtime --test net_timing -- --ignored --nocapture`.
//! Not a benchmark suite (that lives in `benches/`): a quick figure for
//! NET-NOTES.md, with a memcpy of the same bytes as the same-run baseline.

mod support;

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use odex_runtime::clock::{Clock as _, SystemClock};
use odex_runtime::net::{ConnEvent, ConnId, ConnSpec, EventLoop, FrameSink, MessageKind, WsCodec, WsEvent};
use support::{accept, fast_config, listener};
use tungstenite::Message;

const BOOK_TICKER: &str =
    r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81, payload.len() as u8];
    f.extend_from_slice(payload);
    f
}

#[test]
#[ignore = "timing; run with --release --ignored"]
fn frame_parse_ns_per_frame() {
    const FRAMES: usize = 100;
    const ROUNDS: usize = 20_000;
    let one = frame(BOOK_TICKER.as_bytes());
    let wire: Vec<u8> = one.iter().copied().cycle().take(one.len() * FRAMES).collect();
    let mut codec = WsCodec::new(64 * 1024, 16 * 1024, 4096);
    let clock = SystemClock::new();
    let mut copy = vec![0u8; wire.len()];
    let start = clock.monotonic();
    for _ in 0..ROUNDS {
        copy.copy_from_slice(black_box(&wire));
        black_box(&copy);
    }
    let memcpy_ns = (clock.monotonic().0 - start.0) as f64 / (ROUNDS * FRAMES) as f64;
    let start = clock.monotonic();
    let mut bytes = 0usize;
    for _ in 0..ROUNDS {
        let space = codec.rx_space();
        space[..wire.len()].copy_from_slice(&wire);
        codec.rx_filled(wire.len());
        while let Some(WsEvent::Message(_, m)) = codec.next_event(false, 0).unwrap() {
            bytes += black_box(m).len();
        }
    }
    let parse_ns = (clock.monotonic().0 - start.0) as f64 / (ROUNDS * FRAMES) as f64;
    assert_eq!(bytes, BOOK_TICKER.len() * FRAMES * ROUNDS);
    eprintln!(
        "frame parse (copy into rx + header + UTF-8 check + borrow), {}-byte bookTicker: {parse_ns:.1} ns/frame; memcpy of the same bytes: {memcpy_ns:.1} ns/frame",
        BOOK_TICKER.len()
    );
}

struct Count(u64);

impl FrameSink for Count {
    fn on_message(&mut self, _: ConnId, _: MessageKind, payload: &[u8]) {
        self.0 += 1;
        black_box(payload);
    }
    fn on_event(&mut self, _: ConnId, _: ConnEvent) {}
}

#[test]
#[ignore = "timing; run with --release --ignored"]
fn loopback_receive_ns_per_message() {
    const MESSAGES: u64 = 200_000;
    let (l, port) = listener();
    let wire: Vec<u8> = frame(BOOK_TICKER.as_bytes()).repeat(MESSAGES as usize);
    thread::spawn(move || {
        let mut ws = accept(&l, None);
        // raw frames, written in 64 KiB chunks, so the server is not the bottleneck
        let _ = ws.read(); // wait for the client to be ready (it sends one text)
        for chunk in wire.chunks(64 * 1024) {
            std::io::Write::write_all(ws.get_mut(), chunk).unwrap();
        }
        thread::sleep(Duration::from_secs(2));
        drop(ws.send(Message::text("bye")));
    });
    let mut net = EventLoop::new(fast_config()).unwrap();
    let conn = net
        .add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws"), subscriptions: vec![b"go".to_vec()] })
        .unwrap();
    let clock = SystemClock::new();
    let mut sink = Count(0);
    net.connect(conn, &clock, &mut sink).unwrap();
    let mut start = None;
    while sink.0 < MESSAGES {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(100))).unwrap();
        if start.is_none() && sink.0 > 0 {
            start = Some((clock.monotonic(), sink.0));
        }
    }
    let (t0, n0) = start.unwrap();
    let ns = (clock.monotonic().0 - t0.0) as f64 / (MESSAGES - n0) as f64;
    eprintln!("loopback ws:// receive through the event loop (read syscalls + parse + sink): {ns:.1} ns/message");
}
