//! What a backtest runs: data, signal, the engine's settings, the venue
//! model, output.
//!
//! [`BacktestConfig`] is plain data with sensible defaults
//! ([`BacktestConfig::new`]); [`BacktestConfig::validate`] checks every
//! field and names the first bad one. The engine's settings are an `odex run`
//! config ([`Config`]): by default the one in `engine.toml` beside this file,
//! or an operator's own ([`BacktestConfig::with_engine_file`]), so a backtest
//! trades with exactly the risk limits, order policy and sizing the live
//! runtime would. The CLI fills the rest from flags.

use std::path::{Path, PathBuf};

use odex_shared::market::{Amount, Price, Qty};
use odex_shared::sizing::SizingParams;

use super::data::{DataError, OuSeries};
use super::signal::OuParams;
use crate::config::{Config, ConfigErrors, RawConfig, load_config};
use crate::filters::{LotSize, NotionalFilter, PriceFilter, SymbolFilters};
use crate::venue::latency::LatencySpec;
use crate::venue::{FixedFees, Slippage, SymbolNames, VenueConfigError};

/// The engine settings a backtest uses when given none: an `odex run`
/// config with `{symbol}`, `{base}`, `{quote}` and `{capital}` to fill in.
pub const DEFAULT_ENGINE_TOML: &str = include_str!("engine.toml");

/// Where the events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSource {
    /// Binance kline CSV files, replayed one after the other (in time order).
    Klines(Vec<PathBuf>),
    /// A synthetic Ornstein-Uhlenbeck bar series.
    SyntheticOu(OuSeries),
}

/// What decides the target position on each event.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalConfig {
    /// The model, run by the engine as in live trading.
    Model,
    /// The oracle that knows the true OU parameters; the engine trades its
    /// targets with the model's sizing.
    Oracle {
        /// The parameters.
        params: OuParams,
        /// Forecast horizon in bars.
        horizon: f64,
    },
    /// The momentum baseline ([`Momentum`](super::signal::Momentum)).
    Momentum {
        /// Lookback in observations.
        lookback: usize,
    },
}

/// A backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// Market data.
    pub data: DataSource,
    /// The odex model file (the engine is built from it; its sizing, with
    /// the engine config's overrides, sizes the oracle too).
    pub model: PathBuf,
    /// Signal.
    pub signal: SignalConfig,
    /// Folder the results are written to (created if missing).
    pub out_dir: PathBuf,
    /// The engine's settings: its first symbol is the one traded, the
    /// opening quote balance is `risk.capital`, and `[risk]`, `[orders]`,
    /// `[model.sizing]` and `[runtime]` apply as in `odex run`.
    pub engine: Config,
    /// The symbol's exchange filters.
    pub filters: SymbolFilters,
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
    /// Largest fraction of a bar's volume our fills may take.
    pub bar_participation: f64,
    /// Quote locked above the reference price by a market buy, in bps.
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

/// The default engine settings (`engine.toml`) for one symbol and an
/// opening quote balance.
///
/// # Errors
/// [`BacktestError::Engine`] when the names or the capital do not validate.
pub fn default_engine(symbol: &SymbolNames, capital: Amount) -> Result<Config, BacktestError> {
    let text = DEFAULT_ENGINE_TOML
        .replace("{symbol}", &symbol.symbol)
        .replace("{base}", &symbol.base_asset)
        .replace("{quote}", &symbol.quote_asset)
        .replace("{capital}", &capital.to_string());
    Ok(RawConfig::parse(&text).and_then(|raw| raw.validate(None))?)
}

