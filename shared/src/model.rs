//! The hybrid vector field `f(x) = f_phys(x; theta_phy) + f_nn(x; theta_nn)`
//! and its optional diffusion `g(x)`.
//!
//! - `f_phys` is one named, interpretable [`Physics`] term per state
//!   dimension: Ornstein-Uhlenbeck mean reversion, GBM drift or volatility
//!   mean reversion.
//! - `f_nn` is an MLP with up to [`MAX_LAYERS`] hidden layers of at most
//!   [`MAX_HIDDEN`] units. Weights are stored column by column so the inner
//!   loop is an `axpy` over outputs, which the compiler vectorises.
//! - `g` is either zero, the constant `sigma` of each physics term, or a
//!   neural diagonal diffusion `softplus(D x + c)` (neural SDE mode).
//!
//! Sizes are fixed maxima, so a model is one flat value with no allocation;
//! the dimensions in use come from the model file.

use serde::{Deserialize, Serialize};

use crate::integrator::{self, Method, VectorField};

/// Largest state dimension a model may have.
pub const MAX_STATE: usize = 8;
/// Largest hidden-layer width.
pub const MAX_HIDDEN: usize = 64;
/// Largest number of hidden layers.
pub const MAX_LAYERS: usize = 3;
/// Largest number of weights a model file may carry: the MLP at its maximum
/// size plus a neural diffusion layer.
pub const MAX_PARAMS: usize = (MAX_STATE * MAX_HIDDEN + MAX_HIDDEN)
    + (MAX_LAYERS - 1) * (MAX_HIDDEN * MAX_HIDDEN + MAX_HIDDEN)
    + (MAX_HIDDEN * MAX_STATE + MAX_STATE)
    + (MAX_STATE * MAX_STATE + MAX_STATE);

/// A model state; only the first `dim` entries are meaningful.
pub type State = [f64; MAX_STATE];

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `tanh` (libm here, LibTorch in the trainer: equal to about 1 ulp).
    Tanh,
    /// The [3/2] Pade approximant of tanh on `[-3, 3]`, clamped:
    /// `y (27 + y^2) / (27 + 9 y^2)` with `y = clamp(x, -3, 3)`. It is exactly
    /// +-1 with zero slope at +-3, so it is C1, and it is built only from
    /// IEEE `+ * /`, so the trainer and the runtime compute bit-identical
    /// values. About 10x cheaper than `tanh`.
    PadeTanh,
}

impl Activation {
    /// Applies the activation to one value.
    #[inline(always)]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Self::Tanh => libm::tanh(x),
            Self::PadeTanh => pade_tanh(x),
        }
    }
}

/// See [`Activation::PadeTanh`].
#[inline(always)]
pub fn pade_tanh(x: f64) -> f64 {
    let y = x.clamp(-3.0, 3.0);
    let y2 = y * y;
    y * (27.0 + y2) / (27.0 + 9.0 * y2)
}

/// `ln(1 + e^z)`, linear above 20 as LibTorch's default `softplus` is.
#[inline]
pub fn softplus(z: f64) -> f64 {
    if z > 20.0 { z } else { libm::log1p(libm::exp(z)) }
}

/// The physical prior acting on one state dimension `x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Physics {
    /// No prior: the network alone drives this dimension.
    None,
    /// Ornstein-Uhlenbeck: `dx = kappa (mu - x) dt + sigma dW`.
    OrnsteinUhlenbeck {
        /// Mean-reversion speed (per unit of model time), `> 0`.
        kappa: f64,
        /// Long-run level.
        mu: f64,
        /// Diffusion, `>= 0`.
        sigma: f64,
    },
    /// Geometric Brownian motion in log price: `dx = mu dt + sigma dW`.
    GbmDrift {
        /// Drift of the log price.
        mu: f64,
        /// Volatility, `>= 0`.
        sigma: f64,
    },
    /// Mean-reverting volatility: `dv = kappa (theta - v) dt + xi dW`.
    VolatilityReversion {
        /// Reversion speed, `> 0`.
        kappa: f64,
        /// Long-run volatility level.
        theta: f64,
        /// Volatility of volatility, `>= 0`.
        xi: f64,
    },
}

