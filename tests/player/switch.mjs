// Plays switch.html in headless Chromium (Debian's /usr/bin/chromium) and forces the player
// from the highest quality to the lowest and back, reporting line by line on stdout how
// currentTime and the decoded picture height moved (JSON on stderr).
//
//   node tests/player/switch.mjs <page-url> <screenshot.png> [seconds-per-step]
//
// Steps: top, lowest, top. Exit code 0 when the report was produced; the Rust test judges it.
import { chromium } from 'playwright-core';

const [url, screenshot, stepArg] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: switch.mjs <page-url> <screenshot.png> [seconds-per-step]');
  process.exit(2);
}
const stepMs = Math.round(Number(stepArg || 8) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
const report = { url, levels: [], samples: [], errors: [], log: [], console: [] };
try {
  const page = await browser.newPage({ viewport: { width: 660, height: 400 } });
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => report.errors.push(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  const state = () => page.evaluate(() => {
    const v = document.getElementById('v');
    return { t: v.currentTime, h: v.videoHeight, errors: window.__errors.slice(),
      levels: window.__levels ? window.__levels() : [] };
  });
  const startDeadline = Date.now() + 25000;
  let s = await state();
  while ((s.t <= 0 || s.levels.length === 0) && s.errors.length === 0 && Date.now() < startDeadline) {
    await sleep(200);
    s = await state();
  }
  report.started = s.t > 0;
  report.levels = s.levels;
  const heights = s.levels;
  const top = heights.indexOf(Math.max(...heights));
  const low = heights.indexOf(Math.min(...heights));
  const t0 = Date.now();
  for (const [step, index] of [['top', top], ['low', low], ['top', top]]) {
    await page.evaluate((i) => window.__setLevel(i), index);
    const stepStart = Date.now();
    while (Date.now() - stepStart < stepMs) {
      s = await state();
      report.samples.push({ at_ms: Date.now() - t0, t: s.t, h: s.h, step, want: heights[index] });
      await sleep(400);
    }
  }
  report.errors.push(...(await state()).errors);
  report.log = await page.evaluate(() => window.__log.slice());
  await page.screenshot({ path: screenshot });
} catch (e) {
  report.errors.push(`driver: ${e && e.stack ? e.stack : e}`);
} finally {
  await browser.close();
}
const out = [
  `started ${!!report.started}`,
  `levels ${report.levels.join(' ')}`,
  ...report.samples.map((x) => `sample ${x.at_ms} ${x.t} ${x.h} ${x.step} ${x.want}`),
  ...report.errors.map((e) => `error ${String(e).replace(/\n/g, ' ')}`),
];
console.log(out.join('\n'));
console.error(JSON.stringify(report, null, 1));
