//! Runs `odex-sim --probe-ticks` with a client (the real `odex run
//! --latency-probe`, or the baseline) and reads the probe's summary. Every
//! child is killed when its [`Child`] guard drops, on success and on error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::sim::ProbeSummary;
use odex_runtime::sim::config::{DOC_EXAMPLE_API_KEY, DOC_EXAMPLE_SECRET};
use odex_shared::market::Nanos;

use super::Stats;

/// A child process that is killed and reaped when dropped.
#[derive(Debug)]
pub struct Child(std::process::Child);

impl Child {
    /// Spawns `cmd`.
    ///
    /// # Errors
    /// When it cannot be started.
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Self> {
        cmd.spawn().map(Self).with_context(|| format!("starting {what}"))
    }

    /// Asks it to stop with SIGTERM (it writes its summary), waits up to
    /// `grace`, then kills it.
    pub fn terminate(&mut self, grace: Duration) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).stderr(Stdio::null()).status();
        let clock = SystemClock::new();
        let start = clock.monotonic();
        while clock.monotonic().saturating_sub(start).0 < u64::try_from(grace.as_nanos()).unwrap_or(u64::MAX) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Which client answers the ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `odex run --latency-probe`.
    Odex {
        /// Over TLS (`wss://`).
        tls: bool,
        /// `--busy-poll`.
        busy_poll: bool,
    },
    /// The tokio baseline (`latency_harness baseline-client`), plain ws.
    Baseline,
}

/// Where the binaries and inputs are.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Folder holding `odex` and `odex-sim`.
    pub bin_dir: PathBuf,
    /// This harness's own binary (runs the baseline client).
    pub harness: PathBuf,
    /// The model file.
    pub model: PathBuf,
    /// Scratch folder for configs, journals and summaries.
    pub work: PathBuf,
    /// Gap between an order's arrival and the next tick.
    pub interval_us: u64,
}

/// What one probe run gives.
#[derive(Debug, Clone)]
pub struct ProbeRun {
    /// The wire-to-wire distribution.
    pub wire: Stats,
    /// odex's own summary lines (tick-to-order, stage timings), when odex ran.
    pub in_process: Option<String>,
}

