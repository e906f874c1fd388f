//! The WebSocket API (`/ws-api/v3`): one JSON request per text frame,
//! answered in Binance's shapes (`{"id","status","result"|"error","rateLimits"}`).
//!
//! Requests are parsed with `serde_json` (this is the venue's side, not the
//! runtime's hot path). Signed methods take `apiKey`, `timestamp` and
//! `signature` (checked by [`auth`](super::auth)); after `session.logon`
//! with an Ed25519 key, `apiKey` and `signature` may be left out.

use serde_json::{Map, Value, json};

use odex_shared::market::{Price, Qty, Side};

use crate::order::{OrderType, TimeInForce};

use super::auth::{check_time, signature_payload, verify};
use super::config::KeySecret;
use super::exchange::{ApiError, OrderRef, PlaceOrder, SimExchange, SimOrder};
use super::market::dec8;
use super::state::{SimState, fill_json, order_json};

/// Per-connection WebSocket API state.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Index of the key logged on with `session.logon`.
    pub logged_on: Option<usize>,
    /// When the logon happened, ms.
    pub logon_ms: u64,
    /// When the connection opened, ms.
    pub connected_ms: u64,
    /// The user-data subscription id, when subscribed.
    pub user_stream: Option<u64>,
}

/// What a request did besides its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response text.
    pub text: String,
}

fn weight_of(method: &str, params: &Map<String, Value>) -> u32 {
    match method {
        "exchangeInfo" | "account.status" => 20,
        "order.status" => 4,
        "openOrders.status" => {
            if params.contains_key("symbol") {
                6
            } else {
                80
            }
        }
        "session.logon" | "userDataStream.subscribe" | "userDataStream.subscribe.signature" => 2,
        _ => 1,
    }
}

