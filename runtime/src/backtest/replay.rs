//! The backtest loop: every event goes to the venue model first (fills
//! happen), then, after the market-data latency, to the signal source; the
//! target fraction becomes a target position (`equity x fraction / price`,
//! rounded by the exchange filters) and, when it differs enough from the
//! position held plus the orders working, an order goes to the venue.
//!
//! The account is a spot account: it starts with quote only, cannot borrow,
//! so targets are clamped to `[0, 1]` of equity (a negative forecast means
//! flat). Storage is reserved up front; the loop allocates only when the
//! fill list outgrows its reserve.

use odex_shared::market::{Amount, Nanos, Price, Qty, Side};

use super::config::{BacktestConfig, BacktestError, Execution};
use super::signal::SignalSource;
use crate::event::{MarketData, MarketEvent};
use crate::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderType, SymbolId, TimeInForce};
use crate::venue::latency::{Latency, LatencyModel};
use crate::venue::rng::Rng;
use crate::venue::{ReportSink, SymbolConfig, Venue, VenueConfig};

/// The one symbol a backtest trades.
pub const SYMBOL: SymbolId = SymbolId(0);

/// One sample of the equity curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityPoint {
    /// Event time.
    pub time: Nanos,
    /// Mark price (mid or close).
    pub mark: Price,
    /// Base held.
    pub base: Qty,
    /// Quote held.
    pub quote: Amount,
    /// `quote + base x mark`, exact.
    pub equity: Amount,
    /// The signal's target fraction after this event (before clamping).
    pub target: f64,
}

/// One fill of the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRow {
    /// Venue time.
    pub time: Nanos,
    /// Venue order id.
    pub order_id: u64,
    /// Client order id.
    pub client_id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Commission, in quote.
    pub fee: Amount,
    /// Maker or taker.
    pub maker: bool,
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Equity samples.
    pub equity: Vec<EquityPoint>,
    /// Fills, in order.
    pub fills: Vec<FillRow>,
    /// Events replayed.
    pub events: u64,
    /// Events the signal used.
    pub observations: u64,
    /// Orders accepted.
    pub orders: u64,
    /// Orders refused at submission.
    pub rejects: u64,
    /// Orders that ended rejected or expired in matching.
    pub unfilled_ends: u64,
    /// The venue at the end (ledger, balances).
    pub venue: Venue,
}

#[derive(Debug, Default)]
struct Collector {
    fills: Vec<FillRow>,
    unfilled_ends: u64,
}

impl ReportSink for Collector {
    fn report(&mut self, r: &ExecutionReport) {
        match r.exec_type {
            ExecType::Trade => self.fills.push(FillRow {
                time: r.time,
                order_id: r.order_id,
                client_id: r.client_id,
                side: r.side,
                price: r.last_price,
                qty: r.last_qty,
                fee: r.commission,
                maker: r.maker,
            }),
            ExecType::Rejected | ExecType::Expired if r.cum_qty.is_zero() => self.unfilled_ends += 1,
            _ => {}
        }
    }
}

/// The venue config a backtest uses.
pub fn venue_config(config: &BacktestConfig) -> VenueConfig {
    VenueConfig {
        symbols: vec![SymbolConfig {
            names: config.symbol.clone(),
            filters: config.filters,
            base_balance: Qty::ZERO,
            quote_balance: config.initial_quote,
        }],
        fees: config.fees,
        slippage: config.slippage,
        order_latency: config.order_latency.clone(),
        seed: config.seed,
        max_open_orders: 16,
        fill_log_capacity: 4096,
        bar_participation: config.bar_participation,
        fill_on_touch: false,
        market_buy_reserve_bps: config.buy_reserve_bps,
        volatility_alpha: 0.05,
        strict_bar_arrival: config.strict_bar_arrival,
    }
}

