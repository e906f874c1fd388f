//! [`DepthBook`]: a local L2 order book kept the way Binance documents it,
//! for the venue model to match against.
//!
//! A book starts from a snapshot (`GET /api/v3/depth`, or a partial depth
//! stream) and then applies `depthUpdate` diffs: a diff whose last update id
//! `u` is not past the book's is stale and skipped; the first diff applied
//! must span the book's id plus one (`U <= id + 1 <= u`), every later one
//! must start right after the previous (`U == id + 1`). Anything else is a
//! gap: the book refuses the diff and must be rebuilt from a new snapshot.
//! A level with quantity zero is removed.
//!
//! Each side keeps its best `capacity` levels, best first, in storage
//! allocated once ([`DepthBook::new`]); applying a diff never allocates.
//! Levels beyond the kept ones are dropped, so after removals near the top
//! the far end of a full side may lack levels the exchange still has; the
//! kept top is exact.

use odex_shared::market::{BookTop, Price, Qty, Side};

use crate::binance::Level;

/// Why a diff was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DepthError {
    /// The diff does not follow the book: rebuild from a snapshot.
    #[error("depth diff {first}..={last} does not follow the book at update id {book}: rebuild from a snapshot")]
    Gap {
        /// The book's update id.
        book: u64,
        /// The diff's first update id (`U`).
        first: u64,
        /// The diff's last update id (`u`).
        last: u64,
    },
    /// No snapshot has been applied yet.
    #[error("depth diff before any snapshot")]
    NoSnapshot,
}

/// What applying a diff did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The book moved to the diff's last update id.
    Updated,
    /// The diff was older than the book and was skipped.
    Stale,
}

/// One side of the book, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct BookSide {
    levels: Vec<Level>,
    cap: usize,
}

impl BookSide {
    fn with_capacity(cap: usize) -> Self {
        Self { levels: Vec::with_capacity(cap), cap }
    }

    /// Where `price` is or would go: `Ok(index)` of its level, `Err(index)`
    /// of the slot it would take.
    fn find(&self, side: Side, price: Price) -> Result<usize, usize> {
        // bids are kept descending, asks ascending
        self.levels.binary_search_by(|l| match side {
            Side::Buy => price.cmp(&l.price),
            Side::Sell => l.price.cmp(&price),
        })
    }

    fn set(&mut self, side: Side, level: Level) {
        match self.find(side, level.price) {
            Ok(i) if level.qty.is_positive() => {
                if let Some(l) = self.levels.get_mut(i) {
                    l.qty = level.qty;
                }
            }
            Ok(i) => {
                self.levels.remove(i);
            }
            Err(i) if level.qty.is_positive() && i < self.cap => {
                if self.levels.len() == self.cap {
                    self.levels.pop();
                }
                self.levels.insert(i, level);
            }
            Err(_) => {}
        }
    }

    fn qty_at(&self, side: Side, price: Price) -> Option<Qty> {
        self.find(side, price).ok().and_then(|i| self.levels.get(i)).map(|l| l.qty)
    }
}

/// A local L2 book of one symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepthBook {
    bids: BookSide,
    asks: BookSide,
    update_id: Option<u64>,
    synced: bool,
}

