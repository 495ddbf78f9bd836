//! RTMPS ingest: the TLS directives of `rtmp {}` and `server {}` (`ssl_certificate`,
//! `ssl_certificate_key`, `ssl_protocols`, `ssl_ciphers`, `ssl_session_cache`,
//! `ssl_session_timeout`), with nginx's names, defaults and inheritance.
//!
//! A level that names certificates (or keys) replaces the list it would inherit, as nginx's
//! own `ssl_certificate` does; the other directives are inherited value by value. The
//! settings matter only for a server with a `listen ... ssl`, which must then have a
//! certificate and a key for each certificate.

use std::fmt;

use super::args::{one_arg, set_once, time_arg, value_err};
use super::error::ConfError;
use super::listen::Listen;
use super::tls_error::TlsError;
use super::value::ValueError;

/// Directives handled here.
const TLS_DIRECTIVES: [&str; 6] = [
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_session_cache",
    "ssl_session_timeout",
];

/// nginx's default cipher list (`NGX_DEFAULT_CIPHERS`).
pub const DEFAULT_CIPHERS: &str = "HIGH:!aNULL:!MD5";
/// nginx's default `ssl_session_timeout` (5 minutes).
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 300_000;

/// A protocol version `ssl_protocols` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProtocol {
    SslV2,
    SslV3,
    TlsV1,
    TlsV1_1,
    TlsV1_2,
    TlsV1_3,
}

impl TlsProtocol {
    const ALL: [(&'static str, TlsProtocol); 6] = [
        ("SSLv2", TlsProtocol::SslV2),
        ("SSLv3", TlsProtocol::SslV3),
        ("TLSv1", TlsProtocol::TlsV1),
        ("TLSv1.1", TlsProtocol::TlsV1_1),
        ("TLSv1.2", TlsProtocol::TlsV1_2),
        ("TLSv1.3", TlsProtocol::TlsV1_3),
    ];

    /// As nginx's bitmask directives, case-insensitive.
    fn parse(name: &str) -> Option<TlsProtocol> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of protocol versions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsProtocols(u8);

impl TlsProtocols {
    /// The arguments of a `*ssl_protocols` directive (`ssl_protocols`, `relay_ssl_protocols`):
    /// at least one version name.
    pub fn parse(directive: &'static str, args: &[&str]) -> Result<TlsProtocols, ConfError> {
        if args.is_empty() {
            return Err(ConfError::Arity {
                directive,
                expected: "1 or more",
            });
        }
        let mut set = 0;
        for a in args {
            let p = TlsProtocol::parse(a).ok_or_else(|| {
                value_err(directive, a)(ValueError::Choice(
                    "SSLv2, SSLv3, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3",
                ))
            })?;
            set |= p.bit();
        }
        Ok(TlsProtocols(set))
    }

    /// nginx 1.23's default, the versions without known weaknesses: TLSv1.2 and TLSv1.3.
    pub const DEFAULT: TlsProtocols =
        TlsProtocols((1 << TlsProtocol::TlsV1_2 as u8) | (1 << TlsProtocol::TlsV1_3 as u8));

    pub fn contains(self, p: TlsProtocol) -> bool {
        self.0 & p.bit() != 0
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = TlsProtocol> {
        TlsProtocol::ALL
            .into_iter()
            .map(|(_, p)| p)
            .filter(move |p| self.contains(*p))
    }
}

impl fmt::Debug for TlsProtocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// `ssl_session_cache`: nginx's `off`, `none` and `builtin[:size]` (shared caches need a
/// zone of their own and are not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCache {
    /// Session reuse is refused.
    Off,
    /// No cache, but clients are told sessions may be reused (nginx's default); TLS session
    /// tickets still resume sessions.
    None,
    /// OpenSSL's per-worker cache of this many sessions (`None`: OpenSSL's default size).
    Builtin(Option<u32>),
}

/// A certificate and its private key, as written (the shell makes them absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePair {
    pub certificate: String,
    pub key: String,
}

/// The TLS directives of one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsLayer {
    certificates: Option<Vec<String>>,
    keys: Option<Vec<String>>,
    protocols: Option<TlsProtocols>,
    ciphers: Option<String>,
    session_cache: Option<SessionCache>,
    session_timeout_ms: Option<u64>,
}

