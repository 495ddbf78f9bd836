//! The shared-memory zone through which workers see each other's live streams.
//!
//! Why shared memory: nginx spreads connections over its workers, so a player often lands on
//! another worker than the publisher. The publisher's worker writes every message of its
//! stream into a ring in one zone ([`crate::live::shm`] defines layout and lock-free protocol);
//! a worker with players of a stream it does not publish reads that ring on a timer
//! ([`super::remote`]). Unlike nginx-rtmp's `rtmp_auto_push` there are no per-stream unix
//! sockets, nothing to reconnect after a reload (the zone survives reloads with the same
//! size and old and new workers keep reading each other), and a crashed publisher worker
//! only leaves a slot that goes stale and is reclaimed.

use std::sync::atomic::AtomicU64;

use nginx_sys::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use crate::live::shm::{self, Layout, Region};

/// The mapped zone in this process, as atomic words (the core's `Region` is implemented for
/// any `[AtomicU64]`). Same address in every worker: nginx maps zones in the master.
pub type ShmRegion = &'static [AtomicU64];

/// The zone of this worker, once `init_process` found it.
#[derive(Clone, Copy, Debug)]
pub struct Zone {
    pub region: ShmRegion,
    pub layout: Layout,
}

/// Registers the zone with nginx during configuration.
///
/// # Safety
/// `cf` must be the configuration being parsed; `tag` a pointer stable across reloads.
pub unsafe fn add(
    cf: *mut ngx_conf_t,
    size: usize,
    tag: *mut core::ffi::c_void,
) -> Result<*mut ngx_shm_zone_t, String> {
    Layout::new(size.saturating_sub(NGX_SLAB_HEADER))
        .map_err(|e| format!("live_shm_size {size}: {e}"))?;
    let mut name = ngx_str_t {
        len: ZONE_NAME.len() - 1,
        data: ZONE_NAME.as_ptr().cast_mut(),
    };
    // SAFETY: nginx copies nothing and keeps `name` only for the call; `tag` is stable.
    let zone = unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut name, size, tag) };
    if zone.is_null() {
        return Err("could not add the live shared memory zone".into());
    }
    // SAFETY: a zone just returned by nginx; `init` runs once the zone is mapped.
    unsafe { (*zone).init = Some(init_zone) };
    Ok(zone)
}

const ZONE_NAME: &[u8] = b"ngx_rtmp_rs_live\0";

unsafe extern "C" fn init_zone(
    zone: *mut ngx_shm_zone_t,
    data: *mut core::ffi::c_void,
) -> nginx_sys::ngx_int_t {
    let ok = super::catch(|| {
        // SAFETY: nginx calls this with the mapped zone of `size` bytes.
        let region = unsafe { region_of(zone) };
        let Ok(layout) = Layout::new(Region::len(region)) else {
            return false;
        };
        if !data.is_null() && shm::check(&region, &layout).is_ok() {
            // A reload kept the zone: old workers are still publishing into it.
        } else if shm::format(&region, &layout).is_err() {
            return false;
        }
        // SAFETY: `data` marks the zone as initialised for the next reload.
        unsafe { (*zone).data = (*zone).shm.addr.cast() };
        true
    });
    if ok == Some(true) {
        nginx_sys::NGX_OK as nginx_sys::ngx_int_t
    } else {
        nginx_sys::NGX_ERROR as nginx_sys::ngx_int_t
    }
}

/// # Safety
/// `zone` must be a mapped (non-null) zone.
pub(super) unsafe fn region_of(zone: *mut ngx_shm_zone_t) -> ShmRegion {
    // SAFETY: the zone is page-aligned, `size` bytes long and mapped for the life of the
    // process; past `NGX_SLAB_HEADER` it is only ever accessed through atomics, by every
    // process that maps it. `add` makes zones larger than the header.
    unsafe {
        let size = (*zone).shm.size.saturating_sub(NGX_SLAB_HEADER);
        std::slice::from_raw_parts(
            (*zone).shm.addr.add(NGX_SLAB_HEADER).cast::<AtomicU64>(),
            size / 8,
        )
    }
}

/// The start of every zone stays nginx's: it initialises an `ngx_slab_pool_t` there and, when
/// any worker exits, force-unlocks the mutex in it (`ngx_unlock_mutexes` does so for every
/// zone, slab or not). Our layout starts one page later so that header stays intact.
pub(super) const NGX_SLAB_HEADER: usize = {
    let header = std::mem::size_of::<nginx_sys::ngx_slab_pool_t>();
    assert!(header <= 4096);
    4096
};

/// The zone as seen by a worker.
///
/// # Safety
/// `zone` must be the zone registered by [`add`] in the cycle the worker runs.
pub unsafe fn attach(zone: *mut ngx_shm_zone_t) -> Option<Zone> {
    if zone.is_null() {
        return None;
    }
    // SAFETY: see the contract; workers start after every zone was mapped and initialised.
    if unsafe { (*zone).shm.addr }.is_null() {
        return None;
    }
    // SAFETY: as above, the address is that of the mapped zone.
    let region = unsafe { region_of(zone) };
    let layout = Layout::new(Region::len(region)).ok()?;
    shm::check(&region, &layout).ok()?;
    Some(Zone { region, layout })
}

/// This worker's identity in the zone: its pid and a per-process nonce (pids are reused).
pub fn owner_id() -> u64 {
    thread_local! {
        static OWNER: u64 = {
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() } as u64;
            (pid << 32) | (nginx_sys::ngx_random() as u64 & 0xFFFF_FFFF) | 1
        };
    }
    OWNER.with(|o| *o)
}

/// Whether the worker that owns a slot is still running.
pub fn is_alive(owner: u64) -> bool {
    let pid = (owner >> 32) as libc::pid_t;
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for the process' existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
