//! Fixed-step integrators over a horizon: explicit Euler and classic RK4.
//!
//! The trainer implements the very same steps in LibTorch (same stage order,
//! same arithmetic), so a model integrated here and there agrees to
//! round-off. Everything works on fixed-size [`State`] arrays of which only
//! the first `dim` entries are used; nothing allocates.

use serde::{Deserialize, Serialize};

use crate::model::{MAX_STATE, State};

/// A vector field `dx/dt = f(x)` on the first `dim()` entries of a state.
pub trait VectorField {
    /// Number of state dimensions in use (at most [`MAX_STATE`]).
    fn dim(&self) -> usize;
    /// Writes `f(x)` into `dx` (entries past `dim()` are left untouched).
    fn eval(&self, x: &State, dx: &mut State);
}

/// The fixed-step scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Explicit Euler: first order, one evaluation per step.
    Euler,
    /// Classic fourth-order Runge-Kutta: four evaluations per step.
    Rk4,
}

impl Method {
    /// Vector-field evaluations per step.
    pub const fn evals_per_step(self) -> usize {
        match self {
            Self::Euler => 1,
            Self::Rk4 => 4,
        }
    }
}

/// `out = x + h * k` on the first `n` entries.
#[inline(always)]
fn axpy(out: &mut State, x: &State, h: f64, k: &State, n: usize) {
    for ((o, xi), ki) in out.iter_mut().zip(x).zip(k).take(n) {
        *o = xi + h * ki;
    }
}

/// One explicit Euler step of size `dt`, in place.
pub fn euler_step<F: VectorField + ?Sized>(f: &F, x: &mut State, dt: f64) {
    euler_step_with(f.dim(), x, dt, |x, k| f.eval(x, k));
}

/// One classic RK4 step of size `dt`, in place:
/// `x + dt/6 (k1 + 2 k2 + 2 k3 + k4)`.
pub fn rk4_step<F: VectorField + ?Sized>(f: &F, x: &mut State, dt: f64) {
    rk4_step_with(f.dim(), x, dt, |x, k| f.eval(x, k));
}

/// [`euler_step`] over the first `n` entries with the field given as a
/// function: the one body every caller shares, inlined into each so a
/// kernel compiled for other CPU features (see [`crate::model`]) runs the
/// same arithmetic in the same order.
#[inline(always)]
pub fn euler_step_with(n: usize, x: &mut State, dt: f64, mut eval: impl FnMut(&State, &mut State)) {
    let n = n.min(MAX_STATE);
    let mut k = [0.0; MAX_STATE];
    eval(x, &mut k);
    for (xi, ki) in x.iter_mut().zip(&k).take(n) {
        *xi += dt * ki;
    }
}

/// [`rk4_step`] over the first `n` entries with the field given as a
/// function (see [`euler_step_with`]).
#[inline(always)]
pub fn rk4_step_with(n: usize, x: &mut State, dt: f64, mut eval: impl FnMut(&State, &mut State)) {
    let n = n.min(MAX_STATE);
    let mut k1 = [0.0; MAX_STATE];
    let mut k2 = [0.0; MAX_STATE];
    let mut k3 = [0.0; MAX_STATE];
    let mut k4 = [0.0; MAX_STATE];
    let mut tmp = [0.0; MAX_STATE];
    let half = 0.5 * dt;
    eval(x, &mut k1);
    axpy(&mut tmp, x, half, &k1, n);
    eval(&tmp, &mut k2);
    axpy(&mut tmp, x, half, &k2, n);
    eval(&tmp, &mut k3);
    axpy(&mut tmp, x, dt, &k3, n);
    eval(&tmp, &mut k4);
    let sixth = dt / 6.0;
    for ((((xi, a), b), c), d) in x.iter_mut().zip(&k1).zip(&k2).zip(&k3).zip(&k4).take(n) {
        *xi += sixth * (a + 2.0 * b + 2.0 * c + d);
    }
}

/// One step of `method` with the field given as a function, in place.
#[inline(always)]
pub fn step_with(method: Method, n: usize, x: &mut State, dt: f64, eval: impl FnMut(&State, &mut State)) {
    match method {
        Method::Euler => euler_step_with(n, x, dt, eval),
        Method::Rk4 => rk4_step_with(n, x, dt, eval),
    }
}

