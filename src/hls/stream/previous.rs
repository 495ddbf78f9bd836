//! The previous publish's playlist at a (re)publish: continued with `hls_continuous`,
//! else cleaned up with `hls_cleanup`.

use super::{names, HlsStream, State};
use crate::files::{FileOp, Now, RelPath};
use crate::hls::config::FragmentType;
use crate::hls::playlist::{self, Playlist};

impl HlsStream {
    /// Takes over the previous publish's playlist (`hls_continuous`) or schedules its files'
    /// deletion (`hls_cleanup`). With `defer`, an fMP4 playlist where MPEG-TS is configured
    /// waits for the stream's codecs ([`HlsStream::observe_codecs`] calls this again).
    pub(super) fn adopt_previous(&mut self, text: &str, now: Now, defer: bool) {
        let Some(mut old) = playlist::parse(text, self.config.kind) else {
            return;
        };
        // The previous publish may have used the other container (the configuration
        // changed): its playlist is then not continued, only cleaned up.
        let ours = self.config.fragment_type;
        let other = match ours {
            FragmentType::MpegTs => FragmentType::Fmp4,
            FragmentType::Fmp4 => FragmentType::MpegTs,
        };
        let ids_for = |kind: FragmentType| -> Option<Vec<u64>> {
            old.entries
                .iter()
                .map(|e| names::entry_id_from_uri(&e.uri, kind.extension()))
                .collect()
        };
        let (kind, ids) = match ids_for(ours) {
            Some(ids) => (ours, ids),
            None => match ids_for(other) {
                Some(ids) => (other, ids),
                None => return,
            },
        };
        for (e, id) in old.entries.iter_mut().zip(ids) {
            e.id = id;
        }
        // An fMP4 playlist where MPEG-TS is configured is likely one of a stream whose codecs
        // MPEG-TS cannot carry: whether this publish goes on with it is known at its first
        // frame, and its files stay until then.
        let fmp4_under_ts = kind == FragmentType::Fmp4 && ours == FragmentType::MpegTs;
        if defer && self.config.continuous && fmp4_under_ts {
            self.keep_files(&old, kind);
            self.codecs.previous = Some(text.to_owned());
            return;
        }
        if self.config.continuous && kind == ours {
            self.keep_files(&old, kind);
            self.next_sequence = old.media_sequence + old.entries.len() as u64;
            self.last_id = old.entries.iter().map(|e| e.id).max();
            self.total_ms = old.entries.iter().map(|e| e.duration_ms).sum();
            self.seg.target_s = Some(old.target_duration_s);
            old.ended = false;
            old.kind = self.config.kind;
            old.low_latency = self.playlist.low_latency.take();
            self.has_history = !old.entries.is_empty();
            self.playlist = old;
            self.state = State::Waiting {
                discontinuity: self.has_history,
            };
            self.resumed = true;
        } else if self.config.cleanup {
            let at =
                now.monotonic_ms + old.target_duration_s * 1000 + self.config.playlist_length_ms;
            let mut paths: Vec<RelPath> = old
                .entries
                .iter()
                .map(|e| self.segment_path_of(kind, e.id))
                .collect();
            paths.extend(self.init_paths(old.entries.iter()));
            for e in old.entries.iter().filter(|_| kind == ours) {
                paths.extend((0..e.parts.len()).map(|i| self.part_path(e.id, i)));
            }
            for path in paths {
                self.ops.push_back(FileOp::Delete {
                    path,
                    not_before_ms: at,
                });
            }
        }
    }

    /// Cancels the pending deletion of a previous playlist's files.
    fn keep_files(&mut self, old: &Playlist, kind: FragmentType) {
        self.ops.push_back(FileOp::CancelDelete {
            path: self.playlist_path.clone(),
        });
        for e in &old.entries {
            let path = self.segment_path_of(kind, e.id);
            self.ops.push_back(FileOp::CancelDelete { path });
        }
        for path in self.init_paths(old.entries.iter()) {
            self.ops.push_back(FileOp::CancelDelete { path });
        }
        for e in old
            .entries
            .iter()
            .filter(|_| kind == self.config.fragment_type)
        {
            for i in 0..e.parts.len() {
                let path = self.part_path(e.id, i);
                self.ops.push_back(FileOp::CancelDelete { path });
            }
        }
    }
}
