//! `latency_harness`: wire-to-wire tick-to-order latency of `odex run`
//! against the TCP floor and a tokio baseline (see `benches/LATENCY.md`;
//! `benches/latency.sh` builds the binaries and runs it).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use odex_benches::latency::venue::{self, Client, Setup};
use odex_benches::latency::{Measured, baseline, floor, report};

const EXAMPLES: &str = "Examples:
  benches/latency.sh                      # everything, 100,000 ticks per configuration
  benches/latency.sh --quick              # ~5,000 ticks, plain ws, no busy-poll (CI)
  target/release/latency_harness --ticks 20000 --json out.json";

/// Wire-to-wire latency: odex vs the TCP floor vs a tokio baseline.
#[derive(Debug, Parser)]
#[command(name = "latency_harness", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Ticks per configuration (at least 1).
    #[arg(long, default_value_t = 100_000)]
    ticks: u64,
    /// CI size: 5,000 ticks, plain ws, no busy-poll (a --ticks given explicitly still wins).
    #[arg(long)]
    quick: bool,
    /// Gap between an answer's arrival and the next tick, in µs.
    #[arg(long, default_value_t = 300)]
    interval_us: u64,
    /// Skip the TLS (wss://) configurations.
    #[arg(long)]
    no_tls: bool,
    /// Skip the busy-poll configurations.
    #[arg(long)]
    no_busy_poll: bool,
    /// Skip the tokio baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Folder with `odex` and `odex-sim` (default: this binary's folder).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Model file (default: the repository's models/default.odex).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// (internal) The tokio baseline client against odex-sim on PORT.
    BaselineClient {
        /// odex-sim's port.
        #[arg(long)]
        port: u16,
        /// The model file.
        #[arg(long)]
        model: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Cmd::BaselineClient { port, model }) = &cli.command {
        return baseline::run(*port, model);
    }
    let explicit_ticks = std::env::args().any(|a| a == "--ticks" || a.starts_with("--ticks="));
    let ticks = if cli.quick && !explicit_ticks { 5_000 } else { cli.ticks };
    if ticks == 0 {
        bail!("--ticks must be at least 1");
    }
    let (tls, busy) = (!cli.quick && !cli.no_tls, !cli.quick && !cli.no_busy_poll);
    let harness = std::env::current_exe().context("locating this binary")?;
    let bin_dir = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => harness.parent().context("this binary's folder")?.to_path_buf(),
    };
    for b in ["odex", "odex-sim"] {
        if !bin_dir.join(b).is_file() {
            bail!(
                "{} not found: build it first (cargo build --release -p odex-runtime --bins) or pass --bin-dir",
                bin_dir.join(b).display()
            );
        }
    }
    let model =
        cli.model.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/default.odex"));
    let work = std::env::temp_dir().join(format!("odex-latency-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let setup = Setup { bin_dir, harness, model, work: work.clone(), interval_us: cli.interval_us };
    let (results, failures) = measure_all(&setup, ticks, tls, busy, !cli.no_baseline);
    let _ = std::fs::remove_dir_all(&work);
    print!("{}", report::render(&results));
    if let Some(path) = &cli.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("--json {}", path.display()))?;
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("failed: {f:#}");
        }
        bail!("{} configuration(s) failed", failures.len());
    }
    Ok(())
}

/// Measures every configuration asked for; one that fails is reported and the rest still run.
fn measure_all(
    setup: &Setup,
    ticks: u64,
    tls: bool,
    busy: bool,
    with_baseline: bool,
) -> (Vec<Measured>, Vec<anyhow::Error>) {
    let interval = Duration::from_micros(setup.interval_us);
    let mut results = Vec::new();
    let mut failures = Vec::new();
    eprintln!("{ticks} ticks per configuration, {} us between an answer and the next tick", setup.interval_us);
    for busy_poll in [false, true] {
        if busy_poll && !busy {
            continue;
        }
        let name = if busy_poll { "floor tcp busy-poll" } else { "floor tcp blocking" };
        eprintln!("measuring {name} ...");
        match floor::run(ticks, interval, busy_poll) {
            Ok(wire) => results.push(Measured {
                name: name.into(),
                kind: "floor".into(),
                transport: "tcp".into(),
                busy_poll,
                wire,
                in_process: None,
            }),
            Err(e) => failures.push(anyhow::Error::new(e).context(name)),
        }
    }
    for tls_on in [false, true] {
        if tls_on && !tls {
            continue;
        }
        for busy_poll in [false, true] {
            if busy_poll && !busy {
                continue;
            }
            let transport = if tls_on { "wss" } else { "ws" };
            let name = format!("odex {transport}{}", if busy_poll { " busy-poll" } else { "" });
            eprintln!("measuring {name} ...");
            match venue::probe(setup, Client::Odex { tls: tls_on, busy_poll }, ticks, &name.replace(' ', "-")) {
                Ok(run) => results.push(Measured {
                    name,
                    kind: "odex".into(),
                    transport: transport.into(),
                    busy_poll,
                    wire: run.wire,
                    in_process: run.in_process,
                }),
                Err(e) => failures.push(e.context(name)),
            }
        }
    }
    if with_baseline {
        let name = "baseline tokio ws";
        eprintln!("measuring {name} ...");
        match venue::probe(setup, Client::Baseline, ticks, "baseline") {
            Ok(run) => results.push(Measured {
                name: name.into(),
                kind: "baseline".into(),
                transport: "ws".into(),
                busy_poll: false,
                wire: run.wire,
                in_process: None,
            }),
            Err(e) => failures.push(e.context(name)),
        }
    }
    (results, failures)
}
