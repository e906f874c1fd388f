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

/// Samples in the trailing window that labels a market regime.
pub const REGIME_WINDOW: usize = 60;

/// How intervals are labelled with a market regime (written into every
/// summary).
pub const REGIME_RULE: &str = "each interval between two equity samples is labelled by the mark's log return over \
the 60 samples before it (no look-ahead): bull above +0.5 sd, bear below -0.5 sd, sideways between, where sd is the \
standard deviation of those trailing returns over the run; the first 60 intervals are unlabelled";

/// A market regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// The market rose.
    Bull,
    /// The market fell.
    Bear,
    /// Neither.
    Sideways,
}

impl Regime {
    /// Every regime, in report order.
    pub const ALL: [Self; 3] = [Self::Bull, Self::Bear, Self::Sideways];

    /// Its name in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bull => "bull",
            Self::Bear => "bear",
            Self::Sideways => "sideways",
        }
    }
}

/// How a strategy did in one market regime.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegimeStats {
    /// The regime.
    pub regime: &'static str,
    /// Intervals labelled with it.
    pub intervals: usize,
    /// Their share of the labelled intervals.
    pub share: f64,
    /// The strategy's return compounded over those intervals.
    pub strategy_return: f64,
    /// Buy and hold's return compounded over those intervals.
    pub buy_and_hold_return: f64,
    /// The strategy's annualised Sharpe ratio over those intervals.
    pub strategy_sharpe: f64,
    /// The strategy's share of positive returns among them.
    pub hit_rate: f64,
}

/// The regime of each interval `i` (samples `i` to `i + 1`) by
/// [`REGIME_RULE`]; `None` for the first [`REGIME_WINDOW`] intervals.
pub fn regimes_of(marks: &[f64]) -> Vec<Option<Regime>> {
    let intervals = marks.len().saturating_sub(1);
    let trailing: Vec<Option<f64>> = (0..intervals)
        .map(|i| {
            let now = marks.get(i)?;
            let then = marks.get(i.checked_sub(REGIME_WINDOW)?)?;
            let r = (now / then).ln();
            r.is_finite().then_some(r)
        })
        .collect();
    let known: Vec<f64> = trailing.iter().flatten().copied().collect();
    let n = known.len() as f64;
    let mean = known.iter().sum::<f64>() / n;
    let sd = (known.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    trailing
        .iter()
        .map(|r| {
            let r = (*r)?;
            Some(if r > 0.5 * sd {
                Regime::Bull
            } else if r < -0.5 * sd {
                Regime::Bear
            } else {
                Regime::Sideways
            })
        })
        .collect()
}

/// The strategy (`equity`) and buy and hold (`marks`) per regime, Sharpe
/// annualised with `periods_per_year`.
pub fn by_regime(marks: &[f64], equity: &[f64], periods_per_year: f64) -> Vec<RegimeStats> {
    let labels = regimes_of(marks);
    let labelled = labels.iter().flatten().count().max(1) as f64;
    let ret = |xs: &[f64], i: usize| match (xs.get(i), xs.get(i + 1)) {
        (Some(a), Some(b)) if *a != 0.0 => b / a - 1.0,
        _ => 0.0,
    };
    Regime::ALL
        .iter()
        .map(|&regime| {
            let idx: Vec<usize> =
                labels.iter().enumerate().filter(|(_, l)| **l == Some(regime)).map(|(i, _)| i).collect();
            let strat: Vec<f64> = idx.iter().map(|&i| ret(equity, i)).collect();
            let m = strat.len() as f64;
            let mean = strat.iter().sum::<f64>() / m;
            let sd = (strat.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
            RegimeStats {
                regime: regime.as_str(),
                intervals: idx.len(),
                share: idx.len() as f64 / labelled,
                strategy_return: finite(strat.iter().fold(1.0, |a, r| a * (1.0 + r)) - 1.0),
                buy_and_hold_return: finite(idx.iter().fold(1.0, |a, &i| a * (1.0 + ret(marks, i))) - 1.0),
                strategy_sharpe: if strat.len() > 1 && sd > 0.0 {
                    finite(mean / sd * periods_per_year.sqrt())
                } else {
                    0.0
                },
                hit_rate: if strat.is_empty() { 0.0 } else { strat.iter().filter(|r| **r > 0.0).count() as f64 / m },
            }
        })
        .collect()
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
    fn regimes_follow_the_trailing_return_without_look_ahead() {
        // 100 flat, then 100 rising 1% a sample, then 100 falling 1% a sample
        let mut marks = vec![100.0; 101];
        for _ in 0..100 {
            let last = *marks.last().unwrap();
            marks.push(last * 1.01);
        }
        for _ in 0..100 {
            let last = *marks.last().unwrap();
            marks.push(last / 1.01);
        }
        let labels = regimes_of(&marks);
        assert_eq!(labels.len(), marks.len() - 1);
        assert!(labels[..REGIME_WINDOW].iter().all(Option::is_none));
        assert_eq!(labels[REGIME_WINDOW], Some(Regime::Sideways));
        // interval i is labelled from samples i-60..=i only: the first rise
        // (interval 100) is still sideways, a rise of 60 samples is bull
        assert_eq!(labels[100], Some(Regime::Sideways));
        assert_eq!(labels[199], Some(Regime::Bull));
        assert_eq!(labels[299], Some(Regime::Bear));
        // a strategy that holds the market has buy and hold's return in each regime
        let stats = by_regime(&marks, &marks, 525_600.0);
        assert_eq!(stats.iter().map(|s| s.regime).collect::<Vec<_>>(), ["bull", "bear", "sideways"]);
        assert_eq!(stats.iter().map(|s| s.intervals).sum::<usize>(), marks.len() - 1 - REGIME_WINDOW);
        for s in &stats {
            assert!((s.strategy_return - s.buy_and_hold_return).abs() < 1e-12, "{s:?}");
        }
        assert!(stats[0].buy_and_hold_return > 0.3 && stats[1].buy_and_hold_return < -0.3, "{stats:?}");
        assert!((stats.iter().map(|s| s.share).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_curves_give_zeros() {
        assert_eq!(compute(&[0.0], &[1.0], &[false]).sharpe, 0.0);
        let flat = compute(&[0.0, 1.0, 2.0], &[5.0, 5.0, 5.0], &[false, false, false]);
        assert_eq!((flat.sharpe, flat.max_drawdown, flat.calmar), (0.0, 0.0, 0.0));
    }
}
