// The citizens' tracking page in headless Chromium (Debian's, through playwright-core),
// against the demo city's showcase tasks (server/src/demo/mod.rs: T-90001 completed with real
// before/after photos, T-90002 reopened by its citizen). Their tracking codes are read
// the way a dispatcher reads them to a caller: from the console's task detail.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL (a server with the demo
// city), CHROMIUM_PATH (default /usr/bin/chromium), TARMIM_TRACK_SCREENSHOT (optional:
// where to save a phone-sized screenshot of the completed task's page).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOT = process.env.TARMIM_TRACK_SCREENSHOT;
assert.ok(BASE, 'TARMIM_BASE_URL is required');

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function codeOf(task) {
  const login = await fetch(`${BASE}/api/v1/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: 'dispatcher-r1', password: 'demo-dispatcher', device_id: 'node-track-test' }),
  });
  assert.equal(login.status, 200);
  const { token } = await login.json();
  const r = await fetch(`${BASE}/api/v1/console/tasks/${task}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `task ${task}`);
  const detail = await r.json();
  const reporter = detail.tracking_codes.find((c) => c.role === 'reporter');
  assert.ok(reporter, `no tracking code on ${task}`);
  return reporter.code;
}

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function open(code, locale) {
  const context = await browser.newContext({ ...PHONE, locale });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/track/${code}`);
  await page.waitForSelector('#report:not([hidden])');
  return { context, page, errors };
}

const photosLoaded = () => ['before-img', 'after-img', 'cmp-before', 'cmp-after'].every((id) => {
  const img = document.getElementById(id);
  return img && img.complete && img.naturalWidth > 0;
});

test('a completed task: both photos load, the slider compares them, a rating is accepted', async () => {
  const code = await codeOf('T-90001');
  const { context, page, errors } = await open(code, 'en-US');
  assert.equal(await page.getAttribute('html', 'dir'), 'ltr');
  assert.equal((await page.textContent('#status-badge')).trim(), 'Completed');
  assert.equal((await page.textContent('#code')).trim(), code);

  // Both photos, side by side and in the compare box, really decoded.
  await page.waitForFunction(photosLoaded, null, { timeout: 15_000 });
  const sizes = await page.evaluate(() => ['before-img', 'after-img'].map((id) => document.getElementById(id).naturalWidth));
  assert.ok(sizes.every((w) => w > 0), `natural widths ${sizes}`);
  const srcs = await page.evaluate(() => ['before-img', 'after-img'].map((id) => document.getElementById(id).src));
  assert.notEqual(srcs[0], srcs[1]);

  // The slider moves the clip of the after photo (keyboard and direct input).
  const clip = () => page.evaluate(() => getComputedStyle(document.getElementById('cmp-after')).clipPath);
  await page.focus('#cmp-slider');
  await page.keyboard.press('Home');
  assert.match(await clip(), /inset\(0(px)? 100% 0(px)? 0(px)?\)/);
  await page.keyboard.press('End');
  assert.match(await clip(), /inset\(0(px)?( 0%)?( 0(px)?)?( 0(px)?)?\)|inset\(0px\)/);
  await page.evaluate(() => {
    const s = document.getElementById('cmp-slider');
    s.value = '30';
    s.dispatchEvent(new Event('input', { bubbles: true }));
  });
  assert.match(await clip(), /inset\(0(px)? 70% 0(px)? 0(px)?\)/);
  const handle = await page.evaluate(() => document.getElementById('cmp-handle').style.left);
  assert.equal(handle, '30%');

  // The map shows the point (no tiles configured: a plain background with the marker).
  assert.ok(await page.locator('#map path.leaflet-interactive').count() >= 1);

  // The screenshot for docs/ (before the rating, with the forms showing).
  if (SHOT) {
    await page.evaluate(() => {
      const s = document.getElementById('cmp-slider');
      s.value = '50';
      s.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.screenshot({ path: SHOT, fullPage: true });
  }

  // Rate 4 stars with a comment.
  assert.ok(await page.isVisible('#rating-form'));
  assert.ok(await page.isVisible('#notfixed-form'));
  await page.click('label[for=star-4]');
  await page.fill('#rating-comment', 'Quick and clean, thank you.');
  await page.click('#rating-submit');
  await page.waitForSelector('#thanks:not([hidden])');
  assert.match(await page.textContent('#thanks'), /Thank you/);
  assert.equal(await page.isVisible('#rating-form'), false);
  await page.waitForFunction(() => document.getElementById('feedback-done').textContent.includes('4 of 5'));

  // A second rating from the same code is refused by the server (409).
  const again = await page.evaluate(async (c) => {
    const r = await fetch(`/api/v1/track/${c}/rating`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"stars":5}' });
    return r.status;
  }, code);
  assert.equal(again, 409);

  // No cookie, no storage.
  assert.deepEqual(await context.cookies(), []);
  assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a reopened task shows its status', async () => {
  const code = await codeOf('T-90002');
  const { context, page, errors } = await open(code, 'en-GB');
  assert.match(await page.textContent('#status-badge'), /Reopened/);
  assert.equal(await page.getAttribute('#status-badge', 'class'), 'badge badge-reopened');
  assert.equal(await page.isVisible('#rating-form'), false);
  assert.match(await page.textContent('#timeline'), /not fixed/);
  assert.match(await page.textContent('#feedback-done'), /You reported this as not fixed/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('in Persian the page is right to left, with Persian words and digits, and switches to English', async () => {
  const code = await codeOf('T-90001');
  const { context, page, errors } = await open(code, 'fa-IR');
  assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
  assert.equal(await page.getAttribute('html', 'lang'), 'fa');
  assert.match(await page.textContent('#status-badge'), /انجام شد/);
  assert.match(await page.textContent('#reported'), /[۰-۹]/);
  assert.match(await page.textContent('h1'), /پیگیری/);
  await page.click('#lang-switch');
  assert.equal(await page.getAttribute('html', 'dir'), 'ltr');
  assert.match(await page.textContent('#status-badge'), /Completed/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('"forget my contact" is reached from the tracking page and erases it', async () => {
  // A citizen's message with an e-mail address, filed through Open311 with the demo key.
  const form = new URLSearchParams({
    api_key: 'o311_demo0000000000000000000000000000', service_code: 'msg_suggestion',
    description: 'More benches in the park, please', email: 'forget-me@example.org', lang: 'fa',
  });
  const filed = await fetch(`${BASE}/open311/v2/requests.json`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form,
  });
  const v = await filed.json();
  assert.equal(filed.status, 201, JSON.stringify(v));
  const code = v[0].tracking_code;
  const { context, page, errors } = await open(code, 'fa-IR');
  assert.match(await page.textContent('#contact-link'), /پاک کنید/);
  await page.click('#contact-link');
  await page.waitForURL(/\/unsubscribe$/);
  await page.click('form[action$="/forget"] button');
  await page.waitForURL(/\/forget$/);
  assert.equal(await page.isVisible('body'), true);
  assert.deepEqual(errors, []);
  await context.close();
  const r = await fetch(`${BASE}/api/v1/track/${encodeURIComponent(code)}/forget`, { method: 'POST' });
  assert.equal(r.status, 200);
  // false: the page's button already erased it (a contact still stored would answer true).
  assert.equal((await r.json()).done, false, 'the contact was already erased by the page');
});

test('an unknown code shows a clear message and the form to type one', async () => {
  const context = await browser.newContext({ ...PHONE, locale: 'en-US' });
  const page = await context.newPage();
  await page.goto(`${BASE}/track/ZZZZ-ZZZZ-ZZZZ`);
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /No report has this tracking code/);
  assert.ok(await page.isVisible('#lookup-form'));
  await context.close();
});

// A code read aloud in Persian is typed on a Persian keyboard: its digits come out as
// ۰–۹, its letters often in lower case. The server folds them (base::crockford::read).
const toPersianDigits = (s) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0x06F0 + Number(d)));

// A showcase task's code with a digit in it (codes are random: one in ninety has none).
async function codeWithDigits() {
  for (const task of ['T-90001', 'T-90002', 'T-90003']) {
    const code = await codeOf(task);
    if (/[0-9]/.test(code)) return code;
  }
  assert.fail('no showcase code has a digit');
}

test('a code typed with Persian digits in the form, on a phone in Persian, shows the report', async () => {
  const code = await codeWithDigits();
  const typed = toPersianDigits(code.toLowerCase());
  assert.notEqual(typed, code.toLowerCase());
  const context = await browser.newContext({ ...PHONE, locale: 'fa-IR' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/track`);
  await page.waitForSelector('#lookup:not([hidden])');
  assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
  await page.fill('#code-input', typed);
  assert.equal(await page.inputValue('#code-input'), typed);
  await Promise.all([page.waitForURL(/\/track\/[^/]+/), page.press('#code-input', 'Enter')]);
  await page.waitForSelector('#report:not([hidden])');
  // The report, under its code as printed; no "not found".
  assert.equal((await page.textContent('#code')).trim(), code);
  assert.equal(await page.isVisible('#error'), false);
  if (SHOT) await page.screenshot({ path: SHOT.replace(/\.png$/, '') + '-persian-digits.png' });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a link with the code in Arabic-Indic digits and lower case shows the report', async () => {
  const code = await codeWithDigits();
  const arabic = code.toLowerCase().replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)));
  const { context, page, errors } = await open(encodeURIComponent(arabic), 'en-US');
  assert.equal((await page.textContent('#code')).trim(), code);
  assert.equal(await page.isVisible('#error'), false);
  assert.deepEqual(errors, []);
  await context.close();
});

