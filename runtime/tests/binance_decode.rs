//! Decoding real and synthetic Binance frames: every frame of the recorded
//! 2021 capture (checked field by field against `serde_json` as an
//! independent oracle), today's field set, WebSocket API errors with every
//! code `BINANCE.md` lists, and a seeded byte-mutation run over every
//! decoder that must never panic.

mod common;

use odex_runtime::binance::market_data::{Level, MarketEvent, MarketFrame, StreamKind};
use odex_runtime::binance::ws_api::{ApiFrame, ApiResponse, ErrorCode, ExecutionType, OrderStatus, UserEvent};
use odex_runtime::binance::{
    AggTrade, BookTicker, DecodeErrorKind, DepthUpdate, Kline, PartialDepth, ServerShutdown, Trade,
};
use odex_shared::market::{Amount, Price, Qty, Side};
use serde_json::Value;

fn price(v: &Value) -> Price {
    Price::parse(v.as_str().unwrap()).unwrap()
}

fn qty(v: &Value) -> Qty {
    Qty::parse(v.as_str().unwrap()).unwrap()
}

fn check_levels(got: &odex_runtime::binance::Levels<'_>, want: &Value) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.unwrap(), Level { price: price(&w[0]), qty: qty(&w[1]) });
    }
}

#[test]
fn every_frame_of_the_2021_capture_decodes_exactly() {
    let frames = common::capture_frames();
    assert_eq!(frames.len(), 265);
    let (mut depth, mut book, mut agg, mut kline) = (0, 0, 0, 0);
    for (n, frame) in frames.iter().enumerate() {
        let oracle: Value = serde_json::from_slice(frame).unwrap();
        let d = &oracle["data"];
        let MarketFrame::Event { stream, event } =
            MarketFrame::decode(frame).unwrap_or_else(|e| panic!("frame {n}: {e}"))
        else {
            panic!("frame {n} is not an event")
        };
        assert_eq!(stream.as_str().unwrap(), oracle["stream"].as_str().unwrap());
        match event {
            MarketEvent::DepthUpdate(u) => {
                depth += 1;
                assert_eq!(u.symbol.as_str().unwrap(), d["s"]);
                assert_eq!(u.event_time_ms, d["E"].as_u64().unwrap());
                assert_eq!(u.first_update_id, d["U"].as_u64().unwrap());
                assert_eq!(u.final_update_id, d["u"].as_u64().unwrap());
                check_levels(&u.bids, &d["b"]);
                check_levels(&u.asks, &d["a"]);
            }
            MarketEvent::BookTicker(t) => {
                book += 1;
                assert_eq!(t.symbol.as_str().unwrap(), d["s"]);
                assert_eq!(t.update_id, d["u"].as_u64().unwrap());
                assert_eq!(
                    (t.top.bid, t.top.bid_qty, t.top.ask, t.top.ask_qty),
                    (price(&d["b"]), qty(&d["B"]), price(&d["a"]), qty(&d["A"]))
                );
                // the raw payload decodes the same way
                let raw = serde_json::to_vec(d).unwrap();
                assert_eq!(BookTicker::decode(&raw).unwrap().top, t.top);
            }
            MarketEvent::AggTrade(a) => {
                agg += 1;
                assert_eq!(a.agg_id, d["a"].as_u64().unwrap());
                assert_eq!((a.price, a.qty), (price(&d["p"]), qty(&d["q"])));
                assert_eq!((a.first_trade_id, a.last_trade_id), (d["f"].as_u64().unwrap(), d["l"].as_u64().unwrap()));
                assert_eq!(a.trade_time_ms, d["T"].as_u64().unwrap());
                assert_eq!(a.buyer_is_maker, d["m"].as_bool().unwrap());
            }
            MarketEvent::Kline(k) => {
                kline += 1;
                let kk = &d["k"];
                assert_eq!(k.interval.as_str().unwrap(), "1m");
                assert_eq!(k.open_time_ms, kk["t"].as_i64().unwrap());
                assert_eq!(
                    (k.open, k.high, k.low, k.close),
                    (price(&kk["o"]), price(&kk["h"]), price(&kk["l"]), price(&kk["c"]))
                );
                assert_eq!(k.volume, qty(&kk["v"]));
                assert_eq!(k.trades, kk["n"].as_u64().unwrap());
                assert_eq!(k.quote_volume, Amount::parse(kk["q"].as_str().unwrap()).unwrap());
                assert!(k.bar().is_consistent());
            }
            other => panic!("frame {n}: unexpected {other:?}"),
        }
    }
    assert_eq!((depth, book, agg, kline), (177, 84, 2, 2));
}

