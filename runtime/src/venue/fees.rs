//! Trading fees: the [`FeeModel`] seam and a fixed maker/taker schedule.
//!
//! Fees are charged in the quote asset and computed in exact fixed point:
//! a rate is held as a fraction scaled by 10^8 (like every odex amount), and
//! a fee is rounded up to the next 10^-8, so the simulation never charges
//! less than the schedule says.

use odex_shared::market::{Amount, SCALE};

/// How much a fill costs.
///
/// Rules for implementors: `fee` must be deterministic (same inputs, same
/// output), never negative, never allocate, and be monotone in `notional`.
/// The venue calls it once per fill on the hot path.
pub trait FeeModel {
    /// The commission, in quote units, for a fill of `notional` quote
    /// units on the maker (`maker = true`) or taker side.
    fn fee(&self, notional: Amount, maker: bool) -> Amount;

    /// The largest fraction of notional this model ever charges, scaled by
    /// 10^8 (used to reserve enough quote when an order is accepted).
    fn max_rate_raw(&self) -> i64;
}

/// A fee rate: a fraction of notional scaled by 10^8 (`0.001` = 10 bps =
/// raw `100_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FeeRate(i64);

/// Why a fee rate was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FeeRateError {
    /// Negative, non-finite or 100% and more.
    #[error("fee rate of {0} bps must be finite, at least 0 and below 10000")]
    OutOfRange(f64),
}

impl FeeRate {
    /// Zero fees.
    pub const ZERO: Self = Self(0);

    /// A rate in basis points (`10.0` = 0.1%), to the nearest 10^-8.
    ///
    /// # Errors
    /// [`FeeRateError::OutOfRange`] unless `0 <= bps < 10000`.
    pub fn from_bps(bps: f64) -> Result<Self, FeeRateError> {
        if !(bps.is_finite() && (0.0..10_000.0).contains(&bps)) {
            return Err(FeeRateError::OutOfRange(bps));
        }
        Ok(Self((bps * 1e-4 * SCALE as f64).round() as i64))
    }

    /// The rate scaled by 10^8.
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// The rate in basis points.
    pub fn bps(self) -> f64 {
        self.0 as f64 / SCALE as f64 * 1e4
    }

    /// `notional x rate`, rounded up to 10^-8 (zero for a non-positive
    /// notional).
    pub fn apply(self, notional: Amount) -> Amount {
        if notional.raw() <= 0 || self.0 <= 0 {
            return Amount::ZERO;
        }
        let wide = i128::from(notional.raw()) * i128::from(self.0);
        let scale = i128::from(SCALE);
        let fee = (wide + scale - 1) / scale;
        Amount::from_raw(i64::try_from(fee).unwrap_or(i64::MAX))
    }
}

/// A fixed maker/taker schedule (Binance's spot base tier is 10 / 10 bps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FixedFees {
    /// Rate for fills that rested on the book.
    pub maker: FeeRate,
    /// Rate for fills that took liquidity.
    pub taker: FeeRate,
}

impl FixedFees {
    /// Parses `MAKER_BPS,TAKER_BPS` (`"2,10"`), or one number for both.
    ///
    /// # Errors
    /// [`FeeRateError`] for a value that is not a number or out of range.
    pub fn parse(text: &str) -> Result<Self, FeeRateError> {
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| FeeRateError::OutOfRange(f64::NAN));
        match text.split_once(',') {
            Some((m, t)) => Self::from_bps(num(m)?, num(t)?),
            None => {
                let both = num(text)?;
                Self::from_bps(both, both)
            }
        }
    }

    /// A schedule from maker and taker basis points.
    ///
    /// # Errors
    /// [`FeeRateError`] if either rate is out of range.
    pub fn from_bps(maker_bps: f64, taker_bps: f64) -> Result<Self, FeeRateError> {
        Ok(Self { maker: FeeRate::from_bps(maker_bps)?, taker: FeeRate::from_bps(taker_bps)? })
    }
}

impl FeeModel for FixedFees {
    #[inline]
    fn fee(&self, notional: Amount, maker: bool) -> Amount {
        if maker { self.maker.apply(notional) } else { self.taker.apply(notional) }
    }

    fn max_rate_raw(&self) -> i64 {
        self.maker.raw().max(self.taker.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_are_exact_and_round_up() {
        let f = FixedFees::from_bps(2.0, 10.0).unwrap();
        let n = Amount::parse("1600.12").unwrap();
        assert_eq!(f.fee(n, false).to_string(), "1.60012");
        assert_eq!(f.fee(n, true).to_string(), "0.320024");
        // 0.00000003 x 0.001 rounds up to one unit
        assert_eq!(f.fee(Amount::from_raw(3), false), Amount::from_raw(1));
        assert_eq!(f.fee(Amount::ZERO, false), Amount::ZERO);
        assert_eq!(f.max_rate_raw(), 100_000);
        assert!((f.taker.bps() - 10.0).abs() < 1e-12);
    }

    #[test]
    fn parses_maker_and_taker() {
        assert_eq!(FixedFees::parse("2,10"), FixedFees::from_bps(2.0, 10.0));
        assert_eq!(FixedFees::parse("7.5"), FixedFees::from_bps(7.5, 7.5));
        assert!(FixedFees::parse("x").is_err());
        assert!(FixedFees::parse("1,-1").is_err());
    }

    #[test]
    fn bad_rates_are_refused() {
        for bad in [-1.0, f64::NAN, 10_000.0] {
            assert!(FeeRate::from_bps(bad).is_err());
        }
    }
}
