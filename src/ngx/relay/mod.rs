//! Relays in the shell: the pushes of a published stream, and the pulls of an edge
//! ([`pull`]). Each `push` target of the stream's
//! application is one [`Push`](crate::relay::Push) (the relay, its client session and its
//! queue, all sans-IO), attached to the stream as a [`PushOutput`] whose bytes go to a
//! [`link::Link`]: an outgoing nginx connection. [`ticker`] gives the links the time.

mod link;
pub mod pull;
mod resolve;
mod ticker;

/// The relays of the worker's streams as stat shows them, with their streams.
pub fn relay_stats(now_ms: u64, mut f: impl FnMut(&StreamKey, RelayStat)) {
    ticker::for_each(|link| {
        if let Some((key, stat)) = link.stat(now_ms) {
            f(key, stat);
        }
    });
}

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::conf::AppConf;
use crate::live::{ByteSink, Output, StreamKey};
use crate::relay::{LinkDriver, Push, PushOutput, RelayKind, RelayTarget, Scheme};
use crate::stat::RelayStat;

/// Starts one push per `push` target of `app` that applies to the stream `key`: each an
/// output of the stream and the byte sink its bytes go to (the caller attaches them). A push
/// lives until the stream ends: its link goes with its sink.
pub fn start_pushes(app: &AppConf, key: &StreamKey) -> Vec<(Box<dyn Output>, Box<dyn ByteSink>)> {
    app.settings
        .relay
        .pushes_of(&key.name)
        .enumerate()
        .map(|(i, target)| start_push(app, key, target, i))
        .collect()
}

/// Starts a push of the stream `key` to `target` (a configured one, or one an `on_publish`
/// redirect names): the output and its byte sink, as [`start_pushes`] gives them. `index`
/// tells the pushes of one stream apart in their jitter seeds.
pub fn start_push(
    app: &AppConf,
    key: &StreamKey,
    target: &RelayTarget,
    index: usize,
) -> (Box<dyn Output>, Box<dyn ByteSink>) {
    let relay = &app.settings.relay;
    let now = super::now_ms();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (key.name.as_str(), index, now, std::process::id()).hash(&mut h);
    let push = Rc::new(RefCell::new(Push::new(
        target,
        &key.name,
        relay.push_reconnect_ms,
        relay.relay_buffer_ms,
        h.finish(),
    )));
    let link = link::Link::new(
        push.clone() as Rc<RefCell<dyn LinkDriver>>,
        resolve::NameService::of(relay),
    );
    link.borrow_mut().set_owner(RelayKind::Push, key.clone());
    if target.url.scheme == Scheme::Rtmps {
        link.borrow_mut()
            .set_tls(super::ssl::client::context_for(&relay.ssl));
    }
    ticker::add(&link);
    push.borrow_mut().start(now);
    link::Link::tick(&link, now);
    (
        Box::new(PushOutput::new(push)) as Box<dyn Output>,
        Box::new(link::PushSink(link)) as Box<dyn ByteSink>,
    )
}