impl Physics {
    /// The drift `f_phys(x)` for this dimension.
    #[inline(always)]
    pub fn drift(&self, x: f64) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::OrnsteinUhlenbeck { kappa, mu, .. } => kappa * (mu - x),
            Self::GbmDrift { mu, .. } => mu,
            Self::VolatilityReversion { kappa, theta, .. } => kappa * (theta - x),
        }
    }

    /// The constant diffusion of this prior.
    pub fn sigma(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::OrnsteinUhlenbeck { sigma, .. } | Self::GbmDrift { sigma, .. } => sigma,
            Self::VolatilityReversion { xi, .. } => xi,
        }
    }

    /// Parameters finite and in their valid range.
    pub fn is_valid(&self) -> bool {
        match *self {
            Self::None => true,
            Self::OrnsteinUhlenbeck { kappa, mu, sigma } => {
                kappa > 0.0 && kappa.is_finite() && mu.is_finite() && sigma >= 0.0 && sigma.is_finite()
            }
            Self::GbmDrift { mu, sigma } => mu.is_finite() && sigma >= 0.0 && sigma.is_finite(),
            Self::VolatilityReversion { kappa, theta, xi } => {
                kappa > 0.0 && kappa.is_finite() && theta.is_finite() && xi >= 0.0 && xi.is_finite()
            }
        }
    }
}

/// How the model produces the variance that sizing divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffusionKind {
    /// No diffusion: the runtime uses the features' EWMA return variance.
    None,
    /// The constant `sigma` of each physics term.
    Physics,
    /// Neural diagonal diffusion `g(x) = softplus(D x + c)` (neural SDE mode).
    Neural,
}

/// Where one dense layer lives in the parameter arena: `inputs * outputs`
/// weights stored column by column (all weights from input 0, then input 1,
/// ...), followed by `outputs` biases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Layer {
    offset: usize,
    inputs: usize,
    outputs: usize,
}

/// Number of weights plus biases of an `inputs -> outputs` dense layer.
pub const fn dense_param_count(inputs: usize, outputs: usize) -> usize {
    inputs * outputs + outputs
}

impl Layer {
    /// Copies a layer given in LibTorch's `nn.Linear` order (the
    /// `[outputs][inputs]` weight matrix row by row, then the bias) at the
    /// front of `src` into the arena at `offset`, transposed to column-major.
    /// Returns the layer and the unread rest of `src`, or `None` if either
    /// side is too short.
    fn load<'a>(
        arena: &mut [f64; MAX_PARAMS],
        offset: usize,
        inputs: usize,
        outputs: usize,
        src: &'a [f64],
    ) -> Option<(Self, &'a [f64])> {
        let n = dense_param_count(inputs, outputs);
        let (mine, rest) = src.split_at_checked(n)?;
        let (w, b) = mine.split_at_checked(inputs * outputs)?;
        let dst = arena.get_mut(offset..offset + n)?;
        let (dw, db) = dst.split_at_mut(inputs * outputs);
        for (o, row) in w.chunks_exact(inputs.max(1)).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                *dw.get_mut(i * outputs + o)? = v;
            }
        }
        db.copy_from_slice(b);
        Some((Self { offset, inputs, outputs }, rest))
    }

    /// `y = act(W x + b)` over the layer's sizes (`act = None`: linear).
    ///
    /// Common widths go through [`forward_fixed`], whose loops have a
    /// compile-time length and unroll into straight-line vector code; other
    /// widths through a plain loop (bias first, then input columns in
    /// order). Each width always takes the same path, in the same order of
    /// operations, in both builds of the kernel. `WIDE` picks
    /// register blocks for sixteen 4-lane registers (the AVX2 build) instead
    /// of sixteen 2-lane ones; the block size changes which outputs are
    /// computed together, never the operations on any one of them.
    #[inline(always)]
    fn forward<const WIDE: bool>(
        &self,
        arena: &[f64; MAX_PARAMS],
        x: &[f64; MAX_HIDDEN],
        y: &mut [f64; MAX_HIDDEN],
        act: Option<Activation>,
    ) {
        let n = self.outputs;
        let Some(params) = arena.get(self.offset..self.offset + dense_param_count(self.inputs, n)) else {
            return;
        };
        let (w, b) = params.split_at(self.inputs * n);
        let cols = x.get(..self.inputs).unwrap_or(&[]);
        match n {
            4 => forward_fixed::<4, 4>(w, b, cols, y, act),
            8 => forward_fixed::<8, 8>(w, b, cols, y, act),
            16 => forward_fixed::<16, 16>(w, b, cols, y, act),
            32 if WIDE => forward_fixed::<32, 32>(w, b, cols, y, act),
            32 => forward_fixed::<32, 16>(w, b, cols, y, act),
            64 if WIDE => forward_fixed::<64, 32>(w, b, cols, y, act),
            64 => forward_fixed::<64, 16>(w, b, cols, y, act),
            _ => {
                for (yo, bo) in y.iter_mut().zip(b) {
                    *yo = *bo;
                }
                for (col, &xi) in w.chunks_exact(n.max(1)).zip(cols) {
                    for (yo, wo) in y.iter_mut().zip(col) {
                        *yo += wo * xi;
                    }
                }
                if let Some(act) = act {
                    y.iter_mut().take(n).for_each(|v| *v = act.apply(*v));
                }
            }
        }
    }
}

