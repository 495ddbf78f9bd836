//! `rtmp_control`: nginx-rtmp's control URLs, parsed into a [`Command`] that any worker can
//! execute against its own clients.
//!
//! - `.../drop/publisher|subscriber|client?app=&name=&addr=&clientid=&srv=`
//! - `.../redirect/publisher|subscriber|client?app=&name=&addr=&clientid=&srv=&newname=`:
//!   the matching sessions go on under `newname` (a player plays it, a publisher publishes
//!   under it); answered with how many were redirected
//! - `.../record/start|stop?srv=&app=&name=&rec=` ([`RecordCommand`], answered with the path
//!   of the file)
//!
//! `srv` is the index of the `server {}` block (0 = first); without it every server matches.
//! At least one of `name`, `addr`, `clientid` is required so that a bare URL never drops
//! everyone.

use super::control_error::{bad, ControlError};
use super::record_control::RecordCommand;
use crate::auth::query;

/// Which `rtmp_control` sections a location allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlSections {
    pub drop: bool,
    pub redirect: bool,
    pub record: bool,
}

impl ControlSections {
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut s = ControlSections::default();
        let mut any = false;
        for a in args {
            any = true;
            match a {
                "all" => {
                    s = ControlSections {
                        drop: true,
                        redirect: true,
                        record: true,
                    }
                }
                "drop" => s.drop = true,
                "redirect" => s.redirect = true,
                "record" => s.record = true,
                other => {
                    return Err(format!(
                    "invalid value \"{other}\" in \"rtmp_control\" (all, drop, redirect, record)"
                ))
                }
            }
        }
        if !any {
            return Err(
                "\"rtmp_control\" needs at least one of all, drop, redirect, record".into(),
            );
        }
        Ok(s)
    }
}

/// Whose connections a drop closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Publisher,
    Subscriber,
    Client,
}

impl Subject {
    fn code(self) -> u8 {
        match self {
            Subject::Publisher => 1,
            Subject::Subscriber => 2,
            Subject::Client => 3,
        }
    }

    fn from_code(c: u8) -> Option<Subject> {
        match c {
            1 => Some(Subject::Publisher),
            2 => Some(Subject::Subscriber),
            3 => Some(Subject::Client),
            _ => None,
        }
    }
}

/// A drop request, executable by every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub subject: Subject,
    pub srv: Option<u32>,
    pub app: Option<String>,
    pub name: Option<String>,
    pub addr: Option<String>,
    pub clientid: Option<u64>,
    /// A redirect's new stream name; None for a drop.
    pub newname: Option<String>,
}

/// Which of a client's streams a redirect moves.
#[derive(Debug, Clone, Copy)]
pub struct RedirectWhat<'a> {
    pub publications: bool,
    pub playbacks: bool,
    /// Only the streams of this name (all when None).
    pub name: Option<&'a str>,
}

impl Command {
    /// What a redirect moves of a client it matches.
    pub fn redirect_what(&self) -> RedirectWhat<'_> {
        RedirectWhat {
            publications: matches!(self.subject, Subject::Publisher | Subject::Client),
            playbacks: matches!(self.subject, Subject::Subscriber | Subject::Client),
            name: self.name.as_deref(),
        }
    }
}

/// What a client of one worker looks like to a command.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a> {
    pub server: u32,
    pub app: &'a str,
    pub addr: &'a str,
    pub id: u64,
    /// The client publishes this stream name (of `app`).
    pub publishing: Option<&'a str>,
    /// The client plays this stream name.
    pub playing: Option<&'a str>,
}

/// A control request: a drop, a redirect (a [`Command`] with `newname`) or a record command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Drop(Command),
    Redirect(Command),
    Record(RecordCommand),
}

/// Longest `newname` of a redirect.
const MAX_NEWNAME: usize = 256;

