//! nginx-rtmp's HTTP callbacks (`on_connect`, `on_publish`, `on_play`, and the `*_done` ones).
//!
//! A deciding callback pauses the request: the session holds the client's further input
//! while the HTTP call runs on the event loop; the answer resumes it. 2xx continues, 3xx
//! renames the stream to the `Location`, or, for `on_publish` with an `rtmp://` Location,
//! publishes and pushes the stream there (`notify_relay_redirect`: under the MD5 of the URL);
//! anything else — including no answer within [`TIMEOUT_MS`] — refuses. An `on_play`
//! redirect to `rtmp://` plays the stream pulled from there (unless it is already live).

use super::Policy;
use crate::auth::query;
use crate::conf::{AppConf, Call, NotifyUrl};
use crate::http::{build_request, HttpError, Method, Outcome, Response};
use crate::ngx::http_client;
use crate::ngx::log::Log;
use crate::ngx::worker;
use crate::relay::{is_relay_location, relay_redirect, RelayKind};
use crate::rtmp::name::parse_stream_name;
use crate::rtmp::{PlayRequest, Rejection, Session};

/// Every callback gets this long to answer (connect, send and answer).
pub const TIMEOUT_MS: u64 = 10_000;
/// Longest stream name a 3xx `Location` may rename to.
const MAX_NAME: usize = 256;

/// A request paused until its callback answers.
pub enum Waiting {
    Connect,
    Publish {
        app: &'static AppConf,
        stream_id: u32,
        /// The name to publish as when the callback says "continue" (after the key map).
        name: String,
        /// The query arguments of the publish (for `exec` lines).
        args: String,
    },
    Play {
        app: &'static AppConf,
        req: PlayRequest,
    },
}

impl Waiting {
    fn call(&self) -> Call {
        match self {
            Waiting::Connect => Call::Connect,
            Waiting::Publish { .. } => Call::Publish,
            Waiting::Play { .. } => Call::Play,
        }
    }
}

/// What the callback's answer means for the paused request.
enum Verdict {
    Continue,
    Rename(String),
    /// Push the published stream to this URL (`on_publish` answered 3xx `rtmp://`).
    Relay(String),
    Refuse(String),
}

fn verdict(call: Call, result: Result<Response, HttpError>) -> Verdict {
    match result.map(|r| r.outcome()) {
        Ok(Outcome::Continue) => Verdict::Continue,
        Ok(Outcome::Redirect(loc)) if call == Call::Connect => {
            Verdict::Refuse(format!("on_connect answered a redirect to \"{loc}\""))
        }
        Ok(Outcome::Redirect(loc))
            if matches!(call, Call::Publish | Call::Play) && is_relay_location(&loc) =>
        {
            Verdict::Relay(loc)
        }
        Ok(Outcome::Redirect(loc)) if loc.contains("://") => Verdict::Refuse(format!(
            "{} redirect to \"{loc}\" is not supported",
            call.directive()
        )),
        Ok(Outcome::Redirect(loc)) => match parse_stream_name(&loc, MAX_NAME) {
            Ok(n) if n.args.is_empty() => Verdict::Rename(n.name),
            _ => Verdict::Refuse(format!("{} redirect to an invalid name", call.directive())),
        },
        Ok(Outcome::Refused(status)) => {
            Verdict::Refuse(format!("{} answered {status}", call.directive()))
        }
        Err(e) => Verdict::Refuse(format!("{} failed: {e}", call.directive())),
    }
}

impl Policy {
    /// The fields nginx-rtmp sends with every callback.
    pub(super) fn fields(&self, call: Call, app: &AppConf) -> Vec<(String, String)> {
        let ip = self.ip.map(|ip| ip.to_string()).unwrap_or_default();
        callback_fields(
            call,
            &app.name,
            &ip,
            self.client,
            &self.flashver,
            &self.swf_url,
            &self.tc_url,
            &self.page_url,
        )
    }

    /// Sends a callback; with `waiting`, its answer resumes that request through
    /// [`Policy::notified`] (the connection is looked up again: it may be gone by then).
    /// On failure to even start, `self.waiting` stays `None` and the caller refuses.
    pub(super) fn wait(
        &mut self,
        url: &NotifyUrl,
        method: Method,
        fields: Vec<(String, String)>,
        args: &str,
        waiting: Waiting,
    ) {
        let call = waiting.call();
        let Some(fields) = with_args(fields, args) else {
            log_warn!(
                self.log,
                "rtmp: client {} {}: malformed query arguments",
                self.client,
                call.directive()
            );
            return;
        };
        let client = self.client;
        let done: http_client::Callback = Box::new(move |result| {
            // The connection may be gone by now.
            worker::clients(|c| c.with(client, |c| c.notified(result)));
        });
        if send(url, method, &fields, done, self.log) {
            self.waiting = Some(waiting);
        }
    }

    /// A fire-and-forget callback (`on_publish_done`, `on_play_done`, `on_done`).
    pub(super) fn tell(&self, call: Call, app: &AppConf, extra: &[(&str, &str)]) {
        if let Some(url) = app.settings.notify.get(call) {
            self.tell_url(url, call, app, extra);
        }
    }

    /// A fire-and-forget callback to `url` (a recorder's own `on_record_done`).
    pub(super) fn tell_url(
        &self,
        url: &NotifyUrl,
        call: Call,
        app: &AppConf,
        extra: &[(&str, &str)],
    ) {
        let mut fields = self.fields(call, app);
        fields.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        send(
            url,
            app.settings.notify.method,
            &fields,
            Box::new(|_| {}),
            self.log,
        );
    }

