//! The URLs of HTTP-FLV players, compatible with nginx-http-flv-module's:
//! `/flv?app=live&stream=name` (optional `port=` or `srv=` choose the `rtmp` server block by
//! its listen port or its position, the first one by default) and the path form
//! `/flv/live/name.flv` (the location's prefix stripped). The other query arguments stay with
//! the play, as an RTMP play's name arguments do (`play_secret`'s `expires`/`sig`, `on_play`'s
//! fields).

use std::fmt;

use crate::auth::query;

/// Longest application or stream name taken from a URL.
const MAX_NAME: usize = 256;

/// The play an HTTP-FLV request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvRequest {
    pub app: String,
    pub name: String,
    /// The query arguments but `app`, `stream`, `port` and `srv`, as they came.
    pub args: String,
    /// Which `rtmp` server block serves the stream.
    pub server: ServerChoice,
}

/// How a request names its `rtmp` server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// The first one.
    First,
    /// The one listening on this port (`port=`).
    Port(u16),
    /// `srv=`: the block's index, from 0, in the order of the configuration.
    Index(usize),
}

/// Why a URL names no stream (answered 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvUrlError {
    MalformedQuery,
    NoStream,
    BadName,
    BadPort,
    BadServer,
}

impl fmt::Display for FlvUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlvUrlError::MalformedQuery => "malformed query arguments",
            FlvUrlError::NoStream => "no stream: use ?app=APP&stream=NAME or /APP/NAME.flv",
            FlvUrlError::BadName => "invalid application or stream name",
            FlvUrlError::BadPort => "invalid port",
            FlvUrlError::BadServer => "invalid srv",
        })
    }
}

impl std::error::Error for FlvUrlError {}

fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('/')
        && !name.chars().any(char::is_control)
}

impl FlvRequest {
    /// Reads the request's path (`uri`, without its query), the location's prefix and the
    /// query string.
    pub fn parse(uri: &str, prefix: &str, args: &str) -> Result<FlvRequest, FlvUrlError> {
        let mut app = None;
        let mut name = None;
        let mut server = ServerChoice::First;
        let mut rest: Vec<&str> = Vec::new();
        for raw in args.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
            let key = query::decode(k).ok_or(FlvUrlError::MalformedQuery)?;
            let value = || query::decode(v).ok_or(FlvUrlError::MalformedQuery);
            match key.as_str() {
                "app" => app = Some(value()?),
                "stream" => name = Some(value()?),
                "port" => {
                    let port = value()?.parse().map_err(|_| FlvUrlError::BadPort)?;
                    server = ServerChoice::Port(port);
                }
                "srv" => {
                    let i = value()?.parse().map_err(|_| FlvUrlError::BadServer)?;
                    server = ServerChoice::Index(i);
                }
                _ => {
                    value()?;
                    rest.push(raw);
                }
            }
        }
        let (app, name) = match (app, name) {
            (Some(app), Some(name)) => (app, name),
            (None, None) => Self::path_form(uri, prefix)?,
            _ => return Err(FlvUrlError::NoStream),
        };
        if !valid(&app) || app.contains('/') || !valid(&name) {
            return Err(FlvUrlError::BadName);
        }
        Ok(FlvRequest {
            app,
            name,
            args: rest.join("&"),
            server,
        })
    }

    /// `/PREFIX/APP/NAME.flv` (the `.flv` may be left out).
    fn path_form(uri: &str, prefix: &str) -> Result<(String, String), FlvUrlError> {
        let tail = uri
            .strip_prefix(prefix)
            .unwrap_or(uri)
            .trim_start_matches('/');
        let tail = query::decode(tail).ok_or(FlvUrlError::BadName)?;
        let (app, name) = tail.split_once('/').ok_or(FlvUrlError::NoStream)?;
        let name = name.strip_suffix(".flv").unwrap_or(name);
        if app.is_empty() || name.is_empty() {
            return Err(FlvUrlError::NoStream);
        }
        Ok((app.to_owned(), name.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_form_keeps_the_other_arguments() {
        let r =
            FlvRequest::parse("/flv", "/flv", "app=live&stream=cam%201&expires=9&sig=ab").unwrap();
        assert_eq!(r.app, "live");
        assert_eq!(r.name, "cam 1");
        assert_eq!(r.args, "expires=9&sig=ab");
        assert_eq!(r.server, ServerChoice::First);
        let r = FlvRequest::parse("/flv", "/flv", "port=1936&app=a&stream=b").unwrap();
        assert_eq!(r.server, ServerChoice::Port(1936));
        let r = FlvRequest::parse("/flv", "/flv", "srv=1&app=a&stream=b&x=").unwrap();
        assert_eq!((r.server, r.args.as_str()), (ServerChoice::Index(1), "x="));
    }

    #[test]
    fn path_form() {
        let r = FlvRequest::parse("/flv/live/name.flv", "/flv", "token=x").unwrap();
        assert_eq!((r.app.as_str(), r.name.as_str()), ("live", "name"));
        assert_eq!(r.args, "token=x");
        let r = FlvRequest::parse("/flv/live/name", "/flv/", "").unwrap();
        assert_eq!(r.name, "name");
        let r = FlvRequest::parse("/v/live/a/b.flv", "/v", "").unwrap();
        assert_eq!(r.name, "a/b");
    }

    #[test]
    fn refusals() {
        use FlvUrlError::*;
        for (uri, args, err) in [
            ("/flv", "", NoStream),
            ("/flv/live", "", NoStream),
            ("/flv/live/.flv", "", NoStream),
            ("/flv", "app=live", NoStream),
            ("/flv", "app=live&stream=%zz", MalformedQuery),
            ("/flv", "app=li/ve&stream=a", BadName),
            ("/flv", "app=live&stream=%0a", BadName),
            ("/flv", "app=a&stream=b&port=99999", BadPort),
            ("/flv", "app=a&stream=b&srv=x", BadServer),
        ] {
            assert_eq!(
                FlvRequest::parse(uri, "/flv", args),
                Err(err),
                "{uri}?{args}"
            );
        }
    }
}
