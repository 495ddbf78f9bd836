//! Redirection arguments of an `exec` line, as nginx-rtmp's `ngx_rtmp_eval_streams`: after
//! substitution, an argument `[N]>file`, `[N]>>file`, `[N]<file` or `[N]>&M` redirects a
//! descriptor of the child instead of being passed to it.

use std::fmt;

/// What a redirected descriptor becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `N>file`: written, truncated first.
    Truncate(String),
    /// `N>>file`: written at its end, created if missing.
    Append(String),
    /// `N<file`: read.
    Read(String),
    /// `N>&M` (or `N<&M`): a copy of descriptor M.
    Fd(i32),
}

/// One redirection: descriptor `fd` of the child becomes `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirection {
    pub fd: i32,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectError {
    /// A descriptor number that is not one (too large).
    BadDescriptor(String),
    /// `>` or `<` with nothing after it.
    NoTarget(String),
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::BadDescriptor(a) => write!(f, "bad descriptor in redirection \"{a}\""),
            RedirectError::NoTarget(a) => write!(f, "redirection \"{a}\" has no target"),
        }
    }
}

impl std::error::Error for RedirectError {}

/// The largest descriptor a redirection may name.
const MAX_FD: i32 = 1023;

fn fd_number(digits: &str, arg: &str) -> Result<i32, RedirectError> {
    digits
        .parse::<i32>()
        .ok()
        .filter(|n| (0..=MAX_FD).contains(n))
        .ok_or_else(|| RedirectError::BadDescriptor(arg.to_owned()))
}

/// `None`: `arg` is an ordinary argument.
pub fn parse_redirect(arg: &str) -> Option<Result<Redirection, RedirectError>> {
    let digits_end = arg.find(|c: char| !c.is_ascii_digit()).unwrap_or(arg.len());
    let (digits, rest) = arg.split_at(digits_end);
    let (default_fd, rest, write) = match rest.as_bytes().first() {
        Some(b'>') => (1, &rest[1..], true),
        Some(b'<') => (0, &rest[1..], false),
        _ => return None,
    };
    Some(parse_target(arg, digits, default_fd, rest, write))
}

fn parse_target(
    arg: &str,
    digits: &str,
    default_fd: i32,
    rest: &str,
    write: bool,
) -> Result<Redirection, RedirectError> {
    let fd = if digits.is_empty() {
        default_fd
    } else {
        fd_number(digits, arg)?
    };
    let (append, rest) = match rest.strip_prefix('>') {
        Some(r) if write => (true, r),
        _ => (false, rest),
    };
    let source = if let Some(from) = rest.strip_prefix('&') {
        Source::Fd(fd_number(from, arg)?)
    } else if rest.is_empty() {
        return Err(RedirectError::NoTarget(arg.to_owned()));
    } else if !write {
        Source::Read(rest.to_owned())
    } else if append {
        Source::Append(rest.to_owned())
    } else {
        Source::Truncate(rest.to_owned())
    };
    Ok(Redirection { fd, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(fd: i32, source: Source) -> Option<Result<Redirection, RedirectError>> {
        Some(Ok(Redirection { fd, source }))
    }

    #[test]
    fn redirections() {
        assert_eq!(
            parse_redirect(">out.txt"),
            r(1, Source::Truncate("out.txt".into()))
        );
        assert_eq!(parse_redirect(">>/l"), r(1, Source::Append("/l".into())));
        assert_eq!(
            parse_redirect("2>>/var/log/x"),
            r(2, Source::Append("/var/log/x".into()))
        );
        assert_eq!(parse_redirect("2>/e"), r(2, Source::Truncate("/e".into())));
        assert_eq!(parse_redirect("</in"), r(0, Source::Read("/in".into())));
        assert_eq!(parse_redirect("3</in"), r(3, Source::Read("/in".into())));
        assert_eq!(parse_redirect("2>&1"), r(2, Source::Fd(1)));
        assert_eq!(parse_redirect(">&2"), r(1, Source::Fd(2)));
        assert_eq!(parse_redirect("<&0"), r(0, Source::Fd(0)));
    }

    #[test]
    fn ordinary_arguments_and_errors() {
        for a in ["-i", "rtmp://x/y", "1080", "", "a>b", "-vf", "scale=-2:240"] {
            assert_eq!(parse_redirect(a), None, "{a}");
        }
        assert!(matches!(
            parse_redirect("99999999999>x"),
            Some(Err(RedirectError::BadDescriptor(_)))
        ));
        assert!(matches!(
            parse_redirect("2>&x"),
            Some(Err(RedirectError::BadDescriptor(_)))
        ));
        assert!(matches!(
            parse_redirect("2>"),
            Some(Err(RedirectError::NoTarget(_)))
        ));
        assert!(matches!(
            parse_redirect(">>"),
            Some(Err(RedirectError::NoTarget(_)))
        ));
    }
}
