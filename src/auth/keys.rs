//! `publish_keys <file>`: a map from secret stream keys to public stream names.
//!
//! File format, one entry a line: `SECRET_KEY PUBLIC_NAME [APPLICATION]`; blank lines and
//! lines starting with `#` are ignored. A publisher uses the secret key as its stream name;
//! everything else (HLS files, players, stat) only ever sees the public name.

use std::collections::HashMap;
use std::fmt;

use crate::rtmp::name::parse_stream_name;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    public: String,
    app: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    keys: HashMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for KeyFileError {}

/// Why a key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Unknown,
    WrongApplication,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Unknown => "unknown stream key",
            KeyError::WrongApplication => "stream key not valid for this application",
        })
    }
}

impl std::error::Error for KeyError {}

const MAX_NAME: usize = 256;

impl KeyMap {
    pub fn parse(text: &str) -> Result<KeyMap, KeyFileError> {
        let mut keys = HashMap::new();
        let mut publics: HashMap<(String, Option<String>), usize> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |reason: String| KeyFileError {
                line: line_no,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (key, public, app) = match fields.as_slice() {
                [k, p] => (*k, *p, None),
                [k, p, a] => (*k, *p, Some((*a).to_owned())),
                _ => return Err(err("expected: SECRET_KEY PUBLIC_NAME [APPLICATION]".into())),
            };
            for (what, v) in [("key", key), ("public name", public)] {
                match parse_stream_name(v, MAX_NAME) {
                    Ok(n) if n.args.is_empty() && n.name == v => {}
                    _ => return Err(err(format!("invalid {what} \"{v}\""))),
                }
            }
            if let Some(prev) = publics.insert((public.to_owned(), app.clone()), line_no) {
                return Err(err(format!(
                    "public name \"{public}\" already used on line {prev}"
                )));
            }
            let entry = Entry {
                public: public.to_owned(),
                app,
            };
            if keys.insert(key.to_owned(), entry).is_some() {
                return Err(err("duplicate key".into()));
            }
        }
        Ok(KeyMap { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public name for a secret `key` used in application `app`.
    pub fn resolve(&self, app: &str, key: &str) -> Result<&str, KeyError> {
        let e = self.keys.get(key).ok_or(KeyError::Unknown)?;
        match &e.app {
            Some(a) if a != app => Err(KeyError::WrongApplication),
            _ => Ok(&e.public),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_resolve() {
        let m = KeyMap::parse("# keys\n\nsk_live_9f8e7d alice\nsk_b bob live\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.resolve("live", "sk_live_9f8e7d"), Ok("alice"));
        assert_eq!(m.resolve("other", "sk_live_9f8e7d"), Ok("alice"));
        assert_eq!(m.resolve("live", "sk_b"), Ok("bob"));
        assert_eq!(m.resolve("other", "sk_b"), Err(KeyError::WrongApplication));
        assert_eq!(
            m.resolve("live", "alice"),
            Err(KeyError::Unknown),
            "public name is no key"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = KeyMap::parse("a b\nonly_one\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(KeyMap::parse("a b\na c\n").unwrap_err().line, 2);
        assert_eq!(KeyMap::parse("a b\nc b\n").unwrap_err().line, 2);
        assert!(KeyMap::parse("k ../x\n")
            .unwrap_err()
            .reason
            .contains("public name"));
        assert!(KeyMap::parse("k/x pub\n")
            .unwrap_err()
            .reason
            .contains("key"));
        assert!(KeyMap::parse("a b c d\n").is_err());
    }
}
