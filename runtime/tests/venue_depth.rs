//! The L2 book and the venue's depth matching on the real 2021-10-12
//! capture: REST snapshots, then `depthUpdate` diffs by Binance's rules,
//! agree with every `bookTicker` that carries the same update id; the venue
//! fed those books fills takers at the recorded levels; and neither the
//! book nor the venue allocates per update.
mod common;

use std::collections::BTreeMap;

use odex_runtime::alloc_count as counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

use odex_runtime::binance::{MarketEvent, MarketFrame, PartialDepth};
use odex_runtime::order::{ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderType, SymbolId};
use odex_runtime::venue::{Applied, DepthBook, SymbolConfig, SymbolNames, Venue, VenueConfig};
use odex_shared::market::{Amount, Nanos, Qty, Side};

/// Each symbol's book from its REST snapshot (`BINANCE.http.0.0`).
fn snapshots() -> BTreeMap<String, DepthBook> {
    let text = common::read_data("binance/ws-capture-2021-10-12/BINANCE.http.0.0");
    let mut books = BTreeMap::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let url = std::str::from_utf8(&line[..line.windows(4).position(|w| w == b" -> ").unwrap()]).unwrap();
        let symbol = url.split("symbol=").nth(1).unwrap().split('&').next().unwrap().to_string();
        let json = &line[line.windows(2).position(|w| w == b": ").unwrap() + 2..];
        let snap = PartialDepth::decode(json).unwrap();
        let mut book = DepthBook::new(1_000);
        book.apply_snapshot(
            snap.last_update_id,
            snap.bids.iter().map(Result::unwrap),
            snap.asks.iter().map(Result::unwrap),
        );
        books.insert(symbol, book);
    }
    books
}

#[test]
fn snapshots_and_diffs_follow_binance_rules_and_agree_with_the_book_ticker() {
    let mut books = snapshots();
    assert_eq!(books.len(), 4, "{:?}", books.keys());
    // bookTickers by (symbol, update id): a ticker may arrive before the
    // batched diff that brings the book to its id
    let frames = common::capture_frames();
    let mut tickers = BTreeMap::new();
    for frame in &frames {
        if let Ok(MarketFrame::Event { event: MarketEvent::BookTicker(t), .. }) = MarketFrame::decode(frame) {
            tickers.insert((t.symbol.as_str().unwrap().to_string(), t.update_id), t.top);
        }
    }
    let (mut applied, mut stale, mut agreements) = (0, 0, 0);
    for frame in &frames {
        let Ok(MarketFrame::Event { event: MarketEvent::DepthUpdate(u), .. }) = MarketFrame::decode(frame) else {
            continue;
        };
        let symbol = u.symbol.as_str().unwrap();
        let book = books.get_mut(symbol).unwrap();
        let r = book
            .apply_diff(
                u.first_update_id,
                u.final_update_id,
                u.bids.iter().map(Result::unwrap),
                u.asks.iter().map(Result::unwrap),
            )
            .unwrap_or_else(|e| panic!("{symbol}: {e}"));
        match r {
            Applied::Updated => applied += 1,
            Applied::Stale => stale += 1,
        }
        if r == Applied::Updated
            && let Some(top) = tickers.get(&(symbol.to_string(), u.final_update_id))
        {
            assert_eq!(book.top().as_ref(), Some(top), "{symbol} at update {}", u.final_update_id);
            agreements += 1;
        }
    }
    assert_eq!(applied + stale, 177);
    assert!(applied > 150, "{applied} applied, {stale} stale");
    assert_eq!(agreements, 26);
}

fn venue() -> Venue {
    Venue::new(&VenueConfig {
        symbols: vec![SymbolConfig {
            names: SymbolNames { symbol: "NKNUSDT".into(), base_asset: "NKN".into(), quote_asset: "USDT".into() },
            filters: odex_runtime::filters::SymbolFilters::tick_step(
                odex_shared::market::Price::parse("0.0001").unwrap(),
                Qty::parse("0.1").unwrap(),
            ),
            base_balance: Qty::parse("1000000").unwrap(),
            quote_balance: Amount::parse("1000000").unwrap(),
        }],
        depth_levels: 1_000,
        ..VenueConfig::default()
    })
    .unwrap()
}

#[test]
fn the_venue_fills_takers_at_the_recorded_levels_without_allocating() {
    const S: SymbolId = SymbolId(0);
    let book = snapshots().remove("NKNUSDT").unwrap();
    let asks = book.levels(Side::Sell);
    // a market buy for the first three ask levels and half the fourth
    let want = asks[..3].iter().fold(Qty::ZERO, |a, l| a.saturating_add(l.qty));
    let half = Qty::from_raw(asks[3].qty.raw() / 2 / 10_000_000 * 10_000_000);
    let mut v = venue();
    let mut out: Vec<ExecutionReport> = Vec::new();
    v.on_depth(S, &book, Nanos(1), &mut out);
    let req = OrderRequest {
        symbol: S,
        client_id: ClientOrderId::new(b"walk").unwrap(),
        side: Side::Buy,
        kind: OrderType::Market,
        time_in_force: None,
        price: None,
        qty: want.saturating_add(half),
    };
    v.submit(req, Nanos(2)).unwrap();
    v.advance(Nanos(2), &mut out);
    let fills: Vec<_> =
        out.iter().filter(|r| r.exec_type == ExecType::Trade).map(|r| (r.last_price, r.last_qty)).collect();
    let expect: Vec<_> = asks[..3].iter().map(|l| (l.price, l.qty)).chain([(asks[3].price, half)]).collect();
    assert_eq!(fills, expect);

    // the whole session's books through a venue: no allocation after warm-up
    let mut books = snapshots();
    let mut live = books.remove("NKNUSDT").unwrap();
    let mut v = venue();
    let mut sink = Vec::with_capacity(1_024);
    let frames = common::capture_frames();
    v.on_depth(S, &live, Nanos(1), &mut sink);
    assert!(counting::is_global());
    let allocations = counting::allocations_in(|| {
        for (i, frame) in frames.iter().enumerate() {
            let Ok(MarketFrame::Event { event: MarketEvent::DepthUpdate(u), .. }) = MarketFrame::decode(frame) else {
                continue;
            };
            if !u.symbol.eq_str("NKNUSDT") {
                continue;
            }
            let _ = live.apply_diff(
                u.first_update_id,
                u.final_update_id,
                u.bids.iter().map(Result::unwrap),
                u.asks.iter().map(Result::unwrap),
            );
            v.on_depth(S, &live, Nanos(10 + i as u64), &mut sink);
        }
    });
    assert_eq!(allocations, 0, "depth updates allocated");
    assert_eq!(v.top(S), live.top());
}
