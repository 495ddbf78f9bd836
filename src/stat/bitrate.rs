//! Bitrates and frame rates from cumulative counters.
//!
//! Counters only grow while a stream lives; the rates are their growth over the latest window
//! of at least [`WINDOW_MS`]. Between two windows the previous rates stand, so a stat request
//! that comes right after a snapshot sees the same figures.

/// Rates are measured over windows at least this long.
pub const WINDOW_MS: u64 = 1000;

/// Counters at one instant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub audio_bytes: u64,
    pub video_bytes: u64,
    pub video_messages: u64,
}

/// Rates over the latest window: bits per second, and video messages (frames) per second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub bw_in: u64,
    pub bw_out: u64,
    pub bw_audio: u64,
    pub bw_video: u64,
    pub fps: u64,
}

/// Measures [`Rates`] from successive [`Totals`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Meter {
    /// When the current window started, and the totals then; None before the first update.
    start: Option<(u64, Totals)>,
    rates: Rates,
}

impl Meter {
    /// Takes new totals at `now_ms`: when the window is at least [`WINDOW_MS`] long, the rates
    /// become the growth over it and a new window starts. The first update only starts one.
    /// A counter below its value at the window's start (it was reset) counts as no growth.
    pub fn update(&mut self, now_ms: u64, totals: Totals) -> Rates {
        if let Some((at, base)) = self.start {
            let dt = now_ms.saturating_sub(at);
            if dt < WINDOW_MS {
                return self.rates;
            }
            self.rates = Rates {
                bw_in: bits_per_second(totals.bytes_in.saturating_sub(base.bytes_in), dt),
                bw_out: bits_per_second(totals.bytes_out.saturating_sub(base.bytes_out), dt),
                bw_audio: bits_per_second(totals.audio_bytes.saturating_sub(base.audio_bytes), dt),
                bw_video: bits_per_second(totals.video_bytes.saturating_sub(base.video_bytes), dt),
                fps: per_second_rounded(
                    totals.video_messages.saturating_sub(base.video_messages),
                    dt,
                ),
            };
        }
        self.start = Some((now_ms, totals));
        self.rates
    }

    /// The rates of the latest complete window (zero before the second update).
    pub fn rates(&self) -> Rates {
        self.rates
    }
}

/// `bytes` over `dt_ms` in bits per second, rounded down; 0 over an empty window.
pub fn bits_per_second(bytes: u64, dt_ms: u64) -> u64 {
    bytes.saturating_mul(8000).checked_div(dt_ms).unwrap_or(0)
}

/// `count` over `dt_ms` per second, rounded to the nearest.
fn per_second_rounded(count: u64, dt_ms: u64) -> u64 {
    count.saturating_mul(1000).saturating_add(dt_ms / 2) / dt_ms.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(bytes_in: u64, video_messages: u64) -> Totals {
        Totals {
            bytes_in,
            bytes_out: bytes_in * 2,
            audio_bytes: bytes_in / 4,
            video_bytes: bytes_in - bytes_in / 4,
            video_messages,
        }
    }

    #[test]
    fn the_first_update_starts_a_window_without_rates() {
        let mut m = Meter::default();
        assert_eq!(m.update(5_000, totals(1_000_000, 300)), Rates::default());
    }

    #[test]
    fn rates_are_the_growth_over_the_window() {
        let mut m = Meter::default();
        m.update(10_000, totals(0, 0));
        // 250 000 bytes and 60 frames in 2 s.
        let r = m.update(12_000, totals(250_000, 60));
        assert_eq!(
            r,
            Rates {
                bw_in: 1_000_000,
                bw_out: 2_000_000,
                bw_audio: 250_000,
                bw_video: 750_000,
                fps: 30,
            }
        );
        assert_eq!(m.rates(), r);
    }

    #[test]
    fn a_short_window_keeps_the_previous_rates_and_its_start() {
        let mut m = Meter::default();
        m.update(0, totals(0, 0));
        let first = m.update(1_000, totals(125_000, 25));
        assert_eq!(first.bw_in, 1_000_000);
        // 400 ms later: too early, nothing moves (even with much more data).
        assert_eq!(m.update(1_400, totals(1_000_000, 100)), first);
        // The window still starts at 1 000 ms: 2 s holding 250 000 more bytes.
        let r = m.update(3_000, totals(375_000, 85));
        assert_eq!(r.bw_in, 1_000_000);
        assert_eq!(r.fps, 30);
    }

    #[test]
    fn a_reset_counter_gives_zero_not_a_wrapped_rate() {
        let mut m = Meter::default();
        m.update(0, totals(10_000_000, 3_000));
        let r = m.update(1_000, totals(5_000, 2));
        assert_eq!(r, Rates::default());
        // Growth from the reset value on is measured again.
        let r = m.update(2_000, totals(130_000, 32));
        assert_eq!(r.bw_in, 1_000_000);
        assert_eq!(r.fps, 30);
    }

    #[test]
    fn frame_rates_round_to_the_nearest() {
        let mut m = Meter::default();
        m.update(0, totals(0, 0));
        // 59 frames in 1 999 ms: 29.51 fps.
        assert_eq!(m.update(1_999, totals(0, 59)).fps, 30);
        // 29 frames in 1 001 ms: 28.97 fps.
        assert_eq!(m.update(3_000, totals(0, 88)).fps, 29);
    }

    #[test]
    fn huge_counters_saturate() {
        assert_eq!(bits_per_second(u64::MAX, 1000), u64::MAX / 1000);
        assert_eq!(bits_per_second(1000, 0), 0);
        assert_eq!(per_second_rounded(u64::MAX, 1), u64::MAX);
    }
}
