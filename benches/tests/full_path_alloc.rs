//! The whole hot path allocates nothing: 1,000,000 bookTicker frames as
//! bytes -> decode -> engine (features, model, sizing, risk, order manager,
//! journal ring) -> encode + HMAC-sign -> masked websocket frame, under the
//! counting allocator; orders are produced and filled all along.

use odex_benches::tick_path::{self, PathAuth};
use odex_runtime::alloc_count;

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

#[test]
fn a_million_frames_to_signed_orders_allocate_nothing() {
    assert!(alloc_count::is_global(), "the counting allocator must be the global one");
    let r = tick_path::run(1_000_000, PathAuth::Hmac);
    assert!(r.orders > 10_000, "too few orders to prove anything: {}", r.orders);
    assert_eq!(r.allocations, 0, "allocations on the hot path after warm-up");
    assert_eq!(r.all.len(), 1_000_000 - tick_path::WARMUP);
}

#[test]
fn session_authenticated_orders_allocate_nothing_either() {
    assert!(alloc_count::is_global(), "the counting allocator must be the global one");
    let r = tick_path::run(200_000, PathAuth::Session);
    assert!(r.orders > 2_000, "too few orders to prove anything: {}", r.orders);
    assert_eq!(r.allocations, 0, "allocations on the hot path after warm-up");
}
