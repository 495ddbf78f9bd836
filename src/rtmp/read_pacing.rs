//! When a publisher's socket is worth reading: fewer wakeups per ingested stream.
//!
//! A worker that reads each message as it arrives wakes about 72 times a second for one
//! publisher (30 video frames, ~43 AAC frames), and with a few streams most of its CPU is
//! the wakeup itself (`epoll_wait`, `recv`, two context switches), not the media. The shell
//! sets the socket's receive low-water mark (`SO_RCVLOWAT`) to [`ReadPlan::low_water`], so the
//! kernel wakes the worker only once that many bytes are queued, and arms a timer for
//! [`ReadPlan::deadline_ms`], so a small message waits at most `interval_ms`.
//!
//! - The deadlines of every publisher of the worker fall on one grid, the multiples of
//!   `interval_ms` on the worker's clock ([`next_tick`]): the worker wakes once per tick for
//!   all its publishers, however many (and for its periodic timers, which tick on the same
//!   grid). A message waits at most `interval_ms`, half of it on average.
//! - The mark is the bytes the publisher sends in two intervals (its rate over the last
//!   second), between [`MIN_LOW_WATER`] and [`MAX_LOW_WATER`], so that the tick, not the mark,
//!   is what normally wakes the worker; the mark is there for bursts.
//! - A keyframe closes an HLS segment, so it is read as soon as it is complete rather than at
//!   the next tick: from shortly before the next keyframe is due (the publisher's keyframe
//!   interval, measured between its last two keyframes) until it comes, the mark is half the
//!   latest keyframe's size, which the keyframe crosses at once. The rest of the time inter
//!   frames, often as large as that, do not wake the worker. A keyframe before its time (a
//!   scene cut) waits for the tick.
//! - While a keyframe is partly received, the mark is what it still lacks (a lower bound
//!   given by the chunk decoder), so a keyframe arriving in many TCP segments wakes the
//!   worker when it is complete instead of once per segment. Any other message in progress
//!   (a publisher that writes a message in several pieces, as FFmpeg does, is often caught
//!   mid-message by a tick) waits for the mark or the next tick like a message boundary.
//! - A read that finds nothing queued a whole interval after the last data means the
//!   publisher paused: the mark drops to one byte until data flows again, so nothing small is
//!   left waiting without a timer. (A tick right after a keyframe's read finds little or
//!   nothing, and keeps the plan.)
//! - Connections that do not publish (players, handshakes, commands) are read eagerly, and so
//!   is everything with `interval_ms` 0 (nginx-rtmp's behaviour).

/// The smallest batching mark once a publisher's rate is known.
pub const MIN_LOW_WATER: usize = 1024;
/// The largest mark: well under the kernel's receive buffer, which the kernel would
/// otherwise grow (and clamp the window) to make the mark reachable.
pub const MAX_LOW_WATER: usize = 32 * 1024;
/// How often the publisher's rate is re-measured.
const RATE_WINDOW_MS: u64 = 1000;
/// The mark at a message boundary, in intervals of the publisher's rate.
const BATCH_INTERVALS: u64 = 2;

/// The first multiple of `interval_ms` after `now_ms`: the worker's tick grid, shared by every
/// connection of the worker that reads or writes in batches. `interval_ms` 0 means no grid:
/// `now_ms`.
pub fn next_tick(now_ms: u64, interval_ms: u64) -> u64 {
    match now_ms.checked_div(interval_ms) {
        Some(ticks) => ticks.saturating_add(1).saturating_mul(interval_ms),
        None => now_ms,
    }
}

/// What the shell should set after a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    /// Bytes that must be queued before the kernel wakes the worker (`SO_RCVLOWAT`).
    pub low_water: usize,
    /// Read the socket at this time even below the mark.
    pub deadline_ms: Option<u64>,
}

impl ReadPlan {
    /// Wake on every byte (the kernel's default).
    pub const EAGER: ReadPlan = ReadPlan {
        low_water: 1,
        deadline_ms: None,
    };
}

