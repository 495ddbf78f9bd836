//! The RTMP client session (sans-IO) that push and pull relays drive.
//!
//! [`ClientSession::new`] queues C0+C1; the shell writes what
//! [`ClientSession::poll_output`] returns, feeds what the socket reads with
//! [`ClientSession::feed`] and drains [`ClientSession::poll_event`]. The
//! session walks handshake → `connect` → (`releaseStream`, `FCPublish`)
//! `createStream` → `publish name live` or `play name` by itself, the way
//! ffmpeg does, and reports [`ClientEvent::Publishing`] or
//! [`ClientEvent::Playing`] when the server says so; a refusal is a
//! [`ClientError`] whose blame is [`ClientBlame::Refused`]. Once publishing,
//! [`ClientSession::send_media`] chunks media for the server.
//!
//! No clock: connect and idle timeouts belong to the shell, which knows
//! when it last got bytes.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod config;
mod error;
mod event;
mod handshake;
mod input;

pub use config::{ClientConfig, Mode, DEFAULT_FLASH_VER};
pub use error::{ClientBlame, ClientError};
pub use event::{ClientEvent, ClientState, StreamEndReason};
pub use handshake::{ClientHandshake, HandshakeStyle, CLIENT_VERSION};

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::amf0::{self, Value};
use crate::rtmp::chunk::{ChunkDecoder, ChunkEncoder, DEFAULT_CHUNK_SIZE};
use crate::rtmp::handshake::HandshakeKind;
use crate::rtmp::message::{self, csid, types, Control, UserControl};

/// Chunk stream of commands on our message stream (publish, play,
/// deleteStream), as ffmpeg uses it.
pub const STREAM_COMMAND_CSID: u32 = 8;

/// `@setDataFrame` as an AMF0 string.
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";

#[derive(Debug)]
enum Phase {
    Handshaking(ClientHandshake),
    Connecting {
        transaction_id: f64,
    },
    CreatingStream {
        transaction_id: f64,
    },
    Starting {
        stream_id: u32,
    },
    Publishing {
        stream_id: u32,
    },
    Playing {
        stream_id: u32,
    },
    /// Closed by the shell: input is ignored.
    Closed,
    /// An error was returned; every call answers `Closed`.
    Failed,
}

/// One RTMP client connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    phase: Phase,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    events: VecDeque<ClientEvent>,
    next_transaction: f64,
    server_kind: Option<HandshakeKind>,
    bytes_received: u64,
    bytes_sent: u64,
    /// The server's Window Acknowledgement Size (0: never acknowledge).
    peer_window: u32,
    last_ack: u64,
}

impl ClientSession {
    /// A new session; C0+C1 are ready in `poll_output` at once.
    pub fn new(config: ClientConfig) -> ClientSession {
        let mut out = BytesMut::new();
        let hs = ClientHandshake::start(config.handshake, config.seed, &mut out);
        ClientSession {
            decoder: ChunkDecoder::new(&config.limits),
            encoder: ChunkEncoder::new(),
            phase: Phase::Handshaking(hs),
            out,
            events: VecDeque::new(),
            next_transaction: 1.0,
            server_kind: None,
            bytes_received: 0,
            bytes_sent: 0,
            peer_window: 0,
            last_ack: 0,
            config,
        }
    }

    /// Where the session is.
    pub fn state(&self) -> ClientState {
        match &self.phase {
            Phase::Handshaking(_) => ClientState::Handshaking,
            Phase::Connecting { .. } => ClientState::Connecting,
            Phase::CreatingStream { .. } => ClientState::CreatingStream,
            Phase::Starting { .. } => match self.config.mode {
                Mode::Publish => ClientState::StartingPublish,
                Mode::Play => ClientState::StartingPlay,
            },
            Phase::Publishing { .. } => ClientState::Publishing,
            Phase::Playing { .. } => ClientState::Playing,
            Phase::Closed | Phase::Failed => ClientState::Closed,
        }
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// How the server answered the handshake, once known.
    pub fn server_handshake(&self) -> Option<HandshakeKind> {
        self.server_kind
    }

    /// The message stream id `createStream` gave us, once known.
    pub fn stream_id(&self) -> Option<u32> {
        match self.phase {
            Phase::Starting { stream_id }
            | Phase::Publishing { stream_id }
            | Phase::Playing { stream_id } => Some(stream_id),
            _ => None,
        }
    }

    /// Bytes fed so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes handed out by `poll_output` so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Bytes waiting for `poll_output` (the shell's backpressure measure).
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Feeds bytes read from the socket. `Err` means: flush pending output,
    /// then close. Incomplete input is kept, not an error.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), ClientError> {
        if matches!(self.phase, Phase::Failed) {
            return Err(ClientError::Closed);
        }
        if matches!(self.phase, Phase::Closed) {
            return Ok(());
        }
        self.bytes_received = self.bytes_received.saturating_add(data.len() as u64);
        match self.feed_inner(data) {
            Ok(()) => {
                self.acknowledge();
                Ok(())
            }
            Err(e) => {
                self.phase = Phase::Failed;
                Err(e)
            }
        }
    }

