// Plays an HLS page in headless Chromium (Debian's /usr/bin/chromium) with playwright-core and
// reports, line by line on stdout (JSON on stderr), how the <video> element's currentTime advanced.
//
//   node tests/player/play.mjs <page-url> <screenshot.png> [watch-seconds]
//
// The page (written by tests/e2e_hls_player.rs) attaches hls.js to <video id="v"> and records
// errors in window.__errors (video 'error' events, fatal hls.js errors) and everything else in
// window.__log. Exit code 0 when the report was produced; the Rust test judges it.
import { chromium } from 'playwright-core';

const [url, screenshot, watchArg] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: play.mjs <page-url> <screenshot.png> [watch-seconds]');
  process.exit(2);
}
const watchMs = Math.round(Number(watchArg || 8) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
const report = { url, samples: [], errors: [], log: [], console: [] };
try {
  const page = await browser.newPage({ viewport: { width: 660, height: 500 } });
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => report.errors.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  report.mse_h264 = await page.evaluate(
    () => !!window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="avc1.64000d,mp4a.40.2"'),
  );
  report.hls_version = await page.evaluate(() => (window.Hls ? Hls.version : null));
  // Wait (up to 20 s) for playback to start, then watch.
  const state = () =>
    page.evaluate(() => {
      const v = document.getElementById('v');
      return {
        t: v.currentTime,
        readyState: v.readyState,
        paused: v.paused,
        w: v.videoWidth,
        h: v.videoHeight,
        errors: window.__errors.slice(),
        latency: window.__hls ? window.__hls.latency : null,
        target: window.__hls ? window.__hls.targetLatency : null,
      };
    });
  const startDeadline = Date.now() + 20000;
  let s = await state();
  while (s.t <= 0 && s.errors.length === 0 && Date.now() < startDeadline) {
    await sleep(200);
    s = await state();
  }
  report.started = s.t > 0;
  const t0 = Date.now();
  while (Date.now() - t0 < watchMs) {
    s = await state();
    report.samples.push({
      at_ms: Date.now() - t0, t: s.t, readyState: s.readyState, paused: s.paused,
      latency: s.latency, target: s.target,
    });
    await sleep(500);
  }
  s = await state();
  report.video_size = [s.w, s.h];
  report.errors.push(...s.errors);
  report.log = await page.evaluate(() => window.__log.slice());
  await page.screenshot({ path: screenshot });
  report.screenshot = screenshot;
} catch (e) {
  report.errors.push(`driver: ${e && e.stack ? e.stack : e}`);
} finally {
  await browser.close();
}
// Line-oriented for the Rust test (no JSON parser there); the full report goes to stderr.
const out = [
  `started ${!!report.started}`,
  `mse_h264 ${!!report.mse_h264}`,
  `hls_version ${report.hls_version}`,
  `video_size ${(report.video_size || [0, 0]).join(' ')}`,
  ...report.samples.map((x) => `sample ${x.at_ms} ${x.t} ${x.readyState} ${x.paused}`),
  // hls.js's estimate of the distance to the live edge, and the latency it aims at.
  ...report.samples
    .filter((x) => Number.isFinite(x.latency) && x.latency > 0)
    .map((x) => `latency_sample ${x.at_ms} ${x.latency} ${x.target}`),
  ...report.errors.map((e) => `error ${String(e).replace(/\n/g, ' ')}`),
];
console.log(out.join('\n'));
console.error(JSON.stringify(report, null, 1));
