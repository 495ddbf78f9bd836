//! What a publication's recorded files mean to the publisher and the application: with
//! `record_notify on` the publisher hears `NetStream.Record.Start`, `Stop` and `Failed` (the
//! description names the file); a finished file is `on_record_done` and `exec_record_done`.

use super::Policy;
use crate::conf::Call;
use crate::exec::Vars;
use crate::ngx::exec;
use crate::ngx::recordings::{RecordEvent, RecordEventKind};
use crate::rtmp::status::RecordNotice;
use crate::rtmp::Session;

impl Policy {
    /// Acts on what happened to the files of the publication of `name` on `stream_id`;
    /// `session` is the publisher's while it is connected, `vars` its `exec` values.
    pub(super) fn recorded(
        &self,
        mut session: Option<&mut Session>,
        stream_id: u32,
        name: &str,
        vars: &Vars,
        events: Vec<RecordEvent>,
    ) {
        let Some(app) = self.app else {
            return;
        };
        for e in events {
            let path = e.path.to_string_lossy();
            if let (true, Some(s)) = (e.settings.notify, session.as_deref_mut()) {
                let notice = match e.kind {
                    RecordEventKind::Started => RecordNotice::Start,
                    RecordEventKind::Finished => RecordNotice::Stop,
                    RecordEventKind::Failed => RecordNotice::Failed,
                };
                s.notify_record(stream_id, notice, &path);
            }
            if e.kind == RecordEventKind::Finished {
                let recorder = &e.settings.config.id;
                if let Some(url) = &e.settings.on_record_done {
                    let fields = Call::record_done_fields(name, &path, recorder);
                    self.tell_url(url, Call::RecordDone, app, &fields);
                }
                if !e.settings.exec_record_done.is_empty() {
                    let vars = vars.clone().with_record_file(&path, recorder);
                    exec::on_record_done(app, &e.settings, &vars, self.log);
                }
            }
        }
    }
}
