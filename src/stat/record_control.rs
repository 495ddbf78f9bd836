//! `/control/record/start|stop?srv=&app=&name=&rec=`: nginx-rtmp's manual recording through
//! the control API, answered whichever worker holds the publisher.
//!
//! The answer is nginx-rtmp's: `200` with the path of the file (`record_path`, `/`, file
//! name) as the body, `204` when there is none (no such publisher, nothing recorded, a
//! recorder that is not `manual`), `500` for a recorder the application does not have or a
//! server index out of range. Two differences, both deliberate: `start` while a file is open
//! answers that file (nginx-rtmp answers `204`), and a command that matches several
//! publishers answers one path per line (nginx-rtmp answers the last one only).
//!
//! Which worker answers is nginx's choice, and the publisher may be on another one. The
//! answering worker decides the answer alone, from what it already has, and needs no reply:
//! - a publisher of its own: it calls the recorder's handle, whose answer is exact;
//! - a publisher of another worker: the answer comes from that worker's latest snapshot on
//!   the stat board (which names each recorder's current or pending file). For a `start`
//!   with no file yet, the answering worker builds the name itself from the same
//!   configuration and the present second, and the command it posts to the other workers'
//!   mailboxes carries that second ([`RecordCommand::at_unix_s`]): the publisher's worker
//!   starts with exactly that name time, so the file opened is the file answered.
//!
//! The trade-off against a request/reply exchange over the board (an nginx timer holding the
//! request until the publisher's worker replies): no waiting request, no timeout, no reply
//! slot to manage, and the same answer whichever worker replies — at the cost of a window of
//! about one snapshot publish (10 ms after a change, the mailbox is read every 100 ms) in
//! which a second command on a third worker does not yet see the first one's effect: a
//! `stop` right after a remote `start` may answer `204` (the stop is executed all the same,
//! in order), and two `start`s in different seconds with a time-dependent name
//! (`record_unique`, a `%` suffix) may answer names a second apart (the first one wins).
//! With the default suffix the name does not depend on time and every answer is exact.

use super::control_error::{bad, ControlError};
use super::model::{RecorderStat, StreamStat};
use crate::files::RelPath;
use crate::record::RecordConfig;

/// The first byte of a record command in a mailbox (drops start with 1 to 3).
const TAG_START: u8 = 0x10;
const TAG_STOP: u8 = 0x11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAction {
    Start,
    Stop,
}

/// A record request, executable by every worker against its own publishers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCommand {
    pub action: RecordAction,
    /// The `server {}` index: nginx-rtmp's `srv`, 0 when absent.
    pub srv: u32,
    /// The application; every application of the server when absent.
    pub app: Option<String>,
    /// The stream; every published stream of the applications when absent.
    pub name: Option<String>,
    /// The recorder: a `recorder` block's name, empty for the application's own `record`.
    pub rec: String,
    /// Start: the Unix second a new file is named after, chosen by the answering worker.
    pub at_unix_s: i64,
}

/// The path nginx-rtmp answers for a file `name` of a recorder writing under `dir`.
pub fn full_path(dir: &str, name: &RelPath) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name.as_str())
}

impl RecordCommand {
    /// Parses `action` (`start` or `stop`) and the query's values (`get` answers a key's
    /// non-empty value). `at_unix_s` is the name time of a start.
    pub fn parse(
        action: &str,
        get: impl Fn(&str) -> Option<String>,
        at_unix_s: i64,
    ) -> Result<RecordCommand, ControlError> {
        let action = match action {
            "start" => RecordAction::Start,
            "stop" => RecordAction::Stop,
            other => {
                return Err(bad(format!(
                    "unknown record method \"{other}\" (start, stop)"
                )))
            }
        };
        let srv = match get("srv") {
            Some(s) => s.parse::<u32>().map_err(|_| bad("srv must be a number"))?,
            None => 0,
        };
        Ok(RecordCommand {
            action,
            srv,
            app: get("app"),
            name: get("name"),
            rec: get("rec").unwrap_or_default(),
            at_unix_s,
        })
    }

    /// Whether the command is for the stream `name` of `app` in server `server`.
    pub fn matches(&self, server: u32, app: &str, name: &str) -> bool {
        server == self.srv
            && self.app.as_deref().is_none_or(|a| a == app)
            && self.name.as_deref().is_none_or(|n| n == name)
    }

