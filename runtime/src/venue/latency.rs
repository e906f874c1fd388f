//! Latency: how long a message takes between odex and the venue.
//!
//! The [`LatencyModel`] seam has one implementation, [`Latency`], built from
//! a plain-data [`LatencySpec`] and its own seeded [`Rng`] stream: constant,
//! uniform, lognormal, or an empirical distribution resampled from recorded
//! round trips. The venue draws one value per order and per cancel (order
//! latency); the backtester draws one per market event (market-data
//! latency) from a second, independent stream, so changing one model never
//! perturbs the other's draws.

use odex_shared::market::Nanos;

use super::rng::Rng;

/// A source of one-way delays.
///
/// Rules for implementors: draws come only from a seeded generator (same
/// seed, same sequence), never allocate, and never exceed
/// [`MAX_LATENCY`].
pub trait LatencyModel {
    /// The delay of the next message.
    fn next_latency(&mut self) -> Nanos;
}

/// The longest delay any model produces (one hour): a guard against
/// absurd configurations, not a realistic value.
pub const MAX_LATENCY: Nanos = Nanos(3_600_000_000_000);

/// What distribution delays follow.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencySpec {
    /// Always the same delay.
    Constant(Nanos),
    /// Uniform between two delays (inclusive of `lo`).
    Uniform {
        /// Smallest delay.
        lo: Nanos,
        /// Largest delay.
        hi: Nanos,
    },
    /// Lognormal with the given median and log-space standard deviation.
    LogNormal {
        /// Median delay.
        median: Nanos,
        /// Standard deviation of `ln(delay)`.
        sigma: f64,
    },
    /// Resampled uniformly from recorded one-way delays.
    Empirical(Vec<Nanos>),
}

/// Why a latency spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    /// Text that is not one of the accepted forms.
    #[error(
        "latency `{0}` is not understood: use const:DUR, uniform:DUR,DUR, lognormal:DUR,SIGMA or empirical:DUR,DUR,... (DUR like 250us, 2ms, 1s, 500ns)"
    )]
    Syntax(String),
    /// Out of range (empty list, `lo > hi`, negative sigma, over an hour).
    #[error("latency {0}")]
    Range(&'static str),
}

impl Default for LatencySpec {
    fn default() -> Self {
        Self::Constant(Nanos(0))
    }
}

fn parse_duration(s: &str) -> Option<Nanos> {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("ns") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("us") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e6)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e9)
    } else {
        return None;
    };
    let x: f64 = num.trim().parse().ok()?;
    let ns = x * mult;
    (ns.is_finite() && ns >= 0.0 && ns <= MAX_LATENCY.0 as f64).then(|| Nanos(ns.round() as u64))
}

impl LatencySpec {
    /// An empirical one-way distribution from recorded round trips (each
    /// halved).
    ///
    /// # Errors
    /// [`LatencyError::Range`] for an empty list.
    pub fn from_round_trips(round_trips: &[Nanos]) -> Result<Self, LatencyError> {
        let spec = Self::Empirical(round_trips.iter().map(|r| Nanos(r.0 / 2)).collect());
        spec.validate()?;
        Ok(spec)
    }

    /// Parses `const:2ms`, `uniform:1ms,3ms`, `lognormal:2ms,0.5` or
    /// `empirical:1ms,2ms,5ms` (one-way delays). A bare duration means
    /// `const`.
    ///
    /// # Errors
    /// [`LatencyError`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, LatencyError> {
        let syntax = || LatencyError::Syntax(text.to_owned());
        let (kind, rest) = text.split_once(':').unwrap_or(("const", text));
        let mut parts = rest.split(',');
        let mut dur = || parts.next().and_then(parse_duration).ok_or_else(syntax);
        let spec = match kind.trim() {
            "const" => Self::Constant(dur()?),
            "uniform" => Self::Uniform { lo: dur()?, hi: dur()? },
            "lognormal" => {
                let median = dur()?;
                let sigma = rest.split(',').nth(1).and_then(|s| s.trim().parse().ok()).ok_or_else(syntax)?;
                Self::LogNormal { median, sigma }
            }
            "empirical" => Self::Empirical(
                rest.split(',').map(|s| parse_duration(s).ok_or_else(syntax)).collect::<Result<_, _>>()?,
            ),
            _ => return Err(syntax()),
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks ranges.
    ///
    /// # Errors
    /// [`LatencyError::Range`] naming the problem.
    pub fn validate(&self) -> Result<(), LatencyError> {
        match self {
            Self::Constant(d) if *d > MAX_LATENCY => Err(LatencyError::Range("is over one hour")),
            Self::Uniform { lo, hi } if lo > hi => Err(LatencyError::Range("uniform: lo is above hi")),
            Self::Uniform { hi, .. } if *hi > MAX_LATENCY => Err(LatencyError::Range("is over one hour")),
            Self::LogNormal { sigma, .. } if !(sigma.is_finite() && *sigma >= 0.0 && *sigma <= 5.0) => {
                Err(LatencyError::Range("lognormal: sigma must be in [0, 5]"))
            }
            Self::LogNormal { median, .. } if *median > MAX_LATENCY => Err(LatencyError::Range("is over one hour")),
            Self::Empirical(v) if v.is_empty() => Err(LatencyError::Range("empirical: no samples")),
            Self::Empirical(v) if v.iter().any(|d| *d > MAX_LATENCY) => Err(LatencyError::Range("is over one hour")),
            _ => Ok(()),
        }
    }
}

/// A latency model with its own random stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    spec: LatencySpec,
    rng: Rng,
}

