//! From bars to training windows, with no look-ahead.
//!
//! 1. Each bar becomes an [`Observation`] (close price; taker buy and taker
//!    sell volume as the bid and ask quantities, so `Imbalance` is the
//!    order-flow imbalance) and is fed to `odex_shared`'s [`FeatureState`]:
//!    the very code the runtime runs.
//! 2. The observations are split in time order into train, validation and
//!    test parts. The normalisation mean and standard deviation come from
//!    the warm states of the train part only (a constant feature gets
//!    standard deviation 1) and are frozen into the [`FeatureSpec`].
//! 3. A window is `horizon + 1` consecutive normalised states starting at a
//!    warm state; it never crosses a part boundary or a gap in the data.
//!    Windows overlap (stride 1) and stay in time order, which the turnover
//!    term needs.

use std::ops::Range;

use odex_shared::features::{FeatureKind, FeatureSpec, FeatureSpecError, FeatureState, Observation};
use odex_shared::model::MAX_STATE;

use crate::config::Config;
use crate::data::Series;

/// Why a dataset could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The feature settings were refused by `odex_shared`.
    #[error("features: {0}")]
    Features(FeatureSpecError),
    /// A part of the split holds no complete window.
    #[error(
        "the {part} part has no complete window of {need} observations ({have} observations in the part); use more data, a shorter model.horizon or a larger split.{part}"
    )]
    TooShort {
        /// "train", "validation" or "test".
        part: &'static str,
        /// Observations a window needs.
        need: usize,
        /// Observations in the part.
        have: usize,
    },
}

/// The windows of one part, as flat row-major arrays.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// Index of each window's first observation.
    pub start: Vec<usize>,
    /// Normalised states, `[n][horizon + 1][dim]` flattened.
    pub states: Vec<f64>,
    /// Realised log return of the close over the horizon.
    pub realised: Vec<f64>,
    /// EWMA return variance per observation at the window start (what the
    /// runtime sizes with when the model has no diffusion).
    pub ewma_variance: Vec<f64>,
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
}

/// Everything training needs from the data.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The feature spec, with the frozen training statistics.
    pub spec: FeatureSpec,
    /// Observations in time order.
    pub observations: Vec<Observation>,
    /// Normalised state of each observation (first `dim` entries used).
    pub states: Vec<[f64; MAX_STATE]>,
    /// Whether each observation's state is warm.
    pub warm: Vec<bool>,
    /// Log close of each observation.
    pub log_close: Vec<f64>,
    /// Index ranges of the train, validation and test parts.
    pub parts: [Range<usize>; 3],
    /// Windows of each part.
    pub windows: [Windows; 3],
    /// Observations per window minus one.
    pub horizon: usize,
}

/// Names of the three parts.
pub const PART_NAMES: [&str; 3] = ["train", "validation", "test"];

impl Dataset {
    /// State dimension.
    pub fn dim(&self) -> usize {
        self.spec.dim()
    }

