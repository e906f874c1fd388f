//! Fitting: warm start, full-batch Adam with a learning-rate schedule and
//! gradient clipping, early stopping on the validation objective,
//! checkpoints, and the per-part metrics.
//!
//! A fit is a pure function of (dataset, config): LibTorch's generator is
//! seeded with `train.seed` before any variable is created, CPU runs use
//! `train.threads` threads (1 by default, which makes them bit-reproducible),
//! and CUDA is used when `train.device` is "auto" and LibTorch sees a GPU.

use std::path::PathBuf;

use odex_shared::model::Physics;
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

use crate::config::{Config, DeviceChoice, PhysicsKind, Schedule};
use crate::dataset::{Dataset, PART_NAMES};
use crate::loss::{Batch, Objective};
use crate::model::{Architecture, HybridNet};

/// Why a fit failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// LibTorch refused an operation.
    #[error("LibTorch: {0}")]
    Torch(#[from] tch::TchError),
    /// `train.device = "cuda"` but LibTorch sees no GPU.
    #[error("train.device is \"cuda\" but LibTorch sees no CUDA device")]
    NoCuda,
    /// A checkpoint folder could not be created.
    #[error("{}: {source}", path.display())]
    Checkpoint {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The objective became NaN or infinite.
    #[error("the objective is not finite at epoch {epoch} (try a smaller train.lr or stronger clipping)")]
    NotFinite {
        /// The epoch.
        epoch: u32,
    },
}

/// One epoch's numbers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EpochLog {
    /// 1-based epoch.
    pub epoch: u32,
    /// Learning rate used.
    pub lr: f64,
    /// Training objective before the step.
    pub train: f64,
    /// Validation objective (the training one when there is no validation part).
    pub validation: f64,
}

/// Metrics of one part with the fitted model.
#[derive(Debug, Clone, Serialize)]
pub struct PartMetrics {
    /// "train", "validation" or "test".
    pub part: &'static str,
    /// Windows evaluated.
    pub windows: i64,
    /// The objective J.
    pub objective: f64,
    /// Rollout mean squared error (normalised units).
    pub mse: f64,
    /// Gaussian NLL per value (with a diffusion).
    pub nll: Option<f64>,
    /// Mean per-window PnL (log-return units).
    pub pnl_mean: f64,
    /// Standard deviation of the per-window PnL.
    pub pnl_std: f64,
    /// Mean |position change| between consecutive windows.
    pub turnover: f64,
    /// Fraction of windows whose predicted return has the sign of the realised one.
    pub hit_rate: f64,
    /// Correlation of predicted and realised returns.
    pub correlation: f64,
}

/// A fitted model and its history.
#[derive(Debug)]
pub struct Fitted {
    /// The model, at its best validation epoch.
    pub net: HybridNet,
    /// Per-epoch losses.
    pub history: Vec<EpochLog>,
    /// Epoch whose variables were kept.
    pub best_epoch: u32,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// Metrics of the train, validation and test parts (empty parts omitted).
    pub metrics: Vec<PartMetrics>,
    /// Physics parameters after the warm start, before training.
    pub warm_start: Vec<Physics>,
    /// Device used ("cpu" or "cuda").
    pub device: String,
}

/// Hooks a fit reports to (progress output, checkpoints).
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called after each epoch.
    pub on_epoch: Option<&'a mut dyn FnMut(&EpochLog)>,
    /// Folder for checkpoints (when `train.checkpoint_every > 0`).
    pub checkpoint_dir: Option<PathBuf>,
}

/// The device a config asks for.
///
/// # Errors
/// [`FitError::NoCuda`] when CUDA is required but absent.
pub fn device(choice: DeviceChoice) -> Result<Device, FitError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(FitError::NoCuda),
    }
}

