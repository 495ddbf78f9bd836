//! What the server answers to a client's requests: which application, who may publish which
//! name, where published media goes. The session (protocol) raises requests; this decides,
//! using the config and the worker's live streams.

use ::ngx::ngx_log_error;
use std::net::IpAddr;

use bytes::Bytes;
use nginx_sys::{ngx_log_t, NGX_LOG_ERR, NGX_LOG_NOTICE, NGX_LOG_WARN};

use super::hls_out::HlsOut;
use super::worker;
use crate::auth::Action;
use crate::conf::{AppConf, ServerConf};
use crate::live::{StreamHandle, StreamKey};
use crate::rtmp::{Event, Rejection, Session};

/// A stream this client publishes.
struct Publication {
    /// RTMP message stream id of the publisher's NetStream.
    stream_id: u32,
    handle: StreamHandle,
    hls: Option<HlsOut>,
}

#[derive(Clone, Copy)]
enum Media {
    Audio,
    Video,
}

pub struct Policy {
    server: &'static ServerConf,
    client: u64,
    addr: String,
    ip: Option<IpAddr>,
    app: Option<&'static AppConf>,
    publishing: Vec<Publication>,
}

impl Policy {
    pub fn new(server: &ServerConf, client: u64, addr: String, ip: Option<IpAddr>) -> Policy {
        // SAFETY: a worker never outlives the configuration cycle it was started with, and a
        // `ServerConf` is freed only with that cycle's pool, after all its connections.
        let server: &'static ServerConf = unsafe { &*(server as *const ServerConf) };
        Policy {
            server,
            client,
            addr,
            ip,
            app: None,
            publishing: Vec::new(),
        }
    }

    pub fn client_id(&self) -> u64 {
        self.client
    }

