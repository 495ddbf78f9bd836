//! The `hls_fragment` grid that the segments of a variant group's members share: which
//! keyframe may open a member's first segment, and the number that segment gets.

/// Decides whether a video keyframe may open the first segment of a section of a group
/// member: one on the grid (within a tolerance that covers the decode delay of B-frames),
/// so that the segment starts where the other members' segments of the same number start.
/// An encoder whose keyframes never fall on the grid cannot be aligned: after a whole
/// fragment of waiting any keyframe opens the segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct GridGate {
    /// Timestamp of the first video frame seen while waiting.
    waiting_since: Option<u64>,
}

/// How far from a grid point a keyframe's timestamp may be: an eighth of the fragment,
/// between 40 and 500 ms.
pub(crate) fn tolerance_ms(fragment_ms: u64) -> u64 {
    (fragment_ms / 8).clamp(40, 500)
}

/// The grid position nearest to `t`: the media sequence number of a member's segment that
/// starts at `t`.
pub(crate) fn grid_index(fragment_ms: u64, t: u64) -> u64 {
    let f = fragment_ms.max(1);
    t.saturating_add(f / 2) / f
}

fn on_grid(fragment_ms: u64, t: u64) -> bool {
    let f = fragment_ms.max(1);
    let nearest = grid_index(f, t).saturating_mul(f);
    nearest.abs_diff(t) <= tolerance_ms(f)
}

impl GridGate {
    /// A video frame at `dts` while no segment is open: whether it opens one.
    pub fn admits(&mut self, fragment_ms: u64, dts: u64, keyframe: bool) -> bool {
        let since = *self.waiting_since.get_or_insert(dts);
        let admitted = keyframe
            && (on_grid(fragment_ms, dts)
                || dts.saturating_sub(since) >= fragment_ms
                || dts < since);
        if admitted {
            self.waiting_since = None;
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_positions() {
        assert_eq!(grid_index(2000, 0), 0);
        assert_eq!(grid_index(2000, 7_933), 4);
        assert_eq!(grid_index(2000, 8_010), 4);
        assert!(on_grid(2000, 7_933) && on_grid(2000, 8_250) && !on_grid(2000, 8_251));
        assert!(!on_grid(2000, 7_000));
    }

    #[test]
    fn waits_for_a_keyframe_on_the_grid() {
        let mut g = GridGate::default();
        assert!(!g.admits(2000, 7_000, true));
        assert!(!g.admits(2000, 7_500, false));
        assert!(g.admits(2000, 7_967, true));
        // Keyframes off the grid: the first one a whole fragment later.
        let mut g = GridGate::default();
        assert!(!g.admits(2000, 1_000, true));
        assert!(!g.admits(2000, 2_900, true));
        assert!(g.admits(2000, 3_500, true));
    }
}
