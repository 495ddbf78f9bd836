//! Blocking playlist reload (RFC 8216bis, 6.2.5.2): a request with `_HLS_msn=M[&_HLS_part=P]`
//! is answered once the playlist contains segment M (part P of it) or later — at once when it
//! already does, never before — refused when it asks too far ahead, and given up on after a
//! bounded wait.

use super::query::Directives;
use super::state::{PlaylistState, Pos};

/// The position a blocking request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub msn: u64,
    pub part: Option<u64>,
}

/// What to do with a playlist request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve the playlist read.
    Now,
    /// Hold the request until the playlist satisfies [`Want`] (see [`satisfied`]).
    Wait(Want),
    /// 400: the position can never come soon enough, the reason for the log.
    Bad(&'static str),
}

/// Longest wait of a blocking request, whatever the target duration says.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Shortest wait, for playlists without a usable target duration.
pub const MIN_WAIT_MS: u64 = 1_000;

/// How far past the last part a request may ask (the RFC's Advance Part Limit), in parts:
/// three seconds of parts, at least three.
fn advance_part_limit(s: &PlaylistState) -> u64 {
    match s.part_target_ms {
        Some(t) if (1..1000).contains(&t) => 3000 / t,
        _ => 3,
    }
}

/// Whether the playlist `s` answers a request waiting for `w`.
pub fn satisfied(w: Want, s: &PlaylistState) -> bool {
    if s.ended {
        return true;
    }
    match w.part {
        None => s.last_msn().is_some_and(|l| l >= w.msn),
        Some(part) => s.last.is_some_and(|last| last >= Pos { msn: w.msn, part }),
    }
}

/// Decides a request with directives `d` on a playlist whose current state is `s`. Playlists
/// that do not offer blocking reload (plain HLS, master playlists) and ended ones are served
/// at once, directives or not.
pub fn decide(d: &Directives, s: &PlaylistState) -> Decision {
    let Some(msn) = d.msn else {
        return Decision::Now;
    };
    if s.master || !s.can_block_reload || s.ended {
        return Decision::Now;
    }
    // Without a complete segment, the "last" one is the one before the first listed.
    let last_msn = s.last_msn().unwrap_or(s.media_sequence.saturating_sub(1));
    if msn > last_msn.saturating_add(2) {
        return Decision::Bad("_HLS_msn more than two segments ahead");
    }
    if let (Some(part), Some(last)) = (d.part, s.last) {
        let apl = advance_part_limit(s);
        let too_far = if msn == last.msn && last.part != u64::MAX {
            part > last.part.saturating_add(apl)
        } else {
            msn > last.msn && part >= apl
        };
        if too_far {
            return Decision::Bad("_HLS_part beyond the advance part limit");
        }
    }
    let want = Want { msn, part: d.part };
    if satisfied(want, s) {
        Decision::Now
    } else {
        Decision::Wait(want)
    }
}

/// How long a request waits for a playlist of state `s` before 503: three target durations.
pub fn wait_limit_ms(s: &PlaylistState) -> u64 {
    s.target_duration_ms
        .saturating_mul(3)
        .clamp(MIN_WAIT_MS, MAX_WAIT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(media_sequence: u64, segments: u64, last: Option<Pos>) -> PlaylistState {
        PlaylistState {
            media_sequence,
            segments,
            last,
            target_duration_ms: 2000,
            part_target_ms: Some(500),
            can_block_reload: true,
            ..PlaylistState::default()
        }
    }

    fn d(msn: u64, part: Option<u64>) -> Directives {
        Directives {
            msn: Some(msn),
            part,
            skip: None,
        }
    }

    #[test]
    fn answers_at_once_when_listed_and_waits_otherwise() {
        // Segments 10..=11 complete, part 2 of segment 12 listed.
        let s = ll(10, 2, Some(Pos { msn: 12, part: 2 }));
        assert_eq!(decide(&d(11, None), &s), Decision::Now);
        assert_eq!(decide(&d(12, Some(2)), &s), Decision::Now);
        assert_eq!(decide(&d(12, Some(0)), &s), Decision::Now);
        assert_eq!(decide(&d(5, Some(9)), &s), Decision::Now);
        let w = Want {
            msn: 12,
            part: Some(3),
        };
        assert_eq!(decide(&d(12, Some(3)), &s), Decision::Wait(w));
        // Segment 12 is complete only when its EXTINF is listed.
        assert_eq!(
            decide(&d(12, None), &s),
            Decision::Wait(Want {
                msn: 12,
                part: None
            })
        );
        assert!(!satisfied(w, &s));
        assert!(satisfied(w, &ll(10, 2, Some(Pos { msn: 12, part: 3 }))));
        // A request past the last part of a completed segment waits for the next segment.
        let done = ll(10, 3, Some(Pos { msn: 12, part: 3 }));
        assert!(!satisfied(
            Want {
                msn: 12,
                part: Some(4)
            },
            &done
        ));
        assert!(satisfied(
            Want {
                msn: 12,
                part: Some(4)
            },
            &ll(10, 3, Some(Pos { msn: 13, part: 0 }))
        ));
    }

    #[test]
    fn refuses_requests_too_far_ahead() {
        let s = ll(10, 2, Some(Pos { msn: 12, part: 2 }));
        // Last complete segment 11: 13 is allowed, 14 is not.
        assert!(matches!(decide(&d(13, None), &s), Decision::Wait(_)));
        assert!(matches!(decide(&d(14, None), &s), Decision::Bad(_)));
        // Advance part limit at 0.5 s parts: 6 parts.
        assert!(matches!(decide(&d(12, Some(8)), &s), Decision::Wait(_)));
        assert!(matches!(decide(&d(12, Some(9)), &s), Decision::Bad(_)));
        assert!(matches!(decide(&d(13, Some(5)), &s), Decision::Wait(_)));
        assert!(matches!(decide(&d(13, Some(6)), &s), Decision::Bad(_)));
        // Nothing complete yet: media sequence 10 means "last" is 9, 11 is the limit.
        let fresh = ll(10, 0, Some(Pos { msn: 10, part: 0 }));
        assert!(matches!(decide(&d(11, None), &fresh), Decision::Wait(_)));
        assert!(matches!(decide(&d(12, None), &fresh), Decision::Bad(_)));
    }

    #[test]
    fn playlists_without_blocking_are_served_at_once() {
        let mut s = ll(10, 2, None);
        s.can_block_reload = false;
        assert_eq!(decide(&d(50, None), &s), Decision::Now);
        let mut ended = ll(10, 2, Some(Pos { msn: 11, part: 1 }));
        ended.ended = true;
        assert_eq!(decide(&d(13, Some(0)), &ended), Decision::Now);
        assert_eq!(
            decide(&Directives::default(), &ll(10, 2, None)),
            Decision::Now
        );
    }

    #[test]
    fn the_wait_is_three_target_durations_within_bounds() {
        assert_eq!(wait_limit_ms(&ll(0, 0, None)), 6000);
        assert_eq!(wait_limit_ms(&PlaylistState::default()), MIN_WAIT_MS);
        let mut long = ll(0, 0, None);
        long.target_duration_ms = 60_000;
        assert_eq!(wait_limit_ms(&long), MAX_WAIT_MS);
    }
}
