//! Input processing of a [`Session`]: the chunk decoder loop, input held
//! while a request awaits the shell (and resumed after its answer),
//! acknowledgements, and the dispatch of protocol control, media, data and
//! command messages.

use bytes::Bytes;

use super::streams::StreamState;
use super::{Phase, Session};
use crate::amf0::{self, Value};
use crate::rtmp::command::{parse_command, strip_amf3_format, Command};
use crate::rtmp::error::{OrderError, SessionError};
use crate::rtmp::event::Event;
use crate::rtmp::message::{
    parse_control, split_aggregate, types, Control, RawMessage, UserControl,
};

impl Session {
    // ----- input processing -----

    pub(super) fn is_paused(&self) -> bool {
        matches!(self.phase, Phase::ConnectPending { .. }) || self.streams.any_pending()
    }

    pub(super) fn hold(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let max = self.config.limits.max_backlog;
        if self.backlog.len().saturating_add(data.len()) > max {
            return Err(SessionError::BacklogExceeded { max });
        }
        self.backlog.extend_from_slice(data);
        Ok(())
    }

    /// Processes held input after a decision.
    pub(super) fn resume(&mut self) {
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

    pub(super) fn process(&mut self, data: &[u8]) -> Result<(), SessionError> {
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

    pub(super) fn acknowledge(&mut self) {
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
}