fn str_param(params: &Map<String, Value>, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::new(-1102, format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
}

fn required(params: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    str_param(params, name).filter(|s| !s.is_empty()).ok_or_else(|| missing(name))
}

fn int_param(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    str_param(params, name).map(|s| s.parse::<i64>().map_err(|_| missing(name))).transpose()
}

/// The HTTP-like status of an error code.
pub fn status_of(code: i32) -> u16 {
    match code {
        -1003 | -1015 => 429,
        -2015 => 401,
        -1007 => 503,
        _ => 400,
    }
}

fn error_reply(id: &Value, status: u16, err: &ApiError, data: Option<Value>, limits: Value) -> String {
    let mut error = json!({"code": err.code, "msg": err.msg});
    if let (Some(d), Some(map)) = (data, error.as_object_mut()) {
        map.insert("data".into(), d);
    }
    json!({"id": id, "status": status, "error": error, "rateLimits": limits}).to_string()
}

/// Answers one request text.
pub fn handle<E: SimExchange>(
    state: &mut SimState<E>,
    session: &mut Session,
    text: &[u8],
    now_ms: u64,
    next_sub: &mut u64,
) -> Reply {
    let parsed: Result<Value, _> = serde_json::from_slice(text);
    let Ok(Value::Object(req)) = parsed else {
        let err = ApiError::new(-1000, "Malformed request.");
        return Reply {
            text: json!({"id": null, "status": 400, "error": {"code": err.code, "msg": err.msg}}).to_string(),
        };
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("").to_string();
    let empty = Map::new();
    let params = req.get("params").and_then(Value::as_object).unwrap_or(&empty).clone();
    let with_orders = method == "order.place";
    if let Err(retry) = state.weight.take(weight_of(&method, &params), now_ms) {
        let err = ApiError::new(
            -1003,
            format!(
                "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                state.weight.limit
            ),
        );
        let limits = state.rate_limits(now_ms, with_orders);
        return Reply {
            text: error_reply(&id, 429, &err, Some(json!({"serverTime": now_ms, "retryAfter": retry})), limits),
        };
    }
    let result = dispatch(state, session, &method, &params, now_ms, next_sub);
    let limits = state.rate_limits(now_ms, with_orders);
    let text = match result {
        Ok(result) => json!({"id": id, "status": 200, "result": result, "rateLimits": limits}).to_string(),
        Err(Failure::Api(err)) => error_reply(&id, status_of(err.code), &err, None, limits),
        Err(Failure::Limited(err, retry)) => {
            error_reply(&id, 429, &err, Some(json!({"serverTime": now_ms, "retryAfter": retry})), limits)
        }
    };
    Reply { text }
}

/// Why a request failed: a Binance error, or a rate limit with the epoch ms it lifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An error with its code.
    Api(ApiError),
    /// Rate limited until the given epoch ms.
    Limited(ApiError, u64),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Authenticates a signed request: the key index.
fn authenticate<E>(
    state: &SimState<E>,
    session: &Session,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<usize, ApiError> {
    let timestamp = int_param(params, "timestamp")?.ok_or_else(|| missing("timestamp"))?;
    let recv_window = int_param(params, "recvWindow")?;
    let has_sig = params.contains_key("signature");
    let key_idx = match (session.logged_on, str_param(params, "apiKey"), has_sig) {
        (Some(idx), None, false) => idx,
        (_, None, _) => return Err(missing("apiKey")),
        (_, Some(api_key), _) => state
            .config
            .keys
            .iter()
            .position(|k| k.api_key == api_key)
            .ok_or_else(|| ApiError::new(-2015, "Invalid API-key, IP, or permissions for action."))?,
    };
    check_time(timestamp, recv_window, i64::try_from(now_ms).unwrap_or(i64::MAX))?;
    if session.logged_on != Some(key_idx) || has_sig {
        let signature = required(params, "signature")?;
        let key = state
            .config
            .keys
            .get(key_idx)
            .ok_or_else(|| ApiError::new(-2015, "Invalid API-key, IP, or permissions for action."))?;
        verify(key, &signature_payload(params), &signature)?;
    }
    Ok(key_idx)
}

/// Runs one method (the WebSocket API's names) with its params: the entry
/// REST shares after checking the REST signature itself (it passes a
/// session logged on with the key and params without `apiKey`/`signature`).
///
/// # Errors
/// The [`Failure`] to answer with.
pub fn dispatch<E: SimExchange>(
    state: &mut SimState<E>,
    session: &mut Session,
    method: &str,
    params: &Map<String, Value>,
    now_ms: u64,
    next_sub: &mut u64,
) -> Result<Value, Failure> {
    match method {
        "ping" => Ok(json!({})),
        "time" => Ok(json!({"serverTime": now_ms})),
        "exchangeInfo" => {
            let mut symbols: Vec<String> = Vec::new();
            if let Some(s) = str_param(params, "symbol") {
                symbols.push(s);
            }
            if let Some(Value::Array(list)) = params.get("symbols") {
                symbols.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            if symbols.iter().any(|s| state.market(s).is_none()) {
                return Err(ApiError::new(-1121, "Invalid symbol.").into());
            }
            Ok(state.exchange_info(&symbols, now_ms))
        }
        "session.logon" => {
            let idx = authenticate(state, &Session::default(), params, now_ms)?;
            if !matches!(state.config.keys.get(idx).map(|k| &k.secret), Some(KeySecret::Ed25519(_))) {
                return Err(ApiError::new(-4056, "HMAC_SHA256 API key is not supported.").into());
            }
            session.logged_on = Some(idx);
            session.logon_ms = now_ms;
            Ok(json!({
                "apiKey": state.config.keys.get(idx).map(|k| k.api_key.clone()),
                "authorizedSince": now_ms, "connectedSince": session.connected_ms,
                "returnRateLimits": true, "serverTime": now_ms, "userDataStream": session.user_stream.is_some()
            }))
        }
        "session.status" => Ok(json!({
            "apiKey": session.logged_on.and_then(|i| state.config.keys.get(i)).map(|k| k.api_key.clone()),
            "authorizedSince": session.logged_on.map(|_| session.logon_ms), "connectedSince": session.connected_ms,
            "returnRateLimits": true, "serverTime": now_ms, "userDataStream": session.user_stream.is_some()
        })),
        "session.logout" => {
            session.logged_on = None;
            Ok(
                json!({"apiKey": null, "authorizedSince": null, "connectedSince": session.connected_ms, "returnRateLimits": true, "serverTime": now_ms, "userDataStream": session.user_stream.is_some()}),
            )
        }
        "userDataStream.subscribe" => {
            if session.logged_on.is_none() {
                return Err(ApiError::new(-2015, "Invalid API-key, IP, or permissions for action.").into());
            }
            Ok(subscribe(session, next_sub))
        }
        "userDataStream.subscribe.signature" => {
            authenticate(state, session, params, now_ms)?;
            Ok(subscribe(session, next_sub))
        }
        "userDataStream.unsubscribe" => {
            session.user_stream = None;
            Ok(json!({}))
        }
        "order.place" => place(state, session, params, now_ms),
        "order.cancel" => {
            authenticate(state, session, params, now_ms)?;
            let symbol = required(params, "symbol")?;
            let by = order_ref(params)?;
            let o = state.exchange.cancel(&symbol, &by, now_ms)?;
            let orig = o.client_id.clone();
            let mut v = order_json(&o, false);
            if let Some(map) = v.as_object_mut() {
                map.insert("origClientOrderId".into(), json!(orig));
                map.insert("transactTime".into(), json!(now_ms));
            }
            Ok(v)
        }
        "order.status" => {
            authenticate(state, session, params, now_ms)?;
            let symbol = required(params, "symbol")?;
            let by = order_ref(params)?;
            Ok(order_json(&state.exchange.status(&symbol, &by)?, false))
        }
        "openOrders.status" => {
            authenticate(state, session, params, now_ms)?;
            let symbol = str_param(params, "symbol");
            if let Some(s) = &symbol
                && state.market(s).is_none()
            {
                return Err(ApiError::new(-1121, "Invalid symbol.").into());
            }
            Ok(Value::Array(
                state.exchange.open_orders(symbol.as_deref()).iter().map(|o| order_json(o, false)).collect(),
            ))
        }
        "openOrders.cancelAll" => {
            authenticate(state, session, params, now_ms)?;
            let symbol = required(params, "symbol")?;
            let done = state.exchange.cancel_all(&symbol, now_ms)?;
            Ok(Value::Array(
                done.iter()
                    .map(|o| {
                        let mut v = order_json(o, false);
                        if let Some(map) = v.as_object_mut() {
                            map.insert("origClientOrderId".into(), json!(o.client_id));
                            map.insert("transactTime".into(), json!(now_ms));
                        }
                        v
                    })
                    .collect(),
            ))
        }
        "account.status" => {
            authenticate(state, session, params, now_ms)?;
            let rate = dec8(state.config.commission.raw());
            let bps = state.config.commission.raw() / 10_000;
            let balances: Vec<Value> = state
                .exchange
                .account()
                .iter()
                .map(|b| json!({"asset": b.asset, "free": dec8(b.free.raw()), "locked": dec8(b.locked.raw())}))
                .collect();
            Ok(json!({
                "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": true, "canWithdraw": true, "canDeposit": true,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": "0.00000000", "seller": "0.00000000"},
                "brokered": false, "requireSelfTradePrevention": false, "preventSor": false,
                "updateTime": now_ms, "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1
            }))
        }
        _ => Err(ApiError::new(-1020, "This operation is not supported.").into()),
    }
}

fn subscribe(session: &mut Session, next_sub: &mut u64) -> Value {
    let id = *session.user_stream.get_or_insert_with(|| {
        let id = *next_sub;
        *next_sub += 1;
        id
    });
    json!({"subscriptionId": id})
}

fn order_ref(params: &Map<String, Value>) -> Result<OrderRef, ApiError> {
    if let Some(id) = int_param(params, "orderId")? {
        return Ok(OrderRef::Id(u64::try_from(id).map_err(|_| missing("orderId"))?));
    }
    str_param(params, "origClientOrderId").map(OrderRef::Client).ok_or_else(|| missing("orderId"))
}

fn place<E: SimExchange>(
    state: &mut SimState<E>,
    session: &Session,
    params: &Map<String, Value>,
    now_ms: u64,
) -> Result<Value, Failure> {
    authenticate(state, session, params, now_ms)?;
    if let Err(retry) = state.orders_10s.take(1, now_ms) {
        let err = ApiError::new(
            -1015,
            format!("Too many new orders; current limit is {} orders per 10 SECOND.", state.orders_10s.limit),
        );
        return Err(Failure::Limited(err, retry));
    }
    let symbol = required(params, "symbol")?;
    if state.market(&symbol).is_none() {
        return Err(ApiError::new(-1121, "Invalid symbol.").into());
    }
    let side = match required(params, "side")?.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(missing("side").into()),
    };
    let kind = OrderType::from_wire(required(params, "type")?.as_bytes()).ok_or_else(|| missing("type"))?;
    let time_in_force = match str_param(params, "timeInForce") {
        Some(t) => Some(TimeInForce::from_wire(t.as_bytes()).ok_or_else(|| missing("timeInForce"))?),
        None if kind == OrderType::Limit => return Err(missing("timeInForce").into()),
        None => None,
    };
    let price = match str_param(params, "price") {
        Some(p) => Some(Price::parse(&p).map_err(|_| {
            ApiError::new(
                -1100,
                "Illegal characters found in parameter 'price'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        })?),
        None if kind != OrderType::Market => return Err(missing("price").into()),
        None => None,
    };
    let qty = match (str_param(params, "quantity"), str_param(params, "quoteOrderQty")) {
        (Some(q), _) => Qty::parse(&q).map_err(|_| {
            ApiError::new(
                -1100,
                "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        })?,
        (None, Some(quote)) if kind == OrderType::Market => quote_to_qty(state, &symbol, side, &quote)?,
        _ => return Err(missing("quantity").into()),
    };
    state.place_count += 1;
    let n = state.place_count;
    if state.config.faults.reject_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        return Err(
            ApiError::new(-2010, "Order rejected by the simulator (fault injection: reject every Nth order).").into()
        );
    }
    let client_id = str_param(params, "newClientOrderId").unwrap_or_else(|| format!("odexsim{now_ms}x{n}"));
    let order = PlaceOrder { symbol, side, kind, time_in_force, price, qty, client_id };
    let placed = state.exchange.place(&order, now_ms)?;
    if state.config.faults.error_5xx_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        return Err(ApiError::new(
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        )
        .into());
    }
    let resp_type = str_param(params, "newOrderRespType").unwrap_or_else(|| "FULL".into());
    Ok(place_result(&placed, &resp_type, now_ms))
}

/// A market order's `quoteOrderQty` as a base quantity at the touch,
/// rounded down to the lot step.
fn quote_to_qty<E: SimExchange>(state: &SimState<E>, symbol: &str, side: Side, quote: &str) -> Result<Qty, ApiError> {
    let quote = Price::parse(quote).map_err(|_| missing("quoteOrderQty"))?;
    let m = state.market(symbol).ok_or_else(|| ApiError::new(-1121, "Invalid symbol."))?;
    let touch = if side == Side::Buy { m.top.ask } else { m.top.bid };
    if !touch.is_positive() {
        return Err(ApiError::new(-2010, "Market is closed."));
    }
    let raw = i128::from(quote.raw()) * i128::from(Qty::ONE.raw()) / i128::from(touch.raw());
    let qty = Qty::from_raw(i64::try_from(raw).map_err(|_| missing("quoteOrderQty"))?);
    Ok(qty.round_down(m.spec.step()))
}

fn place_result(o: &SimOrder, resp_type: &str, now_ms: u64) -> Value {
    let mut v = json!({"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id, "transactTime": now_ms});
    if resp_type == "ACK" {
        return v;
    }
    if let Some(map) = v.as_object_mut() {
        let full = order_json(o, false);
        for key in [
            "price",
            "origQty",
            "executedQty",
            "origQuoteOrderQty",
            "cummulativeQuoteQty",
            "status",
            "timeInForce",
            "type",
            "side",
            "workingTime",
            "selfTradePreventionMode",
        ] {
            if let Some(x) = full.get(key) {
                map.insert(key.into(), x.clone());
            }
        }
        if resp_type == "FULL" {
            map.insert("fills".into(), Value::Array(o.fills.iter().map(|f| fill_json(f, None)).collect()));
        }
    }
    v
}
