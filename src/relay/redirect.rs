//! A callback's redirect to a relay: `on_publish` (or `on_play`) answering 3xx with a
//! `Location` of `rtmp://` or `rtmps://` relays the stream there — a push of the published
//! stream (a pull for a play) — as nginx-rtmp does. With `notify_relay_redirect on`, the
//! local stream takes the MD5 of the URL (32 hex digits) as its name; off, it keeps its own.

use md5::{Digest, Md5};

use super::target::{RelayKind, RelayTarget, TargetError};

/// Whether a `Location` names a relay target rather than a new stream name.
pub fn is_relay_location(location: &str) -> bool {
    let l = location.as_bytes();
    [b"rtmp://".as_slice(), b"rtmps://".as_slice()]
        .iter()
        .any(|p| {
            l.get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p))
        })
}

/// The relay a redirect to `location` starts and the local name of the stream (`name`, or
/// with `rename` the MD5 of the URL).
pub fn relay_redirect(
    kind: RelayKind,
    location: &str,
    name: &str,
    rename: bool,
) -> Result<(RelayTarget, String), TargetError> {
    let target = RelayTarget::parse(kind, location, &[])?;
    let local = if rename {
        Md5::digest(location.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    } else {
        name.to_owned()
    };
    Ok((target, local))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn relay_locations() {
        assert!(is_relay_location("rtmp://h/app/x"));
        assert!(is_relay_location("RTMPS://h:443/app/x"));
        assert!(!is_relay_location("renamed"));
        assert!(!is_relay_location("http://h/x"));
        assert!(!is_relay_location("rtmp:/"));
    }

    #[test]
    fn name_kept_or_md5_of_the_url() {
        let (t, local) = relay_redirect(
            RelayKind::Push,
            "rtmp://127.0.0.1:1940/live/far",
            "cam",
            false,
        )
        .unwrap();
        assert_eq!(local, "cam");
        assert_eq!(t.play_path("cam"), "far");
        assert_eq!(t.app(), "live");
        let (_, local) = relay_redirect(RelayKind::Push, "rtmp://h/a/b", "cam", true).unwrap();
        assert_eq!(local, "35d3c23e65df0242710a03d565c0ace4");
        assert!(relay_redirect(RelayKind::Push, "rtmp://", "cam", false).is_err());
    }
}
