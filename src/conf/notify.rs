//! nginx-rtmp's notify callbacks: `on_connect`, `on_publish`, `on_play`, `on_publish_done`,
//! `on_play_done`, `on_done` and `notify_method`.

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
}

impl Call {
    pub const ALL: [Call; 6] = [
        Call::Connect,
        Call::Publish,
        Call::Play,
        Call::PublishDone,
        Call::PlayDone,
        Call::Done,
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
        }
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
    urls: [Option<NotifyUrl>; 6],
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
    urls: [Option<NotifyUrl>; 6],
    /// `notify_method` (default post).
    pub method: Method,
}

impl NotifySettings {
    pub fn get(&self, call: Call) -> Option<&NotifyUrl> {
        self.urls.get(call.index()).and_then(Option::as_ref)
    }
}
