//! Convergence: on a noisy sine-wave system, which mean-reverting physics
//! alone cannot describe, the hybrid model reaches a validation MSE well
//! below the physics-only baseline.
use odex_shared::features::FeatureKind;
use odex_trainer::config::{ActivationKind, Config, DeviceChoice, PhysicsKind};
use odex_trainer::data::Series;
use odex_trainer::dataset::Dataset;
use odex_trainer::fit::{self, Hooks};
use odex_trainer::synth::{self, Process, SynthSpec};

fn validation_mse(series: &Series, hidden: Vec<u16>) -> f64 {
    let mut cfg = Config::default();
    cfg.features.kinds = vec![FeatureKind::LogPrice, FeatureKind::LogReturn];
    cfg.features.warmup = 2;
    cfg.model.physics = vec![PhysicsKind::Ou, PhysicsKind::Ou];
    cfg.model.hidden = hidden;
    cfg.model.activation = ActivationKind::Tanh;
    cfg.model.horizon = 5;
    cfg.train.epochs = 300;
    cfg.train.lr = 1e-2;
    cfg.train.patience = 0;
    cfg.train.device = DeviceChoice::Cpu;
    cfg.validate("test").unwrap();
    let d = Dataset::build(series, &cfg).unwrap();
    let f = fit::fit(&d, &cfg, Hooks::default()).unwrap();
    f.metrics.iter().find(|m| m.part == "validation").unwrap().mse
}

#[test]
fn hybrid_beats_physics_only_on_a_sine_wave() {
    let spec = SynthSpec {
        process: Process::Sine { amplitude: 0.01, period: 60.0, noise: 1e-4, log_p0: 100f64.ln() },
        bars: 3000,
        seed: 4,
        start_ms: 0,
        interval_ms: 60_000,
    };
    let series = Series::from_rows("sine", &synth::generate(&spec).rows).unwrap();
    let physics = validation_mse(&series, vec![]);
    let hybrid = validation_mse(&series, vec![16, 16]);
    eprintln!("validation MSE: physics-only {physics:.4e}, hybrid {hybrid:.4e}, ratio {:.3}", hybrid / physics);
    assert!(hybrid < 0.2 * physics, "hybrid {hybrid} vs physics-only {physics}");
}
