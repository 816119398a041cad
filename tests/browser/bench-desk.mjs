// The desk's "find caller → their reports on screen" in a real browser (BENCHMARKS.md,
// issue 19): run by the ignored Rust bench `desk::bench` when TARMIM_DESK_BENCH_BROWSER=1,
// against its server seeded with 1,000,000 tasks and 300,000 callers. Not a test (node
// --test does not pick this file): it prints one line of figures.
//
// An operator signs in to /console/desk.html in Persian at desktop width, answers a call
// (F2), then for each number types it into "find" and presses Enter; what is timed is
// from the key press to the animation frame in which the caller's three reports are in
// the list (Playwright's rAF polling), so the figure includes the request, the server,
// and the page drawing the answer.
//
// Environment: TARMIM_BASE_URL, TARMIM_DESK_LOGIN, TARMIM_DESK_PASSWORD,
// TARMIM_DESK_PHONES (comma-separated `number=id of one of the caller's tasks`), CHROMIUM_PATH.
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const lookups = process.env.TARMIM_DESK_PHONES.split(',').map((p) => p.split('='));

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'fa-IR' });
const page = await context.newPage();
await page.goto(`${BASE}/console/desk.html?lang=fa`);
await page.fill('#login', process.env.TARMIM_DESK_LOGIN);
await page.fill('#password', process.env.TARMIM_DESK_PASSWORD);
await page.click('#login-form button[type=submit]');
await page.waitForSelector('#desk-view:not([hidden])');
await page.keyboard.press('F2');
await page.waitForSelector('#callbar.on');

const times = [];
for (const [number, task] of lookups) {
  await page.fill('#find', number);
  const t = performance.now();
  await page.keyboard.press('Enter');
  await page.waitForFunction((want) => {
    const items = document.querySelectorAll('#reports li');
    return items.length === 3 && [...items].some((li) => li.dataset.id === want);
  }, task, { polling: 'raf', timeout: 30_000 });
  times.push(performance.now() - t);
}
await browser.close();

// The first lookups warm the page (JIT, fonts): drop the first five.
const s = times.slice(5).sort((a, b) => a - b);
const at = (q) => s[Math.min(s.length - 1, Math.floor(s.length * q))].toFixed(1);
console.log(`desk on screen (Chromium, fa, 1280×800): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${s[s.length - 1].toFixed(1)} ms over ${s.length} lookups`);
