//! `SimExchange` over the venue model (`crate::venue::Venue`): the
//! simulator's matching with the venue's fees, slippage, queue and partial
//! fills instead of [`TouchExchange`](super::TouchExchange).
//!
//! Not in the module tree on the `sim` branch, which does not have
//! `crate::venue` yet: once the `venue` branch is merged, add
//! `pub mod venue_adapter;` to `sim/mod.rs` (it was compiled and tested
//! against that branch's `venue` module).
//!
//! Mapping: orders are submitted with zero order latency (the server's
//! `--delay-ms` fault is the wire delay) and delivered at once with
//! `Venue::advance`, so `order.place` can answer FULL with the fills the
//! arrival produced. Every `ExecutionReport` updates a history kept here
//! (the venue's own fill log is a bounded ring) and becomes a
//! [`UserEvent`]. The venue keeps one account per symbol: balances of an
//! asset shared by several symbols (USDT) are summed across them, and a
//! starting balance of a quote asset is split evenly between its symbols.

use odex_shared::market::{Amount, BookTop, Nanos, Qty};

use crate::event::{BookUpdate, MarketData, MarketEvent};
use crate::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, SymbolId};
use crate::venue::{FixedFees, LatencySpec, SymbolConfig, SymbolNames, Venue, VenueConfig, VenueError};

use super::config::SimConfig;
use super::exchange::{ApiError, Balance, OrderRef, PlaceOrder, SimExchange, SimFill, SimOrder, UserEvent};

