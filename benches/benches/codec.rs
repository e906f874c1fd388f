//! Binance codec benches: decoding a bookTicker into fixed-point types (with
//! a serde_json-into-borrowed-struct baseline measured in the same run),
//! encoding + HMAC-signing an `order.place`, and Ed25519 signing for
//! comparison.
//!
//! Run with `cargo bench -p odex-benches --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_main};
use odex_runtime::binance::market_data::{BookTicker, MarketEvent, MarketFrame};
use odex_runtime::binance::request::{Auth, OrderPlace, Request, RequestEncoder};
use odex_runtime::binance::sign::{Ed25519Signer, HmacSigner, Signer};
use odex_shared::market::{BookTop, Price, Qty, Side};
use serde::Deserialize;

/// A real bookTicker payload from the 2021 capture.
const BOOK: &[u8] =
    br#"{"u":499869768,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35260000","A":"3199.00000000"}"#;
/// The same payload as a combined-stream frame.
const COMBINED: &[u8] = br#"{"stream":"nknusdt@bookTicker","data":{"u":499869768,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35260000","A":"3199.00000000"}}"#;

const SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";

#[derive(Deserialize)]
struct SerdeBook<'a> {
    u: u64,
    #[serde(borrow)]
    s: &'a str,
    b: &'a str,
    #[serde(rename = "B")]
    bq: &'a str,
    a: &'a str,
    #[serde(rename = "A")]
    aq: &'a str,
}

#[derive(Deserialize)]
struct SerdeCombined<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: SerdeBook<'a>,
}

/// The baseline: serde_json into a borrowed struct, then the same four
/// fixed-point parses the scanner does. Returns `None` on any error.
fn serde_book(book: &SerdeBook<'_>) -> Option<(u64, usize, BookTop)> {
    Some((
        book.u,
        book.s.len(),
        BookTop {
            bid: Price::parse(book.b).ok()?,
            bid_qty: Qty::parse(book.bq).ok()?,
            ask: Price::parse(book.a).ok()?,
            ask_qty: Qty::parse(book.aq).ok()?,
        },
    ))
}

fn book_ticker(c: &mut Criterion) {
    let mut g = c.benchmark_group("bookTicker");
    g.throughput(Throughput::Elements(1));
    g.bench_function("scanner raw payload", |b| {
        b.iter(|| BookTicker::decode(black_box(BOOK)).map(|t| (t.update_id, t.top)).ok())
    });
    g.bench_function("serde_json raw payload (baseline)", |b| {
        b.iter(|| serde_json::from_slice::<SerdeBook<'_>>(black_box(BOOK)).ok().and_then(|x| serde_book(&x)))
    });
    g.bench_function("scanner combined frame", |b| {
        b.iter(|| match MarketFrame::decode(black_box(COMBINED)) {
            Ok(MarketFrame::Event { event: MarketEvent::BookTicker(t), stream }) => {
                Some((t.update_id, stream.as_bytes().len(), t.top))
            }
            _ => None,
        })
    });
    g.bench_function("serde_json combined frame (baseline)", |b| {
        b.iter(|| {
            serde_json::from_slice::<SerdeCombined<'_>>(black_box(COMBINED))
                .ok()
                .and_then(|x| serde_book(&x.data).map(|r| (r, x.stream.len())))
        })
    });
    g.finish();
}

fn order_place(c: &mut Criterion) {
    let hmac = Signer::Hmac(HmacSigner::new(SECRET).unwrap_or_else(|e| panic!("{e}")));
    let hmac_keyed = Signer::Hmac(HmacSigner::new(SECRET).unwrap_or_else(|e| panic!("{e}"))).for_api_key(API_KEY);
    let ed = Signer::Ed25519(Ed25519Signer::from_seed(&[7u8; 32]));
    let mut order =
        OrderPlace::limit("BTCUSDT", Side::Sell, Price::from_raw(5_200_000_000_000), Qty::from_raw(1_000_000));
    order.new_client_order_id = Some("odex-1700000000-000042");
    let mut enc = RequestEncoder::new(1024);
    let mut t = 1_700_000_000_000u64;

    let mut g = c.benchmark_group("order.place");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode, session auth (no signature)", |b| {
        b.iter(|| {
            t += 1;
            let auth = Auth::Session { timestamp_ms: t, recv_window_ms: Some(5000) };
            enc.encode(black_box(t), &Request::OrderPlace(black_box(order)), &auth).map(<[u8]>::len).ok()
        })
    });
    g.bench_function("encode + HMAC-SHA256 sign", |b| {
        b.iter(|| {
            t += 1;
            let auth = Auth::Signed { api_key: API_KEY, signer: &hmac, timestamp_ms: t, recv_window_ms: Some(5000) };
            enc.encode(black_box(t), &Request::OrderPlace(black_box(order)), &auth).map(<[u8]>::len).ok()
        })
    });
    g.bench_function("encode + HMAC-SHA256 sign, apiKey block absorbed once (as odex run)", |b| {
        b.iter(|| {
            t += 1;
            let auth =
                Auth::Signed { api_key: API_KEY, signer: &hmac_keyed, timestamp_ms: t, recv_window_ms: Some(5000) };
            enc.encode(black_box(t), &Request::OrderPlace(black_box(order)), &auth).map(<[u8]>::len).ok()
        })
    });
    g.bench_function("encode + Ed25519 sign", |b| {
        b.iter(|| {
            t += 1;
            let auth = Auth::Signed { api_key: API_KEY, signer: &ed, timestamp_ms: t, recv_window_ms: Some(5000) };
            enc.encode(black_box(t), &Request::OrderPlace(black_box(order)), &auth).map(<[u8]>::len).ok()
        })
    });
    g.finish();

    // the signatures alone, over the payload the encoder built
    let auth = Auth::Signed { api_key: API_KEY, signer: &hmac, timestamp_ms: t, recv_window_ms: Some(5000) };
    let _ = enc.encode(1, &Request::OrderPlace(order), &auth);
    let payload = enc.last_payload().to_vec();
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    let mut out = [0u8; 88];
    g.bench_function("HMAC-SHA256 hex (pre-keyed)", |b| b.iter(|| hmac.sign_into(black_box(&payload), &mut out).ok()));
    g.bench_function("Ed25519 base64", |b| b.iter(|| ed.sign_into(black_box(&payload), &mut out).ok()));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(50)
}

