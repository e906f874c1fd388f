//! The differentiable hybrid ODE in LibTorch, in f64:
//! `dx/dt = f_phys(x) + f_nn(x)`, optional diffusion `g(x)`.
//!
//! It computes what `odex_shared::model::HybridModel` computes, operation for
//! operation, so that an exported model integrates the same in the runtime:
//! - physics: `kappa (mu - x)` per dimension plus a constant drift, with
//!   `kappa = softplus(raw) > 0` and `sigma = softplus(raw) >= 0`, each a
//!   named variable (`phys.I.kappa_raw`, `phys.I.mu`, ...);
//! - the MLP: `nn.Linear` layers (`nn.K.weight` `[out][in]`, `nn.K.bias`),
//!   hidden activations `tanh` or the clamped Pade tanh with the same
//!   operation order as `odex_shared::model::pade_tanh` (bit-identical);
//! - diffusion: none, the physics sigmas, or `softplus(D x + c)`;
//! - integrators: explicit Euler and RK4 with `odex_shared::integrator`'s
//!   stage order and arithmetic.
//!
//! Export ([`HybridNet::weights`], [`HybridNet::physics`]) is a flat copy in
//! the model file's order.

use odex_shared::Method;
use odex_shared::model::{Activation, DiffusionKind, Physics};
use tch::{Device, Kind, Tensor, nn};

use crate::config::{ActivationKind, Config, DiffusionChoice, MethodChoice, PhysicsKind};

/// The sizes and choices that fix a model's architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Architecture {
    /// One physics prior per state dimension.
    pub physics: Vec<PhysicsKind>,
    /// Hidden widths (empty: physics only).
    pub hidden: Vec<u16>,
    /// Hidden activation.
    pub activation: Activation,
    /// Diffusion mode.
    pub diffusion: DiffusionKind,
    /// Integrator.
    pub method: Method,
    /// Integrator steps per observation interval.
    pub substeps: u32,
}

impl Architecture {
    /// The architecture a configuration describes.
    pub fn from_config(cfg: &Config) -> Self {
        let m = &cfg.model;
        Self {
            physics: m.physics.clone(),
            hidden: m.hidden.clone(),
            activation: match m.activation {
                ActivationKind::Tanh => Activation::Tanh,
                ActivationKind::PadeTanh => Activation::PadeTanh,
            },
            diffusion: match m.diffusion {
                DiffusionChoice::None => DiffusionKind::None,
                DiffusionChoice::Physics => DiffusionKind::Physics,
                DiffusionChoice::Neural => DiffusionKind::Neural,
            },
            method: match m.method {
                MethodChoice::Euler => Method::Euler,
                MethodChoice::Rk4 => Method::Rk4,
            },
            substeps: m.substeps,
        }
    }

    /// State dimension.
    pub fn dim(&self) -> usize {
        self.physics.len()
    }

    /// Integrator step in observation intervals, as exported.
    pub fn dt(&self) -> f64 {
        1.0 / f64::from(self.substeps)
    }
}

/// Named physics variables of one dimension. Unconstrained "raw" values
/// pass through softplus; drifts and diffusions are multiplied by a fixed
/// per-dimension `scale` (the standard deviation of one-interval changes in
/// the training data) so that Adam's steps, which are about `lr` in size
/// whatever the gradient's scale, are relative to each parameter's natural
/// size (a drift of 1e-5 per bar needs this to be fitted to 1%).
#[derive(Debug)]
enum PhysVars {
    None,
    Ou { kappa_raw: Tensor, mu: Tensor, sigma_raw: Tensor, scale: f64 },
    Gbm { mu_raw: Tensor, sigma_raw: Tensor, scale: f64 },
    Vol { kappa_raw: Tensor, theta: Tensor, xi_raw: Tensor, scale: f64 },
}

/// Per-dimension physics coefficients, built once per forward pass:
/// `f_phys(x) = kappa (mu - x) + drift`, diffusion `sigma`.
#[derive(Debug)]
pub struct PhysTensors {
    kappa: Tensor,
    mu: Tensor,
    drift: Tensor,
    sigma: Tensor,
}

/// The hybrid model's variables and its forward computations.
#[derive(Debug)]
pub struct HybridNet {
    /// All trainable variables.
    pub vs: nn::VarStore,
    arch: Architecture,
    phys: Vec<PhysVars>,
    layers: Vec<nn::Linear>,
    diffusion_layer: Option<nn::Linear>,
}

