//! Depth messages: decoding and then iterating every level.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odex_runtime::binance::market_data::{DepthUpdate, MarketEvent, MarketFrame, PartialDepth};

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = DepthUpdate::decode(data) {
        let n = d.bids.iter().chain(d.asks.iter()).filter(Result::is_ok).count();
        assert_eq!(n, d.bids.len() + d.asks.len(), "a decoded depth update must iterate cleanly");
    }
    if let Ok(p) = PartialDepth::decode(data) {
        let n = p.bids.iter().chain(p.asks.iter()).filter(Result::is_ok).count();
        assert_eq!(n, p.bids.len() + p.asks.len(), "a decoded partial depth must iterate cleanly");
    }
    if let Ok(MarketFrame::Event { event: MarketEvent::DepthUpdate(d), .. }) = MarketFrame::decode(data) {
        for level in d.bids.iter().chain(d.asks.iter()) {
            assert!(level.is_ok());
        }
    }
});
