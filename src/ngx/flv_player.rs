//! One HTTP-FLV player: an HTTP request that plays a live stream. It joins the stream's
//! players like an RTMP player (the same hub, fan-out, GOP cache and per-player queue, on
//! every worker: a stream of another worker is mirrored from the shared ring), and is sent
//! the FLV tags every HTTP-FLV player of the stream shares ([`crate::live::flv_tags`]).
//!
//! States: `New`, `Checking` (its `on_play` callback runs), `Playing`, `Ending` (the publisher
//! left: the response ends with its last chunk), `Done` (handed back to nginx). Work that may
//! end the request runs in the request's own write handler ([`FlvPlayer::on_write`]), which
//! tells [`super::http_flv`] to finalize it; deliveries only queue and post that handler.

use std::net::IpAddr;
use std::ptr::NonNull;

use ::ngx::http::Request;
use bytes::Bytes;
use nginx_sys::{ngx_http_request_t, ngx_int_t, ngx_msec_t, ngx_str_t};

use super::flv_out::Outbox;
use super::http_play::{self, HttpPlay};
use super::log::Log;
use super::net::Connection;
use super::relay::pull::{self, Started};
use super::remote;
use super::shm::ring_key;
use super::worker::{self, Client, ClientCard, Want};
use crate::auth::http_play::Refusal;
use crate::conf::{AppConf, ServerConf};
use crate::http::{HttpError, Response};
use crate::live::flv_tags;
use crate::live::{ClientId, Delivery, Player, PlayerQueue, StreamKey};

/// What the request's handler does next.
pub enum Step {
    /// Go on (events will come).
    Wait,
    /// Finalize the request with this code (the player is then done).
    Finalize(ngx_int_t),
}

enum State {
    /// Before [`FlvPlayer::begin`].
    New,
    /// `on_play` runs; its verdict, once it answered.
    Checking(Option<Result<String, Refusal>>),
    Playing,
    Ending,
    Done,
}

const CONTENT_TYPE: &str = "video/x-flv";

/// Who the player is and what it asked for.
pub struct Identity {
    pub id: ClientId,
    /// nginx's connection number (stat, callbacks' `clientid`).
    pub number: u64,
    pub addr: String,
    pub ip: Option<IpAddr>,
    pub tls: bool,
    pub server: &'static ServerConf,
    pub app: &'static AppConf,
    pub name: String,
    pub args: String,
    pub url: String,
    pub referer: String,
}

pub struct FlvPlayer {
    r: NonNull<ngx_http_request_t>,
    who: Identity,
    log: Log,
    send_timeout: ngx_msec_t,
    key: Option<StreamKey>,
    state: State,
    queue: PlayerQueue,
    out: Outbox,
    /// The connection's `sent` when the response started, and at the latest write.
    sent_start: i64,
    sent_last: i64,
    /// `play_flush_interval` of its server, as for RTMP players; `flush_deferred`: waiting
    /// for the worker's flush timer.
    flush_interval_ms: ngx_msec_t,
    flush_deferred: bool,
}

impl FlvPlayer {
    /// # Safety
    /// `r` must be a live request that outlives the player (the player is dropped by a
    /// cleanup of the request's pool).
    pub unsafe fn new(
        r: *mut ngx_http_request_t,
        who: Identity,
        log: Log,
        send_timeout: ngx_msec_t,
    ) -> Option<FlvPlayer> {
        let flush_interval_ms = who.server.settings.play_flush_interval_ms as ngx_msec_t;
        let mut policy = who.app.settings.queue_policy();
        // A decoder starting between keyframes only shows garbage: HTTP-FLV starts at one.
        policy.wait_key = true;
        Some(FlvPlayer {
            r: NonNull::new(r)?,
            queue: PlayerQueue::new(policy),
            who,
            log,
            send_timeout,
            key: None,
            state: State::New,
            out: Outbox::default(),
            sent_start: 0,
            sent_last: 0,
            flush_interval_ms,
            flush_deferred: false,
        })
    }

    pub fn id(&self) -> ClientId {
        self.who.id
    }

