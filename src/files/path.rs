use std::fmt;

/// A path relative to an output directory (`hls_path`, `dash_path`), built
/// by the outputs only from a validated stream name: no `..`, no leading `/`,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelPath(String);

impl RelPath {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why a stream name cannot become a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameError(pub &'static str);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for NameError {}

/// Longest accepted stream name in bytes (file names are limited to 255).
pub const MAX_NAME_LEN: usize = 200;

/// Defensive check of a stream name before it becomes part of file names
/// and playlist lines. The shell validates names first; this refuses
/// anything that could escape `hls_path` or inject a playlist line.
pub fn validate_stream_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError("empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError("too long"));
    }
    if name.starts_with('.') {
        return Err(NameError("leading '.'"));
    }
    if name.starts_with('#') {
        return Err(NameError("leading '#'"));
    }
    if name.contains("..") {
        return Err(NameError("contains '..'"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(NameError("contains a path separator"));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError("contains control characters"));
    }
    Ok(())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a
/// name can be used as a URI path segment in the playlist.
pub fn uri_escape(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(uri_escape("a b?#é"), "a%20b%3F%23%C3%A9");
        assert_eq!(uri_escape("key-1_x.y~"), "key-1_x.y~");
    }
}
