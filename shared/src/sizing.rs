//! From a forecast to a target position: fractional Kelly, capped by a
//! volatility target and a leverage limit, with a dead band for costs.
//!
//! The trainer implements [`target_fraction`] again in LibTorch (the same
//! formula, differentiable almost everywhere) so that the PnL it optimises is
//! the PnL this rule produces when it trades.

use serde::{Deserialize, Serialize};

/// What the model predicts over its horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    /// Expected log return over the horizon.
    pub expected_return: f64,
    /// Variance of the log return over the horizon, `> 0` when usable.
    pub variance: f64,
}

/// Sizing constants, stored in the model file and overridable by config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SizingParams {
    /// Fraction of the Kelly bet `mu / sigma^2` to take, in `(0, 1]`.
    pub kelly_fraction: f64,
    /// Largest standard deviation of the position's return over one horizon,
    /// as a fraction of equity (`|w| sigma <= vol_target`), `> 0`.
    pub vol_target: f64,
    /// Largest `|position notional| / equity`, `> 0`.
    pub max_leverage: f64,
    /// Expected returns smaller than this in absolute value give no position
    /// (they would not pay the fees), `>= 0`.
    pub min_edge: f64,
}

impl Default for SizingParams {
    fn default() -> Self {
        Self { kelly_fraction: 0.25, vol_target: 0.02, max_leverage: 1.0, min_edge: 0.0 }
    }
}

impl SizingParams {
    /// The name of the first constant that is out of range, if any.
    pub fn invalid_field(&self) -> Option<&'static str> {
        let pos = |v: f64| v > 0.0 && v.is_finite();
        if !(pos(self.kelly_fraction) && self.kelly_fraction <= 1.0) {
            Some("kelly_fraction")
        } else if !pos(self.vol_target) {
            Some("vol_target")
        } else if !pos(self.max_leverage) {
            Some("max_leverage")
        } else if !(self.min_edge >= 0.0 && self.min_edge.is_finite()) {
            Some("min_edge")
        } else {
            None
        }
    }
}

/// Target position as a signed fraction of equity (`+0.5`: long half of
/// equity in notional). Zero when the signal is unusable (non-finite, zero
/// variance) or inside the dead band.
pub fn target_fraction(signal: &Signal, p: &SizingParams) -> f64 {
    let Signal { expected_return: mu, variance: var } = *signal;
    if !(mu.is_finite() && var.is_finite() && var > 0.0) || libm::fabs(mu) < p.min_edge {
        return 0.0;
    }
    let kelly = p.kelly_fraction * mu / var;
    let cap = (p.vol_target / libm::sqrt(var)).min(p.max_leverage);
    kelly.clamp(-cap, cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kelly_inside_the_caps() {
        let p = SizingParams { kelly_fraction: 0.5, vol_target: 0.1, max_leverage: 2.0, min_edge: 0.0 };
        // kelly = 0.5 * 0.001 / 0.0004 = 1.25; cap = min(0.1/0.02, 2) = 2
        let w = target_fraction(&Signal { expected_return: 0.001, variance: 0.0004 }, &p);
        assert!((w - 1.25).abs() < 1e-12);
        let w = target_fraction(&Signal { expected_return: -0.001, variance: 0.0004 }, &p);
        assert!((w + 1.25).abs() < 1e-12);
    }

    #[test]
    fn volatility_target_and_leverage_cap() {
        let p = SizingParams { kelly_fraction: 1.0, vol_target: 0.01, max_leverage: 3.0, min_edge: 0.0 };
        // sigma = 0.02: vol cap 0.5 binds
        let w = target_fraction(&Signal { expected_return: 0.01, variance: 0.0004 }, &p);
        assert!((w - 0.5).abs() < 1e-12);
        let p = SizingParams { max_leverage: 0.2, ..p };
        let w = target_fraction(&Signal { expected_return: 0.01, variance: 0.0004 }, &p);
        assert!((w - 0.2).abs() < 1e-12);
    }

    #[test]
    fn dead_band_and_garbage() {
        let p = SizingParams { min_edge: 0.002, ..SizingParams::default() };
        assert_eq!(target_fraction(&Signal { expected_return: 0.001, variance: 0.0004 }, &p), 0.0);
        for (mu, var) in [(f64::NAN, 1.0), (0.1, 0.0), (0.1, -1.0), (0.1, f64::INFINITY)] {
            assert_eq!(target_fraction(&Signal { expected_return: mu, variance: var }, &p), 0.0);
        }
    }

    proptest! {
        #[test]
        fn never_exceeds_caps(mu in -1.0f64..1.0, var in 1e-12f64..1.0, k in 0.01f64..1.0, vt in 1e-4f64..1.0, lev in 0.1f64..10.0) {
            let p = SizingParams { kelly_fraction: k, vol_target: vt, max_leverage: lev, min_edge: 0.0 };
            let w = target_fraction(&Signal { expected_return: mu, variance: var }, &p);
            prop_assert!(w.abs() <= lev + 1e-12);
            prop_assert!(w.abs() * var.sqrt() <= vt * (1.0 + 1e-12));
            prop_assert!(w == 0.0 || w.signum() == mu.signum());
        }
    }
}
