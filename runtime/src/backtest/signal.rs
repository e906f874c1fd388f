//! Per-event signal sources: what decides, on every event, the position to
//! hold.
//!
//! The backtester trades the model inside the engine, as `odex run` does;
//! [`SignalSource`] is the seam for targets decided outside it, which the
//! engine then trades through its own sizing limits, risk and order path:
//! [`OuOracle`], the mean-reversion strategy that knows the true parameters
//! of a synthetic Ornstein-Uhlenbeck series (the benchmark a trained model's
//! Sharpe is compared with). It is also implemented for the shared
//! [`Predictor`], to measure the model alone (`benches/benches/backtest.rs`).

use odex_shared::features::Observation;
use odex_shared::predictor::Predictor;
use odex_shared::sizing::{self, Signal, SizingParams};

use crate::event::{MarketData, MarketEvent};

/// Something that turns market events into a target position.
///
/// Rules for implementors: `observe` sees every event in order, once;
/// `target_fraction` is the signed fraction of equity to hold after the
/// events seen so far (zero while not warm), finite, and cheap to call.
/// Both must be deterministic and must not allocate.
pub trait SignalSource {
    /// Feeds one event; returns whether it changed the state.
    fn observe(&mut self, event: &MarketEvent) -> bool;

    /// The target position as a signed fraction of equity.
    fn target_fraction(&self) -> f64;
}

/// The model observation of an event ([`MarketData::observation`]) for a
/// book or a bar; trades are not observations here (the models compared
/// were trained on books or bars).
pub fn observation(event: &MarketEvent) -> Option<Observation> {
    match event.data {
        MarketData::Trade(_) => None,
        data => Some(data.observation()),
    }
}

impl SignalSource for Predictor {
    #[inline]
    fn observe(&mut self, event: &MarketEvent) -> bool {
        observation(event).is_some_and(|o| Predictor::observe(self, &o))
    }

    #[inline]
    fn target_fraction(&self) -> f64 {
        Predictor::target_fraction(self)
    }
}

/// Known Ornstein-Uhlenbeck parameters of a log-price series, per bar (or
/// per observation): `dx = kappa (mu - x) dt + sigma dW`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuParams {
    /// Mean-reversion speed, `> 0`.
    pub kappa: f64,
    /// Long-run log price.
    pub mu: f64,
    /// Diffusion.
    pub sigma: f64,
}

/// The oracle mean-reversion strategy: it knows the true OU parameters and
/// forecasts exactly, `E[x_{t+h}] - x_t = (mu - x_t)(1 - e^{-kappa h})` with
/// variance `sigma^2 (1 - e^{-2 kappa h}) / (2 kappa)`, sized by the same
/// rule the model uses ([`sizing::target_fraction`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuOracle {
    params: OuParams,
    horizon: f64,
    sizing: SizingParams,
    x: Option<f64>,
}

impl OuOracle {
    /// An oracle forecasting `horizon` observations ahead.
    pub const fn new(params: OuParams, horizon: f64, sizing: SizingParams) -> Self {
        Self { params, horizon, sizing, x: None }
    }

    /// The oracle's forecast, once it has seen a price.
    pub fn signal(&self) -> Option<Signal> {
        let x = self.x?;
        let OuParams { kappa, mu, sigma } = self.params;
        let h = self.horizon;
        Some(Signal {
            expected_return: (mu - x) * (1.0 - (-kappa * h).exp()),
            variance: sigma * sigma * (1.0 - (-2.0 * kappa * h).exp()) / (2.0 * kappa),
        })
    }
}

impl SignalSource for OuOracle {
    fn observe(&mut self, event: &MarketEvent) -> bool {
        match observation(event) {
            Some(o) if o.price > 0.0 && o.price.is_finite() => {
                self.x = Some(o.price.ln());
                true
            }
            _ => false,
        }
    }

    fn target_fraction(&self) -> f64 {
        self.signal().map_or(0.0, |s| sizing::target_fraction(&s, &self.sizing))
    }
}

/// The momentum baseline: all in (a target of 1) while the price is above
/// its level `lookback` observations ago, flat (0) otherwise; a margin
/// account (`risk.allow_short`) goes short (-1) below it. Storage is one
/// ring of `lookback + 1` prices, allocated at construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Momentum {
    prices: Vec<f64>,
    next: usize,
    seen: usize,
}