    /// Builds the dataset a config describes.
    ///
    /// # Errors
    /// [`DatasetError`] for invalid feature settings or too little data.
    pub fn build(series: &Series, cfg: &Config) -> Result<Self, DatasetError> {
        let f = &cfg.features;
        let mut spec = FeatureSpec::new(&f.kinds, f.level_alpha, f.variance_alpha).map_err(DatasetError::Features)?;
        spec.warmup = f.warmup;
        spec.validate().map_err(DatasetError::Features)?;
        let observations: Vec<Observation> = series
            .rows
            .iter()
            .map(|r| {
                let (b, a) = match (r.taker_buy_volume, r.taker_sell_volume()) {
                    (Some(b), Some(a)) => (b.to_f64(), a.to_f64()),
                    _ => (0.0, 0.0),
                };
                Observation { price: r.bar.close.to_f64(), bid_qty: b, ask_qty: a }
            })
            .collect();
        let n = observations.len();
        let n_train = ((n as f64) * cfg.split.train).floor() as usize;
        let n_val = ((n as f64) * cfg.split.validation).floor() as usize;
        let parts = [0..n_train, n_train..(n_train + n_val).min(n), (n_train + n_val).min(n)..n];
        let dim = spec.dim();

        // Pass 1: raw features, for the training statistics.
        let mut st = FeatureState::new();
        let mut sum = [0.0; MAX_STATE];
        let mut sum2 = [0.0; MAX_STATE];
        let mut count = 0usize;
        for o in &observations[parts[0].clone()] {
            st.update(&spec, o);
            if st.is_warm(&spec) {
                for (k, kind) in spec.kinds.iter().enumerate() {
                    let v = st.raw(*kind);
                    sum[k] += v;
                    sum2[k] += v * v;
                }
                count += 1;
            }
        }
        for k in 0..dim {
            let (mean, std) = if count > 1 {
                let m = sum[k] / count as f64;
                let var = (sum2[k] / count as f64 - m * m).max(0.0);
                (m, var.sqrt())
            } else {
                (0.0, 1.0)
            };
            spec.mean[k] = if mean.is_finite() { mean } else { 0.0 };
            spec.std[k] = if std > 1e-300 && std.is_finite() { std } else { 1.0 };
        }
        spec.validate().map_err(DatasetError::Features)?;

        // Pass 2: the normalised states exactly as the runtime computes them.
        let mut st = FeatureState::new();
        let mut states = Vec::with_capacity(n);
        let mut warm = Vec::with_capacity(n);
        let mut log_close = Vec::with_capacity(n);
        let mut ewma_var = Vec::with_capacity(n);
        for o in &observations {
            st.update(&spec, o);
            let mut x = [0.0; MAX_STATE];
            warm.push(st.state(&spec, &mut x));
            states.push(x);
            log_close.push(st.log_price());
            ewma_var.push(st.return_variance());
        }

        let horizon = cfg.model.horizon as usize;
        let gap_starts: Vec<usize> = series.gaps.iter().map(|g| g.index).collect();
        let mut windows: [Windows; 3] = Default::default();
        for (p, range) in parts.iter().enumerate() {
            let w = &mut windows[p];
            for t in range.clone() {
                let end = t + horizon;
                if end >= range.end || !warm[t] {
                    continue;
                }
                // a gap at index g sits between g - 1 and g
                if gap_starts.iter().any(|&g| g > t && g <= end) {
                    continue;
                }
                w.start.push(t);
                for s in &states[t..=end] {
                    w.states.extend_from_slice(&s[..dim]);
                }
                w.realised.push(log_close[end] - log_close[t]);
                w.ewma_variance.push(ewma_var[t]);
            }
            if w.is_empty() && !(p > 0 && range.is_empty()) {
                return Err(DatasetError::TooShort { part: PART_NAMES[p], need: horizon + 1, have: range.len() });
            }
        }
        Ok(Self { spec, observations, states, warm, log_close, parts, windows, horizon })
    }

    /// Index of a feature kind in the state, if present.
    pub fn index_of(&self, kind: FeatureKind) -> Option<usize> {
        self.spec.kinds.iter().position(|k| *k == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Process, SynthSpec, generate};

    fn series(n: usize) -> Series {
        let spec =
            SynthSpec { process: Process::named("ou").unwrap(), bars: n, seed: 3, start_ms: 0, interval_ms: 60_000 };
        Series::from_rows("ou", &generate(&spec).rows).unwrap()
    }

    #[test]
    fn statistics_come_from_the_train_part_only() {
        let s = series(1000);
        let cfg = Config::default();
        let a = Dataset::build(&s, &cfg).unwrap();
        // changing only the test part's prices leaves the statistics alone
        let mut s2 = s.clone();
        for r in &mut s2.rows[900..] {
            r.bar.close = r.bar.high;
        }
        let b = Dataset::build(&s2, &cfg).unwrap();
        assert_eq!(a.spec, b.spec);
        // the normalised train states have mean 0 and std 1
        let k = 0;
        let xs: Vec<f64> = (0..a.parts[0].end).filter(|&t| a.warm[t]).map(|t| a.states[t][k]).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-9, "{m} {v}");
    }

    #[test]
    fn windows_stay_inside_parts_and_skip_gaps() {
        let mut s = series(600);
        s.gaps.push(crate::data::Gap { after_ms: 0, before_ms: 0, missing: 1, index: 100 });
        let cfg = Config::default();
        let d = Dataset::build(&s, &cfg).unwrap();
        let h = d.horizon;
        for (p, w) in d.windows.iter().enumerate() {
            for &t in &w.start {
                assert!(d.parts[p].contains(&t) && d.parts[p].contains(&(t + h)));
                assert!(!(t < 100 && t + h >= 100), "window {t} crosses the gap");
            }
        }
        assert!(d.windows[0].start.contains(&100) && d.windows[0].start.contains(&(99 - h)));
    }
}
