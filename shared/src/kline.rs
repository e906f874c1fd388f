//! One kline (OHLCV bar) row of text in, one validated [`Bar`] out.
//!
//! The trainer reads whole archives with this and the runtime's backtester
//! replays them with it, so both see the same bars. Only one line is handled
//! here: files, zip archives and header rows are the caller's business.
//!
//! Two layouts are understood:
//! - [`RowLayout::Binance`]: the twelve columns of Binance's kline archives
//!   (`open_time, open, high, low, close, volume, close_time, quote_volume,
//!   count, taker_buy_volume, taker_buy_quote_volume, ignore`);
//! - [`RowLayout::Ohlcv`]: the generic `timestamp,open,high,low,close,volume`,
//!   optionally followed by `taker_buy_volume`.
//!
//! Timestamps are integers whose unit is inferred from their digit count:
//! up to 13 digits are milliseconds, exactly 16 digits are microseconds
//! (Binance's spot archives from 2025 on). Anything in between is refused
//! rather than guessed.

use core::fmt;

use crate::market::{Bar, DecimalError, Price, Qty, parse_raw};

/// The column layout of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLayout {
    /// Binance kline archive: twelve columns.
    Binance,
    /// Generic `timestamp,open,high,low,close,volume`.
    Ohlcv,
    /// Generic OHLCV followed by `taker_buy_volume`.
    OhlcvTaker,
}

impl RowLayout {
    /// Number of columns a row of this layout has.
    pub const fn columns(self) -> usize {
        match self {
            Self::Binance => 12,
            Self::Ohlcv => 6,
            Self::OhlcvTaker => 7,
        }
    }

    /// The name of a column (0-based), as the headers spell it.
    pub fn column_name(self, index: usize) -> &'static str {
        const BINANCE: [&str; 12] = [
            "open_time",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "close_time",
            "quote_volume",
            "count",
            "taker_buy_volume",
            "taker_buy_quote_volume",
            "ignore",
        ];
        const OHLCV: [&str; 7] = ["timestamp", "open", "high", "low", "close", "volume", "taker_buy_volume"];
        let names: &[&'static str] = match self {
            Self::Binance => &BINANCE,
            Self::Ohlcv | Self::OhlcvTaker => &OHLCV,
        };
        names.get(index).copied().unwrap_or("extra")
    }
}

/// The unit a timestamp was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (13 digits for current dates).
    Millis,
    /// Microseconds (16 digits).
    Micros,
}

/// One parsed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineRow {
    /// The bar, with its open time in milliseconds.
    pub bar: Bar,
    /// The unit the open time was written in.
    pub unit: TimeUnit,
    /// Taker buy base volume, when the layout has it.
    pub taker_buy_volume: Option<Qty>,
}

impl KlineRow {
    /// Taker sell volume (`volume - taker_buy_volume`, floored at zero),
    /// when the taker buy volume is known.
    pub fn taker_sell_volume(&self) -> Option<Qty> {
        self.taker_buy_volume.map(|b| {
            let s = self.bar.volume.saturating_sub(b);
            if s.raw() < 0 { Qty::ZERO } else { s }
        })
    }
}

/// What was wrong with a field or a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlineErrorKind {
    /// The row has fewer columns than the layout.
    MissingColumn,
    /// The row has more columns than the layout.
    ExtraColumn,
    /// A timestamp that is not a plain non-negative integer.
    Timestamp,
    /// A timestamp whose digit count matches neither milliseconds (up to
    /// 13) nor microseconds (16).
    TimestampUnit {
        /// Digits found.
        digits: usize,
    },
    /// A count that is not a plain non-negative integer.
    Integer,
    /// A price or quantity that does not parse.
    Decimal(DecimalError),
    /// A negative volume.
    Negative,
    /// `low <= open, close <= high` and `low > 0` do not hold.
    Inconsistent,
}

impl fmt::Display for KlineErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingColumn => f.write_str("missing column"),
            Self::ExtraColumn => f.write_str("unexpected extra column"),
            Self::Timestamp => f.write_str("timestamp is not a non-negative integer"),
            Self::TimestampUnit { digits } => {
                write!(f, "timestamp has {digits} digits: neither milliseconds (up to 13) nor microseconds (16)")
            }
            Self::Integer => f.write_str("not a non-negative integer"),
            Self::Decimal(e) => write!(f, "bad decimal: {e}"),
            Self::Negative => f.write_str("negative volume"),
            Self::Inconsistent => f.write_str("OHLC inconsistent (needs 0 < low <= open, close <= high)"),
        }
    }
}

