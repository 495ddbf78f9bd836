//! Errors of the AMF0 decoder.

use std::fmt;

/// Why an AMF0 buffer could not be decoded.
///
/// AMF0 is always decoded from complete RTMP messages, so running out of
/// bytes is an error here (the message was cut short by the peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmfError {
    /// The buffer ended inside a value.
    Truncated,
    /// A type marker that does not exist in AMF0.
    UnknownMarker(u8),
    /// A valid AMF0 type that this implementation refuses (reference,
    /// movieclip, recordset, XML, typed object, AVM+ switch, "unsupported").
    Unsupported(&'static str),
    /// An object-end marker where a value was expected.
    UnexpectedObjectEnd,
    /// Objects/arrays nested deeper than the configured limit.
    TooDeep { max: usize },
    /// A string that is not valid UTF-8.
    InvalidUtf8,
}

impl AmfError {
    /// True when the fault is a type we chose not to support (as opposed to
    /// garbage).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, AmfError::Unsupported(_))
    }
}

impl fmt::Display for AmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmfError::Truncated => f.write_str("amf0: truncated value"),
            AmfError::UnknownMarker(m) => write!(f, "amf0: unknown type marker 0x{m:02x}"),
            AmfError::Unsupported(what) => write!(f, "amf0: unsupported type {what}"),
            AmfError::UnexpectedObjectEnd => f.write_str("amf0: unexpected object-end marker"),
            AmfError::TooDeep { max } => write!(f, "amf0: nesting deeper than {max}"),
            AmfError::InvalidUtf8 => f.write_str("amf0: string is not valid utf-8"),
        }
    }
}

impl std::error::Error for AmfError {}
