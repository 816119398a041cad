// The dispatcher's console over a loaded queue: time to first paint of the queue and time
// to open a task, in Debian's chromium at a desktop size, in Persian.
//
// - first paint of the queue: from navigation start (the token already in the tab's
//   session, as after a login) to the first frame painted after the first queue item is
//   in the page (a MutationObserver notes the item; two animation frames later the frame
//   holding it has been painted);
// - open a task: from the click on a queue item (a different one each run) to the first
//   frame painted after the task's panel (#detail-title) is in the page.
//
// Each run is a fresh browser context (empty cache). Prints the figures of every run,
// their median (p50) and maximum, and how many items the queue drew, as one JSON line
// per measure after a readable line.
//
// Usage (from tests/browser, where playwright-core is installed):
//   cd tests/browser && TARMIM_BASE_URL=http://127.0.0.1:8137 node ../bench/console/queue.mjs [runs=7]
// TARMIM_BENCH_LABEL names the server in the output (e.g. "this branch, SQLite").
// tests/bench/console/run.sh seeds the 20,000 tasks and runs this on each backend.
import { createRequire } from 'node:module';

const { chromium } = createRequire(`${process.cwd()}/`)('playwright-core');

const BASE = process.env.TARMIM_BASE_URL || 'http://127.0.0.1:8137';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LABEL = process.env.TARMIM_BENCH_LABEL || BASE;
const RUNS = Number(process.argv[2] || 7);
const LOGIN = process.env.TARMIM_BENCH_LOGIN || 'dispatcher-r1';
const PASSWORD = process.env.TARMIM_BENCH_PASSWORD || 'demo-dispatcher';

const r = await fetch(`${BASE}/api/v1/login`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ login: LOGIN, password: PASSWORD, device_id: 'bench-console' }),
});
if (!r.ok) throw new Error(`login: ${r.status} ${await r.text()}`);
const { token } = await r.json();

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
const paint = [];
const open = [];
let items = 0;
let markers = 0;
for (let i = 0; i < RUNS; i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'fa-IR' });
  await context.addInitScript((t) => {
    sessionStorage.setItem('tarmim-token', t);
    // The first queue item in the page, then the frame that painted it.
    window.__queuePainted = new Promise((resolve) => {
      const seen = () => {
        if (!document.querySelector('#queue li')) return false;
        requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
        return true;
      };
      const watch = () => {
        if (seen()) return;
        const mo = new MutationObserver(() => { if (seen()) mo.disconnect(); });
        mo.observe(document.documentElement, { childList: true, subtree: true });
      };
      if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
    });
  }, token);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${BASE}/console/?lang=fa`, { waitUntil: 'commit' });
  paint.push(await page.evaluate(() => window.__queuePainted));
  items = await page.locator('#queue li').count();
  markers = await page.locator('#map path.task-marker').count();
  // Let the page settle (crews, alerts, the event stream), then open a task.
  await page.waitForTimeout(500);
  open.push(await page.evaluate(async (k) => {
    const lis = document.querySelectorAll('#queue li');
    const li = lis[(k * 7) % lis.length];
    document.querySelector('#detail').innerHTML = '';
    const t0 = performance.now();
    li.click();
    await new Promise((resolve) => {
      const mo = new MutationObserver(() => {
        if (document.querySelector('#detail-title')) { mo.disconnect(); resolve(); }
      });
      mo.observe(document.querySelector('#detail'), { childList: true, subtree: true });
    });
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return performance.now() - t0;
  }, i));
  await context.close();
}
await browser.close();

const p50 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const fmt = (xs) => xs.map((x) => Math.round(x)).join(', ');
const [loadavg] = (await import('node:os')).loadavg();
for (const [name, xs] of [['first paint of the queue', paint], ['open a task', open]]) {
  console.log(`${LABEL}: ${name}: p50 ${Math.round(p50(xs))} ms, max ${Math.round(Math.max(...xs))} ms (${RUNS} runs: ${fmt(xs)} ms)`);
}
console.log(`${LABEL}: the queue drew ${items} items and ${markers} task markers; load average (1 min) at the end ${loadavg.toFixed(2)}`);
console.log(JSON.stringify({ label: LABEL, runs: RUNS, paint_ms: paint.map(Math.round), open_ms: open.map(Math.round), items, markers, loadavg }));
