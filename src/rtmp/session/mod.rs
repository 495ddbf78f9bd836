//! The poll-loop RTMP server session (sans-IO, in the style of quinn-proto).
//!
//! The shell feeds socket bytes with [`Session::feed`], then drains
//! [`Session::poll_event`] and [`Session::poll_transmit`], answers requests
//! with `accept_*` / `reject_*`, and arms a timer for
//! [`Session::poll_timeout`] that calls [`Session::handle_timeout`].
//!
//! While a connect/publish/play request awaits the shell's answer the
//! session stops interpreting input (it is kept, bounded by
//! `limits.max_backlog`) so that decisions take effect in protocol order.
//! Answering resumes processing at once; events it produces are queued for
//! `poll_event`, and an error it hits is returned by the next `feed` or
//! `handle_timeout` (and `poll_timeout` then asks for an immediate call).
//!
//! Liveness: the handshake has an overall deadline; before `connect` is
//! accepted the peer must not be silent for `timeout_ms`; once connected,
//! pings check it (or the same idle timeout when pings are off). On top of
//! that, whenever the chunk decoder holds a partly received header or
//! message, a whole message must complete at least every `timeout_ms`
//! ([`SessionError::MessageTimeout`]): a peer that drips the bytes of a
//! message it never finishes (slowloris) keeps the connection busy without
//! ever being idle.
//!
//! Players get live media as shared, pre-chunked messages
//! ([`Session::send_prepared`], in `session_play.rs`); the output is a queue
//! of `Bytes` mixing the session's own bytes and those shared bodies, in
//! order.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::caps::ClientCaps;
use super::chunk::{ChunkDecoder, ChunkEncoder};
use super::config::SessionConfig;
use super::error::SessionError;
use super::event::Event;
use super::handshake::{Handshake, HandshakeKind};
use super::message::{csid, types, Control};
use super::out_queue::OutQueue;
use super::status;
use crate::amf0::{self, Value};
use streams::{StreamState, Streams};

mod commands;
mod footprint;
mod input;
mod play;
mod streams;
mod timers;
pub use play::SendError;

#[derive(Debug)]
enum Phase {
    Handshake(Handshake),
    /// Handshake done, waiting for `connect`.
    AwaitConnect,
    /// `connect` reported, awaiting accept/reject.
    ConnectPending {
        transaction_id: f64,
        object_encoding: f64,
    },
    Connected,
    /// An error was returned; nothing more is processed.
    Failed,
}

/// One RTMP server connection.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    streams: Streams,
    events: VecDeque<Event>,
    /// Output in order: own bytes and shared prepared bodies.
    out: OutQueue,
    /// Input held while a request awaits the shell.
    backlog: Vec<u8>,
    /// Error hit while resuming from an `accept_*` call.
    deferred: Option<SessionError>,
    closing: bool,
    start_ms: u64,
    now_ms: u64,
    last_rx_ms: u64,
    /// Start of the current wait for a whole message: when the last one
    /// completed or, if later, when input resumed with nothing partial.
    /// While something is partial, a message must complete by this plus
    /// `timeout_ms`.
    last_message_ms: u64,
    /// Held input was decoded by an `accept_*` call, which has no clock:
    /// `last_message_ms` restarts at the next `feed`/`handle_timeout` (so a
    /// long wait for the shell's decision is not held against the peer),
    /// and until then the message deadline is off.
    message_clock_stale: bool,
    ping_sent_ms: Option<u64>,
    bytes_received: u64,
    bytes_sent: u64,
    /// The peer's Window Acknowledgement Size (0: never acknowledge).
    peer_window: u32,
    last_ack: u64,
    handshake_kind: Option<HandshakeKind>,
    /// What the client announced of Enhanced RTMP in its `connect`.
    caps: ClientCaps,
}

impl Session {
    /// A new session for a just-accepted connection. `seed` feeds the
    /// handshake's random bytes.
    pub fn new(config: SessionConfig, now_ms: u64, seed: u64) -> Session {
        let decoder = ChunkDecoder::new(&config.limits);
        Session {
            phase: Phase::Handshake(Handshake::new(seed, 0)),
            decoder,
            encoder: ChunkEncoder::new(),
            streams: Streams::default(),
            events: VecDeque::new(),
            out: OutQueue::default(),
            backlog: Vec::new(),
            deferred: None,
            closing: false,
            start_ms: now_ms,
            now_ms,
            last_rx_ms: now_ms,
            last_message_ms: now_ms,
            message_clock_stale: false,
            ping_sent_ms: None,
            bytes_received: 0,
            bytes_sent: 0,
            peer_window: 0,
            last_ack: 0,
            handshake_kind: None,
            caps: ClientCaps::default(),
            config,
        }
    }

