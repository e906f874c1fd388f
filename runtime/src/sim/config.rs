//! The simulator's validated settings: symbols with their filters, keys,
//! limits, pacing and faults. The binary parses flags into these; tests build
//! them directly.

use std::path::PathBuf;

use odex_shared::market::{Amount, Price, Qty};

use crate::filters::{LotSize, NotionalFilter, PriceFilter, SymbolFilters};

/// One tradable symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolSpec {
    /// Upper-case name (`ETHUSDT`).
    pub name: String,
    /// Base asset (`ETH`).
    pub base: String,
    /// Quote asset (`USDT`).
    pub quote: String,
    /// Its exchange filters.
    pub filters: SymbolFilters,
}

impl SymbolSpec {
    /// Binance's ETHUSDT filters (tick 0.01, step 0.0001, min notional 5).
    pub fn ethusdt() -> Self {
        Self::new("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "5")
    }

    /// Binance's BTCUSDT filters (tick 0.01, step 0.00001, min notional 5).
    pub fn btcusdt() -> Self {
        Self::new("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "5")
    }

    /// A symbol with the given tick, step and minimum notional (decimal
    /// strings; an unparsable one disables its rule).
    pub fn new(name: &str, base: &str, quote: &str, tick: &str, step: &str, min_notional: &str) -> Self {
        let tick = Price::parse(tick).unwrap_or(Price::ZERO);
        let step = Qty::parse(step).unwrap_or(Qty::ZERO);
        let lot = LotSize { min_qty: step, max_qty: Qty::from_raw(9000 * Qty::ONE.raw()), step_size: step };
        let filters = SymbolFilters {
            price: Some(PriceFilter {
                min_price: tick,
                max_price: Price::from_raw(1_000_000 * Price::ONE.raw()),
                tick_size: tick,
            }),
            lot: Some(lot),
            market_lot: Some(LotSize {
                min_qty: Qty::ZERO,
                max_qty: Qty::from_raw(1000 * Qty::ONE.raw()),
                step_size: Qty::ZERO,
            }),
            notional: Some(NotionalFilter {
                min_notional: Price::parse(min_notional).unwrap_or(Price::ZERO),
                apply_min_to_market: true,
                max_notional: Price::from_raw(9_000_000 * Price::ONE.raw()),
                apply_max_to_market: false,
            }),
            notional_is_legacy: false,
            percent: None,
        };
        Self {
            name: name.to_ascii_uppercase(),
            base: base.to_ascii_uppercase(),
            quote: quote.to_ascii_uppercase(),
            filters,
        }
    }

    /// The tick size (one cent when unset).
    pub fn tick(&self) -> Price {
        self.filters.price.map(|p| p.tick_size).filter(|t| t.is_positive()).unwrap_or(Price::from_raw(1_000_000))
    }

    /// The lot step (10^-8 when unset).
    pub fn step(&self) -> Qty {
        self.filters.lot.map(|l| l.step_size).filter(|s| s.is_positive()).unwrap_or(Qty::from_raw(1))
    }
}

/// An API key the simulator accepts.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySecret {
    /// HMAC-SHA256 secret bytes.
    Hmac(Vec<u8>),
    /// Ed25519 public key (32 bytes).
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hmac(_) => f.write_str("Hmac(<secret>)"),
            Self::Ed25519(_) => f.write_str("Ed25519(<public>)"),
        }
    }
}

/// An API key id and what verifies its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key id sent as `apiKey`.
    pub api_key: String,
    /// The secret (HMAC) or public key (Ed25519).
    pub secret: KeySecret,
}

/// The documentation's example HMAC key id (from `signature-vectors.json`).
pub const DOC_EXAMPLE_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
/// The documentation's example HMAC secret (published; for tests only).
pub const DOC_EXAMPLE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

impl ApiKey {
    /// The published documentation example key pair.
    pub fn doc_example() -> Self {
        Self { api_key: DOC_EXAMPLE_API_KEY.into(), secret: KeySecret::Hmac(DOC_EXAMPLE_SECRET.as_bytes().to_vec()) }
    }
}

/// Fault injection settings (all off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Drop a websocket connection abruptly after it was sent this many messages.
    pub drop_after: Option<u64>,
    /// Hold every market message this many ms before sending.
    pub delay_ms: u64,
    /// After this many market ticks, freeze all streams ...
    pub freeze_after_ticks: Option<u64>,
    /// ... for this many ms (0: for good).
    pub freeze_ms: u64,
    /// Send every Nth market message twice.
    pub duplicate_every: Option<u64>,
    /// Swap every Nth market message with the one after it.
    pub reorder_every: Option<u64>,
    /// Reject every Nth `order.place` (-2010).
    pub reject_every: Option<u64>,
    /// Place every Nth `order.place` but answer 503 (-1007, outcome unknown).
    pub error_5xx_every: Option<u64>,
    /// Server clock skew in ms (added to the wall clock).
    pub clock_skew_ms: i64,
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// Symbols served (the first is the one the feed drives).
    pub symbols: Vec<SymbolSpec>,
    /// Kline interval name of the data (`1m`).
    pub interval: String,
    /// Replay speed: 1.0 real time, N faster, 0 as fast as possible.
    pub speed: f64,
    /// Spread in ticks.
    pub spread_ticks: i64,
    /// Server ping period in ms.
    pub ping_ms: u64,
    /// Stop after this many ms (None: until a signal).
    pub duration_ms: Option<u64>,
    /// Add `"odexSendNs"` to every market message.
    pub stamp: bool,
    /// Accepted API keys.
    pub keys: Vec<ApiKey>,
    /// Starting balances (asset, amount).
    pub balances: Vec<(String, Amount)>,
    /// Taker and maker commission rate (e.g. 0.001).
    pub commission: Price,
    /// REQUEST_WEIGHT per minute.
    pub weight_limit: u32,
    /// ORDERS per 10 s.
    pub order_limit: u32,
    /// Fault injection.
    pub faults: Faults,
    /// Ledger JSON written here at exit.
    pub ledger_out: Option<PathBuf>,
    /// Loop back to the first bar when the data ends (else the feed stops).
    pub loop_data: bool,
    /// Serve TLS with a generated certificate; its CA is written here as PEM.
    pub tls_ca_out: Option<PathBuf>,
    /// Run the wire-to-wire latency probe instead of the paced replay.
    pub probe: Option<super::probe::ProbeConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            symbols: vec![SymbolSpec::ethusdt(), SymbolSpec::btcusdt()],
            interval: "1m".into(),
            speed: 1.0,
            spread_ticks: 1,
            ping_ms: 20_000,
            duration_ms: None,
            stamp: false,
            keys: Vec::new(),
            balances: vec![
                ("USDT".into(), Amount::from_raw(10_000 * Amount::ONE.raw())),
                ("ETH".into(), Amount::from_raw(10 * Amount::ONE.raw())),
                ("BTC".into(), Amount::from_raw(Amount::ONE.raw())),
            ],
            commission: Price::from_raw(100_000),
            weight_limit: 6000,
            order_limit: 50,
            faults: Faults::default(),
            ledger_out: None,
            loop_data: true,
            tls_ca_out: None,
            probe: None,
        }
    }
}

/// The length of a kline interval name (`1s`, `1m`, `3m`, ..., `1d`, `1w`) in ms.
pub fn interval_ms(name: &str) -> Option<i64> {
    let (num, unit) = name.split_at(name.len().checked_sub(1)?);
    let n: i64 = num.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    n.checked_mul(unit_ms).filter(|v| *v > 0)
}
