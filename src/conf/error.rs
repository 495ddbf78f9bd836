//! The error of interpreting the `rtmp {}` block: what `nginx -t` reports for a directive.

use std::fmt;

use crate::auth::AccessError;
use crate::hls::VariantError;
use crate::relay::TargetError;
use crate::transcode::RenditionError;

use super::listen::ListenError;
use super::tls_error::TlsError;
use super::value::ValueError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfError {
    Unknown(String),
    NotAllowedHere(&'static str),
    Arity {
        directive: &'static str,
        expected: &'static str,
    },
    Duplicate(&'static str),
    Value {
        directive: &'static str,
        arg: String,
        error: ValueError,
    },
    Listen(ListenError),
    /// A server's `listen ... ssl` lacks what TLS needs.
    Tls(TlsError),
    DuplicateListen(String),
    DuplicateApplication(String),
    InvalidApplicationName(String),
    Missing {
        directive: &'static str,
        app: String,
    },
    Access(AccessError),
    Rendition(RenditionError),
    DuplicateRendition(String),
    /// A malformed `hls_variant` line.
    Variant(VariantError),
    /// Two `hls_variant` lines of one application with the same suffix.
    DuplicateVariant(String),
    /// Two `recorder` blocks of one application with the same name.
    DuplicateRecorder(String),
    InvalidRecorderName(String),
    /// Two settings that cannot hold together in an application (and in one of its
    /// `recorder` blocks, or `recorder` is empty).
    Conflict {
        directive: &'static str,
        with: &'static str,
        why: &'static str,
        app: String,
        recorder: String,
    },
    /// A malformed `push` (or `pull`) line.
    Relay {
        directive: &'static str,
        arg: String,
        error: TargetError,
    },
    /// A value this implementation does not support (yet).
    Unsupported {
        directive: &'static str,
        arg: String,
        why: &'static str,
    },
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfError::Unknown(d) => write!(f, "unknown directive \"{d}\""),
            ConfError::NotAllowedHere(d) => write!(f, "\"{d}\" directive is not allowed here"),
            ConfError::Arity {
                directive,
                expected,
            } => write!(
                f,
                "invalid number of arguments in \"{directive}\" directive (expected {expected})"
            ),
            ConfError::Duplicate(d) => write!(f, "\"{d}\" directive is duplicate"),
            ConfError::Value {
                directive,
                arg,
                error,
            } => {
                write!(
                    f,
                    "invalid value \"{arg}\" in \"{directive}\" directive: {error}"
                )
            }
            ConfError::Listen(e) => e.fmt(f),
            ConfError::Tls(e) => e.fmt(f),
            ConfError::DuplicateListen(a) => write!(f, "duplicate listen {a}"),
            ConfError::DuplicateApplication(a) => write!(f, "duplicate application \"{a}\""),
            ConfError::Access(e) => e.fmt(f),
            ConfError::Missing { directive, app } => {
                write!(f, "\"{directive}\" is required in application \"{app}\"")
            }
            ConfError::Rendition(e) => write!(f, "invalid \"hls_rendition\": {e}"),
            ConfError::DuplicateRendition(n) => {
                write!(f, "duplicate rendition \"{n}\" in \"hls_rendition\"")
            }
            ConfError::Variant(e) => write!(f, "\"hls_variant\": {e}"),
            ConfError::DuplicateVariant(s) => {
                write!(f, "\"hls_variant\": duplicate suffix \"{s}\"")
            }
            ConfError::DuplicateRecorder(n) => write!(f, "duplicate recorder \"{n}\""),
            ConfError::InvalidRecorderName(n) => write!(
                f,
                "invalid recorder name \"{n}\" (use letters, digits, '_', '-' and '.')"
            ),
            ConfError::Conflict {
                directive,
                with,
                why,
                app,
                recorder,
            } => {
                write!(f, "\"{directive}\" cannot be used with \"{with}\"")?;
                if !app.is_empty() {
                    write!(f, " in application \"{app}\"")?;
                }
                if !recorder.is_empty() {
                    write!(f, ", recorder \"{recorder}\"")?;
                }
                write!(f, ": {why}")
            }
            ConfError::Relay {
                directive,
                arg,
                error,
            } => write!(f, "invalid \"{directive}\" target \"{arg}\": {error}"),
            ConfError::Unsupported {
                directive,
                arg,
                why,
            } => write!(f, "\"{arg}\" in \"{directive}\" directive: {why}"),
            ConfError::InvalidApplicationName(a) => write!(
                f,
                "invalid application name \"{a}\" (use letters, digits, '_', '-' and '.')"
            ),
        }
    }
}

impl std::error::Error for ConfError {}