/// What a connection's input looks like at the end of a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputState {
    /// Bytes received so far ([`crate::rtmp::Session::bytes_received`]).
    pub received: u64,
    /// The connection publishes a stream.
    pub publishing: bool,
    /// At least this many bytes are needed before the message in progress can complete;
    /// `None` at a message boundary ([`crate::rtmp::Session::bytes_wanted`]).
    pub wanted: Option<usize>,
    /// The message in progress may be a video keyframe
    /// ([`crate::rtmp::Session::keyframe_pending`]).
    pub keyframe_pending: bool,
    /// The publisher's latest video keyframe, once it sent one.
    pub last_keyframe: Option<KeyframeSeen>,
}

/// A video keyframe the publisher sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyframeSeen {
    /// Its size in bytes.
    pub len: usize,
    /// When it arrived, on the worker's clock.
    pub at_ms: u64,
}

/// The rate window and the mark of one connection.
#[derive(Debug)]
pub struct ReadPacing {
    interval_ms: u64,
    /// The mark at a message boundary.
    batch: usize,
    /// Start of the rate window: (time, bytes received then). `None` while not publishing.
    window: Option<(u64, u64)>,
    /// Bytes received at the previous plan.
    last_received: u64,
    /// When a read last found data, and the mark it set then.
    last_data: Option<(u64, usize)>,
    /// The latest keyframe, and the time between it and the one before.
    keyframe: Option<(KeyframeSeen, Option<u64>)>,
}

impl ReadPacing {
    /// `interval_ms` 0 reads every message as it arrives.
    pub fn new(interval_ms: u64) -> ReadPacing {
        ReadPacing {
            interval_ms,
            batch: MIN_LOW_WATER,
            window: None,
            last_received: 0,
            last_data: None,
            keyframe: None,
        }
    }

    /// The plan after a read (or a read attempt that found nothing) at `now_ms`.
    pub fn plan(&mut self, now_ms: u64, input: InputState) -> ReadPlan {
        let got_data = input.received > self.last_received;
        self.last_received = input.received;
        if self.interval_ms == 0 || !input.publishing {
            self.window = None;
            self.batch = MIN_LOW_WATER;
            self.last_data = None;
            return ReadPlan::EAGER;
        }
        self.measure(now_ms, input.received);
        let deadline_ms = Some(next_tick(now_ms, self.interval_ms));
        if !got_data {
            return match self.last_data {
                Some((at, low_water)) if now_ms.saturating_sub(at) < self.interval_ms => ReadPlan {
                    low_water,
                    deadline_ms,
                },
                _ => {
                    self.last_data = None;
                    ReadPlan::EAGER
                }
            };
        }
        let boundary = match self.keyframe_expected(now_ms, input.last_keyframe) {
            Some(len) => self.batch.min(len / 2).max(1),
            None => self.batch,
        };
        let low_water = match input.wanted {
            Some(n) if input.keyframe_pending => n.clamp(1, MAX_LOW_WATER),
            Some(n) => n.max(boundary).clamp(1, MAX_LOW_WATER),
            None => boundary,
        };
        self.last_data = Some((now_ms, low_water));
        ReadPlan {
            low_water,
            deadline_ms,
        }
    }

    /// The latest keyframe's size while the next one is expected: from two intervals before
    /// it is due (one keyframe interval after the latest), or always while the interval is
    /// not known yet.
    fn keyframe_expected(&mut self, now_ms: u64, latest: Option<KeyframeSeen>) -> Option<usize> {
        let latest = latest?;
        let period = match self.keyframe {
            Some((seen, period)) if seen == latest => period,
            Some((seen, _)) => {
                let period = latest.at_ms.checked_sub(seen.at_ms).filter(|p| *p > 0);
                self.keyframe = Some((latest, period));
                period
            }
            None => {
                self.keyframe = Some((latest, None));
                None
            }
        };
        let early = self.interval_ms.saturating_mul(2);
        match period {
            Some(p) if now_ms.saturating_add(early) < latest.at_ms.saturating_add(p) => None,
            _ => Some(latest.len),
        }
    }

