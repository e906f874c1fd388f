//! The baseline client, written the way most people would: `#[tokio::main]`
//! style multi-threaded runtime, tokio-tungstenite streams, serde_json into
//! owned structs (`String` fields), decimals parsed with `str::parse`, the
//! same model through `odex_shared`'s predictor, and on every tick (the
//! probe's decision: one order per tick) an `order.place` signed the usual
//! way: the sorted query string built with `format!`, HMAC-SHA256 with the
//! `hmac`/`sha2` crates, hex-encoded, the request built as a
//! `serde_json::Value` and sent as a text message. Answers are read on
//! their own task and parsed into `serde_json::Value`.

use std::path::Path;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use odex_runtime::clock::{Clock, SystemClock};
use odex_runtime::sim::config::{DOC_EXAMPLE_API_KEY, DOC_EXAMPLE_SECRET};
use odex_shared::features::Observation;
use odex_shared::predictor::Predictor;
use serde::Deserialize;
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

/// The probe's target when flat (as `odex run --latency-probe`).
const PROBE_FRACTION: f64 = 0.05;
/// The account equity the order size is computed from (the harness's config).
const EQUITY: f64 = 10_000.0;

/// A combined-stream message.
#[derive(Debug, Deserialize)]
struct Combined {
    #[allow(dead_code)]
    stream: String,
    data: BookTicker,
}

/// A bookTicker payload.
#[derive(Debug, Deserialize)]
struct BookTicker {
    #[allow(dead_code)]
    u: u64,
    s: String,
    b: String,
    #[serde(rename = "B")]
    bid_qty: String,
    a: String,
    #[serde(rename = "A")]
    ask_qty: String,
}

/// Runs the baseline against odex-sim on `port` until the connection ends.
///
/// # Errors
/// Model, connection or protocol failures.
pub fn run(port: u16, model: &Path) -> Result<()> {
    let bytes = std::fs::read(model).with_context(|| format!("model {}", model.display()))?;
    let file = odex_shared::model_file::decode(&bytes).map_err(|e| anyhow::anyhow!("model: {e:?}"))?;
    let predictor = Predictor::new(&file).map_err(|e| anyhow::anyhow!("model: {e:?}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(client(port, predictor))
}

async fn client(port: u16, mut predictor: Predictor) -> Result<()> {
    let (market, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/stream?streams=ethusdt@bookTicker")).await?;
    let (api, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws-api/v3")).await?;
    let (mut api_tx, mut api_rx) = api.split();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = api_rx.next().await {
            if let Message::Text(text) = msg {
                let _answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            }
        }
    });
    let clock = SystemClock::new();
    let (_, mut market_rx) = market.split();
    let mut n: u64 = 0;
    while let Some(msg) = market_rx.next().await {
        let text = match msg? {
            Message::Text(t) => t.to_string(),
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(tick) = serde_json::from_str::<Combined>(&text) else { continue };
        let t = tick.data;
        let bid: f64 = t.b.parse()?;
        let ask: f64 = t.a.parse()?;
        let mid = (bid + ask) / 2.0;
        let obs = Observation { price: mid, bid_qty: t.bid_qty.parse()?, ask_qty: t.ask_qty.parse()? };
        predictor.observe(&obs);
        let _model_target = predictor.target_fraction();
        // probe decision: flat (every order expires), so buy the probe fraction
        let qty = (PROBE_FRACTION * EQUITY / mid * 10_000.0).floor() / 10_000.0;
        n += 1;
        let request = order_place(&t.s, &t.a, qty, n, clock.wall().as_millis());
        api_tx.send(Message::Text(request.into())).await?;
    }
    Ok(())
}

/// A signed `order.place` request: IOC limit buy at `price`.
fn order_place(symbol: &str, price: &str, qty: f64, n: u64, timestamp: u64) -> String {
    let client_id = format!("base{n}");
    let quantity = format!("{qty:.4}");
    let mut params = vec![
        ("apiKey".to_string(), DOC_EXAMPLE_API_KEY.to_string()),
        ("newClientOrderId".to_string(), client_id.clone()),
        ("price".to_string(), price.to_string()),
        ("quantity".to_string(), quantity.clone()),
        ("side".to_string(), "BUY".to_string()),
        ("symbol".to_string(), symbol.to_string()),
        ("timeInForce".to_string(), "IOC".to_string()),
        ("timestamp".to_string(), timestamp.to_string()),
        ("type".to_string(), "LIMIT".to_string()),
    ];
    params.sort();
    let query = params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let signature = match Hmac::<Sha256>::new_from_slice(DOC_EXAMPLE_SECRET.as_bytes()) {
        Ok(mut mac) => {
            mac.update(query.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    serde_json::json!({
        "id": format!("req-{n}"),
        "method": "order.place",
        "params": {
            "apiKey": DOC_EXAMPLE_API_KEY,
            "newClientOrderId": client_id,
            "price": price,
            "quantity": quantity,
            "side": "BUY",
            "symbol": symbol,
            "timeInForce": "IOC",
            "timestamp": timestamp,
            "type": "LIMIT",
            "signature": signature,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_venue_rule() {
        let text = order_place("ETHUSDT", "2000.01000000", 0.25, 7, 1_700_000_000_000);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let params = v["params"].as_object().unwrap();
        let payload = odex_runtime::sim::auth::signature_payload(params);
        let expect = odex_runtime::sim::auth::hmac_hex(DOC_EXAMPLE_SECRET.as_bytes(), payload.as_bytes());
        assert_eq!(params["signature"], expect.as_str());
    }
}
