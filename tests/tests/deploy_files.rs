//! The operator's kit in `deploy/`, held to the code it describes: every
//! metric the alerts and the dashboard query is one the runtime exports,
//! every alert tells the operator what it means and what to do, the configs
//! pass `odex check-config` and name the endpoints `odex-sim` really serves,
//! and the image, compose file, systemd unit and sweep jobs agree with the
//! configs and with each other.
//!
//! Docker, Prometheus, Grafana, systemd, Kubernetes and Slurm are not run
//! here (the development machine has none of them): their files are checked
//! by content. The binaries `odex` and `odex-sim` and the sweep merge script
//! are run.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Every metric the runtime exports on `GET /metrics`.
const EXPORTED: &[&str] = odex_runtime::live::metrics::NAMES;

/// The alerts operators are promised (deploy/README.md), each with the
/// condition its expression must contain.
const ALERTS: &[(&str, &str)] = &[
    ("OdexDown", "up{job=\"odex\"} == 0"),
    ("OdexBreakerReducing", "odex_breaker_state == 1"),
    ("OdexBreakerHalted", "odex_breaker_state == 2"),
    ("OdexKillSwitch", "odex_kill_switch == 1"),
    ("OdexMarketDataDisconnected", "odex_connection_up{conn=\"market\"} == 0"),
    ("OdexApiDisconnected", "odex_connection_up{conn=\"api\"} == 0"),
    ("OdexStaleData", "odex_market_data_age_seconds > 5"),
    ("OdexRejectsHigh", "rate(odex_rejects_total[5m]) > 0.1"),
    ("OdexRefusalsHigh", "sum(rate(odex_refusals_total[5m])) > 1"),
    ("OdexTickToOrderSlow", "odex_tick_to_order_seconds{quantile=\"0.99\"} > 0.0001"),
    ("OdexHotPathAllocations", "increase(odex_hot_path_allocations_total[5m]) > 0"),
    ("OdexJournalDropped", "increase(odex_journal_dropped_total[5m]) > 0"),
    ("OdexDrawdown", "odex_drawdown_bps > 300"),
];

/// Where deploy/Dockerfile puts the model the configs name.
const MODEL_IN_IMAGE: &str = "/usr/share/odex/models/golden-v1.odex";
/// The model file in the repository that the Dockerfile copies there.
const MODEL_IN_REPO: &str = "models/golden-v1.odex";
const CONFIGS: &[&str] = &["deploy/config/paper-sim.toml", "deploy/config/live-sim.toml"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn read(rel: &str) -> String {
    let path = workspace().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `odex` and `odex-sim`. `cargo test --workspace` builds them next to the
/// test executable; when this package is tested alone they may be missing
/// and are built here, once.
fn runtime_binaries() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf();
        let (odex, sim) = (dir.join("odex"), dir.join("odex-sim"));
        if !(odex.exists() && sim.exists()) {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "odex-runtime", "--bins"])
                .current_dir(workspace())
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build -p odex-runtime --bins failed");
        }
        (odex, sim)
    })
}

/// The `odex_*` names in `text`: each run of `[a-z0-9_]` that starts with
/// `odex_` at a word boundary.
fn metric_names(text: &str) -> BTreeSet<String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("odex_") {
        if start > 0 && bytes.get(start - 1).copied().is_some_and(word) {
            continue;
        }
        let len =
            bytes[start..].iter().take_while(|&&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_').count();
        names.insert(text[start..start + len].to_string());
    }
    names
}

fn assert_exported(file: &str, names: &BTreeSet<String>) {
    let unknown: Vec<&String> = names.iter().filter(|n| !EXPORTED.contains(&n.as_str())).collect();
    assert!(unknown.is_empty(), "{file} names metrics the runtime does not export: {unknown:?}");
}

/// One rule of alerts.yml, read by a line scan (the file keeps one key per
/// line; `>-` folded values continue on more-indented lines).
#[derive(Debug)]
struct Alert {
    name: String,
    expr: String,
    summary: String,
    description: String,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The value of `key:` in `block`, folded continuation lines joined.
fn yaml_value(block: &[&str], key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    let at = block.iter().position(|l| l.trim_start().starts_with(&prefix))?;
    let line = block[at];
    let inline = line.trim_start()[prefix.len()..].trim();
    let mut value = match inline {
        ">" | ">-" | "|" | "|-" => String::new(),
        v => v.trim_matches('"').to_string(),
    };
    for next in &block[at + 1..] {
        if next.trim().is_empty() || indent(next) <= indent(line) {
            break;
        }
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(next.trim());
    }
    Some(value)
}

fn alerts() -> Vec<Alert> {
    let text = read("deploy/prometheus/alerts.yml");
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> =
        lines.iter().enumerate().filter(|(_, l)| l.trim_start().starts_with("- alert:")).map(|(i, _)| i).collect();
    let mut out = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let block = &lines[start..end];
        let name = block[0].trim_start()["- alert:".len()..].trim().to_string();
        let get = |key: &str| yaml_value(block, key).unwrap_or_else(|| panic!("alert {name}: no {key}"));
        let (expr, summary, description) = (get("expr"), get("summary"), get("description"));
        out.push(Alert { name, expr, summary, description });
    }
    out
}

