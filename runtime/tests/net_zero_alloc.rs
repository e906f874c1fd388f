//! Proves the receive path allocates nothing: 100,000 websocket frames (with
//! a ping every 100, answered by pongs) over loopback `ws://` after a
//! warm-up, counted by a global allocator on the client thread only.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use odex_runtime::clock::SystemClock;
use odex_runtime::net::{ConnEvent, ConnId, ConnSpec, EventLoop, FrameSink, MessageKind};
use support::{accept, fast_config, listener};
use tungstenite::{Bytes, Message};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the thread under test counts (the server thread allocates freely).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: thread-local storage may already be gone at thread exit
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the
// counter and the const-initialised thread-local flag do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
            self.allocations_at_warm_up = ALLOCATIONS.load(Ordering::Relaxed);
        }
        if self.messages == WARM_UP + MEASURED {
            self.allocations_at_end = ALLOCATIONS.load(Ordering::Relaxed);
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
    COUNTING.with(|c| c.set(true));
    while sink.messages < WARM_UP + MEASURED {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(100))).unwrap();
    }
    COUNTING.with(|c| c.set(false));
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
