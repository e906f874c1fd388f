//! The risk layer: limits every order must pass before it is sent, and the
//! state that decides whether new exposure is allowed at all.
//!
//! Two kinds of checks:
//! - [`RiskManager::clamp_target`] bounds the target position the sizing
//!   rule asks for (max position, max notional, reducing-only states,
//!   stop-loss / take-profit, kill switch);
//! - [`RiskManager::check_order`] vets one order against the worst case
//!   (every open order on its side filling): max position, max notional,
//!   open orders, price band, stale data, breaker, kill switch and the
//!   order-rate token bucket (consumed last, only by an order that passes).
//!
//! Every refusal is counted by [`Refusal`] in a fixed array; nothing here
//! allocates. Money comparisons are exact fixed-point (i128 where products
//! may overflow).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use odex_shared::market::{Amount, Nanos, Price, Qty, SCALE, Side};

use crate::config::RiskLimits;

/// Why an order (or a target) was refused. Counted, never allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The kill switch is on.
    KillSwitch,
    /// The drawdown breaker halted trading.
    Halted,
    /// The drawdown breaker allows reducing orders only.
    ReducingOnly,
    /// Market data is older than the stale-data limit.
    StaleData,
    /// Would exceed the max position (worst case).
    MaxPosition,
    /// Would exceed the max notional (worst case).
    MaxNotional,
    /// Too many open orders.
    MaxOpenOrders,
    /// Limit price outside the band around the mid.
    PriceBand,
    /// Order-rate token bucket empty.
    OrderRate,
    /// The exchange's ORDERS or REQUEST_WEIGHT budget is spent.
    ExchangeBudget,
    /// An order of the symbol is in `Unknown` state: waiting for `order.status`.
    UnknownOrder,
    /// Rounded order fails the symbol's exchange filters (e.g. min notional).
    Filters,
    /// The journal ring has no room for the intent.
    JournalFull,
    /// The order tracker has no free slot.
    TrackerFull,
    /// No usable book for the symbol yet.
    NoMarketData,
    /// Target clamped by stop-loss.
    StopLoss,
    /// Target clamped by take-profit.
    TakeProfit,
}

impl Refusal {
    /// Number of reasons.
    pub const COUNT: usize = 17;
    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::KillSwitch,
        Self::Halted,
        Self::ReducingOnly,
        Self::StaleData,
        Self::MaxPosition,
        Self::MaxNotional,
        Self::MaxOpenOrders,
        Self::PriceBand,
        Self::OrderRate,
        Self::ExchangeBudget,
        Self::UnknownOrder,
        Self::Filters,
        Self::JournalFull,
        Self::TrackerFull,
        Self::NoMarketData,
        Self::StopLoss,
        Self::TakeProfit,
    ];

    /// Counter index.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Metric label (`snake_case`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KillSwitch => "kill_switch",
            Self::Halted => "halted",
            Self::ReducingOnly => "reducing_only",
            Self::StaleData => "stale_data",
            Self::MaxPosition => "max_position",
            Self::MaxNotional => "max_notional",
            Self::MaxOpenOrders => "max_open_orders",
            Self::PriceBand => "price_band",
            Self::OrderRate => "order_rate",
            Self::ExchangeBudget => "exchange_budget",
            Self::UnknownOrder => "unknown_order",
            Self::Filters => "filters",
            Self::JournalFull => "journal_full",
            Self::TrackerFull => "tracker_full",
            Self::NoMarketData => "no_market_data",
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
        }
    }
}

/// Refusal counters, one per [`Refusal`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusalCounts {
    counts: [u64; Refusal::COUNT],
}

impl RefusalCounts {
    /// Counts one refusal.
    pub fn add(&mut self, r: Refusal) {
        if let Some(c) = self.counts.get_mut(r.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// The count for one reason.
    pub fn get(&self, r: Refusal) -> u64 {
        self.counts.get(r.index()).copied().unwrap_or(0)
    }

    /// Total refusals.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// `(reason, count)` pairs for reporting (off the hot path).
    pub fn iter(&self) -> impl Iterator<Item = (Refusal, u64)> + '_ {
        Refusal::ALL.iter().zip(self.counts.iter()).map(|(r, c)| (*r, *c))
    }
}

/// The drawdown circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Trading normally.
    Normal,
    /// Drawdown at or past `drawdown_reduce_bps`: only orders that reduce
    /// the position pass. Returns to normal when the drawdown recovers.
    ReducingOnly,
    /// Drawdown at or past `drawdown_halt_bps`: no orders, open ones are
    /// cancelled. Latched until [`RiskManager::reset_breaker`].
    Halted,
}

