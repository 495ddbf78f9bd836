//! The stat model: what one worker knows ([`Snapshot`]) and the merged view of every worker
//! ([`StatView`]) that the renderers turn into XML, JSON or Prometheus text.
//!
//! Streams are identified by server index (position of the `server {}` block in `rtmp {}`),
//! application and name. A stream published on one worker and mirrored by another for its
//! players appears in both snapshots: the merge keeps the publisher's figures (bytes in,
//! codecs) and adds up what is per worker (clients, bytes out).

use std::collections::BTreeMap;

/// Video parameters of a published stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoMeta {
    pub width: u32,
    pub height: u32,
    /// Frames per second, measured (or from metadata).
    pub frame_rate: u32,
    pub codec: String,
    pub profile: String,
    pub compat: u32,
    pub level: String,
}

/// Audio parameters of a published stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AudioMeta {
    pub codec: String,
    pub profile: String,
    pub channels: u32,
    pub sample_rate: u32,
}

/// One track of a published stream (an Enhanced RTMP multitrack stream has several of a
/// kind; `video`/`audio` of [`Meta`] describe the primary ones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackMeta {
    /// `video` or `audio`.
    pub kind: String,
    pub id: u32,
    pub codec: String,
    pub profile: String,
    /// Video: level; width and height (0 when unknown).
    pub level: String,
    pub width: u32,
    pub height: u32,
    /// Audio: channels and sample rate (0 when unknown).
    pub channels: u32,
    pub sample_rate: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub video: Option<VideoMeta>,
    pub audio: Option<AudioMeta>,
    /// Every track, video then audio, each by id.
    pub tracks: Vec<TrackMeta>,
}

/// One client (publisher or player) of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientStat {
    /// nginx's connection number: unique across workers.
    pub id: u64,
    pub address: String,
    /// Milliseconds since the client connected.
    pub time_ms: u64,
    pub flashver: String,
    pub swf_url: String,
    pub page_url: String,
    /// Messages dropped for this player (slow player).
    pub dropped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub publishing: bool,
    /// Publishing, or playing a stream that is live.
    pub active: bool,
    /// Worker process that owns the connection.
    pub pid: u32,
    /// Connected over TLS: its protocol is `rtmps` (`https-flv` for an HTTP-FLV player).
    pub tls: bool,
    /// An HTTP-FLV player: its protocol is `http-flv`.
    pub http: bool,
}

impl ClientStat {
    /// `rtmp`, `rtmps`, `http-flv` or `https-flv`.
    pub fn protocol(&self) -> &'static str {
        match (self.http, self.tls) {
            (false, false) => "rtmp",
            (false, true) => "rtmps",
            (true, false) => "http-flv",
            (true, true) => "https-flv",
        }
    }
}

/// One recorder of a published stream (the application's own `record`, or a `recorder {}`
/// block), as the publisher's worker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecorderStat {
    /// The `recorder` block's name, empty for the application's own `record`.
    pub id: String,
    /// The final path (`record_path`, `/`, name) of the file being written, or of the one a
    /// manual start opens at the next keyframe; empty when neither.
    pub path: String,
    /// A file is open and being written.
    pub recording: bool,
    /// Writing the current file failed (full disk, vanished directory): nothing is written
    /// until the recorder's next file.
    pub failed: bool,
    /// Bytes of the open file.
    pub bytes: u64,
    /// Media time in the open file, ms.
    pub duration_ms: u64,
    /// Media frames in the open file.
    pub frames: u64,
    /// Files finished since the stream was published.
    pub files: u64,
    /// `record manual`: files open only on a control `start`.
    pub manual: bool,
    /// Manual mode: a start was asked for and not stopped.
    pub started: bool,
}

/// One relay of a stream (a push of it to another server, or the pull that feeds it), as the
/// worker that runs it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayStat {
    /// `push` or `pull`.
    pub kind: String,
    /// `idle`, `resolving`, `connecting`, `negotiating`, `streaming`, `backoff`, `stopped`.
    pub state: String,
    /// The target as configured (URL).
    pub target: String,
    /// The address connected to (or being connected to), empty if none.
    pub addr: String,
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// Attempts started after a failure.
    pub reconnects: u64,
    /// Failed attempts since the relay last streamed.
    pub failures: u64,
    /// The last failure (`connect: Connection refused`), empty if none.
    pub last_error: String,
    /// Milliseconds in its current state.
    pub time_in_state_ms: u64,
    /// The worker that runs it.
    pub pid: u32,
}

impl RelayStat {
    /// Media flows to (or from) the target.
    pub fn up(&self) -> bool {
        self.state == "streaming"
    }
}

