//! The clamped Pade tanh of `odex_shared::model::pade_tanh` on a tensor, as
//! one pass over memory with its own derivative.
//!
//! Written as LibTorch operations, `y (27 + y^2) / (27 + 9 y^2)` on
//! `y = clamp(x, -3, 3)` is seven elementwise kernels forward and about
//! fifteen backward (the quotient rule, the products, the clamp's masks),
//! each a pass over a `[windows, hidden]` tensor: half of a CPU epoch. Here
//! one loop computes the value and the slope
//! `d/dx = (9 - y^2)^2 / (9 (3 + y^2)^2)` (zero outside `[-3, 3]`, and at
//! `+-3`, where the clamp joins). Autograd records `x * slope`, whose
//! backward is the incoming gradient times `slope` (one kernel), and the
//! recorded tensor's data is then replaced by the values (`set_data`, as
//! `t.data = ...` in Python): what the next layer sees is `odex_shared`'s
//! bits, signed zeros and all. First derivatives only (the trainer never
//! differentiates twice).
//!
//! CPU tensors of f64 only; anything else (CUDA) takes [`pade_tanh_ops`],
//! the operation-by-operation form, also the reference in the tests.

use tch::{Device, Kind, Tensor};

/// The clamped Pade tanh as LibTorch operations, in `odex_shared`'s order
/// of IEEE operations (bit-identical values).
pub fn pade_tanh_ops(x: &Tensor) -> Tensor {
    let y = x.clamp(-3.0, 3.0);
    let y2 = &y * &y;
    (&y * (&y2 + 27.0)) / (&y2 * 9.0 + 27.0)
}

/// The clamped Pade tanh of `x`, differentiable; see the module text.
pub fn pade_tanh(x: &Tensor) -> Tensor {
    if x.device() != Device::Cpu || x.kind() != Kind::Double || x.numel() == 0 {
        return pade_tanh_ops(x);
    }
    let x = x.contiguous();
    let y = x.empty_like();
    if !x.requires_grad() {
        return if fill(&x, &y, None) { y } else { pade_tanh_ops(&x) };
    }
    let slope = x.empty_like();
    if !fill(&x, &y, Some(&slope)) {
        return pade_tanh_ops(&x);
    }
    let mut out = &x * &slope;
    match out.f_set_data(&y) {
        Ok(()) => out,
        Err(_) => pade_tanh_ops(&x),
    }
}

/// One value and its slope (see the module text).
#[inline(always)]
fn value_and_slope(x: f64) -> (f64, f64) {
    let y = x.clamp(-3.0, 3.0);
    let y2 = y * y;
    let a = 9.0 - y2;
    let b = 3.0 + y2;
    (odex_shared::model::pade_tanh(x), (a * a) / (9.0 * (b * b)))
}

/// The values (and the slopes) of `xs`.
#[inline(always)]
fn run(xs: &[f64], ys: &mut [f64], slopes: Option<&mut [f64]>) {
    match slopes {
        None => ys.iter_mut().zip(xs).for_each(|(y, &x)| *y = odex_shared::model::pade_tanh(x)),
        Some(ds) => {
            for ((y, d), &x) in ys.iter_mut().zip(ds.iter_mut()).zip(xs) {
                (*y, *d) = value_and_slope(x);
            }
        }
    }
}

/// The loop compiled for AVX2 (four lanes): the same IEEE operations as the
/// baseline build (Rust never contracts `a * b + c` into one rounding).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(xs: &[f64], ys: &mut [f64], slopes: Option<&mut [f64]>) {
    run(xs, ys, slopes);
}

