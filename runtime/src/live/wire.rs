//! From the Binance codecs' borrowed frames to the engine's plain types.
//!
//! The codecs (`binance::market_data`, `binance::ws_api`) decode without
//! allocating into structures that borrow the frame; the engine works on
//! small `Copy` types keyed by [`SymbolId`]. These conversions sit between
//! the two on the hot path: no allocation, no panic, `None` for what the
//! engine cannot use (an unknown symbol, an unknown order type).

use odex_shared::market::{Amount, Nanos, Qty, Side};

use crate::binance::market_data::MarketEvent as WireMarket;
use crate::binance::ws_api::{self, ExecutionType, OrderResult, RateInterval, RateLimitType};
use crate::engine::{RateLimit, RateLimitKind};
use crate::event::{BarUpdate, BookUpdate, MarketData, MarketEvent, TradeUpdate};
use crate::order::{ClientOrderId, ExecType, ExecutionReport, OrderStatus, OrderType, SymbolId};

/// The traded symbols: exchange names and assets in [`SymbolId`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolTable {
    names: Vec<String>,
    bases: Vec<String>,
    quote: String,
}

impl SymbolTable {
    /// A table from `(name, base)` pairs sharing one quote asset.
    pub fn new<'a>(symbols: impl IntoIterator<Item = (&'a str, &'a str)>, quote: &str) -> Self {
        let (names, bases) = symbols.into_iter().map(|(n, b)| (n.to_ascii_uppercase(), b.to_string())).unzip();
        Self { names, bases, quote: quote.to_string() }
    }

    /// The id of an exchange symbol name (any case).
    #[inline]
    pub fn id(&self, name: &[u8]) -> Option<SymbolId> {
        self.names
            .iter()
            // Binance writes names in upper case, as they are kept: the
            // exact comparison first, the byte-by-byte fold only if it fails
            .position(|n| n.as_bytes() == name || n.as_bytes().eq_ignore_ascii_case(name))
            .and_then(|i| u16::try_from(i).ok())
            .map(SymbolId)
    }

    /// The exchange name of a symbol.
    pub fn name(&self, id: SymbolId) -> Option<&str> {
        self.names.get(usize::from(id.0)).map(String::as_str)
    }

    /// The base asset of a symbol.
    pub fn base(&self, id: SymbolId) -> Option<&str> {
        self.bases.get(usize::from(id.0)).map(String::as_str)
    }

    /// The quote asset every symbol shares.
    pub fn quote(&self) -> &str {
        &self.quote
    }

    /// Every exchange name, in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no symbol is configured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

const fn ms(t: u64) -> Nanos {
    Nanos(t.saturating_mul(1_000_000))
}

/// A decoded market-stream payload as an engine event, received at `recv`
/// (engine clock). `None` for other symbols, depth payloads, klines still
/// open and `serverShutdown` (the transport handles that one).
#[inline]
pub fn market_event(ev: &WireMarket<'_>, symbols: &SymbolTable, recv: Nanos) -> Option<MarketEvent> {
    let (exchange_time, data) = match ev {
        WireMarket::BookTicker(b) => {
            let symbol = symbols.id(b.symbol.as_bytes())?;
            (None, MarketData::Book(BookUpdate { symbol, update_id: b.update_id, top: b.top }))
        }
        WireMarket::Trade(t) => {
            let symbol = symbols.id(t.symbol.as_bytes())?;
            let taker_side = if t.buyer_is_maker { Side::Sell } else { Side::Buy };
            let trade = TradeUpdate { symbol, trade_id: t.trade_id, price: t.price, qty: t.qty, taker_side };
            (Some(ms(t.trade_time_ms)), MarketData::Trade(trade))
        }
        WireMarket::AggTrade(t) => {
            let symbol = symbols.id(t.symbol.as_bytes())?;
            let taker_side = if t.buyer_is_maker { Side::Sell } else { Side::Buy };
            let trade = TradeUpdate { symbol, trade_id: t.agg_id, price: t.price, qty: t.qty, taker_side };
            (Some(ms(t.trade_time_ms)), MarketData::Trade(trade))
        }
        WireMarket::Kline(k) if k.closed => {
            let symbol = symbols.id(k.symbol.as_bytes())?;
            let bar = BarUpdate { symbol, bar: k.bar(), taker_buy_volume: k.taker_buy_volume };
            (Some(ms(k.event_time_ms)), MarketData::Bar(bar))
        }
        _ => return None,
    };
    Some(MarketEvent { recv, exchange_time, data })
}

