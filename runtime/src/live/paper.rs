//! [`PaperVenue`]: paper trading: live market data, fills from the venue
//! model the backtester uses (`crate::venue::Venue`: latency, queue
//! position, partial fills, fees, a spot account that cannot borrow).
//!
//! Reports are queued in storage allocated once and handed to the engine
//! by the runner after each event ([`deliver`]), as a real
//! exchange's would arrive later over the socket. The venue is generic over
//! the clock: `odex run --mode paper` reads the system clock, a backtest
//! shares one simulated clock between the venue and the engine.

use odex_shared::market::{Amount, Qty};

use crate::clock::{Clock, SystemClock};
use crate::config::PaperConfig;
use crate::engine::{Engine, RequestKind, Venue as EngineVenue};
use crate::event::MarketEvent;
use crate::filters::SymbolFilters;
use crate::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, SymbolId};
use crate::venue::{
    CancelReject, DepthBook, OrderRef, ReportSink, SymbolConfig, SymbolNames, Venue, VenueConfig, VenueConfigError,
};

use super::wire::SymbolTable;

/// Something the engine must hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperEvent {
    /// An execution report.
    Report(ExecutionReport),
    /// The answer to an `order.status` query.
    Status(ExecutionReport),
    /// A request the venue refused (4xx; the outcome is known).
    Refused(RequestKind, SymbolId, ClientOrderId),
}

/// Events for the engine, in storage reserved once.
#[derive(Debug)]
struct Events {
    queue: Vec<PaperEvent>,
    next: usize,
    lost: u64,
}

impl Events {
    /// Pushes within the reserved capacity; beyond it the event is counted
    /// as lost (the order's time-out then queries its state).
    fn push(&mut self, e: PaperEvent) {
        if self.queue.len() < self.queue.capacity() {
            self.queue.push(e);
        } else {
            self.lost += 1;
        }
    }
}

struct Queue<'a>(&'a mut Events);

impl ReportSink for Queue<'_> {
    fn report(&mut self, report: &ExecutionReport) {
        self.0.push(PaperEvent::Report(*report));
    }

    fn cancel_rejected(&mut self, reject: &CancelReject) {
        self.0.push(PaperEvent::Refused(RequestKind::Cancel, reject.symbol, reject.client_id));
    }
}

/// Room for reports between two deliveries.
const EVENT_CAPACITY: usize = 4096;

/// The paper venue.
#[derive(Debug)]
pub struct PaperVenue<C: Clock = SystemClock> {
    venue: Venue,
    clock: C,
    events: Events,
}

impl PaperVenue {
    /// A spot account holding `capital` of the quote asset and no base,
    /// with the exchange's `filters` per symbol.
    ///
    /// # Errors
    /// The venue model refuses the settings.
    pub fn new(
        symbols: &SymbolTable,
        filters: &[SymbolFilters],
        capital: Amount,
        settings: &PaperConfig,
    ) -> Result<Self, VenueConfigError> {
        let share = i64::try_from(symbols.len().max(1)).unwrap_or(1);
        let configs = symbols
            .names()
            .iter()
            .zip(filters)
            .enumerate()
            .map(|(i, (name, f))| SymbolConfig {
                names: SymbolNames {
                    symbol: name.clone(),
                    base_asset: symbols.base(SymbolId(u16::try_from(i).unwrap_or(0))).unwrap_or("").to_string(),
                    quote_asset: symbols.quote().to_string(),
                },
                filters: *f,
                base_balance: Qty::ZERO,
                quote_balance: Amount::from_raw(capital.raw() / share),
            })
            .collect();
        let config = VenueConfig {
            symbols: configs,
            fees: settings.fees,
            slippage: settings.slippage,
            order_latency: settings.latency.clone(),
            seed: settings.seed,
            depth_levels: usize::try_from(settings.depth_levels).unwrap_or(0).max(1),
            ..VenueConfig::default()
        };
        Ok(Self::with_model(Venue::new(&config)?, SystemClock::new()))
    }
}

impl<C: Clock> PaperVenue<C> {
    /// A paper venue over a venue model built elsewhere, reading `clock`.
    pub fn with_model(venue: Venue, clock: C) -> Self {
        Self { venue, clock, events: Events { queue: Vec::with_capacity(EVENT_CAPACITY), next: 0, lost: 0 } }
    }