test('a merged report shows the surviving report and says so', async () => {
  const code = await codeOf('T-90003');
  const { context, page, errors } = await open(code, 'en-US');
  assert.ok(await page.isVisible('#merged'));
  assert.match(await page.textContent('#merged'), /merged into this report/);
  assert.match(await page.textContent('#title'), /Shariati Street/);
  assert.equal((await page.textContent('#code')).trim(), code);
  assert.deepEqual(errors, []);
  await context.close();
});

test('"not fixed" with a photo reopens the completed task', async () => {
  const code = await codeOf('T-90001');
  const { context, page, errors } = await open(code, 'en-US');
  // A real JPEG: the page's own before photo, as the citizen's new photo.
  const src = await page.getAttribute('#before-img', 'src');
  const jpeg = Buffer.from(await (await fetch(`${BASE}${src}`)).arrayBuffer());
  await page.setInputFiles('#notfixed-photo', { name: 'still-broken.jpg', mimeType: 'image/jpeg', buffer: jpeg });
  await page.fill('#notfixed-comment', 'The hole is back after the rain.');
  await page.click('#notfixed-submit');
  await page.waitForSelector('#thanks:not([hidden])');
  assert.match(await page.textContent('#thanks'), /reopened/);
  await page.waitForFunction(() => document.getElementById('status-badge').textContent.includes('Reopened'));
  assert.match(await page.textContent('#timeline'), /not fixed — reopened \(you\)/);
  assert.deepEqual(errors, []);
  await context.close();
});