#[test]
fn alerts_are_the_promised_ones_on_exported_metrics_and_say_what_to_do() {
    let rules = alerts();
    let names: Vec<&str> = rules.iter().map(|a| a.name.as_str()).collect();
    let expected: Vec<&str> = ALERTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, expected, "alerts.yml rules, in order");
    for (rule, (_, condition)) in rules.iter().zip(ALERTS) {
        assert!(rule.expr.contains(condition), "{}: expr {:?} lacks {condition:?}", rule.name, rule.expr);
        assert!(!rule.summary.is_empty(), "{}: empty summary", rule.name);
        // a description says what it means and what to do: more than a phrase
        assert!(rule.description.len() >= 120, "{}: description too short: {:?}", rule.name, rule.description);
    }
    assert_exported("deploy/prometheus/alerts.yml", &metric_names(&read("deploy/prometheus/alerts.yml")));

    // the README's alert table lists every alert
    let readme = read("deploy/README.md");
    for (name, _) in ALERTS {
        assert!(readme.contains(&format!("| `{name}` |")), "deploy/README.md has no table row for {name}");
    }
}

fn panels_of<'a>(panels: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    for p in panels.as_array().expect("panels is an array") {
        out.push(p);
        if let Some(inner) = p.get("panels") {
            panels_of(inner, out);
        }
    }
}

#[test]
fn dashboard_is_valid_with_unique_ids_and_queries_exported_metrics_only() {
    let text = read("deploy/grafana/dashboards/odex.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("odex.json is valid JSON");
    let mut panels = Vec::new();
    panels_of(&dash["panels"], &mut panels);
    assert!(panels.len() >= 12, "only {} panels", panels.len());

    let provisioned = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    let uid = provisioned
        .lines()
        .find_map(|l| l.trim().strip_prefix("uid:"))
        .map(str::trim)
        .expect("datasource provisioning names a uid");
    assert!(provisioned.contains("url: http://prometheus:9090"), "datasource url");

    let mut ids = BTreeSet::new();
    let mut queried = String::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("panel {title:?} has no integer id"));
        assert!(ids.insert(id), "panel id {id} ({title:?}) is used twice");
        assert!(p["gridPos"].is_object(), "panel {title:?} has no gridPos");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], uid, "panel {title:?} datasource");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {title:?} has no targets"));
        assert!(!targets.is_empty(), "panel {title:?} has no targets");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_default();
            assert!(expr.contains("odex_"), "panel {title:?}: query {expr:?} reads no odex metric");
            queried.push_str(expr);
            queried.push('\n');
        }
    }
    assert_exported("deploy/grafana/dashboards/odex.json", &metric_names(&text));
    // and the dashboard keeps up with the exports: every metric is on it
    let shown = metric_names(&queried);
    let missing: Vec<&&str> = EXPORTED.iter().filter(|m| !shown.contains(**m)).collect();
    assert!(missing.is_empty(), "no dashboard panel queries {missing:?}");
}

/// `deploy/config/NAME.toml` with the model path rewritten from the image's
/// path (absent on a development machine) to the repository's copy of the
/// same file, written into `dir`.
fn config_with_repo_model(rel: &str, dir: &Path) -> PathBuf {
    let text = read(rel);
    assert!(text.contains(&format!("file = \"{MODEL_IN_IMAGE}\"")), "{rel}: model.file is not {MODEL_IN_IMAGE}");
    let repo_model = workspace().join(MODEL_IN_REPO);
    let repo_model = repo_model.to_str().expect("UTF-8 workspace path");
    assert!(!repo_model.contains(['"', '\\']), "workspace path {repo_model:?} does not fit a TOML string");
    let path = dir.join(Path::new(rel).file_name().expect("file name"));
    std::fs::write(&path, text.replace(MODEL_IN_IMAGE, repo_model)).expect("writing the temp config");
    path
}