/// [`Layer::forward`] for a width `N` known at compile time, in register
/// blocks of `B` outputs: each block's accumulators stay in registers while
/// every input column is added in (`B / lanes` accumulators, a broadcast
/// input and a product must fit in x86-64's sixteen vector registers). Each
/// output sums bias first, then its inputs in order, except in layers of at
/// most 8 outputs, which sum even and odd columns apart and then join them
/// (see below). `B` never changes the operations on any one output.
#[inline(always)]
// Every index below is `blk + k` with `blk + B <= N` (`N % B == 0`, checked
// at compile time) into arrays of length `N`: in bounds by construction, and
// after monomorphisation the indices are constants with no check left.
#[allow(clippy::indexing_slicing)]
fn forward_fixed<const N: usize, const B: usize>(
    w: &[f64],
    b: &[f64],
    cols: &[f64],
    y: &mut [f64; MAX_HIDDEN],
    act: Option<Activation>,
) {
    const { assert!(B > 0 && N.is_multiple_of(B) && N <= MAX_HIDDEN) };
    let (wcols, _) = w.as_chunks::<N>();
    let (Some(bias), Some(out)) = (b.first_chunk::<N>(), y.first_chunk_mut::<N>()) else {
        return;
    };
    let mut blk = 0;
    while blk < N {
        let mut acc = [0.0; B];
        acc.copy_from_slice(&bias[blk..blk + B]);
        if N <= 8 {
            // A narrow layer fills one or two vector registers, so its sum
            // is one chain of dependent adds, a column long. Two chains,
            // even and odd columns, joined at the end, halve the wait.
            let mut odd = [0.0; B];
            let (wpairs, wlast) = wcols.as_chunks::<2>();
            let (xpairs, xlast) = cols.as_chunks::<2>();
            for (w, x) in wpairs.iter().zip(xpairs) {
                for k in 0..B {
                    acc[k] += w[0][blk + k] * x[0];
                    odd[k] += w[1][blk + k] * x[1];
                }
            }
            for (wcol, &xi) in wlast.iter().zip(xlast) {
                for k in 0..B {
                    acc[k] += wcol[blk + k] * xi;
                }
            }
            for k in 0..B {
                acc[k] += odd[k];
            }
        } else {
            for (wcol, &xi) in wcols.iter().zip(cols) {
                for k in 0..B {
                    acc[k] += wcol[blk + k] * xi;
                }
            }
        }
        match act {
            None => {}
            Some(Activation::PadeTanh) => acc.iter_mut().for_each(|v| *v = pade_tanh(*v)),
            Some(Activation::Tanh) => acc.iter_mut().for_each(|v| *v = libm::tanh(*v)),
        }
        out[blk..blk + B].copy_from_slice(&acc);
        blk += B;
    }
}

/// Why a model description was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeError {
    /// A dimension is zero or above its maximum.
    Dimension {
        /// Which dimension.
        what: &'static str,
        /// The value found.
        found: usize,
        /// Its largest allowed value.
        max: usize,
    },
    /// The weight vector has the wrong length for the declared layers.
    WeightCount {
        /// Length the layers need.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// A list that needs one entry per state dimension has another length.
    PerDimension {
        /// Which list.
        what: &'static str,
        /// State dimension.
        expected: usize,
        /// Entries found.
        found: usize,
    },
    /// A parameter is NaN, infinite or out of its valid range.
    Parameter {
        /// Which parameter.
        what: &'static str,
    },
}

impl core::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Dimension { what, found, max } => {
                write!(f, "{what} is {found}, must be between 1 and {max}")
            }
            Self::WeightCount { expected, found } => {
                write!(f, "the layers need {expected} weights but the file has {found}")
            }
            Self::PerDimension { what, expected, found } => {
                write!(f, "{what} needs one entry per state dimension ({expected}) but has {found}")
            }
            Self::Parameter { what } => write!(f, "parameter {what} is not finite or out of range"),
        }
    }
}