    /// Feeds bytes read from the socket. `Err` means: flush pending output
    /// (it may hold a refusal for the peer), then close.
    pub fn feed(&mut self, now_ms: u64, data: &[u8]) -> Result<(), SessionError> {
        if matches!(self.phase, Phase::Failed) {
            return Err(SessionError::Closed);
        }
        self.now_ms = now_ms;
        if !data.is_empty() {
            self.bytes_received = self.bytes_received.saturating_add(data.len() as u64);
            self.last_rx_ms = now_ms;
            self.ping_sent_ms = None;
        }
        let result = self.feed_inner(now_ms, data);
        result.map_err(|e| self.fail(e))
    }

    fn feed_inner(&mut self, now_ms: u64, data: &[u8]) -> Result<(), SessionError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if let Some(deadline) = self.handshake_deadline() {
            if now_ms >= deadline {
                return Err(SessionError::HandshakeTimeout);
            }
        }
        if self.closing {
            return Ok(());
        }
        let mut data = data;
        if let Phase::Handshake(hs) = &mut self.phase {
            // S0+S1+S2 get an allocation of their own, freed once sent, rather than a
            // block the session's later writes would keep alive.
            let mut reply = BytesMut::new();
            let used = hs.feed(data, &mut reply)?;
            self.out.push_shared(reply.freeze());
            data = data.get(used..).unwrap_or(&[]);
            if !hs.is_done() {
                return Ok(());
            }
            self.handshake_kind = hs.kind();
            self.phase = Phase::AwaitConnect;
        }
        if self.is_paused() {
            self.hold(data)?;
        } else {
            self.restart_message_clock(now_ms);
            self.process(data)?;
        }
        self.acknowledge();
        Ok(())
    }

    fn fail(&mut self, e: SessionError) -> SessionError {
        self.phase = Phase::Failed;
        self.backlog = Vec::new();
        e
    }

    /// The next event for the shell.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        // An `Event` is large (a connect carries six strings) and a player raises only a
        // few requests in its life: once they are taken, its queue is given back. A
        // publisher's media keeps the queue it reuses for every message.
        if self.events.is_empty() && !matches!(event, Event::Audio { .. } | Event::Video { .. }) {
            self.events = VecDeque::new();
        }
        Some(event)
    }

    /// The next bytes to write to the socket, in order. Call it until it
    /// returns `None`: control/command bytes and shared media bodies come
    /// as separate pieces (gather them into one `writev`).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let b = self.out.pop()?;
        self.bytes_sent = self.bytes_sent.saturating_add(b.len() as u64);
        Some(b)
    }

    /// True once the session decided to end gracefully (after a refusal):
    /// flush output, then close.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Bytes fed so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes handed out by `poll_transmit` so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// True while any of its streams publishes.
    pub fn is_publisher(&self) -> bool {
        self.streams.any_publishing()
    }

    /// At least how many more bytes a partly received message needs; `None` at a message
    /// boundary ([`super::chunk::ChunkDecoder::bytes_wanted`]).
    pub fn bytes_wanted(&self) -> Option<usize> {
        self.decoder.bytes_wanted()
    }

    /// True while a message in progress may be a video keyframe
    /// ([`super::chunk::ChunkDecoder::keyframe_pending`]).
    pub fn keyframe_pending(&self) -> bool {
        self.decoder.keyframe_pending()
    }

    /// True once the handshake completed.
    pub fn is_handshake_done(&self) -> bool {
        !matches!(self.phase, Phase::Handshake(_))
    }

    /// The handshake flavour the client used, once known.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// The codecs and extensions the client announced in its `connect` (Enhanced RTMP);
    /// empty for a legacy client.
    pub fn client_caps(&self) -> ClientCaps {
        self.caps
    }

    /// True after `accept_connect`.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected)
    }

    /// The chunk size the peer announced (128 until it says otherwise).
    pub fn peer_chunk_size(&self) -> u32 {
        self.decoder.chunk_size()
    }

    // ----- output -----

    fn write(&mut self, csid: u32, timestamp: u32, type_id: u8, stream_id: u32, payload: &[u8]) {
        if let Err(e) = self.encoder.write(
            self.out.buf_mut(),
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        ) {
            self.deferred.get_or_insert(SessionError::Outgoing(e));
        }
    }

    fn send_control(&mut self, c: Control) {
        let (type_id, body) = super::message::control_body(&c);
        self.write(csid::CONTROL, 0, type_id, 0, &body);
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Value]) {
        let body = amf0::encode_to_bytes(values);
        self.write(csid, 0, types::COMMAND_AMF0, stream_id, &body);
    }

    fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let values = status::on_status(level, code, description);
        self.send_command(csid::STATUS, stream_id, &values);
    }

    fn reply_result(&mut self, transaction_id: f64, value: Value) {
        if transaction_id != 0.0 {
            self.send_command(csid::COMMAND, 0, &status::result(transaction_id, value));
        }
    }

    /// Number of message streams alive.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True if `stream_id` is an accepted publisher (for cleanup when the
    /// connection drops without FCUnpublish/deleteStream).
    pub fn is_publishing(&self, stream_id: u32) -> bool {
        matches!(
            self.streams.get(stream_id),
            Some(StreamState::Publishing { .. })
        )
    }
}
