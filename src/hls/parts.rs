//! Low-Latency HLS (RFC 8216bis): partial segments, where they are cut, and the tags that
//! list them.
//!
//! # Rules
//!
//! - A part is cut before a frame of the segment's governing track (video, else audio) once
//!   that frame would end past the part target: `dts + interval + jitter > start + target`,
//!   so a part of regular media never lasts longer than `#EXT-X-PART-INF:PART-TARGET`
//!   (media whose frames are further apart than the target cannot honour it: such a part
//!   lasts one frame). Segments are still cut by the segmenter (keyframes); a segment's last
//!   part ends with it.
//! - A part's duration is the distance between its start and the next part's start on the
//!   stream timeline (the first starts with its segment, the last ends with it), so the
//!   parts of a segment add up to its `#EXTINF` exactly. Its bytes are everything the muxer
//!   produced between those two cuts, so the parts of a segment concatenated are its file.
//! - `INDEPENDENT=YES` exactly where a part starts with a video keyframe (or has no video).
//! - Parts are listed for the segments of the last three target durations and for the
//!   segment being written; older ones leave the playlist and their files are deleted.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use super::duration::{format_duration, parse_duration_ms};

/// Slack for timestamp jitter when predicting where the next frame ends, ms.
const JITTER_MS: u64 = 4;
/// Parts are listed for the segments within this many target durations of the live edge.
pub const PART_WINDOW_TARGETS: u64 = 3;
/// `PART-HOLD-BACK` in part targets (RFC 8216bis: at least three is recommended).
const HOLD_BACK_PARTS: u64 = 3;
/// `CAN-SKIP-UNTIL` in target durations (RFC 8216bis: at least six).
const SKIP_TARGETS: u64 = 6;

/// One listed partial segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub duration_ms: u64,
    /// Starts with a video keyframe (or has no video).
    pub independent: bool,
    pub uri: String,
}

/// The segment being written, as far as its parts go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenParts {
    pub discontinuity: bool,
    pub program_date_time_ms: Option<u64>,
    /// `#EXT-X-MAP` of its parts (fMP4).
    pub map: Option<String>,
    pub parts: Vec<PartEntry>,
}

/// Where another rendition of the same master playlist stands (`#EXT-X-RENDITION-REPORT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// Its media playlist, relative to this one.
    pub uri: String,
    /// Media sequence number of its last listed segment or of the segment its last part
    /// belongs to.
    pub last_msn: u64,
    /// Index of its last listed part in `last_msn`.
    pub last_part: u64,
}

/// The Low-Latency side of a media playlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LowLatency {
    /// `#EXT-X-PART-INF:PART-TARGET`, ms.
    pub part_target_ms: u64,
    /// The segment being written; `None` between segments and at the end.
    pub open: Option<OpenParts>,
    /// `#EXT-X-PRELOAD-HINT`: the URI of the part that appears next.
    pub preload_hint: Option<String>,
    pub reports: Vec<RenditionReport>,
}

/// `#EXT-X-SERVER-CONTROL` and `#EXT-X-PART-INF` (after the media sequence tags).
pub(crate) fn render_header(s: &mut String, ll: &LowLatency, target_s: u64) {
    let _ = writeln!(
        s,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},CAN-SKIP-UNTIL={}",
        format_duration(HOLD_BACK_PARTS * ll.part_target_ms),
        format_duration(SKIP_TARGETS * target_s * 1000)
    );
    let _ = writeln!(
        s,
        "#EXT-X-PART-INF:PART-TARGET={}",
        format_duration(ll.part_target_ms)
    );
}

/// `#EXT-X-PART` lines.
pub(crate) fn render_parts(s: &mut String, parts: &[PartEntry]) {
    for p in parts {
        let _ = write!(
            s,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            format_duration(p.duration_ms),
            p.uri
        );
        s.push_str(if p.independent {
            ",INDEPENDENT=YES\n"
        } else {
            "\n"
        });
    }
}

/// The hint and the rendition reports (the end of the playlist).
pub(crate) fn render_trailer(s: &mut String, ll: &LowLatency) {
    if let Some(uri) = &ll.preload_hint {
        let _ = writeln!(s, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{uri}\"");
    }
    for r in &ll.reports {
        let _ = writeln!(
            s,
            "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={},LAST-PART={}",
            r.uri, r.last_msn, r.last_part
        );
    }
}

/// Parses the attributes of an `#EXT-X-PART` line this module wrote.
pub(crate) fn parse_part(attrs: &str) -> Option<PartEntry> {
    // The URI is quoted and may hold commas: it is cut out before the other attributes.
    let (head, rest) = attrs.split_once("URI=\"")?;
    let (uri, tail) = rest.split_once('"')?;
    let mut duration = None;
    let mut independent = false;
    for attr in head.split(',').chain(tail.split(',')) {
        if let Some(v) = attr.strip_prefix("DURATION=") {
            duration = parse_duration_ms(v);
        } else if attr == "INDEPENDENT=YES" {
            independent = true;
        }
    }
    Some(PartEntry {
        duration_ms: duration?,
        independent,
        uri: uri.to_owned(),
    })
}

