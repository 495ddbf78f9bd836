//! What a recorded FLV file holds, as the recording tests check it: its `onMetaData`, the
//! keyframe index's targets, how it starts, and ffprobe's duration.

use std::path::Path;
use std::process::Command;

use ngx_rtmp::amf0::{decode_all, Value};

use super::flv::{tags, Tag};

pub fn ffprobe_duration(file: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe failed on {}", file.display());
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The file's `onMetaData` properties (the first tag must be it).
pub fn metadata(data: &[u8]) -> Value {
    let first = &tags(data)[0];
    assert_eq!(first.type_id, 18, "the first tag is script data");
    let v = decode_all(&first.body, 8).unwrap();
    assert_eq!(v[0].as_str(), Some("onMetaData"));
    v[1].clone()
}

pub fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap())
        .collect()
}

/// The tag that starts at byte `pos` of the file.
pub fn tag_at(data: &[u8], pos: usize) -> Tag {
    tags(
        &data[..9]
            .iter()
            .chain(&[0u8; 4])
            .copied()
            .chain(data[pos..].iter().copied())
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .next()
    .unwrap()
}

/// Header tags, then a keyframe: script data, AVC header, AAC header, the first video a
/// picture keyframe.
pub fn assert_starts_well(data: &[u8]) {
    let t = tags(data);
    assert_eq!(t[0].type_id, 18);
    assert_eq!((t[1].type_id, t[1].body[0], t[1].body[1]), (9, 0x17, 0));
    assert_eq!((t[2].type_id, t[2].body[0], t[2].body[1]), (8, 0xaf, 0));
    let first_video = t[3..].iter().find(|t| t.video()).unwrap();
    assert_eq!(
        (first_video.body[0], first_video.body[1]),
        (0x17, 1),
        "starts with a keyframe"
    );
    assert_eq!(first_video.ts, 0, "the file starts at 0");
}
