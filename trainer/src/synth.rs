//! Seeded synthetic price series with known parameters: Ornstein-Uhlenbeck
//! and GBM on the log price, a bull/bear/sideways regime-switching Markov
//! chain, and a noisy sine wave (a system the physics priors alone cannot
//! fit, used to show what the network adds).
//!
//! Every series is a pure function of its [`SynthSpec`] (seed included): the
//! generator is xoshiro256** seeded through SplitMix64, normals come from
//! Box-Muller, and the output CSV bytes are identical on every platform.
//! Time is measured in bars: `kappa`, `mu` and `sigma` are per bar.

use odex_shared::kline::{KlineRow, TimeUnit};
use odex_shared::market::{Bar, Price, Qty};
use serde::Serialize;

/// A small, fast, seeded generator (xoshiro256**, seeded by SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Self { s: [next(), next(), next(), next()] }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

/// One market regime of the switching model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Regime {
    /// Name ("bull", "bear", "sideways").
    pub name: &'static str,
    /// Log-price drift per bar.
    pub drift: f64,
    /// Log-return volatility per bar.
    pub sigma: f64,
}

/// The process to simulate, with its true parameters (per bar).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Process {
    /// `d ln p = kappa (mu - ln p) dt + sigma dW`, sampled exactly.
    Ou {
        /// Mean-reversion speed per bar.
        kappa: f64,
        /// Long-run log price.
        mu: f64,
        /// Diffusion per sqrt(bar).
        sigma: f64,
    },
    /// `d ln p = mu dt + sigma dW` (log-price drift `mu`; the arithmetic
    /// drift of the price is `mu + sigma^2 / 2`).
    Gbm {
        /// Log-price drift per bar.
        mu: f64,
        /// Volatility per sqrt(bar).
        sigma: f64,
        /// Starting log price.
        log_p0: f64,
    },
    /// Log returns `N(drift_r, sigma_r^2)` with the regime `r` following a
    /// Markov chain with the row-stochastic matrix `transition`.
    Regime {
        /// Bull, bear and sideways.
        regimes: [Regime; 3],
        /// `transition[i][j]`: probability of moving from regime i to j.
        transition: [[f64; 3]; 3],
        /// Starting log price.
        log_p0: f64,
    },
    /// `ln p = log_p0 + amplitude sin(2 pi t / period) + noise`.
    Sine {
        /// Amplitude of the log-price oscillation.
        amplitude: f64,
        /// Period in bars.
        period: f64,
        /// Standard deviation of the i.i.d. observation noise on ln p.
        noise: f64,
        /// Centre log price.
        log_p0: f64,
    },
}

impl Process {
    /// The default parameters of a named kind (`ou`, `gbm`, `regime`, `sine`).
    pub fn named(kind: &str) -> Option<Self> {
        let lp0 = 100f64.ln();
        Some(match kind {
            "ou" => Self::Ou { kappa: 0.05, mu: lp0, sigma: 0.002 },
            "gbm" => Self::Gbm { mu: 4e-5, sigma: 1e-4, log_p0: lp0 },
            "regime" => Self::Regime {
                regimes: [
                    Regime { name: "bull", drift: 2e-4, sigma: 1e-3 },
                    Regime { name: "bear", drift: -3e-4, sigma: 2e-3 },
                    Regime { name: "sideways", drift: 0.0, sigma: 5e-4 },
                ],
                transition: [[0.990, 0.004, 0.006], [0.006, 0.985, 0.009], [0.005, 0.005, 0.990]],
                log_p0: lp0,
            },
            "sine" => Self::Sine { amplitude: 0.01, period: 60.0, noise: 1e-4, log_p0: lp0 },
            _ => return None,
        })
    }
}

/// Everything a synthetic series is a function of; written as the sidecar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthSpec {
    /// The process and its true parameters.
    pub process: Process,
    /// Number of bars.
    pub bars: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Open time of the first bar, ms.
    pub start_ms: i64,
    /// Bar interval, ms.
    pub interval_ms: i64,
}

/// A generated series: the bars, the exact log closes before rounding and,
/// for the regime model, the regime of each bar.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Bars as the CSV holds them (prices rounded to 10^-8).
    pub rows: Vec<KlineRow>,
    /// Regime index of each bar (regime model only).
    pub regimes: Vec<u8>,
}

