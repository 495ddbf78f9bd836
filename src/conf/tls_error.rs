//! Why a server's TLS settings do not hold together (found when the `rtmp {}` block ends).

use std::fmt;
use std::net::SocketAddr;

/// A server's TLS settings do not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    NoCertificate {
        listen: SocketAddr,
    },
    NoKey {
        listen: SocketAddr,
    },
    NoKeyFor {
        listen: SocketAddr,
        certificate: String,
    },
}

impl TlsError {
    /// The `listen ... ssl` the error is about: the shell names where it was written.
    pub fn listen(&self) -> SocketAddr {
        match self {
            TlsError::NoCertificate { listen }
            | TlsError::NoKey { listen }
            | TlsError::NoKeyFor { listen, .. } => *listen,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoCertificate { listen } => write!(
                f,
                "no \"ssl_certificate\" is defined for the \"listen {listen} ssl\" directive"
            ),
            TlsError::NoKey { listen } => write!(
                f,
                "no \"ssl_certificate_key\" is defined for the \"listen {listen} ssl\" directive"
            ),
            TlsError::NoKeyFor {
                listen,
                certificate,
            } => write!(
                f,
                "no \"ssl_certificate_key\" is defined for certificate \"{certificate}\" and \
                 the \"listen {listen} ssl\" directive"
            ),
        }
    }
}

impl std::error::Error for TlsError {}