/// One step of `method`, in place.
pub fn step<F: VectorField + ?Sized>(f: &F, method: Method, x: &mut State, dt: f64) {
    match method {
        Method::Euler => euler_step(f, x, dt),
        Method::Rk4 => rk4_step(f, x, dt),
    }
}

/// Integrates `steps` fixed steps of size `dt` from `x`, in place.
pub fn integrate<F: VectorField + ?Sized>(f: &F, method: Method, x: &mut State, dt: f64, steps: usize) {
    for _ in 0..steps {
        step(f, method, x, dt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dx/dt = A x with a rotation-plus-decay matrix: known closed form.
    struct Linear {
        a: f64,
        w: f64,
    }

    impl VectorField for Linear {
        fn dim(&self) -> usize {
            2
        }
        fn eval(&self, x: &State, dx: &mut State) {
            dx[0] = -self.a * x[0] - self.w * x[1];
            dx[1] = self.w * x[0] - self.a * x[1];
        }
    }

    fn exact(sys: &Linear, t: f64) -> [f64; 2] {
        // x(0) = (1, 0)
        let e = (-sys.a * t).exp();
        [e * (sys.w * t).cos(), e * (sys.w * t).sin()]
    }

    fn global_error(method: Method, dt: f64) -> f64 {
        let sys = Linear { a: 0.3, w: 2.0 };
        let t_end = 2.0;
        let steps = (t_end / dt).round() as usize;
        let mut x = [0.0; MAX_STATE];
        x[0] = 1.0;
        integrate(&sys, method, &mut x, dt, steps);
        let e = exact(&sys, t_end);
        ((x[0] - e[0]).powi(2) + (x[1] - e[1]).powi(2)).sqrt()
    }

    #[test]
    fn rk4_is_fourth_order() {
        let e1 = global_error(Method::Rk4, 0.02);
        let e2 = global_error(Method::Rk4, 0.01);
        let ratio = e1 / e2;
        assert!((14.0..18.0).contains(&ratio), "RK4 error ratio {ratio}");
    }

    #[test]
    fn euler_is_first_order() {
        let e1 = global_error(Method::Euler, 0.002);
        let e2 = global_error(Method::Euler, 0.001);
        let ratio = e1 / e2;
        assert!((1.8..2.2).contains(&ratio), "Euler error ratio {ratio}");
    }

    /// OU mean: dm/dt = kappa (mu - m) has m(t) = mu + (m0 - mu) e^{-kappa t}.
    struct OuMean {
        kappa: f64,
        mu: f64,
    }

    impl VectorField for OuMean {
        fn dim(&self) -> usize {
            1
        }
        fn eval(&self, x: &State, dx: &mut State) {
            dx[0] = self.kappa * (self.mu - x[0]);
        }
    }

    #[test]
    fn ou_mean_path_matches_closed_form() {
        let f = OuMean { kappa: 1.7, mu: 0.4 };
        let mut x = [0.0; MAX_STATE];
        x[0] = -1.0;
        let dt = 0.01;
        // On a linear ODE one RK4 step multiplies the deviation by the
        // degree-4 Taylor polynomial of exp(z), z = -kappa dt.
        let z = -f.kappa * dt;
        let r = 1.0 + z + z * z / 2.0 + z * z * z / 6.0 + z * z * z * z / 24.0;
        for n in 1..=300 {
            rk4_step(&f, &mut x, dt);
            let t = n as f64 * dt;
            let rk4 = f.mu + (-1.0 - f.mu) * r.powi(n);
            assert!((x[0] - rk4).abs() < 1e-13, "t={t}: {} vs {rk4}", x[0]);
            let exact = f.mu + (-1.0 - f.mu) * (-f.kappa * t).exp();
            assert!((x[0] - exact).abs() < 1e-9, "t={t}: {} vs {exact}", x[0]);
        }
    }

    #[test]
    fn untouched_entries_stay_put() {
        let f = OuMean { kappa: 1.0, mu: 0.0 };
        let mut x = [7.0; MAX_STATE];
        integrate(&f, Method::Rk4, &mut x, 0.1, 10);
        assert!(x[1..].iter().all(|&v| v == 7.0));
    }
}