    /// Re-derives the boundary mark from the bytes of the last rate window.
    fn measure(&mut self, now_ms: u64, received: u64) {
        let Some((start_ms, start_bytes)) = self.window else {
            self.window = Some((now_ms, received));
            return;
        };
        let elapsed = now_ms.saturating_sub(start_ms);
        if elapsed < RATE_WINDOW_MS {
            return;
        }
        let bytes = received.saturating_sub(start_bytes);
        let per_batch = bytes.saturating_mul(self.interval_ms * BATCH_INTERVALS) / elapsed.max(1);
        self.batch = usize::try_from(per_batch)
            .unwrap_or(MAX_LOW_WATER)
            .clamp(MIN_LOW_WATER, MAX_LOW_WATER);
        self.window = Some((now_ms, received));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(received: u64, publishing: bool, wanted: Option<usize>) -> InputState {
        InputState {
            received,
            publishing,
            wanted,
            keyframe_pending: wanted.is_some(),
            last_keyframe: None,
        }
    }

    #[test]
    fn not_publishing_or_disabled_is_eager() {
        let mut p = ReadPacing::new(50);
        assert_eq!(p.plan(0, input(5000, false, None)), ReadPlan::EAGER);
        let mut off = ReadPacing::new(0);
        assert_eq!(off.plan(0, input(5000, true, None)), ReadPlan::EAGER);
        assert_eq!(off.plan(10, input(9000, true, Some(500))), ReadPlan::EAGER);
    }

    #[test]
    fn publishing_batches_at_the_measured_rate() {
        let mut p = ReadPacing::new(50);
        // Before a rate is known: the smallest mark.
        let first = p.plan(0, input(1000, true, None));
        assert_eq!(first.low_water, MIN_LOW_WATER);
        assert_eq!(first.deadline_ms, Some(50));
        // 165 kB in one second: 165 B/ms, 16500 B in two intervals of 50 ms.
        let plan = p.plan(1000, input(166_000, true, None));
        assert_eq!(plan.low_water, 16_500);
        assert_eq!(plan.deadline_ms, Some(1050));
        // The mark holds until the next window closes.
        assert_eq!(p.plan(1500, input(400_000, true, None)).low_water, 16_500);
        // A fast publisher is capped; a slow one floored.
        assert_eq!(
            p.plan(2000, input(10_000_000, true, None)).low_water,
            MAX_LOW_WATER
        );
        assert_eq!(
            p.plan(3000, input(10_000_100, true, None)).low_water,
            MIN_LOW_WATER
        );
    }

    #[test]
    fn keyframes_always_cross_the_mark() {
        let mut p = ReadPacing::new(50);
        p.plan(0, input(0, true, None));
        let key = |received, len| InputState {
            last_keyframe: Some(KeyframeSeen { len, at_ms: 900 }),
            ..input(received, true, None)
        };
        // 1 MB/s makes a 32 KiB mark, but keyframes of 20 kB must still wake the worker.
        assert_eq!(p.plan(1000, key(1_000_000, 20_000)).low_water, 10_000);
        // Large keyframes leave the rate's mark alone.
        assert_eq!(
            p.plan(1010, key(1_010_000, 500_000)).low_water,
            MAX_LOW_WATER
        );
    }

    #[test]
    fn the_keyframe_mark_holds_only_while_a_keyframe_is_due() {
        let mut p = ReadPacing::new(50);
        p.plan(0, input(0, true, None));
        // 1 MB/s: a 32 KiB mark from the rate; keyframes of 20 kB every 2 s.
        let at = |received, at_ms| InputState {
            last_keyframe: Some(KeyframeSeen { len: 20_000, at_ms }),
            ..input(received, true, None)
        };
        assert_eq!(p.plan(1000, at(1_000_000, 1000)).low_water, 10_000);
        // The second keyframe gives the interval: 2 s. The next one is not due for a while.
        assert_eq!(p.plan(3000, at(3_000_000, 3000)).low_water, MAX_LOW_WATER);
        // Well before the next one is due, inter frames do not wake the worker.
        assert_eq!(p.plan(3050, at(3_050_000, 3000)).low_water, MAX_LOW_WATER);
        assert_eq!(p.plan(4899, at(4_899_000, 3000)).low_water, MAX_LOW_WATER);
        // From two intervals before it is due until it comes (late, here), it does.
        assert_eq!(p.plan(4900, at(4_900_000, 3000)).low_water, 10_000);
        assert_eq!(p.plan(5200, at(5_200_000, 3000)).low_water, 10_000);
        // It came: the interval is now 2.3 s.
        assert_eq!(p.plan(5300, at(5_300_000, 5300)).low_water, MAX_LOW_WATER);
        assert_eq!(p.plan(7499, at(7_499_000, 5300)).low_water, MAX_LOW_WATER);
        assert_eq!(p.plan(7500, at(7_500_000, 5300)).low_water, 10_000);
    }

    #[test]
    fn a_partial_message_waits_for_what_it_lacks() {
        let mut p = ReadPacing::new(50);
        assert_eq!(
            p.plan(0, input(100, true, Some(70_000))).low_water,
            MAX_LOW_WATER
        );
        assert_eq!(p.plan(5, input(200, true, Some(300))).low_water, 300);
        assert_eq!(p.plan(6, input(300, true, Some(0))).low_water, 1);
    }

    #[test]
    fn other_messages_in_progress_wait_for_the_tick() {
        let mut p = ReadPacing::new(50);
        p.plan(0, input(0, true, None));
        // 165 kB/s: a boundary mark of 16500 bytes.
        let mid = InputState {
            keyframe_pending: false,
            ..input(165_000, true, Some(300))
        };
        assert_eq!(p.plan(1000, mid).low_water, 16_500);
        let big = InputState {
            keyframe_pending: false,
            ..input(166_000, true, Some(20_000))
        };
        assert_eq!(p.plan(1010, big).low_water, 20_000);
    }

    #[test]
    fn a_deadline_with_nothing_read_turns_eager_until_data_flows() {
        let mut p = ReadPacing::new(50);
        let plan = p.plan(0, input(2000, true, None));
        assert!(plan.low_water > 1);
        // The deadline fired and the read found nothing.
        assert_eq!(p.plan(50, input(2000, true, None)), ReadPlan::EAGER);
        // Data again: batching resumes with a fresh deadline.
        let again = p.plan(300, input(2100, true, None));
        assert!(again.low_water > 1);
        assert_eq!(again.deadline_ms, Some(350));
    }

    #[test]
    fn deadlines_fall_on_the_worker_grid() {
        assert_eq!(next_tick(0, 50), 50);
        assert_eq!(next_tick(49, 50), 50);
        assert_eq!(next_tick(50, 50), 100);
        assert_eq!(next_tick(7, 0), 7);
        assert_eq!(next_tick(u64::MAX - 3, 50), u64::MAX);
        // Two publishers read at different times wake at the same tick.
        let (mut a, mut b) = (ReadPacing::new(50), ReadPacing::new(50));
        assert_eq!(a.plan(1007, input(100, true, None)).deadline_ms, Some(1050));
        assert_eq!(b.plan(1033, input(100, true, None)).deadline_ms, Some(1050));
    }

    #[test]
    fn a_tick_right_after_a_read_keeps_the_plan() {
        let mut p = ReadPacing::new(50);
        let key = p.plan(1048, input(90_000, true, None));
        // The tick at 1050 finds nothing new: same mark, next tick.
        let tick = p.plan(1050, input(90_000, true, None));
        assert_eq!(tick.low_water, key.low_water);
        assert_eq!(tick.deadline_ms, Some(1100));
    }

    #[test]
    fn stopping_to_publish_resets_the_rate() {
        let mut p = ReadPacing::new(50);
        p.plan(0, input(0, true, None));
        assert!(p.plan(1000, input(10_000_000, true, None)).low_water == MAX_LOW_WATER);
        assert_eq!(
            p.plan(1100, input(10_000_500, false, None)),
            ReadPlan::EAGER
        );
        assert_eq!(
            p.plan(1200, input(10_001_000, true, None)).low_water,
            MIN_LOW_WATER
        );
    }
}
