//! nginx-rtmp's notify callbacks: `on_connect`, `on_publish`, `on_play`, `on_publish_done`,
//! `on_play_done`, `on_done`, `on_record_done`, `on_update` and `notify_method`, with
//! `notify_update_timeout`, `notify_update_strict` and `notify_relay_redirect`.

use std::net::SocketAddr;

use super::args::{flag_arg, set_once, time_arg};
use super::error::ConfError;
use crate::http::{Method, Outcome, Url};

/// `notify_update_timeout` when not set: an `on_update` call every 30 s.
pub const DEFAULT_UPDATE_TIMEOUT_MS: u64 = 30_000;

/// The directives that tune the callbacks (besides `on_*` and `notify_method`).
const NOTIFY_OPTIONS: [&str; 3] = [
    "notify_update_timeout",
    "notify_update_strict",
    "notify_relay_redirect",
];

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Connect,
    Publish,
    Play,
    PublishDone,
    PlayDone,
    Done,
    /// A recorder finished a file (sent with `path` and `recorder`, see
    /// [`Call::record_done_fields`]).
    RecordDone,
    /// Every `notify_update_timeout` while a client publishes or plays (sent as
    /// `update_publish` or `update_play`, with `time` and `timestamp`).
    Update,
}

impl Call {
    pub const ALL: [Call; 8] = [
        Call::Connect,
        Call::Publish,
        Call::Play,
        Call::PublishDone,
        Call::PlayDone,
        Call::Done,
        Call::RecordDone,
        Call::Update,
    ];

    /// The directive, `on_<call>`.
    pub fn directive(self) -> &'static str {
        match self {
            Call::Connect => "on_connect",
            Call::Publish => "on_publish",
            Call::Play => "on_play",
            Call::PublishDone => "on_publish_done",
            Call::PlayDone => "on_play_done",
            Call::Done => "on_done",
            Call::RecordDone => "on_record_done",
            Call::Update => "on_update",
        }
    }

    /// The `call=` field nginx-rtmp sends.
    pub fn name(self) -> &'static str {
        match self {
            Call::Connect => "connect",
            Call::Publish => "publish",
            Call::Play => "play",
            Call::PublishDone => "publish_done",
            Call::PlayDone => "play_done",
            Call::Done => "done",
            Call::RecordDone => "record_done",
            Call::Update => "update",
        }
    }

    /// The fields `on_record_done` sends besides the usual ones (`call`, `app`, `addr`, ...):
    /// the publisher's stream `name`, the finished file's `path` and the `recorder` block's
    /// name (empty for the application's own recorder), as nginx-rtmp.
    pub fn record_done_fields<'a>(
        name: &'a str,
        path: &'a str,
        recorder: &'a str,
    ) -> [(&'static str, &'a str); 3] {
        [("name", name), ("path", path), ("recorder", recorder)]
    }

    pub fn from_directive(d: &str) -> Option<Call> {
        Call::ALL.into_iter().find(|c| c.directive() == d)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What an `on_update` call means for its client: it stays (`Ok`) or is dropped, and why.
/// `result` is the answer's outcome, or why there is none (failed, timed out). An answer
/// other than 2xx or 3xx always drops; with `strict`, so do a redirect and no answer.
pub fn update_verdict(strict: bool, result: Result<Outcome, String>) -> Result<(), String> {
    match result {
        Ok(Outcome::Continue) => Ok(()),
        Ok(Outcome::Redirect(_)) if !strict => Ok(()),
        Ok(Outcome::Redirect(loc)) => Err(format!("on_update answered a redirect to \"{loc}\"")),
        Ok(Outcome::Refused(status)) => Err(format!("on_update answered {status}")),
        Err(_) if !strict => Ok(()),
        Err(why) => Err(format!("on_update failed: {why}")),
    }
}

/// A callback URL and the address it was resolved to when the configuration was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyUrl {
    pub url: Url,
    pub addr: SocketAddr,
}

/// Callbacks set at one level (`rtmp`, `server` or `application`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct NotifyLayer {
    urls: [Option<NotifyUrl>; Call::ALL.len()],
    method: Option<Method>,
    update_timeout: Option<u64>,
    update_strict: Option<bool>,
    relay_redirect: Option<bool>,
}

impl NotifyLayer {
    pub(super) fn set(&mut self, call: Call, url: NotifyUrl) -> bool {
        let slot = &mut self.urls[call.index()];
        let fresh = slot.is_none();
        *slot = Some(url);
        fresh
    }

    pub(super) fn set_method(&mut self, method: Method) -> bool {
        let fresh = self.method.is_none();
        self.method = Some(method);
        fresh
    }

    /// The static name of a callback option directive, or `None` for another directive.
    pub(super) fn option(name: &str) -> Option<&'static str> {
        NOTIFY_OPTIONS.iter().copied().find(|d| *d == name)
    }

    /// `notify_update_timeout TIME` (0: no updates), `notify_update_strict on|off`,
    /// `notify_relay_redirect on|off`.
    pub(super) fn set_option(
        &mut self,
        directive: &'static str,
        args: &[&str],
    ) -> Result<(), ConfError> {
        match directive {
            "notify_update_timeout" => {
                let v = time_arg(directive, args, 0)?;
                set_once(&mut self.update_timeout, directive, v)
            }
            "notify_update_strict" => {
                let v = flag_arg(directive, args)?;
                set_once(&mut self.update_strict, directive, v)
            }
            "notify_relay_redirect" => {
                let v = flag_arg(directive, args)?;
                set_once(&mut self.relay_redirect, directive, v)
            }
            _ => Err(ConfError::Unknown(directive.to_owned())),
        }
    }

    pub(super) fn merge(&self, parent: &NotifyLayer) -> NotifyLayer {
        let mut urls = self.urls.clone();
        for (mine, theirs) in urls.iter_mut().zip(&parent.urls) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        NotifyLayer {
            urls,
            method: self.method.or(parent.method),
            update_timeout: self.update_timeout.or(parent.update_timeout),
            update_strict: self.update_strict.or(parent.update_strict),
            relay_redirect: self.relay_redirect.or(parent.relay_redirect),
        }
    }

    pub(super) fn resolve(&self) -> NotifySettings {
        NotifySettings {
            urls: self.urls.clone(),
            method: self.method.unwrap_or_default(),
            update_timeout_ms: self.update_timeout.unwrap_or(DEFAULT_UPDATE_TIMEOUT_MS),
            update_strict: self.update_strict.unwrap_or(false),
            relay_redirect: self.relay_redirect.unwrap_or(false),
        }
    }
}

