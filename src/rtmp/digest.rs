//! HMAC-SHA256 helpers of the Flash "digest" handshake, usable for both
//! roles (the server uses them on C1/S1/S2; tests and a future client role
//! use them to build and check packets).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length of an HMAC-SHA256 digest.
pub const DIGEST_LEN: usize = 32;

/// "Genuine Adobe Flash Player 001" followed by the 32-byte tail.
pub const FP_KEY: &[u8] = b"Genuine Adobe Flash Player 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// The first 30 bytes of [`FP_KEY`]: signs C1.
pub const FP_PARTIAL_KEY: &[u8] = b"Genuine Adobe Flash Player 001";
/// "Genuine Adobe Flash Media Server 001" followed by the 32-byte tail.
pub const FMS_KEY: &[u8] = b"Genuine Adobe Flash Media Server 001\
    \xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
    \x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// The first 36 bytes of [`FMS_KEY`]: signs S1.
pub const FMS_PARTIAL_KEY: &[u8] = b"Genuine Adobe Flash Media Server 001";

/// HMAC-SHA256 of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length; the error branch is unreachable but
    // handled without panicking.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; DIGEST_LEN];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Offset of the digest in a 1536-byte packet for `scheme` 0 (offset bytes
/// at 8) or 1 (at 772). `None` if the packet is too short.
pub fn digest_offset(packet: &[u8], scheme: u8) -> Option<usize> {
    let base: usize = if scheme == 0 { 8 } else { 772 };
    let sum: usize = packet
        .get(base..base + 4)?
        .iter()
        .map(|b| usize::from(*b))
        .sum();
    let offset = sum % 728 + base + 4;
    (offset + DIGEST_LEN <= packet.len()).then_some(offset)
}

/// The digest of `packet` with the 32 bytes at `offset` left out.
pub fn packet_digest(packet: &[u8], offset: usize, key: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let before = packet.get(..offset)?;
    let after = packet.get(offset.checked_add(DIGEST_LEN)?..)?;
    Some(hmac_sha256(key, &[before, after]))
}

/// Looks for a valid client digest in C1 (scheme 0 first, then 1). Returns
/// the scheme and the digest.
pub fn find_client_digest(c1: &[u8]) -> Option<(u8, [u8; DIGEST_LEN])> {
    find_digest(c1, FP_PARTIAL_KEY)
}

/// Looks for a digest made with `key` in a C1/S1-style packet.
pub fn find_digest(packet: &[u8], key: &[u8]) -> Option<(u8, [u8; DIGEST_LEN])> {
    [0u8, 1u8].into_iter().find_map(|scheme| {
        let offset = digest_offset(packet, scheme)?;
        let expected = packet_digest(packet, offset, key)?;
        let found = packet.get(offset..offset + DIGEST_LEN)?;
        (found == expected).then_some((scheme, expected))
    })
}

/// Writes the digest of `packet` (made with `key`) at the position given by
/// `scheme`.
pub fn sign_packet(packet: &mut [u8], scheme: u8, key: &[u8]) {
    let Some(offset) = digest_offset(packet, scheme) else {
        return;
    };
    let Some(d) = packet_digest(packet, offset, key) else {
        return;
    };
    if let Some(slot) = packet.get_mut(offset..offset + DIGEST_LEN) {
        slot.copy_from_slice(&d);
    }
}

/// Signs an S2/C2-style response: its last 32 bytes become the HMAC of the
/// rest, keyed with HMAC(`full_key`, `peer_digest`).
pub fn sign_response(packet: &mut [u8], peer_digest: &[u8], full_key: &[u8]) {
    let Some(split) = packet.len().checked_sub(DIGEST_LEN) else {
        return;
    };
    let key = hmac_sha256(full_key, &[peer_digest]);
    let d = hmac_sha256(&key, &[packet.get(..split).unwrap_or(&[])]);
    if let Some(slot) = packet.get_mut(split..) {
        slot.copy_from_slice(&d);
    }
}

/// Checks a response signed by [`sign_response`].
pub fn verify_response(packet: &[u8], peer_digest: &[u8], full_key: &[u8]) -> bool {
    let Some(split) = packet.len().checked_sub(DIGEST_LEN) else {
        return false;
    };
    let key = hmac_sha256(full_key, &[peer_digest]);
    let d = hmac_sha256(&key, &[packet.get(..split).unwrap_or(&[])]);
    packet.get(split..) == Some(&d[..])
}
