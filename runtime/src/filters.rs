//! Binance's per-symbol exchange filters: checks and rounding.
//!
//! The same [`SymbolFilters`] value serves three sides: the order manager
//! rounds and pre-checks every order with it (so the exchange never has to
//! reject one), the venue simulator rejects with it exactly as Binance does
//! (`-1013 Filter failure: <NAME>`), and the exchangeInfo decoder fills it.
//! A zero bound means "rule disabled", as on Binance. All arithmetic is exact
//! fixed-point.

use odex_shared::market::{Price, Qty, Side, mul_scaled};

use crate::order::{OrderRequest, OrderType};

/// `PRICE_FILTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PriceFilter {
    /// Lowest price (0: none).
    pub min_price: Price,
    /// Highest price (0: none).
    pub max_price: Price,
    /// Price increment from `min_price` (0: none).
    pub tick_size: Price,
}

/// `LOT_SIZE` or `MARKET_LOT_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LotSize {
    /// Lowest quantity.
    pub min_qty: Qty,
    /// Highest quantity (0: none).
    pub max_qty: Qty,
    /// Quantity increment from `min_qty` (0: none).
    pub step_size: Qty,
}

/// `NOTIONAL` (or the older `MIN_NOTIONAL`, which has no maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotionalFilter {
    /// Lowest `price x qty` (0: none).
    pub min_notional: Price,
    /// Whether market orders are held to the minimum (at the average price).
    pub apply_min_to_market: bool,
    /// Highest `price x qty` (0: none).
    pub max_notional: Price,
    /// Whether market orders are held to the maximum.
    pub apply_max_to_market: bool,
}

/// `PERCENT_PRICE_BY_SIDE` (or the older symmetric `PERCENT_PRICE`): bounds
/// on a limit price relative to the average price, as multipliers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PercentPrice {
    /// A buy's price must be `<= avg * bid_up`.
    pub bid_up: Price,
    /// A buy's price must be `>= avg * bid_down`.
    pub bid_down: Price,
    /// A sell's price must be `<= avg * ask_up`.
    pub ask_up: Price,
    /// A sell's price must be `>= avg * ask_down`.
    pub ask_down: Price,
    /// True for the old symmetric `PERCENT_PRICE` (changes only the name in
    /// failures).
    pub legacy: bool,
}

/// Every filter of one symbol that odex checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SymbolFilters {
    /// `PRICE_FILTER`.
    pub price: Option<PriceFilter>,
    /// `LOT_SIZE`.
    pub lot: Option<LotSize>,
    /// `MARKET_LOT_SIZE`.
    pub market_lot: Option<LotSize>,
    /// `NOTIONAL` / `MIN_NOTIONAL`.
    pub notional: Option<NotionalFilter>,
    /// True when `notional` came from the old `MIN_NOTIONAL` filter.
    pub notional_is_legacy: bool,
    /// `PERCENT_PRICE_BY_SIDE` / `PERCENT_PRICE`.
    pub percent: Option<PercentPrice>,
}

/// Which filter an order failed, named as Binance names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FilterFailure {
    /// Price out of bounds or off the tick grid.
    #[error("Filter failure: PRICE_FILTER")]
    PriceFilter,
    /// Quantity out of bounds or off the step grid.
    #[error("Filter failure: LOT_SIZE")]
    LotSize,
    /// Market-order quantity out of bounds or off the step grid.
    #[error("Filter failure: MARKET_LOT_SIZE")]
    MarketLotSize,
    /// Notional out of bounds.
    #[error("Filter failure: NOTIONAL")]
    Notional,
    /// Notional below the old minimum.
    #[error("Filter failure: MIN_NOTIONAL")]
    MinNotional,
    /// Limit price too far from the average price.
    #[error("Filter failure: PERCENT_PRICE_BY_SIDE")]
    PercentPriceBySide,
    /// Limit price too far from the average price (old filter).
    #[error("Filter failure: PERCENT_PRICE")]
    PercentPrice,
    /// A limit order without a price, or a quantity that is not positive.
    #[error("Mandatory parameter was not sent, was empty/null, or malformed.")]
    Malformed,
}

impl FilterFailure {
    /// Binance's error code for this failure (`-1013`, or `-1102` for a
    /// malformed order).
    pub const fn code(self) -> i32 {
        match self {
            Self::Malformed => -1102,
            _ => -1013,
        }
    }
}

/// `a * b` for two 10^-8 fixed-point values, truncated; `None` on overflow.
fn mul(a: i64, b: i64) -> Option<i64> {
    i64::try_from(mul_scaled(a, b)).ok()
}

fn on_grid(value: i64, origin: i64, step: i64) -> bool {
    step <= 0 || (value - origin).rem_euclid(step) == 0
}

impl LotSize {
    fn admits(&self, qty: Qty) -> bool {
        let q = qty.raw();
        q >= self.min_qty.raw()
            && (self.max_qty.raw() <= 0 || q <= self.max_qty.raw())
            && on_grid(q, self.min_qty.raw(), self.step_size.raw())
    }

