//! The streaming state builder: market observations in, model state out.
//!
//! One [`FeatureState`] is updated once per observation (a tick's mid price
//! and book quantities, or a bar's close and taker volumes) in O(1) time and
//! memory. It keeps:
//! - the last log price and log return,
//! - an EWMA of the log price (the "level") and an EWMA of squared log
//!   returns (the variance),
//! - a scalar Kalman filter of the log price under a random-walk level.
//!
//! The state vector is the [`FeatureKind`]s listed in the [`FeatureSpec`],
//! normalised with the mean and standard deviation frozen at training time.
//! The spec (kinds, smoothing constants, statistics) is plain data stored in
//! the model file, so the trainer and the runtime compute the same numbers.

use serde::{Deserialize, Serialize};

use crate::model::{MAX_STATE, State};

/// One feature of the state vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureKind {
    /// `ln p`: the log price itself (the level OU or GBM physics acts on).
    LogPrice,
    /// `ln p_t - ln p_{t-1}`.
    LogReturn,
    /// `ln p - EWMA(ln p)`: deviation from the smoothed level.
    EwmaDeviation,
    /// `sqrt(EWMA(r^2))`: EWMA volatility of log returns.
    EwmaVolatility,
    /// `ln p - level`, the level from the scalar Kalman filter.
    KalmanDeviation,
    /// `(b - a) / (b + a)` of the bid-side and ask-side quantities
    /// (best bid/ask quantities for ticks, taker buy/sell volume for bars).
    Imbalance,
}

/// Kind, smoothing constants and frozen normalisation of the state vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// The state vector, in order.
    pub kinds: heapless::Vec<FeatureKind, MAX_STATE>,
    /// EWMA weight of the newest log price in the level, in `(0, 1]`.
    pub level_alpha: f64,
    /// EWMA weight of the newest squared return in the variance, in `(0, 1]`.
    pub variance_alpha: f64,
    /// Kalman process-noise variance of the log-price level, `> 0`.
    pub kalman_q: f64,
    /// Kalman measurement-noise variance, `> 0`.
    pub kalman_r: f64,
    /// Observations before the state is trusted (at least 2, so a return exists).
    pub warmup: u32,
    /// Frozen per-feature mean (from the training split only).
    pub mean: heapless::Vec<f64, MAX_STATE>,
    /// Frozen per-feature standard deviation, `> 0`.
    pub std: heapless::Vec<f64, MAX_STATE>,
}

/// Why a feature spec was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSpecError {
    /// No features, or more than [`MAX_STATE`].
    Count(usize),
    /// `mean`/`std` do not have one entry per feature.
    StatsLength {
        /// Which list.
        what: &'static str,
        /// Number of features.
        expected: usize,
        /// Entries found.
        found: usize,
    },
    /// A constant is NaN, infinite or out of its range.
    Parameter(&'static str),
}

impl core::fmt::Display for FeatureSpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Count(n) => write!(f, "{n} features; between 1 and {MAX_STATE} are allowed"),
            Self::StatsLength { what, expected, found } => {
                write!(f, "features.{what} has {found} entries, expected {expected}")
            }
            Self::Parameter(what) => write!(f, "features.{what} is not finite or out of range"),
        }
    }
}

impl core::error::Error for FeatureSpecError {}

impl FeatureSpec {
    /// A spec with identity normalisation (mean 0, std 1), to be replaced by
    /// training statistics.
    ///
    /// # Errors
    /// [`FeatureSpecError::Count`] if `kinds` is empty or too long.
    pub fn new(kinds: &[FeatureKind], level_alpha: f64, variance_alpha: f64) -> Result<Self, FeatureSpecError> {
        let kinds = heapless::Vec::from_slice(kinds).map_err(|_| FeatureSpecError::Count(kinds.len()))?;
        let n = kinds.len();
        let mut mean = heapless::Vec::new();
        let mut std = heapless::Vec::new();
        for _ in 0..n {
            mean.push(0.0).map_err(|_| FeatureSpecError::Count(n))?;
            std.push(1.0).map_err(|_| FeatureSpecError::Count(n))?;
        }
        let spec = Self { kinds, level_alpha, variance_alpha, kalman_q: 1e-6, kalman_r: 1e-4, warmup: 2, mean, std };
        spec.validate()?;
        Ok(spec)
    }

