//! The HTTP client core of notify callbacks (`on_publish`, `on_play`, `on_done`, ...):
//! URL parsing, request building and response parsing, sans-IO. The nginx shell
//! (`ngx::http_client`) moves the bytes.
//!
//! ```
//! use ngx_rtmp::http::{build_request, Method, Outcome, ResponseParser, Status, Url};
//!
//! let url = Url::parse("http://127.0.0.1:8080/on_publish").unwrap();
//! let req = build_request(Method::Post, &url, &[("call", "publish"), ("name", "key")]);
//! assert!(req.starts_with(b"POST /on_publish HTTP/1.1\r\n"));
//!
//! let mut parser = ResponseParser::default();
//! assert_eq!(parser.feed(b"HTTP/1.1 302 Found\r\nLocation: pub").unwrap(), Status::Incomplete);
//! let Status::Complete(resp) = parser.feed(b"lic\r\n\r\n").unwrap() else { panic!() };
//! assert_eq!(resp.outcome(), Outcome::Redirect("public".into()));
//! ```

pub mod flv_url;
mod request;
mod response;
mod url;

use std::fmt;

pub use request::{build_request, Method, USER_AGENT};
pub use response::{
    BodyMode, Limits, Outcome, ParseError, Response, ResponseParser, Status, Version,
};
pub use url::{Host, Url, UrlError, DEFAULT_PORT, MAX_URL_LEN};

/// Why a request got no usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    Url(UrlError),
    /// The host name did not resolve: the name and the resolver's message.
    Resolve {
        host: String,
        reason: String,
    },
    /// The request could not be started (no free connection, socket or event failure).
    Start(&'static str),
    /// The connection failed: the OS error number when known (`ECONNREFUSED`, ...).
    Connect(Option<i32>),
    /// Sending or receiving failed after the connection was up (details in nginx's log).
    Io(&'static str),
    /// No complete answer within the request's timeout.
    Timeout,
    /// The answer is not valid HTTP, too large, or cut short.
    Parse(ParseError),
    /// A bug: the request was abandoned (for example, a panic in its handler).
    Internal(&'static str),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Url(e) => e.fmt(f),
            HttpError::Resolve { host, reason } => {
                write!(f, "could not resolve \"{host}\": {reason}")
            }
            HttpError::Start(what) => write!(f, "could not start request: {what}"),
            HttpError::Connect(Some(errno)) => {
                write!(
                    f,
                    "connect failed: {}",
                    std::io::Error::from_raw_os_error(*errno)
                )
            }
            HttpError::Connect(None) => f.write_str("connect failed"),
            HttpError::Io(what) => f.write_str(what),
            HttpError::Timeout => f.write_str("timed out"),
            HttpError::Parse(e) => write!(f, "bad response: {e}"),
            HttpError::Internal(what) => write!(f, "internal error: {what}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<UrlError> for HttpError {
    fn from(e: UrlError) -> HttpError {
        HttpError::Url(e)
    }
}

impl From<ParseError> for HttpError {
    fn from(e: ParseError) -> HttpError {
        HttpError::Parse(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        assert_eq!(HttpError::Timeout.to_string(), "timed out");
        assert!(HttpError::Connect(Some(libc::ECONNREFUSED))
            .to_string()
            .contains("refused"));
        assert_eq!(
            HttpError::from(ParseError::HeadersTooLarge).to_string(),
            "bad response: response headers too large"
        );
        assert_eq!(
            HttpError::from(UrlError::BadPort).to_string(),
            "invalid port in URL"
        );
    }
}
