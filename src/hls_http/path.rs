//! Which file of which `hls_path` a request names. The path after the location prefix is
//! checked to be a plain relative path to a playlist, segment, part or initialization segment
//! (nothing else of `hls_path` is served, nothing outside it is ever named); the shell then
//! tries it in each application's directory in [`candidates`] order and refuses what resolves
//! outside the directory (symbolic links).

use std::fmt;

/// Longest accepted path after the location prefix.
pub const MAX_PATH_LEN: usize = 1024;
/// Most directory levels under `hls_path` a request may name (`app/stream/file`).
const MAX_DEPTH: usize = 4;

/// What a served file is; it decides the content type and caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Playlist,
    /// A media segment (`.ts`, `.m4s`).
    Segment,
    /// A partial segment, `<segment stem>.<index>.<ext>`.
    Part,
    /// An initialization segment (`.mp4`).
    Init,
}

impl FileKind {
    /// Playlists change at every new part or segment: never cached. Media files never
    /// change once listed: cacheable.
    pub fn cache_control(self) -> &'static str {
        match self {
            FileKind::Playlist => "no-cache",
            _ => "max-age=600",
        }
    }
}

/// A checked request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The path relative to an application's directory (or with the application's name
    /// first, see [`candidates`]).
    pub rel: &'a str,
    pub kind: FileKind,
    pub content_type: &'static str,
}

/// Why a request path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// 400: a path no file we write can have (traversal, control bytes, hidden names).
    Bad(&'static str),
    /// 404: not a file type that is served.
    NotFound,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Bad(why) => f.write_str(why),
            PathError::NotFound => f.write_str("not a served file"),
        }
    }
}

impl std::error::Error for PathError {}

