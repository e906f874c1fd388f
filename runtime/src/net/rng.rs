//! A small seeded pseudo-random generator (SplitMix64) for backoff jitter
//! and websocket masking keys.
//!
//! Deterministic by design: the seed comes from [`NetConfig::seed`](super::NetConfig),
//! so a test or a backtest run twice makes the same choices. Masking keys only
//! need to stop naive proxies from reading frames as HTTP (RFC 6455 §10.3);
//! they carry no secret, so a seeded generator is adequate.

/// SplitMix64: one `u64` of state, no allocation, passes BigCrush.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        // the high half is the better-mixed one
        u32::try_from(self.next_u64() >> 32).unwrap_or(0)
    }

    /// A number in `0..=max` (Lemire's multiply-shift; the bias is below 2^-64 * max).
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        let span = u128::from(max) + 1;
        u64::try_from((u128::from(self.next_u64()) * span) >> 64).unwrap_or(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
    }

    #[test]
    fn up_to_stays_in_range_and_covers_it() {
        let mut r = SeededRng::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.up_to(4);
            assert!(v <= 4);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.up_to(0), 0);
        let _ = r.up_to(u64::MAX);
    }
}
