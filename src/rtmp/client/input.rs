//! Input of a [`ClientSession`]: protocol control, command answers
//! (`_result`, `_error`, `onStatus`) that move the state, and the media and
//! metadata of a played stream.

use bytes::Bytes;

use super::STREAM_COMMAND_CSID;
use super::{ClientError, ClientEvent, ClientSession, Mode, Phase, StreamEndReason};
use crate::amf0::{self, Value};
use crate::rtmp::command::strip_amf3_format;
use crate::rtmp::message::{
    csid, parse_control, split_aggregate, types, Control, RawMessage, UserControl as Uc,
};
use crate::rtmp::status::code;

/// `level`, `code` and `description` of an info object (empty when absent).
fn info(values: &[Value]) -> (String, String, String) {
    let obj = values.get(3);
    let field = |k: &str| {
        obj.and_then(|o| o.get_str(k))
            .unwrap_or_default()
            .to_owned()
    };
    (field("level"), field("code"), field("description"))
}

fn stream_id_from(n: f64) -> Option<u32> {
    (n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0).then_some(n as u32)
}

impl ClientSession {
    pub(super) fn handle_message(&mut self, m: RawMessage) -> Result<(), ClientError> {
        if types::is_protocol_control(m.type_id) {
            if let Some(c) = parse_control(m.type_id, &m.payload)? {
                self.handle_control(c);
            }
            return Ok(());
        }
        match m.type_id {
            types::COMMAND_AMF0 | types::COMMAND_AMF3 => {
                let body = if m.type_id == types::COMMAND_AMF3 {
                    strip_amf3_format(&m.payload)?
                } else {
                    &m.payload
                };
                let values = amf0::decode_all(body, self.config.limits.max_amf_depth)?;
                self.handle_command(&values)
            }
            types::AUDIO | types::VIDEO => {
                if self.plays(m.stream_id) {
                    self.events.push_back(ClientEvent::Media {
                        type_id: m.type_id,
                        timestamp: m.timestamp,
                        payload: m.payload,
                    });
                }
                Ok(())
            }
            types::DATA_AMF0 | types::DATA_AMF3 => {
                if self.plays(m.stream_id) {
                    let body = if m.type_id == types::DATA_AMF3 {
                        let rest = strip_amf3_format(&m.payload)?.len();
                        m.payload.slice(m.payload.len().saturating_sub(rest)..)
                    } else {
                        m.payload
                    };
                    self.handle_data(m.timestamp, body)?;
                }
                Ok(())
            }
            types::AGGREGATE => {
                if !self.plays(m.stream_id) {
                    return Ok(());
                }
                for sub in split_aggregate(m.timestamp, &m.payload)? {
                    match sub.type_id {
                        types::AUDIO | types::VIDEO => self.events.push_back(ClientEvent::Media {
                            type_id: sub.type_id,
                            timestamp: sub.timestamp,
                            payload: sub.payload,
                        }),
                        types::DATA_AMF0 => self.handle_data(sub.timestamp, sub.payload)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            // Shared objects and unknown types: nothing a relay needs.
            _ => Ok(()),
        }
    }

    /// True if media on `stream_id` belongs to our play (it may come just
    /// before NetStream.Play.Start).
    fn plays(&self, stream_id: u32) -> bool {
        self.config.mode == Mode::Play
            && match self.phase {
                Phase::Starting { stream_id: s } | Phase::Playing { stream_id: s } => {
                    s == stream_id
                }
                _ => false,
            }
    }

    fn handle_control(&mut self, c: Control) {
        match c {
            Control::WindowAckSize(n) => self.peer_window = n,
            Control::UserControl(Uc::PingRequest(t)) => self.answer_ping(t),
            Control::UserControl(Uc::StreamEof(s)) => {
                if matches!(self.phase, Phase::Playing { stream_id } if stream_id == s) {
                    self.events
                        .push_back(ClientEvent::StreamEnd(StreamEndReason::StreamEof));
                }
            }
            // Set Chunk Size and Abort were applied by the decoder; Set Peer
            // Bandwidth asks nothing of a client that sends its own window.
            _ => {}
        }
    }

    fn handle_data(&mut self, timestamp: u32, body: Bytes) -> Result<(), ClientError> {
        let values = amf0::decode_all(&body, self.config.limits.max_amf_depth)?;
        let data = match (values.first(), values.get(1), values.get(2)) {
            (Some(Value::String(a)), _, _) if a == "onMetaData" => body,
            (Some(Value::String(a)), Some(b), Some(obj))
                if a == "@setDataFrame" && b.as_str() == Some("onMetaData") =>
            {
                amf0::encode_to_bytes(&[Value::from("onMetaData"), obj.clone()])
            }
            // |RtmpSampleAccess and other data messages.
            _ => return Ok(()),
        };
        self.events
            .push_back(ClientEvent::Metadata { timestamp, data });
        Ok(())
    }

    fn handle_command(&mut self, values: &[Value]) -> Result<(), ClientError> {
        let name = values.first().and_then(Value::as_str).unwrap_or_default();
        let transaction_id = values.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        match name {
            "_result" => self.handle_result(transaction_id, values),
            "_error" => self.handle_error(transaction_id, values),
            "onStatus" => {
                let (level, code, description) = info(values);
                self.handle_status(level, code, description)
            }
            // onBWDone, onFCPublish, close, ...: nothing to do.
            _ => Ok(()),
        }
    }

    fn handle_result(&mut self, transaction_id: f64, values: &[Value]) -> Result<(), ClientError> {
        match self.phase {
            Phase::Connecting { transaction_id: t } if t == transaction_id => {
                self.events.push_back(ClientEvent::Connected);
                if self.config.mode == Mode::Publish {
                    let name = Value::from(self.config.name.as_str());
                    self.call(
                        csid::COMMAND,
                        0,
                        "releaseStream",
                        vec![Value::Null, name.clone()],
                    );
                    self.call(csid::COMMAND, 0, "FCPublish", vec![Value::Null, name]);
                }
                let transaction_id = self.call(csid::COMMAND, 0, "createStream", vec![Value::Null]);
                self.phase = Phase::CreatingStream { transaction_id };
            }
            Phase::CreatingStream { transaction_id: t } if t == transaction_id => {
                let stream_id = values
                    .get(3)
                    .and_then(Value::as_f64)
                    .and_then(stream_id_from)
                    .ok_or(ClientError::BadStreamId)?;
                self.start_stream(stream_id);
            }
            // Answers to releaseStream/FCPublish and the like.
            _ => {}
        }
        Ok(())
    }

    fn handle_error(&mut self, transaction_id: f64, values: &[Value]) -> Result<(), ClientError> {
        let (_, code, description) = info(values);
        match self.phase {
            Phase::Connecting { transaction_id: t } if t == transaction_id => {
                Err(ClientError::ConnectRejected { code, description })
            }
            Phase::CreatingStream { transaction_id: t } if t == transaction_id => {
                Err(ClientError::CommandFailed {
                    command: "createStream",
                    code,
                    description,
                })
            }
            // Servers answer releaseStream/FCPublish for unknown names with
            // an _error; ffmpeg ignores it too.
            _ => Ok(()),
        }
    }

    fn handle_status(
        &mut self,
        level: String,
        code: String,
        description: String,
    ) -> Result<(), ClientError> {
        let mode = self.config.mode;
        match self.phase {
            Phase::Starting { stream_id } => {
                if mode == Mode::Publish && code == code::PUBLISH_START {
                    self.phase = Phase::Publishing { stream_id };
                    self.events.push_back(ClientEvent::Publishing);
                    return Ok(());
                }
                if mode == Mode::Play && code == code::PLAY_START {
                    self.phase = Phase::Playing { stream_id };
                    self.events.push_back(ClientEvent::Playing);
                    return Ok(());
                }
                if level == "error" {
                    return Err(match mode {
                        Mode::Publish => ClientError::PublishRefused { code, description },
                        Mode::Play => ClientError::PlayRefused { code, description },
                    });
                }
            }
            Phase::Playing { .. } => {
                let reason = match code.as_str() {
                    code::PLAY_UNPUBLISH_NOTIFY => Some(StreamEndReason::UnpublishNotify),
                    code::PLAY_STOP | "NetStream.Play.Complete" => Some(StreamEndReason::Stopped),
                    _ => None,
                };
                if let Some(r) = reason {
                    self.events.push_back(ClientEvent::StreamEnd(r));
                    return Ok(());
                }
            }
            _ => {}
        }
        self.events.push_back(ClientEvent::Status {
            level,
            code,
            description,
        });
        Ok(())
    }

    /// createStream answered: `publish name live` or `play name` on it.
    fn start_stream(&mut self, stream_id: u32) {
        let name = Value::from(self.config.name.as_str());
        match self.config.mode {
            Mode::Publish => {
                let args = vec![Value::Null, name, Value::from("live")];
                self.call(STREAM_COMMAND_CSID, stream_id, "publish", args);
            }
            Mode::Play => {
                // -1000: live only, as nginx-rtmp's pull relays ask (a
                // recorded file of the same name is not what a relay wants).
                let args = vec![Value::Null, name, Value::Number(-1000.0)];
                self.call(STREAM_COMMAND_CSID, stream_id, "play", args);
                self.send_control(Control::UserControl(Uc::SetBufferLength {
                    stream_id,
                    millis: self.config.buffer_ms,
                }));
            }
        }
        self.phase = Phase::Starting { stream_id };
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests;