    /// The venue model (ledger, open orders).
    pub const fn model(&self) -> &Venue {
        &self.venue
    }

    /// Takes the venue model back (the end of a backtest).
    pub fn into_model(self) -> Venue {
        self.venue
    }

    /// Feeds a market event to the venue model first (fills happen),
    /// stamped with this venue's clock (the runner's clock has another
    /// origin).
    #[inline]
    pub fn on_market(&mut self, ev: &MarketEvent) {
        let mut ev = *ev;
        ev.recv = self.clock.monotonic();
        self.on_market_at_recv(&ev);
    }

    /// Feeds a market event stamped on this venue's clock already (a
    /// backtest's event times).
    #[inline]
    pub fn on_market_at_recv(&mut self, ev: &MarketEvent) {
        let mut q = Queue(&mut self.events);
        self.venue.on_market(ev, &mut q);
    }

    /// Feeds a symbol's L2 book: from now on its orders match against the
    /// book's levels (see `Venue::on_depth`).
    #[inline]
    pub fn on_depth(&mut self, symbol: SymbolId, book: &DepthBook) {
        let now = self.clock.monotonic();
        let mut q = Queue(&mut self.events);
        self.venue.on_depth(symbol, book, now, &mut q);
    }

    /// Lets orders and cancels in flight arrive.
    #[inline]
    pub fn advance(&mut self) {
        let now = self.clock.monotonic();
        let mut q = Queue(&mut self.events);
        self.venue.advance(now, &mut q);
    }

    /// The next event for the engine; `None` when drained (the storage is
    /// then reused).
    #[inline]
    pub fn pop(&mut self) -> Option<PaperEvent> {
        let q = &mut self.events;
        let e = q.queue.get(q.next).copied();
        match e {
            Some(_) => q.next += 1,
            None => {
                q.queue.clear();
                q.next = 0;
            }
        }
        e
    }

    /// Events dropped because the queue was full.
    pub const fn lost(&self) -> u64 {
        self.events.lost
    }
}

/// Hands the events `next` pops (from a [`PaperVenue`], wherever the engine
/// keeps it) to `engine`, in order; returns how many were `order.place`
/// refusals.
#[inline]
pub fn deliver<V: EngineVenue, K: Clock>(
    engine: &mut Engine<V, K>,
    mut next: impl FnMut(&mut Engine<V, K>) -> Option<PaperEvent>,
) -> u64 {
    let mut refused = 0;
    while let Some(ev) = next(engine) {
        match ev {
            PaperEvent::Report(r) => engine.on_execution(&r),
            PaperEvent::Status(r) => engine.on_order_status(&r),
            PaperEvent::Refused(kind, symbol, id) => {
                refused += u64::from(kind == RequestKind::Place);
                engine.on_request_failed(symbol, &id, kind, false);
            }
        }
    }
    refused
}

impl<C: Clock> EngineVenue for PaperVenue<C> {
    fn place(&mut self, req: &OrderRequest) {
        let now = self.clock.monotonic();
        match self.venue.submit(*req, now) {
            Ok(ack) => self.events.push(PaperEvent::Report(ack)),
            Err(_) => self.events.push(PaperEvent::Refused(RequestKind::Place, req.symbol, req.client_id)),
        }
    }

    fn cancel(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        let now = self.clock.monotonic();
        if self.venue.cancel(symbol, OrderRef::Client(*client_id), now).is_err() {
            self.events.push(PaperEvent::Refused(RequestKind::Cancel, symbol, *client_id));
        }
    }

    fn query(&mut self, symbol: SymbolId, client_id: &ClientOrderId) {
        let now = self.clock.monotonic();
        match self.venue.order_status(symbol, OrderRef::Client(*client_id)) {
            Some(o) => {
                let mut r = o.report(ExecType::New, now);
                r.exec_type = super::wire::exec_type_of(r.status);
                self.events.push(PaperEvent::Status(r));
            }
            None => self.events.push(PaperEvent::Refused(RequestKind::Query, symbol, *client_id)),
        }
    }
}
