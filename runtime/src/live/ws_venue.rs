//! [`WsApiVenue`]: the live [`Venue`]: order intents encoded and signed as
//! WebSocket API requests into a preallocated outbox, which the event loop
//! writes after the journal (write-ahead: an order on the wire is always
//! on disk first).
//!
//! Each request gets an integer id; the id names a slot of a fixed table
//! that remembers what was asked, so a response (`4xx` refused, `5xx`
//! outcome unknown, `order.status` answer) goes back to the engine for the
//! right order. Nothing here allocates after [`WsApiVenue::new`].

use odex_shared::market::Nanos;

use crate::binance::request::{
    self, Auth, EncodeError, OrderPlace, OrderRef, Request, ResponseType, TimeInForce as WireTif,
};
use crate::binance::sign::Signer;
use crate::clock::{Clock, SystemClock};
use crate::engine::{RequestKind, Venue};
use crate::order::{ClientOrderId, OrderRequest, OrderType, SymbolId, TimeInForce};

use super::wire::SymbolTable;

/// Ids below this are the runner's own requests (start-up, time sync).
pub const ORDER_ID_BASE: u64 = 1 << 32;

/// Largest encoded request.
pub const MAX_FRAME: usize = 1024;

/// How requests are authenticated.
#[derive(Debug)]
pub enum Credentials {
    /// Every private request carries `apiKey` and a signature (HMAC keys;
    /// Ed25519 keys before `session.logon`).
    Signed {
        /// API key.
        api_key: String,
        /// The signer (boxed: an Ed25519 key is large).
        signer: Box<Signer>,
    },
    /// No credentials: public requests only (paper mode).
    None,
}

/// What a request id stood for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// An order request of the engine's.
    Order {
        /// Which request.
        kind: RequestKind,
        /// Symbol.
        symbol: SymbolId,
        /// The order.
        client_id: ClientOrderId,
    },
    /// A runner request, with the runner's tag.
    Control(u32),
}

/// Encoded frames waiting to be written, in one buffer allocated once.
#[derive(Debug)]
pub struct Outbox {
    data: Box<[u8]>,
    used: usize,
    ends: Vec<usize>,
    /// Monotonic time the oldest waiting frame was queued.
    first_queued: Option<Nanos>,
}

impl Outbox {
    /// Room for `frames` frames of up to [`MAX_FRAME`] bytes.
    pub fn new(frames: usize) -> Self {
        Self {
            data: vec![0; frames.max(1) * MAX_FRAME].into_boxed_slice(),
            used: 0,
            ends: Vec::with_capacity(frames.max(1)),
            first_queued: None,
        }
    }

    /// Writes one frame with `f`, which gets the free space and returns
    /// the length written; `false` when the outbox is full or `f` fails.
    fn push(&mut self, now: Nanos, f: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        if self.ends.len() == self.ends.capacity() {
            return false;
        }
        let Some(free) = self.data.get_mut(self.used..) else { return false };
        match f(free) {
            Some(n) if n <= free.len() => {
                self.used += n;
                self.ends.push(self.used);
                self.first_queued.get_or_insert(now);
                true
            }
            _ => false,
        }
    }

    /// Frames waiting, oldest first.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let f = self.data.get(start..end).unwrap_or_default();
            start = end;
            f
        })
    }

    /// Number of frames waiting.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// When the oldest waiting frame was queued.
    pub const fn first_queued(&self) -> Option<Nanos> {
        self.first_queued
    }

    /// Forgets every frame (after they were written).
    pub fn clear(&mut self) {
        self.used = 0;
        self.ends.clear();
        self.first_queued = None;
    }
}

/// The live venue: Binance WebSocket API requests.
#[derive(Debug)]
pub struct WsApiVenue {
    symbols: SymbolTable,
    credentials: Credentials,
    /// Private requests use `session.logon`'s session instead of a signature.
    session: bool,
    clock: SystemClock,
    /// Exchange clock minus local wall clock.
    offset_ns: i64,
    recv_window_ms: Option<u32>,
    next_id: u64,
    pending: Box<[Option<(u64, Pending)>]>,
    outbox: Outbox,
    payload: Box<[u8]>,
    /// Intents that could not be encoded or queued; the runner fails them
    /// back into the engine (a venue never drops an intent silently).
    failed: heapless::Vec<Pending, 64>,
    failed_overflow: u64,
    overwritten: u64,
}

