//! `exchangeInfo` (cold path): per-symbol trading filters.
//!
//! Read once at start-up (REST or the WebSocket API `exchangeInfo`
//! method), so it uses `serde_json` and allocates freely. Each symbol's
//! filters become a [`SymbolFilters`] of exact fixed-point values that the
//! order manager checks orders against before sending them (`-1013 Filter
//! failure` avoided rather than handled). Both today's filter names and the
//! older ones (`MIN_NOTIONAL`, `PERCENT_PRICE`) are understood; filters odex
//! does not use are ignored.

use odex_shared::market::{Price, Qty};
use serde::Deserialize;

use crate::filters::{LotSize, NotionalFilter, PercentPrice, PriceFilter, SymbolFilters};

/// One symbol of an `exchangeInfo` document: its names and its filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolInfo {
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Trading status, e.g. `TRADING` or `BREAK`.
    pub status: String,
    /// Base asset.
    pub base_asset: String,
    /// Quote asset.
    pub quote_asset: String,
    /// The filters odex checks, as the order manager and the venue use them.
    pub filters: SymbolFilters,
    /// Minutes of the average price the notional and percent-price filters
    /// refer to (`avgPriceMins`; 0 when the symbol has neither filter).
    pub avg_price_mins: u32,
}

/// Why an `exchangeInfo` document was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeInfoError {
    /// Not the expected JSON shape.
    #[error("exchangeInfo is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A filter field does not hold a plain decimal.
    #[error("exchangeInfo symbol {symbol}: {filter}.{field} = {value:?} is not a valid decimal: {reason}")]
    BadDecimal {
        /// The symbol.
        symbol: String,
        /// The filter type.
        filter: &'static str,
        /// The field.
        field: &'static str,
        /// The value as sent.
        value: String,
        /// Why it does not parse.
        reason: odex_shared::market::DecimalError,
    },
}

#[derive(Deserialize)]
struct Doc {
    symbols: Vec<RawSymbol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSymbol {
    symbol: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    base_asset: String,
    #[serde(default)]
    quote_asset: String,
    #[serde(default)]
    filters: Vec<RawFilter>,
}

#[derive(Deserialize)]
#[serde(tag = "filterType", rename_all = "SCREAMING_SNAKE_CASE")]
enum RawFilter {
    #[serde(rename_all = "camelCase")]
    PriceFilter { min_price: String, max_price: String, tick_size: String },
    #[serde(rename_all = "camelCase")]
    LotSize { min_qty: String, max_qty: String, step_size: String },
    #[serde(rename_all = "camelCase")]
    MarketLotSize { min_qty: String, max_qty: String, step_size: String },
    #[serde(rename_all = "camelCase")]
    Notional {
        min_notional: String,
        #[serde(default)]
        apply_min_to_market: bool,
        max_notional: Option<String>,
        #[serde(default)]
        apply_max_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename_all = "camelCase")]
    MinNotional {
        min_notional: String,
        #[serde(default)]
        apply_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename_all = "camelCase")]
    PercentPriceBySide {
        bid_multiplier_up: String,
        bid_multiplier_down: String,
        ask_multiplier_up: String,
        ask_multiplier_down: String,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename_all = "camelCase")]
    PercentPrice {
        multiplier_up: String,
        multiplier_down: String,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(other)]
    Other,
}

struct Ctx<'s> {
    symbol: &'s str,
    filter: &'static str,
}

impl Ctx<'_> {
    fn raw(&self, field: &'static str, value: &str) -> Result<i64, ExchangeInfoError> {
        odex_shared::market::parse_raw(value.as_bytes()).map_err(|reason| ExchangeInfoError::BadDecimal {
            symbol: self.symbol.to_owned(),
            filter: self.filter,
            field,
            value: value.to_owned(),
            reason,
        })
    }

    fn price(&self, field: &'static str, value: &str) -> Result<Price, ExchangeInfoError> {
        self.raw(field, value).map(Price::from_raw)
    }

    fn qty(&self, field: &'static str, value: &str) -> Result<Qty, ExchangeInfoError> {
        self.raw(field, value).map(Qty::from_raw)
    }

    fn lot(&self, min_qty: &str, max_qty: &str, step_size: &str) -> Result<LotSize, ExchangeInfoError> {
        Ok(LotSize {
            min_qty: self.qty("minQty", min_qty)?,
            max_qty: self.qty("maxQty", max_qty)?,
            step_size: self.qty("stepSize", step_size)?,
        })
    }
}