/// Per-dimension standard deviation of the one-interval state changes in
/// the training windows: the natural size of drifts and diffusions.
pub fn step_scales(dataset: &Dataset) -> Vec<f64> {
    let w = &dataset.windows[0];
    let dim = dataset.dim();
    let stride = (dataset.horizon + 1) * dim;
    (0..dim)
        .map(|d| {
            let steps: Vec<f64> = w.states.chunks_exact(stride).map(|s| s[dim + d] - s[d]).collect();
            let n = steps.len().max(1) as f64;
            let m = steps.iter().sum::<f64>() / n;
            let sd = (steps.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt();
            if sd > 1e-12 && sd.is_finite() { sd } else { 1.0 }
        })
        .collect()
}

/// Least-squares AR(1) estimates of each dimension's physics from the
/// one-interval transitions of the training windows (nalgebra normal
/// equations). `sigma` follows the Euler-Maruyama convention the runtime
/// uses: the per-interval residual standard deviation.
pub fn warm_start(dataset: &Dataset, kinds: &[PhysicsKind]) -> Vec<Physics> {
    let w = &dataset.windows[0];
    let dim = dataset.dim();
    let stride = (dataset.horizon + 1) * dim;
    kinds
        .iter()
        .enumerate()
        .map(|(d, kind)| {
            let pairs = w.states.chunks_exact(stride).map(|s| (s[d], s[dim + d]));
            ar1(pairs).map_or(Physics::None, |fit| physics_from_ar1(*kind, &fit))
        })
        .collect()
}

/// An AR(1) least-squares fit `y = a + b x + e`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ar1 {
    /// Intercept.
    pub a: f64,
    /// Slope.
    pub b: f64,
    /// Residual variance (maximum likelihood: divided by n).
    pub resid_var: f64,
    /// Mean of `y - x`.
    pub mean_step: f64,
    /// Variance of `y - x` (divided by n).
    pub step_var: f64,
}

/// Fits `y = a + b x` by least squares with nalgebra; `None` for fewer than
/// three pairs or a singular design.
pub fn ar1(pairs: impl Iterator<Item = (f64, f64)>) -> Option<Ar1> {
    let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut v = Vec::new();
    for (x, y) in pairs {
        n += 1.0;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
        v.push((x, y));
    }
    if n < 3.0 {
        return None;
    }
    let m = nalgebra::Matrix2::new(n, sx, sx, sxx);
    let coef = m.lu().solve(&nalgebra::Vector2::new(sy, sxy))?;
    let (a, b) = (coef[0], coef[1]);
    let resid_var = v.iter().map(|(x, y)| (y - a - b * x).powi(2)).sum::<f64>() / n;
    let mean_step = v.iter().map(|(x, y)| y - x).sum::<f64>() / n;
    let step_var = v.iter().map(|(x, y)| (y - x - mean_step).powi(2)).sum::<f64>() / n;
    Some(Ar1 { a, b, resid_var, mean_step, step_var })
}

/// Continuous-time physics from an AR(1) fit over one interval.
pub fn physics_from_ar1(kind: PhysicsKind, f: &Ar1) -> Physics {
    let reverting = || {
        // kappa at most 1 per observation: a feature with little or negative
        // autocorrelation (b <= e^-1) starts as "reverts within about one
        // interval", which RK4 and Euler integrate stably at dt <= 1.
        let b = f.b.clamp((-1.0f64).exp(), 1.0 - 1e-6);
        let kappa = -b.ln();
        let level = if (1.0 - f.b).abs() > 1e-9 { f.a / (1.0 - f.b) } else { 0.0 };
        (kappa, level, f.resid_var.sqrt())
    };
    match kind {
        PhysicsKind::None => Physics::None,
        PhysicsKind::Ou => {
            let (kappa, mu, sigma) = reverting();
            Physics::OrnsteinUhlenbeck { kappa, mu, sigma }
        }
        PhysicsKind::Vol => {
            let (kappa, theta, xi) = reverting();
            Physics::VolatilityReversion { kappa, theta, xi }
        }
        PhysicsKind::Gbm => Physics::GbmDrift { mu: f.mean_step, sigma: f.step_var.sqrt() },
    }
}