/// The callbacks in effect for an application (or, for `on_connect`, a server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    urls: [Option<NotifyUrl>; Call::ALL.len()],
    /// `notify_method` (default post).
    pub method: Method,
    /// `notify_update_timeout` (default 30 s; 0: no `on_update` calls).
    pub update_timeout_ms: u64,
    /// `notify_update_strict` (default off): an `on_update` that fails, times out or
    /// redirects drops the client too, not only one that answers 4xx/5xx.
    pub update_strict: bool,
    /// `notify_relay_redirect` (default off): on, a stream relayed by an `on_publish`/`on_play`
    /// redirect to `rtmp://` takes the MD5 of the URL as its local name (nginx-rtmp); off, it
    /// keeps its own.
    pub relay_redirect: bool,
}

impl Default for NotifySettings {
    fn default() -> NotifySettings {
        NotifyLayer::default().resolve()
    }
}

impl NotifySettings {
    pub fn get(&self, call: Call) -> Option<&NotifyUrl> {
        self.urls.get(call.index()).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::query;
    use crate::http::build_request;

    #[test]
    fn update_verdicts() {
        for strict in [false, true] {
            assert_eq!(update_verdict(strict, Ok(Outcome::Continue)), Ok(()));
            assert_eq!(
                update_verdict(strict, Ok(Outcome::Refused(403))),
                Err("on_update answered 403".into())
            );
        }
        let redirect = || Ok(Outcome::Redirect("x".into()));
        assert_eq!(update_verdict(false, redirect()), Ok(()));
        assert!(update_verdict(true, redirect()).is_err());
        assert_eq!(update_verdict(false, Err("timed out".into())), Ok(()));
        assert_eq!(
            update_verdict(true, Err("timed out".into())),
            Err("on_update failed: timed out".into())
        );
    }

    #[test]
    fn update_options_parse_merge_and_default() {
        let d = NotifySettings::default();
        assert_eq!(d.update_timeout_ms, DEFAULT_UPDATE_TIMEOUT_MS);
        assert!(!d.update_strict && !d.relay_redirect);
        let mut server = NotifyLayer::default();
        server.set_option("notify_update_timeout", &["5s"]).unwrap();
        let mut app = NotifyLayer::default();
        app.set_option("notify_update_strict", &["on"]).unwrap();
        app.set_option("notify_relay_redirect", &["on"]).unwrap();
        assert!(matches!(
            app.set_option("notify_relay_redirect", &["off"]),
            Err(ConfError::Duplicate(_))
        ));
        assert!(app.set_option("notify_update_timeout", &["soon"]).is_err());
        assert!(app.set_option("notify_update_strict", &["maybe"]).is_err());
        let s = app.merge(&server).resolve();
        assert_eq!(s.update_timeout_ms, 5000);
        assert!(s.update_strict && s.relay_redirect);
        assert_eq!(
            NotifyLayer::option("notify_update_strict"),
            Some("notify_update_strict")
        );
        assert_eq!(NotifyLayer::option("notify_method"), None);
        assert_eq!(Call::from_directive("on_update"), Some(Call::Update));
    }

    #[test]
    fn record_done_is_a_callback() {
        assert_eq!(
            Call::from_directive("on_record_done"),
            Some(Call::RecordDone)
        );
        assert_eq!(Call::RecordDone.name(), "record_done");
        let url = NotifyUrl {
            url: Url::parse("http://127.0.0.1:9/rec").unwrap(),
            addr: "127.0.0.1:9".parse().unwrap(),
        };
        let mut layer = NotifyLayer::default();
        assert!(layer.set(Call::RecordDone, url.clone()));
        let settings = layer.merge(&NotifyLayer::default()).resolve();
        assert_eq!(settings.get(Call::RecordDone), Some(&url));
        assert_eq!(settings.get(Call::Done), None);
    }

    #[test]
    fn record_done_form_carries_path_and_recorder() {
        let mut form = vec![("call", Call::RecordDone.name()), ("app", "live")];
        form.extend(Call::record_done_fields(
            "cam",
            "/var/rec/cam 1.flv",
            "audio",
        ));
        let url = Url::parse("http://h/rec").unwrap();
        let req = String::from_utf8(build_request(Method::Get, &url, &form)).unwrap();
        let first = req.lines().next().unwrap();
        let q = first
            .strip_prefix("GET /rec?")
            .and_then(|l| l.strip_suffix(" HTTP/1.1"))
            .unwrap();
        let parsed = query::parse(q).unwrap();
        let get = |k: &str| parsed.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("call"), Some("record_done"));
        assert_eq!(get("name"), Some("cam"));
        assert_eq!(get("path"), Some("/var/rec/cam 1.flv"));
        assert_eq!(get("recorder"), Some("audio"));
    }
}
