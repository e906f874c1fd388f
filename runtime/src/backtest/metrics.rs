//! Performance statistics of an equity curve.
//!
//! Conventions (stated in every summary):
//! - returns are simple returns between consecutive equity samples;
//! - a year is 365 days of 24 hours (crypto trades around the clock), so
//!   `periods_per_year = 365 x 86400 s / mean sample spacing` (525,600 for
//!   one-minute bars);
//! - Sharpe = `mean / sd x sqrt(periods_per_year)`, sample standard
//!   deviation, zero risk-free rate; Sortino uses the downside deviation
//!   `sqrt(sum(min(r, 0)^2) / n)`;
//! - annualised return = `(1 + total)^(periods_per_year / n) - 1`;
//! - max drawdown is the largest peak-to-trough fall as a fraction of the
//!   peak, its duration the longest time from a peak to the recovery of
//!   that peak (or to the end);
//! - Calmar = annualised return / max drawdown;
//! - hit rate is the share of positive returns among intervals that began
//!   with a position, exposure the share of intervals that did.
//!
//! Undefined ratios (no variance, no drawdown, fewer than two samples) are
//! reported as 0.

use serde::Serialize;

/// Seconds in the year used for annualising.
pub const SECONDS_PER_YEAR: f64 = 365.0 * 86_400.0;

/// Statistics of one equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Metrics {
    /// Equity samples.
    pub samples: usize,
    /// Samples per year implied by the mean spacing.
    pub periods_per_year: f64,
    /// `last / first - 1`.
    pub total_return: f64,
    /// Compounded to a year.
    pub annualised_return: f64,
    /// Standard deviation of returns, annualised.
    pub annualised_volatility: f64,
    /// Annualised Sharpe ratio.
    pub sharpe: f64,
    /// Annualised Sortino ratio.
    pub sortino: f64,
    /// Largest fall from a peak, as a fraction of it.
    pub max_drawdown: f64,
    /// Longest time under a previous peak, seconds.
    pub max_drawdown_duration_s: f64,
    /// Annualised return over max drawdown.
    pub calmar: f64,
    /// Share of positive returns while exposed.
    pub hit_rate: f64,
    /// Share of intervals exposed.
    pub exposure: f64,
}

fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Statistics of `equity` sampled at `times_s` (seconds); `exposed[i]` says
/// whether a position was held at sample `i`.
pub fn compute(times_s: &[f64], equity: &[f64], exposed: &[bool]) -> Metrics {
    let n = equity.len().min(times_s.len());
    if n < 2 {
        return Metrics { samples: n, ..Metrics::default() };
    }
    let returns: Vec<f64> = equity.windows(2).map(|w| if let [a, b] = w { b / a - 1.0 } else { 0.0 }).collect();
    let m = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / m;
    let var = if returns.len() > 1 { returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (m - 1.0) } else { 0.0 };
    let sd = var.sqrt();
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / m).sqrt();
    let first_t = times_s.first().copied().unwrap_or(0.0);
    let last_t = times_s.get(n - 1).copied().unwrap_or(0.0);
    let spacing = (last_t - first_t) / m;
    let ppy = if spacing > 0.0 { SECONDS_PER_YEAR / spacing } else { 0.0 };
    let first = equity.first().copied().unwrap_or(0.0);
    let last = equity.get(n - 1).copied().unwrap_or(0.0);
    let total = last / first - 1.0;
    let annual = (1.0 + total).powf(ppy / m) - 1.0;
    let (mut peak, mut peak_t, mut max_dd, mut max_dur) = (first, first_t, 0.0f64, 0.0f64);
    for (e, t) in equity.iter().zip(times_s).take(n) {
        if *e >= peak {
            max_dur = max_dur.max(t - peak_t);
            peak = *e;
            peak_t = *t;
        } else {
            max_dd = max_dd.max(1.0 - e / peak);
        }
    }
    max_dur = max_dur.max(if equity.get(n - 1).is_some_and(|e| *e < peak) { last_t - peak_t } else { 0.0 });
    let exposed_returns: Vec<f64> = returns.iter().zip(exposed).filter(|(_, x)| **x).map(|(r, _)| *r).collect();
    let wins = exposed_returns.iter().filter(|r| **r > 0.0).count();
    Metrics {
        samples: n,
        periods_per_year: finite(ppy),
        total_return: finite(total),
        annualised_return: finite(annual),
        annualised_volatility: finite(sd * ppy.sqrt()),
        sharpe: if sd > 0.0 { finite(mean / sd * ppy.sqrt()) } else { 0.0 },
        sortino: if downside > 0.0 { finite(mean / downside * ppy.sqrt()) } else { 0.0 },
        max_drawdown: finite(max_dd),
        max_drawdown_duration_s: finite(max_dur),
        calmar: if max_dd > 0.0 { finite(annual / max_dd) } else { 0.0 },
        hit_rate: if exposed_returns.is_empty() { 0.0 } else { wins as f64 / exposed_returns.len() as f64 },
        exposure: exposed_returns.len() as f64 / m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_curve() {
        let t = [0.0, 60.0, 120.0, 180.0, 240.0];
        let e = [100.0, 110.0, 99.0, 105.0, 121.0];
        let m = compute(&t, &e, &[true, true, false, true, true]);
        assert_eq!(m.samples, 5);
        assert!((m.periods_per_year - 525_600.0).abs() < 1e-6);
        assert!((m.total_return - 0.21).abs() < 1e-12);
        assert!((m.max_drawdown - 0.1).abs() < 1e-12);
        // peak at 60 s, recovered at 240 s
        assert!((m.max_drawdown_duration_s - 180.0).abs() < 1e-12);
        let r = [0.1, -0.1, 6.0 / 99.0, 16.0 / 105.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!((m.sharpe - mean / sd * 525_600f64.sqrt()).abs() < 1e-6);
        // exposed intervals: 0, 1, 3 -> returns +, -, + ; two of three win
        assert!((m.hit_rate - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.exposure - 0.75).abs() < 1e-12);
    }

    #[test]
    fn degenerate_curves_give_zeros() {
        assert_eq!(compute(&[0.0], &[1.0], &[false]).sharpe, 0.0);
        let flat = compute(&[0.0, 1.0, 2.0], &[5.0, 5.0, 5.0], &[false, false, false]);
        assert_eq!((flat.sharpe, flat.max_drawdown, flat.calmar), (0.0, 0.0, 0.0));
    }
}