    fn play(&self) -> HttpPlay<'_> {
        HttpPlay {
            app: self.who.app,
            ip: self.who.ip,
            client: self.who.number,
            name: self.key.as_ref().map_or(&self.who.name, |k| &k.name),
            args: &self.who.args,
            url: &self.who.url,
            referer: &self.who.referer,
            log: self.log,
        }
    }

    /// The connection, for the duration of a call.
    fn conn(&self) -> Connection {
        // SAFETY: the request is live while the player is (`new`), and so is its connection;
        // the handle is used for one call and never closes it.
        unsafe { Connection::from_raw((*self.r.as_ptr()).connection) }
            .unwrap_or_else(|| unreachable!("a request has a connection"))
    }

    fn sent(&self) -> i64 {
        // SAFETY: as in `conn`.
        unsafe { (*(*self.r.as_ptr()).connection).sent }
    }

    /// Runs the checks; plays at once when no callback is needed.
    pub fn begin(&mut self, answer: http_play::Answer) -> Step {
        match http_play::check(&self.play(), answer) {
            http_play::Checked::Play(name) => self.start(name),
            http_play::Checked::Refused(why) => self.refuse(&why),
            http_play::Checked::Waiting => {
                self.state = State::Checking(None);
                Step::Wait
            }
        }
    }

    fn refuse(&mut self, why: &Refusal) -> Step {
        log_warn!(
            self.log,
            "http-flv: client {} ({}) play \"{}/{}\" refused: {}",
            self.who.number,
            self.who.addr,
            self.who.app.name,
            self.who.name,
            why
        );
        self.state = State::Done;
        Step::Finalize(why.status() as ngx_int_t)
    }

    /// Joins the stream `name` (or waits for its publisher) and sends the response's head.
    fn start(&mut self, name: String) -> Step {
        let app = self.who.app;
        let key = StreamKey {
            // The server block's address identifies it for the worker's lifetime.
            server: self.who.server as *const ServerConf as usize,
            app: app.name.clone(),
            name,
        };
        let want = Want {
            ring_key: ring_key(self.who.server, &key),
            key: key.clone(),
            chunk_size: self.who.server.settings.chunk_size,
            app,
        };
        let now = super::now_ms();
        let mut published = worker::with(|w| {
            w.hub.handle_of(&key).is_some() || remote::attach(w, &want, now).is_some()
        });
        // An edge: the first player of a stream it lacks starts the application's pull, as
        // an RTMP play does; the player waits for it.
        let mut pulling = false;
        if !published {
            let origins = app.settings.relay.pulls_of(&key.name);
            match pull::start(app, self.who.server, &key, origins, false) {
                Some(Started::Here) => pulling = pull::add_waiter(&key, self.who.id),
                Some(Started::Elsewhere) => {
                    published = worker::with(|w| remote::attach(w, &want, now).is_some());
                    pulling = true;
                }
                None => {}
            }
        }
        if !published && !pulling && !app.settings.idle_streams {
            log_info!(
                self.log,
                "http-flv: client {} play \"{}\": not published",
                self.who.number,
                key
            );
            self.state = State::Done;
            return Step::Finalize(nginx_sys::NGX_HTTP_NOT_FOUND as ngx_int_t);
        }
        // SAFETY: the request is live (`new`); its header goes through nginx's filters.
        let rc = unsafe { send_head(self.r.as_ptr()) };
        // SAFETY: as above.
        let header_only = unsafe { (*self.r.as_ptr()).header_only() } != 0;
        if rc == nginx_sys::NGX_ERROR as ngx_int_t || rc > 0 || header_only {
            pull::remove_waiter(&key, self.who.id);
            self.state = State::Done;
            return Step::Finalize(rc);
        }
        self.sent_start = self.sent();
        self.sent_last = self.sent_start;
        let player = Player {
            client: self.who.id,
            stream_id: 0,
        };
        let queue = &mut self.queue;
        let out = &mut self.out;
        let live = worker::with(|w| {
            let Some(h) = w.hub.add_player(&key, player) else {
                out.push(flv_tags::file_header(true, true));
                return false;
            };
            if let Some(s) = w.hub.get_mut(h) {
                let gop = s.pipeline.gop();
                let (audio, video) = (gop.audio_header().is_some(), gop.video_header().is_some());
                out.push(flv_tags::file_header(audio || !video, video || !audio));
                // Instant start: metadata, codec headers and the current GOP.
                for (info, tag) in s.pipeline.flv_burst() {
                    queue.note_sent(&info);
                    out.push(tag.clone());
                }
            }
            true
        });
        if !live {
            remote::wait_for(want);
        }
        if pulling {
            pull::kick(&key);
        }
        log_info!(
            self.log,
            "http-flv: client {} ({}) plays \"{}\"{}",
            self.who.number,
            self.who.addr,
            key,
            if live {
                ""
            } else {
                " (waiting for its publisher)"
            }
        );
        self.key = Some(key);
        self.state = State::Playing;
        self.flush()
    }

    /// The request's write handler: a posted delivery, the socket writable again, or the
    /// send timeout.
    pub fn on_write(&mut self) -> Step {
        if self.conn().write_event().timedout() {
            log_info!(
                self.log,
                "http-flv: client {} closed: send timed out",
                self.who.number
            );
            // SAFETY: as in `conn`: nginx closes a timed-out connection without lingering.
            unsafe { (*(*self.r.as_ptr()).connection).set_timedout(1) };
            self.leave();
            return Step::Finalize(nginx_sys::NGX_HTTP_REQUEST_TIME_OUT as ngx_int_t);
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Checking(None) => {
                self.state = State::Checking(None);
                Step::Wait
            }
            State::Checking(Some(Ok(name))) => self.start(name),
            State::Checking(Some(Err(why))) => self.refuse(&why),
            State::Playing => {
                self.state = State::Playing;
                self.flush()
            }
            State::Ending => {
                self.leave();
                // SAFETY: the request is live; the pieces are its body.
                let rc = unsafe { self.out.pass(self.r.as_ptr(), true) };
                self.out.reclaim();
                Step::Finalize(if rc == nginx_sys::NGX_ERROR as ngx_int_t {
                    rc
                } else {
                    nginx_sys::NGX_OK as ngx_int_t
                })
            }
            State::New | State::Done => Step::Wait,
        }
    }

    /// Writes what is queued; arms the write event and the send timeout while the client
    /// has not taken everything.
    fn flush(&mut self) -> Step {
        // SAFETY: the request is live; the pieces are its body.
        let rc = unsafe { self.out.pass(self.r.as_ptr(), false) };
        self.out.reclaim();
        if rc == nginx_sys::NGX_ERROR as ngx_int_t {
            log_info!(
                self.log,
                "http-flv: client {} closed: write failed",
                self.who.number
            );
            self.leave();
            self.state = State::Done;
            return Step::Finalize(rc);
        }
        let sent = self.sent();
        let progressed = sent > self.sent_last;
        self.sent_last = sent;
        let c = self.conn();
        let wev = c.write_event();
        // SAFETY: as in `conn`.
        let buffered = unsafe { (*c.as_ptr()).buffered() } != 0;
        if buffered {
            if c.arm_write().is_err() {
                self.leave();
                self.state = State::Done;
                return Step::Finalize(nginx_sys::NGX_ERROR as ngx_int_t);
            }
            if !wev.timer_set() || progressed {
                wev.add_timer(self.send_timeout);
            }
        } else {
            wev.del_timer();
        }
        Step::Wait
    }

    /// Leaves the stream's players (the response ends).
    fn leave(&mut self) {
        if let Some(key) = &self.key {
            pull::remove_waiter(key, self.who.id);
            let player = Player {
                client: self.who.id,
                stream_id: 0,
            };
            worker::with(|w| w.hub.remove_player(key, player));
        }
    }

    /// The request is freed: the play ends (`on_play_done`).
    pub fn close(&mut self) {
        self.leave();
        if self.key.is_some() {
            http_play::done(&self.play());
        }
        log_info!(
            self.log,
            "http-flv: client {} done, {} bytes sent",
            self.who.number,
            self.sent_last.saturating_sub(self.sent_start)
        );
    }

    fn post_write(&self) {
        self.conn().write_event().post();
    }
}

