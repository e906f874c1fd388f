//! The runtime's own transport (`odex_runtime::net::EventLoop`) against
//! `odex-sim` over loopback `ws://`: it subscribes, receives market data and
//! places an order over the WebSocket API, both through the same event loop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, Mac};
use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::net::{ConnEvent, ConnId, ConnSpec, EventLoop, FrameSink, MessageKind, NetConfig};
use serde_json::Value;
use sha2::Sha256;

const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

#[derive(Default)]
struct Sink {
    messages: Vec<(ConnId, String)>,
    opened: Vec<ConnId>,
}

impl FrameSink for Sink {
    fn on_message(&mut self, conn: ConnId, _kind: MessageKind, payload: &[u8]) {
        self.messages.push((conn, String::from_utf8_lossy(payload).into_owned()));
    }
    fn on_event(&mut self, conn: ConnId, event: ConnEvent) {
        if matches!(event, ConnEvent::Opened) {
            self.opened.push(conn);
        }
    }
}

#[test]
fn runtime_transport_streams_and_trades() {
    let mut sim = Command::new(env!("CARGO_BIN_EXE_odex-sim"))
        .args(["--port", "0", "--doc-example-key", "--speed", "600", "--duration", "30", "--stamp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().unwrap().to_string();

    let clock = SystemClock::new();
    let mut net = EventLoop::new(NetConfig { allow_plain_loopback: true, ..NetConfig::default() }).unwrap();
    let md = net
        .add_connection(ConnSpec {
            url: format!("ws://127.0.0.1:{port}/ws"),
            subscriptions: vec![br#"{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":1}"#.to_vec()],
        })
        .unwrap();
    let api = net
        .add_connection(ConnSpec { url: format!("ws://127.0.0.1:{port}/ws-api/v3"), subscriptions: vec![] })
        .unwrap();
    let mut sink = Sink::default();
    net.connect(md, &clock, &mut sink).unwrap();
    net.connect(api, &clock, &mut sink).unwrap();
    let deadline = clock.monotonic().0 + 10_000_000_000;
    let mut sent = false;
    let mut done = false;
    while clock.monotonic().0 < deadline && !done {
        net.poll_once(&clock, &mut sink, Some(Duration::from_millis(5))).unwrap();
        if !sent && sink.opened.contains(&api) {
            let ts = clock.wall().as_millis();
            let payload =
                format!("apiKey={DOC_KEY}&quantity=0.0100&side=BUY&symbol=ETHUSDT&timestamp={ts}&type=MARKET");
            let mut mac = Hmac::<Sha256>::new_from_slice(DOC_SECRET.as_bytes()).unwrap();
            mac.update(payload.as_bytes());
            let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let req = format!(
                r#"{{"id":7,"method":"order.place","params":{{"symbol":"ETHUSDT","side":"BUY","type":"MARKET","quantity":"0.0100","timestamp":{ts},"apiKey":"{DOC_KEY}","signature":"{sig}"}}}}"#
            );
            net.send_text(api, req.as_bytes(), &clock).unwrap();
            sent = true;
        }
        let book = sink.messages.iter().any(|(c, m)| *c == md && m.contains("\"odexSendNs\""));
        let order = sink.messages.iter().any(|(c, m)| *c == api && m.contains("\"FILLED\""));
        done = book && order;
    }
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(done, "{:?}", sink.messages.iter().take(5).collect::<Vec<_>>());
    let (_, book) = sink.messages.iter().find(|(c, m)| *c == md && m.contains("\"u\"")).unwrap();
    let v: Value = serde_json::from_str(book).unwrap();
    assert_eq!(v["s"], "ETHUSDT");
}
