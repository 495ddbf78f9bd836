//! Validation of application and stream names.
//!
//! Names become file and directory names later (HLS/DASH/record paths), so
//! they are restricted to a safe subset of printable ASCII: 1..=max_len
//! bytes of `0x21..=0x7E`, none of `/ \ ? # % " ' < > | * : ;` and backtick,
//! not starting with `.` (which also rules out `.` and `..`). Everything
//! after the first `?` is the argument string (`key?token=...`), kept
//! separately: at most `max_args_len` bytes without control characters.

use std::fmt;

/// Default maximum name length.
pub const DEFAULT_MAX_NAME_LEN: usize = 256;
/// Default maximum length of the `?args` part.
pub const DEFAULT_MAX_ARGS_LEN: usize = 1024;

const FORBIDDEN: &[u8] = b"/\\?#%\"'<>|*:;`";

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        len: usize,
        max: usize,
    },
    /// A byte outside printable ASCII (control, space, DEL, non-ASCII).
    NotPrintable(u8),
    /// A printable character that is not allowed in names.
    Forbidden(char),
    LeadingDot,
    ArgsTooLong {
        len: usize,
        max: usize,
    },
    ArgsControlChar(u8),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("name: empty"),
            NameError::TooLong { len, max } => write!(f, "name: {len} bytes, limit {max}"),
            NameError::NotPrintable(b) => write!(f, "name: byte 0x{b:02x} not printable ascii"),
            NameError::Forbidden(c) => write!(f, "name: character {c:?} not allowed"),
            NameError::LeadingDot => f.write_str("name: starts with '.'"),
            NameError::ArgsTooLong { len, max } => {
                write!(f, "name: arguments of {len} bytes, limit {max}")
            }
            NameError::ArgsControlChar(b) => {
                write!(f, "name: control byte 0x{b:02x} in arguments")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// A stream name split into the name proper and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName {
    pub name: String,
    /// Everything after the first `?`, without the `?` (may be empty).
    pub args: String,
}

/// Checks one bare name (no `?args`).
pub fn check_name(name: &str, max_len: usize) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(NameError::Empty);
    }
    if bytes.len() > max_len {
        return Err(NameError::TooLong {
            len: bytes.len(),
            max: max_len,
        });
    }
    for &b in bytes {
        if !(0x21..=0x7E).contains(&b) {
            return Err(NameError::NotPrintable(b));
        }
        if FORBIDDEN.contains(&b) {
            return Err(NameError::Forbidden(char::from(b)));
        }
    }
    if bytes.first() == Some(&b'.') {
        return Err(NameError::LeadingDot);
    }
    Ok(())
}

/// Checks an argument string.
pub fn check_args(args: &str, max_len: usize) -> Result<(), NameError> {
    if args.len() > max_len {
        return Err(NameError::ArgsTooLong {
            len: args.len(),
            max: max_len,
        });
    }
    if let Some(b) = args.bytes().find(|b| *b < 0x20 || *b == 0x7F) {
        return Err(NameError::ArgsControlChar(b));
    }
    Ok(())
}

fn split_args(raw: &str) -> (&str, &str) {
    raw.split_once('?').unwrap_or((raw, ""))
}

/// Splits `name?args` and validates both parts.
pub fn parse_stream_name(raw: &str, max_len: usize) -> Result<StreamName, NameError> {
    parse_stream_name_with(raw, max_len, DEFAULT_MAX_ARGS_LEN)
}

/// [`parse_stream_name`] with an explicit argument length limit.
pub fn parse_stream_name_with(
    raw: &str,
    max_len: usize,
    max_args_len: usize,
) -> Result<StreamName, NameError> {
    let (name, args) = split_args(raw);
    check_name(name, max_len)?;
    check_args(args, max_args_len)?;
    Ok(StreamName {
        name: name.to_owned(),
        args: args.to_owned(),
    })
}

/// Validates an application name as sent in `connect` (`app` may carry
/// `?args`, which are split off) and returns the bare name. Uses the
/// default limits; see [`parse_app`] for explicit ones.
pub fn validate_app(raw: &str) -> Result<&str, NameError> {
    parse_app(raw, DEFAULT_MAX_NAME_LEN, DEFAULT_MAX_ARGS_LEN).map(|(app, _)| app)
}

/// Validates an application name and returns `(app, args)`. A trailing
/// `/` (some clients send `live/`) is dropped before validation.
pub fn parse_app(
    raw: &str,
    max_len: usize,
    max_args_len: usize,
) -> Result<(&str, &str), NameError> {
    let (app, args) = split_args(raw);
    let app = app.strip_suffix('/').unwrap_or(app);
    check_name(app, max_len)?;
    check_args(args, max_args_len)?;
    Ok((app, args))
}
