//! Where the simulator's prices come from, and how a bar becomes ticks.
//!
//! A [`FeedSource`] yields kline rows ([`KlineRow`]): from a Binance spot
//! kline archive CSV ([`KlineCsv`]) or from a seeded synthetic generator
//! ([`Synthetic`], Ornstein-Uhlenbeck or GBM on the log price). The server
//! loads the whole (finite) series at start-up, serves it through REST
//! `/api/v3/klines` and replays it as ticks.
//!
//! # The tick rule
//! Each bar becomes [`TICKS_PER_BAR`] top-of-book updates, evenly spaced in
//! the bar's time: the open, then the extreme the bar's direction implies
//! first (the low for an up bar `close >= open`, the high for a down bar),
//! then the other extreme, then the close. At each tick price `p` the bid is
//! `p` rounded down to the tick size and the ask is the bid plus
//! `spread_ticks` ticks; each side shows a quarter of the bar's volume
//! (rounded to the lot step, at least one step). Each tick also prints a
//! trade of a quarter of the volume at `p`, buyer-initiated when the price
//! went up since the previous tick.

use std::fs;
use std::path::{Path, PathBuf};

use odex_shared::market::{Amount, Price, Qty};

use crate::net::SeededRng;

/// Top-of-book updates (and trades) made from one bar.
pub const TICKS_PER_BAR: usize = 4;

/// One kline, as the archive and `/api/v3/klines` carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineRow {
    /// Open time, ms since the epoch.
    pub open_time_ms: i64,
    /// Close time, ms since the epoch (open + interval - 1).
    pub close_time_ms: i64,
    /// Open price.
    pub open: Price,
    /// High price.
    pub high: Price,
    /// Low price.
    pub low: Price,
    /// Close price.
    pub close: Price,
    /// Base volume.
    pub volume: Qty,
    /// Quote volume.
    pub quote_volume: Amount,
    /// Number of trades.
    pub count: u64,
    /// Taker buy base volume.
    pub taker_buy_base: Qty,
    /// Taker buy quote volume.
    pub taker_buy_quote: Amount,
}

/// A source of kline rows.
///
/// Implementors yield rows in time order, each consistent
/// (`low <= open, close <= high`, `low > 0`), and end with `None`; a
/// source must be finite and deterministic (seeded).
pub trait FeedSource {
    /// The next row, or `None` at the end.
    ///
    /// # Errors
    /// A [`FeedError`] naming where the data was bad.
    fn next_row(&mut self) -> Result<Option<KlineRow>, FeedError>;
}

/// Bad feed data or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line that is not a spot kline row.
    #[error("{path}:{line}: {what}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong, with the value.
        what: String,
    },
    /// The source yielded no rows.
    #[error("the feed has no rows")]
    Empty,
}

/// A Binance spot kline archive CSV (no header; ms or µs timestamps,
/// inferred per value: 16 digits or more are microseconds).
#[derive(Debug)]
pub struct KlineCsv {
    rows: std::vec::IntoIter<KlineRow>,
}

impl KlineCsv {
    /// Reads and validates the whole file.
    ///
    /// # Errors
    /// [`FeedError::Io`] or [`FeedError::Bad`] with the line and field.
    pub fn open(path: &Path) -> Result<Self, FeedError> {
        let text = fs::read_to_string(path).map_err(|source| FeedError::Io { path: path.to_path_buf(), source })?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |what: String| FeedError::Bad { path: path.to_path_buf(), line: i + 1, what };
            rows.push(parse_row(line).map_err(bad)?);
        }
        Ok(Self { rows: rows.into_iter() })
    }
}

impl FeedSource for KlineCsv {
    fn next_row(&mut self) -> Result<Option<KlineRow>, FeedError> {
        Ok(self.rows.next())
    }
}

fn to_ms(t: i64) -> i64 {
    if t >= 10_000_000_000_000 { t / 1000 } else { t }
}

/// Parses one archive line.
fn parse_row(line: &str) -> Result<KlineRow, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 11 {
        return Err(format!("expected 12 columns, found {} (a header row? spot archives have none)", f.len()));
    }
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    let int = |i: usize, name: &str| field(i).parse::<i64>().map_err(|e| format!("{name} {:?}: {e}", field(i)));
    let price = |i: usize, name: &str| Price::parse(field(i)).map_err(|e| format!("{name} {:?}: {e:?}", field(i)));
    let qty = |i: usize, name: &str| Qty::parse(field(i)).map_err(|e| format!("{name} {:?}: {e:?}", field(i)));
    let amount = |i: usize, name: &str| Amount::parse(field(i)).map_err(|e| format!("{name} {:?}: {e:?}", field(i)));
    let row = KlineRow {
        open_time_ms: to_ms(int(0, "open_time")?),
        open: price(1, "open")?,
        high: price(2, "high")?,
        low: price(3, "low")?,
        close: price(4, "close")?,
        volume: qty(5, "volume")?,
        close_time_ms: to_ms(int(6, "close_time")?),
        quote_volume: amount(7, "quote_volume")?,
        count: u64::try_from(int(8, "count")?).map_err(|e| format!("count: {e}"))?,
        taker_buy_base: qty(9, "taker_buy_volume")?,
        taker_buy_quote: amount(10, "taker_buy_quote_volume")?,
    };
    let ok = row.low.is_positive()
        && row.low <= row.open.min(row.close)
        && row.high >= row.open.max(row.close)
        && row.close_time_ms > row.open_time_ms;
    if !ok {
        return Err("inconsistent OHLC or times".into());
    }
    Ok(row)
}

