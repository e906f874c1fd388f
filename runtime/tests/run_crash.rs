//! Crash safety: `odex run` (live mode) is killed with SIGKILL at a random
//! point while it trades against `odex-sim`, restarted on the same journal,
//! and its positions and open orders must equal the venue's ledger
//! exactly, 20 times in a row.
//!
//! Each round uses a fresh simulator whose market data lasts about 2.5 s
//! and then stops (`--no-loop`):
//! odex trades on it, is killed at a random moment inside that window
//! (seeded), and is restarted once the data is spent, so the venue's
//! ledger no longer moves while the two are compared. The restarted
//! process rebuilds its state from the journal alone, reconciles with the
//! exchange (`openOrders.status`, `order.status` for what the journal
//! holds open, `account.status`), and reports what it believes at exit.

mod against_sim;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use against_sim::{Sim, config_text, free_port, http, odex_run, set, venue_get, write_config};
use odex_runtime::clock::{Clock, SystemClock};
use odex_shared::market::Amount;
use serde_json::Value;

const ROUNDS: usize = 20;
/// 25 one-minute bars at 600x: 2.5 s of market data per round.
const BARS: &str = "25";

/// A simulator whose market data stops after `bars` bars at 600x.
fn start_sim(seed: u64, bars: &str, faults: &[&str]) -> Sim {
    let seed = seed.to_string();
    let mut args = vec!["--duration", "60", "--bars", bars, "--speed", "600", "--no-loop", "--seed", &seed];
    args.extend(["--balance", "USDT=10000", "--balance", "ETH=0"]);
    args.extend(faults);
    against_sim::start_sim(&args)
}

/// Live mode, passive orders that rest, a journal without fsync (a killed
/// process loses nothing the kernel already has), no cancel on exit.
fn config(dir: &Path, port: u16) -> PathBuf {
    let mut text = config_text("live", port, free_port(), "[lifecycle]\ncancel_on_exit = false\n");
    for (from, to) in [
        ("max_orders_per_sec = 5.0", "max_orders_per_sec = 20.0"),
        ("order_burst = 5", "order_burst = 10"),
        ("timeout_ms = 3000", "timeout_ms = 1000\nprice_offset_ticks = 5\nrequote_ticks = 20"),
        ("fsync = \"interval\"\nfsync_interval_ms = 50", "fsync = \"never\""),
    ] {
        text = set(&text, from, to);
    }
    write_config(dir, "live", &text)
}

fn odex(cfg: &Path, args: &[&str]) -> Command {
    odex_run(cfg, args)
}

