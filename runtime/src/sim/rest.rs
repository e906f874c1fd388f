//! REST endpoints: `/api/v3/ping`, `/time`, `/exchangeInfo`, `/klines`,
//! `/depth`, `/ticker/bookTicker`, and `/sim/ledger`; signed
//! `/api/v3/order` (POST, GET, DELETE), `/api/v3/openOrders` (GET, DELETE)
//! and `/api/v3/account` run the WebSocket API's methods. Every `/api/v3`
//! answer carries `X-MBX-USED-WEIGHT-1M`; over the limit it is 429 with
//! `Retry-After` (seconds) and `{"code":-1003,...}`.

use serde_json::{Map, Value, json};

use super::api::{Failure, Session, dispatch, status_of};
use super::auth::verify;

use super::exchange::SimExchange;
use super::http::{Request, response};
use super::market::dec8;
use super::state::SimState;

fn error(status: u16, code: i32, msg: &str) -> (u16, String) {
    (status, json!({"code": code, "msg": msg}).to_string())
}

fn bad_param(name: &str) -> (u16, String) {
    error(400, -1102, &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
}

fn weight_of(path: &str, req: &Request) -> u32 {
    match path {
        "/api/v3/exchangeInfo" => 20,
        "/api/v3/klines" => 2,
        "/api/v3/depth" => match req.param("limit").and_then(|l| l.parse::<u32>().ok()).unwrap_or(100) {
            0..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        },
        "/api/v3/ticker/bookTicker" => 2,
        _ => 1,
    }
}

/// Answers one REST request: the complete HTTP response bytes.
pub fn handle<E: SimExchange>(state: &mut SimState<E>, req: &Request, now_ms: u64) -> Vec<u8> {
    let close = req.wants_close();
    if req.path == "/sim/ledger" {
        return response(200, &[], &state.ledger().to_string(), close);
    }
    if !req.path.starts_with("/api/v3/") {
        let (s, b) = error(404, -1000, "Not found.");
        return response(s, &[], &b, close);
    }
    if let Some(method) = signed_method(&req.method, &req.path) {
        let weight = match method {
            "account.status" => 20,
            "openOrders.status" => 6,
            _ => 1,
        };
        let used = |state: &mut SimState<E>| state.weight.count(now_ms).to_string();
        if let Err(retry_ms) = state.weight.take(weight, now_ms) {
            let secs = retry_ms.saturating_sub(now_ms).div_ceil(1000).to_string();
            let (s, b) = error(429, -1003, "Too much request weight used.");
            return response(s, &[("X-MBX-USED-WEIGHT-1M", used(state)), ("Retry-After", secs)], &b, close);
        }
        let (status, body) = signed(state, req, method, now_ms);
        return response(status, &[("X-MBX-USED-WEIGHT-1M", used(state))], &body, close);
    }
    if req.method != "GET" {
        let (s, b) = error(405, -1000, "Only GET is served by odex-sim REST; trade over the WebSocket API.");
        return response(s, &[], &b, close);
    }
    let taken = state.weight.take(weight_of(&req.path, req), now_ms);
    let used = state.weight.count(now_ms).to_string();
    if let Err(retry_ms) = taken {
        let secs = retry_ms.saturating_sub(now_ms).div_ceil(1000).to_string();
        let (s, b) = error(
            429,
            -1003,
            &format!(
                "Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                state.weight.limit
            ),
        );
        return response(s, &[("X-MBX-USED-WEIGHT-1M", used), ("Retry-After", secs)], &b, close);
    }
    let (status, body) = route(state, req, now_ms);
    response(status, &[("X-MBX-USED-WEIGHT-1M", used)], &body, close)
}

/// The WebSocket API method a signed REST endpoint maps to.
fn signed_method(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        ("POST", "/api/v3/order") => Some("order.place"),
        ("GET", "/api/v3/order") => Some("order.status"),
        ("DELETE", "/api/v3/order") => Some("order.cancel"),
        ("GET", "/api/v3/openOrders") => Some("openOrders.status"),
        ("DELETE", "/api/v3/openOrders") => Some("openOrders.cancelAll"),
        ("GET", "/api/v3/account") => Some("account.status"),
        _ => None,
    }
}

/// `a=1&signature=..&b=2` without the signature pair.
fn without_signature(text: &str) -> String {
    text.split('&').filter(|p| !p.starts_with("signature=")).collect::<Vec<_>>().join("&")
}

