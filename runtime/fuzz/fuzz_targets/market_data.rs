//! Market stream payloads: combined frames, every raw kind, sniffing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odex_runtime::binance::market_data::{MarketEvent, MarketFrame, ServerShutdown, StreamKind};

fuzz_target!(|data: &[u8]| {
    let _ = MarketFrame::decode(data);
    for kind in [
        StreamKind::BookTicker,
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::Kline,
        StreamKind::DepthUpdate,
        StreamKind::PartialDepth,
    ] {
        let _ = MarketEvent::decode(kind, data);
    }
    let _ = MarketEvent::decode_sniffed(data);
    let _ = ServerShutdown::decode(data);
    let _ = StreamKind::from_stream_name(data);
});