/// Generates the series a spec describes.
pub fn generate(spec: &SynthSpec) -> Synthetic {
    let mut rng = Rng::new(spec.seed);
    let n = spec.bars;
    let mut log_p = Vec::with_capacity(n);
    let mut regimes = Vec::new();
    let mut step_sigma = Vec::with_capacity(n);
    match spec.process {
        Process::Ou { kappa, mu, sigma } => {
            let b = (-kappa).exp();
            let sd = sigma * ((1.0 - b * b) / (2.0 * kappa)).sqrt();
            let mut x = mu;
            for _ in 0..n {
                log_p.push(x);
                step_sigma.push(sd);
                x = mu + (x - mu) * b + sd * rng.normal();
            }
        }
        Process::Gbm { mu, sigma, log_p0 } => {
            let mut x = log_p0;
            for _ in 0..n {
                log_p.push(x);
                step_sigma.push(sigma);
                x += mu + sigma * rng.normal();
            }
        }
        Process::Regime { regimes: rs, transition, log_p0 } => {
            let mut x = log_p0;
            let mut r = 2usize;
            for _ in 0..n {
                log_p.push(x);
                regimes.push(r as u8);
                let reg = rs[r];
                step_sigma.push(reg.sigma);
                x += reg.drift + reg.sigma * rng.normal();
                let u = rng.uniform();
                let row = transition[r];
                r = if u < row[0] {
                    0
                } else if u < row[0] + row[1] {
                    1
                } else {
                    2
                };
            }
        }
        Process::Sine { amplitude, period, noise, log_p0 } => {
            for t in 0..n {
                let phase = std::f64::consts::TAU * t as f64 / period;
                log_p.push(log_p0 + amplitude * phase.sin() + noise * rng.normal());
                step_sigma.push(noise.max(amplitude / period));
            }
        }
    }
    let mut rows = Vec::with_capacity(n);
    let mut prev_close: Option<Price> = None;
    for (t, (&lp, &sd)) in log_p.iter().zip(&step_sigma).enumerate() {
        let close = price(lp.exp());
        let open = prev_close.unwrap_or(close);
        let wick = 0.5 * sd * rng.normal().abs();
        let top = open.max(close);
        let bottom = open.min(close);
        let high = price(top.to_f64() * (1.0 + wick)).max(top);
        let low = price(bottom.to_f64() * (1.0 - wick)).min(bottom);
        let volume = Qty::from_f64(100.0 * (0.3 * rng.normal()).exp()).unwrap_or(Qty::ONE);
        let share = 0.3 + 0.4 * rng.uniform();
        let taker = Qty::from_f64(volume.to_f64() * share).unwrap_or(Qty::ZERO).min(volume);
        let bar = Bar { open_time_ms: spec.start_ms + t as i64 * spec.interval_ms, open, high, low, close, volume };
        rows.push(KlineRow { bar, unit: TimeUnit::Millis, taker_buy_volume: Some(taker) });
        prev_close = Some(close);
    }
    Synthetic { rows, regimes }
}

fn price(x: f64) -> Price {
    // Synthetic prices stay far inside the fixed-point range; clamp anyway.
    Price::from_f64(x.clamp(1e-8, 1e10)).unwrap_or(Price::ONE)
}

/// The sidecar JSON: the spec, plus the regime path for the regime model.
pub fn sidecar_json(spec: &SynthSpec, synth: &Synthetic) -> serde_json::Value {
    let mut v = serde_json::json!({
        "generator": "odex-train synth",
        "units": "per bar: kappa and drifts per bar, sigma per sqrt(bar), log prices natural log",
        "spec": spec,
    });
    if !synth.regimes.is_empty() {
        v["regime_path"] = serde_json::json!(synth.regimes);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, bars: usize) -> SynthSpec {
        SynthSpec {
            process: Process::named(kind).unwrap(),
            bars,
            seed: 7,
            start_ms: 1_704_067_200_000,
            interval_ms: 60_000,
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        for kind in ["ou", "gbm", "regime", "sine"] {
            let a = crate::data::write_generic_csv(&generate(&spec(kind, 500)).rows);
            let b = crate::data::write_generic_csv(&generate(&spec(kind, 500)).rows);
            assert_eq!(a, b);
            let mut other = spec(kind, 500);
            other.seed = 8;
            assert_ne!(a, crate::data::write_generic_csv(&generate(&other).rows));
        }
    }

    #[test]
    fn bars_are_consistent_and_regimes_switch() {
        let s = generate(&spec("regime", 5000));
        assert!(s.rows.iter().all(|r| r.bar.is_consistent()));
        for r in 0..3u8 {
            assert!(s.regimes.contains(&r), "regime {r} never visited");
        }
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut rng = Rng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.01, "{mean} {var}");
    }
}
