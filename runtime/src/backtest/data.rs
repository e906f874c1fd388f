//! Market data for backtests: Binance kline CSV archives and synthetic
//! series, turned into [`MarketEvent`]s.
//!
//! The kline reader takes Binance's spot archive rows (no header, twelve
//! columns: `open_time, open, high, low, close, volume, close_time,
//! quote_volume, count, taker_buy_volume, taker_buy_quote_volume, ignore`)
//! and the futures archives' single header row. Timestamps of 16 digits are
//! microseconds (spot archives from 2025), 13 digits milliseconds. A bad
//! row is refused with `file:line:column`, the field and the value.
//!
//! A bar becomes one event delivered when the bar ends (`close_time + 1 ms`,
//! which is the next bar's open): strategies see a bar only once it is
//! complete.

use std::fmt;
use std::path::{Path, PathBuf};

use odex_shared::market::{Bar, BookTop, Nanos, Price, Qty};

use crate::event::{BarUpdate, BookUpdate, MarketData, MarketEvent};
use crate::order::SymbolId;
use crate::venue::rng::Rng;

/// One row of a kline archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineRow {
    /// The bar (open time in ms).
    pub bar: Bar,
    /// Close time, ms.
    pub close_time_ms: i64,
    /// Taker buy base volume.
    pub taker_buy_volume: Qty,
}

/// Why market data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (byte) where the field starts.
        column: usize,
        /// The column's name.
        field: &'static str,
        /// What is wrong, with the value.
        message: String,
    },
    /// The file holds no rows.
    #[error("{0}: no kline rows")]
    Empty(PathBuf),
}

/// Column names of a kline row.
pub const KLINE_COLUMNS: [&str; 12] = [
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

/// Reads a kline CSV file.
///
/// # Errors
/// [`DataError`] with the file, line and column of the first problem.
pub fn read_klines(path: &Path) -> Result<Vec<KlineRow>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    parse_klines(&text, path)
}

struct Field<'a> {
    text: &'a str,
    column: usize,
    index: usize,
}

impl fmt::Debug for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// Parses kline CSV text; `path` only names the source in errors.
///
/// # Errors
/// [`DataError::Row`] for the first bad row, [`DataError::Empty`] if there
/// is none.
pub fn parse_klines(text: &str, path: &Path) -> Result<Vec<KlineRow>, DataError> {
    let mut rows: Vec<KlineRow> = Vec::with_capacity(text.len() / 100 + 1);
    for (n, raw_line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw_line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let err = |column: usize, index: usize, message: String| DataError::Row {
            path: path.to_owned(),
            line: line_no,
            column,
            field: KLINE_COLUMNS.get(index).copied().unwrap_or("row"),
            message,
        };
        let mut fields: [Option<Field<'_>>; 12] = Default::default();
        let mut count = 0;
        let mut column = 1;
        for (index, text) in line.split(',').enumerate() {
            if let Some(slot) = fields.get_mut(index) {
                *slot = Some(Field { text, column, index });
            }
            count += 1;
            column += text.len() + 1;
        }
        if n == 0 && !line.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            continue; // the futures archives' header row
        }
        if count != KLINE_COLUMNS.len() {
            return Err(err(1, usize::MAX, format!("expected 12 comma-separated columns, found {count}")));
        }
        let get = |i: usize| fields.get(i).and_then(Option::as_ref).ok_or_else(|| err(1, i, "missing".into()));
        let time = |f: &Field<'_>| -> Result<i64, DataError> {
            let v: i64 =
                f.text.trim().parse().map_err(|_| err(f.column, f.index, format!("`{}` is not an integer", f.text)))?;
            // 16 digits: microseconds (spot archives from 2025); 13: milliseconds
            Ok(if v >= 1_000_000_000_000_000 { v / 1000 } else { v })
        };
        let price = |f: &Field<'_>| -> Result<Price, DataError> {
            Price::parse(f.text.trim())
                .map_err(|e| err(f.column, f.index, format!("`{}` is not a decimal ({e:?})", f.text)))
        };
        let qty = |f: &Field<'_>| -> Result<Qty, DataError> {
            Qty::parse(f.text.trim())
                .map_err(|e| err(f.column, f.index, format!("`{}` is not a decimal ({e:?})", f.text)))
        };
        let open_time_ms = time(get(0)?)?;
        let bar = Bar {
            open_time_ms,
            open: price(get(1)?)?,
            high: price(get(2)?)?,
            low: price(get(3)?)?,
            close: price(get(4)?)?,
            volume: qty(get(5)?)?,
        };
        let close_time_ms = time(get(6)?)?;
        let taker_buy_volume = qty(get(9)?)?;
        if !bar.is_consistent() {
            let f = get(2)?;
            return Err(err(
                f.column,
                f.index,
                format!("inconsistent bar: open {} high {} low {} close {}", bar.open, bar.high, bar.low, bar.close),
            ));
        }
        if close_time_ms < open_time_ms {
            let f = get(6)?;
            return Err(err(
                f.column,
                f.index,
                format!("close time {close_time_ms} is before open time {open_time_ms}"),
            ));
        }
        if let Some(prev) = rows.last()
            && open_time_ms <= prev.bar.open_time_ms
        {
            let f = get(0)?;
            return Err(err(
                f.column,
                f.index,
                format!("open time {open_time_ms} does not follow the previous row's {}", prev.bar.open_time_ms),
            ));
        }
        rows.push(KlineRow { bar, close_time_ms, taker_buy_volume });
    }
    if rows.is_empty() {
        return Err(DataError::Empty(path.to_owned()));
    }
    Ok(rows)
}

