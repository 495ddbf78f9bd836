//! `on_update`: while a client publishes or plays, a call every `notify_update_timeout`
//! (`call=update_publish` or `update_play` with the usual fields, `time` — seconds since
//! its first publish or play — `timestamp`, `name` and the name's query arguments). An
//! answer other than 2xx/3xx drops the client; with `notify_update_strict`, a redirect, a
//! failed or a timed-out call drops it too (see [`update_verdict`]).
//!
//! The connection's read timer wakes it at [`Policy::update_deadline`]; the connection then
//! calls [`Policy::poll_update`], and the answer comes back through
//! [`Policy::updated`].

use super::notify::{send, with_args};
use super::Policy;
use crate::conf::{update_verdict, Call};
use crate::http::{HttpError, Response};
use crate::ngx::http_client;
use crate::ngx::worker;

/// The `on_update` schedule of one client.
#[derive(Default)]
pub(super) struct Updates {
    /// When the next call is due; None when none is scheduled (or one is in flight).
    next_ms: Option<u64>,
    /// When the client first published or played (worker clock, ms).
    started_ms: u64,
    /// The name and query arguments of its latest publish or play.
    name: String,
    args: String,
    /// The timestamp of the latest media message it sent.
    pub(super) timestamp: u32,
    /// The client must go: an update refused it.
    dropped: bool,
}

impl Policy {
    /// A publish or play of `name` started: the first update is due one timeout later (a
    /// schedule already running goes on, with this name).
    pub(super) fn update_begin(&mut self, name: &str, args: &str, now: u64) {
        let Some(app) = self.app else { return };
        let notify = &app.settings.notify;
        if notify.get(Call::Update).is_none() || notify.update_timeout_ms == 0 {
            return;
        }
        let u = &mut self.update;
        u.name = name.to_owned();
        u.args = args.to_owned();
        if u.next_ms.is_none() {
            u.started_ms = now;
            u.next_ms = Some(now + notify.update_timeout_ms);
        }
    }

    /// When the connection must wake for the next update.
    pub fn update_deadline(&self) -> Option<u64> {
        self.update.next_ms
    }

    /// An update refused the client: it goes.
    pub fn update_dropped(&self) -> bool {
        self.update.dropped
    }

    /// Sends the update when it is due. A client that neither publishes nor plays any more
    /// gets none (a new publish or play starts the schedule again).
    pub fn poll_update(&mut self, now: u64) {
        if self.update.next_ms.is_none_or(|t| now < t) {
            return;
        }
        self.update.next_ms = None;
        let Some(app) = self.app else { return };
        let Some(url) = app.settings.notify.get(Call::Update) else {
            return;
        };
        let suffix = if !self.publishing.is_empty() {
            "_publish"
        } else if !self.playing.is_empty() {
            "_play"
        } else {
            return;
        };
        let mut fields = self.fields(Call::Update, app);
        if let Some(call) = fields.iter_mut().find(|(k, _)| k == "call") {
            call.1 = format!("update{suffix}");
        }
        let time = now.saturating_sub(self.update.started_ms) / 1000;
        fields.push(("time".into(), time.to_string()));
        fields.push(("timestamp".into(), self.update.timestamp.to_string()));
        fields.push(("name".into(), self.update.name.clone()));
        let fields = with_args(fields.clone(), &self.update.args).unwrap_or(fields);
        let client = self.client;
        let done: http_client::Callback = Box::new(move |result| {
            // The connection may be gone by now.
            worker::clients(|c| c.with(client, |c| c.updated(result)));
        });
        if !send(url, app.settings.notify.method, &fields, done, self.log) {
            self.updated(Err(HttpError::Start("not sent")), now);
        }
    }

    /// The update's answer (or why there is none).
    pub fn updated(&mut self, result: Result<Response, HttpError>, now: u64) {
        let Some(app) = self.app else { return };
        let notify = &app.settings.notify;
        let outcome = result.map(|r| r.outcome()).map_err(|e| e.to_string());
        match update_verdict(notify.update_strict, outcome) {
            Ok(()) => {
                if self.update.next_ms.is_none() {
                    self.update.next_ms = Some(now + notify.update_timeout_ms);
                }
            }
            Err(why) => {
                log_warn!(
                    self.log,
                    "rtmp: client {} ({}) dropped: {}",
                    self.client,
                    self.addr,
                    why
                );
                self.update.dropped = true;
            }
        }
    }
}
