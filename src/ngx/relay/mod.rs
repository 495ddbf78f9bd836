//! Relays in the shell: the pushes of a published stream. Each `push` target of the stream's
//! application is one [`Push`](crate::relay::Push) (the relay, its client session and its
//! queue, all sans-IO), attached to the stream as a [`PushOutput`] whose bytes go to a
//! [`link::Link`]: an outgoing nginx connection. [`ticker`] gives the links the time.

mod link;
mod resolve;
mod ticker;

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::conf::AppConf;
use crate::live::{ByteSink, Output, StreamKey};
use crate::relay::{LinkDriver, Push, PushOutput, Scheme};

/// Starts one push per `push` target of `app` that applies to the stream `key`: each an
/// output of the stream and the byte sink its bytes go to (the caller attaches them). A push
/// lives until the stream ends: its link goes with its sink.
pub fn start_pushes(app: &AppConf, key: &StreamKey) -> Vec<(Box<dyn Output>, Box<dyn ByteSink>)> {
    let relay = &app.settings.relay;
    let now = super::now_ms();
    let mut pushes = Vec::new();
    for (i, target) in relay.pushes_of(&key.name).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (key.name.as_str(), i, now, std::process::id()).hash(&mut h);
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
        if target.url.scheme == Scheme::Rtmps {
            link.borrow_mut()
                .set_tls(super::ssl::client::context_for(&relay.ssl));
        }
        ticker::add(&link);
        push.borrow_mut().start(now);
        link::Link::tick(&link, now);
        pushes.push((
            Box::new(PushOutput::new(push)) as Box<dyn Output>,
            Box::new(link::PushSink(link)) as Box<dyn ByteSink>,
        ));
    }
    pushes
}
