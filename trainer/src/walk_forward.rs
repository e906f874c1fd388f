//! Walk-forward evaluation: rolling train and test windows over one series.
//!
//! Window `k` trains on bars `[k s, k s + T)` (the trainer's own time-ordered
//! train / validation split inside it) and is tested out of sample on the
//! next `E` bars, `[k s + T, k s + T + E)`, by the runtime's backtester:
//! the live engine on a simulated clock against the venue model, with fees,
//! slippage and latency. `T`, `E` and the step `s` are in bars; windows
//! continue while a whole test window fits. Nothing of a test window is seen
//! by its model's training, normalisation or early stopping.
//!
//! Output folder: `window-K/` per window (`MODEL.odex` + card, `test.csv`,
//! the backtest's report folder `backtest/`), `walk_forward.csv` (one row per
//! window) and `walk_forward.json` (the rows and the aggregate). Like a
//! single fit, the whole run is a pure function of (data, config, spec).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use odex_runtime::backtest::{self, BacktestConfig, BacktestError, DataSource, SignalConfig};
use serde::Serialize;

use crate::config::Config;
use crate::data::{self, DataError, Series};
use crate::run::{self, Outputs, RunError};

/// Window sizes, in bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Bars each model is trained on (split into train and validation by the config).
    pub train_bars: usize,
    /// Bars each model is tested on, right after its training bars.
    pub test_bars: usize,
    /// Bars between the starts of consecutive windows (`test_bars`: the
    /// test windows tile the data without overlap).
    pub step_bars: usize,
}

/// Why a walk-forward run failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkForwardError {
    /// The window sizes do not fit the data.
    #[error("walk-forward: {0}")]
    Spec(String),
    /// A window's slice of the data was rejected.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A window's training failed.
    #[error("window {window}: {source}")]
    Train {
        /// The window.
        window: usize,
        /// Why.
        source: RunError,
    },
    /// A window's backtest failed.
    #[error("window {window}: backtest: {source}")]
    Backtest {
        /// The window.
        window: usize,
        /// Why.
        source: BacktestError,
    },
    /// An output file could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The results could not be serialised.
    #[error("serialising results: {0}")]
    Json(#[from] serde_json::Error),
}

/// One window's out-of-sample result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowRow {
    /// Window number, from 0.
    pub window: usize,
    /// First and last training bar open times, ms.
    pub train_first_ms: i64,
    /// Last training bar open time, ms.
    pub train_last_ms: i64,
    /// First test bar open time, ms.
    pub test_first_ms: i64,
    /// Last test bar open time, ms.
    pub test_last_ms: i64,
    /// The epoch kept by early stopping.
    pub best_epoch: u32,
    /// Validation rollout MSE of the kept model (normalised units).
    pub validation_mse: f64,
    /// Out-of-sample total return after costs.
    pub total_return: f64,
    /// Out-of-sample annualised Sharpe ratio after costs.
    pub sharpe: f64,
    /// Out-of-sample max drawdown.
    pub max_drawdown: f64,
    /// Buy and hold's return over the test window.
    pub buy_and_hold_return: f64,
    /// Orders sent.
    pub orders: u64,
    /// Fees paid (quote).
    pub fees: String,
    /// The model file.
    pub model: String,
}

/// The whole run's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WalkForward {
    /// Training bars per window.
    pub train_bars: usize,
    /// Test bars per window.
    pub test_bars: usize,
    /// Bars between window starts.
    pub step_bars: usize,
    /// One row per window.
    pub windows: Vec<WindowRow>,
    /// Mean out-of-sample Sharpe over the windows.
    pub mean_sharpe: f64,
    /// Share of windows with a positive out-of-sample return.
    pub positive_windows: f64,
    /// Out-of-sample returns compounded over the windows (meaningful when
    /// the test windows do not overlap, `step_bars >= test_bars`).
    pub compounded_return: f64,
    /// Buy and hold compounded over the same test windows.
    pub compounded_buy_and_hold: f64,
}

/// The windows' start bars for `bars` bars of data.
///
/// # Errors
/// [`WalkForwardError::Spec`] when a size is zero or no window fits.
pub fn window_starts(bars: usize, spec: &Spec) -> Result<Vec<usize>, WalkForwardError> {
    if spec.train_bars == 0 || spec.test_bars == 0 || spec.step_bars == 0 {
        return Err(WalkForwardError::Spec("train, test and step bars must be positive".into()));
    }
    let span = spec.train_bars + spec.test_bars;
    if span > bars {
        return Err(WalkForwardError::Spec(format!(
            "one window needs {span} bars ({} train + {} test), the data has {bars}",
            spec.train_bars, spec.test_bars
        )));
    }
    Ok((0..=bars - span).step_by(spec.step_bars).collect())
}

fn write(path: &Path, text: &str) -> Result<(), WalkForwardError> {
    std::fs::write(path, text).map_err(|source| WalkForwardError::Write { path: path.to_path_buf(), source })
}