/// Replays `events` with `signal` deciding on every one.
///
/// # Errors
/// [`BacktestError::Config`] or [`BacktestError::Venue`] for a bad config.
pub fn replay<S: SignalSource>(
    config: &BacktestConfig,
    events: &[MarketEvent],
    signal: &mut S,
) -> Result<Replay, BacktestError> {
    config.validate()?;
    let mut venue = Venue::new(&venue_config(config))?;
    let mut md_latency = Latency::new(config.market_data_latency.clone(), Rng::stream(config.seed, 2))
        .map_err(|_| BacktestError::Config { key: "market_data_latency", why: "out of range" })?;
    let every = u64::from(config.equity_every);
    let mut sink = Collector { fills: Vec::with_capacity(4096), unfilled_ends: 0 };
    let mut equity_curve = Vec::with_capacity(events.len() / usize::try_from(every).unwrap_or(1).max(1) + 2);
    let (mut n_events, mut observations, mut orders, mut rejects) = (0u64, 0u64, 0u64, 0u64);
    let fee_rate = config.fees.maker.raw().max(config.fees.taker.raw()) as f64 / 1e8;
    let reserve = config.buy_reserve_bps * 1e-4;
    let mut decided = Nanos(0);
    let mut seq: u64 = 0;
    for ev in events {
        n_events += 1;
        venue.on_market(ev, &mut sink);
        if !signal.observe(ev) {
            continue;
        }
        observations += 1;
        let t = ev.exchange_time.unwrap_or(ev.recv);
        let now = Nanos(t.0.saturating_add(md_latency.next_latency().0)).max(decided);
        decided = now;
        let Some(mark) = venue.reference_price(SYMBOL) else { continue };
        let Some(acct) = venue.account(SYMBOL).copied() else { continue };
        let target = signal.target_fraction();
        let equity = acct.quote.saturating_add(mark.notional(acct.base).unwrap_or(Amount::ZERO));
        if observations % every == 0 {
            equity_curve.push(EquityPoint { time: t, mark, base: acct.base, quote: acct.quote, equity, target });
        }
        let fraction = if target.is_finite() { target.clamp(0.0, 1.0) } else { 0.0 };
        let (bid, ask) = match ev.data {
            MarketData::Book(b) => (b.top.bid, b.top.ask),
            _ => (mark, mark),
        };
        let is_bar = matches!(ev.data, MarketData::Bar(_));
        let mark_f = mark.to_f64();
        let equity_f = equity.to_f64();
        if !(mark_f > 0.0 && equity_f > 0.0) {
            continue;
        }
        // what the working orders will add
        let mut working = 0.0;
        let mut open = None;
        for o in venue.open_orders(SYMBOL) {
            working += o.request.side.sign() as f64 * o.remaining().to_f64();
            open = Some((o.request.side, o.request.price));
        }
        let delta = equity_f * fraction / mark_f - (acct.base.to_f64() + working);
        let wanted = (delta.abs() * mark_f >= config.min_rebalance * equity_f).then_some(if delta > 0.0 {
            Side::Buy
        } else {
            Side::Sell
        });
        let price_for = |side: Side| -> Option<Price> {
            let f = &config.filters;
            let scaled = |p: Price, bps: f64| Price::from_f64(p.to_f64() * (1.0 + bps * 1e-4)).ok();
            match (config.execution, side) {
                (Execution::Market, _) => None,
                (Execution::MarketableLimit { offset_bps }, Side::Buy) => {
                    scaled(ask, offset_bps).map(|p| f.round_price(p, Side::Buy))
                }
                (Execution::MarketableLimit { offset_bps }, Side::Sell) => {
                    scaled(bid, -offset_bps).map(|p| f.round_price(p, Side::Sell))
                }
                (Execution::Passive { offset_bps }, Side::Buy) => {
                    let p = if is_bar { scaled(mark, -offset_bps)? } else { bid };
                    Some(f.round_price(p, Side::Buy))
                }
                (Execution::Passive { offset_bps }, Side::Sell) => {
                    let p = if is_bar { scaled(mark, offset_bps)? } else { ask };
                    Some(f.round_price(p, Side::Sell))
                }
            }
        };
        if let Some((side, price)) = open {
            // Market and IOC orders finish on arrival; a passive order that no
            // longer matches the wanted side and price is replaced.
            if matches!(config.execution, Execution::Passive { .. })
                && wanted.is_none_or(|w| w != side || price_for(w) != price)
            {
                venue.cancel_all(SYMBOL, now);
            }
            continue;
        }
        let Some(side) = wanted else { continue };
        let qty_f = match side {
            // what the venue will lock: mark x (1 + reserve) x qty x (1 + fee),
            // with a hair of margin for its rounding up
            Side::Buy => {
                delta.min(acct.free_quote().to_f64() / (mark_f * (1.0 + fee_rate) * (1.0 + reserve) * (1.0 + 1e-6)))
            }
            Side::Sell => (-delta).min(acct.free_base().to_f64()),
        };
        let kind = match config.execution {
            Execution::Market => OrderType::Market,
            Execution::MarketableLimit { .. } => OrderType::Limit,
            Execution::Passive { .. } => OrderType::LimitMaker,
        };
        let Ok(raw_qty) = Qty::from_f64(qty_f.max(0.0)) else { continue };
        let qty =
            config.filters.round_qty(raw_qty.min(if side == Side::Sell { acct.free_base() } else { raw_qty }), kind);
        if !qty.is_positive() || mark.notional(qty).unwrap_or(Amount::ZERO).raw() < config.filters.min_notional().raw()
        {
            continue;
        }
        seq += 1;
        let Ok(client_id) = ClientOrderId::with_sequence(b"bt-", seq) else { continue };
        let req = OrderRequest {
            symbol: SYMBOL,
            client_id,
            side,
            kind,
            time_in_force: (kind == OrderType::Limit).then_some(TimeInForce::Ioc),
            price: price_for(side),
            qty,
        };
        match venue.submit(req, now) {
            Ok(_) => orders += 1,
            Err(_) => rejects += 1,
        }
    }
    Ok(Replay {
        equity: equity_curve,
        fills: sink.fills,
        events: n_events,
        observations,
        orders,
        rejects,
        unfilled_ends: sink.unfilled_ends,
        venue,
    })
}
