//! What the server answers to a client's requests: which application, who may publish or
//! play which name, where published media goes. The session (protocol) raises requests; this
//! decides, using the config and the worker's live streams.
//!
//! - [`publish`]: publishers: keys, busy names, HLS, fan-out to players.
//! - [`play`]: players: joining, waiting for a publisher, the per-player queue.

mod notify;
mod play;
mod publish;
mod record;
mod redirect;
mod update;

use std::net::IpAddr;

use crate::auth::Action;
use crate::conf::{AppConf, Call, ServerConf};
use crate::live::StreamKey;
use crate::ngx::log::Log;
use crate::rtmp::message::types;
use crate::rtmp::{Event, Session};

pub use notify::{callback_fields, send as send_callback};
pub use play::{Playback, Route};
pub use publish::Publication;

pub struct Policy {
    /// The connection's log (the policy lives inside its connection).
    log: Log,
    server: &'static ServerConf,
    client: u64,
    addr: String,
    ip: Option<IpAddr>,
    app: Option<&'static AppConf>,
    publishing: Vec<Publication>,
    playing: Vec<Playback>,
    /// The client's flashVer (stat, callbacks), swfUrl, tcUrl and pageUrl (callbacks).
    flashver: String,
    swf_url: String,
    tc_url: String,
    page_url: String,
    /// A request paused until its HTTP callback answers.
    waiting: Option<notify::Waiting>,
    /// `on_update` calls.
    update: update::Updates,
    /// Plays that wait for the pull they started to stream.
    pull_waits: Vec<play::PullWait>,
    /// Publications moved to another name whose new publication has not started yet.
    carried: Vec<redirect::Carried>,
}

impl Policy {
    pub fn new(
        server: &ServerConf,
        log: Log,
        client: u64,
        addr: String,
        ip: Option<IpAddr>,
    ) -> Policy {
        // SAFETY: a worker never outlives the configuration cycle it was started with, and a
        // `ServerConf` is freed only with that cycle's pool, after all its connections.
        let server: &'static ServerConf = unsafe { &*(server as *const ServerConf) };
        super::worker::with(|w| {
            *w.counters
                .accepted_by_server
                .entry(server as *const ServerConf as usize)
                .or_default() += 1
        });
        Policy {
            log,
            server,
            client,
            addr,
            ip,
            app: None,
            publishing: Vec::new(),
            playing: Vec::new(),
            flashver: String::new(),
            swf_url: String::new(),
            tc_url: String::new(),
            page_url: String::new(),
            waiting: None,
            update: update::Updates::default(),
            pull_waits: Vec::new(),
            carried: Vec::new(),
        }
    }

    pub fn client_id(&self) -> u64 {
        self.client
    }

