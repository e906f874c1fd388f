//! System tests of `odex-sim`: the binary started on 127.0.0.1:0, driven
//! over plain TCP by a tungstenite websocket client and raw HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use odex_runtime::clock::{Clock, SystemClock};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tungstenite::{Message, WebSocket};

const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn data(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance").join(rel);
    if p.exists() { p.display().to_string() } else { format!("/work/shared/data/binance/{rel}") }
}

struct Sim {
    child: Child,
    port: u16,
}

impl Sim {
    fn start(extra: &[&str]) -> Self {
        let klines = format!("ETHUSDT={}", data("klines/ETHUSDT-1m-2022-08-14.csv"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_odex-sim"))
            .args(["--port", "0", "--doc-example-key", "--klines", &klines])
            .args(if extra.contains(&"--speed") { &[][..] } else { &["--speed", "600"][..] })
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        assert!(line.starts_with("odex-sim listening on 127.0.0.1:"), "{line}");
        Self { child, port }
    }

    fn ws(&self, path: &str) -> WebSocket<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}{path}", self.port), stream).unwrap();
        ws
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_string(), body.to_string())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn next_json(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn now_ms() -> u64 {
    SystemClock::new().wall().as_millis()
}

fn hmac_hex(payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(DOC_SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs params as BINANCE.md says (sorted, `k=v&...`).
fn signed(mut params: Map<String, Value>) -> Map<String, Value> {
    params.insert("apiKey".into(), json!(DOC_KEY));
    params.entry("timestamp").or_insert(json!(now_ms()));
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
    pairs.sort();
    let payload: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    params.insert("signature".into(), json!(hmac_hex(&payload.join("&"))));
    params
}

fn call(ws: &mut WebSocket<TcpStream>, id: u64, method: &str, params: Map<String, Value>) -> Value {
    ws.send(Message::text(json!({"id": id, "method": method, "params": params}).to_string())).unwrap();
    loop {
        let v = next_json(ws);
        if let Some(e) = v["event"]["e"].as_str() {
            assert_eq!(v["subscriptionId"], 0, "{v}");
            EVENTS.lock().unwrap().push(e.to_string());
        }
        if v.get("id") == Some(&json!(id)) {
            return v;
        }
    }
}

/// User-data event types seen by [`call`] (all tests; only one subscribes).
static EVENTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn market_streams_have_binance_shapes() {
    let sim = Sim::start(&[]);
    let mut raw = sim.ws("/ws/ethusdt@bookTicker");
    let v = next_json(&mut raw);
    assert_eq!(v["s"], "ETHUSDT");
    for k in ["u", "b", "B", "a", "A"] {
        assert!(v.get(k).is_some(), "{v}");
    }
    let bid = v["b"].as_str().unwrap();
    assert_eq!(bid.split('.').nth(1).unwrap().len(), 8, "{bid}");

    let mut combined = sim.ws("/stream?streams=ethusdt@trade/ethusdt@depth/ethusdt@kline_1m");
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        let v = next_json(&mut combined);
        let stream = v["stream"].as_str().unwrap().to_string();
        let e = v["data"]["e"].as_str().unwrap().to_string();
        assert_eq!(
            (stream.as_str(), e.as_str()).1,
            match stream.as_str() {
                "ethusdt@trade" => "trade",
                "ethusdt@depth" => "depthUpdate",
                _ => "kline",
            }
        );
        seen.insert(stream);
    }
}

#[test]
fn subscribe_flow_and_depth_snapshot() {
    let sim = Sim::start(&[]);
    let mut ws = sim.ws("/ws");
    ws.send(Message::text(r#"{"method":"SUBSCRIBE","params":["ethusdt@depth","btcusdt@aggTrade"],"id":1}"#)).unwrap();
    let mut v = next_json(&mut ws);
    while v.get("id").is_none() {
        v = next_json(&mut ws);
    }
    assert_eq!(v, json!({"result": null, "id": 1}));
    ws.send(Message::text(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#)).unwrap();
    loop {
        let v = next_json(&mut ws);
        if v.get("id") == Some(&json!(3)) {
            assert_eq!(v["result"], json!(["ethusdt@depth", "btcusdt@aggTrade"]));
            break;
        }
    }
    ws.send(Message::text(r#"{"method":"SUBSCRIBE","params":["nope@depth"],"id":4}"#)).unwrap();
    loop {
        let v = next_json(&mut ws);
        if v.get("id") == Some(&json!(4)) {
            assert_eq!(v["error"]["code"], 2);
            break;
        }
    }
    // the diff stream continues the snapshot's update ids
    let (status, _, body) = sim.get("/api/v3/depth?symbol=ETHUSDT&limit=5");
    assert_eq!(status, 200);
    let snap: Value = serde_json::from_str(&body).unwrap();
    let last = snap["lastUpdateId"].as_u64().unwrap();
    assert_eq!(snap["bids"].as_array().unwrap().len(), 5);
    loop {
        let v = next_json(&mut ws);
        if v["e"] == "depthUpdate" && v["u"].as_u64().unwrap() > last {
            assert!(v["U"].as_u64().unwrap() <= last + 1, "{v} after {last}");
            break;
        }
    }
}

#[test]
fn rest_endpoints() {
    let sim = Sim::start(&["--weight-limit", "60"]);
    let (status, head, body) = sim.get("/api/v3/time");
    assert_eq!(status, 200);
    assert!(head.contains("X-MBX-USED-WEIGHT-1M: 1"), "{head}");
    let t: Value = serde_json::from_str(&body).unwrap();
    assert!(t["serverTime"].as_u64().unwrap().abs_diff(now_ms()) < 5000);

    let (_, _, body) = sim.get("/api/v3/exchangeInfo?symbol=ETHUSDT");
    let info: Value = serde_json::from_str(&body).unwrap();
    let filters = info["symbols"][0]["filters"].as_array().unwrap();
    assert!(filters.iter().any(|f| f["filterType"] == "LOT_SIZE" && f["stepSize"] == "0.00010000"));

    // klines only up to the bar being replayed (600x: a bar per 100 ms)
    std::thread::sleep(Duration::from_millis(400));
    let (status, _, body) = sim.get("/api/v3/klines?symbol=ETHUSDT&interval=1m&startTime=1660435200000&limit=2");
    assert_eq!(status, 200);
    let k: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(k[0][0], 1_660_435_200_000u64);
    assert_eq!(k[0][1], "1983.55000000");
    assert_eq!(k.as_array().unwrap().len(), 2);

    let (status, _, body) = sim.get("/api/v3/klines?symbol=NOPE&interval=1m");
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["code"].clone()), (400, json!(-1121)));

    let mut s = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    s.write_all(b"garbage\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    // 20 weight each: the fourth exchangeInfo passes 60
    let mut last = (0, String::new());
    for _ in 0..4 {
        let (status, head, _) = sim.get("/api/v3/exchangeInfo");
        last = (status, head);
    }
    assert_eq!(last.0, 429);
    assert!(last.1.contains("Retry-After:"), "{}", last.1);
}

#[test]
fn ws_api_orders_and_error_shapes() {
    let sim = Sim::start(&["--order-limit", "6"]);
    let mut ws = sim.ws("/ws-api/v3");
    let t = call(&mut ws, 1, "time", Map::new());
    assert_eq!(t["status"], 200);
    assert_eq!(t["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");

    let sub = call(&mut ws, 2, "userDataStream.subscribe.signature", signed(Map::new()));
    assert_eq!(sub["result"]["subscriptionId"], 0, "{sub}");

    let place = |side: &str, kind: &str, price: Option<&str>, qty: &str| {
        let mut p = obj(json!({"symbol": "ETHUSDT", "side": side, "type": kind, "quantity": qty}));
        if let Some(price) = price {
            p.insert("price".into(), json!(price));
            p.insert("timeInForce".into(), json!("GTC"));
        }
        p
    };
    let r = call(&mut ws, 3, "order.place", signed(place("BUY", "MARKET", None, "0.1000")));
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["status"], "FILLED");
    assert_eq!(r["result"]["fills"].as_array().unwrap().len(), 1);
    assert_eq!(r["rateLimits"][1]["rateLimitType"], "ORDERS");

    let r = call(&mut ws, 4, "order.place", signed(place("BUY", "LIMIT", Some("100.00"), "0.1000")));
    assert_eq!(r["result"]["status"], "NEW", "{r}");
    let id = r["result"]["orderId"].as_u64().unwrap();
    let s = call(&mut ws, 5, "order.status", signed(obj(json!({"symbol": "ETHUSDT", "orderId": id}))));
    assert_eq!(s["result"]["status"], "NEW");
    let open = call(&mut ws, 6, "openOrders.status", signed(obj(json!({"symbol": "ETHUSDT"}))));
    assert_eq!(open["result"].as_array().unwrap().len(), 1);
    let c = call(&mut ws, 7, "order.cancel", signed(obj(json!({"symbol": "ETHUSDT", "orderId": id}))));
    assert_eq!(c["result"]["status"], "CANCELED", "{c}");
    let acct = call(&mut ws, 8, "account.status", signed(Map::new()));
    assert!(acct["result"]["balances"].as_array().unwrap().iter().any(|b| b["asset"] == "ETH"));

    // errors in Binance's shapes
    let mut bad = signed(place("BUY", "MARKET", None, "0.1000"));
    bad.insert("signature".into(), json!("00".repeat(32)));
    let r = call(&mut ws, 9, "order.place", bad);
    assert_eq!((r["status"].clone(), r["error"]["code"].clone()), (json!(400), json!(-1022)), "{r}");
    let mut old = place("BUY", "MARKET", None, "0.1000");
    old.insert("timestamp".into(), json!(now_ms() - 60_000));
    let r = call(&mut ws, 10, "order.place", signed(old));
    assert_eq!(r["error"]["code"], -1021, "{r}");
    let r = call(&mut ws, 11, "order.place", signed(place("BUY", "LIMIT", Some("100.001"), "0.1000")));
    assert_eq!(r["error"]["code"], -1013, "{r}");
    assert_eq!(r["error"]["msg"], "Filter failure: PRICE_FILTER");
    let r = call(&mut ws, 12, "order.place", signed(place("BUY", "MARKET", None, "500.0000")));
    assert_eq!(r["error"]["code"], -2010, "{r}");
    // the order limit is 6 per 10 s: keep placing until 429
    let mut limited = Value::Null;
    for i in 0..8 {
        let r = call(&mut ws, 20 + i, "order.place", signed(place("SELL", "MARKET", None, "0.0100")));
        if r["status"] == 429 {
            limited = r;
            break;
        }
    }
    assert_eq!(limited["error"]["code"], -1015, "{limited}");
    assert!(limited["error"]["data"]["retryAfter"].as_u64().is_some());

    // the user-data stream saw executionReports and balances
    let (_, _, ledger) = sim.get("/sim/ledger");
    let ledger: Value = serde_json::from_str(&ledger).unwrap();
    assert!(ledger["fills"].as_array().unwrap().len() >= 2, "{ledger}");
    let kinds = EVENTS.lock().unwrap().clone();
    assert!(
        kinds.iter().any(|k| k == "executionReport") && kinds.iter().any(|k| k == "outboundAccountPosition"),
        "{kinds:?}"
    );
}

#[test]
fn weight_limit_answers_429_with_retry_after() {
    let sim = Sim::start(&["--weight-limit", "45"]);
    let mut ws = sim.ws("/ws-api/v3");
    let a = call(&mut ws, 1, "exchangeInfo", Map::new());
    assert_eq!(a["status"], 200);
    let b = call(&mut ws, 2, "exchangeInfo", Map::new());
    assert_eq!(b["status"], 200);
    let c = call(&mut ws, 3, "exchangeInfo", Map::new());
    assert_eq!(c["status"], 429, "{c}");
    assert_eq!(c["error"]["code"], -1003);
    assert!(c["error"]["data"]["retryAfter"].as_u64().unwrap() > now_ms() - 1000);
}

#[test]
fn documentation_vector_is_accepted_as_signed() {
    // the published request, replayed with its own timestamp: the signature
    // passes and only the (old) timestamp is refused
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(data("signature-vectors.json")).unwrap()).unwrap();
    let req = vectors["ws_api_hmac"][0]["request"].clone();
    let sim = Sim::start(&[]);
    let mut ws = sim.ws("/ws-api/v3");
    ws.send(Message::text(req.to_string())).unwrap();
    let v = next_json(&mut ws);
    assert_eq!(v["id"], req["id"]);
    assert_eq!(v["error"]["code"], -1021, "{v}");
    // with the server clock set 0.9 s before the vector's timestamp (its
    // recvWindow is 100 ms) the signature verifies and the order is placed;
    // one changed character in the signature gives -1022
    let skewed = Sim::start(&["--clock-skew-ms", &format!("-{}", now_ms() - 1_645_423_376_532 + 900)]);
    let mut ws = skewed.ws("/ws-api/v3");
    ws.send(Message::text(req.to_string())).unwrap();
    let v = next_json(&mut ws);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["result"]["status"], "NEW");
    let mut tampered = req.clone();
    tampered["params"]["signature"] = json!("ba1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24");
    ws.send(Message::text(tampered.to_string())).unwrap();
    let v = next_json(&mut ws);
    assert_eq!(v["error"]["code"], -1022, "{v}");
}

#[test]
fn drop_after_n_messages() {
    let sim = Sim::start(&["--drop-after", "3"]);
    let mut ws = sim.ws("/ws/ethusdt@trade");
    let mut n = 0;
    loop {
        match ws.read() {
            Ok(Message::Text(_)) => n += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(n, 3);
}

#[test]
fn ledger_written_at_exit() {
    let dir = std::env::temp_dir().join(format!("odex-sim-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.json");
    let p = path.display().to_string();
    let mut sim = Sim::start(&["--duration", "2", "--ledger-out", &p]);
    {
        let mut ws = sim.ws("/ws-api/v3");
        let params = obj(json!({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0100"}));
        let r = call(&mut ws, 1, "order.place", signed(params));
        assert_eq!(r["status"], 200, "{r}");
        // the shutdown notice comes before the close
        let mut saw = false;
        while let Ok(m) = ws.read() {
            if let Message::Text(t) = m {
                saw |= t.as_str().contains("serverShutdown");
            }
        }
        assert!(saw);
    }
    assert!(sim.child.wait().unwrap().success());
    let ledger: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(ledger["orders"].as_array().unwrap().len(), 1);
    assert_eq!(ledger["orders"][0]["status"], "FILLED");
    assert!(ledger["balances"].as_array().unwrap().iter().any(|b| b["asset"] == "USDT"));
}

#[test]
fn order_faults_reject_and_unknown_outcome() {
    let sim = Sim::start(&["--reject-every", "2", "--error-5xx-every", "3"]);
    let mut ws = sim.ws("/ws-api/v3");
    let limit = |i: u64| {
        signed(obj(json!({"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "price": "100.00", "quantity": "0.1000", "newClientOrderId": format!("f{i}")})))
    };
    assert_eq!(call(&mut ws, 1, "order.place", limit(1))["status"], 200);
    let r = call(&mut ws, 2, "order.place", limit(2));
    assert_eq!(r["error"]["code"], -2010, "{r}");
    let r = call(&mut ws, 3, "order.place", limit(3));
    assert_eq!((r["status"].clone(), r["error"]["code"].clone()), (json!(503), json!(-1007)), "{r}");
    // the 5xx order was placed all the same: query it
    let s = call(&mut ws, 4, "order.status", signed(obj(json!({"symbol": "ETHUSDT", "origClientOrderId": "f3"}))));
    assert_eq!(s["result"]["status"], "NEW", "{s}");
    let open = call(&mut ws, 5, "openOrders.cancelAll", signed(obj(json!({"symbol": "ETHUSDT"}))));
    assert_eq!(open["result"].as_array().unwrap().len(), 2, "{open}");
}

#[test]
fn market_faults_duplicate_and_freeze() {
    let sim = Sim::start(&["--duplicate-every", "2"]);
    let mut ws = sim.ws("/ws/ethusdt@bookTicker");
    let texts: Vec<String> = (0..12).map(|_| next_json(&mut ws).to_string()).collect();
    assert!(texts.windows(2).any(|w| w[0] == w[1]), "{texts:?}");

    let frozen = Sim::start(&["--freeze-after", "6", "--freeze-ms", "0"]);
    let mut ws = frozen.ws("/ws/ethusdt@bookTicker");
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    let mut n = 0;
    while let Ok(m) = ws.read() {
        if m.is_text() {
            n += 1;
        }
    }
    assert!(n <= 4, "{n} messages after a freeze at tick 6");
}

#[test]
fn ed25519_logon_then_unsigned_requests() {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let dir = std::env::temp_dir().join(format!("odex-sim-ed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("pub.pem");
    std::fs::write(&pem, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let sim = Sim::start(&["--api-key", "edkey", "--ed25519-pubkey-file", pem.to_str().unwrap()]);
    let mut ws = sim.ws("/ws-api/v3");
    let ts = now_ms();
    let payload = format!("apiKey=edkey&timestamp={ts}");
    let sig = base64::engine::general_purpose::STANDARD.encode(key.sign(payload.as_bytes()).to_bytes());
    let r = call(&mut ws, 1, "session.logon", obj(json!({"apiKey": "edkey", "timestamp": ts, "signature": sig})));
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["result"]["apiKey"], "edkey");
    let r = call(&mut ws, 2, "account.status", obj(json!({"timestamp": now_ms()})));
    assert_eq!(r["status"], 200, "{r}");
    let r = call(&mut ws, 3, "userDataStream.subscribe", Map::new());
    assert_eq!(r["result"]["subscriptionId"], 0, "{r}");
    // a wrong Ed25519 signature on a fresh connection
    let mut ws = sim.ws("/ws-api/v3");
    let bad = base64::engine::general_purpose::STANDARD.encode([0u8; 64]);
    let r = call(&mut ws, 4, "session.logon", obj(json!({"apiKey": "edkey", "timestamp": now_ms(), "signature": bad})));
    assert_eq!(r["error"]["code"], -1022, "{r}");
}

#[test]
fn tls_with_the_generated_certificate() {
    let dir = std::env::temp_dir().join(format!("odex-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let sim = Sim::start(&["--tls-ca-out", ca.to_str().unwrap()]);
    let config = odex_runtime::net::client_config(Some(&ca)).unwrap();
    let connect = || {
        let sock = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1".to_owned()).unwrap();
        let session = rustls::ClientConnection::new(Arc::clone(&config), name).unwrap();
        rustls::StreamOwned::new(session, sock)
    };
    let (mut ws, _) =
        tungstenite::client(format!("wss://127.0.0.1:{}/ws/ethusdt@bookTicker", sim.port), connect()).unwrap();
    let v = loop {
        if let Message::Text(t) = ws.read().unwrap() {
            break serde_json::from_str::<Value>(t.as_str()).unwrap();
        }
    };
    assert_eq!(v["s"], "ETHUSDT");
    let mut https = connect();
    https.write_all(b"GET /api/v3/time HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = Vec::new();
    let _ = https.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("serverTime"), "{text}");
}

/// One REST request with the documentation key; `sign` appends the signature.
fn rest(sim: &Sim, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-MBX-APIKEY: {DOC_KEY}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), serde_json::from_str(body).unwrap())
}

#[test]
fn rest_orders_signed_over_query_and_body() {
    let sim = Sim::start(&[]);
    // the published REST vector: the signature verifies, the 2017 timestamp does not
    let doc = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let sig = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    let (status, v) = rest(&sim, "POST", "/api/v3/order", &format!("{doc}&signature={sig}"), "");
    assert_eq!((status, v["code"].clone()), (400, json!(-1021)), "{v}");
    let (_, v) = rest(&sim, "POST", "/api/v3/order", &format!("{doc}&signature={}", "0".repeat(64)), "");
    assert_eq!(v["code"], -1022, "{v}");

    // a limit order in the body (ccxt style), queried and cancelled in the query (connector style)
    let body = format!(
        "symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.1000&price=100.00&newClientOrderId=r1&timestamp={}",
        now_ms()
    );
    let body = format!("{body}&signature={}", hmac_hex(&body));
    let (status, v) = rest(&sim, "POST", "/api/v3/order", "", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "NEW");
    let q = format!("symbol=ETHUSDT&origClientOrderId=r1&timestamp={}", now_ms());
    let q = format!("{q}&signature={}", hmac_hex(&q));
    let (_, v) = rest(&sim, "GET", "/api/v3/order", &q, "");
    assert_eq!(v["clientOrderId"], "r1", "{v}");
    let (_, v) = rest(&sim, "DELETE", "/api/v3/order", &q, "");
    assert_eq!(v["status"], "CANCELED", "{v}");
    let q = format!("timestamp={}", now_ms());
    let q = format!("{q}&signature={}", hmac_hex(&q));
    let (status, v) = rest(&sim, "GET", "/api/v3/account", &q, "");
    assert_eq!(status, 200, "{v}");
    assert!(v["balances"].as_array().unwrap().iter().any(|b| b["asset"] == "USDT"));
}

#[test]
fn silent_clients_are_dropped_after_three_pings() {
    let sim = Sim::start(&["--ping-secs", "0.1"]);
    // a client that answers pings (tungstenite does while reading) stays
    let mut live = sim.ws("/ws/ethusdt@bookTicker");
    // one that never reads, so never answers, is dropped
    let mut silent = TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    write!(
        silent,
        "GET /ws/ethusdt@trade HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let clock = SystemClock::new();
    while clock.monotonic().as_millis() < 1000 {
        assert!(live.read().is_ok());
    }
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    let closed = silent.read_to_end(&mut all).is_ok();
    assert!(closed, "the silent client was not dropped");
    assert!(live.read().is_ok());
}

#[test]
fn quote_order_qty_market_order() {
    let sim = Sim::start(&[]);
    let mut ws = sim.ws("/ws-api/v3");
    let p = obj(json!({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100"}));
    let r = call(&mut ws, 1, "order.place", signed(p));
    assert_eq!(r["result"]["status"], "FILLED", "{r}");
    let qty: f64 = r["result"]["executedQty"].as_str().unwrap().parse().unwrap();
    let quote: f64 = r["result"]["cummulativeQuoteQty"].as_str().unwrap().parse().unwrap();
    assert!(qty > 0.0 && quote <= 100.0 && quote > 99.0, "{r}");
}

#[test]
fn sigterm_stops_cleanly_and_writes_the_ledger() {
    let dir = std::env::temp_dir().join(format!("odex-sim-term-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.json");
    let mut sim = Sim::start(&["--speed", "0", "--no-loop", "--ledger-out", path.to_str().unwrap()]);
    let (status, _, _) = sim.get("/api/v3/time");
    assert_eq!(status, 200);
    let killed = Command::new("kill").args(["-TERM", &sim.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(sim.child.wait().unwrap().success());
    let ledger: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(ledger["orders"].as_array().unwrap().is_empty());
}

#[test]
fn microsecond_time_unit() {
    let sim = Sim::start(&[]);
    let mut us = sim.ws("/stream?streams=ethusdt@trade/ethusdt@kline_1m&timeUnit=MICROSECOND");
    let mut ms = sim.ws("/ws/ethusdt@trade");
    let mut seen = 0;
    while seen < 2 {
        let v = next_json(&mut us);
        let e = v["data"]["E"].as_u64().unwrap();
        assert!(e.abs_diff(now_ms() * 1000) < 5_000_000, "{v}");
        if v["stream"] == "ethusdt@kline_1m" {
            assert_eq!(v["data"]["k"]["t"].as_u64().unwrap() % 60_000_000, 0, "{v}");
        }
        seen += 1;
    }
    let v = next_json(&mut ms);
    assert!(v["E"].as_u64().unwrap().abs_diff(now_ms()) < 5000, "{v}");
}

#[test]
fn more_than_five_control_messages_a_second_disconnect() {
    let sim = Sim::start(&[]);
    let mut ws = sim.ws("/ws");
    // 12 at once: even split across a second boundary, one second sees more than 5
    for id in 0..12 {
        if ws.send(Message::text(format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":{id}}}"#))).is_err() {
            break;
        }
    }
    let mut answers = 0;
    loop {
        match ws.read() {
            Ok(Message::Text(_)) => answers += 1,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(answers <= 10, "{answers}");
}
