//! NetConnection/NetStream commands sent by clients (AMF0 command
//! messages, type 20, or type 17 with its leading format byte).

use std::fmt;

use crate::amf0::Value;

/// A command message that does not have the shape its name requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The first value is not a string.
    MissingName,
    /// A required argument is absent or of the wrong type.
    MissingArgument {
        command: &'static str,
        argument: &'static str,
    },
    /// An AMF3 command/data message whose format byte is not 0 (real AMF3
    /// encoding, which we do not speak).
    Amf3Encoded(u8),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::MissingName => f.write_str("command: no command name"),
            CommandError::MissingArgument { command, argument } => {
                write!(f, "command: {command} without {argument}")
            }
            CommandError::Amf3Encoded(b) => {
                write!(f, "command: amf3-encoded body (format byte 0x{b:02x})")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// A parsed client command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `connect`: the command object carries app, tcUrl, flashVer, ...
    Connect {
        transaction_id: f64,
        object: Vec<(String, Value)>,
    },
    CreateStream {
        transaction_id: f64,
    },
    ReleaseStream {
        transaction_id: f64,
        name: String,
    },
    FcPublish {
        transaction_id: f64,
        name: String,
    },
    FcUnpublish {
        transaction_id: f64,
        name: String,
    },
    DeleteStream {
        transaction_id: f64,
        /// The stream to delete; some clients (GStreamer's rtmp2) omit it and mean the
        /// message stream the command arrives on.
        stream_id: Option<f64>,
    },
    /// `closeStream` applies to the message stream it arrives on.
    CloseStream {
        transaction_id: f64,
    },
    Publish {
        transaction_id: f64,
        name: String,
        /// "live", "record", "append" (empty when absent).
        kind: String,
    },
    Play {
        transaction_id: f64,
        name: String,
        start: f64,
        duration: f64,
        reset: bool,
    },
    GetStreamLength {
        transaction_id: f64,
        name: String,
    },
    /// `pause` on a playing stream: `pause` true to pause, false to resume;
    /// `position` in milliseconds (0 when absent).
    Pause {
        transaction_id: f64,
        pause: bool,
        position: f64,
    },
    /// `receiveAudio` / `receiveVideo`: whether the player wants that kind
    /// of media (true when the flag is absent).
    ReceiveAudio {
        transaction_id: f64,
        flag: bool,
    },
    ReceiveVideo {
        transaction_id: f64,
        flag: bool,
    },
    /// Anything else (`_checkbw`, `ping`, `_result` of our calls, ...).
    Other {
        name: String,
        transaction_id: f64,
    },
}

impl Command {
    /// The transaction id (0 when the peer sent none).
    pub fn transaction_id(&self) -> f64 {
        match self {
            Command::Connect { transaction_id, .. }
            | Command::CreateStream { transaction_id }
            | Command::ReleaseStream { transaction_id, .. }
            | Command::FcPublish { transaction_id, .. }
            | Command::FcUnpublish { transaction_id, .. }
            | Command::DeleteStream { transaction_id, .. }
            | Command::CloseStream { transaction_id }
            | Command::Publish { transaction_id, .. }
            | Command::Play { transaction_id, .. }
            | Command::GetStreamLength { transaction_id, .. }
            | Command::Pause { transaction_id, .. }
            | Command::ReceiveAudio { transaction_id, .. }
            | Command::ReceiveVideo { transaction_id, .. }
            | Command::Other { transaction_id, .. } => *transaction_id,
        }
    }

    /// The command name as sent.
    pub fn name(&self) -> &str {
        match self {
            Command::Connect { .. } => "connect",
            Command::CreateStream { .. } => "createStream",
            Command::ReleaseStream { .. } => "releaseStream",
            Command::FcPublish { .. } => "FCPublish",
            Command::FcUnpublish { .. } => "FCUnpublish",
            Command::DeleteStream { .. } => "deleteStream",
            Command::CloseStream { .. } => "closeStream",
            Command::Publish { .. } => "publish",
            Command::Play { .. } => "play",
            Command::GetStreamLength { .. } => "getStreamLength",
            Command::Pause { .. } => "pause",
            Command::ReceiveAudio { .. } => "receiveAudio",
            Command::ReceiveVideo { .. } => "receiveVideo",
            Command::Other { name, .. } => name,
        }
    }
}

