//! The publisher side: who may publish a name, and the life of its publication (start, the
//! messages it sends into its stream's pipeline, end). Where a message goes is the pipeline's
//! business ([`crate::live::Pipeline`]); the shell executes what it asks
//! ([`crate::ngx::ingest`]).

use bytes::Bytes;

use super::notify::Waiting;
use super::{verify_signed, Policy};
use crate::auth::Action;
use crate::conf::AppConf;
use crate::conf::Call;
use crate::live::shm::{self, ClaimError, SlotWriter};
use crate::live::{Incoming, Pipeline, PublishError, StreamHandle, StreamKey};
use crate::ngx::exec::{self, PublishExec};
use crate::ngx::fanout::notify;
use crate::ngx::file_ops;
use crate::ngx::ingest::ingest;
use crate::ngx::outputs::OutputFiles;
use crate::ngx::relay;
use crate::ngx::remote::{self, REMOTE_PUBLISHER};
use crate::ngx::shm::{is_alive, ShmRegion};
use crate::ngx::tracks;
use crate::ngx::transcode;
use crate::ngx::worker::{self, owner_id};
use crate::relay::RelayTarget;
use crate::rtmp::{KeyframeSeen, PublishRequest, Rejection, Session};

/// A stream this client publishes.
pub struct Publication {
    /// RTMP message stream id of the publisher's NetStream.
    stream_id: u32,
    handle: StreamHandle,
    /// Writers of the stream's outputs that write files.
    files: OutputFiles,
    /// When media last arrived (for `drop_idle_publisher`).
    last_media: u64,
    /// Another publisher took the name over (its worker claimed our slot).
    replaced: bool,
    /// Its `exec` children and the values of its `exec*` lines.
    exec: Option<PublishExec>,
    /// The values of `exec*` lines for it (`exec_record_done` adds the file's).
    vars: crate::exec::Vars,
}

impl Publication {
    /// Its RTMP message stream id.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The query arguments of its publish.
    pub fn args(&self) -> &str {
        &self.vars.args
    }

    /// The hub stream this publication feeds (stat).
    pub fn handle(&self) -> StreamHandle {
        self.handle
    }

    /// The stream's recorders (stat, `/control/record`).
    pub fn recordings(&self) -> impl Iterator<Item = &crate::ngx::recordings::Recording> {
        self.files.recordings()
    }
}

impl Policy {
    /// Claims the stream's slot in the shared zone. `Ok(None)`: no zone, or it is full (the
    /// stream then plays on this worker only).
    fn claim_ring(
        &self,
        key: &StreamKey,
        now: u64,
        takeover: bool,
    ) -> Result<Option<SlotWriter<ShmRegion>>, String> {
        let Some(zone) = worker::with(|w| w.zone) else {
            return Ok(None);
        };
        let name = self.ring_key(key);
        // A takeover treats the current owner as gone: its worker sees the slot lost on its
        // next write and drops its publisher.
        let alive = |owner| !takeover && is_alive(owner);
        match shm::claim(zone.region, zone.layout, &name, owner_id(), now, alive) {
            Ok(w) => Ok(Some(w)),
            Err(ClaimError::Busy { .. }) => {
                Err("stream is already being published (on another worker)".into())
            }
            Err(_) => Ok(None),
        }
    }

    /// Checks keys and signatures; returns the public stream name or why not.
    fn authorize_publish(&self, app: &AppConf, req: &PublishRequest) -> Result<String, String> {
        if !self.allowed(app, Action::Publish) {
            return Err("denied by access rules".into());
        }
        if let Some(secret) = &app.settings.publish_secret {
            verify_signed(secret, &app.name, &req.name, &req.args)?;
        }
        match &app.settings.publish_keys {
            Some(keys) => keys
                .resolve(&app.name, &req.name)
                .map(str::to_owned)
                .map_err(|e| e.to_string()),
            None => Ok(req.name.clone()),
        }
    }

    pub(super) fn publish(
        &mut self,
        session: &mut Session,
        app: &'static AppConf,
        req: PublishRequest,
        now: u64,
    ) {
        let stream_id = req.stream_id;
        if !app.settings.accepts_publish() {
            log_warn!(
                self.log,
                "rtmp: client {} publish to \"{}\" refused: neither live, hls nor dash is on",
                self.client,
                app.name
            );
            crate::ngx::worker::count_rejected_publish("live_off");
            session.reject_publish(stream_id, Rejection::Unauthorized("live is off".into()));
            return;
        }
        let name = match self.authorize_publish(app, &req) {
            Ok(name) => name,
            Err(why) => {
                // The requested name may be a secret key: it is not logged.
                log_warn!(
                    self.log,
                    "rtmp: client {} ({}) publish to \"{}\" refused: {}",
                    self.client,
                    self.addr,
                    app.name,
                    why
                );
                crate::ngx::worker::count_rejected_publish("unauthorized");
                session.reject_publish(stream_id, Rejection::Unauthorized(why));
                return;
            }
        };
        if let Some(url) = app.settings.notify.get(Call::Publish) {
            let mut fields = self.fields(Call::Publish, app);
            fields.push(("name".into(), req.name.clone()));
            fields.push(("type".into(), req.kind.as_str().into()));
            self.wait(
                url,
                app.settings.notify.method,
                fields,
                &req.args,
                Waiting::Publish {
                    app,
                    stream_id,
                    name,
                    args: req.args.clone(),
                },
            );
            if self.waiting.is_none() {
                session.reject_publish(
                    stream_id,
                    Rejection::Unauthorized("on_publish failed".into()),
                );
            }
            return;
        }
        self.publish_as(session, app, stream_id, name, req.args, None, now);
    }

