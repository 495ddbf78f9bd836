//! [`Push`]: one `push` target of one published stream, without the socket. It puts together
//! the target's [`Relay`] (when to connect, back off, log), the [`ClientSession`] of the
//! current connection (the RTMP of a publisher) and the [`RelayQueue`] between the stream and
//! the connection (what a slow target may hold back).
//!
//! [`PushOutput`] is the push as an output of the stream: it feeds the push each published
//! message and hands the session's bytes to the shell's byte sink. The shell owns the
//! connection; it reports to the push what happened to it (`on_connected`, `on_data`,
//! `on_error`, `on_closed`, `tick`), writes what [`Push::output`] gives, tells how much it
//! still holds unsent ([`Push::set_unsent`]), and executes the [`LinkOp`]s.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

use super::driver::{Relay, RelayConfig, RelayEndpoint};
use super::link_driver::{LinkDriver, LinkOp};
use super::queue::{RelayBuffer, RelayQueue, DEFAULT_RELAY_BUFFER_BYTES};
use super::state::{ErrorKind, RelayOp, RelayState, RelayStats};
use super::target::{RelayTarget, Scheme};
use crate::files::Now;
use crate::live::{Output, OutputError, OutputOp, Published};
use crate::rtmp::client::{ClientConfig, ClientEvent, ClientSession};
use crate::rtmp::message::types;

/// Bytes the session and the shell may hold unsent before the queue stops feeding the
/// session: enough to keep a fast link busy, small enough that the queue (bounded in media
/// time) decides what a slow target skips.
pub const PUSH_LOW_WATER: usize = 256 * 1024;

/// One push target of one stream.
#[derive(Debug)]
pub struct Push {
    relay: Relay,
    queue: RelayQueue,
    /// The session of the current connection (from `on_connected` to the next `Close`).
    session: Option<ClientSession>,
    client: ClientConfig,
    /// The target accepted the publish: the queue joins the stream at its next message
    /// (which brings the stream's GOP cache).
    join_pending: bool,
    /// Bytes the shell holds unsent.
    unsent: usize,
    seed: u64,
}

impl Push {
    /// The push of the local stream `local_name` to `target`; `seed` feeds the reconnect
    /// jitter and the handshake's random bytes.
    pub fn new(
        target: &RelayTarget,
        local_name: &str,
        reconnect_ms: u64,
        buffer_ms: u32,
        seed: u64,
    ) -> Push {
        let mut client = target.client_config(local_name);
        client.seed = seed;
        let endpoint = RelayEndpoint {
            url: format!(
                "{}://{}/{}/{}",
                target.url.scheme.as_str(),
                target.url.authority,
                client.app,
                client.name
            ),
            host: target.url.host.clone(),
            port: target.url.port,
            tls: target.url.scheme == Scheme::Rtmps,
        };
        Push {
            relay: Relay::new(RelayConfig::new(reconnect_ms), endpoint, seed),
            queue: RelayQueue::new(RelayBuffer {
                max_ms: buffer_ms,
                max_bytes: DEFAULT_RELAY_BUFFER_BYTES,
            }),
            session: None,
            client,
            join_pending: false,
            unsent: 0,
            seed,
        }
    }

    pub fn start(&mut self, now_ms: u64) {
        self.relay.start(now_ms);
    }

    /// The stream ended: a polite end to the target (FCUnpublish, deleteStream), then close.
    pub fn stop(&mut self, now_ms: u64) {
        if let Some(s) = &mut self.session {
            s.close();
        }
        self.relay.stop(now_ms);
    }

    pub fn state(&self) -> RelayState {
        self.relay.state()
    }

    /// Messages the queue dropped for a slow target.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// One published message of the stream.
    pub fn offer(&mut self, msg: &Published<'_>) {
        if self.relay.state() != RelayState::Streaming {
            return;
        }
        if self.join_pending {
            self.join_pending = false;
            self.queue.join(msg.gop);
        }
        let outside = self.outside_bytes();
        self.queue
            .offer(msg.info, msg.type_id, msg.timestamp, msg.payload, outside);
        self.pump(msg.now.monotonic_ms);
    }

    fn outside_bytes(&self) -> usize {
        self.unsent
            .saturating_add(self.session.as_ref().map_or(0, |s| s.pending_output()))
    }