/// Strips the format byte of an AMF3 command/data message (type 15/17):
/// clients put 0 there and continue in AMF0.
pub fn strip_amf3_format(payload: &[u8]) -> Result<&[u8], CommandError> {
    match payload.split_first() {
        None => Ok(payload),
        Some((0, rest)) => Ok(rest),
        Some((b, _)) => Err(CommandError::Amf3Encoded(*b)),
    }
}

fn arg_str(values: &[Value], i: usize) -> Option<String> {
    values.get(i).and_then(Value::as_str).map(str::to_owned)
}

/// A boolean argument; clients also send numbers (non-zero is true).
fn arg_bool(values: &[Value], i: usize) -> Option<bool> {
    match values.get(i) {
        Some(Value::Boolean(b)) => Some(*b),
        Some(Value::Number(n)) => Some(*n != 0.0),
        _ => None,
    }
}

/// Interprets decoded AMF0 values as a command.
pub fn parse_command(values: &[Value]) -> Result<Command, CommandError> {
    let name = values
        .first()
        .and_then(Value::as_str)
        .ok_or(CommandError::MissingName)?;
    let transaction_id = values.get(1).and_then(Value::as_f64).unwrap_or(0.0);
    let missing = |command, argument| CommandError::MissingArgument { command, argument };
    Ok(match name {
        "connect" => {
            let object = values
                .get(2)
                .and_then(Value::properties)
                .ok_or(missing("connect", "command object"))?
                .to_vec();
            Command::Connect {
                transaction_id,
                object,
            }
        }
        "createStream" => Command::CreateStream { transaction_id },
        "releaseStream" => Command::ReleaseStream {
            transaction_id,
            name: arg_str(values, 3).unwrap_or_default(),
        },
        "FCPublish" => Command::FcPublish {
            transaction_id,
            name: arg_str(values, 3).unwrap_or_default(),
        },
        "FCUnpublish" => Command::FcUnpublish {
            transaction_id,
            name: arg_str(values, 3).unwrap_or_default(),
        },
        "deleteStream" => Command::DeleteStream {
            transaction_id,
            stream_id: values.get(3).and_then(Value::as_f64),
        },
        "closeStream" => Command::CloseStream { transaction_id },
        "publish" => Command::Publish {
            transaction_id,
            name: arg_str(values, 3).ok_or(missing("publish", "stream name"))?,
            kind: arg_str(values, 4).unwrap_or_default(),
        },
        "play" => Command::Play {
            transaction_id,
            name: arg_str(values, 3).ok_or(missing("play", "stream name"))?,
            start: values.get(4).and_then(Value::as_f64).unwrap_or(-2.0),
            duration: values.get(5).and_then(Value::as_f64).unwrap_or(-1.0),
            reset: arg_bool(values, 6).unwrap_or(true),
        },
        "pause" => Command::Pause {
            transaction_id,
            pause: arg_bool(values, 3).ok_or(missing("pause", "pause flag"))?,
            position: values.get(4).and_then(Value::as_f64).unwrap_or(0.0),
        },
        "receiveAudio" => Command::ReceiveAudio {
            transaction_id,
            flag: arg_bool(values, 3).unwrap_or(true),
        },
        "receiveVideo" => Command::ReceiveVideo {
            transaction_id,
            flag: arg_bool(values, 3).unwrap_or(true),
        },
        "getStreamLength" => Command::GetStreamLength {
            transaction_id,
            name: arg_str(values, 3).unwrap_or_default(),
        },
        other => Command::Other {
            name: other.to_owned(),
            transaction_id,
        },
    })
}
