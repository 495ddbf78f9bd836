//! The FLV file the publishers replay.

use std::path::PathBuf;

use bytes::Bytes;

#[derive(Clone)]
pub(crate) struct Tag {
    pub(crate) type_id: u8,
    pub(crate) ts: u32,
    pub(crate) body: Bytes,
    pub(crate) keyframe: bool,
}

pub(crate) struct Flv {
    pub(crate) metadata: Option<Bytes>,
    /// Sequence headers (sent first, and again at each loop they are in the tags too).
    pub(crate) tags: Vec<Tag>,
    /// Duration of one pass, for looping with continuous timestamps.
    pub(crate) loop_ms: u32,
}

pub(crate) fn be24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

pub(crate) fn read_flv(path: &PathBuf) -> Result<Flv, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err(format!("{}: not an FLV file", path.display()));
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    let mut metadata = None;
    let data = Bytes::from(data);
    while pos + 11 <= data.len() {
        let type_id = data[pos] & 0x1f;
        let len = be24(&data[pos + 1..]) as usize;
        let ts = be24(&data[pos + 4..]) | (u32::from(data[pos + 7]) << 24);
        let start = pos + 11;
        if start + len > data.len() {
            break;
        }
        let body = data.slice(start..start + len);
        pos = start + len + 4;
        match type_id {
            8 | 9 if !body.is_empty() => {
                let keyframe = type_id == 9 && body[0] >> 4 == 1 && body.get(1) == Some(&1);
                tags.push(Tag {
                    type_id,
                    ts,
                    body,
                    keyframe,
                });
            }
            18 if metadata.is_none() => metadata = Some(body),
            _ => {}
        }
    }
    if tags.is_empty() {
        return Err(format!("{}: no audio/video tags", path.display()));
    }
    let first = tags.first().map_or(0, |t| t.ts);
    let last = tags.last().map_or(0, |t| t.ts);
    for t in &mut tags {
        t.ts -= first;
    }
    // One video frame interval after the last tag (estimated from the first two video tags).
    let mut v = tags
        .iter()
        .filter(|t| t.type_id == 9 && t.body.get(1) == Some(&1));
    let frame = match (v.next(), v.next()) {
        (Some(a), Some(b)) if b.ts > a.ts => b.ts - a.ts,
        _ => 33,
    };
    Ok(Flv {
        metadata,
        tags,
        loop_ms: last - first + frame,
    })
}

pub(crate) fn is_sequence_header(t: &Tag) -> bool {
    t.body.get(1) == Some(&0) && (t.type_id == 9 || t.body[0] >> 4 == 10)
}