/// Sends the response's head: 200, `video/x-flv`, no length (chunked, or to the close).
///
/// # Safety
/// `r` must be a live request whose head was not sent.
unsafe fn send_head(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: the caller's contract.
    let req = unsafe { Request::from_ngx_http_request(r) };
    let out = &mut req.as_mut().headers_out;
    out.status = nginx_sys::NGX_HTTP_OK as usize;
    // nginx only reads the content type: a static string serves every request.
    out.content_type = ngx_str_t {
        len: CONTENT_TYPE.len(),
        data: CONTENT_TYPE.as_ptr().cast_mut(),
    };
    out.content_type_len = CONTENT_TYPE.len();
    out.content_type_lowcase = std::ptr::null_mut();
    out.content_length_n = -1;
    let _ = req.add_header_out("Cache-Control", "no-cache");
    req.send_header().into()
}

impl Client for FlvPlayer {
    fn deliver(&mut self, _stream_id: u32, d: &Delivery) {
        if !matches!(self.state, State::Playing) {
            return;
        }
        if !self.queue.admit(&d.info, self.out.queued()).is_send() {
            return;
        }
        let tag: &Bytes = d.flv_tag();
        self.out.push(tag.clone());
        if self.flush_interval_ms == 0 {
            self.post_write();
        } else if !self.flush_deferred {
            self.flush_deferred = true;
            super::fanout::defer_flush(self.who.id, self.flush_interval_ms);
        }
    }

