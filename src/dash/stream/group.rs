//! A DASH stream as one of several: the leader whose cuts its renditions follow, or a
//! follower on the leader's time origin and cut instants, and the group MPD the leader writes.

use super::*;
use crate::dash::frame_rate::frame_rate;

impl DashStream {
    /// Makes this stream (the source of a group) the group's leader: its cuts and time
    /// origin are the group's, and it writes the group's MPD (through its own
    /// [`poll_op`](Self::poll_op)) whenever a member's window changes, and at
    /// [`finish`](Self::finish) a `static` one, deleted with `dash_cleanup`.
    pub fn lead(mut self, group: SharedDashGroup) -> Self {
        {
            let mut g = group.borrow_mut();
            g.set_leader(&self.name);
            if let Some(dir) = g.dir() {
                self.ops.push_back(FileOp::CreateDir { path: dir });
            }
        }
        self.role = Role::Leader(group);
        self
    }

    /// Makes this stream (a rendition of the group's source, with the source's timestamps)
    /// a follower: it uses the leader's time origin, starts at a cut of the leader and cuts
    /// at its first keyframe at each of the leader's cut instants (within half a frame), so
    /// that its segments have the leader's `t` and `d`. After a gap in its input (its
    /// encoder restarted) it resumes at the next cut; its timeline then has a gap.
    pub fn follow(mut self, group: SharedDashGroup) -> Self {
        self.role = Role::Follower(group);
        self
    }

    /// The group this stream belongs to.
    pub fn group(&self) -> Option<&SharedDashGroup> {
        match &self.role {
            Role::Solo => None,
            Role::Leader(g) | Role::Follower(g) => Some(g),
        }
    }

    /// A follower's media time (ms): its offset is the leader's at its first frame and
    /// after each of its own jumps. Returns (dts, pts, whether the governing track has a
    /// gap).
    pub(super) fn normalize_follower(
        &mut self,
        track: Track,
        dts: u64,
        pts: u64,
        governs: bool,
        group_offset: i64,
    ) -> (u64, u64, bool) {
        let i = idx(track);
        let mut m = shift(dts, self.offset);
        let mut gap = false;
        match self.last_ms[i] {
            None => {
                if self.last_ms.iter().all(Option::is_none) {
                    self.offset = group_offset;
                    m = shift(dts, self.offset);
                }
            }
            Some(prev) => {
                let jumped = |m: u64| {
                    m.saturating_add(JUMP_BACKWARD_MS) < prev
                        || m > prev.saturating_add(JUMP_FORWARD_MS)
                };
                if jumped(m) {
                    self.offset = group_offset;
                    m = shift(dts, self.offset);
                }
                let gap_ms = self
                    .video_interval_ms
                    .saturating_mul(4)
                    .max(FOLLOWER_GAP_MS);
                if m.saturating_add(JUMP_BACKWARD_MS) < prev || m > prev.saturating_add(gap_ms) {
                    gap = governs;
                } else if m < prev {
                    m = prev;
                } else if track == Track::Video && m > prev {
                    self.video_interval_ms = (m - prev).min(MAX_INTERVAL_MS);
                }
            }
        }
        self.last_ms[i] = Some(m);
        (m, shift(pts, self.offset).max(m), gap)
    }

    /// The leader's cut: where a fragment starts, or where its video starts (a fragment
    /// opened by an audio frame is then republished at its first video frame, which is
    /// where followers cut).
    pub(super) fn publish_cut(&mut self, m: u64, p: u64, video: bool) {
        if let Role::Leader(group) = &self.role {
            let replace = video
                && self
                    .frag
                    .as_ref()
                    .is_some_and(|f| f.video.is_none() && f.audio.is_some());
            group
                .borrow_mut()
                .publish_cut(Cut { t: m, pts: p }, replace);
        }
    }

    /// Half a frame of the governing track (ms): the tolerance of a follower's cut.
    pub(super) fn half_frame(&self, governing: Track) -> u64 {
        match governing {
            Track::Video => self.video_interval_ms / 2,
            Track::Audio => 12,
        }
    }

