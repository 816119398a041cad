// Penalties in headless Chromium (Debian's, through playwright-core): the demo manager
// opens /console/penalties.html, picks the proposed late-completion penalty of the demo's
// late task T-90010 (its before and after photos load), confirms it with a reason; the
// contractor's representative (contractor-pars) sees it confirmed, sees only its own
// contractor's penalties, and appeals with a note; the manager sees the appeal.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL (a server with the demo
// city), CHROMIUM_PATH (default /usr/bin/chromium), TARMIM_SCREENSHOT_DIR (optional:
// where to save screenshots of the page).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.TARMIM_SCREENSHOT_DIR;
assert.ok(BASE, 'TARMIM_BASE_URL is required');

const TASK = 'T-90010';

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function signIn(lang, login, password, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1300, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/console/penalties.html?lang=${lang}`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#pen-list tbody tr');
  return { context, page, errors };
}

const row = (status) => `#pen-list tbody tr[data-task="${TASK}"][data-status="${status}"]`;

test('a manager confirms a late task\'s penalty and the contractor\'s representative appeals it', async () => {
  const m = await signIn('en', 'manager', 'demo-manager');
  // The late task's proposals: late acknowledgement and late completion.
  assert.equal(await m.page.locator(row('proposed')).count(), 2);
  const late = m.page.locator(`${row('proposed')}:has-text("Late completion")`);
  await late.click();
  await m.page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('#d-photos img')];
    return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, null, { timeout: 15_000 });
  assert.match(await m.page.textContent('#d-facts'), /Late by\s*200 minutes/);
  // An empty reason is refused on the page; then the decision goes through.
  await m.page.click('#decide-form button[type=submit]');
  assert.match(await m.page.textContent('#message'), /reason/);
  await m.page.fill('#reason', 'Completed 3 h 20 min after the SLA; no reason logged.');
  await m.page.click('#decide-form button[type=submit]');
  await m.page.waitForSelector('#message[data-status="confirmed"]');
  assert.equal(await m.page.locator(row('confirmed')).count(), 1);
  assert.deepEqual(m.errors, []);

  // The representative: only its contractor's penalties; appeals the confirmed one.
  const r = await signIn('en', 'contractor-pars', 'demo-contractor');
  const contractors = await r.page.$$eval('#pen-list tbody tr td:nth-child(3)', (tds) => [...new Set(tds.map((t) => t.textContent))]);
  assert.deepEqual(contractors, ['Pars Asphalt Co.']);
  await r.page.click(row('confirmed'));
  await r.page.waitForSelector('#appeal-form:not([hidden])');
  assert.equal(await r.page.isHidden('#decide-form'), true, 'a representative does not decide');
  await r.page.fill('#note', 'The crew was held at an urgent job by the dispatcher.');
  await r.page.click('#appeal-form button[type=submit]');
  await r.page.waitForSelector('#message[data-status="appealed"]');
  assert.deepEqual(r.errors, []);

  // The statement (the page's printable view) lists it.
  await r.page.click('#statement-form button[type=submit]');
  await r.page.waitForSelector('#statement table');
  assert.match(await r.page.textContent('#statement'), /T-90010/);

  // The manager sees the appeal and can decide it.
  await m.page.selectOption('#f-status', 'appealed');
  await m.page.waitForSelector(row('appealed'));
  await m.page.click(row('appealed'));
  await m.page.waitForSelector('#decide-form:not([hidden])');
  assert.match(await m.page.textContent('#d-facts'), /urgent job/);
  await m.context.close();
  await r.context.close();

  if (SHOTS) {
    // Persian first, on a phone and on a desk.
    for (const [name, viewport] of [['penalties', { width: 1280, height: 900 }], ['penalties-phone', { width: 390, height: 844 }]]) {
      for (const lang of ['fa', 'en']) {
        const s = await signIn(lang, 'manager', 'demo-manager', viewport);
        await s.page.click(`#pen-list tbody tr[data-task="${TASK}"]`);
        await s.page.waitForSelector('#detail:not([hidden])');
        await s.page.waitForTimeout(500);
        await s.page.screenshot({ path: `${SHOTS}/${name}-${lang}.png`, fullPage: viewport.width < 500 });
        await s.context.close();
      }
    }
  }
});

test('on a 390-px phone the penalties are cards no wider than the screen, in Persian and English', async () => {
  for (const lang of ['fa', 'en']) {
    const s = await signIn(lang, 'manager', 'demo-manager', { width: 390, height: 844 });
    const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${lang}: the page is ${overflow} px wider than the screen`);
    // Each row is a card whose cells say which column they are.
    const first = s.page.locator('#pen-list tbody tr').first();
    const box = await first.boundingBox();
    assert.ok(box.width <= 390, `${lang}: a row is ${box.width} px wide`);
    const labels = await first.locator('td').evaluateAll((tds) => tds.map((td) => getComputedStyle(td, '::before').content));
    assert.ok(labels.every((l) => l && l !== 'none' && l !== '""'), `${lang}: ${labels}`);
    assert.equal(await s.page.isVisible('#pen-list thead'), false, `${lang}: no header row on a phone`);
    // Picking one brings its evidence into view.
    await first.click();
    await s.page.waitForSelector('#detail:not([hidden])');
    await s.page.waitForFunction(() => document.querySelector('#panel').getBoundingClientRect().top < window.innerHeight);
    assert.deepEqual(s.errors, []);
    await s.context.close();
  }
});
