//! Hyper-parameter search over the learning rate, the regularisation and
//! the loss weights: a grid (every combination of the `[sweep]` lists) or
//! seeded random draws. Each trial is a pure function of (data, config,
//! seed), so trials can run anywhere and be compared: here the trials of
//! one [`Shard`] (all of them by default) run one after another, the best
//! by validation objective is exported, and a results table is written.
//! N array-job tasks, each with its own shard and output folders, cover
//! the sweep; a merge of their tables picks the best row.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::{Config, SweepMode};
use crate::data::Series;
use crate::dataset::Dataset;
use crate::export;
use crate::fit::{self, Hooks};
use crate::report;
use crate::run::{Outputs, RunError};
use crate::shard::Shard;
use crate::synth::Rng;

/// The values one trial uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// 0-based trial number.
    pub index: usize,
    /// `train.lr`.
    pub lr: f64,
    /// `loss.l_reg`.
    pub l_reg: f64,
    /// `loss.l_risk`.
    pub l_risk: f64,
    /// `loss.l_ret`.
    pub l_ret: f64,
    /// `loss.l_tc`.
    pub l_tc: f64,
}

impl Trial {
    /// The config of this trial.
    pub fn apply(&self, base: &Config) -> Config {
        let mut c = base.clone();
        c.train.lr = self.lr;
        c.train.lr_min = c.train.lr_min.min(self.lr);
        c.loss.l_reg = self.l_reg;
        c.loss.l_risk = self.l_risk;
        c.loss.l_ret = self.l_ret;
        c.loss.l_tc = self.l_tc;
        c
    }
}

/// One trial's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// The values.
    pub trial: Trial,
    /// Best validation objective.
    pub validation: f64,
    /// Epoch of the best validation objective.
    pub best_epoch: u32,
    /// Test-part rollout MSE (NaN without a test part).
    pub test_mse: f64,
    /// Test-part mean PnL (NaN without a test part).
    pub test_pnl_mean: f64,
}

/// The trials a config's `[sweep]` section describes.
pub fn trials(cfg: &Config) -> Vec<Trial> {
    let s = &cfg.sweep;
    let or = |v: &Vec<f64>, d: f64| if v.is_empty() { vec![d] } else { v.clone() };
    let lists = [
        or(&s.lr, cfg.train.lr),
        or(&s.l_reg, cfg.loss.l_reg),
        or(&s.l_risk, cfg.loss.l_risk),
        or(&s.l_ret, cfg.loss.l_ret),
        or(&s.l_tc, cfg.loss.l_tc),
    ];
    let mk = |index: usize, v: [f64; 5]| Trial { index, lr: v[0], l_reg: v[1], l_risk: v[2], l_ret: v[3], l_tc: v[4] };
    match s.mode {
        SweepMode::Grid => {
            let mut out = Vec::new();
            let total: usize = lists.iter().map(Vec::len).product();
            for i in 0..total {
                let mut rest = i;
                let mut v = [0.0; 5];
                for (slot, list) in v.iter_mut().zip(&lists) {
                    *slot = list[rest % list.len()];
                    rest /= list.len();
                }
                out.push(mk(i, v));
            }
            out
        }
        SweepMode::Random => {
            let mut rng = Rng::new(s.seed);
            (0..s.trials as usize)
                .map(|i| {
                    let mut v = [0.0; 5];
                    for (slot, list) in v.iter_mut().zip(&lists) {
                        *slot = draw(&mut rng, list);
                    }
                    mk(i, v)
                })
                .collect()
        }
    }
}

/// Log-uniform between the smallest and largest positive value of `list`
/// (zero when the list has no positive value).
fn draw(rng: &mut Rng, list: &[f64]) -> f64 {
    let pos: Vec<f64> = list.iter().copied().filter(|v| *v > 0.0).collect();
    let (lo, hi) = pos.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let u = rng.uniform();
    if pos.is_empty() { 0.0 } else { (lo.ln() + u * (hi.ln() - lo.ln())).exp() }
}