fn api(e: VenueError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

/// The venue model behind the simulator's WebSocket API.
#[derive(Debug)]
pub struct VenueExchange {
    venue: Venue,
    names: Vec<SymbolNames>,
    history: Vec<SimOrder>,
    events: Vec<UserEvent>,
    update_id: u64,
}

impl VenueExchange {
    /// A venue for the simulator's symbols, balances and commission.
    ///
    /// # Errors
    /// The venue's config error, as text.
    pub fn new(config: &SimConfig, seed: u64) -> Result<Self, String> {
        let bps = config.commission.to_f64() * 10_000.0;
        let fees = FixedFees::from_bps(bps, bps).map_err(|e| e.to_string())?;
        let balance = |asset: &str| config.balances.iter().find(|(a, _)| a == asset).map_or(Amount::ZERO, |(_, v)| *v);
        let sharing = |asset: &str| config.symbols.iter().filter(|s| s.quote == asset).count().max(1);
        let symbols: Vec<SymbolConfig> = config
            .symbols
            .iter()
            .map(|s| SymbolConfig {
                names: SymbolNames { symbol: s.name.clone(), base_asset: s.base.clone(), quote_asset: s.quote.clone() },
                filters: s.filters,
                base_balance: Qty::from_raw(balance(&s.base).raw()),
                quote_balance: Amount::from_raw(
                    balance(&s.quote).raw() / i64::try_from(sharing(&s.quote)).unwrap_or(1),
                ),
            })
            .collect();
        let names = symbols.iter().map(|s| s.names.clone()).collect();
        let vc = VenueConfig {
            symbols,
            fees,
            order_latency: LatencySpec::Constant(Nanos(0)),
            seed,
            fill_on_touch: true,
            ..VenueConfig::default()
        };
        let venue = Venue::new(&vc).map_err(|e| e.to_string())?;
        Ok(Self { venue, names, history: Vec::new(), events: Vec::new(), update_id: 0 })
    }

    fn symbol_id(&self, symbol: &str) -> Result<SymbolId, ApiError> {
        self.names
            .iter()
            .position(|n| n.symbol == symbol)
            .and_then(|i| u16::try_from(i).ok())
            .map(SymbolId)
            .ok_or_else(|| api(VenueError::InvalidSymbol))
    }

    fn find(&self, symbol: &str, by: &OrderRef) -> Option<usize> {
        self.history.iter().position(|o| {
            o.symbol == symbol
                && match by {
                    OrderRef::Id(id) => o.order_id == *id,
                    OrderRef::Client(c) => &o.client_id == c,
                }
        })
    }

    /// Applies reports to the history and queues their events.
    fn absorb(&mut self, reports: &[ExecutionReport]) {
        for r in reports {
            let Some(names) = self.names.get(usize::from(r.symbol.0)).cloned() else { continue };
            let ms = r.time.as_millis();
            let idx = match self.history.iter().position(|o| o.order_id == r.order_id) {
                Some(i) => i,
                None => {
                    self.history.push(SimOrder {
                        order_id: r.order_id,
                        symbol: names.symbol.clone(),
                        client_id: r.client_id.as_str().to_string(),
                        side: r.side,
                        kind: r.kind,
                        time_in_force: None,
                        price: r.price,
                        orig_qty: r.qty,
                        executed_qty: Qty::ZERO,
                        cum_quote: Amount::ZERO,
                        status: r.status,
                        time_ms: ms,
                        update_ms: ms,
                        fills: Vec::new(),
                    });
                    self.history.len() - 1
                }
            };
            let fill = (r.exec_type == ExecType::Trade).then(|| SimFill {
                price: r.last_price,
                qty: r.last_qty,
                commission: r.commission,
                commission_asset: if r.fee_in_base { names.base_asset.clone() } else { names.quote_asset.clone() },
                trade_id: r.trade_id,
                maker: r.maker,
                time_ms: ms,
            });
            let Some(o) = self.history.get_mut(idx) else { continue };
            o.status = r.status;
            o.executed_qty = r.cum_qty;
            o.cum_quote = r.cum_quote;
            o.update_ms = ms;
            if let Some(f) = &fill {
                o.fills.push(f.clone());
            }
            let order = o.clone();
            self.events.push(UserEvent::Execution { order, exec_type: r.exec_type, fill, time_ms: ms });
            if let Some(acct) = self.venue.account(r.symbol) {
                self.events.push(UserEvent::Account {
                    time_ms: ms,
                    balances: vec![
                        Balance {
                            asset: names.base_asset.clone(),
                            free: Amount::from_raw(acct.free_base().raw()),
                            locked: Amount::from_raw(acct.locked_base.raw()),
                        },
                        Balance {
                            asset: names.quote_asset.clone(),
                            free: acct.free_quote(),
                            locked: acct.locked_quote,
                        },
                    ],
                });
            }
        }
    }

    fn run(&mut self, now_ms: u64) {
        let mut reports: Vec<ExecutionReport> = Vec::new();
        self.venue.advance(Nanos::from_millis(now_ms), &mut reports);
        self.absorb(&reports);
    }
}

impl SimExchange for VenueExchange {
    fn place(&mut self, order: &PlaceOrder, now_ms: u64) -> Result<SimOrder, ApiError> {
        let symbol = self.symbol_id(&order.symbol)?;
        let client_id = ClientOrderId::new(order.client_id.as_bytes()).map_err(|_| {
            ApiError::new(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            )
        })?;
        let req = OrderRequest {
            symbol,
            client_id,
            side: order.side,
            kind: order.kind,
            time_in_force: order.time_in_force,
            price: order.price,
            qty: order.qty,
        };
        let ack = self.venue.submit(req, Nanos::from_millis(now_ms)).map_err(api)?;
        self.absorb(&[ack]);
        if let Some(o) = self.history.iter_mut().find(|o| o.order_id == ack.order_id) {
            o.time_in_force = order.time_in_force;
        }
        self.run(now_ms);
        self.history
            .iter()
            .find(|o| o.order_id == ack.order_id)
            .cloned()
            .ok_or_else(|| ApiError::new(-1000, "An unknown error occurred while processing the request."))
    }

    fn cancel(&mut self, symbol: &str, by: &OrderRef, now_ms: u64) -> Result<SimOrder, ApiError> {
        let sid = self.symbol_id(symbol)?;
        let idx = self.find(symbol, by).ok_or_else(|| api(VenueError::UnknownOrder))?;
        let id = self.history.get(idx).map_or(0, |o| o.order_id);
        self.venue.cancel(sid, crate::venue::OrderRef::Id(id), Nanos::from_millis(now_ms)).map_err(api)?;
        self.run(now_ms);
        self.history.get(idx).cloned().ok_or_else(|| api(VenueError::UnknownOrder))
    }

    fn status(&self, symbol: &str, by: &OrderRef) -> Result<SimOrder, ApiError> {
        self.symbol_id(symbol)?;
        self.find(symbol, by)
            .and_then(|i| self.history.get(i).cloned())
            .ok_or_else(|| ApiError::new(-2013, "Order does not exist."))
    }

    fn open_orders(&self, symbol: Option<&str>) -> Vec<SimOrder> {
        self.history.iter().filter(|o| !o.status.is_final() && symbol.is_none_or(|s| s == o.symbol)).cloned().collect()
    }

    fn cancel_all(&mut self, symbol: &str, now_ms: u64) -> Result<Vec<SimOrder>, ApiError> {
        let sid = self.symbol_id(symbol)?;
        let open: Vec<u64> = self.open_orders(Some(symbol)).iter().map(|o| o.order_id).collect();
        if self.venue.cancel_all(sid, Nanos::from_millis(now_ms)) == 0 {
            return Err(api(VenueError::UnknownOrder));
        }
        self.run(now_ms);
        Ok(self.history.iter().filter(|o| open.contains(&o.order_id)).cloned().collect())
    }

    fn account(&self) -> Vec<Balance> {
        let mut out: Vec<Balance> = Vec::new();
        let mut add = |asset: &str, free: Amount, locked: Amount| match out.iter_mut().find(|b| b.asset == asset) {
            Some(b) => {
                b.free = b.free.saturating_add(free);
                b.locked = b.locked.saturating_add(locked);
            }
            None => out.push(Balance { asset: asset.to_string(), free, locked }),
        };
        for (i, n) in self.names.iter().enumerate() {
            let Some(acct) = u16::try_from(i).ok().and_then(|i| self.venue.account(SymbolId(i))) else { continue };
            add(&n.base_asset, Amount::from_raw(acct.free_base().raw()), Amount::from_raw(acct.locked_base.raw()));
            add(&n.quote_asset, acct.free_quote(), acct.locked_quote);
        }
        out
    }

    fn on_market(&mut self, symbol: &str, top: &BookTop, now_ms: u64) {
        let Ok(sid) = self.symbol_id(symbol) else { return };
        self.update_id += 1;
        let t = Nanos::from_millis(now_ms);
        let event = MarketEvent {
            recv: t,
            exchange_time: Some(t),
            data: MarketData::Book(BookUpdate { symbol: sid, update_id: self.update_id, top: *top }),
        };
        let mut reports: Vec<ExecutionReport> = Vec::new();
        self.venue.on_market(&event, &mut reports);
        self.absorb(&reports);
    }

    fn drain_events(&mut self, out: &mut Vec<UserEvent>) {
        out.append(&mut self.events);
    }

    fn orders(&self) -> Vec<SimOrder> {
        self.history.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderStatus, OrderType, TimeInForce};
    use odex_shared::market::{Price, Side};

    fn top(bid: &str, ask: &str) -> BookTop {
        BookTop {
            bid: Price::parse(bid).unwrap(),
            bid_qty: Qty::ONE,
            ask: Price::parse(ask).unwrap(),
            ask_qty: Qty::ONE,
        }
    }

    #[test]
    fn places_fills_and_cancels_through_the_venue() {
        let cfg = SimConfig::default();
        let mut ex = VenueExchange::new(&cfg, 1).unwrap();
        ex.on_market("ETHUSDT", &top("2000.00", "2000.01"), 1);
        let market = PlaceOrder {
            symbol: "ETHUSDT".into(),
            side: Side::Buy,
            kind: OrderType::Market,
            time_in_force: None,
            price: None,
            qty: Qty::parse("0.1").unwrap(),
            client_id: "m1".into(),
        };
        let o = ex.place(&market, 2).unwrap();
        assert_eq!(o.status, OrderStatus::Filled, "{o:?}");
        assert!(!o.fills.is_empty());
        let limit = PlaceOrder {
            kind: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(Price::parse("1900.00").unwrap()),
            client_id: "l1".into(),
            ..market.clone()
        };
        let o = ex.place(&limit, 3).unwrap();
        assert_eq!(o.status, OrderStatus::New);
        let c = ex.cancel("ETHUSDT", &OrderRef::Client("l1".into()), 4).unwrap();
        assert_eq!(c.status, OrderStatus::Canceled);
        assert_eq!(ex.cancel("ETHUSDT", &OrderRef::Id(999), 5).unwrap_err().code, -2011);
        let big = PlaceOrder { qty: Qty::parse("1000").unwrap(), client_id: "b".into(), ..market };
        assert_eq!(ex.place(&big, 6).unwrap_err().code, -2010);
        let mut events = Vec::new();
        ex.drain_events(&mut events);
        assert!(events.iter().any(|e| matches!(e, UserEvent::Account { .. })));
    }
}