/// Why a row was refused: the column (0-based index and header name), the
/// byte range of the offending text in the line, and what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineError {
    /// 0-based column index (for a whole-row problem, the first column involved).
    pub column: usize,
    /// The column's header name.
    pub name: &'static str,
    /// Byte range of the offending text within the line.
    pub span: (usize, usize),
    /// What was wrong.
    pub kind: KlineErrorKind,
}

impl fmt::Display for KlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {} ({}): {}", self.column + 1, self.name, self.kind)
    }
}

impl core::error::Error for KlineError {}

/// Splits a line into at most `N` comma-separated fields with their byte
/// offsets; `Err(offset)` if there are more.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Fields<'a> {
    fn next_field(&mut self) -> Option<(usize, &'a [u8])> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let rest = self.line.get(start..).unwrap_or(&[]);
        match rest.iter().position(|&b| b == b',') {
            Some(i) => {
                self.pos = start + i + 1;
                Some((start, rest.get(..i).unwrap_or(&[])))
            }
            None => {
                self.done = true;
                Some((start, rest))
            }
        }
    }
}

/// Parses a non-negative integer timestamp and converts it to milliseconds.
///
/// # Errors
/// [`KlineErrorKind::Timestamp`] or [`KlineErrorKind::TimestampUnit`].
pub fn parse_timestamp_ms(text: &[u8]) -> Result<(i64, TimeUnit), KlineErrorKind> {
    let v = parse_uint(text).ok_or(KlineErrorKind::Timestamp)?;
    match text.len() {
        1..=13 => Ok((v, TimeUnit::Millis)),
        16 => Ok((v / 1000, TimeUnit::Micros)),
        digits => Err(KlineErrorKind::TimestampUnit { digits }),
    }
}

fn parse_uint(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(v)
}

/// The layout a header row declares, if it is one of the known headers:
/// Binance's twelve column names (futures archives) or the generic
/// `timestamp,open,high,low,close,volume[,taker_buy_volume]`. Fields are
/// compared after trimming spaces; a trailing `\r` is ignored.
pub fn header_layout(line: &[u8]) -> Option<RowLayout> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let matches = |layout: RowLayout, n: usize| {
        let mut count = 0;
        for (i, field) in line.split(|&b| b == b',').enumerate() {
            if i >= n || field.trim_ascii() != layout.column_name(i).as_bytes() {
                return false;
            }
            count += 1;
        }
        count == n
    };
    [RowLayout::Binance, RowLayout::Ohlcv, RowLayout::OhlcvTaker].into_iter().find(|&l| matches(l, l.columns()))
}

