//! `exec_kill_signal`: a signal by number or by name (with or without `SIG`, any case), as
//! nginx-rtmp accepts them. Linux numbering.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalError(pub String);

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown signal \"{}\"", self.0)
    }
}

impl std::error::Error for SignalError {}

const NAMES: [(&str, i32); 19] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("ABRT", 6),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
];

/// The highest signal number (Linux's SIGRTMAX).
const MAX: i32 = 64;

pub fn parse_signal(s: &str) -> Result<i32, SignalError> {
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=MAX).contains(&n) {
            Ok(n)
        } else {
            Err(SignalError(s.to_owned()))
        };
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(_, v)| *v)
        .ok_or_else(|| SignalError(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("USR1"), Ok(10));
        assert_eq!(parse_signal("usr2"), Ok(12));
        assert_eq!(parse_signal("HUP"), Ok(1));
        assert_eq!(parse_signal("QUIT"), Ok(3));
        assert_eq!(parse_signal("INT"), Ok(2));
        assert_eq!(parse_signal("9"), Ok(9));
        for bad in ["0", "65", "-1", "TERMINATE", "", "SIG"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
