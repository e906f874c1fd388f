//! The TOML configuration of `odex run`, in two stages.
//!
//! Stage one, [`RawConfig`], is what serde reads: every section denies
//! unknown keys, values are plain TOML (decimals as strings so they parse
//! exactly). Stage two, [`RawConfig::validate`], checks every value, collects
//! *every* violation with its key path (`risk.max_position: must be > 0, got
//! -1`) and builds the validated [`Config`] that the engine uses. The hot
//! path never sees a raw value.
//!
//! [`check_config`] does both stages for a file and also loads the model file
//! it names, so `odex check-config` and `odex run` refuse a bad setup before
//! any connection is made.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use odex_shared::market::{Amount, Nanos, Qty};
use odex_shared::model_file::{self, DecodeError, ModelFile};
use odex_shared::sizing::SizingParams;
use serde::Deserialize;

use crate::venue::{FixedFees, LatencySpec, Slippage};

/// Default metrics listen address (loopback only).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9898";

// ---------------------------------------------------------------- stage one

/// The config file as parsed, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `live` or `paper`.
    pub mode: String,
    /// Where to connect.
    pub endpoints: RawEndpoints,
    /// Traded symbols.
    pub symbols: Vec<RawSymbol>,
    /// Model file and sizing overrides.
    pub model: RawModel,
    /// API key names (never values).
    #[serde(default)]
    pub keys: Option<RawKeys>,
    /// Risk limits.
    pub risk: RawRisk,
    /// Order policy.
    #[serde(default)]
    pub orders: RawOrders,
    /// Journal.
    pub journal: RawJournal,
    /// Metrics endpoint.
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Buffer sizes.
    #[serde(default)]
    pub runtime: RawRuntime,
    /// Paper venue model (paper mode only).
    #[serde(default)]
    pub paper: RawPaper,
    /// Start-up reconciliation and shutdown.
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

/// `[endpoints]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoints {
    /// Market stream URL (`wss://...`).
    pub market_stream: String,
    /// WebSocket API URL (`wss://...`).
    pub ws_api: String,
    /// REST base URL (`https://...`).
    pub rest: String,
    /// Extra PEM CA file to trust (a local simulator's certificate).
    #[serde(default)]
    pub extra_ca_file: Option<PathBuf>,
    /// Allow `ws://` / `http://` to loopback addresses (local simulator).
    #[serde(default)]
    pub allow_plain_loopback: bool,
}

/// One `[[symbols]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSymbol {
    /// Exchange symbol, e.g. `BTCUSDT`.
    pub name: String,
    /// Base asset, e.g. `BTC`.
    pub base: String,
    /// Quote asset, e.g. `USDT`.
    pub quote: String,
}

/// `[model]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Model file path (relative to the config file's folder).
    pub file: PathBuf,
    /// Overrides of the model file's sizing constants.
    #[serde(default)]
    pub sizing: RawSizing,
}

/// `[model.sizing]`: each key replaces the model file's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSizing {
    /// Fraction of Kelly.
    pub kelly_fraction: Option<f64>,
    /// Volatility target per horizon.
    pub vol_target: Option<f64>,
    /// Largest |notional| / equity.
    pub max_leverage: Option<f64>,
    /// Dead band on the expected return.
    pub min_edge: Option<f64>,
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// `hmac` or `ed25519`.
    pub kind: String,
    /// Name of the environment variable holding the API key.
    pub api_key_env: String,
    /// Name of the environment variable holding the secret (HMAC secret or
    /// Ed25519 PEM).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Path of a file holding the secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// `[risk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRisk {
    /// Starting equity in the quote asset (decimal string).
    pub capital: String,
    /// Largest |position| per symbol in base units (decimal string).
    pub max_position: String,
    /// Largest |position| x price per symbol in quote units (decimal string).
    pub max_notional: String,
    /// Token bucket: orders per second.
    pub max_orders_per_sec: f64,
    /// Token bucket: burst size.
    #[serde(default = "default_burst")]
    pub order_burst: u32,
    /// Largest number of open orders across symbols.
    pub max_open_orders: u32,
    /// A limit price must be within this many basis points of the mid.
    pub price_band_bps: u32,
    /// Flatten when the open position loses this many bps from its entry (0: off).
    #[serde(default)]
    pub stop_loss_bps: u32,
    /// Flatten when the open position gains this many bps from its entry (0: off).
    #[serde(default)]
    pub take_profit_bps: u32,
    /// Drawdown from peak equity (bps) that switches to reducing-only.
    pub drawdown_reduce_bps: u32,
    /// Drawdown from peak equity (bps) that halts trading.
    pub drawdown_halt_bps: u32,
    /// No new exposure when the last market event is older than this.
    pub stale_data_ms: u64,
    /// Kill switch file: trading stops while it exists.
    #[serde(default)]
    pub kill_switch_file: Option<PathBuf>,
    /// On kill: flatten the position as well as cancelling.
    #[serde(default)]
    pub flatten_on_kill: bool,
    /// Allow negative positions (margin and futures); a spot account
    /// cannot sell what it does not hold, so the default is `false`.
    #[serde(default)]
    pub allow_short: bool,
    /// Spot accounts (`allow_short = false`): buy only what the quote cash
    /// pays for at the mid with this many bps kept back for fees and for the
    /// price moving before the fill.
    #[serde(default = "default_cash_reserve")]
    pub cash_reserve_bps: u32,
}

const fn default_cash_reserve() -> u32 {
    100
}

fn default_burst() -> u32 {
    1
}

/// `[orders]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrders {
    /// `limit`, `market`, `post-only` or `ioc`.
    #[serde(rename = "type", default = "default_order_type")]
    pub kind: String,
    /// Ticks behind the touch (positive: more passive, negative: crosses).
    #[serde(default)]
    pub price_offset_ticks: i32,
    /// Requote a working order when its price is this many ticks off.
    #[serde(default = "default_requote")]
    pub requote_ticks: u32,
    /// A change of target position worth less than this many bps of equity
    /// places no order (0: any change of at least one lot step does).
    #[serde(default)]
    pub min_rebalance_bps: u32,
    /// A request not answered in this time is `Unknown`.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Leading text of client order ids (a per-run part is appended).
    #[serde(default = "default_prefix")]
    pub client_id_prefix: String,
}

