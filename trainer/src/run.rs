//! One training run, end to end: load and validate the data, build the
//! dataset, fit, export `NAME.odex` + `NAME.json`, write the report folder.
//!
//! A run is a pure function of (data, config): the seed lives in the config,
//! no wall-clock time enters any output, so the same inputs give the same
//! files (on CPU with `train.threads = 1`).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::data::{self, DataError, Series};
use crate::dataset::{Dataset, DatasetError};
use crate::export::{self, ExportError};
use crate::fit::{self, EpochLog, FitError, Fitted, Hooks};
use crate::report::{self, ReportError};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No data paths in the config or on the command line.
    #[error("no data: set data.paths in the config or pass --data")]
    NoData,
    /// Loading the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Building the dataset failed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Fitting failed.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// Export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Writing the report failed.
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Where a run writes.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Folder of `NAME.odex` and `NAME.json`.
    pub models_dir: PathBuf,
    /// Report folder of this run (`None`: no report).
    pub report_dir: Option<PathBuf>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The loaded series.
    pub series: Series,
    /// The dataset.
    pub dataset: Dataset,
    /// The fitted model.
    pub fitted: Fitted,
    /// The model file written.
    pub model_path: PathBuf,
    /// The card written.
    pub card_path: PathBuf,
}

/// Loads the data a config names.
///
/// # Errors
/// [`RunError::NoData`] or [`RunError::Data`].
pub fn load_data(cfg: &Config) -> Result<Series, RunError> {
    if cfg.data.paths.is_empty() {
        return Err(RunError::NoData);
    }
    Ok(data::load(&cfg.data.paths)?)
}

/// Fits on already loaded data and writes the model, card and report.
///
/// # Errors
/// [`RunError`] naming the stage that failed.
pub fn run_on(
    series: Series,
    cfg: &Config,
    out: &Outputs,
    on_epoch: Option<&mut dyn FnMut(&EpochLog)>,
) -> Result<RunResult, RunError> {
    let dataset = Dataset::build(&series, cfg)?;
    let fitted = fit::fit(&dataset, cfg, Hooks { on_epoch, checkpoint_dir: out.report_dir.clone() })?;
    let (model_path, card_path) = export::write(&out.models_dir, &fitted, &dataset, &series, cfg)?;
    if let Some(dir) = &out.report_dir {
        report::write_report(dir, &fitted, &dataset, cfg)?;
    }
    Ok(RunResult { series, dataset, fitted, model_path, card_path })
}

/// Loads the config's data, then [`run_on`].
///
/// # Errors
/// [`RunError`] naming the stage that failed.
pub fn run(cfg: &Config, out: &Outputs, on_epoch: Option<&mut dyn FnMut(&EpochLog)>) -> Result<RunResult, RunError> {
    let series = load_data(cfg)?;
    run_on(series, cfg, out, on_epoch)
}

/// The default report folder of a model: `reports/NAME`.
pub fn default_report_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}
