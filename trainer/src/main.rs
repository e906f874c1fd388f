//! `odex-train`: the researcher's command line (synth, fetch, fit, sweep).
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use odex_trainer::config::{Config, DOCUMENTED_DEFAULTS};
use odex_trainer::fetch::{FetchRequest, fetch};
use odex_trainer::run::{self, Outputs};
use odex_trainer::shard::Shard;
use odex_trainer::synth::{self, Process, SynthSpec};
use odex_trainer::{data, sweep, walk_forward};

const EXAMPLES: &str = "\
Examples:
  # seeded synthetic data with its true parameters in ou.json
  odex-train synth --kind ou --bars 20000 --seed 7 --out data/ou.csv
  # fit on real Binance archives, write models/eth.odex + eth.json and reports/eth/
  odex-train fit --config trainer/config/default.toml --data ../shared/data/binance/klines --name eth
  # every configuration key, documented
  odex-train config
  # grid search over [sweep] in the config, best model exported
  odex-train sweep --config my.toml --data data/ou.csv --name ou-sweep
  # the same sweep as 8 array-job tasks; this is task 3 (trials 3, 11, 19, ...)
  odex-train sweep --config my.toml --data data/ou.csv --name ou-sweep --shard 3/8 \\
      --models-dir out/shard-3/models --reports-dir out/shard-3/reports
  # download klines (any Binance-compatible REST base URL)
  odex-train fetch --symbol ETHUSDT --interval 1m --start-ms 1660435200000 --end-ms 1660521599999 --out eth.csv";

/// odex offline trainer: fits the hybrid ODE market model with LibTorch and exports it.
#[derive(Parser)]
#[command(name = "odex-train", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a seeded synthetic series (generic CSV) and its true parameters (sidecar JSON).
    #[command(after_help = "Example:\n  odex-train synth --kind regime --bars 50000 --seed 1 --out regime.csv")]
    Synth {
        /// ou, gbm, regime or sine.
        #[arg(long, default_value = "ou")]
        kind: String,
        /// Number of bars.
        #[arg(long, default_value_t = 20_000)]
        bars: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Open time of the first bar, ms.
        #[arg(long, default_value_t = 1_704_067_200_000)]
        start_ms: i64,
        /// Bar interval, ms.
        #[arg(long, default_value_t = 60_000)]
        interval_ms: i64,
        /// Output CSV; the sidecar is the same path with `.json`.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fit a model: data -> features -> hybrid ODE -> models/NAME.odex + NAME.json + reports/NAME/.
    #[command(
        after_help = "Example:\n  odex-train fit --config my.toml --data ../shared/data/binance/klines --name eth --epochs 100"
    )]
    Fit(FitArgs),
    /// Search learning rate, regularisation and loss weights ([sweep] in the config); export the best.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep(SweepArgs),
    /// Rolling train / test windows: fit on each window's training bars, backtest the next bars out of sample.
    #[command(after_help = WALK_FORWARD_EXAMPLES)]
    WalkForward(WalkForwardArgs),
    /// Download klines from a Binance REST endpoint into a CSV (archive layout).
    #[command(
        after_help = "Example:\n  odex-train fetch --symbol BTCUSDT --interval 1h --start-ms 1662508800000 --end-ms 1662595199999 --out btc.csv"
    )]
    Fetch {
        /// REST base URL.
        #[arg(long, default_value = "https://api.binance.com")]
        base_url: String,
        /// Symbol.
        #[arg(long)]
        symbol: String,
        /// Kline interval (1m, 5m, 1h, ...).
        #[arg(long, default_value = "1m")]
        interval: String,
        /// First open time, ms.
        #[arg(long)]
        start_ms: i64,
        /// Last open time, ms.
        #[arg(long)]
        end_ms: i64,
        /// Used weight per minute at which to pause for a minute.
        #[arg(long, default_value_t = 5000)]
        weight_budget: u32,
        /// Retries of a 429/418 answer.
        #[arg(long, default_value_t = 5)]
        max_retries: u32,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
    },
    /// Load and validate data files; print bars, interval, gaps and duplicates.
    Check {
        /// Files or directories.
        paths: Vec<PathBuf>,
    },
    /// Print every configuration key with its default and documentation.
    Config,
}

#[derive(clap::Args)]
struct FitArgs {
    /// TOML configuration (defaults for every key left out).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data files or directories (replace data.paths).
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Model name (replaces model.name).
    #[arg(long)]
    name: Option<String>,
    /// Epochs (replaces train.epochs).
    #[arg(long)]
    epochs: Option<u32>,
    /// Seed (replaces train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Where NAME.odex and NAME.json go.
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Report folders go to REPORTS_DIR/NAME.
    #[arg(long, default_value = "reports")]
    reports_dir: PathBuf,
    /// Print no per-epoch progress.
    #[arg(long)]
    quiet: bool,
}