fn default_order_type() -> String {
    "limit".into()
}
fn default_requote() -> u32 {
    2
}
fn default_timeout() -> u64 {
    5_000
}
fn default_prefix() -> String {
    "odx".into()
}

impl Default for RawOrders {
    fn default() -> Self {
        Self {
            kind: default_order_type(),
            price_offset_ticks: 0,
            requote_ticks: default_requote(),
            min_rebalance_bps: 0,
            timeout_ms: default_timeout(),
            client_id_prefix: default_prefix(),
        }
    }
}

/// `[journal]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJournal {
    /// Journal file path (relative to the config file's folder).
    pub path: PathBuf,
    /// `every-record`, `interval` or `never`.
    #[serde(default = "default_fsync")]
    pub fsync: String,
    /// With `fsync = "interval"`: milliseconds between fsyncs.
    #[serde(default)]
    pub fsync_interval_ms: Option<u64>,
}

fn default_fsync() -> String {
    "every-record".into()
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Listen address of the Prometheus endpoint.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    DEFAULT_METRICS_LISTEN.into()
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self { listen: default_listen() }
    }
}

/// `[runtime]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// Capacity of the order tracker (open, pending and unknown orders).
    #[serde(default = "default_slots")]
    pub order_slots: u32,
    /// Capacity of the journal ring in records.
    #[serde(default = "default_ring")]
    pub journal_ring_records: u32,
    /// Socket read buffer size in bytes.
    #[serde(default = "default_read_buffer")]
    pub read_buffer_bytes: u32,
    /// Socket write buffer size in bytes.
    #[serde(default = "default_write_buffer")]
    pub write_buffer_bytes: u32,
}

fn default_slots() -> u32 {
    64
}
fn default_ring() -> u32 {
    4096
}
fn default_read_buffer() -> u32 {
    16 * 1024
}
fn default_write_buffer() -> u32 {
    16 * 1024
}

impl Default for RawRuntime {
    fn default() -> Self {
        Self {
            order_slots: default_slots(),
            journal_ring_records: default_ring(),
            read_buffer_bytes: default_read_buffer(),
            write_buffer_bytes: default_write_buffer(),
        }
    }
}

/// `[paper]`: the venue model that fills paper orders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaper {
    /// Maker,taker fees in bps.
    #[serde(default = "default_paper_fees")]
    pub fees_bps: String,
    /// Slippage: `bps:N`, `vol:K` or `walk:LEVELS,SPACING_BPS`.
    #[serde(default = "default_paper_slippage")]
    pub slippage: String,
    /// One-way order latency: `const:1ms`, `uniform:A,B`, `lognormal:MEDIAN,SIGMA`.
    #[serde(default = "default_paper_latency")]
    pub latency: String,
    /// Seed of the venue's random draws.
    #[serde(default = "default_paper_seed")]
    pub seed: u64,
    /// Levels of the L2 book the venue model matches against: 0 (the top
    /// of book only), or 5, 10, 20 (the `<symbol>@depth<N>@100ms` streams).
    #[serde(default)]
    pub depth_levels: u32,
}

fn default_paper_fees() -> String {
    "10,10".into()
}
fn default_paper_slippage() -> String {
    "bps:1".into()
}
fn default_paper_latency() -> String {
    "const:1ms".into()
}
const fn default_paper_seed() -> u64 {
    1
}

impl Default for RawPaper {
    fn default() -> Self {
        Self {
            fees_bps: default_paper_fees(),
            slippage: default_paper_slippage(),
            latency: default_paper_latency(),
            seed: default_paper_seed(),
            depth_levels: 0,
        }
    }
}

/// `[lifecycle]`: start-up reconciliation and shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    /// Open orders on the exchange the journal does not know: `cancel` or `adopt`.
    #[serde(default = "default_unknown_orders")]
    pub unknown_orders: String,
    /// Cancel every open order on SIGINT / SIGTERM.
    #[serde(default = "default_true")]
    pub cancel_on_exit: bool,
    /// How long shutdown waits for cancel answers, ms.
    #[serde(default = "default_exit_timeout")]
    pub exit_timeout_ms: u64,
    /// How long start-up waits for the exchange's answers, ms.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_ms: u64,
}

fn default_unknown_orders() -> String {
    "cancel".into()
}
const fn default_true() -> bool {
    true
}
const fn default_exit_timeout() -> u64 {
    3000
}
const fn default_startup_timeout() -> u64 {
    30_000
}

impl Default for RawLifecycle {
    fn default() -> Self {
        Self {
            unknown_orders: default_unknown_orders(),
            cancel_on_exit: true,
            exit_timeout_ms: default_exit_timeout(),
            startup_timeout_ms: default_startup_timeout(),
        }
    }
}

// ---------------------------------------------------------------- stage two

/// Trading mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real orders on the exchange.
    Live,
    /// Live market data, simulated fills.
    Paper,
}

/// Validated endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Market stream URL.
    pub market_stream: String,
    /// WebSocket API URL.
    pub ws_api: String,
    /// REST base URL.
    pub rest: String,
    /// Extra CA file.
    pub extra_ca_file: Option<PathBuf>,
    /// Plain `ws://` allowed to loopback.
    pub allow_plain_loopback: bool,
}

/// A validated symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolConfig {
    /// Exchange symbol (upper case).
    pub name: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
}

/// Key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA256 secret.
    Hmac,
    /// Ed25519 private key (PEM).
    Ed25519,
}

/// Where the secret comes from (a name, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file.
    File(PathBuf),
}

/// Paper venue settings, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperConfig {
    /// Maker and taker fees.
    pub fees: FixedFees,
    /// Slippage model.
    pub slippage: Slippage,
    /// One-way order latency.
    pub latency: LatencySpec,
    /// Seed.
    pub seed: u64,
    /// L2 levels streamed to the venue model (0: top of book only).
    pub depth_levels: u32,
}

/// What start-up does with an open order the journal does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownOrders {
    /// Cancel it.
    Cancel,
    /// Track it as the engine's own.
    Adopt,
}

