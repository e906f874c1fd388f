//! Slippage: how much worse than the displayed price a taker fill gets.
//!
//! Three models, chosen by config and dispatched through the [`Slippage`]
//! enum on the hot path:
//! - [`Slippage::FixedBps`]: every taker fill is `bps` worse than the
//!   displayed price;
//! - [`Slippage::VolatilityScaled`]: the penalty is `multiple x sigma`, with
//!   `sigma` the venue's running EWMA volatility of log returns per event
//!   (so fills are worse when the market moves fast);
//! - [`Slippage::BookWalk`]: no penalty at the top, but when only the top of
//!   book is known the venue assumes `levels` further levels behind it, each
//!   with the top's displayed quantity and `spacing_bps` apart, and a taker
//!   order walks them level by level (a large order gets a worse average
//!   price, a small one none).
//!
//! Prices come back exact; the matching engine rounds them onto the tick
//! grid in the adverse direction.

use odex_shared::market::{Price, Qty, Side};

/// Largest price penalty any model applies, as a fraction (10%).
pub const MAX_PENALTY: f64 = 0.1;

/// A slippage model.
///
/// Rules for implementors: deterministic, allocation-free, never returns a
/// price better for the taker than the one given (a buy pays at least
/// `price`, a sell receives at most `price`), and a `synthetic_level`
/// sequence must get monotonically worse with `k`.
pub trait SlippageModel {
    /// The price a taker on `side` gets for liquidity displayed at `price`,
    /// given the venue's current per-event volatility estimate.
    fn taker_price(&self, side: Side, price: Price, volatility: f64) -> Price;

    /// Level `k >= 1` behind a top of book at `top` (on the side the taker
    /// lifts) with `top_qty` displayed, or `None` if the model assumes no
    /// hidden depth.
    fn synthetic_level(&self, side: Side, top: Price, top_qty: Qty, k: u32) -> Option<(Price, Qty)>;
}

/// The configured slippage model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Slippage {
    /// Fill at the displayed price.
    #[default]
    None,
    /// A fixed penalty in basis points.
    FixedBps {
        /// Penalty, in basis points of the price.
        bps: f64,
    },
    /// A penalty of `multiple` times the per-event volatility.
    VolatilityScaled {
        /// Multiple of the EWMA volatility of log returns.
        multiple: f64,
    },
    /// Synthetic depth behind the top of book.
    BookWalk {
        /// Levels assumed behind the top.
        levels: u32,
        /// Distance between levels, in basis points of the top price.
        spacing_bps: f64,
    },
}

/// A slippage description that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slippage `{0}` is not understood: use none, bps:B, vol:MULTIPLE or walk:LEVELS,SPACING_BPS (in range)")]
pub struct SlippageParseError(pub String);

impl Slippage {
    /// Parses `none`, `bps:2` (fixed), `vol:0.5` (volatility-scaled) or
    /// `walk:3,1.5` (book walk: levels, spacing in bps); a bare number means
    /// fixed bps.
    ///
    /// # Errors
    /// [`SlippageParseError`] for anything else or a value out of range.
    pub fn parse(text: &str) -> Result<Self, SlippageParseError> {
        let err = || SlippageParseError(text.to_owned());
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| err());
        let (kind, rest) = text.split_once(':').unwrap_or(("bps", text));
        let s = match kind.trim() {
            "none" => Self::None,
            "bps" if rest.trim() == "none" => Self::None,
            "bps" => Self::FixedBps { bps: num(rest)? },
            "vol" => Self::VolatilityScaled { multiple: num(rest)? },
            "walk" => {
                let (levels, spacing) = rest.split_once(',').ok_or_else(err)?;
                Self::BookWalk { levels: levels.trim().parse().map_err(|_| err())?, spacing_bps: num(spacing)? }
            }
            _ => return Err(err()),
        };
        if s.invalid_field().is_some() {
            return Err(err());
        }
        Ok(s)
    }

    /// The name of the first parameter that is out of range, if any.
    pub fn invalid_field(&self) -> Option<&'static str> {
        let ok = |v: f64| v.is_finite() && v >= 0.0 && v * 1e-4 <= MAX_PENALTY;
        match *self {
            Self::None => None,
            Self::FixedBps { bps } if !ok(bps) => Some("slippage.bps"),
            Self::VolatilityScaled { multiple } if !(multiple.is_finite() && multiple >= 0.0) => {
                Some("slippage.multiple")
            }
            Self::BookWalk { spacing_bps, levels } if !ok(spacing_bps * f64::from(levels)) => {
                Some("slippage.spacing_bps")
            }
            _ => None,
        }
    }
}

