//! Retry delays that double up to a cap and start over after a stable run: shared by the
//! supervisor of child processes and by relays (which add jitter on top).

/// The shortest first retry delay.
pub const MIN_INITIAL_MS: u64 = 500;

/// Retry delays: the first is `initial_ms`, each next one doubles up to `cap_ms`; a run of
/// `stable_ms` or more before the failure starts again from `initial_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial_ms: u64,
    pub cap_ms: u64,
    pub stable_ms: u64,
}

impl Backoff {
    /// From one configured delay (nginx-rtmp's `respawn_timeout`): doubling up to 16 times
    /// it, at least a minute, and reset after a minute of running. A delay under
    /// [`MIN_INITIAL_MS`] (nginx-rtmp's `respawn_timeout 0`: at once) starts there, so that a
    /// child that cannot start is not retried in a burst.
    pub fn from_initial(initial_ms: u64) -> Backoff {
        let initial_ms = initial_ms.max(MIN_INITIAL_MS);
        Backoff {
            initial_ms,
            cap_ms: initial_ms.saturating_mul(16).max(60_000),
            stable_ms: 60_000u64.max(initial_ms.saturating_mul(2)),
        }
    }

    /// From nginx-rtmp's `push_reconnect` / `pull_reconnect` (default 3 s): doubling up to 10
    /// times it or 30 s, whichever is longer, and reset after 30 s of streaming (or twice the
    /// cap, for long configured delays). A target that comes back is found within the cap,
    /// and a dead one is not hammered.
    pub fn for_relay(initial_ms: u64) -> Backoff {
        let initial_ms = initial_ms.max(MIN_INITIAL_MS);
        let cap_ms = initial_ms.saturating_mul(10).max(30_000);
        Backoff {
            initial_ms,
            cap_ms,
            stable_ms: 30_000u64.max(initial_ms.saturating_mul(2)),
        }
    }
}

/// The running delay of a [`Backoff`]: what the next failure waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    backoff: Backoff,
    next_ms: u64,
}

impl Retries {
    pub fn new(backoff: Backoff) -> Retries {
        Retries {
            backoff,
            next_ms: backoff.initial_ms,
        }
    }

    /// The delay after a failure that ended a run of `ran_ms` (0 when it never ran): the
    /// current delay, and the next one doubles.
    pub fn after_run(&mut self, ran_ms: u64) -> u64 {
        if ran_ms >= self.backoff.stable_ms {
            self.reset();
        }
        let delay = self.next_ms;
        self.next_ms = delay.saturating_mul(2).min(self.backoff.cap_ms);
        delay
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.next_ms = self.backoff.initial_ms;
    }

    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_stable_run() {
        let mut r = Retries::new(Backoff {
            initial_ms: 1000,
            cap_ms: 5000,
            stable_ms: 10_000,
        });
        let d: Vec<u64> = (0..5).map(|_| r.after_run(9_999)).collect();
        assert_eq!(d, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(r.after_run(10_000), 1000);
        assert_eq!(r.after_run(0), 2000);
        r.reset();
        assert_eq!(r.after_run(0), 1000);
    }

    #[test]
    fn relay_defaults() {
        let b = Backoff::for_relay(3000);
        assert_eq!(
            (b.initial_ms, b.cap_ms, b.stable_ms),
            (3000, 30_000, 30_000)
        );
        assert_eq!(Backoff::for_relay(10_000).cap_ms, 100_000);
        assert_eq!(Backoff::for_relay(0).initial_ms, MIN_INITIAL_MS);
    }
}
