//! The portfolio: positions, average entry, realised and unrealised PnL,
//! fees by asset, exposure and equity with its high-water mark, all from
//! fills, in exact fixed-point.
//!
//! Equity is counted in the common quote asset: starting capital plus, per
//! symbol, the quote cash flow of its fills, minus fees, plus the position
//! marked at the last mid. Realised PnL uses the average-entry method;
//! `equity = capital + realised + unrealised - fees` up to the 10^-8
//! truncation of the average price. [`Portfolio::reconcile`] compares the
//! balances the exchange reports (`account.status`) with what the fills
//! imply and lists every difference.

use odex_shared::market::{Amount, Price, Qty, SCALE, Side, mul_scaled};

use crate::order::SymbolId;

/// One symbol's book-keeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed position in base units.
    pub qty: Qty,
    /// Average entry price of the open position (zero when flat).
    pub avg_entry: Price,
    /// Realised PnL before fees (quote).
    pub realised: Amount,
    /// Fees charged in the quote asset (quote units).
    pub fees_quote: Amount,
    /// Fees charged in the base asset, valued in quote units at the fill.
    pub fees_base_value: Amount,
    /// Fees charged in the base asset, in base units.
    pub fees_base_qty: Qty,
    /// Quote received minus quote paid by fills (before fees).
    pub cash: Amount,
    /// Last mark price (mid).
    pub mark: Price,
    /// Fills booked.
    pub fills: u64,
    /// Traded quote volume.
    pub volume: Amount,
}

fn clamp64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl Position {
    /// Unrealised PnL at the mark (quote).
    pub fn unrealised(&self) -> Amount {
        if self.qty.is_zero() || !self.mark.is_positive() {
            return Amount::ZERO;
        }
        Amount::from_raw(clamp64(mul_scaled(self.mark.raw() - self.avg_entry.raw(), self.qty.raw())))
    }

    /// `|qty| x mark` (quote).
    pub fn exposure(&self) -> Amount {
        Amount::from_raw(clamp64(mul_scaled(self.mark.raw(), self.qty.raw()).abs()))
    }

    /// All fees in quote units.
    pub fn fees(&self) -> Amount {
        self.fees_quote.saturating_add(self.fees_base_value)
    }

    /// The symbol's contribution to equity: cash flow + marked position - fees.
    pub fn value(&self) -> Amount {
        let marked = clamp64(mul_scaled(self.mark.raw(), self.qty.raw()));
        Amount::from_raw(self.cash.raw().saturating_add(marked).saturating_sub(self.fees().raw()))
    }

    fn apply_fill(&mut self, side: Side, qty: Qty, price: Price) {
        let pos = i128::from(self.qty.raw());
        let signed = i128::from(side.sign()) * i128::from(qty.raw());
        let avg = i128::from(self.avg_entry.raw());
        let px = i128::from(price.raw());
        if pos == 0 || pos.signum() == signed.signum() {
            let total = pos.abs() + signed.abs();
            if total > 0 {
                self.avg_entry = Price::from_raw(clamp64((avg * pos.abs() + px * signed.abs()) / total));
            }
        } else {
            let closing = pos.abs().min(signed.abs());
            let pnl = (px - avg) * closing * pos.signum() / i128::from(SCALE);
            self.realised = Amount::from_raw(clamp64(i128::from(self.realised.raw()) + pnl));
            let left = pos + signed;
            if left == 0 {
                self.avg_entry = Price::ZERO;
            } else if left.signum() != pos.signum() {
                self.avg_entry = price; // flipped: the rest opens at this price
            }
        }
        self.qty = Qty::from_raw(clamp64(pos + signed));
        let notional = mul_scaled(px as i64, qty.raw());
        self.cash = Amount::from_raw(clamp64(i128::from(self.cash.raw()) - i128::from(side.sign()) * notional));
        self.volume = self.volume.saturating_add(Amount::from_raw(clamp64(notional)));
        self.fills += 1;
    }
}

/// A balance as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// Asset name (`BTC`).
    pub asset: String,
    /// Free plus locked.
    pub total: Amount,
}