/// Start-up and shutdown behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Unknown open orders at start-up.
    pub unknown_orders: UnknownOrders,
    /// Cancel open orders on exit.
    pub cancel_on_exit: bool,
    /// Shutdown wait for cancel answers.
    pub exit_timeout: Nanos,
    /// Start-up wait for the exchange's answers.
    pub startup_timeout: Nanos,
}

/// Validated key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysConfig {
    /// Key type.
    pub kind: KeyKind,
    /// Environment variable holding the API key.
    pub api_key_env: String,
    /// Where the secret is.
    pub secret: SecretSource,
}

/// Validated risk limits (exact where they are money).
#[derive(Debug, Clone, PartialEq)]
pub struct RiskLimits {
    /// Starting equity (quote).
    pub capital: Amount,
    /// Largest |position| per symbol.
    pub max_position: Qty,
    /// Largest |position| x price per symbol.
    pub max_notional: Amount,
    /// Order rate (token refill per second).
    pub max_orders_per_sec: f64,
    /// Token bucket size.
    pub order_burst: u32,
    /// Largest number of open orders.
    pub max_open_orders: u32,
    /// Price band around the mid, bps.
    pub price_band_bps: u32,
    /// Stop-loss from average entry, bps (0: off).
    pub stop_loss_bps: u32,
    /// Take-profit from average entry, bps (0: off).
    pub take_profit_bps: u32,
    /// Drawdown (bps of peak equity) at which only reducing orders pass.
    pub drawdown_reduce_bps: u32,
    /// Drawdown (bps of peak equity) at which trading halts.
    pub drawdown_halt_bps: u32,
    /// Market data older than this blocks new exposure.
    pub stale_after: Nanos,
    /// Kill switch file.
    pub kill_switch_file: Option<PathBuf>,
    /// Flatten on kill.
    pub flatten_on_kill: bool,
    /// Negative positions allowed.
    pub allow_short: bool,
    /// Spot buys keep this many bps of the quote cash back.
    pub cash_reserve_bps: u32,
}

/// Order style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStyle {
    /// GTC limit at the touch minus the offset.
    Limit,
    /// Market order.
    Market,
    /// `LIMIT_MAKER`.
    PostOnly,
    /// IOC limit across the spread plus the offset.
    Ioc,
}

/// Validated order policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPolicy {
    /// Style of every order.
    pub style: OrderStyle,
    /// Price offset in ticks.
    pub price_offset_ticks: i32,
    /// Requote threshold in ticks.
    pub requote_ticks: u32,
    /// Smallest target change worth an order, bps of equity.
    pub min_rebalance_bps: u32,
    /// Unanswered requests become `Unknown` after this.
    pub timeout: Nanos,
    /// Client order id prefix.
    pub client_id_prefix: String,
}

/// When the journal calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every flush that wrote records.
    EveryRecord,
    /// At most once per interval.
    Interval(Nanos),
    /// Never (the OS decides).
    Never,
}

/// Validated journal settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Journal file.
    pub path: PathBuf,
    /// fsync policy.
    pub fsync: FsyncPolicy,
}

/// Validated buffer sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Order tracker capacity.
    pub order_slots: usize,
    /// Journal ring capacity in records.
    pub journal_ring_records: usize,
    /// Socket read buffer size.
    pub read_buffer_bytes: usize,
    /// Socket write buffer size.
    pub write_buffer_bytes: usize,
}

/// The validated configuration the runtime is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Live or paper.
    pub mode: Mode,
    /// Endpoints.
    pub endpoints: Endpoints,
    /// Symbols, in `SymbolId` order.
    pub symbols: Vec<SymbolConfig>,
    /// Model file path (resolved).
    pub model_file: PathBuf,
    /// Sizing overrides.
    pub sizing: RawSizing,
    /// Keys (required in live mode).
    pub keys: Option<KeysConfig>,
    /// Risk limits.
    pub risk: RiskLimits,
    /// Order policy.
    pub orders: OrderPolicy,
    /// Journal.
    pub journal: JournalConfig,
    /// Metrics listen address.
    pub metrics_listen: SocketAddr,
    /// Buffer sizes.
    pub runtime: RuntimeConfig,
    /// Paper venue model.
    pub paper: PaperConfig,
    /// Start-up and shutdown.
    pub lifecycle: Lifecycle,
}

/// One problem with a config, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path, e.g. `risk.max_position` (empty when not tied to a key).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.key, self.message) }
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file (if read from one).
    pub file: Option<PathBuf>,
    /// The problems, in file order where known.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// True when some error concerns `key`.
    pub fn mentions(&self, key: &str) -> bool {
        self.errors.iter().any(|e| e.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        match &self.file {
            Some(p) => writeln!(f, "{}: {n} problem{}", p.display(), if n == 1 { "" } else { "s" })?,
            None => writeln!(f, "{n} config problem{}", if n == 1 { "" } else { "s" })?,
        }
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// Why the model file named by a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The file could not be read.
    #[error("model file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is corrupt, of another version, or its shapes do not fit.
    #[error("model file {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: DecodeError,
    },
    /// The file decodes but the config's sizing overrides make it unusable.
    #[error("model file {path}: sizing after config overrides: {what} is out of range")]
    Sizing {
        /// The file.
        path: PathBuf,
        /// The offending constant.
        what: &'static str,
    },
}

struct Collector {
    errors: Vec<ConfigError>,
}