    /// The largest admissible quantity `<= qty` on the step grid, or zero
    /// if even `min_qty` is more.
    pub fn round_down(&self, qty: Qty) -> Qty {
        let mut q = qty.raw();
        if self.max_qty.raw() > 0 {
            q = q.min(self.max_qty.raw());
        }
        let step = self.step_size.raw();
        let min = self.min_qty.raw();
        if step > 0 {
            q = min + (q - min).div_euclid(step) * step;
        }
        if q < min || q <= 0 { Qty::ZERO } else { Qty::from_raw(q) }
    }
}

impl SymbolFilters {
    /// Only a price grid and a lot step: `tick` is the tick size and the
    /// smallest price, `step` the step size and the smallest quantity, no
    /// upper bounds and no notional or percent filters (tests, benches and
    /// synthetic symbols).
    pub fn tick_step(tick: Price, step: Qty) -> Self {
        Self {
            price: Some(PriceFilter { min_price: tick, max_price: Price::ZERO, tick_size: tick }),
            lot: Some(LotSize { min_qty: step, max_qty: Qty::ZERO, step_size: step }),
            ..Self::default()
        }
    }

    /// Checks an order as Binance would. `avg_price` is the symbol's
    /// average price (the reference for market notionals and percent bands);
    /// pass the last mid when no average is known.
    ///
    /// # Errors
    /// The first [`FilterFailure`], in Binance's evaluation order.
    pub fn check(&self, req: &OrderRequest, avg_price: Price) -> Result<(), FilterFailure> {
        if !req.qty.is_positive() {
            return Err(FilterFailure::Malformed);
        }
        let market = req.kind == OrderType::Market;
        let price = match (req.kind, req.price) {
            (OrderType::Market, _) => avg_price,
            (_, Some(p)) if p.is_positive() => p,
            _ => return Err(FilterFailure::Malformed),
        };
        if let (false, Some(f)) = (market, self.price) {
            let p = price.raw();
            let ok = (f.min_price.raw() <= 0 || p >= f.min_price.raw())
                && (f.max_price.raw() <= 0 || p <= f.max_price.raw())
                && on_grid(p, f.min_price.raw(), f.tick_size.raw());
            if !ok {
                return Err(FilterFailure::PriceFilter);
            }
        }
        if let (false, Some(pp)) = (market, self.percent) {
            let (up, down) = match req.side {
                Side::Buy => (pp.bid_up, pp.bid_down),
                Side::Sell => (pp.ask_up, pp.ask_down),
            };
            let hi = mul(avg_price.raw(), up.raw()).unwrap_or(i64::MAX);
            let lo = mul(avg_price.raw(), down.raw()).unwrap_or(0);
            let p = price.raw();
            if (up.raw() > 0 && p > hi) || (down.raw() > 0 && p < lo) {
                return Err(if pp.legacy { FilterFailure::PercentPrice } else { FilterFailure::PercentPriceBySide });
            }
        }
        if let Some(lot) = self.lot
            && !lot.admits(req.qty)
        {
            return Err(FilterFailure::LotSize);
        }
        if let (true, Some(lot)) = (market, self.market_lot)
            && !lot.admits(req.qty)
        {
            return Err(FilterFailure::MarketLotSize);
        }
        if let Some(n) = self.notional {
            let notional = mul(price.raw(), req.qty.raw()).unwrap_or(i64::MAX);
            let min_applies = !market || n.apply_min_to_market;
            let max_applies = !market || n.apply_max_to_market;
            let too_small = min_applies && n.min_notional.raw() > 0 && notional < n.min_notional.raw();
            let too_big = max_applies && n.max_notional.raw() > 0 && notional > n.max_notional.raw();
            if too_small || too_big {
                return Err(if self.notional_is_legacy { FilterFailure::MinNotional } else { FilterFailure::Notional });
            }
        }
        Ok(())
    }

    /// Rounds a limit price onto the tick grid in the passive direction: a
    /// buy rounds down, a sell rounds up, so rounding never makes an order
    /// more aggressive.
    pub fn round_price(&self, price: Price, side: Side) -> Price {
        let Some(f) = self.price else { return price };
        let tick = f.tick_size.raw();
        if tick <= 0 {
            return price;
        }
        let origin = f.min_price.raw().max(0);
        let off = price.raw() - origin;
        let down = origin + off.div_euclid(tick) * tick;
        match side {
            Side::Buy => Price::from_raw(down),
            Side::Sell if down == price.raw() => price,
            Side::Sell => Price::from_raw(down.saturating_add(tick)),
        }
    }

    /// Rounds a quantity down onto the lot grid of the order type (zero if
    /// nothing admissible is left).
    pub fn round_qty(&self, qty: Qty, kind: OrderType) -> Qty {
        let mut q = qty;
        if let Some(lot) = self.lot {
            q = lot.round_down(q);
        }
        if let (OrderType::Market, Some(lot)) = (kind, self.market_lot) {
            q = lot.round_down(q);
        }
        q
    }

