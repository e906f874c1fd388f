//! Observation in, signal out: the features, the model and the sizing rule
//! wired together exactly once, for the trainer's evaluation, the
//! backtester and the live engine alike.

use crate::features::{FeatureSpec, FeatureState, Observation};
use crate::model::{DiffusionKind, HybridModel, MAX_STATE, ShapeError};
use crate::model_file::ModelFile;
use crate::sizing::{self, Signal, SizingParams};

/// A model with its running feature state.
#[derive(Debug, Clone)]
pub struct Predictor {
    features: FeatureSpec,
    sizing: SizingParams,
    return_dim: usize,
    model: HybridModel,
    state: FeatureState,
}

impl Predictor {
    /// Builds a predictor from a decoded model file.
    ///
    /// # Errors
    /// [`ShapeError`] if the file's parts do not fit (never for a file that
    /// `model_file::decode` accepted).
    pub fn new(file: &ModelFile) -> Result<Self, ShapeError> {
        let model = file.build()?;
        let return_dim = usize::from(file.spec.return_dim);
        if return_dim >= model.dim() {
            return Err(ShapeError::Dimension { what: "return_dim", found: return_dim, max: model.dim() - 1 });
        }
        Ok(Self {
            features: file.spec.features.clone(),
            sizing: file.spec.sizing,
            return_dim,
            model,
            state: FeatureState::new(),
        })
    }

    /// The runnable model.
    pub const fn model(&self) -> &HybridModel {
        &self.model
    }

    /// The sizing constants in use.
    pub const fn sizing(&self) -> &SizingParams {
        &self.sizing
    }

    /// Replaces the sizing constants (an operator's config override).
    pub fn set_sizing(&mut self, sizing: SizingParams) {
        self.sizing = sizing;
    }

    /// The running feature state.
    pub const fn feature_state(&self) -> &FeatureState {
        &self.state
    }

    /// Forecast horizon in observation intervals.
    pub fn horizon(&self) -> f64 {
        self.model.dt() * self.model.steps() as f64
    }

    /// Feeds one observation; `false` if its price was unusable.
    pub fn observe(&mut self, obs: &Observation) -> bool {
        self.state.update(&self.features, obs)
    }

    /// The current forecast, once the features are warm.
    pub fn signal(&self) -> Option<Signal> {
        let mut x0 = [0.0; MAX_STATE];
        if !self.state.state(&self.features, &mut x0) {
            return None;
        }
        let f = self.model.forecast(&x0);
        let rd = self.return_dim;
        let scale = self.features.std.get(rd).copied().unwrap_or(1.0);
        let end = f.end.get(rd).copied().unwrap_or(0.0);
        let start = x0.get(rd).copied().unwrap_or(0.0);
        let variance = match self.model.diffusion_kind() {
            DiffusionKind::None => self.state.return_variance() * self.horizon(),
            DiffusionKind::Physics | DiffusionKind::Neural => {
                f.variance.get(rd).copied().unwrap_or(0.0) * scale * scale
            }
        };
        Some(Signal { expected_return: (end - start) * scale, variance })
    }

    /// Target position as a signed fraction of equity (zero until warm).
    pub fn target_fraction(&self) -> f64 {
        self.signal().map_or(0.0, |s| sizing::target_fraction(&s, &self.sizing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureKind;
    use crate::integrator::Method;
    use crate::model::{Activation, Physics};
    use crate::model_file::ModelSpec;

    fn ou_file() -> ModelFile {
        let mut features = FeatureSpec::new(&[FeatureKind::EwmaDeviation], 0.05, 0.05).unwrap();
        features.std[0] = 0.01;
        ModelFile {
            spec: ModelSpec {
                name: heapless::String::try_from("ou").unwrap(),
                features,
                physics: heapless::Vec::from_slice(&[Physics::OrnsteinUhlenbeck { kappa: 0.2, mu: 0.0, sigma: 0.5 }])
                    .unwrap(),
                hidden: heapless::Vec::new(),
                activation: Activation::PadeTanh,
                diffusion: DiffusionKind::Physics,
                method: Method::Rk4,
                dt: 1.0,
                horizon_steps: 1,
                return_dim: 0,
                sizing: SizingParams::default(),
            },
            weights: heapless::Vec::new(),
        }
    }

    #[test]
    fn mean_reversion_model_buys_dips_and_sells_rallies() {
        let mut p = Predictor::new(&ou_file()).unwrap();
        assert_eq!(p.signal(), None);
        for _ in 0..20 {
            p.observe(&Observation { price: 100.0, bid_qty: 1.0, ask_qty: 1.0 });
        }
        p.observe(&Observation { price: 98.0, bid_qty: 1.0, ask_qty: 1.0 });
        let s = p.signal().unwrap();
        assert!(s.expected_return > 0.0, "{s:?}");
        // variance: sigma^2 dt, de-normalised by std^2
        assert!((s.variance - 0.25 * 1e-4).abs() < 1e-15);
        assert!(p.target_fraction() > 0.0);
        for _ in 0..3 {
            p.observe(&Observation { price: 103.0, bid_qty: 1.0, ask_qty: 1.0 });
        }
        assert!(p.target_fraction() < 0.0);
    }
}
