//! `record_append`: what the shell found in the file a recording continues, and what the
//! recorder makes of it. The shell reads a few bytes of the file ([`Existing`]); the core
//! parses them: a file that is not FLV is not continued, a file that is gets new tags after
//! its last timestamp, and a file that starts with our `onMetaData` gets it rewritten at the
//! end with the index of both parts. Everything read here comes from a file on disk that
//! anyone may have written: nothing in it can make the parse panic.

use bytes::Bytes;

use super::meta::FileFacts;
use crate::amf0::{decode_all, Value};
use crate::media::flv_stream::{HEADER_LEN, TAG_HEADER_LEN};
use crate::rtmp::message::types;

/// Bytes of the file's head the shell reads for [`Existing::head`]: the FLV header and the
/// largest `onMetaData` tag a recorder reserves, with room to spare.
pub const RESUME_HEAD_BYTES: usize = 2 << 20;

/// What the shell found when it took over an existing file for `record_append`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// The file's length in bytes.
    pub len: u64,
    /// Its first `min(len, RESUME_HEAD_BYTES)` bytes.
    pub head: Bytes,
    /// The offset the file's last 4 bytes point at ([`last_tag_offset`]) and the 11 bytes of
    /// the file there; `None` when `last_tag_offset` answered `None` or the read failed.
    pub last_tag: Option<(u64, [u8; 11])>,
}

/// Where the last tag of an FLV file of `len` bytes starts, from the file's last four bytes
/// (its last PreviousTagSize): `None` when they cannot point at a tag.
pub fn last_tag_offset(len: u64, trailer: [u8; 4]) -> Option<u64> {
    let size = u64::from(u32::from_be_bytes(trailer));
    let first = HEADER_LEN as u64 + 4;
    if size < TAG_HEADER_LEN as u64 {
        return None;
    }
    let at = len.checked_sub(4)?.checked_sub(size)?;
    (at >= first).then_some(at)
}

/// Our `onMetaData` in the existing file: its body length (the tag is rewritten at that
/// size) and what it says.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OurMeta {
    pub body_len: usize,
    pub facts: FileFacts,
}

/// How a recording continues an existing FLV file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Continuation {
    /// Bytes already in the file: new tags start there.
    pub len: u64,
    /// The first timestamp the new tags may take.
    pub next_ts: u32,
    /// The file's audio / video flags in its header.
    pub has_audio: bool,
    pub has_video: bool,
    pub meta: Option<OurMeta>,
}

fn u24(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c, ..] => Some(u32::from_be_bytes([0, *a, *b, *c])),
        _ => None,
    }
}

/// The continuation of `e`, or `None` when it is not an FLV file this recorder can append
/// to (no FLV header, or a last tag that does not end the file).
pub(super) fn continuation(e: &Existing) -> Option<Continuation> {
    let head = e.head.as_ref();
    let first = HEADER_LEN as u64 + 4;
    if head.get(..3)? != b"FLV" || e.len < first {
        return None;
    }
    let flags = *head.get(4)?;
    let data_offset = u32::from_be_bytes(head.get(5..9)?.try_into().ok()?);
    if data_offset != HEADER_LEN as u32 {
        return None;
    }
    let last_ts = if e.len == first {
        None
    } else {
        let (at, tag) = e.last_tag?;
        let kind = tag[0] & 0x1f;
        let size = u64::from(u24(&tag[1..4])?);
        if !matches!(kind, types::AUDIO | types::VIDEO | types::DATA_AMF0)
            || at + TAG_HEADER_LEN as u64 + size + 4 != e.len
        {
            return None;
        }
        Some(u24(&tag[4..7])? | u32::from(tag[7]) << 24)
    };
    let meta = our_meta(head, e.len);
    let end_ms = meta
        .as_ref()
        .map_or(0, |m| (m.facts.duration * 1000.0).round() as u32);
    let next_ts = last_ts.map_or(0, |t| t.saturating_add(1)).max(end_ms);
    Some(Continuation {
        len: e.len,
        next_ts,
        has_audio: flags & 4 != 0,
        has_video: flags & 1 != 0,
        meta,
    })
}

fn finite(v: &Value, max: f64) -> Option<f64> {
    v.as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= max)
}

fn numbers(v: Option<&Value>, max: f64) -> Option<Vec<f64>> {
    v?.as_array()?.iter().map(|n| finite(n, max)).collect()
}

