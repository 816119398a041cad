// The call centre's desk in headless Chromium, entirely in Persian, against the demo city
// (tests/suites/browser.sh starts it): an operator answers a call (F2), finds the demo
// caller by their number typed in Persian digits, sees their two earlier reports, files
// a new pothole report by address search (the gazetteer's /api/v1/places/search: the
// place puts the point and shows its district), reads the tracking code shown big and
// spelled character by character, and ends the call (F4). The manager's trends page then
// has the call in its calls-per-day chart, and as many calls in its calls-per-hour one.
//
// TARMIM_DESK_SCREENSHOT (optional): where to save the desk with the code shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOT = process.env.TARMIM_DESK_SCREENSHOT;
assert.ok(BASE, 'TARMIM_BASE_URL is required');

const DESKTOP = { viewport: { width: 1280, height: 900 }, locale: 'fa-IR' };
const PERSIAN = '۰۱۲۳۴۵۶۷۸۹';
const latin = (s) => s.replace(/[۰-۹]/g, (d) => String(PERSIAN.indexOf(d)));

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function signIn(path, login, password) {
  const context = await browser.newContext(DESKTOP);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}${path}?lang=fa`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  return { context, page, errors };
}

test('an operator finds the demo caller, files by address search and reads the code (fa)', async () => {
  const { context, page, errors } = await signIn('/console/desk.html', 'callcentre', 'demo-callcentre');
  await page.waitForSelector('#desk-view:not([hidden])');
  assert.equal(await page.getAttribute('html', 'lang'), 'fa');
  assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
  await page.waitForSelector('#map .leaflet-pane', { state: 'attached' });

  // F2 answers the call; the number typed with Persian digits finds the caller.
  await page.keyboard.press('F2');
  await page.waitForSelector('#callbar.on');
  await page.fill('#find', '۰۹۱۲ ۳۴۵ ۶۷۸۹');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#reports li').length === 2);
  const reports = await page.locator('#reports li').allTextContents();
  assert.match(reports.join(' '), /چاله/);
  assert.match(reports.join(' '), /چراغ خیابان خراب/);
  assert.match(await page.textContent('#reports-title'), /۲ گزارش پیشین/);
  // Enter on a report opens its read-only view.
  await page.keyboard.press('Enter');
  await page.waitForSelector('#task-view:not([hidden]) ol li');
  assert.match(await page.textContent('#task-view'), /فقط خواندنی/);
  // The caller's number went into the form.
  assert.equal(await page.inputValue('#phone'), '۰۹۱۲ ۳۴۵ ۶۷۸۹');

  // A new pothole report, placed by address search.
  await page.selectOption('#kind', 'request');
  await page.selectOption('#service', 'pothole');
  await page.waitForSelector('#attributes select[data-attr=size]');
  await page.selectOption('#attributes select[data-attr=size]', 'medium');
  await page.fill('#place-q', 'میدان تجریش');
  await page.waitForSelector('#place-results button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /تجریش/.test(document.querySelector('#place-shown').textContent)
    && /ناحیه/.test(document.querySelector('#place-shown').textContent));
  await page.fill('#description', 'چاله‌ی تازه کنار میدان؛ تماس‌گیرنده می‌گوید عمیق است');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#receipt:not([hidden])');

  // The code, big and in Persian digits, spelled character by character.
  const shown = (await page.textContent('#receipt-code')).trim();
  assert.match(shown, /^[0-9A-Z۰-۹]{4}-[0-9A-Z۰-۹]{4}-[0-9A-Z۰-۹]{4}$/);
  assert.doesNotMatch(shown, /[0-9]/, 'digits are Persian');
  assert.equal(await page.locator('#receipt-spelled li:not(.dash)').count(), 12);
  assert.match(await page.textContent('#receipt-sms'), /کد را بخوانید/);
  const code = latin(shown);
  const track = await fetch(`${BASE}/api/v1/track/${code}`);
  assert.equal(track.status, 200);
  const filed = await track.json();
  assert.equal(filed.category.code, 'pothole');
  assert.equal(filed.district.code, 'D01');
  if (SHOT) await page.screenshot({ path: SHOT });

  // F4 ends the call with its outcome: a new report, about the code.
  assert.equal(await page.inputValue('#call-outcome'), 'new_report');
  await page.keyboard.press('F4');
  await page.waitForSelector('#callbar:not(.on)');
  assert.match(await page.textContent('#call-state'), /گزارش تازه/);
  assert.deepEqual(errors, []);
  await context.close();

  // The manager's calls-per-day chart counts it today.
  const m = await signIn('/console/manage.html', 'manager', 'demo-manager');
  await m.page.waitForSelector('#calls-figure:not([hidden]) #chart-calls canvas');
  await m.page.waitForFunction(() => /تماس/.test(document.querySelector('#calls-facts').textContent));
  const { today, days, hours } = await m.page.evaluate(() => {
    const of = (id) => state.charts.find((u) => u.root.parentElement.id === id);
    const sum = (xs) => xs.reduce((n, x) => n + x, 0);
    const d = of('chart-calls').data[1], h = of('chart-call-hours').data;
    return { today: d[d.length - 1], days: sum(d), hours: h[0].length === 24 ? sum(h[1]) : -1 };
  });
  assert.ok(today >= 1, `calls today in the chart: ${today}`);
  // Calls per hour of the day: 24 bars, holding every call the days hold.
  assert.equal(hours, days, 'calls per hour and per day disagree');
  assert.match(await m.page.textContent('#call-hours-figure figcaption'), /ساعت/);
  assert.match(await m.page.textContent('#calls-facts'), /[۱-۹]/);
  assert.deepEqual(m.errors, []);
  await m.context.close();
});