    /// Moves queued messages into the session while the connection keeps up.
    fn pump(&mut self, now_ms: u64) {
        if self.relay.state() != RelayState::Streaming {
            return;
        }
        while self.outside_bytes() < PUSH_LOW_WATER {
            let Some(session) = &mut self.session else {
                return;
            };
            let Some(m) = self.queue.pop() else { return };
            let sent = if m.type_id == types::DATA_AMF0 {
                session.send_metadata(m.timestamp, &m.payload)
            } else {
                session.send_media(m.type_id, m.timestamp, &m.payload)
            };
            if let Err(e) = sent {
                self.relay
                    .on_error(now_ms, ErrorKind::Session, &e.to_string());
                return;
            }
        }
    }
}

impl LinkDriver for Push {
    fn endpoint(&self) -> &RelayEndpoint {
        self.relay.target()
    }

    fn stats(&self) -> RelayStats<'_> {
        self.relay.stats()
    }

    fn on_resolved(&mut self, now_ms: u64, result: Result<Vec<SocketAddr>, String>) {
        self.relay.on_resolved(now_ms, result);
    }

    /// The connection is up: the session starts (its C0+C1 are in [`Push::output`]).
    fn on_connected(&mut self, now_ms: u64) {
        self.relay.on_connected(now_ms);
        if self.relay.state() == RelayState::Negotiating {
            let mut config = self.client.clone();
            config.seed = self
                .seed
                .wrapping_add(u64::from(self.relay.stats().reconnects));
            self.session = Some(ClientSession::new(config));
        }
    }

    /// Bytes read from the connection.
    fn on_data(&mut self, now_ms: u64, data: &[u8]) {
        let Some(session) = &mut self.session else {
            return;
        };
        self.relay.add_bytes(0, data.len() as u64);
        if let Err(e) = session.feed(data) {
            self.relay
                .on_error(now_ms, ErrorKind::Session, &e.to_string());
            return;
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Publishing => {
                    self.relay.on_session_ready(now_ms);
                    self.join_pending = true;
                }
                ClientEvent::StreamEnd(_) => {
                    self.relay
                        .on_error(now_ms, ErrorKind::Session, "the target ended the stream");
                    return;
                }
                _ => {}
            }
        }
    }

    fn on_error(&mut self, now_ms: u64, kind: ErrorKind, reason: &str) {
        self.relay.on_error(now_ms, kind, reason);
    }

    fn on_closed(&mut self, now_ms: u64) {
        self.relay.on_closed(now_ms);
    }

    /// Time passed: a step times out, a backoff ends.
    fn tick(&mut self, now_ms: u64) {
        self.relay.tick(now_ms);
    }

    /// When [`Push::tick`] next has something to do.
    fn deadline(&self) -> Option<u64> {
        self.relay.deadline()
    }

    /// What the shell still holds unsent; the queue feeds the session again below
    /// [`PUSH_LOW_WATER`].
    fn set_unsent(&mut self, now_ms: u64, bytes: usize) {
        self.unsent = bytes;
        self.pump(now_ms);
    }

    /// Bytes for the connection, in order.
    fn output(&mut self) -> Option<Bytes> {
        let out = self.session.as_mut()?.poll_output()?;
        self.relay.add_bytes(out.len() as u64, 0);
        Some(out)
    }

    /// The next operation for the shell. A `Close` ends the session and empties the queue:
    /// nothing is kept for a dead target.
    fn poll_op(&mut self) -> Option<LinkOp> {
        loop {
            let op = self.relay.poll_op()?;
            return Some(match op {
                RelayOp::Resolve(host) => LinkOp::Resolve(host),
                RelayOp::Connect(addr) => LinkOp::Connect(addr),
                RelayOp::Close => {
                    self.session = None;
                    self.queue.leave();
                    self.join_pending = false;
                    self.unsent = 0;
                    LinkOp::Close
                }
                RelayOp::Log { level, line } => LinkOp::Log { level, line },
                // A push retries for ever: its relay never gives up.
                RelayOp::GaveUp => continue,
            });
        }
    }
}

/// A push as an output of its stream: the stream's messages go to the push, the session's
/// bytes to the shell's byte sink for the push's connection.
pub struct PushOutput {
    push: Rc<RefCell<Push>>,
}

impl PushOutput {
    pub fn new(push: Rc<RefCell<Push>>) -> PushOutput {
        PushOutput { push }
    }
}

impl Output for PushOutput {
    fn name(&self) -> &'static str {
        "push"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        // The shell never holds the push while the stream runs its outputs.
        if let Ok(mut p) = self.push.try_borrow_mut() {
            p.offer(msg);
        }
        Ok(())
    }

    fn finish(&mut self, now: Now) -> Result<(), OutputError> {
        if let Ok(mut p) = self.push.try_borrow_mut() {
            p.stop(now.monotonic_ms);
        }
        Ok(())
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        self.push
            .try_borrow_mut()
            .ok()?
            .output()
            .map(OutputOp::Send)
    }
}