    /// A follower's frame: cut (and start) only at the leader's cut instants.
    pub(super) fn push_follower(
        &mut self,
        frame: &Frame,
        codecs: &Demuxer,
        group: &SharedDashGroup,
        now: Now,
    ) {
        let governing = if codecs.video().is_some() {
            Track::Video
        } else {
            Track::Audio
        };
        let governs = frame.track == governing;
        let group_offset = group.borrow().offset();
        let (m, p, gap) =
            self.normalize_follower(frame.track, frame.dts, frame.pts, governs, group_offset);
        if gap && self.frag.is_some() {
            self.close_fragment(None, None, now);
            self.write_mpd(true, now);
        }
        let gen = codecs.video_generation();
        let key = frame.keyframe || frame.track == Track::Audio;
        let half = self.half_frame(governing);
        let interval = match governing {
            Track::Video => self.video_interval_ms,
            Track::Audio => 23,
        };
        match &self.frag {
            None => {
                // Start only at one of the leader's cuts, after the last one taken.
                let cut = (governs && key)
                    .then(|| {
                        group
                            .borrow()
                            .cut_within(self.last_cut_pts, p.saturating_add(half))
                    })
                    .flatten()
                    .filter(|c| p <= c.pts.saturating_add(interval));
                let Some(c) = cut else {
                    if frame.track == Track::Video {
                        self.dropped_frames += 1;
                    }
                    return;
                };
                if self.availability_start.is_none() {
                    self.availability_start = Some(
                        group
                            .borrow()
                            .availability_start()
                            .unwrap_or(now.unix_ms.saturating_sub(m)),
                    );
                }
                self.last_cut_pts = Some(c.pts);
                self.open_fragment(m, p, Some(c.t), gen);
            }
            Some(f) => {
                let listed = f.listed_ms.unwrap_or(f.start_ms);
                let cut = (governs && key)
                    .then(|| {
                        group.borrow().cut_within(
                            Some(f.start_pts.saturating_add(half)),
                            p.saturating_add(half),
                        )
                    })
                    .flatten();
                let bytes = f.video.as_ref().map_or(0, |t| t.bytes);
                let bytes = bytes.max(f.audio.as_ref().map_or(0, |t| t.bytes));
                // Without the leader's cuts (no keyframes) the fragment is cut anyway.
                let forced = bytes >= MAX_FRAGMENT_BYTES
                    || (governs
                        && m.saturating_sub(listed)
                            >= self.config.max_fragment_ms().saturating_mul(2));
                if cut.is_some() || forced {
                    // Listed at the leader's start when the keyframe is the cut's.
                    let listed = cut.filter(|c| p.abs_diff(c.pts) <= interval);
                    if let Some(c) = cut {
                        self.last_cut_pts = Some(c.pts);
                    }
                    let video_end = (frame.track == Track::Video).then_some(m);
                    let listed_end = listed.map(|c| c.t).filter(|_| video_end.is_some());
                    self.close_fragment(video_end, listed_end, now);
                    self.write_mpd(true, now);
                    self.open_fragment(m, p, listed.map(|c| c.t), gen);
                }
            }
        }
        self.append(frame, m, p, gen);
    }

    /// The window as one representation per track. For a group's MPD (`group`), ids are
    /// the stream's name, URLs are relative to the group's MPD and the frame rate is given.
    pub(super) fn representations(&self, group: Option<&DashGroup>) -> Vec<Representation> {
        let mut reps = Vec::new();
        for track in [Track::Video, Track::Audio] {
            let Some((source, _)) = &self.inits[idx(track)] else {
                continue;
            };
            let segs: Vec<Seg> = self
                .window
                .iter()
                .filter_map(|l| match track {
                    Track::Video => l.video,
                    Track::Audio => l.audio,
                })
                .collect();
            if segs.is_empty() {
                continue;
            }
            let ms: u64 = segs.iter().map(|s| s.d).sum();
            let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
            let (kind, id) = (
                source.kind.clone(),
                format!("{}_{}", self.name, source.codec_name),
            );
            let ext = Self::ext(track);
            let (id, media, initialization, frame_rate) = match group {
                None => (id, self.uri("$Time$", ext), self.uri("init", ext), None),
                Some(g) => (
                    self.name.clone(),
                    g.member_uri(&self.name, "$Time$", ext),
                    g.member_uri(&self.name, "init", ext),
                    (track == Track::Video)
                        .then(|| frame_rate(segs.iter().map(|s| s.samples).sum(), ms))
                        .flatten(),
                ),
            };
            reps.push(Representation {
                kind,
                id,
                codecs: source.codecs.clone(),
                bandwidth: bytes.saturating_mul(8000) / ms.max(1),
                media,
                initialization,
                frame_rate,
                timeline: segs
                    .iter()
                    .map(|s| TimelineEntry { t: s.t, d: s.d })
                    .collect(),
            });
        }
        reps
    }

    /// The leader writes the group's MPD when a member's window changed.
    pub(super) fn write_group_mpd(&mut self, live: bool, now: Now) {
        let Role::Leader(group) = &self.role else {
            return;
        };
        let mut g = group.borrow_mut();
        if g.is_finished() || !g.take_dirty() {
            return;
        }
        if let Some(mpd) = g.mpd(live, now.unix_ms) {
            self.ops.push_back(FileOp::WritePlaylist {
                path: g.mpd_path().clone(),
                contents: Bytes::from(mpd.render()),
            });
        }
    }
}
