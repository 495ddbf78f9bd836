//! RTMP message types: protocol control messages, user control events,
//! aggregate splitting, and builders for the control messages we send.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

pub use super::chunk::RawMessage;

/// Message type ids.
pub mod types {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;

    /// Types 1..=6: allowed before `connect`.
    pub fn is_protocol_control(t: u8) -> bool {
        (SET_CHUNK_SIZE..=SET_PEER_BANDWIDTH).contains(&t)
    }
}

/// Chunk stream ids we send on (the ones nginx-rtmp uses).
pub mod csid {
    use super::types;

    pub const CONTROL: u32 = 2;
    pub const COMMAND: u32 = 3;
    pub const STATUS: u32 = 5;
    /// Data messages to players (onMetaData): nginx-rtmp sends them on its
    /// AMF chunk stream, the one of onStatus.
    pub const DATA: u32 = 5;
    pub const AUDIO: u32 = 6;
    pub const VIDEO: u32 = 7;

    /// The chunk stream a live message of `type_id` is sent to players on:
    /// video 7, audio 6, anything else (data) 5.
    pub fn for_media(type_id: u8) -> u32 {
        match type_id {
            types::VIDEO => VIDEO,
            types::AUDIO => AUDIO,
            _ => DATA,
        }
    }
}

/// User control event types.
pub mod user_control {
    pub const STREAM_BEGIN: u16 = 0;
    pub const STREAM_EOF: u16 = 1;
    pub const STREAM_DRY: u16 = 2;
    pub const SET_BUFFER_LENGTH: u16 = 3;
    pub const STREAM_IS_RECORDED: u16 = 4;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// Malformed message bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// A control message shorter than its fixed layout.
    ShortPayload { type_id: u8 },
    /// An aggregate whose sub-message headers/lengths do not add up.
    BadAggregate,
    /// An aggregate containing an aggregate.
    NestedAggregate,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::ShortPayload { type_id } => {
                write!(f, "message: short payload for type {type_id}")
            }
            MessageError::BadAggregate => f.write_str("message: malformed aggregate"),
            MessageError::NestedAggregate => f.write_str("message: nested aggregate"),
        }
    }
}

impl std::error::Error for MessageError {}

/// A decoded protocol control message (types 1..=6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    SetChunkSize(u32),
    Abort { csid: u32 },
    Acknowledgement { sequence: u32 },
    UserControl(UserControl),
    WindowAckSize(u32),
    SetPeerBandwidth { size: u32, limit_type: u8 },
}

/// A user control event (message type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength {
        stream_id: u32,
        millis: u32,
    },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    /// Event types we do not know (e.g. SWF verification); ignored.
    Unknown(u16),
}

fn be32_at(p: &[u8], at: usize) -> Option<u32> {
    let b = p.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([
        *b.first()?,
        *b.get(1)?,
        *b.get(2)?,
        *b.get(3)?,
    ]))
}

/// Decodes a protocol control message. `Ok(None)` for other types.
pub fn parse_control(type_id: u8, payload: &[u8]) -> Result<Option<Control>, MessageError> {
    let short = MessageError::ShortPayload { type_id };
    let u32_at = |at| be32_at(payload, at).ok_or(short.clone());
    Ok(Some(match type_id {
        types::SET_CHUNK_SIZE => Control::SetChunkSize(u32_at(0)?),
        types::ABORT => Control::Abort { csid: u32_at(0)? },
        types::ACKNOWLEDGEMENT => Control::Acknowledgement {
            sequence: u32_at(0)?,
        },
        types::USER_CONTROL => {
            let ev = payload
                .get(..2)
                .map(|b| {
                    u16::from_be_bytes([
                        b.first().copied().unwrap_or(0),
                        b.get(1).copied().unwrap_or(0),
                    ])
                })
                .ok_or(short.clone())?;
            Control::UserControl(match ev {
                user_control::STREAM_BEGIN => UserControl::StreamBegin(u32_at(2)?),
                user_control::STREAM_EOF => UserControl::StreamEof(u32_at(2)?),
                user_control::STREAM_DRY => UserControl::StreamDry(u32_at(2)?),
                user_control::SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                    stream_id: u32_at(2)?,
                    millis: u32_at(6)?,
                },
                user_control::STREAM_IS_RECORDED => UserControl::StreamIsRecorded(u32_at(2)?),
                user_control::PING_REQUEST => UserControl::PingRequest(u32_at(2)?),
                user_control::PING_RESPONSE => UserControl::PingResponse(u32_at(2)?),
                other => UserControl::Unknown(other),
            })
        }
        types::WINDOW_ACK_SIZE => Control::WindowAckSize(u32_at(0)?),
        types::SET_PEER_BANDWIDTH => Control::SetPeerBandwidth {
            size: u32_at(0)?,
            limit_type: payload.get(4).copied().unwrap_or(2),
        },
        _ => return Ok(None),
    }))
}

