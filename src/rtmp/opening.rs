//! What the first bytes of a connection to an RTMPS (`listen ... ssl`) port say, so that a
//! plain RTMP client or garbage is turned away before TLS parses it.

/// A TLS record of type handshake (22), protocol major version 3.
const TLS_HANDSHAKE_RECORD: [u8; 2] = [0x16, 0x03];

/// How many bytes [`Opening::of`] needs to decide.
pub const OPENING_LEN: usize = TLS_HANDSHAKE_RECORD.len();

/// The start of a connection to a TLS port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    /// A TLS handshake record starts.
    Tls,
    /// Too few bytes to tell.
    Unknown,
    /// The RTMP handshake (version 3) of a client that does not speak TLS.
    PlainRtmp,
    /// Anything else: this first byte.
    Other(u8),
}

impl Opening {
    pub fn of(bytes: &[u8]) -> Opening {
        let n = bytes.len().min(OPENING_LEN);
        match bytes.first() {
            None => Opening::Unknown,
            Some(_) if bytes.get(..n) == TLS_HANDSHAKE_RECORD.get(..n) => {
                if n < OPENING_LEN {
                    Opening::Unknown
                } else {
                    Opening::Tls
                }
            }
            Some(0x03) => Opening::PlainRtmp,
            Some(b) => Opening::Other(*b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings() {
        assert_eq!(Opening::of(&[]), Opening::Unknown);
        assert_eq!(Opening::of(&[0x16]), Opening::Unknown);
        assert_eq!(Opening::of(&[0x16, 0x03]), Opening::Tls);
        assert_eq!(Opening::of(&[0x16, 0x03, 0x01, 0x02]), Opening::Tls);
        assert_eq!(Opening::of(&[0x03, 0x00]), Opening::PlainRtmp);
        assert_eq!(Opening::of(&[0x03]), Opening::PlainRtmp);
        assert_eq!(Opening::of(&[0x16, 0x02]), Opening::Other(0x16));
        assert_eq!(Opening::of(b"GET / HTTP/1.1"), Opening::Other(b'G'));
    }
}