impl Control {
    /// Parses the request path (its last two segments are `action/subject`, or
    /// `record/method`) and query. `now_unix_s` names the file of a record start.
    pub fn parse(
        path: &str,
        args: &str,
        allowed: ControlSections,
        now_unix_s: i64,
    ) -> Result<Control, ControlError> {
        let mut segs = path.trim_end_matches('/').rsplit('/');
        let subject = segs.next().unwrap_or_default();
        let action = segs.next().unwrap_or_default();
        let pairs = query::parse(args).ok_or_else(|| bad("malformed query string"))?;
        let get = |k: &str| -> Option<String> {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let newname = match action {
            "drop" if allowed.drop => None,
            "redirect" if allowed.redirect => {
                let n = get("newname").ok_or_else(|| bad("redirect needs newname"))?;
                match crate::rtmp::name::parse_stream_name(&n, MAX_NEWNAME) {
                    Ok(p) if p.args.is_empty() && p.name == n => Some(n),
                    _ => return Err(bad(format!("invalid newname \"{n}\""))),
                }
            }
            "record" if allowed.record => {
                return RecordCommand::parse(subject, get, now_unix_s).map(Control::Record)
            }
            "drop" | "redirect" | "record" => {
                return Err(ControlError {
                    status: 403,
                    reason: format!("\"{action}\" is not enabled by rtmp_control here"),
                })
            }
            _ => {
                return Err(bad(format!(
                    "unknown control action \"{action}\" (drop, redirect, record)"
                )))
            }
        };
        let subject = match subject {
            "publisher" => Subject::Publisher,
            "subscriber" => Subject::Subscriber,
            "client" => Subject::Client,
            other => {
                return Err(bad(format!(
                    "unknown {action} subject \"{other}\" (publisher, subscriber, client)"
                )))
            }
        };
        let srv = match get("srv") {
            Some(s) => Some(s.parse::<u32>().map_err(|_| bad("srv must be a number"))?),
            None => None,
        };
        let clientid = match get("clientid") {
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| bad("clientid must be a number"))?,
            ),
            None => None,
        };
        let cmd = Command {
            subject,
            srv,
            app: get("app"),
            name: get("name"),
            addr: get("addr"),
            clientid,
            newname,
        };
        if cmd.name.is_none() && cmd.addr.is_none() && cmd.clientid.is_none() {
            return Err(bad("name, addr or clientid is required"));
        }
        Ok(if cmd.newname.is_some() {
            Control::Redirect(cmd)
        } else {
            Control::Drop(cmd)
        })
    }

    /// For a worker's mailbox.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Control::Drop(c) | Control::Redirect(c) => c.encode(),
            Control::Record(c) => c.encode(),
        }
    }

    pub fn decode(b: &[u8]) -> Option<Control> {
        Command::decode(b)
            .map(|c| {
                if c.newname.is_some() {
                    Control::Redirect(c)
                } else {
                    Control::Drop(c)
                }
            })
            .or_else(|| RecordCommand::decode(b).map(Control::Record))
    }
}

impl Command {
    /// Whether the command closes this client.
    pub fn matches(&self, c: &ClientView) -> bool {
        if self.srv.is_some_and(|s| s != c.server)
            || self.app.as_deref().is_some_and(|a| a != c.app)
            || self.addr.as_deref().is_some_and(|a| a != c.addr)
            || self.clientid.is_some_and(|id| id != c.id)
        {
            return false;
        }
        let name_ok = |n: Option<&str>| match (&self.name, n) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(want), Some(n)) => want == n,
        };
        match self.subject {
            Subject::Publisher => name_ok(c.publishing),
            Subject::Subscriber => name_ok(c.playing),
            Subject::Client => {
                if self.name.is_none() {
                    true
                } else {
                    name_ok(c.publishing) || name_ok(c.playing)
                }
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.subject.code()];
        let mut flags = 0u8;
        for (i, present) in [
            self.srv.is_some(),
            self.app.is_some(),
            self.name.is_some(),
            self.addr.is_some(),
            self.clientid.is_some(),
            self.newname.is_some(),
        ]
        .into_iter()
        .enumerate()
        {
            if present {
                flags |= 1 << i;
            }
        }
        out.push(flags);
        out.extend_from_slice(&u64::from(self.srv.unwrap_or(0)).to_le_bytes());
        out.extend_from_slice(&self.clientid.unwrap_or(0).to_le_bytes());
        for s in [&self.app, &self.name, &self.addr, &self.newname] {
            let s = s.as_deref().unwrap_or_default().as_bytes();
            let n = s.len().min(u16::MAX as usize);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.extend_from_slice(&s[..n]);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Command> {
        let subject = Subject::from_code(*b.first()?)?;
        let flags = *b.get(1)?;
        let srv = u64::from_le_bytes(b.get(2..10)?.try_into().ok()?);
        let clientid = u64::from_le_bytes(b.get(10..18)?.try_into().ok()?);
        let mut rest = b.get(18..)?;
        let mut strs = Vec::with_capacity(4);
        for _ in 0..4 {
            let n = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
            let s = std::str::from_utf8(rest.get(2..2 + n)?).ok()?.to_owned();
            rest = rest.get(2 + n..)?;
            strs.push(s);
        }
        let has = |i: u8| flags & (1 << i) != 0;
        let mut strs = strs.into_iter();
        let (app, name, addr) = (strs.next()?, strs.next()?, strs.next()?);
        let newname = strs.next()?;
        Some(Command {
            subject,
            srv: has(0).then_some(u32::try_from(srv).ok()?),
            app: has(1).then_some(app),
            name: has(2).then_some(name),
            addr: has(3).then_some(addr),
            clientid: has(4).then_some(clientid),
            newname: has(5).then_some(newname),
        })
    }
}
