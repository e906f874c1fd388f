//! Server clock offset from `time` round trips, and when to measure it again.
//!
//! Binance rejects a signed request whose `timestamp` is 1000 ms ahead of its
//! clock or older than `recvWindow` (-1021). We keep `offset = server - local`
//! from a round of samples: each sample is (local send time, server time,
//! local receive time); assuming symmetric paths the server read its clock at
//! the midpoint, so `offset = server - (send + recv) / 2`, with an error of at
//! most half the round trip. The sample with the lowest round trip wins.
//!
//! Only the estimator and the policy live here; encoding the `time` request
//! and decoding its answer is the codec's job. All arithmetic is saturating.

use odex_shared::market::Nanos;

/// One `time` round trip: local wall clock when sent and when answered, and
/// the server's time from the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSample {
    /// Local wall clock just before the request was written.
    pub sent: Nanos,
    /// `serverTime` from the answer.
    pub server: Nanos,
    /// Local wall clock when the answer was read.
    pub received: Nanos,
}

/// The current estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// Server clock minus local wall clock, in nanoseconds.
    pub offset_ns: i64,
    /// Round trip of the sample it came from (its error bound is half this).
    pub rtt: Nanos,
    /// Local wall time of the sample.
    pub measured_at: Nanos,
}

/// Collects samples in rounds and answers with the best offset.
#[derive(Debug, Clone)]
pub struct ClockSync {
    samples_per_round: u32,
    resync_every: Nanos,
    round_count: u32,
    round_best: Option<ClockOffset>,
    current: Option<ClockOffset>,
    resync_requested: bool,
}

impl ClockSync {
    /// `samples_per_round` `time` requests make one estimate (at least 1);
    /// the estimate is refreshed every `resync_every`.
    pub fn new(samples_per_round: u32, resync_every: Nanos) -> Self {
        Self {
            samples_per_round: samples_per_round.max(1),
            resync_every,
            round_count: 0,
            round_best: None,
            current: None,
            resync_requested: true,
        }
    }

    /// Adds one round trip; returns the new estimate when it completes a round.
    /// Samples whose answer precedes the request are ignored.
    pub fn add_sample(&mut self, s: TimeSample) -> Option<ClockOffset> {
        if s.received < s.sent {
            return None;
        }
        let rtt = s.received.saturating_sub(s.sent);
        let midpoint = i128::from(s.sent.0) + i128::from(rtt.0 / 2);
        let offset = i128::from(s.server.0) - midpoint;
        let offset_ns = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        let candidate = ClockOffset { offset_ns, rtt, measured_at: s.received };
        if self.round_best.is_none_or(|b| candidate.rtt < b.rtt) {
            self.round_best = Some(candidate);
        }
        self.round_count = self.round_count.saturating_add(1);
        if self.round_count < self.samples_per_round {
            return None;
        }
        self.current = self.round_best.take();
        self.round_count = 0;
        self.resync_requested = false;
        self.current
    }

    /// The latest estimate, if a round has completed.
    pub const fn offset(&self) -> Option<ClockOffset> {
        self.current
    }

    /// Estimated server time for a local wall time (local time until measured).
    pub fn server_time(&self, local_wall: Nanos) -> Nanos {
        let offset = self.current.map_or(0, |c| c.offset_ns);
        let t = i128::from(local_wall.0) + i128::from(offset);
        Nanos(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }

    /// True when a new round of `time` requests should be sent: never measured,
    /// stale, or a -1021 was answered since.
    pub fn needs_sync(&self, local_wall: Nanos) -> bool {
        self.resync_requested
            || self.current.is_none_or(|c| local_wall.saturating_sub(c.measured_at) >= self.resync_every)
    }

    /// Samples still wanted to finish the current round.
    pub const fn samples_wanted(&self) -> u32 {
        self.samples_per_round.saturating_sub(self.round_count)
    }

    /// The policy for a -1021 answer (timestamp outside recvWindow): start a
    /// fresh round. The old estimate stays in use until the round completes.
    pub fn on_timestamp_rejected(&mut self) {
        self.resync_requested = true;
        self.round_count = 0;
        self.round_best = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn sample(sent_ms: u64, server_ms: u64, recv_ms: u64) -> TimeSample {
        TimeSample { sent: Nanos(sent_ms * MS), server: Nanos(server_ms * MS), received: Nanos(recv_ms * MS) }
    }

    #[test]
    fn lowest_round_trip_wins() {
        let mut s = ClockSync::new(3, Nanos(60_000 * MS));
        assert!(s.needs_sync(Nanos(0)));
        assert_eq!(s.add_sample(sample(1000, 1600, 1200)), None); // rtt 200, offset 500
        assert_eq!(s.add_sample(sample(2000, 2510, 2020)), None); // rtt 20, offset 500
        let est = s.add_sample(sample(3000, 3000, 3100)).unwrap(); // rtt 100, offset -50
        assert_eq!(est.offset_ns, 500 * MS as i64);
        assert_eq!(est.rtt, Nanos(20 * MS));
        assert_eq!(s.server_time(Nanos(10_000 * MS)), Nanos(10_500 * MS));
        assert!(!s.needs_sync(Nanos(3100 * MS)));
        assert!(s.needs_sync(Nanos(2020 * MS + 60_000 * MS)));
    }

    #[test]
    fn negative_offsets_and_bad_samples() {
        let mut s = ClockSync::new(1, Nanos(u64::MAX));
        assert_eq!(s.add_sample(sample(10, 5, 9)), None, "answer before request is ignored");
        let est = s.add_sample(sample(10_000, 9_000, 10_010)).unwrap();
        assert_eq!(est.offset_ns, -1005 * MS as i64);
        assert_eq!(s.server_time(Nanos(0)), Nanos(0), "never below zero");
    }

    #[test]
    fn rejected_timestamp_triggers_a_fresh_round() {
        let mut s = ClockSync::new(2, Nanos(u64::MAX));
        s.add_sample(sample(0, 100, 10));
        s.add_sample(sample(0, 100, 10)).unwrap();
        assert!(!s.needs_sync(Nanos(20 * MS)));
        s.add_sample(sample(100, 0, 101)); // half a round, then -1021
        s.on_timestamp_rejected();
        assert!(s.needs_sync(Nanos(20 * MS)));
        assert_eq!(s.samples_wanted(), 2);
        // old estimate still answers meanwhile
        assert_eq!(s.offset().unwrap().offset_ns, 95 * MS as i64);
        s.add_sample(sample(200, 150, 210));
        let est = s.add_sample(sample(300, 260, 320)).unwrap();
        assert_eq!(est.offset_ns, -55 * MS as i64);
        assert!(!s.needs_sync(Nanos(400 * MS)));
    }
}
