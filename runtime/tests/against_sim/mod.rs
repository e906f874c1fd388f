//! Running the real `odex` and `odex-sim` binaries against each other in
//! tests: the simulator on a free loopback port, a config for `odex run`
//! pointed at it, and the venue's own view of the account over signed REST.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, Mac};
use odex_runtime::clock::{Clock, SystemClock};
use serde_json::Value;
use sha2::Sha256;

/// The Binance documentation's example HMAC key pair (odex-sim's `--doc-example-key`).
pub const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
pub const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// A running `odex-sim`, killed when dropped.
pub struct Sim {
    child: Child,
    pub port: u16,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `odex-sim --port 0 --doc-example-key` with `args`.
pub fn start_sim(args: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_odex-sim"))
        .args(["--port", "0", "--doc-example-key"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("odex-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().expect("odex-sim prints its port");
    Sim { child, port }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default.odex")
}

/// The text of a config for `mode` against the simulator on `port`, the
/// journal `<mode>.journal` beside it, metrics on `metrics`; `extra` is
/// appended (tables the base does not have).
pub fn config_text(mode: &str, port: u16, metrics: u16, extra: &str) -> String {
    let keys = if mode == "live" {
        "[keys]\nkind = \"hmac\"\napi_key_env = \"ODEX_TEST_KEY\"\nsecret_env = \"ODEX_TEST_SECRET\"\n"
    } else {
        ""
    };
    format!(
        r#"mode = "{mode}"
[endpoints]
market_stream = "ws://127.0.0.1:{port}/stream"
ws_api = "ws://127.0.0.1:{port}/ws-api/v3"
rest = "http://127.0.0.1:{port}"
allow_plain_loopback = true
[[symbols]]
name = "ETHUSDT"
base = "ETH"
quote = "USDT"
[model]
file = "{model}"
{keys}[risk]
capital = "10000"
max_position = "2"
max_notional = "8000"
max_orders_per_sec = 5.0
order_burst = 5
max_open_orders = 4
price_band_bps = 50
stop_loss_bps = 200
take_profit_bps = 400
drawdown_reduce_bps = 500
drawdown_halt_bps = 1000
stale_data_ms = 5000
[orders]
type = "limit"
timeout_ms = 3000
client_id_prefix = "odx"
[journal]
path = "{mode}.journal"
fsync = "interval"
fsync_interval_ms = 50
[metrics]
listen = "127.0.0.1:{metrics}"
{extra}"#,
        model = model().display()
    )
}

/// Replaces one line of a config text, failing loudly when it is absent.
pub fn set(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "config has no {from:?}");
    text.replace(from, to)
}

/// Writes `text` as `<dir>/<mode>.toml`.
pub fn write_config(dir: &Path, mode: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{mode}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// `odex run --config CFG ARGS` with the test keys in its environment.
pub fn odex_run(cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_odex"));
    c.args(["run", "--config", cfg.to_str().unwrap()])
        .args(args)
        .env("ODEX_TEST_KEY", DOC_KEY)
        .env("ODEX_TEST_SECRET", DOC_SECRET);
    c
}

/// One HTTP/1.1 exchange on loopback; the whole answer, head and body.
pub fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A signed REST GET against the simulator (its own ledger, not odex's).
pub fn venue_get(port: u16, path: &str) -> Value {
    let ts = SystemClock::new().wall().as_millis();
    let query = format!("timestamp={ts}");
    let mut mac = Hmac::<Sha256>::new_from_slice(DOC_SECRET.as_bytes()).unwrap();
    mac.update(query.as_bytes());
    let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let out = http(
        port,
        &format!(
            "GET {path}?{query}&signature={sig} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-MBX-APIKEY: {DOC_KEY}\r\nConnection: close\r\n\r\n"
        ),
    );
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_else(|| panic!("no body: {out}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