impl BacktestConfig {
    /// A config with defaults: the default engine settings (`engine.toml`:
    /// market orders, a 2% rebalance band, spot, no drawdown breaker),
    /// ETHUSDT and its filters, 10,000 USDT, Binance's base fees (10 bps
    /// maker and taker), 1 bp slippage, 1 ms order and 0.5 ms market-data
    /// latency, 10% bar participation, seed 0.
    ///
    /// # Errors
    /// [`BacktestError::Engine`] if the default engine settings do not
    /// validate (a build defect, covered by tests).
    pub fn new(
        data: DataSource,
        model: PathBuf,
        signal: SignalConfig,
        out_dir: PathBuf,
    ) -> Result<Self, BacktestError> {
        let symbol = SymbolNames { symbol: "ETHUSDT".into(), base_asset: "ETH".into(), quote_asset: "USDT".into() };
        Ok(Self {
            data,
            model,
            signal,
            out_dir,
            engine: default_engine(&symbol, Amount::from_raw(10_000 * 100_000_000))?,
            filters: ethusdt_filters(),
            fees: FixedFees::from_bps(10.0, 10.0).unwrap_or_default(),
            slippage: Slippage::FixedBps { bps: 1.0 },
            order_latency: LatencySpec::Constant(odex_shared::market::Nanos(1_000_000)),
            market_data_latency: LatencySpec::Constant(odex_shared::market::Nanos(500_000)),
            seed: 0,
            bar_participation: 0.1,
            buy_reserve_bps: 50.0,
            equity_every: 1,
            strict_bar_arrival: false,
        })
    }

    /// Replaces the engine settings with an `odex run` config file's
    /// ([`load_config`]: parsed and validated as `odex check-config` does, the
    /// model file and keys aside; relative paths resolve
    /// against its folder).
    ///
    /// # Errors
    /// [`BacktestError::Engine`] listing every problem with its key.
    pub fn with_engine_file(mut self, path: &Path) -> Result<Self, BacktestError> {
        self.engine = load_config(path)?;
        Ok(self)
    }

    /// The traded symbol's names (the engine config's first symbol).
    pub fn symbol(&self) -> SymbolNames {
        self.engine.symbols.first().map_or_else(
            || SymbolNames { symbol: String::new(), base_asset: String::new(), quote_asset: String::new() },
            |s| SymbolNames { symbol: s.name.clone(), base_asset: s.base.clone(), quote_asset: s.quote.clone() },
        )
    }

    /// The opening quote balance (`risk.capital`).
    pub const fn initial_quote(&self) -> Amount {
        self.engine.risk.capital
    }

    /// Sets the opening quote balance.
    pub const fn set_initial_quote(&mut self, capital: Amount) {
        self.engine.risk.capital = capital;
    }

    /// Overrides every sizing constant of the model file.
    pub const fn set_sizing(&mut self, s: SizingParams) {
        self.engine.sizing.kelly_fraction = Some(s.kelly_fraction);
        self.engine.sizing.vol_target = Some(s.vol_target);
        self.engine.sizing.max_leverage = Some(s.max_leverage);
        self.engine.sizing.min_edge = Some(s.min_edge);
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
        if self.engine.symbols.len() != 1 {
            return bad("engine.symbols", "a backtest trades exactly one symbol");
        }
        if self.engine.risk.capital.raw() <= 0 {
            return bad("engine.risk.capital", "must be positive");
        }
        if !(self.buy_reserve_bps.is_finite() && (0.0..=1_000.0).contains(&self.buy_reserve_bps)) {
            return bad("buy_reserve_bps", "must be in [0, 1000]");
        }
        if !(self.bar_participation.is_finite() && self.bar_participation > 0.0 && self.bar_participation <= 1.0) {
            return bad("bar_participation", "must be in (0, 1]");
        }
        if self.equity_every == 0 {
            return bad("equity_every", "must be at least 1");
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
    /// The engine settings do not validate.
    #[error(transparent)]
    Engine(#[from] ConfigErrors),
    /// The engine could not be built (model, filters, buffers).
    #[error(transparent)]
    EngineBuild(#[from] crate::engine::EngineError),
    /// The journal could not be written.
    #[error(transparent)]
    Journal(#[from] crate::engine::journal::JournalError),
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