/// One event per row, delivered at `close_time + 1 ms`.
pub fn bar_events(rows: &[KlineRow], symbol: SymbolId) -> Vec<MarketEvent> {
    rows.iter()
        .map(|r| {
            let t = Nanos::from_millis(u64::try_from(r.close_time_ms.saturating_add(1)).unwrap_or(0));
            MarketEvent {
                recv: t,
                exchange_time: Some(t),
                data: MarketData::Bar(BarUpdate { symbol, bar: r.bar, taker_buy_volume: r.taker_buy_volume }),
            }
        })
        .collect()
}

/// An Ornstein-Uhlenbeck log-price series: `dx = kappa (mu - x) dt + sigma dW`
/// with `dt` one bar, sampled exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuSeries {
    /// Mean-reversion speed per bar, `> 0`.
    pub kappa: f64,
    /// Long-run log price.
    pub mu: f64,
    /// Diffusion per square-root bar.
    pub sigma: f64,
    /// Number of bars.
    pub bars: usize,
    /// Open time of the first bar, ms.
    pub start_ms: i64,
    /// Bar length, ms.
    pub interval_ms: i64,
    /// Base volume of every bar.
    pub volume: Qty,
    /// Seed of the noise.
    pub seed: u64,
}

impl OuSeries {
    /// The log prices `x_0 .. x_bars` (one more than bars: the first open).
    pub fn log_prices(&self) -> Vec<f64> {
        let mut rng = Rng::new(self.seed);
        let decay = (-self.kappa).exp();
        let sd = self.sigma * ((1.0 - (-2.0 * self.kappa).exp()) / (2.0 * self.kappa)).sqrt();
        let mut x = self.mu;
        let mut out = Vec::with_capacity(self.bars + 1);
        out.push(x);
        for _ in 0..self.bars {
            x = self.mu + (x - self.mu) * decay + sd * rng.normal();
            out.push(x);
        }
        out
    }

    /// Bars on a 0.01 tick: each opens at the previous close; high and low
    /// reach a little beyond the open and close (half a step's noise).
    pub fn kline_rows(&self) -> Vec<KlineRow> {
        let xs = self.log_prices();
        let mut rng = Rng::new(self.seed ^ 0x5EED);
        let tick = 1_000_000i64; // 0.01
        let to_price = |x: f64| Price::from_raw(((x.exp() * 100.0).round() as i64).max(1) * tick);
        let mut rows = Vec::with_capacity(self.bars);
        for (i, w) in xs.windows(2).enumerate() {
            let (x0, x1) = match w {
                [a, b] => (*a, *b),
                _ => continue,
            };
            let open = to_price(x0);
            let close = to_price(x1);
            let wick = |r: &mut Rng| (0.5 * self.sigma * r.normal().abs()).exp();
            let hi = to_price(x0.max(x1) + wick(&mut rng).ln()).max(open.max(close));
            let lo = to_price(x0.min(x1) - wick(&mut rng).ln()).min(open.min(close));
            let open_time_ms =
                self.start_ms.saturating_add(i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(self.interval_ms));
            rows.push(KlineRow {
                bar: Bar { open_time_ms, open, high: hi, low: lo, close, volume: self.volume },
                close_time_ms: open_time_ms.saturating_add(self.interval_ms).saturating_sub(1),
                taker_buy_volume: Qty::from_raw(self.volume.raw() / 2),
            });
        }
        rows
    }
}

