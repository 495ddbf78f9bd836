//! Bodies of the replies we send (command results, onStatus, ...), shaped
//! like nginx-rtmp-module's so existing clients are at home.

use super::caps::ClientCaps;
use crate::amf0::Value;

/// `fmsVer` announced in the connect result.
pub const FMS_VERSION: &str = "FMS/3,0,1,123";
/// `capabilities` announced in the connect result.
pub const CAPABILITIES: f64 = 31.0;

/// Status codes.
pub mod code {
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    pub const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";
    pub const PUBLISH_DENIED: &str = "NetStream.Publish.Denied";
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    pub const PLAY_START: &str = "NetStream.Play.Start";
    pub const PLAY_RESET: &str = "NetStream.Play.Reset";
    pub const PLAY_STOP: &str = "NetStream.Play.Stop";
    pub const PLAY_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    pub const PLAY_FAILED: &str = "NetStream.Play.Failed";
    pub const PLAY_PUBLISH_NOTIFY: &str = "NetStream.Play.PublishNotify";
    pub const PLAY_UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
    pub const PAUSE_NOTIFY: &str = "NetStream.Pause.Notify";
    pub const UNPAUSE_NOTIFY: &str = "NetStream.Unpause.Notify";
    pub const RECORD_START: &str = "NetStream.Record.Start";
    pub const RECORD_STOP: &str = "NetStream.Record.Stop";
    pub const RECORD_FAILED: &str = "NetStream.Record.Failed";
}

/// What `record_notify` tells a publisher about a recording of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordNotice {
    /// A file opened.
    Start,
    /// A file is finished.
    Stop,
    /// Writing a file failed.
    Failed,
}

impl RecordNotice {
    /// The onStatus level and code.
    pub fn status(self) -> (&'static str, &'static str) {
        match self {
            RecordNotice::Start => ("status", code::RECORD_START),
            RecordNotice::Stop => ("status", code::RECORD_STOP),
            RecordNotice::Failed => ("error", code::RECORD_FAILED),
        }
    }
}

fn info(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::from(level)),
        ("code", Value::from(code)),
        ("description", Value::from(description)),
    ])
}

/// `_result` of connect. `enhanced`: the client announced Enhanced RTMP, and the properties
/// say which codecs and extensions we serve ([`ClientCaps::server_properties`]).
pub fn connect_result(transaction_id: f64, object_encoding: f64, enhanced: bool) -> Vec<Value> {
    let mut properties = vec![
        ("fmsVer", Value::from(FMS_VERSION)),
        ("capabilities", Value::Number(CAPABILITIES)),
    ];
    if enhanced {
        properties.extend(ClientCaps::server_properties());
    }
    vec![
        Value::from("_result"),
        Value::Number(transaction_id),
        Value::object(properties),
        Value::object([
            ("level", Value::from("status")),
            ("code", Value::from(code::CONNECT_SUCCESS)),
            ("description", Value::from("Connection succeeded.")),
            ("objectEncoding", Value::Number(object_encoding)),
        ]),
    ]
}

/// `_error` of connect.
pub fn connect_rejected(transaction_id: f64, description: &str) -> Vec<Value> {
    vec![
        Value::from("_error"),
        Value::Number(transaction_id),
        Value::Null,
        info("error", code::CONNECT_REJECTED, description),
    ]
}

/// `_result` with one value (createStream, getStreamLength, ...).
pub fn result(transaction_id: f64, value: Value) -> Vec<Value> {
    vec![
        Value::from("_result"),
        Value::Number(transaction_id),
        Value::Null,
        value,
    ]
}

/// `_error` with a status object.
pub fn error(transaction_id: f64, code: &str, description: &str) -> Vec<Value> {
    vec![
        Value::from("_error"),
        Value::Number(transaction_id),
        Value::Null,
        info("error", code, description),
    ]
}

/// `onStatus` on a NetStream.
pub fn on_status(level: &str, code: &str, description: &str) -> Vec<Value> {
    vec![
        Value::from("onStatus"),
        Value::Number(0.0),
        Value::Null,
        info(level, code, description),
    ]
}

/// `|RtmpSampleAccess` data message sent to players.
pub fn sample_access() -> Vec<Value> {
    vec![
        Value::from("|RtmpSampleAccess"),
        Value::Boolean(true),
        Value::Boolean(true),
    ]
}