#[test]
fn spot_checks_of_known_capture_frames() {
    let frames = common::capture_frames();
    let first = MarketFrame::decode(&frames[0]).unwrap();
    let MarketFrame::Event { event: MarketEvent::DepthUpdate(u), .. } = first else { panic!("{first:?}") };
    assert!(u.symbol.eq_str("NKNUSDT"));
    assert_eq!((u.first_update_id, u.final_update_id, u.event_time_ms), (499_869_750, 499_869_752, 1_633_998_512_068));
    let bids: Vec<Level> = u.bids.iter().map(Result::unwrap).collect();
    assert_eq!(bids[0], Level { price: Price::from_raw(35_130_000), qty: Qty::from_raw(619_500_000_000) });
    assert_eq!(bids.len(), 3);
    assert!(u.asks.is_empty());

    let book = frames.iter().find(|f| f.windows(10).any(|w| w == b"bookTicker")).unwrap();
    let MarketFrame::Event { event: MarketEvent::BookTicker(t), .. } = MarketFrame::decode(book).unwrap() else {
        panic!()
    };
    assert_eq!(t.update_id, 499_869_768);
    assert_eq!(t.top.bid.to_string(), "0.3521");
    assert_eq!(t.top.bid_qty.to_string(), "672");
    assert_eq!(t.top.ask.to_string(), "0.3526");
    assert_eq!(t.top.ask_qty.to_string(), "3199");

    let agg = frames.iter().find(|f| f.windows(8).any(|w| w == b"aggTrade")).unwrap();
    let MarketFrame::Event { event: MarketEvent::AggTrade(a), .. } = MarketFrame::decode(agg).unwrap() else {
        panic!()
    };
    assert_eq!((a.agg_id, a.first_trade_id, a.trade_time_ms), (15_683_430, 19_862_790, 1_633_998_523_963));
    assert_eq!((a.price.to_string(), a.qty.to_string(), a.buyer_is_maker), ("0.3528".into(), "58".into(), false));

    let kl = frames.iter().find(|f| f.windows(5).any(|w| w == b"kline")).unwrap();
    let MarketFrame::Event { event: MarketEvent::Kline(k), .. } = MarketFrame::decode(kl).unwrap() else { panic!() };
    assert_eq!((k.first_trade_id, k.last_trade_id, k.trades, k.closed), (19_862_761, 19_862_790, 30, false));
    assert_eq!(k.low.to_string(), "0.3522");
    assert_eq!(k.quote_volume.to_string(), "9116.046");
    assert_eq!(k.taker_buy_quote_volume.to_string(), "20.4624");
}

