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

use std::sync::atomic::{fence, AtomicU64, Ordering};

use nginx_sys::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use crate::live::shm::{self, Layout, Region};

/// The mapped zone in this process (same address in every worker: nginx maps it in the
/// master before forking).
#[derive(Clone, Copy, Debug)]
pub struct ShmRegion {
    base: *mut u8,
    len: usize,
}

impl ShmRegion {
    fn word(&self, off: usize) -> Option<&AtomicU64> {
        if !off.is_multiple_of(8) || off.checked_add(8)? > self.len {
            return None;
        }
        // SAFETY: `base..base+len` is the mapped zone, alive for the process; `off` is
        // 8-aligned and in bounds, and the zone is only ever accessed through atomics.
        Some(unsafe { &*self.base.add(off).cast::<AtomicU64>() })
    }
}

impl Region for ShmRegion {
    fn len(&self) -> usize {
        self.len
    }

    fn load(&self, off: usize) -> u64 {
        self.word(off).map_or(0, |w| w.load(Ordering::Acquire))
    }

    fn store(&self, off: usize, v: u64) {
        if let Some(w) = self.word(off) {
            w.store(v, Ordering::Release);
        }
    }

    fn cas(&self, off: usize, current: u64, new: u64) -> Result<u64, u64> {
        match self.word(off) {
            Some(w) => w.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire),
            None => Err(0),
        }
    }

    fn read(&self, off: usize, dst: &mut [u8]) {
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let v = self
                .word(off + i * 8)
                .map_or(0, |w| w.load(Ordering::Relaxed));
            let bytes = v.to_ne_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn write(&self, off: usize, src: &[u8]) {
        for (i, chunk) in src.chunks(8).enumerate() {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            if let Some(w) = self.word(off + i * 8) {
                w.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
            }
        }
        fence(Ordering::Release);
    }
}

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
    Layout::new(size).map_err(|e| format!("live_shm_size {size}: {e}"))?;
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
        let Ok(layout) = Layout::new(region.len) else {
            return false;
        };
        if !data.is_null() && shm::check(&region, &layout).is_ok() {
            // A reload kept the zone: old workers are still publishing into it.
        } else if shm::format(&region, &layout).is_err() {
            return false;
        }
        // SAFETY: `data` marks the zone as initialised for the next reload.
        unsafe { (*zone).data = region.base.cast() };
        true
    });
    if ok == Some(true) {
        nginx_sys::NGX_OK as nginx_sys::ngx_int_t
    } else {
        nginx_sys::NGX_ERROR as nginx_sys::ngx_int_t
    }
}

/// # Safety
/// `zone` must be a mapped zone.
unsafe fn region_of(zone: *mut ngx_shm_zone_t) -> ShmRegion {
    // SAFETY: see the contract.
    unsafe {
        ShmRegion {
            base: (*zone).shm.addr.cast(),
            len: (*zone).shm.size,
        }
    }
}

/// The zone as seen by a worker.
///
/// # Safety
/// `zone` must be the zone registered by [`add`] in the cycle the worker runs.
pub unsafe fn attach(zone: *mut ngx_shm_zone_t) -> Option<Zone> {
    if zone.is_null() {
        return None;
    }
    // SAFETY: see the contract; workers start after every zone was mapped and initialised.
    let region = unsafe { region_of(zone) };
    if region.base.is_null() {
        return None;
    }
    let layout = Layout::new(region.len).ok()?;
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