/// Parses one row (without its line terminator; a trailing `\r` is ignored).
///
/// # Errors
/// [`KlineError`] naming the column, the offending bytes and the problem.
pub fn parse_row(line: &[u8], layout: RowLayout) -> Result<KlineRow, KlineError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = Fields { line, pos: 0, done: false };
    let err =
        |column: usize, span: (usize, usize), kind| KlineError { column, name: layout.column_name(column), span, kind };
    let n = layout.columns();
    let mut spans = [(0usize, 0usize); 12];
    for (i, span) in spans.iter_mut().enumerate().take(n) {
        let (start, text) =
            fields.next_field().ok_or(err(i, (line.len(), line.len()), KlineErrorKind::MissingColumn))?;
        *span = (start, start + text.len());
    }
    if let Some((start, text)) = fields.next_field() {
        return Err(err(n, (start, start + text.len()), KlineErrorKind::ExtraColumn));
    }
    let text = |i: usize| -> &[u8] {
        let (a, b) = spans.get(i).copied().unwrap_or((0, 0));
        line.get(a..b).unwrap_or(&[])
    };
    let span = |i: usize| spans.get(i).copied().unwrap_or((0, 0));
    let price = |i: usize| Price::parse_bytes(text(i)).map_err(|e| err(i, span(i), KlineErrorKind::Decimal(e)));
    let qty = |i: usize| -> Result<Qty, KlineError> {
        let q = Qty::parse_bytes(text(i)).map_err(|e| err(i, span(i), KlineErrorKind::Decimal(e)))?;
        if q.raw() < 0 { Err(err(i, span(i), KlineErrorKind::Negative)) } else { Ok(q) }
    };
    let (open_time_ms, unit) = parse_timestamp_ms(text(0)).map_err(|k| err(0, span(0), k))?;
    let bar = Bar { open_time_ms, open: price(1)?, high: price(2)?, low: price(3)?, close: price(4)?, volume: qty(5)? };
    let taker_buy_volume = match layout {
        RowLayout::Binance => {
            parse_timestamp_ms(text(6)).map_err(|k| err(6, span(6), k))?;
            parse_raw(text(7)).map_err(|e| err(7, span(7), KlineErrorKind::Decimal(e)))?;
            parse_uint(text(8)).ok_or(err(8, span(8), KlineErrorKind::Integer))?;
            let taker = qty(9)?;
            parse_raw(text(10)).map_err(|e| err(10, span(10), KlineErrorKind::Decimal(e)))?;
            Some(taker)
        }
        RowLayout::Ohlcv => None,
        RowLayout::OhlcvTaker => Some(qty(6)?),
    };
    if !bar.is_consistent() {
        let (a, _) = span(1);
        let (_, b) = span(4);
        return Err(err(1, (a, b), KlineErrorKind::Inconsistent));
    }
    Ok(KlineRow { bar, unit, taker_buy_volume })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT: &[u8] = b"1660435200000,1983.55000000,1983.90000000,1982.14000000,1982.29000000,205.13100000,1660435259999,406814.92308000,288,105.29930000,208854.93067400,0";

    #[test]
    fn parses_a_spot_row() {
        let row = parse_row(SPOT, RowLayout::Binance).unwrap();
        assert_eq!(row.bar.open_time_ms, 1_660_435_200_000);
        assert_eq!(row.bar.close.to_string(), "1982.29");
        assert_eq!(row.taker_buy_volume.unwrap().to_string(), "105.2993");
        assert_eq!(row.taker_sell_volume().unwrap().to_string(), "99.8317");
        assert_eq!(row.unit, TimeUnit::Millis);
        let crlf = [SPOT, b"\r"].concat();
        assert_eq!(parse_row(&crlf, RowLayout::Binance).unwrap(), row);
    }

    #[test]
    fn infers_microseconds() {
        let us = b"1735689600000000,1.0,2.0,0.5,1.5,10,1735689659999999,1,1,5,1,0";
        let row = parse_row(us, RowLayout::Binance).unwrap();
        assert_eq!(row.bar.open_time_ms, 1_735_689_600_000);
        assert_eq!(row.unit, TimeUnit::Micros);
        let bad = b"17356896000000,1.0,2.0,0.5,1.5,10";
        let e = parse_row(bad, RowLayout::Ohlcv).unwrap_err();
        assert_eq!(e.kind, KlineErrorKind::TimestampUnit { digits: 14 });
        assert_eq!(e.column, 0);
    }

    #[test]
    fn recognises_headers() {
        assert_eq!(header_layout(b"timestamp,open,high,low,close,volume"), Some(RowLayout::Ohlcv));
        assert_eq!(
            header_layout(b"timestamp, open,high,low,close,volume,taker_buy_volume\r"),
            Some(RowLayout::OhlcvTaker)
        );
        let futures = b"open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore";
        assert_eq!(header_layout(futures), Some(RowLayout::Binance));
        assert_eq!(header_layout(b"timestamp,open,high,low,close"), None);
        assert_eq!(header_layout(b"time,open,high,low,close,volume"), None);
        assert_eq!(header_layout(SPOT), None);
    }

    #[test]
    fn names_the_bad_column() {
        let e = parse_row(b"1000,1.0,2.x,0.5,1.5,10", RowLayout::Ohlcv).unwrap_err();
        assert_eq!((e.column, e.name, e.span), (2, "high", (9, 12)));
        assert!(matches!(e.kind, KlineErrorKind::Decimal(_)));
        let e = parse_row(b"1000,1.0,2.0,0.5", RowLayout::Ohlcv).unwrap_err();
        assert_eq!((e.column, e.kind), (4, KlineErrorKind::MissingColumn));
        let e = parse_row(b"1000,1.0,2.0,0.5,1.5,10,3", RowLayout::Ohlcv).unwrap_err();
        assert_eq!((e.column, e.kind), (6, KlineErrorKind::ExtraColumn));
        let e = parse_row(b"1000,1.0,2.0,0.5,2.5,10", RowLayout::Ohlcv).unwrap_err();
        assert_eq!(e.kind, KlineErrorKind::Inconsistent);
        let e = parse_row(b"1000,1.0,2.0,0.5,1.5,-1", RowLayout::Ohlcv).unwrap_err();
        assert_eq!((e.column, e.kind), (5, KlineErrorKind::Negative));
        let row = parse_row(b"1000,1.0,2.0,0.5,1.5,10,4", RowLayout::OhlcvTaker).unwrap();
        assert_eq!(row.taker_buy_volume, Some(Qty::parse("4").unwrap()));
    }
}
