// The admin page in headless Chromium (Debian's, through playwright-core), in Persian: the
// demo admin creates a service with an Open311 attribute (a list with two values) and
// per-priority terms, then a crew with that skill, on a 390×844 phone and at desktop width.
// A refused change (two attributes with one code) is said on the page and stores nothing;
// every change is in the staff audit log; the phone layout is never wider than the screen.
//
// A crew's field report outside every district, acknowledged to the phone but routable
// nowhere, is shown to the admin under "given up" (issue 16 §13), in Persian and English.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL (a server with the demo
// city), TARMIM_PHONE_PROBE (the crew's phone, server/examples/phone_probe.rs), CHROMIUM_PATH (default /usr/bin/chromium), TARMIM_SCREENSHOT_DIR (optional:
// where to save screenshots of the page).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const PROBE = process.env.TARMIM_PHONE_PROBE;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.TARMIM_SCREENSHOT_DIR;
assert.ok(BASE, 'TARMIM_BASE_URL is required');

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function signIn(lang, viewport) {
  const context = await browser.newContext({ viewport, locale: lang === 'fa' ? 'fa-IR' : 'en-US' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/console/admin.html?lang=${lang}`);
  await page.fill('#login', 'admin');
  await page.fill('#password', 'demo-admin');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#svc-list .card');
  return { context, page, errors };
}

const audit = (page) => page.evaluate(async () => {
  const r = await fetch('/api/v1/admin/audit?limit=200', { headers: session.headers() });
  return (await r.json()).map((e) => `${e.action} ${e.target}`);
});

async function createServiceAndCrew(page, suffix, width) {
  const code = `flood_${suffix}`;
  const crewId = `C-D01-${suffix.toUpperCase()}`;
  // Persian first: the page is right to left with Persian labels.
  assert.equal(await page.getAttribute('html', 'dir'), 'rtl');
  assert.equal(await page.textContent('#tabs [data-tab=services]'), 'خدمات');

  await page.click('#svc-new');
  await page.fill('#svc-code', code);
  await page.fill('#svc-name', 'آب‌گرفتگی معبر');
  await page.fill('#svc-name-en', 'Flooded street');
  await page.fill('#svc-group', 'streets');
  await page.selectOption('#svc-priority', 'high');
  await page.fill('#svc-ack', '30');
  await page.fill('#svc-complete', '480');
  await page.fill('#svc-sla .sla-row[data-priority=urgent] .o-ack', '10');
  await page.fill('#svc-sla .sla-row[data-priority=urgent] .o-complete', '120');
  // Two attributes with one code: refused in words, nothing stored.
  for (let i = 0; i < 2; i += 1) {
    await page.click('#svc-attr-add');
    const row = page.locator('#svc-attrs .attr').nth(i);
    await row.locator('.a-code').fill('depth');
    await row.locator('.a-desc').fill('عمق آب چقدر است؟');
  }
  await page.click('#svc-form button[type=submit]');
  await page.waitForSelector('#message.bad');
  assert.ok((await page.textContent('#message')).length > 0);
  assert.equal(await page.locator(`#svc-list .card:has-text("${code}")`).count(), 0);
  // Fix it: the second becomes a list with two values.
  const second = page.locator('#svc-attrs .attr').nth(1);
  await second.locator('.a-code').fill('side');
  await second.locator('.a-type').selectOption('singlevaluelist');
  await second.locator('.a-desc').fill('کدام سمت خیابان؟');
  await second.locator('.a-values').fill('n=شمال\ns=جنوب');
  await page.locator('#svc-attrs .attr').nth(0).locator('.a-required').check();
  await page.click('#svc-form button[type=submit]');
  await page.waitForSelector('#message.good');
  const card = page.locator(`#svc-list .card:has-text("${code}")`);
  await card.waitFor();
  const text = await card.textContent();
  assert.match(text, /آب‌گرفتگی معبر/);
  assert.match(text, /side/);
  assert.match(text, /یکی از فهرست/, 'the datatype in Persian words');
  assert.match(text, /۳۰ دقیقه/, 'Persian digits');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/admin-services-fa-${width}.png`, fullPage: width <= 400 });

  await page.click('#tabs [data-tab=crews]');
  await page.click('#crew-new');
  await page.fill('#crew-id', crewId);
  await page.fill('#crew-name', `اکیپ آب ${suffix}`);
  await page.selectOption('#crew-district', 'D01');
  await page.check(`#crew-skills input[value="${code}"]`);
  await page.click('#crew-form button[type=submit]');
  await page.waitForSelector('#message.good');
  const crew = page.locator(`#crew-list .card:has-text("${crewId}")`);
  await crew.waitFor();
  assert.match(await crew.textContent(), /آب‌گرفتگی معبر/, 'the skill by its Persian name');
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/admin-crews-fa-${width}.png`, fullPage: width <= 400 });

  // The server has it as typed, and the audit log has both changes.
  const svc = await page.evaluate(async (c) => {
    const r = await fetch('/api/v1/admin/services', { headers: session.headers() });
    return (await r.json()).find((s) => s.code === c);
  }, code);
  assert.equal(svc.name_en, 'Flooded street');
  assert.deepEqual(svc.sla, [{ priority: 'urgent', ack_minutes: 10, complete_minutes: 120 }]);
  assert.deepEqual(svc.attributes.map((a) => [a.code, a.datatype, a.required]), [['depth', 'string', true], ['side', 'singlevaluelist', false]]);
  assert.deepEqual(svc.attributes[1].values, [{ key: 'n', name: 'شمال' }, { key: 's', name: 'جنوب' }]);
  const rows = await audit(page);
  assert.ok(rows.includes(`admin.service_create ${code}`), rows.join('\n'));
  assert.ok(rows.includes(`admin.crew_create ${crewId}`), rows.join('\n'));

  // Leave the shared demo server as found: the service's attribute texts are Persian only,
  // and the i18n walk would find them on the desk's English page.
  const retired = await page.evaluate(async (c) => {
    const r = await fetch(`/api/v1/admin/services/${encodeURIComponent(c)}/retire`, { method: 'POST', headers: session.headers() });
    return r.status;
  }, code);
  assert.equal(retired, 200);

  // Nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
}

test('an admin creates a service with an attribute and a crew, in Persian, on a phone', async () => {
  const { context, page, errors } = await signIn('fa', { width: 390, height: 844 });
  await createServiceAndCrew(page, `p${Date.now().toString(36)}`, 390);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the same at desktop width, and the admin page in the role navigation', async () => {
  const { context, page, errors } = await signIn('fa', { width: 1300, height: 900 });
  await createServiceAndCrew(page, `d${Date.now().toString(36)}`, 1300);
  // Other staff pages link to it for admins only.
  await page.goto(`${BASE}/console/penalties.html?lang=fa`);
  await page.waitForSelector('#nav a[data-nav-page=admin]');
  assert.deepEqual(errors, []);
  await context.close();
  const m = await browser.newContext({ viewport: { width: 1300, height: 900 } });
  const mp = await m.newPage();
  await mp.goto(`${BASE}/console/admin.html?lang=en`);
  await mp.fill('#login', 'manager');
  await mp.fill('#password', 'demo-manager');
  await mp.click('#login-form button[type=submit]');
  await mp.waitForSelector('#nav-refusal');
  assert.equal(await mp.isHidden('#admin-view'), true, 'a manager is refused the admin page');
  await m.close();
});

test('a crew\'s field report outside every district is listed for the admin as given up', async () => {
  assert.ok(PROBE, 'TARMIM_PHONE_PROBE is required (the crew\'s phone)');
  // Far outside the demo city: the phone files it offline-style and the server acknowledges it.
  const out = execFileSync(PROBE, [BASE, 'crew-d01-a', 'demo-crew', '--file', '36.90,53.90'],
    { encoding: 'utf8', timeout: 60_000 });
  const [task] = JSON.parse(out.trim().split('\n').pop()).filed;
  assert.ok(task, out);
  for (const lang of ['fa', 'en']) {
    const { context, page, errors } = await signIn(lang, { width: 390, height: 844 });
    // The routing job is given up at its first attempt (no district can take the point).
    await page.waitForFunction(async (id) => {
      const r = await fetch('/api/v1/outbox/dead?limit=100', { headers: session.headers() });
      return (await r.json()).some((d) => d.task === id && d.kind === 'adopt');
    }, task, { timeout: 30_000, polling: 500 });
    await page.reload();
    await page.waitForSelector('#svc-list .card');
    await page.click('#tabs [data-tab=dead]');
    const card = page.locator(`#dead-list .card[data-task="${task}"]`);
    await card.waitFor();
    const text = await card.textContent();
    assert.match(text, lang === 'fa' ? /مسیریابی گزارش میدانی اکیپ/ : /Routing a crew's field report/);
    assert.match(text, /district/, 'the server\'s reason is shown');
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/admin-dead-${lang}-390.png` });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
    assert.deepEqual(errors, []);
    await context.close();
  }
});
