//! Parity: a model exported through the model file and integrated by
//! `odex_shared` agrees with the tch model to 1e-9 over 1,000 steps.
use odex_shared::features::{FeatureKind, FeatureSpec};
use odex_shared::integrator;
use odex_shared::model::{MAX_STATE, Physics};
use odex_shared::model_file;
use odex_trainer::config::{ActivationKind, Config, DiffusionChoice, MethodChoice, PhysicsKind};
use odex_trainer::export;
use odex_trainer::model::{Architecture, HybridNet};
use tch::{Device, Kind, Tensor};

fn parity(activation: ActivationKind, method: MethodChoice) {
    let mut cfg = Config::default();
    cfg.model.name = "parity".into();
    cfg.model.physics = vec![PhysicsKind::Ou, PhysicsKind::Gbm, PhysicsKind::Vol, PhysicsKind::Ou];
    cfg.model.hidden = vec![32, 32];
    cfg.model.activation = activation;
    cfg.model.method = method;
    cfg.model.diffusion = DiffusionChoice::Neural;
    cfg.model.substeps = 10;
    cfg.validate("test").unwrap();
    tch::manual_seed(123);
    let mut net = HybridNet::new(&Architecture::from_config(&cfg), Device::Cpu, &[0.5, 0.01, 0.3, 1.0]);
    net.set_physics(0, Physics::OrnsteinUhlenbeck { kappa: 0.7, mu: 0.3, sigma: 0.2 });
    net.set_physics(1, Physics::GbmDrift { mu: 0.002, sigma: 0.01 });
    net.set_physics(2, Physics::VolatilityReversion { kappa: 0.4, theta: -0.2, xi: 0.1 });
    tch::no_grad(|| {
        for (name, t) in net.named_variables() {
            if name.starts_with("nn.2.") {
                let _ = t.shallow_clone().g_mul_scalar_(100.0);
            }
        }
    });
    let kinds =
        [FeatureKind::EwmaDeviation, FeatureKind::LogReturn, FeatureKind::EwmaVolatility, FeatureKind::Imbalance];
    let spec = FeatureSpec::new(&kinds, 0.05, 0.05).unwrap();
    let file = export::model_file(&net, &spec, &cfg).unwrap();
    let bytes = export::encode(&file).unwrap();
    let decoded = model_file::decode(&bytes).unwrap();
    assert_eq!(decoded, file);
    let model = decoded.build().unwrap();

    let x0 = [0.8, -1.2, 0.5, 0.1];
    let mut xs: [f64; MAX_STATE] = [0.0; MAX_STATE];
    xs[..4].copy_from_slice(&x0);
    let mut xt = Tensor::from_slice(&x0).to_kind(Kind::Double).reshape([1, 4]);
    let p = tch::no_grad(|| net.phys_tensors());
    let mut worst: f64 = 0.0;
    let mut moved: f64 = 0.0;
    for _ in 0..1000 {
        integrator::step(&model, model.method(), &mut xs, model.dt());
        xt = tch::no_grad(|| net.step(&p, &xt, model.dt()));
        for k in 0..4 {
            worst = worst.max((xs[k] - xt.double_value(&[0, k as i64])).abs());
            moved = moved.max((xs[k] - x0[k]).abs());
        }
    }
    eprintln!("{activation:?} {method:?}: max |shared - tch| over 1000 steps = {worst:e} (state moved up to {moved})");
    assert!(worst < 1e-9, "divergence {worst:e}");
    assert!(moved > 0.1, "the test must exercise the dynamics");

    // the forecast (mean and accumulated diffusion variance) agrees too
    let f = model.forecast(&[0.8, -1.2, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0]);
    let x0t = Tensor::from_slice(&x0).reshape([1, 4]);
    let (means, vars) = tch::no_grad(|| net.rollout(&x0t, cfg.model.horizon as usize));
    let vars = vars.unwrap();
    let h = cfg.model.horizon as i64 - 1;
    for k in 0..4 {
        assert!((f.end[k] - means.double_value(&[0, h, k as i64])).abs() < 1e-12);
        assert!((f.variance[k] - vars.double_value(&[0, h, k as i64])).abs() < 1e-12);
    }
}

#[test]
fn parity_pade_rk4() {
    parity(ActivationKind::PadeTanh, MethodChoice::Rk4);
}

#[test]
fn parity_tanh_euler() {
    parity(ActivationKind::Tanh, MethodChoice::Euler);
}
