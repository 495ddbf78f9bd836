//! mpegts.js in headless Chromium: a page that plays an HTTP-FLV URL (installed next to
//! mpegts.js in a directory nginx serves), watched by `tests/player/play.mjs` like the hls.js
//! page ([`super::hls_js::play`] runs it and judges how the video advanced).

use std::path::Path;

pub const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>ngx-rtmp mpegts.js check</title></head>
<body style="margin:0;background:#111;color:#eee;font:14px sans-serif">
<video id="v" muted autoplay playsinline width="640" height="480"></video>
<div id="status"></div>
<script src="mpegts.js"></script>
<script>
window.__errors = []; window.__log = [];
const v = document.getElementById('v');
v.addEventListener('error', () => window.__errors.push('video error event, code ' + (v.error && v.error.code)));
const src = new URLSearchParams(location.search).get('src');
if (window.mpegts && mpegts.getFeatureList().mseLivePlayback) {
  const p = mpegts.createPlayer({ type: 'flv', isLive: true, url: src });
  p.on(mpegts.Events.ERROR, (type, detail, info) =>
    window.__errors.push('mpegts.js ' + type + ' ' + detail + ' ' + JSON.stringify(info)));
  p.on(mpegts.Events.MEDIA_INFO, (m) => window.__log.push('media info ' + m.mimeType));
  p.attachMediaElement(v);
  p.load();
  v.play().catch((e) => window.__log.push('play(): ' + e));
} else {
  window.__errors.push('mpegts.js cannot play live FLV here (no MSE?)');
}
setInterval(() => { document.getElementById('status').textContent = 't=' + v.currentTime.toFixed(2); }, 250);
</script>
</body></html>
"#;

/// Writes the page (`index.html`, taking the FLV URL from `?src=`) and `mpegts.js` into `dir`.
pub fn install_page(dir: &Path) {
    super::hls_js::install_player_page(dir, "mpegts.js/dist/mpegts.js", "mpegts.js", PAGE);
}
