//! What readers and writers both need of a slot besides its state word: its key, and which
//! of its sequence-header copies is which.

use super::layout::{align8, Layout, MAX_KEY, S_KEY, S_KEY_LEN};
use super::region::Region;

/// Which sequence-header copy (for players that join late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderKind {
    /// The latest `onMetaData` (data message body).
    Metadata = 0,
    /// The latest video sequence header (AVC/HEVC decoder configuration tag body).
    Video = 1,
    /// The latest audio sequence header (AAC AudioSpecificConfig tag body).
    Audio = 2,
}

/// Reads the key of `slot` into `buf` (validated length). No consistency check: callers
/// re-check the state word afterwards.
pub fn read_key<'a, R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    slot: usize,
    buf: &'a mut [u8; MAX_KEY],
) -> Option<&'a [u8]> {
    let base = layout.slot_base(slot);
    let len = region.load(base + S_KEY_LEN);
    if len == 0 || len > MAX_KEY as u64 {
        return None;
    }
    let len = len as usize;
    let words = buf.get_mut(..align8(len))?;
    region.read(base + S_KEY, words);
    buf.get(..len)
}

/// Whether `slot`'s key equals `key` (racy: see [`read_key`]).
pub fn key_matches<R: Region + ?Sized>(
    region: &R,
    layout: &Layout,
    slot: usize,
    key: &str,
) -> bool {
    let mut buf = [0u8; MAX_KEY];
    read_key(region, layout, slot, &mut buf) == Some(key.as_bytes())
}
