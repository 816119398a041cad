// Rosters and coverage in headless Chromium (Debian's, through playwright-core): the
// demo city's one coverage gap (an urgent skill of one district, 3 hours, half a day
// ahead) is listed on /console/roster.html for the region's dispatcher and the manager, with the alert it
// raised ahead of time, which the dispatch console's alert list shows too; a dispatcher
// adds a shift and removes it, and a bad roster CSV is refused with its lines; on a
// 390-px phone the page fits the screen in Persian and English.
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

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function signIn(path, lang, login, password, viewport) {
  const context = await browser.newContext({ viewport: viewport || { width: 1300, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}${path}?lang=${lang}`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  return { context, page, errors };
}

const roster = (lang, login, password, viewport) => signIn('/console/roster.html', lang, login, password, viewport)
  .then(async (s) => { await s.page.waitForSelector('#crews .crew'); return s; });

// The demo's one gap and the dispatcher of its region (R1: D01–D04, R2: D05–D08, R3: D09–D12).
async function demoGap() {
  const m = await roster('en', 'manager', 'demo-manager');
  const rows = m.page.locator('#gaps tbody tr');
  await m.page.waitForSelector('#gaps tbody tr');
  assert.equal(await rows.count(), 1, await m.page.textContent('#coverage-pane'));
  const district = await rows.first().getAttribute('data-district');
  const skill = await rows.first().getAttribute('data-skill');
  await m.context.close();
  const region = Math.ceil(Number(district.slice(1)) / 4);
  return { district, skill, dispatcher: `dispatcher-r${region}` };
}

test('the demo\'s coverage gap is listed with its alert, for the dispatcher and the manager', async () => {
  const gap = await demoGap();
  assert.ok(['water_leak', 'traffic_signal'].includes(gap.skill), gap.skill);
  const d = await roster('en', gap.dispatcher, 'demo-dispatcher');
  const rows = d.page.locator('#gaps tbody tr');
  assert.equal(await rows.count(), 1, await d.page.textContent('#coverage-pane'));
  assert.equal(await rows.first().getAttribute('data-district'), gap.district);
  assert.match(await rows.first().textContent(), /Water leak|Traffic signal fault/);
  assert.match(await rows.first().textContent(), /3$/);
  assert.match(await d.page.textContent('#coverage-summary'), /4 districts × 2 urgent skills × 168 hours: 1 gap$/, 'one gap, in the singular');
  // The alert, raised ahead of time (the default lead is a day; the gap is 12 hours off).
  await d.page.waitForSelector(`#gap-alerts li[data-district="${gap.district}"]`);
  assert.match(await d.page.textContent('#gap-alerts'),
    new RegExp(`no crew with skill ${gap.skill} rostered in ${gap.district} or its neighbours`));
  // Crews of the region with their duty and shifts.
  assert.ok(await d.page.locator('#crews .crew .shifts li[data-shift]').count() > 20);
  assert.deepEqual(d.errors, []);

  // The dispatch console's alert list shows it too.
  const c = await signIn('/console/', 'en', gap.dispatcher, 'demo-dispatcher');
  await c.page.waitForSelector('#alerts .alert');
  assert.match(await c.page.textContent('#alerts'), /coverage gap/);
  await c.context.close();

  // The manager, in Persian: the same single gap in words, and no edit forms.
  const m = await roster('fa', 'manager', 'demo-manager');
  await m.page.waitForSelector('#gaps tbody tr');
  assert.equal(await m.page.locator('#gaps tbody tr').count(), 1);
  assert.match(await m.page.textContent('#gaps tbody'), /نشت آب|خرابی چراغ راهنمایی/);
  // Persian dates and times are joined by «،», never by a Latin comma.
  const shown = await m.page.textContent('#roster-view');
  assert.match(shown, /[۰-۹]، [۰-۹]/);
  assert.doesNotMatch(shown, /,/);
  assert.equal(await m.page.isHidden('#add-form'), true);
  assert.equal(await m.page.isHidden('#import-form'), true);
  assert.deepEqual(m.errors, []);
  await m.context.close();
  await d.context.close();
});

test('a dispatcher adds and removes a shift; a bad roster file is refused with its lines', async () => {
  const d = await roster('en', 'dispatcher-r1', 'demo-dispatcher');
  const ymd = (t) => t.toISOString().slice(0, 10);
  const soon = new Date(Date.now() + 6 * 86_400_000);
  // Tehran keeps +03:30 all year. A crew of the region free from 02:00 to 05:00 that day.
  const [from, to] = [Date.parse(`${ymd(soon)}T02:00:00+03:30`), Date.parse(`${ymd(soon)}T05:00:00+03:30`)];
  const crew = await d.page.evaluate(([a, b]) => state.week.crews
    .find((c) => c.shifts.every((s) => s.ends_at <= a || s.starts_at >= b)).id, [from, to]);
  const count = () => d.page.locator(`#crews .crew[data-crew="${crew}"] .shifts li[data-shift]`).count();
  const before = await count();
  // Thirty days on, 22:00 to 06:00 the next morning (the city's clock).
  const day = new Date(Date.now() + 30 * 86_400_000);
  const next = new Date(day.getTime() + 86_400_000);
  await d.page.selectOption('#a-crew', crew);
  await d.page.fill('#a-start', `${ymd(day)}T22:00`);
  await d.page.fill('#a-end', `${ymd(next)}T06:00`);
  await d.page.click('#add-form button[type=submit]');
  await d.page.waitForSelector('#message[data-status="added"]');
  // The week shows only the next 7 days: the shift is stored, not listed; its removal
  // is through the list, so add one inside the week too.
  assert.equal(await count(), before);
  await d.page.fill('#a-start', `${ymd(soon)}T02:00`);
  await d.page.fill('#a-end', `${ymd(soon)}T04:00`);
  await d.page.click('#add-form button[type=submit]');
  await d.page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length === n,
    [`#crews .crew[data-crew="${crew}"] .shifts li[data-shift]`, before + 1]);
  // An overlapping one is refused in words.
  await d.page.fill('#a-start', `${ymd(soon)}T03:00`);
  await d.page.fill('#a-end', `${ymd(soon)}T05:00`);
  await d.page.click('#add-form button[type=submit]');
  await d.page.waitForSelector('#message[data-status="error"]');
  assert.match(await d.page.textContent('#message'), /overlaps/);
  // Remove the one inside the week.
  const added = d.page.locator(`#crews .crew[data-crew="${crew}"] .shifts li[data-shift]`).filter({ hasText: '02:00' }).last();
  await added.locator('button').click();
  await d.page.waitForSelector('#message[data-status="removed"]');
  assert.equal(await count(), before);

  // A bad file: every problem with its line.
  await d.page.setInputFiles('#i-file', {
    name: 'week.csv', mimeType: 'text/csv',
    buffer: Buffer.from(`crew,start,end\n${crew},${ymd(day)} 08:00,${ymd(day)} 07:00\nC-NOBODY,${ymd(day)} 08:00,${ymd(day)} 16:00\n`),
  });
  await d.page.click('#import-form button[type=submit]');
  await d.page.waitForSelector('#message[data-status="error"]');
  const said = await d.page.textContent('#message');
  assert.match(said, /line 2: the shift ends before it starts/);
  assert.match(said, /line 3: unknown crew "C-NOBODY"/);
  // A good one.
  await d.page.setInputFiles('#i-file', {
    name: 'week.csv', mimeType: 'text/csv',
    buffer: Buffer.from(`crew,start,end\n${crew},${ymd(day)} 08:00,${ymd(day)} 16:00\n`),
  });
  await d.page.click('#import-form button[type=submit]');
  await d.page.waitForSelector('#message[data-status="imported"]');
  assert.deepEqual(d.errors, []);
  await d.context.close();
});

test('on a 390-px phone the roster page fits the screen, in Persian and English', async () => {
  const gap = await demoGap();
  for (const lang of ['fa', 'en']) {
    const s = await roster(lang, gap.dispatcher, 'demo-dispatcher', { width: 390, height: 844 });
    await s.page.waitForSelector('#gaps tbody tr');
    const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${lang}: the page is ${overflow} px wider than the screen`);
    const cells = await s.page.locator('#gaps tbody tr td').evaluateAll((tds) => tds.map((td) => getComputedStyle(td, '::before').content));
    assert.ok(cells.every((l) => l && l !== 'none' && l !== '""'), `${lang}: ${cells}`);
    if (SHOTS) await s.page.screenshot({ path: `${SHOTS}/roster-phone-${lang}.png`, fullPage: false });
    assert.deepEqual(s.errors, []);
    await s.context.close();
  }
});