impl Collector {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError { key: key.into(), message: message.into() });
    }

    fn decimal<T>(
        &mut self,
        key: &str,
        s: &str,
        parse: fn(&str) -> Result<T, odex_shared::market::DecimalError>,
    ) -> Option<T> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(key, format!("not a plain decimal ({e}), got {s:?}"));
                None
            }
        }
    }

    fn positive_amount(&mut self, key: &str, s: &str) -> Amount {
        match self.decimal(key, s, Amount::parse) {
            Some(v) if v.is_positive() => v,
            Some(_) => {
                self.push(key, format!("must be > 0, got {s}"));
                Amount::ZERO
            }
            None => Amount::ZERO,
        }
    }

    fn url(&mut self, key: &str, url: &str, secure: &str, plain: &str, allow_plain: bool) {
        let loopback = |rest: &str| {
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            matches!(host, "127.0.0.1" | "localhost" | "[::1]")
        };
        if let Some(rest) = url.strip_prefix(secure) {
            if rest.is_empty() {
                self.push(key, format!("missing host in {url:?}"));
            }
        } else if let Some(rest) = url.strip_prefix(plain) {
            if !allow_plain {
                self.push(key, format!("plain {plain} needs endpoints.allow_plain_loopback = true, got {url:?}"));
            } else if !loopback(rest) {
                self.push(key, format!("plain {plain} is only allowed to a loopback host, got {url:?}"));
            }
        } else {
            self.push(key, format!("must start with {secure}, got {url:?}"));
        }
    }
}

