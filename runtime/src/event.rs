//! Market events as the engine consumes them: owned, `Copy`, fixed-size.
//!
//! The codecs decode borrowed frames and convert to these at the edge (the
//! symbol string becomes a [`SymbolId`]); the venue simulator and the
//! backtester produce them directly. `recv` is when the event reached odex
//! (the clock seam's monotonic time), `exchange_time` when the venue says it
//! happened, if it says.

use odex_shared::features::Observation;
use odex_shared::market::{Bar, BookTop, Nanos, Price, Qty, Side};

use crate::order::SymbolId;

/// A new best bid/ask (`bookTicker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookUpdate {
    /// Symbol.
    pub symbol: SymbolId,
    /// Book update id (shared sequence with depth updates).
    pub update_id: u64,
    /// Best bid and ask.
    pub top: BookTop,
}

/// A public trade (`trade` or `aggTrade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeUpdate {
    /// Symbol.
    pub symbol: SymbolId,
    /// Trade (or aggregate trade) id.
    pub trade_id: u64,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// The taker's side (`m = true` means the buyer was the maker, so the
    /// taker sold).
    pub taker_side: Side,
}

/// A closed bar (`kline` with `x = true`, or a row of an archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarUpdate {
    /// Symbol.
    pub symbol: SymbolId,
    /// The bar.
    pub bar: Bar,
    /// Taker buy base volume (for the order-flow imbalance feature).
    pub taker_buy_volume: Qty,
}

/// What happened in the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketData {
    /// Top of book changed.
    Book(BookUpdate),
    /// A trade printed.
    Trade(TradeUpdate),
    /// A bar closed.
    Bar(BarUpdate),
}

/// One market event with its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketEvent {
    /// When odex received it.
    pub recv: Nanos,
    /// When the venue says it happened (event time), if it says.
    pub exchange_time: Option<Nanos>,
    /// The event itself.
    pub data: MarketData,
}

impl MarketData {
    /// What the model observes of the event: the mid and displayed
    /// quantities of a book, the price and the taker's quantity on its side
    /// of a trade, the close and the taker buy / sell volumes of a bar (the
    /// sell volume in exact fixed point, as `odex-train` computes it from
    /// the same rows, so training and trading see the same bits).
    pub fn observation(&self) -> Observation {
        match *self {
            Self::Book(b) => {
                Observation { price: b.top.mid(), bid_qty: b.top.bid_qty.to_f64(), ask_qty: b.top.ask_qty.to_f64() }
            }
            Self::Trade(t) => {
                let q = t.qty.to_f64();
                let (bid_qty, ask_qty) = match t.taker_side {
                    Side::Buy => (q, 0.0),
                    Side::Sell => (0.0, q),
                };
                Observation { price: t.price.to_f64(), bid_qty, ask_qty }
            }
            Self::Bar(b) => Observation {
                price: b.bar.close.to_f64(),
                bid_qty: b.taker_buy_volume.to_f64(),
                ask_qty: b.bar.volume.saturating_sub(b.taker_buy_volume).max(Qty::ZERO).to_f64(),
            },
        }
    }
}

impl MarketEvent {
    /// The symbol the event is about.
    pub const fn symbol(&self) -> SymbolId {
        match self.data {
            MarketData::Book(b) => b.symbol,
            MarketData::Trade(t) => t.symbol,
            MarketData::Bar(b) => b.symbol,
        }
    }
}
