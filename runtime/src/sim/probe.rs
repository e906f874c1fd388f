//! The wire-to-wire latency probe: `odex-sim --probe-ticks N`.
//!
//! The server sends one bookTicker tick at a time on the market streams,
//! notes the monotonic time just before it writes it, and waits for the
//! client's next `order.place` on the WebSocket API; the sample is the
//! time the request was read off the socket minus the time the tick was
//! written (one process, one clock). The next tick goes out
//! `interval` after the answer arrived, so the client is idle again when
//! it comes; a tick with no order within `timeout` is counted, not sampled.
//! Ticks before the client's first order (start-up, warm-up of the
//! feature state) are not counted at all.
//!
//! [`ProbeExchange`] answers orders without a ledger that grows: every
//! order is acknowledged and expires at once (as an IOC limit that does
//! not cross would), so a long probe costs the venue the same per order at
//! the end as at the start.

use std::collections::VecDeque;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use odex_shared::market::{Amount, BookTop, Nanos, Price};
use serde::{Deserialize, Serialize};

use crate::order::{ExecType, OrderStatus};

use super::config::SymbolSpec;
use super::exchange::{ApiError, Balance, OrderRef, PlaceOrder, SimExchange, SimOrder, UserEvent};

/// Orders [`ProbeExchange`] remembers for `order.status`.
const REMEMBERED: usize = 1024;
/// Pace of the ticks before the client's first order.
const WARMUP_INTERVAL: Nanos = Nanos::from_millis(5);

/// Probe settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Ticks to measure (after the warm-up).
    pub ticks: u64,
    /// Gap between an order's arrival and the next tick.
    pub interval: Nanos,
    /// A tick with no order after this long counts as unanswered.
    pub timeout: Nanos,
    /// The summary JSON is written here when the probe ends.
    pub out: PathBuf,
}

/// What the probe writes at the end (nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Ticks sent while measuring.
    pub ticks: u64,
    /// Samples (ticks answered by an order).
    pub count: u64,
    /// Ticks without an order within the timeout.
    pub no_order: u64,
    /// `order.place` requests beyond the first per tick (not sampled).
    pub extra_orders: u64,
    /// Ticks sent before the client's first order.
    pub warmup_ticks: u64,
    /// Smallest sample.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Ticks every [`WARMUP_INTERVAL`] until the first order.
    Warmup,
    /// A tick is out, no order yet.
    Waiting { sent: Nanos },
    /// The next tick is due at this time.
    Idle { due: Nanos },
    /// All ticks answered or timed out.
    Done,
}

/// The probe's state machine and histogram.
#[derive(Debug)]
pub struct Probe {
    config: ProbeConfig,
    hist: Histogram<u64>,
    stage: Stage,
    last_warmup: Option<Nanos>,
    summary: ProbeSummary,
}

/// What the server should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAction {
    /// Send a tick now (call [`Probe::sent`] just before writing it).
    Tick,
    /// Nothing before this time.
    WaitUntil(Nanos),
    /// Wait for the order (poll the sockets).
    Poll,
    /// The probe is over: write the summary and stop.
    Finish,
}

impl Probe {
    /// A probe with `config`.
    ///
    /// # Errors
    /// A message when the histogram cannot be built.
    pub fn new(config: ProbeConfig) -> Result<Self, String> {
        let hist = Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| format!("histogram: {e}"))?;
        Ok(Self { config, hist, stage: Stage::Warmup, last_warmup: None, summary: ProbeSummary::default() })
    }

    /// The settings.
    pub const fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// What to do at monotonic time `now`.
    pub fn next(&mut self, now: Nanos) -> ProbeAction {
        match self.stage {
            Stage::Warmup => match self.last_warmup {
                Some(t) if now.saturating_sub(t) < WARMUP_INTERVAL => ProbeAction::Poll,
                _ => ProbeAction::Tick,
            },
            Stage::Waiting { sent } => {
                if now.saturating_sub(sent) < self.config.timeout {
                    return ProbeAction::Poll;
                }
                self.summary.no_order += 1;
                self.stage = Stage::Idle { due: now };
                self.next(now)
            }
            Stage::Idle { due } => {
                if self.summary.ticks >= self.config.ticks {
                    self.stage = Stage::Done;
                    ProbeAction::Finish
                } else if now < due {
                    ProbeAction::WaitUntil(due)
                } else {
                    ProbeAction::Tick
                }
            }
            Stage::Done => ProbeAction::Finish,
        }
    }

    /// A tick is about to be written at `now`.
    pub fn sent(&mut self, now: Nanos) {
        if self.stage == Stage::Warmup {
            self.last_warmup = Some(now);
            self.summary.warmup_ticks += 1;
        } else {
            self.summary.ticks += 1;
            self.stage = Stage::Waiting { sent: now };
        }
    }

    /// An `order.place` was read off the socket at `arrived`.
    pub fn order(&mut self, arrived: Nanos) {
        match self.stage {
            Stage::Warmup => self.stage = Stage::Idle { due: Nanos(arrived.0.saturating_add(self.config.interval.0)) },
            Stage::Waiting { sent } => {
                let _ = self.hist.record(arrived.saturating_sub(sent).0.max(1));
                self.stage = Stage::Idle { due: Nanos(arrived.0.saturating_add(self.config.interval.0)) };
            }
            Stage::Idle { .. } | Stage::Done => self.summary.extra_orders += 1,
        }
    }

    /// True while ticks are paced by orders (after the warm-up).
    pub const fn measuring(&self) -> bool {
        !matches!(self.stage, Stage::Warmup)
    }

    /// The summary so far.
    pub fn summary(&self) -> ProbeSummary {
        let h = &self.hist;
        let q = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        ProbeSummary {
            count: h.len(),
            min_ns: if h.is_empty() { 0 } else { h.min() },
            p50_ns: q(0.5),
            p90_ns: q(0.9),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            max_ns: h.max(),
            mean_ns: h.mean() as u64,
            ..self.summary.clone()
        }
    }
}

