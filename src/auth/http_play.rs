//! The play checks of an HTTP player (HTTP-FLV, and any HTTP location that serves a live
//! stream), with the contract of an RTMP play: the application's `allow`/`deny play` rules
//! on the client's address, `play_secret` on the name's `expires`/`sig` arguments, then the
//! `on_play` callback (run by the shell) whose answer is read by [`callback_verdict`].

use std::fmt;
use std::net::IpAddr;

use super::{signed, Action};
use crate::conf::AppSettings;
use crate::http::{HttpError, Outcome, Response};
use crate::rtmp::name::parse_stream_name;

/// Longest stream name an `on_play` redirect may rename to.
const MAX_NAME: usize = 256;

/// Why a play is refused, and the HTTP status it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `deny play` matched the client's address.
    Denied,
    /// The application does not serve live streams (`live off`).
    NotLive,
    /// `play_secret`: the signature is missing, wrong or expired.
    BadSignature(String),
    /// `on_play` refused (or failed, or answered what an HTTP player cannot follow).
    Callback(String),
}

impl Refusal {
    /// 404 for an application without live streams (as for an unknown one), else 403.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotLive => 404,
            _ => 403,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Denied => f.write_str("denied by access rules"),
            Refusal::NotLive => f.write_str("live is off"),
            Refusal::BadSignature(why) => write!(f, "play_secret: {why}"),
            Refusal::Callback(why) => f.write_str(why),
        }
    }
}

/// The checks that need no callback: the access rules (a client without an IP address — a
/// unix socket — passes them, as an RTMP client does), `live`, `play_secret`.
pub fn check_local(
    app: &str,
    settings: &AppSettings,
    ip: Option<IpAddr>,
    name: &str,
    args: &str,
    now_unix: u64,
) -> Result<(), Refusal> {
    if !ip.is_none_or(|ip| settings.access.allows(Action::Play, ip)) {
        return Err(Refusal::Denied);
    }
    if !settings.live {
        return Err(Refusal::NotLive);
    }
    if let Some(secret) = &settings.play_secret {
        signed::verify(secret.as_bytes(), app, name, args, now_unix)
            .map_err(|e| Refusal::BadSignature(e.to_string()))?;
    }
    Ok(())
}

/// What the `on_play` answer means for an HTTP player: play `name` (the requested one, or
/// the one a 3xx `Location` renames it to, as for RTMP), or refuse. A redirect to a URL
/// (`rtmp://` pulls included) is refused: an HTTP player cannot be sent elsewhere by it.
pub fn callback_verdict(
    name: &str,
    result: Result<Response, HttpError>,
) -> Result<String, Refusal> {
    match result.map(|r| r.outcome()) {
        Ok(Outcome::Continue) => Ok(name.to_owned()),
        Ok(Outcome::Redirect(loc)) if loc.contains("://") => Err(Refusal::Callback(format!(
            "on_play redirect to \"{loc}\" is not supported for HTTP players"
        ))),
        Ok(Outcome::Redirect(loc)) => match parse_stream_name(&loc, MAX_NAME) {
            Ok(n) if n.args.is_empty() && !n.name.is_empty() => Ok(n.name),
            _ => Err(Refusal::Callback(
                "on_play redirect to an invalid name".into(),
            )),
        },
        Ok(Outcome::Refused(status)) => {
            Err(Refusal::Callback(format!("on_play answered {status}")))
        }
        Err(e) => Err(Refusal::Callback(format!("on_play failed: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{AccessList, Rule};
    use crate::conf::RtmpConf;
    use crate::http::{ResponseParser, Status};

    fn settings() -> AppSettings {
        let mut c = RtmpConf::new();
        let s = c.add_server();
        c.add_application(s, "live").unwrap();
        let mut a = c.servers[0].applications[0].settings.clone();
        a.live = true;
        a
    }

    fn response(text: &str) -> Response {
        let mut p = ResponseParser::default();
        match p.feed(text.as_bytes()).unwrap() {
            Status::Complete(r) => r,
            Status::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn access_rules_live_and_secret() {
        let mut s = settings();
        let ip = |t: &str| Some(t.parse::<IpAddr>().unwrap());
        assert_eq!(check_local("live", &s, ip("10.0.0.1"), "a", "", 0), Ok(()));
        let mut rules = AccessList::default();
        rules.push(Rule::parse(true, "play", "127.0.0.1").unwrap());
        rules.push(Rule::parse(false, "play", "all").unwrap());
        s.access = rules;
        assert_eq!(check_local("live", &s, ip("127.0.0.1"), "a", "", 0), Ok(()));
        let denied = check_local("live", &s, ip("10.0.0.1"), "a", "", 0).unwrap_err();
        assert_eq!((denied.status(), denied), (403, Refusal::Denied));
        assert_eq!(check_local("live", &s, None, "a", "", 0), Ok(()));

        s.play_secret = Some("k".into());
        let signed = format!(
            "expires=100&sig={}",
            crate::auth::signed::sign(b"k", "live", "a", 100)
        );
        assert_eq!(check_local("live", &s, None, "a", &signed, 99), Ok(()));
        assert!(matches!(
            check_local("live", &s, None, "a", &signed, 101),
            Err(Refusal::BadSignature(_))
        ));
        assert!(check_local("live", &s, None, "b", &signed, 99).is_err());
        assert!(check_local("live", &s, None, "a", "", 99).is_err());

        s.live = false;
        assert_eq!(
            check_local("live", &s, None, "a", &signed, 99)
                .unwrap_err()
                .status(),
            404
        );
    }

    #[test]
    fn callback_answers() {
        let ok = response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(callback_verdict("a", Ok(ok)), Ok("a".into()));
        let no = response("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(callback_verdict("a", Ok(no)).unwrap_err().status(), 403);
        let rename = response("HTTP/1.1 302 Found\r\nLocation: other\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(callback_verdict("a", Ok(rename)), Ok("other".into()));
        let pull =
            response("HTTP/1.1 302 Found\r\nLocation: rtmp://o/app/s\r\nContent-Length: 0\r\n\r\n");
        assert!(callback_verdict("a", Ok(pull)).is_err());
        assert!(callback_verdict("a", Err(HttpError::Timeout)).is_err());
    }
}