impl Latency {
    /// A model drawing from `spec` with the generator `rng`.
    ///
    /// # Errors
    /// [`LatencyError::Range`] if the spec is out of range.
    pub fn new(spec: LatencySpec, rng: Rng) -> Result<Self, LatencyError> {
        spec.validate()?;
        Ok(Self { spec, rng })
    }

    /// Zero delay.
    pub fn zero() -> Self {
        Self { spec: LatencySpec::Constant(Nanos(0)), rng: Rng::new(0) }
    }

    /// The distribution.
    pub const fn spec(&self) -> &LatencySpec {
        &self.spec
    }
}

impl LatencyModel for Latency {
    #[inline]
    fn next_latency(&mut self) -> Nanos {
        let d = match &self.spec {
            LatencySpec::Constant(d) => *d,
            LatencySpec::Uniform { lo, hi } => Nanos(lo.0 + self.rng.below(hi.0 - lo.0 + 1)),
            LatencySpec::LogNormal { median, sigma } => {
                let x = median.0 as f64 * (sigma * self.rng.normal()).exp();
                Nanos(x.clamp(0.0, MAX_LATENCY.0 as f64) as u64)
            }
            LatencySpec::Empirical(v) => {
                let i = self.rng.below(v.len() as u64) as usize;
                v.get(i).copied().unwrap_or_default()
            }
        };
        d.min(MAX_LATENCY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(LatencySpec::parse("2ms"), Ok(LatencySpec::Constant(Nanos(2_000_000))));
        assert_eq!(LatencySpec::parse("const:250us"), Ok(LatencySpec::Constant(Nanos(250_000))));
        assert_eq!(
            LatencySpec::parse("uniform:1ms,3ms"),
            Ok(LatencySpec::Uniform { lo: Nanos(1_000_000), hi: Nanos(3_000_000) })
        );
        assert_eq!(
            LatencySpec::parse("lognormal:2ms,0.5"),
            Ok(LatencySpec::LogNormal { median: Nanos(2_000_000), sigma: 0.5 })
        );
        assert_eq!(
            LatencySpec::parse("empirical:1ms,500ns"),
            Ok(LatencySpec::Empirical(vec![Nanos(1_000_000), Nanos(500)]))
        );
        assert!(matches!(LatencySpec::parse("fast"), Err(LatencyError::Syntax(_))));
        assert!(matches!(LatencySpec::parse("uniform:3ms,1ms"), Err(LatencyError::Range(_))));
        assert!(matches!(LatencySpec::parse("empirical:"), Err(LatencyError::Syntax(_))));
    }

    #[test]
    fn draws_stay_in_their_distribution_and_repeat_with_the_seed() {
        let spec = LatencySpec::Uniform { lo: Nanos(10), hi: Nanos(20) };
        let mut a = Latency::new(spec.clone(), Rng::new(3)).unwrap();
        let mut b = Latency::new(spec, Rng::new(3)).unwrap();
        for _ in 0..1000 {
            let d = a.next_latency();
            assert!((10..=20).contains(&d.0));
            assert_eq!(d, b.next_latency());
        }
        let rt = LatencySpec::from_round_trips(&[Nanos(100), Nanos(300)]).unwrap();
        let mut e = Latency::new(rt, Rng::new(1)).unwrap();
        for _ in 0..100 {
            assert!([50, 150].contains(&e.next_latency().0));
        }
        let mut l = Latency::new(LatencySpec::LogNormal { median: Nanos(1_000_000), sigma: 0.3 }, Rng::new(9)).unwrap();
        let mut below = 0;
        for _ in 0..10_000 {
            if l.next_latency().0 < 1_000_000 {
                below += 1;
            }
        }
        assert!((4_700..5_300).contains(&below), "{below}");
        assert_eq!(Latency::zero().next_latency(), Nanos(0));
    }
}
