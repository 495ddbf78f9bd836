//! Executes a recorder's file operations under its `record_path`: the file being written is
//! `<name>.part` (created 0644, a stale one truncated; `flock`ed while written when
//! `record_lock` is on), appended to once per operation, its metadata rewritten in place
//! (`pwrite`), and renamed to its final name when finished — never over an existing file
//! (`<stem>-1.<ext>`, `-2`, ... are tried instead). `record_append` takes the final file
//! over as the part file and tells the recorder what it holds ([`Existing`]). A failed write ends that file: the
//! following operations of it are dropped up to the next `OpenRecording`, and the part file
//! stays where it is.

use std::ffi::CString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::file_ops::{create, join};
use crate::files::FileOp;
use crate::record::{last_tag_offset, Existing, RESUME_HEAD_BYTES};

/// How many `-<n>` names are tried before a finished file is left under its part name.
const MAX_ALTERNATIVE_NAMES: u32 = 10_000;

/// What an executed operation did that the stream's publisher and the application hear of.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A file opened; `path` is the name it will get when finished.
    Opened {
        path: PathBuf,
        /// `record_lock on` and the lock could not be taken (the file is written anyway).
        lock_failed: Option<String>,
    },
    /// `ResumeRecording`: a file opened as `Opened` does, continuing the existing file at
    /// `path` when there was one (`existing`, for the recorder).
    Resumed {
        path: PathBuf,
        lock_failed: Option<String>,
        existing: Option<Existing>,
    },
    /// A file is finished, under `path` (the full path of the name it got).
    Finished { path: PathBuf },
}

/// A recording operation that failed: the file (its part name) and the system error.
#[derive(Debug)]
pub struct RecordError {
    pub file: PathBuf,
    pub error: io::Error,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\": {}", self.file.display(), self.error)
    }
}

/// The file being written.
struct Current {
    file: File,
    part: PathBuf,
}

enum State {
    /// No file open.
    Idle,
    Writing(Current),
    /// The current file failed: its operations are dropped until the next open.
    Failed,
}

/// Executes one recorder's operations in order under `root`.
pub struct RecordWriter {
    root: PathBuf,
    lock: bool,
    state: State,
}

impl RecordWriter {
    pub fn new(root: PathBuf, lock: bool) -> RecordWriter {
        RecordWriter {
            root,
            lock,
            state: State::Idle,
        }
    }

    /// Executes one recording operation. An error ends the current file (the caller logs
    /// it once); the writer is ready for the next `OpenRecording`.
    pub fn execute(&mut self, op: FileOp) -> Result<Option<Recorded>, RecordError> {
        match op {
            FileOp::OpenRecording { part } => {
                // A file still open here was abandoned by its recorder: it stays a part.
                self.state = State::Idle;
                let p = self.path(part.as_str())?;
                let file = create(&p).map_err(|error| RecordError {
                    file: p.clone(),
                    error,
                })?;
                let lock_failed = if self.lock {
                    lock(&file).err().map(|e| e.to_string())
                } else {
                    None
                };
                let path = final_name(&p);
                self.state = State::Writing(Current { file, part: p });
                Ok(Some(Recorded::Opened { path, lock_failed }))
            }
            FileOp::ResumeRecording { part, path } => {
                self.state = State::Idle;
                let p = self.path(part.as_str())?;
                let wanted = self.path(path.as_str())?;
                let fail = |error| RecordError {
                    file: p.clone(),
                    error,
                };
                // The final file becomes the part file (a stale part is replaced); without
                // one (or when the rename fails) the part file starts empty.
                let taken = std::fs::rename(&wanted, &p).is_ok();
                let (file, existing) = if taken {
                    let mut file = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&p)
                        .map_err(fail)?;
                    let existing = existing(&mut file).map_err(fail)?;
                    file.seek(SeekFrom::End(0)).map_err(fail)?;
                    (file, Some(existing))
                } else {
                    (create(&p).map_err(fail)?, None)
                };
                let lock_failed = if self.lock {
                    lock(&file).err().map(|e| e.to_string())
                } else {
                    None
                };
                self.state = State::Writing(Current { file, part: p });
                Ok(Some(Recorded::Resumed {
                    path: wanted,
                    lock_failed,
                    existing,
                }))
            }
            FileOp::AppendRecording { data } => {
                self.write(|c| c.file.write_all(&data))?;
                Ok(None)
            }
            FileOp::WriteRecordingAt { offset, data } => {
                self.write(|c| c.file.write_all_at(&data, offset))?;
                Ok(None)
            }
            FileOp::FinishRecording { path, .. } => {
                let State::Writing(c) = std::mem::replace(&mut self.state, State::Idle) else {
                    return Ok(None);
                };
                let wanted = self.path(path.as_str())?;
                let fail = |error| RecordError {
                    file: c.part.clone(),
                    error,
                };
                let used = rename_no_replace(&c.part, &wanted).map_err(fail)?;
                // Closing releases the lock, once the file has its final name.
                drop(c);
                Ok(Some(Recorded::Finished { path: used }))
            }
            // Not a recording's operation: the executor is misattached.
            other => Err(RecordError {
                file: self.root.clone(),
                error: io::Error::other(format!("not a recording operation: {other:?}")),
            }),
        }
    }

    fn path(&mut self, rel: &str) -> Result<PathBuf, RecordError> {
        join(&self.root, rel).map_err(|error| {
            self.state = State::Failed;
            RecordError {
                file: self.root.join(rel),
                error,
            }
        })
    }

    /// Runs `f` on the current file; a failure ends it. Nothing open (or failed): dropped.
    fn write(&mut self, f: impl FnOnce(&mut Current) -> io::Result<()>) -> Result<(), RecordError> {
        let State::Writing(c) = &mut self.state else {
            return Ok(());
        };
        if let Err(error) = f(c) {
            let file = c.part.clone();
            self.state = State::Failed;
            return Err(RecordError { file, error });
        }
        Ok(())
    }
}

