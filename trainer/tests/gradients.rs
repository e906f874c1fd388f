//! Autograd gradients of the full objective J match central finite
//! differences on a small f64 model (every term of J switched on).
use odex_shared::features::FeatureKind;
use odex_trainer::config::{ActivationKind, Config, DiffusionChoice, PhysicsKind, PredictionLoss};
use odex_trainer::data::Series;
use odex_trainer::dataset::Dataset;
use odex_trainer::fit;
use odex_trainer::loss::Batch;
use odex_trainer::model::{Architecture, HybridNet};
use odex_trainer::synth::{self, Process, SynthSpec};
use tch::{Device, Tensor};

fn check(activation: ActivationKind, diffusion: DiffusionChoice, prediction: PredictionLoss) {
    let spec =
        SynthSpec { process: Process::named("regime").unwrap(), bars: 300, seed: 3, start_ms: 0, interval_ms: 60_000 };
    let series = Series::from_rows("regime", &synth::generate(&spec).rows).unwrap();
    let mut cfg = Config::default();
    cfg.features.kinds = vec![FeatureKind::EwmaDeviation, FeatureKind::LogReturn];
    cfg.features.warmup = 5;
    cfg.model.physics = vec![PhysicsKind::Ou, PhysicsKind::Gbm];
    cfg.model.hidden = vec![3];
    cfg.model.activation = activation;
    cfg.model.diffusion = diffusion;
    cfg.model.horizon = 3;
    cfg.model.substeps = 2;
    cfg.loss.prediction = prediction;
    cfg.loss.l_risk = 1e4;
    cfg.loss.l_ret = 100.0;
    cfg.loss.l_tc = 0.1;
    cfg.loss.l_reg = 0.01;
    cfg.sizing.max_leverage = 3.0;
    cfg.validate("test").unwrap();
    let d = Dataset::build(&series, &cfg).unwrap();
    tch::manual_seed(9);
    let net = HybridNet::new(&Architecture::from_config(&cfg), Device::Cpu, &fit::step_scales(&d));
    // make the network's output matter (it starts near zero by design)
    tch::no_grad(|| {
        for (name, t) in net.named_variables() {
            if name.starts_with("nn.1.") {
                let _ = t.shallow_clone().g_mul_scalar_(50.0);
            }
        }
    });
    let obj = fit::objective(&d, &cfg);
    let batch = Batch::new(&d.windows[0], d.horizon, d.dim(), Device::Cpu);
    let j = || obj.terms(&net, &batch).total.double_value(&[]);
    let total = obj.terms(&net, &batch).total;
    let vars = net.named_variables();
    let tensors: Vec<Tensor> = vars.iter().map(|(_, t)| t.shallow_clone()).collect();
    let grads = Tensor::run_backward(&[total], &tensors, false, false);
    let mut max_err: f64 = 0.0;
    let mut max_grad: f64 = 0.0;
    let mut rows = Vec::new();
    for ((name, t), g) in vars.iter().zip(&grads) {
        let flat = t.view([-1]);
        // a variable J does not depend on (sigma without a physics diffusion) has no gradient
        let gflat = if g.defined() { g.view([-1]) } else { t.zeros_like().view([-1]) };
        for i in 0..flat.size()[0] {
            let x = flat.double_value(&[i]);
            let eps = 1e-6 * x.abs().max(1.0);
            let set = |v: f64| tch::no_grad(|| drop(flat.get(i).fill_(v)));
            set(x + eps);
            let up = j();
            set(x - eps);
            let down = j();
            set(x);
            let fd = (up - down) / (2.0 * eps);
            let ad = gflat.double_value(&[i]);
            max_grad = max_grad.max(ad.abs());
            rows.push((format!("{name}[{i}]"), ad, fd));
        }
    }
    for (name, ad, fd) in &rows {
        let err = (ad - fd).abs() / ad.abs().max(fd.abs()).max(1e-3 * max_grad);
        max_err = max_err.max(err);
        assert!(err < 1e-5, "{name}: autograd {ad:e} vs finite difference {fd:e} (relative error {err:e})");
    }
    eprintln!("{} parameters, max relative error {max_err:e}", rows.len());
}

#[test]
fn gradients_match_finite_differences_mse_pade() {
    check(ActivationKind::PadeTanh, DiffusionChoice::None, PredictionLoss::Mse);
}

#[test]
fn gradients_match_finite_differences_nll_neural_diffusion_tanh() {
    check(ActivationKind::Tanh, DiffusionChoice::Neural, PredictionLoss::Nll);
}