impl BreakerState {
    /// Numeric value for metrics (0 normal, 1 reducing-only, 2 halted).
    pub const fn as_gauge(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::ReducingOnly => 1,
            Self::Halted => 2,
        }
    }
}

/// A flag that stops trading. Cheap to clone: a signal handler, a file
/// watcher or the metrics endpoint each hold one and call [`Self::trigger`];
/// the engine reads it once per event (one relaxed atomic load).
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    /// A switch that is off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns it on.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Turns it off (operator action).
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// True when on.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Triggers when `path` exists; call it from the idle part of the loop
    /// (it is a system call). Returns whether the switch is on.
    pub fn check_file(&self, path: &std::path::Path) -> bool {
        if path.exists() {
            self.trigger();
        }
        self.is_triggered()
    }
}

/// A token bucket on the clock seam's time.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_ns: f64,
    last: Nanos,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_sec`.
    pub fn new(capacity: u32, per_sec: f64, now: Nanos) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self { capacity, tokens: capacity, per_ns: per_sec / 1e9, last: now }
    }

    fn refill(&mut self, now: Nanos) {
        let dt = now.saturating_sub(self.last).0 as f64;
        self.tokens = (self.tokens + dt * self.per_ns).min(self.capacity);
        if now > self.last {
            self.last = now;
        }
    }

    /// True (and one token taken) when a token is available at `now`.
    pub fn try_take(&mut self, now: Nanos) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// True when a token is available at `now` (nothing taken).
    pub fn available(&mut self, now: Nanos) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }
}

/// What stop-loss / take-profit says about the open position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitTrigger {
    /// Loss from the average entry reached `stop_loss_bps`.
    StopLoss,
    /// Gain from the average entry reached `take_profit_bps`.
    TakeProfit,
}

/// One order as the risk layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCheck {
    /// Side.
    pub side: Side,
    /// Quantity.
    pub qty: Qty,
    /// Limit price (`None` for a market order).
    pub price: Option<Price>,
    /// Current mid.
    pub mid: Price,
    /// Current position (signed).
    pub position: Qty,
    /// Remaining quantity of the symbol's open orders on the same side
    /// (pending, working, cancel-pending and unknown alike).
    pub open_same_side: Qty,
    /// Open orders across all symbols.
    pub open_orders: usize,
    /// Age of the symbol's last market event.
    pub data_age: Nanos,
}

/// `a * b / c` in i128, `None` on overflow or a zero divisor.
fn mul_div(a: i64, b: i64, c: i64) -> Option<i64> {
    if c == 0 {
        return None;
    }
    i64::try_from(i128::from(a) * i128::from(b) / i128::from(c)).ok()
}

/// `|qty| x price` in quote units (saturating).
fn notional(qty: Qty, price: Price) -> Amount {
    price.notional(qty.abs()).unwrap_or(Amount::from_raw(i64::MAX)).abs()
}

/// The risk state of one engine.
#[derive(Debug)]
pub struct RiskManager {
    limits: RiskLimits,
    bucket: TokenBucket,
    breaker: BreakerState,
    peak_equity: Amount,
    last_equity: Amount,
    kill: KillSwitch,
    counts: RefusalCounts,
}

impl RiskManager {
    /// A risk manager with a full order-rate bucket and the peak equity set
    /// to the configured capital.
    pub fn new(limits: RiskLimits, kill: KillSwitch, now: Nanos) -> Self {
        Self {
            bucket: TokenBucket::new(limits.order_burst, limits.max_orders_per_sec, now),
            breaker: BreakerState::Normal,
            peak_equity: limits.capital,
            last_equity: limits.capital,
            limits,
            kill,
            counts: RefusalCounts::default(),
        }
    }

    /// The limits in force.
    pub const fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The kill switch (clone it for a signal handler or the metrics endpoint).
    pub const fn kill_switch(&self) -> &KillSwitch {
        &self.kill
    }

    /// The breaker's state.
    pub const fn breaker(&self) -> BreakerState {
        self.breaker
    }

    /// Peak equity seen (the high-water mark the drawdown is measured from).
    pub const fn peak_equity(&self) -> Amount {
        self.peak_equity
    }

    /// Drawdown from peak in basis points (exact, truncated).
    pub fn drawdown_bps(&self) -> i64 {
        let dd = self.peak_equity.raw().saturating_sub(self.last_equity.raw()).max(0);
        mul_div(dd, 10_000, self.peak_equity.raw().max(1)).unwrap_or(i64::MAX)
    }

    /// Refusal counters.
    pub const fn refusals(&self) -> &RefusalCounts {
        &self.counts
    }

    /// Counts a refusal decided elsewhere (order manager, journal).
    pub fn count(&mut self, r: Refusal) {
        self.counts.add(r);
    }

    /// Operator reset of a halted breaker (and of the peak, to current equity).
    pub fn reset_breaker(&mut self) {
        self.breaker = BreakerState::Normal;
        self.peak_equity = self.last_equity;
    }

    /// Feeds the current equity; updates the peak and the breaker. The
    /// thresholds are exact: `(peak - equity) * 10000 >= bps * peak`.
    pub fn on_equity(&mut self, equity: Amount) -> BreakerState {
        self.last_equity = equity;
        if equity > self.peak_equity {
            self.peak_equity = equity;
        }
        let dd = i128::from(self.peak_equity.raw()) - i128::from(equity.raw());
        let scaled = dd * 10_000;
        let peak = i128::from(self.peak_equity.raw().max(0));
        let at = |bps: u32| scaled >= i128::from(bps) * peak;
        self.breaker = match self.breaker {
            BreakerState::Halted => BreakerState::Halted,
            _ if at(self.limits.drawdown_halt_bps) || equity.raw() <= 0 => BreakerState::Halted,
            _ if at(self.limits.drawdown_reduce_bps) => BreakerState::ReducingOnly,
            _ => BreakerState::Normal,
        };
        self.breaker
    }

    /// Stop-loss / take-profit on a position with average entry `entry`,
    /// marked at `mark`. Exact: `(mark - entry) * 10000` against
    /// `bps * entry`.
    pub fn exit_trigger(&self, position: Qty, entry: Price, mark: Price) -> Option<ExitTrigger> {
        if position.is_zero() || !entry.is_positive() {
            return None;
        }
        let sign = if position.raw() > 0 { 1i128 } else { -1i128 };
        let gain = (i128::from(mark.raw()) - i128::from(entry.raw())) * sign * 10_000;
        let e = i128::from(entry.raw());
        let (sl, tp) = (self.limits.stop_loss_bps, self.limits.take_profit_bps);
        if sl > 0 && gain <= -(i128::from(sl) * e) {
            Some(ExitTrigger::StopLoss)
        } else if tp > 0 && gain >= i128::from(tp) * e {
            Some(ExitTrigger::TakeProfit)
        } else {
            None
        }
    }

    /// True when the kill switch is on.
    pub fn killed(&self) -> bool {
        self.kill.is_triggered()
    }

    /// Bounds a target position: `[-max_position, max_position]`, then
    /// `|target| x mark <= max_notional`, then (kill switch, breaker, stale
    /// data, stop-loss / take-profit) no move away from zero beyond the
    /// current position. Counts the reason when it changes the target.
    pub fn clamp_target(&mut self, target: Qty, position: Qty, entry: Price, mark: Price, data_age: Nanos) -> Qty {
        let max = self.limits.max_position.raw();
        let mut t = target.raw().clamp(-max, max);
        if t != target.raw() {
            self.counts.add(Refusal::MaxPosition);
        }
        if !self.limits.allow_short {
            // policy, not a refusal: a spot account holds no negative amount
            t = t.max(0);
        }
        if mark.is_positive() {
            // largest qty with qty * mark <= max_notional; the division only
            // when the target is past it (|t| <= floor(N S / m) exactly when
            // |t| m <= N S)
            let within = i128::from(t).abs() * i128::from(mark.raw())
                <= i128::from(self.limits.max_notional.raw()) * i128::from(SCALE);
            let cap = if within {
                i64::MAX
            } else {
                mul_div(self.limits.max_notional.raw(), SCALE, mark.raw()).unwrap_or(i64::MAX)
            };
            let c = t.clamp(-cap, cap);
            if c != t {
                self.counts.add(Refusal::MaxNotional);
                t = c;
            }
        }
        let reduce_only = |t: i64| {
            let p = position.raw();
            t.clamp(p.min(0), p.max(0))
        };
        let restrict = |t: i64, r: Refusal, counts: &mut RefusalCounts| {
            let c = reduce_only(t);
            if c != t {
                counts.add(r);
            }
            c
        };
        if self.killed() {
            return Qty::from_raw(if self.limits.flatten_on_kill { 0 } else { position.raw() });
        }
        match self.breaker {
            BreakerState::Halted => return position,
            BreakerState::ReducingOnly => t = restrict(t, Refusal::ReducingOnly, &mut self.counts),
            BreakerState::Normal => {}
        }
        if data_age > self.limits.stale_after {
            t = restrict(t, Refusal::StaleData, &mut self.counts);
        }
        if let Some(exit) = self.exit_trigger(position, entry, mark) {
            self.counts.add(match exit {
                ExitTrigger::StopLoss => Refusal::StopLoss,
                ExitTrigger::TakeProfit => Refusal::TakeProfit,
            });
            t = 0;
        }
        Qty::from_raw(t)
    }

    /// Vets one order against every limit (worst case: all open orders on
    /// its side fill too) and, if it passes, takes an order-rate token.
    ///
    /// # Errors
    /// The first [`Refusal`] that applies (also counted).
    pub fn check_order(&mut self, o: &OrderCheck, now: Nanos) -> Result<(), Refusal> {
        let r = self.vet(o, now);
        if let Err(reason) = r {
            self.counts.add(reason);
        }
        r
    }

    fn vet(&mut self, o: &OrderCheck, now: Nanos) -> Result<(), Refusal> {
        if !o.qty.is_positive() || !o.mid.is_positive() {
            return Err(Refusal::NoMarketData);
        }
        let sign = o.side.sign();
        let pos = i128::from(o.position.raw());
        let after = pos + i128::from(sign) * (i128::from(o.open_same_side.raw()) + i128::from(o.qty.raw()));
        // reducing: the worst-case position stays on the same side of zero
        // and gets smaller (all open same-side orders included)
        let reducing = after.abs() < pos.abs() && (after == 0 || after.signum() == pos.signum());
        if self.killed() && !(self.limits.flatten_on_kill && reducing) {
            return Err(Refusal::KillSwitch);
        }
        match self.breaker {
            BreakerState::Halted => return Err(Refusal::Halted),
            BreakerState::ReducingOnly if !reducing => return Err(Refusal::ReducingOnly),
            _ => {}
        }
        if o.open_orders >= self.limits.max_open_orders as usize {
            return Err(Refusal::MaxOpenOrders);
        }
        if let Some(price) = o.price {
            let diff = (i128::from(price.raw()) - i128::from(o.mid.raw())).abs() * 10_000;
            if diff > i128::from(self.limits.price_band_bps) * i128::from(o.mid.raw()) {
                return Err(Refusal::PriceBand);
            }
        }
        if !reducing {
            if o.data_age > self.limits.stale_after {
                return Err(Refusal::StaleData);
            }
            if after.abs() > i128::from(self.limits.max_position.raw()) {
                return Err(Refusal::MaxPosition);
            }
            let reference = o.price.map_or(o.mid, |p| p.max(o.mid));
            let worst = i64::try_from(after.abs()).unwrap_or(i64::MAX);
            if notional(Qty::from_raw(worst), reference) > self.limits.max_notional {
                return Err(Refusal::MaxNotional);
            }
        }
        if !self.bucket.try_take(now) {
            return Err(Refusal::OrderRate);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn limits() -> RiskLimits {
        RiskLimits {
            capital: Amount::parse("10000").unwrap(),
            max_position: Qty::parse("1").unwrap(),
            max_notional: Amount::parse("150").unwrap(),
            max_orders_per_sec: 2.0,
            order_burst: 2,
            max_open_orders: 3,
            price_band_bps: 100,
            stop_loss_bps: 200,
            take_profit_bps: 300,
            drawdown_reduce_bps: 500,
            drawdown_halt_bps: 1000,
            stale_after: Nanos::from_millis(1000),
            kill_switch_file: None,
            flatten_on_kill: true,
            allow_short: true,
            cash_reserve_bps: 100,
        }
    }

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    fn buy(qty: &str, price: &str) -> OrderCheck {
        OrderCheck {
            side: Side::Buy,
            qty: q(qty),
            price: Some(p(price)),
            mid: p("100"),
            position: Qty::ZERO,
            open_same_side: Qty::ZERO,
            open_orders: 0,
            data_age: Nanos(0),
        }
    }

    #[test]
    fn breaker_switches_at_exact_thresholds() {
        let mut r = RiskManager::new(limits(), KillSwitch::new(), Nanos(0));
        assert_eq!(r.on_equity(Amount::parse("9500.00000001").unwrap()), BreakerState::Normal);
        assert_eq!(r.on_equity(Amount::parse("9500").unwrap()), BreakerState::ReducingOnly);
        assert_eq!(r.drawdown_bps(), 500);
        assert_eq!(r.on_equity(Amount::parse("9800").unwrap()), BreakerState::Normal);
        assert_eq!(r.on_equity(Amount::parse("9000.00000001").unwrap()), BreakerState::ReducingOnly);
        assert_eq!(r.on_equity(Amount::parse("9000").unwrap()), BreakerState::Halted);
        assert_eq!(r.on_equity(Amount::parse("20000").unwrap()), BreakerState::Halted, "halt latches");
        r.reset_breaker();
        assert_eq!(r.breaker(), BreakerState::Normal);
        // peak follows new highs
        assert_eq!(r.on_equity(Amount::parse("19000").unwrap()), BreakerState::ReducingOnly);
    }

    #[test]
    fn order_checks_refuse_with_reasons() {
        let mut r = RiskManager::new(limits(), KillSwitch::new(), Nanos(0));
        assert_eq!(r.check_order(&buy("1", "100"), Nanos(0)), Ok(()));
        assert_eq!(r.check_order(&buy("1.6", "100"), Nanos(0)), Err(Refusal::MaxPosition));
        assert_eq!(r.check_order(&buy("1", "101.5"), Nanos(0)), Err(Refusal::PriceBand));
        let mut o = buy("1", "100");
        o.open_same_side = q("0.5");
        assert_eq!(r.check_order(&o, Nanos(0)), Err(Refusal::MaxPosition));
        let mut o = buy("1", "200");
        o.mid = p("200");
        assert_eq!(r.check_order(&o, Nanos(0)), Err(Refusal::MaxNotional));
        let mut o = buy("0.1", "100");
        o.open_orders = 3;
        assert_eq!(r.check_order(&o, Nanos(0)), Err(Refusal::MaxOpenOrders));
        let mut o = buy("0.1", "100");
        o.data_age = Nanos::from_millis(1001);
        assert_eq!(r.check_order(&o, Nanos(0)), Err(Refusal::StaleData));
        // a reducing order passes stale data
        o.position = q("0.5");
        o.side = Side::Sell;
        assert_eq!(r.check_order(&o, Nanos(0)), Ok(()));
        // bucket of 2 is now empty
        assert_eq!(r.check_order(&buy("0.1", "100"), Nanos(0)), Err(Refusal::OrderRate));
        assert_eq!(r.check_order(&buy("0.1", "100"), Nanos::from_millis(500)), Ok(()));
        assert_eq!(r.refusals().get(Refusal::MaxPosition), 2);
        assert_eq!(r.refusals().get(Refusal::OrderRate), 1);
    }

    #[test]
    fn kill_switch_and_breaker_allow_only_reducing() {
        let kill = KillSwitch::new();
        let mut r = RiskManager::new(limits(), kill.clone(), Nanos(0));
        kill.trigger();
        assert_eq!(r.check_order(&buy("0.1", "100"), Nanos(0)), Err(Refusal::KillSwitch));
        let mut flatten = buy("0.5", "100");
        flatten.side = Side::Sell;
        flatten.position = q("0.5");
        assert_eq!(r.check_order(&flatten, Nanos(0)), Ok(()));
        assert_eq!(r.clamp_target(q("1"), q("0.5"), p("100"), p("100"), Nanos(0)), Qty::ZERO);
        kill.reset();
        r.on_equity(Amount::parse("9400").unwrap());
        assert_eq!(r.check_order(&buy("0.1", "100"), Nanos::from_millis(1000)), Err(Refusal::ReducingOnly));
        assert_eq!(r.clamp_target(q("1"), q("0.5"), p("100"), p("100"), Nanos(0)), q("0.5"));
        assert_eq!(r.clamp_target(q("-1"), q("0.5"), p("100"), p("100"), Nanos(0)), Qty::ZERO);
    }

    #[test]
    fn stop_loss_and_take_profit_are_exact() {
        let r = RiskManager::new(limits(), KillSwitch::new(), Nanos(0));
        let long = q("1");
        assert_eq!(r.exit_trigger(long, p("100"), p("98.00000001")), None);
        assert_eq!(r.exit_trigger(long, p("100"), p("98")), Some(ExitTrigger::StopLoss));
        assert_eq!(r.exit_trigger(long, p("100"), p("103")), Some(ExitTrigger::TakeProfit));
        let short = q("-1");
        assert_eq!(r.exit_trigger(short, p("100"), p("102")), Some(ExitTrigger::StopLoss));
        assert_eq!(r.exit_trigger(short, p("100"), p("97")), Some(ExitTrigger::TakeProfit));
        assert_eq!(r.exit_trigger(Qty::ZERO, p("100"), p("50")), None);
    }

    proptest::proptest! {
        /// Whatever the orders and prices, an accepted order never takes the
        /// worst-case position past the limit, the order rate never exceeds
        /// `burst + rate x window`, and the open-order count stays below the limit.
        #[test]
        fn accepted_orders_respect_every_limit(
            ops in proptest::collection::vec((0u64..400, proptest::bool::ANY, 1i64..80_000_000, -40i64..40, 0i64..150_000_000, 0usize..5), 1..200)
        ) {
            let lim = limits();
            let mut r = RiskManager::new(lim.clone(), KillSwitch::new(), Nanos(0));
            let mut now = 0u64;
            let mut accepted: Vec<u64> = Vec::new();
            for (dt_ms, buy, qty, off, open, open_orders) in ops {
                now += dt_ms * 1_000_000;
                let position = Qty::from_raw(open - 75_000_000);
                let o = OrderCheck {
                    side: if buy { Side::Buy } else { Side::Sell },
                    qty: Qty::from_raw(qty),
                    price: Some(Price::from_raw(100 * SCALE + off * 1_000_000)),
                    mid: p("100"),
                    position,
                    open_same_side: Qty::from_raw(open / 3),
                    open_orders,
                    data_age: Nanos(0),
                };
                if r.check_order(&o, Nanos(now)).is_ok() {
                    let after = position.raw() + o.side.sign() * (o.open_same_side.raw() + qty);
                    let reducing = after.abs() < position.raw().abs();
                    proptest::prop_assert!(reducing || after.abs() <= lim.max_position.raw());
                    proptest::prop_assert!(open_orders < lim.max_open_orders as usize);
                    accepted.push(now);
                    let window = accepted.iter().filter(|t| now - **t < 1_000_000_000).count();
                    proptest::prop_assert!(window as f64 <= f64::from(lim.order_burst) + lim.max_orders_per_sec);
                }
            }
        }
    }

    #[test]
    fn target_is_clamped_to_position_and_notional() {
        let mut r = RiskManager::new(limits(), KillSwitch::new(), Nanos(0));
        assert_eq!(r.clamp_target(q("5"), Qty::ZERO, Price::ZERO, p("100"), Nanos(0)), q("1"));
        assert_eq!(r.clamp_target(q("-5"), Qty::ZERO, Price::ZERO, p("200"), Nanos(0)), q("-0.75"));
        assert_eq!(r.clamp_target(q("0.5"), q("0.2"), p("100"), p("100"), Nanos::from_millis(2000)), q("0.2"));
    }
}