impl WsApiVenue {
    /// A venue for `symbols` with room for `outbox_frames` frames between
    /// writes and `pending_slots` requests in flight.
    pub fn new(symbols: SymbolTable, credentials: Credentials, outbox_frames: usize, pending_slots: usize) -> Self {
        Self {
            symbols,
            credentials,
            session: false,
            clock: SystemClock::new(),
            offset_ns: 0,
            recv_window_ms: Some(5000),
            next_id: ORDER_ID_BASE,
            pending: vec![None; pending_slots.max(16)].into_boxed_slice(),
            outbox: Outbox::new(outbox_frames),
            payload: vec![0; MAX_FRAME].into_boxed_slice(),
            failed: heapless::Vec::new(),
            failed_overflow: 0,
            overwritten: 0,
        }
    }

    /// Private requests from now on rely on the logged-on session.
    pub fn set_session(&mut self, on: bool) {
        self.session = on;
    }

    /// True once `session.logon` succeeded.
    pub const fn session(&self) -> bool {
        self.session
    }

    /// Sets the exchange-minus-local clock offset used for `timestamp`.
    pub fn set_clock_offset(&mut self, offset_ns: i64) {
        self.offset_ns = offset_ns;
    }

    /// The symbol table.
    pub const fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The frames waiting to be written.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// What a response id stood for (the slot is freed).
    pub fn take_pending(&mut self, id: u64) -> Option<Pending> {
        let n = self.pending.len() as u64;
        let slot = self.pending.get_mut(usize::try_from(id % n).ok()?)?;
        match *slot {
            Some((sid, p)) if sid == id => {
                *slot = None;
                Some(p)
            }
            _ => None,
        }
    }

    /// The next intent that could not be sent.
    pub fn pop_failed(&mut self) -> Option<Pending> {
        self.failed.pop()
    }

    /// Requests forgotten because their slot was reused before an answer.
    pub const fn overwritten(&self) -> u64 {
        self.overwritten
    }

    fn timestamp_ms(&self) -> u64 {
        // in 64 bits: the wall clock in ns fits until 2554, and a division
        // by a constant 64-bit value is a multiply, a 128-bit one a call
        self.clock.wall().0.saturating_add_signed(self.offset_ns) / 1_000_000
    }

