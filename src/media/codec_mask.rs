//! Sets of Enhanced RTMP codecs as bits: what a client says it takes (the `connect`
//! exchange) and which extended codecs a stream carries, compared per message without
//! allocating.

use super::fourcc::{AudioFourCc, FourCc, VideoFourCc};

/// A set of codecs, audio and video alike. Codes we do not know share one bit, which only the
/// wildcard covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CodecMask(u16);

const OTHER: u16 = 1 << 14;
const ANY: u16 = 1 << 15;

fn bit(code: FourCc) -> u16 {
    if let Some(v) = VideoFourCc::from_fourcc(code) {
        return match v {
            VideoFourCc::Avc => 1,
            VideoFourCc::Hevc => 1 << 1,
            VideoFourCc::Av1 => 1 << 2,
            VideoFourCc::Vp9 => 1 << 3,
        };
    }
    match AudioFourCc::from_fourcc(code) {
        Some(AudioFourCc::Aac) => 1 << 4,
        Some(AudioFourCc::Opus) => 1 << 5,
        Some(AudioFourCc::Flac) => 1 << 6,
        Some(AudioFourCc::Ac3) => 1 << 7,
        Some(AudioFourCc::Eac3) => 1 << 8,
        Some(AudioFourCc::Mp3) => 1 << 9,
        None => OTHER,
    }
}

impl CodecMask {
    /// The empty set.
    pub const NONE: CodecMask = CodecMask(0);
    /// The wildcard `*`: every codec.
    pub const ANY: CodecMask = CodecMask(ANY);

    /// The set of one codec.
    pub fn of(code: FourCc) -> CodecMask {
        CodecMask(bit(code))
    }

    /// Adds a codec.
    pub fn insert(&mut self, code: FourCc) {
        self.0 |= bit(code);
    }

    /// Adds every codec of `other`.
    pub fn union(self, other: CodecMask) -> CodecMask {
        CodecMask(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the wildcard is in the set.
    pub fn is_any(self) -> bool {
        self.0 & ANY != 0
    }

    /// True when every codec of `needed` is in the set (always, with the wildcard).
    pub fn covers(self, needed: CodecMask) -> bool {
        self.is_any() || needed.0 & !self.0 == 0
    }

    /// True when `code` is in the set.
    pub fn contains(self, code: FourCc) -> bool {
        self.covers(CodecMask::of(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers() {
        let hvc1 = FourCc::new(b"hvc1");
        let opus = FourCc::new(b"Opus");
        let mut m = CodecMask::NONE;
        assert!(m.covers(CodecMask::NONE));
        assert!(!m.contains(hvc1));
        m.insert(hvc1);
        assert!(m.contains(hvc1) && !m.contains(opus));
        let stream = CodecMask::of(hvc1).union(CodecMask::of(opus));
        assert!(!m.covers(stream));
        m.insert(opus);
        assert!(m.covers(stream));
        // Unknown codes only under the wildcard.
        let vvc = CodecMask::of(FourCc::new(b"vvc1"));
        assert!(!m.covers(vvc));
        assert!(CodecMask::ANY.covers(vvc.union(stream)));
    }
}