/// Writes the values of `x` into `y` and, when given, the slopes into
/// `slope`. `false` (nothing written) unless all three are contiguous CPU
/// f64 tensors of one size.
#[allow(unsafe_code)]
fn fill(x: &Tensor, y: &Tensor, slope: Option<&Tensor>) -> bool {
    let n = x.numel();
    let fits = |t: &Tensor| {
        t.device() == Device::Cpu
            && t.kind() == Kind::Double
            && t.is_contiguous()
            && t.numel() == n
            && !t.data_ptr().is_null()
    };
    if !fits(x) || !fits(y) || slope.is_some_and(|s| !fits(s)) {
        return false;
    }
    // SAFETY: each tensor was just checked to be a contiguous, non-empty
    // (non-null) CPU buffer of `n` f64 values, which LibTorch allocates
    // aligned for f64; `y` and `slope` were created by `empty_like` here, so
    // they alias neither `x` nor each other, and nothing else reads or
    // writes them while these slices live (this function's body).
    let xs = unsafe { std::slice::from_raw_parts(x.data_ptr().cast::<f64>().cast_const(), n) };
    let ys = unsafe { std::slice::from_raw_parts_mut(y.data_ptr().cast::<f64>(), n) };
    let ds = slope.map(|s| unsafe { std::slice::from_raw_parts_mut(s.data_ptr().cast::<f64>(), n) });
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { run_avx2(xs, ys, ds) };
        return true;
    }
    run(xs, ys, ds);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Tensor {
        // both sides of the clamp, its corners, zero, tiny and large values
        let mut v: Vec<f64> = (-4000..=4000).map(|i| f64::from(i) * 1e-3).collect();
        v.extend([3.0, -3.0, 0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, f64::next_down(3.0), f64::next_up(-3.0)]);
        v.resize(v.len().next_multiple_of(4), 0.5);
        Tensor::from_slice(&v).reshape([-1, 4])
    }

    #[test]
    fn values_are_the_shared_crate_bits_with_and_without_autograd() {
        let x = grid();
        let want: Vec<f64> = Vec::<f64>::try_from(&x.flatten(0, -1)).unwrap();
        for requires_grad in [false, true] {
            let xr = x.copy().set_requires_grad(requires_grad);
            let y = Vec::<f64>::try_from(&pade_tanh(&xr).flatten(0, -1)).unwrap();
            let ops = Vec::<f64>::try_from(&pade_tanh_ops(&xr).flatten(0, -1)).unwrap();
            for ((&x, y), o) in want.iter().zip(y).zip(ops) {
                let s = odex_shared::model::pade_tanh(x);
                assert_eq!(y.to_bits(), s.to_bits(), "x = {x}");
                assert_eq!(o.to_bits(), s.to_bits(), "x = {x} (operations)");
            }
        }
    }

    #[test]
    fn gradient_matches_autograd_through_the_operations() {
        let x = grid();
        let upstream = Tensor::from_slice(&(0..x.numel()).map(|i| 1.0 + (i % 7) as f64 * 0.25).collect::<Vec<_>>())
            .reshape(x.size());
        let grad = |f: fn(&Tensor) -> Tensor| {
            let xr = x.copy().set_requires_grad(true);
            (f(&xr) * &upstream).sum(Kind::Double).backward();
            Vec::<f64>::try_from(&xr.grad().flatten(0, -1)).unwrap()
        };
        let (fused, ops) = (grad(pade_tanh), grad(pade_tanh_ops));
        for (i, (a, b)) in fused.iter().zip(&ops).enumerate() {
            assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "element {i}: {a} against {b}");
        }
        // flat outside the clamp, slope 1 at zero
        let at = |v: f64| {
            let xr = Tensor::from_slice(&[v]).set_requires_grad(true);
            pade_tanh(&xr).sum(Kind::Double).backward();
            xr.grad().double_value(&[0])
        };
        assert_eq!(at(3.5), 0.0);
        assert_eq!(at(-7.0), 0.0);
        assert_eq!(at(0.0), 1.0);
    }

    #[test]
    fn infinite_input_gives_the_clamped_values_and_no_gradient() {
        let x = Tensor::from_slice(&[f64::INFINITY, -1.0, f64::NEG_INFINITY, 0.5]).set_requires_grad(true);
        let y = pade_tanh(&x);
        assert_eq!(Vec::<f64>::try_from(&y).unwrap(), Vec::<f64>::try_from(&pade_tanh_ops(&x)).unwrap());
        y.sum(Kind::Double).backward();
        let g = Vec::<f64>::try_from(&x.grad()).unwrap();
        assert_eq!((g[0], g[2]), (0.0, 0.0));
        assert!(g[1] > 0.0 && g[3] > 0.0);
    }

    #[test]
    fn non_contiguous_input_is_handled() {
        let x = grid().transpose(0, 1);
        assert!(!x.is_contiguous());
        let a = Vec::<f64>::try_from(&pade_tanh(&x).flatten(0, -1)).unwrap();
        let b = Vec::<f64>::try_from(&pade_tanh_ops(&x).flatten(0, -1)).unwrap();
        assert_eq!(a, b);
    }
}
