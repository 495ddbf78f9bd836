//! A look at the framing of an Enhanced RTMP message without parsing it: its packet type
//! (after any ModEx entries), whether it is multitrack, and each track's FourCC, id and body
//! range, walked in place. The live fan-out reads this for every message (is it a keyframe, a
//! sequence start, which track is it), so nothing here allocates.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::ops::Range;

use super::bits::ByteReader;
use super::ex_header::{read_fourcc, read_mod_ex, AvMultitrackType};
use super::fourcc::FourCc;

/// The video packet type that wraps tracks.
const VIDEO_MULTITRACK: u8 = 6;
/// The audio packet type that wraps tracks.
const AUDIO_MULTITRACK: u8 = 5;

/// The framing of one extended audio or video message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExPeek {
    /// Video: the 3-bit frame type (1 key, 2 inter, 3 disposable, 4 generated key, 5
    /// command). Audio: 0.
    pub frame_type: u8,
    /// The packet type of the tracks' packets (inside a Multitrack wrapper, after ModEx).
    pub packet_type: u8,
    /// `Some` when the message used the Multitrack packet type.
    pub multitrack: Option<AvMultitrackType>,
    /// The FourCC every track shares (`None` for ManyTracksManyCodecs).
    shared: Option<FourCc>,
    /// Where the first track starts.
    start: usize,
}

/// One track of a message, as a range of the message payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    pub fourcc: FourCc,
    /// 0 when the message is not multitrack.
    pub track_id: u8,
    /// The track's body in the payload (after the track header and size).
    pub body: Range<usize>,
}

/// Peeks at an extended video message (`IsExVideoHeader` set); `None` when the payload is not
/// one or its header is cut short.
pub fn peek_video(payload: &[u8]) -> Option<ExPeek> {
    let b0 = *payload.first()?;
    if b0 & 0x80 == 0 {
        return None;
    }
    peek(payload, (b0 >> 4) & 0x07, b0 & 0x0f, VIDEO_MULTITRACK)
}

/// Peeks at an extended audio message (SoundFormat 9).
pub fn peek_audio(payload: &[u8]) -> Option<ExPeek> {
    let b0 = *payload.first()?;
    if b0 >> 4 != 9 {
        return None;
    }
    peek(payload, 0, b0 & 0x0f, AUDIO_MULTITRACK)
}

fn peek(payload: &[u8], frame_type: u8, packet_bits: u8, multitrack_type: u8) -> Option<ExPeek> {
    let mut r = ByteReader::new(payload);
    r.u8("header").ok()?;
    let (packet_type, _) = read_mod_ex(&mut r, packet_bits, "ModEx").ok()?;
    if frame_type == 5 && packet_type != 4 {
        // A video command frame: no tracks.
        return Some(ExPeek {
            frame_type,
            packet_type,
            multitrack: None,
            shared: None,
            start: r.position(),
        });
    }
    if packet_type == multitrack_type {
        let b = r.u8("multitrack type").ok()?;
        let kind = AvMultitrackType::from_bits(b >> 4).ok()?;
        let shared = match kind {
            AvMultitrackType::ManyTracksManyCodecs => None,
            _ => Some(read_fourcc(&mut r).ok()?),
        };
        Some(ExPeek {
            frame_type,
            packet_type: b & 0x0f,
            multitrack: Some(kind),
            shared,
            start: r.position(),
        })
    } else {
        let fourcc = read_fourcc(&mut r).ok()?;
        Some(ExPeek {
            frame_type,
            packet_type,
            multitrack: None,
            shared: Some(fourcc),
            start: r.position(),
        })
    }
}

impl ExPeek {
    /// The message's tracks, in order. The walk stops at the first track whose header or size
    /// does not fit the payload (the demuxer reports such a message; the fan-out passes on
    /// what it could read).
    pub fn tracks<'a>(&self, payload: &'a [u8]) -> Tracks<'a> {
        Tracks {
            payload,
            pos: self.start,
            multitrack: self.multitrack,
            shared: self.shared,
            done: self.frame_type == 5 && self.shared.is_none() && self.multitrack.is_none(),
        }
    }

    /// The first track (the only one of a message that is not multitrack).
    pub fn first_track(&self, payload: &[u8]) -> Option<TrackRef> {
        self.tracks(payload).next()
    }
}

