//! One RK4 step of the reference model (4 -> 32 -> 32 -> 4, f64): the
//! runtime's kernel with each activation, against the naive baseline in the
//! same run.
//!
//! `cargo bench -p odex-benches --bench model`

use criterion::{Criterion, criterion_main};
use odex_benches::{NaiveModel, reference_model, reference_model_with};
use odex_shared::integrator::rk4_step;
use odex_shared::model::{Activation, MAX_STATE};
use std::hint::black_box;

fn rk4(c: &mut Criterion) {
    let mut g = c.benchmark_group("rk4_step_4x32x32x4");
    let x0 = {
        let mut x = [0.0; MAX_STATE];
        x[..4].copy_from_slice(&[0.3, -0.7, 1.1, 0.05]);
        x
    };
    for (name, act) in [("odex_pade_tanh", Activation::PadeTanh), ("odex_tanh", Activation::Tanh)] {
        let model = reference_model_with(act).build().expect("valid model");
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut x = black_box(x0);
                rk4_step(&model, &mut x, black_box(0.1));
                x
            })
        });
    }
    let naive = NaiveModel::from_file(&reference_model_with(Activation::Tanh));
    g.bench_function("naive_baseline_tanh", |b| b.iter(|| naive.rk4_step(black_box(&x0[..4]), black_box(0.1))));
    g.finish();
    // The baseline computes the same field: check it here so the comparison is honest.
    let model = reference_model_with(Activation::Tanh).build().expect("valid model");
    let mut x = x0;
    rk4_step(&model, &mut x, 0.1);
    let y = naive.rk4_step(&x0[..4], 0.1);
    for i in 0..4 {
        assert!((x[i] - y[i]).abs() < 1e-12, "baseline disagrees at {i}: {} vs {}", x[i], y[i]);
    }
    let _ = reference_model();
}

/// Runs the model benches (what `criterion_group!` would generate, with a doc).
fn model() {
    let mut c = Criterion::default().configure_from_args();
    rk4(&mut c);
}

criterion_main!(model);
