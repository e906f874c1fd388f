//! Export: `NAME.odex` through `odex_shared::model_file::encode`, and the
//! model card `NAME.json` (data hash, config, seed, metrics, physics).

use std::path::{Path, PathBuf};

use odex_shared::features::FeatureSpec;
use odex_shared::model::Physics;
use odex_shared::model_file::{self, MAX_FILE_LEN, ModelFile, ModelSpec};
use serde_json::{Value, json};
use sha2::Digest;

use crate::config::Config;
use crate::data::Series;
use crate::dataset::Dataset;
use crate::fit::Fitted;
use crate::model::HybridNet;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The model does not fit the file format (name too long, too many weights, ...).
    #[error("model does not fit the model file: {0}")]
    Format(String),
    /// Writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Builds the model file of a trained net.
///
/// # Errors
/// [`ExportError::Format`] when a part does not fit the format's bounds.
pub fn model_file(net: &HybridNet, features: &FeatureSpec, cfg: &Config) -> Result<ModelFile, ExportError> {
    let fmt = |what: &str| ExportError::Format(what.to_string());
    let arch = net.arch();
    let spec = ModelSpec {
        name: heapless::String::try_from(cfg.model.name.as_str())
            .map_err(|_| fmt("model.name longer than 32 bytes"))?,
        features: features.clone(),
        physics: heapless::Vec::from_slice(&net.physics()).map_err(|_| fmt("too many physics terms"))?,
        hidden: heapless::Vec::from_slice(&arch.hidden).map_err(|_| fmt("too many hidden layers"))?,
        activation: arch.activation,
        diffusion: arch.diffusion,
        method: arch.method,
        dt: arch.dt(),
        horizon_steps: cfg.model.horizon * arch.substeps,
        return_dim: cfg.model.return_dim,
        sizing: cfg.sizing.params(),
    };
    let weights = heapless::Vec::from_slice(&net.weights()).map_err(|_| fmt("too many weights"))?;
    let file = ModelFile { spec, weights };
    file.spec.validate(file.weights.len()).map_err(|e| ExportError::Format(e.to_string()))?;
    Ok(file)
}

/// Encodes a model file to bytes.
///
/// # Errors
/// [`ExportError::Format`] if `odex_shared` refuses it.
pub fn encode(file: &ModelFile) -> Result<Vec<u8>, ExportError> {
    let mut buf = vec![0u8; MAX_FILE_LEN];
    let n = model_file::encode(file, &mut buf).map_err(|e| ExportError::Format(e.to_string()))?;
    buf.truncate(n);
    Ok(buf)
}

/// A physics term as JSON, in normalised units and in the feature's raw
/// units (`x_raw = mean + std * x`).
pub fn physics_json(p: &Physics, mean: f64, std: f64) -> Value {
    match *p {
        Physics::None => json!({"kind": "none"}),
        Physics::OrnsteinUhlenbeck { kappa, mu, sigma } => json!({
            "kind": "ornstein_uhlenbeck",
            "normalised": {"kappa": kappa, "mu": mu, "sigma": sigma},
            "raw_units": {"kappa": kappa, "mu": mean + std * mu, "sigma": std * sigma},
        }),
        Physics::GbmDrift { mu, sigma } => json!({
            "kind": "gbm_drift",
            "normalised": {"mu": mu, "sigma": sigma},
            "raw_units": {"mu": std * mu, "sigma": std * sigma},
        }),
        Physics::VolatilityReversion { kappa, theta, xi } => json!({
            "kind": "volatility_reversion",
            "normalised": {"kappa": kappa, "theta": theta, "xi": xi},
            "raw_units": {"kappa": kappa, "theta": mean + std * theta, "xi": std * xi},
        }),
    }
}

/// The model card.
pub fn card(
    file: &ModelFile,
    fitted: &Fitted,
    dataset: &Dataset,
    series: &Series,
    cfg: &Config,
    odex_bytes: &[u8],
) -> Value {
    let f = &file.spec.features;
    let physics: Vec<Value> = file
        .spec
        .physics
        .iter()
        .zip(f.kinds.iter())
        .enumerate()
        .map(|(i, (p, kind))| {
            let mut v = physics_json(p, f.mean[i], f.std[i]);
            v["feature"] = json!(format!("{kind:?}"));
            v
        })
        .collect();
    let warm: Vec<Value> =
        fitted.warm_start.iter().enumerate().map(|(i, p)| physics_json(p, f.mean[i], f.std[i])).collect();
    let mut h = sha2::Sha256::new();
    h.update(odex_bytes);
    json!({
        "name": cfg.model.name,
        "model_file": {
            "format_version": model_file::FORMAT_VERSION,
            "bytes": odex_bytes.len(),
            "sha256": crate::data::hex(&h.finalize()),
            "weights": file.weights.len(),
        },
        "data": {
            "files": series.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "sha256": series.sha256,
            "bars": series.rows.len(),
            "interval_ms": series.interval_ms,
            "first_open_ms": series.rows.first().map(|r| r.bar.open_time_ms),
            "last_open_ms": series.rows.last().map(|r| r.bar.open_time_ms),
            "gaps": series.gaps,
            "duplicates_dropped": series.duplicates,
            "parts": dataset.parts.iter().map(|r| json!({"from": r.start, "to": r.end})).collect::<Vec<_>>(),
            "windows": dataset.windows.iter().map(|w| w.len()).collect::<Vec<_>>(),
        },
        "features": {
            "kinds": f.kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>(),
            "mean": f.mean.as_slice(),
            "std": f.std.as_slice(),
            "level_alpha": f.level_alpha,
            "variance_alpha": f.variance_alpha,
            "warmup": f.warmup,
        },
        "physics": physics,
        "physics_warm_start": warm,
        "seed": cfg.train.seed,
        "device": fitted.device,
        "epochs_run": fitted.history.len(),
        "best_epoch": fitted.best_epoch,
        "stopped_early": fitted.stopped_early,
        "metrics": fitted.metrics,
        "config": cfg,
    })
}

/// Writes `NAME.odex` and `NAME.json` into `dir`; returns their paths.
///
/// # Errors
/// [`ExportError`] if the model does not fit the format or a write fails.
pub fn write(
    dir: &Path,
    fitted: &Fitted,
    dataset: &Dataset,
    series: &Series,
    cfg: &Config,
) -> Result<(PathBuf, PathBuf), ExportError> {
    let file = model_file(&fitted.net, &dataset.spec, cfg)?;
    let bytes = encode(&file)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let odex = dir.join(format!("{}.odex", cfg.model.name));
    let json_path = dir.join(format!("{}.json", cfg.model.name));
    std::fs::write(&odex, &bytes).map_err(io(&odex))?;
    let card = card(&file, fitted, dataset, series, cfg, &bytes);
    let text = serde_json::to_string_pretty(&card).unwrap_or_default() + "\n";
    std::fs::write(&json_path, text).map_err(io(&json_path))?;
    Ok((odex, json_path))
}
