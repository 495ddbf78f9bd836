//! The codec header messages an FLV recording starts with: the latest one of each track.
//!
//! A legacy stream has one header per kind. An Enhanced RTMP multitrack stream configures
//! each track with its own SequenceStart (a message may configure several): keeping only
//! the latest message would start the next file without the other tracks' configuration,
//! and the primary track would not decode.

use bytes::Bytes;

use crate::media::ex_audio::{is_ex_audio, parse_ex_audio};
use crate::media::ex_header::{is_ex_video, parse_ex_video, MAX_TRACKS};
use crate::media::Track;

/// Track ids a message configures, as a 256-bit set.
type TrackSet = [u64; 4];

fn with(mut set: TrackSet, id: u8) -> TrackSet {
    if let Some(word) = set.get_mut(usize::from(id / 64)) {
        *word |= 1 << (id % 64);
    }
    set
}

fn covers(outer: &TrackSet, inner: &TrackSet) -> bool {
    outer.iter().zip(inner).all(|(o, i)| i & !o == 0)
}

/// The tracks a header message of `kind` configures (track 0 for a legacy message or one
/// that does not parse: it then stands for the whole kind, as before Enhanced RTMP).
fn tracks_of(kind: Track, msg: &Bytes) -> TrackSet {
    let zero = with([0; 4], 0);
    let ids: Option<TrackSet> = match kind {
        Track::Video if is_ex_video(msg) => parse_ex_video(msg)
            .ok()
            .map(|m| m.tracks().iter().fold([0; 4], |s, t| with(s, t.track_id))),
        Track::Audio if is_ex_audio(msg) => parse_ex_audio(msg)
            .ok()
            .map(|m| m.tracks.iter().fold([0; 4], |s, t| with(s, t.track_id))),
        _ => None,
    };
    ids.filter(|s| s.iter().any(|w| *w != 0)).unwrap_or(zero)
}

/// The latest header messages of one kind, oldest first: each track's configuration is in
/// the last message that configures it.
#[derive(Debug, Clone)]
pub(super) struct Headers {
    kind: Track,
    msgs: Vec<(TrackSet, Bytes)>,
}

impl Headers {
    pub fn new(kind: Track) -> Headers {
        Headers {
            kind,
            msgs: Vec::new(),
        }
    }

    /// Headers holding `msg` (none when `None`).
    pub fn of(kind: Track, msg: Option<Bytes>) -> Headers {
        let mut h = Headers::new(kind);
        if let Some(m) = msg {
            h.update(&m);
        }
        h
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Takes a header message; `false` when it is already the latest of its tracks (nothing
    /// to write). Messages it supersedes (whose tracks it all configures) are forgotten.
    pub fn update(&mut self, msg: &Bytes) -> bool {
        let set = tracks_of(self.kind, msg);
        if self.msgs.iter().any(|(s, m)| *s == set && m == msg) {
            return false;
        }
        self.msgs.retain(|(s, _)| !covers(&set, s));
        if self.msgs.len() >= MAX_TRACKS {
            self.msgs.remove(0);
        }
        self.msgs.push((set, msg.clone()));
        true
    }

    /// The messages to write at a file's start, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.msgs.iter().map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_header_per_track() {
        let mut h = Headers::new(Track::Video);
        let avc = Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]);
        let track1 = Bytes::from_static(include_bytes!(
            "../../tests/fixtures/ertmp/multi_hevc_seq_start.bin"
        ));
        assert!(h.update(&avc));
        assert!(h.update(&track1));
        assert!(!h.update(&track1), "the same header again");
        let all: Vec<&Bytes> = h.iter().collect();
        assert_eq!(all, [&avc, &track1]);
        // A new configuration of track 0 replaces the first, keeps track 1's.
        let avc2 = Bytes::from_static(&[0x17, 0, 0, 0, 0, 2]);
        assert!(h.update(&avc2));
        let all: Vec<&Bytes> = h.iter().collect();
        assert_eq!(all, [&track1, &avc2]);
    }
}
