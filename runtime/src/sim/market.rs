//! Market state per symbol and the stream payloads, in Binance's exact
//! shapes (prices and quantities as plain decimal strings with 8 decimals).
//!
//! Each tick ([`Tick`], made by the rule in [`feed`](super::feed)) replaces
//! a synthetic 20-level book around the new top (level `k` is `k` ticks
//! behind the touch, its size growing with `k`), bumps the book's update id
//! by one, and prints one trade. The diff stream carries exactly the levels
//! that changed (quantity `0` for removed ones) with `U = u = ` the new id,
//! so a client that applies `/api/v3/depth` and then the diffs by Binance's
//! procedure rebuilds the same book; `bookTicker.u` shares the sequence.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use odex_shared::market::{BookTop, Price, Qty, SCALE};

use super::config::SymbolSpec;
use super::feed::{KlineRow, TICKS_PER_BAR, tick_prices};

/// Book levels as `(price raw, qty raw)`, best first.
pub type Levels = Vec<(i64, i64)>;

/// Levels kept per side of the synthetic book.
pub const BOOK_LEVELS: usize = 20;

/// `raw / 10^8` with exactly 8 decimals (`"1983.55000000"`).
pub fn dec8(raw: i64) -> String {
    let sign = if raw < 0 { "-" } else { "" };
    let abs = raw.unsigned_abs();
    let scale = SCALE.unsigned_abs();
    format!("{sign}{}.{:08}", abs / scale, abs % scale)
}

/// One top-of-book update with its trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Index of the symbol in the config.
    pub symbol: usize,
    /// Index of the bar in that symbol's rows.
    pub bar: usize,
    /// 0..TICKS_PER_BAR within the bar.
    pub step: usize,
    /// Data time of the tick, ms.
    pub data_ms: i64,
}

/// A symbol's live market state.
#[derive(Debug, Clone)]
pub struct Market {
    /// The symbol.
    pub spec: SymbolSpec,
    /// Its bars.
    pub rows: Vec<KlineRow>,
    /// Book update id (shared by depth and bookTicker).
    pub update_id: u64,
    /// Last trade id.
    pub trade_id: u64,
    /// Bids, price raw -> qty raw.
    pub bids: BTreeMap<i64, i64>,
    /// Asks, price raw -> qty raw.
    pub asks: BTreeMap<i64, i64>,
    /// The current top.
    pub top: BookTop,
    /// Last traded price.
    pub last: Price,
    /// Data time of the last tick, ms.
    pub data_ms: i64,
    /// Index of the bar being replayed.
    pub bar: usize,
    spread_ticks: i64,
}

/// The payloads of one tick, by stream suffix (after `<sym>@`).
#[derive(Debug, Default)]
pub struct TickMessages {
    /// `(stream name, JSON payload)` pairs, times in ms.
    pub messages: Vec<(String, String)>,
    /// The same with times in µs (`timeUnit=MICROSECOND` connections).
    pub messages_us: Vec<(String, String)>,
}

impl Market {
    /// A market for `spec` over `rows` (non-empty) with `spread_ticks`.
    pub fn new(spec: SymbolSpec, rows: Vec<KlineRow>, spread_ticks: i64) -> Self {
        Self {
            spec,
            rows,
            update_id: 1000,
            trade_id: 0,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            top: BookTop { bid: Price::ZERO, bid_qty: Qty::ZERO, ask: Price::ZERO, ask_qty: Qty::ZERO },
            last: Price::ZERO,
            data_ms: 0,
            bar: 0,
            spread_ticks: spread_ticks.max(1),
        }
    }

    /// The data time of tick `step` of bar `bar`.
    pub fn tick_time(&self, bar: usize, step: usize) -> Option<i64> {
        let row = self.rows.get(bar)?;
        let len = row.close_time_ms + 1 - row.open_time_ms;
        Some(row.open_time_ms + len * i64::try_from(step).ok()? / i64::try_from(TICKS_PER_BAR).ok()?)
    }

