// The citizens' report page over a throttled connection: Chromium's own network
// throttling through the DevTools protocol (Network.emulateNetworkConditions, the presets
// of Chrome DevTools and Puppeteer), on a phone-sized viewport with an empty cache.
// Prints, per preset, the bytes transferred (what the wire carried, after any
// compression) and the time until the page is usable: its script has loaded the
// settings, the services and the map and marked <body data-ready=true>.
//
// Usage: TARMIM_BASE_URL=http://127.0.0.1:8137 node tests/bench/report/load.mjs [runs=3]
// (TARMIM_BENCH_IDENTITY=1: the same without compression)
// (from tests/browser, where playwright-core is installed:
//  cd tests/browser && node ../bench/report/load.mjs)
import { createRequire } from 'node:module';

// playwright-core as installed for the browser tests (resolved from the working folder).
const { chromium } = createRequire(`${process.cwd()}/`)('playwright-core');

const BASE = process.env.TARMIM_BASE_URL || 'http://127.0.0.1:8137';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const RUNS = Number(process.argv[2] || 3);
const PRESETS = {
  // Puppeteer's PredefinedNetworkConditions (the DevTools presets).
  'Slow 3G': { latency: 400 * 5, downloadThroughput: ((500 * 1000) / 8) * 0.8, uploadThroughput: ((500 * 1000) / 8) * 0.8 },
  'Fast 3G': { latency: 150 * 3.75, downloadThroughput: ((1.6 * 1000 * 1000) / 8) * 0.9, uploadThroughput: ((750 * 1000) / 8) * 0.9 },
};

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
for (const [name, cond] of Object.entries(PRESETS)) {
  const times = [];
  let bytes = 0;
  let requests = 0;
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, locale: 'fa-IR' });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, ...cond });
    // TARMIM_BENCH_IDENTITY=1: ask for uncompressed bodies (the figure without gzip).
    if (process.env.TARMIM_BENCH_IDENTITY) {
      await cdp.send('Network.setExtraHTTPHeaders', { headers: { 'Accept-Encoding': 'identity' } });
    }
    let total = 0;
    let n = 0;
    cdp.on('Network.loadingFinished', (e) => { total += e.encodedDataLength; n += 1; });
    const t0 = Date.now();
    await page.goto(`${BASE}/report`, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-ready=true]', { timeout: 120_000 });
    times.push(Date.now() - t0);
    await page.waitForLoadState('networkidle');
    bytes = total;
    requests = n;
    await context.close();
  }
  times.sort((a, b) => a - b);
  console.log(`${name}: ${(bytes / 1024).toFixed(1)} KiB in ${requests} requests; usable after ` +
    `${(times[Math.floor(times.length / 2)] / 1000).toFixed(1)} s (median of ${RUNS}; ${times.map((t) => (t / 1000).toFixed(1)).join(', ')} s)`);
}
await browser.close();
