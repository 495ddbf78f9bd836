//! The worker's relay ticker: one timer for every push of the worker. While any link lives,
//! it fires every [`TICK_MS`] and gives each link the time (connect and negotiation
//! timeouts, the end of a backoff); links are kept as weak references, so a stream that ends
//! takes its links away with it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use nginx_sys::ngx_event_t;

use super::link::{Link, SharedLink};
use crate::ngx::timer::Timer;

/// How often links get the time: the granularity of relay timeouts and backoffs.
pub const TICK_MS: u64 = 100;

#[derive(Default)]
struct Ticker {
    links: Vec<Weak<RefCell<Link>>>,
    timer: Option<Timer>,
}

thread_local! {
    static TICKER: RefCell<Ticker> = RefCell::new(Ticker::default());
}

/// Registers a new link and makes sure the timer runs.
pub fn add(link: &SharedLink) {
    TICKER.with(|t| {
        let mut t = t.borrow_mut();
        t.links.push(Rc::downgrade(link));
        t.timer
            .get_or_insert_with(|| Timer::new(on_timer))
            .arm_on_grid(TICK_MS as nginx_sys::ngx_msec_t);
    });
}

/// Calls `f` with every live link of the worker (for stat: the registry already holds them).
pub fn for_each(mut f: impl FnMut(&Link)) {
    TICKER.with(|t| {
        for link in t.borrow().links.iter().filter_map(Weak::upgrade) {
            if let Ok(link) = link.try_borrow() {
                f(&link);
            }
        }
    });
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let _ = super::super::catch(|| {
        let now = super::super::now_ms();
        // Links are ticked outside the registry's borrow: a tick may register or drop links.
        let live: Vec<SharedLink> = TICKER.with(|t| {
            let mut t = t.borrow_mut();
            t.links.retain(|w| w.strong_count() > 0);
            t.links.iter().filter_map(Weak::upgrade).collect()
        });
        for link in &live {
            if link.borrow().deadline().is_some_and(|d| d <= now) {
                Link::tick(link, now);
            }
        }
        drop(live);
        TICKER.with(|t| {
            let mut t = t.borrow_mut();
            t.links.retain(|w| w.strong_count() > 0);
            if let (false, Some(timer)) = (t.links.is_empty(), t.timer) {
                timer.arm_on_grid(TICK_MS as nginx_sys::ngx_msec_t);
            }
        });
    });
}
