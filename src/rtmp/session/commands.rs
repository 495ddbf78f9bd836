//! Commands of a [`Session`]: connect, createStream, publish, play,
//! closeStream/deleteStream and the rest, and the shell's answers to the
//! requests they raise (`accept_*` / `reject_*`).

use super::streams::StreamState;
use super::{Phase, Session};
use crate::amf0::{self, Value};
use crate::rtmp::caps::ClientCaps;
use crate::rtmp::command::Command;
use crate::rtmp::error::{OrderError, SessionError};
use crate::rtmp::event::{
    ConnectRequest, Event, PlayRequest, PublishKind, PublishRequest, Rejection,
};
use crate::rtmp::message::{csid, types, Control, UserControl};
use crate::rtmp::name::{parse_app, parse_stream_name_with, NameError};
use crate::rtmp::status::{self, code, RecordNotice};

fn stream_id_from(n: f64) -> Option<u32> {
    if n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0 {
        Some(n as u32)
    } else {
        None
    }
}

impl Session {
    // ----- answers from the shell -----

    /// Accepts the pending connect: Window Ack Size, Set Peer Bandwidth,
    /// Set Chunk Size, Stream Begin 0 and the `_result`.
    pub fn accept_connect(&mut self) {
        let Phase::ConnectPending {
            transaction_id,
            object_encoding,
        } = self.phase
        else {
            return;
        };
        let window = self.config.ack_window;
        self.send_control(Control::WindowAckSize(window));
        self.send_control(Control::SetPeerBandwidth {
            size: window,
            limit_type: 2,
        });
        let chunk_size = self.config.chunk_size.clamp(1, 0x7FFF_FFFF);
        self.send_control(Control::SetChunkSize(chunk_size));
        self.encoder.set_chunk_size(chunk_size);
        self.send_control(Control::UserControl(UserControl::StreamBegin(0)));
        self.send_command(
            csid::COMMAND,
            0,
            &status::connect_result(transaction_id, object_encoding, self.caps.enhanced),
        );
        self.phase = Phase::Connected;
        self.resume();
    }

    /// Refuses the pending connect with `_error NetConnection.Connect.Rejected`;
    /// the session then wants to close.
    pub fn reject_connect(&mut self, description: &str) {
        let Phase::ConnectPending { transaction_id, .. } = self.phase else {
            return;
        };
        self.send_command(
            csid::COMMAND,
            0,
            &status::connect_rejected(transaction_id, description),
        );
        self.close_gracefully();
    }

    /// Accepts a pending publish: Stream Begin + NetStream.Publish.Start.
    pub fn accept_publish(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        let StreamState::PublishPending { name } = state else {
            return;
        };
        let name = std::mem::take(name);
        let description = format!("{name} is now published.");
        *state = StreamState::Publishing { name };
        self.send_control(Control::UserControl(UserControl::StreamBegin(stream_id)));
        self.send_status(stream_id, "status", code::PUBLISH_START, &description);
        self.resume();
    }

