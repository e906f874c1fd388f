//! Decoders for Binance Spot market stream payloads.
//!
//! Each payload type has a `decode(&[u8])` for a raw stream (`/ws/<stream>`)
//! and an in-place `decode_in` that the combined-stream envelope
//! (`{"stream":..,"data":{..}}`) and [`MarketFrame::decode`] reuse, so the
//! payload is scanned once. Fields may come in any order; unknown fields are
//! skipped, so both the 2021 field set (trade `b`/`a` order ids) and today's
//! decode. Prices and quantities land directly in `shared`'s fixed-point
//! types; depth levels stay in the frame and are parsed as they are iterated.

use odex_shared::market::{Amount, Bar, BookTop, Price, Qty};

use super::scan::{DecodeError, DecodeErrorKind, InField, JsonStr, RawJson, Scanner, fuse, required};

/// `<symbol>@bookTicker`: best bid and ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookTicker<'a> {
    /// Order book update id (`u`), shared with depth updates.
    pub update_id: u64,
    /// Symbol (`s`), upper case.
    pub symbol: JsonStr<'a>,
    /// Best bid/ask prices and quantities (`b`, `B`, `a`, `A`).
    pub top: BookTop,
}

/// `<symbol>@trade`: one trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Symbol (`s`).
    pub symbol: JsonStr<'a>,
    /// Trade id (`t`).
    pub trade_id: u64,
    /// Price (`p`).
    pub price: Price,
    /// Quantity (`q`).
    pub qty: Qty,
    /// Trade time, ms (`T`).
    pub trade_time_ms: u64,
    /// True when the buyer was the maker (`m`).
    pub buyer_is_maker: bool,
    /// Buyer order id (`b`), only in recordings before 2024.
    pub buyer_order_id: Option<u64>,
    /// Seller order id (`a`), only in recordings before 2024.
    pub seller_order_id: Option<u64>,
}

/// `<symbol>@aggTrade`: trades aggregated by taker order and price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggTrade<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Symbol (`s`).
    pub symbol: JsonStr<'a>,
    /// Aggregate trade id (`a`).
    pub agg_id: u64,
    /// Price (`p`).
    pub price: Price,
    /// Quantity (`q`).
    pub qty: Qty,
    /// First trade id (`f`).
    pub first_trade_id: u64,
    /// Last trade id (`l`).
    pub last_trade_id: u64,
    /// Trade time, ms (`T`).
    pub trade_time_ms: u64,
    /// True when the buyer was the maker (`m`).
    pub buyer_is_maker: bool,
}

/// `<symbol>@kline_<interval>`: the current candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kline<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Symbol (`s`).
    pub symbol: JsonStr<'a>,
    /// Interval (`k.i`), e.g. `1m`.
    pub interval: JsonStr<'a>,
    /// Candle open time, ms (`k.t`).
    pub open_time_ms: i64,
    /// Candle close time, ms (`k.T`).
    pub close_time_ms: i64,
    /// First trade id (`k.f`); -1 when there was no trade.
    pub first_trade_id: i64,
    /// Last trade id (`k.L`); -1 when there was no trade.
    pub last_trade_id: i64,
    /// Open (`k.o`).
    pub open: Price,
    /// Close (`k.c`).
    pub close: Price,
    /// High (`k.h`).
    pub high: Price,
    /// Low (`k.l`).
    pub low: Price,
    /// Base volume (`k.v`).
    pub volume: Qty,
    /// Number of trades (`k.n`).
    pub trades: u64,
    /// True once the candle is closed (`k.x`).
    pub closed: bool,
    /// Quote volume (`k.q`).
    pub quote_volume: Amount,
    /// Taker buy base volume (`k.V`).
    pub taker_buy_volume: Qty,
    /// Taker buy quote volume (`k.Q`).
    pub taker_buy_quote_volume: Amount,
}

impl Kline<'_> {
    /// The candle as a [`Bar`].
    pub const fn bar(&self) -> Bar {
        Bar {
            open_time_ms: self.open_time_ms,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }
}

/// One price level of a depth message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Price of the level.
    pub price: Price,
    /// Quantity at the level; zero removes it from a local book.
    pub qty: Qty,
}

/// The `[["price","qty"],..]` array of a depth message, still in the frame.
/// It was fully validated when decoded; iterating parses each level again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Levels<'a> {
    raw: RawJson<'a>,
    len: usize,
}

impl<'a> Levels<'a> {
    /// Number of levels.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when there are no levels.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The levels in the order sent. Items are `Result`s so that nothing is
    /// silently dropped; for a decoded value they are always `Ok`.
    pub fn iter(&self) -> LevelIter<'a> {
        LevelIter { sc: self.raw.scanner(), first: true, started: false, done: false }
    }

    fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.peek_token()?;
        let offset = sc.offset();
        let mut it = LevelIter { sc: sc.clone(), first: true, started: false, done: false };
        let mut len = 0usize;
        for level in it.by_ref() {
            level?;
            len += 1;
        }
        let end = it.sc.offset();
        *sc = it.sc;
        let raw = RawJson { bytes: sc.frame_slice(offset, end), offset };
        Ok(Self { raw, len })
    }
}