fn status(s: ws_api::OrderStatus) -> Option<OrderStatus> {
    Some(match s {
        ws_api::OrderStatus::New | ws_api::OrderStatus::PendingNew => OrderStatus::New,
        ws_api::OrderStatus::PartiallyFilled => OrderStatus::PartiallyFilled,
        ws_api::OrderStatus::Filled => OrderStatus::Filled,
        ws_api::OrderStatus::Canceled => OrderStatus::Canceled,
        ws_api::OrderStatus::PendingCancel => OrderStatus::PendingCancel,
        ws_api::OrderStatus::Rejected => OrderStatus::Rejected,
        ws_api::OrderStatus::Expired => OrderStatus::Expired,
        ws_api::OrderStatus::ExpiredInMatch => OrderStatus::ExpiredInMatch,
        ws_api::OrderStatus::Other => return None,
    })
}

fn exec_type(x: ExecutionType) -> Option<ExecType> {
    Some(match x {
        ExecutionType::New => ExecType::New,
        ExecutionType::Canceled => ExecType::Canceled,
        ExecutionType::Replaced => ExecType::Replaced,
        ExecutionType::Rejected => ExecType::Rejected,
        ExecutionType::Trade => ExecType::Trade,
        ExecutionType::Expired => ExecType::Expired,
        ExecutionType::TradePrevention => ExecType::TradePrevention,
        ExecutionType::Other => return None,
    })
}

/// An `executionReport` user data event as an engine report.
///
/// The order is named by `C` (the original client id) when the event is a
/// cancel, else by `c`. A commission charged in the quote asset is kept as
/// is; one in the base asset is converted to quote at the fill price and
/// flagged `fee_in_base`; one in a third asset (BNB) is not booked.
#[inline]
pub fn execution_report(r: &ws_api::ExecutionReport<'_>, symbols: &SymbolTable) -> Option<ExecutionReport> {
    let symbol = symbols.id(r.symbol.as_bytes())?;
    let id = r.orig_client_order_id.filter(|c| !c.as_bytes().is_empty()).unwrap_or(r.client_order_id);
    let client_id = ClientOrderId::new(id.as_bytes()).ok()?;
    let asset = r.commission_asset.map(|a| a.as_bytes());
    let (commission, fee_in_base) = match asset {
        Some(a) if symbols.base(symbol).is_some_and(|b| b.as_bytes() == a) => {
            (r.last_price.notional(Qty::from_raw(r.commission.raw())).unwrap_or(Amount::ZERO), true)
        }
        Some(a) if symbols.quote().as_bytes() == a => (r.commission, false),
        _ => (Amount::ZERO, false),
    };
    Some(ExecutionReport {
        symbol,
        client_id,
        order_id: r.order_id,
        side: r.side,
        kind: OrderType::from_wire(r.order_type.as_bytes()).unwrap_or(OrderType::Limit),
        exec_type: exec_type(r.execution_type)?,
        status: status(r.order_status)?,
        qty: r.qty,
        price: r.price,
        last_qty: r.last_qty,
        last_price: r.last_price,
        cum_qty: r.cumulative_qty,
        cum_quote: r.cumulative_quote_qty,
        commission,
        fee_in_base,
        maker: r.is_maker,
        trade_id: r.trade_id.unwrap_or(0),
        time: ms(r.transaction_time_ms),
        reject_code: 0,
    })
}

/// The execution type a state answer (`order.status`) stands for.
pub const fn exec_type_of(status: OrderStatus) -> ExecType {
    match status {
        OrderStatus::New | OrderStatus::PendingCancel => ExecType::New,
        OrderStatus::PartiallyFilled | OrderStatus::Filled => ExecType::Trade,
        OrderStatus::Canceled => ExecType::Canceled,
        OrderStatus::Rejected => ExecType::Rejected,
        OrderStatus::Expired | OrderStatus::ExpiredInMatch => ExecType::Expired,
    }
}