    /// Refuses a pending publish with an error onStatus; the session then
    /// wants to close.
    pub fn reject_publish(&mut self, stream_id: u32, reason: Rejection) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        if !matches!(state, StreamState::PublishPending { .. }) {
            return;
        }
        *state = StreamState::Idle;
        let (code, description) = reason.publish_status();
        self.send_status(stream_id, "error", code, description);
        self.close_gracefully();
    }

    /// `rtmp_control redirect`: the player on `stream_id` is to play `name` instead. Its play
    /// is pending again, with reset (so that [`Session::accept_play`] sends Play.Reset then
    /// Play.Start for the new name, as nginx-rtmp's redirect does); false if it does not play.
    pub fn redirect_play(&mut self, stream_id: u32, name: &str) -> bool {
        match self.streams.get_mut(stream_id) {
            Some(state @ StreamState::Playing { .. }) => {
                *state = StreamState::PlayPending {
                    name: name.to_owned(),
                    reset: true,
                };
                true
            }
            _ => false,
        }
    }

    /// `rtmp_control redirect`: the publisher on `stream_id` is to publish under `name`. Its
    /// publish is pending again (its media is held until the shell decides); false if it does
    /// not publish.
    pub fn redirect_publish(&mut self, stream_id: u32, name: &str) -> bool {
        match self.streams.get_mut(stream_id) {
            Some(state @ StreamState::Publishing { .. }) => {
                *state = StreamState::PublishPending {
                    name: name.to_owned(),
                };
                true
            }
            _ => false,
        }
    }

    /// `record_notify`: tells the publisher on `stream_id` that a recording of its stream
    /// started, stopped or failed; `description` names the file.
    pub fn notify_record(&mut self, stream_id: u32, notice: RecordNotice, description: &str) {
        let (level, code) = notice.status();
        self.send_status(stream_id, level, code, description);
    }

    /// Accepts a pending play: Stream Begin, NetStream.Play.Reset (only
    /// when the play command's reset flag is true or absent),
    /// NetStream.Play.Start and `|RtmpSampleAccess`. Media follows with
    /// [`Session::send_prepared`].
    pub fn accept_play(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        let StreamState::PlayPending { name, reset } = state else {
            return;
        };
        let reset = *reset;
        let name = std::mem::take(name);
        let start = format!("Started playing {name}.");
        let reset_text = reset.then(|| format!("Playing and resetting {name}."));
        *state = StreamState::Playing {
            name,
            paused: false,
        };
        self.send_control(Control::UserControl(UserControl::StreamBegin(stream_id)));
        if let Some(text) = reset_text {
            self.send_status(stream_id, "status", code::PLAY_RESET, &text);
        }
        self.send_status(stream_id, "status", code::PLAY_START, &start);
        let body = amf0::encode_to_bytes(&status::sample_access());
        self.write(csid::STATUS, 0, types::DATA_AMF0, stream_id, &body);
        self.resume();
    }

    /// Refuses a pending play with an error onStatus; the session then
    /// wants to close.
    pub fn reject_play(&mut self, stream_id: u32, reason: Rejection) {
        let Some(state) = self.streams.get_mut(stream_id) else {
            return;
        };
        if !matches!(state, StreamState::PlayPending { .. }) {
            return;
        }
        *state = StreamState::Idle;
        let (code, description) = reason.play_status();
        self.send_status(stream_id, "error", code, description);
        self.close_gracefully();
    }

    fn close_gracefully(&mut self) {
        self.closing = true;
        self.backlog = Vec::new();
    }

    pub(super) fn handle_command(
        &mut self,
        msid: u32,
        command: Command,
    ) -> Result<(), SessionError> {
        match command {
            Command::Connect {
                transaction_id,
                object,
            } => self.handle_connect(transaction_id, &object),
            Command::CreateStream { transaction_id } => {
                match self.streams.create(self.config.max_streams) {
                    Ok(id) => {
                        let reply = status::result(transaction_id, Value::Number(f64::from(id)));
                        self.send_command(csid::COMMAND, 0, &reply);
                        Ok(())
                    }
                    Err(e) => {
                        let reply = status::error(
                            transaction_id,
                            "NetConnection.Call.Failed",
                            "Too many streams",
                        );
                        self.send_command(csid::COMMAND, 0, &reply);
                        Err(e.into())
                    }
                }
            }
            Command::ReleaseStream { transaction_id, .. }
            | Command::FcPublish { transaction_id, .. } => {
                self.reply_result(transaction_id, Value::Undefined);
                Ok(())
            }
            Command::FcUnpublish {
                transaction_id,
                name,
            } => {
                let bare = name.split_once('?').map_or(name.as_str(), |(n, _)| n);
                if let Some(id) = self.streams.find_publishing(bare) {
                    self.unpublish(id, false);
                }
                self.reply_result(transaction_id, Value::Undefined);
                Ok(())
            }
            Command::DeleteStream { stream_id, .. } => {
                match stream_id {
                    Some(id) => {
                        if let Some(id) = stream_id_from(id) {
                            self.stop_stream(id, true);
                        }
                    }
                    None => self.stop_stream(msid, true),
                }
                Ok(())
            }
            Command::CloseStream { .. } => {
                self.stop_stream(msid, false);
                Ok(())
            }
            Command::Publish { name, kind, .. } => self.handle_publish(msid, &name, &kind),
            Command::Play {
                name,
                start,
                duration,
                reset,
                ..
            } => self.handle_play(msid, &name, start, duration, reset),
            Command::GetStreamLength { transaction_id, .. } => {
                self.reply_result(transaction_id, Value::Number(0.0));
                Ok(())
            }
            Command::Pause { pause, .. } => {
                self.handle_pause(msid, pause);
                Ok(())
            }
            Command::ReceiveAudio { flag, .. } => {
                self.handle_receive(msid, Some(flag), None);
                Ok(())
            }
            Command::ReceiveVideo { flag, .. } => {
                self.handle_receive(msid, None, Some(flag));
                Ok(())
            }
            Command::Other {
                name,
                transaction_id,
            } => {
                if !matches!(name.as_str(), "_result" | "_error" | "onStatus") {
                    self.reply_result(transaction_id, Value::Null);
                }
                Ok(())
            }
        }
    }

    fn handle_connect(
        &mut self,
        transaction_id: f64,
        object: &[(String, Value)],
    ) -> Result<(), SessionError> {
        if !matches!(self.phase, Phase::AwaitConnect) {
            return Err(OrderError::ConnectTwice.into());
        }
        let get = |key: &str| {
            object
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let raw_app = get("app");
        let limits = &self.config.limits;
        let (app, app_args) = match parse_app(&raw_app, limits.max_name_len, limits.max_args_len) {
            Ok((a, b)) => (a.to_owned(), b.to_owned()),
            Err(e) => {
                let reply = status::connect_rejected(transaction_id, "Invalid application name");
                self.send_command(csid::COMMAND, 0, &reply);
                return Err(e.into());
            }
        };
        let object_encoding = object
            .iter()
            .find(|(k, _)| k == "objectEncoding")
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(0.0);
        self.caps = ClientCaps::from_connect(object);
        let mut flashver = get("flashVer");
        if flashver.is_empty() {
            flashver = get("flashver");
        }
        self.phase = Phase::ConnectPending {
            transaction_id,
            object_encoding,
        };
        self.events.push_back(Event::Connect(ConnectRequest {
            app,
            app_args,
            tc_url: get("tcUrl"),
            flashver,
            swf_url: get("swfUrl"),
            page_url: get("pageUrl"),
            object_encoding,
        }));
        Ok(())
    }

    fn check_stream_idle(&self, msid: u32, publishing: bool) -> Result<(), SessionError> {
        match self.streams.get(msid) {
            None => Err(OrderError::UnknownStream(msid).into()),
            Some(StreamState::Idle) => Ok(()),
            Some(StreamState::PublishPending { .. } | StreamState::Publishing { .. })
                if publishing =>
            {
                Err(OrderError::AlreadyPublishing(msid).into())
            }
            Some(_) => Err(OrderError::StreamBusy(msid).into()),
        }
    }

    fn parse_name(&self, raw: &str) -> Result<super::super::name::StreamName, NameError> {
        let limits = &self.config.limits;
        parse_stream_name_with(raw, limits.max_name_len, limits.max_args_len)
    }

    fn handle_publish(&mut self, msid: u32, raw: &str, kind: &str) -> Result<(), SessionError> {
        self.check_stream_idle(msid, true)?;
        let parsed = match self.parse_name(raw) {
            Ok(p) => p,
            Err(e) => {
                let (code, description) = Rejection::BadName.publish_status();
                self.send_status(msid, "error", code, description);
                return Err(e.into());
            }
        };
        if let Some(state) = self.streams.get_mut(msid) {
            *state = StreamState::PublishPending {
                name: parsed.name.clone(),
            };
        }
        self.events.push_back(Event::Publish(PublishRequest {
            stream_id: msid,
            name: parsed.name,
            args: parsed.args,
            kind: PublishKind::from_arg(kind),
        }));
        Ok(())
    }

    fn handle_play(
        &mut self,
        msid: u32,
        raw: &str,
        start: f64,
        duration: f64,
        reset: bool,
    ) -> Result<(), SessionError> {
        self.check_stream_idle(msid, false)?;
        let parsed = match self.parse_name(raw) {
            Ok(p) => p,
            Err(e) => {
                let (code, description) = Rejection::BadName.play_status();
                self.send_status(msid, "error", code, description);
                return Err(e.into());
            }
        };
        if let Some(state) = self.streams.get_mut(msid) {
            *state = StreamState::PlayPending {
                name: parsed.name.clone(),
                reset,
            };
        }
        self.events.push_back(Event::Play(PlayRequest {
            stream_id: msid,
            name: parsed.name,
            args: parsed.args,
            start,
            duration,
            reset,
        }));
        Ok(())
    }

    /// Ends publishing on `id`: event + NetStream.Unpublish.Success.
    fn unpublish(&mut self, id: u32, remove: bool) {
        let description = match self.streams.get(id) {
            Some(StreamState::Publishing { name }) => format!("{name} is now unpublished."),
            _ => return,
        };
        self.events.push_back(Event::Unpublish { stream_id: id });
        self.send_status(id, "status", code::UNPUBLISH_SUCCESS, &description);
        if remove {
            self.streams.remove(id);
        } else if let Some(s) = self.streams.get_mut(id) {
            *s = StreamState::Idle;
        }
    }

    /// closeStream (`remove == false`) or deleteStream (`true`).
    fn stop_stream(&mut self, id: u32, remove: bool) {
        match self.streams.get(id) {
            Some(StreamState::Publishing { .. }) => self.unpublish(id, remove),
            Some(StreamState::Playing { .. }) => {
                self.events.push_back(Event::StopPlay { stream_id: id });
                if remove {
                    self.streams.remove(id);
                } else if let Some(s) = self.streams.get_mut(id) {
                    *s = StreamState::Idle;
                }
            }
            Some(_) if remove => {
                self.streams.remove(id);
            }
            _ => {}
        }
    }
}
