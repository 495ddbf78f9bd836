//! When a publisher's socket is worth reading: fewer wakeups per ingested stream.
//!
//! A worker that reads each message as it arrives wakes about 72 times a second for one
//! publisher (30 video frames, ~43 AAC frames), and with a few streams most of its CPU is
//! the wakeup itself (`epoll_wait`, `recv`, two context switches), not the media. The shell
//! sets the socket's receive low-water mark (`SO_RCVLOWAT`) to [`ReadPlan::low_water`], so the
//! kernel wakes the worker only once that many bytes are queued, and arms a timer for
//! [`ReadPlan::deadline_ms`], so a small message waits at most `interval_ms`.
//!
//! - The mark is the bytes the publisher sends in one interval (its rate over the last
//!   second), between [`MIN_LOW_WATER`] and [`MAX_LOW_WATER`]: about one and a half average
//!   frames at 30 fps with the default 50 ms. A keyframe, which closes an HLS segment, is
//!   several times an average frame, so it crosses the mark at once: segments are listed as
//!   soon as before; the mark is also kept at half the latest keyframe's size, for content
//!   where keyframes are small against the rate (high motion, high frame rates). Audio and
//!   inter frames wait until the mark or the deadline; the worker wakes about 22 times a
//!   second per publisher instead of 72.
//! - While a message is partly received, the mark is what it still lacks (a lower bound
//!   given by the chunk decoder), so a keyframe arriving in many TCP segments wakes the
//!   worker when it is complete instead of once per segment.
//! - A deadline that finds nothing queued means the publisher paused: the mark drops to one
//!   byte until data flows again, so nothing small is left waiting without a timer.
//! - Connections that do not publish (players, handshakes, commands) are read eagerly, and so
//!   is everything with `interval_ms` 0 (nginx-rtmp's behaviour).

/// The smallest batching mark once a publisher's rate is known.
pub const MIN_LOW_WATER: usize = 1024;
/// The largest mark: well under the kernel's receive buffer, which the kernel would
/// otherwise grow (and clamp the window) to make the mark reachable.
pub const MAX_LOW_WATER: usize = 32 * 1024;
/// How often the publisher's rate is re-measured.
const RATE_WINDOW_MS: u64 = 1000;

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
    /// Size of the publisher's latest video keyframe, once it sent one.
    pub keyframe_len: Option<usize>,
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
}

impl ReadPacing {
    /// `interval_ms` 0 reads every message as it arrives.
    pub fn new(interval_ms: u64) -> ReadPacing {
        ReadPacing {
            interval_ms,
            batch: MIN_LOW_WATER,
            window: None,
            last_received: 0,
        }
    }

    /// The plan after a read (or a read attempt that found nothing) at `now_ms`.
    pub fn plan(&mut self, now_ms: u64, input: InputState) -> ReadPlan {
        let got_data = input.received > self.last_received;
        self.last_received = input.received;
        if self.interval_ms == 0 || !input.publishing {
            self.window = None;
            self.batch = MIN_LOW_WATER;
            return ReadPlan::EAGER;
        }
        self.measure(now_ms, input.received);
        if !got_data {
            return ReadPlan::EAGER;
        }
        let low_water = match input.wanted {
            Some(n) => n.clamp(1, MAX_LOW_WATER),
            None => match input.keyframe_len {
                Some(key) => self.batch.min(key / 2).max(1),
                None => self.batch,
            },
        };
        ReadPlan {
            low_water,
            deadline_ms: Some(now_ms.saturating_add(self.interval_ms)),
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
        // Bytes sent in one interval.
        let per_interval = bytes.saturating_mul(self.interval_ms) / elapsed.max(1);
        self.batch = usize::try_from(per_interval)
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
            keyframe_len: None,
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
        // 330 kB in one second: 330 B/ms, 16500 B in 50 ms.
        let plan = p.plan(1000, input(331_000, true, None));
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
            keyframe_len: Some(len),
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