fn resolve(base: Option<&Path>, p: &Path) -> PathBuf {
    match base {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

fn valid_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

impl RawConfig {
    /// Parses TOML text (stage one).
    ///
    /// # Errors
    /// A [`ConfigErrors`] with one entry naming the key (or line) at fault.
    pub fn parse(text: &str) -> Result<Self, ConfigErrors> {
        toml::from_str(text).map_err(|e| ConfigErrors { file: None, errors: vec![parse_error(text, &e)] })
    }

    /// Validates every value (stage two). Relative paths are resolved against
    /// `base_dir` (the config file's folder).
    ///
    /// # Errors
    /// Every violation found, each with its key path.
    pub fn validate(&self, base_dir: Option<&Path>) -> Result<Config, ConfigErrors> {
        let mut c = Collector { errors: Vec::new() };
        let mode = match self.mode.as_str() {
            "live" => Mode::Live,
            "paper" => Mode::Paper,
            other => {
                c.push("mode", format!("must be \"live\" or \"paper\", got {other:?}"));
                Mode::Paper
            }
        };

        let e = &self.endpoints;
        c.url("endpoints.market_stream", &e.market_stream, "wss://", "ws://", e.allow_plain_loopback);
        c.url("endpoints.ws_api", &e.ws_api, "wss://", "ws://", e.allow_plain_loopback);
        c.url("endpoints.rest", &e.rest, "https://", "http://", e.allow_plain_loopback);
        let extra_ca_file = e.extra_ca_file.as_deref().map(|p| resolve(base_dir, p));
        if let Some(p) = &extra_ca_file
            && !p.is_file()
        {
            c.push("endpoints.extra_ca_file", format!("no such file {}", p.display()));
        }

        if self.symbols.is_empty() {
            c.push("symbols", "at least one symbol is needed");
        }
        if self.symbols.len() > usize::from(u16::MAX) {
            c.push("symbols", format!("at most {} symbols, got {}", u16::MAX, self.symbols.len()));
        }
        let mut symbols = Vec::with_capacity(self.symbols.len());
        for (i, s) in self.symbols.iter().enumerate() {
            let asset = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            for (field, v) in [("name", &s.name), ("base", &s.base), ("quote", &s.quote)] {
                if !asset(v) {
                    c.push(
                        format!("symbols[{i}].{field}"),
                        format!("must be upper-case letters and digits, got {v:?}"),
                    );
                }
            }
            if asset(&s.base) && asset(&s.quote) && s.name != format!("{}{}", s.base, s.quote) {
                c.push(
                    format!("symbols[{i}].name"),
                    format!("must be base + quote ({}{}), got {:?}", s.base, s.quote, s.name),
                );
            }
            if self.symbols.iter().take(i).any(|o| o.name == s.name) {
                c.push(format!("symbols[{i}].name"), format!("duplicate symbol {:?}", s.name));
            }
            if let Some(first) = self.symbols.first()
                && first.quote != s.quote
            {
                c.push(
                    format!("symbols[{i}].quote"),
                    format!("all symbols must share one quote asset ({:?}), got {:?}", first.quote, s.quote),
                );
            }
            symbols.push(SymbolConfig { name: s.name.clone(), base: s.base.clone(), quote: s.quote.clone() });
        }

        let model_file = resolve(base_dir, &self.model.file);
        let sz = &self.model.sizing;
        let pos = |v: f64| v > 0.0 && v.is_finite();
        if let Some(v) = sz.kelly_fraction
            && !(pos(v) && v <= 1.0)
        {
            c.push("model.sizing.kelly_fraction", format!("must be in (0, 1], got {v}"));
        }
        for (k, v) in [("vol_target", sz.vol_target), ("max_leverage", sz.max_leverage)] {
            if let Some(v) = v
                && !pos(v)
            {
                c.push(format!("model.sizing.{k}"), format!("must be > 0, got {v}"));
            }
        }
        if let Some(v) = sz.min_edge
            && !(v >= 0.0 && v.is_finite())
        {
            c.push("model.sizing.min_edge", format!("must be >= 0, got {v}"));
        }

        let keys = self.keys.as_ref().and_then(|k| {
            let kind = match k.kind.as_str() {
                "hmac" => Some(KeyKind::Hmac),
                "ed25519" => Some(KeyKind::Ed25519),
                other => {
                    c.push("keys.kind", format!("must be \"hmac\" or \"ed25519\", got {other:?}"));
                    None
                }
            };
            if !valid_env_name(&k.api_key_env) {
                c.push(
                    "keys.api_key_env",
                    format!("must be an environment variable name (A-Z, 0-9, _), got {:?}", k.api_key_env),
                );
            }
            let secret = match (&k.secret_env, &k.secret_file) {
                (Some(env), None) => {
                    if !valid_env_name(env) {
                        c.push(
                            "keys.secret_env",
                            format!("must be an environment variable name (A-Z, 0-9, _), got {env:?}"),
                        );
                    }
                    Some(SecretSource::Env(env.clone()))
                }
                (None, Some(f)) => Some(SecretSource::File(resolve(base_dir, f))),
                (Some(_), Some(_)) => {
                    c.push("keys.secret_env", "give secret_env or secret_file, not both");
                    None
                }
                (None, None) => {
                    c.push("keys.secret_env", "one of secret_env or secret_file is needed");
                    None
                }
            };
            Some(KeysConfig { kind: kind?, api_key_env: k.api_key_env.clone(), secret: secret? })
        });
        if mode == Mode::Live && self.keys.is_none() {
            c.push("keys", "live mode needs a [keys] section");
        }

        let r = &self.risk;
        let capital = c.positive_amount("risk.capital", &r.capital);
        let max_position = match c.decimal("risk.max_position", &r.max_position, Qty::parse) {
            Some(v) if v.is_positive() => v,
            Some(_) => {
                c.push("risk.max_position", format!("must be > 0, got {}", r.max_position));
                Qty::ZERO
            }
            None => Qty::ZERO,
        };
        let max_notional = c.positive_amount("risk.max_notional", &r.max_notional);
        if !(pos(r.max_orders_per_sec) && r.max_orders_per_sec <= 1_000_000.0) {
            c.push("risk.max_orders_per_sec", format!("must be > 0, got {}", r.max_orders_per_sec));
        }
        if r.order_burst == 0 {
            c.push("risk.order_burst", "must be >= 1, got 0");
        }
        if r.max_open_orders == 0 {
            c.push("risk.max_open_orders", "must be >= 1, got 0");
        }
        if r.max_open_orders > self.runtime.order_slots {
            c.push(
                "risk.max_open_orders",
                format!("must be <= runtime.order_slots ({}), got {}", self.runtime.order_slots, r.max_open_orders),
            );
        }
        if r.price_band_bps == 0 || r.price_band_bps > 10_000 {
            c.push("risk.price_band_bps", format!("must be in 1..=10000, got {}", r.price_band_bps));
        }
        if r.stop_loss_bps > 10_000 {
            c.push("risk.stop_loss_bps", format!("must be <= 10000, got {}", r.stop_loss_bps));
        }
        if r.drawdown_reduce_bps == 0 || r.drawdown_reduce_bps > 10_000 {
            c.push("risk.drawdown_reduce_bps", format!("must be in 1..=10000, got {}", r.drawdown_reduce_bps));
        }
        if r.drawdown_halt_bps == 0 || r.drawdown_halt_bps > 10_000 {
            c.push("risk.drawdown_halt_bps", format!("must be in 1..=10000, got {}", r.drawdown_halt_bps));
        } else if r.drawdown_halt_bps < r.drawdown_reduce_bps {
            c.push(
                "risk.drawdown_halt_bps",
                format!("must be >= risk.drawdown_reduce_bps ({}), got {}", r.drawdown_reduce_bps, r.drawdown_halt_bps),
            );
        }
        if r.stale_data_ms == 0 {
            c.push("risk.stale_data_ms", "must be > 0, got 0");
        }
        if r.cash_reserve_bps >= 10_000 {
            c.push("risk.cash_reserve_bps", format!("must be < 10000, got {}", r.cash_reserve_bps));
        }
        let risk = RiskLimits {
            capital,
            max_position,
            max_notional,
            max_orders_per_sec: r.max_orders_per_sec,
            order_burst: r.order_burst,
            max_open_orders: r.max_open_orders,
            price_band_bps: r.price_band_bps,
            stop_loss_bps: r.stop_loss_bps,
            take_profit_bps: r.take_profit_bps,
            drawdown_reduce_bps: r.drawdown_reduce_bps,
            drawdown_halt_bps: r.drawdown_halt_bps,
            stale_after: Nanos::from_millis(r.stale_data_ms),
            kill_switch_file: r.kill_switch_file.as_deref().map(|p| resolve(base_dir, p)),
            flatten_on_kill: r.flatten_on_kill,
            allow_short: r.allow_short,
            cash_reserve_bps: r.cash_reserve_bps,
        };

        let o = &self.orders;
        let style = match o.kind.as_str() {
            "limit" => OrderStyle::Limit,
            "market" => OrderStyle::Market,
            "post-only" => OrderStyle::PostOnly,
            "ioc" => OrderStyle::Ioc,
            other => {
                c.push(
                    "orders.type",
                    format!("must be one of \"limit\", \"market\", \"post-only\", \"ioc\", got {other:?}"),
                );
                OrderStyle::Limit
            }
        };
        if o.price_offset_ticks.unsigned_abs() > 10_000 {
            c.push("orders.price_offset_ticks", format!("must be within -10000..=10000, got {}", o.price_offset_ticks));
        }
        if style == OrderStyle::PostOnly && o.price_offset_ticks < 0 {
            c.push(
                "orders.price_offset_ticks",
                format!("a post-only order cannot cross: must be >= 0, got {}", o.price_offset_ticks),
            );
        }
        if o.timeout_ms == 0 {
            c.push("orders.timeout_ms", "must be > 0, got 0");
        }
        if o.min_rebalance_bps >= 10_000 {
            c.push("orders.min_rebalance_bps", format!("must be < 10000, got {}", o.min_rebalance_bps));
        }
        // the run part appended to the prefix takes at most 8 bytes and the
        // sequence number at most 20 ("-" separators included in the 8)
        let prefix_ok = !o.client_id_prefix.is_empty()
            && o.client_id_prefix.len() <= 8
            && o.client_id_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if !prefix_ok {
            c.push(
                "orders.client_id_prefix",
                format!("must be 1 to 8 bytes of [A-Za-z0-9._:-], got {:?}", o.client_id_prefix),
            );
        }
        let orders = OrderPolicy {
            style,
            price_offset_ticks: o.price_offset_ticks,
            requote_ticks: o.requote_ticks,
            min_rebalance_bps: o.min_rebalance_bps,
            timeout: Nanos::from_millis(o.timeout_ms),
            client_id_prefix: o.client_id_prefix.clone(),
        };

        let j = &self.journal;
        let fsync = match (j.fsync.as_str(), j.fsync_interval_ms) {
            ("every-record", None) => FsyncPolicy::EveryRecord,
            ("never", None) => FsyncPolicy::Never,
            ("interval", Some(ms)) if ms > 0 => FsyncPolicy::Interval(Nanos::from_millis(ms)),
            ("interval", Some(_)) => {
                c.push("journal.fsync_interval_ms", "must be > 0, got 0");
                FsyncPolicy::EveryRecord
            }
            ("interval", None) => {
                c.push("journal.fsync_interval_ms", "needed when journal.fsync = \"interval\"");
                FsyncPolicy::EveryRecord
            }
            ("every-record" | "never", Some(_)) => {
                c.push("journal.fsync_interval_ms", "only allowed with journal.fsync = \"interval\"");
                FsyncPolicy::EveryRecord
            }
            (other, _) => {
                c.push("journal.fsync", format!("must be \"every-record\", \"interval\" or \"never\", got {other:?}"));
                FsyncPolicy::EveryRecord
            }
        };
        let journal = JournalConfig { path: resolve(base_dir, &j.path), fsync };

        let metrics_listen = match self.metrics.listen.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                c.push("metrics.listen", format!("must be an IP:port address, got {:?}", self.metrics.listen));
                SocketAddr::from(([127, 0, 0, 1], 9898))
            }
        };

        let rt = &self.runtime;
        if rt.order_slots == 0 || rt.order_slots > 4096 {
            c.push("runtime.order_slots", format!("must be in 1..=4096, got {}", rt.order_slots));
        }
        if rt.journal_ring_records < 16 || rt.journal_ring_records > 1_000_000 {
            c.push("runtime.journal_ring_records", format!("must be in 16..=1000000, got {}", rt.journal_ring_records));
        }
        for (k, v) in [("read_buffer_bytes", rt.read_buffer_bytes), ("write_buffer_bytes", rt.write_buffer_bytes)] {
            if !(1024..=16 * 1024 * 1024).contains(&v) {
                c.push(format!("runtime.{k}"), format!("must be in 1024..=16777216, got {v}"));
            }
        }
        let runtime = RuntimeConfig {
            order_slots: rt.order_slots as usize,
            journal_ring_records: rt.journal_ring_records as usize,
            read_buffer_bytes: rt.read_buffer_bytes as usize,
            write_buffer_bytes: rt.write_buffer_bytes as usize,
        };

        let p = &self.paper;
        let fees = FixedFees::parse(&p.fees_bps).unwrap_or_else(|e| {
            c.push("paper.fees_bps", format!("{e}, got {:?}", p.fees_bps));
            FixedFees::default()
        });
        let slippage = Slippage::parse(&p.slippage).unwrap_or_else(|e| {
            c.push("paper.slippage", format!("{e}, got {:?}", p.slippage));
            Slippage::default()
        });
        let latency = LatencySpec::parse(&p.latency).unwrap_or_else(|e| {
            c.push("paper.latency", format!("{e}, got {:?}", p.latency));
            LatencySpec::default()
        });
        if !matches!(p.depth_levels, 0 | 5 | 10 | 20) {
            c.push(
                "paper.depth_levels",
                format!("must be 0, 5, 10 or 20 (Binance's partial depth streams), got {}", p.depth_levels),
            );
        }
        let paper = PaperConfig { fees, slippage, latency, seed: p.seed, depth_levels: p.depth_levels };

        let l = &self.lifecycle;
        let unknown_orders = match l.unknown_orders.as_str() {
            "cancel" => UnknownOrders::Cancel,
            "adopt" => UnknownOrders::Adopt,
            other => {
                c.push("lifecycle.unknown_orders", format!("must be \"cancel\" or \"adopt\", got {other:?}"));
                UnknownOrders::Cancel
            }
        };
        for (k, v) in [("exit_timeout_ms", l.exit_timeout_ms), ("startup_timeout_ms", l.startup_timeout_ms)] {
            if !(1..=600_000).contains(&v) {
                c.push(format!("lifecycle.{k}"), format!("must be in 1..=600000, got {v}"));
            }
        }
        let lifecycle = Lifecycle {
            unknown_orders,
            cancel_on_exit: l.cancel_on_exit,
            exit_timeout: Nanos::from_millis(l.exit_timeout_ms),
            startup_timeout: Nanos::from_millis(l.startup_timeout_ms),
        };

        if !c.errors.is_empty() {
            return Err(ConfigErrors { file: None, errors: c.errors });
        }
        Ok(Config {
            mode,
            endpoints: Endpoints {
                market_stream: e.market_stream.clone(),
                ws_api: e.ws_api.clone(),
                rest: e.rest.clone(),
                extra_ca_file,
                allow_plain_loopback: e.allow_plain_loopback,
            },
            symbols,
            model_file,
            sizing: self.model.sizing.clone(),
            keys,
            risk,
            orders,
            journal,
            metrics_listen,
            runtime,
            paper,
            lifecycle,
        })
    }
}