/// A difference found by [`Portfolio::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// Asset name.
    pub asset: String,
    /// What the fills imply.
    pub expected: Amount,
    /// What the exchange reports (zero when it does not list the asset).
    pub reported: Amount,
}

impl Discrepancy {
    /// `reported - expected`.
    pub fn difference(&self) -> Amount {
        self.reported.saturating_sub(self.expected)
    }
}

/// Positions of every symbol and the account's equity.
#[derive(Debug, Clone)]
pub struct Portfolio {
    capital: Amount,
    positions: Vec<Position>,
    high_water: Amount,
    quote_asset: String,
    base_assets: Vec<String>,
    baseline: Vec<Amount>,
    quote_baseline: Amount,
}

impl Portfolio {
    /// A flat portfolio with `capital` in `quote_asset` and one position per
    /// base asset (in `SymbolId` order).
    pub fn new(capital: Amount, quote_asset: &str, base_assets: &[&str]) -> Self {
        Self {
            capital,
            positions: vec![Position::default(); base_assets.len()],
            high_water: capital,
            quote_asset: quote_asset.to_string(),
            base_assets: base_assets.iter().map(|s| (*s).to_string()).collect(),
            baseline: vec![Amount::ZERO; base_assets.len()],
            quote_baseline: capital,
        }
    }

    /// Starting capital.
    pub const fn capital(&self) -> Amount {
        self.capital
    }

    /// One symbol's position (a flat default for an unknown symbol).
    pub fn position(&self, symbol: SymbolId) -> Position {
        self.positions.get(usize::from(symbol.0)).copied().unwrap_or_default()
    }

    /// Every position, in `SymbolId` order.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Books a fill (exact). The commission is in quote units; `fee_in_base`
    /// says which asset was charged. Returns false for an unknown symbol.
    pub fn apply_fill(
        &mut self,
        symbol: SymbolId,
        side: Side,
        qty: Qty,
        price: Price,
        commission: Amount,
        fee_in_base: bool,
    ) -> bool {
        let Some(p) = self.positions.get_mut(usize::from(symbol.0)) else { return false };
        p.apply_fill(side, qty, price);
        if fee_in_base {
            p.fees_base_value = p.fees_base_value.saturating_add(commission);
            let base = i128::from(commission.raw()) * i128::from(SCALE) / i128::from(price.raw().max(1));
            p.fees_base_qty = p.fees_base_qty.saturating_add(Qty::from_raw(clamp64(base)));
        } else {
            p.fees_quote = p.fees_quote.saturating_add(commission);
        }
        if !p.mark.is_positive() {
            p.mark = price;
        }
        true
    }

    /// Marks a symbol at `price` (the mid) and returns the new equity.
    pub fn mark(&mut self, symbol: SymbolId, price: Price) -> Amount {
        if let Some(p) = self.positions.get_mut(usize::from(symbol.0))
            && price.is_positive()
        {
            p.mark = price;
        }
        self.equity()
    }

    /// Capital + every position's value; also moves the high-water mark.
    pub fn equity(&mut self) -> Amount {
        let e = self.positions.iter().fold(self.capital, |a, p| a.saturating_add(p.value()));
        if e > self.high_water {
            self.high_water = e;
        }
        e
    }

    /// The strategy's quote cash: capital plus every fill's quote flow,
    /// minus fees charged in quote.
    pub fn quote_cash(&self) -> Amount {
        self.positions.iter().fold(self.capital, |a, p| a.saturating_add(p.cash).saturating_sub(p.fees_quote))
    }

    /// Highest equity seen.
    pub const fn high_water(&self) -> Amount {
        self.high_water
    }

    /// Sum of realised PnL (before fees).
    pub fn realised(&self) -> Amount {
        self.positions.iter().fold(Amount::ZERO, |a, p| a.saturating_add(p.realised))
    }

    /// Sum of unrealised PnL.
    pub fn unrealised(&self) -> Amount {
        self.positions.iter().fold(Amount::ZERO, |a, p| a.saturating_add(p.unrealised()))
    }

