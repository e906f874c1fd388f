//! Exact market quantities and the events built from them.
//!
//! Binance sends prices and quantities as decimal strings with at most eight
//! fractional digits (`"25.35190000"`). [`Price`], [`Qty`] and [`Amount`] hold
//! them as integers scaled by 10^8, so parsing, comparing, rounding to a tick
//! or a lot step and printing them back are exact, need no floats and never
//! allocate. Floats appear only where the model needs them
//! ([`Price::to_f64`]).

use core::fmt;

use serde::{Deserialize, Serialize};

/// Fractional decimal digits every fixed-point value carries.
pub const SCALE_DIGITS: u32 = 8;
/// `10^SCALE_DIGITS`: the raw integer that represents `1`.
pub const SCALE: i64 = 100_000_000;

/// Why a decimal string was refused. `at` is a byte offset into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// The input was empty (or only a sign).
    Empty,
    /// A byte that is not part of a plain decimal number.
    InvalidByte {
        /// Byte offset of the offending byte.
        at: usize,
        /// The byte itself.
        byte: u8,
    },
    /// More than eight fractional digits that are not all zero.
    TooPrecise {
        /// Byte offset of the first digit that cannot be represented.
        at: usize,
    },
    /// The value does not fit the 64-bit fixed-point range.
    Overflow,
    /// A `.` with no digit on one side of it (`"5."`, `".5"`).
    MissingDigits,
    /// A float that is NaN or infinite.
    NotFinite,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("empty decimal"),
            Self::InvalidByte { at, byte } => {
                write!(f, "invalid byte {:?} at offset {at}", char::from(byte))
            }
            Self::TooPrecise { at } => {
                write!(f, "more than {SCALE_DIGITS} fractional digits (first excess non-zero digit at offset {at})")
            }
            Self::Overflow => f.write_str("decimal out of the 64-bit fixed-point range"),
            Self::MissingDigits => f.write_str("a '.' needs digits on both sides"),
            Self::NotFinite => f.write_str("value is NaN or infinite"),
        }
    }
}

impl core::error::Error for DecimalError {}

/// Parses a plain decimal (`-?[0-9]+(\.[0-9]+)?`) into a raw value scaled by
/// [`SCALE`]. Fractional digits past the eighth must be zeros.
///
/// # Errors
/// [`DecimalError`] names what is wrong and at which byte.
pub fn parse_raw(bytes: &[u8]) -> Result<i64, DecimalError> {
    let (negative, digits_from) = match bytes.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    let mut int: i64 = 0;
    let mut int_digits = 0usize;
    let mut frac: i64 = 0;
    let mut frac_digits = 0u32;
    let mut dot_at: Option<usize> = None;
    for (at, &b) in bytes.iter().enumerate().skip(digits_from) {
        match (b, dot_at) {
            (b'0'..=b'9', None) => {
                int = int
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(i64::from(b - b'0')))
                    .ok_or(DecimalError::Overflow)?;
                int_digits += 1;
            }
            (b'.', None) => dot_at = Some(at),
            (b'0'..=b'9', Some(_)) => {
                if frac_digits < SCALE_DIGITS {
                    frac = frac * 10 + i64::from(b - b'0');
                    frac_digits += 1;
                } else if b != b'0' {
                    return Err(DecimalError::TooPrecise { at });
                }
            }
            _ => return Err(DecimalError::InvalidByte { at, byte: b }),
        }
    }
    match dot_at {
        None if int_digits == 0 => return Err(DecimalError::Empty),
        Some(at) if int_digits == 0 || at + 1 == bytes.len() => {
            return Err(DecimalError::MissingDigits);
        }
        _ => {}
    }
    for _ in frac_digits..SCALE_DIGITS {
        frac *= 10;
    }
    let raw = int.checked_mul(SCALE).and_then(|v| v.checked_add(frac)).ok_or(DecimalError::Overflow)?;
    Ok(if negative { -raw } else { raw })
}