impl<'a> IntoIterator for &Levels<'a> {
    type Item = Result<Level, DecodeError>;
    type IntoIter = LevelIter<'a>;
    fn into_iter(self) -> LevelIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Levels`].
#[derive(Debug, Clone)]
pub struct LevelIter<'a> {
    sc: Scanner<'a>,
    first: bool,
    started: bool,
    done: bool,
}

impl LevelIter<'_> {
    fn step(&mut self) -> Result<Option<Level>, DecodeError> {
        if !self.started {
            self.started = true;
            self.sc.begin_array()?;
        }
        if !self.sc.next_element(&mut self.first)? {
            return Ok(None);
        }
        self.sc.begin_array()?;
        let mut inner_first = true;
        let level = (|| {
            if !self.sc.next_element(&mut inner_first)? {
                return Err(self.sc.error(DecodeErrorKind::Expected("a price")));
            }
            let price = self.sc.price()?;
            if !self.sc.next_element(&mut inner_first)? {
                return Err(self.sc.error(DecodeErrorKind::Expected("a quantity")));
            }
            let qty = self.sc.qty()?;
            // tolerate extra elements (older APIs sent an ignored third one)
            while self.sc.next_element(&mut inner_first)? {
                self.sc.skip_value()?;
            }
            Ok(Level { price, qty })
        })()?;
        Ok(Some(level))
    }
}

impl Iterator for LevelIter<'_> {
    type Item = Result<Level, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        fuse(&mut self.done, step)
    }
}

/// `<symbol>@depth[@100ms]`: a diff of the order book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthUpdate<'a> {
    /// Event time, ms (`E`).
    pub event_time_ms: u64,
    /// Symbol (`s`).
    pub symbol: JsonStr<'a>,
    /// First update id in the event (`U`).
    pub first_update_id: u64,
    /// Final update id in the event (`u`).
    pub final_update_id: u64,
    /// Changed bids (`b`).
    pub bids: Levels<'a>,
    /// Changed asks (`a`).
    pub asks: Levels<'a>,
}

/// `<symbol>@depth<5|10|20>[@100ms]`: the top levels (no symbol inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialDepth<'a> {
    /// Last update id (`lastUpdateId`).
    pub last_update_id: u64,
    /// Bids, best first.
    pub bids: Levels<'a>,
    /// Asks, best first.
    pub asks: Levels<'a>,
}

/// A `serverShutdown` notice: open a fresh connection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerShutdown {
    /// Event time, ms (`E`), when sent.
    pub event_time_ms: Option<u64>,
}

/// Checks an `e` field against the expected event type.
fn check_event(sc: &mut Scanner<'_>, want: &[u8]) -> Result<(), DecodeError> {
    let at = sc.offset();
    let got = sc.string_bytes().in_field("e")?;
    if got == want { Ok(()) } else { Err(DecodeError { kind: DecodeErrorKind::WrongKind, at, field: Some("e") }) }
}

macro_rules! top_level_decode {
    () => {
        /// Decodes a whole raw-stream frame.
        ///
        /// # Errors
        /// [`DecodeError`] for malformed JSON, a missing or invalid field, or
        /// trailing bytes.
        pub fn decode(frame: &'a [u8]) -> Result<Self, DecodeError> {
            let mut sc = Scanner::new(frame);
            let v = Self::decode_in(&mut sc)?;
            sc.finish()?;
            Ok(v)
        }
    };
}

impl<'a> BookTicker<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`BookTicker::decode`].
    #[inline]
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        let start = sc.offset();
        if let Some(t) = Self::decode_compact(sc) {
            return Ok(t);
        }
        sc.rewind(start);
        sc.begin_object()?;
        let (mut u, mut s, mut b, mut bq, mut a, mut aq) = (None, None, None, None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"u" => u = Some(sc.u64().in_field("u")?),
                b"s" => s = Some(sc.string().in_field("s")?),
                b"b" => b = Some(sc.price().in_field("b")?),
                b"B" => bq = Some(sc.qty().in_field("B")?),
                b"a" => a = Some(sc.price().in_field("a")?),
                b"A" => aq = Some(sc.qty().in_field("A")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            update_id: required(u, "u", end)?,
            symbol: required(s, "s", end)?,
            top: BookTop {
                bid: required(b, "b", end)?,
                bid_qty: required(bq, "B", end)?,
                ask: required(a, "a", end)?,
                ask_qty: required(aq, "A", end)?,
            },
        })
    }
}

impl<'a> BookTicker<'a> {
    /// The layout Binance sends, read straight through:
    /// `{"u":N,"s":"SYM","b":"D","B":"D","a":"D","A":"D"}`, no spaces, no
    /// other keys, every decimal in the fast form. `None` at the first byte
    /// that differs: the caller rewinds and the general loop decides (and
    /// explains any error).
    #[inline]
    fn decode_compact(sc: &mut Scanner<'a>) -> Option<Self> {
        if !sc.eat(br#"{"u":"#) {
            return None;
        }
        let update_id = sc.u64().ok()?;
        let symbol = if sc.eat(br#","s":""#) { sc.plain_string_rest()? } else { return None };
        let mut decimal = |key: &[u8]| if sc.eat(key) { sc.plain_decimal_rest() } else { None };
        let bid = decimal(br#","b":""#)?;
        let bid_qty = decimal(br#","B":""#)?;
        let ask = decimal(br#","a":""#)?;
        let ask_qty = decimal(br#","A":""#)?;
        if !sc.eat(b"}") {
            return None;
        }
        Some(Self {
            update_id,
            symbol: JsonStr(symbol),
            top: BookTop {
                bid: Price::from_raw(bid),
                bid_qty: Qty::from_raw(bid_qty),
                ask: Price::from_raw(ask),
                ask_qty: Qty::from_raw(ask_qty),
            },
        })
    }
}

impl<'a> Trade<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`Trade::decode`]; [`DecodeErrorKind::WrongKind`] when `e` is not `trade`.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut ev, mut s, mut t, mut p, mut q, mut tt, mut m) = (None, None, None, None, None, None, None);
        let (mut bo, mut so) = (None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => check_event(sc, b"trade")?,
                b"E" => ev = Some(sc.u64().in_field("E")?),
                b"s" => s = Some(sc.string().in_field("s")?),
                b"t" => t = Some(sc.u64().in_field("t")?),
                b"p" => p = Some(sc.price().in_field("p")?),
                b"q" => q = Some(sc.qty().in_field("q")?),
                b"T" => tt = Some(sc.u64().in_field("T")?),
                b"m" => m = Some(sc.boolean().in_field("m")?),
                b"b" => bo = Some(sc.u64().in_field("b")?),
                b"a" => so = Some(sc.u64().in_field("a")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            event_time_ms: required(ev, "E", end)?,
            symbol: required(s, "s", end)?,
            trade_id: required(t, "t", end)?,
            price: required(p, "p", end)?,
            qty: required(q, "q", end)?,
            trade_time_ms: required(tt, "T", end)?,
            buyer_is_maker: required(m, "m", end)?,
            buyer_order_id: bo,
            seller_order_id: so,
        })
    }
}

impl<'a> AggTrade<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`AggTrade::decode`]; [`DecodeErrorKind::WrongKind`] when `e` is not `aggTrade`.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut ev, mut s, mut a, mut p, mut q) = (None, None, None, None, None);
        let (mut f, mut l, mut tt, mut m) = (None, None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => check_event(sc, b"aggTrade")?,
                b"E" => ev = Some(sc.u64().in_field("E")?),
                b"s" => s = Some(sc.string().in_field("s")?),
                b"a" => a = Some(sc.u64().in_field("a")?),
                b"p" => p = Some(sc.price().in_field("p")?),
                b"q" => q = Some(sc.qty().in_field("q")?),
                b"f" => f = Some(sc.u64().in_field("f")?),
                b"l" => l = Some(sc.u64().in_field("l")?),
                b"T" => tt = Some(sc.u64().in_field("T")?),
                b"m" => m = Some(sc.boolean().in_field("m")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            event_time_ms: required(ev, "E", end)?,
            symbol: required(s, "s", end)?,
            agg_id: required(a, "a", end)?,
            price: required(p, "p", end)?,
            qty: required(q, "q", end)?,
            first_trade_id: required(f, "f", end)?,
            last_trade_id: required(l, "l", end)?,
            trade_time_ms: required(tt, "T", end)?,
            buyer_is_maker: required(m, "m", end)?,
        })
    }
}

/// The fields of the inner `k` object of a kline event.
#[derive(Default)]
struct KlineBody<'a> {
    t: Option<i64>,
    tc: Option<i64>,
    i: Option<JsonStr<'a>>,
    f: Option<i64>,
    l_id: Option<i64>,
    o: Option<Price>,
    c: Option<Price>,
    h: Option<Price>,
    l: Option<Price>,
    v: Option<Qty>,
    n: Option<u64>,
    x: Option<bool>,
    q: Option<Amount>,
    vb: Option<Qty>,
    qb: Option<Amount>,
}

impl<'a> KlineBody<'a> {
    fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let mut k = Self::default();
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"t" => k.t = Some(sc.i64().in_field("k.t")?),
                b"T" => k.tc = Some(sc.i64().in_field("k.T")?),
                b"i" => k.i = Some(sc.string().in_field("k.i")?),
                b"f" => k.f = Some(sc.i64().in_field("k.f")?),
                b"L" => k.l_id = Some(sc.i64().in_field("k.L")?),
                b"o" => k.o = Some(sc.price().in_field("k.o")?),
                b"c" => k.c = Some(sc.price().in_field("k.c")?),
                b"h" => k.h = Some(sc.price().in_field("k.h")?),
                b"l" => k.l = Some(sc.price().in_field("k.l")?),
                b"v" => k.v = Some(sc.qty().in_field("k.v")?),
                b"n" => k.n = Some(sc.u64().in_field("k.n")?),
                b"x" => k.x = Some(sc.boolean().in_field("k.x")?),
                b"q" => k.q = Some(sc.amount().in_field("k.q")?),
                b"V" => k.vb = Some(sc.qty().in_field("k.V")?),
                b"Q" => k.qb = Some(sc.amount().in_field("k.Q")?),
                _ => sc.skip_value()?,
            }
        }
        Ok(k)
    }
}

impl<'a> Kline<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`Kline::decode`]; [`DecodeErrorKind::WrongKind`] when `e` is not `kline`.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut ev, mut s, mut k) = (None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => check_event(sc, b"kline")?,
                b"E" => ev = Some(sc.u64().in_field("E")?),
                b"s" => s = Some(sc.string().in_field("s")?),
                b"k" => k = Some(KlineBody::decode_in(sc)?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        let k = required(k, "k", end)?;
        Ok(Self {
            event_time_ms: required(ev, "E", end)?,
            symbol: required(s, "s", end)?,
            interval: required(k.i, "k.i", end)?,
            open_time_ms: required(k.t, "k.t", end)?,
            close_time_ms: required(k.tc, "k.T", end)?,
            first_trade_id: required(k.f, "k.f", end)?,
            last_trade_id: required(k.l_id, "k.L", end)?,
            open: required(k.o, "k.o", end)?,
            close: required(k.c, "k.c", end)?,
            high: required(k.h, "k.h", end)?,
            low: required(k.l, "k.l", end)?,
            volume: required(k.v, "k.v", end)?,
            trades: required(k.n, "k.n", end)?,
            closed: required(k.x, "k.x", end)?,
            quote_volume: required(k.q, "k.q", end)?,
            taker_buy_volume: required(k.vb, "k.V", end)?,
            taker_buy_quote_volume: required(k.qb, "k.Q", end)?,
        })
    }
}

impl<'a> DepthUpdate<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`DepthUpdate::decode`]; [`DecodeErrorKind::WrongKind`] when `e` is not `depthUpdate`.
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut ev, mut s, mut fu, mut lu, mut b, mut a) = (None, None, None, None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => check_event(sc, b"depthUpdate")?,
                b"E" => ev = Some(sc.u64().in_field("E")?),
                b"s" => s = Some(sc.string().in_field("s")?),
                b"U" => fu = Some(sc.u64().in_field("U")?),
                b"u" => lu = Some(sc.u64().in_field("u")?),
                b"b" => b = Some(Levels::decode_in(sc).in_field("b")?),
                b"a" => a = Some(Levels::decode_in(sc).in_field("a")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            event_time_ms: required(ev, "E", end)?,
            symbol: required(s, "s", end)?,
            first_update_id: required(fu, "U", end)?,
            final_update_id: required(lu, "u", end)?,
            bids: required(b, "b", end)?,
            asks: required(a, "a", end)?,
        })
    }
}

impl<'a> PartialDepth<'a> {
    top_level_decode!();

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`PartialDepth::decode`].
    pub fn decode_in(sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut lu, mut b, mut a) = (None, None, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"lastUpdateId" => lu = Some(sc.u64().in_field("lastUpdateId")?),
                b"bids" => b = Some(Levels::decode_in(sc).in_field("bids")?),
                b"asks" => a = Some(Levels::decode_in(sc).in_field("asks")?),
                _ => sc.skip_value()?,
            }
        }
        let end = sc.offset();
        Ok(Self {
            last_update_id: required(lu, "lastUpdateId", end)?,
            bids: required(b, "bids", end)?,
            asks: required(a, "asks", end)?,
        })
    }
}

impl ServerShutdown {
    /// Decodes a whole `{"e":"serverShutdown","E":ms}` frame.
    ///
    /// # Errors
    /// As the other decoders; [`DecodeErrorKind::WrongKind`] for another event.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut sc = Scanner::new(frame);
        let v = Self::decode_in(&mut sc)?;
        sc.finish()?;
        Ok(v)
    }

    /// Decodes the object at the scanner's position.
    ///
    /// # Errors
    /// As [`ServerShutdown::decode`].
    pub fn decode_in(sc: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        sc.begin_object()?;
        let (mut seen, mut ev) = (false, None);
        let mut first = true;
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => {
                    check_event(sc, b"serverShutdown")?;
                    seen = true;
                }
                b"E" => ev = Some(sc.u64().in_field("E")?),
                _ => sc.skip_value()?,
            }
        }
        if !seen {
            return Err(DecodeError::missing("e", sc.offset()));
        }
        Ok(Self { event_time_ms: ev })
    }
}

/// Which payload a market stream carries, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `<sym>@bookTicker`.
    BookTicker,
    /// `<sym>@trade`.
    Trade,
    /// `<sym>@aggTrade`.
    AggTrade,
    /// `<sym>@kline_<interval>`.
    Kline,
    /// `<sym>@depth` or `<sym>@depth@<speed>`.
    DepthUpdate,
    /// `<sym>@depth<levels>` with an optional `@<speed>`.
    PartialDepth,
}

impl StreamKind {
    /// The kind of a stream name such as `btcusdt@depth@100ms`; `None` for
    /// streams odex does not decode.
    pub fn from_stream_name(name: &[u8]) -> Option<Self> {
        // the tick path's stream first: `<symbol>@bookTicker`
        if name.strip_suffix(b"@bookTicker").is_some_and(|symbol| !symbol.is_empty() && !symbol.contains(&b'@')) {
            return Some(Self::BookTicker);
        }
        let at = name.iter().position(|&b| b == b'@')?;
        let rest = name.get(at + 1..)?;
        let (head, _speed) = match rest.iter().position(|&b| b == b'@') {
            Some(i) => (rest.get(..i)?, rest.get(i + 1..)),
            None => (rest, None),
        };
        match head {
            b"bookTicker" => Some(Self::BookTicker),
            b"trade" => Some(Self::Trade),
            b"aggTrade" => Some(Self::AggTrade),
            b"depth" => Some(Self::DepthUpdate),
            _ if head.starts_with(b"kline_") => Some(Self::Kline),
            _ if head.starts_with(b"depth") && head.len() > 5 && head.iter().skip(5).all(u8::is_ascii_digit) => {
                Some(Self::PartialDepth)
            }
            _ => None,
        }
    }
}

/// One decoded market stream payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent<'a> {
    /// Best bid and ask.
    BookTicker(BookTicker<'a>),
    /// A trade.
    Trade(Trade<'a>),
    /// An aggregate trade.
    AggTrade(AggTrade<'a>),
    /// The current candle.
    Kline(Kline<'a>),
    /// A depth diff.
    DepthUpdate(DepthUpdate<'a>),
    /// Top levels of the book.
    PartialDepth(PartialDepth<'a>),
    /// The server is about to close the connection.
    ServerShutdown(ServerShutdown),
}

impl<'a> MarketEvent<'a> {
    /// Decodes a raw-stream frame whose kind the connection knows.
    ///
    /// # Errors
    /// As the decoder of that kind.
    pub fn decode(kind: StreamKind, frame: &'a [u8]) -> Result<Self, DecodeError> {
        let mut sc = Scanner::new(frame);
        let v = Self::decode_in(kind, &mut sc)?;
        sc.finish()?;
        Ok(v)
    }

    /// Decodes the object at the scanner's position as `kind`.
    ///
    /// # Errors
    /// As the decoder of that kind.
    #[inline]
    pub fn decode_in(kind: StreamKind, sc: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        Ok(match kind {
            StreamKind::BookTicker => Self::BookTicker(BookTicker::decode_in(sc)?),
            StreamKind::Trade => Self::Trade(Trade::decode_in(sc)?),
            StreamKind::AggTrade => Self::AggTrade(AggTrade::decode_in(sc)?),
            StreamKind::Kline => Self::Kline(Kline::decode_in(sc)?),
            StreamKind::DepthUpdate => Self::DepthUpdate(DepthUpdate::decode_in(sc)?),
            StreamKind::PartialDepth => Self::PartialDepth(PartialDepth::decode_in(sc)?),
        })
    }

    /// Decodes a raw-stream frame of unknown kind by looking at its fields
    /// (`e`, or `lastUpdateId` for partial depth, or `u` for bookTicker).
    /// Scans the frame twice; prefer [`MarketEvent::decode`] on a
    /// connection whose stream is known.
    ///
    /// # Errors
    /// [`DecodeErrorKind::WrongKind`] when the shape is not recognised, else
    /// as the decoder of the recognised kind.
    pub fn decode_sniffed(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let mut sc = Scanner::new(frame);
        sc.begin_object()?;
        let mut first = true;
        let (mut event, mut has_last_update, mut has_u) = (None, false, false);
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"e" => event = Some(sc.string_bytes().in_field("e")?),
                b"lastUpdateId" => {
                    has_last_update = true;
                    sc.skip_value()?;
                }
                b"u" => {
                    has_u = true;
                    sc.skip_value()?;
                }
                _ => sc.skip_value()?,
            }
        }
        let kind = match event {
            Some(b"trade") => StreamKind::Trade,
            Some(b"aggTrade") => StreamKind::AggTrade,
            Some(b"kline") => StreamKind::Kline,
            Some(b"depthUpdate") => StreamKind::DepthUpdate,
            Some(b"serverShutdown") => return ServerShutdown::decode(frame).map(Self::ServerShutdown),
            Some(b"bookTicker") => StreamKind::BookTicker,
            Some(_) => return Err(DecodeError { kind: DecodeErrorKind::WrongKind, at: 0, field: Some("e") }),
            None if has_last_update => StreamKind::PartialDepth,
            None if has_u => StreamKind::BookTicker,
            None => return Err(DecodeError::new(DecodeErrorKind::WrongKind, 0)),
        };
        Self::decode(kind, frame)
    }
}

/// One frame of a market stream connection, raw or combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketFrame<'a> {
    /// A payload with the stream name it came on (combined streams).
    Event {
        /// The stream name, e.g. `btcusdt@bookTicker`.
        stream: JsonStr<'a>,
        /// The payload.
        event: MarketEvent<'a>,
    },
    /// The answer to a `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` request.
    ControlReply {
        /// The request id echoed back; `None` when absent or not an integer.
        id: Option<u64>,
        /// The `result` value (`null` on success, a list for `LIST_SUBSCRIPTIONS`).
        result: Option<RawJson<'a>>,
        /// An `error` object, when the request failed.
        error: Option<RawJson<'a>>,
    },
    /// The server is about to close the connection.
    ServerShutdown(ServerShutdown),
}

impl<'a> MarketFrame<'a> {
    /// Decodes one combined-stream frame: `{"stream":..,"data":{..}}`, a
    /// control reply or a `serverShutdown`. When `stream` precedes `data`
    /// (as Binance sends it) the payload is decoded in place in one pass.
    ///
    /// # Errors
    /// [`DecodeErrorKind::WrongKind`] for an unknown stream name or shape,
    /// else as the payload's decoder.
    pub fn decode(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let mut sc = Scanner::new(frame);
        if let Some(f) = Self::decode_compact(&mut sc) {
            return Ok(f);
        }
        sc.rewind(0);
        sc.begin_object()?;
        let mut first = true;
        let mut stream: Option<(JsonStr<'a>, StreamKind)> = None;
        let mut event: Option<MarketEvent<'a>> = None;
        let mut deferred: Option<RawJson<'a>> = None;
        let (mut id, mut result, mut error, mut shutdown) = (None, None, None, false);
        while let Some(key) = sc.next_key(&mut first)? {
            match key {
                b"stream" => {
                    let at = sc.offset();
                    let name = sc.string().in_field("stream")?;
                    let kind = StreamKind::from_stream_name(name.as_bytes()).ok_or(DecodeError {
                        kind: DecodeErrorKind::WrongKind,
                        at,
                        field: Some("stream"),
                    })?;
                    stream = Some((name, kind));
                }
                b"data" => match stream {
                    Some((_, kind)) => event = Some(MarketEvent::decode_in(kind, &mut sc).in_field("data")?),
                    None => deferred = Some(sc.raw_value()?),
                },
                b"id" => {
                    id = if sc.peek_token()?.is_ascii_digit() { Some(sc.u64().in_field("id")?) } else { None };
                    if id.is_none() {
                        sc.skip_value()?;
                    }
                }
                b"result" => result = Some(sc.raw_value()?),
                b"error" => error = Some(sc.raw_value()?),
                b"e" => {
                    check_event(&mut sc, b"serverShutdown")?;
                    shutdown = true;
                }
                _ => sc.skip_value()?,
            }
        }
        sc.finish()?;
        if let Some((name, kind)) = stream {
            if let Some(raw) = deferred {
                let mut inner = raw.scanner();
                event = Some(MarketEvent::decode_in(kind, &mut inner).in_field("data")?);
            }
            let event = required(event, "data", frame.len())?;
            return Ok(Self::Event { stream: name, event });
        }
        if shutdown {
            return ServerShutdown::decode(frame).map(Self::ServerShutdown);
        }
        if result.is_some() || error.is_some() {
            return Ok(Self::ControlReply { id, result, error });
        }
        Err(DecodeError::new(DecodeErrorKind::WrongKind, 0))
    }

    /// `{"stream":"NAME","data":{..}}` exactly as Binance sends it, read
    /// straight through; `None` at the first difference (or a payload
    /// error), and the general loop above decides.
    #[inline]
    fn decode_compact(sc: &mut Scanner<'a>) -> Option<Self> {
        if !sc.eat(br#"{"stream":""#) {
            return None;
        }
        let name = sc.plain_string_rest()?;
        let kind = StreamKind::from_stream_name(name)?;
        if !sc.eat(br#","data":"#) {
            return None;
        }
        let event = MarketEvent::decode_in(kind, sc).ok()?;
        if !sc.eat(b"}") || sc.finish().is_err() {
            return None;
        }
        Some(Self::Event { stream: JsonStr(name), event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOK: &[u8] =
        br#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;

    proptest::proptest! {
        /// The compact fast paths and the general loops agree: Binance's
        /// exact layout, the same fields spaced out and in another order
        /// (general loop), raw and inside a combined-stream frame, and every
        /// truncation (an error, never a panic or a wrong value).
        #[test]
        fn book_ticker_fast_path_agrees_with_the_general_loop(
            u in proptest::prelude::any::<u64>(),
            sym in "[A-Z]{3,10}",
            ints in proptest::array::uniform4(0u64..10_000_000),
            fracs in proptest::array::uniform4(0u64..100_000_000),
            cut in 0usize..200,
        ) {
            let d: Vec<String> = ints.iter().zip(fracs).map(|(i, f)| format!("{i}.{f:08}")).collect();
            let compact = format!(r#"{{"u":{u},"s":"{sym}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#, d[0], d[1], d[2], d[3]);
            let spaced = format!(r#"{{ "u" : {u} , "s" : "{sym}" , "b" : "{}" , "B" : "{}" , "a" : "{}" , "A" : "{}" }}"#, d[0], d[1], d[2], d[3]);
            let reordered = format!(r#"{{"A":"{}","a":"{}","B":"{}","b":"{}","s":"{sym}","u":{u},"e":"x"}}"#, d[3], d[2], d[1], d[0]);
            let want = BookTicker::decode(compact.as_bytes()).unwrap();
            proptest::prop_assert_eq!(want.update_id, u);
            proptest::prop_assert_eq!(want.symbol.0, sym.as_bytes());
            proptest::prop_assert_eq!(want.top.bid, Price::parse(&d[0]).unwrap());
            proptest::prop_assert_eq!(want.top.ask_qty, Qty::parse(&d[3]).unwrap());
            proptest::prop_assert_eq!(BookTicker::decode(spaced.as_bytes()).unwrap(), want);
            proptest::prop_assert_eq!(BookTicker::decode(reordered.as_bytes()).unwrap(), want);
            proptest::prop_assert!(BookTicker::decode(&compact.as_bytes()[..cut.min(compact.len() - 1)]).is_err());
            let stream = format!("{}@bookTicker", sym.to_lowercase());
            let framed = format!(r#"{{"stream":"{stream}","data":{compact}}}"#);
            let spaced_frame = format!(r#"{{ "data" : {spaced}, "stream" : "{stream}" }}"#);
            for f in [&framed, &spaced_frame] {
                match MarketFrame::decode(f.as_bytes()).unwrap() {
                    MarketFrame::Event { stream: s, event: MarketEvent::BookTicker(t) } => {
                        proptest::prop_assert_eq!(s.0, stream.as_bytes());
                        proptest::prop_assert_eq!(t, want);
                    }
                    other => proptest::prop_assert!(false, "{:?}", other),
                }
            }
            proptest::prop_assert!(MarketFrame::decode(&framed.as_bytes()[..cut.min(framed.len() - 1)]).is_err());
        }
    }

    #[test]
    fn book_ticker_decodes_exactly() {
        let t = BookTicker::decode(BOOK).unwrap();
        assert_eq!(t.update_id, 400_900_217);
        assert!(t.symbol.eq_str("BNBUSDT"));
        assert_eq!(t.top.bid, Price::parse("25.3519").unwrap());
        assert_eq!(t.top.bid_qty, Qty::parse("31.21").unwrap());
        assert_eq!(t.top.ask, Price::parse("25.3652").unwrap());
        assert_eq!(t.top.ask_qty, Qty::parse("40.66").unwrap());
    }

    #[test]
    fn fields_in_any_order_and_unknown_ones_are_fine() {
        let f = br#"{"A":"1","x":{"y":[1,2,{"z":null}]},"a":"2","B":"3","b":"1.5","s":"X","e":"bookTicker","E":1,"T":2,"u":7}"#;
        let t = BookTicker::decode(f).unwrap();
        assert_eq!(t.update_id, 7);
        assert_eq!(t.top.ask, Price::parse("2").unwrap());
    }

    #[test]
    fn missing_and_bad_fields_are_named() {
        let e = BookTicker::decode(br#"{"u":1,"s":"X","b":"1","B":"1","a":"1"}"#).unwrap_err();
        assert_eq!((e.kind, e.field), (DecodeErrorKind::MissingField, Some("A")));
        let e = BookTicker::decode(br#"{"u":1,"s":"X","b":"1e5","B":"1","a":"1","A":"1"}"#).unwrap_err();
        assert_eq!(e.field, Some("b"));
        assert_eq!(e.at, 21);
        let e = BookTicker::decode(br#"{"u":-1}"#).unwrap_err();
        assert_eq!((e.kind, e.field), (DecodeErrorKind::BadInteger, Some("u")));
    }

    #[test]
    fn trade_both_field_sets() {
        let old = br#"{"e":"trade","E":123456789,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","b":88,"a":50,"T":123456785,"m":true,"M":true}"#;
        let t = Trade::decode(old).unwrap();
        assert_eq!((t.buyer_order_id, t.seller_order_id), (Some(88), Some(50)));
        let new = br#"{"e":"trade","E":123456789,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":123456785,"m":true,"M":true}"#;
        let t = Trade::decode(new).unwrap();
        assert_eq!(t.buyer_order_id, None);
        assert_eq!(t.price, Price::parse("0.001").unwrap());
        assert!(t.buyer_is_maker);
        let e = Trade::decode(&new.replace_first(b"\"trade\"", b"\"Trade\"")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::WrongKind);
    }

    trait ReplaceFirst {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }
    impl ReplaceFirst for [u8] {
        fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let i = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..i], to, &self[i + from.len()..]].concat()
        }
    }

    #[test]
    fn depth_levels_iterate_without_copies() {
        let f = br#"{"e":"depthUpdate","E":1,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}"#;
        let d = DepthUpdate::decode(f).unwrap();
        assert_eq!((d.first_update_id, d.final_update_id), (157, 160));
        assert_eq!(d.bids.len(), 1);
        let asks: Vec<Level> = d.asks.iter().map(Result::unwrap).collect();
        assert_eq!(asks[1], Level { price: Price::parse("0.0027").unwrap(), qty: Qty::ZERO });
        let p = PartialDepth::decode(br#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[]}"#).unwrap();
        assert_eq!(p.last_update_id, 160);
        assert!(p.asks.is_empty());
        assert_eq!(p.asks.iter().count(), 0);
        let e = PartialDepth::decode(br#"{"lastUpdateId":160,"bids":[["0.0024"]],"asks":[]}"#).unwrap_err();
        assert_eq!(e.field, Some("bids"));
    }

    #[test]
    fn stream_names() {
        use StreamKind as K;
        for (name, kind) in [
            ("btcusdt@bookTicker", Some(K::BookTicker)),
            ("btcusdt@trade", Some(K::Trade)),
            ("btcusdt@aggTrade", Some(K::AggTrade)),
            ("btcusdt@kline_1m", Some(K::Kline)),
            ("btcusdt@depth", Some(K::DepthUpdate)),
            ("btcusdt@depth@100ms", Some(K::DepthUpdate)),
            ("btcusdt@depth5", Some(K::PartialDepth)),
            ("btcusdt@depth20@100ms", Some(K::PartialDepth)),
            ("btcusdt@ticker", None),
            ("depth", None),
            ("@bookTicker", Some(K::BookTicker)),
            ("bookTicker", None),
            ("a@b@bookTicker", None),
            ("btcusdt@bookTicker@100ms", Some(K::BookTicker)),
            ("btcusdt@xbookTicker", None),
        ] {
            assert_eq!(StreamKind::from_stream_name(name.as_bytes()), kind, "{name}");
        }
    }

    #[test]
    fn combined_frames_in_either_order() {
        let a = br#"{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"2","a":"3","A":"4"}}"#;
        let b = br#"{"data":{"u":1,"s":"BNBUSDT","b":"1","B":"2","a":"3","A":"4"},"stream":"bnbusdt@bookTicker"}"#;
        assert_eq!(MarketFrame::decode(a).unwrap(), MarketFrame::decode(b).unwrap());
        let MarketFrame::ControlReply { id, result, .. } = MarketFrame::decode(br#"{"result":null,"id":1}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(id, Some(1));
        assert!(result.unwrap().is_null());
        assert_eq!(
            MarketFrame::decode(br#"{"e":"serverShutdown","E":1700000000000}"#).unwrap(),
            MarketFrame::ServerShutdown(ServerShutdown { event_time_ms: Some(1_700_000_000_000) })
        );
        let e = MarketFrame::decode(br#"{"stream":"x@ticker","data":{}}"#).unwrap_err();
        assert_eq!((e.kind, e.field), (DecodeErrorKind::WrongKind, Some("stream")));
    }

    #[test]
    fn sniffing_raw_frames() {
        assert!(matches!(MarketEvent::decode_sniffed(BOOK).unwrap(), MarketEvent::BookTicker(_)));
        let p = br#"{"lastUpdateId":160,"bids":[],"asks":[]}"#;
        assert!(matches!(MarketEvent::decode_sniffed(p).unwrap(), MarketEvent::PartialDepth(_)));
        assert!(MarketEvent::decode_sniffed(br#"{"e":"weird"}"#).is_err());
    }
}
