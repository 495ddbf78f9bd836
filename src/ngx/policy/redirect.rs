//! `rtmp_control redirect`: a session goes on under another stream name, as nginx-rtmp's
//! control does. A player stops its stream and plays the new one (the request runs the
//! whole play path again: access rules, `on_play`, then Play.Reset/Play.Start and the new
//! stream's GOP cache); a publisher ends its publication and publishes again under the new
//! name (access, keys, `on_publish`). The new publication starts with the old one's metadata
//! and codec headers, as nginx-rtmp's (whose codec state belongs to the session): the
//! publisher sent them once, and the frames it goes on with need them.

use bytes::Bytes;

use super::Policy;
use crate::rtmp::{PlayRequest, PublishKind, PublishRequest, Session};
use crate::stat::RedirectWhat;

/// The metadata and codec headers of a publication moved to another name, for the
/// publication that follows on the same message stream.
pub(super) struct Carried {
    stream_id: u32,
    messages: Vec<(u8, u32, Bytes)>,
}

impl Policy {
    /// Moves the client's streams that `what` names to `newname`; whether any moved.
    pub fn redirect(
        &mut self,
        session: &mut Session,
        what: RedirectWhat<'_>,
        newname: &str,
        now: u64,
    ) -> bool {
        let Some(app) = self.app else { return false };
        let named = |n: &str| what.name.is_none_or(|want| want == n);
        let plays: Vec<u32> = if what.playbacks {
            self.playing
                .iter()
                .filter(|p| named(&p.key().name) && p.key().name != newname)
                .map(|p| p.stream_id())
                .collect()
        } else {
            Vec::new()
        };
        let publishes: Vec<(u32, String)> = if what.publications {
            let names = crate::ngx::worker::with(|w| {
                self.publishing
                    .iter()
                    .filter_map(|p| {
                        let key = &w.hub.get(p.handle())?.key;
                        Some((p.stream_id(), key.name.clone(), p.args().to_owned()))
                    })
                    .collect::<Vec<_>>()
            });
            names
                .into_iter()
                .filter(|(_, n, _)| named(n) && n != newname)
                .map(|(id, _, args)| (id, args))
                .collect()
        } else {
            Vec::new()
        };
        let moved = !plays.is_empty() || !publishes.is_empty();
        for stream_id in plays {
            self.stop_play(stream_id);
            if !session.redirect_play(stream_id, newname) {
                continue;
            }
            log_info!(
                self.log,
                "rtmp: client {} redirected to play \"{}\" by rtmp_control",
                self.client,
                newname
            );
            let req = PlayRequest {
                stream_id,
                name: newname.to_owned(),
                args: String::new(),
                start: -2.0,
                duration: -1.0,
                reset: true,
            };
            self.play(session, app, req, now);
        }
        for (stream_id, args) in publishes {
            let mut messages = Vec::new();
            if let Some(pos) = self
                .publishing
                .iter()
                .position(|p| p.stream_id() == stream_id)
            {
                let p = self.publishing.swap_remove(pos);
                messages = crate::ngx::worker::with(|w| {
                    Some(w.hub.get(p.handle())?.pipeline.setup_messages())
                })
                .unwrap_or_default();
                self.end_publish(p, Some(session));
            }
            if !session.redirect_publish(stream_id, newname) {
                continue;
            }
            self.carried.retain(|c| c.stream_id != stream_id);
            self.carried.push(Carried {
                stream_id,
                messages,
            });
            log_info!(
                self.log,
                "rtmp: client {} redirected to publish \"{}\" by rtmp_control",
                self.client,
                newname
            );
            let req = PublishRequest {
                stream_id,
                name: newname.to_owned(),
                args,
                kind: PublishKind::Live,
            };
            self.publish(session, app, req, now);
        }
        moved
    }

    /// Sends a moved publication's metadata and codec headers into its new stream, which
    /// `stream_id` publishes now.
    pub(super) fn send_carried(&mut self, session: &mut Session, stream_id: u32, now: u64) {
        let Some(pos) = self.carried.iter().position(|c| c.stream_id == stream_id) else {
            return;
        };
        let carried = self.carried.swap_remove(pos);
        for (type_id, timestamp, payload) in carried.messages {
            self.media(session, stream_id, type_id, timestamp, payload, now);
        }
    }
}
