//! The answer of a control request that cannot be executed.

use std::fmt;

/// A control request that cannot be executed, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError {
    pub status: u16,
    pub reason: String,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// A malformed request: 400.
pub fn bad(reason: impl Into<String>) -> ControlError {
    ControlError {
        status: 400,
        reason: reason.into(),
    }
}
