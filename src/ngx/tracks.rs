//! Multitrack renditions: a publisher that sends several video tracks (Enhanced RTMP
//! multitrack, one track per quality from the encoder itself) gets one HLS rendition per
//! track and a master playlist listing them, with no transcoding.
//!
//! Names: the master takes the stream's name (`cam.m3u8`), track `N`'s rendition is the
//! stream `cam_tN` (`cam_t0.m3u8`, `cam_t1.m3u8`, ..., or `cam_tN/index.m3u8` nested), each
//! an HLS output of the published stream behind a [`TrackSelect`] that shows it its video
//! track and the stream's primary audio track. The renditions form a [`VariantGroup`] as
//! `hls_variant` members do: each is cut on the `hls_fragment` grid and numbered by it, so
//! renditions whose keyframes the encoder put at the same instants (as a multitrack encoder
//! does) have the same segments; each writes its status file, and the master is rendered
//! from them (BANDWIDTH measured, CODECS and RESOLUTION from each track's configuration).
//! With Low-Latency HLS the renditions share a [`RenditionBoard`], so each playlist reports
//! where the others stand.
//!
//! When: every video track's SequenceStart comes in a message of its own, after the publish
//! started. The stream starts as a single rendition (its HLS under its own name, as any
//! stream); when a second video track is configured before the stream's first frame (FFmpeg
//! and OBS send every track's configuration first), that output is removed, unwritten, and the
//! renditions take over. A track configured later, while the renditions run, joins at once
//! (before its first frame, which arrives in a later message) and enters the master with its
//! first segment. A second track that appears after a single-track stream's media began is
//! left out (logged once): turning a live media playlist into a master would break its
//! players.
//!
//! Left alone: `hls_variant` members and streams with transcoded renditions (they have a
//! master of their own) keep writing their primary track only.
//!
//! Names: while `cam` publishes, `cam_tN` is its rendition's name, and a publish of it is
//! refused ([`base_publishes`]); a stream that publishes under such a name before `cam` comes
//! keeps `cam` a single rendition ([`taken_rendition_name`]). Either way no two writers share
//! a playlist.

use super::file_ops::now;
use super::log::Log;
use super::outputs::{previous_playlist, Companion, MemberOf, OutputFiles};
use super::shm::{is_alive, ring_key};
use super::worker;
use crate::conf::{AppConf, ServerConf};
use crate::hls::{
    rendition_base, track_stream_name, GroupMember, HlsStream, RenditionBoard, VariantGroup,
};
use crate::live::shm;
use crate::live::{AudioChoice, Output, Pipeline, StreamKey, TrackSelect};

/// When `key` is a track rendition's name (`cam_t1`) and its stream (`cam`) publishes, on this
/// worker or another: that stream. Not from inside [`worker::with`].
pub fn base_publishes(server: &ServerConf, key: &StreamKey) -> Option<StreamKey> {
    let base = StreamKey {
        name: rendition_base(&key.name)?.to_owned(),
        ..key.clone()
    };
    published_name(server, key, |name| name == base.name).map(|_| base)
}

/// A stream that publishes, on this worker or another, under the name of one of `key`'s
/// track renditions (`cam_t1` for `cam`). Not from inside [`worker::with`].
pub fn taken_rendition_name(server: &ServerConf, key: &StreamKey) -> Option<String> {
    published_name(server, key, |name| {
        rendition_base(name) == Some(key.name.as_str())
    })
}

/// The name of a stream of `key`'s server and application that `wanted` accepts and that
/// publishes: on this worker (its hub), or on a running worker (the shared zone's directory;
/// a slot a crashed worker left does not count).
fn published_name(
    server: &ServerConf,
    key: &StreamKey,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    let (here, zone) = worker::with(|w| {
        let here = w
            .hub
            .streams()
            .map(|s| &s.key)
            .find(|k| k.server == key.server && k.app == key.app && wanted(&k.name))
            .map(|k| k.name.clone());
        (here, w.zone)
    });
    if here.is_some() {
        return here;
    }
    let zone = zone?;
    let prefix = ring_key(
        server,
        &StreamKey {
            name: String::new(),
            ..key.clone()
        },
    );
    shm::streams(&zone.region, &zone.layout)
        .into_iter()
        .filter(|s| is_alive(s.owner))
        .find_map(|s| {
            let name = s.key.strip_prefix(&prefix)?;
            wanted(name).then(|| name.to_owned())
        })
}

/// Gives a newly published stream's outputs the watch that turns its video tracks into
/// renditions, when it can have them: HLS is on and started under the stream's name, and the
/// stream is no `hls_variant` member. `taken`: a stream published under a rendition's name
/// ([`taken_rendition_name`]), which keeps this one a single rendition.
pub fn watch(
    app: &'static AppConf,
    key: &StreamKey,
    files: &mut OutputFiles,
    pipeline: &mut Pipeline,
    taken: Option<String>,
    log: Log,
) {
    let Some(hls) = &app.settings.hls else {
        return;
    };
    if files.primary_hls().is_none()
        || VariantGroup::of_hls_variant(&hls.config, &hls.variants, &key.name).is_some()
    {
        return;
    }
    let watch = TrackRenditions {
        app,
        key: key.clone(),
        state: taken.map_or(State::Single, State::Taken),
        board: RenditionBoard::new(),
    };
    files.set_companion(Box::new(watch), pipeline, log);
}

