//! `odex run` end to end: the real binary trades against a local `odex-sim`
//! over loopback sockets, in paper and in live mode; SIGTERM stops it
//! cleanly; bad inputs stop it before it connects anywhere.

mod against_sim;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use against_sim::{config_text, free_port, http, model, start_sim, write_config};
use odex_runtime::clock::{Clock, SystemClock};
use serde_json::Value;

/// A config for `mode` against `port` in `dir`.
fn config(dir: &Path, mode: &str, port: u16, metrics: u16, extra: &str) -> std::path::PathBuf {
    write_config(dir, mode, &config_text(mode, port, metrics, extra))
}

/// `odex ARGS` with the test keys in its environment.
fn odex(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_odex"));
    c.args(args).env("ODEX_TEST_KEY", against_sim::DOC_KEY).env("ODEX_TEST_SECRET", against_sim::DOC_SECRET);
    c
}

fn summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary written")).unwrap()
}

/// Polls `GET /metrics` until `pred` holds or `limit` passes.
fn wait_metrics(port: u16, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
    let start = SystemClock::new();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if pred(&out) || Duration::from_nanos(start.monotonic().0) > limit {
                return out;
            }
        } else if Duration::from_nanos(start.monotonic().0) > limit {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in:\n{metrics}"))
}