/// The fastest of many short batches, in ns per call. On a shared, busy
/// machine a batch that ran without being preempted shows the cost of the
/// code itself; criterion's mean above shows what the machine delivered.
#[allow(clippy::disallowed_methods)] // a bench measures wall time by definition
fn best_batch_ns(batches: u32, per_batch: u32, mut f: impl FnMut() -> usize) -> f64 {
    let mut best = f64::INFINITY;
    let mut sink = 0usize;
    for _ in 0..batches {
        let start = std::time::Instant::now();
        for _ in 0..per_batch {
            sink = sink.wrapping_add(f());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(per_batch));
    }
    black_box(sink);
    best
}

/// Prints best-batch costs and the ratios the README quotes.
fn best_batch_report() {
    let scanner = best_batch_ns(2000, 200, || BookTicker::decode(black_box(BOOK)).map_or(0, |t| t.update_id as usize));
    let serde = best_batch_ns(2000, 200, || {
        serde_json::from_slice::<SerdeBook<'_>>(black_box(BOOK)).ok().and_then(|x| serde_book(&x)).map_or(0, |r| r.1)
    });
    let combined = best_batch_ns(2000, 200, || match MarketFrame::decode(black_box(COMBINED)) {
        Ok(MarketFrame::Event { event: MarketEvent::BookTicker(t), .. }) => t.update_id as usize,
        _ => 0,
    });
    let serde_combined = best_batch_ns(2000, 200, || {
        serde_json::from_slice::<SerdeCombined<'_>>(black_box(COMBINED))
            .ok()
            .and_then(|x| serde_book(&x.data))
            .map_or(0, |r| r.1)
    });
    let hmac = Signer::Hmac(HmacSigner::new(SECRET).unwrap_or_else(|e| panic!("{e}")));
    let hmac_keyed = Signer::Hmac(HmacSigner::new(SECRET).unwrap_or_else(|e| panic!("{e}"))).for_api_key(API_KEY);
    let ed = Signer::Ed25519(Ed25519Signer::from_seed(&[7u8; 32]));
    let mut order =
        OrderPlace::limit("BTCUSDT", Side::Sell, Price::from_raw(5_200_000_000_000), Qty::from_raw(1_000_000));
    order.new_client_order_id = Some("odex-1700000000-000042");
    let mut enc = RequestEncoder::new(1024);
    let mut t = 1_700_000_000_000u64;
    let mut encode_with = |signer: Option<&Signer>, batches: u32, per_batch: u32| {
        best_batch_ns(batches, per_batch, || {
            t += 1;
            let auth = match signer {
                Some(signer) => Auth::Signed { api_key: API_KEY, signer, timestamp_ms: t, recv_window_ms: Some(5000) },
                None => Auth::Session { timestamp_ms: t, recv_window_ms: Some(5000) },
            };
            enc.encode(t, &Request::OrderPlace(black_box(order)), &auth).map_or(0, <[u8]>::len)
        })
    };
    let encode_only = encode_with(None, 2000, 200);
    let encode_hmac = encode_with(Some(&hmac), 2000, 200);
    let encode_hmac_keyed = encode_with(Some(&hmac_keyed), 2000, 200);
    let encode_ed = encode_with(Some(&ed), 100, 20);
    println!("\nbest-batch ns/op (fastest of many short batches; see the module doc):");
    println!(
        "  bookTicker raw payload: scanner {scanner:.0} ns, serde_json {serde:.0} ns, ratio {:.2}",
        scanner / serde
    );
    println!(
        "  bookTicker combined frame: scanner {combined:.0} ns, serde_json {serde_combined:.0} ns, ratio {:.2}",
        combined / serde_combined
    );
    println!("  order.place encode only (session auth): {encode_only:.0} ns");
    println!("  order.place encode + HMAC-SHA256: {encode_hmac:.0} ns");
    println!(
        "  order.place encode + HMAC-SHA256, apiKey block absorbed once (as odex run): {encode_hmac_keyed:.0} ns ({:.0} ns saved)",
        encode_hmac - encode_hmac_keyed
    );
    println!("  order.place encode + Ed25519: {encode_ed:.0} ns ({:.0}x HMAC)", encode_ed / encode_hmac);
}

/// Runs every codec bench (what `criterion_group!` would generate, with a doc).
fn codec() {
    let mut c = config().configure_from_args();
    book_ticker(&mut c);
    order_place(&mut c);
    best_batch_report();
}

criterion_main!(codec);