    pub fn on_event(
        &mut self,
        session: &mut Session,
        event: Event,
        log: *mut ngx_log_t,
        now: u64,
    ) -> Result<(), &'static str> {
        match event {
            Event::Connect(req) => match self.server.application(&req.app) {
                Some(app) => {
                    self.app = Some(app);
                    session.accept_connect();
                }
                None => {
                    ngx_log_error!(
                        NGX_LOG_WARN,
                        log,
                        "rtmp: client {} ({}) connect to unknown application \"{}\"",
                        self.client,
                        self.addr,
                        req.app
                    );
                    session.reject_connect("Application not found");
                }
            },
            Event::Publish(req) => {
                let app = self.app.ok_or("publish before connect")?;
                self.publish(session, app, req.stream_id, req.name, log, now);
            }
            Event::Play(req) => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "rtmp: client {} play \"{}\" refused: RTMP playback is not available yet",
                    self.client,
                    req.name
                );
                session.reject_play(req.stream_id, Rejection::NotFound);
            }
            Event::Metadata { stream_id, data } => {
                if let Some(p) = self.publication(stream_id) {
                    let h = p.handle;
                    worker::with(|w| {
                        if let Some(s) = w.hub.get_mut(h) {
                            s.metadata = Some(data);
                        }
                    });
                }
            }
            Event::Audio {
                stream_id,
                timestamp,
                payload,
            } => self.media(stream_id, Media::Audio, timestamp, payload, log),
            Event::Video {
                stream_id,
                timestamp,
                payload,
            } => self.media(stream_id, Media::Video, timestamp, payload, log),
            Event::Unpublish { stream_id } => {
                if let Some(pos) = self
                    .publishing
                    .iter()
                    .position(|p| p.stream_id == stream_id)
                {
                    let p = self.publishing.swap_remove(pos);
                    self.end_publish(p, log);
                }
            }
            Event::StopPlay { .. } => {}
        }
        Ok(())
    }

    /// `allow`/`deny` for this client; a client without an IP address (unix socket) passes.
    fn allowed(&self, app: &AppConf, action: Action) -> bool {
        self.ip
            .is_none_or(|ip| app.settings.access.allows(action, ip))
    }

    fn publication(&mut self, stream_id: u32) -> Option<&mut Publication> {
        self.publishing
            .iter_mut()
            .find(|p| p.stream_id == stream_id)
    }

    fn publish(
        &mut self,
        session: &mut Session,
        app: &AppConf,
        stream_id: u32,
        name: String,
        log: *mut ngx_log_t,
        now: u64,
    ) {
        if !app.settings.accepts_publish() {
            ngx_log_error!(
                NGX_LOG_WARN,
                log,
                "rtmp: client {} publish to \"{}\" refused: neither live nor hls is on",
                self.client,
                app.name
            );
            let why = Rejection::Unauthorized("live is off".into());
            session.reject_publish(stream_id, why);
            return;
        }
        if !self.allowed(app, Action::Publish) {
            ngx_log_error!(
                NGX_LOG_WARN,
                log,
                "rtmp: client {} ({}) publish \"{}/{}\" denied by access rules",
                self.client,
                self.addr,
                app.name,
                name
            );
            session.reject_publish(stream_id, Rejection::Unauthorized("Access denied".into()));
            return;
        }
        let key = StreamKey {
            // The server block's address identifies it for the worker's lifetime.
            server: self.server as *const ServerConf as usize,
            app: app.name.clone(),
            name,
        };
        let handle = match worker::with(|w| w.hub.publish(key.clone(), self.client, now)) {
            Ok(h) => h,
            Err(e) => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "rtmp: client {} publish \"{}\" refused: {}",
                    self.client,
                    key,
                    e
                );
                session.reject_publish(stream_id, Rejection::Busy);
                return;
            }
        };
        let hls = app.settings.hls.as_ref().and_then(|settings| {
            match HlsOut::start(settings, &key.name) {
                Ok(out) => Some(out),
                Err(e) => {
                    ngx_log_error!(
                        NGX_LOG_ERR,
                        log,
                        "rtmp: hls for \"{}\" in \"{}\" disabled: {}",
                        key,
                        settings.path.display(),
                        e
                    );
                    None
                }
            }
        });
        self.publishing.push(Publication {
            stream_id,
            handle,
            hls,
        });
        session.accept_publish(stream_id);
        ngx_log_error!(
            NGX_LOG_NOTICE,
            log,
            "rtmp: client {} ({}) publishes \"{}\"",
            self.client,
            self.addr,
            key
        );
    }

    fn media(
        &mut self,
        stream_id: u32,
        kind: Media,
        timestamp: u32,
        payload: Bytes,
        log: *mut ngx_log_t,
    ) {
        let Some(p) = self
            .publishing
            .iter_mut()
            .find(|p| p.stream_id == stream_id)
        else {
            return;
        };
        let handle = p.handle;
        let hls = &mut p.hls;
        let failed = worker::with(|w| {
            let s = w.hub.get_mut(handle)?;
            s.bytes_in += payload.len() as u64;
            let frame = match kind {
                Media::Audio => {
                    s.audio_messages += 1;
                    s.demuxer.push_audio(timestamp, payload)
                }
                Media::Video => {
                    s.video_messages += 1;
                    s.demuxer.push_video(timestamp, payload)
                }
            };
            match frame {
                Ok(Some(frame)) => hls.as_mut()?.push(&frame, &s.demuxer).err(),
                Ok(None) => None,
                Err(_) => {
                    s.bad_messages += 1;
                    None
                }
            }
        });
        if let Some(e) = failed {
            ngx_log_error!(
                NGX_LOG_ERR,
                log,
                "rtmp: hls write failed, hls disabled for this stream: {}",
                e
            );
            *hls = None;
        }
    }

    fn end_publish(&self, mut p: Publication, log: *mut ngx_log_t) {
        if let Some(hls) = p.hls.as_mut() {
            if let Err(e) = hls.finish() {
                ngx_log_error!(NGX_LOG_ERR, log, "rtmp: hls finish failed: {}", e);
            }
        }
        if let Some(s) = worker::with(|w| w.hub.unpublish(p.handle)) {
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
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

    /// The connection is gone: its streams end.
    pub fn on_close(mut self, log: *mut ngx_log_t) {
        for p in std::mem::take(&mut self.publishing) {
            self.end_publish(p, log);
        }
    }
}
