//! Parameter recovery: physics-only models fitted on seeded synthetic data
//! recover the true parameters (within 5%) and the closed-form AR(1)
//! maximum-likelihood estimate computed here (within 1%).
//!
//! Conventions: time is in bars; the model's `sigma` is the per-bar standard
//! deviation of the transition under Euler-Maruyama (`Var = sigma^2 dt`),
//! which is what `odex_shared`'s forecast accumulates. The closed-form MLE
//! is mapped with the same convention: `kappa = -ln b`, `mu = a / (1 - b)`,
//! `sigma = sqrt(mean residual^2)`. Against the truth this convention is
//! biased by `sqrt((1 - e^{-2 kappa}) / (2 kappa))` (2.5% at kappa = 0.05),
//! inside the 5% tolerance.
use std::path::Path;

use odex_shared::features::FeatureKind;
use odex_shared::model::Physics;
use odex_trainer::config::{Config, DiffusionChoice, PhysicsKind, PredictionLoss, Schedule};
use odex_trainer::data::{self, Series};
use odex_trainer::dataset::Dataset;
use odex_trainer::fit::{self, Hooks};
use odex_trainer::synth::{self, Process, SynthSpec};

fn synthetic(process: Process, bars: usize, seed: u64) -> Series {
    let spec = SynthSpec { process, bars, seed, start_ms: 1_704_067_200_000, interval_ms: 60_000 };
    let csv = data::write_generic_csv(&synth::generate(&spec).rows);
    // through the CSV file format, as `odex-train synth` writes it
    data::parse_csv(Path::new("synthetic.csv"), csv.as_bytes()).unwrap()
}

fn physics_only(kind: PhysicsKind, warm_start: bool, epochs: u32, lr: f64) -> Config {
    let mut c = Config::default();
    c.features.kinds = vec![FeatureKind::LogPrice];
    c.features.warmup = 2;
    c.model.physics = vec![kind];
    c.model.hidden = vec![];
    c.model.diffusion = DiffusionChoice::Physics;
    c.model.horizon = 1;
    c.model.warm_start = warm_start;
    c.loss.prediction = PredictionLoss::Nll;
    c.loss.l_reg = 0.0;
    c.split.train = 0.9;
    c.split.validation = 0.1;
    c.train.epochs = epochs;
    c.train.lr = lr;
    c.train.lr_min = 1e-5;
    c.train.schedule = Schedule::Cosine;
    c.train.patience = 0;
    c.train.device = odex_trainer::config::DeviceChoice::Cpu;
    c.validate("test").unwrap();
    c
}

/// Closed-form Gaussian AR(1) MLE on the log closes of the training windows'
/// transitions: `(a, b, residual variance, mean step, step variance)`.
fn ar1_mle(d: &Dataset) -> (f64, f64, f64, f64, f64) {
    let pairs: Vec<(f64, f64)> = d.windows[0].start.iter().map(|&t| (d.log_close[t], d.log_close[t + 1])).collect();
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>();
    let sxx = pairs.iter().map(|(x, _)| (x - mx) * (x - mx)).sum::<f64>();
    let b = sxy / sxx;
    let a = my - b * mx;
    let rv = pairs.iter().map(|(x, y)| (y - a - b * x).powi(2)).sum::<f64>() / n;
    let ms = pairs.iter().map(|(x, y)| y - x).sum::<f64>() / n;
    let sv = pairs.iter().map(|(x, y)| (y - x - ms).powi(2)).sum::<f64>() / n;
    (a, b, rv, ms, sv)
}

fn rel(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs()
}

#[test]
fn ou_recovers_kappa_mu_sigma() {
    let (kappa, mu, sigma) = (0.05, 100f64.ln(), 0.002);
    let series = synthetic(Process::Ou { kappa, mu, sigma }, 200_000, 11);
    // a cold start (no least-squares warm start): the optimiser does the work
    let cfg = physics_only(PhysicsKind::Ou, false, 400, 0.05);
    let d = Dataset::build(&series, &cfg).unwrap();
    let fitted = fit::fit(&d, &cfg, Hooks::default()).unwrap();
    let Physics::OrnsteinUhlenbeck { kappa: k, mu: m, sigma: s } = fitted.net.physics()[0] else { panic!() };
    // back to raw log-price units
    let (mean, std) = (d.spec.mean[0], d.spec.std[0]);
    let (k, m, s) = (k, mean + std * m, std * s);

    let (a, b, rv, _, _) = ar1_mle(&d);
    let (k_mle, m_mle, s_mle) = (-b.ln(), a / (1.0 - b), rv.sqrt());
    eprintln!("fit kappa {k} mu {m} sigma {s}; MLE {k_mle} {m_mle} {s_mle}; truth {kappa} {mu} {sigma}");
    for (name, got, mle, truth) in [("kappa", k, k_mle, kappa), ("mu", m, m_mle, mu), ("sigma", s, s_mle, sigma)] {
        assert!(rel(got, truth) < 0.05, "{name}: fitted {got} vs truth {truth}");
        assert!(rel(got, mle) < 0.01, "{name}: fitted {got} vs AR(1) MLE {mle}");
    }
    // the long-run level is also recovered on the scale of the process itself
    let stationary_sd = sigma / (2.0 * kappa).sqrt();
    assert!((m - mu).abs() < 0.25 * stationary_sd, "mu {m} vs {mu}");
}

#[test]
fn gbm_recovers_drift_and_volatility() {
    let (mu, sigma) = (4e-5, 1e-4);
    let series = synthetic(Process::Gbm { mu, sigma, log_p0: 100f64.ln() }, 50_000, 5);
    let cfg = physics_only(PhysicsKind::Gbm, false, 800, 0.05);
    let d = Dataset::build(&series, &cfg).unwrap();
    let fitted = fit::fit(&d, &cfg, Hooks::default()).unwrap();
    let Physics::GbmDrift { mu: m, sigma: s } = fitted.net.physics()[0] else { panic!() };
    let std = d.spec.std[0];
    let (m, s) = (std * m, std * s);
    let (_, _, _, m_mle, v_mle) = ar1_mle(&d);
    let s_mle = v_mle.sqrt();
    eprintln!("fit mu {m} sigma {s}; MLE {m_mle} {s_mle}; truth {mu} {sigma}");
    for (name, got, mle, truth) in [("drift", m, m_mle, mu), ("volatility", s, s_mle, sigma)] {
        assert!(rel(got, truth) < 0.05, "{name}: fitted {got} vs truth {truth}");
        assert!(rel(got, mle) < 0.01, "{name}: fitted {got} vs closed-form MLE {mle}");
    }
}