    /// The smallest notional an order at `price` may have (0 when none).
    pub fn min_notional(&self) -> Price {
        self.notional.map_or(Price::ZERO, |n| n.min_notional)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{ClientOrderId, SymbolId, TimeInForce};

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }
    fn q(s: &str) -> Qty {
        Qty::parse(s).unwrap()
    }

    /// ETHUSDT-like filters.
    fn eth() -> SymbolFilters {
        SymbolFilters {
            price: Some(PriceFilter { min_price: p("0.01"), max_price: p("1000000"), tick_size: p("0.01") }),
            lot: Some(LotSize { min_qty: q("0.0001"), max_qty: q("9000"), step_size: q("0.0001") }),
            market_lot: Some(LotSize { min_qty: q("0"), max_qty: q("1000"), step_size: q("0") }),
            notional: Some(NotionalFilter {
                min_notional: p("5"),
                apply_min_to_market: true,
                max_notional: p("9000000"),
                apply_max_to_market: false,
            }),
            notional_is_legacy: false,
            percent: Some(PercentPrice {
                bid_up: p("5"),
                bid_down: p("0.2"),
                ask_up: p("5"),
                ask_down: p("0.2"),
                legacy: false,
            }),
        }
    }

    fn limit(side: Side, price: &str, qty: &str) -> OrderRequest {
        OrderRequest {
            symbol: SymbolId(0),
            client_id: ClientOrderId::new(b"t1").unwrap(),
            side,
            kind: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(p(price)),
            qty: q(qty),
        }
    }

    #[test]
    fn accepts_a_good_order() {
        assert_eq!(eth().check(&limit(Side::Buy, "1600.12", "0.01"), p("1600")), Ok(()));
    }

    #[test]
    fn names_each_failure_as_binance_does() {
        let f = eth();
        let avg = p("1600");
        assert_eq!(f.check(&limit(Side::Buy, "1600.123", "0.01"), avg), Err(FilterFailure::PriceFilter));
        assert_eq!(f.check(&limit(Side::Buy, "1600", "0.00015"), avg), Err(FilterFailure::LotSize));
        assert_eq!(f.check(&limit(Side::Buy, "1600", "0.001"), avg), Err(FilterFailure::Notional));
        assert_eq!(f.check(&limit(Side::Buy, "9000", "1"), avg), Err(FilterFailure::PercentPriceBySide));
        assert_eq!(f.check(&limit(Side::Sell, "300", "1"), avg), Err(FilterFailure::PercentPriceBySide));
        let mut legacy = f;
        legacy.notional_is_legacy = true;
        assert_eq!(legacy.check(&limit(Side::Buy, "1600", "0.001"), avg), Err(FilterFailure::MinNotional));
        assert_eq!(FilterFailure::LotSize.to_string(), "Filter failure: LOT_SIZE");
        assert_eq!(FilterFailure::LotSize.code(), -1013);
        let mut no_price = limit(Side::Buy, "1", "1");
        no_price.price = None;
        assert_eq!(f.check(&no_price, avg), Err(FilterFailure::Malformed));
    }

    #[test]
    fn market_orders_use_market_lot_and_average_price() {
        let f = eth();
        let mut m = limit(Side::Buy, "1", "0.01");
        m.kind = OrderType::Market;
        m.price = None;
        m.time_in_force = None;
        assert_eq!(f.check(&m, p("1600")), Ok(()));
        m.qty = q("1001");
        assert_eq!(f.check(&m, p("1")), Err(FilterFailure::MarketLotSize));
        m.qty = q("0.001");
        assert_eq!(f.check(&m, p("1600")), Err(FilterFailure::Notional));
    }

    #[test]
    fn rounding_is_passive_and_admissible() {
        let f = eth();
        assert_eq!(f.round_price(p("1600.129"), Side::Buy), p("1600.12"));
        assert_eq!(f.round_price(p("1600.121"), Side::Sell), p("1600.13"));
        assert_eq!(f.round_price(p("1600.12"), Side::Sell), p("1600.12"));
        assert_eq!(f.round_qty(q("0.123456"), OrderType::Limit), q("0.1234"));
        assert_eq!(f.round_qty(q("0.00005"), OrderType::Limit), Qty::ZERO);
        assert_eq!(f.round_qty(q("20000"), OrderType::Limit), q("9000"));
        assert_eq!(f.round_qty(q("5000"), OrderType::Market), q("1000"));
        let rounded = limit(Side::Buy, "1600.12", "0.1234");
        assert_eq!(f.check(&rounded, p("1600")), Ok(()));
    }

    #[test]
    fn disabled_rules_admit_anything() {
        let f = SymbolFilters::default();
        assert_eq!(f.check(&limit(Side::Buy, "0.00000001", "123456"), p("1")), Ok(()));
        assert_eq!(f.round_price(p("1.234"), Side::Sell), p("1.234"));
    }
}
