//! Relays in the shell: the pushes of a published stream. Each `push` target of the stream's
//! application is one [`Push`](crate::relay::Push) (the relay, its client session and its
//! queue, all sans-IO), attached to the stream as a [`PushOutput`] whose bytes go to a
//! [`link::Link`]: an outgoing nginx connection. [`ticker`] gives the links the time.

mod link;
mod ticker;

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::outputs::OutputFiles;
use crate::conf::AppConf;
use crate::live::{Pipeline, StreamKey};
use crate::relay::{Push, PushOutput};

/// Starts one push per `push` target of `app` that applies to the stream `key`: each an
/// output of `pipeline` executed by `files`. A push lives until the stream ends.
pub fn start_pushes(
    app: &AppConf,
    key: &StreamKey,
    pipeline: &mut Pipeline,
    files: &mut OutputFiles,
) {
    let relay = &app.settings.relay;
    let now = super::now_ms();
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
        let link = link::Link::new(push.clone());
        ticker::add(&link);
        files.attach_sink(
            pipeline,
            Box::new(PushOutput::new(push.clone())),
            Box::new(link::PushSink(link.clone())),
        );
        push.borrow_mut().start(now);
        link::Link::tick(&link, now);
    }
}