/// One stream as seen by one worker (or merged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamStat {
    pub server: u32,
    pub app: String,
    pub name: String,
    /// Milliseconds since it was published.
    pub time_ms: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bits per second.
    pub bw_in: u64,
    pub bw_out: u64,
    pub bw_audio: u64,
    pub bw_video: u64,
    pub meta: Option<Meta>,
    pub clients: Vec<ClientStat>,
    /// The publisher is on this worker (or, merged: on some worker).
    pub publishing: bool,
    /// The stream is live (published here or mirrored from another worker).
    pub active: bool,
    /// Its recorders: known on the publisher's worker only.
    pub recorders: Vec<RecorderStat>,
    /// Its relays, from every worker that runs one.
    pub relays: Vec<RelayStat>,
}

impl StreamStat {
    pub fn nclients(&self) -> usize {
        self.clients.len()
    }

    /// Messages dropped for all its players.
    pub fn dropped(&self) -> u64 {
        self.clients.iter().map(|c| c.dropped).sum()
    }
}

/// A child process a worker runs (an `exec` line's, an encoder), as stat shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessStat {
    /// What it is and for which stream.
    pub label: String,
    /// The worker that runs it (filled in by the merge).
    pub worker: u32,
    /// The running process; 0 while it waits to be started again.
    pub pid: u32,
    /// How long the running process has run.
    pub uptime_ms: u64,
    /// How many times it was started again after dying.
    pub restarts: u32,
    /// How its last process ended ("exited with code 1"), empty if none has.
    pub last_exit: String,
    /// Where its stderr is copied, empty if nowhere.
    pub log: String,
}

/// Per `server {}` block counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerCounters {
    pub accepted: u64,
    pub active: u64,
}

/// One worker's part of the stat model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub pid: u32,
    /// Unix time (ms) the snapshot was taken.
    pub taken_unix_ms: u64,
    /// Unix time (s) the worker started.
    pub started_unix: u64,
    /// Connections accepted by this worker.
    pub naccepted: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub bw_in: u64,
    pub bw_out: u64,
    /// HLS segments completed.
    pub hls_segments: u64,
    /// Streams served without their renditions (`transcode_max`).
    pub transcode_refused: u64,
    /// Recordings stopped by a write error (full disk, vanished directory).
    pub record_failed: u64,
    /// Indexed by server.
    pub servers: Vec<ServerCounters>,
    /// Refused publish requests by reason.
    pub rejected: BTreeMap<String, u64>,
    pub streams: Vec<StreamStat>,
    /// Clients were left out to fit the snapshot into its slot.
    pub truncated: bool,
    /// The worker's child processes.
    pub processes: Vec<ProcessStat>,
}

/// Which parts of the stat to show (`rtmp_stat all|global|live|clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    pub global: bool,
    pub live: bool,
    pub clients: bool,
}

impl Sections {
    pub const ALL: Sections = Sections {
        global: true,
        live: true,
        clients: true,
    };

    pub const NONE: Sections = Sections {
        global: false,
        live: false,
        clients: false,
    };

    /// Parses the arguments of `rtmp_stat`.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Sections, String> {
        let mut s = Sections::NONE;
        let mut any = false;
        for a in args {
            any = true;
            match a {
                "all" => s = Sections::ALL,
                "global" => s.global = true,
                "live" => s.live = true,
                "clients" => s.clients = true,
                // nginx-rtmp's "play" (VOD) section: we have no VOD; accepted, shows nothing.
                "play" => {}
                other => {
                    return Err(format!(
                        "invalid value \"{other}\" in \"rtmp_stat\" (all, global, live, clients)"
                    ))
                }
            }
        }
        if !any {
            return Err("\"rtmp_stat\" needs at least one of all, global, live, clients".into());
        }
        Ok(s)
    }
}

/// The configured applications of one server, to list them even without streams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerLayout {
    pub applications: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppView {
    pub name: String,
    /// `live on`: the `<live>` section is shown.
    pub live: bool,
    pub streams: Vec<StreamStat>,
}

