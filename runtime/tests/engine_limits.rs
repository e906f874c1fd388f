//! Property tests of the whole engine against a model exchange: for any
//! sequence of signals, prices, acks, fills, cancels, failures and clock
//! jumps, no configured limit is ever exceeded (position, worst-case
//! notional, open orders, order rate) and the order state machine never
//! refuses a report the exchange could really send (reports of one order
//! arrive in order, as on Binance's user-data stream; the `order.place`
//! response, i.e. the ack, may come at any time, even after fills or the
//! cancel).

use std::collections::VecDeque;
use std::path::Path;

use odex_runtime::clock::{Clock, SimClock};
use odex_runtime::config::RawConfig;
use odex_runtime::engine::{Engine, KillSwitch, RecordingVenue, RequestKind, Sent};
use odex_runtime::event::{BookUpdate, MarketData, MarketEvent};
use odex_runtime::filters::SymbolFilters;
use odex_runtime::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderStatus, SymbolId};
use odex_shared::market::{Amount, BookTop, Nanos, Price, Qty, Side};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Move the book by this many ticks.
    Book(i64),
    /// A target fraction of equity.
    Target(f64),
    /// Deliver the next stream report of the n-th live order.
    Deliver(usize),
    /// Deliver the place response (ack) of the n-th live order.
    Ack(usize),
    /// Fill this part (of 8) of the n-th resting order.
    Fill(usize, u8),
    /// The n-th order's place request fails: 5xx (unknown; the order may or
    /// may not exist) or 4xx (refused).
    FailPlace(usize, bool, bool),
    /// Advance the clock by this many ms.
    Wait(u64),
    /// Kill switch.
    Kill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (-30i64..=30).prop_map(Op::Book),
        3 => (-3.0f64..3.0).prop_map(Op::Target),
        4 => (0usize..8).prop_map(Op::Deliver),
        2 => (0usize..8).prop_map(Op::Ack),
        3 => ((0usize..8), 1u8..=8).prop_map(|(i, p)| Op::Fill(i, p)),
        1 => ((0usize..8), any::<bool>(), any::<bool>()).prop_map(|(i, u, e)| Op::FailPlace(i, u, e)),
        2 => (0u64..1500).prop_map(Op::Wait),
        1 => Just(Op::Kill),
    ]
}

/// One order as the exchange holds it.
struct Live {
    req: OrderRequest,
    order_id: u64,
    filled: Qty,
    /// The exchange knows it (false after a 4xx, or a 5xx that lost it).
    exists: bool,
    /// The place response is still to be delivered.
    ack_pending: bool,
    /// Stream reports not yet delivered, in order.
    stream: VecDeque<ExecutionReport>,
    done: bool,
}

fn report(l: &Live, exec_type: ExecType, status: OrderStatus) -> ExecutionReport {
    ExecutionReport {
        cum_qty: l.filled,
        maker: true,
        ..ExecutionReport::unfilled(&l.req, l.order_id, exec_type, status)
    }
}

struct Harness {
    engine: Engine<RecordingVenue, SimClock>,
    live: Vec<Live>,
    mid_ticks: i64,
    next_id: u64,
    /// Exchange-side position (what really filled).
    position: i64,
    place_times: Vec<Nanos>,
    max_position: i64,
    max_notional: Amount,
    max_open: usize,
    rate: f64,
    burst: u32,
}

const TICK: i64 = 1_000_000; // 0.01

