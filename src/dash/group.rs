//! [`DashGroup`]: the renditions of one publish (the source and its encodes) as one MPD.
//!
//! The source's [`DashStream`](super::DashStream) leads: it publishes its cut instants and
//! its time origin here, and writes the group's MPD through its own file operations.
//! Every rendition's `DashStream` follows: it takes the leader's time origin and cuts at its
//! first keyframe at each of the leader's cut instants, so that the `t` and `d` of a segment
//! are the same numbers in every member. Every member reports its window whenever it writes
//! its own MPD; the group lists one video adaptation set with one representation per live
//! member, and the source's audio.
//!
//! Members live in one worker and share the group as `Rc<RefCell<DashGroup>>`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::config::{DashConfig, DashError};
use super::mpd::{AdaptationSet, Mpd, Representation};
use crate::files::{uri_escape, validate_stream_name, RelPath};

/// Cut instants kept for followers that lag behind the leader.
const MAX_CUTS: usize = 1024;

/// One of the leader's cuts: the listed start of its fragment (media ms, the first frame's
/// decode time) and the presentation time of that frame. Followers match their keyframes by
/// presentation time (an encoder keeps the source's presentation times, while its decode
/// times depend on its B-frame delay) and list the leader's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub t: u64,
    pub pts: u64,
}

/// A group shared by its members.
pub type SharedDashGroup = Rc<RefCell<DashGroup>>;

/// What a member last reported.
#[derive(Debug, Clone)]
struct Member {
    /// The member's MPD with group URLs (relative to the group's MPD), representation ids
    /// set to the member's name and frame rates filled in.
    mpd: Mpd,
}

impl Member {
    fn end_ms(&self) -> Option<u64> {
        self.mpd
            .sets
            .iter()
            .flat_map(|s| s.representations.iter())
            .filter_map(Representation::end_ms)
            .max()
    }

    fn rep(&self, video: bool) -> Option<&Representation> {
        self.mpd
            .sets
            .iter()
            .flat_map(|s| s.representations.iter())
            .find(|r| r.is_video() == video && !r.timeline.is_empty())
    }
}

/// The shared state of one group: the leader's schedule and the members' windows.
#[derive(Debug)]
pub struct DashGroup {
    config: DashConfig,
    name: String,
    mpd_path: RelPath,
    leader: Option<String>,
    /// Each fragment the leader opened, increasing.
    cuts: VecDeque<Cut>,
    /// The leader's offset (ms) from input timestamps to media time.
    offset: i64,
    /// Wall clock (Unix ms) of media time 0, the leader's.
    availability_start: Option<u64>,
    members: BTreeMap<String, Member>,
    /// A member's window changed since the group's MPD was last rendered.
    dirty: bool,
    finished: bool,
}

