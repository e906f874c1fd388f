//! The venue's per-event path does not allocate: a counting global
//! allocator watches a session of book updates, trades, order submissions,
//! fills and cancels after warm-up.

use odex_runtime::alloc_count as counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

use odex_runtime::backtest::data::synthetic_book;
use odex_runtime::event::{MarketData, MarketEvent, TradeUpdate};
use odex_runtime::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderType, SymbolId, TimeInForce};
use odex_runtime::venue::{
    FixedFees, LatencySpec, OrderRef, ReportSink, Slippage, SymbolConfig, SymbolNames, Venue, VenueConfig,
};
use odex_shared::market::{Amount, Nanos, Qty, Side};

#[derive(Default)]
struct Counter {
    fills: u64,
    reports: u64,
}

impl ReportSink for Counter {
    fn report(&mut self, r: &ExecutionReport) {
        self.reports += 1;
        if r.exec_type == ExecType::Trade {
            self.fills += 1;
        }
    }
}

#[test]
fn matching_allocates_nothing_per_event() {
    const S: SymbolId = SymbolId(0);
    let events = synthetic_book(S, 60_000, Nanos(1_000_000), 3);
    let cfg = VenueConfig {
        symbols: vec![SymbolConfig {
            names: SymbolNames { symbol: "ETHUSDT".into(), base_asset: "ETH".into(), quote_asset: "USDT".into() },
            filters: odex_runtime::backtest::config::ethusdt_filters(),
            base_balance: Qty::from_raw(1_000 * 100_000_000),
            quote_balance: Amount::from_raw(10_000_000 * 100_000_000),
        }],
        fees: FixedFees::from_bps(1.0, 5.0).unwrap(),
        slippage: Slippage::BookWalk { levels: 3, spacing_bps: 1.0 },
        order_latency: LatencySpec::LogNormal { median: Nanos(300_000), sigma: 0.5 },
        fill_log_capacity: 256,
        ..VenueConfig::default()
    };
    let mut venue = Venue::new(&cfg).unwrap();
    let mut sink = Counter::default();
    let mut n = 0u64;
    let run = |venue: &mut Venue, sink: &mut Counter, range: std::ops::Range<usize>, n: &mut u64| {
        for (i, ev) in events[range].iter().enumerate() {
            venue.on_market(ev, sink);
            let MarketData::Book(b) = ev.data else { continue };
            let now = ev.recv;
            // a trade at the bid every third event, eating queues
            if i % 3 == 0 {
                let tr = MarketEvent {
                    recv: Nanos(now.0 + 1),
                    exchange_time: Some(Nanos(now.0 + 1)),
                    data: MarketData::Trade(TradeUpdate {
                        symbol: S,
                        trade_id: i as u64,
                        price: b.top.bid,
                        qty: Qty::from_raw(5_000_000),
                        taker_side: Side::Sell,
                    }),
                };
                venue.on_market(&tr, sink);
            }
            *n += 1;
            let side = if n.is_multiple_of(2) { Side::Buy } else { Side::Sell };
            let (kind, tif, price) = match *n % 4 {
                0 => (OrderType::Market, None, None),
                1 => (
                    OrderType::Limit,
                    Some(TimeInForce::Gtc),
                    Some(if side == Side::Buy { b.top.bid } else { b.top.ask }),
                ),
                2 => (
                    OrderType::Limit,
                    Some(TimeInForce::Ioc),
                    Some(if side == Side::Buy { b.top.ask } else { b.top.bid }),
                ),
                _ => (OrderType::LimitMaker, None, Some(if side == Side::Buy { b.top.bid } else { b.top.ask })),
            };
            let req = OrderRequest {
                symbol: S,
                client_id: ClientOrderId::with_sequence(b"a-", *n).unwrap(),
                side,
                kind,
                time_in_force: tif,
                price,
                qty: Qty::from_raw(1_000_000),
            };
            let _ = venue.submit(req, Nanos(now.0 + 2));
            if n.is_multiple_of(5)
                && let Some(id) = venue.ledger().open_orders().first().map(|o| o.order_id)
            {
                let _ = venue.cancel(S, OrderRef::Id(id), Nanos(now.0 + 3));
            }
        }
    };
    run(&mut venue, &mut sink, 0..10_000, &mut n);
    counting::reset();
    counting::arm(true);
    let before = counting::count();
    let fills_before = sink.fills;
    run(&mut venue, &mut sink, 10_000..60_000, &mut n);
    let after = counting::count();
    counting::arm(false);
    assert!(sink.fills - fills_before > 1_000, "the session must trade: {} fills", sink.fills - fills_before);
    assert_eq!(after - before, 0, "allocations on the per-event path");
}
