//! The training configuration: a TOML file, parsed in two stages.
//!
//! [`Config::from_toml`] parses (unknown keys are refused and named) and
//! then [`Config::validate`] collects every out-of-range value with its key,
//! so one run reports all mistakes at once. Every key has a default, so an
//! empty file is a valid configuration. `odex-train fit --print-config`
//! prints the defaults with a comment per key (see [`DOCUMENTED_DEFAULTS`]).

use std::path::PathBuf;

use odex_shared::features::FeatureKind;
use odex_shared::sizing::SizingParams;
use serde::{Deserialize, Serialize};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (it names the key, line and column).
        message: String,
    },
    /// Values out of range, each as `key: problem (value)`.
    #[error("{path}: invalid configuration:\n  {}", problems.join("\n  "))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Input data.
    pub data: DataConfig,
    /// State features.
    pub features: FeaturesConfig,
    /// The hybrid model.
    pub model: ModelConfig,
    /// Time-ordered split.
    pub split: SplitConfig,
    /// Loss weights.
    pub loss: LossConfig,
    /// Sizing rule used for the PnL terms and exported with the model.
    pub sizing: SizingConfig,
    /// Optimiser and schedule.
    pub train: TrainConfig,
    /// Hyper-parameter search (`odex-train sweep`).
    pub sweep: SweepConfig,
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Files (`.csv`, `.zip`) or directories, read in order.
    pub paths: Vec<PathBuf>,
}

/// `[features]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    /// State vector, e.g. `["EwmaDeviation", "LogReturn", "EwmaVolatility", "Imbalance"]`.
    pub kinds: Vec<FeatureKind>,
    /// EWMA weight of the newest log price in the level, in (0, 1].
    pub level_alpha: f64,
    /// EWMA weight of the newest squared return in the variance, in (0, 1].
    pub variance_alpha: f64,
    /// Observations before the state is used (>= 2).
    pub warmup: u32,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            kinds: vec![
                FeatureKind::EwmaDeviation,
                FeatureKind::LogReturn,
                FeatureKind::EwmaVolatility,
                FeatureKind::Imbalance,
            ],
            level_alpha: 0.05,
            variance_alpha: 0.05,
            warmup: 20,
        }
    }
}

/// The physics prior of one state dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhysicsKind {
    /// No prior.
    None,
    /// Ornstein-Uhlenbeck mean reversion.
    Ou,
    /// GBM drift (constant drift in log price).
    Gbm,
    /// Volatility mean reversion.
    Vol,
}

/// Hidden activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationKind {
    /// tanh.
    Tanh,
    /// The clamped [3/2] Pade approximant of tanh (bit-identical in the runtime).
    PadeTanh,
}

/// Diffusion mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffusionChoice {
    /// No diffusion (the runtime sizes with the EWMA variance).
    None,
    /// The physics terms' constant sigma.
    Physics,
    /// Neural diagonal diffusion (neural SDE mode).
    Neural,
}

/// Integrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodChoice {
    /// Explicit Euler.
    Euler,
    /// Classic RK4.
    Rk4,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Model name (file stem of the export, at most 32 bytes).
    pub name: String,
    /// One physics prior per feature: "none", "ou", "gbm" or "vol".
    pub physics: Vec<PhysicsKind>,
    /// Hidden layer widths of the MLP residual (empty: physics only; at most 3 layers of 64).
    pub hidden: Vec<u16>,
    /// "tanh" or "pade_tanh".
    pub activation: ActivationKind,
    /// "none", "physics" or "neural".
    pub diffusion: DiffusionChoice,
    /// "euler" or "rk4".
    pub method: MethodChoice,
    /// Integrator steps per observation interval (dt = 1 / substeps).
    pub substeps: u32,
    /// Forecast horizon and training rollout length, in observations.
    pub horizon: u32,
    /// Index of the feature whose change over the horizon is the predicted log return.
    pub return_dim: u8,
    /// Start the physics parameters at their least-squares AR(1) estimates.
    pub warm_start: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: "model".to_string(),
            physics: vec![PhysicsKind::Ou, PhysicsKind::Ou, PhysicsKind::Vol, PhysicsKind::Ou],
            hidden: vec![32, 32],
            activation: ActivationKind::PadeTanh,
            diffusion: DiffusionChoice::None,
            method: MethodChoice::Rk4,
            substeps: 1,
            horizon: 5,
            return_dim: 0,
            warm_start: true,
        }
    }
}

