// A newcomer's first hour (issue 22), run by tests/suites/firsthour.sh against a server
// it started the README's way. Everything the walkthrough uses is read from what the
// server printed (FIRSTHOUR_LOG) — demo logins, tracking codes, the Open311 key, the
// integrity commands — never from constants here, and checked against what README.md and
// server/README.md tell a newcomer: if either side changes, this breaks.
//
// Each demo role opens each page its navigation offers in headless Chromium (Persian, the
// default), failing on a page error, a console error, a failed request or an
// untranslated key; Open311 requests are filed in XML and JSON with the printed key; an
// integrity report is made on its page (proof of work included), read and answered with
// the printed CLI commands, and the answer read back on the page with the receipt code.
//
// Environment: TARMIM_BASE_URL, FIRSTHOUR_LOG, FIRSTHOUR_ROOT (the checkout),
// FIRSTHOUR_SHOTS (optional: a folder for the screenshots of docs/quickstart.md),
// CHROMIUM_PATH (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const LOG = process.env.FIRSTHOUR_LOG;
const ROOT = process.env.FIRSTHOUR_ROOT;
const SHOTS = process.env.FIRSTHOUR_SHOTS || '';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
assert.ok(BASE && LOG && ROOT, 'TARMIM_BASE_URL, FIRSTHOUR_LOG and FIRSTHOUR_ROOT are required');
const ORIGIN = new URL(BASE).origin;

// What the server printed, without terminal colours.
const printed = () => readFileSync(LOG, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const serverReadme = readFileSync(join(ROOT, 'server/README.md'), 'utf8');

function logins() {
  const out = [];
  for (const m of printed().matchAll(/demo login: (\S+) \/ (\S+) \(([^)\n]+)\)/g)) {
    out.push({ login: m[1], password: m[2], role: m[3] });
  }
  const crew = printed().match(/demo crew logins: (\S+) .*\/ (\S+)\s*$/m);
  if (crew) out.push({ login: crew[1], password: crew[2], role: 'crew' });
  return out;
}
const trackingCodes = () => [...printed().matchAll(/demo tracking code: (\S+) → task (\S+)/g)].map((m) => ({ code: m[1], task: m[2] }));
const open311Key = () => (printed().match(/demo Open311 api_key: (\S+)/) || [])[1];
const integrityCommand = (what) => (printed().match(new RegExp(`demo integrity, ${what}: (.+)$`, 'm')) || [])[1];

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