/// The TLS settings of a server that listens with `ssl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// At least one; a client gets the first whose key type it supports (RSA, ECDSA, ...).
    pub certificates: Vec<CertificatePair>,
    pub protocols: TlsProtocols,
    /// An OpenSSL cipher list (TLSv1.2 and older; TLSv1.3 suites are OpenSSL's defaults).
    pub ciphers: String,
    pub session_cache: SessionCache,
    pub session_timeout_ms: u64,
}

impl TlsLayer {
    /// The static name of a TLS directive, or `None` for another directive.
    pub(super) fn directive(name: &str) -> Option<&'static str> {
        TLS_DIRECTIVES.iter().copied().find(|d| *d == name)
    }

    pub(super) fn set(&mut self, directive: &'static str, args: &[&str]) -> Result<(), ConfError> {
        match directive {
            "ssl_certificate" | "ssl_certificate_key" => {
                let a = one_arg(directive, args)?;
                if a.is_empty() || a.contains('\0') {
                    return Err(value_err(directive, a)(ValueError::Path));
                }
                let list = if directive == "ssl_certificate" {
                    &mut self.certificates
                } else {
                    &mut self.keys
                };
                list.get_or_insert_with(Vec::new).push(a.to_owned());
                Ok(())
            }
            "ssl_protocols" => {
                let v = TlsProtocols::parse(directive, args)?;
                set_once(&mut self.protocols, directive, v)
            }
            "ssl_ciphers" => {
                let a = one_arg(directive, args)?;
                if a.is_empty() || a.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    return Err(value_err(directive, a)(ValueError::Choice(
                        "an OpenSSL cipher list",
                    )));
                }
                set_once(&mut self.ciphers, directive, a.to_owned())
            }
            "ssl_session_cache" => {
                let a = one_arg(directive, args)?;
                let v = parse_session_cache(a).ok_or_else(|| {
                    value_err(directive, a)(ValueError::Choice("off, none or builtin[:size]"))
                })?;
                set_once(&mut self.session_cache, directive, v)
            }
            "ssl_session_timeout" => {
                let v = time_arg(directive, args, 1000)?;
                set_once(&mut self.session_timeout_ms, directive, v)
            }
            _ => Err(ConfError::Unknown(directive.to_owned())),
        }
    }

    pub(super) fn merge(&self, parent: &TlsLayer) -> TlsLayer {
        TlsLayer {
            certificates: self
                .certificates
                .clone()
                .or_else(|| parent.certificates.clone()),
            keys: self.keys.clone().or_else(|| parent.keys.clone()),
            protocols: self.protocols.or(parent.protocols),
            ciphers: self.ciphers.clone().or_else(|| parent.ciphers.clone()),
            session_cache: self.session_cache.or(parent.session_cache),
            session_timeout_ms: self.session_timeout_ms.or(parent.session_timeout_ms),
        }
    }

    /// The settings of a server listening on `listens`: `None` when none of them has `ssl`.
    pub(super) fn resolve(&self, listens: &[Listen]) -> Result<Option<TlsSettings>, TlsError> {
        let Some(listen) = listens.iter().find(|l| l.ssl).map(|l| l.addr) else {
            return Ok(None);
        };
        let certificates = self
            .certificates
            .as_deref()
            .ok_or(TlsError::NoCertificate { listen })?;
        let keys = self.keys.as_deref().ok_or(TlsError::NoKey { listen })?;
        if let Some(certificate) = certificates.get(keys.len()) {
            return Err(TlsError::NoKeyFor {
                listen,
                certificate: certificate.clone(),
            });
        }
        Ok(Some(TlsSettings {
            certificates: certificates
                .iter()
                .zip(keys)
                .map(|(c, k)| CertificatePair {
                    certificate: c.clone(),
                    key: k.clone(),
                })
                .collect(),
            protocols: self.protocols.unwrap_or(TlsProtocols::DEFAULT),
            ciphers: self
                .ciphers
                .clone()
                .unwrap_or_else(|| DEFAULT_CIPHERS.to_owned()),
            session_cache: self.session_cache.unwrap_or(SessionCache::None),
            session_timeout_ms: self
                .session_timeout_ms
                .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS),
        }))
    }
}

fn parse_session_cache(a: &str) -> Option<SessionCache> {
    match a {
        "off" => Some(SessionCache::Off),
        "none" => Some(SessionCache::None),
        "builtin" => Some(SessionCache::Builtin(None)),
        _ => {
            let size = a.strip_prefix("builtin:")?;
            if !size.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            size.parse()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| SessionCache::Builtin(Some(n)))
        }
    }
}

#[cfg(test)]
mod tests;