impl DepthBook {
    /// An empty book keeping the best `capacity` levels a side.
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.max(1);
        Self { bids: BookSide::with_capacity(cap), asks: BookSide::with_capacity(cap), update_id: None, synced: false }
    }

    /// Levels kept per side.
    pub const fn capacity(&self) -> usize {
        self.bids.cap
    }

    /// The update id the book is at (`None` before a snapshot).
    pub const fn update_id(&self) -> Option<u64> {
        self.update_id
    }

    /// Replaces the book with a snapshot at `last_update_id`. Levels may
    /// come in any order; zero quantities are ignored.
    pub fn apply_snapshot(
        &mut self,
        last_update_id: u64,
        bids: impl IntoIterator<Item = Level>,
        asks: impl IntoIterator<Item = Level>,
    ) {
        self.bids.levels.clear();
        self.asks.levels.clear();
        bids.into_iter().for_each(|l| self.bids.set(Side::Buy, l));
        asks.into_iter().for_each(|l| self.asks.set(Side::Sell, l));
        self.update_id = Some(last_update_id);
        self.synced = false;
    }

    /// Applies a `depthUpdate` covering update ids `first..=last`.
    ///
    /// # Errors
    /// [`DepthError::NoSnapshot`] before a snapshot, [`DepthError::Gap`]
    /// when the diff does not follow the book (the book is unchanged).
    pub fn apply_diff(
        &mut self,
        first: u64,
        last: u64,
        bids: impl IntoIterator<Item = Level>,
        asks: impl IntoIterator<Item = Level>,
    ) -> Result<Applied, DepthError> {
        let Some(book) = self.update_id else { return Err(DepthError::NoSnapshot) };
        if last <= book {
            return Ok(Applied::Stale);
        }
        let next = book.saturating_add(1);
        let follows = if self.synced { first == next } else { first <= next };
        if !follows {
            return Err(DepthError::Gap { book, first, last });
        }
        bids.into_iter().for_each(|l| self.bids.set(Side::Buy, l));
        asks.into_iter().for_each(|l| self.asks.set(Side::Sell, l));
        self.update_id = Some(last);
        self.synced = true;
        Ok(Applied::Updated)
    }

    const fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// The resting levels of `side` (bids for `Buy`), best first.
    pub fn levels(&self, side: Side) -> &[Level] {
        &self.side(side).levels
    }

    /// The quantity resting on `side` at `price`, if a level is there.
    pub fn qty_at(&self, side: Side, price: Price) -> Option<Qty> {
        self.side(side).qty_at(side, price)
    }

    /// Whether `price` on `side` is within what the book shows: at or
    /// better than its worst kept level, or anywhere when the side is not
    /// full (then every level of it is kept).
    pub fn covers(&self, side: Side, price: Price) -> bool {
        let s = self.side(side);
        s.levels.len() < s.cap
            || s.levels.last().is_some_and(|worst| match side {
                Side::Buy => price >= worst.price,
                Side::Sell => price <= worst.price,
            })
    }

    /// Takes `qty` from the level at `price` on `side` (a public trade
    /// there), removing the level when it is used up.
    pub fn consume(&mut self, side: Side, price: Price, qty: Qty) {
        if let Some(q) = self.qty_at(side, price) {
            let left = q.saturating_sub(qty).max(Qty::ZERO);
            let s = match side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            s.set(side, Level { price, qty: left });
        }
    }

    /// Best bid and ask with their quantities; `None` while a side is empty.
    pub fn top(&self) -> Option<BookTop> {
        let (b, a) = (self.bids.levels.first()?, self.asks.levels.first()?);
        Some(BookTop { bid: b.price, bid_qty: b.qty, ask: a.price, ask_qty: a.qty })
    }

    /// Copies `other`'s levels and ids into this book's storage (no
    /// allocation when the capacities match).
    pub fn copy_from(&mut self, other: &Self) {
        for (dst, src) in [(&mut self.bids, &other.bids), (&mut self.asks, &other.asks)] {
            dst.levels.clear();
            dst.levels.extend(src.levels.iter().take(dst.cap).copied());
        }
        self.update_id = other.update_id;
        self.synced = other.synced;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn lv(p: i64, q: i64) -> Level {
        Level { price: Price::from_raw(p), qty: Qty::from_raw(q) }
    }

    #[test]
    fn binance_sync_rules() {
        let mut b = DepthBook::new(10);
        assert_eq!(b.apply_diff(1, 2, [], []), Err(DepthError::NoSnapshot));
        b.apply_snapshot(100, [lv(99, 5), lv(98, 7)], [lv(101, 3)]);
        // older than the snapshot: skipped
        assert_eq!(b.apply_diff(90, 100, [lv(99, 1)], []), Ok(Applied::Stale));
        // the first diff must span 101
        assert_eq!(b.apply_diff(102, 103, [], []), Err(DepthError::Gap { book: 100, first: 102, last: 103 }));
        assert_eq!(b.apply_diff(95, 104, [lv(99, 0), lv(100, 2)], [lv(102, 4)]), Ok(Applied::Updated));
        // then each must start right after the last
        assert_eq!(b.apply_diff(104, 106, [], []), Err(DepthError::Gap { book: 104, first: 104, last: 106 }));
        assert_eq!(b.apply_diff(105, 106, [], [lv(101, 0)]), Ok(Applied::Updated));
        assert_eq!(b.update_id(), Some(106));
        assert_eq!(b.levels(Side::Buy), [lv(100, 2), lv(98, 7)]);
        assert_eq!(b.levels(Side::Sell), [lv(102, 4)]);
        assert_eq!(
            b.top(),
            Some(BookTop {
                bid: Price::from_raw(100),
                bid_qty: Qty::from_raw(2),
                ask: Price::from_raw(102),
                ask_qty: Qty::from_raw(4)
            })
        );
    }

    #[test]
    fn a_full_side_keeps_its_best_levels_and_knows_what_it_covers() {
        let mut b = DepthBook::new(2);
        b.apply_snapshot(1, [lv(97, 1), lv(99, 1), lv(98, 1)], [lv(101, 1)]);
        assert_eq!(b.levels(Side::Buy), [lv(99, 1), lv(98, 1)]);
        assert!(b.covers(Side::Buy, Price::from_raw(98)) && !b.covers(Side::Buy, Price::from_raw(97)));
        assert!(b.covers(Side::Sell, Price::from_raw(200)), "a side that is not full shows everything");
        b.consume(Side::Buy, Price::from_raw(99), Qty::from_raw(1));
        assert_eq!(b.levels(Side::Buy), [lv(98, 1)]);
    }

    proptest! {
        /// Any sequence of level changes gives the best levels of a full
        /// reference book, and never allocates past the first capacity.
        #[test]
        fn matches_a_reference_book(
            changes in proptest::collection::vec((any::<bool>(), 90i64..110, 0i64..4), 0..200),
            cap in 1usize..8,
        ) {
            let mut b = DepthBook::new(cap);
            b.apply_snapshot(0, [], []);
            let (bid_ptr, ask_ptr) = (b.bids.levels.as_ptr(), b.asks.levels.as_ptr());
            let mut reference: [BTreeMap<i64, i64>; 2] = [BTreeMap::new(), BTreeMap::new()];
            // a side that once held more than the capacity lost levels for good
            let mut exact = [true, true];
            let mut id = 0;
            for (buy, p, q) in changes {
                id += 1;
                let l = lv(p, q);
                let (bids, asks) = if buy { (Some(l), None) } else { (None, Some(l)) };
                prop_assert_eq!(b.apply_diff(id, id, bids, asks), Ok(Applied::Updated));
                let side = &mut reference[usize::from(!buy)];
                if q == 0 { side.remove(&p); } else { side.insert(p, q); }
                for (e, r) in exact.iter_mut().zip(&reference) {
                    *e &= r.len() <= cap;
                }
                let want_bids: Vec<Level> = reference[0].iter().rev().map(|(p, q)| lv(*p, *q)).collect();
                let want_asks: Vec<Level> = reference[1].iter().map(|(p, q)| lv(*p, *q)).collect();
                if exact[0] {
                    prop_assert_eq!(b.levels(Side::Buy), want_bids.as_slice());
                } else {
                    // the kept levels are real ones, at their true quantities
                    for l in b.levels(Side::Buy) {
                        prop_assert_eq!(reference[0].get(&l.price.raw()), Some(&l.qty.raw()));
                    }
                }
                if exact[1] {
                    prop_assert_eq!(b.levels(Side::Sell), want_asks.as_slice());
                } else {
                    for l in b.levels(Side::Sell) {
                        prop_assert_eq!(reference[1].get(&l.price.raw()), Some(&l.qty.raw()));
                    }
                }
                prop_assert!(b.levels(Side::Buy).len() <= cap && b.levels(Side::Sell).len() <= cap);
                prop_assert!(b.levels(Side::Buy).windows(2).all(|w| w[0].price > w[1].price));
                prop_assert!(b.levels(Side::Sell).windows(2).all(|w| w[0].price < w[1].price));
            }
            prop_assert_eq!((b.bids.levels.as_ptr(), b.asks.levels.as_ptr()), (bid_ptr, ask_ptr));
        }
    }
}
