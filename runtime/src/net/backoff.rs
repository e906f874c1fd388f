//! Jittered exponential backoff between reconnection attempts.
//!
//! "Equal jitter": attempt `n` waits `cap/2 + uniform(0..=cap/2)` where
//! `cap = min(max, base * 2^n)`. Half the delay is guaranteed, so a fleet
//! never hammers the exchange (Binance allows 300 connection attempts per
//! 5 minutes per IP), and the other half spreads reconnects apart. The jitter
//! comes from a seeded generator, so a run is reproducible.

use odex_shared::market::Nanos;

use super::rng::SeededRng;

/// Reconnection delays for one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Nanos,
    max: Nanos,
    attempt: u32,
    rng: SeededRng,
}

impl Backoff {
    /// Delays start near `base`, double per attempt and never exceed `max`.
    pub fn new(base: Nanos, max: Nanos, seed: u64) -> Self {
        Self { base, max: Nanos(max.0.max(base.0)), attempt: 0, rng: SeededRng::new(seed) }
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn next_delay(&mut self) -> Nanos {
        let shift = self.attempt.min(62);
        let cap = self.base.0.saturating_mul(1u64 << shift).min(self.max.0);
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        Nanos(half.saturating_add(self.rng.up_to(cap - half)))
    }

    /// Attempts made since the last [`reset`](Self::reset).
    pub const fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (after a connection opened successfully).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn delays_double_within_jitter_and_saturate() {
        let mut b = Backoff::new(Nanos(100 * MS), Nanos(1_000 * MS), 42);
        let caps = [100, 200, 400, 800, 1000, 1000, 1000];
        for cap in caps {
            let d = b.next_delay().0;
            assert!(d >= cap * MS / 2 && d <= cap * MS, "delay {d} outside [{}, {}]", cap * MS / 2, cap * MS);
        }
        assert_eq!(b.attempts(), 7);
        b.reset();
        assert!(b.next_delay().0 <= 100 * MS);
    }

    #[test]
    fn deterministic_for_a_seed_and_jittered() {
        let run = |seed| {
            let mut b = Backoff::new(Nanos(MS), Nanos(u64::MAX), seed);
            (0..80).map(|_| b.next_delay().0).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        // huge attempt counts neither overflow nor panic
        assert!(run(3).iter().all(|d| *d >= MS / 2));
    }
}