const SWEEP_EXAMPLES: &str = "\
Examples:
  odex-train sweep --config my.toml --data data/ou.csv --name ou-best
  # one task of an array job: trials 3, 11, 19, ... of the whole sweep
  odex-train sweep --config my.toml --data data/ou.csv --name ou-best --shard 3/8 \\
      --models-dir out/shard-3/models --reports-dir out/shard-3/reports

Give each shard its own --models-dir and --reports-dir. Every shard writes
REPORTS_DIR/NAME/sweep.csv with the same header and the trial numbers of the
whole sweep; the best row over all shards (lowest validation) names the
shard whose NAME.odex to keep.";

const WALK_FORWARD_EXAMPLES: &str = "\
Examples:
  # 20,000 bars: train on 5,000, test the next 2,500, step 2,500 (six windows)
  odex-train walk-forward --config trainer/config/ou-model.toml --data data/ou.csv \\
      --train-bars 5000 --test-bars 2500 --out out/walk-forward

Each window's model is fitted on its training bars only (split into train and
validation by the config) and backtested on the bars right after them by the
runtime's engine against the venue model (10 bps fees, 1 bp slippage, 1 ms
latency). Writes window-K/ (model, card, test.csv, backtest/), walk_forward.csv
and walk_forward.json into --out.";

#[derive(clap::Args)]
struct WalkForwardArgs {
    /// TOML configuration (defaults for every key left out).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data files or directories (replace data.paths).
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Epochs per window (replaces train.epochs).
    #[arg(long)]
    epochs: Option<u32>,
    /// Bars each window's model is trained on.
    #[arg(long)]
    train_bars: usize,
    /// Bars each window's model is tested on, right after its training bars.
    #[arg(long)]
    test_bars: usize,
    /// Bars between window starts (default: --test-bars, so test windows tile the data).
    #[arg(long)]
    step_bars: Option<usize>,
    /// Output folder.
    #[arg(long, default_value = "out/walk-forward")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct SweepArgs {
    #[command(flatten)]
    fit: FitArgs,
    /// Run only shard K of N (0-based): the trials whose number is K modulo N.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
}

impl FitArgs {
    fn config(&self) -> Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if !self.data.is_empty() {
            cfg.data.paths.clone_from(&self.data);
        }
        if let Some(n) = &self.name {
            cfg.model.name.clone_from(n);
        }
        if let Some(e) = self.epochs {
            cfg.train.epochs = e;
        }
        if let Some(s) = self.seed {
            cfg.train.seed = s;
        }
        let origin = self.config.as_ref().map_or("command line".to_string(), |p| p.display().to_string());
        cfg.validate(&origin)?;
        Ok(cfg)
    }

    fn outputs(&self, cfg: &Config) -> Outputs {
        Outputs {
            models_dir: self.models_dir.clone(),
            report_dir: Some(run::default_report_dir(&self.reports_dir, &cfg.model.name)),
        }
    }
}