// A page watched for everything a newcomer would see go wrong.
async function watched(viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport, locale: 'fa-IR' });
  const page = await context.newPage();
  const problems = [];
  let where = 'start';
  const sameOrigin = (url) => { try { return new URL(url).origin === ORIGIN; } catch { return false; } };
  page.on('pageerror', (e) => problems.push(`${where}: page error: ${e.message}`));
  page.on('console', (m) => {
    // Chromium's own favicon request is not the page's.
    if (m.type() === 'error' && !(m.location()?.url || '').endsWith('/favicon.ico')) problems.push(`${where}: console error: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText || '';
    // A navigation away cancels the console's open event stream: not a failure.
    if (why.includes('ERR_ABORTED')) return;
    problems.push(`${where}: request failed: ${r.method()} ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (sameOrigin(r.url()) && r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      problems.push(`${where}: ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    }
  });
  return {
    context, page, problems,
    at(w) { where = w; },
    async untranslated() {
      const text = await page.evaluate(() => document.body.innerText);
      const raw = text.match(/⟦[^⟧]*⟧/g);
      if (raw) problems.push(`${where}: untranslated ${[...new Set(raw)].join(' ')}`);
    },
  };
}

// Loaded, the role's navigation (or a refusal, or the login form) drawn, first answers in.
// Never "network idle": the console's event stream keeps the network busy.
async function settle(page) {
  await page.waitForLoadState('load').catch(() => {});
  await page.waitForFunction(
    () => document.querySelector('#nav a, #nav-refusal') || document.querySelector('#login-form')?.offsetParent,
    null, { timeout: 10_000 },
  ).catch(() => {});
  await page.waitForTimeout(1_000);
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

test('the server printed what the READMEs promise a newcomer', () => {
  const all = logins();
  assert.ok(all.length >= 6, `demo logins printed: ${JSON.stringify(all)}`);
  for (const { login, password } of all) {
    assert.ok(serverReadme.includes(login) && serverReadme.includes(password),
      `server/README.md's demo table lacks ${login} / ${password}`);
  }
  // The README's own example login is one the server printed.
  const example = readme.match(/log in as `([^`]+)` \/\s*`([^`]+)`/);
  assert.ok(example, 'README.md names a console login');
  assert.ok(all.some((l) => l.login === example[1] && l.password === example[2]), `README's ${example[1]} / ${example[2]} was not printed`);
  assert.ok(trackingCodes().length >= 1, 'tracking codes printed');
  const key = open311Key();
  assert.ok(key, 'the Open311 key printed');
  assert.ok(serverReadme.includes(key), 'server/README.md gives the same Open311 key');
  for (const what of ['list the reports', 'read one', 'reply to it']) {
    assert.ok(integrityCommand(what), `the integrity command to ${what} printed`);
  }
});

test('every demo role opens every page its navigation offers, without an error', async () => {
  const failures = [];
  for (const { login, password, role } of logins()) {
    const w = await watched();
    const { page } = w;
    w.at(`${login}: /console/`);
    await page.goto(`${BASE}/console/`);
    await page.fill('#login', login);
    await page.fill('#password', password);
    await page.click('#login-form button[type=submit]');
    await settle(page);
    await w.untranslated();
    const refusal = await page.locator('#nav-refusal').count();
    // Pages: the navigation's (or the refusal's offer), each opened in turn.
    const hrefs = await page.$$eval('#nav a, #nav-refusal a', (as) => [...new Set(as.map((a) => a.href))]);
    if (role === 'crew') {
      assert.ok(refusal, 'a crew member is told the console is not theirs');
      assert.match(await page.locator('#nav-refusal').innerText(), /گوشی/);
    } else {
      assert.ok(hrefs.length > 0 || !refusal, `${login} has nowhere to go`);
    }
    await shot(page, refusal ? `${login}-refused` : `${login}-console`);
    for (const href of hrefs) {
      const path = new URL(href).pathname;
      w.at(`${login}: ${path}`);
      await page.goto(href);
      await settle(page);
      assert.equal(await page.locator('#nav-refusal').count(), 0, `${login} was offered ${path} and then refused`);
      await w.untranslated();
      await shot(page, `${login}-${path.replace(/^\/console\/?/, '').replace(/\.html$/, '') || 'console'}`);
    }
    failures.push(...w.problems);
    await w.context.close();
  }
  assert.deepEqual(failures, [], failures.join('\n'));
});

test('a citizen reports on the report page and follows a printed tracking code', async () => {
  const w = await watched({ width: 390, height: 844 });
  const { page } = w;
  w.at('/report');
  await page.goto(`${BASE}/report`);
  await page.waitForSelector('#kinds [role=radio], #kinds input, #kinds button', { timeout: 15_000 });
  await page.waitForTimeout(800);
  await w.untranslated();
  await shot(page, 'citizen-report');
  for (const { code } of trackingCodes()) {
    w.at(`/track/${code}`);
    await page.goto(`${BASE}/track/${code}`);
    await page.waitForLoadState('load');
    await page.waitForTimeout(800);
    await w.untranslated();
    assert.ok((await page.locator('body').innerText()).length > 50, `the tracking page of ${code} is empty`);
  }
  await page.goto(`${BASE}/track/${trackingCodes()[0].code}`);
  await page.waitForTimeout(1_200);
  await shot(page, 'citizen-track');
  assert.deepEqual(w.problems, [], w.problems.join('\n'));
  await w.context.close();
});

// A point inside a district: where an existing demo report is.
async function somewhere() {
  const list = await (await fetch(`${BASE}/open311/v2/requests.json`)).json();
  const r = list.find((x) => typeof x.lat === 'number' && typeof x.long === 'number');
  assert.ok(r, 'the demo city has reports with a place');
  return { lat: r.lat, long: r.long };
}

async function plainService() {
  const services = await (await fetch(`${BASE}/open311/v2/services.json`)).json();
  const s = services.find((x) => !x.metadata && !String(x.service_code).startsWith('msg_'))
    || services.find((x) => !String(x.service_code).startsWith('msg_'));
  assert.ok(s, 'a field service');
  return s.service_code;
}

test('Open311: a request filed in JSON and one in XML with the printed key', async () => {
  const key = open311Key();
  const where = await somewhere();
  const service = await plainService();
  const form = (description) => new URLSearchParams({
    api_key: key, service_code: service, lat: String(where.lat), long: String(where.long), description,
  });
  const json = await fetch(`${BASE}/open311/v2/requests.json`, { method: 'POST', body: form('first hour, JSON') });
  assert.equal(json.status, 201, await json.clone().text());
  const [created] = await json.json();
  assert.ok(created.service_request_id && created.tracking_code, JSON.stringify(created));
  const back = await (await fetch(`${BASE}/open311/v2/requests/${created.service_request_id}.json`)).json();
  assert.equal(back[0].description, 'first hour, JSON');

  const xml = await fetch(`${BASE}/open311/v2/requests.xml`, { method: 'POST', body: form('first hour, XML') });
  const body = await xml.text();
  assert.equal(xml.status, 201, body);
  assert.match(body, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
  assert.match(body, /<service_request_id>[^<]+<\/service_request_id>/);

  // A wrong key is refused: the printed one is what made the difference.
  const wrong = await fetch(`${BASE}/open311/v2/requests.json`, {
    method: 'POST', body: new URLSearchParams({ ...Object.fromEntries(form('x')), api_key: 'o311_wrong' }),
  });
  assert.equal(wrong.status, 403);
});

// Runs a command the server printed, as a newcomer pastes it into a shell at the
// checkout's root.
function run(command, input) {
  return execSync(command, { cwd: ROOT, input, encoding: 'utf8', shell: '/bin/bash', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
}

test('integrity: a report made on the page is read and answered with the printed commands', async () => {
  const w = await watched({ width: 390, height: 844 });
  const { page } = w;
  w.at('/integrity');
  await page.goto(`${BASE}/integrity`);
  await page.waitForFunction(() => document.querySelectorAll('#category option').length > 0, null, { timeout: 15_000 });
  await w.untranslated();
  const secret = `first hour ${Date.now()}: the permit office asks for cash`;
  await page.fill('#text', secret);
  await page.fill('#place', 'District 7 permit office');
  await shot(page, 'investigator-report');
  await page.click('#send');
  await page.waitForSelector('#receipt:not([hidden])', { timeout: 60_000 });
  const receipt = (await page.locator('#receipt-code').innerText()).trim();
  assert.match(receipt, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$/);

  const list = run(integrityCommand('list the reports'));
  const ids = [...list.matchAll(/^(C-\S+)/gm)].map((m) => m[1]);
  assert.ok(ids.length >= 1, `the list command shows the case:\n${list}`);
  let found = null;
  for (const id of ids) {
    const text = run(integrityCommand('read one').replace('<CASE>', id));
    if (text.includes(secret)) { found = id; break; }
  }
  assert.ok(found, 'the read command shows the report');
  const answer = `Thank you: case ${found} is open, first hour ${Date.now()}.`;
  const reply = integrityCommand('reply to it').replace('<CASE>', found).replace(/^echo '[^']*' \| /, '');
  assert.match(run(reply, answer), /reply added/);

  w.at('/integrity: follow-up');
  await page.fill('#code', receipt);
  await page.click('#follow-form button[type=submit]');
  await page.waitForFunction((a) => document.querySelector('#messages')?.innerText.includes(a), answer, { timeout: 20_000 });
  await w.untranslated();
  await page.locator('#thread').scrollIntoViewIfNeeded();
  await shot(page, 'investigator-reply');
  assert.deepEqual(w.problems, [], w.problems.join('\n'));
  await w.context.close();
});
