//! The player side: who may play, joining a live stream (instantly, from the GOP cache) or
//! waiting for its publisher, and the per-player queue that protects everyone from a slow
//! player.

use super::notify::Waiting;
use super::{verify_signed, Policy};
use crate::auth::Action;
use crate::conf::AppConf;
use crate::conf::Call;
use crate::exec::Vars;
use crate::live::legacy::{codec_name, View};
use crate::live::{Delivery, Player, PlayerQueue, StreamKey};
use crate::media::{CodecMask, FourCc};
use crate::ngx::exec;
use crate::ngx::relay::pull::Started;
use crate::ngx::remote;
use crate::ngx::worker::{self, Want};
use crate::relay::RelayTarget;
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::{PlayRequest, Rejection, Session};

/// A stream this client plays.
pub struct Playback {
    stream_id: u32,
    key: StreamKey,
    queue: PlayerQueue,
    /// The values of the application's `exec_play_done` lines, when it has some.
    exec: Option<Box<Vars>>,
    /// The codecs it announced in `connect` (empty for a legacy player).
    accepts: CodecMask,
    /// It was told the stream is not one it can decode: it gets nothing more.
    failed: bool,
}

/// What a live message becomes for one player.
pub enum Route<'a> {
    /// Queue it.
    Send(&'a PreparedMessage),
    /// Nothing for this player.
    Skip,
    /// Tell it the stream is unplayable for it (once): the description.
    Fail(String),
}

/// The status line of a player that cannot decode `key`'s codec.
fn unplayable(key: &StreamKey, code: FourCc) -> String {
    format!(
        "{key} is {}: this player did not announce it (Enhanced RTMP fourCcList)",
        codec_name(code)
    )
}

impl Playback {
    /// Its RTMP message stream id.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The stream played (stat).
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Messages dropped for this player so far (stat).
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }
}

/// A play that waits for the pull of its stream to stream (or to fail at every origin).
pub struct PullWait {
    pub key: StreamKey,
    app: &'static AppConf,
    req: PlayRequest,
}

/// Removes a player from its stream (or the waiting list).
pub(super) fn forget(client: u64, p: &Playback) {
    let player = Player {
        client,
        stream_id: p.stream_id,
    };
    worker::with(|w| w.hub.remove_player(&p.key, player));
}

impl Policy {
    fn authorize_play(&self, app: &AppConf, req: &PlayRequest) -> Result<(), String> {
        if !self.allowed(app, Action::Play) {
            return Err("denied by access rules".into());
        }
        if !app.settings.live {
            return Err("live is off".into());
        }
        if let Some(secret) = &app.settings.play_secret {
            verify_signed(secret, &app.name, &req.name, &req.args)?;
        }
        Ok(())
    }

    pub(super) fn play(
        &mut self,
        session: &mut Session,
        app: &'static AppConf,
        req: PlayRequest,
        now: u64,
    ) {
        let stream_id = req.stream_id;
        if let Err(why) = self.authorize_play(app, &req) {
            log_warn!(
                self.log,
                "rtmp: client {} ({}) play \"{}/{}\" refused: {}",
                self.client,
                self.addr,
                app.name,
                req.name,
                why
            );
            let reason = if app.settings.live {
                Rejection::Unauthorized(why)
            } else {
                Rejection::NotFound
            };
            session.reject_play(stream_id, reason);
            return;
        }
        if let Some(url) = app.settings.notify.get(Call::Play) {
            let mut fields = self.fields(Call::Play, app);
            fields.push(("name".into(), req.name.clone()));
            fields.push(("start".into(), req.start.to_string()));
            fields.push(("duration".into(), req.duration.to_string()));
            fields.push(("reset".into(), u8::from(req.reset).to_string()));
            let args = req.args.clone();
            self.wait(
                url,
                app.settings.notify.method,
                fields,
                &args,
                Waiting::Play { app, req },
            );
            if self.waiting.is_none() {
                session.reject_play(stream_id, Rejection::Unauthorized("on_play failed".into()));
            }
            return;
        }
        self.play_as(session, app, req, now);
    }

