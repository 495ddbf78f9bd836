//! The play checks of HTTP players (HTTP-FLV; any HTTP location that serves a live stream
//! can use them), with the contract of an RTMP play: `allow`/`deny play` on the client's
//! address and `play_secret` on the name's arguments ([`crate::auth::http_play`]), then the
//! application's `on_play` callback, whose answer the request waits for as an event (2xx
//! plays, a 3xx to a name plays that name, anything else refuses). `on_play_done` is told
//! when the play ends.

use std::net::IpAddr;

use super::http_client;
use super::log::Log;
use super::policy::{callback_fields, send_callback};
use crate::auth::http_play::{callback_verdict, check_local, Refusal};
use crate::conf::{AppConf, Call};
use crate::http::{HttpError, Response};

/// Who asks to play what.
pub struct HttpPlay<'a> {
    pub app: &'a AppConf,
    pub ip: Option<IpAddr>,
    /// The id callbacks name the client by (`clientid`).
    pub client: u64,
    pub name: &'a str,
    /// The URL's other query arguments (`expires`/`sig`, fields for `on_play`).
    pub args: &'a str,
    /// The request's URL (`tcurl`) and its `Referer` (`pageurl`).
    pub url: &'a str,
    pub referer: &'a str,
    pub log: Log,
}

/// The outcome of [`check`].
pub enum Checked {
    /// Play this name.
    Play(String),
    Refused(Refusal),
    /// `on_play` was called: its answer goes to the `answer` given to [`check`], later,
    /// from the event loop; [`verdict`] reads it.
    Waiting,
}

/// Where the answer of `on_play` goes (the waiting request, looked up again: it may be gone).
pub type Answer = http_client::Callback;

/// What the `on_play` answer means for the play of `name`: the name to play, or why not.
pub fn verdict(name: &str, result: Result<Response, HttpError>) -> Result<String, Refusal> {
    callback_verdict(name, result)
}

/// Runs the checks of `p`; `answer` is called only when the outcome is [`Checked::Waiting`].
pub fn check(p: &HttpPlay<'_>, answer: Answer) -> Checked {
    let now = nginx_sys::ngx_time() as u64;
    if let Err(r) = check_local(&p.app.name, &p.app.settings, p.ip, p.name, p.args, now) {
        return Checked::Refused(r);
    }
    let Some(url) = p.app.settings.notify.get(Call::Play) else {
        return Checked::Play(p.name.to_owned());
    };
    let Some(mut fields) = fields(p, Call::Play) else {
        return Checked::Refused(Refusal::Callback("malformed query arguments".into()));
    };
    for (k, v) in [("start", "-2"), ("duration", "-1"), ("reset", "0")] {
        fields.push((k.into(), v.into()));
    }
    if send_callback(url, p.app.settings.notify.method, &fields, answer, p.log) {
        Checked::Waiting
    } else {
        Checked::Refused(Refusal::Callback("on_play could not be sent".into()))
    }
}

/// The play ended: `on_play_done` (fire and forget), if the application has it.
pub fn done(p: &HttpPlay<'_>) {
    if let (Some(url), Some(fields)) = (
        p.app.settings.notify.get(Call::PlayDone),
        fields(p, Call::PlayDone),
    ) {
        send_callback(
            url,
            p.app.settings.notify.method,
            &fields,
            Box::new(|_| {}),
            p.log,
        );
    }
}

/// nginx-rtmp's fields, as for an RTMP player (no flashVer nor swfUrl over HTTP), the name
/// and the URL's other arguments.
fn fields(p: &HttpPlay<'_>, call: Call) -> Option<Vec<(String, String)>> {
    let ip = p.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let mut f = callback_fields(call, &p.app.name, &ip, p.client, "", "", p.url, p.referer);
    f.push(("name".into(), p.name.to_owned()));
    f.extend(crate::auth::query::parse(p.args)?);
    Some(f)
}
