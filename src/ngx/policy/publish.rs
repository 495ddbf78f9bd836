//! The publisher side: who may publish a name, and where its media goes (players of this
//! worker, HLS).

use bytes::Bytes;

use super::notify::Waiting;
use super::{verify_signed, Policy};
use crate::auth::Action;
use crate::conf::AppConf;
use crate::conf::Call;
use crate::live::shm::{self, ClaimError, Demand, HeaderKind, ShmError, SlotWriter};
use crate::live::{MediaInfo, MediaKind, PublishError, StreamHandle, StreamKey};
use crate::ngx::dash_out::DashOut;
use crate::ngx::fanout::{fan_out, notify};
use crate::ngx::hls_out::HlsOut;
use crate::ngx::shm::{is_alive, owner_id, ShmRegion};
use crate::ngx::worker;
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::message::{csid, types};
use crate::rtmp::{PublishRequest, Rejection, Session};

/// A stream this client publishes.
pub struct Publication {
    /// RTMP message stream id of the publisher's NetStream.
    stream_id: u32,
    handle: StreamHandle,
    hls: Option<HlsOut>,
    dash: Option<DashOut>,
    /// The stream's ring in the shared zone, for players on other workers.
    ring: Option<SlotWriter<ShmRegion>>,
    last_heartbeat: u64,
    /// When media last arrived (for `drop_idle_publisher`).
    last_media: u64,
    /// Another publisher took the name over (its worker claimed our slot).
    replaced: bool,
    /// Size of the latest video keyframe (read pacing keeps its mark below it).
    keyframe_len: Option<usize>,
}

