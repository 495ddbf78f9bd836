//! A log that keeps what nginx writes to it instead of writing it out.
//!
//! nginx's SSL functions log a failure themselves, with OpenSSL's error queue appended, and
//! empty the queue: the reason is in their message and nowhere else. A connection whose
//! `log` is a [`Capture`] while they run hands that message to its owner, who reports it
//! once (a relay's rate-limited line) instead of nginx writing one line per attempt.

use std::ptr::{self, NonNull};

use nginx_sys::{ngx_log_t, ngx_uint_t, u_char, NGX_LOG_INFO};

/// A log whose writer keeps the last message. nginx points at it and writes through it, so
/// it is reached only through its pointer, never through a Rust reference.
pub struct Capture(NonNull<Captured>);

struct Captured {
    log: ngx_log_t,
    last: Option<String>,
}

impl Capture {
    /// A capture that takes the messages of `like` (its file, its connection number) down to
    /// the info level, and writes none of them out.
    ///
    /// # Safety
    /// `like` must be a valid log.
    pub unsafe fn new(like: *const ngx_log_t) -> Capture {
        // SAFETY: a valid log (contract); a plain C struct, copied by value.
        let mut log = unsafe { *like };
        log.log_level = NGX_LOG_INFO as ngx_uint_t;
        log.handler = None;
        log.data = ptr::null_mut();
        log.action = ptr::null_mut();
        log.next = ptr::null_mut();
        log.writer = Some(keep);
        let raw = Box::into_raw(Box::new(Captured { log, last: None }));
        // SAFETY: `raw` is the allocation just made, reached by nothing else yet.
        unsafe { (*raw).log.wdata = raw.cast() };
        // SAFETY: `Box::into_raw` never gives null.
        Capture(unsafe { NonNull::new_unchecked(raw) })
    }

    /// The log to give nginx: valid as long as the capture.
    pub fn as_log(&self) -> *mut ngx_log_t {
        // SAFETY: the allocation lives until `Drop`; only a field address is taken.
        unsafe { ptr::addr_of_mut!((*self.0.as_ptr()).log) }
    }

    /// The last message written (the whole line, as nginx formatted it), taken.
    pub fn take(&self) -> Option<String> {
        // SAFETY: the allocation lives until `Drop`; nginx writes it only inside the calls
        // that log through it, on this same thread, never during this one.
        unsafe { (*self.0.as_ptr()).last.take() }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: the allocation made by `new`, freed once; the owner has stopped nginx from
        // using the log (the connection's log is restored or the connection closed).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// nginx's writer callback: keeps the line.
unsafe extern "C" fn keep(log: *mut ngx_log_t, _level: ngx_uint_t, buf: *mut u_char, len: usize) {
    let _ = super::super::catch(|| {
        // SAFETY: nginx calls the writer of a `Capture`'s log, whose `wdata` points at that
        // live allocation (set in `new`); the line is `len` bytes at `buf`, valid for the call.
        unsafe {
            let cap = (*log).wdata.cast::<Captured>();
            let line = std::slice::from_raw_parts(buf, len);
            (*cap).last = Some(String::from_utf8_lossy(line).into_owned());
        }
    });
}
