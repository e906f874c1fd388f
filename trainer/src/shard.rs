//! `--shard K/N`: the trials of a sweep that one array-job task runs.
//!
//! Trial `i` belongs to shard `i % N`, so N tasks given K = 0, 1, ..., N-1
//! run every trial exactly once, spread evenly whatever the trial count
//! (a task may get none when there are fewer trials than shards). Trial
//! numbers and values are those of the whole sweep (random draws included),
//! so the shards' results tables concatenate into the table the unsharded
//! sweep would have written.

use std::fmt;
use std::str::FromStr;

/// Shard K of N (0-based K): the trials whose index is K modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not two decimal numbers around one `/`.
    #[error("expected K/N with 0 <= K < N, e.g. 0/8 for the first of 8 shards, got {0:?}")]
    Format(String),
    /// N is zero.
    #[error("N (the number of shards) must be at least 1, got {0:?}")]
    NoShards(String),
    /// K is not below N.
    #[error("K must be below N (shards are numbered 0 to N-1), got {0:?}")]
    OutOfRange(String),
}

impl Shard {
    /// The whole sweep: shard 0 of 1.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: usize, count: usize) -> Option<Self> {
        (index < count).then_some(Shard { index, count })
    }

    /// K, 0-based.
    pub fn index(self) -> usize {
        self.index
    }

    /// N, the number of shards.
    pub fn count(self) -> usize {
        self.count
    }

    /// True when trial number `trial` (0-based, of the whole sweep) is this shard's.
    pub fn selects(self, trial: usize) -> bool {
        trial % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || ShardError::Format(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(malformed)?;
        let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        if !(digits(k) && digits(n)) {
            return Err(malformed());
        }
        let index: usize = k.parse().map_err(|_| malformed())?;
        let count: usize = n.parse().map_err(|_| malformed())?;
        if count == 0 {
            return Err(ShardError::NoShards(s.to_string()));
        }
        Shard::new(index, count).ok_or_else(|| ShardError::OutOfRange(s.to_string()))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest_with_the_reason() {
        assert_eq!("0/1".parse::<Shard>(), Ok(Shard::ALL));
        let s: Shard = "3/8".parse().unwrap();
        assert_eq!((s.index(), s.count(), s.to_string()), (3, 8, "3/8".to_string()));
        assert_eq!("7/8".parse::<Shard>().map(Shard::index), Ok(7));

        assert_eq!("3/2".parse::<Shard>(), Err(ShardError::OutOfRange("3/2".into())));
        assert_eq!("2/2".parse::<Shard>(), Err(ShardError::OutOfRange("2/2".into())));
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::NoShards("0/0".into())));
        for bad in ["x", "", "3", "/", "3/", "/8", "-1/8", "+1/8", "1/-8", " 1/8", "1/8 ", "1/2/3", "a/b", "1.0/2"] {
            assert_eq!(bad.parse::<Shard>(), Err(ShardError::Format(bad.into())), "{bad:?}");
        }
        // too large for usize is a format error, not a panic
        let huge = format!("0/{}0", usize::MAX);
        assert_eq!(huge.parse::<Shard>(), Err(ShardError::Format(huge.clone())));
        let msg = "3/2".parse::<Shard>().unwrap_err().to_string();
        assert!(msg.contains("K must be below N") && msg.contains("\"3/2\""), "{msg}");
    }

    #[test]
    fn every_trial_runs_in_exactly_one_shard() {
        for count in 1..=7 {
            for trials in 0..=20 {
                for trial in 0..trials {
                    let owners = (0..count).filter(|&k| Shard::new(k, count).unwrap().selects(trial)).count();
                    assert_eq!(owners, 1, "trial {trial} of {trials} with {count} shards");
                }
            }
        }
        let picked: Vec<usize> = (0..10).filter(|&i| Shard::new(1, 3).unwrap().selects(i)).collect();
        assert_eq!(picked, [1, 4, 7]);
        assert!((0..10).all(|i| Shard::ALL.selects(i)));
        assert_eq!(Shard::new(3, 2), None);
    }
}