    /// Number of features (the state dimension).
    pub fn dim(&self) -> usize {
        self.kinds.len()
    }

    /// Checks counts and ranges.
    ///
    /// # Errors
    /// [`FeatureSpecError`] naming the first problem.
    pub fn validate(&self) -> Result<(), FeatureSpecError> {
        let n = self.kinds.len();
        if n == 0 {
            return Err(FeatureSpecError::Count(0));
        }
        if self.mean.len() != n {
            return Err(FeatureSpecError::StatsLength { what: "mean", expected: n, found: self.mean.len() });
        }
        if self.std.len() != n {
            return Err(FeatureSpecError::StatsLength { what: "std", expected: n, found: self.std.len() });
        }
        let unit = |a: f64| a > 0.0 && a <= 1.0;
        if !unit(self.level_alpha) {
            return Err(FeatureSpecError::Parameter("level_alpha"));
        }
        if !unit(self.variance_alpha) {
            return Err(FeatureSpecError::Parameter("variance_alpha"));
        }
        if !(self.kalman_q > 0.0 && self.kalman_q.is_finite()) {
            return Err(FeatureSpecError::Parameter("kalman_q"));
        }
        if !(self.kalman_r > 0.0 && self.kalman_r.is_finite()) {
            return Err(FeatureSpecError::Parameter("kalman_r"));
        }
        if self.warmup < 2 {
            return Err(FeatureSpecError::Parameter("warmup"));
        }
        if self.mean.iter().any(|m| !m.is_finite()) {
            return Err(FeatureSpecError::Parameter("mean"));
        }
        if self.std.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
            return Err(FeatureSpecError::Parameter("std"));
        }
        Ok(())
    }
}

/// One market observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// The price the state follows (mid for ticks, close for bars), `> 0`.
    pub price: f64,
    /// Bid-side quantity (best bid qty, or taker buy volume).
    pub bid_qty: f64,
    /// Ask-side quantity (best ask qty, or taker sell volume).
    pub ask_qty: f64,
}

/// The running state behind the features.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureState {
    count: u64,
    log_price: f64,
    last_return: f64,
    level: f64,
    variance: f64,
    kalman_level: f64,
    kalman_p: f64,
    imbalance: f64,
}

impl Default for FeatureState {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureState {
    /// A state that has seen nothing.
    pub const fn new() -> Self {
        Self {
            count: 0,
            log_price: 0.0,
            last_return: 0.0,
            level: 0.0,
            variance: 0.0,
            kalman_level: 0.0,
            kalman_p: 0.0,
            imbalance: 0.0,
        }
    }

    /// Observations seen (non-positive or non-finite prices are skipped).
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// True once `spec.warmup` observations have been seen.
    pub fn is_warm(&self, spec: &FeatureSpec) -> bool {
        self.count >= u64::from(spec.warmup)
    }

    /// EWMA variance of log returns per observation interval.
    pub const fn return_variance(&self) -> f64 {
        self.variance
    }

    /// The last log price.
    pub const fn log_price(&self) -> f64 {
        self.log_price
    }