fn check_config(path: &Path, keys: bool) -> std::process::Output {
    let (odex, _) = runtime_binaries();
    let mut cmd = Command::new(odex);
    cmd.arg("check-config").arg(path).env_remove("ODEX_API_KEY").env_remove("ODEX_API_SECRET");
    if keys {
        cmd.env("ODEX_API_KEY", "test-api-key").env("ODEX_API_SECRET", "test-api-secret");
    }
    cmd.output().expect("running odex check-config")
}

#[test]
fn deploy_configs_pass_check_config() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (rel, mode) in CONFIGS.iter().zip(["Paper", "Live"]) {
        let path = config_with_repo_model(rel, tmp.path());
        let out = check_config(&path, true);
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "odex check-config {rel} (model path rewritten):\n{text}");
        assert!(text.contains(&format!("ok ({mode} mode, 1 symbol(s))")), "{rel}: {text}");
    }
    // live mode really needs the key variables that compose.yaml and keys.env set
    let live = config_with_repo_model("deploy/config/live-sim.toml", tmp.path());
    let out = check_config(&live, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ODEX_API_KEY") && err.contains("ODEX_API_SECRET"), "{err}");
    let compose = read("deploy/compose.yaml");
    let unit = read("deploy/systemd/odex.service");
    for var in ["ODEX_API_KEY", "ODEX_API_SECRET"] {
        assert!(compose.contains(&format!("{var}: ")), "compose.yaml does not set {var}");
        assert!(read("deploy/README.md").contains(&format!("{var}=")), "deploy/README.md keys.env lacks {var}");
    }
    assert!(unit.contains("\nEnvironmentFile=/etc/odex/keys.env\n"), "odex.service keys file");
}

fn toml_str<'a>(table: &'a toml::Table, section: &str, key: &str) -> &'a str {
    table
        .get(section)
        .and_then(|s| s.get(key))
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("{section}.{key}"))
}

/// The sim's command line in compose.yaml (a flow sequence of double-quoted
/// strings, which is also JSON).
fn compose_sim_args() -> Vec<String> {
    let compose = read("deploy/compose.yaml");
    let mut in_sim = false;
    for line in compose.lines() {
        if indent(line) == 2 && line.trim_end().ends_with(':') {
            in_sim = line.trim() == "sim:";
        }
        if in_sim && let Some(list) = line.trim().strip_prefix("command:") {
            return serde_json::from_str(list.trim()).expect("sim command is a list of strings");
        }
    }
    panic!("compose.yaml: no command for service sim");
}

/// The status line odex-sim answers a websocket upgrade to `path` with.
fn upgrade_status(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to odex-sim");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("send upgrade");
    // a refused path may get an error status or a closed connection
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.trim_end().to_string()
}

