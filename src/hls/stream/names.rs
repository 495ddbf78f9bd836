//! File names and URIs of a stream's segments and initialization segments.

use super::HlsStream;
use crate::files::{uri_escape, RelPath};
use crate::hls::config::FragmentType;
use crate::hls::playlist::SegmentEntry;

/// The id in a segment URI we wrote (`…-17.ts`, `…/17.m4s`), for segments of extension
/// `ext`.
pub(super) fn entry_id_from_uri(uri: &str, ext: &str) -> Option<u64> {
    let stem = uri.strip_suffix(ext)?.strip_suffix('.')?;
    trailing_number(stem)
}

/// The id in an initialization segment URI we wrote (`…-init-17.mp4`, `…/init-17.mp4`).
fn init_id_from_uri(uri: &str) -> Option<u64> {
    let stem = uri.strip_suffix(".mp4")?;
    let id = trailing_number(stem)?;
    let digits = stem.bytes().rev().take_while(u8::is_ascii_digit).count();
    stem.get(..stem.len() - digits)?
        .ends_with("init-")
        .then_some(id)
}

fn trailing_number(stem: &str) -> Option<u64> {
    let digits = stem.bytes().rev().take_while(u8::is_ascii_digit).count();
    let start = stem.len().checked_sub(digits)?;
    stem.get(start..)?.parse().ok()
}

impl HlsStream {
    pub(super) fn segment_path(&self, id: u64) -> RelPath {
        self.segment_path_of(self.config.fragment_type, id)
    }

    /// The path of a listed segment, in the container its URI names (a stream that moved to
    /// fMP4 still lists its MPEG-TS segments for a while).
    pub(super) fn entry_path(&self, e: &SegmentEntry) -> RelPath {
        let ts = FragmentType::MpegTs;
        let kind = if entry_id_from_uri(&e.uri, ts.extension()).is_some() {
            ts
        } else {
            self.config.fragment_type
        };
        self.segment_path_of(kind, e.id)
    }

    /// The path segment `id` has in container `kind`.
    pub(super) fn segment_path_of(&self, kind: FragmentType, id: u64) -> RelPath {
        let ext = kind.extension();
        if self.config.nested {
            RelPath::new(format!("{}/{id}.{ext}", self.name))
        } else {
            RelPath::new(format!("{}-{id}.{ext}", self.name))
        }
    }

    pub(super) fn segment_uri(&self, id: u64) -> String {
        let ext = self.config.fragment_type.extension();
        self.uri_of(&format!("{id}.{ext}"))
    }

    /// Part `index` of segment `id`: `<segment file stem>.<index>.<ext>`, next to it.
    pub(super) fn part_path(&self, id: u64, index: usize) -> RelPath {
        let ext = self.config.fragment_type.extension();
        if self.config.nested {
            RelPath::new(format!("{}/{id}.{index}.{ext}", self.name))
        } else {
            RelPath::new(format!("{}-{id}.{index}.{ext}", self.name))
        }
    }

    pub(super) fn part_uri(&self, id: u64, index: usize) -> String {
        let ext = self.config.fragment_type.extension();
        self.uri_of(&format!("{id}.{index}.{ext}"))
    }

    /// An initialization segment is named after the first segment that needs it, so a
    /// new one (new codecs, a republish) never overwrites one still listed.
    pub(super) fn init_path(&self, id: u64) -> RelPath {
        if self.config.nested {
            RelPath::new(format!("{}/init-{id}.mp4", self.name))
        } else {
            RelPath::new(format!("{}-init-{id}.mp4", self.name))
        }
    }

    pub(super) fn init_uri(&self, id: u64) -> String {
        self.uri_of(&format!("init-{id}.mp4"))
    }

    /// The URI of file `leaf` of the stream (`name-leaf` or `name/leaf`).
    fn uri_of(&self, leaf: &str) -> String {
        let base = &self.config.base_url;
        match (self.config.nested, base.is_empty()) {
            (true, true) => leaf.to_owned(),
            // The base URL maps to hls_path, so it needs the directory.
            (true, false) => format!("{base}{}/{leaf}", uri_escape(&self.name)),
            (false, _) => format!("{base}{}-{leaf}", uri_escape(&self.name)),
        }
    }

    /// The distinct initialization segments named by `entries`, as paths.
    pub(super) fn init_paths<'a>(
        &self,
        entries: impl Iterator<Item = &'a SegmentEntry>,
    ) -> Vec<RelPath> {
        let mut ids: Vec<u64> = entries
            .filter_map(|e| e.map.as_deref().and_then(init_id_from_uri))
            .collect();
        ids.dedup();
        ids.into_iter().map(|id| self.init_path(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_from_uris() {
        assert_eq!(entry_id_from_uri("live-17.ts", "ts"), Some(17));
        assert_eq!(entry_id_from_uri("http://x/a/17.m4s", "m4s"), Some(17));
        assert_eq!(entry_id_from_uri("live-17.m4s", "ts"), None);
        assert_eq!(entry_id_from_uri("live-.ts", "ts"), None);
        assert_eq!(init_id_from_uri("live-init-3.mp4"), Some(3));
        assert_eq!(init_id_from_uri("live/init-3.mp4"), Some(3));
        assert_eq!(init_id_from_uri("live-3.mp4"), None);
    }
}