    /// Refuses a publish of `key` because the name is someone else's (`Already publishing`):
    /// logged with `why`, counted as `busy`.
    fn refuse_busy(
        &self,
        session: &mut Session,
        stream_id: u32,
        key: &StreamKey,
        why: impl std::fmt::Display,
    ) {
        log_warn!(
            self.log,
            "rtmp: client {} publish \"{}\" refused: {}",
            self.client,
            key,
            why
        );
        crate::ngx::worker::count_rejected_publish("busy");
        session.reject_publish(stream_id, Rejection::Busy);
    }

    /// Publishes `name` once every check passed (and `on_publish` answered); `push`: a
    /// target the stream is pushed to besides the application's (an `on_publish` redirect).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish_as(
        &mut self,
        session: &mut Session,
        app: &'static AppConf,
        stream_id: u32,
        name: String,
        args: String,
        push: Option<RelayTarget>,
        now: u64,
    ) {
        let key = self.key(app, name);
        let client = self.client;
        // With HLS on, `cam_t1` is the file name of a video track rendition of `cam`: the
        // names are the stream's while it publishes.
        let taken = if app.settings.hls.is_some() {
            if let Some(base) = tracks::base_publishes(self.server, &key) {
                let why =
                    format!("the name of a video track rendition of \"{base}\", which publishes");
                self.refuse_busy(session, stream_id, &key, why);
                return;
            }
            tracks::taken_rendition_name(self.server, &key)
        } else {
            None
        };
        let takeover = app.settings.publish_takeover;
        if takeover {
            self.evict_local_publisher(&key);
        }
        // This worker arbitrates its own publishers first: the shared zone takes a slot of
        // our own worker with the same name for a leftover, and would take it away from a
        // live publisher here.
        let busy_here = worker::with(|w| w.hub.handle_of(&key).is_some());
        // Across workers, a name has one publisher too: the shared zone arbitrates.
        let ring = if app.settings.live && !busy_here {
            match self.claim_ring(&key, now, takeover) {
                Ok(ring) => ring,
                Err(why) => {
                    self.refuse_busy(session, stream_id, &key, why);
                    return;
                }
            }
        } else {
            None
        };
        let pipeline =
            Pipeline::published(app.settings.gop_cache(), self.server.settings.chunk_size);
        let published = worker::with(|w| -> Result<StreamHandle, PublishError> {
            let h = w.hub.publish(key.clone(), client, now, pipeline)?;
            if let Some(s) = w.hub.get(h) {
                notify(&s.players, true);
            }
            Ok(h)
        });
        let handle = match published {
            Ok(h) => h,
            Err(e) => {
                self.refuse_busy(session, stream_id, &key, e);
                return;
            }
        };
        let log = self.log;
        let server = self.server;
        let files = worker::with(|w| {
            let s = w.hub.get_mut(handle)?;
            let mut files = transcode::start_outputs(
                app,
                server,
                &key,
                ring,
                &mut s.pipeline,
                &mut w.counters,
                taken,
                log,
            );
            // A redirect's push is one more output of the stream, like a configured push.
            if let Some(target) = &push {
                let index = app.settings.relay.push.len();
                let (output, sink) = relay::start_push(app, &key, target, index);
                files.attach_sink(&mut s.pipeline, output, sink);
            }
            Some(files)
        })
        .unwrap_or_default();
        session.accept_publish(stream_id);
        log_notice!(
            self.log,
            "rtmp: client {} ({}) publishes \"{}\"",
            self.client,
            self.addr,
            key
        );
        // Its exec commands start once the publication is in place and logged.
        let vars = self.exec_vars(app, &key.name, &args);
        let exec = exec::on_publish(app, vars.clone(), self.log);
        self.update_begin(&key.name, &args, now);
        self.publishing.push(Publication {
            stream_id,
            handle,
            files,
            last_media: now,
            replaced: false,
            exec,
            vars,
        });
        self.send_carried(session, stream_id, now);
    }

    /// A message of the publication on `stream_id`: audio, video or data (onMetaData).
    pub(super) fn media(
        &mut self,
        session: &mut Session,
        stream_id: u32,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
        now: u64,
    ) {
        let Some(p) = self
            .publishing
            .iter_mut()
            .find(|p| p.stream_id == stream_id)
        else {
            return;
        };
        p.last_media = now;
        self.update.timestamp = timestamp;
        let msg = Incoming {
            type_id,
            timestamp,
            payload: &payload,
            now: file_ops::now(),
        };
        let log = self.log;
        let done = worker::with(|w| ingest(w, p.handle, msg, &mut p.files, log));
        p.replaced |= done.replaced;
        let events = p.files.take_record_events();
        if events.is_empty() {
            return;
        }
        let (vars, handle) = (p.vars.clone(), p.handle);
        if let Some(name) = worker::with(|w| Some(w.hub.get(handle)?.key.name.clone())) {
            self.recorded(Some(session), stream_id, &name, &vars, events);
        }
    }

    pub(super) fn unpublish(&mut self, session: &mut Session, stream_id: u32) {
        if let Some(pos) = self
            .publishing
            .iter()
            .position(|p| p.stream_id == stream_id)
        {
            let p = self.publishing.swap_remove(pos);
            self.end_publish(p, Some(session));
        }
    }

    /// `publish_takeover`: the current publisher of `key` on this worker (or the mirror of a
    /// publisher on another worker) gives way.
    fn evict_local_publisher(&self, key: &StreamKey) {
        let publisher = worker::with(|w| Some(w.hub.get(w.hub.handle_of(key)?)?.publisher));
        match publisher {
            Some(REMOTE_PUBLISHER) => remote::detach(key),
            Some(old) if old != self.client => {
                worker::clients(|clients| {
                    clients.with(old, |c| {
                        log_notice!(
                            self.log,
                            "rtmp: client {} takes \"{}\" over from client {}",
                            self.client,
                            key,
                            old
                        );
                        c.evict(key);
                    })
                });
            }
            _ => {}
        }
    }

    /// Ends this client's publication of `key` (taken over) and returns whether it had one.
    pub fn end_publication_of(&mut self, key: &StreamKey) -> bool {
        let mine = self
            .publishing
            .iter()
            .position(|p| worker::with(|w| w.hub.get(p.handle).is_some_and(|s| &s.key == key)));
        match mine {
            Some(pos) => {
                let p = self.publishing.swap_remove(pos);
                self.end_publish(p, None);
                true
            }
            None => false,
        }
    }

    /// The smallest latest keyframe among its publications ([`crate::rtmp::InputState`]).
    pub fn last_keyframe(&self) -> Option<KeyframeSeen> {
        worker::with(|w| {
            self.publishing
                .iter()
                .filter_map(|p| w.hub.get(p.handle)?.pipeline.last_keyframe())
                .min_by_key(|k| k.len)
        })
    }

    /// The earliest time a publication of this client counts as idle.
    pub fn idle_deadline(&self) -> Option<u64> {
        let idle = self.app?.settings.drop_idle_publisher_ms?;
        self.publishing.iter().map(|p| p.last_media + idle).min()
    }

    /// Why this publisher must go, if it must: idle too long, or replaced.
    pub fn publisher_gone(&self, now: u64) -> Option<&'static str> {
        if self.publishing.iter().any(|p| p.replaced) {
            return Some("publisher replaced by a new one (publish_takeover)");
        }
        match self.idle_deadline() {
            Some(t) if now >= t => Some("idle publisher dropped (drop_idle_publisher)"),
            _ => None,
        }
    }

    /// Ends a publication; its recorders' last files are told to the publisher through
    /// `session` when it is still there.
    pub(super) fn end_publish(&self, mut p: Publication, session: Option<&mut Session>) {
        if let (Some(app), Some(e)) = (self.app, p.exec.take()) {
            exec::on_publish_done(app, e, self.log);
        }
        // The players of an `exec_pull` stream wait for its command's next publish.
        let idle_streams = self
            .app
            .is_some_and(|a| a.settings.idle_streams || a.settings.exec.pulls(&p.vars.name));
        let log = self.log;
        let ended = worker::with(|w| {
            let mut s = w.hub.unpublish(p.handle, idle_streams)?;
            s.pipeline.finish(file_ops::now());
            let done = p.files.run(&mut s.pipeline, log);
            w.counters.hls_segments += done.segments;
            w.counters.record_failed += done.record_failed;
            notify(&s.players, false);
            Some(s)
        });
        if let Some(s) = ended {
            let events = p.files.take_record_events();
            self.recorded(session, p.stream_id, &s.key.name, &p.vars, events);
            if let Some(app) = self.app {
                self.tell(Call::PublishDone, app, &[("name", &s.key.name)]);
            }
            let c = s.pipeline.counters();
            log_notice!(
                self.log,
                "rtmp: client {} stopped publishing \"{}\" ({} video, {} audio messages, {} bytes, {} unparsable)",
                self.client,
                s.key,
                c.video_messages,
                c.audio_messages,
                c.bytes_in,
                c.bad_messages
            );
        }
    }
}
