//! The objective
//! `J = prediction + l_risk Var(PnL) - l_ret Mean(PnL) + l_tc turnover + l_reg |theta_nn|^2`.
//!
//! - prediction: the mean squared error of the rollout against the observed
//!   states (normalised units), or the Gaussian negative log-likelihood of
//!   the observed states under the rollout mean and the accumulated
//!   diffusion variance;
//! - PnL: each window's position is `odex_shared::sizing::target_fraction`
//!   of the model's signal at the window start, written with tch operations
//!   (differentiable almost everywhere: the clamp and the dead band have
//!   kinks), times the realised log return over the horizon;
//! - turnover: mean `|w_t - w_{t-1}|` over consecutive windows.

use odex_shared::model::DiffusionKind;
use odex_shared::sizing::SizingParams;
use tch::{Device, Kind, Tensor};

use crate::config::{LossConfig, PredictionLoss};
use crate::dataset::Windows;
use crate::model::HybridNet;

/// One part's windows as tensors on the training device.
#[derive(Debug)]
pub struct Batch {
    /// `[N, horizon + 1, dim]` normalised states.
    pub states: Tensor,
    /// `[N]` realised log return over the horizon.
    pub realised: Tensor,
    /// `[N]` EWMA return variance per observation at the window start.
    pub ewma_variance: Tensor,
}

impl Batch {
    /// Uploads windows of `horizon + 1` states of `dim` features.
    pub fn new(w: &Windows, horizon: usize, dim: usize, device: Device) -> Self {
        let n = w.len() as i64;
        let states = Tensor::from_slice(&w.states).reshape([n, horizon as i64 + 1, dim as i64]).to_device(device);
        Self {
            states,
            realised: Tensor::from_slice(&w.realised).to_device(device),
            ewma_variance: Tensor::from_slice(&w.ewma_variance).to_device(device),
        }
    }

    /// Number of windows.
    pub fn len(&self) -> i64 {
        self.states.size()[0]
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the objective needs besides the model and the data.
#[derive(Debug, Clone)]
pub struct Objective {
    /// Loss weights and prediction loss.
    pub loss: LossConfig,
    /// Sizing rule of the PnL terms.
    pub sizing: SizingParams,
    /// Feature whose change is the predicted return.
    pub return_dim: usize,
    /// Its normalisation standard deviation.
    pub return_std: f64,
    /// Observations per window minus one.
    pub horizon: usize,
}

/// The objective's terms for one batch (scalars, differentiable).
#[derive(Debug)]
pub struct Terms {
    /// `J`.
    pub total: Tensor,
    /// Rollout MSE (always computed, for reports).
    pub mse: Tensor,
    /// Gaussian NLL per value (when the model has a diffusion).
    pub nll: Option<Tensor>,
    /// Per-window PnL `[N]`.
    pub pnl: Tensor,
    /// Per-window position `[N]`.
    pub position: Tensor,
    /// Per-window predicted log return `[N]`.
    pub predicted_return: Tensor,
    /// Mean |position change|.
    pub turnover: Tensor,
    /// `|theta_nn|^2`.
    pub reg: Tensor,
    /// Rollout means `[N, horizon, dim]`.
    pub means: Tensor,
}

/// `odex_shared::sizing::target_fraction` on tensors.
pub fn target_fraction(mu: &Tensor, var: &Tensor, p: &SizingParams) -> Tensor {
    let usable = var.gt(0.0).logical_and(&mu.abs().ge(p.min_edge));
    let safe_var = var.where_self(&var.gt(0.0), &var.ones_like());
    let kelly = mu * p.kelly_fraction / &safe_var;
    let cap = (safe_var.sqrt().reciprocal() * p.vol_target).clamp_max(p.max_leverage);
    let w = kelly.minimum(&cap).maximum(&(-&cap));
    w.where_self(&usable, &w.zeros_like())
}

impl Objective {
    /// Evaluates every term of `J` on `batch`.
    pub fn terms(&self, net: &HybridNet, batch: &Batch) -> Terms {
        let h = self.horizon as i64;
        let x0 = batch.states.select(1, 0);
        let actual = batch.states.narrow(1, 1, h);
        let (means, vars) = net.rollout(&x0, self.horizon);
        let err = &means - &actual;
        let mse = err.square().mean(Kind::Double);
        let nll = vars.as_ref().map(|v| {
            let v = v.clamp_min(1e-12);
            ((v.log() + err.square() / &v) * 0.5).mean(Kind::Double) + 0.5 * (2.0 * std::f64::consts::PI).ln()
        });
        let rd = self.return_dim as i64;
        let end = means.select(1, h - 1).select(1, rd);
        let predicted_return = (end - x0.select(1, rd)) * self.return_std;
        let horizon_f = net.arch().dt() * (self.horizon as f64 * f64::from(net.arch().substeps));
        let variance = match (net.arch().diffusion, &vars) {
            (DiffusionKind::None, _) | (_, None) => &batch.ewma_variance * horizon_f,
            (_, Some(v)) => v.select(1, h - 1).select(1, rd) * (self.return_std * self.return_std),
        };
        let position = target_fraction(&predicted_return, &variance, &self.sizing);
        let pnl = &position * &batch.realised;
        let n = position.size()[0];
        let turnover = if n > 1 {
            (position.narrow(0, 1, n - 1) - position.narrow(0, 0, n - 1)).abs().mean(Kind::Double)
        } else {
            Tensor::zeros([], (Kind::Double, position.device()))
        };
        let reg = net.network_norm2();
        let l = &self.loss;
        let prediction = match (l.prediction, &nll) {
            (PredictionLoss::Nll, Some(nll)) => nll.shallow_clone(),
            _ => mse.shallow_clone(),
        };
        // Summed out of place: `+=` on a tensor is in place and `prediction`
        // shares storage with `mse` or `nll`.
        let mut parts = vec![prediction];
        if l.l_risk != 0.0 {
            parts.push(pnl.var(false) * l.l_risk);
        }
        if l.l_ret != 0.0 {
            parts.push(pnl.mean(Kind::Double) * (-l.l_ret));
        }
        if l.l_tc != 0.0 {
            parts.push(&turnover * l.l_tc);
        }
        if l.l_reg != 0.0 {
            parts.push(&reg * l.l_reg);
        }
        let total = Tensor::stack(&parts, 0).sum(Kind::Double);
        Terms { total, mse, nll, pnl, position, predicted_return, turnover, reg, means }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odex_shared::sizing::{self, Signal};

    #[test]
    fn sizing_matches_shared() {
        let p = SizingParams { kelly_fraction: 0.5, vol_target: 0.02, max_leverage: 2.0, min_edge: 1e-4 };
        let mut mus = Vec::new();
        let mut vars = Vec::new();
        for i in -20..=20 {
            for v in [0.0, 1e-8, 1e-6, 1e-4, 1e-2] {
                mus.push(f64::from(i) * 5e-5);
                vars.push(v);
            }
        }
        let w: Vec<f64> =
            Vec::try_from(&target_fraction(&Tensor::from_slice(&mus), &Tensor::from_slice(&vars), &p)).unwrap();
        for ((m, v), w) in mus.iter().zip(&vars).zip(&w) {
            let want = sizing::target_fraction(&Signal { expected_return: *m, variance: *v }, &p);
            assert!((w - want).abs() <= 1e-15 * want.abs().max(1.0), "mu {m} var {v}: {w} vs {want}");
        }
    }
}
