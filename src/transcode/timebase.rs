//! The mapping between a source's timestamps and the timestamps of the stream its encoder
//! reads, shared by the feed (which fixes it at its first message) and the reader (which maps
//! the encoder's output back).

use std::cell::Cell;
use std::rc::Rc;

/// A shared handle: clones see the same base.
#[derive(Debug, Clone, Default)]
pub struct TimeBase(Rc<Cell<Option<u32>>>);

impl TimeBase {
    /// The encoder's first timestamp: room below it for AAC priming (about 23 ms), and for
    /// audio that the source interleaved slightly before the keyframe the encoder starts at.
    pub const PAD_MS: u32 = 1_000;

    pub fn new() -> TimeBase {
        TimeBase::default()
    }

    /// The source timestamp the encoder's stream starts at, once fixed.
    pub fn base(&self) -> Option<u32> {
        self.0.get()
    }

    /// Fixes the base (the first message sent to the encoder), once.
    pub fn fix(&self, source_ts: u32) -> u32 {
        match self.0.get() {
            Some(b) => b,
            None => {
                self.0.set(Some(source_ts));
                source_ts
            }
        }
    }

    /// A source timestamp as the encoder sees it (32-bit wrapping arithmetic, so a source
    /// past the 2^32 ms wrap maps continuously).
    pub fn to_encoder(&self, source_ts: u32) -> Option<u32> {
        let base = self.0.get()?;
        Some(source_ts.wrapping_sub(base).wrapping_add(Self::PAD_MS))
    }

    /// An encoder timestamp as a source timestamp; `None` before the base is fixed and for a
    /// timestamp that would precede the source's zero (the encoder's priming).
    pub fn from_encoder(&self, encoder_ts: u32) -> Option<u32> {
        let base = self.0.get()?;
        if encoder_ts >= Self::PAD_MS {
            Some(base.wrapping_add(encoder_ts - Self::PAD_MS))
        } else {
            base.checked_sub(Self::PAD_MS - encoder_ts)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = TimeBase::new();
        assert_eq!(t.to_encoder(5), None);
        assert_eq!(t.from_encoder(1000), None);
        let shared = t.clone();
        assert_eq!(t.fix(100_523), 100_523);
        assert_eq!(t.fix(7), 100_523);
        assert_eq!(shared.to_encoder(100_523), Some(1000));
        assert_eq!(shared.to_encoder(100_500), Some(977));
        for ts in [100_477, 100_523, 200_000, u32::MAX] {
            assert_eq!(t.from_encoder(t.to_encoder(ts).unwrap()), Some(ts));
        }
        // Priming before a source starting at 0 has no source time.
        let z = TimeBase::new();
        z.fix(0);
        assert_eq!(z.from_encoder(977), None);
        assert_eq!(z.from_encoder(1000), Some(0));
        // Across the wrap.
        let w = TimeBase::new();
        w.fix(u32::MAX - 10);
        let e = w.to_encoder(20).unwrap();
        assert_eq!(e, 1031);
        assert_eq!(w.from_encoder(e), Some(20));
    }
}