    /// The worker's flush timer (`play_flush_interval`): write what `deliver` queued.
    fn flush_now(&mut self) {
        self.flush_deferred = false;
        self.post_write();
    }

    /// The publisher left: the response ends (a new publisher starts a new one). It came:
    /// the queue starts again at a keyframe.
    fn notify(&mut self, _stream_id: u32, published: bool) {
        if !matches!(self.state, State::Playing) {
            return;
        }
        if published {
            self.queue.reset();
        } else {
            self.state = State::Ending;
            self.post_write();
        }
    }

    /// The pull this player waits for streams (the hub hands it the stream), or failed at
    /// every origin: the response ends.
    fn pull_ready(&mut self, key: &StreamKey, ok: bool) {
        if !ok && matches!(self.state, State::Playing) {
            log_warn!(
                self.log,
                "http-flv: client {} play \"{}\": every origin of the pull failed",
                self.who.number,
                key
            );
            self.state = State::Ending;
            self.post_write();
        }
    }

    fn evict(&mut self, _key: &StreamKey) {}

    /// The `on_play` answer: the write handler acts on it.
    fn notified(&mut self, result: Result<Response, HttpError>) {
        if let State::Checking(v) = &mut self.state {
            *v = Some(http_play::verdict(&self.who.name, result));
            self.post_write();
        }
    }

    fn updated(&mut self, _result: Result<Response, HttpError>) {}

    fn request_close(&mut self) {
        if matches!(self.state, State::Playing) {
            log_info!(
                self.log,
                "http-flv: client {} dropped by rtmp_control",
                self.who.number
            );
            self.state = State::Ending;
            self.post_write();
        }
    }

    fn redirect(&mut self, _what: crate::stat::RedirectWhat<'_>, _newname: &str) -> bool {
        false
    }

    fn card(&self) -> ClientCard<'_> {
        ClientCard {
            number: self.who.number,
            server: self.who.server as *const ServerConf as usize,
            app: Some(&self.who.app.name),
            addr: &self.who.addr,
            flashver: "",
            tls: self.who.tls,
            http: true,
            bytes_in: 0,
            bytes_out: self.sent_last.saturating_sub(self.sent_start) as u64,
            publications: Vec::new(),
            playbacks: self.key.iter().map(|k| (k, self.queue.dropped())).collect(),
            recordings: Vec::new(),
        }
    }
}