    /// Applies tick `step` of bar `bar`, stamping payloads with event time
    /// `event_us` (µs; ms in the default payloads) (and `odexSendNs` = `stamp_ns` when given). Returns the
    /// messages for every stream of this symbol, and the trade's side.
    pub fn apply(
        &mut self,
        bar: usize,
        step: usize,
        event_us: u64,
        interval: &str,
        stamp_ns: Option<u64>,
    ) -> TickMessages {
        let mut out = TickMessages::default();
        let Some(row) = self.rows.get(bar).copied() else { return out };
        let price = tick_prices(&row).get(step).copied().unwrap_or(row.close);
        let tick = self.spec.tick();
        let step_qty = self.spec.step();
        let bid = price.round_down(tick);
        let ask = Price::from_raw(bid.raw() + self.spread_ticks * tick.raw());
        let quarter = (row.volume.raw() / TICKS_PER_BAR as i64).max(step_qty.raw());
        let size = Qty::from_raw(quarter).round_down(step_qty).raw().max(step_qty.raw());
        let up = price >= self.last;
        self.data_ms = self.tick_time(bar, step).unwrap_or(self.data_ms);
        self.bar = bar;

        // the new book, and the diff against the old one
        let mut bids = BTreeMap::new();
        let mut asks = BTreeMap::new();
        for k in 0..BOOK_LEVELS as i64 {
            let q = size + size * k / 2;
            let bp = bid.raw() - k * tick.raw();
            if bp > 0 {
                bids.insert(bp, q);
            }
            asks.insert(ask.raw() + k * tick.raw(), q);
        }
        let diff = |old: &BTreeMap<i64, i64>, new: &BTreeMap<i64, i64>, desc: bool| {
            let mut levels: Vec<(i64, i64)> = Vec::new();
            for (p, q) in new {
                if old.get(p) != Some(q) {
                    levels.push((*p, *q));
                }
            }
            for p in old.keys() {
                if !new.contains_key(p) {
                    levels.push((*p, 0));
                }
            }
            levels.sort_by_key(|(p, _)| if desc { -*p } else { *p });
            levels
        };
        let bid_diff = diff(&self.bids, &bids, true);
        let ask_diff = diff(&self.asks, &asks, false);
        self.bids = bids;
        self.asks = asks;
        self.update_id += 1;
        self.top = BookTop { bid, bid_qty: Qty::from_raw(size), ask, ask_qty: Qty::from_raw(size) };
        self.trade_id += 1;
        self.last = price;

        let sym = self.spec.name.clone();
        let lower = sym.to_ascii_lowercase();
        let stamp = stamp_ns.map_or(String::new(), |ns| format!(",\"odexSendNs\":{ns}"));
        let u = self.update_id;
        let levels = |v: &[(i64, i64)]| {
            let mut s = String::from("[");
            for (i, (p, q)) in v.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "[\"{}\",\"{}\"]", dec8(*p), dec8(*q));
            }
            s.push(']');
            s
        };
        // Binance's default millisecond payloads, and the `timeUnit=MICROSECOND` ones
        for micro in [false, true] {
            let (ev, scale) = if micro { (event_us, 1000i64) } else { (event_us / 1000, 1) };
            let mut msgs: Vec<(String, String)> = Vec::new();
            let (b, a) = (dec8(bid.raw()), dec8(ask.raw()));
            let bq = dec8(size);
            msgs.push((
                format!("{lower}@bookTicker"),
                format!(
                    "{{\"u\":{u},\"s\":\"{sym}\",\"b\":\"{b}\",\"B\":\"{bq}\",\"a\":\"{a}\",\"A\":\"{bq}\"{stamp}}}"
                ),
            ));
            let (p, q) = (dec8(price.raw()), dec8(size));
            let t = self.trade_id;
            let m = !up; // the buyer is the maker when the seller took
            msgs.push((
                format!("{lower}@trade"),
                format!("{{\"e\":\"trade\",\"E\":{ev},\"s\":\"{sym}\",\"t\":{t},\"p\":\"{p}\",\"q\":\"{q}\",\"T\":{ev},\"m\":{m},\"M\":true{stamp}}}"),
            ));
            msgs.push((
                format!("{lower}@aggTrade"),
                format!("{{\"e\":\"aggTrade\",\"E\":{ev},\"s\":\"{sym}\",\"a\":{t},\"p\":\"{p}\",\"q\":\"{q}\",\"f\":{t},\"l\":{t},\"T\":{ev},\"m\":{m},\"M\":true{stamp}}}"),
            ));
            let depth = format!(
                "{{\"e\":\"depthUpdate\",\"E\":{ev},\"s\":\"{sym}\",\"U\":{u},\"u\":{u},\"b\":{},\"a\":{}{stamp}}}",
                levels(&bid_diff),
                levels(&ask_diff)
            );
            msgs.push((format!("{lower}@depth"), depth.clone()));
            msgs.push((format!("{lower}@depth@100ms"), depth));
            for n in [5usize, 10, 20] {
                let (bids, asks) = self.snapshot(n);
                let payload =
                    format!("{{\"lastUpdateId\":{u},\"bids\":{},\"asks\":{}{stamp}}}", levels(&bids), levels(&asks));
                msgs.push((format!("{lower}@depth{n}"), payload.clone()));
                msgs.push((format!("{lower}@depth{n}@100ms"), payload));
            }
            // the kline so far: the bar's open, the extremes seen, the last price
            let prices = tick_prices(&row);
            let seen = prices.get(..=step.min(TICKS_PER_BAR - 1)).unwrap_or(&[]);
            let hi = seen.iter().copied().max().unwrap_or(price);
            let lo = seen.iter().copied().min().unwrap_or(price);
            let frac = |raw: i64| raw * (i64::try_from(step).unwrap_or(0) + 1) / TICKS_PER_BAR as i64;
            let closed = step + 1 == TICKS_PER_BAR;
            let k = format!(
                "{{\"t\":{},\"T\":{},\"s\":\"{sym}\",\"i\":\"{interval}\",\"f\":{},\"L\":{t},\"o\":\"{}\",\"c\":\"{p}\",\"h\":\"{}\",\"l\":\"{}\",\"v\":\"{}\",\"n\":{},\"x\":{closed},\"q\":\"{}\",\"V\":\"{}\",\"Q\":\"{}\",\"B\":\"0\"}}",
                row.open_time_ms * scale,
                row.close_time_ms * scale,
                t.saturating_sub(u64::try_from(step).unwrap_or(0)),
                dec8(row.open.raw()),
                dec8(hi.raw()),
                dec8(lo.raw()),
                dec8(frac(row.volume.raw())),
                frac(i64::try_from(row.count).unwrap_or(0)),
                dec8(frac(row.quote_volume.raw())),
                dec8(frac(row.taker_buy_base.raw())),
                dec8(frac(row.taker_buy_quote.raw())),
            );
            msgs.push((
                format!("{lower}@kline_{interval}"),
                format!("{{\"e\":\"kline\",\"E\":{ev},\"s\":\"{sym}\",\"k\":{k}{stamp}}}"),
            ));
            if micro {
                out.messages_us = msgs;
            } else {
                out.messages = msgs;
            }
        }
        out
    }

    /// The best `n` levels of each side.
    pub fn snapshot(&self, n: usize) -> (Levels, Levels) {
        let bids = self.bids.iter().rev().take(n).map(|(p, q)| (*p, *q)).collect();
        let asks = self.asks.iter().take(n).map(|(p, q)| (*p, *q)).collect();
        (bids, asks)
    }

    /// The REST `/api/v3/depth` body for `limit` levels.
    pub fn depth_json(&self, limit: usize) -> String {
        let (bids, asks) = self.snapshot(limit);
        let side = |v: Vec<(i64, i64)>| {
            serde_json::Value::Array(v.into_iter().map(|(p, q)| serde_json::json!([dec8(p), dec8(q)])).collect())
        };
        serde_json::json!({"lastUpdateId": self.update_id, "bids": side(bids), "asks": side(asks)}).to_string()
    }

    /// Bars already (partly) replayed, for `/api/v3/klines`: open time at
    /// or before the replay's data time.
    pub fn visible_rows(&self) -> &[KlineRow] {
        self.rows.get(..=self.bar.min(self.rows.len().saturating_sub(1))).unwrap_or(&[])
    }
}