/// What a file taken over for `record_append` holds, as `ResumeRecording`'s contract asks:
/// its length, first bytes, and the header of the tag its last four bytes point at.
fn existing(file: &mut File) -> io::Result<Existing> {
    let len = file.metadata()?.len();
    let head_len = usize::try_from(len).map_or(RESUME_HEAD_BYTES, |l| l.min(RESUME_HEAD_BYTES));
    let mut head = vec![0; head_len];
    file.read_exact_at(&mut head, 0)?;
    let mut trailer = [0u8; 4];
    let last_tag = match len.checked_sub(4) {
        Some(at) => {
            file.read_exact_at(&mut trailer, at)?;
            last_tag_offset(len, trailer).and_then(|at| {
                let mut h = [0u8; 11];
                file.read_exact_at(&mut h, at).ok().map(|()| (at, h))
            })
        }
        None => None,
    };
    Ok(Existing {
        len,
        head: head.into(),
        last_tag,
    })
}

/// `record_lock`: an exclusive lock another process can test (`flock -n`); never waits.
fn lock(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor this `File` owns; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The name a part file gets when finished: without its `.part`.
fn final_name(part: &Path) -> PathBuf {
    match part.to_str().and_then(|s| s.strip_suffix(".part")) {
        Some(s) => PathBuf::from(s),
        None => part.to_path_buf(),
    }
}

/// `<stem>-<n>.<ext>` beside `path` (`<name>-<n>` without an extension).
fn alternative(path: &Path, n: u32) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// Renames `from` to `to`, or to the first free alternative name when `to` exists; returns
/// the name used.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<PathBuf> {
    let mut target = to.to_path_buf();
    for n in 1..=MAX_ALTERNATIVE_NAMES {
        match rename_once(from, &target) {
            Ok(()) => return Ok(target),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => target = alternative(to, n),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::EEXIST))
}

/// One rename that never replaces: `renameat2(RENAME_NOREPLACE)`, or where the filesystem
/// does not support it, a hard link (which fails on an existing name) and the unlink of the
/// old name.
fn rename_once(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
    };
    let (cf, ct) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cf.as_ptr(),
            libc::AT_FDCWD,
            ct.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(e),
    }
}

/// The local zone's offset from UTC now, in seconds (for `record_suffix` patterns).
pub fn utc_offset_s() -> i32 {
    // SAFETY: time(NULL) has no preconditions.
    let t = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: an all-zero `tm` is a valid value of the plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`, which lives across the call.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return 0;
    }
    i32::try_from(tm.tm_gmtoff).unwrap_or(0)
}