/// `[split]`: fractions of the observations, in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// First part: training (also the normalisation statistics).
    pub train: f64,
    /// Next part: validation (early stopping, sweep ranking). The rest is the test part.
    pub validation: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { train: 0.7, validation: 0.15 }
    }
}

/// Prediction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionLoss {
    /// Mean squared rollout error (normalised units).
    Mse,
    /// Gaussian negative log-likelihood with the model's diffusion variance.
    Nll,
}

/// `[loss]`: `J = prediction + l_risk Var(PnL) - l_ret Mean(PnL) + l_tc turnover + l_reg |theta_nn|^2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// "mse" or "nll" (nll needs a diffusion).
    pub prediction: PredictionLoss,
    /// Weight of the PnL variance.
    pub l_risk: f64,
    /// Weight of the mean PnL (rewarded).
    pub l_ret: f64,
    /// Weight of the mean absolute position change between consecutive windows.
    pub l_tc: f64,
    /// Weight of the squared norm of the network's weights.
    pub l_reg: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self { prediction: PredictionLoss::Mse, l_risk: 0.0, l_ret: 0.0, l_tc: 0.0, l_reg: 1e-6 }
    }
}

/// `[sizing]`: as `odex_shared::sizing::SizingParams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizingConfig {
    /// Fraction of the Kelly bet, in (0, 1].
    pub kelly_fraction: f64,
    /// Largest return standard deviation of the position per horizon, > 0.
    pub vol_target: f64,
    /// Largest |notional| / equity, > 0.
    pub max_leverage: f64,
    /// Dead band on the expected return, >= 0.
    pub min_edge: f64,
}

impl Default for SizingConfig {
    fn default() -> Self {
        let d = SizingParams::default();
        Self {
            kelly_fraction: d.kelly_fraction,
            vol_target: d.vol_target,
            max_leverage: d.max_leverage,
            min_edge: d.min_edge,
        }
    }
}

impl SizingConfig {
    /// As the shared type.
    pub fn params(&self) -> SizingParams {
        SizingParams {
            kelly_fraction: self.kelly_fraction,
            vol_target: self.vol_target,
            max_leverage: self.max_leverage,
            min_edge: self.min_edge,
        }
    }
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Constant `lr`.
    Constant,
    /// Cosine from `lr` to `lr_min` over the epochs.
    Cosine,
    /// `lr * step_gamma^(epoch / step_every)`.
    Step,
}

/// Compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA when LibTorch sees a GPU, else CPU.
    Auto,
    /// CPU (deterministic).
    Cpu,
    /// CUDA device 0.
    Cuda,
}

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Full-batch Adam epochs.
    pub epochs: u32,
    /// Peak learning rate.
    pub lr: f64,
    /// "constant", "cosine" or "step".
    pub schedule: Schedule,
    /// Final learning rate of the cosine schedule.
    pub lr_min: f64,
    /// Epochs between decays of the step schedule.
    pub step_every: u32,
    /// Decay factor of the step schedule.
    pub step_gamma: f64,
    /// Largest gradient norm (0: no clipping).
    pub clip_grad_norm: f64,
    /// Epochs without validation improvement before stopping (0: never stop early).
    pub patience: u32,
    /// Epochs between checkpoints written to the report folder (0: none).
    pub checkpoint_every: u32,
    /// Seed of LibTorch's generator (initial weights).
    pub seed: u64,
    /// CPU threads for LibTorch (1 makes CPU runs bit-reproducible).
    pub threads: u32,
    /// "auto", "cpu" or "cuda".
    pub device: DeviceChoice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 300,
            lr: 1e-2,
            schedule: Schedule::Cosine,
            lr_min: 1e-4,
            step_every: 100,
            step_gamma: 0.5,
            clip_grad_norm: 1.0,
            patience: 50,
            checkpoint_every: 0,
            seed: 42,
            threads: 1,
            device: DeviceChoice::Auto,
        }
    }
}

