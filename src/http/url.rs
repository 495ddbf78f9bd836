//! `http://host[:port]/path?query` URLs of notify callbacks (`on_publish http://...`).
//!
//! Only plain `http`: the C module has nothing else either. The URL is checked strictly,
//! because its path goes verbatim into the request line: spaces, control characters and
//! non-ASCII bytes are refused, never escaped or passed through.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest accepted URL, in bytes.
pub const MAX_URL_LEN: usize = 4096;
/// The port of `http` URLs without one.
pub const DEFAULT_PORT: u16 = 80;

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 literal or a bracketed IPv6 literal (`[::1]`).
    Ip(IpAddr),
    /// A host name, in lower case, resolved by the shell.
    Name(String),
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    host: Host,
    port: u16,
    /// Path and query, always starting with `/`; the fragment is dropped.
    target: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`].
    TooLong,
    /// A byte that may not appear in a URL (space, control character, non-ASCII).
    BadCharacter(u8),
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than `http` (`https`, `rtmp`, ...), in lower case.
    UnsupportedScheme(String),
    /// `http:///path`.
    MissingHost,
    /// `user:password@host` is not supported.
    UserInfo,
    /// Not an IPv4 literal, a bracketed IPv6 literal or a valid host name.
    BadHost,
    /// Not a number in 1..=65535.
    BadPort,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::TooLong => write!(f, "URL longer than {MAX_URL_LEN} bytes"),
            UrlError::BadCharacter(b) => write!(f, "invalid byte 0x{b:02x} in URL"),
            UrlError::NoScheme => f.write_str("URL without \"http://\""),
            UrlError::UnsupportedScheme(s) => {
                write!(f, "unsupported URL scheme \"{s}\" (only http)")
            }
            UrlError::MissingHost => f.write_str("URL without host"),
            UrlError::UserInfo => f.write_str("user information in URL is not supported"),
            UrlError::BadHost => f.write_str("invalid host in URL"),
            UrlError::BadPort => f.write_str("invalid port in URL"),
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]` (scheme case-insensitive).
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        if s.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        if let Some(&b) = s.as_bytes().iter().find(|&&b| !(0x21..0x7f).contains(&b)) {
            return Err(UrlError::BadCharacter(b));
        }
        let (scheme, rest) = s.split_once("://").ok_or(UrlError::NoScheme)?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return Err(UrlError::NoScheme);
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlError::UnsupportedScheme(scheme.to_ascii_lowercase()));
        }
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        if authority.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None | Some("") => DEFAULT_PORT,
            Some(p) => parse_port(p)?,
        };
        let target = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("/{target}")
        };
        Ok(Url { host, port, target })
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query, starting with `/`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The host as written in a URL or a `Host` header: `name`, `1.2.3.4` or `[::1]`.
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
            Host::Ip(IpAddr::V4(a)) => a.to_string(),
            Host::Name(n) => n.clone(),
        }
    }

    /// The `Host` header value: the host, with the port unless it is 80.
    pub fn host_header(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host_text()
        } else {
            format!("{}:{}", self.host_text(), self.port)
        }
    }

    /// The socket address of an IP literal host; `None` for a host name (resolve it).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host_header(), self.target)
    }
}

impl std::str::FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(Host, Option<&str>), UrlError> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (inner, after) = bracketed.split_once(']').ok_or(UrlError::BadHost)?;
        // Zone identifiers (`fe80::1%25eth0`) are not supported.
        let ip: Ipv6Addr = inner.parse().map_err(|_| UrlError::BadHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlError::BadHost)?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok((Host::Ip(IpAddr::V4(ip)), port));
    }
    if !valid_host_name(host) {
        return Err(UrlError::BadHost);
    }
    Ok((Host::Name(host.to_ascii_lowercase()), port))
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::BadPort);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::BadPort),
        Ok(n) => Ok(n),
    }
}

/// Letters, digits, `-` and `_` in non-empty labels of at most 63 bytes, 253 in all, an
/// optional final dot; a last label of digits only would be a malformed IPv4 address.
fn valid_host_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let numeric_tail = name
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !numeric_tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn host_names_ports_and_targets() {
        let u = ok("http://Auth.Example.com:8080/on_publish?x=1");
        assert_eq!(u.host(), &Host::Name("auth.example.com".into()));
        assert_eq!(u.port(), 8080);
        assert_eq!(u.target(), "/on_publish?x=1");
        assert_eq!(u.host_header(), "auth.example.com:8080");
        assert_eq!(u.socket_addr(), None);
        assert_eq!(u.to_string(), "http://auth.example.com:8080/on_publish?x=1");

        let u = ok("HTTP://localhost");
        assert_eq!(u.port(), 80);
        assert_eq!(u.target(), "/");
        assert_eq!(u.host_header(), "localhost");

        assert_eq!(ok("http://h?a=b").target(), "/?a=b");
        assert_eq!(ok("http://h:/p").port(), 80, "empty port is the default");
        assert_eq!(ok("http://h/p#frag").target(), "/p");
        assert_eq!(ok("http://h#frag").target(), "/");
        assert_eq!(ok("http://my_host.local./x").host_text(), "my_host.local.");
        assert_eq!(ok("http://h:65535/").port(), 65535);
    }

    #[test]
    fn ip_literals() {
        let u = ok("http://127.0.0.1:8081/auth");
        assert_eq!(u.host(), &Host::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(u.socket_addr(), Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(u.host_header(), "127.0.0.1:8081");

        let u = ok("http://[::1]:9000/a?b");
        assert_eq!(u.socket_addr(), Some("[::1]:9000".parse().unwrap()));
        assert_eq!(u.host_header(), "[::1]:9000");
        assert_eq!(u.to_string(), "http://[::1]:9000/a?b");

        let u = ok("http://[2001:DB8::1]");
        assert_eq!(u.host_header(), "[2001:db8::1]");
        assert_eq!(u.port(), 80);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, UrlError)] = &[
            ("https://h/", UrlError::UnsupportedScheme("https".into())),
            ("rtmp://h/live", UrlError::UnsupportedScheme("rtmp".into())),
            ("h/path", UrlError::NoScheme),
            ("://h/", UrlError::NoScheme),
            ("http://", UrlError::MissingHost),
            ("http:///p", UrlError::MissingHost),
            ("http://:80/p", UrlError::MissingHost),
            ("http://u:p@h/", UrlError::UserInfo),
            ("http://h:0/", UrlError::BadPort),
            ("http://h:65536/", UrlError::BadPort),
            ("http://h:8o/", UrlError::BadPort),
            ("http://h:+80/", UrlError::BadPort),
            ("http://h:1:2/", UrlError::BadPort),
            ("http://::1/", UrlError::MissingHost),
            ("http://[::1/", UrlError::BadHost),
            ("http://[::1]x/", UrlError::BadHost),
            ("http://[1.2.3.4]/", UrlError::BadHost),
            ("http://[fe80::1%25eth0]/", UrlError::BadHost),
            ("http://a..b/", UrlError::BadHost),
            ("http://-a.b/", UrlError::BadHost),
            ("http://a$b/", UrlError::BadHost),
            ("http://1.2.3/", UrlError::BadHost),
            ("http://256.1.1.1/", UrlError::BadHost),
            ("http://h/a b", UrlError::BadCharacter(b' ')),
            ("http://h/a\r\nX-Injected: 1", UrlError::BadCharacter(b'\r')),
            ("http://h/\u{e9}", UrlError::BadCharacter(0xc3)),
            ("http://h/\x7f", UrlError::BadCharacter(0x7f)),
        ];
        for (s, e) in cases {
            assert_eq!(Url::parse(s).as_ref(), Err(e), "{s:?}");
        }
        let long = format!("http://h/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(Url::parse(&long), Err(UrlError::TooLong));
        let label = "a".repeat(64);
        assert_eq!(
            Url::parse(&format!("http://{label}.com/")),
            Err(UrlError::BadHost)
        );
        assert!(UrlError::UnsupportedScheme("https".into())
            .to_string()
            .contains("https"));
    }
}
