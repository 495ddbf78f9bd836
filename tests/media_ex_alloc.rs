//! Parsing an Enhanced RTMP message that carries one track (every message that is not
//! multitrack, and FFmpeg's Multitrack/OneTrack) allocates nothing: counted by this test
//! binary's own global allocator over FFmpeg 9's messages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use ngx_rtmp::media::ex_audio::parse_ex_audio;
use ngx_rtmp::media::ex_header::parse_ex_video;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A fixture as the chunk decoder hands messages over: shared bytes, which slice without
/// allocating.
fn message(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/ertmp/{name}", env!("CARGO_MANIFEST_DIR"));
    let b = Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")));
    // The first clone of a `Vec`-made `Bytes` makes it shared (one allocation, here).
    drop(b.clone());
    b
}

/// Allocations made while `f` runs (the test runs alone in its binary's only test).
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn one_track_messages_parse_without_allocating() {
    let video = [
        "hevc_key_cut.bin",
        "hevc_inter_cut.bin",
        "av1_key_cut.bin",
        "vp9_key_cut.bin",
        "multi_hevc_key_cut.bin",
    ]
    .map(message);
    let audio = ["opus_coded.bin", "multi_opus_seq_start.bin"].map(message);
    for m in &video {
        let n = allocations(|| {
            let v = parse_ex_video(m).expect("FFmpeg's message");
            assert_eq!(v.tracks().len(), 1);
        });
        assert_eq!(n, 0, "video message of {} bytes", m.len());
    }
    for m in &audio {
        let n = allocations(|| {
            let a = parse_ex_audio(m).expect("FFmpeg's message");
            assert_eq!(a.tracks.len(), 1);
        });
        assert_eq!(n, 0, "audio message of {} bytes", m.len());
    }
}