/// `name.<digits>` of a segment stem with its part index.
fn is_part_stem(stem: &str) -> bool {
    stem.rsplit_once('.').is_some_and(|(seg, idx)| {
        !seg.is_empty() && !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Checks `rest`, the decoded request path after the location prefix (its leading `/`
/// removed).
pub fn classify(rest: &str) -> Result<Target<'_>, PathError> {
    if rest.is_empty() {
        return Err(PathError::NotFound);
    }
    if rest.len() > MAX_PATH_LEN {
        return Err(PathError::Bad("path too long"));
    }
    if rest.bytes().any(|b| b.is_ascii_control() || b == b'\\') {
        return Err(PathError::Bad("control byte or backslash in path"));
    }
    let mut depth = 0;
    for c in rest.split('/') {
        depth += 1;
        if c.is_empty() {
            return Err(PathError::Bad("empty path component"));
        }
        if c.starts_with('.') {
            return Err(PathError::Bad("path component starting with '.'"));
        }
    }
    if depth > MAX_DEPTH {
        return Err(PathError::Bad("path too deep"));
    }
    let file = rest.rsplit('/').next().unwrap_or(rest);
    let (stem, ext) = file.rsplit_once('.').ok_or(PathError::NotFound)?;
    let (kind, content_type) = match ext {
        "m3u8" => (FileKind::Playlist, "application/vnd.apple.mpegurl"),
        "ts" | "m4s" if is_part_stem(stem) => (FileKind::Part, media_type(ext)),
        "ts" | "m4s" => (FileKind::Segment, media_type(ext)),
        "mp4" => (FileKind::Init, "video/mp4"),
        _ => return Err(PathError::NotFound),
    };
    Ok(Target {
        rel: rest,
        kind,
        content_type,
    })
}

fn media_type(ext: &str) -> &'static str {
    if ext == "ts" {
        "video/mp2t"
    } else {
        "video/iso.segment"
    }
}

/// Where to look for `rel`, in order, as (index in `apps`, path in that application's
/// directory): `<app>/<rest>` in that application's directory first (stream names may be
/// the same in two applications), then the whole path in every application's directory in
/// configuration order.
pub fn candidates<'a>(rel: &'a str, apps: &[&str]) -> Vec<(usize, &'a str)> {
    let mut out = Vec::with_capacity(apps.len() + 1);
    if let Some((first, after)) = rel.split_once('/') {
        if let Some(i) = apps.iter().position(|a| *a == first) {
            out.push((i, after));
        }
    }
    out.extend((0..apps.len()).map(|i| (i, rel)));
    out
}

/// The playlist that lists part `rel` (`cam-12.3.ts` → `cam.m3u8`, nested
/// `cam/12.3.ts` → `cam/index.m3u8`).
pub fn playlist_of_part(rel: &str) -> Option<String> {
    let (dir, file) = match rel.rsplit_once('/') {
        Some((d, f)) => (Some(d), f),
        None => (None, rel),
    };
    let (stem, _ext) = file.rsplit_once('.')?;
    let (segment, _idx) = stem.rsplit_once('.')?;
    let digits = segment.bytes().rev().take_while(u8::is_ascii_digit).count();
    let name = segment.get(..segment.len().checked_sub(digits)?)?;
    match (dir, name) {
        (Some(d), "") => Some(format!("{d}/index.m3u8")),
        (_, "") => None,
        (d, name) => {
            let name = name.strip_suffix('-')?;
            (!name.is_empty()).then(|| match d {
                Some(d) => format!("{d}/{name}.m3u8"),
                None => format!("{name}.m3u8"),
            })
        }
    }
}

/// The stream a playlist belongs to (`cam.m3u8` and `cam/index.m3u8` → `cam`).
pub fn stream_of_playlist(rel: &str) -> &str {
    let mut parts = rel.rsplit('/');
    let file = parts.next().unwrap_or(rel);
    let stem = file.strip_suffix(".m3u8").unwrap_or(file);
    match (stem, parts.next()) {
        ("index", Some(dir)) => dir,
        _ => stem,
    }
}

/// Whether a preload hint URI (as written in the playlist: relative, or absolute with
/// `hls_base_url`) names the part file `rel`.
pub fn hint_names(hint_uri: &str, rel: &str) -> bool {
    let uri = hint_uri.split(['?', '#']).next().unwrap_or(hint_uri);
    let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    !uri.is_empty() && last(uri) == last(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_files_we_write() {
        let k = |p: &str| classify(p).map(|t| (t.kind, t.content_type));
        let mpegurl = "application/vnd.apple.mpegurl";
        assert_eq!(k("cam.m3u8"), Ok((FileKind::Playlist, mpegurl)));
        assert_eq!(k("cam/index.m3u8"), Ok((FileKind::Playlist, mpegurl)));
        assert_eq!(k("cam-12.ts"), Ok((FileKind::Segment, "video/mp2t")));
        assert_eq!(k("cam-12.3.ts"), Ok((FileKind::Part, "video/mp2t")));
        assert_eq!(k("cam/12.3.m4s"), Ok((FileKind::Part, "video/iso.segment")));
        assert_eq!(
            k("cam.v1-12.m4s"),
            Ok((FileKind::Segment, "video/iso.segment"))
        );
        assert_eq!(k("cam-init-3.mp4"), Ok((FileKind::Init, "video/mp4")));
        assert_eq!(k("live/cam.m3u8").map(|x| x.0), Ok(FileKind::Playlist));
        assert_eq!(FileKind::Playlist.cache_control(), "no-cache");
        assert_eq!(FileKind::Part.cache_control(), "max-age=600");
    }

    #[test]
    fn refuses_traversal_and_other_files() {
        use PathError::*;
        for p in [
            "../etc/passwd.m3u8",
            "a/../../x.ts",
            "./cam.m3u8",
            "a//cam.m3u8",
            "/etc/x.m3u8",
            "cam.m3u8/",
            ".hidden.m3u8",
            "cam\0.m3u8",
            "cam\n.m3u8",
            "..\\x.ts",
            "a/b/c/d/e.ts",
        ] {
            assert!(matches!(classify(p), Err(Bad(_))), "{p:?}");
        }
        assert!(matches!(classify(&"a".repeat(2000)), Err(Bad(_))));
        for p in ["", "cam.m3u8.tmp", "passwd", "x.html", "cam.mp3"] {
            assert_eq!(classify(p), Err(NotFound), "{p:?}");
        }
    }

    #[test]
    fn looks_in_the_named_application_first() {
        let apps = ["live", "other"];
        assert_eq!(
            candidates("live/cam.m3u8", &apps),
            vec![(0, "cam.m3u8"), (0, "live/cam.m3u8"), (1, "live/cam.m3u8")]
        );
        assert_eq!(
            candidates("other/cam/index.m3u8", &apps),
            vec![
                (1, "cam/index.m3u8"),
                (0, "other/cam/index.m3u8"),
                (1, "other/cam/index.m3u8")
            ]
        );
        assert_eq!(
            candidates("cam.m3u8", &apps),
            vec![(0, "cam.m3u8"), (1, "cam.m3u8")]
        );
        assert!(candidates("cam.m3u8", &[]).is_empty());
    }

    #[test]
    fn finds_the_playlist_of_a_part() {
        assert_eq!(playlist_of_part("cam-12.3.ts").as_deref(), Some("cam.m3u8"));
        assert_eq!(playlist_of_part("a-b-7.0.m4s").as_deref(), Some("a-b.m3u8"));
        assert_eq!(
            playlist_of_part("live/cam-1.0.ts").as_deref(),
            Some("live/cam.m3u8")
        );
        assert_eq!(
            playlist_of_part("cam/12.3.ts").as_deref(),
            Some("cam/index.m3u8")
        );
        assert_eq!(playlist_of_part("12.3.ts"), None);
        assert_eq!(playlist_of_part("cam12.3.ts"), None);
        assert_eq!(playlist_of_part("cam-12.ts"), None);
    }

    #[test]
    fn names_streams_and_hints() {
        assert_eq!(stream_of_playlist("cam.m3u8"), "cam");
        assert_eq!(stream_of_playlist("live/cam/index.m3u8"), "cam");
        assert_eq!(stream_of_playlist("index.m3u8"), "index");
        assert!(hint_names("cam-9.1.ts", "live/cam-9.1.ts"));
        assert!(hint_names("https://cdn/x/cam-9.1.ts?t=1", "cam-9.1.ts"));
        assert!(!hint_names("cam-9.2.ts", "cam-9.1.ts"));
        assert!(!hint_names("", "cam-9.1.ts"));
    }
}
