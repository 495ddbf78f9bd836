//! An HLS stream as one of several: the leader or a follower of a cut schedule (renditions),
//! or a member of a variant group (its grid numbering and its status file).

use super::*;
use crate::hls::Cut;

impl HlsStream {
    /// Makes this stream the leader of `schedule`: its cuts are published there.
    pub fn lead(&mut self, schedule: CutSchedule) {
        if let Some(t) = self.seg.target_s {
            schedule.publish_target(t);
        }
        self.role = Some(Role::Lead(schedule));
    }

    /// Makes this stream follow `schedule`: it cuts and numbers its segments as the leader
    /// did (see [`CutSchedule`]).
    pub fn follow(&mut self, schedule: CutSchedule) {
        self.seg.follow = true;
        self.role = Some(Role::Follow(schedule));
    }

    /// Makes this stream a member of a variant group (call before the first frame): segments
    /// are cut on the `hls_fragment` grid of the stream timestamp and the first one after a
    /// (re)start is numbered by its grid position (see [`crate::hls::variant`] for what
    /// encoders must do), and after each playlist write the stream writes its
    /// [`MemberStatus`] at [`variant::status_path`] (at `finish`, one saying it ended).
    pub fn set_group_member(&mut self) {
        self.member = true;
        self.grid = true;
        self.seg.slicing = Slicing::Aligned;
    }

    /// Makes this stream a member of a variant group whose alignment is a [`CutSchedule`]
    /// (transcoded renditions: the source leads, the renditions follow): it writes its
    /// [`MemberStatus`] as [`set_group_member`](Self::set_group_member) does, but cuts and
    /// numbers as its role says, not on the grid.
    pub fn set_schedule_member(&mut self) {
        self.member = true;
    }

    /// What the media says for a master playlist, once a segment is complete.
    pub fn variant_info(&self) -> Option<VariantInfo> {
        self.meter.info()
    }

    /// A leader publishes the segment it just opened at a video frame presented at `pts`.
    /// Cuts are compared on presentation times: an encoder without B-frames gives its
    /// keyframe the DTS its source's keyframe had as PTS.
    pub(super) fn publish_cut(&self, pts: u64) {
        if let Some(leader) = self.role.as_ref().and_then(Role::leader) {
            leader.publish(Cut {
                sequence: self.next_sequence,
                start_ms: pts,
            });
        }
    }

    /// A group member's first segment of a section (start, resume, after a timestamp jump)
    /// takes the number of its `hls_fragment` grid position when that is ahead, so members
    /// that joined at different times number alike.
    pub(super) fn align_sequence(&mut self, start_ms: u64, new_section: bool, now: Now) {
        let grid = grid::grid_index(self.config.fragment_ms, start_ms);
        if grid <= self.next_sequence || !(new_section || self.playlist.entries.is_empty()) {
            return;
        }
        self.renumber(grid, now);
    }

    /// The next segment is number `sequence` (a follower that missed cuts, a group member
    /// numbering by its grid). Listed segments keep their numbers: when the numbering jumps,
    /// they leave the playlist (deleted as if they had scrolled out) so the playlist's
    /// implicit numbering stays true.
    pub(super) fn renumber(&mut self, sequence: u64, now: Now) {
        if sequence == self.next_sequence {
            return;
        }
        let deadline = self.delete_deadline(now);
        while let Some(gone) = self.playlist.entries.pop_front() {
            self.total_ms = self.total_ms.saturating_sub(gone.duration_ms);
            if gone.discontinuity {
                self.playlist.discontinuity_sequence += 1;
            }
            if self.config.cleanup && self.config.kind == PlaylistKind::Live {
                self.ops.push_back(FileOp::Delete {
                    path: self.segment_path(gone.id),
                    not_before_ms: deadline,
                });
                self.delete_parts(gone.id, gone.parts.len(), deadline);
            }
        }
        self.next_sequence = sequence;
        self.playlist.media_sequence = sequence;
    }

    pub(super) fn write_status(&mut self, ended: bool, now: Now) {
        if !self.member {
            return;
        }
        let status = MemberStatus {
            updated_unix_ms: now.unix_ms,
            target_ms: self.seg.target_s.unwrap_or(0) * 1000,
            ended,
            segments: self.playlist.entries.len() as u64,
            info: self.meter.info(),
        };
        self.ops.push_back(FileOp::WritePlaylist {
            path: variant::status_path(&self.name),
            contents: Bytes::from(status.render()),
        });
    }
}
