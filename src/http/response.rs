//! An incremental, sans-IO HTTP/1.x response parser.
//!
//! Bytes go in as they arrive ([`ResponseParser::feed`], any split is fine: incomplete input
//! is not an error), the end of the stream is signalled with [`ResponseParser::eof`]. Interim
//! `1xx` responses (`100 Continue`) are skipped. Memory stays bounded whatever the peer sends:
//! the status line and headers are limited in bytes and count, and only the headers notify
//! needs are kept (the status and `Location`).
//!
//! A notify answer is complete at the end of its header block ([`BodyMode::Skip`], what
//! nginx-rtmp does too: it never looks at the body), so a huge or endless body costs nothing.
//! [`BodyMode::Keep`] reads the body as well, framed by `Content-Length`, chunked transfer
//! coding or the end of the connection, up to a limit.

use std::fmt;

/// What a callback answer means for the request that asked (nginx-rtmp's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `2xx`: go on.
    Continue,
    /// `3xx` with a non-empty `Location`: rename the stream to it (or relay to it when it is an
    /// `rtmp://` URL, where nginx-rtmp does).
    Redirect(String),
    /// Any other status, including a `3xx` without `Location`.
    Refused(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A final response: what notify needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub version: Version,
    pub status: u16,
    /// The `Location` header, if present and not empty.
    pub location: Option<String>,
    /// The body with [`BodyMode::Keep`]; always empty with [`BodyMode::Skip`].
    pub body: Vec<u8>,
}

impl Response {
    /// `2xx` continues, `3xx` with a `Location` redirects, anything else refuses.
    pub fn outcome(&self) -> Outcome {
        match self.status {
            200..=299 => Outcome::Continue,
            300..=399 => match &self.location {
                Some(l) => Outcome::Redirect(l.clone()),
                None => Outcome::Refused(self.status),
            },
            s => Outcome::Refused(s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The answer does not start with an `HTTP/1.x NNN` status line.
    BadStatusLine,
    /// A header line that is not `name: value` (or an obsolete folded line, a control
    /// character, a non-UTF-8 or repeated `Location`).
    BadHeader,
    /// The status line and headers (with those of interim responses and chunked trailers)
    /// exceed [`Limits::max_header_bytes`].
    HeadersTooLarge,
    /// More than [`Limits::max_headers`] header lines in one response.
    TooManyHeaders,
    /// A `Content-Length` that is not a number, or several different ones.
    BadContentLength,
    /// A malformed chunk of a chunked body.
    BadChunk,
    /// The body is larger than [`BodyMode::Keep`] allows.
    BodyTooLarge,
    /// The connection ended before the response did.
    Truncated,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::BadStatusLine => "malformed status line",
            ParseError::BadHeader => "malformed header",
            ParseError::HeadersTooLarge => "response headers too large",
            ParseError::TooManyHeaders => "too many response headers",
            ParseError::BadContentLength => "invalid Content-Length",
            ParseError::BadChunk => "malformed chunked body",
            ParseError::BodyTooLarge => "response body too large",
            ParseError::Truncated => "response truncated",
        })
    }
}

impl std::error::Error for ParseError {}

/// Whether the body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// The response is complete at the end of its header block; the body is never read.
    Skip,
    /// The body is read and kept, up to `max` bytes (more is [`ParseError::BodyTooLarge`]).
    Keep { max: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of status lines, header lines and trailers, line ends included.
    pub max_header_bytes: usize,
    /// Header lines of one response.
    pub max_headers: usize,
    pub body: BodyMode,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            body: BodyMode::Skip,
        }
    }
}

/// What [`ResponseParser::feed`] found so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// More bytes are needed.
    Incomplete,
    /// The final response is complete; later input is ignored.
    Complete(Response),
}

/// Longest chunk-size line (size, extensions, line end).
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    StatusLine,
    Headers,
    /// A `Content-Length` body: bytes left.
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    Trailers,
    Done(Response),
    Failed(ParseError),
}

/// The headers of the response being parsed.
#[derive(Debug, Default)]
struct Head {
    version: Option<Version>,
    status: u16,
    headers: usize,
    location: Option<String>,
    location_seen: bool,
    content_length: Option<u64>,
    /// `Some(chunked)` when a `Transfer-Encoding` was present: whether its last coding is
    /// `chunked`.
    transfer_chunked: Option<bool>,
}

/// Parses one HTTP/1.x response from bytes fed in any pieces.
#[derive(Debug)]
pub struct ResponseParser {
    limits: Limits,
    state: State,
    /// The current line while it is incomplete (bounded by the limits).
    line: Vec<u8>,
    /// Header bytes consumed so far (all header blocks and trailers).
    header_bytes: usize,
    head: Head,
    body: Vec<u8>,
}