/// The result of `order.status` (or one order of `openOrders.status`) as
/// an engine report: the order's state and cumulative fill, no single
/// fill and no commission (the engine books the fill delta).
pub fn order_result_report(r: &OrderResult<'_>, symbols: &SymbolTable) -> Option<ExecutionReport> {
    let symbol = symbols.id(r.symbol.as_bytes())?;
    let client_id = ClientOrderId::new(r.client_order_id.as_bytes()).ok()?;
    let status = status(r.status?)?;
    let exec_type = exec_type_of(status);
    let cum_qty = r.executed_qty.unwrap_or(Qty::ZERO);
    let cum_quote = r.cumulative_quote_qty.unwrap_or(Amount::ZERO);
    let avg = if cum_qty.is_positive() {
        odex_shared::market::Price::from_f64(cum_quote.to_f64() / cum_qty.to_f64()).unwrap_or_default()
    } else {
        odex_shared::market::Price::ZERO
    };
    Some(ExecutionReport {
        symbol,
        client_id,
        order_id: r.order_id,
        side: r.side?,
        kind: r.order_type.and_then(|t| OrderType::from_wire(t.as_bytes())).unwrap_or(OrderType::Limit),
        exec_type,
        status,
        qty: r.orig_qty.unwrap_or(Qty::ZERO),
        price: r.price.unwrap_or_default(),
        last_qty: Qty::ZERO,
        last_price: avg,
        cum_qty,
        cum_quote,
        commission: Amount::ZERO,
        fee_in_base: false,
        maker: false,
        trade_id: 0,
        time: ms(r.transact_time_ms.unwrap_or(0)),
        reject_code: 0,
    })
}