impl core::error::Error for ShapeError {}

/// The layer sizes of a model: state dimension, hidden widths, diffusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape<'a> {
    /// State dimension.
    pub dim: usize,
    /// Hidden-layer widths (empty: physics only, no network).
    pub hidden: &'a [u16],
    /// The diffusion kind (a neural one carries a `dim x dim` layer).
    pub diffusion: DiffusionKind,
}

impl Shape<'_> {
    /// Number of parameters these sizes need, in file order.
    pub fn param_count(&self) -> usize {
        let mut n = 0;
        if !self.hidden.is_empty() {
            let mut prev = self.dim;
            for &h in self.hidden {
                n += dense_param_count(prev, usize::from(h));
                prev = usize::from(h);
            }
            n += dense_param_count(prev, self.dim);
        }
        if self.diffusion == DiffusionKind::Neural {
            n += dense_param_count(self.dim, self.dim);
        }
        n
    }

    /// Checks every size against the maxima.
    ///
    /// # Errors
    /// [`ShapeError::Dimension`] naming the size that is out of range.
    pub fn validate(&self) -> Result<(), ShapeError> {
        if self.dim == 0 || self.dim > MAX_STATE {
            return Err(ShapeError::Dimension { what: "state dimension", found: self.dim, max: MAX_STATE });
        }
        if self.hidden.len() > MAX_LAYERS {
            return Err(ShapeError::Dimension {
                what: "number of hidden layers",
                found: self.hidden.len(),
                max: MAX_LAYERS,
            });
        }
        for &h in self.hidden {
            if h == 0 || usize::from(h) > MAX_HIDDEN {
                return Err(ShapeError::Dimension { what: "hidden width", found: usize::from(h), max: MAX_HIDDEN });
            }
        }
        Ok(())
    }
}

/// Result of integrating the model over its horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The state at the end of the horizon (mean path).
    pub end: State,
    /// Accumulated variance `sum g(x_k)^2 dt` per dimension along the path
    /// (zero when the model has no diffusion).
    pub variance: State,
}

/// A ready-to-run hybrid model: vector field, diffusion and horizon.
///
/// All weights sit in one column-major arena, so the struct is about
/// 76 KiB: the runtime boxes it once at start-up.
#[derive(Clone, PartialEq)]
pub struct HybridModel {
    dim: usize,
    physics: [Physics; MAX_STATE],
    arena: [f64; MAX_PARAMS],
    layers: [Layer; MAX_LAYERS + 1],
    n_layers: usize,
    activation: Activation,
    diffusion: DiffusionKind,
    diffusion_layer: Layer,
    method: Method,
    dt: f64,
    steps: usize,
}

