//! Shared fixtures for odex's benchmarks: the reference model every
//! performance target is stated for, and the naive baseline it is compared
//! against in the same run.
//!
//! Reference model: 4-dimensional state, MLP 4 -> 32 -> 32 -> 4, one RK4 step
//! per tick, f64.
//!
//! [`latency`] is the wire-to-wire latency harness (`latency_harness`).

pub mod latency;
pub mod tick_path;

use odex_shared::features::{FeatureKind, FeatureSpec};
use odex_shared::integrator::Method;
use odex_shared::model::{Activation, DiffusionKind, MAX_PARAMS, Physics};
use odex_shared::model_file::{ModelFile, ModelSpec};
use odex_shared::sizing::SizingParams;

/// The reference model with the given hidden activation, deterministic weights.
pub fn reference_model_with(activation: Activation) -> ModelFile {
    let mut features = FeatureSpec::new(
        &[FeatureKind::EwmaDeviation, FeatureKind::LogReturn, FeatureKind::EwmaVolatility, FeatureKind::Imbalance],
        0.05,
        0.02,
    )
    .expect("valid feature spec");
    features.mean = heapless::Vec::from_slice(&[0.0, 0.0, 1e-5, 0.0]).expect("4 entries");
    features.std = heapless::Vec::from_slice(&[2e-5, 1e-5, 1e-5, 0.5]).expect("4 entries");
    features.warmup = 20;
    let spec = ModelSpec {
        name: heapless::String::try_from("bench-reference").expect("short name"),
        features,
        physics: heapless::Vec::from_slice(&[
            Physics::OrnsteinUhlenbeck { kappa: 0.5, mu: 0.0, sigma: 0.3 },
            Physics::None,
            Physics::VolatilityReversion { kappa: 0.1, theta: 0.0, xi: 0.05 },
            Physics::None,
        ])
        .expect("4 entries"),
        hidden: heapless::Vec::from_slice(&[32, 32]).expect("2 layers"),
        activation,
        diffusion: DiffusionKind::None,
        method: Method::Rk4,
        dt: 1.0,
        horizon_steps: 1,
        return_dim: 0,
        sizing: SizingParams { kelly_fraction: 0.25, vol_target: 0.02, max_leverage: 1.0, min_edge: 0.0 },
    };
    let n = spec.shape().param_count();
    let weights =
        (0..n).map(|i| ((i as f64) * 0.618_033_988_749).sin() * 0.1).collect::<heapless::Vec<f64, MAX_PARAMS>>();
    ModelFile { spec, weights }
}

/// The reference model as shipped: [`Activation::PadeTanh`].
pub fn reference_model() -> ModelFile {
    reference_model_with(Activation::PadeTanh)
}

/// The same vector field written the way most people would: row-major
/// `Vec<Vec<f64>>` layers, `f64::tanh`, a fresh `Vec` per layer. The baseline
/// the runtime's kernel is measured against.
pub struct NaiveModel {
    layers: Vec<(Vec<Vec<f64>>, Vec<f64>)>,
    kappa: [f64; 4],
    mu: [f64; 4],
}

impl NaiveModel {
    /// Builds the baseline from the same weights as `file`.
    pub fn from_file(file: &ModelFile) -> Self {
        let mut sizes = vec![file.spec.features.dim()];
        sizes.extend(file.spec.hidden.iter().map(|&h| usize::from(h)));
        sizes.push(file.spec.features.dim());
        let mut off = 0;
        let mut layers = Vec::new();
        for w in sizes.windows(2) {
            let (i, o) = (w[0], w[1]);
            let weights = (0..o).map(|r| file.weights[off + r * i..off + (r + 1) * i].to_vec()).collect();
            off += i * o;
            let bias = file.weights[off..off + o].to_vec();
            off += o;
            layers.push((weights, bias));
        }
        let mut kappa = [0.0; 4];
        let mut mu = [0.0; 4];
        for (k, p) in file.spec.physics.iter().enumerate() {
            if let Physics::OrnsteinUhlenbeck { kappa: a, mu: m, .. }
            | Physics::VolatilityReversion { kappa: a, theta: m, .. } = *p
            {
                kappa[k] = a;
                mu[k] = m;
            }
        }
        Self { layers, kappa, mu }
    }

    /// `f(x)`.
    pub fn eval(&self, x: &[f64]) -> Vec<f64> {
        let mut a = x.to_vec();
        let last = self.layers.len() - 1;
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let mut y: Vec<f64> =
                w.iter().zip(b).map(|(row, bi)| bi + row.iter().zip(&a).map(|(wi, ai)| wi * ai).sum::<f64>()).collect();
            if l < last {
                y.iter_mut().for_each(|v| *v = v.tanh());
            }
            a = y;
        }
        for (k, v) in a.iter_mut().enumerate() {
            *v += self.kappa[k] * (self.mu[k] - x[k]);
        }
        a
    }

    /// One RK4 step of size `dt`.
    pub fn rk4_step(&self, x: &[f64], dt: f64) -> Vec<f64> {
        let add = |x: &[f64], k: &[f64], h: f64| x.iter().zip(k).map(|(a, b)| a + h * b).collect::<Vec<f64>>();
        let k1 = self.eval(x);
        let k2 = self.eval(&add(x, &k1, dt / 2.0));
        let k3 = self.eval(&add(x, &k2, dt / 2.0));
        let k4 = self.eval(&add(x, &k3, dt));
        (0..x.len()).map(|i| x[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])).collect()
    }
}
