//! Notify requests as nginx-rtmp sends them: the fields form-urlencoded, in the query of a
//! `GET` or the body of a `POST` (`notify_method`, default `post`).

use std::fmt;
use std::str::FromStr;

use super::url::Url;
use crate::auth::query;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = "ngx-rtmp";

/// `notify_method get|post`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// The form is appended to the URL's query.
    Get,
    /// The form is the `application/x-www-form-urlencoded` body (nginx-rtmp's default).
    #[default]
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `get` or `post`, in any case.
impl FromStr for Method {
    type Err = ();

    fn from_str(s: &str) -> Result<Method, ()> {
        if s.eq_ignore_ascii_case("get") {
            Ok(Method::Get)
        } else if s.eq_ignore_ascii_case("post") {
            Ok(Method::Post)
        } else {
            Err(())
        }
    }
}

/// The bytes of an HTTP/1.1 request to `url` carrying `form`, with `Connection: close` (one
/// request per connection; the answer ends at the end of its header block or at close).
///
/// `GET` appends the encoded form to the URL's own query (`?` or `&`); `POST` sends it as the
/// body. Keys and values are encoded with [`query::encode`], so any text is safe here; the URL
/// was validated by [`Url::parse`] and holds no byte that could break the request line.
pub fn build_request(method: Method, url: &Url, form: &[(&str, &str)]) -> Vec<u8> {
    let encoded = query::encode(form);
    let mut target = url.target().to_owned();
    if method == Method::Get && !encoded.is_empty() {
        if !target.contains('?') {
            target.push('?');
        } else if !target.ends_with(['?', '&']) {
            target.push('&');
        }
        target.push_str(&encoded);
    }
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n",
        url.host_header()
    );
    if method == Method::Post {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        head.push_str(&format!("Content-Length: {}\r\n", encoded.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    if method == Method::Post {
        out.extend_from_slice(encoded.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn post_carries_the_form_in_the_body() {
        let url = Url::parse("http://127.0.0.1:8081/auth?app=x").unwrap();
        let req = text(build_request(
            Method::Post,
            &url,
            &[("call", "publish"), ("name", "key 1&x=/ü")],
        ));
        let body = "call=publish&name=key%201%26x%3D%2F%C3%BC";
        assert_eq!(
            req,
            format!(
                "POST /auth?app=x HTTP/1.1\r\n\
                 Host: 127.0.0.1:8081\r\n\
                 User-Agent: ngx-rtmp\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
        );
        let parsed = query::parse(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(parsed[1], ("name".into(), "key 1&x=/ü".into()));
    }

    #[test]
    fn post_without_fields_has_an_empty_body() {
        let url = Url::parse("http://h/p").unwrap();
        let req = text(build_request(Method::Post, &url, &[]));
        assert!(req.starts_with("POST /p HTTP/1.1\r\nHost: h\r\n"));
        assert!(req.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn get_appends_the_form_to_the_query() {
        let form: &[(&str, &str)] = &[("call", "play"), ("name", "a b")];
        let cases = [
            ("http://h/on_play", "/on_play?call=play&name=a%20b"),
            ("http://h/on_play?t=1", "/on_play?t=1&call=play&name=a%20b"),
            ("http://h/on_play?", "/on_play?call=play&name=a%20b"),
            ("http://h/on_play?t=1&", "/on_play?t=1&call=play&name=a%20b"),
            ("http://[::1]:81", "/?call=play&name=a%20b"),
        ];
        for (u, target) in cases {
            let url = Url::parse(u).unwrap();
            let req = text(build_request(Method::Get, &url, form));
            let first = req.lines().next().unwrap();
            assert_eq!(first, format!("GET {target} HTTP/1.1"), "{u}");
            assert!(!req.contains("Content-Type"));
            assert!(req.contains("\r\nConnection: close\r\n\r\n"));
            assert!(req.ends_with("\r\n\r\n"));
        }
        let url = Url::parse("http://[::1]:81/x").unwrap();
        let req = text(build_request(Method::Get, &url, &[]));
        assert_eq!(
            req,
            "GET /x HTTP/1.1\r\nHost: [::1]:81\r\nUser-Agent: ngx-rtmp\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn method_names() {
        assert_eq!("GET".parse(), Ok(Method::Get));
        assert_eq!("post".parse(), Ok(Method::Post));
        assert_eq!("put".parse::<Method>(), Err(()));
        assert_eq!(Method::default(), Method::Post);
    }
}