impl DashGroup {
    /// A group named `name` (the MPD players open: `name.mpd`, with `dash_nested`
    /// `name/index.mpd`); its members use the same `config`.
    pub fn new(config: DashConfig, name: &str) -> Result<SharedDashGroup, DashError> {
        config.validate()?;
        validate_stream_name(name).map_err(|e| DashError::InvalidName(e.0))?;
        let mpd_path = config.mpd_path(name);
        Ok(Rc::new(RefCell::new(Self {
            config,
            name: name.to_owned(),
            mpd_path,
            leader: None,
            cuts: VecDeque::new(),
            offset: 0,
            availability_start: None,
            members: BTreeMap::new(),
            dirty: false,
            finished: false,
        })))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn mpd_path(&self) -> &RelPath {
        &self.mpd_path
    }

    pub fn config(&self) -> &DashConfig {
        &self.config
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// The leader's cuts still kept, oldest first.
    pub fn cuts(&self) -> impl Iterator<Item = Cut> + '_ {
        self.cuts.iter().copied()
    }

    /// Names of the members the group's MPD lists now.
    pub fn listed_members(&self) -> Vec<String> {
        self.live_members().map(|(n, _)| n.clone()).collect()
    }

    pub(super) fn set_leader(&mut self, name: &str) {
        self.leader = Some(name.to_owned());
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The directory of the group's MPD, for `dash_nested`.
    pub(super) fn dir(&self) -> Option<RelPath> {
        self.config.nested.then(|| RelPath::new(self.name.clone()))
    }

    /// URL of a member's file relative to the group's MPD.
    pub(super) fn member_uri(&self, member: &str, stem: &str, ext: &str) -> String {
        if self.config.nested {
            format!("../{}/{stem}.{ext}", uri_escape(member))
        } else {
            format!("{}-{stem}.{ext}", uri_escape(member))
        }
    }

    pub(super) fn offset(&self) -> i64 {
        self.offset
    }

    pub(super) fn availability_start(&self) -> Option<u64> {
        self.availability_start
    }

    pub(super) fn publish_origin(&mut self, offset: i64, availability_start: Option<u64>) {
        self.offset = offset;
        if self.availability_start.is_none() {
            self.availability_start = availability_start;
        }
    }

    /// A new cut, or (`replace`) a better instant for the last one.
    pub(super) fn publish_cut(&mut self, cut: Cut, replace: bool) {
        if replace {
            self.cuts.pop_back();
        }
        if self
            .cuts
            .back()
            .is_some_and(|last| last.t >= cut.t || last.pts >= cut.pts)
        {
            return;
        }
        self.cuts.push_back(cut);
        while self.cuts.len() > MAX_CUTS {
            self.cuts.pop_front();
        }
    }

    /// The latest cut whose presentation time is in `(after, upto]`.
    pub(super) fn cut_within(&self, after: Option<u64>, upto: u64) -> Option<Cut> {
        self.cuts
            .iter()
            .rev()
            .copied()
            .find(|c| c.pts <= upto)
            .filter(|c| after.is_none_or(|a| c.pts > a))
    }

    pub(super) fn report(&mut self, member: &str, mpd: Mpd) {
        self.members.insert(member.to_owned(), Member { mpd });
        self.dirty = true;
    }

    pub(super) fn leave(&mut self, member: &str) {
        if self.members.remove(member).is_some() {
            self.dirty = true;
        }
    }

    /// Marks the group ended: its MPD is not written again.
    pub(super) fn finish(&mut self) {
        self.finished = true;
        self.dirty = false;
    }

    pub(super) fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// A member lagging the leader by more than this has stalled (its encoder is gone or
    /// too slow) and leaves the MPD until it catches up.
    fn stall_ms(&self) -> u64 {
        self.config.max_fragment_ms().saturating_mul(2)
    }

    fn live_members(&self) -> impl Iterator<Item = (&String, &Member)> {
        let leader_end = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .and_then(Member::end_ms);
        let stall = self.stall_ms();
        self.members.iter().filter(move |(_, m)| match m.end_ms() {
            None => false,
            Some(end) => leader_end.is_none_or(|l| end.saturating_add(stall) >= l),
        })
    }

    /// The group's MPD: one video adaptation set with a representation per live member,
    /// highest first, and one audio adaptation set with the leader's audio (or, without it,
    /// the first member's). `None` while no member lists a segment.
    pub fn mpd(&self, live: bool, publish_unix_ms: u64) -> Option<Mpd> {
        let members: Vec<(&String, &Member)> = self.live_members().collect();
        let mut videos: Vec<Representation> = members
            .iter()
            .filter_map(|(_, m)| m.rep(true).cloned())
            .collect();
        videos.sort_by(|a, b| {
            let size = |r: &Representation| match r.kind {
                super::mpd::Kind::Video { width, height } => (height, width),
                super::mpd::Kind::Audio { .. } => (0, 0),
            };
            size(b)
                .cmp(&size(a))
                .then(b.bandwidth.cmp(&a.bandwidth))
                .then(a.id.cmp(&b.id))
        });
        let leader = self.leader.as_ref();
        let audio = members
            .iter()
            .find(|(n, m)| Some(*n) == leader && m.rep(false).is_some())
            .or_else(|| members.iter().find(|(_, m)| m.rep(false).is_some()))
            .and_then(|(_, m)| m.rep(false).cloned());
        let template = members
            .iter()
            .find(|(n, _)| Some(*n) == leader)
            .or(members.first())
            .map(|(_, m)| &m.mpd)?;
        let mut sets = Vec::new();
        if !videos.is_empty() {
            let max = videos
                .iter()
                .filter_map(|r| match r.kind {
                    super::mpd::Kind::Video { width, height } if width > 0 && height > 0 => {
                        Some((width, height))
                    }
                    _ => None,
                })
                .fold(None, |acc: Option<(u32, u32)>, (w, h)| {
                    Some(acc.map_or((w, h), |(aw, ah)| (aw.max(w), ah.max(h))))
                });
            sets.push(AdaptationSet {
                representations: videos,
                max_size: max,
            });
        }
        if let Some(audio) = audio {
            sets.push(AdaptationSet::single(audio));
        }
        if sets.is_empty() {
            return None;
        }
        Some(Mpd {
            live,
            availability_start_unix_ms: self
                .availability_start
                .unwrap_or(template.availability_start_unix_ms),
            publish_unix_ms,
            minimum_update_period_ms: self.config.fragment_ms,
            min_buffer_ms: self.config.fragment_ms,
            time_shift_buffer_ms: members
                .iter()
                .map(|(_, m)| m.mpd.time_shift_buffer_ms)
                .max()
                .unwrap_or(self.config.playlist_length_ms),
            sets,
        })
    }
}
