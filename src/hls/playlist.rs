//! Media playlist model, rendering (RFC 8216) and parsing back of our own
//! playlists (for `hls_continuous` resume).

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::config::PlaylistKind;
pub use super::duration::format_duration;
use super::duration::parse_duration_ms;
use super::parts::{self, LowLatency, PartEntry};
use crate::files::{date_time, parse_date_time};

/// One listed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// Media sequence number.
    pub sequence: u64,
    /// Id used in the file name (see `Naming`).
    pub id: u64,
    /// True media duration in ms.
    pub duration_ms: u64,
    /// `#EXT-X-DISCONTINUITY` before this segment.
    pub discontinuity: bool,
    /// Starts with an IDR (or has no video): decodable without the segments before it.
    /// A playlist says `#EXT-X-INDEPENDENT-SEGMENTS` only while every listed one is.
    pub independent: bool,
    /// URI as listed (base URL included).
    pub uri: String,
    /// URI of the initialization segment (`#EXT-X-MAP`) of an fMP4 segment; `None` for
    /// MPEG-TS.
    pub map: Option<String>,
    /// `#EXT-X-PROGRAM-DATE-TIME` (Unix ms) of its first frame.
    pub program_date_time_ms: Option<u64>,
    /// Its parts, while it is recent enough to list them (Low-Latency HLS).
    pub parts: Vec<PartEntry>,
}

/// A media playlist: everything rendering needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playlist {
    pub kind: PlaylistKind,
    /// `#EXT-X-TARGETDURATION`, seconds; fixed for the life of the playlist.
    pub target_duration_s: u64,
    /// Sequence number of the first entry (or of the next one if empty).
    pub media_sequence: u64,
    /// Number of `#EXT-X-DISCONTINUITY` tags that scrolled out.
    pub discontinuity_sequence: u64,
    pub entries: VecDeque<SegmentEntry>,
    /// `#EXT-X-ENDLIST`.
    pub ended: bool,
    /// The Low-Latency HLS tags, with `hls_low_latency`.
    pub low_latency: Option<LowLatency>,
}

/// The lowest `#EXT-X-VERSION` the playlist's features need (RFC 8216 7): 3 for decimal
/// EXTINF, 6 for `#EXT-X-MAP` in a playlist that is not I-frames only.
pub fn version(p: &Playlist) -> u8 {
    if p.entries.iter().any(|e| e.map.is_some()) {
        6
    } else {
        3
    }
}

/// Renders the playlist text: a pure function of the model.
pub fn render(p: &Playlist) -> String {
    let mut s = String::with_capacity(160 + p.entries.len() * 48);
    let _ = write!(s, "#EXTM3U\n#EXT-X-VERSION:{}\n", version(p));
    if p.kind == PlaylistKind::Event {
        s.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n");
    }
    if p.entries.iter().all(|e| e.independent) {
        s.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let _ = writeln!(s, "#EXT-X-TARGETDURATION:{}", p.target_duration_s);
    let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{}", p.media_sequence);
    if p.discontinuity_sequence > 0 {
        let _ = writeln!(
            s,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            p.discontinuity_sequence
        );
    }
    if let Some(ll) = &p.low_latency {
        parts::render_header(&mut s, ll, p.target_duration_s);
    }
    let mut map: Option<&str> = None;
    for e in &p.entries {
        segment_head(
            &mut s,
            &mut map,
            e.discontinuity,
            e.map.as_deref(),
            e.program_date_time_ms,
        );
        if p.low_latency.is_some() {
            parts::render_parts(&mut s, &e.parts);
        }
        let _ = writeln!(s, "#EXTINF:{},", format_duration(e.duration_ms));
        s.push_str(&e.uri);
        s.push('\n');
    }
    if let Some(ll) = &p.low_latency {
        if let Some(open) = ll.open.as_ref().filter(|o| !o.parts.is_empty()) {
            let pdt = open.program_date_time_ms;
            segment_head(
                &mut s,
                &mut map,
                open.discontinuity,
                open.map.as_deref(),
                pdt,
            );
            parts::render_parts(&mut s, &open.parts);
        }
    }
    if p.ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    if let Some(ll) = &p.low_latency {
        parts::render_trailer(&mut s, ll);
    }
    s
}

/// The tags before a segment (or the parts of the open one): discontinuity, map, date.
fn segment_head<'a>(
    s: &mut String,
    map: &mut Option<&'a str>,
    discontinuity: bool,
    uri: Option<&'a str>,
    program_date_time_ms: Option<u64>,
) {
    if discontinuity {
        s.push_str("#EXT-X-DISCONTINUITY\n");
    }
    // The map applies until the next one; it is repeated after a discontinuity so that
    // every section names its own.
    if let Some(uri) = uri {
        if discontinuity || *map != Some(uri) {
            let _ = writeln!(s, "#EXT-X-MAP:URI=\"{uri}\"");
        }
    }
    *map = uri;
    if let Some(t) = program_date_time_ms {
        let _ = writeln!(s, "#EXT-X-PROGRAM-DATE-TIME:{}", date_time(t));
    }
}

/// Parses a playlist this module wrote (for resuming). Entries get `id` 0:
/// the caller derives ids from the URIs. Returns `None` on anything
/// unexpected.
pub fn parse(text: &str, kind: PlaylistKind) -> Option<Playlist> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next()? != "#EXTM3U" {
        return None;
    }
    let mut p = Playlist {
        kind,
        target_duration_s: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        entries: VecDeque::new(),
        ended: false,
        low_latency: None,
    };
    let mut discontinuity = false;
    let mut program_date_time_ms = None;
    let mut parts = Vec::new();
    let mut independent = false;
    let mut duration: Option<u64> = None;
    let mut map: Option<String> = None;
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_duration_s = v.parse().ok()?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().ok()?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().ok()?;
        } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
            independent = true;
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let v = v.split(',').next()?;
            duration = Some(parse_duration_ms(v)?);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            let uri = v.strip_prefix("URI=\"")?.split('"').next()?;
            map = Some(uri.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            program_date_time_ms = Some(parse_date_time(v)?);
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            parts.push(parts::parse_part(v)?);
        } else if line == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if line.starts_with('#') {
            continue;
        } else {
            let sequence = p.media_sequence + p.entries.len() as u64;
            p.entries.push_back(SegmentEntry {
                sequence,
                id: 0,
                duration_ms: duration.take()?,
                discontinuity: std::mem::take(&mut discontinuity),
                // Per segment we only know what the whole playlist said.
                independent,
                uri: line.to_owned(),
                map: map.clone(),
                program_date_time_ms: program_date_time_ms.take(),
                parts: std::mem::take(&mut parts),
            });
        }
    }
    if p.target_duration_s == 0 {
        return None;
    }
    Some(p)
}