    /// The callback of the paused request answered.
    pub fn notified(
        &mut self,
        session: &mut Session,
        result: Result<Response, HttpError>,
        now: u64,
    ) {
        let Some(waiting) = self.waiting.take() else {
            return;
        };
        let call = waiting.call();
        let verdict = verdict(call, result);
        if let Verdict::Refuse(why) = &verdict {
            log_warn!(
                self.log,
                "rtmp: client {} ({}) refused: {}",
                self.client,
                self.addr,
                why
            );
        } else if let Verdict::Rename(name) = &verdict {
            log_info!(
                self.log,
                "rtmp: client {} renamed to \"{}\" by {}",
                self.client,
                name,
                call.directive()
            );
        }
        match (waiting, verdict) {
            (Waiting::Connect, Verdict::Refuse(why)) => session.reject_connect(&why),
            (Waiting::Connect, _) => session.accept_connect(),
            (Waiting::Publish { stream_id, .. }, Verdict::Refuse(why)) => {
                session.reject_publish(stream_id, Rejection::Unauthorized(why))
            }
            (
                Waiting::Publish {
                    app,
                    stream_id,
                    name,
                    args,
                },
                Verdict::Continue,
            ) => self.publish_as(session, app, stream_id, name, args, None, now),
            (
                Waiting::Publish {
                    app,
                    stream_id,
                    args,
                    ..
                },
                Verdict::Rename(name),
            ) => self.publish_as(session, app, stream_id, name, args, None, now),
            (
                Waiting::Publish {
                    app,
                    stream_id,
                    name,
                    args,
                },
                Verdict::Relay(url),
            ) => {
                let rename = app.settings.notify.relay_redirect;
                match relay_redirect(RelayKind::Push, &url, &name, rename) {
                    Ok((target, local)) => {
                        log_info!(
                            self.log,
                            "rtmp: client {} publishes \"{}\" pushed to \"{}\" by on_publish",
                            self.client,
                            local,
                            url
                        );
                        self.publish_as(session, app, stream_id, local, args, Some(target), now)
                    }
                    Err(e) => {
                        log_warn!(
                            self.log,
                            "rtmp: client {} refused: on_publish redirect to \"{}\": {}",
                            self.client,
                            url,
                            e
                        );
                        session.reject_publish(
                            stream_id,
                            Rejection::Unauthorized("invalid relay redirect".into()),
                        )
                    }
                }
            }
            (Waiting::Play { app, mut req }, Verdict::Relay(url)) => {
                let rename = app.settings.notify.relay_redirect;
                match relay_redirect(RelayKind::Pull, &url, &req.name, rename) {
                    Ok((target, local)) => {
                        log_info!(
                            self.log,
                            "rtmp: client {} plays \"{}\" pulled from \"{}\" by on_play",
                            self.client,
                            local,
                            url
                        );
                        req.name = local;
                        self.play_from(session, app, req, Some(target), now)
                    }
                    Err(e) => {
                        log_warn!(
                            self.log,
                            "rtmp: client {} refused: on_play redirect to \"{}\": {}",
                            self.client,
                            url,
                            e
                        );
                        session.reject_play(
                            req.stream_id,
                            Rejection::Unauthorized("invalid relay redirect".into()),
                        )
                    }
                }
            }
            (Waiting::Play { req, .. }, Verdict::Refuse(why)) => {
                session.reject_play(req.stream_id, Rejection::Unauthorized(why))
            }
            (Waiting::Play { app, req }, Verdict::Continue) => self.play_as(session, app, req, now),
            (Waiting::Play { app, mut req }, Verdict::Rename(name)) => {
                req.name = name;
                self.play_as(session, app, req, now)
            }
        }
    }
}

/// The fields nginx-rtmp sends with every callback (HTTP players send them too).
#[allow(clippy::too_many_arguments)]
pub fn callback_fields(
    call: Call,
    app: &str,
    addr: &str,
    client: u64,
    flashver: &str,
    swf_url: &str,
    tc_url: &str,
    page_url: &str,
) -> Vec<(String, String)> {
    vec![
        ("call".into(), call.name().into()),
        ("addr".into(), addr.into()),
        ("clientid".into(), client.to_string()),
        ("app".into(), app.into()),
        ("flashver".into(), flashver.into()),
        ("swfurl".into(), swf_url.into()),
        ("tcurl".into(), tc_url.into()),
        ("pageurl".into(), page_url.into()),
    ]
}

/// The name's query arguments are forwarded as fields too (`name=key&token=x`).
pub(super) fn with_args(
    mut fields: Vec<(String, String)>,
    args: &str,
) -> Option<Vec<(String, String)>> {
    fields.extend(query::parse(args)?);
    Some(fields)
}

pub fn send(
    url: &NotifyUrl,
    method: Method,
    fields: &[(String, String)],
    done: http_client::Callback,
    log: Log,
) -> bool {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let req = build_request(method, &url.url, &form);
    match http_client::request(log, url.addr, &url.url, req, TIMEOUT_MS, done) {
        Ok(()) => true,
        Err(e) => {
            log_warn!(log, "rtmp: callback to {} not sent: {}", url.url, e);
            false
        }
    }
}