/// The renditions of one published stream's video tracks.
struct TrackRenditions {
    app: &'static AppConf,
    key: StreamKey,
    state: State,
    /// Where the renditions tell each other their progress (`#EXT-X-RENDITION-REPORT`).
    board: RenditionBoard,
}

enum State {
    /// No frame yet: the stream's own HLS output stands until a second video track shows.
    Single,
    /// As `Single`, but a stream publishes under the name of a rendition (this one): the
    /// stream stays a single rendition, said once a second video track shows.
    Taken(String),
    /// Media began with one video track: the stream stays a single rendition.
    Settled { late_track_logged: bool },
    /// One rendition per video track: the track ids taken care of.
    Renditions { tracks: Vec<u8> },
}

impl Companion for TrackRenditions {
    fn after_run(&mut self, files: &mut OutputFiles, pipeline: &mut Pipeline, log: Log) {
        let codecs = pipeline.codecs();
        let video_tracks = codecs.video_tracks().len();
        // Frames of this message or of the last one demuxed: the outputs had media.
        let media = !codecs.frames().is_empty();
        match &mut self.state {
            State::Single if video_tracks > 1 && !media => {
                let Some(group) = self.group(&[], log) else {
                    self.state = State::Settled {
                        late_track_logged: true,
                    };
                    return;
                };
                if let Some(id) = files.primary_hls() {
                    files.remove(pipeline, id);
                }
                log_info!(
                    log,
                    "rtmp: \"{}\" publishes {} video tracks: one HLS rendition each, master \"{}\"",
                    self.key,
                    video_tracks,
                    group.master_path()
                );
                self.state = State::Renditions { tracks: Vec::new() };
                self.join_new(files, pipeline, log);
            }
            State::Taken(name) if video_tracks > 1 => {
                log_warn!(
                    log,
                    "rtmp: \"{}\" publishes {} video tracks: HLS keeps the first track only, \
                     as \"{}\" publishes under the name of a rendition",
                    self.key,
                    video_tracks,
                    name
                );
                self.state = State::Settled {
                    late_track_logged: true,
                };
            }
            State::Taken(_) => {}
            State::Single if media => {
                self.state = State::Settled {
                    late_track_logged: false,
                };
                self.after_run(files, pipeline, log);
            }
            State::Single => {}
            State::Settled { late_track_logged } => {
                if video_tracks > 1 && !*late_track_logged {
                    *late_track_logged = true;
                    log_warn!(
                        log,
                        "rtmp: \"{}\": a video track appeared after the media began, HLS \
                         keeps the first track only (republish for renditions)",
                        self.key
                    );
                }
            }
            State::Renditions { .. } => self.join_new(files, pipeline, log),
        }
    }
}

impl TrackRenditions {
    /// The group of the renditions of `tracks`, or `None` (logged) when the names are not
    /// valid stream names.
    fn group(&self, tracks: &[u8], log: Log) -> Option<VariantGroup> {
        let hls = self.app.settings.hls.as_ref()?;
        let members = tracks
            .iter()
            .map(|id| GroupMember {
                name: track_stream_name(&self.key.name, *id),
                attributes: Vec::new(),
            })
            .collect();
        VariantGroup::new(&hls.config, &self.key.name, members)
            .inspect_err(|e| {
                log_err!(
                    log,
                    "rtmp: track renditions of \"{}\" disabled: {}",
                    self.key,
                    e
                );
            })
            .ok()
    }

    /// Attaches a rendition for every video track that has none yet.
    fn join_new(&mut self, files: &mut OutputFiles, pipeline: &mut Pipeline, log: Log) {
        let (State::Renditions { tracks }, Some(hls)) = (&self.state, &self.app.settings.hls)
        else {
            return;
        };
        // Every message comes here: the common case (no new track) allocates nothing.
        let known = |id: u8| tracks.contains(&id);
        if pipeline.codecs().video_tracks().iter().all(|t| known(t.id)) {
            return;
        }
        let mut all = tracks.clone();
        let mut new = Vec::new();
        for t in pipeline.codecs().video_tracks() {
            if all.contains(&t.id) {
                continue;
            }
            all.push(t.id);
            new.push(t.id);
        }
        let group = self.group(&all, log);
        self.state = State::Renditions { tracks: all };
        if new.is_empty() {
            return;
        }
        // Tracks whose group cannot be formed are taken care of too: logged once, left out.
        let Some(group) = group else {
            return;
        };
        files.regroup(&group);
        let t = now();
        for id in new {
            let name = track_stream_name(&self.key.name, id);
            let previous = previous_playlist(&hls.config, &hls.path, &name);
            let out = HlsStream::new(hls.config.clone(), &name, previous.as_deref(), t)
                .map(|mut s| {
                    s.set_group_member();
                    s.report_to(self.board.clone());
                    Box::new(TrackSelect::new(s, id, AudioChoice::Primary)) as Box<dyn Output>
                })
                .map_err(|e| e.to_string());
            let member = MemberOf::new(group.clone(), &name, hls.path.clone());
            files.add(
                pipeline,
                out,
                hls.path.clone(),
                true,
                Some(member),
                &self.key,
                log,
            );
        }
    }
}