impl Publication {
    /// Copies a message into the shared ring (once per message, whatever the number of
    /// workers reading it), while another worker reads the stream. A ring that fails is
    /// dropped: local players and HLS go on.
    fn copy_to_ring(
        &mut self,
        kind: u8,
        timestamp: u32,
        info: &MediaInfo,
        payload: &[u8],
        now: u64,
    ) {
        self.last_media = now;
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let result =
            ring_write(ring, self.handle, kind, timestamp, info, payload, now).and_then(|()| {
                if now >= self.last_heartbeat + 1000 {
                    self.last_heartbeat = now;
                    ring.heartbeat(now)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = result {
            self.replaced = e == ShmError::Lost;
            self.ring = None;
        }
    }

    /// The hub stream this publication feeds (stat).
    pub fn handle(&self) -> StreamHandle {
        self.handle
    }
}

/// Headers always (they are small and a reader takes them when it attaches); records only
/// while a reader wants them, after the cached GOP when one just asked.
fn ring_write(
    ring: &mut SlotWriter<ShmRegion>,
    handle: StreamHandle,
    kind: u8,
    timestamp: u32,
    info: &MediaInfo,
    payload: &[u8],
    now: u64,
) -> Result<(), ShmError> {
    if info.sequence_header || info.kind == MediaKind::Meta {
        let which = match info.kind {
            MediaKind::Audio => HeaderKind::Audio,
            MediaKind::Video => HeaderKind::Video,
            MediaKind::Meta => HeaderKind::Metadata,
        };
        ring.set_header(which, payload)?;
    }
    match ring.demand(now)? {
        Demand::Idle => return Ok(()),
        // A keyframe starts a reader by itself.
        Demand::Resume if !(info.kind == MediaKind::Video && info.keyframe) => {
            replay_gop(ring, handle)?;
        }
        Demand::Resume | Demand::Active => {}
    }
    ring.push(kind, timestamp, info.keyframe, payload)
}

/// Writes the stream's cached GOP (keyframe first) for a reader that just arrived.
fn replay_gop(ring: &mut SlotWriter<ShmRegion>, handle: StreamHandle) -> Result<(), ShmError> {
    worker::with(|w| {
        let Some(s) = w.hub.get(handle) else {
            return Ok(());
        };
        let mut payload = Vec::new();
        for (info, msg) in s.gop.gop() {
            payload.clear();
            msg.payload_into(&mut payload);
            ring.push(msg.type_id(), msg.timestamp(), info.keyframe, &payload)?;
        }
        Ok(())
    })
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
        self.publish_as(session, app, stream_id, name, now);
    }

    /// Publishes `name` once every check passed (and `on_publish` answered).
    pub(super) fn publish_as(
        &mut self,
        session: &mut Session,
        app: &AppConf,
        stream_id: u32,
        name: String,
        now: u64,
    ) {
        let key = self.key(app, name);
        let client = self.client;
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
                    log_warn!(
                        self.log,
                        "rtmp: client {} publish \"{}\" refused: {}",
                        self.client,
                        key,
                        why
                    );
                    crate::ngx::worker::count_rejected_publish("busy");
                    session.reject_publish(stream_id, Rejection::Busy);
                    return;
                }
            }
        } else {
            None
        };
        let gop = app.settings.gop_cache();
        let published = worker::with(|w| -> Result<StreamHandle, PublishError> {
            let h = w.hub.publish(key.clone(), client, now, gop)?;
            if let Some(s) = w.hub.get(h) {
                notify(w, &s.players, client, true);
            }
            Ok(h)
        });
        let handle = match published {
            Ok(h) => h,
            Err(e) => {
                log_warn!(
                    self.log,
                    "rtmp: client {} publish \"{}\" refused: {}",
                    self.client,
                    key,
                    e
                );
                crate::ngx::worker::count_rejected_publish("busy");
                session.reject_publish(stream_id, Rejection::Busy);
                return;
            }
        };
        let hls = app.settings.hls.as_ref().and_then(|settings| {
            match HlsOut::start(settings, &key.name) {
                Ok(out) => Some(out),
                Err(e) => {
                    log_err!(
                        self.log,
                        "rtmp: hls for \"{}\" in \"{}\" disabled: {}",
                        key,
                        settings.path.display(),
                        e
                    );
                    None
                }
            }
        });
        let dash = app.settings.dash.as_ref().and_then(|settings| {
            DashOut::start(settings, &key.name)
                .map_err(|e| {
                    log_err!(
                        self.log,
                        "rtmp: dash for \"{}\" in \"{}\" disabled: {}",
                        key,
                        settings.path.display(),
                        e
                    );
                })
                .ok()
        });
        self.publishing.push(Publication {
            stream_id,
            handle,
            hls,
            dash,
            ring,
            last_heartbeat: now,
            last_media: now,
            keyframe_len: None,
            replaced: false,
        });
        session.accept_publish(stream_id);
        log_notice!(
            self.log,
            "rtmp: client {} ({}) publishes \"{}\"",
            self.client,
            self.addr,
            key
        );
    }

    pub(super) fn metadata(&mut self, stream_id: u32, data: &Bytes, now: u64) {
        let Some(p) = self
            .publishing
            .iter_mut()
            .find(|p| p.stream_id == stream_id)
        else {
            return;
        };
        p.copy_to_ring(shm::KIND_DATA, 0, &MediaInfo::meta(), data, now);
        let handle = p.handle;
        let chunk_size = self.server.settings.chunk_size;
        let client = self.client;
        worker::with(|w| {
            let Some(s) = w.hub.get_mut(handle) else {
                return;
            };
            let msg = PreparedMessage::new(csid::DATA, chunk_size, types::DATA_AMF0, 0, data);
            let info = MediaInfo::meta();
            s.gop.push(info, &msg);
            let players = std::mem::take(&mut s.players);
            fan_out(w, &players, client, &info, &msg);
            if let Some(s) = w.hub.get_mut(handle) {
                s.players = players;
            }
        });
    }

    pub(super) fn media(
        &mut self,
        stream_id: u32,
        video: bool,
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
        let info = if video {
            MediaInfo::video(&payload)
        } else {
            MediaInfo::audio(&payload)
        };
        let kind = if video {
            shm::KIND_VIDEO
        } else {
            shm::KIND_AUDIO
        };
        p.copy_to_ring(kind, timestamp, &info, &payload, now);
        if info.keyframe {
            p.keyframe_len = Some(payload.len());
        }
        let handle = p.handle;
        let hls = &mut p.hls;
        let dash = &mut p.dash;
        let chunk_size = self.server.settings.chunk_size;
        let client = self.client;
        let failed = worker::with(|w| {
            let s = w.hub.get_mut(handle)?;
            s.count_in(video, payload.len());
            let (chunk_stream, type_id) = if video {
                s.video_messages += 1;
                (csid::VIDEO, types::VIDEO)
            } else {
                s.audio_messages += 1;
                (csid::AUDIO, types::AUDIO)
            };
            if s.players.is_empty() {
                // Nobody to send it to: the GOP cache keeps the payload itself (chunked only
                // if a player joins while it is cached).
                s.gop
                    .push_payload(info, type_id, timestamp, &payload, chunk_size);
            } else {
                // Chunked once, shared by the GOP cache and every player.
                let msg =
                    PreparedMessage::new(chunk_stream, chunk_size, type_id, timestamp, &payload);
                s.gop.push(info, &msg);
                let players = std::mem::take(&mut s.players);
                fan_out(w, &players, client, &info, &msg);
                w.hub.get_mut(handle)?.players = players;
            }
            let s = w.hub.get_mut(handle)?;
            let frame = if video {
                s.demuxer.push_video(timestamp, payload)
            } else {
                s.demuxer.push_audio(timestamp, payload)
            };
            match frame {
                Ok(Some(frame)) => Some((
                    hls.as_mut().and_then(|h| h.push(&frame, &s.demuxer).err()),
                    dash.as_mut().and_then(|d| d.push(&frame, &s.demuxer).err()),
                )),
                Ok(None) => None,
                Err(_) => {
                    s.bad_messages += 1;
                    None
                }
            }
        });
        let (hls_failed, dash_failed) = failed.unwrap_or_default();
        if let Some(e) = hls_failed {
            log_err!(
                self.log,
                "rtmp: hls write failed, hls disabled for this stream: {}",
                e
            );
            *hls = None;
        }
        if let Some(e) = dash_failed {
            log_err!(
                self.log,
                "rtmp: dash write failed, dash disabled for this stream: {}",
                e
            );
            *dash = None;
        }
    }

    pub(super) fn unpublish(&mut self, stream_id: u32) {
        if let Some(pos) = self
            .publishing
            .iter()
            .position(|p| p.stream_id == stream_id)
        {
            let p = self.publishing.swap_remove(pos);
            self.end_publish(p);
        }
    }

    /// `publish_takeover`: the current publisher of `key` on this worker (or the mirror of a
    /// publisher on another worker) gives way.
    fn evict_local_publisher(&self, key: &StreamKey) {
        let old = worker::with(|w| {
            let h = w.hub.handle_of(key)?;
            let publisher = w.hub.get(h)?.publisher;
            Some((publisher, w.conns.get(&publisher).copied()))
        });
        match old {
            Some((client, Some(conn))) if client != self.client => {
                log_notice!(
                    self.log,
                    "rtmp: client {} takes \"{}\" over from client {}",
                    self.client,
                    key,
                    client
                );
                // SAFETY: a registered connection is live and is not this one (checked above);
                // single-threaded worker, and no worker state is borrowed here.
                unsafe { (*conn).evict(key) };
            }
            Some((crate::ngx::remote::REMOTE_PUBLISHER, None)) => crate::ngx::remote::detach(key),
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
                self.end_publish(p);
                true
            }
            None => false,
        }
    }

    /// The smallest latest keyframe among its publications ([`crate::rtmp::InputState`]).
    pub fn keyframe_len(&self) -> Option<usize> {
        self.publishing.iter().filter_map(|p| p.keyframe_len).min()
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

    pub(super) fn end_publish(&self, mut p: Publication) {
        if let Some(hls) = p.hls.as_mut() {
            if let Err(e) = hls.finish() {
                log_err!(self.log, "rtmp: hls finish failed: {}", e);
            }
        }
        if let Some(dash) = p.dash.as_mut() {
            if let Err(e) = dash.finish() {
                log_err!(self.log, "rtmp: dash finish failed: {}", e);
            }
        }
        let idle_streams = self.app.is_some_and(|a| a.settings.idle_streams);
        let client = self.client;
        let ended = worker::with(|w| {
            let s = w.hub.unpublish(p.handle, idle_streams)?;
            notify(w, &s.players, client, false);
            Some(s)
        });
        if let Some(s) = ended {
            if let Some(app) = self.app {
                self.tell(Call::PublishDone, app, &[("name", &s.key.name)]);
            }
            log_notice!(
                self.log,
                "rtmp: client {} stopped publishing \"{}\" ({} video, {} audio messages, {} bytes, {} unparsable)",
                self.client,
                s.key,
                s.video_messages,
                s.audio_messages,
                s.bytes_in,
                s.bad_messages
            );
        }
    }
}