impl Harness {
    fn new() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let text = std::fs::read_to_string(dir.join("paper.toml")).unwrap();
        let text = text
            .replace("max_position = \"0.5\"", "max_position = \"0.05\"")
            .replace("max_notional = \"40000\"", "max_notional = \"2000\"")
            .replace("max_open_orders = 4", "max_open_orders = 3")
            .replace("stop_loss_bps = 200", "stop_loss_bps = 0")
            .replace("take_profit_bps = 400", "take_profit_bps = 0")
            .replace("drawdown_reduce_bps = 500", "drawdown_reduce_bps = 9000")
            .replace("drawdown_halt_bps = 1000", "drawdown_halt_bps = 9500")
            .replace("price_band_bps = 50", "price_band_bps = 100");
        let cfg = RawConfig::parse(&text).unwrap().validate(Some(&dir)).unwrap();
        let model = cfg.load_model().unwrap();
        let filters = SymbolFilters::tick_step(Price::parse("0.01").unwrap(), Qty::parse("0.001").unwrap());
        let r = cfg.risk.clone();
        let engine = Engine::new(
            &cfg,
            &model,
            &[filters],
            "odx-p-",
            KillSwitch::new(),
            RecordingVenue::new(64),
            SimClock::new(Nanos(1_000_000_000_000)),
        )
        .unwrap();
        let mut h = Self {
            engine,
            live: Vec::new(),
            mid_ticks: 4_000_000, // 40000.00
            next_id: 0,
            position: 0,
            place_times: Vec::new(),
            max_position: r.max_position.raw(),
            max_notional: r.max_notional,
            max_open: r.max_open_orders as usize,
            rate: r.max_orders_per_sec,
            burst: r.order_burst,
        };
        h.book(0);
        h
    }

    fn top(&self) -> BookTop {
        BookTop {
            bid: Price::from_raw(self.mid_ticks * TICK),
            bid_qty: Qty::ONE,
            ask: Price::from_raw((self.mid_ticks + 1) * TICK),
            ask_qty: Qty::ONE,
        }
    }

    fn book(&mut self, ticks: i64) {
        self.mid_ticks = (self.mid_ticks + ticks).max(100);
        let ev = MarketEvent {
            recv: self.engine.clock().monotonic(),
            exchange_time: None,
            data: MarketData::Book(BookUpdate { symbol: SymbolId(0), update_id: 0, top: self.top() }),
        };
        self.engine.on_market(&ev);
    }

    fn live_index(&self, n: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.live.len())
            .filter(|&i| !self.live[i].done || !self.live[i].stream.is_empty() || self.live[i].ack_pending)
            .collect();
        if open.is_empty() { None } else { Some(open[n % open.len()]) }
    }

    /// Takes what the engine sent and checks each place against the limits.
    fn take_sent(&mut self) -> Result<(), TestCaseError> {
        let sent: Vec<Sent> = self.engine.venue_mut().drain().collect();
        for s in sent {
            match s {
                Sent::Place(req) => {
                    let now = self.engine.clock().monotonic();
                    // order rate: places within the last second
                    self.place_times.push(now);
                    let window = self.place_times.iter().filter(|t| now.0 - t.0 < 1_000_000_000).count();
                    prop_assert!(window as f64 <= f64::from(self.burst) + self.rate, "{window} places within 1 s");
                    // worst case: every open order on this side fills
                    let sign = req.side.sign();
                    let open_same: i64 = self
                        .live
                        .iter()
                        .filter(|l| l.exists && !l.done && l.req.side == req.side)
                        .map(|l| l.req.qty.raw() - l.filled.raw())
                        .sum();
                    let after = self.position + sign * (open_same + req.qty.raw());
                    prop_assert!(after.abs() <= self.max_position, "worst case {after} > {}", self.max_position);
                    // notional, in the engine's own books (it includes this order)
                    let pos = self.engine.portfolio().position(SymbolId(0)).qty.raw();
                    let open = self.engine.orders().open_qty(SymbolId(0), req.side).raw();
                    let engine_after = pos + sign * open;
                    let reducing =
                        engine_after.abs() < pos.abs() && (engine_after == 0 || engine_after.signum() == pos.signum());
                    if !reducing {
                        let top = self.top();
                        let mid = Price::from_raw((top.bid.raw() + top.ask.raw()) / 2);
                        let px = req.price.map_or(mid, |p| p.max(mid));
                        let n = px.notional(Qty::from_raw(engine_after.abs())).unwrap();
                        prop_assert!(n <= self.max_notional, "worst-case notional {n} > {}", self.max_notional);
                    }
                    self.next_id += 1;
                    self.live.push(Live {
                        req,
                        order_id: self.next_id,
                        filled: Qty::ZERO,
                        exists: true,
                        ack_pending: true,
                        stream: VecDeque::new(),
                        done: false,
                    });
                    let l = self.live.last_mut().unwrap();
                    let r = report(l, ExecType::New, OrderStatus::New);
                    l.stream.push_back(r);
                }
                Sent::Cancel(_, id) => {
                    if let Some(l) = self.live.iter_mut().find(|l| l.req.client_id == id && l.exists && !l.done) {
                        l.done = true;
                        let r = report(l, ExecType::Canceled, OrderStatus::Canceled);
                        l.stream.push_back(r);
                    } else {
                        self.engine.on_request_failed(SymbolId(0), &id, RequestKind::Cancel, false);
                    }
                }
                Sent::Query(_, id) => self.answer_query(id),
            }
        }
        prop_assert!(self.engine.orders().open_count() <= self.max_open);
        Ok(())
    }

    fn answer_query(&mut self, id: ClientOrderId) {
        match self.live.iter().find(|l| l.req.client_id == id && l.exists) {
            Some(l) => {
                // the answer reflects what the stream has already said
                // plus what is still queued: deliver the queue first
                let status = if l.filled == l.req.qty {
                    OrderStatus::Filled
                } else if l.done {
                    OrderStatus::Canceled
                } else if l.filled.is_positive() {
                    OrderStatus::PartiallyFilled
                } else {
                    OrderStatus::New
                };
                let mut r = report(l, ExecType::New, status);
                r.cum_quote = l.req.price.unwrap_or(Price::ZERO).notional(l.filled).unwrap_or(Amount::ZERO);
                let idx = self.live.iter().position(|x| x.req.client_id == id).unwrap();
                let pending: Vec<ExecutionReport> = self.live[idx].stream.drain(..).collect();
                for p in pending {
                    self.engine.on_execution(&p);
                }
                self.live[idx].ack_pending = false;
                self.engine.on_order_status(&r);
            }
            None => self.engine.on_request_failed(SymbolId(0), &id, RequestKind::Query, false),
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Book(t) => {
                self.book(t);
            }
            Op::Target(f) => self.engine.on_target(SymbolId(0), f),
            Op::Deliver(n) => {
                if let Some(i) = self.live_index(n)
                    && let Some(r) = self.live[i].stream.pop_front()
                {
                    self.engine.on_execution(&r);
                }
            }
            Op::Ack(n) => {
                if let Some(i) = self.live_index(n)
                    && self.live[i].ack_pending
                    && self.live[i].exists
                {
                    self.live[i].ack_pending = false;
                    let r = report(&self.live[i], ExecType::New, OrderStatus::New);
                    self.engine.on_execution(&r);
                }
            }
            Op::Fill(n, part) => {
                if let Some(i) = self.live_index(n) {
                    let l = &mut self.live[i];
                    if l.exists && !l.done {
                        let left = l.req.qty.raw() - l.filled.raw();
                        let q = (l.req.qty.raw() * i64::from(part) / 8).clamp(1, left);
                        l.filled = Qty::from_raw(l.filled.raw() + q);
                        self.position += l.req.side.sign() * q;
                        let full = l.filled == l.req.qty;
                        let mut r = report(
                            l,
                            ExecType::Trade,
                            if full { OrderStatus::Filled } else { OrderStatus::PartiallyFilled },
                        );
                        r.last_qty = Qty::from_raw(q);
                        r.last_price = l.req.price.unwrap_or(Price::ZERO);
                        r.cum_quote = r.last_price.notional(l.filled).unwrap_or(Amount::ZERO);
                        l.done = full;
                        l.stream.push_back(r);
                    }
                }
            }
            Op::FailPlace(n, unknown, exists) => {
                if let Some(i) = self.live_index(n)
                    && self.live[i].ack_pending
                {
                    let l = &mut self.live[i];
                    l.ack_pending = false;
                    let nothing_happened = l.filled.is_zero() && !l.done;
                    if unknown {
                        // 5xx: maybe it never reached the book
                        if !exists && nothing_happened && l.stream.len() == 1 {
                            l.exists = false;
                            l.done = true;
                            l.stream.clear();
                        }
                        let id = l.req.client_id;
                        self.engine.on_request_failed(SymbolId(0), &id, RequestKind::Place, true);
                    } else if nothing_happened && l.stream.len() == 1 {
                        // 4xx: refused, nothing on the book, no stream report
                        l.exists = false;
                        l.done = true;
                        l.stream.clear();
                        let id = l.req.client_id;
                        self.engine.on_request_failed(SymbolId(0), &id, RequestKind::Place, false);
                    } else {
                        l.ack_pending = true;
                    }
                }
            }
            Op::Wait(ms) => {
                self.engine.clock().advance(Nanos::from_millis(ms));
                self.engine.on_idle();
            }
            Op::Kill => self.engine.risk().kill_switch().trigger(),
        }
        self.take_sent()?;
        let engine_pos = self.engine.portfolio().position(SymbolId(0)).qty.raw();
        prop_assert!(engine_pos.abs() <= self.max_position, "engine position {engine_pos}");
        prop_assert!(self.position.abs() <= self.max_position, "exchange position {}", self.position);
        prop_assert_eq!(self.engine.counters().illegal_reports, 0, "a legal report was refused");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_limit_is_ever_exceeded(ops in proptest::collection::vec(op(), 1..300)) {
        let mut h = Harness::new();
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = h.step(op) {
                return Err(TestCaseError::fail(format!("{e} at op {i} of {ops:?}")));
            }
        }
        // drain everything: the engine ends where the exchange is
        for i in 0..h.live.len() {
            h.live[i].ack_pending = false;
            let pending: Vec<ExecutionReport> = h.live[i].stream.drain(..).collect();
            for r in pending {
                h.engine.on_execution(&r);
            }
        }
        prop_assert_eq!(h.engine.counters().illegal_reports, 0);
        // queries may still be outstanding for unknown orders: answer them
        for _ in 0..3 {
            h.engine.clock().advance(Nanos::from_millis(6000));
            h.engine.on_idle();
            h.take_sent()?;
        }
        prop_assert_eq!(h.engine.portfolio().position(SymbolId(0)).qty.raw(), h.position);
    }
}

#[test]
fn a_sell_is_refused_past_the_short_limit() {
    let mut h = Harness::new();
    h.engine.on_target(SymbolId(0), -3.0);
    h.take_sent().unwrap();
    let q: i64 = h.live.iter().map(|l| l.req.qty.raw()).sum();
    assert!(q <= h.max_position);
    assert!(h.live.iter().all(|l| l.req.side == Side::Sell));
}