    /// The answer for one recorder of a stream published on another worker, from that
    /// worker's snapshot `r` of it; `config` is the recorder's configuration and `dir` its
    /// `record_path`. Mirrors what [`RecordHandle`](crate::record::RecordHandle) answers on
    /// the publisher's worker.
    pub fn remote_answer(
        &self,
        stream: &str,
        r: &RecorderStat,
        config: &RecordConfig,
        dir: &str,
    ) -> Option<String> {
        if !r.path.is_empty() {
            return Some(r.path.clone());
        }
        match self.action {
            RecordAction::Stop => None,
            RecordAction::Start if !config.mode.manual => None,
            RecordAction::Start => Some(full_path(dir, &config.file_name(stream, self.at_unix_s))),
        }
    }

    /// The answers for the streams of other workers' snapshots (`streams`, merged or not; a
    /// stream whose publisher is not among them is skipped). `recorder` gives a recorder's
    /// configuration and directory by server, application and recorder name, `None` when
    /// the application has no such recorder: nginx-rtmp's "Recorder not found", a 500.
    pub fn remote_answers<'a, 'c>(
        &self,
        streams: impl IntoIterator<Item = &'a StreamStat>,
        recorder: impl Fn(u32, &str, &str) -> Option<(&'c RecordConfig, &'c str)>,
    ) -> Result<Vec<String>, ControlError> {
        let mut out = Vec::new();
        for s in streams {
            if !s.publishing || !self.matches(s.server, &s.app, &s.name) {
                continue;
            }
            let found = recorder(s.server, &s.app, &self.rec).and_then(|(config, dir)| {
                let r = s.recorders.iter().find(|r| r.id == self.rec)?;
                Some((r, config, dir))
            });
            let Some((r, config, dir)) = found else {
                return Err(not_found());
            };
            out.extend(self.remote_answer(&s.name, r, config, dir));
        }
        Ok(out)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![match self.action {
            RecordAction::Start => TAG_START,
            RecordAction::Stop => TAG_STOP,
        }];
        let flags = u8::from(self.app.is_some()) | (u8::from(self.name.is_some()) << 1);
        out.push(flags);
        out.extend_from_slice(&self.srv.to_le_bytes());
        out.extend_from_slice(&self.at_unix_s.to_le_bytes());
        for s in [
            self.app.as_deref().unwrap_or_default(),
            self.name.as_deref().unwrap_or_default(),
            &self.rec,
        ] {
            let n = s.len().min(u16::MAX as usize);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.extend_from_slice(s.as_bytes().get(..n).unwrap_or_default());
        }
        out
    }

    /// A record command from a mailbox entry; `None` for anything else (a drop, garbage).
    pub fn decode(b: &[u8]) -> Option<RecordCommand> {
        let action = match *b.first()? {
            TAG_START => RecordAction::Start,
            TAG_STOP => RecordAction::Stop,
            _ => return None,
        };
        let flags = *b.get(1)?;
        let srv = u32::from_le_bytes(b.get(2..6)?.try_into().ok()?);
        let at_unix_s = i64::from_le_bytes(b.get(6..14)?.try_into().ok()?);
        let mut rest = b.get(14..)?;
        let mut strs = Vec::with_capacity(3);
        for _ in 0..3 {
            let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
            strs.push(std::str::from_utf8(rest.get(2..2 + n)?).ok()?.to_owned());
            rest = rest.get(2 + n..)?;
        }
        let mut strs = strs.into_iter();
        let (app, name, rec) = (strs.next()?, strs.next()?, strs.next()?);
        Some(RecordCommand {
            action,
            srv,
            app: (flags & 1 != 0).then_some(app),
            name: (flags & 2 != 0).then_some(name),
            rec,
            at_unix_s,
        })
    }
}

/// nginx-rtmp's answer for a recorder the application does not have.
pub fn not_found() -> ControlError {
    ControlError {
        status: 500,
        reason: "Recorder not found".into(),
    }
}

/// nginx-rtmp's answer for `srv` past the last `server {}`.
pub fn server_out_of_range() -> ControlError {
    ControlError {
        status: 500,
        reason: "Server index out of range".into(),
    }
}

/// The HTTP answer from the paths gathered: 200 with the paths one per line (no final line
/// feed, so one path is exactly nginx-rtmp's body), 204 with none.
pub fn answer(paths: &[String]) -> (u16, String) {
    if paths.is_empty() {
        (204, String::new())
    } else {
        (200, paths.join("\n"))
    }
}
