//! The `Venue` seam: where the engine's order intents go.
//!
//! The live implementation (encode, sign, WebSocket send) belongs to the
//! codec and network layers, the simulated one to the venue model;
//! [`RecordingVenue`] here records intents into preallocated storage for
//! tests and tools.

use crate::order::{ClientOrderId, OrderRequest, SymbolId};

/// Where order intents are sent.
///
/// Rules for implementors:
/// - Called on the hot path: do not allocate, block or panic. Encode into
///   buffers sized at start-up; a send that would block is queued in them.
/// - Never report results by calling back into the engine. Results arrive
///   later through the event loop: `Engine::on_execution` (executionReports
///   and `order.place` responses turned into reports), `on_request_failed`
///   (4xx refusals, and 5xx or timeouts, which mean "outcome unknown"),
///   `on_order_status` (`order.status` answers) and `on_rate_limits`.
/// - Send exactly what is given: the client order id is the idempotency
///   key, so a retry must reuse it, never invent a new one.
/// - Every call is made after the engine's risk and rate checks passed;
///   a venue must not drop an intent silently (fail it through
///   `on_request_failed` instead).
pub trait Venue {
    /// Sends `order.place`.
    fn place(&mut self, req: &OrderRequest);
    /// Sends `order.cancel` for one order.
    fn cancel(&mut self, symbol: SymbolId, client_id: &ClientOrderId);
    /// Sends `order.status` for one order.
    fn query(&mut self, symbol: SymbolId, client_id: &ClientOrderId);
}

/// An intent a [`RecordingVenue`] received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// `order.place`.
    Place(OrderRequest),
    /// `order.cancel`.
    Cancel(SymbolId, ClientOrderId),
    /// `order.status`.
    Query(SymbolId, ClientOrderId),
}

/// A venue that records intents in a buffer allocated once.
#[derive(Debug, Clone)]
pub struct RecordingVenue {
    sent: Vec<Sent>,
    cap: usize,
    overflow: u64,
    places: u64,
    cancels: u64,
    queries: u64,
}

impl RecordingVenue {
    /// Room for `capacity` intents between drains.
    pub fn new(capacity: usize) -> Self {
        Self { sent: Vec::with_capacity(capacity), cap: capacity, overflow: 0, places: 0, cancels: 0, queries: 0 }
    }

    fn record(&mut self, s: Sent) {
        if self.sent.len() < self.cap {
            self.sent.push(s);
        } else {
            self.overflow += 1;
        }
    }

    /// Intents recorded since the last drain.
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }

    /// Takes the recorded intents one by one (keeps the buffer's capacity).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Sent> {
        self.sent.drain(..)
    }

    /// Intents lost because the buffer was full.
    pub const fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Totals: places, cancels, queries.
    pub const fn totals(&self) -> (u64, u64, u64) {
        (self.places, self.cancels, self.queries)
    }
}

impl Venue for RecordingVenue {
    fn place(&mut self, req: &OrderRequest) {
        self.places += 1;
        self.record(Sent::Place(*req));
    }

    fn cancel(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        self.cancels += 1;
        self.record(Sent::Cancel(symbol, *client_id));
    }

    fn query(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        self.queries += 1;
        self.record(Sent::Query(symbol, *client_id));
    }
}