    fn feed_inner(&mut self, data: &[u8]) -> Result<(), ClientError> {
        let mut data = data;
        if let Phase::Handshaking(hs) = &mut self.phase {
            let used = hs.feed(data, &mut self.out)?;
            data = data.get(used..).unwrap_or(&[]);
            if !hs.is_done() {
                return Ok(());
            }
            self.server_kind = hs.server_kind();
            self.start_connect();
        }
        let mut pos = 0usize;
        while pos < data.len() {
            let (used, msg) = self.decoder.decode(data.get(pos..).unwrap_or(&[]))?;
            pos = pos.saturating_add(used);
            match msg {
                Some(m) => {
                    self.handle_message(m)?;
                    if matches!(self.phase, Phase::Closed) {
                        return Ok(());
                    }
                }
                None if used == 0 => break,
                None => {}
            }
        }
        Ok(())
    }

    /// The next event for the shell.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// All bytes to write to the socket, in order, as one piece; `None`
    /// when there is nothing to send.
    pub fn poll_output(&mut self) -> Option<Bytes> {
        if self.out.is_empty() {
            return None;
        }
        let b = self.out.split().freeze();
        self.bytes_sent = self.bytes_sent.saturating_add(b.len() as u64);
        Some(b)
    }

    /// Sends one audio (8), video (9) or AMF0 data (18, e.g.
    /// `@setDataFrame onMetaData`) message on our stream. Only once the
    /// server accepted the publish. The payload is copied once, into the
    /// output between chunk headers.
    pub fn send_media(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), ClientError> {
        let Phase::Publishing { stream_id } = self.phase else {
            return Err(match self.phase {
                Phase::Failed => ClientError::Closed,
                _ => ClientError::NotPublishing {
                    state: self.state(),
                },
            });
        };
        if !matches!(type_id, types::AUDIO | types::VIDEO | types::DATA_AMF0) {
            return Err(ClientError::BadMediaType(type_id));
        }
        self.encoder
            .write(
                &mut self.out,
                csid::for_media(type_id),
                timestamp,
                type_id,
                stream_id,
                payload,
            )
            .map_err(ClientError::Outgoing)
    }

    /// Sends stream metadata the way ffmpeg and OBS do (`@setDataFrame`
    /// in front of it): `on_metadata` is an `onMetaData` data message body,
    /// as the server session's `Event::Metadata` carries it.
    pub fn send_metadata(
        &mut self,
        timestamp: u32,
        on_metadata: &Bytes,
    ) -> Result<(), ClientError> {
        let mut body = BytesMut::with_capacity(SET_DATA_FRAME.len() + on_metadata.len());
        body.extend_from_slice(SET_DATA_FRAME);
        body.extend_from_slice(on_metadata);
        self.send_media(types::DATA_AMF0, timestamp, &body.freeze())
    }

    /// Ends the session politely: FCUnpublish + deleteStream for a
    /// publisher, deleteStream for a player. Flush the output, then close
    /// the socket. Later input is ignored.
    pub fn close(&mut self) {
        match self.phase {
            Phase::Publishing { stream_id } | Phase::Starting { stream_id } => {
                if self.config.mode == Mode::Publish {
                    let name = Value::from(self.config.name.as_str());
                    self.call(csid::COMMAND, 0, "FCUnpublish", vec![Value::Null, name]);
                }
                self.delete_stream(stream_id);
            }
            Phase::Playing { stream_id } => self.delete_stream(stream_id),
            Phase::Failed => return,
            _ => {}
        }
        self.phase = Phase::Closed;
    }

    fn delete_stream(&mut self, stream_id: u32) {
        let args = vec![Value::Null, Value::Number(f64::from(stream_id))];
        self.call(STREAM_COMMAND_CSID, stream_id, "deleteStream", args);
    }

    // ----- output -----

