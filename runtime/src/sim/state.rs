//! What the request handlers share: the markets, the exchange, the rate
//! windows and the fault counters; and the JSON shapes both REST and the
//! WebSocket API return (exchangeInfo, orders, the ledger).

use serde_json::{Value, json};

use super::auth::Window;
use super::config::SimConfig;
use super::exchange::{SimExchange, SimFill, SimOrder};
use super::market::{Market, dec8};

/// The venue's state, owned by the server loop.
#[derive(Debug)]
pub struct SimState<E> {
    /// Validated settings.
    pub config: SimConfig,
    /// One market per configured symbol, in config order.
    pub markets: Vec<Market>,
    /// The matching engine.
    pub exchange: E,
    /// REQUEST_WEIGHT per minute (one IP: everything is loopback).
    pub weight: Window,
    /// ORDERS per 10 s.
    pub orders_10s: Window,
    /// `order.place` calls seen (for reject/5xx faults).
    pub place_count: u64,
}

impl<E: SimExchange> SimState<E> {
    /// The market of `symbol` (upper case).
    pub fn market(&self, symbol: &str) -> Option<&Market> {
        self.markets.iter().find(|m| m.spec.name == symbol)
    }

    /// The `rateLimits` array of the WebSocket API.
    pub fn rate_limits(&mut self, now_ms: u64, with_orders: bool) -> Value {
        let mut v = vec![json!({
            "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": self.weight.limit, "count": self.weight.count(now_ms)
        })];
        if with_orders {
            v.push(json!({
                "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                "limit": self.orders_10s.limit, "count": self.orders_10s.count(now_ms)
            }));
        }
        Value::Array(v)
    }

    /// The exchangeInfo body for `symbols` (all when empty), Binance's shape.
    pub fn exchange_info(&self, symbols: &[String], now_ms: u64) -> Value {
        let syms: Vec<Value> = self
            .markets
            .iter()
            .filter(|m| symbols.is_empty() || symbols.contains(&m.spec.name))
            .map(|m| {
                let s = &m.spec;
                let mut filters = Vec::new();
                if let Some(p) = s.filters.price {
                    filters.push(json!({"filterType":"PRICE_FILTER","minPrice":dec8(p.min_price.raw()),"maxPrice":dec8(p.max_price.raw()),"tickSize":dec8(p.tick_size.raw())}));
                }
                if let Some(l) = s.filters.lot {
                    filters.push(json!({"filterType":"LOT_SIZE","minQty":dec8(l.min_qty.raw()),"maxQty":dec8(l.max_qty.raw()),"stepSize":dec8(l.step_size.raw())}));
                }
                if let Some(l) = s.filters.market_lot {
                    filters.push(json!({"filterType":"MARKET_LOT_SIZE","minQty":dec8(l.min_qty.raw()),"maxQty":dec8(l.max_qty.raw()),"stepSize":dec8(l.step_size.raw())}));
                }
                if let Some(n) = s.filters.notional {
                    filters.push(json!({"filterType":"NOTIONAL","minNotional":dec8(n.min_notional.raw()),"applyMinToMarket":n.apply_min_to_market,"maxNotional":dec8(n.max_notional.raw()),"applyMaxToMarket":n.apply_max_to_market,"avgPriceMins":5}));
                }
                json!({
                    "symbol": s.name, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
                    "quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "icebergAllowed": false, "ocoAllowed": false, "otoAllowed": false,
                    "quoteOrderQtyMarketAllowed": false, "allowTrailingStop": false,
                    "cancelReplaceAllowed": false, "amendAllowed": false,
                    "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
                    "filters": filters, "permissions": [], "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"]
                })
            })
            .collect();
        json!({
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [
                {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":self.weight.limit},
                {"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":self.orders_10s.limit},
                {"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":300000}
            ],
            "exchangeFilters": [],
            "symbols": syms
        })
    }

    /// The ledger dump: every order with its fills, and the balances.
    pub fn ledger(&self) -> Value {
        let orders: Vec<Value> = self.exchange.orders().iter().map(|o| order_json(o, true)).collect();
        let balances: Vec<Value> = self
            .exchange
            .account()
            .iter()
            .map(|b| json!({"asset": b.asset, "free": dec8(b.free.raw()), "locked": dec8(b.locked.raw())}))
            .collect();
        let fills: Vec<Value> = self
            .exchange
            .orders()
            .iter()
            .flat_map(|o| o.fills.iter().map(|f| fill_json(f, Some(o))).collect::<Vec<_>>())
            .collect();
        json!({"orders": orders, "fills": fills, "balances": balances})
    }
}

/// A fill as in `order.place`'s `fills` (plus order fields for the ledger).
pub fn fill_json(f: &SimFill, order: Option<&SimOrder>) -> Value {
    let mut v = json!({
        "price": dec8(f.price.raw()), "qty": dec8(f.qty.raw()),
        "commission": dec8(f.commission.raw()), "commissionAsset": f.commission_asset, "tradeId": f.trade_id
    });
    if let (Some(o), Some(map)) = (order, v.as_object_mut()) {
        map.insert("orderId".into(), json!(o.order_id));
        map.insert("symbol".into(), json!(o.symbol));
        map.insert("side".into(), json!(o.side.as_str()));
        map.insert("isMaker".into(), json!(f.maker));
        map.insert("time".into(), json!(f.time_ms));
    }
    v
}

/// An order as `order.status` returns it (with `fills` for the ledger).
pub fn order_json(o: &SimOrder, with_fills: bool) -> Value {
    let mut v = json!({
        "symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
        "price": dec8(o.price.raw()), "origQty": dec8(o.orig_qty.raw()), "executedQty": dec8(o.executed_qty.raw()),
        "cummulativeQuoteQty": dec8(o.cum_quote.raw()), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.map_or("GTC", |t| t.as_str()), "type": o.kind.as_str(), "side": o.side.as_str(),
        "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": o.time_ms, "updateTime": o.update_ms,
        "isWorking": !o.status.is_final(), "workingTime": o.time_ms, "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "NONE"
    });
    if with_fills && let Some(map) = v.as_object_mut() {
        map.insert("fills".into(), Value::Array(o.fills.iter().map(|f| fill_json(f, None)).collect()));
    }
    v
}
