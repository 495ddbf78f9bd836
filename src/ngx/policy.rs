//! What the server answers to a client's requests: which application, who may publish which
//! name. The session (protocol) raises requests; this decides, using the config and the
//! worker's live streams.

use nginx_sys::{ngx_log_t, NGX_LOG_NOTICE, NGX_LOG_WARN};
use ::ngx::ngx_log_error;

use super::worker;
use crate::conf::{AppConf, ServerConf};
use crate::live::{StreamHandle, StreamKey};
use crate::rtmp::{Event, Rejection, Session};

pub struct Policy {
    server: &'static ServerConf,
    client: u64,
    addr: String,
    app: Option<&'static AppConf>,
    /// Streams this client publishes: RTMP message stream id → live stream.
    publishing: Vec<(u32, StreamHandle)>,
}

impl Policy {
    pub fn new(server: &ServerConf, client: u64, addr: String) -> Policy {
        // SAFETY: a worker never outlives the configuration cycle it was started with, and a
        // `ServerConf` is freed only with that cycle's pool, after all its connections.
        let server: &'static ServerConf = unsafe { &*(server as *const ServerConf) };
        Policy {
            server,
            client,
            addr,
            app: None,
            publishing: Vec::new(),
        }
    }

    pub fn client_id(&self) -> u64 {
        self.client
    }

    fn handle(&self, stream_id: u32) -> Option<StreamHandle> {
        self.publishing
            .iter()
            .find(|(id, _)| *id == stream_id)
            .map(|(_, h)| *h)
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
                if !app.settings.live {
                    ngx_log_error!(
                        NGX_LOG_WARN,
                        log,
                        "rtmp: client {} publish to \"{}\" refused: live is off",
                        self.client,
                        app.name
                    );
                    session.reject_publish(req.stream_id, Rejection::Unauthorized("live is off".into()));
                    return Ok(());
                }
                let key = StreamKey {
                    // The server block's address identifies it for the worker's lifetime.
                    server: self.server as *const ServerConf as usize,
                    app: app.name.clone(),
                    name: req.name,
                };
                match worker::with(|w| w.hub.publish(key.clone(), self.client, now)) {
                    Ok(h) => {
                        self.publishing.push((req.stream_id, h));
                        session.accept_publish(req.stream_id);
                        ngx_log_error!(
                            NGX_LOG_NOTICE,
                            log,
                            "rtmp: client {} ({}) publishes \"{}\"",
                            self.client,
                            self.addr,
                            key
                        );
                    }
                    Err(e) => {
                        ngx_log_error!(
                            NGX_LOG_WARN,
                            log,
                            "rtmp: client {} publish \"{}\" refused: {}",
                            self.client,
                            key,
                            e
                        );
                        session.reject_publish(req.stream_id, Rejection::Busy);
                    }
                }
            }
            Event::Play(req) => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    log,
                    "rtmp: client {} play \"{}\" refused: playback is not available yet",
                    self.client,
                    req.name
                );
                session.reject_play(req.stream_id, Rejection::Unauthorized("playback is not available".into()));
            }
            Event::Metadata { stream_id, data } => {
                if let Some(h) = self.handle(stream_id) {
                    worker::with(|w| {
                        if let Some(s) = w.hub.get_mut(h) {
                            s.metadata = Some(data);
                        }
                    });
                }
            }
            Event::Audio {
                stream_id, payload, ..
            } => {
                if let Some(h) = self.handle(stream_id) {
                    worker::with(|w| {
                        if let Some(s) = w.hub.get_mut(h) {
                            s.audio_messages += 1;
                            s.bytes_in += payload.len() as u64;
                        }
                    });
                }
            }
            Event::Video {
                stream_id, payload, ..
            } => {
                if let Some(h) = self.handle(stream_id) {
                    worker::with(|w| {
                        if let Some(s) = w.hub.get_mut(h) {
                            s.video_messages += 1;
                            s.bytes_in += payload.len() as u64;
                        }
                    });
                }
            }
            Event::Unpublish { stream_id } => {
                if let Some(pos) = self.publishing.iter().position(|(id, _)| *id == stream_id) {
                    let (_, h) = self.publishing.swap_remove(pos);
                    self.end_publish(h, log);
                }
            }
            Event::StopPlay { .. } => {}
        }
        Ok(())
    }

    fn end_publish(&self, h: StreamHandle, log: *mut ngx_log_t) {
        if let Some(s) = worker::with(|w| w.hub.unpublish(h)) {
            ngx_log_error!(
                NGX_LOG_NOTICE,
                log,
                "rtmp: client {} stopped publishing \"{}\" ({} video, {} audio messages, {} bytes)",
                self.client,
                s.key,
                s.video_messages,
                s.audio_messages,
                s.bytes_in
            );
        }
    }

    /// The connection is gone: its streams end.
    pub fn on_close(mut self, log: *mut ngx_log_t) {
        for (_, h) in std::mem::take(&mut self.publishing) {
            self.end_publish(h, log);
        }
    }
}