fn last_update_id(port: u16) -> u64 {
    let out =
        http(port, "GET /api/v3/depth?symbol=ETHUSDT&limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("{}");
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["lastUpdateId"].as_u64().unwrap_or_else(|| panic!("no lastUpdateId: {out}"))
}

/// Returns once the simulator's book has stopped changing.
fn wait_frozen(port: u16) {
    let clock = SystemClock::new();
    let mut last = last_update_id(port);
    let mut since = clock.monotonic();
    while clock.monotonic().saturating_sub(since).0 < 600_000_000 {
        assert!(clock.monotonic().0 < 30_000_000_000, "the simulator's market never stopped");
        std::thread::sleep(Duration::from_millis(50));
        let now = last_update_id(port);
        if now != last {
            last = now;
            since = clock.monotonic();
        }
    }
}

/// The venue's ETH holding and open client order ids (sorted).
fn venue_state(port: u16) -> (Amount, Vec<String>) {
    let account = venue_get(port, "/api/v3/account");
    let eth = account["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "ETH")
        .map(|b| {
            Amount::parse(b["free"].as_str().unwrap())
                .unwrap()
                .saturating_add(Amount::parse(b["locked"].as_str().unwrap()).unwrap())
        })
        .unwrap_or(Amount::ZERO);
    let mut open: Vec<String> = venue_get(port, "/api/v3/openOrders")
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["clientOrderId"].as_str().unwrap().to_string())
        .collect();
    open.sort();
    (eth, open)
}

/// odex's position and open client order ids (sorted) from its summary.
fn odex_state(s: &Value) -> (Amount, Vec<String>) {
    let position = Amount::parse(s["positions"][0][1].as_str().unwrap()).unwrap();
    let mut open: Vec<String> =
        s["open_order_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    open.sort();
    (position, open)
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Waits for `odex: trading` on the child's stderr.
fn wait_trading(child: &mut Child) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("odex: trading") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("odex started trading");
}

#[test]
fn sigkill_at_random_points_then_restart_matches_the_venue_20_times() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut total_fills, mut rounds_with_open_orders, mut rounds_with_position) = (0u64, 0, 0);
    for round in 0..ROUNDS {
        let sim = start_sim(round as u64 + 1, BARS, &[]);
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), sim.port);

        // trade, then SIGKILL somewhere in the market data window
        let mut child = odex(&cfg, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        wait_trading(&mut child);
        let kill_after = Duration::from_millis(100 + rng.below(3000));
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: odex was not killed");

        // the venue stops moving once its data is spent: wait until its
        // book has not changed for 600 ms (a tick is 25 ms at this speed)
        wait_frozen(sim.port);

        // restart on the same journal; it reconciles, then reports at exit
        let summary_path = dir.path().join("summary.json");
        let out =
            odex(&cfg, &["--duration", "1500ms", "--summary-json", summary_path.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "round {round}: restart failed: {}", String::from_utf8_lossy(&out.stderr));
        let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
        assert_eq!(s["market_events"], 0, "round {round}: the venue still moved while odex restarted");

        // the venue's ledger against odex's view after the restart
        let (eth, venue_open) = venue_state(sim.port);
        let (position, odex_open) = odex_state(&s);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            position, eth,
            "round {round} (killed after {kill_after:?}): odex position {position} but the venue holds {eth} ETH\n{stderr}"
        );
        assert_eq!(odex_open, venue_open, "round {round} (killed after {kill_after:?}): open orders differ\n{stderr}");
        // the base asset reconciles exactly; the quote may differ by the
        // commissions of fills learned from `order.status` (it carries none)
        let base_off: Vec<&Value> =
            s["discrepancies"].as_array().unwrap().iter().filter(|d| d.as_str().unwrap().starts_with("ETH")).collect();
        assert!(base_off.is_empty(), "round {round}: {base_off:?}");

        eprintln!(
            "round {round}: killed after {kill_after:?}; position {position}, open orders {odex_open:?}, {} journal records",
            s["journal_replayed"]
        );
        if std::env::var_os("ODEX_CRASH_DEBUG").is_some() {
            eprintln!("{stderr}");
        }
        total_fills += s["fills"].as_u64().unwrap();
        rounds_with_open_orders += usize::from(!venue_open.is_empty());
        rounds_with_position += usize::from(eth.is_positive());
    }
    // the rounds exercised something: fills happened, and some crashes
    // left resting orders or a position behind
    assert!(total_fills > 0, "no fills in {ROUNDS} rounds");
    assert!(rounds_with_open_orders > 0, "no crash left a resting order behind");
    assert!(rounds_with_position > 0, "no crash left a position behind");
    eprintln!(
        "{ROUNDS} rounds: {total_fills} fills replayed, {rounds_with_open_orders} with open orders, {rounds_with_position} holding a position"
    );
}

#[test]
fn rejects_unknown_outcomes_and_dropped_links_leave_odex_consistent_with_the_venue() {
    // every 7th order refused, every 5th placed but answered 503 (outcome
    // unknown), every websocket link dropped after 150 messages
    let faults = ["--reject-every", "7", "--error-5xx-every", "5", "--drop-after", "150"];
    let sim = start_sim(42, "60", &faults);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), sim.port);
    let summary_path = dir.path().join("summary.json");
    // 6 s of market data, then the venue stands still; odex keeps running
    // long enough to resolve what is in flight
    let out = odex(&cfg, &["--duration", "9s", "--summary-json", summary_path.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    wait_frozen(sim.port);
    let (eth, venue_open) = venue_state(sim.port);
    let (position, odex_open) = odex_state(&s);
    assert_eq!(position, eth, "odex position {position}, venue {eth} ETH\n{s}\n{stderr}");
    assert_eq!(odex_open, venue_open, "{s}\n{stderr}");
    assert!(s["rejects"].as_u64().unwrap() > 0, "no order was refused: {s}");
    assert!(s["unknown_outcomes"].as_u64().unwrap() > 0, "no 5xx answer was resolved: {s}");
    assert!(s["fills"].as_u64().unwrap() > 0, "{s}");
    assert!(stderr.contains("Reconnecting"), "no link was dropped: {stderr}");
    assert_eq!(s["hot_path_allocations"], 0, "{s}");
    eprintln!(
        "{} orders, {} fills, {} refused, {} unknown outcomes resolved; position {position}, open {odex_open:?}",
        s["orders"], s["fills"], s["rejects"], s["unknown_outcomes"]
    );
}