    /// Feeds one observation. Returns `false` (and changes nothing) when the
    /// price is not a positive finite number.
    pub fn update(&mut self, spec: &FeatureSpec, obs: &Observation) -> bool {
        if !(obs.price > 0.0 && obs.price.is_finite()) {
            return false;
        }
        let lp = libm::log(obs.price);
        if self.count == 0 {
            self.level = lp;
            self.kalman_level = lp;
            self.kalman_p = spec.kalman_r;
            self.last_return = 0.0;
            self.variance = 0.0;
        } else {
            let r = lp - self.log_price;
            self.last_return = r;
            self.level += spec.level_alpha * (lp - self.level);
            self.variance += spec.variance_alpha * (r * r - self.variance);
            let p = self.kalman_p + spec.kalman_q;
            let gain = p / (p + spec.kalman_r);
            self.kalman_level += gain * (lp - self.kalman_level);
            self.kalman_p = (1.0 - gain) * p;
        }
        self.log_price = lp;
        let total = obs.bid_qty + obs.ask_qty;
        self.imbalance = if total > 0.0 && total.is_finite() { (obs.bid_qty - obs.ask_qty) / total } else { 0.0 };
        self.count += 1;
        true
    }

    /// The value of one feature before normalisation.
    pub fn raw(&self, kind: FeatureKind) -> f64 {
        match kind {
            FeatureKind::LogPrice => self.log_price,
            FeatureKind::LogReturn => self.last_return,
            FeatureKind::EwmaDeviation => self.log_price - self.level,
            FeatureKind::EwmaVolatility => libm::sqrt(self.variance),
            FeatureKind::KalmanDeviation => self.log_price - self.kalman_level,
            FeatureKind::Imbalance => self.imbalance,
        }
    }

