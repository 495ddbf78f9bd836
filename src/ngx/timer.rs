//! Timers of the worker itself (not of a connection): an event owned by the worker for its
//! whole life, behind a small safe handle, so that no raw `*mut ngx_event_t` travels between
//! files.

use std::ptr::NonNull;

use nginx_sys::{ngx_add_timer, ngx_del_timer, ngx_event_t, ngx_msec_t};

use crate::rtmp::next_tick;

/// A worker timer: `handler` runs when it fires. Cancelable: a pending tick never delays a
/// graceful shutdown.
///
/// Invariant: the event is leaked at creation and lives until the worker exits; timers run
/// on the worker's only thread.
#[derive(Clone, Copy)]
pub struct Timer(NonNull<ngx_event_t>);

impl Timer {
    pub fn new(handler: unsafe extern "C" fn(*mut ngx_event_t)) -> Timer {
        // SAFETY: all-zero is a valid, inactive `ngx_event_t`; leaked, it lives for the worker.
        let ev: &'static mut ngx_event_t = Box::leak(Box::new(unsafe { std::mem::zeroed() }));
        ev.handler = Some(handler);
        // SAFETY: the cycle's log lives as long as the worker.
        ev.log = unsafe { (*nginx_sys::ngx_cycle).log };
        ev.set_cancelable(1);
        Timer(NonNull::from(ev))
    }

    pub fn is_armed(self) -> bool {
        // SAFETY: the handle's invariant: the event is live.
        unsafe { self.0.as_ref().timer_set() != 0 }
    }

    /// Fires in `ms` (at least 1) unless already armed.
    pub fn arm(self, ms: ngx_msec_t) {
        if !self.is_armed() {
            self.set(ms);
        }
    }

    /// Fires at the next multiple of `interval` ms on the worker's clock unless already armed:
    /// the worker's periodic timers and its publishers' reads share that grid
    /// ([`crate::rtmp::next_tick`]), so they cost no wakeups of their own.
    pub fn arm_on_grid(self, interval: ngx_msec_t) {
        let now = super::now_ms();
        let due = next_tick(now, interval as u64).saturating_sub(now);
        self.arm(ngx_msec_t::try_from(due).unwrap_or(interval));
    }

    /// Fires in `ms` (at least 1), whether or not it was armed: nginx leaves a timer alone
    /// when it would move by less than `NGX_TIMER_LAZY_DELAY`, so it is deleted first.
    pub fn rearm(self, ms: ngx_msec_t) {
        self.cancel();
        self.set(ms);
    }

    /// Fires in `ms` (at least 1); an armed timer moves (by at least 300 ms, as nginx does).
    pub fn set(self, ms: ngx_msec_t) {
        // SAFETY: the handle's invariant: the event is live and the worker's own.
        unsafe { ngx_add_timer(self.0.as_ptr(), ms.max(1)) };
    }

    pub fn cancel(self) {
        if self.is_armed() {
            // SAFETY: as above; the timer is armed.
            unsafe { ngx_del_timer(self.0.as_ptr()) };
        }
    }
}