#[test]
fn todays_payloads_decode() {
    // trade without the order ids removed in 2024, with the newer fields
    let t = Trade::decode(br#"{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":3000000000,"p":"37000.01000000","q":"0.00100000","T":1700000000000,"m":false,"M":true}"#).unwrap();
    assert_eq!((t.trade_id, t.buyer_order_id), (3_000_000_000, None));
    // futures-style bookTicker with event fields is accepted too
    let b = BookTicker::decode(br#"{"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#).unwrap();
    assert_eq!(b.top.ask_qty.to_string(), "40.66");
    let k = Kline::decode(br#"{"e":"kline","E":1672515782136,"s":"BNBBTC","k":{"t":1672515780000,"T":1672515839999,"s":"BNBBTC","i":"1m","f":-1,"L":-1,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":0,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#).unwrap();
    assert_eq!((k.first_trade_id, k.trades), (-1, 0));
    let a = AggTrade::decode(br#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#).unwrap();
    assert_eq!(a.last_trade_id, 105);
    let d = DepthUpdate::decode(br#"{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#).unwrap();
    assert_eq!(d.asks.iter().next().unwrap().unwrap().qty.to_string(), "100");
    let p =
        PartialDepth::decode(br#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#).unwrap();
    assert_eq!(p.bids.len(), 1);
    let s = ServerShutdown::decode(br#"{"e":"serverShutdown","E":1720000000000}"#).unwrap();
    assert_eq!(s.event_time_ms, Some(1_720_000_000_000));
    let combined = br#"{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":160,"bids":[],"asks":[]}}"#;
    assert!(matches!(
        MarketFrame::decode(combined).unwrap(),
        MarketFrame::Event { event: MarketEvent::PartialDepth(_), .. }
    ));
}

#[test]
fn error_responses_with_every_documented_code() {
    let cases: [(i32, u16, &str, ErrorCode); 13] = [
        (
            -1003,
            429,
            "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
            ErrorCode::TooManyRequests,
        ),
        (-1013, 400, "Filter failure: LOT_SIZE", ErrorCode::FilterFailure),
        (-1015, 429, "Too many new orders; current limit is 50 orders per 10 SECOND.", ErrorCode::TooManyOrders),
        (-1021, 400, "Timestamp for this request is outside of the recvWindow.", ErrorCode::TimestampOutsideWindow),
        (-1022, 400, "Signature for this request is not valid.", ErrorCode::InvalidSignature),
        (-1100, 400, "Illegal characters found in parameter 'newClientOrderId'.", ErrorCode::IllegalChars),
        (
            -1102,
            400,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            ErrorCode::MandatoryParamMissing,
        ),
        (-1111, 400, "Parameter 'price' has too much precision.", ErrorCode::BadPrecision),
        (-1121, 400, "Invalid symbol.", ErrorCode::BadSymbol),
        (-2010, 400, "Account has insufficient balance for requested action.", ErrorCode::NewOrderRejected),
        (-2011, 400, "Unknown order sent.", ErrorCode::CancelRejected),
        (-2013, 400, "Order does not exist.", ErrorCode::NoSuchOrder),
        (-2015, 401, "Invalid API-key, IP, or permissions for action.", ErrorCode::RejectedApiKey),
    ];
    for (code, status, msg, kind) in cases {
        let retry = if status == 429 { r#","data":{"retryAfter":1659526850000}"# } else { "" };
        let frame = format!(
            r#"{{"id":42,"status":{status},"error":{{"code":{code},"msg":"{msg}"{retry}}},"rateLimits":[{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":70}}]}}"#
        );
        let r = ApiResponse::decode(frame.as_bytes()).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!((r.int_id(), r.status, r.is_ok()), (Some(42), status, false));
        let e = r.error.unwrap();
        assert_eq!((e.code, e.kind(), e.msg.as_str().unwrap()), (code, Some(kind), msg));
        assert_eq!(e.retry_after_ms, (status == 429).then_some(1_659_526_850_000));
        assert_eq!(r.rate_limits[0].count, 70);
    }
    // 418 ban with retryAfter, and an unknown code still decodes
    let r = ApiResponse::decode(br#"{"id":null,"status":418,"error":{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659527999999.","data":{"serverTime":1659527000000,"retryAfter":1659527999999}}}"#).unwrap();
    assert_eq!(r.error.unwrap().retry_after_ms, Some(1_659_527_999_999));
    let r = ApiResponse::decode(
        br#"{"id":1,"status":503,"error":{"code":-1007,"msg":"Timeout waiting for response from backend server."}}"#,
    )
    .unwrap();
    assert!(r.outcome_unknown() && r.error.unwrap().kind().is_none());
}

#[test]
fn execution_report_all_fields() {
    let f = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":4293153,"l":"0.50000000","z":"0.50000000","L":"0.10264410","n":"0.00050000","N":"ETH","T":1499405658657,"t":718,"I":8641984,"w":false,"m":true,"M":false,"O":1499405658657,"Z":"0.05132205","Y":"0.05132205","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#;
    let ApiFrame::Event { subscription_id, event: UserEvent::ExecutionReport(r) } = ApiFrame::decode(f).unwrap() else {
        panic!()
    };
    assert_eq!(subscription_id, Some(0));
    assert!(r.symbol.eq_str("ETHBTC") && r.client_order_id.eq_str("mUvoqJxFIILMdfAW5iGSOW"));
    assert_eq!(
        (r.side, r.execution_type, r.order_status),
        (Side::Buy, ExecutionType::Trade, OrderStatus::PartiallyFilled)
    );
    assert_eq!(r.orig_client_order_id, None);
    assert_eq!((r.qty.to_string(), r.price.to_string()), ("1".into(), "0.1026441".into()));
    assert_eq!((r.last_qty.to_string(), r.cumulative_qty.to_string()), ("0.5".into(), "0.5".into()));
    assert_eq!((r.last_price.to_string(), r.commission.to_string()), ("0.1026441".into(), "0.0005".into()));
    assert_eq!(r.commission_asset.unwrap().as_str(), Some("ETH"));
    assert_eq!((r.order_id, r.trade_id, r.transaction_time_ms), (4_293_153, Some(718), 1_499_405_658_657));
    assert!(
        r.is_maker && r.reject_reason.eq_str("NONE") && r.order_type.eq_str("LIMIT") && r.time_in_force.eq_str("GTC")
    );
    assert_eq!(r.cumulative_quote_qty.to_string(), "0.05132205");
    // a NEW report has no trade and a null commission asset
    let f = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"ETHBTC","c":"a","S":"SELL","o":"LIMIT","f":"GTC","q":"1","p":"2","x":"NEW","X":"NEW","r":"NONE","i":1,"l":"0","z":"0","L":"0","n":"0","N":null,"T":1,"t":-1,"m":false,"Z":"0"}}"#;
    let ApiFrame::Event { event: UserEvent::ExecutionReport(r), .. } = ApiFrame::decode(f).unwrap() else { panic!() };
    assert_eq!((r.trade_id, r.commission_asset, r.side), (None, None, Side::Sell));
    // the event type must come first; a missing field is named
    let f = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1}}"#;
    let e = ApiFrame::decode(f).unwrap_err();
    assert_eq!((e.kind, e.field), (DecodeErrorKind::MissingField, Some("s")));
}

/// A small xorshift generator: fixed seed, reproducible runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"{}[]\",:\\-0123456789.eEtrufalsn \x00\xff";

fn mutate(rng: &mut Rng, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(input);
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        let byte = if rng.below(2) == 0 { INTERESTING[rng.below(INTERESTING.len())] } else { rng.next() as u8 };
        match rng.below(6) {
            0 if at < out.len() => out[at] = byte,
            1 => out.insert(at, byte),
            2 if at < out.len() => {
                out.remove(at);
            }
            3 => out.truncate(at),
            4 if at < out.len() => {
                // duplicate a span (nesting, repeated keys)
                let end = (at + rng.below(16)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            _ => out.reverse(),
        }
    }
}

/// Runs every decoder on `bytes`; returns how many accepted it. Must not panic.
fn decode_everything(bytes: &[u8]) -> usize {
    let mut ok = 0;
    if let Ok(f) = MarketFrame::decode(bytes) {
        ok += 1;
        if let MarketFrame::Event { event: MarketEvent::DepthUpdate(u), .. } = f {
            ok += u.bids.iter().chain(u.asks.iter()).filter(Result::is_ok).count();
        }
    }
    for kind in [
        StreamKind::BookTicker,
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::Kline,
        StreamKind::DepthUpdate,
        StreamKind::PartialDepth,
    ] {
        ok += usize::from(MarketEvent::decode(kind, bytes).is_ok());
    }
    ok += usize::from(MarketEvent::decode_sniffed(bytes).is_ok());
    ok += usize::from(ServerShutdown::decode(bytes).is_ok());
    if let Ok(frame) = ApiFrame::decode(bytes) {
        ok += 1;
        match frame {
            ApiFrame::Response(r) => {
                ok += usize::from(r.order_result().is_ok());
                ok += usize::from(r.server_time_ms().is_ok());
                if let Ok(orders) = r.orders() {
                    ok += orders.filter(Result::is_ok).count();
                }
            }
            ApiFrame::Event { event: UserEvent::AccountPosition(p), .. } => {
                ok += p.balances.iter().filter(Result::is_ok).count();
            }
            _ => {}
        }
    }
    ok
}

fn api_corpus() -> Vec<Vec<u8>> {
    [
        &br#"{"id":7,"status":200,"result":{"symbol":"BTCUSDT","orderId":12569099453,"orderListId":-1,"clientOrderId":"4d96","transactTime":1660801715639,"price":"23416.10000000","origQty":"0.00847000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000","status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"SELL","fills":[{"price":"1","qty":"2"}]},"rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":1}]}"#[..],
        br#"{"id":"x","status":429,"error":{"code":-1003,"msg":"m","data":{"retryAfter":1659526850000}}}"#,
        br#"{"id":3,"status":200,"result":[{"symbol":"A","orderId":1,"clientOrderId":"x"}]}"#,
        br#"{"id":null,"status":200,"result":{"serverTime":1656400526260}}"#,
        br#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1,"u":2,"B":[{"a":"ETH","f":"1.0","l":"0"}]}}"#,
        br#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1,"a":"BTC","d":"-1.5","T":2}}"#,
        br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"ETHBTC","c":"a","S":"SELL","o":"LIMIT","f":"GTC","q":"1","p":"2","x":"NEW","X":"NEW","r":"NONE","i":1,"l":"0","z":"0","L":"0","n":"0","N":null,"T":1,"t":-1,"m":false,"Z":"0"}}"#,
        br#"{"e":"serverShutdown","E":1}"#,
        br#"{"result":null,"id":1}"#,
        br#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#,
        br#"{"e":"trade","E":1,"s":"B","t":3,"p":"1","q":"2","b":1,"a":2,"T":1,"m":false,"M":true}"#,
    ]
    .iter()
    .map(|f| f.to_vec())
    .collect()
}

#[test]
fn seeded_byte_mutations_never_panic() {
    let mut corpus = common::capture_frames();
    corpus.extend(api_corpus());
    // every corpus frame is accepted by at least one decoder
    for f in &corpus {
        assert!(decode_everything(f) > 0, "{}", String::from_utf8_lossy(f));
    }
    let mut rng = Rng(0x5eed_0dec_0de5_1234);
    let mut buf = Vec::new();
    let mut accepted = 0usize;
    // bounded: about a second in the dev profile
    for i in 0..60_000usize {
        let input = &corpus[i % corpus.len()];
        mutate(&mut rng, input, &mut buf);
        accepted += decode_everything(&buf);
    }
    // random bytes too
    for _ in 0..20_000 {
        let len = rng.below(200);
        buf.clear();
        buf.extend((0..len).map(|_| INTERESTING[rng.below(INTERESTING.len())]));
        accepted += decode_everything(&buf);
    }
    assert!(accepted > 0);
}

mod props {
    use super::decode_everything;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            decode_everything(&bytes);
        }

        #[test]
        fn jsonish_bytes_never_panic(bytes in proptest::collection::vec(proptest::sample::select(super::INTERESTING.to_vec()), 0..300)) {
            decode_everything(&bytes);
        }
    }
}