fn learning_rate(t: &crate::config::TrainConfig, epoch: u32) -> f64 {
    match t.schedule {
        Schedule::Constant => t.lr,
        Schedule::Cosine => {
            let progress = f64::from(epoch) / f64::from(t.epochs.max(1));
            t.lr_min + 0.5 * (t.lr - t.lr_min) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        Schedule::Step => t.lr * t.step_gamma.powi((epoch / t.step_every.max(1)) as i32),
    }
}

/// The objective a config and dataset define.
pub fn objective(dataset: &Dataset, cfg: &Config) -> Objective {
    let rd = usize::from(cfg.model.return_dim);
    Objective {
        loss: cfg.loss.clone(),
        sizing: cfg.sizing.params(),
        return_dim: rd,
        return_std: dataset.spec.std.get(rd).copied().unwrap_or(1.0),
        horizon: dataset.horizon,
    }
}

/// Fits the model a config describes on a dataset.
///
/// # Errors
/// [`FitError`] when LibTorch fails, CUDA is missing or the loss diverges.
pub fn fit(dataset: &Dataset, cfg: &Config, mut hooks: Hooks<'_>) -> Result<Fitted, FitError> {
    let t = &cfg.train;
    let dev = device(t.device)?;
    if dev == Device::Cpu {
        tch::set_num_threads(t.threads as i32);
    }
    tch::manual_seed(t.seed as i64);
    let arch = Architecture::from_config(cfg);
    let mut net = HybridNet::new(&arch, dev, &step_scales(dataset));
    let warm = if cfg.model.warm_start { warm_start(dataset, &arch.physics) } else { Vec::new() };
    for (i, p) in warm.iter().enumerate() {
        net.set_physics(i, *p);
    }
    let warm_physics = net.physics();
    let obj = objective(dataset, cfg);
    let dim = dataset.dim();
    let batches: Vec<Batch> = dataset.windows.iter().map(|w| Batch::new(w, dataset.horizon, dim, dev)).collect();
    let val_index = if batches[1].is_empty() { 0 } else { 1 };

    let mut opt = nn::Adam::default().build(&net.vs, t.lr)?;
    let mut history = Vec::with_capacity(t.epochs as usize);
    let mut best = (f64::INFINITY, 0u32, net.snapshot());
    let mut stopped_early = false;
    for epoch in 1..=t.epochs {
        let lr = learning_rate(t, epoch - 1);
        opt.set_lr(lr);
        let terms = obj.terms(&net, &batches[0]);
        let train = terms.total.double_value(&[]);
        if !train.is_finite() {
            return Err(FitError::NotFinite { epoch });
        }
        opt.zero_grad();
        terms.total.backward();
        if t.clip_grad_norm > 0.0 {
            opt.clip_grad_norm(t.clip_grad_norm);
        }
        opt.step();
        let validation = tch::no_grad(|| obj.terms(&net, &batches[val_index]).total.double_value(&[]));
        let log = EpochLog { epoch, lr, train, validation };
        if let Some(f) = hooks.on_epoch.as_mut() {
            f(&log);
        }
        history.push(log);
        if validation < best.0 {
            best = (validation, epoch, net.snapshot());
        } else if t.patience > 0 && epoch - best.1 >= t.patience {
            stopped_early = true;
            break;
        }
        if let Some(dir) = &hooks.checkpoint_dir
            && t.checkpoint_every > 0
            && epoch % t.checkpoint_every == 0
        {
            std::fs::create_dir_all(dir).map_err(|source| FitError::Checkpoint { path: dir.clone(), source })?;
            net.vs.save(dir.join(format!("checkpoint-{epoch:05}.safetensors")))?;
        }
    }
    net.restore(&best.2);
    let metrics = batches
        .iter()
        .zip(PART_NAMES)
        .filter(|(b, _)| !b.is_empty())
        .map(|(b, part)| tch::no_grad(|| part_metrics(&obj, &net, b, part)))
        .collect();
    let device = if dev == Device::Cpu { "cpu" } else { "cuda" }.to_string();
    Ok(Fitted { net, history, best_epoch: best.1, stopped_early, metrics, warm_start: warm_physics, device })
}

/// Metrics of one part.
pub fn part_metrics(obj: &Objective, net: &HybridNet, b: &Batch, part: &'static str) -> PartMetrics {
    let terms = obj.terms(net, b);
    let v = |t: &Tensor| t.double_value(&[]);
    let pred = &terms.predicted_return;
    let real = &b.realised;
    let hits = pred.sign().eq_tensor(&real.sign()).to_kind(Kind::Double).mean(Kind::Double);
    let pc = pred - pred.mean(Kind::Double);
    let rc = real - real.mean(Kind::Double);
    let denom = (pc.square().sum(Kind::Double) * rc.square().sum(Kind::Double)).sqrt();
    let corr = v(&((&pc * &rc).sum(Kind::Double) / denom));
    PartMetrics {
        part,
        windows: b.len(),
        objective: v(&terms.total),
        mse: v(&terms.mse),
        nll: terms.nll.as_ref().map(v),
        pnl_mean: v(&terms.pnl.mean(Kind::Double)),
        pnl_std: v(&terms.pnl.std(false)),
        turnover: v(&terms.turnover),
        hit_rate: v(&hits),
        correlation: if corr.is_finite() { corr } else { 0.0 },
    }
}