/// Writes `raw / SCALE` as a plain decimal with trailing fractional zeros
/// trimmed (`2535190000` -> `"25.3519"`, `100000000` -> `"1"`). Returns the
/// number of bytes written, or `None` if `out` is too small (24 bytes always
/// suffice).
pub fn write_raw(raw: i64, out: &mut [u8]) -> Option<usize> {
    let mut tmp = [0u8; 24];
    let mut n = 0usize;
    let negative = raw < 0;
    let abs = raw.unsigned_abs();
    let scale = SCALE.unsigned_abs();
    let mut int = abs / scale;
    let mut frac = abs % scale;
    // fractional digits, least significant first, trailing zeros dropped
    let mut frac_len = SCALE_DIGITS as usize;
    while frac_len > 0 && frac.is_multiple_of(10) {
        frac /= 10;
        frac_len -= 1;
    }
    for _ in 0..frac_len {
        *tmp.get_mut(n)? = b'0' + (frac % 10) as u8;
        frac /= 10;
        n += 1;
    }
    if frac_len > 0 {
        *tmp.get_mut(n)? = b'.';
        n += 1;
    }
    loop {
        *tmp.get_mut(n)? = b'0' + (int % 10) as u8;
        int /= 10;
        n += 1;
        if int == 0 {
            break;
        }
    }
    if negative {
        *tmp.get_mut(n)? = b'-';
        n += 1;
    }
    let dst = out.get_mut(..n)?;
    for (d, s) in dst.iter_mut().zip(tmp.iter().take(n).rev()) {
        *d = *s;
    }
    Some(n)
}