/// Moves `price` against a taker on `side` by `fraction` of itself.
fn penalise(side: Side, price: Price, fraction: f64) -> Price {
    let f = if fraction.is_finite() { fraction.clamp(0.0, MAX_PENALTY) } else { 0.0 };
    let offset = (price.raw() as f64 * f).ceil() as i64;
    match side {
        Side::Buy => Price::from_raw(price.raw().saturating_add(offset)),
        Side::Sell => Price::from_raw(price.raw().saturating_sub(offset).max(1)),
    }
}

impl SlippageModel for Slippage {
    #[inline]
    fn taker_price(&self, side: Side, price: Price, volatility: f64) -> Price {
        match *self {
            Self::None | Self::BookWalk { .. } => price,
            Self::FixedBps { bps } => penalise(side, price, bps * 1e-4),
            Self::VolatilityScaled { multiple } => penalise(side, price, multiple * volatility),
        }
    }

    #[inline]
    fn synthetic_level(&self, side: Side, top: Price, top_qty: Qty, k: u32) -> Option<(Price, Qty)> {
        match *self {
            Self::BookWalk { levels, spacing_bps } if k >= 1 && k <= levels => {
                Some((penalise(side, top, f64::from(k) * spacing_bps * 1e-4), top_qty))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    #[test]
    fn fixed_and_volatility_penalties_are_adverse() {
        let s = Slippage::FixedBps { bps: 10.0 };
        assert_eq!(s.taker_price(Side::Buy, p("1000"), 0.0), p("1001"));
        assert_eq!(s.taker_price(Side::Sell, p("1000"), 0.0), p("999"));
        let v = Slippage::VolatilityScaled { multiple: 0.5 };
        assert_eq!(v.taker_price(Side::Buy, p("1000"), 0.002), p("1001"));
        assert_eq!(v.taker_price(Side::Buy, p("1000"), f64::NAN), p("1000"));
        // capped at MAX_PENALTY
        assert_eq!(v.taker_price(Side::Buy, p("1000"), 10.0), p("1100"));
        assert_eq!(Slippage::None.taker_price(Side::Buy, p("1000"), 1.0), p("1000"));
    }

    #[test]
    fn book_walk_synthesises_worse_levels() {
        let s = Slippage::BookWalk { levels: 2, spacing_bps: 5.0 };
        let q = Qty::parse("3").unwrap();
        assert_eq!(s.taker_price(Side::Buy, p("1000"), 0.1), p("1000"));
        assert_eq!(s.synthetic_level(Side::Buy, p("1000"), q, 1), Some((p("1000.5"), q)));
        assert_eq!(s.synthetic_level(Side::Sell, p("1000"), q, 2), Some((p("999"), q)));
        assert_eq!(s.synthetic_level(Side::Buy, p("1000"), q, 3), None);
        assert_eq!(Slippage::None.synthetic_level(Side::Buy, p("1000"), q, 1), None);
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(Slippage::parse("none"), Ok(Slippage::None));
        assert_eq!(Slippage::parse("2"), Ok(Slippage::FixedBps { bps: 2.0 }));
        assert_eq!(Slippage::parse("bps:1.5"), Ok(Slippage::FixedBps { bps: 1.5 }));
        assert_eq!(Slippage::parse("vol:0.5"), Ok(Slippage::VolatilityScaled { multiple: 0.5 }));
        assert_eq!(Slippage::parse("walk:3,1"), Ok(Slippage::BookWalk { levels: 3, spacing_bps: 1.0 }));
        assert!(Slippage::parse("bps:-1").is_err());
        assert!(Slippage::parse("walk:3").is_err());
        assert!(Slippage::parse("fast").is_err());
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(Slippage::FixedBps { bps: -1.0 }.invalid_field(), Some("slippage.bps"));
        assert_eq!(Slippage::VolatilityScaled { multiple: f64::NAN }.invalid_field(), Some("slippage.multiple"));
        assert_eq!(Slippage::BookWalk { levels: 3, spacing_bps: 1.0 }.invalid_field(), None);
    }
}