impl core::fmt::Debug for HybridModel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HybridModel")
            .field("dim", &self.dim)
            .field("physics", &self.physics())
            .field("layers", &self.layers.get(..self.n_layers))
            .field("activation", &self.activation)
            .field("diffusion", &self.diffusion)
            .field("method", &self.method)
            .field("dt", &self.dt)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl HybridModel {
    /// Builds a model from its sizes, its physics terms (one per dimension),
    /// its activation, integrator settings and the flat parameter vector in
    /// file order (each MLP layer as `nn.Linear` stores it, then the
    /// diffusion layer).
    ///
    /// # Errors
    /// [`ShapeError`] when sizes, the number of weights or a parameter is wrong.
    pub fn new(
        shape: Shape<'_>,
        physics: &[Physics],
        activation: Activation,
        method: Method,
        dt: f64,
        steps: usize,
        params: &[f64],
    ) -> Result<Self, ShapeError> {
        shape.validate()?;
        let dim = shape.dim;
        if physics.len() != dim {
            return Err(ShapeError::PerDimension { what: "physics", expected: dim, found: physics.len() });
        }
        if physics.iter().any(|p| !p.is_valid()) {
            return Err(ShapeError::Parameter { what: "physics" });
        }
        if !(dt > 0.0 && dt.is_finite()) {
            return Err(ShapeError::Parameter { what: "dt" });
        }
        if steps == 0 {
            return Err(ShapeError::Parameter { what: "horizon steps" });
        }
        let expected = shape.param_count();
        if params.len() != expected {
            return Err(ShapeError::WeightCount { expected, found: params.len() });
        }
        if params.iter().any(|w| !w.is_finite()) {
            return Err(ShapeError::Parameter { what: "weights" });
        }
        let mut model = Self {
            dim,
            physics: [Physics::None; MAX_STATE],
            arena: [0.0; MAX_PARAMS],
            layers: [Layer::default(); MAX_LAYERS + 1],
            n_layers: 0,
            activation,
            diffusion: shape.diffusion,
            diffusion_layer: Layer::default(),
            method,
            dt,
            steps,
        };
        for (dst, src) in model.physics.iter_mut().zip(physics) {
            *dst = *src;
        }
        let count_err = ShapeError::WeightCount { expected, found: params.len() };
        let mut rest = params;
        let mut offset = 0;
        if !shape.hidden.is_empty() {
            let mut prev = dim;
            let widths = shape.hidden.iter().map(|&h| usize::from(h)).chain(core::iter::once(dim));
            for (slot, width) in model.layers.iter_mut().zip(widths) {
                let (layer, r) = Layer::load(&mut model.arena, offset, prev, width, rest).ok_or(count_err)?;
                *slot = layer;
                rest = r;
                offset += dense_param_count(prev, width);
                prev = width;
                model.n_layers += 1;
            }
        }
        if shape.diffusion == DiffusionKind::Neural {
            let (layer, r) = Layer::load(&mut model.arena, offset, dim, dim, rest).ok_or(count_err)?;
            model.diffusion_layer = layer;
            rest = r;
        }
        if !rest.is_empty() {
            return Err(count_err);
        }
        Ok(model)
    }

    /// Runs `f_nn` on the first `dim` entries of `x`, adding its output into `out`.
    #[inline(always)]
    fn add_network<const WIDE: bool>(&self, x: &State, out: &mut State) {
        let mut a = [0.0; MAX_HIDDEN];
        let mut b = [0.0; MAX_HIDDEN];
        for (dst, &src) in a.iter_mut().zip(x.iter()).take(self.dim) {
            *dst = src;
        }
        // each layer reads one buffer and writes the other; swapping the
        // references, not the 512-byte arrays
        let (mut input, mut output) = (&mut a, &mut b);
        let last = self.n_layers.saturating_sub(1);
        for (k, layer) in self.layers.iter().enumerate().take(self.n_layers) {
            let act = if k < last { Some(self.activation) } else { None };
            layer.forward::<WIDE>(&self.arena, input, output, act);
            core::mem::swap(&mut input, &mut output);
        }
        for (o, &v) in out.iter_mut().zip(input.iter()).take(self.dim) {
            *o += v;
        }
    }

    /// State dimension.
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// Integrator step.
    pub const fn dt(&self) -> f64 {
        self.dt
    }

    /// Steps per forecast.
    pub const fn steps(&self) -> usize {
        self.steps
    }

    /// Integration scheme.
    pub const fn method(&self) -> Method {
        self.method
    }

    /// The physics term of each dimension.
    pub fn physics(&self) -> &[Physics] {
        self.physics.get(..self.dim).unwrap_or(&[])
    }

    /// How the diffusion is produced.
    pub const fn diffusion_kind(&self) -> DiffusionKind {
        self.diffusion
    }

    /// Writes the diffusion `g(x)` (per-dimension standard deviation rate).
    pub fn diffusion(&self, x: &State, g: &mut State) {
        match self.diffusion {
            DiffusionKind::None => g.iter_mut().take(self.dim).for_each(|v| *v = 0.0),
            DiffusionKind::Physics => {
                for (v, p) in g.iter_mut().zip(&self.physics).take(self.dim) {
                    *v = p.sigma();
                }
            }
            DiffusionKind::Neural => {
                let mut input = [0.0; MAX_HIDDEN];
                let mut z = [0.0; MAX_HIDDEN];
                for (dst, &src) in input.iter_mut().zip(x.iter()).take(self.dim) {
                    *dst = src;
                }
                self.diffusion_layer.forward::<false>(&self.arena, &input, &mut z, None);
                for (v, &zi) in g.iter_mut().zip(z.iter()).take(self.dim) {
                    *v = softplus(zi);
                }
            }
        }
    }

    /// Integrates the mean path over the horizon from `x0` and accumulates
    /// the diffusion's variance (Euler-Maruyama: `g(x_k)^2 dt` at the start
    /// of each step).
    ///
    /// Runs the kernel built for AVX2 when the CPU has it and the baseline
    /// build otherwise; both do the same IEEE operations in the same order
    /// (no fused multiply-add), so the result is bit-identical on every x86-64
    /// CPU. See [`kernel_name`] and [`HybridModel::forecast_baseline`].
    pub fn forecast(&self, x0: &State) -> Forecast {
        kernel::forecast(self, x0)
    }

    /// [`HybridModel::forecast`] on the baseline build of the kernel whatever
    /// the CPU (SSE2 on x86-64): the reference the AVX2 build is checked and
    /// benchmarked against.
    pub fn forecast_baseline(&self, x0: &State) -> Forecast {
        self.forecast_with(x0, |x, dx| self.eval(x, dx))
    }

    /// The forecast loop over a given build of the vector field: inlined into
    /// each kernel so the whole step is compiled for that kernel's CPU
    /// features.
    #[inline(always)]
    fn forecast_with(&self, x0: &State, mut eval: impl FnMut(&State, &mut State)) -> Forecast {
        let mut x = *x0;
        let mut variance = [0.0; MAX_STATE];
        let mut g = [0.0; MAX_STATE];
        for _ in 0..self.steps {
            if self.diffusion != DiffusionKind::None {
                self.diffusion(&x, &mut g);
                for (v, gi) in variance.iter_mut().zip(&g).take(self.dim) {
                    *v += gi * gi * self.dt;
                }
            }
            integrator::step_with(self.method, self.dim, &mut x, self.dt, &mut eval);
        }
        Forecast { end: x, variance }
    }

    /// `f(x) = f_phys(x) + f_nn(x)`, inlined into each kernel build.
    #[inline(always)]
    fn eval_inline<const WIDE: bool>(&self, x: &State, dx: &mut State) {
        for ((d, p), &xi) in dx.iter_mut().zip(&self.physics).zip(x.iter()).take(self.dim) {
            *d = p.drift(xi);
        }
        if self.n_layers > 0 {
            self.add_network::<WIDE>(x, dx);
        }
    }
}

