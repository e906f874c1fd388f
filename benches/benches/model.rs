//! One RK4 step of the reference model (4 -> 32 -> 32 -> 4, f64): the
//! runtime's kernel with each activation, as dispatched on this CPU (the
//! AVX2 build where there is AVX2) and as the baseline build, against the
//! naive baseline in the same run.
//!
//! `cargo bench -p odex-benches --bench model`

use criterion::{Criterion, criterion_main};
use odex_benches::{NaiveModel, reference_model, reference_model_with};
use odex_shared::integrator::Method;
use odex_shared::model::{Activation, MAX_STATE, kernel_name};
use std::hint::black_box;

fn rk4(c: &mut Criterion) {
    let mut g = c.benchmark_group("rk4_step_4x32x32x4");
    let x0 = {
        let mut x = [0.0; MAX_STATE];
        x[..4].copy_from_slice(&[0.3, -0.7, 1.1, 0.05]);
        x
    };
    // the reference model's horizon is one step: a forecast is one RK4 step
    for (name, act) in [("pade_tanh", Activation::PadeTanh), ("tanh", Activation::Tanh)] {
        let file = reference_model_with(act);
        assert_eq!((file.spec.method, file.spec.horizon_steps), (Method::Rk4, 1));
        let model = file.build().expect("valid model");
        let kernel = kernel_name();
        g.bench_function(format!("odex_{name}_{kernel}"), |b| b.iter(|| model.forecast(black_box(&x0)).end));
        if kernel != "baseline" {
            g.bench_function(format!("odex_{name}_baseline"), |b| {
                b.iter(|| model.forecast_baseline(black_box(&x0)).end)
            });
        }
    }
    let naive = NaiveModel::from_file(&reference_model_with(Activation::Tanh));
    g.bench_function("naive_baseline_tanh", |b| b.iter(|| naive.rk4_step(black_box(&x0[..4]), black_box(1.0))));
    g.finish();
    // The baseline computes the same field, and both builds of the kernel
    // give the same bits: check it here so the comparison is honest.
    let model = reference_model_with(Activation::Tanh).build().expect("valid model");
    let fast = model.forecast(&x0).end;
    let base = model.forecast_baseline(&x0).end;
    let y = naive.rk4_step(&x0[..4], 1.0);
    for i in 0..4 {
        assert_eq!(fast[i].to_bits(), base[i].to_bits(), "kernels disagree at {i}");
        assert!((fast[i] - y[i]).abs() < 1e-12, "baseline disagrees at {i}: {} vs {}", fast[i], y[i]);
    }
    let _ = reference_model();
}

/// Runs the model benches (what `criterion_group!` would generate, with a doc).
fn model() {
    let mut c = Criterion::default().configure_from_args();
    rk4(&mut c);
}

criterion_main!(model);
