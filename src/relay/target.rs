//! Relay targets: `rtmp://host[:port]/app[/name]` and `rtmps://` URLs with
//! nginx-rtmp's `push`/`pull` arguments (`app= name= tcUrl= pageUrl=
//! swfUrl= flashVer= playPath= live= start= stop= static`).
//!
//! The URL is split as nginx-rtmp splits it: the first path segment is the
//! application, everything after the next `/` (more segments and `?args`
//! included) is the play path. `rtmp://` may be left out. Default ports are
//! 1935 for `rtmp://` and 443 for `rtmps://`. Host names are kept as names:
//! they are resolved when connecting, not here.

use std::fmt;

use crate::rtmp::client::{ClientConfig, Mode, DEFAULT_FLASH_VER};

/// Longest URL accepted: far above any real one, small enough to log.
pub const MAX_URL_LEN: usize = 4096;
/// Longest host name (DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// Transport of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Rtmp,
    /// RTMP over TLS.
    Rtmps,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp => 1935,
            Scheme::Rtmps => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
        }
    }
}

/// `push` or `pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    Push,
    Pull,
}

/// Why a target does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    Empty,
    TooLong {
        len: usize,
    },
    /// A scheme other than rtmp/rtmps (rtmpt, rtmpe, http, ...).
    UnsupportedScheme(String),
    /// Whitespace, control or non-ASCII bytes.
    BadCharacter {
        at: usize,
    },
    MissingHost,
    BadHost(String),
    /// `user@host`: nginx-rtmp has no credentials in URLs.
    UserInfo,
    BadPort(String),
    /// A parameter nginx-rtmp's `push`/`pull` do not know.
    UnknownParameter(String),
    /// A numeric parameter (`live=`, `start=`, `stop=`) that is not a number.
    BadNumber {
        name: &'static str,
        value: String,
    },
    /// `static` on a push.
    StaticPush,
    /// `static` pull without a stream name (neither in the URL nor `name=`).
    StaticWithoutName,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Empty => f.write_str("empty relay url"),
            TargetError::TooLong { len } => {
                write!(f, "relay url of {len} bytes, above {MAX_URL_LEN}")
            }
            TargetError::UnsupportedScheme(s) => {
                write!(f, "unsupported scheme \"{s}\" (rtmp:// or rtmps://)")
            }
            TargetError::BadCharacter { at } => {
                write!(f, "invalid character at byte {at} of relay url")
            }
            TargetError::MissingHost => f.write_str("no host in relay url"),
            TargetError::BadHost(h) => write!(f, "invalid host \"{h}\" in relay url"),
            TargetError::UserInfo => f.write_str("user info (user@) in relay url"),
            TargetError::BadPort(p) => write!(f, "invalid port \"{p}\" in relay url"),
            TargetError::UnknownParameter(p) => write!(f, "unsupported parameter \"{p}\""),
            TargetError::BadNumber { name, value } => {
                write!(f, "invalid number \"{value}\" for {name}")
            }
            TargetError::StaticPush => f.write_str("static push is not allowed"),
            TargetError::StaticWithoutName => {
                f.write_str("stream name missing in static pull declaration")
            }
        }
    }
}

impl std::error::Error for TargetError {}

/// A parsed relay URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    pub scheme: Scheme,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// `host[:port]` as written (brackets kept): what nginx-rtmp puts in
    /// the default tcUrl.
    pub authority: String,
    /// First path segment (may be empty).
    pub app: String,
    /// The rest of the path, `?args` included (may be empty).
    pub play_path: String,
}

fn valid_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST_LEN
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !h.starts_with(['.', '-'])
        && !h.split('.').any(|label| label.len() > 63)
        && !h.contains("..")
}