impl AppView {
    pub fn nclients(&self) -> usize {
        self.streams.iter().map(StreamStat::nclients).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerView {
    pub index: u32,
    pub accepted: u64,
    pub active: u64,
    pub applications: Vec<AppView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerView {
    pub pid: u32,
    pub naccepted: u64,
    pub streams: usize,
    pub age_ms: u64,
}

/// Every worker's snapshot merged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatView {
    pub nginx_version: String,
    pub module_version: String,
    /// The worker that answers.
    pub pid: u32,
    /// Seconds since the oldest live worker started.
    pub uptime: u64,
    pub naccepted: u64,
    pub bw_in: u64,
    pub bytes_in: u64,
    pub bw_out: u64,
    pub bytes_out: u64,
    pub hls_segments: u64,
    /// Streams served without their renditions (`transcode_max`).
    pub transcode_refused: u64,
    /// Recordings stopped by a write error, all workers.
    pub record_failed: u64,
    pub rejected: BTreeMap<String, u64>,
    pub servers: Vec<ServerView>,
    pub workers: Vec<WorkerView>,
    pub truncated: bool,
    /// Every worker's child processes, by worker then label.
    pub processes: Vec<ProcessStat>,
}

impl StatView {
    pub fn streams(&self) -> impl Iterator<Item = &StreamStat> {
        self.servers
            .iter()
            .flat_map(|s| s.applications.iter())
            .flat_map(|a| a.streams.iter())
    }

    pub fn active_connections(&self) -> u64 {
        self.servers.iter().map(|s| s.active).sum()
    }
}

/// Identity of the answering process and the clock of the merge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeContext {
    pub nginx_version: String,
    pub module_version: String,
    pub pid: u32,
    pub now_unix_ms: u64,
}

fn merge_stream(into: &mut StreamStat, s: StreamStat) {
    if s.publishing && !into.publishing {
        // The publisher's worker knows the stream's own figures.
        into.time_ms = s.time_ms;
        into.bytes_in = s.bytes_in;
        into.bw_in = s.bw_in;
        into.bw_audio = s.bw_audio;
        into.bw_video = s.bw_video;
        into.meta = s.meta;
        into.recorders = s.recorders;
        into.publishing = true;
    } else if !into.publishing {
        into.time_ms = into.time_ms.max(s.time_ms);
        if into.meta.is_none() {
            into.meta = s.meta;
        }
    }
    into.active |= s.active;
    into.bytes_out += s.bytes_out;
    into.bw_out += s.bw_out;
    into.clients.extend(s.clients);
    into.relays.extend(s.relays);
}

/// Merges the snapshots of every live worker into one view, listing every configured
/// application of `layout` (by server index) and the streams of every worker.
pub fn merge(ctx: &MergeContext, layout: &[ServerLayout], snapshots: Vec<Snapshot>) -> StatView {
    let mut view = StatView {
        nginx_version: ctx.nginx_version.clone(),
        module_version: ctx.module_version.clone(),
        pid: ctx.pid,
        ..StatView::default()
    };
    let mut servers: Vec<ServerView> = layout
        .iter()
        .enumerate()
        .map(|(i, l)| ServerView {
            index: i as u32,
            applications: l
                .applications
                .iter()
                .map(|(name, live)| AppView {
                    name: name.clone(),
                    live: *live,
                    streams: Vec::new(),
                })
                .collect(),
            ..ServerView::default()
        })
        .collect();
    let mut oldest = u64::MAX;
    // (server, app, name) -> stream, in a stable order.
    let mut streams: BTreeMap<(u32, String, String), StreamStat> = BTreeMap::new();
    for snap in snapshots {
        oldest = oldest.min(snap.started_unix);
        view.naccepted += snap.naccepted;
        view.bytes_in += snap.bytes_in;
        view.bytes_out += snap.bytes_out;
        view.bw_in += snap.bw_in;
        view.bw_out += snap.bw_out;
        view.hls_segments += snap.hls_segments;
        view.transcode_refused += snap.transcode_refused;
        view.record_failed += snap.record_failed;
        view.truncated |= snap.truncated;
        for (reason, n) in &snap.rejected {
            *view.rejected.entry(reason.clone()).or_default() += n;
        }
        for (i, c) in snap.servers.iter().enumerate() {
            if let Some(s) = servers.get_mut(i) {
                s.accepted += c.accepted;
                s.active += c.active;
            }
        }
        view.processes
            .extend(snap.processes.iter().cloned().map(|p| ProcessStat {
                worker: snap.pid,
                ..p
            }));
        view.workers.push(WorkerView {
            pid: snap.pid,
            naccepted: snap.naccepted,
            streams: snap.streams.iter().filter(|s| s.publishing).count(),
            age_ms: ctx.now_unix_ms.saturating_sub(snap.taken_unix_ms),
        });
        for s in snap.streams {
            let key = (s.server, s.app.clone(), s.name.clone());
            match streams.get_mut(&key) {
                Some(into) => merge_stream(into, s),
                None => {
                    streams.insert(key, s);
                }
            }
        }
    }
    view.uptime = if oldest == u64::MAX {
        0
    } else {
        (ctx.now_unix_ms / 1000).saturating_sub(oldest)
    };
    for ((server, app, _), mut s) in streams {
        s.clients.sort_by_key(|c| (!c.publishing, c.id));
        s.relays
            .sort_by(|a, b| (&a.kind, &a.target, a.pid).cmp(&(&b.kind, &b.target, b.pid)));
        let Some(sv) = servers.get_mut(server as usize) else {
            continue;
        };
        match sv.applications.iter_mut().find(|a| a.name == app) {
            Some(a) => a.streams.push(s),
            None => sv.applications.push(AppView {
                name: app,
                live: true,
                streams: vec![s],
            }),
        }
    }
    view.servers = servers;
    view.workers.sort_by_key(|w| w.pid);
    view.processes
        .sort_by(|a, b| (a.worker, &a.label).cmp(&(b.worker, &b.label)));
    view
}
