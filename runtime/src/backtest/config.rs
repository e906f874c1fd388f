//! What a backtest runs: data, signal, venue model, execution style, output.
//!
//! [`BacktestConfig`] is plain data with sensible defaults
//! ([`BacktestConfig::new`]); [`BacktestConfig::validate`] checks every
//! field and names the first bad one. The CLI fills it from flags.

use std::path::PathBuf;

use odex_shared::market::{Amount, Price, Qty};
use odex_shared::sizing::SizingParams;

use super::data::{DataError, OuSeries};
use super::signal::OuParams;
use crate::filters::{LotSize, NotionalFilter, PriceFilter, SymbolFilters};
use crate::venue::latency::LatencySpec;
use crate::venue::{FixedFees, Slippage, SymbolNames, VenueConfigError};

/// Where the events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// Binance kline CSV files, replayed one after the other (in time order).
    Klines(Vec<PathBuf>),
    /// A synthetic Ornstein-Uhlenbeck bar series.
    SyntheticOu(OuSeries),
}

/// What produces the per-event target position.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalConfig {
    /// An odex model file, run through the shared `Predictor`.
    Model(PathBuf),
    /// The oracle that knows the true OU parameters.
    Oracle {
        /// The parameters.
        params: OuParams,
        /// Forecast horizon in bars.
        horizon: f64,
    },
}

/// How target changes become orders.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Execution {
    /// MARKET orders.
    Market,
    /// LIMIT IOC orders `offset_bps` through the touch (the close on bars).
    MarketableLimit {
        /// How far through the touch, in bps.
        offset_bps: f64,
    },
    /// LIMIT_MAKER orders at the same-side best price (the close
    /// `offset_bps` away on bars), cancelled and replaced as the target moves.
    Passive {
        /// Distance from the close on bars, in bps.
        offset_bps: f64,
    },
}

/// A backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Market data.
    pub data: DataSource,
    /// Signal.
    pub signal: SignalConfig,
    /// Sizing constants overriding the model file's.
    pub sizing: Option<SizingParams>,
    /// Folder the results are written to (created if missing).
    pub out_dir: PathBuf,
    /// The symbol's names.
    pub symbol: SymbolNames,
    /// Its exchange filters.
    pub filters: SymbolFilters,
    /// Opening quote balance (the account starts flat).
    pub initial_quote: Amount,
    /// Fees.
    pub fees: FixedFees,
    /// Slippage.
    pub slippage: Slippage,
    /// Order latency (one way).
    pub order_latency: LatencySpec,
    /// Market-data latency: the strategy sees each event this much later
    /// than the venue.
    pub market_data_latency: LatencySpec,
    /// Seed of every random draw.
    pub seed: u64,
    /// Order style.
    pub execution: Execution,
    /// Smallest change of position worth trading, as a fraction of equity.
    pub min_rebalance: f64,
    /// Largest fraction of a bar's volume our fills may take.
    pub bar_participation: f64,
    /// Quote kept back when buying, and locked above the reference price by
    /// a market buy, in bps.
    pub buy_reserve_bps: f64,
    /// Record one equity sample every this many observations (1 for bars).
    pub equity_every: u32,
    /// Bars must open at or after an order's arrival to fill it (see
    /// [`VenueConfig::strict_bar_arrival`](crate::venue::VenueConfig)).
    pub strict_bar_arrival: bool,
}

/// ETHUSDT's spot filters as Binance lists them (2022): tick 0.01, step
/// 0.0001, notional at least 5 USDT.
pub fn ethusdt_filters() -> SymbolFilters {
    SymbolFilters {
        price: Some(PriceFilter {
            min_price: Price::from_raw(1_000_000),
            max_price: Price::from_raw(100_000_000_000_000),
            tick_size: Price::from_raw(1_000_000),
        }),
        lot: Some(LotSize {
            min_qty: Qty::from_raw(10_000),
            max_qty: Qty::from_raw(900_000_000_000),
            step_size: Qty::from_raw(10_000),
        }),
        market_lot: None,
        notional: Some(NotionalFilter {
            min_notional: Price::from_raw(500_000_000),
            apply_min_to_market: true,
            max_notional: Price::from_raw(900_000_000_000_000),
            apply_max_to_market: false,
        }),
        notional_is_legacy: false,
        percent: None,
    }
}

