//! WebSocket API frames: responses with their typed accessors, user data
//! events (iterating balances), serverShutdown.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odex_runtime::binance::ws_api::{ApiFrame, UserEvent};

fuzz_target!(|data: &[u8]| {
    match ApiFrame::decode(data) {
        Ok(ApiFrame::Response(r)) => {
            let _ = r.order_result();
            let _ = r.server_time_ms();
            if let Ok(orders) = r.orders() {
                for o in orders {
                    let _ = o;
                }
            }
        }
        Ok(ApiFrame::Event { event: UserEvent::AccountPosition(p), .. }) => {
            let n = p.balances.iter().filter(Result::is_ok).count();
            assert_eq!(n, p.balances.len(), "decoded balances must iterate cleanly");
        }
        _ => {}
    }
});