/// A signed REST request: key from `X-MBX-APIKEY`, signature over the
/// query string followed by the body as sent (not sorted), then the same
/// method the WebSocket API runs.
fn signed<E: SimExchange>(state: &mut SimState<E>, req: &Request, method: &str, now_ms: u64) -> (u16, String) {
    let Some(api_key) = req.header("x-mbx-apikey") else { return error(401, -2014, "API-key format invalid.") };
    let Some(idx) = state.config.keys.iter().position(|k| k.api_key == api_key) else {
        return error(401, -2015, "Invalid API-key, IP, or permissions for action.");
    };
    let Ok(form) = req.form() else { return error(400, -1100, "Illegal characters found in a parameter.") };
    let mut params = Map::new();
    for (k, v) in req.query.iter().chain(form.iter()) {
        params.insert(k.clone(), Value::String(v.clone()));
    }
    let Some(Value::String(signature)) = params.remove("signature") else { return bad_param("signature") };
    let payload = format!("{}{}", without_signature(&req.raw_query), without_signature(&req.body));
    let Some(key) = state.config.keys.get(idx) else {
        return error(401, -2015, "Invalid API-key, IP, or permissions for action.");
    };
    if let Err(e) = verify(key, &payload, &signature) {
        return error(400, e.code, &e.msg);
    }
    let mut session = Session { logged_on: Some(idx), ..Session::default() };
    let mut no_subscriptions = 0;
    match dispatch(state, &mut session, method, &params, now_ms, &mut no_subscriptions) {
        Ok(v) => (200, v.to_string()),
        Err(Failure::Api(e)) => error(status_of(e.code), e.code, &e.msg),
        Err(Failure::Limited(e, _)) => error(429, e.code, &e.msg),
    }
}

fn route<E: SimExchange>(state: &mut SimState<E>, req: &Request, now_ms: u64) -> (u16, String) {
    match req.path.as_str() {
        "/api/v3/ping" => (200, "{}".into()),
        "/api/v3/time" => (200, json!({"serverTime": now_ms}).to_string()),
        "/api/v3/exchangeInfo" => {
            let mut symbols: Vec<String> = req.param("symbol").map(|s| vec![s.to_string()]).unwrap_or_default();
            if let Some(list) = req.param("symbols") {
                match serde_json::from_str::<Vec<String>>(list) {
                    Ok(v) => symbols.extend(v),
                    Err(_) => return bad_param("symbols"),
                }
            }
            if symbols.iter().any(|s| state.market(s).is_none()) {
                return error(400, -1121, "Invalid symbol.");
            }
            (200, state.exchange_info(&symbols, now_ms).to_string())
        }
        "/api/v3/klines" => klines(state, req),
        "/api/v3/depth" => {
            let Some(symbol) = req.param("symbol") else { return bad_param("symbol") };
            let Some(m) = state.market(symbol) else { return error(400, -1121, "Invalid symbol.") };
            let limit = match req.param("limit").map(str::parse::<usize>) {
                None => 100,
                Some(Ok(l)) if (1..=5000).contains(&l) => l,
                Some(_) => return bad_param("limit"),
            };
            (200, m.depth_json(limit))
        }
        "/api/v3/ticker/bookTicker" => {
            let Some(symbol) = req.param("symbol") else { return bad_param("symbol") };
            let Some(m) = state.market(symbol) else { return error(400, -1121, "Invalid symbol.") };
            let t = m.top;
            let body = json!({"symbol": symbol, "bidPrice": dec8(t.bid.raw()), "bidQty": dec8(t.bid_qty.raw()), "askPrice": dec8(t.ask.raw()), "askQty": dec8(t.ask_qty.raw())});
            (200, body.to_string())
        }
        _ => error(404, -1000, "Not found."),
    }
}

fn klines<E: SimExchange>(state: &SimState<E>, req: &Request) -> (u16, String) {
    let Some(symbol) = req.param("symbol") else { return bad_param("symbol") };
    let Some(m) = state.market(symbol) else { return error(400, -1121, "Invalid symbol.") };
    let Some(interval) = req.param("interval") else { return bad_param("interval") };
    if interval != state.config.interval {
        return error(400, -1120, "Invalid interval.");
    }
    let int = |name: &str| req.param(name).map(str::parse::<i64>).transpose();
    let (Ok(start), Ok(end), Ok(limit)) = (int("startTime"), int("endTime"), int("limit")) else {
        return bad_param("startTime/endTime/limit");
    };
    let limit = usize::try_from(limit.unwrap_or(500)).unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return bad_param("limit");
    }
    let rows: Vec<_> = m
        .visible_rows()
        .iter()
        .filter(|r| start.is_none_or(|s| r.open_time_ms >= s) && end.is_none_or(|e| r.open_time_ms <= e))
        .collect();
    // with a start, the first `limit` rows from it; otherwise the most recent
    let picked = if start.is_some() {
        rows.iter().take(limit).collect::<Vec<_>>()
    } else {
        rows.iter().skip(rows.len().saturating_sub(limit)).collect()
    };
    let out: Vec<Value> = picked
        .into_iter()
        .map(|r| {
            json!([
                r.open_time_ms,
                dec8(r.open.raw()),
                dec8(r.high.raw()),
                dec8(r.low.raw()),
                dec8(r.close.raw()),
                dec8(r.volume.raw()),
                r.close_time_ms,
                dec8(r.quote_volume.raw()),
                r.count,
                dec8(r.taker_buy_base.raw()),
                dec8(r.taker_buy_quote.raw()),
                "0"
            ])
        })
        .collect();
    (200, Value::Array(out).to_string())
}