#[test]
fn configs_point_at_what_the_compose_sim_serves() {
    let args = compose_sim_args();
    let port_at = args.iter().position(|a| a == "--port").expect("sim --port") + 1;
    let port: u16 = args[port_at].parse().expect("sim port is a number");
    assert!(args.iter().any(|a| a == "--doc-example-key"), "live-sim.toml signs with the documentation key");

    for rel in CONFIGS {
        let cfg: toml::Table = toml::from_str(&read(rel)).expect("TOML");
        assert_eq!(toml_str(&cfg, "endpoints", "market_stream"), format!("ws://127.0.0.1:{port}/stream"), "{rel}");
        assert_eq!(toml_str(&cfg, "endpoints", "ws_api"), format!("ws://127.0.0.1:{port}/ws-api/v3"), "{rel}");
        assert_eq!(toml_str(&cfg, "endpoints", "rest"), format!("http://127.0.0.1:{port}"), "{rel}");
        let symbol = &cfg["symbols"][0];
        assert_eq!((symbol["name"].as_str(), symbol["base"].as_str()), (Some("ETHUSDT"), Some("ETH")), "{rel}");
        assert!(toml_str(&cfg, "journal", "path").starts_with("/var/lib/odex/"), "{rel}: journal outside the volume");
        assert!(toml_str(&cfg, "metrics", "listen").ends_with(":9898"), "{rel}: metrics port");
    }

    // run odex-sim with compose's flags (on a free port) and knock on those paths
    let (_, sim) = runtime_binaries();
    let mut run_args = args.clone();
    run_args[port_at] = "0".into();
    let mut child = Command::new(sim)
        .args(&run_args)
        .args(["--duration", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting odex-sim");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("odex-sim first line");
    let port: u16 = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("odex-sim announced {first:?} with compose's flags {args:?}"));
    let statuses: Vec<String> = ["/stream?streams=ethusdt@bookTicker", "/ws-api/v3", "/no-such-service"]
        .iter()
        .map(|p| upgrade_status(port, p))
        .collect();
    let mut ping = TcpStream::connect(("127.0.0.1", port)).expect("connect for REST");
    ping.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    ping.write_all(b"GET /api/v3/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("send ping");
    let mut answer = String::new();
    let _ = ping.read_to_string(&mut answer);
    let _ = child.kill();
    let _ = child.wait();
    assert!(statuses[0].starts_with("HTTP/1.1 101"), "market stream: {statuses:?}");
    assert!(statuses[1].starts_with("HTTP/1.1 101"), "WebSocket API: {statuses:?}");
    assert!(!statuses[2].starts_with("HTTP/1.1 101"), "the check must tell a wrong path apart: {statuses:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "REST ping: {answer:?}");
}

#[test]
fn image_builds_the_runtime_only_and_holds_what_the_configs_name() {
    let docker = read("deploy/Dockerfile");
    let model_copy = format!("COPY {MODEL_IN_REPO} {MODEL_IN_IMAGE}");
    for needed in [
        "FROM rust:1.95-slim-bookworm AS builder",
        "cargo build --locked --profile dist -p odex-runtime --bins",
        "target/dist/odex target/dist/odex-sim",
        model_copy.as_str(),
        "FROM debian:bookworm-slim",
        "ca-certificates",
        "useradd --system",
        "USER odex",
        "VOLUME [\"/var/lib/odex\"]",
        "EXPOSE 9898",
        "/dev/tcp/127.0.0.1/9898",
        "GET /metrics",
        "ENTRYPOINT [\"odex\"]",
        "CMD [\"run\", \"--config\", \"/etc/odex/odex.toml\"]",
    ] {
        assert!(docker.contains(needed), "deploy/Dockerfile lacks {needed:?}");
    }
    let instructions: String =
        docker.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    for banned in ["odex-trainer", "target-cpu"] {
        assert!(!instructions.contains(banned), "deploy/Dockerfile: runtime only and portable, yet {banned:?}");
    }
    assert!(workspace().join(MODEL_IN_REPO).is_file(), "{MODEL_IN_REPO} (copied into the image) is missing");
    let ignore = read(".dockerignore");
    for entry in ["target/", ".venv/", "out/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore lacks {entry}");
    }

    // every host file compose.yaml mounts exists, relative to deploy/
    let compose = read("deploy/compose.yaml");
    for service in ["sim", "odex", "prometheus", "grafana"] {
        assert!(compose.lines().any(|l| l == format!("  {service}:")), "compose.yaml: no service {service}");
    }
    // the odex config is chosen by ODEX_CONFIG, paper-sim.toml by default
    let choice = "${ODEX_CONFIG:-paper-sim.toml}";
    assert!(compose.contains(&format!("- ./config/{choice}:/etc/odex/odex.toml:ro")), "compose.yaml: config mount");
    let mut mounts = 0;
    for line in compose.lines() {
        let line = line.replace(choice, "paper-sim.toml");
        let Some(mount) = line.trim().strip_prefix("- ./") else { continue };
        let host = mount.split(':').next().unwrap_or_default();
        assert!(workspace().join("deploy").join(host).exists(), "compose.yaml mounts missing ./{host}");
        mounts += 1;
    }
    assert!(mounts >= 6, "compose.yaml: {mounts} bind mounts found");
    assert!(compose.contains("network_mode: \"service:sim\"") && compose.contains("aliases: [odex]"), "networking");
    let prometheus = read("deploy/prometheus/prometheus.yml");
    assert!(prometheus.contains("targets: [\"odex:9898\"]"), "prometheus.yml scrapes odex:9898");
    assert!(prometheus.contains("- /etc/prometheus/alerts.yml"), "prometheus.yml loads the alerts");
    assert!(compose.contains("./prometheus/alerts.yml:/etc/prometheus/alerts.yml"), "compose mounts the alerts");
    let provider = read("deploy/grafana/provisioning/dashboards/odex.yml");
    assert!(provider.contains("path: /etc/grafana/dashboards"), "dashboard provider path");
    assert!(compose.contains("./grafana/dashboards:/etc/grafana/dashboards"), "compose mounts the dashboards");
}

#[test]
fn systemd_unit_is_hardened_and_stops_cleanly() {
    let unit = read("deploy/systemd/odex.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for needed in [
        "ExecStart=/usr/local/bin/odex run --config /etc/odex/odex.toml",
        "ExecStartPre=/usr/local/bin/odex check-config /etc/odex/odex.toml",
        "EnvironmentFile=/etc/odex/keys.env",
        "User=odex",
        "StateDirectory=odex",
        "ReadWritePaths=/var/lib/odex",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "LimitCORE=0",
        "#CPUAffinity=3",
    ] {
        assert!(lines.contains(&needed), "odex.service lacks the line {needed:?}");
    }
    for prefix in ["MemoryMax=", "RestartSec=", "TimeoutStopSec="] {
        assert!(lines.iter().any(|l| l.starts_with(prefix)), "odex.service lacks {prefix}");
    }
}

#[test]
fn sweep_jobs_run_one_shard_per_task_and_the_merge_keeps_the_best() {
    let job = read("deploy/sweeps/k8s-sweep-job.yaml");
    // the rest of the line after the first `key` that follows `anchor`
    let value_after = |anchor: &str, key: &str| -> String {
        let from = job.find(anchor).unwrap_or_else(|| panic!("k8s-sweep-job.yaml: no {anchor}"));
        let rest = &job[from..];
        let at = rest.find(key).unwrap_or_else(|| panic!("k8s-sweep-job.yaml: no {key} after {anchor}"));
        rest[at + key.len()..].lines().next().unwrap_or_default().trim().trim_matches('"').to_string()
    };
    assert!(job.contains("completionMode: Indexed"));
    let shards = value_after("spec:", "completions:");
    assert_eq!(value_after("name: SWEEP_SHARDS", "value:"), shards, "SWEEP_SHARDS must equal completions");
    assert!(job.contains("--shard \"$JOB_COMPLETION_INDEX/$SWEEP_SHARDS\""), "k8s job passes --shard K/N");
    let merge = read("deploy/sweeps/k8s-sweep-merge.yaml");
    let name = value_after("name: SWEEP_NAME", "value:");
    assert!(merge.contains(&format!("\"/results\", \"{name}\", \"{shards}\"]")), "merge job NAME and N");
    let slurm = read("deploy/sweeps/slurm-sweep.sh");
    assert!(slurm.contains("--shard \"$k/$n\""), "slurm script passes --shard K/N");

    for script in ["deploy/sweeps/slurm-sweep.sh", "deploy/sweeps/merge-sweep.sh"] {
        let ok = Command::new("bash").arg("-n").arg(workspace().join(script)).status().expect("bash -n");
        assert!(ok.success(), "{script}: syntax");
    }

    // the merge on three shards' tables as odex-train writes them
    let tmp = tempfile::tempdir().expect("temp dir");
    let header = "trial,lr,l_reg,l_risk,l_ret,l_tc,validation,best_epoch,test_mse,test_pnl_mean";
    let shard_rows: [&[&str]; 3] = [
        &["0,0.001,0,0,0,0,0.5,3,NaN,NaN", "3,0.01,0,0,0,0,NaN,1,1,1"],
        &["1,0.001,0.001,0,0,0,0.002,4,1,1", "4,0.01,0.001,0,0,0,inf,1,1,1"],
        &["2,0.003,0,0,0,0,0.01,2,1,1"],
    ];
    for (k, rows) in shard_rows.iter().enumerate() {
        let shard = tmp.path().join(format!("shard-{k}"));
        std::fs::create_dir_all(shard.join("reports/eth")).expect("mkdir");
        std::fs::create_dir_all(shard.join("models")).expect("mkdir");
        std::fs::write(shard.join("reports/eth/sweep.csv"), format!("{header}\n{}\n", rows.join("\n"))).expect("table");
        std::fs::write(shard.join("models/eth.odex"), format!("model of shard {k}")).expect("model");
        std::fs::write(shard.join("models/eth.json"), "{}").expect("card");
    }
    let script = workspace().join("deploy/sweeps/merge-sweep.sh");
    let out = Command::new("bash").arg(&script).arg(tmp.path()).args(["eth", "3"]).output().expect("merge");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged = std::fs::read_to_string(tmp.path().join("sweep.csv")).expect("merged table");
    let order: Vec<&str> = merged.lines().map(|l| l.split(',').next().unwrap_or_default()).collect();
    assert_eq!(order, ["trial", "1", "2", "0", "4", "3"], "{merged}");
    let best = std::fs::read_to_string(tmp.path().join("best/eth.odex")).expect("best model");
    assert_eq!(best, "model of shard 1");
    // a missing shard is an error, not a silently smaller sweep
    let out = Command::new("bash").arg(&script).arg(tmp.path()).args(["eth", "4"]).output().expect("merge");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("shard 3/4"));
}