/// Keeps memory LibTorch frees inside the process. glibc serves each
/// tensor above its mmap threshold (a few MB: a `[windows, hidden]` f64
/// tensor is 3.6 MB at 14,000 windows) with a fresh `mmap` and returns it on
/// free, so every one of the thousands of temporaries an epoch makes comes
/// back as zero-filled page faults; allocating them from the heap and never
/// trimming it removes about 60 % of the page faults and 15 % of a CPU epoch
/// (`perf stat -e page-faults` on `benches/trainer_vs_torchdiffeq.sh`'s
/// model). The process keeps its peak heap until it exits, which a training
/// run does.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is
    // called before any other thread exists. The values are within glibc's
    // limits (the mmap threshold's maximum is 32 MiB on 64-bit); a refused
    // setting leaves the default, which is only slower.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> Result<()> {
    keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Synth { kind, bars, seed, start_ms, interval_ms, out } => {
            let Some(process) = Process::named(&kind) else {
                bail!("--kind {kind:?}: expected ou, gbm, regime or sine");
            };
            let spec = SynthSpec { process, bars, seed, start_ms, interval_ms };
            let s = synth::generate(&spec);
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
            }
            std::fs::write(&out, data::write_generic_csv(&s.rows)).with_context(|| format!("{}", out.display()))?;
            let side = out.with_extension("json");
            let json = serde_json::to_string_pretty(&synth::sidecar_json(&spec, &s))? + "\n";
            std::fs::write(&side, json).with_context(|| format!("{}", side.display()))?;
            eprintln!("wrote {} ({} bars) and {}", out.display(), bars, side.display());
        }
        Command::Fit(args) => {
            let cfg = args.config()?;
            let out = args.outputs(&cfg);
            let series = run::load_data(&cfg)?;
            eprintln!("data: {}", series.summary());
            let epochs = cfg.train.epochs;
            let every = (epochs / 20).max(1);
            let quiet = args.quiet;
            let mut progress = |e: &odex_trainer::fit::EpochLog| {
                if !quiet && (e.epoch.is_multiple_of(every) || e.epoch == 1 || e.epoch == epochs) {
                    eprintln!(
                        "epoch {:>5}/{epochs}  lr {:.3e}  train J {:.6e}  validation J {:.6e}",
                        e.epoch, e.lr, e.train, e.validation
                    );
                }
            };
            let r = run::run_on(series, &cfg, &out, Some(&mut progress))?;
            eprintln!(
                "best epoch {} of {}{} on {}",
                r.fitted.best_epoch,
                r.fitted.history.len(),
                if r.fitted.stopped_early { " (stopped early)" } else { "" },
                r.fitted.device
            );
            for m in &r.fitted.metrics {
                eprintln!(
                    "{:>10}: windows {:>7}  J {:.6e}  mse {:.6e}  pnl mean {:.3e} std {:.3e}  hit {:.3}  corr {:.3}",
                    m.part, m.windows, m.objective, m.mse, m.pnl_mean, m.pnl_std, m.hit_rate, m.correlation
                );
            }
            println!("{}", r.model_path.display());
            println!("{}", r.card_path.display());
            if let Some(d) = &out.report_dir {
                println!("{}", d.display());
            }
        }
        Command::Sweep(SweepArgs { fit: args, shard }) => {
            let shard = shard.unwrap_or(Shard::ALL);
            let cfg = args.config()?;
            let out = args.outputs(&cfg);
            let series = run::load_data(&cfg)?;
            eprintln!("data: {}", series.summary());
            let all = sweep::trials(&cfg);
            let n = all.iter().filter(|t| shard.selects(t.index)).count();
            if shard != Shard::ALL {
                eprintln!("shard {shard}: {n} of {} trials", all.len());
            }
            let quiet = args.quiet;
            let mut done = 0;
            let mut progress = |r: &sweep::TrialResult| {
                done += 1;
                if !quiet {
                    eprintln!(
                        "trial {done}/{n} (#{}): lr {:.3e} l_reg {:.3e} -> validation {:.6e}",
                        r.trial.index, r.trial.lr, r.trial.l_reg, r.validation
                    );
                }
            };
            let results = sweep::sweep(&series, &cfg, &out, shard, &mut progress)?;
            if results.is_empty() {
                println!("shard {shard}: no trials (the sweep has {}), nothing exported", all.len());
            } else {
                print!("{}", sweep::table(&results));
                println!("best model: {}", out.models_dir.join(format!("{}.odex", cfg.model.name)).display());
            }
        }
        Command::WalkForward(a) => {
            let fit = FitArgs {
                config: a.config,
                data: a.data,
                name: None,
                epochs: a.epochs,
                seed: None,
                models_dir: a.out.clone(),
                reports_dir: a.out.clone(),
                quiet: true,
            };
            let cfg = fit.config()?;
            let series = run::load_data(&cfg)?;
            eprintln!("data: {}", series.summary());
            let spec = walk_forward::Spec {
                train_bars: a.train_bars,
                test_bars: a.test_bars,
                step_bars: a.step_bars.unwrap_or(a.test_bars),
            };
            let mut progress = |w: &walk_forward::WindowRow| {
                eprintln!(
                    "window {}: trained to {} ms (best epoch {}), tested {}..={} ms: return {:+.2}%, Sharpe {:.2} (buy & hold {:+.2}%)",
                    w.window,
                    w.train_last_ms,
                    w.best_epoch,
                    w.test_first_ms,
                    w.test_last_ms,
                    100.0 * w.total_return,
                    w.sharpe,
                    100.0 * w.buy_and_hold_return
                );
            };
            let r = walk_forward::walk_forward(&series, &cfg, &spec, &a.out, &mut progress)?;
            println!(
                "{} windows: mean out-of-sample Sharpe {:.2}, {:.0}% of windows positive, compounded return {:+.2}% (buy & hold {:+.2}%)",
                r.windows.len(),
                r.mean_sharpe,
                100.0 * r.positive_windows,
                100.0 * r.compounded_return,
                100.0 * r.compounded_buy_and_hold
            );
            println!("{}", a.out.join("walk_forward.csv").display());
        }
        Command::Fetch { base_url, symbol, interval, start_ms, end_ms, weight_budget, max_retries, out } => {
            let req =
                FetchRequest { base_url, symbol, interval, start_ms, end_ms, limit: 1000, weight_budget, max_retries };
            let mut sleep = |d: Duration| {
                eprintln!("rate limit: waiting {} s", d.as_secs());
                std::thread::sleep(d);
            };
            let (csv, stats) = fetch(&req, &mut sleep)?;
            std::fs::write(&out, csv).with_context(|| format!("{}", out.display()))?;
            eprintln!(
                "wrote {} rows to {} ({} requests, {} rate-limited answers, {} weight pauses)",
                stats.rows,
                out.display(),
                stats.requests,
                stats.rate_limited,
                stats.weight_pauses
            );
        }
        Command::Check { paths } => {
            let s = data::load(&paths)?;
            println!("{}", s.summary());
            for g in &s.gaps {
                println!("gap: {} bars missing between {} and {} ms", g.missing, g.after_ms, g.before_ms);
            }
            println!("sha256 {}", s.sha256);
        }
        Command::Config => print!("{DOCUMENTED_DEFAULTS}"),
    }
    Ok(())
}