/// Search strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    /// Every combination of the lists.
    Grid,
    /// `trials` draws, log-uniform between each list's smallest and largest positive value.
    Random,
}

/// `[sweep]`: each list is the values one key takes; an empty list keeps the `[train]`/`[loss]` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepConfig {
    /// "grid" or "random".
    pub mode: SweepMode,
    /// Number of random trials.
    pub trials: u32,
    /// Seed of the random search.
    pub seed: u64,
    /// Values of `train.lr`.
    pub lr: Vec<f64>,
    /// Values of `loss.l_reg`.
    pub l_reg: Vec<f64>,
    /// Values of `loss.l_risk`.
    pub l_risk: Vec<f64>,
    /// Values of `loss.l_ret`.
    pub l_ret: Vec<f64>,
    /// Values of `loss.l_tc`.
    pub l_tc: Vec<f64>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            mode: SweepMode::Grid,
            trials: 8,
            seed: 1,
            lr: vec![3e-3, 1e-2],
            l_reg: vec![1e-6, 1e-4],
            l_risk: Vec::new(),
            l_ret: Vec::new(),
            l_tc: Vec::new(),
        }
    }
}

/// The defaults, one comment per key: what `--print-config` shows.
pub const DOCUMENTED_DEFAULTS: &str = include_str!("../config/default.toml");