    pub fn on_event(
        &mut self,
        session: &mut Session,
        event: Event,
        now: u64,
    ) -> Result<(), &'static str> {
        if let Event::Connect(req) = &event {
            self.flashver.clone_from(&req.flashver);
            self.swf_url.clone_from(&req.swf_url);
            self.tc_url.clone_from(&req.tc_url);
            self.page_url.clone_from(&req.page_url);
        }
        match event {
            Event::Connect(req) => match self.server.application(&req.app) {
                Some(app) => {
                    self.app = Some(app);
                    match self.server.notify.get(Call::Connect) {
                        Some(url) => {
                            let fields = self.fields(Call::Connect, app);
                            let method = self.server.notify.method;
                            self.wait(url, method, fields, &req.app_args, notify::Waiting::Connect);
                            if self.waiting.is_none() {
                                session.reject_connect("on_connect failed");
                            }
                        }
                        None => session.accept_connect(),
                    }
                }
                None => {
                    log_warn!(
                        self.log,
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
                self.publish(session, app, req, now);
            }
            Event::Play(req) => {
                let app = self.app.ok_or("play before connect")?;
                self.play(session, app, req, now);
            }
            Event::Metadata { stream_id, data } => {
                self.media(session, stream_id, types::DATA_AMF0, 0, data, now)
            }
            Event::Audio {
                stream_id,
                timestamp,
                payload,
            } => self.media(session, stream_id, types::AUDIO, timestamp, payload, now),
            Event::Video {
                stream_id,
                timestamp,
                payload,
            } => self.media(session, stream_id, types::VIDEO, timestamp, payload, now),
            Event::Unpublish { stream_id } => self.unpublish(session, stream_id),
            Event::StopPlay { stream_id } => self.stop_play(stream_id),
            // Resuming: the player restarts at a keyframe.
            Event::Pause {
                stream_id,
                paused: false,
            } => self.reset_queue(stream_id),
            Event::Pause { .. } | Event::Receive { .. } => {}
        }
        Ok(())
    }

    /// `allow`/`deny` for this client; a client without an IP address (unix socket) passes.
    fn allowed(&self, app: &AppConf, action: Action) -> bool {
        self.ip
            .is_none_or(|ip| app.settings.access.allows(action, ip))
    }

    fn key(&self, app: &AppConf, name: String) -> StreamKey {
        StreamKey {
            // The server block's address identifies it for the worker's lifetime.
            server: self.server as *const ServerConf as usize,
            app: app.name.clone(),
            name,
        }
    }

    /// The stream's name in the shared zone: server (its first listen address), app, name.
    fn ring_key(&self, key: &StreamKey) -> String {
        crate::ngx::shm::ring_key(self.server, key)
    }

    /// The connection is gone: its streams end, its playbacks stop.
    pub fn on_close(mut self) {
        for p in std::mem::take(&mut self.publishing) {
            self.end_publish(p, None);
        }
        for p in std::mem::take(&mut self.playing) {
            self.end_play(&p);
        }
        for w in std::mem::take(&mut self.pull_waits) {
            crate::ngx::relay::pull::remove_waiter(&w.key, self.client);
        }
        if let Some(app) = self.app {
            self.tell(Call::Done, app, &[]);
        }
    }

    /// The values of `exec*` lines for a publish or play of `name` with `args`.
    fn exec_vars(&self, app: &AppConf, name: &str, args: &str) -> crate::exec::Vars {
        crate::exec::Vars {
            name: name.to_owned(),
            args: args.to_owned(),
            app: app.name.clone(),
            addr: self.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            flashver: self.flashver.clone(),
            swfurl: self.swf_url.clone(),
            tcurl: self.tc_url.clone(),
            pageurl: self.page_url.clone(),
            ..crate::exec::Vars::default()
        }
    }

    /// The client's address (stat, control).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The flashVer of its connect (stat).
    pub fn flashver(&self) -> &str {
        &self.flashver
    }

    /// Its `server {}` block.
    pub fn server(&self) -> &'static ServerConf {
        self.server
    }

    /// The application it connected to.
    pub fn app_name(&self) -> Option<&str> {
        self.app.map(|a| a.name.as_str())
    }

    /// Hub streams it publishes.
    pub fn publications(&self) -> impl Iterator<Item = crate::live::StreamHandle> + '_ {
        self.publishing.iter().map(Publication::handle)
    }

    /// The recorders of the streams it publishes, by stream.
    pub fn recordings(
        &self,
    ) -> impl Iterator<
        Item = (
            crate::live::StreamHandle,
            &crate::ngx::recordings::Recording,
        ),
    > + '_ {
        self.publishing
            .iter()
            .flat_map(|p| p.recordings().map(move |r| (p.handle(), r)))
    }

    /// Streams it plays, with the messages dropped for it.
    pub fn playbacks(&self) -> impl Iterator<Item = (&StreamKey, u64)> + '_ {
        self.playing.iter().map(|p| (p.key(), p.dropped()))
    }
}

/// Checks a signed name (`publish_secret`, `play_secret`) of `app` against the clock.
fn verify_signed(secret: &str, app: &str, name: &str, args: &str) -> Result<(), String> {
    let now = nginx_sys::ngx_time() as u64;
    crate::auth::signed::verify(secret.as_bytes(), app, name, args, now).map_err(|e| e.to_string())
}