fn parse_port(p: &str) -> Result<u16, TargetError> {
    let bad = || TargetError::BadPort(p.to_owned());
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

impl RelayUrl {
    /// Parses `[rtmp://|rtmps://]host[:port][/app[/play path]]`.
    pub fn parse(url: &str) -> Result<RelayUrl, TargetError> {
        if url.is_empty() {
            return Err(TargetError::Empty);
        }
        if url.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong { len: url.len() });
        }
        if let Some(at) = url.bytes().position(|b| b <= b' ' || b >= 0x7F) {
            return Err(TargetError::BadCharacter { at });
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest)) if s.eq_ignore_ascii_case("rtmp") => (Scheme::Rtmp, rest),
            Some((s, rest)) if s.eq_ignore_ascii_case("rtmps") => (Scheme::Rtmps, rest),
            Some((s, _)) if !s.contains(['/', '?']) => {
                return Err(TargetError::UnsupportedScheme(s.to_owned()))
            }
            _ => (Scheme::Rtmp, url),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(TargetError::UserInfo);
        }
        if authority.is_empty() {
            return Err(TargetError::MissingHost);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| TargetError::BadHost(authority.to_owned()))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(TargetError::BadHost(addr.to_owned()));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| TargetError::BadPort(p.to_owned()))?,
                ),
            };
            (addr, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(TargetError::MissingHost);
        }
        if !authority.starts_with('[') && !valid_host_name(host) {
            return Err(TargetError::BadHost(host.to_owned()));
        }
        let port = match port {
            Some(p) => parse_port(p)?,
            None => scheme.default_port(),
        };
        let path = path.strip_prefix('/').unwrap_or(path);
        // `?args` straight after the authority belong to the play path.
        let (app, play_path) = if path.starts_with('?') {
            ("", path)
        } else {
            match path.split_once('/') {
                Some((app, rest)) => (app, rest),
                None => (path, ""),
            }
        };
        Ok(RelayUrl {
            scheme,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            app: app.to_owned(),
            play_path: play_path.to_owned(),
        })
    }

    /// nginx-rtmp's default tcUrl: `scheme://authority/app`.
    pub fn default_tc_url(&self, app: &str) -> String {
        format!("{}://{}/{}", self.scheme.as_str(), self.authority, app)
    }
}

/// A `push`/`pull` directive's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTarget {
    pub kind: RelayKind,
    pub url: RelayUrl,
    /// `app=` (empty: the URL's application).
    pub app: String,
    /// `name=`: only the local stream of this name is relayed (empty: all).
    pub name: String,
    /// `tcUrl=` (empty: `scheme://authority/app`).
    pub tc_url: String,
    pub page_url: String,
    pub swf_url: String,
    /// `flashVer=` (empty: [`DEFAULT_FLASH_VER`]).
    pub flash_ver: String,
    /// `playPath=` (empty: the URL's play path).
    pub play_path: String,
    /// `live=`, `start=`, `stop=` as given (nginx-rtmp passes them to play).
    pub live: Option<i64>,
    pub start: Option<i64>,
    pub stop: Option<i64>,
    /// `static`: a pull started with the configuration, not by a player.
    pub is_static: bool,
}

fn number(name: &'static str, v: &str) -> Result<i64, TargetError> {
    v.parse::<i64>().map_err(|_| TargetError::BadNumber {
        name,
        value: v.to_owned(),
    })
}

impl RelayTarget {
    /// Parses a directive's URL and its `key=value` arguments (a bare `key`
    /// means `key=1`, names are case-insensitive, as in nginx-rtmp).
    pub fn parse(kind: RelayKind, url: &str, args: &[&str]) -> Result<RelayTarget, TargetError> {
        let url = RelayUrl::parse(url)?;
        let mut t = RelayTarget {
            kind,
            url,
            app: String::new(),
            name: String::new(),
            tc_url: String::new(),
            page_url: String::new(),
            swf_url: String::new(),
            flash_ver: String::new(),
            play_path: String::new(),
            live: None,
            start: None,
            stop: None,
            is_static: false,
        };
        for arg in args {
            let (n, v) = arg.split_once('=').unwrap_or((arg, "1"));
            let is = |name: &str| n.eq_ignore_ascii_case(name);
            if is("app") {
                t.app = v.to_owned();
            } else if is("name") {
                t.name = v.to_owned();
            } else if is("tcUrl") {
                t.tc_url = v.to_owned();
            } else if is("pageUrl") {
                t.page_url = v.to_owned();
            } else if is("swfUrl") {
                t.swf_url = v.to_owned();
            } else if is("flashVer") {
                t.flash_ver = v.to_owned();
            } else if is("playPath") {
                t.play_path = v.to_owned();
            } else if is("live") {
                t.live = Some(number("live", v)?);
            } else if is("start") {
                t.start = Some(number("start", v)?);
            } else if is("stop") {
                t.stop = Some(number("stop", v)?);
            } else if is("static") {
                t.is_static = number("static", v)? != 0;
            } else {
                return Err(TargetError::UnknownParameter(n.to_owned()));
            }
        }
        if t.is_static {
            if kind == RelayKind::Push {
                return Err(TargetError::StaticPush);
            }
            if t.name.is_empty() {
                return Err(TargetError::StaticWithoutName);
            }
        }
        Ok(t)
    }