/// Which build of the model kernel [`HybridModel::forecast`] runs on this CPU:
/// `"avx2"` or `"baseline"`.
pub fn kernel_name() -> &'static str {
    if kernel::has_avx2() { "avx2" } else { "baseline" }
}

/// The one place in this crate with `unsafe`: calling the AVX2 build of the
/// kernel once the CPU is known to support it.
#[allow(unsafe_code)]
mod kernel {
    use super::{Forecast, HybridModel, State};

    #[cfg(target_arch = "x86_64")]
    cpufeatures::new!(cpu_avx2, "avx2");

    /// Whether the CPU and the operating system support AVX2 (CPUID and the
    /// saved-register mask XCR0; read once, then cached).
    pub(super) fn has_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            cpu_avx2::get()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    pub(super) fn forecast(m: &HybridModel, x0: &State) -> Forecast {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: `forecast_avx2` only needs AVX2, and `has_avx2` has
            // just confirmed that this CPU has it and the OS saves its
            // registers.
            return unsafe { forecast_avx2(m, x0) };
        }
        m.forecast_baseline(x0)
    }

    /// The vector field compiled for AVX2: the same source as the baseline
    /// build, with four-lane vectors. Rust never fuses `a * b + c` into one
    /// multiply-add by itself, so the results are the baseline's bits; the
    /// kernel must never call `mul_add`, which rounds once where the
    /// baseline rounds twice (`kernels_agree_bit_for_bit` would catch it).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline(never)]
    fn eval_avx2(m: &HybridModel, x: &State, dx: &mut State) {
        m.eval_inline::<true>(x, dx);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn forecast_avx2(m: &HybridModel, x0: &State) -> Forecast {
        m.forecast_with(x0, |x, dx| eval_avx2(m, x, dx))
    }
}

impl VectorField for HybridModel {
    #[inline(always)]
    fn dim(&self) -> usize {
        self.dim
    }

