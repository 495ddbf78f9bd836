//! nginx-rtmp's notify callbacks: `on_connect`, `on_publish`, `on_play`, `on_publish_done`,
//! `on_play_done`, `on_done`, `on_record_done` and `notify_method`.

use std::net::SocketAddr;

use crate::http::{Method, Url};

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
}

impl Call {
    pub const ALL: [Call; 7] = [
        Call::Connect,
        Call::Publish,
        Call::Play,
        Call::PublishDone,
        Call::PlayDone,
        Call::Done,
        Call::RecordDone,
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
        }
    }

    pub(super) fn resolve(&self) -> NotifySettings {
        NotifySettings {
            urls: self.urls.clone(),
            method: self.method.unwrap_or_default(),
        }
    }
}

/// The callbacks in effect for an application (or, for `on_connect`, a server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySettings {
    urls: [Option<NotifyUrl>; Call::ALL.len()],
    /// `notify_method` (default post).
    pub method: Method,
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
