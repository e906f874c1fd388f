//! Market data for backtests: Binance kline CSV archives and synthetic
//! series, turned into [`MarketEvent`]s.
//!
//! The kline reader parses rows with `odex_shared::kline`, the same code the
//! trainer reads its data with: Binance's spot archives (no header, twelve
//! columns), the futures archives (a header row) and the generic
//! `timestamp,open,high,low,close,volume[,taker_buy_volume]` CSV that
//! `odex-train synth` writes. Timestamps of 16 digits are microseconds (spot
//! archives from 2025), up to 13 digits milliseconds. A bad row is refused
//! with `file:line:column`, the field and the value. A generic CSV has no
//! close time: a bar is taken to last until the smallest spacing between
//! consecutive rows (one minute for a single row).
//!
//! A bar becomes one event delivered when the bar ends (`close_time + 1 ms`,
//! which is the next bar's open): strategies see a bar only once it is
//! complete.

use std::path::{Path, PathBuf};

use odex_shared::kline::{self, RowLayout};
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

/// Reads a kline CSV file.
///
/// # Errors
/// [`DataError`] with the file, line and column of the first problem.
pub fn read_klines(path: &Path) -> Result<Vec<KlineRow>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    parse_klines(&text, path)
}

/// Bar length assumed for a generic CSV of a single row.
const DEFAULT_INTERVAL_MS: i64 = 60_000;

/// Parses kline CSV text; `path` only names the source in errors.
///
/// # Errors
/// [`DataError::Row`] for the first bad row, [`DataError::Empty`] if there
/// is none.
pub fn parse_klines(text: &str, path: &Path) -> Result<Vec<KlineRow>, DataError> {
    let mut rows: Vec<KlineRow> = Vec::with_capacity(text.len() / 100 + 1);
    let mut layout = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let bytes = line.as_bytes();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let err = |column: usize, field: &'static str, message: String| DataError::Row {
            path: path.to_owned(),
            line: line_no,
            column,
            field,
            message,
        };
        let layout = match layout {
            Some(l) => l,
            None if !bytes.first().is_some_and(u8::is_ascii_digit) => {
                let l = kline::header_layout(bytes)
                    .ok_or_else(|| err(1, "header", format!("`{line}` is neither a kline row nor a known header")))?;
                layout = Some(l);
                continue;
            }
            None => *layout.insert(RowLayout::Binance),
        };
        let row = kline::parse_row(bytes, layout).map_err(|e| {
            let value = line.get(e.span.0..e.span.1).unwrap_or("");
            err(e.span.0 + 1, e.name, format!("`{value}`: {}", e.kind))
        })?;
        let open_time_ms = row.bar.open_time_ms;
        // Binance rows carry their close time (validated by parse_row);
        // generic rows get theirs from the bar spacing below.
        let close_time_ms = match layout {
            RowLayout::Binance => line
                .split(',')
                .nth(6)
                .and_then(|t| kline::parse_timestamp_ms(t.as_bytes()).ok())
                .map_or(open_time_ms, |(ms, _)| ms),
            RowLayout::Ohlcv | RowLayout::OhlcvTaker => open_time_ms,
        };
        if close_time_ms < open_time_ms {
            return Err(err(1, "close_time", format!("close time {close_time_ms} is before open time {open_time_ms}")));
        }
        if let Some(prev) = rows.last()
            && open_time_ms <= prev.bar.open_time_ms
        {
            return Err(err(
                1,
                layout.column_name(0),
                format!("open time {open_time_ms} does not follow the previous row's {}", prev.bar.open_time_ms),
            ));
        }
        let taker_buy_volume = row.taker_buy_volume.unwrap_or(Qty::ZERO);
        rows.push(KlineRow { bar: row.bar, close_time_ms, taker_buy_volume });
    }
    if rows.is_empty() {
        return Err(DataError::Empty(path.to_owned()));
    }
    if layout != Some(RowLayout::Binance) {
        let interval = rows
            .windows(2)
            .filter_map(|w| match w {
                [a, b] => Some(b.bar.open_time_ms - a.bar.open_time_ms),
                _ => None,
            })
            .min()
            .unwrap_or(DEFAULT_INTERVAL_MS);
        for r in &mut rows {
            r.close_time_ms = r.bar.open_time_ms + interval - 1;
        }
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
        assert!(e.starts_with("d.csv:2:15: open: `1980.7x`: bad decimal"), "{e}");
        let e = parse_klines("1,2,3", Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:1:6: low: ``: missing column"), "{e}");
        let swapped = ROW.replacen("1981.86000000", "1970.00000000", 1);
        let e = parse_klines(&swapped, Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:1:15: open: ") && e.contains("OHLC inconsistent"), "{e}");
        let e = parse_klines("when,what\n1,2", Path::new("h.csv")).unwrap_err().to_string();
        assert!(e.starts_with("h.csv:1:1: header: `when,what` is neither"), "{e}");
        let e = parse_klines(&format!("{ROW}\n{ROW}"), Path::new("d.csv")).unwrap_err().to_string();
        assert!(e.starts_with("d.csv:2:1: open_time: open time"), "{e}");
        assert!(matches!(parse_klines("", Path::new("d.csv")), Err(DataError::Empty(_))));
        let header = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n{ROW}"
        );
        assert_eq!(parse_klines(&header, Path::new("f.csv")).unwrap().len(), 1);
    }

    #[test]
    fn reads_the_generic_csv_of_odex_train_synth() {
        let text = "timestamp,open,high,low,close,volume\n0,100,101,99,100.5,10\n60000,100.5,102,100,101,12\n120000,101,101,100,100,9\n";
        let rows = parse_klines(text, Path::new("s.csv")).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].bar.close, Price::parse("101").unwrap());
        assert_eq!(rows[2].close_time_ms, 179_999);
        assert_eq!(rows[0].taker_buy_volume, Qty::ZERO);
        let with_taker = "timestamp,open,high,low,close,volume,taker_buy_volume\n0,1,1,1,1,10,4\n";
        let rows = parse_klines(with_taker, Path::new("t.csv")).unwrap();
        assert_eq!((rows[0].taker_buy_volume, rows[0].close_time_ms), (Qty::parse("4").unwrap(), 59_999));
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