/// Iterator over the tracks of a message ([`ExPeek::tracks`]).
#[derive(Debug, Clone)]
pub struct Tracks<'a> {
    payload: &'a [u8],
    pos: usize,
    multitrack: Option<AvMultitrackType>,
    shared: Option<FourCc>,
    done: bool,
}

impl Iterator for Tracks<'_> {
    type Item = TrackRef;

    fn next(&mut self) -> Option<TrackRef> {
        if self.done {
            return None;
        }
        let len = self.payload.len();
        let Some(kind) = self.multitrack else {
            self.done = true;
            return Some(TrackRef {
                fourcc: self.shared?,
                track_id: 0,
                body: self.pos.min(len)..len,
            });
        };
        if self.pos >= len {
            self.done = true;
            return None;
        }
        let mut r = ByteReader::new(self.payload.get(self.pos..)?);
        let item = (|| {
            let fourcc = match self.shared {
                Some(f) => f,
                None => read_fourcc(&mut r).ok()?,
            };
            let track_id = r.u8("track id").ok()?;
            let body = if kind == AvMultitrackType::OneTrack {
                self.pos + r.position()..len
            } else {
                let size = usize::try_from(r.u24("track size").ok()?).ok()?;
                let start = self.pos + r.position();
                r.take(size, "track body").ok()?;
                start..start + size
            };
            Some(TrackRef {
                fourcc,
                track_id,
                body,
            })
        })();
        match &item {
            Some(t) if kind != AvMultitrackType::OneTrack => self.pos = t.body.end,
            _ => self.done = true,
        }
        item
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn single_track() {
        let p = [0x91, b'h', b'v', b'c', b'1', 0, 0, 0, 9, 9];
        let k = peek_video(&p).unwrap();
        assert_eq!((k.frame_type, k.packet_type, k.multitrack), (1, 1, None));
        let t: Vec<_> = k.tracks(&p).collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].fourcc, FourCc::new(b"hvc1"));
        assert_eq!(t[0].body, 5..10);
        assert!(peek_video(&[0x17, 1]).is_none());
        assert!(peek_video(&[0x91, b'h']).is_none());
    }

    #[test]
    fn multitrack_layouts() {
        // OneTrack, key, CodedFrames, track 1.
        let one = [0x96, 0x01, b'h', b'v', b'c', b'1', 1, 7, 7];
        let k = peek_video(&one).unwrap();
        assert_eq!(k.packet_type, 1);
        assert_eq!(k.multitrack, Some(AvMultitrackType::OneTrack));
        let t: Vec<_> = k.tracks(&one).collect();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].track_id, t[0].body.clone()), (1, 7..9));
        // ManyTracksManyCodecs, SequenceStart: avc1 track 0 (2 bytes), hvc1 track 2 (1 byte).
        let many = [
            0x96, 0x20, b'a', b'v', b'c', b'1', 0, 0, 0, 2, 0xA, 0xB, b'h', b'v', b'c', b'1', 2, 0,
            0, 1, 0xC,
        ];
        let k = peek_video(&many).unwrap();
        assert_eq!(k.packet_type, 0);
        let t: Vec<_> = k.tracks(&many).collect();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].fourcc, t[0].track_id), (FourCc::new(b"avc1"), 0));
        assert_eq!(&many[t[0].body.clone()], &[0xA, 0xB]);
        assert_eq!((t[1].fourcc, t[1].track_id), (FourCc::new(b"hvc1"), 2));
        assert_eq!(&many[t[1].body.clone()], &[0xC]);
        // A size past the end stops the walk.
        let cut = &many[..many.len() - 1];
        assert_eq!(peek_video(cut).unwrap().tracks(cut).count(), 1);
        // Audio: Multitrack OneTrack Opus track 1, CodedFrames.
        let a = [0x95, 0x01, b'O', b'p', b'u', b's', 1, 5];
        let k = peek_audio(&a).unwrap();
        assert_eq!((k.packet_type, k.first_track(&a).unwrap().track_id), (1, 1));
    }

    #[test]
    fn mod_ex_then_packet_type() {
        // ModEx (size 3, TimestampOffsetNano), then CodedFramesX.
        let p = [0x97, 2, 0, 0, 1, 0x03, b'a', b'v', b'0', b'1', 4];
        let k = peek_video(&p).unwrap();
        assert_eq!((k.frame_type, k.packet_type), (1, 3));
        assert_eq!(k.first_track(&p).unwrap().body, 10..11);
        // A ModEx entry cut short.
        assert!(peek_video(&p[..4]).is_none());
    }
}