/// The synthetic price process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Process {
    /// Mean reversion of the log price toward `ln(mu)`: `dx = kappa (ln mu - x) dt + sigma dW`.
    OrnsteinUhlenbeck {
        /// Reversion speed per bar.
        kappa: f64,
        /// Long-run price level.
        mu: f64,
    },
    /// Geometric Brownian motion with `drift` per bar.
    Gbm {
        /// Log drift per bar.
        drift: f64,
    },
}

/// What a [`Synthetic`] series is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticParams {
    /// RNG seed.
    pub seed: u64,
    /// The price process.
    pub process: Process,
    /// First price.
    pub start: f64,
    /// Log volatility per bar.
    pub sigma: f64,
    /// Price grid.
    pub tick: f64,
    /// Open time of the first bar, ms.
    pub start_ms: i64,
    /// Bar length, ms.
    pub interval_ms: i64,
    /// Number of bars.
    pub bars: usize,
}

/// Seeded synthetic bars (16 sub-steps per bar give the high and low).
#[derive(Debug, Clone)]
pub struct Synthetic {
    rng: SeededRng,
    process: Process,
    sigma: f64,
    x: f64,
    tick: f64,
    time_ms: i64,
    interval_ms: i64,
    left: usize,
}

impl Synthetic {
    /// The series `p` describes.
    pub fn new(p: SyntheticParams) -> Self {
        let tick = if p.tick > 0.0 { p.tick } else { 0.01 };
        Self {
            rng: SeededRng::new(p.seed),
            process: p.process,
            sigma: p.sigma,
            x: p.start.max(tick).ln(),
            tick,
            time_ms: p.start_ms,
            interval_ms: p.interval_ms.max(1),
            left: p.bars,
        }
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = ((self.rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn price(&self, x: f64) -> Price {
        let p = (x.exp() / self.tick).round().max(1.0) * self.tick;
        Price::from_f64(p).unwrap_or(Price::ONE)
    }
}

impl FeedSource for Synthetic {
    fn next_row(&mut self) -> Result<Option<KlineRow>, FeedError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        const STEPS: usize = 16;
        let dt = 1.0 / STEPS as f64;
        let open = self.price(self.x);
        let (mut high, mut low) = (open, open);
        for _ in 0..STEPS {
            let drift = match self.process {
                Process::OrnsteinUhlenbeck { kappa, mu } => kappa * (mu.max(self.tick).ln() - self.x),
                Process::Gbm { drift } => drift,
            };
            self.x += drift * dt + self.sigma * dt.sqrt() * self.normal();
            let p = self.price(self.x);
            high = high.max(p);
            low = low.min(p);
        }
        let close = self.price(self.x);
        let volume = Qty::from_raw(10 * Qty::ONE.raw() + i64::try_from(self.rng.up_to(90 * 100_000_000)).unwrap_or(0));
        let quote = close.notional(volume).unwrap_or(Amount::ZERO);
        let row = KlineRow {
            open_time_ms: self.time_ms,
            close_time_ms: self.time_ms + self.interval_ms - 1,
            open,
            high,
            low,
            close,
            volume,
            quote_volume: quote,
            count: 100 + self.rng.up_to(400),
            taker_buy_base: Qty::from_raw(volume.raw() / 2),
            taker_buy_quote: Amount::from_raw(quote.raw() / 2),
        };
        self.time_ms += self.interval_ms;
        Ok(Some(row))
    }
}

/// Drains a source into memory.
///
/// # Errors
/// The source's error, or [`FeedError::Empty`].
pub fn load_all<F: FeedSource>(mut source: F) -> Result<Vec<KlineRow>, FeedError> {
    let mut rows = Vec::new();
    while let Some(row) = source.next_row()? {
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(FeedError::Empty);
    }
    Ok(rows)
}

/// The prices of the [`TICKS_PER_BAR`] ticks of a bar, by the rule in the module doc.
pub fn tick_prices(row: &KlineRow) -> [Price; TICKS_PER_BAR] {
    if row.close >= row.open {
        [row.open, row.low, row.high, row.close]
    } else {
        [row.open, row.high, row.low, row.close]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_real_archive_and_orders_ticks_by_direction() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance/klines/ETHUSDT-1m-2022-08-14.csv");
        let path = if path.exists() {
            path
        } else {
            PathBuf::from("/work/shared/data/binance/klines/ETHUSDT-1m-2022-08-14.csv")
        };
        let rows = load_all(KlineCsv::open(&path).unwrap()).unwrap();
        assert_eq!(rows.len(), 1440);
        let first = rows[0];
        assert_eq!(first.open_time_ms, 1_660_435_200_000);
        assert_eq!(first.open, Price::parse("1983.55").unwrap());
        // down bar: open, high, low, close
        assert_eq!(tick_prices(&first), [first.open, first.high, first.low, first.close]);
    }

    #[test]
    fn microsecond_timestamps_and_bad_lines() {
        let row = parse_row("1735689600000000,1,2,0.5,1.5,10,1735689659999999,15,3,5,7,0").unwrap();
        assert_eq!(row.open_time_ms, 1_735_689_600_000);
        assert!(parse_row("open_time,open,high").is_err());
        assert!(parse_row("1,1,0.5,0.7,1,10,2,15,3,5,7,0").is_err());
    }

    #[test]
    fn synthetic_is_seeded_and_consistent() {
        let make = || {
            Synthetic::new(SyntheticParams {
                seed: 7,
                process: Process::OrnsteinUhlenbeck { kappa: 0.1, mu: 2000.0 },
                start: 2000.0,
                sigma: 0.002,
                tick: 0.01,
                start_ms: 0,
                interval_ms: 60_000,
                bars: 50,
            })
        };
        let a = load_all(make()).unwrap();
        assert_eq!(a, load_all(make()).unwrap());
        assert!(a.iter().all(|r| r.low <= r.open.min(r.close) && r.high >= r.open.max(r.close)));
    }
}