macro_rules! fixed_point {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// One whole unit.
            pub const ONE: Self = Self(SCALE);

            /// Wraps a raw value already scaled by [`SCALE`].
            pub const fn from_raw(raw: i64) -> Self {
                Self(raw)
            }

            /// The raw value, scaled by [`SCALE`].
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// Parses a plain decimal string such as `"25.35190000"`.
            ///
            /// # Errors
            /// [`DecimalError`] names what is wrong and at which byte.
            pub fn parse(s: &str) -> Result<Self, DecimalError> {
                Self::parse_bytes(s.as_bytes())
            }

            /// Parses a plain decimal from raw bytes (a slice of a frame).
            ///
            /// # Errors
            /// [`DecimalError`] names what is wrong and at which byte.
            pub fn parse_bytes(bytes: &[u8]) -> Result<Self, DecimalError> {
                parse_raw(bytes).map(Self)
            }

            /// The value as a float (for the model; never for bookkeeping).
            pub fn to_f64(self) -> f64 {
                self.0 as f64 / SCALE as f64
            }

            /// The nearest representable value to a float.
            ///
            /// # Errors
            /// [`DecimalError::NotFinite`] or [`DecimalError::Overflow`].
            pub fn from_f64(x: f64) -> Result<Self, DecimalError> {
                if !x.is_finite() {
                    return Err(DecimalError::NotFinite);
                }
                let scaled = libm::round(x * SCALE as f64);
                // 2^63 is the first float past i64::MAX (which rounds up to it).
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if !(-LIMIT..LIMIT).contains(&scaled) {
                    return Err(DecimalError::Overflow);
                }
                Ok(Self(scaled as i64))
            }

            /// True when the value is exactly zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// True when the value is above zero.
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            /// Absolute value (saturating at the top of the range).
            pub const fn abs(self) -> Self {
                Self(self.0.saturating_abs())
            }

            /// Sum, or `None` on overflow.
            pub const fn checked_add(self, rhs: Self) -> Option<Self> {
                match self.0.checked_add(rhs.0) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            /// Difference, or `None` on overflow.
            pub const fn checked_sub(self, rhs: Self) -> Option<Self> {
                match self.0.checked_sub(rhs.0) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            /// Sum clamped to the representable range.
            pub const fn saturating_add(self, rhs: Self) -> Self {
                Self(self.0.saturating_add(rhs.0))
            }

            /// Difference clamped to the representable range.
            pub const fn saturating_sub(self, rhs: Self) -> Self {
                Self(self.0.saturating_sub(rhs.0))
            }

            /// The largest multiple of `step` that is `<= self`. A zero or
            /// negative step (Binance's "rule disabled") returns `self`.
            pub const fn round_down(self, step: Self) -> Self {
                if step.0 <= 0 {
                    return self;
                }
                Self(self.0 - self.0.rem_euclid(step.0))
            }

            /// The smallest multiple of `step` that is `>= self`, saturating.
            /// A zero or negative step returns `self`.
            pub const fn round_up(self, step: Self) -> Self {
                if step.0 <= 0 {
                    return self;
                }
                let r = self.0.rem_euclid(step.0);
                if r == 0 {
                    self
                } else {
                    Self((self.0 - r).saturating_add(step.0))
                }
            }

            /// The multiple of `step` nearest to `self`, ties away from zero.
            /// A zero or negative step returns `self`.
            pub const fn round_nearest(self, step: Self) -> Self {
                if step.0 <= 0 {
                    return self;
                }
                let r = self.0.rem_euclid(step.0);
                let down = self.0 - r;
                // compare 2r with step without overflow
                if r >= step.0 - r {
                    Self(down.saturating_add(step.0))
                } else {
                    Self(down)
                }
            }

            /// True when `self` is a whole multiple of `step` (always true for
            /// a disabled, non-positive step).
            pub const fn is_multiple_of(self, step: Self) -> bool {
                step.0 <= 0 || self.0.rem_euclid(step.0) == 0
            }

            /// Writes the value as a plain decimal (no exponent, trailing zeros
            /// trimmed) into `out`, returning the length; `None` if `out` is
            /// shorter than the text (24 bytes always suffice).
            pub fn write_to(self, out: &mut [u8]) -> Option<usize> {
                write_raw(self.0, out)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; 24];
                let n = write_raw(self.0, &mut buf).ok_or(fmt::Error)?;
                let text = buf.get(..n).ok_or(fmt::Error)?;
                f.write_str(core::str::from_utf8(text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl core::str::FromStr for $name {
            type Err = DecimalError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

fixed_point!(
    /// A price in quote-asset units, exact to 10^-8.
    Price
);
fixed_point!(
    /// A quantity in base-asset units, exact to 10^-8.
    Qty
);
fixed_point!(
    /// An amount of the quote asset (a notional, a fee, a balance), exact to 10^-8.
    Amount
);

impl Price {
    /// `price x qty` in quote units, truncated toward zero to 10^-8; `None`
    /// if it does not fit.
    pub fn notional(self, qty: Qty) -> Option<Amount> {
        i64::try_from(mul_scaled(self.0, qty.0)).ok().map(Amount)
    }
}

/// `a x b / SCALE` for two raw fixed-point values, truncated toward zero,
/// exact over every pair of `i64`s, without a 128-bit division (a library
/// call of some 25-40 ns, where a price times a quantity mostly does not
/// fit 64 bits). On the magnitudes, with `a = qa S + ra` and
/// `b = qb S + rb` (`0 <= ra, rb < S`):
/// `floor(a b / S) = qa b + ra qb + floor(ra rb / S)`, where the only
/// division left is of `ra rb < S^2 < 2^64` by the constant `S`, which
/// compiles to a multiply and a shift.
#[inline]
pub fn mul_scaled(a: i64, b: i64) -> i128 {
    const S: u64 = SCALE.unsigned_abs();
    let (ua, ub) = (a.unsigned_abs(), b.unsigned_abs());
    let (qa, ra, qb, rb) = (ua / S, ua % S, ub / S, ub % S);
    // ra < 10^8 and qb < 2^63 / 10^8, so ra qb < 2^64; ra rb < 10^16
    let magnitude = u128::from(qa) * u128::from(ub) + u128::from(ra * qb) + u128::from(ra * rb / S);
    // |a b| / S < 2^126 / 10^8: always fits
    let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
    if (a < 0) != (b < 0) { -magnitude } else { magnitude }
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Buy the base asset.
    Buy,
    /// Sell the base asset.
    Sell,
}

impl Side {
    /// `+1` for a buy, `-1` for a sell.
    pub const fn sign(self) -> i64 {
        match self {
            Self::Buy => 1,
            Self::Sell => -1,
        }
    }

    /// The other side.
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// Binance's spelling (`"BUY"` / `"SELL"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "BUY",
            Self::Sell => "SELL",
        }
    }
}

/// Nanoseconds since the Unix epoch (or since the start of a simulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Milliseconds, as Binance timestamps them.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    /// Whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_sub(self, earlier: Self) -> Self {
        Self(self.0.saturating_sub(earlier.0))
    }
}

/// Best bid and ask (a `bookTicker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookTop {
    /// Best bid price.
    pub bid: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
}

impl BookTop {
    /// Mid price as a float.
    pub fn mid(&self) -> f64 {
        0.5 * (self.bid.to_f64() + self.ask.to_f64())
    }

    /// `ask - bid`; negative when the book is crossed.
    pub const fn spread(&self) -> Price {
        Price(self.ask.0.saturating_sub(self.bid.0))
    }

    /// True when both sides are present and the bid is below the ask.
    pub const fn is_sane(&self) -> bool {
        self.bid.0 > 0 && self.ask.0 > self.bid.0 && self.bid_qty.0 >= 0 && self.ask_qty.0 >= 0
    }
}

/// One OHLCV bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Open time, milliseconds since the epoch.
    pub open_time_ms: i64,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade price.
    pub close: Price,
    /// Traded base volume.
    pub volume: Qty,
}

