//! Request authentication for the WebSocket API: the signature payload,
//! HMAC-SHA256 (hex) and Ed25519 (base64) verification, and the
//! timestamp/recvWindow rule; plus the fixed-window rate limiter.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::config::{ApiKey, KeySecret};
use super::exchange::ApiError;

/// The WebSocket API signature payload: every param but `signature`, sorted
/// by name (byte order), `name=value` joined with `&`, strings raw, numbers
/// and booleans as their JSON text.
pub fn signature_payload(params: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

/// Lowercase hex HMAC-SHA256 of `payload` under `secret`.
pub fn hmac_hex(secret: &[u8], payload: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(payload);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `signature` over `payload` with `key`.
///
/// # Errors
/// -1022 when it does not verify.
pub fn verify(key: &ApiKey, payload: &str, signature: &str) -> Result<(), ApiError> {
    let bad = || ApiError::new(-1022, "Signature for this request is not valid.");
    match &key.secret {
        KeySecret::Hmac(secret) => {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return Err(bad()) };
            mac.update(payload.as_bytes());
            let sig = decode_hex(signature).ok_or_else(bad)?;
            mac.verify_slice(&sig).map_err(|_| bad())
        }
        KeySecret::Ed25519(public) => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|_| bad())?;
            let raw = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| bad())?;
            let sig = ed25519_dalek::Signature::from_slice(&raw).map_err(|_| bad())?;
            vk.verify_strict(payload.as_bytes(), &sig).map_err(|_| bad())
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// Binance's timing rule: `timestamp < server + 1000` and
/// `server - timestamp <= recvWindow` (default 5000, at most 60000).
///
/// # Errors
/// -1021 outside the window, -1131 for a recvWindow above 60000.
pub fn check_time(timestamp: i64, recv_window: Option<i64>, server_ms: i64) -> Result<(), ApiError> {
    let window = recv_window.unwrap_or(5000);
    if !(0..=60_000).contains(&window) {
        return Err(ApiError::new(-1131, "recvWindow must be less than 60000"));
    }
    if timestamp >= server_ms + 1000 {
        return Err(ApiError::new(-1021, "Timestamp for this request was 1000ms ahead of the server's time."));
    }
    if server_ms - timestamp > window {
        return Err(ApiError::new(-1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(())
}

/// A fixed-window counter that resets on the interval boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Window length, ms.
    pub interval_ms: u64,
    /// Most units per window.
    pub limit: u32,
    start_ms: u64,
    count: u32,
}

impl Window {
    /// A window of `interval_ms` admitting `limit` units.
    pub const fn new(interval_ms: u64, limit: u32) -> Self {
        Self { interval_ms, limit, start_ms: 0, count: 0 }
    }

    fn roll(&mut self, now_ms: u64) {
        let start = now_ms - now_ms % self.interval_ms.max(1);
        if start != self.start_ms {
            self.start_ms = start;
            self.count = 0;
        }
    }

    /// Adds `units`; `Err(retry_after_ms_epoch)` when that exceeds the limit
    /// (the units are counted anyway, as Binance does).
    ///
    /// # Errors
    /// The epoch ms at which the window resets.
    pub fn take(&mut self, units: u32, now_ms: u64) -> Result<(), u64> {
        self.roll(now_ms);
        self.count = self.count.saturating_add(units);
        if self.count > self.limit { Err(self.start_ms + self.interval_ms) } else { Ok(()) }
    }

    /// Units used in the current window.
    pub fn count(&mut self, now_ms: u64) -> u32 {
        self.roll(now_ms);
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_vector_verifies() {
        let path = "/work/shared/data/binance/signature-vectors.json";
        let alt = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/binance/signature-vectors.json");
        let text = std::fs::read_to_string(alt).or_else(|_| std::fs::read_to_string(path)).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let case = &v["ws_api_hmac"][0];
        let params = case["request"]["params"].as_object().unwrap();
        let payload = signature_payload(params);
        assert_eq!(payload, case["signature_payload"].as_str().unwrap());
        let key = ApiKey::doc_example();
        let sig = case["expected_signature"].as_str().unwrap();
        assert_eq!(hmac_hex(super::super::config::DOC_EXAMPLE_SECRET.as_bytes(), payload.as_bytes()), sig);
        verify(&key, &payload, sig).unwrap();
        assert_eq!(verify(&key, &payload, &sig.replace('a', "b")).unwrap_err().code, -1022);
        for ed in v["ed25519_rfc8032"].as_array().unwrap() {
            let public: [u8; 32] = decode_hex(ed["public_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
            let msg = decode_hex(ed["message_hex"].as_str().unwrap()).unwrap();
            let sig = base64::engine::general_purpose::STANDARD
                .encode(decode_hex(ed["signature_hex"].as_str().unwrap()).unwrap());
            let key = ApiKey { api_key: "k".into(), secret: KeySecret::Ed25519(public) };
            verify(&key, std::str::from_utf8(&msg).unwrap_or(""), &sig).unwrap_or_else(|e| {
                // the 2-byte vector is not UTF-8; only the first two are checked this way
                assert!(std::str::from_utf8(&msg).is_err(), "{e}");
            });
        }
    }

    #[test]
    fn timing_and_windows() {
        assert!(check_time(1000, None, 1000).is_ok());
        assert_eq!(check_time(2000, None, 1000).unwrap_err().code, -1021);
        assert_eq!(check_time(1000, Some(100), 1200).unwrap_err().code, -1021);
        let mut w = Window::new(60_000, 2);
        assert!(w.take(2, 10).is_ok());
        assert_eq!(w.take(1, 20), Err(60_000));
        assert!(w.take(1, 60_001).is_ok());
    }
}
