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

use bytes::Bytes;

use super::chunk::{ChunkDecoder, ChunkEncoder};
use super::command::{parse_command, strip_amf3_format, Command};
use super::config::SessionConfig;
use super::error::{OrderError, SessionError};
use super::event::{ConnectRequest, Event, PlayRequest, PublishKind, PublishRequest, Rejection};
use super::handshake::{Handshake, HandshakeKind};
use super::message::{
    csid, parse_control, split_aggregate, types, Control, RawMessage, UserControl,
};
use super::name::{parse_app, parse_stream_name_with, NameError};
use super::out_queue::OutQueue;
use super::session_streams::{StreamState, Streams};
use super::status::{self, code};
use crate::amf0::{self, Value};

#[path = "session_play.rs"]
mod play;
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
}

fn stream_id_from(n: f64) -> Option<u32> {
    if n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0 {
        Some(n as u32)
    } else {
        None
    }
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
            let used = hs.feed(data, self.out.buf_mut())?;
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
        self.events.pop_front()
    }

    /// The next bytes to write to the socket, in order. Call it until it
    /// returns `None`: control/command bytes and shared media bodies come
    /// as separate pieces (gather them into one `writev`).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let b = self.out.pop()?;
        self.bytes_sent = self.bytes_sent.saturating_add(b.len() as u64);
        Some(b)
    }

    fn handshake_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Handshake(_) => Some(
                self.start_ms
                    .saturating_add(self.config.handshake_timeout_ms.min(self.config.timeout_ms)),
            ),
            _ => None,
        }
    }

    /// Earliest time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        if matches!(self.phase, Phase::Failed) {
            return None;
        }
        if self.deferred.is_some() {
            return Some(self.now_ms);
        }
        let mut t = if self.idle_timeout_applies() {
            self.last_rx_ms.saturating_add(self.config.timeout_ms)
        } else {
            u64::MAX
        };
        if let Some(hs) = self.handshake_deadline() {
            return Some(t.min(hs));
        }
        if let Some(m) = self.message_deadline() {
            t = t.min(m);
        }
        if self.config.ping_ms > 0 {
            let ping = match self.ping_sent_ms {
                Some(sent) => sent.saturating_add(self.config.ping_timeout_ms),
                None => self.last_rx_ms.saturating_add(self.config.ping_ms),
            };
            t = t.min(ping);
        }
        Some(t)
    }

    /// Silence from the peer ends the session after `timeout_ms` until it is connected; from
    /// then on (as in nginx-rtmp, where players may legitimately send nothing for minutes)
    /// liveness is checked with pings, unless pings are disabled.
    fn idle_timeout_applies(&self) -> bool {
        self.config.ping_ms == 0 || !matches!(self.phase, Phase::Connected)
    }

    /// When a whole message must have completed: only while the decoder
    /// holds a partly received header or message, and not while input is
    /// held for the shell's decision (those bytes are not decoded yet).
    fn message_deadline(&self) -> Option<u64> {
        let applies = !matches!(self.phase, Phase::Handshake(_) | Phase::Failed)
            && !self.closing
            && !self.message_clock_stale
            && !self.is_paused()
            && self.decoder.has_partial();
        applies.then(|| self.last_message_ms.saturating_add(self.config.timeout_ms))
    }

    /// The wait for a message starts over when nothing is partial (a new
    /// message begins now) or after held input was decoded without a clock.
    fn restart_message_clock(&mut self, now_ms: u64) {
        if self.message_clock_stale || !self.decoder.has_partial() {
            self.last_message_ms = now_ms;
            self.message_clock_stale = false;
        }
    }

    /// Runs timers: handshake deadline, message deadline, idle timeout, ping.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), SessionError> {
        if matches!(self.phase, Phase::Failed) {
            return Err(SessionError::Closed);
        }
        self.now_ms = now_ms;
        let result = self.timeout_inner(now_ms);
        result.map_err(|e| self.fail(e))
    }

    fn timeout_inner(&mut self, now_ms: u64) -> Result<(), SessionError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if let Some(deadline) = self.handshake_deadline() {
            if now_ms >= deadline {
                return Err(SessionError::HandshakeTimeout);
            }
        }
        if !self.is_paused() {
            self.restart_message_clock(now_ms);
        }
        if let Some(deadline) = self.message_deadline() {
            if now_ms >= deadline {
                return Err(SessionError::MessageTimeout {
                    timeout_ms: self.config.timeout_ms,
                });
            }
        }
        if let Some(sent) = self.ping_sent_ms {
            if now_ms >= sent.saturating_add(self.config.ping_timeout_ms) {
                return Err(SessionError::PingTimeout);
            }
        }
        if self.idle_timeout_applies()
            && now_ms >= self.last_rx_ms.saturating_add(self.config.timeout_ms)
        {
            return Err(SessionError::Timeout);
        }
        if self.config.ping_ms > 0
            && self.ping_sent_ms.is_none()
            && self.handshake_deadline().is_none()
            && now_ms >= self.last_rx_ms.saturating_add(self.config.ping_ms)
        {
            self.send_control(Control::UserControl(UserControl::PingRequest(
                now_ms as u32,
            )));
            self.ping_sent_ms = Some(now_ms);
        }
        Ok(())
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

    /// True once the handshake completed.
    pub fn is_handshake_done(&self) -> bool {
        !matches!(self.phase, Phase::Handshake(_))
    }

    /// The handshake flavour the client used, once known.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// True after `accept_connect`.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected)
    }

    /// The chunk size the peer announced (128 until it says otherwise).
    pub fn peer_chunk_size(&self) -> u32 {
        self.decoder.chunk_size()
    }

    // ----- answers from the shell -----

    /// Accepts the pending connect: Window Ack Size, Set Peer Bandwidth,
    /// Set Chunk Size, Stream Begin 0 and the `_result`.
    pub fn accept_connect(&mut self) {
        let Phase::ConnectPending {
            transaction_id,
            object_encoding,
        } = self.phase
        else {
            return;
        };
        let window = self.config.ack_window;
        self.send_control(Control::WindowAckSize(window));
        self.send_control(Control::SetPeerBandwidth {
            size: window,
            limit_type: 2,
        });
        let chunk_size = self.config.chunk_size.clamp(1, 0x7FFF_FFFF);
        self.send_control(Control::SetChunkSize(chunk_size));
        self.encoder.set_chunk_size(chunk_size);
        self.send_control(Control::UserControl(UserControl::StreamBegin(0)));
        self.send_command(
            csid::COMMAND,
            0,
            &status::connect_result(transaction_id, object_encoding),
        );
        self.phase = Phase::Connected;
        self.resume();
    }

    /// Refuses the pending connect with `_error NetConnection.Connect.Rejected`;
    /// the session then wants to close.
    pub fn reject_connect(&mut self, description: &str) {
        let Phase::ConnectPending { transaction_id, .. } = self.phase else {
            return;
        };
        self.send_command(
            csid::COMMAND,
            0,
            &status::connect_rejected(transaction_id, description),
        );
        self.close_gracefully();
    }

    /// Accepts a pending publish: Stream Begin + NetStream.Publish.Start.
    pub fn accept_publish(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        let StreamState::PublishPending { name } = state else {
            return;
        };
        let name = std::mem::take(name);
        let description = format!("{name} is now published.");
        *state = StreamState::Publishing { name };
        self.send_control(Control::UserControl(UserControl::StreamBegin(stream_id)));
        self.send_status(stream_id, "status", code::PUBLISH_START, &description);
        self.resume();
    }

    /// Refuses a pending publish with an error onStatus; the session then
    /// wants to close.
    pub fn reject_publish(&mut self, stream_id: u32, reason: Rejection) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        if !matches!(state, StreamState::PublishPending { .. }) {
            return;
        }
        *state = StreamState::Idle;
        let (code, description) = reason.publish_status();
        self.send_status(stream_id, "error", code, description);
        self.close_gracefully();
    }

    /// Accepts a pending play: Stream Begin, NetStream.Play.Reset (only
    /// when the play command's reset flag is true or absent),
    /// NetStream.Play.Start and `|RtmpSampleAccess`. Media follows with
    /// [`Session::send_prepared`].
    pub fn accept_play(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        let StreamState::PlayPending { name, reset } = state else {
            return;
        };
        let reset = *reset;
        let name = std::mem::take(name);
        let start = format!("Started playing {name}.");
        let reset_text = reset.then(|| format!("Playing and resetting {name}."));
        *state = StreamState::Playing {
            name,
            paused: false,
        };
        self.send_control(Control::UserControl(UserControl::StreamBegin(stream_id)));
        if let Some(text) = reset_text {
            self.send_status(stream_id, "status", code::PLAY_RESET, &text);
        }
        self.send_status(stream_id, "status", code::PLAY_START, &start);
        let body = amf0::encode_to_bytes(&status::sample_access());
        self.write(csid::STATUS, 0, types::DATA_AMF0, stream_id, &body);
        self.resume();
    }

    /// Refuses a pending play with an error onStatus; the session then
    /// wants to close.
    pub fn reject_play(&mut self, stream_id: u32, reason: Rejection) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        if !matches!(state, StreamState::PlayPending { .. }) {
            return;
        }
        *state = StreamState::Idle;
        let (code, description) = reason.play_status();
        self.send_status(stream_id, "error", code, description);
        self.close_gracefully();
    }

    fn close_gracefully(&mut self) {
        self.closing = true;
        self.backlog = Vec::new();
    }

    // ----- input processing -----

    fn is_paused(&self) -> bool {
        matches!(self.phase, Phase::ConnectPending { .. }) || self.streams.any_pending()
    }

    fn hold(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let max = self.config.limits.max_backlog;
        if self.backlog.len().saturating_add(data.len()) > max {
            return Err(SessionError::BacklogExceeded { max });
        }
        self.backlog.extend_from_slice(data);
        Ok(())
    }

    /// Processes held input after a decision.
    fn resume(&mut self) {
        if self.closing || self.is_paused() {
            return;
        }
        self.message_clock_stale = true;
        if self.backlog.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.backlog);
        if let Err(e) = self.process(&held) {
            self.deferred.get_or_insert(e);
        }
        self.acknowledge();
    }

    fn process(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let mut pos = 0usize;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            let (used, msg) = self.decoder.decode(rest)?;
            pos = pos.saturating_add(used);
            match msg {
                Some(m) => {
                    self.last_message_ms = self.now_ms;
                    self.handle_message(m)?;
                    if self.closing {
                        return Ok(());
                    }
                    if self.is_paused() {
                        return self.hold(data.get(pos..).unwrap_or(&[]));
                    }
                }
                None if used == 0 => break,
                None => {}
            }
        }
        Ok(())
    }

    fn acknowledge(&mut self) {
        let window = u64::from(self.peer_window);
        if window == 0 || matches!(self.phase, Phase::Handshake(_) | Phase::Failed) {
            return;
        }
        if self.bytes_received.saturating_sub(self.last_ack) >= window {
            self.last_ack = self.bytes_received;
            self.send_control(Control::Acknowledgement {
                sequence: self.bytes_received as u32,
            });
        }
    }

    fn require_connected(&self, type_id: u8) -> Result<(), SessionError> {
        match self.phase {
            Phase::Connected => Ok(()),
            _ => Err(OrderError::BeforeConnect { type_id }.into()),
        }
    }

    fn handle_message(&mut self, m: RawMessage) -> Result<(), SessionError> {
        if types::is_protocol_control(m.type_id) {
            if let Some(c) = parse_control(m.type_id, &m.payload)? {
                self.handle_control(c);
            }
            return Ok(());
        }
        match m.type_id {
            types::AUDIO | types::VIDEO => {
                self.require_connected(m.type_id)?;
                self.handle_media(m.type_id, m.stream_id, m.timestamp, m.payload)
            }
            types::DATA_AMF0 | types::DATA_AMF3 => {
                self.require_connected(m.type_id)?;
                let body = if m.type_id == types::DATA_AMF3 {
                    strip_amf3_format(&m.payload)?
                } else {
                    &m.payload
                };
                self.handle_data(m.stream_id, body)
            }
            types::COMMAND_AMF0 | types::COMMAND_AMF3 => {
                let body = if m.type_id == types::COMMAND_AMF3 {
                    strip_amf3_format(&m.payload)?
                } else {
                    &m.payload
                };
                let values = amf0::decode_all(body, self.config.limits.max_amf_depth)?;
                let command = parse_command(&values)?;
                if !matches!(command, Command::Connect { .. }) {
                    self.require_connected(m.type_id)?;
                }
                self.handle_command(m.stream_id, command)
            }
            types::AGGREGATE => {
                self.require_connected(m.type_id)?;
                for sub in split_aggregate(m.timestamp, &m.payload)? {
                    match sub.type_id {
                        types::AUDIO | types::VIDEO => {
                            self.handle_media(sub.type_id, m.stream_id, sub.timestamp, sub.payload)?
                        }
                        types::DATA_AMF0 => self.handle_data(m.stream_id, &sub.payload)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            // Shared objects and unknown types: not ours to interpret, but
            // still only after connect.
            t => self.require_connected(t),
        }
    }

    fn handle_control(&mut self, c: Control) {
        match c {
            Control::UserControl(UserControl::PingRequest(t)) => {
                self.send_control(Control::UserControl(UserControl::PingResponse(t)));
            }
            Control::WindowAckSize(n) => self.peer_window = n,
            // Set Chunk Size and Abort were applied by the decoder; the
            // rest needs no action from a server.
            _ => {}
        }
    }

    fn handle_media(
        &mut self,
        type_id: u8,
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<(), SessionError> {
        match self.streams.get(stream_id) {
            None => return Err(OrderError::UnknownStream(stream_id).into()),
            Some(StreamState::Publishing { .. }) => {}
            Some(_) => return Err(OrderError::NotPublishing(stream_id).into()),
        }
        self.events.push_back(if type_id == types::AUDIO {
            Event::Audio {
                stream_id,
                timestamp,
                payload,
            }
        } else {
            Event::Video {
                stream_id,
                timestamp,
                payload,
            }
        });
        Ok(())
    }

    fn handle_data(&mut self, stream_id: u32, body: &[u8]) -> Result<(), SessionError> {
        let values = amf0::decode_all(body, self.config.limits.max_amf_depth)?;
        let meta = match (values.first(), values.get(1), values.get(2)) {
            (Some(Value::String(a)), Some(b), Some(obj))
                if a == "@setDataFrame" && b.as_str() == Some("onMetaData") =>
            {
                obj
            }
            (Some(Value::String(a)), Some(obj), _) if a == "onMetaData" => obj,
            _ => return Ok(()),
        };
        if meta.properties().is_none() {
            return Ok(());
        }
        // Metadata for a stream that is not an accepted publisher is
        // dropped: harmless, and some clients send it early.
        if !matches!(
            self.streams.get(stream_id),
            Some(StreamState::Publishing { .. })
        ) {
            return Ok(());
        }
        let data = amf0::encode_to_bytes(&[Value::from("onMetaData"), meta.clone()]);
        self.events.push_back(Event::Metadata { stream_id, data });
        Ok(())
    }

    fn handle_command(&mut self, msid: u32, command: Command) -> Result<(), SessionError> {
        match command {
            Command::Connect {
                transaction_id,
                object,
            } => self.handle_connect(transaction_id, &object),
            Command::CreateStream { transaction_id } => {
                match self.streams.create(self.config.max_streams) {
                    Ok(id) => {
                        let reply = status::result(transaction_id, Value::Number(f64::from(id)));
                        self.send_command(csid::COMMAND, 0, &reply);
                        Ok(())
                    }
                    Err(e) => {
                        let reply = status::error(
                            transaction_id,
                            "NetConnection.Call.Failed",
                            "Too many streams",
                        );
                        self.send_command(csid::COMMAND, 0, &reply);
                        Err(e.into())
                    }
                }
            }
            Command::ReleaseStream { transaction_id, .. }
            | Command::FcPublish { transaction_id, .. } => {
                self.reply_result(transaction_id, Value::Undefined);
                Ok(())
            }
            Command::FcUnpublish {
                transaction_id,
                name,
            } => {
                let bare = name.split_once('?').map_or(name.as_str(), |(n, _)| n);
                if let Some(id) = self.streams.find_publishing(bare) {
                    self.unpublish(id, false);
                }
                self.reply_result(transaction_id, Value::Undefined);
                Ok(())
            }
            Command::DeleteStream { stream_id, .. } => {
                match stream_id {
                    Some(id) => {
                        if let Some(id) = stream_id_from(id) {
                            self.stop_stream(id, true);
                        }
                    }
                    None => self.stop_stream(msid, true),
                }
                Ok(())
            }
            Command::CloseStream { .. } => {
                self.stop_stream(msid, false);
                Ok(())
            }
            Command::Publish { name, kind, .. } => self.handle_publish(msid, &name, &kind),
            Command::Play {
                name,
                start,
                duration,
                reset,
                ..
            } => self.handle_play(msid, &name, start, duration, reset),
            Command::GetStreamLength { transaction_id, .. } => {
                self.reply_result(transaction_id, Value::Number(0.0));
                Ok(())
            }
            Command::Pause { pause, .. } => {
                self.handle_pause(msid, pause);
                Ok(())
            }
            Command::ReceiveAudio { flag, .. } => {
                self.handle_receive(msid, Some(flag), None);
                Ok(())
            }
            Command::ReceiveVideo { flag, .. } => {
                self.handle_receive(msid, None, Some(flag));
                Ok(())
            }
            Command::Other {
                name,
                transaction_id,
            } => {
                if !matches!(name.as_str(), "_result" | "_error" | "onStatus") {
                    self.reply_result(transaction_id, Value::Null);
                }
                Ok(())
            }
        }
    }

    fn handle_connect(
        &mut self,
        transaction_id: f64,
        object: &[(String, Value)],
    ) -> Result<(), SessionError> {
        if !matches!(self.phase, Phase::AwaitConnect) {
            return Err(OrderError::ConnectTwice.into());
        }
        let get = |key: &str| {
            object
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let raw_app = get("app");
        let limits = &self.config.limits;
        let (app, app_args) = match parse_app(&raw_app, limits.max_name_len, limits.max_args_len) {
            Ok((a, b)) => (a.to_owned(), b.to_owned()),
            Err(e) => {
                let reply = status::connect_rejected(transaction_id, "Invalid application name");
                self.send_command(csid::COMMAND, 0, &reply);
                return Err(e.into());
            }
        };
        let object_encoding = object
            .iter()
            .find(|(k, _)| k == "objectEncoding")
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(0.0);
        let mut flashver = get("flashVer");
        if flashver.is_empty() {
            flashver = get("flashver");
        }
        self.phase = Phase::ConnectPending {
            transaction_id,
            object_encoding,
        };
        self.events.push_back(Event::Connect(ConnectRequest {
            app,
            app_args,
            tc_url: get("tcUrl"),
            flashver,
            swf_url: get("swfUrl"),
            page_url: get("pageUrl"),
            object_encoding,
        }));
        Ok(())
    }

    fn check_stream_idle(&self, msid: u32, publishing: bool) -> Result<(), SessionError> {
        match self.streams.get(msid) {
            None => Err(OrderError::UnknownStream(msid).into()),
            Some(StreamState::Idle) => Ok(()),
            Some(StreamState::PublishPending { .. } | StreamState::Publishing { .. })
                if publishing =>
            {
                Err(OrderError::AlreadyPublishing(msid).into())
            }
            Some(_) => Err(OrderError::StreamBusy(msid).into()),
        }
    }

    fn parse_name(&self, raw: &str) -> Result<super::name::StreamName, NameError> {
        let limits = &self.config.limits;
        parse_stream_name_with(raw, limits.max_name_len, limits.max_args_len)
    }

    fn handle_publish(&mut self, msid: u32, raw: &str, kind: &str) -> Result<(), SessionError> {
        self.check_stream_idle(msid, true)?;
        let parsed = match self.parse_name(raw) {
            Ok(p) => p,
            Err(e) => {
                let (code, description) = Rejection::BadName.publish_status();
                self.send_status(msid, "error", code, description);
                return Err(e.into());
            }
        };
        if let Some(state) = self.streams.get_mut(msid) {
            *state = StreamState::PublishPending {
                name: parsed.name.clone(),
            };
        }
        self.events.push_back(Event::Publish(PublishRequest {
            stream_id: msid,
            name: parsed.name,
            args: parsed.args,
            kind: PublishKind::from_arg(kind),
        }));
        Ok(())
    }

    fn handle_play(
        &mut self,
        msid: u32,
        raw: &str,
        start: f64,
        duration: f64,
        reset: bool,
    ) -> Result<(), SessionError> {
        self.check_stream_idle(msid, false)?;
        let parsed = match self.parse_name(raw) {
            Ok(p) => p,
            Err(e) => {
                let (code, description) = Rejection::BadName.play_status();
                self.send_status(msid, "error", code, description);
                return Err(e.into());
            }
        };
        if let Some(state) = self.streams.get_mut(msid) {
            *state = StreamState::PlayPending {
                name: parsed.name.clone(),
                reset,
            };
        }
        self.events.push_back(Event::Play(PlayRequest {
            stream_id: msid,
            name: parsed.name,
            args: parsed.args,
            start,
            duration,
            reset,
        }));
        Ok(())
    }

    /// Ends publishing on `id`: event + NetStream.Unpublish.Success.
    fn unpublish(&mut self, id: u32, remove: bool) {
        let description = match self.streams.get(id) {
            Some(StreamState::Publishing { name }) => format!("{name} is now unpublished."),
            _ => return,
        };
        self.events.push_back(Event::Unpublish { stream_id: id });
        self.send_status(id, "status", code::UNPUBLISH_SUCCESS, &description);
        if remove {
            self.streams.remove(id);
        } else if let Some(s) = self.streams.get_mut(id) {
            *s = StreamState::Idle;
        }
    }

    /// closeStream (`remove == false`) or deleteStream (`true`).
    fn stop_stream(&mut self, id: u32, remove: bool) {
        match self.streams.get(id) {
            Some(StreamState::Publishing { .. }) => self.unpublish(id, remove),
            Some(StreamState::Playing { .. }) => {
                self.events.push_back(Event::StopPlay { stream_id: id });
                if remove {
                    self.streams.remove(id);
                } else if let Some(s) = self.streams.get_mut(id) {
                    *s = StreamState::Idle;
                }
            }
            Some(_) if remove => {
                self.streams.remove(id);
            }
            _ => {}
        }
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