impl Bar {
    /// True when `low <= open, close <= high` and `low > 0`.
    pub const fn is_consistent(&self) -> bool {
        self.low.0 > 0
            && self.low.0 <= self.high.0
            && self.open.0 >= self.low.0
            && self.open.0 <= self.high.0
            && self.close.0 >= self.low.0
            && self.close.0 <= self.high.0
            && self.volume.0 >= 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_binance_strings_exactly() {
        assert_eq!(Price::parse("25.35190000").unwrap().raw(), 2_535_190_000);
        assert_eq!(Qty::parse("31.21000000").unwrap().raw(), 3_121_000_000);
        assert_eq!(Price::parse("0.00000001").unwrap().raw(), 1);
        assert_eq!(Price::parse("1613.5").unwrap().raw(), 161_350_000_000);
        assert_eq!(Price::parse("0").unwrap(), Price::ZERO);
        assert_eq!(Amount::parse("-100.5").unwrap().raw(), -10_050_000_000);
        // trailing zeros past the eighth digit are fine
        assert_eq!(Price::parse("1.0000000000").unwrap(), Price::ONE);
    }

    #[test]
    fn refuses_malformed_input_with_position() {
        assert_eq!(Price::parse(""), Err(DecimalError::Empty));
        assert_eq!(Price::parse("-"), Err(DecimalError::Empty));
        assert_eq!(Price::parse("5."), Err(DecimalError::MissingDigits));
        assert_eq!(Price::parse(".5"), Err(DecimalError::MissingDigits));
        assert_eq!(Price::parse("1e5"), Err(DecimalError::InvalidByte { at: 1, byte: b'e' }));
        assert_eq!(Price::parse("1.2.3"), Err(DecimalError::InvalidByte { at: 3, byte: b'.' }));
        assert_eq!(Price::parse("0.000000001"), Err(DecimalError::TooPrecise { at: 10 }));
        assert_eq!(Price::parse("99999999999999999999"), Err(DecimalError::Overflow));
        assert_eq!(Price::parse(" 1"), Err(DecimalError::InvalidByte { at: 0, byte: b' ' }));
    }

    #[test]
    fn prints_plain_decimals() {
        assert_eq!(Price::parse("25.35190000").unwrap().to_string(), "25.3519");
        assert_eq!(Price::parse("100").unwrap().to_string(), "100");
        assert_eq!(Qty::parse("0.001").unwrap().to_string(), "0.001");
        assert_eq!(Amount::from_raw(-1).to_string(), "-0.00000001");
        assert_eq!(Amount::from_raw(i64::MIN).to_string(), "-92233720368.54775808");
        let mut small = [0u8; 3];
        assert_eq!(Price::parse("1234").unwrap().write_to(&mut small), None);
    }

    #[test]
    fn rounds_to_steps() {
        let tick = Price::parse("0.01").unwrap();
        let p = Price::parse("25.3519").unwrap();
        assert_eq!(p.round_down(tick).to_string(), "25.35");
        assert_eq!(p.round_up(tick).to_string(), "25.36");
        assert_eq!(p.round_nearest(tick).to_string(), "25.35");
        assert_eq!(Price::parse("25.355").unwrap().round_nearest(tick).to_string(), "25.36");
        assert!(Price::parse("25.35").unwrap().is_multiple_of(tick));
        assert!(!p.is_multiple_of(tick));
        assert_eq!(p.round_down(Price::ZERO), p);
        let neg = Amount::parse("-1.005").unwrap();
        assert_eq!(neg.round_down(Amount::parse("0.01").unwrap()).to_string(), "-1.01");
    }

    proptest::proptest! {
        #[test]
        fn mul_scaled_is_the_exact_truncated_product(
            a in proptest::prelude::any::<i64>(),
            b in proptest::prelude::any::<i64>(),
            small in -10_000_000_000_000i64..10_000_000_000_000,
        ) {
            let exact = |a: i64, b: i64| i128::from(a) * i128::from(b) / i128::from(SCALE);
            for (a, b) in [(a, b), (small, b), (a, small), (small, small / 7), (i64::MIN, b), (a, i64::MAX)] {
                proptest::prop_assert_eq!(mul_scaled(a, b), exact(a, b), "{} x {}", a, b);
            }
        }
    }

    #[test]
    fn notional_is_exact() {
        let p = Price::parse("25.3519").unwrap();
        let q = Qty::parse("2.5").unwrap();
        assert_eq!(p.notional(q).unwrap().to_string(), "63.37975");
        assert_eq!(Price::from_raw(i64::MAX).notional(Qty::from_raw(i64::MAX)), None);
    }

    #[test]
    fn float_conversion_round_trips() {
        assert_eq!(Price::from_f64(25.3519).unwrap().to_string(), "25.3519");
        assert_eq!(Price::from_f64(f64::NAN), Err(DecimalError::NotFinite));
        assert_eq!(Price::from_f64(1e12), Err(DecimalError::Overflow));
    }

    proptest! {
        #[test]
        fn print_then_parse_is_identity(raw in any::<i64>()) {
            let v = Amount::from_raw(raw);
            let mut buf = [0u8; 24];
            let n = v.write_to(&mut buf).unwrap();
            prop_assert_eq!(Amount::parse_bytes(&buf[..n]).unwrap(), v);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Price::parse_bytes(&bytes);
        }

        #[test]
        fn rounding_brackets_the_value(raw in -1_000_000_000_000i64..1_000_000_000_000, step in 1i64..1_000_000_000) {
            let v = Price::from_raw(raw);
            let s = Price::from_raw(step);
            let lo = v.round_down(s);
            let hi = v.round_up(s);
            let near = v.round_nearest(s);
            prop_assert!(lo <= v && v <= hi);
            prop_assert!(hi.raw() - lo.raw() == 0 || hi.raw() - lo.raw() == step);
            prop_assert!(lo.is_multiple_of(s) && hi.is_multiple_of(s) && near.is_multiple_of(s));
            prop_assert!(near == lo || near == hi);
        }
    }
}