impl BacktestConfig {
    /// A config with defaults: ETHUSDT filters, 10,000 USDT, Binance's base
    /// fees (10 bps maker and taker), 1 bp slippage, 1 ms order and 0.5 ms
    /// market-data latency, market orders, 2% rebalance band, 10% bar
    /// participation, seed 0.
    pub fn new(data: DataSource, signal: SignalConfig, out_dir: PathBuf) -> Self {
        Self {
            data,
            signal,
            sizing: None,
            out_dir,
            symbol: SymbolNames { symbol: "ETHUSDT".into(), base_asset: "ETH".into(), quote_asset: "USDT".into() },
            filters: ethusdt_filters(),
            initial_quote: Amount::from_raw(10_000 * 100_000_000),
            fees: FixedFees::from_bps(10.0, 10.0).unwrap_or_default(),
            slippage: Slippage::FixedBps { bps: 1.0 },
            order_latency: LatencySpec::Constant(odex_shared::market::Nanos(1_000_000)),
            market_data_latency: LatencySpec::Constant(odex_shared::market::Nanos(500_000)),
            seed: 0,
            execution: Execution::Market,
            min_rebalance: 0.02,
            bar_participation: 0.1,
            buy_reserve_bps: 50.0,
            equity_every: 1,
            strict_bar_arrival: false,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`BacktestError::Config`] naming the first bad field.
    pub fn validate(&self) -> Result<(), BacktestError> {
        let bad = |key: &'static str, why: &'static str| Err(BacktestError::Config { key, why });
        if let DataSource::Klines(files) = &self.data
            && files.is_empty()
        {
            return bad("data", "at least one kline file is needed");
        }
        if let DataSource::SyntheticOu(ou) = &self.data
            && !(ou.kappa > 0.0 && ou.sigma >= 0.0 && ou.mu.is_finite() && ou.bars > 1 && ou.interval_ms > 0)
        {
            return bad("data.synthetic", "kappa > 0, sigma >= 0, bars > 1 and interval_ms > 0 are needed");
        }
        if let SignalConfig::Oracle { params, horizon } = &self.signal
            && !(params.kappa > 0.0 && params.sigma > 0.0 && *horizon > 0.0 && horizon.is_finite())
        {
            return bad("signal.oracle", "kappa > 0, sigma > 0 and horizon > 0 are needed");
        }
        if let Some(s) = &self.sizing
            && s.invalid_field().is_some()
        {
            return bad("sizing", "out of range");
        }
        if self.initial_quote.raw() <= 0 {
            return bad("initial_quote", "must be positive");
        }
        if !(self.min_rebalance.is_finite() && (0.0..1.0).contains(&self.min_rebalance)) {
            return bad("min_rebalance", "must be in [0, 1)");
        }
        if !(self.buy_reserve_bps.is_finite() && (0.0..=1_000.0).contains(&self.buy_reserve_bps)) {
            return bad("buy_reserve_bps", "must be in [0, 1000]");
        }
        if self.equity_every == 0 {
            return bad("equity_every", "must be at least 1");
        }
        let offset = match self.execution {
            Execution::Market => 0.0,
            Execution::MarketableLimit { offset_bps } | Execution::Passive { offset_bps } => offset_bps,
        };
        if !(offset.is_finite() && (0.0..=1_000.0).contains(&offset)) {
            return bad("execution.offset_bps", "must be in [0, 1000]");
        }
        self.market_data_latency
            .validate()
            .map_err(|_| BacktestError::Config { key: "market_data_latency", why: "out of range" })?;
        Ok(())
    }
}

/// Why a backtest failed.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// A config value out of range.
    #[error("backtest config `{key}`: {why}")]
    Config {
        /// The field.
        key: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// Market data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model file could not be read or is invalid.
    #[error("{path}: {message}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The venue model refused its config.
    #[error(transparent)]
    Venue(#[from] VenueConfigError),
    /// Results could not be written.
    #[error("{path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Results could not be serialised.
    #[error("serialising results: {0}")]
    Json(#[from] serde_json::Error),
}
