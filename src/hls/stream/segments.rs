//! The segment and playlist side of an [`HlsStream`]: opening and closing segments, the
//! sliding window and its deletions, the playlist rewrite, and the end of the stream.

use bytes::Bytes;

use super::{HlsStream, State};
use crate::files::{FileOp, Now, RelPath};
use crate::hls::config::PlaylistKind;
use crate::hls::error::HlsError;
use crate::hls::playlist::{self, SegmentEntry};
use crate::hls::schedule::Role;
use crate::hls::segmenter::OpenSegment;
use crate::hls::ts::Tracks;
use crate::hls::variant;

impl HlsStream {
    /// Opens a segment whose media starts at `start_ms` (decode time), opened by a frame
    /// presented `open_cts` after its decode time.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_segment(
        &mut self,
        start_ms: u64,
        open_cts: u64,
        tracks: Tracks,
        video_generation: u32,
        discontinuity: bool,
        independent: bool,
        now: Now,
    ) -> Result<(), HlsError> {
        // A move to fMP4 is a change of container: a discontinuity.
        let mut discontinuity = discontinuity;
        if self.codecs.switch_pending {
            self.switch_to_fmp4();
            discontinuity = true;
        }
        if self.grid {
            self.align_sequence(start_ms, discontinuity, now);
        }
        let id = self.next_id(start_ms, now);
        let path = self.segment_path(id);
        self.ops.push_back(FileOp::OpenSegment { path });
        self.mux
            .start_segment(tracks, discontinuity, self.codecs.hevc)?;
        let listed_discontinuity = discontinuity && self.has_history;
        let pdt = self.program_date_time(start_ms, discontinuity, now);
        self.begin_parts(start_ms, independent, listed_discontinuity, pdt);
        self.state = State::Open(OpenSegment {
            id,
            start_ms,
            open_cts,
            end_ms: start_ms,
            tracks,
            discontinuity: listed_discontinuity,
            independent,
            video_generation,
            regroup: false,
            program_date_time_ms: pdt,
        });
        Ok(())
    }

    /// Closes the open segment at `end_ms` and lists it. `clamp` limits the
    /// duration to the hard limit (media ends after a stall or at the end).
    pub(super) fn close_segment(
        &mut self,
        end_ms: u64,
        clamp: bool,
        now: Now,
    ) -> Result<(), HlsError> {
        let State::Open(open) = &self.state else {
            return Ok(());
        };
        let open = open.clone();
        self.state = State::Waiting {
            discontinuity: false,
        };
        let ended = self.mux.end_segment(end_ms);
        self.emit_output(true);
        self.ops.push_back(FileOp::CloseSegment {
            path: self.segment_path(open.id),
        });
        let flushed = match ended {
            Ok(Some(init)) => {
                self.write_init(open.id, init);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        let mut duration = end_ms.saturating_sub(open.start_ms).max(1);
        if clamp {
            duration = duration.min(self.seg.hard_limit_ms());
        }
        let parts = self.finish_parts(open.id, open.start_ms + duration);
        let target = *self.seg.target_s.get_or_insert_with(|| {
            crate::hls::segmenter::target_duration_for(self.config.fragment_ms, duration)
        });
        self.playlist.target_duration_s = target;
        if let Some(leader) = self.role.as_ref().and_then(Role::leader) {
            leader.publish_target(target);
        }
        if self.playlist.entries.is_empty() {
            self.playlist.media_sequence = self.next_sequence;
        }
        self.meter.close(self.next_sequence, duration);
        self.playlist.entries.push_back(SegmentEntry {
            sequence: self.next_sequence,
            id: open.id,
            duration_ms: duration,
            discontinuity: open.discontinuity,
            independent: open.independent,
            uri: self.segment_uri(open.id),
            map: self.map.clone(),
            program_date_time_ms: open.program_date_time_ms,
            parts,
        });
        self.next_sequence += 1;
        self.total_ms += duration;
        self.has_history = true;
        self.slide_window(now);
        self.trim_parts(now);
        self.write_playlist();
        self.write_status(false, now);
        flushed
    }

    /// Writes a new initialization segment, named after segment `id` (the first that needs
    /// it), before the playlist that names it; it is the map from now on.
    pub(super) fn write_init(&mut self, id: u64, init: Bytes) {
        self.ops.push_back(FileOp::WritePlaylist {
            path: self.init_path(id),
            contents: init,
        });
        self.map = Some(self.init_uri(id));
    }

    pub(super) fn delete_deadline(&self, now: Now) -> u64 {
        now.monotonic_ms + self.seg.target_s.unwrap_or(0) * 1000 + self.config.playlist_length_ms
    }

    pub(super) fn slide_window(&mut self, now: Now) {
        if self.config.kind == PlaylistKind::Event {
            return;
        }
        let target_ms = self.seg.target_s.unwrap_or(0) * 1000;
        // RFC 8216 6.2.2: keep at least three target durations listed.
        let keep = self.config.playlist_length_ms.max(3 * target_ms);
        let deadline = self.delete_deadline(now);
        while self.playlist.entries.len() > 1 {
            let Some(front) = self.playlist.entries.front() else {
                break;
            };
            if self.total_ms - front.duration_ms < keep {
                break;
            }
            let Some(gone) = self.playlist.entries.pop_front() else {
                break;
            };
            self.total_ms -= gone.duration_ms;
            if gone.discontinuity {
                self.playlist.discontinuity_sequence += 1;
            }
            if self.config.cleanup {
                self.ops.push_back(FileOp::Delete {
                    path: self.entry_path(&gone),
                    not_before_ms: deadline,
                });
                self.delete_parts(gone.id, gone.parts.len(), deadline);
                // Maps only move forward: one the next entry does not name is unused now.
                let next_map = self.playlist.entries.front().and_then(|e| e.map.as_ref());
                if gone.map.is_some() && gone.map.as_ref() != next_map {
                    for path in self.init_paths(std::iter::once(&gone)) {
                        self.ops.push_back(FileOp::Delete {
                            path,
                            not_before_ms: deadline,
                        });
                    }
                }
            }
        }
        if let Some(front) = self.playlist.entries.front() {
            self.playlist.media_sequence = front.sequence;
        }
        self.meter.retain_from(self.playlist.media_sequence);
    }

    /// Writes the playlist; with Low-Latency HLS at the end of the current call (see
    /// [`HlsStream::flush_playlist`]).
    pub(super) fn write_playlist(&mut self) {
        if self.cutter.is_some() {
            self.playlist_due = true;
        } else {
            self.render_playlist();
        }
    }

    /// Writes the playlist if a write is due.
    pub(super) fn flush_playlist(&mut self) {
        if std::mem::take(&mut self.playlist_due) {
            self.render_playlist();
        }
    }

    fn render_playlist(&mut self) {
        self.update_hint();
        let contents = Bytes::from(playlist::render(&self.playlist));
        self.ops.push_back(FileOp::WritePlaylist {
            path: self.playlist_path.clone(),
            contents,
        });
    }

    /// The publisher stopped: writes what is held, closes the last segment
    /// with its true duration, lists it with `#EXT-X-ENDLIST`, and (with
    /// `hls_cleanup`, live playlists) schedules the deletion of the
    /// stream's files after target duration + playlist length.
    pub fn finish(&mut self, now: Now) -> Result<(), HlsError> {
        // A previous playlist still waiting for this publish's codecs never got them.
        if let Some(text) = self.codecs.previous.take() {
            self.adopt_previous(&text, now, false);
        }
        let mut result = Ok(());
        match &self.state {
            State::Finished => return Ok(()),
            State::Open(open) => {
                let end = open.end_ms;
                // Audio held for a regroup that never came still goes out:
                // into one more audio-only segment.
                result = self.close_segment(end, true, now);
            }
            State::Waiting { .. } => {}
        }
        if !self.held.is_empty() && self.codecs.audio.is_some() {
            let discontinuity = self.has_history;
            let start = self.held.front().map_or(0, |h| h.pts);
            let tracks = Tracks {
                video: false,
                audio: true,
            };
            let opened = self.open_segment(start, 0, tracks, 0, discontinuity, true, now);
            let written = opened.and_then(|()| self.write_held());
            let end = match &self.state {
                State::Open(open) => open.end_ms,
                _ => start,
            };
            let closed = self.close_segment(end, true, now);
            result = result.and(written).and(closed);
        }
        self.state = State::Finished;
        self.write_status(true, now);
        if self.member && self.config.cleanup {
            self.ops.push_back(FileOp::Delete {
                path: variant::status_path(&self.name),
                not_before_ms: self.delete_deadline(now),
            });
        }
        if self.playlist.entries.is_empty() {
            return result;
        }
        self.playlist.ended = true;
        if let Some(ll) = self.playlist.low_latency.as_mut() {
            ll.open = None;
        }
        self.playlist_due = true;
        self.flush_playlist();
        if self.config.cleanup && self.config.kind == PlaylistKind::Live {
            let deadline = self.delete_deadline(now);
            let mut paths: Vec<RelPath> = self
                .playlist
                .entries
                .iter()
                .map(|e| self.entry_path(e))
                .collect();
            for e in &self.playlist.entries {
                paths.extend((0..e.parts.len()).map(|i| self.part_path(e.id, i)));
            }
            paths.extend(self.init_paths(self.playlist.entries.iter()));
            for path in paths {
                self.ops.push_back(FileOp::Delete {
                    path,
                    not_before_ms: deadline,
                });
            }
            self.ops.push_back(FileOp::Delete {
                path: self.playlist_path.clone(),
                not_before_ms: deadline,
            });
        }
        result
    }
}
