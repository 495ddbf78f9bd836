//! The `listen` directive: `listen 1935;`, `listen 127.0.0.1:1935;`, `listen [::]:1935 ipv6only=on;`,
//! `listen 1936 ssl;`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Default RTMP port, used when `listen` names an address without a port.
pub const DEFAULT_PORT: u16 = 1935;
const DEFAULT_BACKLOG: i32 = 511;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: SocketAddr,
    /// IPV6_V6ONLY for IPv6 sockets; `None` leaves the system default.
    pub ipv6only: Option<bool>,
    pub backlog: i32,
    /// `ssl`: clients speak TLS first (RTMPS), with the server's `ssl_*` settings.
    pub ssl: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenError {
    Address(String),
    Port(String),
    Option(String),
    Ipv6OnlyOnIpv4,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::Address(a) => write!(
                f,
                "invalid listen address \"{a}\" (expected port, IPv4:port or [IPv6]:port)"
            ),
            ListenError::Port(p) => write!(f, "invalid port \"{p}\""),
            ListenError::Option(o) => write!(f, "invalid listen parameter \"{o}\""),
            ListenError::Ipv6OnlyOnIpv4 => f.write_str("ipv6only is only valid for IPv6 addresses"),
        }
    }
}

impl std::error::Error for ListenError {}

fn parse_port(s: &str) -> Result<u16, ListenError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(ListenError::Port(s.to_owned())),
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, ListenError> {
    let bad = || ListenError::Address(s.to_owned());
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            parse_port(s)?,
        ));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
        let ip: Ipv6Addr = host.parse().map_err(|_| bad())?;
        let port = match tail {
            "" => DEFAULT_PORT,
            t => parse_port(t.strip_prefix(':').ok_or_else(bad)?)?,
        };
        return Ok(SocketAddr::new(IpAddr::V6(ip), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, parse_port(p)?),
        None => (s, DEFAULT_PORT),
    };
    let ip = match host {
        "*" => Ipv4Addr::UNSPECIFIED,
        "localhost" => Ipv4Addr::LOCALHOST,
        h => h.parse().map_err(|_| bad())?,
    };
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

impl Listen {
    /// Parses the arguments of one `listen` directive.
    pub fn parse(args: &[&str]) -> Result<Listen, ListenError> {
        let (first, options) = args
            .split_first()
            .ok_or_else(|| ListenError::Address(String::new()))?;
        let mut listen = Listen {
            addr: parse_addr(first)?,
            ipv6only: None,
            backlog: DEFAULT_BACKLOG,
            ssl: false,
        };
        for opt in options {
            let bad = || ListenError::Option((*opt).to_owned());
            if *opt == "ssl" {
                listen.ssl = true;
                continue;
            }
            match opt.split_once('=') {
                Some(("ipv6only", v)) => {
                    if !listen.addr.is_ipv6() {
                        return Err(ListenError::Ipv6OnlyOnIpv4);
                    }
                    listen.ipv6only = Some(super::parse_flag(v).map_err(|_| bad())?);
                }
                Some(("backlog", v)) => {
                    listen.backlog = v.parse().ok().filter(|b| *b > 0).ok_or_else(bad)?;
                }
                _ => return Err(bad()),
            }
        }
        Ok(listen)
    }

    /// Two listens conflict when they would bind the same socket address.
    pub fn conflicts_with(&self, other: &Listen) -> bool {
        self.addr == other.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Listen, ListenError> {
        Listen::parse(args)
    }

    #[test]
    fn forms() {
        assert_eq!(p(&["1935"]).unwrap().addr, "0.0.0.0:1935".parse().unwrap());
        assert_eq!(
            p(&["127.0.0.1:19350"]).unwrap().addr,
            "127.0.0.1:19350".parse().unwrap()
        );
        assert_eq!(
            p(&["127.0.0.1"]).unwrap().addr,
            "127.0.0.1:1935".parse().unwrap()
        );
        assert_eq!(
            p(&["*:1936"]).unwrap().addr,
            "0.0.0.0:1936".parse().unwrap()
        );
        let v6 = p(&["[::]:1935", "ipv6only=on"]).unwrap();
        assert_eq!(v6.addr, "[::]:1935".parse().unwrap());
        assert_eq!(v6.ipv6only, Some(true));
        assert_eq!(p(&["[::1]"]).unwrap().addr, "[::1]:1935".parse().unwrap());
        assert_eq!(p(&["1935", "backlog=64"]).unwrap().backlog, 64);
        assert!(!p(&["1935"]).unwrap().ssl);
        let tls = p(&["127.0.0.1:1936", "ssl", "backlog=8"]).unwrap();
        assert!(tls.ssl);
        assert_eq!(tls.backlog, 8);
    }

    #[test]
    fn errors() {
        assert!(matches!(p(&["0"]), Err(ListenError::Port(_))));
        assert!(matches!(p(&["70000"]), Err(ListenError::Port(_))));
        assert!(matches!(
            p(&["example.com:1935"]),
            Err(ListenError::Address(_))
        ));
        assert!(matches!(p(&["[::1"]), Err(ListenError::Address(_))));
        assert!(matches!(
            p(&["1935", "ipv6only=on"]),
            Err(ListenError::Ipv6OnlyOnIpv4)
        ));
        assert!(matches!(
            p(&["1935", "reuseport"]),
            Err(ListenError::Option(_))
        ));
        assert!(matches!(
            p(&["1935", "backlog=x"]),
            Err(ListenError::Option(_))
        ));
    }
}