impl SymbolInfo {
    fn from_raw(raw: RawSymbol) -> Result<Self, ExchangeInfoError> {
        let mut f = SymbolFilters::default();
        let mut avg_price_mins = 0;
        let symbol = raw.symbol;
        let ctx = |filter| Ctx { symbol: &symbol, filter };
        for filter in &raw.filters {
            match filter {
                RawFilter::PriceFilter { min_price, max_price, tick_size } => {
                    let c = ctx("PRICE_FILTER");
                    f.price = Some(PriceFilter {
                        min_price: c.price("minPrice", min_price)?,
                        max_price: c.price("maxPrice", max_price)?,
                        tick_size: c.price("tickSize", tick_size)?,
                    });
                }
                RawFilter::LotSize { min_qty, max_qty, step_size } => {
                    f.lot = Some(ctx("LOT_SIZE").lot(min_qty, max_qty, step_size)?);
                }
                RawFilter::MarketLotSize { min_qty, max_qty, step_size } => {
                    f.market_lot = Some(ctx("MARKET_LOT_SIZE").lot(min_qty, max_qty, step_size)?);
                }
                RawFilter::Notional {
                    min_notional,
                    apply_min_to_market,
                    max_notional,
                    apply_max_to_market,
                    avg_price_mins: mins,
                } => {
                    let c = ctx("NOTIONAL");
                    f.notional = Some(NotionalFilter {
                        min_notional: c.price("minNotional", min_notional)?,
                        apply_min_to_market: *apply_min_to_market,
                        // absent: unbounded, which SymbolFilters spells 0
                        max_notional: match max_notional {
                            Some(m) => c.price("maxNotional", m)?,
                            None => Price::ZERO,
                        },
                        apply_max_to_market: *apply_max_to_market,
                    });
                    f.notional_is_legacy = false;
                    avg_price_mins = *mins;
                }
                RawFilter::MinNotional { min_notional, apply_to_market, avg_price_mins: mins } => {
                    // NOTIONAL supersedes MIN_NOTIONAL when a symbol has both
                    if f.notional.is_none() {
                        f.notional = Some(NotionalFilter {
                            min_notional: ctx("MIN_NOTIONAL").price("minNotional", min_notional)?,
                            apply_min_to_market: *apply_to_market,
                            max_notional: Price::ZERO,
                            apply_max_to_market: false,
                        });
                        f.notional_is_legacy = true;
                        avg_price_mins = *mins;
                    }
                }
                RawFilter::PercentPriceBySide {
                    bid_multiplier_up,
                    bid_multiplier_down,
                    ask_multiplier_up,
                    ask_multiplier_down,
                    avg_price_mins: mins,
                } => {
                    let c = ctx("PERCENT_PRICE_BY_SIDE");
                    f.percent = Some(PercentPrice {
                        bid_up: c.price("bidMultiplierUp", bid_multiplier_up)?,
                        bid_down: c.price("bidMultiplierDown", bid_multiplier_down)?,
                        ask_up: c.price("askMultiplierUp", ask_multiplier_up)?,
                        ask_down: c.price("askMultiplierDown", ask_multiplier_down)?,
                        legacy: false,
                    });
                    avg_price_mins = *mins;
                }
                RawFilter::PercentPrice { multiplier_up, multiplier_down, avg_price_mins: mins } => {
                    if f.percent.is_none() {
                        let c = ctx("PERCENT_PRICE");
                        let up = c.price("multiplierUp", multiplier_up)?;
                        let down = c.price("multiplierDown", multiplier_down)?;
                        f.percent =
                            Some(PercentPrice { bid_up: up, bid_down: down, ask_up: up, ask_down: down, legacy: true });
                        avg_price_mins = *mins;
                    }
                }
                RawFilter::Other => {}
            }
        }
        Ok(Self {
            symbol,
            status: raw.status,
            base_asset: raw.base_asset,
            quote_asset: raw.quote_asset,
            filters: f,
            avg_price_mins,
        })
    }
}

/// Parses an `exchangeInfo` document (the REST body, or the `result` of
/// the WebSocket API method) into each symbol's filters, in document order.
///
/// # Errors
/// [`ExchangeInfoError`] naming the symbol, filter, field and value.
pub fn parse_exchange_info(json: &str) -> Result<Vec<SymbolInfo>, ExchangeInfoError> {
    let doc: Doc = serde_json::from_str(json)?;
    doc.symbols.into_iter().map(SymbolInfo::from_raw).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todays_filter_names() {
        let doc = r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[
            {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
            {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
            {"filterType":"ICEBERG_PARTS","limit":10},
            {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
            {"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"5","bidMultiplierDown":"0.2","askMultiplierUp":"5","askMultiplierDown":"0.2","avgPriceMins":5}
        ]}]}"#;
        let info = &parse_exchange_info(doc).unwrap()[0];
        let f = info.filters;
        assert_eq!(f.price.unwrap().tick_size, Price::parse("0.01").unwrap());
        assert_eq!(f.lot.unwrap().step_size, Qty::parse("0.00001").unwrap());
        let n = f.notional.unwrap();
        assert_eq!((n.min_notional, n.max_notional), (Price::parse("5").unwrap(), Price::parse("9000000").unwrap()));
        assert!(!f.notional_is_legacy);
        let pp = f.percent.unwrap();
        assert_eq!(pp.bid_down, Price::parse("0.2").unwrap());
        assert!(!pp.legacy);
        assert_eq!(f.market_lot, None);
        assert_eq!(info.avg_price_mins, 5);
    }

    #[test]
    fn bad_values_are_named() {
        let doc = r#"{"symbols":[{"symbol":"X","filters":[{"filterType":"LOT_SIZE","minQty":"1e-5","maxQty":"1","stepSize":"1"}]}]}"#;
        let e = parse_exchange_info(doc).unwrap_err().to_string();
        assert!(e.contains("symbol X: LOT_SIZE.minQty = \"1e-5\""), "{e}");
    }
}