    /// The application to connect to.
    pub fn app(&self) -> &str {
        if self.app.is_empty() {
            &self.url.app
        } else {
            &self.app
        }
    }

    /// The play path to publish or play: `playPath=`, else the URL's, else
    /// the local stream's name.
    pub fn play_path<'a>(&'a self, local_name: &'a str) -> &'a str {
        [self.play_path.as_str(), self.url.play_path.as_str()]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or(local_name)
    }

    /// The tcUrl to send.
    pub fn tc_url(&self) -> String {
        if self.tc_url.is_empty() {
            self.url.default_tc_url(self.app())
        } else {
            self.tc_url.clone()
        }
    }

    /// The client session settings for relaying `local_name`: publish for
    /// a push, play for a pull.
    pub fn client_config(&self, local_name: &str) -> ClientConfig {
        let mode = match self.kind {
            RelayKind::Push => Mode::Publish,
            RelayKind::Pull => Mode::Play,
        };
        let mut c = ClientConfig::new(self.app(), self.tc_url(), self.play_path(local_name), mode);
        c.flash_ver = if self.flash_ver.is_empty() {
            DEFAULT_FLASH_VER.to_owned()
        } else {
            self.flash_ver.clone()
        };
        c.page_url = self.page_url.clone();
        c.swf_url = self.swf_url.clone();
        c
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn url(s: &str) -> RelayUrl {
        RelayUrl::parse(s).unwrap()
    }

    #[test]
    fn splits_like_nginx_rtmp() {
        let u = url("rtmp://example.com/live/cam1");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Rtmp, "example.com", 1935)
        );
        assert_eq!((u.app.as_str(), u.play_path.as_str()), ("live", "cam1"));
        assert_eq!(u.default_tc_url(&u.app), "rtmp://example.com/live");

        let u = url("RTMPS://live-api-s.facebook.com:443/rtmp/KEY?s_bl=1&a=b");
        assert_eq!((u.scheme, u.port), (Scheme::Rtmps, 443));
        assert_eq!(u.play_path, "KEY?s_bl=1&a=b");
        assert_eq!(
            u.default_tc_url("rtmp"),
            "rtmps://live-api-s.facebook.com:443/rtmp"
        );

        let u = url("rtmps://a.rtmps.youtube.com/live2/x-y-z");
        assert_eq!(u.port, 443);

        // Instance segments stay in the play path, as nginx-rtmp does.
        let u = url("rtmp://h:1936/app/inst/name");
        assert_eq!(
            (u.port, u.app.as_str(), u.play_path.as_str()),
            (1936, "app", "inst/name")
        );