/// An exchange for the probe: every order is acknowledged and expires.
#[derive(Debug)]
pub struct ProbeExchange {
    symbols: Vec<SymbolSpec>,
    balances: Vec<Balance>,
    recent: VecDeque<SimOrder>,
    next_order_id: u64,
    events: Vec<UserEvent>,
}

impl ProbeExchange {
    /// An exchange for `symbols` reporting `balances` (they never change).
    pub fn new(symbols: Vec<SymbolSpec>, balances: &[(String, Amount)]) -> Self {
        let balances =
            balances.iter().map(|(a, v)| Balance { asset: a.clone(), free: *v, locked: Amount::ZERO }).collect();
        Self { symbols, balances, recent: VecDeque::new(), next_order_id: 1, events: Vec::new() }
    }
}

impl SimExchange for ProbeExchange {
    fn place(&mut self, req: &PlaceOrder, now_ms: u64) -> Result<SimOrder, ApiError> {
        if !self.symbols.iter().any(|s| s.name == req.symbol) {
            return Err(ApiError::new(-1121, "Invalid symbol."));
        }
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = SimOrder::accepted(order_id, req, req.price.unwrap_or(Price::ZERO), now_ms);
        self.events.push(UserEvent::Execution {
            order: order.clone(),
            exec_type: ExecType::New,
            fill: None,
            time_ms: now_ms,
        });
        order.status = OrderStatus::Expired;
        self.events.push(UserEvent::Execution {
            order: order.clone(),
            exec_type: ExecType::Expired,
            fill: None,
            time_ms: now_ms,
        });
        if self.recent.len() == REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(order.clone());
        Ok(order)
    }

    fn cancel(&mut self, _symbol: &str, _by: &OrderRef, _now_ms: u64) -> Result<SimOrder, ApiError> {
        Err(ApiError::new(-2011, "Unknown order sent."))
    }

    fn status(&self, symbol: &str, by: &OrderRef) -> Result<SimOrder, ApiError> {
        self.recent
            .iter()
            .find(|o| {
                o.symbol == symbol
                    && match by {
                        OrderRef::Id(id) => o.order_id == *id,
                        OrderRef::Client(c) => &o.client_id == c,
                    }
            })
            .cloned()
            .ok_or_else(|| ApiError::new(-2013, "Order does not exist."))
    }

    fn open_orders(&self, _symbol: Option<&str>) -> Vec<SimOrder> {
        Vec::new()
    }

    fn cancel_all(&mut self, _symbol: &str, _now_ms: u64) -> Result<Vec<SimOrder>, ApiError> {
        Err(ApiError::new(-2011, "Unknown order sent."))
    }

    fn account(&self) -> Vec<Balance> {
        self.balances.clone()
    }

    fn on_market(&mut self, _symbol: &str, _top: &BookTop, _now_ms: u64) {}

    fn drain_events(&mut self, out: &mut Vec<UserEvent>) {
        out.append(&mut self.events);
    }

    fn orders(&self) -> Vec<SimOrder> {
        self.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderType, TimeInForce};
    use odex_shared::market::Qty;

    fn probe(ticks: u64) -> Probe {
        Probe::new(ProbeConfig {
            ticks,
            interval: Nanos(100_000),
            timeout: Nanos::from_millis(10),
            out: PathBuf::from("unused.json"),
        })
        .unwrap()
    }

    #[test]
    fn warmup_then_paced_samples_then_finish() {
        let mut p = probe(2);
        assert_eq!(p.next(Nanos(0)), ProbeAction::Tick);
        p.sent(Nanos(0));
        assert_eq!(p.next(Nanos(1_000)), ProbeAction::Poll);
        p.order(Nanos(50_000)); // first order ends the warm-up
        assert!(p.measuring());
        assert_eq!(p.next(Nanos(60_000)), ProbeAction::WaitUntil(Nanos(150_000)));
        assert_eq!(p.next(Nanos(150_000)), ProbeAction::Tick);
        p.sent(Nanos(150_000));
        p.order(Nanos(170_000));
        p.order(Nanos(171_000)); // a second order for the same tick
        assert_eq!(p.next(Nanos(270_000)), ProbeAction::Tick);
        p.sent(Nanos(270_000));
        // no answer: times out
        assert_eq!(p.next(Nanos(270_000 + 20_000_000)), ProbeAction::Finish);
        let s = p.summary();
        assert_eq!((s.ticks, s.count, s.no_order, s.extra_orders, s.warmup_ticks), (2, 1, 1, 1, 1));
        assert!((19_980..=20_030).contains(&s.p50_ns), "{s:?}"); // 3 significant digits
    }

    #[test]
    fn every_order_expires_and_the_memory_is_bounded() {
        let mut ex = ProbeExchange::new(vec![SymbolSpec::ethusdt()], &[]);
        for i in 0..(REMEMBERED + 10) {
            let req = PlaceOrder {
                symbol: "ETHUSDT".into(),
                side: odex_shared::market::Side::Buy,
                kind: OrderType::Limit,
                time_in_force: Some(TimeInForce::Ioc),
                price: Some(Price::ONE),
                qty: Qty::ONE,
                client_id: format!("c{i}"),
            };
            assert_eq!(ex.place(&req, 1).unwrap().status, OrderStatus::Expired);
        }
        assert_eq!(ex.orders().len(), REMEMBERED);
        let mut events = Vec::new();
        ex.drain_events(&mut events);
        assert_eq!(events.len(), 2 * (REMEMBERED + 10));
    }
}
