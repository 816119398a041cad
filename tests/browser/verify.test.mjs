// Verification in headless Chromium (Debian's, through playwright-core): the dispatcher
// of region R1 opens the demo's completed task T-90004 on /console/verify.html, sees its
// before and after photos load and the after photo marked as flagged (its EXIF puts it
// kilometres away), and rejects it with a reason; the crew's phone — a real sync-core
// client (server/examples/phone_probe.rs, with its store kept in a folder) — receives
// the reopened task and completes it again with a new photo; the task is back on the
// list live, the dispatcher verifies it, and the citizen's tracking page says the city
// checked the work.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL (a server with the demo
// city), TARMIM_PHONE_PROBE (the probe binary), CHROMIUM_PATH (default /usr/bin/chromium),
// TARMIM_SCREENSHOT_DIR (optional: where to save screenshots of the page).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const PROBE = process.env.TARMIM_PHONE_PROBE;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.TARMIM_SCREENSHOT_DIR;
assert.ok(BASE, 'TARMIM_BASE_URL is required');
assert.ok(PROBE, 'TARMIM_PHONE_PROBE is required');

const TASK = 'T-90004';

async function api(method, path, token, body) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: Object.assign(token ? { Authorization: `Bearer ${token}` } : {}, body ? { 'Content-Type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// The crew's phone: the same device (its store in `dir`) on every call.
const phoneDir = mkdtempSync(join(tmpdir(), 'tarmim-phone-'));
function phone(...extra) {
  const out = execFileSync(PROBE, [BASE, 'crew-d01-a', 'demo-crew', phoneDir, ...extra], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop());
}

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); rmSync(phoneDir, { recursive: true, force: true }); });

async function photosLoaded(page, n) {
  await page.waitForFunction((want) => {
    const imgs = [...document.querySelectorAll('#photos .photo img')];
    return imgs.length >= want && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, n, { timeout: 15_000 });
}

test('a flagged completion is rejected, reaches the crew, is redone and verified, and the citizen sees it', async () => {
  // Before: the phone holds the task as completed.
  assert.equal(phone().statuses[TASK], 'completed');

  const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/console/verify.html?lang=en`);
  await page.fill('#login', 'dispatcher-r1');
  await page.fill('#password', 'demo-dispatcher');
  await page.click('#login-form button[type=submit]');
  await page.click(`#verify-list li[data-id="${TASK}"]`);
  await photosLoaded(page, 2);
  const kinds = await page.$$eval('#photos .photo .kind', (els) => els.map((e) => e.textContent));
  assert.deepEqual(kinds, ['Before', 'After']);
  // The after photo is marked, with its flags in plain words; the before one is not.
  const flagged = page.locator('#photos .photo.flagged');
  assert.equal(await flagged.count(), 1);
  assert.match(await flagged.textContent(), /After/);
  assert.match(await flagged.textContent(), /m from the task's place/);
  assert.match(await flagged.textContent(), /before the task was reported/);
  // The display size opens on a click.
  await page.click('#photos .photo.flagged img');
  await page.waitForFunction(() => { const i = document.getElementById('viewer-img'); return i.complete && i.naturalWidth > 0; });
  await page.click('#viewer button');
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'verify-desktop.png'), fullPage: true });

  // Rejecting needs a reason.
  await page.click('#btn-reject');
  assert.match(await page.textContent('#message'), /Write why/);
  await page.fill('#reject-reason', 'The after photo was taken somewhere else; send a photo of this street.');
  await page.click('#btn-reject');
  await page.waitForSelector('#message[data-status="reopened"]');
  await page.waitForFunction((id) => !document.querySelector(`#verify-list li[data-id="${id}"]`), TASK);

  // The crew's phone receives the reopened task, then does the work again.
  assert.equal(phone().statuses[TASK], 'reopened');
  assert.equal(phone('--complete', TASK).statuses[TASK], 'completed');

  // Back on the list without a reload; verified.
  await page.click(`#verify-list li[data-id="${TASK}"]`, { timeout: 15_000 });
  await photosLoaded(page, 3);
  await page.waitForFunction(() => !document.getElementById('btn-verify').disabled);
  await page.click('#btn-verify');
  await page.waitForSelector('#message[data-status="verified"]');
  // The panel is redrawn after the message (the list and the task are loaded again).
  await page.locator('#t-status', { hasText: 'verified' }).waitFor({ timeout: 15_000 });
  assert.deepEqual(errors, []);
  await context.close();

  // The citizen's tracking page.
  const disp = (await api('POST', '/api/v1/login', null, { login: 'dispatcher-r1', password: 'demo-dispatcher', device_id: 'node-verify' })).body.token;
  const detail = await api('GET', `/api/v1/console/tasks/${TASK}`, disp);
  assert.equal(detail.status, 200);
  assert.equal(detail.body.task.derived.status, 'verified');
  assert.equal(detail.body.task.derived.rejections, 1);
  const code = detail.body.tracking_codes[0].code;
  const citizen = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' });
  const track = await citizen.newPage();
  await track.goto(`${BASE}/track/${code}`);
  await track.waitForSelector('#report:not([hidden])');
  assert.match(await track.textContent('#status-badge'), /checked by the city/);
  assert.match(await track.textContent('#timeline'), /sent the crew back/);
  await citizen.close();
});