/// Body of a control message we send: `(type_id, payload)`.
pub fn control_body(c: &Control) -> (u8, Bytes) {
    let mut b = BytesMut::with_capacity(10);
    let t = match *c {
        Control::SetChunkSize(n) => {
            b.put_u32(n & 0x7FFF_FFFF);
            types::SET_CHUNK_SIZE
        }
        Control::Abort { csid } => {
            b.put_u32(csid);
            types::ABORT
        }
        Control::Acknowledgement { sequence } => {
            b.put_u32(sequence);
            types::ACKNOWLEDGEMENT
        }
        Control::WindowAckSize(n) => {
            b.put_u32(n);
            types::WINDOW_ACK_SIZE
        }
        Control::SetPeerBandwidth { size, limit_type } => {
            b.put_u32(size);
            b.put_u8(limit_type);
            types::SET_PEER_BANDWIDTH
        }
        Control::UserControl(u) => {
            let (ev, a, extra) = match u {
                UserControl::StreamBegin(s) => (user_control::STREAM_BEGIN, s, None),
                UserControl::StreamEof(s) => (user_control::STREAM_EOF, s, None),
                UserControl::StreamDry(s) => (user_control::STREAM_DRY, s, None),
                UserControl::SetBufferLength { stream_id, millis } => {
                    (user_control::SET_BUFFER_LENGTH, stream_id, Some(millis))
                }
                UserControl::StreamIsRecorded(s) => (user_control::STREAM_IS_RECORDED, s, None),
                UserControl::PingRequest(t) => (user_control::PING_REQUEST, t, None),
                UserControl::PingResponse(t) => (user_control::PING_RESPONSE, t, None),
                UserControl::Unknown(ev) => (ev, 0, None),
            };
            b.put_u16(ev);
            b.put_u32(a);
            if let Some(x) = extra {
                b.put_u32(x);
            }
            types::USER_CONTROL
        }
    };
    (t, b.freeze())
}

/// One sub-message of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMessage {
    pub type_id: u8,
    pub timestamp: u32,
    /// A slice of the aggregate's payload (no copy).
    pub payload: Bytes,
}

/// Splits an aggregate message (type 22) into its sub-messages.
///
/// The body is a run of FLV tags: type (1), size (3), timestamp (3 + 1
/// extension byte), stream id (3), data, back pointer (4). Timestamps are
/// re-based so the first sub-message gets the aggregate's own timestamp and
/// the others keep their offset from the first.
pub fn split_aggregate(timestamp: u32, payload: &Bytes) -> Result<Vec<SubMessage>, MessageError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first_ts: Option<u32> = None;
    let bad = || MessageError::BadAggregate;
    while pos < payload.len() {
        let h = payload
            .get(pos..pos.checked_add(11).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let byte = |i: usize| h.get(i).copied().map(u32::from).ok_or_else(bad);
        let type_id = h.first().copied().ok_or_else(bad)?;
        let size = (byte(1)? << 16 | byte(2)? << 8 | byte(3)?) as usize;
        let ts = byte(7)? << 24 | byte(4)? << 16 | byte(5)? << 8 | byte(6)?;
        if type_id == types::AGGREGATE {
            return Err(MessageError::NestedAggregate);
        }
        let start = pos.checked_add(11).ok_or_else(bad)?;
        let end = start.checked_add(size).ok_or_else(bad)?;
        if end > payload.len() {
            return Err(bad());
        }
        let base = *first_ts.get_or_insert(ts);
        out.push(SubMessage {
            type_id,
            timestamp: timestamp.wrapping_add(ts.wrapping_sub(base)),
            payload: payload.slice(start..end),
        });
        // Back pointer: present after every tag; tolerate its absence at
        // the very end.
        pos = end.saturating_add(4).min(payload.len());
    }
    Ok(out)
}
