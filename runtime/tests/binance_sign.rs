//! Signing requests: every vector of `signature-vectors.json`, every
//! request encoder checked against an independent re-signing of its own
//! frame, key loading from PKCS#8 PEM, and the `odex sign` command.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use ed25519_dalek::Verifier as _;
use odex_runtime::binance::keys::{KeySource, load_signer};
use odex_runtime::binance::request::{
    Auth, OrderPlace, OrderRef, OrderType, Request, RequestEncoder, ResponseType, StpMode, TimeInForce,
};
use odex_runtime::binance::sign::{Ed25519Signer, HmacSigner, SignatureKind, Signer};
use odex_shared::market::{Amount, Price, Qty, Side};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_slice(&common::read_data("binance/signature-vectors.json")).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn seed(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

/// A PKCS#8 v1 PEM document for an Ed25519 seed (RFC 8410).
fn pkcs8_pem(seed: &[u8; 32]) -> String {
    let mut der = hex("302e020100300506032b657004220420");
    der.extend_from_slice(seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odex-sign-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_key(name: &str, body: &str, mode: u32) -> PathBuf {
    let path = temp_dir().join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn every_hmac_vector() {
    let v = vectors();
    let secret = v["hmac_key"]["secretKey"].as_str().unwrap();
    let signer = HmacSigner::new(secret.as_bytes()).unwrap();
    let mut n = 0;
    for case in v["ws_api_hmac"].as_array().unwrap().iter().chain(v["rest_hmac"].as_array().unwrap()) {
        let payload = case["signature_payload"].as_str().unwrap();
        let want = case["expected_signature"].as_str().unwrap();
        assert_eq!(std::str::from_utf8(&signer.sign_hex(payload.as_bytes())).unwrap(), want);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn every_ed25519_vector() {
    let v = vectors();
    let cases = v["ed25519_rfc8032"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let s = seed(case["secret_seed_hex"].as_str().unwrap());
        let msg = hex(case["message_hex"].as_str().unwrap());
        let want = hex(case["signature_hex"].as_str().unwrap());
        let from_seed = Ed25519Signer::from_seed(&s);
        assert_eq!(from_seed.public_key().to_vec(), hex(case["public_hex"].as_str().unwrap()));
        assert_eq!(from_seed.sign_raw(&msg).to_vec(), want);
        // the same key through PKCS#8 PEM, and base64 output
        let from_pem = Ed25519Signer::from_pkcs8_pem(&pkcs8_pem(&s)).unwrap();
        let b64 = from_pem.sign_base64(&msg);
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), want);
    }
}

#[test]
fn order_place_reproduces_the_documented_request() {
    let v = vectors();
    let case = &v["ws_api_hmac"][0];
    let params = &case["request"]["params"];
    let signer = Signer::Hmac(HmacSigner::new(v["hmac_key"]["secretKey"].as_str().unwrap().as_bytes()).unwrap());
    let order = OrderPlace {
        price_decimals: 2,
        qty_decimals: 8,
        ..OrderPlace::limit("BTCUSDT", Side::Sell, Price::parse("52000").unwrap(), Qty::parse("0.01").unwrap())
    };
    let auth = Auth::Signed {
        api_key: params["apiKey"].as_str().unwrap(),
        signer: &signer,
        timestamp_ms: params["timestamp"].as_u64().unwrap(),
        recv_window_ms: Some(100),
    };
    let mut enc = RequestEncoder::new(1024);
    let frame: Value = serde_json::from_slice(enc.encode(1, &Request::OrderPlace(order), &auth).unwrap()).unwrap();
    assert_eq!(std::str::from_utf8(enc.last_payload()).unwrap(), case["signature_payload"].as_str().unwrap());
    assert_eq!(frame["params"], *params);
    assert_eq!(frame["method"], "order.place");
    assert_eq!(frame["id"], 1);
}

/// Rebuilds the signing payload from a frame's JSON params, independently
/// of the encoder: every param but `signature`, sorted, `k=v` joined by `&`.
fn payload_of(frame: &Value) -> String {
    let params = frame["params"].as_object().unwrap();
    let mut keys: Vec<&String> = params.keys().filter(|k| *k != "signature").collect();
    keys.sort();
    keys.iter()
        .map(|k| {
            let v = &params[*k];
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}={text}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn every_request_encodes_and_signs_verifiably() {
    let hmac =
        Signer::Hmac(HmacSigner::new(b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j").unwrap());
    let ed_seed = seed("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let ed = Signer::Ed25519(Ed25519Signer::from_seed(&ed_seed));
    let verifying = ed25519_dalek::SigningKey::from_bytes(&ed_seed).verifying_key();
    let order = OrderPlace {
        time_in_force: None,
        order_type: OrderType::Market,
        price: None,
        quantity: None,
        quote_order_qty: Some(Amount::parse("100.5").unwrap()),
        new_client_order_id: Some("odex-1-42_x"),
        response_type: Some(ResponseType::Full),
        stp_mode: Some(StpMode::ExpireTaker),
        ..OrderPlace::limit("BNBUSDT", Side::Buy, Price::ONE, Qty::ONE)
    };
    let limit = OrderPlace {
        time_in_force: Some(TimeInForce::Ioc),
        ..OrderPlace::limit("BNBUSDT", Side::Sell, Price::parse("25.3519").unwrap(), Qty::parse("0.001").unwrap())
    };
    let by_id = OrderRef { symbol: "BNBUSDT", order_id: Some(12_569_099_453), orig_client_order_id: None };
    let by_client = OrderRef { symbol: "BNBUSDT", order_id: None, orig_client_order_id: Some("odex-1-42") };
    let requests = [
        Request::OrderPlace(order),
        Request::OrderPlace(limit),
        Request::OrderCancel { order: by_id, new_client_order_id: Some("cancel-1") },
        Request::OrderStatus(by_client),
        Request::OpenOrdersStatus { symbol: Some("BNBUSDT") },
        Request::OpenOrdersStatus { symbol: None },
        Request::OpenOrdersCancelAll { symbol: "BNBUSDT" },
        Request::AccountStatus { omit_zero_balances: true },
        Request::SessionLogon,
        Request::UserDataStreamSubscribeSignature,
    ];
    let mut enc = RequestEncoder::new(1024);
    for signer in [&hmac, &ed] {
        for (i, req) in requests.iter().enumerate() {
            let auth =
                Auth::Signed { api_key: "KEY", signer, timestamp_ms: 1_700_000_000_123, recv_window_ms: Some(5000) };
            let bytes = enc.encode(i as u64, req, &auth).unwrap().to_vec();
            let frame: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(frame["method"], req.method());
            assert_eq!(frame["id"], i as u64);
            let payload = payload_of(&frame);
            assert_eq!(payload.as_bytes(), enc.last_payload(), "{}", req.method());
            // params are written in signing order (byte order of names), signature last
            let text = std::str::from_utf8(&bytes).unwrap();
            let sig = frame["params"]["signature"].as_str().unwrap();
            assert!(text.ends_with(&format!(r#","signature":"{sig}"}}}}"#)), "{text}");
            let mut names: Vec<&String> = frame["params"].as_object().unwrap().keys().collect();
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let unsigned: Vec<usize> =
                names.iter().filter(|k| **k != "signature").map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
            assert!(unsigned.windows(2).all(|w| w[0] < w[1]), "{text}");
            match signer {
                Signer::Hmac(h) => assert_eq!(sig.as_bytes(), h.sign_hex(payload.as_bytes())),
                Signer::Ed25519(_) => {
                    let raw = base64::engine::general_purpose::STANDARD.decode(sig).unwrap();
                    let sig = ed25519_dalek::Signature::from_slice(&raw).unwrap();
                    verifying.verify(payload.as_bytes(), &sig).unwrap();
                }
            }
            // decimals are plain: ^[0-9]{1,20}(\.[0-9]{1,20})?$
            for key in ["price", "quantity", "quoteOrderQty", "stopPrice"] {
                if let Some(d) = frame["params"].get(key) {
                    let d = d.as_str().unwrap();
                    let (int, frac) = d.split_once('.').unwrap_or((d, "1"));
                    assert!(int.len() <= 20 && !frac.is_empty() && frac.len() <= 20, "{d}");
                    assert!(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()), "{d}");
                }
            }
        }
    }
    let limit_frame: Value =
        serde_json::from_slice(enc.encode(9, &Request::OrderPlace(limit), &Auth::None).unwrap()).unwrap();
    assert_eq!(limit_frame["params"]["price"], "25.3519");
    assert_eq!(limit_frame["params"]["quantity"], "0.001");
    for public in
        [Request::Time, Request::Ping, Request::ExchangeInfo { symbol: None }, Request::UserDataStreamSubscribe]
    {
        let frame: Value = serde_json::from_slice(enc.encode(3, &public, &Auth::None).unwrap()).unwrap();
        assert_eq!(frame["method"], public.method());
        assert!(frame.get("params").is_none());
    }
}

#[test]
fn signers_load_from_env_and_private_files() {
    let v = vectors();
    let secret = v["hmac_key"]["secretKey"].as_str().unwrap();
    let file = write_key("hmac.key", &format!("{secret}\n"), 0o600);
    let s = load_signer(SignatureKind::Hmac, &KeySource::File(file)).unwrap();
    let mut out = [0u8; 88];
    let n = s.sign_into(v["rest_hmac"][0]["signature_payload"].as_str().unwrap().as_bytes(), &mut out).unwrap();
    assert_eq!(&out[..n], v["rest_hmac"][0]["expected_signature"].as_str().unwrap().as_bytes());
    assert_eq!(format!("{s:?}"), "Hmac(HmacSigner(<redacted>))");

    let pem = pkcs8_pem(&seed(v["ed25519_rfc8032"][1]["secret_seed_hex"].as_str().unwrap()));
    let file = write_key("ed.pem", &pem, 0o400);
    let s = load_signer(SignatureKind::Ed25519, &KeySource::File(file)).unwrap();
    assert_eq!(format!("{s:?}"), "Ed25519(Ed25519Signer(<redacted>))");
    let open = write_key("ed-open.pem", &pem, 0o644);
    let e = load_signer(SignatureKind::Ed25519, &KeySource::File(open.clone())).unwrap_err().to_string();
    assert!(e.contains(&open.display().to_string()) && e.contains("0644"), "{e}");
}

fn odex(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_odex"));
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, val) in env {
        cmd.env(k, val);
    }
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn odex_sign_command() {
    let v = vectors();
    let secret = v["hmac_key"]["secretKey"].as_str().unwrap();
    let case = &v["ws_api_hmac"][0];
    let payload = case["signature_payload"].as_str().unwrap();
    let want = format!("{}\n", case["expected_signature"].as_str().unwrap());

    let env = [("ODEX_TEST_HMAC_SECRET", secret)];
    let (ok, out, err) = odex(&["sign", "--key-env", "ODEX_TEST_HMAC_SECRET", payload], &env, None);
    assert!(ok, "{err}");
    assert_eq!(out, want);
    let (ok, out, _) =
        odex(&["sign", "--kind", "hmac", "--key-env", "ODEX_TEST_HMAC_SECRET"], &env, Some(&format!("{payload}\n")));
    assert!(ok);
    assert_eq!(out, want);

    // Ed25519 from a private PEM file; RFC 8032 test 2 signs the byte 0x72 ('r')
    let ed = &v["ed25519_rfc8032"][1];
    let pem = write_key("cli-ed.pem", &pkcs8_pem(&seed(ed["secret_seed_hex"].as_str().unwrap())), 0o600);
    let (ok, out, err) = odex(&["sign", "--kind", "ed25519", "--key-file", pem.to_str().unwrap(), "r"], &[], None);
    assert!(ok, "{err}");
    let want = base64::engine::general_purpose::STANDARD.encode(hex(ed["signature_hex"].as_str().unwrap()));
    assert_eq!(out.trim_end(), want);

    // a readable key file is refused with its name and mode; the secret never appears
    let open = write_key("cli-open.key", secret, 0o644);
    let (ok, out, err) = odex(&["sign", "--key-file", open.to_str().unwrap(), "x"], &[], None);
    assert!(!ok && out.is_empty());
    assert!(err.contains(open.to_str().unwrap()) && err.contains("0644") && !err.contains(secret), "{err}");
    let (ok, _, err) = odex(&["sign", "--key-env", "ODEX_TEST_SURELY_UNSET", "x"], &[], None);
    assert!(!ok && err.contains("ODEX_TEST_SURELY_UNSET"), "{err}");
    let (ok, out, _) = odex(&["sign", "--help"], &[], None);
    assert!(ok && out.contains("Examples:") && out.contains("--key-env") && out.contains("--key-file"));
}