/// Turns a TOML/serde error into a [`ConfigError`] naming the key: the
/// section is found from the nearest `[table]` header above the error.
fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else { return ConfigError { key: String::new(), message } };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..).and_then(|t| t.lines().next()).unwrap_or("").trim();
    let header = |l: &str| l.trim_matches(|ch| ch == '[' || ch == ']').trim().to_string();
    let section = if line.starts_with('[') {
        Some(header(line))
    } else {
        before.lines().rev().map(str::trim).find(|l| l.starts_with('[')).map(header)
    };
    let field = if line.starts_with('[') {
        None
    } else {
        line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string())
    };
    // an unknown field is reported on its own line; a missing one on the table
    let missing = message.starts_with("missing field");
    let key = match (section, field) {
        (Some(s), Some(f)) if !missing => format!("{s}.{f}"),
        (None, Some(f)) if !missing => f,
        (Some(s), _) => s,
        (None, None) => String::new(),
        (None, Some(_)) => String::new(),
    };
    let key = if missing {
        let name = message.split('`').nth(1).unwrap_or("");
        match (key.is_empty(), name.is_empty()) {
            (true, _) => name.to_string(),
            (false, true) => key,
            (false, false) => format!("{key}.{name}"),
        }
    } else {
        key
    };
    ConfigError { key, message: format!("{message} (line {line_no})") }
}