/// Where the open part started and what it holds so far.
#[derive(Debug)]
pub(crate) struct PartCutter {
    target_ms: u64,
    /// Start of the open part on the stream timeline, ms.
    pub start_ms: u64,
    /// The open part starts with a keyframe (or has no video).
    pub independent: bool,
    /// Output of the open part, as the muxer handed it out (shared, not copied).
    chunks: Vec<Bytes>,
    len: usize,
}

impl PartCutter {
    pub fn new(target_ms: u64) -> Self {
        Self {
            target_ms,
            start_ms: 0,
            independent: true,
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// A part opens at `start_ms`.
    pub fn begin(&mut self, start_ms: u64, independent: bool) {
        self.start_ms = start_ms;
        self.independent = independent;
        self.chunks.clear();
        self.len = 0;
    }

    /// Output of the open part.
    pub fn record(&mut self, data: &Bytes) {
        self.len += data.len();
        self.chunks.push(data.clone());
    }

    /// Whether the part ends before a frame of the governing track at `dts` expected to last
    /// `interval_ms`.
    pub fn due(&self, dts: u64, interval_ms: u64) -> bool {
        dts > self.start_ms
            && dts + interval_ms + JITTER_MS.min(interval_ms / 2) > self.start_ms + self.target_ms
    }

    /// The bytes of the open part, in one buffer (one copy per part); the part is empty
    /// afterwards.
    pub fn take_bytes(&mut self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len);
        for c in self.chunks.drain(..) {
            out.extend_from_slice(&c);
        }
        self.len = 0;
        out.freeze()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parts_end_before_the_frame_that_would_overrun_the_target() {
        let mut c = PartCutter::new(330);
        c.begin(0, true);
        // 30 fps with millisecond timestamps: 0, 33, 67, 100, ...
        let frames: Vec<u64> = (0..40).map(|i| i * 1000 / 30).collect();
        let mut cuts = Vec::new();
        for w in frames.windows(2) {
            let (dts, interval) = (w[1], w[1] - w[0]);
            if c.due(dts, interval) {
                cuts.push(dts);
                c.begin(dts, false);
            }
        }
        assert_eq!(cuts, vec![300, 600, 900, 1200]);
        // 25 fps fits eight frames (320 ms) in 330.
        let mut c = PartCutter::new(330);
        c.begin(0, true);
        assert!(!c.due(280, 40));
        assert!(c.due(320, 40));
        // A frame at the part start never cuts, whatever its interval.
        assert!(!c.due(0, 2000));
    }

    #[test]
    fn bytes_of_a_part_are_its_chunks_in_order() {
        let mut c = PartCutter::new(500);
        c.begin(10, true);
        c.record(&Bytes::from_static(b"ab"));
        c.record(&Bytes::from_static(b"cde"));
        assert_eq!(&c.take_bytes()[..], b"abcde");
        assert!(c.take_bytes().is_empty());
    }

    #[test]
    fn header_parts_and_trailer_render() {
        let ll = LowLatency {
            part_target_ms: 330,
            open: None,
            preload_hint: Some("cam-3.2.ts".into()),
            reports: vec![RenditionReport {
                uri: "cam_t1.m3u8".into(),
                last_msn: 3,
                last_part: 1,
            }],
        };
        let mut s = String::new();
        render_header(&mut s, &ll, 4);
        render_parts(
            &mut s,
            &[
                PartEntry {
                    duration_ms: 300,
                    independent: true,
                    uri: "cam-3.0.ts".into(),
                },
                PartEntry {
                    duration_ms: 301,
                    independent: false,
                    uri: "cam-3.1.ts".into(),
                },
            ],
        );
        render_trailer(&mut s, &ll);
        assert_eq!(
            s,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.990,CAN-SKIP-UNTIL=24.000\n\
             #EXT-X-PART-INF:PART-TARGET=0.330\n\
             #EXT-X-PART:DURATION=0.300,URI=\"cam-3.0.ts\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.301,URI=\"cam-3.1.ts\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam-3.2.ts\"\n\
             #EXT-X-RENDITION-REPORT:URI=\"cam_t1.m3u8\",LAST-MSN=3,LAST-PART=1\n"
        );
        assert_eq!(
            parse_part("DURATION=0.301,URI=\"cam-3.1.ts\",INDEPENDENT=YES"),
            Some(PartEntry {
                duration_ms: 301,
                independent: true,
                uri: "cam-3.1.ts".into()
            })
        );
        assert_eq!(parse_part("URI=\"x\""), None);
        assert_eq!(
            parse_part("DURATION=0.2,URI=\"http://h/a,b/c-1.0.ts\"").map(|p| p.uri),
            Some("http://h/a,b/c-1.0.ts".to_owned())
        );
    }
}
