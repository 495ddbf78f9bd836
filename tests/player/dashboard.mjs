// Opens the ngx-rtmp dashboard (nginx-conf/www) in headless Chromium, waits for a stream to be
// listed, clicks its "Watch" button and reports how the player's currentTime advances.
//
//   node tests/player/dashboard.mjs <dashboard-url> <stream app/name> <screenshot.png> [watch-seconds]
//
// Line-oriented output for tests/e2e_stat.rs: "listed true|false", "row <text>",
// "started true|false", "sample <ms> <currentTime>", "error <text>".
import { chromium } from 'playwright-core';

const [url, stream, screenshot, watchArg] = process.argv.slice(2);
if (!url || !stream || !screenshot) {
  console.error('usage: dashboard.mjs <url> <app/name> <screenshot.png> [watch-seconds]');
  process.exit(2);
}
const watchMs = Math.round(Number(watchArg || 6) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const out = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 560 } });
  page.on('pageerror', (e) => out.push(`error page: ${e.message}`));
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  const row = page.locator(`tr[data-stream="${stream}"]`);
  let listed = false;
  try {
    await row.waitFor({ timeout: 15000 });
    listed = true;
  } catch (_) { /* reported below */ }
  out.push(`listed ${listed}`);
  if (listed) {
    out.push(`row ${(await row.innerText()).replace(/\s+/g, ' ')}`);
    await row.locator('button').click();
    const t = () => page.evaluate(() => document.getElementById('video').currentTime);
    const deadline = Date.now() + 20000;
    while ((await t()) <= 0 && Date.now() < deadline) await sleep(200);
    out.push(`started ${(await t()) > 0}`);
    const t0 = Date.now();
    while (Date.now() - t0 < watchMs) {
      out.push(`sample ${Date.now() - t0} ${await t()}`);
      await sleep(500);
    }
    const err = await page.evaluate(() => document.getElementById('err').textContent);
    if (err) out.push(`error dashboard: ${err}`);
  }
  await page.screenshot({ path: screenshot });
} catch (e) {
  out.push(`error driver: ${String(e && e.stack ? e.stack : e).replace(/\n/g, ' ')}`);
} finally {
  await browser.close();
}
console.log(out.join('\n'));