fn check_traded(s: &Value, mode: &str) {
    assert_eq!(s["mode"], mode);
    assert!(s["market_events"].as_u64().unwrap() > 100, "{s}");
    assert!(s["orders"].as_u64().unwrap() > 0, "no orders: {s}");
    assert!(s["fills"].as_u64().unwrap() > 0, "no fills: {s}");
    assert!(s["tick_to_order_count"].as_u64().unwrap() > 0, "{s}");
    assert!(s["tick_to_order_p50_ns"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["hot_path_allocations"], 0, "the hot path allocated: {s}");
    assert_eq!(s["open_orders"], 0, "orders left open after the cancel on exit: {s}");
}

/// `odex run` in paper mode against a fresh simulator for `secs` seconds
/// with `extra` config; returns the summary JSON, stdout and the folder.
fn run_paper(extra: &str, secs: &str) -> (Value, String, tempfile::TempDir) {
    let sim = start_sim(&["--speed", "600", "--duration", "120"]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "paper", sim.port, free_port(), extra);
    let out_json = dir.path().join("summary.json");
    let out = odex(&["run", "--config", cfg.to_str().unwrap(), "--duration", secs, "--summary-json"])
        .arg(&out_json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&out_json);
    check_traded(&s, "paper");
    (s, String::from_utf8_lossy(&out.stdout).to_string(), dir)
}

#[test]
fn paper_mode_trades_on_live_data_with_venue_model_fills() {
    let (_, text, dir) = run_paper("", "8s");
    assert!(text.contains("tick-to-order") && text.contains("hot-path allocations after warm-up: 0"), "{text}");
    // what was traded is in the journal
    assert!(std::fs::metadata(dir.path().join("paper.journal")).unwrap().len() > 0);
}

#[test]
fn paper_mode_matches_against_the_streamed_l2_book() {
    // trades as before, with the depth frames inside the no-allocation check
    let (s, text, _dir) = run_paper("[paper]\ndepth_levels = 20\n", "6s");
    assert!(s["paper_depth_updates"].as_u64().unwrap() > 50, "{s}");
    assert!(text.contains("paper venue matched against"), "{text}");
}

#[test]
fn live_mode_trades_over_the_websocket_api_and_stops_cleanly_on_sigterm() {
    let sim = start_sim(&["--speed", "600", "--duration", "120"]);
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let cfg = config(dir.path(), "live", sim.port, metrics, "");
    let out_json = dir.path().join("summary.json");
    let child = odex(&["run", "--config", cfg.to_str().unwrap(), "--summary-json"])
        .arg(&out_json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // trading shows on the metrics endpoint, served from the same loop
    let m = wait_metrics(metrics, Duration::from_secs(30), |m| {
        m.lines().any(|l| l.starts_with("odex_fills_total ") && !l.ends_with(" 0"))
    });
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert!(sample(&m, "odex_fills_total") > 0.0, "{m}");
    assert_eq!(sample(&m, "odex_up"), 1.0);
    assert_eq!(sample(&m, "odex_connection_up{conn=\"market\"}"), 1.0);
    assert_eq!(sample(&m, "odex_connection_up{conn=\"api\"}"), 1.0);
    assert_eq!(sample(&m, "odex_hot_path_allocations_total"), 0.0);
    assert!(m.contains("odex_info{mode=\"live\""));
    std::thread::sleep(Duration::from_secs(4));
    // SIGTERM: no new orders, open orders cancelled, summary, exit 0
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out: Output = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let s = summary(&out_json);
    check_traded(&s, "live");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping: no new orders"));
}

#[test]
fn kill_switch_post_stops_new_exposure() {
    let sim = start_sim(&["--speed", "600", "--duration", "120"]);
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let cfg = config(dir.path(), "paper", sim.port, metrics, "");
    let mut child = odex(&["run", "--config", cfg.to_str().unwrap(), "--duration", "30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = wait_metrics(metrics, Duration::from_secs(30), |m| m.contains("odex_market_events_total "));
    assert_eq!(sample(&m, "odex_kill_switch"), 0.0, "{m}");
    let r = http(metrics, "POST /kill HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK") && r.contains("kill switch on"), "{r}");
    let m = wait_metrics(metrics, Duration::from_secs(5), |m| m.contains("odex_kill_switch 1"));
    assert_eq!(sample(&m, "odex_kill_switch"), 1.0, "{m}");
    let placed = sample(&m, "odex_orders_total{kind=\"place\"}");
    std::thread::sleep(Duration::from_secs(2));
    let m = wait_metrics(metrics, Duration::from_secs(5), |_| true);
    // flatten_on_kill is off: not one order more, and nothing left open
    assert_eq!(sample(&m, "odex_orders_total{kind=\"place\"}"), placed, "{m}");
    assert_eq!(sample(&m, "odex_open_orders"), 0.0, "{m}");
    let r = http(metrics, "GET /nope HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A listener that records whether anything connected to it.
fn tripwire() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn assert_untouched(l: &TcpListener) {
    assert!(l.accept().is_err(), "odex connected although its inputs were bad");
}

fn run_fails(cfg: &Path, env_key: bool) -> (i32, String) {
    let mut c = odex(&["run", "--config", cfg.to_str().unwrap(), "--duration", "5s"]);
    if !env_key {
        c.env_remove("ODEX_TEST_KEY");
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_config_model_or_key_exit_non_zero_before_connecting() {
    let (wire, port) = tripwire();
    let dir = tempfile::tempdir().unwrap();

    // a misspelt key
    let cfg = config(dir.path(), "paper", port, free_port(), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("max_position", "max_postion");
    std::fs::write(&cfg, text).unwrap();
    let (code, err) = run_fails(&cfg, true);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("risk.max_postion") && err.contains("unknown field"), "{err}");

    // a corrupt model file
    let bad_model = dir.path().join("bad.odex");
    let mut bytes = std::fs::read(model()).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&bad_model, bytes).unwrap();
    let cfg = config(dir.path(), "paper", port, free_port(), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(&model().display().to_string(), "bad.odex");
    std::fs::write(&cfg, text).unwrap();
    let (code, err) = run_fails(&cfg, true);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("model.file") && err.contains("checksum"), "{err}");

    // live mode without its API key variable
    let cfg = config(dir.path(), "live", port, free_port(), "");
    let (code, err) = run_fails(&cfg, false);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keys.api_key_env") && err.contains("ODEX_TEST_KEY"), "{err}");

    // a bad [lifecycle] value is named too
    let cfg = config(dir.path(), "paper", port, free_port(), "[lifecycle]\nunknown_orders = \"keep\"\n");
    let (code, err) = run_fails(&cfg, true);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lifecycle.unknown_orders"), "{err}");

    assert_untouched(&wire);
}

#[test]
fn an_endpoint_that_never_answers_fails_start_up_with_its_name() {
    // a listener that accepts TCP but never answers the websocket upgrade
    let (silent, port) = tripwire();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "paper", port, free_port(), "[lifecycle]\nstartup_timeout_ms = 1500\n");
    let start = SystemClock::new();
    let (code, err) = run_fails(&cfg, true);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("start-up did not complete") && err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(Duration::from_nanos(start.monotonic().0) < Duration::from_secs(15));
    drop(silent);
}