    /// Writes the normalised state vector into `out` (first `spec.dim()`
    /// entries) and returns whether the state is warm.
    pub fn state(&self, spec: &FeatureSpec, out: &mut State) -> bool {
        for (((o, kind), m), s) in out.iter_mut().zip(&spec.kinds).zip(&spec.mean).zip(&spec.std) {
            *o = (self.raw(*kind) - m) / s;
        }
        self.is_warm(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [FeatureKind; 6] = [
        FeatureKind::LogPrice,
        FeatureKind::LogReturn,
        FeatureKind::EwmaDeviation,
        FeatureKind::EwmaVolatility,
        FeatureKind::KalmanDeviation,
        FeatureKind::Imbalance,
    ];

    /// Straightforward batch definitions of every feature at time `t`.
    fn batch(spec: &FeatureSpec, obs: &[Observation], t: usize) -> [f64; 6] {
        let lp: Vec<f64> = obs[..=t].iter().map(|o| o.price.ln()).collect();
        let r: Vec<f64> = (0..=t).map(|i| if i == 0 { 0.0 } else { lp[i] - lp[i - 1] }).collect();
        // EWMA as an explicit weighted sum: weight (1-a)^(t-k) a on x_k, and
        // the first observation carries the remaining (1-a)^t.
        let ewma = |x: &[f64], a: f64, first: f64| {
            let mut s = (1.0 - a).powi(t as i32) * first;
            for (k, xk) in x.iter().enumerate().take(t + 1).skip(1) {
                s += a * (1.0 - a).powi((t - k) as i32) * xk;
            }
            s
        };
        let level = ewma(&lp, spec.level_alpha, lp[0]);
        let r2: Vec<f64> = r.iter().map(|v| v * v).collect();
        let var = ewma(&r2, spec.variance_alpha, 0.0);
        // Kalman: gains first (they do not depend on data), then the level
        // as a weighted sum of the observations.
        let mut p = spec.kalman_r;
        let mut gains = vec![0.0; t + 1];
        for g in gains.iter_mut().skip(1) {
            let pp = p + spec.kalman_q;
            *g = pp / (pp + spec.kalman_r);
            p = (1.0 - *g) * pp;
        }
        let mut kal = 0.0;
        for k in 0..=t {
            let w_k = if k == 0 { 1.0 } else { gains[k] };
            let keep: f64 = gains[k + 1..].iter().map(|g| 1.0 - g).product();
            kal += w_k * keep * lp[k];
        }
        let o = obs[t];
        let imb = (o.bid_qty - o.ask_qty) / (o.bid_qty + o.ask_qty);
        [lp[t], r[t], lp[t] - level, var.sqrt(), lp[t] - kal, imb]
    }

    fn obs_strategy() -> impl Strategy<Value = Vec<Observation>> {
        proptest::collection::vec((-0.05f64..0.05, 0.1f64..10.0, 0.1f64..10.0), 2..120).prop_map(|steps| {
            let mut p = 100.0f64;
            steps
                .into_iter()
                .map(|(r, b, a)| {
                    p *= r.exp();
                    Observation { price: p, bid_qty: b, ask_qty: a }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn streaming_equals_batch(
            obs in obs_strategy(),
            la in 0.01f64..1.0,
            va in 0.01f64..1.0,
            q in 1e-7f64..1e-2,
            r in 1e-6f64..1e-2,
        ) {
            let mut spec = FeatureSpec::new(&ALL, la, va).unwrap();
            spec.kalman_q = q;
            spec.kalman_r = r;
            let mut st = FeatureState::new();
            for (t, o) in obs.iter().enumerate() {
                prop_assert!(st.update(&spec, o));
                let want = batch(&spec, &obs, t);
                for (k, kind) in ALL.iter().enumerate() {
                    let got = st.raw(*kind);
                    let tol = 1e-9 * (1.0 + want[k].abs());
                    prop_assert!((got - want[k]).abs() < tol, "t={} {:?}: {} vs {}", t, kind, got, want[k]);
                }
            }
        }
    }

    #[test]
    fn normalises_with_frozen_statistics_and_warms_up() {
        let mut spec = FeatureSpec::new(&[FeatureKind::LogReturn, FeatureKind::Imbalance], 0.1, 0.1).unwrap();
        spec.mean = heapless::Vec::from_slice(&[0.01, 0.5]).unwrap();
        spec.std = heapless::Vec::from_slice(&[0.02, 0.25]).unwrap();
        spec.warmup = 3;
        let mut st = FeatureState::new();
        let mut x = [0.0; MAX_STATE];
        st.update(&spec, &Observation { price: 100.0, bid_qty: 1.0, ask_qty: 1.0 });
        assert!(!st.state(&spec, &mut x));
        st.update(&spec, &Observation { price: 101.0, bid_qty: 3.0, ask_qty: 1.0 });
        assert!(!st.state(&spec, &mut x));
        st.update(&spec, &Observation { price: 101.0 * 0.03f64.exp(), bid_qty: 3.0, ask_qty: 1.0 });
        assert!(st.state(&spec, &mut x));
        assert!((x[0] - (0.03 - 0.01) / 0.02).abs() < 1e-12);
        assert!((x[1] - (0.5 - 0.5) / 0.25).abs() < 1e-12);
    }

    #[test]
    fn skips_bad_prices() {
        let spec = FeatureSpec::new(&ALL, 0.5, 0.5).unwrap();
        let mut st = FeatureState::new();
        assert!(st.update(&spec, &Observation { price: 10.0, bid_qty: 0.0, ask_qty: 0.0 }));
        let before = st.clone();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(!st.update(&spec, &Observation { price: bad, bid_qty: 1.0, ask_qty: 1.0 }));
        }
        assert_eq!(st, before);
        assert_eq!(st.raw(FeatureKind::Imbalance), 0.0);
    }

    #[test]
    fn rejects_bad_specs() {
        assert_eq!(FeatureSpec::new(&[], 0.1, 0.1), Err(FeatureSpecError::Count(0)));
        assert_eq!(
            FeatureSpec::new(&[FeatureKind::LogPrice], 0.0, 0.1),
            Err(FeatureSpecError::Parameter("level_alpha"))
        );
        let mut s = FeatureSpec::new(&[FeatureKind::LogPrice], 0.1, 0.1).unwrap();
        s.std[0] = 0.0;
        assert_eq!(s.validate(), Err(FeatureSpecError::Parameter("std")));
        s.std.clear();
        assert_eq!(s.validate(), Err(FeatureSpecError::StatsLength { what: "std", expected: 1, found: 0 }));
    }
}