/// Top-of-book events of a mean-reverting mid on a 0.01 tick with a
/// one-tick spread, one every `spacing` ns, with displayed quantities that
/// vary: the synthetic tick stream of the benchmarks and tests.
pub fn synthetic_book(symbol: SymbolId, events: usize, spacing: Nanos, seed: u64) -> Vec<MarketEvent> {
    let mut rng = Rng::new(seed);
    let mut mid_ticks: f64 = 160_000.0;
    let tick = 1_000_000i64;
    (0..events)
        .map(|i| {
            mid_ticks += 0.01 * (160_000.0 - mid_ticks) + 2.0 * rng.normal();
            let bid = (mid_ticks.floor() as i64).max(1) * tick;
            let t = Nanos(spacing.0.saturating_mul(i as u64 + 1));
            MarketEvent {
                recv: t,
                exchange_time: Some(t),
                data: MarketData::Book(BookUpdate {
                    symbol,
                    update_id: i as u64,
                    top: BookTop {
                        bid: Price::from_raw(bid),
                        bid_qty: Qty::from_raw((rng.below(500) as i64 + 1) * 1_000_000),
                        ask: Price::from_raw(bid + tick),
                        ask_qty: Qty::from_raw((rng.below(500) as i64 + 1) * 1_000_000),
                    },
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = "1660435200000,1980.75000000,1981.86000000,1978.34000000,1979.20000000,371.75800000,1660435259999,736185.72460000,731,152.04390000,301077.72458000,0";

    #[test]
    fn parses_a_spot_row_and_the_microsecond_form() {
        let rows = parse_klines(ROW, Path::new("x.csv")).unwrap();
        assert_eq!(rows.len(), 1);
        let r = rows[0];
        assert_eq!(r.bar.open_time_ms, 1_660_435_200_000);
        assert_eq!(r.bar.close.to_string(), "1979.2");
        assert_eq!(r.taker_buy_volume.to_string(), "152.0439");
        let micro =
            ROW.replacen("1660435200000", "1660435200000000", 1).replacen("1660435259999", "1660435259999000", 1);
        assert_eq!(parse_klines(&micro, Path::new("x.csv")).unwrap()[0], r);
        let ev = bar_events(&rows, SymbolId(3));
        assert_eq!(ev[0].recv, Nanos::from_millis(1_660_435_260_000));
        assert_eq!(ev[0].symbol(), SymbolId(3));
    }

    #[test]
    fn bad_rows_name_file_line_column_and_field() {
        let text = format!(
            "{ROW}\n{}",
            ROW.replacen("1980.75000000", "1980.7x", 1).replacen("1660435200000", "1660435260000", 1)
        );
        let e = parse_klines(&text, Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:2:15: open: `1980.7x` is not a decimal"), "{e}");
        let e = parse_klines("1,2,3", Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.contains("d.csv:1:1") && e.contains("found 3"), "{e}");
        let swapped = ROW.replacen("1981.86000000", "1970.00000000", 1);
        let e = parse_klines(&swapped, Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:1:29: high: inconsistent bar"), "{e}");
        let e = parse_klines(&format!("{ROW}\n{ROW}"), Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:2:1: open_time: open time"), "{e}");
        assert!(matches!(parse_klines("", Path::new("d.csv")), Err(DataError::Empty(_))));
        let header = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{ROW}"
        );
        assert_eq!(parse_klines(&header, Path::new("f.csv")).unwrap().len(), 1);
    }

    #[test]
    fn synthetic_series_are_consistent_and_seeded() {
        let ou = OuSeries {
            kappa: 0.1,
            mu: 100f64.ln(),
            sigma: 0.002,
            bars: 500,
            start_ms: 0,
            interval_ms: 60_000,
            volume: Qty::from_raw(100 * 100_000_000),
            seed: 1,
        };
        let rows = ou.kline_rows();
        assert_eq!(rows.len(), 500);
        assert!(rows.iter().all(|r| r.bar.is_consistent()));
        assert_eq!(rows, ou.kline_rows());
        let book = synthetic_book(SymbolId(0), 100, Nanos(1000), 2);
        assert!(book.iter().all(|e| match e.data {
            MarketData::Book(b) => b.top.is_sane(),
            _ => false,
        }));
    }
}
