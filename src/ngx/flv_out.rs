//! The body of a long HTTP response made of shared `Bytes` (the FLV tags every HTTP-FLV
//! player of a stream shares): each piece goes through nginx's output filters as a memory
//! buffer that points into the `Bytes`, with no copy, and stays alive here until nginx has
//! written it (its buffer's `pos` reached its `last`), however long the client takes.
//!
//! The buffer structs are ours, not the request pool's (a pool only frees at the end of the
//! request, and a live response never ends): they are reused, a few kept spare.

use std::collections::VecDeque;
use std::ptr::{self, NonNull};

use bytes::Bytes;
use nginx_sys::{ngx_buf_t, ngx_chain_t, ngx_http_output_filter, ngx_http_request_t, ngx_int_t};

/// Buffer structs kept for reuse.
const MAX_SPARE: usize = 64;

struct Piece {
    buf: NonNull<ngx_buf_t>,
    data: Bytes,
}

/// Pieces queued for one response, in order: the first `passed` are in nginx's hands.
#[derive(Default)]
pub struct Outbox {
    pieces: VecDeque<Piece>,
    passed: usize,
    spare: Vec<NonNull<ngx_buf_t>>,
    /// The chain handed to the output filters (they copy the links they keep).
    links: Vec<ngx_chain_t>,
    /// Bytes of the pieces not yet written (the front one counts whole until done).
    queued: usize,
}

fn new_buf() -> NonNull<ngx_buf_t> {
    // SAFETY: `ngx_buf_t` is plain C data: all zeroes (null pointers, no flags) is valid.
    let b: Box<ngx_buf_t> = Box::new(unsafe { std::mem::zeroed() });
    NonNull::from(Box::leak(b))
}

impl Outbox {
    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Queues `data` (a reference to it; empty data is nothing to send).
    pub fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let buf = self.spare.pop().unwrap_or_else(new_buf);
        let start = data.as_ptr().cast_mut();
        // SAFETY: `buf` is ours and not in nginx's hands (new, or back from `reclaim`). nginx
        // only reads a `memory` buffer, and `data` lives in `pieces` until nginx wrote it.
        unsafe {
            let b = buf.as_ptr();
            *b = std::mem::zeroed();
            (*b).start = start;
            (*b).pos = start;
            (*b).last = start.add(data.len());
            (*b).end = (*b).last;
            (*b).set_memory(1);
        }
        self.queued += data.len();
        self.pieces.push_back(Piece { buf, data });
    }

    /// Hands what was queued since the last call to the output filters of `r`, with a flush
    /// (`last`: the response's last buffer after it); with nothing new, lets nginx go on
    /// writing what it holds. nginx's return code: `NGX_AGAIN` while it holds unwritten data.
    ///
    /// # Safety
    /// `r` must be the live request the queued pieces are the body of.
    pub unsafe fn pass(&mut self, r: *mut ngx_http_request_t, last: bool) -> ngx_int_t {
        let new = self.pieces.len() - self.passed;
        if new == 0 && !last {
            // SAFETY: the caller's contract: a live request has its connection.
            if unsafe { (*(*r).connection).buffered() } == 0 {
                return nginx_sys::NGX_OK as ngx_int_t;
            }
            // SAFETY: as above; a null chain makes nginx write what it holds.
            return unsafe { ngx_http_output_filter(r, ptr::null_mut()) };
        }
        self.links.clear();
        for p in self.pieces.iter().skip(self.passed) {
            self.links.push(ngx_chain_t {
                buf: p.buf.as_ptr(),
                next: ptr::null_mut(),
            });
        }
        let mut last_buf = None;
        if last {
            let b = self.spare.pop().unwrap_or_else(new_buf);
            // SAFETY: a buffer of ours, not in nginx's hands; empty, it only marks the end.
            unsafe {
                *b.as_ptr() = std::mem::zeroed();
                (*b.as_ptr()).set_last_buf(1);
                (*b.as_ptr()).set_last_in_chain(1);
            }
            self.links.push(ngx_chain_t {
                buf: b.as_ptr(),
                next: ptr::null_mut(),
            });
            last_buf = Some(b);
        }
        let n = self.links.len();
        for i in 1..n {
            let next: *mut ngx_chain_t = &mut self.links[i];
            self.links[i - 1].next = next;
        }
        if let Some(l) = self.links.last() {
            // SAFETY: a buffer of ours (see above).
            unsafe { (*l.buf).set_flush(1) };
        }
        self.passed = self.pieces.len();
        // SAFETY: the caller's contract; the chain and its buffers are valid for the call,
        // the filters copy the links they keep, and the buffers live until written.
        let rc = unsafe { ngx_http_output_filter(r, self.links.as_mut_ptr()) };
        if let Some(b) = last_buf {
            // The empty last buffer points at no data of ours; nginx may hold it until the
            // response is done, so it is kept (freed with the box) rather than reused.
            self.pieces.push_back(Piece {
                buf: b,
                data: Bytes::new(),
            });
            self.passed += 1;
        }
        rc
    }

    /// Drops the pieces nginx has written, oldest first.
    pub fn reclaim(&mut self) {
        while self.passed > 0 {
            let Some(front) = self.pieces.front() else {
                break;
            };
            // SAFETY: a buffer of ours; nginx advances `pos` as it writes and is done with it
            // when `pos` reaches `last` (an empty last buffer never is: it stays).
            let done = unsafe {
                let b = front.buf.as_ptr();
                !front.data.is_empty() && (*b).pos == (*b).last
            };
            if !done {
                break;
            }
            if let Some(p) = self.pieces.pop_front() {
                self.passed -= 1;
                self.queued -= p.data.len();
                if self.spare.len() < MAX_SPARE {
                    self.spare.push(p.buf);
                } else {
                    free(p.buf);
                }
            }
        }
        // A join burst queues hundreds of pieces; don't keep that capacity per player.
        if self.pieces.capacity() > 256 && self.pieces.len() < 64 {
            self.pieces.shrink_to(64);
        }
        if self.links.capacity() > 256 {
            self.links = Vec::new();
        }
    }
}

fn free(b: NonNull<ngx_buf_t>) {
    // SAFETY: made by `new_buf` (a leaked box) and no longer in nginx's hands.
    drop(unsafe { Box::from_raw(b.as_ptr()) });
}

impl Drop for Outbox {
    /// Runs when the request's pool is destroyed: nginx writes nothing more of it.
    fn drop(&mut self) {
        for p in self.pieces.drain(..) {
            free(p.buf);
        }
        for b in self.spare.drain(..) {
            free(b);
        }
    }
}
