//! Master playlists of variant groups ([`VariantGroup`]), shared by `hls_variant` and
//! transcoded renditions.
//!
//! Every member's HLS output writes its status file after each playlist write and when it
//! finishes ([`HlsStream::set_group_member`](crate::hls::HlsStream::set_group_member)); right
//! after such a write, the member's worker calls [`refresh`], which reads the status files of
//! all the group's members — whichever worker they publish on — and rewrites the master when
//! its text changes (temp file + rename, the temp name unique to the process so that workers
//! never write into one another's), or removes it when no member is live.
//!
//! Refreshes of one group are serialised by an advisory lock on a hidden file beside the
//! master (`.cam.m3u8.lock`, held for the few file operations of one refresh): a member writes
//! its status before it takes the lock, so the last refresh always sees every member's last
//! status, and two workers finishing members at the same instant cannot leave a master that
//! lists one of them. The lock dies with its holder, so a killed worker never blocks the group.
//!
//! With Low-Latency HLS a member's playlist reports on the other members
//! (`#EXT-X-RENDITION-REPORT`): [`PlaylistPeers`] reads their playlists as they are on disk
//! when the member writes its own. The playlists themselves are the channel, so a report is
//! never ahead of the playlist it describes and nothing more is written per part.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::file_ops::{join, now};
use crate::files::Now;
use crate::hls::variant::MAX_STATUS_LEN;
use crate::hls::{
    playlist_progress, status_path, GroupMember, HlsConfig, HlsStream, MemberStatus, PeerProgress,
    RenditionBoard, VariantGroup,
};

/// What [`refresh`] did to the master playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterChange {
    Unchanged,
    Written,
    /// No member is live.
    Removed,
}

/// Rewrites the master playlist of `group` under `root` (the application's `hls_path`) from
/// the status files of its members. Call it after a member's status file was written (the
/// shell does for every HLS output attached with a group).
pub fn refresh(root: &Path, group: &VariantGroup, now: Now) -> io::Result<MasterChange> {
    let master = join(root, group.master_path().as_str())?;
    let lock = lock_file(&master)?;
    lock.lock()?;
    let change = refresh_locked(root, &master, group, now);
    let _ = lock.unlock();
    change
}

fn refresh_locked(
    root: &Path,
    master: &Path,
    group: &VariantGroup,
    now: Now,
) -> io::Result<MasterChange> {
    let statuses: Vec<Option<MemberStatus>> =
        group.members.iter().map(|m| read_status(root, m)).collect();
    match group.render_master(&statuses, now.unix_ms) {
        Some(text) => {
            if fs::read(master).is_ok_and(|old| old == text.as_bytes()) {
                return Ok(MasterChange::Unchanged);
            }
            write_atomic(master, text.as_bytes())?;
            Ok(MasterChange::Written)
        }
        None => match fs::remove_file(master) {
            Ok(()) => Ok(MasterChange::Removed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(MasterChange::Unchanged),
            Err(e) => Err(e),
        },
    }
}

/// A member's status; a missing, oversized or unreadable file is `None` (not live).
fn read_status(root: &Path, member: &GroupMember) -> Option<MemberStatus> {
    let path = join(root, status_path(&member.name).as_str()).ok()?;
    let mut text = String::new();
    File::open(path)
        .ok()?
        .take(MAX_STATUS_LEN as u64 + 1)
        .read_to_string(&mut text)
        .ok()?;
    MemberStatus::parse(&text)
}

/// `dir/.NAME.SUFFIX` for `dir/NAME`: hidden, beside it.
fn beside(path: &Path, suffix: &str) -> io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    hidden.push(suffix);
    Ok(path.with_file_name(hidden))
}

fn lock_file(master: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(beside(master, ".lock")?)
}

fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = beside(path, &format!(".{}.tmp", std::process::id()))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(contents)?;
    drop(f);
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Largest member playlist read for a report (a live one is a few KB; an event playlist of
/// hours is some hundreds).
const MAX_PLAYLIST_LEN: u64 = 1 << 20;

/// The progress of a group's members, read from their playlists under `hls_path`.
struct PlaylistPeers {
    /// Each member's name and playlist.
    playlists: Vec<(String, PathBuf)>,
    /// The text of the playlist being read, kept for the next read.
    buf: RefCell<String>,
}

impl PlaylistPeers {
    fn read(&self, path: &Path) -> Option<(u64, u64)> {
        let mut f = File::open(path).ok()?;
        let modified = f.metadata().ok()?.modified().ok()?;
        let modified_ms =
            u64::try_from(modified.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
        let mut text = self.buf.try_borrow_mut().ok()?;
        text.clear();
        (&mut f)
            .take(MAX_PLAYLIST_LEN + 1)
            .read_to_string(&mut text)
            .ok()?;
        if text.len() as u64 > MAX_PLAYLIST_LEN {
            return None;
        }
        let progress = playlist_progress(&text)?;
        // A playlist no longer rewritten is a member whose worker stopped.
        let age = now().unix_ms.saturating_sub(modified_ms);
        (age <= progress.stale_after_ms()).then_some(progress.last)
    }
}

impl PeerProgress for PlaylistPeers {
    fn last_of(&self, name: &str) -> Option<(u64, u64)> {
        let (_, path) = self.playlists.iter().find(|(n, _)| n == name)?;
        self.read(path)
    }
}

/// The rendition board of a member of `group` whose members publish on their own (maybe on
/// other workers): their playlists under `root` are read at each of its playlist writes.
pub fn peer_board(config: &HlsConfig, root: &Path, group: &VariantGroup) -> RenditionBoard {
    let playlists = group
        .members
        .iter()
        .filter_map(|m| {
            let rel = HlsStream::playlist_path_of(config, &m.name).ok()?;
            Some((m.name.clone(), join(root, rel.as_str()).ok()?))
        })
        .collect::<Vec<_>>();
    let names = playlists.iter().map(|(n, _)| n.clone()).collect();
    RenditionBoard::of_peers(
        names,
        Box::new(PlaylistPeers {
            playlists,
            buf: RefCell::default(),
        }),
    )
}
