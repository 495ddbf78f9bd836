use bytes::Bytes;

use super::path::RelPath;

/// The times the core needs, supplied by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// A monotonic clock in ms (nginx's `ngx_current_msec`): deadlines of
    /// [`FileOp::Delete`] are on this clock.
    pub monotonic_ms: u64,
    /// Wall clock, Unix ms: used by `hls_fragment_naming system` and
    /// `#EXT-X-PROGRAM-DATE-TIME`.
    pub unix_ms: u64,
}

/// File operations for the shell, relative to the output's directory
/// (`hls_path`, `dash_path`, `record_path`), to be executed in the order an output's
/// `poll_op` returns them.
///
/// Contract:
/// - At most one segment is open at a time. `AppendSegment` always targets
///   the segment of the last `OpenSegment`; `CloseSegment` precedes the
///   `WritePlaylist` that first lists it, so a listed segment is complete.
/// - `WritePlaylist` must be atomic: write a temporary file in the same
///   directory, then rename it over `path`.
/// - `WritePart` (a Low-Latency HLS part, complete when it appears) is written atomically
///   as `WritePlaylist` is, before the `WritePlaylist` that first lists it; the segment's
///   own `AppendSegment`s carry the same bytes.
/// - `Delete` must not run before `not_before_ms` (on [`Now::monotonic_ms`]).
///   A pending delete is void when a later `OpenSegment` or `WritePlaylist`
///   names the same path, or a `CancelDelete` for it arrives. (A shell that
///   cannot see other workers' pending deletes should also skip a delete
///   whose file was modified after the delete was scheduled.) A missing file
///   is not an error.
/// - Recordings: at most one recording is open per output at a time.
///   `OpenRecording` creates its temporary `part` file (a stale file of that
///   name, left by a crash, is truncated) and makes it the current recording.
///   `AppendRecording` appends to the current recording's end.
///   `WriteRecordingAt` overwrites bytes already appended
///   (`offset + data.len()` never exceeds the bytes appended so far) without
///   moving the append position. `FinishRecording` closes the current
///   recording and renames `part` to `path` without ever replacing a file:
///   when `path` exists, the shell uses the first free name of
///   `<stem>-1.<ext>`, `<stem>-2.<ext>`, ... in the same directory, and
///   reports the name it used (record-done notifications and `exec` take it).
///   A write that fails ends the recording: the shell drops the output's
///   following recording ops up to the next `OpenRecording` or
///   `ResumeRecording` and leaves the part file where it is.
/// - `ResumeRecording` (`record_append`) opens a recording like
///   `OpenRecording`, continuing the file at `path` when there is one: the
///   shell renames `path` to `part` (replacing a stale part file) and opens
///   it for appending; when `path` does not exist (or the rename fails) it
///   creates or truncates `part` as `OpenRecording` does. Then, before it
///   asks the output for its next op, it reports through the recorder's
///   `RecordHandle::resume`: `Some(Existing)` with the length, the first
///   `RESUME_HEAD_BYTES` and the last tag's header of the file it took over,
///   `None` for a new empty file. Appends then go to the file's end and
///   `WriteRecordingAt` may rewrite any of its bytes (the old ones included).
///   If the file cannot be continued, the output follows with
///   `FinishRecording` (the file goes back to `path` untouched) and a new
///   `OpenRecording`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// Create the directory if it does not exist (nested layout).
    CreateDir { path: RelPath },
    /// Create or truncate a segment file and make it the current one.
    OpenSegment { path: RelPath },
    /// Append bytes to the current segment.
    AppendSegment { data: Bytes },
    /// Close the current segment; it is complete on disk.
    CloseSegment { path: RelPath },
    /// Replace the playlist atomically (temp file + rename).
    WritePlaylist { path: RelPath, contents: Bytes },
    /// Write a partial segment's file atomically (temp file + rename).
    WritePart { path: RelPath, contents: Bytes },
    /// Remove a file, not before the deadline.
    Delete { path: RelPath, not_before_ms: u64 },
    /// Forget a pending `Delete` of this path (the stream resumed).
    CancelDelete { path: RelPath },
    /// Create (or truncate) the recording's temporary file; it becomes the
    /// current recording.
    OpenRecording { part: RelPath },
    /// Append bytes at the end of the current recording.
    AppendRecording { data: Bytes },
    /// Open the recording's temporary file by taking over the final file
    /// `path` when it exists (`record_append`), then report what was found
    /// through `RecordHandle::resume` (see the contract above).
    ResumeRecording { part: RelPath, path: RelPath },
    /// Overwrite bytes of the current recording at `offset` (already written
    /// bytes only; the append position does not move).
    WriteRecordingAt { offset: u64, data: Bytes },
    /// Close the current recording and rename `part` to `path`, never over an
    /// existing file (see the contract above).
    FinishRecording { part: RelPath, path: RelPath },
}