/// Runs the trials of `shard` ([`Shard::ALL`]: every trial) on `series`,
/// exports the best as `model.name`, writes `sweep.csv` and `sweep.json`
/// (and the best trial's report) into the report folder, and returns the
/// results in trial order. A shard without trials exports nothing and
/// writes a table with the header only.
///
/// # Errors
/// [`RunError`] naming the stage that failed.
pub fn sweep(
    series: &Series,
    base: &Config,
    out: &Outputs,
    shard: Shard,
    progress: &mut dyn FnMut(&TrialResult),
) -> Result<Vec<TrialResult>, RunError> {
    let dataset = Dataset::build(series, base)?;
    let mut results = Vec::new();
    let mut best: Option<(f64, Config, fit::Fitted)> = None;
    for trial in trials(base).into_iter().filter(|t| shard.selects(t.index)) {
        let cfg = trial.apply(base);
        let fitted = fit::fit(&dataset, &cfg, Hooks::default())?;
        let validation = fitted.history.iter().map(|e| e.validation).fold(f64::INFINITY, f64::min);
        let test = fitted.metrics.iter().find(|m| m.part == "test");
        let r = TrialResult {
            trial,
            validation,
            best_epoch: fitted.best_epoch,
            test_mse: test.map_or(f64::NAN, |m| m.mse),
            test_pnl_mean: test.map_or(f64::NAN, |m| m.pnl_mean),
        };
        progress(&r);
        results.push(r);
        if best.as_ref().is_none_or(|b| validation < b.0) {
            best = Some((validation, cfg, fitted));
        }
    }
    if let Some((_, cfg, fitted)) = &best {
        export::write(&out.models_dir, fitted, &dataset, series, cfg)?;
        if let Some(dir) = &out.report_dir {
            report::write_report(dir, fitted, &dataset, cfg)?;
        }
    }
    // written even with no trials, so a merge finds every shard's table
    if let Some(dir) = &out.report_dir {
        write_table(dir, &results)?;
    }
    Ok(results)
}

/// Writes `sweep.csv` and `sweep.json` into `dir` (created if missing).
/// Shards' `sweep.csv` files have the same header and global trial
/// numbers, so their rows concatenate into one table.
///
/// # Errors
/// [`crate::report::ReportError::Io`] when a file cannot be written.
pub fn write_table(dir: &Path, results: &[TrialResult]) -> Result<(), report::ReportError> {
    let io = |path: std::path::PathBuf| move |source| report::ReportError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let mut csv = String::from("trial,lr,l_reg,l_risk,l_ret,l_tc,validation,best_epoch,test_mse,test_pnl_mean\n");
    for r in results {
        let t = &r.trial;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            t.index, t.lr, t.l_reg, t.l_risk, t.l_ret, t.l_tc, r.validation, r.best_epoch, r.test_mse, r.test_pnl_mean
        );
    }
    std::fs::write(dir.join("sweep.csv"), csv).map_err(io(dir.join("sweep.csv")))?;
    let json = serde_json::to_string_pretty(results).unwrap_or_default() + "\n";
    std::fs::write(dir.join("sweep.json"), json).map_err(io(dir.join("sweep.json")))
}

/// A results table for the terminal, best trial marked.
pub fn table(results: &[TrialResult]) -> String {
    let best = results.iter().map(|r| r.validation).fold(f64::INFINITY, f64::min);
    let mut s = format!(
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>14} {:>6} {:>12}\n",
        "trial", "lr", "l_reg", "l_risk", "l_ret", "l_tc", "validation", "epoch", "test_mse"
    );
    for r in results {
        let t = &r.trial;
        let _ = writeln!(
            s,
            "{:>5} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e} {:>14.6e} {:>6} {:>12.6e}{}",
            t.index,
            t.lr,
            t.l_reg,
            t.l_risk,
            t.l_ret,
            t.l_tc,
            r.validation,
            r.best_epoch,
            r.test_mse,
            if r.validation == best { "  <- best" } else { "" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_combination_and_random_is_seeded() {
        let mut cfg = Config::default();
        cfg.sweep.lr = vec![1e-3, 1e-2];
        cfg.sweep.l_reg = vec![0.0, 1e-4, 1e-3];
        let g = trials(&cfg);
        assert_eq!(g.len(), 6);
        let mut pairs: Vec<(f64, f64)> = g.iter().map(|t| (t.lr, t.l_reg)).collect();
        pairs.dedup();
        assert_eq!(pairs.len(), 6);
        cfg.sweep.mode = SweepMode::Random;
        cfg.sweep.trials = 5;
        let a = trials(&cfg);
        assert_eq!(a, trials(&cfg));
        assert!(a.iter().all(|t| (1e-3..=1e-2).contains(&t.lr) && (1e-4..=1e-3).contains(&t.l_reg)));
    }
}
