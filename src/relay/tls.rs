//! Why the TLS of a relay's connection failed, in words for the relay's log line and stat.
//!
//! nginx's SSL functions log a failure with OpenSSL's error queue appended, as in
//! `SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number)`; the
//! shell catches that message for the connection and the relay reports
//! `handshake failed: wrong version number`.

/// The reason in a line nginx wrote for a connection's TLS: the message without the log
/// line's prefix (time, level, process, connection number), OpenSSL's errors reduced to their
/// reason strings.
pub fn reason_of_log_line(line: &str) -> String {
    let message = strip_log_prefix(line.trim_end());
    let (head, openssl) = match message.split_once("(SSL:") {
        Some((head, rest)) => (head.trim_end(), Some(rest)),
        None => (message, None),
    };
    let head = match head {
        "SSL_do_handshake() failed" => "handshake failed",
        h => h,
    };
    let Some(openssl) = openssl else {
        return head.to_owned();
    };
    // The error list ends at the parenthesis that closes "(SSL:", which may be followed by
    // nginx's " while ..." context.
    let list = openssl
        .rsplit_once(')')
        .map_or(openssl, |(list, _)| list)
        .trim();
    let reasons: Vec<&str> = list.split("error:").filter_map(openssl_reason).collect();
    if reasons.is_empty() {
        return if list.is_empty() {
            head.to_owned()
        } else {
            format!("{head}: {list}")
        };
    }
    format!("{head}: {}", reasons.join(", "))
}

/// `0A00010B:SSL routines::wrong version number` (OpenSSL 3) or
/// `1408F10B:SSL routines:ssl3_get_record:wrong version number` (1.1): the reason, and the
/// data OpenSSL attached to it, if any.
fn openssl_reason(entry: &str) -> Option<&str> {
    let mut parts = entry.trim().splitn(4, ':');
    let (_code, _lib, _func) = (parts.next()?, parts.next()?, parts.next()?);
    let reason = parts.next()?.trim();
    (!reason.is_empty()).then_some(reason)
}

/// `2026/12/07 01:52:06 [crit] 1234#1234: *5 message` → `message`. A line without that shape
/// is returned whole.
fn strip_log_prefix(line: &str) -> &str {
    let Some((_, after_level)) = line.split_once("] ") else {
        return line;
    };
    let Some((pid, rest)) = after_level.split_once(": ") else {
        return line;
    };
    if !pid.bytes().all(|b| b.is_ascii_digit() || b == b'#') {
        return line;
    }
    match rest.strip_prefix('*').and_then(|r| r.split_once(' ')) {
        Some((n, msg)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => msg,
        _ => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_by_their_reason() {
        assert_eq!(
            reason_of_log_line(
                "2026/12/07 01:52:06 [crit] 1234#1234: *5 SSL_do_handshake() failed \
                 (SSL: error:0A00010B:SSL routines::wrong version number)\n"
            ),
            "handshake failed: wrong version number"
        );
        assert_eq!(
            reason_of_log_line(
                "2026/12/07 01:52:06 [info] 7#7: SSL_do_handshake() failed (SSL: \
                 error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70) \
                 while SSL handshaking"
            ),
            "handshake failed: tlsv1 alert protocol version:SSL alert number 70"
        );
        // OpenSSL 1.1 names the function; several errors in the queue.
        assert_eq!(
            reason_of_log_line(
                "SSL_do_handshake() failed (SSL: error:1408F10B:SSL routines:ssl3_get_record:\
                 wrong version number error:140940E5:SSL routines:ssl3_read_bytes:ssl handshake \
                 failure)"
            ),
            "handshake failed: wrong version number, ssl handshake failure"
        );
    }

    #[test]
    fn other_messages_whole() {
        assert_eq!(
            reason_of_log_line(
                "2026/12/07 01:52:06 [info] 1234#1234: *9 peer closed connection in SSL \
                 handshake (104: Connection reset by peer)"
            ),
            "peer closed connection in SSL handshake (104: Connection reset by peer)"
        );
        assert_eq!(reason_of_log_line("SSL_new() failed"), "SSL_new() failed");
        assert_eq!(reason_of_log_line("x (SSL: unparsable)"), "x: unparsable");
        assert_eq!(reason_of_log_line(""), "");
    }
}