impl Momentum {
    /// A rule comparing with the price `lookback` observations ago (at least 1).
    pub fn new(lookback: usize) -> Self {
        Self { prices: vec![0.0; lookback.max(1) + 1], next: 0, seen: 0 }
    }

    /// Lookback in observations.
    pub fn lookback(&self) -> usize {
        self.prices.len() - 1
    }
}

impl SignalSource for Momentum {
    fn observe(&mut self, event: &MarketEvent) -> bool {
        match observation(event) {
            Some(o) if o.price > 0.0 && o.price.is_finite() => {
                if let Some(slot) = self.prices.get_mut(self.next) {
                    *slot = o.price;
                }
                self.next = (self.next + 1) % self.prices.len();
                self.seen = self.seen.saturating_add(1);
                true
            }
            _ => false,
        }
    }

    fn target_fraction(&self) -> f64 {
        if self.seen < self.prices.len() {
            return 0.0;
        }
        // the newest price sits just before `next`, the oldest at `next`
        let n = self.prices.len();
        let newest = self.prices.get((self.next + n - 1) % n).copied().unwrap_or(0.0);
        let oldest = self.prices.get(self.next).copied().unwrap_or(0.0);
        if newest > oldest {
            1.0
        } else if newest < oldest {
            -1.0
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use odex_shared::market::{Bar, Nanos, Price, Qty};

    use super::*;
    use crate::event::BarUpdate;
    use crate::order::SymbolId;

    fn bar(close: &str) -> MarketEvent {
        let c = Price::parse(close).unwrap();
        MarketEvent {
            recv: Nanos(0),
            exchange_time: None,
            data: MarketData::Bar(BarUpdate {
                symbol: SymbolId(0),
                bar: Bar { open_time_ms: 0, open: c, high: c, low: c, close: c, volume: Qty::ONE },
                taker_buy_volume: Qty::ZERO,
            }),
        }
    }

    #[test]
    fn oracle_buys_below_the_mean_and_sells_above() {
        let params = OuParams { kappa: 0.1, mu: 100f64.ln(), sigma: 0.01 };
        let mut o = OuOracle::new(params, 1.0, SizingParams::default());
        assert_eq!(o.target_fraction(), 0.0);
        assert!(o.observe(&bar("98")));
        assert!(o.target_fraction() > 0.0);
        let s = o.signal().unwrap();
        assert!((s.expected_return - (100f64.ln() - 98f64.ln()) * (1.0 - (-0.1f64).exp())).abs() < 1e-15);
        o.observe(&bar("102"));
        assert!(o.target_fraction() < 0.0);
    }

    #[test]
    fn momentum_follows_the_lookback_return() {
        let mut m = Momentum::new(3);
        for p in ["100", "101", "102"] {
            m.observe(&bar(p));
            assert_eq!(m.target_fraction(), 0.0, "not warm yet");
        }
        m.observe(&bar("103")); // 103 > 100, three back
        assert_eq!(m.target_fraction(), 1.0);
        m.observe(&bar("100")); // 100 < 101
        assert_eq!(m.target_fraction(), -1.0);
        m.observe(&bar("102")); // 102 == 102
        assert_eq!(m.target_fraction(), 0.0);
        let trade = crate::event::TradeUpdate {
            symbol: SymbolId(0),
            trade_id: 1,
            price: Price::parse("1").unwrap(),
            qty: Qty::ONE,
            taker_side: odex_shared::market::Side::Buy,
        };
        assert!(!m.observe(&MarketEvent { data: MarketData::Trade(trade), ..bar("1") }));
        assert_eq!(m.lookback(), 3);
    }

    #[test]
    fn predictor_is_a_signal_source() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/golden-v1.odex")).unwrap();
        let file = odex_shared::model_file::decode(&bytes).unwrap();
        let mut p = Predictor::new(&file).unwrap();
        for i in 0..100 {
            assert!(SignalSource::observe(&mut p, &bar(if i % 2 == 0 { "100" } else { "100.5" })));
        }
        assert!(SignalSource::target_fraction(&p).is_finite());
    }
}