impl Default for ResponseParser {
    fn default() -> ResponseParser {
        ResponseParser::new(Limits::default())
    }
}

impl ResponseParser {
    pub fn new(limits: Limits) -> ResponseParser {
        ResponseParser {
            limits,
            state: State::StatusLine,
            line: Vec::new(),
            header_bytes: 0,
            head: Head::default(),
            body: Vec::new(),
        }
    }

    /// Consumes `data`. After an error or a complete response, returns the same again.
    pub fn feed(&mut self, data: &[u8]) -> Result<Status, ParseError> {
        let mut data = data;
        loop {
            match &self.state {
                State::Done(r) => return Ok(Status::Complete(r.clone())),
                State::Failed(e) => return Err(*e),
                _ if data.is_empty() => return Ok(Status::Incomplete),
                _ => {}
            }
            match self.step(data) {
                Ok(used) => data = &data[used..],
                Err(e) => {
                    self.state = State::Failed(e);
                    self.line = Vec::new();
                    self.body = Vec::new();
                }
            }
        }
    }

    /// The connection ended: completes a body that runs until close, anything else
    /// unfinished is [`ParseError::Truncated`].
    pub fn eof(&mut self) -> Result<Response, ParseError> {
        match &self.state {
            State::Done(r) => Ok(r.clone()),
            State::Failed(e) => Err(*e),
            State::UntilClose => {
                let r = self.finish();
                self.state = State::Done(r.clone());
                Ok(r)
            }
            _ => {
                self.state = State::Failed(ParseError::Truncated);
                Err(ParseError::Truncated)
            }
        }
    }

    /// Makes progress on a non-empty `data`; returns how many bytes were used.
    fn step(&mut self, data: &[u8]) -> Result<usize, ParseError> {
        match self.state {
            State::StatusLine | State::Headers | State::Trailers => {
                let Some((line, used)) = self.take_line(data, Self::header_room)? else {
                    if self.state == State::StatusLine && !status_prefix_ok(&self.line) {
                        return Err(ParseError::BadStatusLine);
                    }
                    return Ok(data.len());
                };
                self.header_bytes += used;
                match self.state {
                    State::StatusLine => self.status_line(&line)?,
                    State::Headers => self.header_line(&line)?,
                    _ => {
                        if line.is_empty() {
                            self.state = State::Done(self.finish());
                        }
                    }
                }
                Ok(used)
            }
            State::ChunkSize | State::ChunkEnd => {
                let Some((line, used)) = self.take_line(data, |_| MAX_CHUNK_LINE)? else {
                    return Ok(data.len());
                };
                if self.state == State::ChunkEnd {
                    if !line.is_empty() {
                        return Err(ParseError::BadChunk);
                    }
                    self.state = State::ChunkSize;
                } else {
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        self.check_body(size)?;
                        State::ChunkData(size)
                    };
                }
                Ok(used)
            }
            State::Length(left) | State::ChunkData(left) => {
                let n = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                self.body.extend_from_slice(&data[..n]);
                let left = left - n as u64;
                let length = matches!(self.state, State::Length(_));
                self.state = match (length, left) {
                    (true, 0) => State::Done(self.finish()),
                    (true, _) => State::Length(left),
                    (false, 0) => State::ChunkEnd,
                    (false, _) => State::ChunkData(left),
                };
                Ok(n)
            }
            State::UntilClose => {
                self.check_body(data.len() as u64)?;
                self.body.extend_from_slice(data);
                Ok(data.len())
            }
            State::Done(_) | State::Failed(_) => Ok(data.len()),
        }
    }

    fn header_room(&self) -> usize {
        self.limits
            .max_header_bytes
            .saturating_sub(self.header_bytes)
    }

    /// Completes the current line with `data` if it holds a line end: returns the line
    /// (without `\r\n` or `\n`) and the bytes of `data` used. Otherwise buffers `data`.
    /// A line longer than `room(self)` bytes (line end included) is an error.
    fn take_line(
        &mut self,
        data: &[u8],
        room: impl Fn(&Self) -> usize,
    ) -> Result<Option<(Vec<u8>, usize)>, ParseError> {
        let room = room(self);
        let too_long = match self.state {
            State::ChunkSize | State::ChunkEnd => ParseError::BadChunk,
            _ => ParseError::HeadersTooLarge,
        };
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                if self.line.len() + i + 1 > room {
                    return Err(too_long);
                }
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&data[..i]);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some((line, i + 1)))
            }
            None => {
                if self.line.len() + data.len() >= room {
                    return Err(too_long);
                }
                self.line.extend_from_slice(data);
                Ok(None)
            }
        }
    }

    fn status_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let (version, status) = parse_status_line(line).ok_or(ParseError::BadStatusLine)?;
        self.head = Head {
            version: Some(version),
            status,
            ..Head::default()
        };
        self.state = State::Headers;
        Ok(())
    }

    fn header_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        if line.is_empty() {
            return self.end_of_headers();
        }
        self.head.headers += 1;
        if self.head.headers > self.limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::BadHeader)?;
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        // No whitespace before the colon, no obsolete line folding (a line starting with
        // whitespace has no valid name).
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ParseError::BadHeader);
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ParseError::BadHeader);
        }
        if name.eq_ignore_ascii_case(b"location") {
            if self.head.location_seen {
                return Err(ParseError::BadHeader);
            }
            self.head.location_seen = true;
            let value = std::str::from_utf8(value).map_err(|_| ParseError::BadHeader)?;
            self.head.location = (!value.is_empty()).then(|| value.to_owned());
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value).ok_or(ParseError::BadContentLength)?;
            if self.head.content_length.is_some_and(|old| old != n) {
                return Err(ParseError::BadContentLength);
            }
            self.head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value
                .rsplit(|&b| b == b',')
                .map(trim_ows)
                .find(|c| !c.is_empty());
            if let Some(last) = last {
                self.head.transfer_chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        }
        Ok(())
    }

    fn end_of_headers(&mut self) -> Result<(), ParseError> {
        let status = self.head.status;
        // Interim responses (100 Continue, 102, 103): the final one follows. 101 Switching
        // Protocols is final (and refused: nothing asked for it).
        if (100..200).contains(&status) && status != 101 {
            self.state = State::StatusLine;
            return Ok(());
        }
        let max = match self.limits.body {
            BodyMode::Skip => {
                self.state = State::Done(self.finish());
                return Ok(());
            }
            BodyMode::Keep { max } => max,
        };
        let no_body = status < 200 || status == 204 || status == 304;
        self.state = if no_body {
            State::Done(self.finish())
        } else if let Some(chunked) = self.head.transfer_chunked {
            // Transfer-Encoding wins over Content-Length; a response whose last coding is not
            // chunked runs until close.
            if chunked {
                State::ChunkSize
            } else {
                State::UntilClose
            }
        } else if let Some(n) = self.head.content_length {
            if n > max as u64 {
                return Err(ParseError::BodyTooLarge);
            }
            if n == 0 {
                State::Done(self.finish())
            } else {
                State::Length(n)
            }
        } else {
            State::UntilClose
        };
        Ok(())
    }

    /// Whether `more` body bytes still fit.
    fn check_body(&self, more: u64) -> Result<(), ParseError> {
        let max = match self.limits.body {
            BodyMode::Keep { max } => max as u64,
            BodyMode::Skip => 0,
        };
        if (self.body.len() as u64).saturating_add(more) > max {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(())
    }

    fn finish(&mut self) -> Response {
        Response {
            version: self.head.version.unwrap_or(Version::Http11),
            status: self.head.status,
            location: self.head.location.take(),
            body: std::mem::take(&mut self.body),
        }
    }
}