/// Runs every window: fit on its training bars, backtest on its test bars,
/// and writes the per-window folders and the tables into `out`.
/// `on_window` sees each row as it completes.
///
/// # Errors
/// [`WalkForwardError`] naming the window and the stage that failed.
pub fn walk_forward(
    series: &Series,
    cfg: &Config,
    spec: &Spec,
    out: &Path,
    on_window: &mut dyn FnMut(&WindowRow),
) -> Result<WalkForward, WalkForwardError> {
    let starts = window_starts(series.rows.len(), spec)?;
    let mut windows = Vec::with_capacity(starts.len());
    for (window, start) in starts.into_iter().enumerate() {
        let dir = out.join(format!("window-{window}"));
        std::fs::create_dir_all(&dir).map_err(|source| WalkForwardError::Write { path: dir.clone(), source })?;
        let split = start + spec.train_bars;
        let (train_rows, test_rows) = (
            series.rows.get(start..split).unwrap_or_default(),
            series.rows.get(split..split + spec.test_bars).unwrap_or_default(),
        );
        let train = Series::from_rows(&format!("window {window} training bars"), train_rows)?;
        let mut wcfg = cfg.clone();
        wcfg.model.name = format!("{}-w{window}", cfg.model.name);
        let outputs = Outputs { models_dir: dir.clone(), report_dir: None };
        let fitted =
            run::run_on(train, &wcfg, &outputs, None).map_err(|source| WalkForwardError::Train { window, source })?;
        let test_csv = dir.join("test.csv");
        write(&test_csv, &data::write_generic_csv(test_rows))?;
        let bt_err = |source| WalkForwardError::Backtest { window, source };
        let bt = BacktestConfig::new(
            DataSource::Klines(vec![test_csv]),
            fitted.model_path.clone(),
            SignalConfig::Model,
            dir.join("backtest"),
        )
        .map_err(bt_err)?;
        let s = backtest::run(&bt).map_err(bt_err)?.summary;
        let open = |rows: &[odex_shared::kline::KlineRow], last: bool| {
            (if last { rows.last() } else { rows.first() }).map_or(0, |r| r.bar.open_time_ms)
        };
        let row = WindowRow {
            window,
            train_first_ms: open(train_rows, false),
            train_last_ms: open(train_rows, true),
            test_first_ms: open(test_rows, false),
            test_last_ms: open(test_rows, true),
            best_epoch: fitted.fitted.best_epoch,
            validation_mse: fitted.fitted.metrics.iter().find(|m| m.part == "validation").map_or(f64::NAN, |m| m.mse),
            total_return: s.strategy.total_return,
            sharpe: s.strategy.sharpe,
            max_drawdown: s.strategy.max_drawdown,
            buy_and_hold_return: s.buy_and_hold.total_return,
            orders: s.orders,
            fees: s.fees,
            model: fitted.model_path.display().to_string(),
        };
        on_window(&row);
        windows.push(row);
    }
    let n = windows.len().max(1) as f64;
    let result = WalkForward {
        train_bars: spec.train_bars,
        test_bars: spec.test_bars,
        step_bars: spec.step_bars,
        mean_sharpe: windows.iter().map(|w| w.sharpe).sum::<f64>() / n,
        positive_windows: windows.iter().filter(|w| w.total_return > 0.0).count() as f64 / n,
        compounded_return: windows.iter().fold(1.0, |a, w| a * (1.0 + w.total_return)) - 1.0,
        compounded_buy_and_hold: windows.iter().fold(1.0, |a, w| a * (1.0 + w.buy_and_hold_return)) - 1.0,
        windows,
    };
    write(&out.join("walk_forward.csv"), &table(&result))?;
    write(&out.join("walk_forward.json"), &(serde_json::to_string_pretty(&result)? + "\n"))?;
    Ok(result)
}

/// `walk_forward.csv`: one row per window.
pub fn table(r: &WalkForward) -> String {
    let mut s = String::from(
        "window,train_first_ms,train_last_ms,test_first_ms,test_last_ms,best_epoch,validation_mse,\
         total_return,sharpe,max_drawdown,buy_and_hold_return,orders,fees\n",
    );
    for w in &r.windows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{:.6e},{:.6},{:.4},{:.6},{:.6},{},{}",
            w.window,
            w.train_first_ms,
            w.train_last_ms,
            w.test_first_ms,
            w.test_last_ms,
            w.best_epoch,
            w.validation_mse,
            w.total_return,
            w.sharpe,
            w.max_drawdown,
            w.buy_and_hold_return,
            w.orders,
            w.fees
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_tile_the_data_and_stop_when_a_test_window_no_longer_fits() {
        let spec = Spec { train_bars: 1000, test_bars: 500, step_bars: 500 };
        assert_eq!(window_starts(3000, &spec).unwrap(), [0, 500, 1000, 1500]);
        assert_eq!(window_starts(2999, &spec).unwrap(), [0, 500, 1000]);
        assert_eq!(window_starts(1500, &spec).unwrap(), [0]);
        let e = window_starts(1499, &spec).unwrap_err().to_string();
        assert_eq!(e, "walk-forward: one window needs 1500 bars (1000 train + 500 test), the data has 1499");
        assert!(window_starts(3000, &Spec { step_bars: 0, ..spec }).is_err());
    }
}