/// `ln(e^v - 1)`: the raw value whose softplus is `v > 0`.
pub fn inverse_softplus(v: f64) -> f64 {
    if v > 20.0 { v } else { v.exp_m1().ln() }
}

impl HybridNet {
    /// Creates the variables on `device` (weights drawn from LibTorch's
    /// generator: seed it first). `scales` holds one positive scale per
    /// dimension (see `PhysVars`; pass 1.0 for none). Physics starts at
    /// `kappa = 0.1`, `mu = 0`, drift 0 and `sigma = scale` (normalised
    /// units); the last MLP layer starts near zero so that training begins
    /// from the physics model.
    pub fn new(arch: &Architecture, device: Device, scales: &[f64]) -> Self {
        let mut vs = nn::VarStore::new(device);
        vs.set_kind(Kind::Double);
        let root = vs.root();
        let init = |v: f64| nn::Init::Const(v);
        let k0 = inverse_softplus(0.1);
        let s0 = inverse_softplus(1.0);
        let phys = arch
            .physics
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let p = &root / "phys" / i;
                let scale = scales.get(i).copied().filter(|s| *s > 0.0 && s.is_finite()).unwrap_or(1.0);
                match kind {
                    PhysicsKind::None => PhysVars::None,
                    PhysicsKind::Ou => PhysVars::Ou {
                        kappa_raw: p.var("kappa_raw", &[1], init(k0)),
                        mu: p.var("mu", &[1], init(0.0)),
                        sigma_raw: p.var("sigma_raw", &[1], init(s0)),
                        scale,
                    },
                    PhysicsKind::Gbm => PhysVars::Gbm {
                        mu_raw: p.var("mu_raw", &[1], init(0.0)),
                        sigma_raw: p.var("sigma_raw", &[1], init(s0)),
                        scale,
                    },
                    PhysicsKind::Vol => PhysVars::Vol {
                        kappa_raw: p.var("kappa_raw", &[1], init(k0)),
                        theta: p.var("theta", &[1], init(0.0)),
                        xi_raw: p.var("xi_raw", &[1], init(s0)),
                        scale,
                    },
                }
            })
            .collect();
        let dim = arch.dim() as i64;
        let mut layers = Vec::new();
        if !arch.hidden.is_empty() {
            let mut prev = dim;
            let widths: Vec<i64> = arch.hidden.iter().map(|&h| i64::from(h)).chain(std::iter::once(dim)).collect();
            for (k, &w) in widths.iter().enumerate() {
                layers.push(nn::linear(&root / "nn" / k, prev, w, Default::default()));
                prev = w;
            }
            if let Some(last) = layers.last_mut() {
                tch::no_grad(|| {
                    let _ = last.ws.g_mul_scalar_(0.01);
                    if let Some(b) = last.bs.as_mut() {
                        let _ = b.g_mul_scalar_(0.0);
                    }
                });
            }
        }
        let diffusion_layer = (arch.diffusion == DiffusionKind::Neural).then(|| {
            let mut l = nn::linear(&root / "diffusion", dim, dim, Default::default());
            // start at softplus(-2) ~ 0.13 per unit time, a modest diffusion
            tch::no_grad(|| {
                let _ = l.ws.g_mul_scalar_(0.1);
                if let Some(b) = l.bs.as_mut() {
                    let _ = b.g_mul_scalar_(0.0).g_add_scalar_(-2.0);
                }
            });
            l
        });
        Self { vs, arch: arch.clone(), phys, layers, diffusion_layer }
    }

    /// The architecture.
    pub fn arch(&self) -> &Architecture {
        &self.arch
    }

    /// State dimension.
    pub fn dim(&self) -> usize {
        self.arch.dim()
    }

    /// The device the variables live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Physics coefficients as `[dim]` tensors (differentiable).
    pub fn phys_tensors(&self) -> PhysTensors {
        let dev = self.device();
        let zero = || Tensor::zeros([1], (Kind::Double, dev));
        let mut kappa = Vec::new();
        let mut mu = Vec::new();
        let mut drift = Vec::new();
        let mut sigma = Vec::new();
        for p in &self.phys {
            let (k, m, d, s) = match p {
                PhysVars::None => (zero(), zero(), zero(), zero()),
                PhysVars::Ou { kappa_raw, mu, sigma_raw, scale } => {
                    (kappa_raw.softplus(), mu.shallow_clone(), zero(), sigma_raw.softplus() * *scale)
                }
                PhysVars::Gbm { mu_raw, sigma_raw, scale } => {
                    (zero(), zero(), mu_raw * *scale, sigma_raw.softplus() * *scale)
                }
                PhysVars::Vol { kappa_raw, theta, xi_raw, scale } => {
                    (kappa_raw.softplus(), theta.shallow_clone(), zero(), xi_raw.softplus() * *scale)
                }
            };
            kappa.push(k);
            mu.push(m);
            drift.push(d);
            sigma.push(s);
        }
        PhysTensors {
            kappa: Tensor::cat(&kappa, 0),
            mu: Tensor::cat(&mu, 0),
            drift: Tensor::cat(&drift, 0),
            sigma: Tensor::cat(&sigma, 0),
        }
    }

    fn activate(&self, x: &Tensor) -> Tensor {
        match self.arch.activation {
            Activation::Tanh => x.tanh(),
            // odex_shared's values bit for bit, one pass with its slope
            Activation::PadeTanh => crate::pade::pade_tanh(x),
        }
    }

    /// The vector field `f(x)` for a batch `x: [B, dim]`.
    pub fn drift(&self, p: &PhysTensors, x: &Tensor) -> Tensor {
        let phys = &p.kappa * (&p.mu - x) + &p.drift;
        if self.layers.is_empty() {
            return phys;
        }
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for (k, layer) in self.layers.iter().enumerate() {
            h = nn::Module::forward(layer, &h);
            if k < last {
                h = self.activate(&h);
            }
        }
        phys + h
    }

    /// The diffusion `g(x)` (standard deviation rate per dimension), or
    /// `None` when the model has none.
    pub fn diffusion(&self, p: &PhysTensors, x: &Tensor) -> Option<Tensor> {
        match self.arch.diffusion {
            DiffusionKind::None => None,
            DiffusionKind::Physics => Some(p.sigma.expand_as(x)),
            DiffusionKind::Neural => self.diffusion_layer.as_ref().map(|l| nn::Module::forward(l, x).softplus()),
        }
    }

    /// One integrator step of size `dt` (odex_shared's stage order).
    pub fn step(&self, p: &PhysTensors, x: &Tensor, dt: f64) -> Tensor {
        match self.arch.method {
            Method::Euler => x + self.drift(p, x) * dt,
            Method::Rk4 => {
                let half = 0.5 * dt;
                let k1 = self.drift(p, x);
                let k2 = self.drift(p, &(x + &k1 * half));
                let k3 = self.drift(p, &(x + &k2 * half));
                let k4 = self.drift(p, &(x + &k3 * dt));
                let sixth = dt / 6.0;
                x + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * sixth
            }
        }
    }

    /// Integrates `observations` observation intervals from `x0: [B, dim]`,
    /// returning the mean state after each interval (`[B, observations, dim]`)
    /// and, with a diffusion, the variance accumulated up to it
    /// (`sum g(x_k)^2 dt`, as `HybridModel::forecast` does).
    pub fn rollout(&self, x0: &Tensor, observations: usize) -> (Tensor, Option<Tensor>) {
        let p = self.phys_tensors();
        let dt = self.arch.dt();
        let mut x = x0.shallow_clone();
        let mut var: Option<Tensor> = None;
        let mut means = Vec::with_capacity(observations);
        let mut vars = Vec::with_capacity(observations);
        for _ in 0..observations {
            for _ in 0..self.arch.substeps {
                if let Some(g) = self.diffusion(&p, &x) {
                    let inc = &g * &g * dt;
                    var = Some(match var {
                        Some(v) => v + inc,
                        None => inc,
                    });
                }
                x = self.step(&p, &x, dt);
            }
            means.push(x.shallow_clone());
            if let Some(v) = &var {
                vars.push(v.shallow_clone());
            }
        }
        let means = Tensor::stack(&means, 1);
        let vars = (!vars.is_empty()).then(|| Tensor::stack(&vars, 1));
        (means, vars)
    }

    /// Sum of squares of the network's weights and biases (MLP and neural
    /// diffusion): the `|theta_nn|^2` term.
    pub fn network_norm2(&self) -> Tensor {
        let mut squares = vec![Tensor::zeros([], (Kind::Double, self.device()))];
        for l in self.layers.iter().chain(self.diffusion_layer.iter()) {
            squares.push(l.ws.square().sum(Kind::Double));
            if let Some(b) = &l.bs {
                squares.push(b.square().sum(Kind::Double));
            }
        }
        Tensor::stack(&squares, 0).sum(Kind::Double)
    }

    /// The physics terms with the values training uses (for export: the
    /// same f64s, so the runtime's drift is bit-identical).
    pub fn physics(&self) -> Vec<Physics> {
        let p = tch::no_grad(|| self.phys_tensors());
        let v = |t: &Tensor, i: usize| t.double_value(&[i as i64]);
        self.phys
            .iter()
            .enumerate()
            .map(|(i, var)| match var {
                PhysVars::None => Physics::None,
                PhysVars::Ou { .. } => {
                    Physics::OrnsteinUhlenbeck { kappa: v(&p.kappa, i), mu: v(&p.mu, i), sigma: v(&p.sigma, i) }
                }
                PhysVars::Gbm { .. } => Physics::GbmDrift { mu: v(&p.drift, i), sigma: v(&p.sigma, i) },
                PhysVars::Vol { .. } => {
                    Physics::VolatilityReversion { kappa: v(&p.kappa, i), theta: v(&p.mu, i), xi: v(&p.sigma, i) }
                }
            })
            .collect()
    }

    /// Sets the physics parameters of dimension `i` (values in their valid
    /// range; a mismatched kind is ignored).
    pub fn set_physics(&mut self, i: usize, value: Physics) {
        let set = |t: &Tensor, v: f64| {
            tch::no_grad(|| {
                let mut t = t.shallow_clone();
                let _ = t.fill_(v);
            });
        };
        let pos = |v: f64, scale: f64| inverse_softplus((v / scale).max(1e-12));
        match (self.phys.get(i), value) {
            (
                Some(PhysVars::Ou { kappa_raw, mu, sigma_raw, scale }),
                Physics::OrnsteinUhlenbeck { kappa, mu: m, sigma },
            ) => {
                set(kappa_raw, pos(kappa, 1.0));
                set(mu, m);
                set(sigma_raw, pos(sigma, *scale));
            }
            (Some(PhysVars::Gbm { mu_raw, sigma_raw, scale }), Physics::GbmDrift { mu, sigma }) => {
                set(mu_raw, mu / scale);
                set(sigma_raw, pos(sigma, *scale));
            }
            (
                Some(PhysVars::Vol { kappa_raw, theta, xi_raw, scale }),
                Physics::VolatilityReversion { kappa, theta: t, xi },
            ) => {
                set(kappa_raw, pos(kappa, 1.0));
                set(theta, t);
                set(xi_raw, pos(xi, *scale));
            }
            _ => {}
        }
    }

    /// The network weights in the model file's order: each MLP layer's
    /// `[out][in]` weight rows then its bias, then the diffusion layer.
    pub fn weights(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut push = |t: &Tensor| {
            let flat = t.to_device(Device::Cpu).flatten(0, -1).contiguous();
            let v: Vec<f64> = Vec::<f64>::try_from(&flat).unwrap_or_default();
            out.extend(v);
        };
        for l in self.layers.iter().chain(self.diffusion_layer.iter()) {
            push(&l.ws);
            if let Some(b) = &l.bs {
                push(b);
            }
        }
        out
    }

    /// All trainable variables in a fixed order (name-sorted), for
    /// snapshots and gradient checks.
    pub fn named_variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A detached copy of every variable (for early stopping).
    pub fn snapshot(&self) -> Vec<(String, Tensor)> {
        self.named_variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect()
    }

    /// Restores a [`snapshot`](Self::snapshot).
    pub fn restore(&mut self, snap: &[(String, Tensor)]) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (name, value) in snap {
                if let Some(t) = vars.get(name) {
                    let mut t = t.shallow_clone();
                    t.copy_(value);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pade_tanh_is_bit_identical_to_shared() {
        let arch = Architecture {
            physics: vec![PhysicsKind::None],
            hidden: vec![1],
            activation: Activation::PadeTanh,
            diffusion: DiffusionKind::None,
            method: Method::Euler,
            substeps: 1,
        };
        let net = HybridNet::new(&arch, Device::Cpu, &[1.0]);
        let xs: Vec<f64> = (-4000..=4000).map(|i| f64::from(i) * 1e-3 + 1e-7).collect();
        let t = Tensor::from_slice(&xs);
        let y: Vec<f64> = Vec::try_from(&net.activate(&t)).unwrap();
        for (x, y) in xs.iter().zip(&y) {
            assert_eq!(y.to_bits(), odex_shared::model::pade_tanh(*x).to_bits(), "x = {x}");
        }
    }

    #[test]
    fn softplus_round_trips() {
        for v in [1e-6, 0.05, 1.0, 7.5, 30.0] {
            let raw = inverse_softplus(v);
            let back = odex_shared::model::softplus(raw);
            assert!((back - v).abs() <= 1e-12 * v.max(1.0), "{v} {back}");
        }
    }
}