    /// Encodes `req` as request `id` into the outbox; `Err` when it does
    /// not fit or cannot be signed.
    fn encode(&mut self, id: u64, req: &Request<'_>, tag: Pending) -> Result<(), EncodeError> {
        let timestamp_ms = self.timestamp_ms();
        let recv_window_ms = self.recv_window_ms;
        let auth = match (&self.credentials, self.session) {
            (Credentials::None, _) => Auth::None,
            (Credentials::Signed { .. }, true) if !matches!(req, Request::SessionLogon) => {
                Auth::Session { timestamp_ms, recv_window_ms }
            }
            (Credentials::Signed { api_key, signer }, _) => {
                Auth::Signed { api_key, signer, timestamp_ms, recv_window_ms }
            }
        };
        let payload = &mut self.payload;
        let mut err = None;
        let now = self.clock.monotonic();
        let queued = self.outbox.push(now, |buf| match request::encode_into(buf, payload, id, req, &auth) {
            Ok(n) => Some(n.frame_len),
            Err(e) => {
                err = Some(e);
                None
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if !queued {
            return Err(EncodeError::BufferTooSmall);
        }
        let n = self.pending.len() as u64;
        if let Some(slot) = usize::try_from(id % n).ok().and_then(|i| self.pending.get_mut(i)) {
            if slot.is_some() {
                self.overwritten += 1;
            }
            *slot = Some((id, tag));
        }
        Ok(())
    }

    /// Queues a runner request with tag `tag` (ids below [`ORDER_ID_BASE`]).
    ///
    /// # Errors
    /// The request does not fit the outbox or cannot be signed.
    pub fn control(&mut self, id: u64, req: &Request<'_>, tag: u32) -> Result<(), EncodeError> {
        self.encode(id, req, Pending::Control(tag))
    }

    fn order(&mut self, kind: RequestKind, symbol: SymbolId, client_id: &ClientOrderId, req: &Request<'_>) {
        self.next_id += 1;
        let tag = Pending::Order { kind, symbol, client_id: *client_id };
        if self.encode(self.next_id, req, tag).is_err() {
            self.push_failed(tag);
        }
    }

    fn fail(&mut self, kind: RequestKind, symbol: SymbolId, client_id: &ClientOrderId) {
        self.push_failed(Pending::Order { kind, symbol, client_id: *client_id });
    }

    /// Queues a failed intent for the engine; beyond the queue's room it is
    /// counted (its time-out then queries the order).
    fn push_failed(&mut self, tag: Pending) {
        if self.failed.push(tag).is_err() {
            self.failed_overflow += 1;
        }
    }

    /// Failed intents that did not fit the queue for the engine.
    pub const fn failed_overflow(&self) -> u64 {
        self.failed_overflow
    }
}

const fn wire_type(t: OrderType) -> request::OrderType {
    match t {
        OrderType::Limit => request::OrderType::Limit,
        OrderType::Market => request::OrderType::Market,
        OrderType::LimitMaker => request::OrderType::LimitMaker,
    }
}

const fn wire_tif(t: TimeInForce) -> WireTif {
    match t {
        TimeInForce::Gtc => WireTif::Gtc,
        TimeInForce::Ioc => WireTif::Ioc,
        TimeInForce::Fok => WireTif::Fok,
    }
}

impl Venue for WsApiVenue {
    fn place(&mut self, req: &OrderRequest) {
        let mut name = [0u8; 20];
        let Some(len) = copy_name(&self.symbols, req.symbol, &mut name) else {
            return self.fail(RequestKind::Place, req.symbol, &req.client_id);
        };
        // the name is copied out of `self` so that `order` may borrow it mutably
        let symbol = core::str::from_utf8(name.get(..len).unwrap_or_default()).unwrap_or_default();
        let tif = match req.kind {
            OrderType::Limit => Some(req.time_in_force.map_or(WireTif::Gtc, wire_tif)),
            OrderType::Market | OrderType::LimitMaker => None,
        };
        let place = OrderPlace {
            symbol,
            side: req.side,
            order_type: wire_type(req.kind),
            time_in_force: tif,
            price: if req.kind == OrderType::Market { None } else { req.price },
            quantity: Some(req.qty),
            quote_order_qty: None,
            stop_price: None,
            new_client_order_id: Some(req.client_id.as_str()),
            response_type: Some(ResponseType::Ack),
            stp_mode: None,
            price_decimals: 0,
            qty_decimals: 0,
        };
        self.order(RequestKind::Place, req.symbol, &req.client_id, &Request::OrderPlace(place));
    }

    fn cancel(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        let mut name = [0u8; 20];
        let Some(len) = copy_name(&self.symbols, symbol, &mut name) else {
            return self.fail(RequestKind::Cancel, symbol, client_id);
        };
        let sym = core::str::from_utf8(name.get(..len).unwrap_or_default()).unwrap_or_default();
        let order = OrderRef { symbol: sym, order_id: None, orig_client_order_id: Some(client_id.as_str()) };
        let req = Request::OrderCancel { order, new_client_order_id: None };
        self.order(RequestKind::Cancel, symbol, client_id, &req);
    }

    fn query(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        let mut name = [0u8; 20];
        let Some(len) = copy_name(&self.symbols, symbol, &mut name) else {
            return self.fail(RequestKind::Query, symbol, client_id);
        };
        let sym = core::str::from_utf8(name.get(..len).unwrap_or_default()).unwrap_or_default();
        let order = OrderRef { symbol: sym, order_id: None, orig_client_order_id: Some(client_id.as_str()) };
        self.order(RequestKind::Query, symbol, client_id, &Request::OrderStatus(order));
    }
}

/// Copies a symbol's name into `out` (Binance names are at most 20 bytes).
fn copy_name(symbols: &SymbolTable, id: SymbolId, out: &mut [u8; 20]) -> Option<usize> {
    let name = symbols.name(id)?.as_bytes();
    out.get_mut(..name.len())?.copy_from_slice(name);
    Some(name.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::sign::HmacSigner;
    use odex_shared::market::{Price, Qty, Side};

    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn venue(frames: usize) -> WsApiVenue {
        let signer = Signer::Hmac(HmacSigner::new(SECRET.as_bytes()).unwrap());
        WsApiVenue::new(
            SymbolTable::new([("ETHUSDT", "ETH")], "USDT"),
            Credentials::Signed { api_key: KEY.into(), signer: Box::new(signer) },
            frames,
            64,
        )
    }

    fn limit(n: u64) -> OrderRequest {
        OrderRequest {
            symbol: SymbolId(0),
            client_id: ClientOrderId::with_sequence(b"odx-t-", n).unwrap(),
            side: Side::Buy,
            kind: OrderType::Limit,
            time_in_force: None,
            price: Some(Price::parse("2000.5").unwrap()),
            qty: Qty::parse("0.01").unwrap(),
        }
    }

    #[test]
    fn a_place_is_a_signed_order_request_remembered_by_id() {
        let mut v = venue(4);
        v.place(&limit(1));
        let frames: Vec<String> = v.outbox().frames().map(|f| String::from_utf8(f.to_vec()).unwrap()).collect();
        assert_eq!(frames.len(), 1);
        let json: serde_json::Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(json["method"], "order.place");
        let p = &json["params"];
        assert_eq!(p["symbol"], "ETHUSDT");
        assert_eq!(p["type"], "LIMIT");
        assert_eq!(p["timeInForce"], "GTC");
        assert_eq!(p["price"], "2000.5");
        assert_eq!(p["quantity"], "0.01");
        assert_eq!(p["newClientOrderId"], "odx-t-1");
        assert_eq!(p["newOrderRespType"], "ACK");
        assert_eq!(p["apiKey"], KEY);
        assert_eq!(p["signature"].as_str().unwrap().len(), 64);
        let id = json["id"].as_u64().unwrap();
        assert!(id > ORDER_ID_BASE);
        let Some(Pending::Order { kind, client_id, .. }) = v.take_pending(id) else { panic!() };
        assert_eq!((kind, client_id.as_str()), (RequestKind::Place, "odx-t-1"));
        assert_eq!(v.take_pending(id), None, "a slot answers once");
    }

    #[test]
    fn a_session_drops_the_signature_and_cancel_names_the_original_id() {
        let mut v = venue(4);
        v.set_session(true);
        v.cancel(SymbolId(0), &limit(7).client_id);
        let f = String::from_utf8(v.outbox().frames().next().unwrap().to_vec()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(json["method"], "order.cancel");
        assert_eq!(json["params"]["origClientOrderId"], "odx-t-7");
        assert!(json["params"].get("signature").is_none() && json["params"].get("apiKey").is_none());
        assert!(json["params"]["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn a_full_outbox_fails_the_intent_back() {
        let mut v = venue(1);
        v.place(&limit(1));
        v.place(&limit(2));
        assert_eq!(v.outbox().len(), 1);
        let Some(Pending::Order { kind, client_id, .. }) = v.pop_failed() else { panic!() };
        assert_eq!((kind, client_id.as_str()), (RequestKind::Place, "odx-t-2"));
        v.outbox().clear();
        v.query(SymbolId(9), &limit(3).client_id);
        assert!(matches!(v.pop_failed(), Some(Pending::Order { kind: RequestKind::Query, .. })));
    }
}
