//! Helpers of the integration tests, one tree for every test file (`mod support;`):
//!
//! - [`nginx`]: the end-to-end harness (a real nginx with the module on free ports) and ffmpeg
//!   command builders;
//! - [`rtmp_client`]: an independent raw RTMP client over TCP (bytes written by hand);
//! - [`player`]: a test RTMP player on that client, decoding with the crate's chunk decoder;
//! - [`session`]: scripted byte streams for driving a `Session` in memory;
//! - [`flv`]: FLV tags, read from files and written into aggregates;
//! - [`media`]: sequence headers, synthetic frames, Annex-B NAL types, ADTS frames;
//! - [`callback`]: a real HTTP server for notify callbacks;
//! - [`dns`]: a DNS server on loopback whose answers the test changes;
//! - [`recording`]: what a recorded FLV file holds (metadata, index, starts, ffprobe);
//! - [`ffmpeg9`]: the current FFmpeg (Enhanced RTMP) from the project's `.venv`;
//! - [`fileops`]: an in-memory executor of the HLS segmenter's `FileOp`s;
//! - [`fmp4`]: the fMP4 reader (init segments, fragments);
//! - [`ts`]: the MPEG-TS parser; [`m3u8`]: the playlist parser;
//! - [`hls`]: inputs, capture and ffprobe for end-to-end HLS; [`hls_rules`]: the HLS rules;
//! - [`master`]: master playlists and ffprobe's view of variants' segments;
//! - [`xml`]: a small strict XML reader (MPDs);
//! - [`hls_js`]: hls.js in headless Chromium, judged by how its video advances;
//! - [`http`]: a plain HTTP GET; [`http_flv`]: an HTTP-FLV reader (chunked or not);
//! - [`llhls`]: Low-Latency HLS playlists read back, [`llhls_watch`]: one watched and checked
//!   over time;
//! - [`mpegts_js`]: mpegts.js in headless Chromium (HTTP-FLV);
//! - [`worker`]: a test nginx's worker process (its pid, its RSS);
//! - [`wait`]: polling until something holds.
//!
//! Every test binary compiles the whole tree and uses part of it.
#![allow(dead_code)]

pub mod callback;
pub mod dns;
pub mod ffmpeg9;
pub mod fileops;
pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod hls_js;
pub mod hls_rules;
pub mod http;
pub mod http_flv;
pub mod llhls;
pub mod llhls_watch;
pub mod m3u8;
pub mod master;
pub mod media;
pub mod mpegts_js;
pub mod nginx;
pub mod player;
pub mod recording;
pub mod rtmp_client;
pub mod session;
pub mod ts;
pub mod wait;
pub mod worker;
pub mod xml;