        // No scheme, no path, IPv6.
        let u = url("127.0.0.1:19350");
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str()),
            ("127.0.0.1", 19350, "")
        );
        let u = url("rtmp://[::1]:1935/live");
        assert_eq!(
            (u.host.as_str(), u.authority.as_str()),
            ("::1", "[::1]:1935")
        );
        let u = url("rtmp://[2001:db8::1]/live/");
        assert_eq!(
            (u.port, u.app.as_str(), u.play_path.as_str()),
            (1935, "live", "")
        );
    }

    #[test]
    fn hostile_urls_are_refused() {
        let bad = |s: &str| RelayUrl::parse(s).unwrap_err();
        assert_eq!(bad(""), TargetError::Empty);
        assert!(matches!(
            bad(&"a".repeat(5000)),
            TargetError::TooLong { .. }
        ));
        assert!(matches!(
            bad("rtmpt://h/app"),
            TargetError::UnsupportedScheme(_)
        ));
        assert!(matches!(
            bad("http://h/app"),
            TargetError::UnsupportedScheme(_)
        ));
        assert!(matches!(
            bad("rtmpe://h/app"),
            TargetError::UnsupportedScheme(_)
        ));
        assert_eq!(bad("rtmp:///app"), TargetError::MissingHost);
        assert_eq!(bad("rtmp://:1935/app"), TargetError::MissingHost);
        assert_eq!(bad("rtmp://user:pw@h/app"), TargetError::UserInfo);
        assert!(matches!(bad("rtmp://h:0/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://h:65536/app"), TargetError::BadPort(_)));
        assert!(matches!(
            bad("rtmp://h:99999999999999999999/a"),
            TargetError::BadPort(_)
        ));
        assert!(matches!(bad("rtmp://h:-1/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://h:/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://h:1:2/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://h:+80/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://[::1/app"), TargetError::BadHost(_)));
        assert!(matches!(bad("rtmp://[zz::1]/app"), TargetError::BadHost(_)));
        assert!(matches!(bad("rtmp://[::1]x/app"), TargetError::BadPort(_)));
        assert!(matches!(bad("rtmp://h%2f/app"), TargetError::BadHost(_)));
        assert!(matches!(bad("rtmp://-h/app"), TargetError::BadHost(_)));
        assert!(matches!(bad("rtmp://a..b/app"), TargetError::BadHost(_)));
        assert!(matches!(
            bad(&format!("rtmp://{}.com/app", "a".repeat(64))),
            TargetError::BadHost(_)
        ));
        assert!(matches!(
            bad("rtmp://h/app/na me"),
            TargetError::BadCharacter { at: 15 }
        ));
        assert!(matches!(
            bad("rtmp://h/app\r\nX: y"),
            TargetError::BadCharacter { .. }
        ));
        assert!(matches!(
            bad("rtmp://h/app/\0"),
            TargetError::BadCharacter { .. }
        ));
        assert!(matches!(
            bad("rtmp://hé/app"),
            TargetError::BadCharacter { .. }
        ));
    }

    #[test]
    fn arguments_override_the_url() {
        let t = RelayTarget::parse(
            RelayKind::Push,
            "rtmp://origin:1936/live",
            &[
                "app=other/inst",
                "NAME=cam1",
                "tcUrl=rtmp://elsewhere/other",
                "pageUrl=http://p/",
                "swfUrl=http://s/p.swf",
                "flashVer=FMLE/3.0",
                "playPath=mp4:key",
                "live=1",
            ],
        )
        .unwrap();
        assert_eq!(t.app(), "other/inst");
        assert_eq!(t.name, "cam1");
        assert_eq!(t.play_path("local"), "mp4:key");
        assert_eq!(t.live, Some(1));
        let c = t.client_config("local");
        assert_eq!(c.mode, Mode::Publish);
        assert_eq!(c.app, "other/inst");
        assert_eq!(c.tc_url, "rtmp://elsewhere/other");
        assert_eq!(c.name, "mp4:key");
        assert_eq!(c.flash_ver, "FMLE/3.0");
        assert_eq!(
            (c.page_url.as_str(), c.swf_url.as_str()),
            ("http://p/", "http://s/p.swf")
        );

        // Without arguments: the URL's app, the local name, nginx-rtmp's tcUrl.
        let t = RelayTarget::parse(RelayKind::Pull, "rtmp://origin/live", &[]).unwrap();
        let c = t.client_config("cam2");
        assert_eq!(c.mode, Mode::Play);
        assert_eq!(
            (c.app.as_str(), c.name.as_str(), c.tc_url.as_str()),
            ("live", "cam2", "rtmp://origin/live")
        );
        assert_eq!(c.flash_ver, DEFAULT_FLASH_VER);
        // The URL's play path wins over the local name.
        let t = RelayTarget::parse(RelayKind::Push, "rtmp://o/live/fixed", &[]).unwrap();
        assert_eq!(t.play_path("cam2"), "fixed");
    }

    #[test]
    fn bad_arguments_are_refused() {
        let parse = |kind, args: &[&str]| RelayTarget::parse(kind, "rtmp://o/live", args);
        assert_eq!(
            parse(RelayKind::Push, &["bogus=1"]),
            Err(TargetError::UnknownParameter("bogus".into()))
        );
        assert!(matches!(
            parse(RelayKind::Push, &["live=yes"]),
            Err(TargetError::BadNumber { name: "live", .. })
        ));
        assert!(matches!(
            parse(RelayKind::Pull, &["start=99999999999999999999999"]),
            Err(TargetError::BadNumber { .. })
        ));
        assert_eq!(
            parse(RelayKind::Push, &["static"]),
            Err(TargetError::StaticPush)
        );
        assert_eq!(
            parse(RelayKind::Pull, &["static"]),
            Err(TargetError::StaticWithoutName)
        );
        let t = parse(RelayKind::Pull, &["static", "name=cam"]).unwrap();
        assert!(t.is_static);
        // `=` inside a value belongs to the value.
        let t = parse(RelayKind::Push, &["tcUrl=rtmp://h/a?x=1"]).unwrap();
        assert_eq!(t.tc_url, "rtmp://h/a?x=1");
        // An empty value resets to the default.
        let t = parse(RelayKind::Push, &["app="]).unwrap();
        assert_eq!(t.app(), "live");
    }
}