    /// Sum of fees (quote units).
    pub fn fees(&self) -> Amount {
        self.positions.iter().fold(Amount::ZERO, |a, p| a.saturating_add(p.fees()))
    }

    /// Gross exposure: sum of `|qty| x mark`.
    pub fn exposure(&self) -> Amount {
        self.positions.iter().fold(Amount::ZERO, |a, p| a.saturating_add(p.exposure()))
    }

    /// Sets what the account held when the fills being booked started
    /// (the first `account.status` of a run).
    pub fn set_baseline(&mut self, balances: &[Balance]) {
        let find = |asset: &str| balances.iter().find(|b| b.asset == asset).map_or(Amount::ZERO, |b| b.total);
        self.quote_baseline = find(&self.quote_asset);
        self.baseline = self.base_assets.iter().map(|a| find(a)).collect();
    }

    /// Compares reported balances with baseline + fills; returns every
    /// asset whose total differs (off the hot path: allocates).
    pub fn reconcile(&self, balances: &[Balance]) -> Vec<Discrepancy> {
        let find = |asset: &str| balances.iter().find(|b| b.asset == asset).map_or(Amount::ZERO, |b| b.total);
        let mut out = Vec::new();
        let quote = self
            .positions
            .iter()
            .fold(self.quote_baseline, |a, p| a.saturating_add(p.cash).saturating_sub(p.fees_quote));
        let reported = find(&self.quote_asset);
        if reported != quote {
            out.push(Discrepancy { asset: self.quote_asset.clone(), expected: quote, reported });
        }
        for ((asset, base), p) in self.base_assets.iter().zip(&self.baseline).zip(&self.positions) {
            let expected = base
                .saturating_add(Amount::from_raw(p.qty.raw()))
                .saturating_sub(Amount::from_raw(p.fees_base_qty.raw()));
            let reported = find(asset);
            if reported != expected {
                out.push(Discrepancy { asset: asset.clone(), expected, reported });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }
    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    #[test]
    fn average_entry_realised_and_flip() {
        let mut pf = Portfolio::new(a("1000"), "USDT", &["BTC"]);
        let s = SymbolId(0);
        pf.apply_fill(s, Side::Buy, q("1"), p("100"), a("0.1"), false);
        pf.apply_fill(s, Side::Buy, q("1"), p("110"), a("0.11"), false);
        let pos = pf.position(s);
        assert_eq!((pos.qty, pos.avg_entry), (q("2"), p("105")));
        pf.apply_fill(s, Side::Sell, q("3"), p("120"), a("0.36"), false);
        let pos = pf.position(s);
        assert_eq!(pos.qty, q("-1"));
        assert_eq!(pos.avg_entry, p("120"));
        assert_eq!(pos.realised, a("30"));
        assert_eq!(pos.fees(), a("0.57"));
        // mark at 110: short 1 from 120 gains 10
        let e = pf.mark(s, p("110"));
        assert_eq!(pf.unrealised(), a("10"));
        assert_eq!(e, a("1039.43"));
        assert_eq!(pf.exposure(), a("110"));
        assert!(pf.high_water() >= e);
    }

    #[test]
    fn reconcile_lists_every_difference() {
        let mut pf = Portfolio::new(a("1000"), "USDT", &["BTC"]);
        pf.set_baseline(&[
            Balance { asset: "USDT".into(), total: a("1000") },
            Balance { asset: "BTC".into(), total: a("0.5") },
        ]);
        pf.apply_fill(SymbolId(0), Side::Buy, q("1"), p("100"), a("0.1"), true);
        // fee of 0.1 USDT value in BTC at 100 = 0.001 BTC
        let good =
            [Balance { asset: "USDT".into(), total: a("900") }, Balance { asset: "BTC".into(), total: a("1.499") }];
        assert!(pf.reconcile(&good).is_empty(), "{:?}", pf.reconcile(&good));
        let bad = [Balance { asset: "USDT".into(), total: a("899") }];
        let d = pf.reconcile(&bad);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].difference(), a("-1"));
        assert_eq!(d[1].reported, Amount::ZERO);
    }
}