    // one out-of-line copy that the four stages of an RK4 step all call
    #[inline(never)]
    fn eval(&self, x: &State, dx: &mut State) {
        self.eval_inline::<false>(x, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ou(kappa: f64) -> Physics {
        Physics::OrnsteinUhlenbeck { kappa, mu: 0.0, sigma: 0.2 }
    }

    /// A naive row-major reference implementation of the same MLP.
    fn reference_mlp(dim: usize, hidden: &[usize], params: &[f64], act: Activation, x: &[f64]) -> Vec<f64> {
        let mut sizes = vec![dim];
        sizes.extend_from_slice(hidden);
        sizes.push(dim);
        let mut a: Vec<f64> = x[..dim].to_vec();
        let mut off = 0;
        for l in 0..sizes.len() - 1 {
            let (i_n, o_n) = (sizes[l], sizes[l + 1]);
            let w = &params[off..off + i_n * o_n];
            let b = &params[off + i_n * o_n..off + i_n * o_n + o_n];
            off += i_n * o_n + o_n;
            let mut y = vec![0.0; o_n];
            for o in 0..o_n {
                y[o] = b[o] + (0..i_n).map(|i| w[o * i_n + i] * a[i]).sum::<f64>();
                if l + 2 < sizes.len() {
                    y[o] = act.apply(y[o]);
                }
            }
            a = y;
        }
        a
    }

    fn params(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.6
            })
            .collect()
    }

    #[test]
    fn pade_tanh_is_close_to_tanh_and_c1() {
        for k in -600..=600 {
            let x = k as f64 / 100.0;
            assert!((pade_tanh(x) - x.tanh()).abs() < 0.025, "x={x}");
        }
        assert_eq!(pade_tanh(3.0), 1.0);
        assert_eq!(pade_tanh(-3.0), -1.0);
        assert_eq!(pade_tanh(1e300), 1.0);
        assert_eq!(pade_tanh(0.0), 0.0);
        let h = 1e-6;
        let slope = (pade_tanh(3.0) - pade_tanh(3.0 - h)) / h;
        assert!(slope.abs() < 1e-5, "slope at 3: {slope}");
    }

    #[test]
    fn mlp_matches_reference_layout() {
        let hidden = [32u16, 32];
        let shape = Shape { dim: 4, hidden: &hidden, diffusion: DiffusionKind::None };
        let p = params(shape.param_count(), 7);
        assert_eq!(p.len(), (4 * 32 + 32) + (32 * 32 + 32) + (32 * 4 + 4));
        let phys = [Physics::None; 4];
        let m = HybridModel::new(shape, &phys, Activation::Tanh, Method::Rk4, 0.1, 1, &p).unwrap();
        let mut x = [0.0; MAX_STATE];
        x[..4].copy_from_slice(&[0.3, -1.2, 0.8, 0.05]);
        let mut dx = [0.0; MAX_STATE];
        m.eval(&x, &mut dx);
        let want = reference_mlp(4, &[32, 32], &p, Activation::Tanh, &x);
        for i in 0..4 {
            assert!((dx[i] - want[i]).abs() < 1e-12, "{i}: {} vs {}", dx[i], want[i]);
        }
    }

    #[test]
    fn every_width_path_matches_reference() {
        // 4 and 8 take the fixed-width kernels, 5 and 3 the generic loop.
        for (dim, hidden) in [(3usize, vec![5u16, 8]), (5, vec![4, 3, 16]), (2, vec![64])] {
            let shape = Shape { dim, hidden: &hidden, diffusion: DiffusionKind::None };
            let p = params(shape.param_count(), dim as u64);
            let phys = vec![Physics::None; dim];
            for act in [Activation::Tanh, Activation::PadeTanh] {
                let m = HybridModel::new(shape, &phys, act, Method::Rk4, 0.1, 1, &p).unwrap();
                let mut x = [0.0; MAX_STATE];
                for (i, v) in x.iter_mut().take(dim).enumerate() {
                    *v = 0.7 - 0.4 * i as f64;
                }
                let mut dx = [0.0; MAX_STATE];
                m.eval(&x, &mut dx);
                let h: Vec<usize> = hidden.iter().map(|&h| usize::from(h)).collect();
                let want = reference_mlp(dim, &h, &p, act, &x);
                for i in 0..dim {
                    assert!((dx[i] - want[i]).abs() < 1e-12, "{hidden:?} {act:?} {i}: {} vs {}", dx[i], want[i]);
                }
            }
        }
    }

    #[test]
    fn physics_only_model_is_ou() {
        let shape = Shape { dim: 1, hidden: &[], diffusion: DiffusionKind::Physics };
        let m = HybridModel::new(shape, &[ou(2.0)], Activation::Tanh, Method::Rk4, 0.05, 20, &[]).unwrap();
        let mut x = [0.0; MAX_STATE];
        x[0] = 1.0;
        let f = m.forecast(&x);
        assert!((f.end[0] - (-2.0f64).exp()).abs() < 1e-6);
        assert!((f.variance[0] - 0.04 * 1.0).abs() < 1e-12);
    }

