//! The Low-Latency side of an [`HlsStream`]: parts cut inside the open segment, written as
//! files of their own before the playlist that lists them, their window in the playlist,
//! the preload hint, and `#EXT-X-PROGRAM-DATE-TIME`.

use bytes::Bytes;

use super::{HlsStream, State};
use crate::files::{FileOp, Now};
use crate::hls::error::HlsError;
use crate::hls::parts::{OpenParts, PartEntry, PART_WINDOW_TARGETS};
use crate::hls::reports::RenditionBoard;
use crate::media::Track;

impl HlsStream {
    /// The wall clock of a segment starting at `start_ms` on the stream timeline: the first
    /// segment of a section takes the time its first frame arrived, and the section's later
    /// segments follow the stream timeline from there, so consecutive dates differ by the
    /// `#EXTINF` between them.
    pub(super) fn program_date_time(
        &mut self,
        start_ms: u64,
        new_section: bool,
        now: Now,
    ) -> Option<u64> {
        if !self.config.program_date_time {
            return None;
        }
        let offset = match self.pdt_offset {
            Some(o) if !new_section => o,
            _ => {
                let o = i128::from(now.unix_ms) - i128::from(start_ms);
                self.pdt_offset = Some(o);
                o
            }
        };
        u64::try_from(i128::from(start_ms) + offset).ok()
    }

    /// A segment opened at `start_ms`: its first part opens with it.
    pub(super) fn begin_parts(
        &mut self,
        start_ms: u64,
        independent: bool,
        discontinuity: bool,
        pdt: Option<u64>,
    ) {
        let Some(cutter) = self.cutter.as_mut() else {
            return;
        };
        cutter.begin(start_ms, independent);
        if let Some(ll) = self.playlist.low_latency.as_mut() {
            ll.open = Some(OpenParts {
                discontinuity,
                program_date_time_ms: pdt,
                map: self.map.clone(),
                parts: Vec::new(),
            });
        }
    }

    /// Output of the open part.
    pub(super) fn record_part_output(&mut self, data: &Bytes) {
        if let Some(cutter) = self.cutter.as_mut() {
            cutter.record(data);
        }
    }

    /// Before a frame goes into the open segment: ends the open part there when the frame,
    /// of the segment's governing track, would take it past the part target.
    pub(super) fn cut_part_before(
        &mut self,
        track: Track,
        dts: u64,
        keyframe: bool,
    ) -> Result<(), HlsError> {
        let (State::Open(open), Some(cutter)) = (&self.state, &self.cutter) else {
            return Ok(());
        };
        let governing = if open.tracks.video {
            Track::Video
        } else {
            Track::Audio
        };
        if track != governing || !cutter.due(dts, self.seg.interval(track)) {
            return Ok(());
        }
        let id = open.id;
        let ended = self.mux.end_part(dts);
        self.emit_output(true);
        if let Some(init) = ended? {
            self.write_init(id, init);
            if let Some(open) = self
                .playlist
                .low_latency
                .as_mut()
                .and_then(|ll| ll.open.as_mut())
            {
                open.map.clone_from(&self.map);
            }
        }
        self.write_part(id, dts);
        if let Some(cutter) = self.cutter.as_mut() {
            cutter.begin(dts, track == Track::Audio || keyframe);
        }
        self.playlist_due = true;
        self.mux.start_part()
    }

    /// Writes the open part of segment `id`, ending at `end_ms`, and lists it.
    fn write_part(&mut self, id: u64, end_ms: u64) {
        let Some(cutter) = self.cutter.as_mut() else {
            return;
        };
        let contents = cutter.take_bytes();
        let duration_ms = end_ms.saturating_sub(cutter.start_ms).max(1);
        let independent = cutter.independent;
        let index = self
            .playlist
            .low_latency
            .as_ref()
            .and_then(|ll| ll.open.as_ref())
            .map_or(0, |o| o.parts.len());
        let path = self.part_path(id, index);
        let uri = self.part_uri(id, index);
        self.ops.push_back(FileOp::WritePart { path, contents });
        if let Some(ll) = self.playlist.low_latency.as_mut() {
            ll.open
                .get_or_insert_with(OpenParts::default)
                .parts
                .push(PartEntry {
                    duration_ms,
                    independent,
                    uri,
                });
        }
    }

    /// The open segment `id` closed at `end_ms`: its last part is written, and its parts
    /// go with it into the playlist.
    pub(super) fn finish_parts(&mut self, id: u64, end_ms: u64) -> Vec<PartEntry> {
        if self.cutter.is_none() {
            return Vec::new();
        }
        self.write_part(id, end_ms);
        self.playlist
            .low_latency
            .as_mut()
            .and_then(|ll| ll.open.take())
            .map(|o| o.parts)
            .unwrap_or_default()
    }

    /// Parts leave the playlist once their segment is more than
    /// [`PART_WINDOW_TARGETS`] target durations from the live edge; their files go then.
    pub(super) fn trim_parts(&mut self, now: Now) {
        if self.cutter.is_none() {
            return;
        }
        let window = PART_WINDOW_TARGETS * self.seg.target_s.unwrap_or(0) * 1000;
        let mut after = 0;
        let mut gone = Vec::new();
        for e in self.playlist.entries.iter_mut().rev() {
            if after >= window && !e.parts.is_empty() {
                gone.push((e.id, e.parts.len()));
                e.parts = Vec::new();
            }
            after += e.duration_ms;
        }
        let deadline = self.delete_deadline(now);
        for (id, count) in gone {
            self.delete_parts(id, count, deadline);
        }
    }

    /// Schedules the deletion of the `count` part files of segment `id`.
    pub(super) fn delete_parts(&mut self, id: u64, count: usize, not_before_ms: u64) {
        for i in 0..count {
            let path = self.part_path(id, i);
            self.ops.push_back(FileOp::Delete {
                path,
                not_before_ms,
            });
        }
    }

    /// Makes this stream one of the renditions on `board`: its playlist reports on the others
    /// (Low-Latency HLS).
    pub fn report_to(&mut self, board: RenditionBoard) {
        self.board = Some(board);
    }

    /// Before a playlist write: posts where this rendition stands and takes the others'.
    fn update_reports(&mut self) {
        let (Some(board), Some(ll)) = (&self.board, self.playlist.low_latency.as_ref()) else {
            return;
        };
        let p = &self.playlist;
        let open = ll.open.as_ref().filter(|o| !o.parts.is_empty());
        let last = match (open, p.entries.back()) {
            // An ended rendition leaves the others' reports.
            _ if p.ended => None,
            (Some(o), _) => Some((
                p.media_sequence + p.entries.len() as u64,
                o.parts.len() as u64 - 1,
            )),
            (None, Some(e)) => Some((e.sequence, e.parts.len().saturating_sub(1) as u64)),
            (None, None) => None,
        };
        board.post(&self.name, last);
        let Some(ll) = self.playlist.low_latency.as_mut() else {
            return;
        };
        board.reports_for(&self.name, self.config.nested, &mut ll.reports);
    }

    /// Sets the preload hint to the part that appears next: the next one of the open segment
    /// (none between segments and at the end), and the rendition reports.
    pub(super) fn update_hint(&mut self) {
        self.update_reports();
        let next = match (&self.state, &self.playlist.low_latency) {
            (State::Open(open), Some(ll)) if !self.playlist.ended => {
                let index = ll.open.as_ref().map_or(0, |o| o.parts.len());
                Some(self.part_uri(open.id, index))
            }
            _ => None,
        };
        if let Some(ll) = self.playlist.low_latency.as_mut() {
            ll.preload_hint = next;
        }
    }
}
