//! Renditions of one master playlist that tell each other where they stand, for
//! `#EXT-X-RENDITION-REPORT`. A [`RenditionBoard`] is where a rendition's
//! [`HlsStream`](super::HlsStream) learns, right before each write of its playlist, the
//! others' last segment and part:
//!
//! - renditions of one process (the tracks of a multitrack publish, the transcoded renditions
//!   of a source) share a board: each posts its `(LAST-MSN, LAST-PART)` when it writes its
//!   playlist and reads the others' from there;
//! - renditions that may live in other worker processes (`hls_variant` members, each its own
//!   publish) read each other's playlist as it is on disk: the board asks the shell's
//!   [`PeerProgress`] for each other member, which reads that playlist and hands its text to
//!   [`playlist_progress`]. A report is then what the other playlist said a moment before
//!   this one was written: never ahead of it, and behind by the parts it wrote since.
//!
//! A rendition that has not written a part yet, or has ended, is left out.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::parts::RenditionReport;
use crate::files::uri_escape;

#[derive(Debug)]
struct Slot {
    name: String,
    /// `(LAST-MSN, LAST-PART)` of its latest playlist, once it wrote one with parts.
    last: Option<(u64, u64)>,
}

/// Where the shell finds how far another rendition's playlist went (`hls_variant` members):
/// its `(LAST-MSN, LAST-PART)` as [`playlist_progress`] reads it, `None` when it has no
/// playlist with parts, ended, or stopped being rewritten (its worker died).
pub trait PeerProgress {
    fn last_of(&self, name: &str) -> Option<(u64, u64)>;
}

/// The members of a group whose progress is read through a [`PeerProgress`].
struct Peers {
    names: Vec<String>,
    source: Box<dyn PeerProgress>,
}

#[derive(Clone)]
enum Inner {
    Shared(Rc<RefCell<Vec<Slot>>>),
    Peers(Rc<Peers>),
}

/// The board of one master's renditions (a handle: clones share it). Single-threaded, as a
/// worker is; no borrow outlives a call.
#[derive(Clone)]
pub struct RenditionBoard(Inner);

impl Default for RenditionBoard {
    fn default() -> RenditionBoard {
        RenditionBoard(Inner::Shared(Rc::default()))
    }
}

impl fmt::Debug for RenditionBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Shared(slots) => f.debug_tuple("Shared").field(&slots.borrow()).finish(),
            Inner::Peers(p) => f.debug_tuple("Peers").field(&p.names).finish(),
        }
    }
}

impl RenditionBoard {
    /// A board the renditions of one process share.
    pub fn new() -> RenditionBoard {
        RenditionBoard::default()
    }

    /// A board of the members `names` (the reading rendition among them or not), each read
    /// from `source` whenever a member's playlist is written.
    pub fn of_peers(names: Vec<String>, source: Box<dyn PeerProgress>) -> RenditionBoard {
        RenditionBoard(Inner::Peers(Rc::new(Peers { names, source })))
    }

    /// Rendition `name` posts its latest `(LAST-MSN, LAST-PART)` (`None`: none, or it ended).
    /// Peers publish theirs in their playlists: nothing to post.
    pub fn post(&self, name: &str, last: Option<(u64, u64)>) {
        let Inner::Shared(slots) = &self.0 else {
            return;
        };
        let mut slots = slots.borrow_mut();
        match slots.iter_mut().find(|s| s.name == name) {
            Some(s) => s.last = last,
            None => slots.push(Slot {
                name: name.to_owned(),
                last,
            }),
        }
    }

    /// The reports on the other renditions for the playlist of `name`: their playlists
    /// relative to its own (`nested`: each in its own directory).
    pub fn reports_for(&self, name: &str, nested: bool, out: &mut Vec<RenditionReport>) {
        out.clear();
        let mut report = |other: &str, last: Option<(u64, u64)>| {
            if let Some((last_msn, last_part)) = last {
                out.push(RenditionReport {
                    uri: report_uri(other, nested),
                    last_msn,
                    last_part,
                });
            }
        };
        match &self.0 {
            Inner::Shared(slots) => {
                for s in slots.borrow().iter().filter(|s| s.name != name) {
                    report(&s.name, s.last);
                }
            }
            Inner::Peers(p) => {
                for other in p.names.iter().filter(|n| *n != name) {
                    report(other, p.source.last_of(other));
                }
            }
        }
    }
}