    #[test]
    fn refuses_wrong_shapes() {
        let hidden = [8u16];
        let shape = Shape { dim: 2, hidden: &hidden, diffusion: DiffusionKind::Neural };
        let n = shape.param_count();
        assert_eq!(n, (2 * 8 + 8) + (8 * 2 + 2) + (2 * 2 + 2));
        let phys = [Physics::None; 2];
        let p = params(n, 1);
        let mk =
            |p: &[f64], phys: &[Physics]| HybridModel::new(shape, phys, Activation::PadeTanh, Method::Euler, 1.0, 1, p);
        assert!(mk(&p, &phys).is_ok());
        assert_eq!(mk(&p[..n - 1], &phys), Err(ShapeError::WeightCount { expected: n, found: n - 1 }));
        assert_eq!(mk(&p, &phys[..1]), Err(ShapeError::PerDimension { what: "physics", expected: 2, found: 1 }));
        let mut bad = p.clone();
        bad[3] = f64::NAN;
        assert_eq!(mk(&bad, &phys), Err(ShapeError::Parameter { what: "weights" }));
        assert_eq!(mk(&p, &[ou(-1.0), Physics::None]), Err(ShapeError::Parameter { what: "physics" }));
        let too_wide = [65u16];
        let s = Shape { dim: 2, hidden: &too_wide, diffusion: DiffusionKind::None };
        assert!(matches!(s.validate(), Err(ShapeError::Dimension { what: "hidden width", .. })));
    }

    proptest::proptest! {
        /// The AVX2 build of the kernel (when this CPU has AVX2) and the
        /// baseline build give the same bits for every shape the kernels
        /// special-case or not: fixed and generic widths, narrow layers
        /// (even and odd columns summed apart) with odd and even column
        /// counts, both activations, both integrators, every diffusion kind.
        #[test]
        fn kernels_agree_bit_for_bit(
            dim in 1usize..=MAX_STATE,
            hidden in proptest::collection::vec(proptest::sample::select(vec![1u16, 3, 4, 5, 8, 13, 16, 32, 64]), 0..=MAX_LAYERS),
            pade in proptest::bool::ANY,
            rk4 in proptest::bool::ANY,
            diffusion in proptest::sample::select(vec![DiffusionKind::None, DiffusionKind::Physics, DiffusionKind::Neural]),
            steps in 1usize..4,
            seed in 0u64..1_000_000,
            x0 in proptest::collection::vec(-4.0f64..4.0, MAX_STATE),
        ) {
            let shape = Shape { dim, hidden: &hidden, diffusion };
            let p = params(shape.param_count(), seed);
            let phys: Vec<Physics> = (0..dim)
                .map(|i| match i % 3 {
                    0 => Physics::OrnsteinUhlenbeck { kappa: 0.4, mu: 0.1, sigma: 0.3 },
                    1 => Physics::None,
                    _ => Physics::VolatilityReversion { kappa: 0.2, theta: -0.1, xi: 0.05 },
                })
                .collect();
            let act = if pade { Activation::PadeTanh } else { Activation::Tanh };
            let method = if rk4 { Method::Rk4 } else { Method::Euler };
            let m = HybridModel::new(shape, &phys, act, method, 0.25, steps, &p).unwrap();
            let x: State = x0.try_into().unwrap();
            let (a, b) = (m.forecast(&x), m.forecast_baseline(&x));
            for i in 0..MAX_STATE {
                proptest::prop_assert_eq!(a.end[i].to_bits(), b.end[i].to_bits(), "end[{}]", i);
                proptest::prop_assert_eq!(a.variance[i].to_bits(), b.variance[i].to_bits(), "variance[{}]", i);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_kernel_runs_where_the_cpu_has_avx2() {
        let want = if std::is_x86_feature_detected!("avx2") { "avx2" } else { "baseline" };
        assert_eq!(kernel_name(), want);
    }

    #[test]
    fn neural_diffusion_is_positive() {
        let shape = Shape { dim: 2, hidden: &[], diffusion: DiffusionKind::Neural };
        let p = params(shape.param_count(), 3);
        let m = HybridModel::new(shape, &[Physics::None; 2], Activation::Tanh, Method::Rk4, 0.1, 3, &p).unwrap();
        let mut g = [0.0; MAX_STATE];
        m.diffusion(&[1.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut g);
        assert!(g[0] > 0.0 && g[1] > 0.0);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(softplus(30.0), 30.0);
    }
}