    /// Plays once every check passed (and `on_play` answered).
    pub(super) fn play_as(
        &mut self,
        session: &mut Session,
        app: &'static AppConf,
        req: PlayRequest,
        now: u64,
    ) {
        self.play_from(session, app, req, None, now)
    }

    /// Plays, pulling the stream from `origin` when nobody publishes or pulls it yet (an
    /// `on_play` redirect to `rtmp://`) instead of from the application's `pull` targets.
    pub(super) fn play_from(
        &mut self,
        session: &mut Session,
        app: &'static AppConf,
        req: PlayRequest,
        origin: Option<RelayTarget>,
        now: u64,
    ) {
        let stream_id = req.stream_id;
        if self.playing.iter().any(|p| p.stream_id == stream_id) {
            self.stop_play(stream_id);
        }
        let key = self.key(app, req.name.clone());
        let player = Player {
            client: self.client,
            stream_id,
        };
        let want = Want {
            ring_key: self.ring_key(&key),
            key: key.clone(),
            chunk_size: self.server.settings.chunk_size,
            app,
        };
        // Published here, pulled here (the play waits for the pull to stream), or on another
        // worker (then mirrored from the shared zone).
        let live_here = worker::with(|w| w.hub.handle_of(&key).is_some());
        if !live_here && self.wait_for_pull(app, &key, &req) {
            return;
        }
        let mut published = live_here || worker::with(|w| remote::attach(w, &want, now).is_some());
        // Its player waits for the `exec_pull` commands' publish, whatever `idle_streams` says.
        let mut exec_pulled = false;
        if !published {
            // An edge: the first player of a stream it lacks starts a pull.
            let origins = match origin {
                Some(o) => vec![o],
                None => app.settings.relay.pulls_of(&key.name),
            };
            let started = crate::ngx::relay::pull::start(app, self.server, &key, origins, false);
            if started.is_none() {
                // No pull provides it: the `exec_pull` commands publish it, if any applies.
                let vars = self.exec_vars(app, &key.name, &req.args);
                exec_pulled = crate::ngx::exec_pull::want(app, self.server, &key, vars, self.log);
            }
            match started {
                Some(Started::Here) if self.wait_for_pull(app, &key, &req) => {
                    crate::ngx::relay::pull::kick(&key);
                    return;
                }
                // Another worker claimed it in between: read it from there.
                Some(_) => published = worker::with(|w| remote::attach(w, &want, now).is_some()),
                None => {}
            }
        }
        if !published && !exec_pulled && !app.settings.idle_streams {
            log_info!(
                self.log,
                "rtmp: client {} play \"{}\": not published",
                self.client,
                key
            );
            session.reject_play(stream_id, Rejection::NotFound);
            return;
        }
        let mut queue = PlayerQueue::new(app.settings.queue_policy());
        let accepts = session.client_caps().codecs;
        let mut failed = false;
        session.accept_play(stream_id);
        let live = worker::with(|w| {
            let h = w.hub.add_player(&key, player)?;
            let s = w.hub.get_mut(h)?;
            let view = View::choose(accepts, &s.pipeline.form());
            if let View::Unplayable(code) = view {
                failed = true;
                session.fail_play(stream_id, &unplayable(&key, code));
            }
            // Instant start: metadata, codec headers and the current GOP, right away.
            for (info, msg) in s.pipeline.join_burst(view) {
                queue.note_sent(&info);
                session.send_prepared(stream_id, msg);
            }
            Some(())
        });
        if failed {
            log_info!(
                self.log,
                "rtmp: client {} ({}) play \"{}\": a codec it did not announce",
                self.client,
                self.addr,
                key
            );
        }
        if live.is_none() {
            remote::wait_for(want);
        }
        log_info!(
            self.log,
            "rtmp: client {} ({}) plays \"{}\"{}",
            self.client,
            self.addr,
            key,
            if live.is_some() {
                ""
            } else {
                " (waiting for its publisher)"
            }
        );
        // Most clients play one stream: room for exactly one, not a Vec's first four.
        self.playing.reserve_exact(1);
        let exec = exec::on_play(app, self.exec_vars(app, &key.name, &req.args), self.log);
        self.update_begin(&key.name, &req.args, now);
        self.playing.push(Playback {
            stream_id,
            key,
            queue,
            exec,
            accepts,
            failed,
        });
    }