impl Config {
    /// Parses TOML text (stage one: syntax, key names, types).
    ///
    /// # Errors
    /// [`ConfigError::Parse`] naming the key, line and column.
    pub fn from_toml(path: &str, text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_string(), message: e.to_string() })
    }

    /// Reads and validates a file.
    ///
    /// # Errors
    /// [`ConfigError`] for an unreadable, unparsable or invalid file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: p.clone(), source })?;
        let cfg = Self::from_toml(&p, &text)?;
        cfg.validate(&p)?;
        Ok(cfg)
    }

    /// Stage two: every range violation, each named by its key.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing all problems.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        let mut check = |ok: bool, key: &str, why: &str, value: String| {
            if !ok {
                p.push(format!("{key}: {why} (found {value})"));
            }
        };
        let f = &self.features;
        let dim = f.kinds.len();
        check((1..=odex_shared::MAX_STATE).contains(&dim), "features.kinds", "needs 1 to 8 features", dim.to_string());
        let unit = |a: f64| a > 0.0 && a <= 1.0;
        check(unit(f.level_alpha), "features.level_alpha", "must be in (0, 1]", f.level_alpha.to_string());
        check(unit(f.variance_alpha), "features.variance_alpha", "must be in (0, 1]", f.variance_alpha.to_string());
        check(f.warmup >= 2, "features.warmup", "must be at least 2", f.warmup.to_string());
        let m = &self.model;
        check(!m.name.is_empty() && m.name.len() <= 32, "model.name", "needs 1 to 32 bytes", format!("{:?}", m.name));
        check(
            m.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'),
            "model.name",
            "may hold only ASCII letters, digits, '-', '_' and '.'",
            format!("{:?}", m.name),
        );
        check(
            m.physics.len() == dim,
            "model.physics",
            "needs one entry per feature",
            format!("{} entries", m.physics.len()),
        );
        check(m.hidden.len() <= odex_shared::MAX_LAYERS, "model.hidden", "at most 3 layers", format!("{:?}", m.hidden));
        check(
            m.hidden.iter().all(|&h| h >= 1 && usize::from(h) <= odex_shared::MAX_HIDDEN),
            "model.hidden",
            "widths must be 1 to 64",
            format!("{:?}", m.hidden),
        );
        check(m.substeps >= 1, "model.substeps", "must be at least 1", m.substeps.to_string());
        check(m.horizon >= 1, "model.horizon", "must be at least 1", m.horizon.to_string());
        check(usize::from(m.return_dim) < dim, "model.return_dim", "must index a feature", m.return_dim.to_string());
        check(
            !(self.loss.prediction == PredictionLoss::Nll && m.diffusion == DiffusionChoice::None),
            "loss.prediction",
            "\"nll\" needs model.diffusion \"physics\" or \"neural\"",
            "\"nll\"".to_string(),
        );
        let s = &self.split;
        check(s.train > 0.0 && s.train <= 1.0, "split.train", "must be in (0, 1]", s.train.to_string());
        check(
            s.validation >= 0.0 && s.train + s.validation <= 1.0,
            "split.validation",
            "must be >= 0 with train + validation <= 1",
            s.validation.to_string(),
        );
        let l = &self.loss;
        for (key, v) in
            [("loss.l_risk", l.l_risk), ("loss.l_ret", l.l_ret), ("loss.l_tc", l.l_tc), ("loss.l_reg", l.l_reg)]
        {
            check(v >= 0.0 && v.is_finite(), key, "must be finite and >= 0", v.to_string());
        }
        if let Some(field) = self.sizing.params().invalid_field() {
            check(false, &format!("sizing.{field}"), "out of range (see odex_shared::sizing)", "?".to_string());
        }
        let t = &self.train;
        check(t.epochs >= 1, "train.epochs", "must be at least 1", t.epochs.to_string());
        check(t.lr > 0.0 && t.lr.is_finite(), "train.lr", "must be > 0", t.lr.to_string());
        check(t.lr_min >= 0.0 && t.lr_min <= t.lr, "train.lr_min", "must be in [0, lr]", t.lr_min.to_string());
        check(t.step_every >= 1, "train.step_every", "must be at least 1", t.step_every.to_string());
        check(
            t.step_gamma > 0.0 && t.step_gamma <= 1.0,
            "train.step_gamma",
            "must be in (0, 1]",
            t.step_gamma.to_string(),
        );
        check(t.clip_grad_norm >= 0.0, "train.clip_grad_norm", "must be >= 0", t.clip_grad_norm.to_string());
        check(t.threads >= 1, "train.threads", "must be at least 1", t.threads.to_string());
        let w = &self.sweep;
        check(w.trials >= 1, "sweep.trials", "must be at least 1", w.trials.to_string());
        for (key, vs) in [
            ("sweep.lr", &w.lr),
            ("sweep.l_reg", &w.l_reg),
            ("sweep.l_risk", &w.l_risk),
            ("sweep.l_ret", &w.l_ret),
            ("sweep.l_tc", &w.l_tc),
        ] {
            check(
                vs.iter().all(|v| *v >= 0.0 && v.is_finite()),
                key,
                "values must be finite and >= 0",
                format!("{vs:?}"),
            );
        }
        check(w.lr.iter().all(|v| *v > 0.0), "sweep.lr", "values must be > 0", format!("{:?}", w.lr));
        if p.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { path: path.to_string(), problems: p }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_equal_the_built_in_defaults() {
        let cfg = Config::from_toml("default.toml", DOCUMENTED_DEFAULTS).unwrap();
        assert_eq!(cfg, Config::default());
        cfg.validate("default.toml").unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Config::from_toml("c.toml", "[train]\nepochz = 3\n").unwrap_err().to_string();
        assert!(e.contains("epochz") && e.contains("c.toml"), "{e}");
    }

    #[test]
    fn every_violation_is_reported_with_its_key() {
        let cfg = Config::from_toml("c.toml", "[train]\nlr = -1.0\n[model]\nhorizon = 0\n").unwrap();
        let e = cfg.validate("c.toml").unwrap_err().to_string();
        assert!(e.contains("train.lr") && e.contains("model.horizon") && e.contains("-1"), "{e}");
    }
}
