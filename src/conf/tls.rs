//! TLS protocol versions as nginx's `*_ssl_protocols` directives name them (`SSLv2 SSLv3 TLSv1
//! TLSv1.1 TLSv1.2 TLSv1.3`, case-insensitive), kept as a set the shell turns into nginx's
//! `NGX_SSL_*` bits.

use std::fmt;

use super::error::ConfError;
use super::value::ValueError;

/// One protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsProtocol {
    SslV2,
    SslV3,
    TlsV1,
    TlsV1_1,
    TlsV1_2,
    TlsV1_3,
}

impl TlsProtocol {
    pub const ALL: [TlsProtocol; 6] = [
        TlsProtocol::SslV2,
        TlsProtocol::SslV3,
        TlsProtocol::TlsV1,
        TlsProtocol::TlsV1_1,
        TlsProtocol::TlsV1_2,
        TlsProtocol::TlsV1_3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TlsProtocol::SslV2 => "SSLv2",
            TlsProtocol::SslV3 => "SSLv3",
            TlsProtocol::TlsV1 => "TLSv1",
            TlsProtocol::TlsV1_1 => "TLSv1.1",
            TlsProtocol::TlsV1_2 => "TLSv1.2",
            TlsProtocol::TlsV1_3 => "TLSv1.3",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of protocol versions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsProtocols(u8);

impl TlsProtocols {
    /// TLSv1.2 and TLSv1.3: what current services (YouTube, Facebook, Twitch) accept.
    pub const DEFAULT: TlsProtocols = TlsProtocols(0b11_0000);

    /// Parses the arguments of a `*_ssl_protocols` directive (at least one name).
    pub fn parse(directive: &'static str, args: &[&str]) -> Result<TlsProtocols, ConfError> {
        if args.is_empty() {
            return Err(ConfError::Arity {
                directive,
                expected: "1 or more",
            });
        }
        let mut set = 0u8;
        for arg in args {
            let p = TlsProtocol::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(arg))
                .ok_or_else(|| ConfError::Value {
                    directive,
                    arg: (*arg).to_owned(),
                    error: ValueError::Choice("SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3"),
                })?;
            set |= p.bit();
        }
        Ok(TlsProtocols(set))
    }

    pub fn contains(self, p: TlsProtocol) -> bool {
        self.0 & p.bit() != 0
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = TlsProtocol> {
        TlsProtocol::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

impl Default for TlsProtocols {
    fn default() -> Self {
        TlsProtocols::DEFAULT
    }
}

impl fmt::Debug for TlsProtocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(TlsProtocol::name))
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_as_nginx() {
        let p = TlsProtocols::parse("x", &["tlsv1.3", "TLSv1.2"]).unwrap();
        assert_eq!(p, TlsProtocols::DEFAULT);
        let p = TlsProtocols::parse("x", &["TLSv1.3"]).unwrap();
        assert!(p.contains(TlsProtocol::TlsV1_3));
        assert!(!p.contains(TlsProtocol::TlsV1_2));
        let all: Vec<&str> = TlsProtocols::parse("x", &["SSLv2", "SSLv3", "TLSv1", "TLSv1.1"])
            .unwrap()
            .iter()
            .map(TlsProtocol::name)
            .collect();
        assert_eq!(all, ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1"]);
        // A repeated name is harmless.
        assert_eq!(
            TlsProtocols::parse("x", &["TLSv1.2", "TLSv1.2", "TLSv1.3"]).unwrap(),
            TlsProtocols::DEFAULT
        );
    }

    #[test]
    fn bad_names_fail() {
        assert!(matches!(
            TlsProtocols::parse("x", &["TLSv1.4"]),
            Err(ConfError::Value { arg, .. }) if arg == "TLSv1.4"
        ));
        assert!(TlsProtocols::parse("x", &["TLSv1.2", "tls1.3"]).is_err());
        assert!(matches!(
            TlsProtocols::parse("x", &[]),
            Err(ConfError::Arity { .. })
        ));
    }
}
