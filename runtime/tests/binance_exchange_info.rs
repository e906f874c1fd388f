//! Parsing the real 2021 `exchangeInfo` (1695 symbols, old filter names)
//! into per-symbol fixed-point filters.

mod common;

use odex_runtime::binance::exchange_info::parse_exchange_info;
use odex_runtime::filters::{LotSize, PercentPrice, PriceFilter};
use odex_shared::market::{Price, Qty};

fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn q(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

#[test]
fn real_exchange_info_from_the_2021_capture() {
    let raw = common::read_data("binance/ws-capture-2021-10-12/BINANCE.0");
    let first_line = raw.split(|&b| b == b'\n').next().unwrap();
    let text = std::str::from_utf8(first_line).unwrap();
    assert!(text.starts_with("https://api.binance.com/api/v3/exchangeInfo"), "unexpected first line");
    let json = &text[text.find(": ").unwrap() + 2..];
    let all = parse_exchange_info(json).unwrap();
    assert_eq!(all.len(), 1695);
    assert_eq!(all.iter().filter(|s| s.status == "TRADING").count(), 1262);
    // every symbol of 2021 has the old MIN_NOTIONAL and PERCENT_PRICE filters
    assert!(all.iter().all(|s| s.filters.price.is_some() && s.filters.lot.is_some() && s.filters.notional.is_some()));
    assert!(all.iter().all(|s| s.filters.percent.is_some_and(|p| p.legacy) && s.filters.notional_is_legacy));

    let nkn = all.iter().find(|s| s.symbol == "NKNUSDT").unwrap();
    assert_eq!((nkn.base_asset.as_str(), nkn.quote_asset.as_str()), ("NKN", "USDT"));
    assert_eq!(
        nkn.filters.price,
        Some(PriceFilter { min_price: p("0.0001"), max_price: p("1000"), tick_size: p("0.0001") })
    );
    assert_eq!(nkn.filters.lot, Some(LotSize { min_qty: q("1"), max_qty: q("9000000"), step_size: q("1") }));
    assert_eq!(
        nkn.filters.market_lot,
        Some(LotSize { min_qty: Qty::ZERO, max_qty: q("691026.0799166"), step_size: Qty::ZERO })
    );
    let n = nkn.filters.notional.unwrap();
    assert_eq!(
        (n.min_notional, n.apply_min_to_market, n.max_notional, nkn.avg_price_mins),
        (p("10"), true, Price::ZERO, 5)
    );
    assert_eq!(
        nkn.filters.percent,
        Some(PercentPrice { bid_up: p("5"), bid_down: p("0.2"), ask_up: p("5"), ask_down: p("0.2"), legacy: true })
    );
    let blz = all.iter().find(|s| s.symbol == "BLZETH").unwrap();
    assert_eq!(blz.filters.price.unwrap().tick_size, Price::from_raw(1));
    assert_eq!(blz.filters.notional.unwrap().min_notional, p("0.005"));
    let rune = all.iter().find(|s| s.symbol == "RUNEEUR").unwrap();
    assert_eq!(rune.filters.lot.unwrap().step_size, q("0.1"));
    assert_eq!(rune.filters.lot.unwrap().max_qty, q("9222449"));
    let btc = all.iter().find(|s| s.symbol == "BTCUSDT").unwrap();
    assert_eq!(btc.filters.lot.unwrap().min_qty, q("0.00001"));
    // a price rounded to the tick is accepted by the filter's own rule
    let tick = btc.filters.price.unwrap().tick_size;
    assert!(p("43210.123").round_down(tick).is_multiple_of(tick));
}