/// The file's first tag when it is the `onMetaData` this recorder writes: a script tag with
/// the properties and the `padding` of [`super::meta`], a keyframe index of equal lengths
/// pointing inside the file.
fn our_meta(head: &[u8], len: u64) -> Option<OurMeta> {
    let at = HEADER_LEN + 4;
    let tag = head.get(at..at + TAG_HEADER_LEN)?;
    if tag.first()? & 0x1f != types::DATA_AMF0 {
        return None;
    }
    let body_len = u24(tag.get(1..4)?)? as usize;
    let start = at + TAG_HEADER_LEN;
    let body = head.get(start..start.checked_add(body_len)?)?;
    let values = decode_all(body, 4).ok()?;
    let [name, props] = values.as_slice() else {
        return None;
    };
    if name.as_str() != Some("onMetaData") || !matches!(props, Value::EcmaArray(_)) {
        return None;
    }
    props.object_get("padding")?.as_array()?;
    let kf = props.object_get("keyframes")?;
    let times = numbers(kf.object_get("times"), f64::from(u32::MAX) / 1000.0)?;
    let filepositions = numbers(kf.object_get("filepositions"), len as f64)?;
    if times.len() != filepositions.len() {
        return None;
    }
    let num = |k: &str| props.object_get(k).and_then(|v| finite(v, f64::MAX));
    let flag = |k: &str| props.object_get(k).and_then(Value::as_bool);
    let facts = FileFacts {
        has_video: flag("hasVideo")?,
        has_audio: flag("hasAudio")?,
        duration: num("duration").filter(|d| *d <= f64::from(u32::MAX) / 1000.0)?,
        filesize: num("filesize")?,
        width: num("width").unwrap_or(0.0),
        height: num("height").unwrap_or(0.0),
        framerate: num("framerate").unwrap_or(0.0),
        videocodecid: num("videocodecid").unwrap_or(0.0),
        audiocodecid: num("audiocodecid").unwrap_or(0.0),
        videodatarate: num("videodatarate").unwrap_or(0.0),
        audiodatarate: num("audiodatarate").unwrap_or(0.0),
        audiosamplerate: num("audiosamplerate").unwrap_or(0.0),
        stereo: flag("stereo").unwrap_or(false),
        times,
        filepositions,
    };
    // Rewritable in place: the same layout fits the tag's body.
    super::meta::tag(&facts, body_len)?;
    Some(OurMeta { body_len, facts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FlvWriter;
    use crate::record::meta;

    fn file(with_meta: bool) -> (Vec<u8>, FileFacts, usize) {
        let facts = FileFacts {
            has_video: true,
            has_audio: true,
            duration: 5.04,
            filesize: 0.0,
            width: 320.0,
            times: vec![0.0, 2.0, 4.0],
            filepositions: vec![13.0, 100.0, 200.0],
            ..FileFacts::default()
        };
        let body_len = meta::reserved_body_len(&facts, 8);
        let mut f = FlvWriter::header(true, true).to_vec();
        if with_meta {
            f.extend_from_slice(&meta::tag(&facts, body_len).unwrap());
        }
        f.extend_from_slice(&FlvWriter::tag(9, 0, &[0x17, 1, 0, 0, 0]).unwrap());
        f.extend_from_slice(&FlvWriter::tag(8, 5000, &[0xaf, 1, 2]).unwrap());
        (f, facts, body_len)
    }

    fn existing(f: &[u8]) -> Existing {
        let len = f.len() as u64;
        let trailer = f
            .get(f.len().saturating_sub(4)..)
            .and_then(|t| t.try_into().ok())
            .unwrap_or([0; 4]);
        let last_tag = last_tag_offset(len, trailer).map(|at| {
            let at_us = at as usize;
            (at, f[at_us..at_us + 11].try_into().unwrap())
        });
        Existing {
            len,
            head: Bytes::copy_from_slice(&f[..f.len().min(RESUME_HEAD_BYTES)]),
            last_tag,
        }
    }

    #[test]
    fn continues_after_the_last_tag_and_reads_our_metadata() {
        let (f, facts, body_len) = file(true);
        let c = continuation(&existing(&f)).unwrap();
        assert_eq!(c.len, f.len() as u64);
        // The metadata's duration (5.04 s) is past the last tag (5.000 s).
        assert_eq!(c.next_ts, 5040);
        assert!(c.has_audio && c.has_video);
        let m = c.meta.unwrap();
        assert_eq!(m.body_len, body_len);
        assert_eq!(m.facts.times, facts.times);
        assert_eq!(m.facts.filepositions, facts.filepositions);
        assert_eq!(m.facts.width, 320.0);

        let (f, _, _) = file(false);
        let c = continuation(&existing(&f)).unwrap();
        assert_eq!(c.next_ts, 5001);
        assert!(c.meta.is_none(), "a file without our metadata");
    }

    #[test]
    fn a_bare_header_continues_at_zero() {
        let f = FlvWriter::header(true, false).to_vec();
        let c = continuation(&existing(&f)).unwrap();
        assert_eq!((c.next_ts, c.has_audio, c.has_video), (0, true, false));
    }

    #[test]
    fn hostile_files_never_panic() {
        let (f, _, _) = file(true);
        // Not FLV, truncated, a trailer pointing anywhere: not continued, no panic.
        assert!(continuation(&existing(b"not an flv file at all")).is_none());
        let mut cut = f.clone();
        cut.truncate(f.len() - 3);
        assert!(continuation(&existing(&cut)).is_none());
        assert_eq!(last_tag_offset(20, [0xff; 4]), None);
        assert_eq!(last_tag_offset(3, [0, 0, 0, 11]), None);
        // Every corruption of every byte of the head: no panic, and a metadata that is no
        // longer ours is ignored rather than trusted with wrong sizes.
        for i in 0..f.len().min(400) {
            for v in [0u8, 0xff, 0x7f, 0x02, 0x08, 0x0a] {
                let mut g = f.clone();
                g[i] = v;
                let _ = continuation(&existing(&g));
                let _ = continuation(&existing(&g[..i]));
            }
        }
        // A metadata whose index points past the file is not ours.
        let mut facts = FileFacts {
            has_video: true,
            filepositions: vec![1e12],
            times: vec![0.0],
            ..FileFacts::default()
        };
        let body_len = meta::reserved_body_len(&facts, 2);
        let mut g = FlvWriter::header(false, true).to_vec();
        g.extend_from_slice(&meta::tag(&facts, body_len).unwrap());
        assert!(continuation(&existing(&g)).unwrap().meta.is_none());
        facts.filepositions = vec![13.0];
        g.truncate(13);
        g.extend_from_slice(&meta::tag(&facts, body_len).unwrap());
        assert!(continuation(&existing(&g)).unwrap().meta.is_some());
    }
}