/// Copies the `ORDERS` and `REQUEST_WEIGHT` entries of a response's
/// `rateLimits` into `out` (cleared first) for `Engine::on_rate_limits`.
#[inline]
pub fn rate_limits<const N: usize>(src: &[ws_api::RateLimit], out: &mut heapless::Vec<RateLimit, N>) {
    out.clear();
    for r in src {
        let kind = match r.kind {
            RateLimitType::Orders => RateLimitKind::Orders,
            RateLimitType::RequestWeight => RateLimitKind::RequestWeight,
            _ => continue,
        };
        let unit: u64 = match r.interval {
            RateInterval::Second => 1_000_000_000,
            RateInterval::Minute => 60_000_000_000,
            RateInterval::Hour => 3_600_000_000_000,
            RateInterval::Day => 86_400_000_000_000,
            RateInterval::Other => continue,
        };
        let limit = RateLimit {
            kind,
            interval: Nanos(unit.saturating_mul(u64::from(r.interval_num.max(1)))),
            limit: u32::try_from(r.limit).unwrap_or(u32::MAX),
            count: u32::try_from(r.count).unwrap_or(u32::MAX),
        };
        if out.push(limit).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binance::market_data::MarketFrame;
    use crate::binance::ws_api::{ApiFrame, UserEvent};
    use odex_shared::market::Price;

    fn table() -> SymbolTable {
        SymbolTable::new([("ETHUSDT", "ETH"), ("BTCUSDT", "BTC")], "USDT")
    }

    #[test]
    fn book_ticker_of_a_combined_stream_becomes_a_book_event() {
        let frame = br#"{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}"#;
        let MarketFrame::Event { event, .. } = MarketFrame::decode(frame).unwrap() else { panic!() };
        let ev = market_event(&event, &table(), Nanos(7)).unwrap();
        assert_eq!(ev.recv, Nanos(7));
        let MarketData::Book(b) = ev.data else { panic!() };
        assert_eq!(b.symbol, SymbolId(1));
        assert_eq!(b.update_id, 400_900_217);
        assert_eq!(b.top.bid, Price::parse("25.3519").unwrap());
        assert_eq!(b.top.ask_qty, Qty::parse("40.66").unwrap());
    }

    #[test]
    fn other_symbols_and_open_klines_are_dropped() {
        let frame = br#"{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}}"#;
        let MarketFrame::Event { event, .. } = MarketFrame::decode(frame).unwrap() else { panic!() };
        assert!(market_event(&event, &table(), Nanos(0)).is_none());
    }

    #[test]
    fn trade_taker_side_follows_the_maker_flag() {
        let frame = br#"{"e":"trade","E":1,"s":"ETHUSDT","t":5,"p":"100.5","q":"2","T":1700000000000,"m":true}"#;
        let ev = WireMarket::decode_sniffed(frame).unwrap();
        let ev = market_event(&ev, &table(), Nanos(0)).unwrap();
        assert_eq!(ev.exchange_time, Some(Nanos(1_700_000_000_000_000_000)));
        let MarketData::Trade(t) = ev.data else { panic!() };
        assert_eq!(t.taker_side, Side::Sell);
        assert_eq!(t.symbol, SymbolId(0));
    }

    const CANCEL: &[u8] = br#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405658658,"s":"ETHUSDT","c":"cancel-req","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"odx-abc-7","x":"CANCELED","X":"CANCELED","r":"NONE","i":4293153,"l":"0.00000000","z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,"I":8641984,"w":false,"m":false,"M":false,"O":1499405658657,"Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#;

    fn user(frame: &[u8]) -> ExecutionReport {
        let ApiFrame::Event { event: UserEvent::ExecutionReport(r), .. } = ApiFrame::decode(frame).unwrap() else {
            panic!()
        };
        execution_report(&r, &table()).unwrap()
    }

    #[test]
    fn a_cancel_report_names_the_original_order() {
        let r = user(CANCEL);
        assert_eq!(r.client_id.as_str(), "odx-abc-7");
        assert_eq!(r.exec_type, ExecType::Canceled);
        assert_eq!(r.status, OrderStatus::Canceled);
        assert_eq!(r.time, Nanos(1_499_405_658_657_000_000));
        assert_eq!(r.commission, Amount::ZERO);
    }

    #[test]
    fn commission_in_base_is_converted_at_the_fill_price() {
        let frame = String::from_utf8(CANCEL.to_vec())
            .unwrap()
            .replace(r#""C":"odx-abc-7""#, r#""C":"""#)
            .replace(r#""c":"cancel-req""#, r#""c":"odx-abc-8""#)
            .replace(r#""x":"CANCELED","X":"CANCELED""#, r#""x":"TRADE","X":"FILLED""#)
            .replace(r#""l":"0.00000000""#, r#""l":"1.00000000""#)
            .replace(r#""L":"0.00000000""#, r#""L":"2000.00000000""#)
            .replace(r#""n":"0","N":null"#, r#""n":"0.001","N":"ETH""#);
        let r = user(frame.as_bytes());
        assert_eq!(r.client_id.as_str(), "odx-abc-8");
        assert!(r.fee_in_base);
        assert_eq!(r.commission, Amount::parse("2").unwrap());
        let quote = frame.replace(r#""N":"ETH""#, r#""N":"USDT""#);
        let r = user(quote.as_bytes());
        assert!(!r.fee_in_base);
        assert_eq!(r.commission, Amount::parse("0.001").unwrap());
        let bnb = frame.replace(r#""N":"ETH""#, r#""N":"BNB""#);
        assert_eq!(user(bnb.as_bytes()).commission, Amount::ZERO);
    }

    #[test]
    fn order_status_answer_carries_the_cumulative_fill() {
        let frame = br#"{"id":9,"status":200,"result":{"symbol":"ETHUSDT","orderId":12569099453,"orderListId":-1,"clientOrderId":"odx-abc-9","price":"2000.00","origQty":"2.00","executedQty":"1.00","cummulativeQuoteQty":"2000.00","status":"PARTIALLY_FILLED","timeInForce":"GTC","type":"LIMIT","side":"SELL","stopPrice":"0.0","icebergQty":"0.0","time":1660801715639,"updateTime":1660801717945,"isWorking":true,"workingTime":1660801715639,"origQuoteOrderQty":"0.0","selfTradePreventionMode":"NONE"}}"#;
        let ApiFrame::Response(resp) = ApiFrame::decode(frame).unwrap() else { panic!() };
        let r = order_result_report(&resp.order_result().unwrap(), &table()).unwrap();
        assert_eq!(r.status, OrderStatus::PartiallyFilled);
        assert_eq!(r.side, Side::Sell);
        assert_eq!(r.cum_qty, Qty::ONE);
        assert_eq!(r.qty, Qty::parse("2").unwrap());
        assert_eq!(r.last_price, Price::parse("2000").unwrap());
    }

    #[test]
    fn rate_limits_keep_orders_and_weight() {
        let frame = br#"{"id":1,"status":200,"result":{},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":12},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":3},{"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":61000,"count":1}]}"#;
        let ApiFrame::Response(resp) = ApiFrame::decode(frame).unwrap() else { panic!() };
        let mut out = heapless::Vec::<RateLimit, 4>::new();
        rate_limits(&resp.rate_limits, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].kind, RateLimitKind::RequestWeight);
        assert_eq!(out[0].interval, Nanos(60_000_000_000));
        assert_eq!((out[1].limit, out[1].count), (50, 3));
        assert_eq!(out[1].interval, Nanos(10_000_000_000));
    }
}
