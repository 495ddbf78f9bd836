//! Liveness of a [`Session`]: the handshake deadline, the idle timeout,
//! pings and the message deadline (a whole message at least every
//! `timeout_ms` while one is partly received), behind
//! [`Session::poll_timeout`] and [`Session::handle_timeout`].

use super::{Phase, Session};
use crate::rtmp::error::SessionError;
use crate::rtmp::message::{Control, UserControl};

impl Session {
    pub(super) fn handshake_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Handshake(_) => Some(
                self.start_ms
                    .saturating_add(self.config.handshake_timeout_ms.min(self.config.timeout_ms)),
            ),
            _ => None,
        }
    }

    /// Earliest time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        if matches!(self.phase, Phase::Failed) {
            return None;
        }
        if self.deferred.is_some() {
            return Some(self.now_ms);
        }
        let mut t = if self.idle_timeout_applies() {
            self.last_rx_ms.saturating_add(self.config.timeout_ms)
        } else {
            u64::MAX
        };
        if let Some(hs) = self.handshake_deadline() {
            return Some(t.min(hs));
        }
        if let Some(m) = self.message_deadline() {
            t = t.min(m);
        }
        if self.config.ping_ms > 0 {
            let ping = match self.ping_sent_ms {
                Some(sent) => sent.saturating_add(self.config.ping_timeout_ms),
                None => self.last_rx_ms.saturating_add(self.config.ping_ms),
            };
            t = t.min(ping);
        }
        Some(t)
    }

    /// Silence from the peer ends the session after `timeout_ms` until it is connected; from
    /// then on (as in nginx-rtmp, where players may legitimately send nothing for minutes)
    /// liveness is checked with pings, unless pings are disabled.
    fn idle_timeout_applies(&self) -> bool {
        self.config.ping_ms == 0 || !matches!(self.phase, Phase::Connected)
    }

    /// When a whole message must have completed: only while the decoder
    /// holds a partly received header or message, and not while input is
    /// held for the shell's decision (those bytes are not decoded yet).
    fn message_deadline(&self) -> Option<u64> {
        let applies = !matches!(self.phase, Phase::Handshake(_) | Phase::Failed)
            && !self.closing
            && !self.message_clock_stale
            && !self.is_paused()
            && self.decoder.has_partial();
        applies.then(|| self.last_message_ms.saturating_add(self.config.timeout_ms))
    }

    /// The wait for a message starts over when nothing is partial (a new
    /// message begins now) or after held input was decoded without a clock.
    pub(super) fn restart_message_clock(&mut self, now_ms: u64) {
        if self.message_clock_stale || !self.decoder.has_partial() {
            self.last_message_ms = now_ms;
            self.message_clock_stale = false;
        }
    }

    /// Runs timers: handshake deadline, message deadline, idle timeout, ping.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), SessionError> {
        if matches!(self.phase, Phase::Failed) {
            return Err(SessionError::Closed);
        }
        self.now_ms = now_ms;
        let result = self.timeout_inner(now_ms);
        result.map_err(|e| self.fail(e))
    }

    fn timeout_inner(&mut self, now_ms: u64) -> Result<(), SessionError> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if let Some(deadline) = self.handshake_deadline() {
            if now_ms >= deadline {
                return Err(SessionError::HandshakeTimeout);
            }
        }
        if !self.is_paused() {
            self.restart_message_clock(now_ms);
        }
        if let Some(deadline) = self.message_deadline() {
            if now_ms >= deadline {
                return Err(SessionError::MessageTimeout {
                    timeout_ms: self.config.timeout_ms,
                });
            }
        }
        if let Some(sent) = self.ping_sent_ms {
            if now_ms >= sent.saturating_add(self.config.ping_timeout_ms) {
                return Err(SessionError::PingTimeout);
            }
        }
        if self.idle_timeout_applies()
            && now_ms >= self.last_rx_ms.saturating_add(self.config.timeout_ms)
        {
            return Err(SessionError::Timeout);
        }
        if self.config.ping_ms > 0
            && self.ping_sent_ms.is_none()
            && self.handshake_deadline().is_none()
            && now_ms >= self.last_rx_ms.saturating_add(self.config.ping_ms)
        {
            self.send_control(Control::UserControl(UserControl::PingRequest(
                now_ms as u32,
            )));
            self.ping_sent_ms = Some(now_ms);
        }
        Ok(())
    }
}