/// Runs one probe of `ticks` ticks with `client`.
///
/// # Errors
/// A process that does not start, a probe that does not finish in time, a
/// summary that cannot be read.
pub fn probe(setup: &Setup, client: Client, ticks: u64, tag: &str) -> Result<ProbeRun> {
    let probe_out = setup.work.join(format!("{tag}.probe.json"));
    let ca = setup.work.join(format!("{tag}.ca.pem"));
    let _ = std::fs::remove_file(&probe_out);
    let tls = matches!(client, Client::Odex { tls: true, .. });
    let mut sim_cmd = Command::new(setup.bin_dir.join("odex-sim"));
    sim_cmd
        .args(["--port", "0", "--doc-example-key", "--order-limit", "1000000000", "--weight-limit", "1000000000"])
        .args(["--probe-ticks", &ticks.to_string(), "--probe-interval-us", &setup.interval_us.to_string()])
        .arg("--probe-out")
        .arg(&probe_out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if tls {
        sim_cmd.arg("--tls-ca-out").arg(&ca);
    }
    let mut sim = Child::spawn(&mut sim_cmd, "odex-sim")?;
    let mut line = String::new();
    let out = sim.0.stdout.take().context("odex-sim stdout")?;
    BufReader::new(out).read_line(&mut line).context("reading odex-sim's port")?;
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("odex-sim did not print its port: {line:?}"))?;

    let summary_json = setup.work.join(format!("{tag}.summary.json"));
    let mut client_proc = match client {
        Client::Odex { tls, busy_poll } => {
            let config = write_config(setup, tag, port, tls.then_some(ca.as_path()))?;
            let mut cmd = Command::new(setup.bin_dir.join("odex"));
            cmd.arg("run")
                .arg("--config")
                .arg(&config)
                .arg("--latency-probe")
                .arg("--summary-json")
                .arg(&summary_json)
                .env("ODEX_PROBE_KEY", DOC_EXAMPLE_API_KEY)
                .env("ODEX_PROBE_SECRET", DOC_EXAMPLE_SECRET)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if busy_poll {
                cmd.arg("--busy-poll");
            }
            Child::spawn(&mut cmd, "odex run")?
        }
        Client::Baseline => {
            let mut cmd = Command::new(&setup.harness);
            cmd.arg("baseline-client")
                .arg("--port")
                .arg(port.to_string())
                .arg("--model")
                .arg(&setup.model)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Child::spawn(&mut cmd, "the baseline client")?
        }
    };

    // the probe ends by itself; allow 2 ms a tick plus start-up
    let limit = Duration::from_secs(60) + Duration::from_micros(ticks.saturating_mul(2_000 + setup.interval_us));
    let clock = SystemClock::new();
    let start = clock.monotonic();
    let mut client_gone: Option<(Nanos, std::process::ExitStatus)> = None;
    loop {
        if let Some(status) = sim.0.try_wait()? {
            if !status.success() {
                bail!("odex-sim exited with {status}");
            }
            break;
        }
        let now = clock.monotonic();
        // a client may leave on the sim's shutdown notice before the sim exits
        if client_gone.is_none()
            && let Ok(Some(status)) = client_proc.0.try_wait()
        {
            client_gone = Some((now, status));
        }
        if let Some((at, status)) = client_gone
            && now.saturating_sub(at) > Nanos::from_millis(5_000)
        {
            bail!("the client ({client:?}) exited with {status} before the probe finished");
        }
        if now.saturating_sub(start).0 > u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX) {
            bail!("the probe ({client:?}) did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    client_proc.terminate(Duration::from_secs(10));
    let text = std::fs::read_to_string(&probe_out).with_context(|| format!("probe summary {}", probe_out.display()))?;
    let s: ProbeSummary =
        serde_json::from_str(&text).with_context(|| format!("probe summary {}", probe_out.display()))?;
    let wire = Stats {
        ticks: s.ticks,
        count: s.count,
        no_order: s.no_order,
        min_ns: s.min_ns,
        p50_ns: s.p50_ns,
        p90_ns: s.p90_ns,
        p99_ns: s.p99_ns,
        p999_ns: s.p999_ns,
        max_ns: s.max_ns,
    };
    let in_process = matches!(client, Client::Odex { .. }).then(|| in_process(&summary_json)).flatten();
    Ok(ProbeRun { wire, in_process })
}

/// odex's own tick-to-order percentiles and stage timings from its summary JSON.
fn in_process(path: &Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let us = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).map_or(f64::NAN, |n| n as f64 / 1e3);
    let mut s = format!(
        "in-process tick-to-order (decode .. order written): p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
        us("tick_to_order_p50_ns"),
        us("tick_to_order_p99_ns"),
        us("tick_to_order_p999_ns"),
        us("tick_to_order_max_ns")
    );
    if let Some(stages) = v.get("stages").and_then(serde_json::Value::as_str) {
        for l in stages.lines() {
            s.push_str("\n    ");
            s.push_str(l.trim());
        }
    }
    if let Some(n) = v.get("hot_path_allocations").and_then(serde_json::Value::as_u64) {
        s.push_str(&format!("\n    hot-path allocations after warm-up: {n}"));
    }
    Some(s)
}

/// An `odex run` config for the probe: live mode against the sim on
/// `port`, IOC orders, limits far above one order per tick.
fn write_config(setup: &Setup, tag: &str, port: u16, ca: Option<&Path>) -> Result<PathBuf> {
    let (ws, http) = if ca.is_some() { ("wss", "https") } else { ("ws", "http") };
    let extra_ca = ca.map(|p| format!("extra_ca_file = {:?}\n", p.display().to_string())).unwrap_or_default();
    let journal = setup.work.join(format!("{tag}.journal"));
    let _ = std::fs::remove_file(&journal);
    let text = format!(
        r#"mode = "live"
[endpoints]
market_stream = "{ws}://127.0.0.1:{port}/stream"
ws_api = "{ws}://127.0.0.1:{port}/ws-api/v3"
rest = "{http}://127.0.0.1:{port}"
allow_plain_loopback = true
{extra_ca}[[symbols]]
name = "ETHUSDT"
base = "ETH"
quote = "USDT"
[model]
file = {model:?}
[keys]
kind = "hmac"
api_key_env = "ODEX_PROBE_KEY"
secret_env = "ODEX_PROBE_SECRET"
[risk]
capital = "10000"
max_position = "2"
max_notional = "8000"
max_orders_per_sec = 1000000.0
order_burst = 1000000
max_open_orders = 4
price_band_bps = 50
stop_loss_bps = 200
take_profit_bps = 400
drawdown_reduce_bps = 500
drawdown_halt_bps = 1000
stale_data_ms = 5000
[orders]
type = "ioc"
timeout_ms = 3000
client_id_prefix = "lat"
[journal]
path = {journal:?}
fsync = "interval"
fsync_interval_ms = 50
[metrics]
listen = "127.0.0.1:0"
"#,
        model = setup.model.display().to_string(),
        journal = journal.display().to_string(),
    );
    let path = setup.work.join(format!("{tag}.toml"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
