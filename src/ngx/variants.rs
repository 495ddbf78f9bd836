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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::file_ops::join;
use crate::files::Now;
use crate::hls::variant::MAX_STATUS_LEN;
use crate::hls::{status_path, GroupMember, MemberStatus, VariantGroup};

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
