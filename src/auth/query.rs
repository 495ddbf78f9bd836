//! `application/x-www-form-urlencoded` parsing and encoding (query strings of publish/play
//! names, and later callback bodies).

use std::fmt::Write;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one component (`+` is a space, `%XX` a byte). `None` for malformed escapes or a
/// result that is not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `a=1&b=2` into pairs, in order. `None` if any component is malformed.
pub fn parse(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Encodes one component: unreserved characters stay, everything else is `%XX`.
pub fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Encodes pairs as `k=v&k=v`.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, k);
        out.push('=');
        encode_into(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let pairs = [("name", "key 1/ü"), ("tcurl", "rtmp://h/live?x=1&y")];
        let enc = encode(&pairs);
        assert_eq!(
            enc,
            "name=key%201%2F%C3%BC&tcurl=rtmp%3A%2F%2Fh%2Flive%3Fx%3D1%26y"
        );
        let dec = parse(&enc).unwrap();
        assert_eq!(dec[0], ("name".into(), "key 1/ü".into()));
        assert_eq!(dec[1].1, "rtmp://h/live?x=1&y");
    }

    #[test]
    fn parse_forms() {
        assert_eq!(
            parse("a=1&&b&c=x+y").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x y".into())
            ]
        );
        assert!(parse("a=%zz").is_none());
        assert!(parse("a=%4").is_none());
        assert!(parse("a=%ff").is_none(), "not UTF-8");
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