impl Config {
    /// The model file's sizing constants with the config's overrides applied.
    pub fn sizing_for(&self, from_file: SizingParams) -> SizingParams {
        let s = &self.sizing;
        SizingParams {
            kelly_fraction: s.kelly_fraction.unwrap_or(from_file.kelly_fraction),
            vol_target: s.vol_target.unwrap_or(from_file.vol_target),
            max_leverage: s.max_leverage.unwrap_or(from_file.max_leverage),
            min_edge: s.min_edge.unwrap_or(from_file.min_edge),
        }
    }

    /// Reads and checks the model file (and the sizing after overrides).
    ///
    /// # Errors
    /// [`ModelLoadError`] naming the file and what is wrong with it.
    pub fn load_model(&self) -> Result<ModelFile, ModelLoadError> {
        load_model_file(&self.model_file, self)
    }

    /// Checks that the key environment variables are set (live mode). The
    /// values are not kept.
    ///
    /// # Errors
    /// Each missing variable or file, with the key naming it.
    pub fn check_keys_present(&self, env: impl Fn(&str) -> bool) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        if let Some(k) = &self.keys {
            if !env(&k.api_key_env) {
                errors.push(ConfigError {
                    key: "keys.api_key_env".into(),
                    message: format!("environment variable {} is not set", k.api_key_env),
                });
            }
            match &k.secret {
                SecretSource::Env(v) if !env(v) => errors.push(ConfigError {
                    key: "keys.secret_env".into(),
                    message: format!("environment variable {v} is not set"),
                }),
                SecretSource::File(p) if !p.is_file() => errors.push(ConfigError {
                    key: "keys.secret_file".into(),
                    message: format!("no such file {}", p.display()),
                }),
                _ => {}
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors { file: None, errors }) }
    }
}

fn load_model_file(path: &Path, cfg: &Config) -> Result<ModelFile, ModelLoadError> {
    let bytes = std::fs::read(path).map_err(|source| ModelLoadError::Io { path: path.to_path_buf(), source })?;
    let mut file =
        model_file::decode(&bytes).map_err(|source| ModelLoadError::Decode { path: path.to_path_buf(), source })?;
    let sizing = cfg.sizing_for(file.spec.sizing);
    if let Some(what) = sizing.invalid_field() {
        return Err(ModelLoadError::Sizing { path: path.to_path_buf(), what });
    }
    file.spec.sizing = sizing;
    Ok(file)
}

/// Parses and validates a config file, then loads the model file it names
/// and, in live mode, checks that the key variables are set: everything
/// `odex check-config` reports, before any connection is made.
///
/// # Errors
/// Every problem found, each with its key path (`model.file` for a model
/// file that cannot be used).
pub fn check_config(path: &Path) -> Result<Config, ConfigErrors> {
    let cfg = load_config(path)?;
    let mut errors = Vec::new();
    if let Err(e) = cfg.load_model() {
        errors.push(ConfigError { key: "model.file".into(), message: e.to_string() });
    }
    if cfg.mode == Mode::Live
        && let Err(e) = cfg.check_keys_present(|v| std::env::var_os(v).is_some())
    {
        errors.extend(e.errors);
    }
    if errors.is_empty() { Ok(cfg) } else { Err(ConfigErrors { file: Some(path.to_path_buf()), errors }) }
}