/// The playlist of rendition `other` relative to another rendition's playlist.
fn report_uri(other: &str, nested: bool) -> String {
    let other = uri_escape(other);
    if nested {
        format!("../{other}/index.m3u8")
    } else {
        format!("{other}.m3u8")
    }
}

/// How far a Low-Latency media playlist went, as its text says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaylistProgress {
    /// `(LAST-MSN, LAST-PART)`: the open segment's last part, else the last segment's.
    pub last: (u64, u64),
    /// `#EXT-X-TARGETDURATION`, s.
    pub target_s: u64,
}

impl PlaylistProgress {
    /// How long after its last write a playlist still counts as live (as a member's status
    /// does): three target durations and one second of scheduling slack.
    pub fn stale_after_ms(&self) -> u64 {
        self.target_s
            .saturating_mul(1000)
            .max(1000)
            .saturating_mul(3)
            .saturating_add(1000)
    }
}

/// Reads the progress of a media playlist this module wrote: `None` when it lists no part
/// (not Low-Latency, or no part yet), has ended (`#EXT-X-ENDLIST`), or is not one of ours.
/// One pass over the lines, no allocation: it runs for every other member at each playlist
/// write of a member.
pub fn playlist_progress(text: &str) -> Option<PlaylistProgress> {
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "#EXTM3U" {
        return None;
    }
    let (mut media_sequence, mut target_s) = (0u64, None);
    // Segments listed, parts since the last segment, parts of the last segment.
    let (mut segments, mut open_parts, mut last_parts) = (0u64, 0u64, 0u64);
    let mut any_part = false;
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            media_sequence = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target_s = Some(v.trim().parse().ok()?);
        } else if line.starts_with("#EXT-X-PART:") {
            open_parts += 1;
            any_part = true;
        } else if line.starts_with("#EXTINF:") {
            segments += 1;
            last_parts = std::mem::take(&mut open_parts);
        } else if line.starts_with("#EXT-X-ENDLIST") {
            return None;
        }
    }
    if !any_part {
        return None;
    }
    let last = if open_parts > 0 {
        (media_sequence.checked_add(segments)?, open_parts - 1)
    } else {
        (
            media_sequence.checked_add(segments)?.checked_sub(1)?,
            last_parts.saturating_sub(1),
        )
    };
    Some(PlaylistProgress {
        last,
        target_s: target_s?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::*;
    use crate::hls::config::PlaylistKind;
    use crate::hls::parts::{LowLatency, OpenParts, PartEntry};
    use crate::hls::playlist::{self, Playlist, SegmentEntry};

    #[test]
    fn each_rendition_hears_of_the_others() {
        let board = RenditionBoard::new();
        let other = board.clone();
        board.post("cam_t0", Some((4, 2)));
        other.post("cam_t1", None);
        let mut out = Vec::new();
        board.reports_for("cam_t1", false, &mut out);
        assert_eq!(
            out,
            vec![RenditionReport {
                uri: "cam_t0.m3u8".into(),
                last_msn: 4,
                last_part: 2
            }]
        );
        board.reports_for("cam_t0", false, &mut out);
        assert!(out.is_empty());
        other.post("cam_t1", Some((4, 1)));
        board.post("cam_t0", Some((5, 0)));
        board.reports_for("cam_t0", true, &mut out);
        assert_eq!(out[0].uri, "../cam_t1/index.m3u8");
        assert_eq!((out[0].last_msn, out[0].last_part), (4, 1));
        board.reports_for("cam_t1", true, &mut out);
        assert_eq!((out[0].last_msn, out[0].last_part), (5, 0));
        // An ended rendition posts nothing: it leaves the others' reports.
        board.post("cam_t0", None);
        board.reports_for("cam_t1", true, &mut out);
        assert!(out.is_empty());
    }

    struct Disk(HashMap<&'static str, (u64, u64)>);

    impl PeerProgress for Disk {
        fn last_of(&self, name: &str) -> Option<(u64, u64)> {
            self.0.get(name).copied()
        }
    }

    #[test]
    fn peers_are_read_from_their_source_and_never_posted() {
        let disk = Disk(HashMap::from([("cam_hi", (7, 3)), ("cam low", (7, 2))]));
        let names = vec![
            "cam low".to_owned(),
            "cam_hi".to_owned(),
            "cam_mid".to_owned(),
        ];
        let board = RenditionBoard::of_peers(names, Box::new(disk));
        // Posting is what a shared board does; peers publish through their playlists.
        board.post("cam_mid", Some((9, 9)));
        let mut out = Vec::new();
        board.reports_for("cam_hi", false, &mut out);
        assert_eq!(
            out,
            vec![RenditionReport {
                uri: "cam%20low.m3u8".into(),
                last_msn: 7,
                last_part: 2
            }]
        );
        board.reports_for("cam_mid", true, &mut out);
        let uris: Vec<_> = out.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["../cam%20low/index.m3u8", "../cam_hi/index.m3u8"]);
    }

    fn part(uri: &str) -> PartEntry {
        PartEntry {
            duration_ms: 330,
            independent: false,
            uri: uri.into(),
        }
    }

    fn entry(sequence: u64, parts: usize) -> SegmentEntry {
        SegmentEntry {
            sequence,
            id: sequence,
            duration_ms: 2000,
            discontinuity: false,
            independent: true,
            uri: format!("cam-{sequence}.ts"),
            map: None,
            program_date_time_ms: None,
            parts: (0..parts)
                .map(|i| part(&format!("cam-{sequence}.{i}.ts")))
                .collect(),
        }
    }

    fn playlist(entries: Vec<SegmentEntry>, open: Option<usize>) -> Playlist {
        Playlist {
            kind: PlaylistKind::Live,
            target_duration_s: 2,
            media_sequence: entries.first().map_or(0, |e| e.sequence),
            discontinuity_sequence: 0,
            entries: VecDeque::from(entries),
            ended: false,
            low_latency: Some(LowLatency {
                part_target_ms: 330,
                open: open.map(|n| OpenParts {
                    parts: (0..n).map(|i| part(&format!("cam-x.{i}.ts"))).collect(),
                    ..OpenParts::default()
                }),
                preload_hint: Some("cam-x.9.ts".into()),
                reports: vec![RenditionReport {
                    uri: "cam_hi.m3u8".into(),
                    last_msn: 1,
                    last_part: 1,
                }],
            }),
        }
    }

    #[test]
    fn progress_of_a_rendered_playlist() {
        let read = |p: &Playlist| playlist_progress(&playlist::render(p)).map(|p| p.last);
        // Parts of the open segment: it is the segment after the last listed.
        let p = playlist(vec![entry(5, 0), entry(6, 6), entry(7, 6)], Some(3));
        assert_eq!(read(&p), Some((8, 2)));
        assert_eq!(
            playlist_progress(&playlist::render(&p)).unwrap().target_s,
            2
        );
        // Between segments: the last segment's last part.
        let p = playlist(vec![entry(5, 0), entry(6, 6), entry(7, 5)], None);
        assert_eq!(read(&p), Some((7, 4)));
        let p = playlist(vec![entry(7, 5)], Some(0));
        assert_eq!(read(&p), Some((7, 4)));
        // The first part of the first segment.
        let p = playlist(Vec::new(), Some(1));
        assert_eq!(read(&p), Some((0, 0)));
        // No part yet, ended, not Low-Latency: no report.
        assert_eq!(read(&playlist(Vec::new(), Some(0))), None);
        let mut ended = playlist(vec![entry(6, 6), entry(7, 5)], None);
        ended.ended = true;
        assert_eq!(read(&ended), None);
        let mut plain = playlist(vec![entry(6, 0), entry(7, 0)], None);
        plain.low_latency = None;
        assert_eq!(read(&plain), None);
    }

    #[test]
    fn progress_of_foreign_text() {
        for bad in [
            "",
            "garbage",
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n#EXT-X-PART:URI=\"a\"\n",
            // No target duration.
            "#EXTM3U\n#EXT-X-PART:URI=\"a\"\n",
            // Numbers that overflow.
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n\
             #EXTINF:2,\na.ts\n#EXT-X-PART:URI=\"a\"\n",
        ] {
            assert_eq!(playlist_progress(bad), None, "{bad:?}");
        }
        let text = playlist::render(&playlist(vec![entry(6, 6), entry(7, 5)], Some(2)));
        for i in 0..text.len() {
            let _ = playlist_progress(&text[..i]);
        }
        let p = PlaylistProgress {
            last: (0, 0),
            target_s: 2,
        };
        assert_eq!(p.stale_after_ms(), 7000);
    }
}