    fn write(&mut self, csid: u32, type_id: u8, stream_id: u32, payload: &[u8]) {
        // Only payloads above 16 MiB fail to encode; ours are small commands.
        let _ = self
            .encoder
            .write(&mut self.out, csid, 0, type_id, stream_id, payload);
    }

    fn send_control(&mut self, c: Control) {
        let (type_id, body) = message::control_body(&c);
        self.write(csid::CONTROL, type_id, 0, &body);
    }

    /// Sends command `name` with a fresh transaction id and `args` (the
    /// command object or null first); returns the transaction id.
    fn call(&mut self, csid: u32, stream_id: u32, name: &str, args: Vec<Value>) -> f64 {
        let transaction_id = self.next_transaction;
        self.next_transaction += 1.0;
        let mut values = Vec::with_capacity(args.len() + 2);
        values.push(Value::from(name));
        values.push(Value::Number(transaction_id));
        values.extend(args);
        let body = amf0::encode_to_bytes(&values);
        self.write(csid, types::COMMAND_AMF0, stream_id, &body);
        transaction_id
    }

    /// After the handshake: our chunk size and window, then `connect`.
    fn start_connect(&mut self) {
        let chunk_size = self.config.chunk_size.clamp(1, 0x7FFF_FFFF);
        if chunk_size != DEFAULT_CHUNK_SIZE {
            self.send_control(Control::SetChunkSize(chunk_size));
            self.encoder.set_chunk_size(chunk_size);
        }
        if self.config.ack_window > 0 {
            self.send_control(Control::WindowAckSize(self.config.ack_window));
        }
        let c = &self.config;
        let mut object: Vec<(&str, Value)> = vec![
            ("app", Value::from(c.app.as_str())),
            ("type", Value::from("nonprivate")),
            ("flashVer", Value::from(c.flash_ver.as_str())),
        ];
        if !c.swf_url.is_empty() {
            object.push(("swfUrl", Value::from(c.swf_url.as_str())));
        }
        object.push(("tcUrl", Value::from(c.tc_url.as_str())));
        if c.mode == Mode::Play {
            object.extend([
                ("fpad", Value::Boolean(false)),
                ("capabilities", Value::Number(15.0)),
                ("audioCodecs", Value::Number(4071.0)),
                ("videoCodecs", Value::Number(252.0)),
                ("videoFunction", Value::Number(1.0)),
            ]);
        }
        if !c.page_url.is_empty() {
            object.push(("pageUrl", Value::from(c.page_url.as_str())));
        }
        object.push(("objectEncoding", Value::Number(0.0)));
        let transaction_id = self.call(csid::COMMAND, 0, "connect", vec![Value::object(object)]);
        self.phase = Phase::Connecting { transaction_id };
    }

    /// Acknowledges received bytes each time a window's worth arrived.
    fn acknowledge(&mut self) {
        let window = u64::from(self.peer_window);
        if window == 0 || matches!(self.phase, Phase::Handshaking(_) | Phase::Failed) {
            return;
        }
        if self.bytes_received.saturating_sub(self.last_ack) >= window {
            self.last_ack = self.bytes_received;
            self.send_control(Control::Acknowledgement {
                sequence: self.bytes_received as u32,
            });
        }
    }

    fn answer_ping(&mut self, timestamp: u32) {
        self.send_control(Control::UserControl(UserControl::PingResponse(timestamp)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn set_data_frame_is_the_amf0_string() {
        let mut out = BytesMut::new();
        amf0::encode(&Value::from("@setDataFrame"), &mut out);
        assert_eq!(&out[..], SET_DATA_FRAME);
    }

    #[test]
    fn output_is_counted_and_calls_before_publish_are_refused() {
        let mut c = ClientSession::new(ClientConfig::new("a", "rtmp://h/a", "s", Mode::Publish));
        assert_eq!(c.state(), ClientState::Handshaking);
        assert_eq!(c.pending_output(), 1537);
        assert_eq!(c.poll_output().map(|b| b.len()), Some(1537));
        assert_eq!(c.poll_output(), None);
        assert_eq!(c.bytes_sent(), 1537);
        assert_eq!(c.stream_id(), None);
        assert!(matches!(
            c.send_metadata(0, &Bytes::new()),
            Err(ClientError::NotPublishing { .. })
        ));
        // close before anything happened: no bytes, state Closed, input ignored.
        c.close();
        assert_eq!(c.state(), ClientState::Closed);
        assert_eq!(c.poll_output(), None);
        assert_eq!(c.feed(b"junk"), Ok(()));
    }
}
