//! The network transport: one `mio` event loop, rustls TLS, websocket
//! framing over preallocated buffers, timers, reconnects and rotation.
//!
//! - [`Timers`]: a fixed-capacity deadline queue.
//! - [`Backoff`]: jittered exponential reconnect delays from a [`SeededRng`].
//! - [`ClockSync`] estimates the server clock offset from `time` round trips.

mod backoff;
mod clock_sync;
mod rng;
mod timer;

pub use backoff::Backoff;
pub use clock_sync::{ClockOffset, ClockSync, TimeSample};
pub use rng::SeededRng;
pub use timer::{TimerId, Timers};