    /// Registers the play with this worker's pull of `key`, if there is one: it is answered
    /// when the pull streams. `false`: this worker does not pull `key`. (A pull started from
    /// elsewhere — `relay::pull::start` for a callback's `rtmp://` redirect — takes its player
    /// through here, then `relay::pull::kick`.)
    pub(super) fn wait_for_pull(
        &mut self,
        app: &'static AppConf,
        key: &StreamKey,
        req: &PlayRequest,
    ) -> bool {
        if !crate::ngx::relay::pull::add_waiter(key, self.client) {
            return false;
        }
        log_info!(
            self.log,
            "rtmp: client {} ({}) play \"{}\": waiting for the pull",
            self.client,
            self.addr,
            key
        );
        self.pull_waits.push(PullWait {
            key: key.clone(),
            app,
            req: req.clone(),
        });
        true
    }

    /// The pull of `key` streams (`ok`) or failed at every origin: the plays that waited for
    /// it start, or are refused.
    pub fn pull_ready(&mut self, session: &mut Session, key: &StreamKey, ok: bool, now: u64) {
        let (ready, rest): (Vec<PullWait>, Vec<PullWait>) = std::mem::take(&mut self.pull_waits)
            .into_iter()
            .partition(|w| &w.key == key);
        self.pull_waits = rest;
        for w in ready {
            if ok && worker::with(|wk| wk.hub.handle_of(key).is_some()) {
                self.play_as(session, w.app, w.req, now);
            } else {
                log_warn!(
                    self.log,
                    "rtmp: client {} play \"{}\" refused: every origin of the pull failed",
                    self.client,
                    key
                );
                session.reject_play(
                    w.req.stream_id,
                    Rejection::Unauthorized("every origin of the pull failed".into()),
                );
            }
        }
    }

    pub(super) fn stop_play(&mut self, stream_id: u32) {
        if let Some(pos) = self
            .pull_waits
            .iter()
            .position(|w| w.req.stream_id == stream_id)
        {
            let w = self.pull_waits.swap_remove(pos);
            crate::ngx::relay::pull::remove_waiter(&w.key, self.client);
        }
        if let Some(pos) = self.playing.iter().position(|p| p.stream_id == stream_id) {
            let p = self.playing.swap_remove(pos);
            self.end_play(&p);
        }
    }

    /// A playback ends (stop, or the connection closed): `on_play_done`.
    pub(super) fn end_play(&self, p: &Playback) {
        forget(self.client, p);
        if let (Some(app), Some(vars)) = (self.app, &p.exec) {
            exec::on_play_done(app, vars, self.log);
        }
        if let Some(app) = self.app {
            self.tell(Call::PlayDone, app, &[("name", &p.key.name)]);
        }
    }

    /// What a live message becomes for the player on `stream_id`: the form its view takes
    /// (as published, or legacy), if its queue admits it given how much it has not yet taken.
    /// The view is chosen per message from the stream's codecs then, so a publisher that
    /// switches codec mid-stream is followed.
    pub fn route<'a>(
        &mut self,
        stream_id: u32,
        d: &'a Delivery,
        pending_bytes: usize,
    ) -> Route<'a> {
        let Some(p) = self.playing.iter_mut().find(|p| p.stream_id == stream_id) else {
            return Route::Skip;
        };
        if p.failed {
            return Route::Skip;
        }
        let view = View::choose(p.accepts, &d.form);
        if let View::Unplayable(code) = view {
            p.failed = true;
            let description = unplayable(&p.key, code);
            log_info!(
                self.log,
                "rtmp: client {} ({}) play: {}",
                self.client,
                self.addr,
                description
            );
            return Route::Fail(description);
        }
        match d.for_view(view) {
            Some(m) if p.queue.admit(&d.info, pending_bytes).is_send() => Route::Send(m),
            _ => Route::Skip,
        }
    }

    /// The stream restarts (publisher left or came back): the queue waits for a new start.
    pub fn reset_queue(&mut self, stream_id: u32) {
        if let Some(p) = self.playing.iter_mut().find(|p| p.stream_id == stream_id) {
            p.queue.reset();
        }
    }
}
