//! The `onMetaData` script tag of a recording, at a size fixed when the file opens so it can
//! be rewritten in place when the file is finished.
//!
//! The tag holds the same properties, in the same order, from the first write to the last:
//! numbers are always nine bytes, so only the keyframe index grows. Its room is reserved for
//! [`RecordConfig::index_capacity`](super::RecordConfig::index_capacity) entries and a trailing
//! `padding` string takes up what the index does not use yet.

use bytes::{Bytes, BytesMut};

use crate::amf0::{encode, Value};
use crate::media::FlvWriter;
use crate::rtmp::message::types;

/// What the metadata says about a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileFacts {
    /// The file carries video / audio: decides which properties the tag has, so it is fixed
    /// when the file opens.
    pub has_video: bool,
    pub has_audio: bool,
    /// Seconds.
    pub duration: f64,
    pub filesize: f64,
    pub width: f64,
    pub height: f64,
    pub framerate: f64,
    pub videocodecid: f64,
    pub audiocodecid: f64,
    /// kbit/s.
    pub videodatarate: f64,
    pub audiodatarate: f64,
    pub audiosamplerate: f64,
    pub stereo: bool,
    /// Keyframe times (s) and the file offsets of their tags.
    pub times: Vec<f64>,
    pub filepositions: Vec<f64>,
}

fn num(k: &str, v: f64) -> (String, Value) {
    (k.to_string(), Value::Number(v))
}

fn body(f: &FileFacts, times: Vec<Value>, positions: Vec<Value>, pad: usize) -> BytesMut {
    let mut props = vec![num("duration", f.duration), num("filesize", f.filesize)];
    if f.has_video {
        props.extend([
            num("width", f.width),
            num("height", f.height),
            num("framerate", f.framerate),
            num("videocodecid", f.videocodecid),
            num("videodatarate", f.videodatarate),
        ]);
    }
    if f.has_audio {
        props.extend([
            num("audiocodecid", f.audiocodecid),
            num("audiodatarate", f.audiodatarate),
            num("audiosamplerate", f.audiosamplerate),
            ("stereo".to_string(), Value::Boolean(f.stereo)),
        ]);
    }
    props.extend([
        ("hasVideo".to_string(), Value::Boolean(f.has_video)),
        ("hasAudio".to_string(), Value::Boolean(f.has_audio)),
        ("hasMetadata".to_string(), Value::Boolean(true)),
        ("hasKeyframes".to_string(), Value::Boolean(f.has_video)),
        (
            "keyframes".to_string(),
            Value::Object(vec![
                ("times".to_string(), Value::StrictArray(times)),
                ("filepositions".to_string(), Value::StrictArray(positions)),
            ]),
        ),
        // One-byte nulls: FFmpeg's FLV reader refuses AMF0 long strings and strings over 255
        // bytes, and parses arrays of anything.
        (
            "padding".to_string(),
            Value::StrictArray(vec![Value::Null; pad]),
        ),
    ]);
    let mut out = BytesMut::new();
    encode(&Value::string("onMetaData"), &mut out);
    encode(&Value::EcmaArray(props), &mut out);
    out
}

/// The most index entries a tag has room for (about 1.2 MB of reserved metadata).
pub const MAX_INDEX_CAPACITY: usize = 1 << 16;

/// The body size of the tag for a file like `f` with `capacity` index entries (at most
/// [`MAX_INDEX_CAPACITY`]).
pub fn reserved_body_len(f: &FileFacts, capacity: usize) -> usize {
    let full = vec![Value::Number(0.0); capacity.min(MAX_INDEX_CAPACITY)];
    body(f, full.clone(), full, 0).len()
}

/// The whole script tag (header, body of exactly `body_len` bytes, trailing size), or `None`
/// when the facts need more than `body_len` (more index entries than reserved).
pub fn tag(f: &FileFacts, body_len: usize) -> Option<Bytes> {
    let times = f.times.iter().copied().map(Value::Number).collect();
    let positions = f.filepositions.iter().copied().map(Value::Number).collect();
    let bare = body(f, times, positions, 0);
    let pad = body_len.checked_sub(bare.len())?;
    let times = f.times.iter().copied().map(Value::Number).collect();
    let positions = f.filepositions.iter().copied().map(Value::Number).collect();
    let b = body(f, times, positions, pad);
    debug_assert_eq!(b.len(), body_len);
    FlvWriter::tag(types::DATA_AMF0, 0, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_len(body_len: usize) -> usize {
        TAG_HEADER_LEN + body_len + 4
    }
    use crate::amf0::decode_all;
    use crate::media::flv_stream::TAG_HEADER_LEN;

    #[test]
    fn fixed_size_whatever_the_index() {
        let mut f = FileFacts {
            has_video: true,
            has_audio: true,
            ..FileFacts::default()
        };
        let len = reserved_body_len(&f, 4);
        let empty = tag(&f, len).unwrap();
        f.times = vec![0.0, 2.0, 4.0, 6.0];
        f.filepositions = vec![100.0, 2000.0, 4000.0, 6000.0];
        f.duration = 7.5;
        let full = tag(&f, len).unwrap();
        assert_eq!(empty.len(), full.len());
        assert_eq!(empty.len(), tag_len(len));
        f.times.push(8.0);
        f.filepositions.push(8000.0);
        assert!(tag(&f, len).is_none());

        let body = &full[TAG_HEADER_LEN..full.len() - 4];
        let v = decode_all(body, 8).unwrap();
        assert_eq!(v[0].as_str(), Some("onMetaData"));
        assert_eq!(v[1].get_f64("duration"), Some(7.5));
        let kf = v[1].object_get("keyframes").unwrap();
        let pos = kf.object_get("filepositions").unwrap().as_array().unwrap();
        assert_eq!(pos.len(), 4);
        assert_eq!(pos[3].as_f64(), Some(6000.0));
    }

    #[test]
    fn audio_only_has_no_video_properties() {
        let f = FileFacts {
            has_audio: true,
            ..FileFacts::default()
        };
        let t = tag(&f, reserved_body_len(&f, 0)).unwrap();
        let v = decode_all(&t[TAG_HEADER_LEN..t.len() - 4], 8).unwrap();
        assert!(v[1].object_get("width").is_none());
        assert!(v[1].object_get("audiocodecid").is_some());
    }
}