/// Whether a partial first line can still become `HTTP/1.`: garbage fails at once instead of
/// when the line ends (or never, for a peer that sends no line end).
fn status_prefix_ok(partial: &[u8]) -> bool {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = partial.len().min(PREFIX.len());
    partial[..n] == PREFIX[..n]
}

/// `HTTP/1.x SP 3DIGIT [SP reason]`.
fn parse_status_line(line: &[u8]) -> Option<(Version, u16)> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    let version = match minor {
        b'0' => Version::Http10,
        b'1' => Version::Http11,
        _ => return None,
    };
    let rest = rest.strip_prefix(b" ")?;
    let (code, reason) = rest.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return None;
    }
    // The reason phrase is optional and ignored, but must not hide control characters.
    if !(reason.is_empty() || reason[0] == b' ')
        || reason
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    Some((version, status))
}

/// A `Content-Length` value: digits, or a list of the same number (`42, 42`).
fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut result = None;
    for part in value.split(|&b| b == b',').map(trim_ows) {
        if part.is_empty() || part.len() > 18 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if result.is_some_and(|r| r != n) {
            return None;
        }
        result = Some(n);
    }
    result
}

/// The size of a chunk-size line (`1a`, `1A;name=value`, `1a ; ext`).
fn chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    let size = trim_ows(size);
    if size.is_empty() || size.len() > 15 {
        return Err(ParseError::BadChunk);
    }
    size.iter().try_fold(0u64, |n, &b| {
        let d = char::from(b).to_digit(16).ok_or(ParseError::BadChunk)?;
        Ok(n << 4 | u64::from(d))
    })
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A token character of a header name (RFC 9110 `tchar`).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
