// The manager pages in headless Chromium (Debian's, through playwright-core): a manager
// logs in, sees the trend charts drawn, the district map coloured by a measure (and
// recoloured when the measure changes), the scorecard ranked with the tasks behind a
// row one click away (with the citizens' thanks and complaints naming each unit), the
// reports and messages by kind × channel, the measures table exported as CSV with the page's filters, and
// the before/after gallery. A crew member's token is refused by the analytics API.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL (a server with the demo
// city), CHROMIUM_PATH (default /usr/bin/chromium), TARMIM_SCREENSHOT_DIR (optional:
// where to save docs/scorecard.png and docs/choropleth.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.TARMIM_SCREENSHOT_DIR;
assert.ok(BASE, 'TARMIM_BASE_URL is required');

async function login(name, password, device) {
  const r = await fetch(`${BASE}/api/v1/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: name, password, device_id: device }),
  });
  assert.equal(r.status, 200, `login ${name}`);
  return (await r.json()).token;
}

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function managerPage(tab) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${BASE}/console/manage.html?lang=en${tab ? `#${tab}` : ''}`);
  await page.fill('#login', 'manager');
  await page.fill('#password', 'demo-manager');
  await page.click('#login-form button[type=submit]');
  return page;
}

test('trend charts are drawn from the demo history', async () => {
  const page = await managerPage('trends');
  await page.waitForSelector('body[data-loaded="trends"]', { timeout: 20_000 });
  assert.equal(await page.locator('#error').textContent(), '');
  for (const id of ['chart-volume', 'chart-sla', 'chart-time', 'chart-satisfaction']) {
    assert.equal(await page.locator(`#${id} canvas`).count(), 1, `${id} has no chart`);
  }
  // The volume chart's legend shows a value for both series once hovered; at least the
  // series are there, named.
  const legend = await page.locator('#chart-volume .u-legend').textContent();
  assert.match(legend, /received/);
  assert.match(legend, /closed/);
  // Drawn from data: the demo history puts received tasks into the range.
  const received = await page.evaluate(() => state.charts[0].data[1]);
  assert.ok(received.some((v) => v > 0), `no received tasks charted: ${received}`);
  // Reports and messages by kind × channel: one row per kind and a total row whose last
  // cell is what the API counts.
  await page.locator('#messages-table tbody tr.total').waitFor({ timeout: 15_000 });
  const heads = await page.$$eval('#messages-table th', (ths) => ths.map((th) => th.textContent));
  assert.equal(heads[0], 'Kind');
  assert.equal(heads.at(-1), 'Total');
  assert.deepEqual(await page.$$eval('#messages-table tbody tr:not(.total) td:first-child', (tds) => tds.map((td) => td.textContent)),
    ['Request', 'Violation', 'Complaint', 'Criticism', 'Suggestion', 'Idea', 'Thanks']);
  const token = await login('manager', 'demo-manager', 'node-manage-kinds');
  const api = await (await fetch(`${BASE}/api/v1/analytics/messages`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const total = api.rows.reduce((n, r) => n + r.count, 0);
  assert.ok(total > 0, JSON.stringify(api));
  assert.equal(await page.locator('#messages-table tbody tr.total td:last-child').textContent(), String(total));
  await page.close();
});

test('the district map is coloured by the chosen measure', async () => {
  const page = await managerPage('map');
  await page.waitForSelector('body[data-loaded="map"]', { timeout: 20_000 });
  const fills = async () => page.$$eval('#choropleth path.leaflet-interactive', (ps) => ps.map((p) => p.getAttribute('fill')));
  const byReceived = async () => {
    await page.selectOption('#m-measure', 'received');
    return fills();
  };
  const first = await byReceived();
  assert.ok(first.length >= 12, `only ${first.length} districts drawn`);
  // Received differs between districts in the demo: more than one class is used.
  assert.ok(new Set(first).size > 1, `every district has the same colour: ${first}`);
  assert.ok((await page.locator('#m-legend span').count()) >= 2);
  await page.selectOption('#m-measure', 'sla_complete_pct');
  const second = await fills();
  assert.notDeepEqual(second, first, 'changing the measure did not recolour the map');
  await page.selectOption('#m-measure', 'received');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/choropleth.png` });
  await page.close();
});

test('the scorecard ranks districts and shows the tasks behind a row', async () => {
  // A thanks and a complaint for district D01, filed at the call centre's desk: counted
  // in D01's line.
  const desk = await login('callcentre', 'demo-callcentre', 'node-manage-desk');
  for (const kind of ['thanks', 'complaint']) {
    const r = await fetch(`${BASE}/api/v1/desk/reports`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${desk}` },
      body: JSON.stringify({ kind, description: `A ${kind} for the district's crews`, district: 'D01', about_unit: 'D01' }),
    });
    assert.equal(r.status, 201, await r.text());
  }
  const page = await managerPage('scorecard');
  await page.waitForSelector('body[data-loaded="scorecard"]', { timeout: 20_000 });
  const rows = page.locator('#s-table tbody tr[data-i]');
  const n = await rows.count();
  assert.ok(n >= 2, `only ${n} scorecard rows`);
  assert.match(await page.locator('#s-formula').textContent(), /Score/);
  const ranks = await page.$$eval('#s-table tbody tr[data-i] td:first-child', (tds) => tds.map((td) => td.textContent));
  assert.ok(ranks.includes('1'), `no rank 1 in ${ranks}`);
  const heads = await page.$$eval('#s-table th', (ths) => ths.map((th) => th.textContent));
  const [thanks, complaints] = [heads.indexOf('Thanks'), heads.indexOf('Complaints')];
  assert.ok(thanks > 0 && complaints > 0, `no thanks/complaints columns in ${heads}`);
  const d01 = await page.evaluate(() => [...document.querySelectorAll('#s-table tbody tr[data-i]')]
    .map((tr) => [...tr.children].map((td) => td.textContent)).find((cells) => /^(D01|Tajrish)$/.test(cells[1].trim())));
  assert.ok(d01, 'no D01 line');
  assert.ok(Number(d01[thanks]) >= 1 && Number(d01[complaints]) >= 1, `D01: ${d01}`);
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/scorecard.png`, fullPage: false });
  await rows.first().click();
  await page.locator('#evidence-table tbody tr').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('#evidence').isHidden(), false);
  const ids = await page.$$eval('#evidence-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
  // Task ids: filed (`T-…`) or the demo's history (`H-…`), never an empty cell.
  assert.ok(ids.length > 0 && ids.every((id) => /^[TH]-[0-9A-F]+$/.test(id)), `evidence rows: ${ids}`);
  await page.close();
});

test('the measures table exports as CSV with the same filters', async () => {
  const page = await managerPage('measures');
  await page.waitForSelector('body[data-loaded="measures"]', { timeout: 20_000 });
  await page.selectOption('#x-by', 'category');
  await page.waitForSelector('body[data-loaded="measures"]', { timeout: 20_000 });
  const shown = await page.locator('#x-table tbody tr').count();
  assert.ok(shown >= 1);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#tab-measures [data-export="measures"][data-format="csv"]'),
  ]);
  const csv = await readFile(await download.path(), 'utf8');
  const lines = csv.trim().split(/\r?\n/);
  assert.match(lines[0], /received/);
  assert.equal(lines.length - 1, shown, `CSV has ${lines.length - 1} rows, the page ${shown}`);
  await page.close();
});

test('the before/after gallery shows completed work and a crew is refused', async () => {
  const page = await managerPage('gallery');
  await page.waitForSelector('body[data-loaded="gallery"]', { timeout: 20_000 });
  const pairs = page.locator('#gallery figure.pair');
  // The demo city has completed tasks with real before and after photos.
  assert.ok((await pairs.count()) >= 1, await page.locator('#gallery').textContent());
  await page.waitForFunction(() => [...document.querySelectorAll('#gallery img')].slice(0, 2).every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 15_000 });
  await page.close();

  const crew = await login('crew-d01-a', 'demo-crew', 'node-manage-crew');
  const r = await fetch(`${BASE}/api/v1/analytics/measures?by=district`, { headers: { Authorization: `Bearer ${crew}` } });
  assert.equal(r.status, 403);
});