/// True when `suffix` (the part after `<sym>@`) names a stream served.
pub fn known_stream_suffix(suffix: &str, interval: &str) -> bool {
    matches!(
        suffix,
        "bookTicker"
            | "trade"
            | "aggTrade"
            | "depth"
            | "depth@100ms"
            | "depth5"
            | "depth10"
            | "depth20"
            | "depth5@100ms"
            | "depth10@100ms"
            | "depth20@100ms"
    ) || suffix.strip_prefix("kline_").is_some_and(|i| i == interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::feed::{Process, Synthetic, SyntheticParams, load_all};

    #[test]
    fn dec8_is_plain_with_eight_decimals() {
        assert_eq!(dec8(198_355_000_000), "1983.55000000");
        assert_eq!(dec8(1), "0.00000001");
        assert_eq!(dec8(0), "0.00000000");
    }

    #[test]
    fn diffs_replay_onto_the_snapshot() {
        let p = SyntheticParams {
            seed: 1,
            process: Process::Gbm { drift: 0.0 },
            start: 2000.0,
            sigma: 0.01,
            tick: 0.01,
            start_ms: 0,
            interval_ms: 60_000,
            bars: 20,
        };
        let rows = load_all(Synthetic::new(p)).unwrap();
        let mut m = Market::new(SymbolSpec::ethusdt(), rows, 1);
        m.apply(0, 0, 0, "1m", None);
        let mut bids = m.bids.clone();
        let mut asks = m.asks.clone();
        let mut last = m.update_id;
        for bar in 0..20 {
            for step in 0..TICKS_PER_BAR {
                let msgs = m.apply(bar, step, 0, "1m", None);
                let (_, depth) = msgs.messages.iter().find(|(s, _)| s == "ethusdt@depth").unwrap();
                let v: serde_json::Value = serde_json::from_str(depth).unwrap();
                assert_eq!(v["U"].as_u64().unwrap(), last + 1);
                last = v["u"].as_u64().unwrap();
                for (side, book) in [("b", &mut bids), ("a", &mut asks)] {
                    for l in v[side].as_array().unwrap() {
                        let p = Price::parse(l[0].as_str().unwrap()).unwrap().raw();
                        let q = Qty::parse(l[1].as_str().unwrap()).unwrap().raw();
                        if q == 0 {
                            book.remove(&p);
                        } else {
                            book.insert(p, q);
                        }
                    }
                }
                assert_eq!((&bids, &asks), (&m.bids, &m.asks));
            }
        }
    }
}
