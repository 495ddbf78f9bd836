//! `Representation@frameRate` of a group's MPD, from the frames a window lists.

/// Known frame rates, as `frameRate` spells them: (text, frames per 1000 s).
const FRAME_RATES: [(&str, u64); 12] = [
    ("10", 10_000),
    ("12.5", 12_500),
    ("15", 15_000),
    ("24000/1001", 23_976),
    ("24", 24_000),
    ("25", 25_000),
    ("30000/1001", 29_970),
    ("30", 30_000),
    ("48", 48_000),
    ("50", 50_000),
    ("60000/1001", 59_940),
    ("60", 60_000),
];

/// `frameRate` of `frames` over `ms`: a known rate within 0.3 %, else whole frames per
/// second.
pub(super) fn frame_rate(frames: u64, ms: u64) -> Option<String> {
    if frames < 2 || ms == 0 {
        return None;
    }
    let milli = frames.saturating_mul(1_000_000) / ms;
    let best = FRAME_RATES
        .iter()
        .min_by_key(|(_, r)| r.abs_diff(milli))
        .filter(|(_, r)| r.abs_diff(milli) * 1000 <= r * 3);
    match best {
        Some((text, _)) => Some((*text).to_owned()),
        None => {
            let fps = (milli + 500) / 1000;
            (fps > 0).then(|| fps.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates() {
        assert_eq!(frame_rate(900, 30_000).as_deref(), Some("30"));
        assert_eq!(frame_rate(899, 30_000).as_deref(), Some("30000/1001"));
        assert_eq!(frame_rate(250, 10_000).as_deref(), Some("25"));
        assert_eq!(frame_rate(70, 10_000).as_deref(), Some("7"));
        assert_eq!(frame_rate(1, 10_000), None);
        assert_eq!(frame_rate(100, 0), None);
    }
}
