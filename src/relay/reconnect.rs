//! Reconnect delays of a relay: the process [`Backoff`] (doubling to a cap, reset after a
//! stable run) with jitter, so that the relays of a restarted origin do not all come back in
//! the same millisecond. The core has no randomness source: the shell passes a seed.

use crate::process::{Backoff, Retries};
use crate::rtmp::rng::XorShift;

/// Jittered retry delays.
#[derive(Debug, Clone)]
pub struct Reconnect {
    retries: Retries,
    rng: XorShift,
}

impl Reconnect {
    pub fn new(backoff: Backoff, seed: u64) -> Reconnect {
        Reconnect {
            retries: Retries::new(backoff),
            rng: XorShift::new(seed),
        }
    }

    /// The delay after a failure that ended a run of `ran_ms` (0 when it never streamed):
    /// the backoff's delay `d`, drawn in `[d/2, d]`. Jitter only shortens a delay, so a
    /// target that is back is found within the nominal delay.
    pub fn after_run(&mut self, ran_ms: u64) -> u64 {
        let delay = self.retries.after_run(ran_ms);
        let half = delay / 2;
        let span = delay - half;
        half + self.rng.next_u64() % span.saturating_add(1)
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.retries.reset();
    }

    pub fn backoff(&self) -> &Backoff {
        self.retries.backoff()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial_ms: 1000,
            cap_ms: 8000,
            stable_ms: 30_000,
        }
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        for seed in 0..200 {
            let mut r = Reconnect::new(backoff(), seed);
            for nominal in [1000, 2000, 4000, 8000, 8000, 8000] {
                let d = r.after_run(0);
                assert!(
                    (nominal / 2..=nominal).contains(&d),
                    "seed {seed}: {d} not in [{}, {nominal}]",
                    nominal / 2
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_and_is_reproducible() {
        let draws = |seed| {
            let mut r = Reconnect::new(backoff(), seed);
            r.after_run(0)
        };
        let firsts: std::collections::BTreeSet<u64> = (0..50).map(draws).collect();
        assert!(firsts.len() > 25, "{firsts:?}");
        assert_eq!(draws(7), draws(7));
    }

    #[test]
    fn a_stable_run_resets_the_delay() {
        let mut r = Reconnect::new(backoff(), 1);
        for _ in 0..5 {
            r.after_run(0);
        }
        assert!(r.after_run(0) >= 4000);
        assert!(r.after_run(30_000) <= 1000);
        r.after_run(0);
        r.reset();
        assert!(r.after_run(0) <= 1000);
        assert_eq!(r.backoff().cap_ms, 8000);
    }
}