/// Reads, parses and validates a config file (relative paths resolve
/// against its folder) without touching the model file or the keys it
/// names: the first part of [`check_config`], and what `odex backtest
/// --config` takes its engine settings from.
///
/// # Errors
/// Every problem found, each with its key path, the file named.
pub fn load_config(path: &Path) -> Result<Config, ConfigErrors> {
    let with_file = |mut e: ConfigErrors| {
        e.file = Some(path.to_path_buf());
        e
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        with_file(ConfigErrors {
            file: None,
            errors: vec![ConfigError { key: String::new(), message: format!("cannot read: {e}") }],
        })
    })?;
    RawConfig::parse(&text).and_then(|raw| raw.validate(path.parent())).map_err(with_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = r#"
mode = "paper"

[endpoints]
market_stream = "wss://stream.binance.com:9443/ws"
ws_api = "wss://ws-api.binance.com:443/ws-api/v3"
rest = "https://api.binance.com"

[[symbols]]
name = "BTCUSDT"
base = "BTC"
quote = "USDT"

[model]
file = "../models/golden-v1.odex"

[risk]
capital = "10000"
max_position = "0.5"
max_notional = "20000"
max_orders_per_sec = 5
max_open_orders = 4
price_band_bps = 50
drawdown_reduce_bps = 500
drawdown_halt_bps = 1000
stale_data_ms = 2000

[journal]
path = "journal.bin"
"#;

    fn base() -> Option<&'static Path> {
        Some(Path::new(env!("CARGO_MANIFEST_DIR")))
    }

    #[test]
    fn good_config_validates() {
        let cfg = RawConfig::parse(GOOD).unwrap().validate(base()).unwrap();
        assert_eq!(cfg.mode, Mode::Paper);
        assert_eq!(cfg.risk.max_position, Qty::parse("0.5").unwrap());
        assert_eq!(cfg.metrics_listen.to_string(), DEFAULT_METRICS_LISTEN);
        assert_eq!(cfg.journal.fsync, FsyncPolicy::EveryRecord);
        assert_eq!(cfg.orders.style, OrderStyle::Limit);
        cfg.load_model().unwrap();
    }

    #[test]
    fn unknown_key_is_named_with_its_section() {
        let text = GOOD.replace("stale_data_ms = 2000", "stale_data_ms = 2000\nmax_postion = \"1\"");
        let e = RawConfig::parse(&text).unwrap_err();
        assert!(e.mentions("risk.max_postion"), "{e}");
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let text = GOOD.replace("max_open_orders = 4", "max_open_orders = = 4");
        let e = RawConfig::parse(&text).unwrap_err();
        assert!(e.to_string().contains("line"), "{e}");
        let text = GOOD.replace("max_open_orders = 4", "max_open_orders = \"four\"");
        let e = RawConfig::parse(&text).unwrap_err();
        assert!(e.mentions("risk.max_open_orders"), "{e}");
    }

    #[test]
    fn rebalance_band_and_cash_reserve_default_and_are_checked() {
        let cfg = RawConfig::parse(GOOD).unwrap().validate(base()).unwrap();
        assert_eq!((cfg.orders.min_rebalance_bps, cfg.risk.cash_reserve_bps), (0, 100));
        let text = GOOD
            .replace("stale_data_ms = 2000", "stale_data_ms = 2000\ncash_reserve_bps = 10000")
            .replace("[journal]", "[orders]\nmin_rebalance_bps = 20000\n\n[journal]");
        let e = RawConfig::parse(&text).unwrap().validate(base()).unwrap_err();
        assert!(e.mentions("risk.cash_reserve_bps") && e.mentions("orders.min_rebalance_bps"), "{e}");
        let text = GOOD.replace("[journal]", "[orders]\nmin_rebalance_bps = 150\n\n[journal]");
        assert_eq!(RawConfig::parse(&text).unwrap().validate(base()).unwrap().orders.min_rebalance_bps, 150);
    }

    #[test]
    fn paper_depth_levels_are_binances_partial_depths() {
        for (n, ok) in [(0, true), (5, true), (10, true), (20, true), (7, false), (100, false)] {
            let text = format!("{GOOD}\n[paper]\ndepth_levels = {n}\n");
            let r = RawConfig::parse(&text).unwrap().validate(base());
            assert_eq!(r.is_ok(), ok, "{n}: {r:?}");
            if let Err(e) = r {
                assert!(e.mentions("paper.depth_levels"), "{e}");
            }
        }
    }

    #[test]
    fn missing_key_is_named() {
        let text = GOOD.replace("max_open_orders = 4\n", "");
        let e = RawConfig::parse(&text).unwrap_err();
        assert!(e.mentions("risk.max_open_orders"), "{e}");
    }

    #[test]
    fn every_violation_is_collected() {
        let text = GOOD
            .replace("max_position = \"0.5\"", "max_position = \"-1\"")
            .replace("capital = \"10000\"", "capital = \"1e4\"")
            .replace("drawdown_halt_bps = 1000", "drawdown_halt_bps = 100")
            .replace("mode = \"paper\"", "mode = \"demo\"")
            .replace("wss://stream", "ws://stream")
            .replace("path = \"journal.bin\"", "path = \"journal.bin\"\nfsync = \"sometimes\"");
        let e = RawConfig::parse(&text).unwrap().validate(base()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("risk.max_position: must be > 0, got -1"), "{msg}");
        for key in [
            "mode",
            "risk.capital",
            "risk.max_position",
            "risk.drawdown_halt_bps",
            "endpoints.market_stream",
            "journal.fsync",
        ] {
            assert!(e.mentions(key), "{key} missing from {msg}");
        }
        assert_eq!(e.errors.len(), 6, "{msg}");
    }

    #[test]
    fn live_mode_needs_keys_and_they_must_be_set() {
        let text = GOOD.replace("mode = \"paper\"", "mode = \"live\"");
        let e = RawConfig::parse(&text).unwrap().validate(base()).unwrap_err();
        assert!(e.mentions("keys"));
        let text = format!(
            "{text}\n[keys]\nkind = \"ed25519\"\napi_key_env = \"ODEX_TEST_NO_SUCH_KEY\"\nsecret_env = \"ODEX_TEST_NO_SUCH_SECRET\"\n"
        );
        let cfg = RawConfig::parse(&text).unwrap().validate(base()).unwrap();
        let e = cfg.check_keys_present(|_| false).unwrap_err();
        assert!(e.mentions("keys.api_key_env") && e.mentions("keys.secret_env"), "{e}");
        assert!(cfg.check_keys_present(|_| true).is_ok());
    }

    #[test]
    fn plain_ws_only_to_loopback_when_allowed() {
        let text = GOOD.replace("wss://stream.binance.com:9443/ws", "ws://127.0.0.1:9443/ws").replace(
            "rest = \"https://api.binance.com\"",
            "rest = \"http://example.com\"\nallow_plain_loopback = true",
        );
        let e = RawConfig::parse(&text).unwrap().validate(base()).unwrap_err();
        assert!(!e.mentions("endpoints.market_stream"), "{e}");
        assert!(e.mentions("endpoints.rest"), "{e}");
    }

    #[test]
    fn corrupt_or_mismatched_model_is_a_typed_error() {
        let dir = std::env::temp_dir().join(format!("odex-cfg-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/golden-v1.odex")).unwrap();
        let mut corrupt = good.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        let mut version = good.clone();
        version[4] = 99;
        for (name, bytes) in [("corrupt.odex", corrupt), ("version.odex", version), ("short.odex", good[..20].to_vec())]
        {
            std::fs::write(dir.join(name), bytes).unwrap();
            let text = GOOD.replace("../models/golden-v1.odex", name);
            let cfg = RawConfig::parse(&text).unwrap().validate(Some(&dir)).unwrap();
            let err = cfg.load_model().unwrap_err();
            assert!(matches!(err, ModelLoadError::Decode { .. }), "{name}: {err}");
            assert!(err.to_string().contains(name), "{err}");
        }
        let cfg = RawConfig::parse(&GOOD.replace("../models/golden-v1.odex", "missing.odex"))
            .unwrap()
            .validate(Some(&dir))
            .unwrap();
        assert!(matches!(cfg.load_model(), Err(ModelLoadError::Io { .. })));
        // a sizing override that breaks the model's sizing is refused too
        let text = GOOD.replace("[risk]", "[model.sizing]\nkelly_fraction = 1.0\n\n[risk]");
        let cfg = RawConfig::parse(&text).unwrap().validate(base()).unwrap();
        assert!(cfg.load_model().is_ok());
        // check_config reports the model under model.file
        let path = dir.join("bad.toml");
        std::fs::write(&path, GOOD.replace("../models/golden-v1.odex", "corrupt.odex")).unwrap();
        let e = check_config(&path).unwrap_err();
        assert!(e.mentions("model.file") && e.to_string().contains("checksum"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn example_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for name in ["paper.toml", "live-testnet.toml"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let cfg = RawConfig::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}")).validate(Some(&dir));
            let cfg = cfg.unwrap_or_else(|e| panic!("{name}: {e}"));
            cfg.load_model().unwrap();
        }
    }
}
