//! Recording published streams to files.
//!
//! [`mp4`] writes one fragmented MP4 file per recording: bytes out to append, no I/O.

pub mod mp4;
