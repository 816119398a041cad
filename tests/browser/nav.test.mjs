// Every link goes somewhere its user may go: as every demo role, open every staff page,
// check the navigation shows exactly the role's pages (the call centre no managers link,
// a crew member told to use the phone app), then click every visible link once and fail
// on any 401, 403 or 404 that this server answers to the page or its scripts — on the
// page opened by URL as well (a page the role may not use is refused in words, without
// sending the requests the server would refuse).
//
// Environment: TARMIM_BASE_URL (a demo server), CHROMIUM_PATH (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
assert.ok(BASE, 'TARMIM_BASE_URL is required');
const ORIGIN = new URL(BASE).origin;

const PAGES = {
  console: '/console/',
  desk: '/console/desk.html',
  verify: '/console/verify.html',
  messages: '/console/messages.html',
  manage: '/console/manage.html',
  penalties: '/console/penalties.html',
  roster: '/console/roster.html',
  admin: '/console/admin.html',
};
// The demo logins (public by design, server/README.md) and the pages each role may use.
const ROLES = [
  { login: 'admin', password: 'demo-admin', pages: ['messages', 'penalties', 'admin'] },
  { login: 'dispatcher-r1', password: 'demo-dispatcher', pages: ['console', 'verify', 'messages', 'manage', 'roster'] },
  { login: 'manager', password: 'demo-manager', pages: ['console', 'verify', 'messages', 'manage', 'roster', 'penalties'] },
  { login: 'callcentre', password: 'demo-callcentre', pages: ['console', 'desk', 'messages'] },
  { login: 'contractor-pars', password: 'demo-contractor', pages: ['penalties'] },
  { login: 'crew-d01-a', password: 'demo-crew', pages: [] },
];

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

// The console keeps an event stream open (the network is never idle): wait for the load
// and the role's navigation (or the refusal), then a moment for the first answers.
async function settle(page) {
  await page.waitForLoadState('load').catch(() => {});
  await page.waitForFunction(
    () => document.querySelector('#nav a, #nav-refusal') || document.querySelector('#login-form:not([hidden])')?.offsetParent,
    null, { timeout: 10_000 },
  ).catch(() => {});
  await page.waitForTimeout(700);
}

const pageOf = (pathname) => Object.keys(PAGES).find((k) => PAGES[k] === pathname);

for (const role of ROLES) {
  test(`${role.login}: every link leads to a page the role may use`, async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'fa-IR' });
    const refused = [];
    let where = 'login';
    context.on('response', (r) => {
      const u = new URL(r.url());
      if (u.origin !== ORIGIN || u.pathname === '/favicon.ico') return;
      if ([401, 403, 404].includes(r.status())) refused.push(`${r.status()} ${u.pathname}${u.search} (${where})`);
    });
    const errors = [];
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`${where}: ${e}`));

    // Log in once on the console (the token is kept for this tab).
    await page.goto(`${BASE}/console/`);
    await page.fill('#login', role.login);
    await page.fill('#password', role.password);
    await page.click('#login-form button[type=submit]');
    await settle(page);

    const links = new Map(); // href → the page it was seen on
    for (const [id, path] of Object.entries(PAGES)) {
      where = `opened ${path}`;
      await page.goto(`${BASE}${path}`);
      await settle(page);
      const nav = await page.$$eval('#nav a', (as) => as.map((a) => new URL(a.href).pathname));
      const mayUse = role.pages.includes(id);
      const expected = role.pages.filter((p) => p !== id).map((p) => PAGES[p]);
      const refusal = page.locator('#nav-refusal');
      if (mayUse) {
        assert.deepEqual(nav.sort(), expected.sort(), `${role.login} on ${path}: navigation`);
        assert.equal(await refusal.count(), 0, `${role.login} may use ${path} but was refused`);
      } else {
        await refusal.waitFor({ state: 'visible', timeout: 10_000 });
        const text = await refusal.innerText();
        if (role.login.startsWith('crew-')) {
          assert.match(text, /برنامهٔ ترمیم روی گوشی/, `a crew member is sent to the phone app: ${text}`);
        } else {
          assert.match(text, /صفحه‌های شما/, `${role.login} on ${path}: ${text}`);
        }
        const offered = await refusal.locator('a').evaluateAll((as) => as.map((a) => new URL(a.href).pathname));
        assert.deepEqual(offered.sort(), role.pages.map((p) => PAGES[p]).sort(), `${role.login} on ${path}: pages offered`);
      }
      if (!role.pages.includes('manage')) {
        assert.ok(!nav.includes(PAGES.manage), `${role.login} sees a managers link on ${path}`);
      }
      for (const href of await page.$$eval('a[href]', (as) => as.filter((a) => a.offsetParent !== null).map((a) => a.href))) {
        const u = new URL(href);
        if (u.origin === ORIGIN && !links.has(u.href)) links.set(u.href, path);
      }
    }
    if (role.pages.length) assert.ok(links.size > 0, `${role.login}: no link to follow`);

    // Click each link once, from the page it was seen on.
    for (const [href, from] of links) {
      where = `clicked ${href} on ${from}`;
      await page.goto(`${BASE}${from}`);
      await settle(page);
      const all = await page.locator('a[href]:visible').all();
      let clicked = false;
      for (const a of all) {
        if (await a.evaluate((el, h) => el.href === h, href)) {
          // Read before the click: the click may navigate this page away.
          const blank = (await a.getAttribute('target')) === '_blank';
          const popup = blank ? context.waitForEvent('page', { timeout: 10_000 }) : null;
          await a.click();
          const opened = blank ? await popup : null;
          await settle(opened || page);
          if (opened) {
            await opened.close();
          } else {
            const now = pageOf(new URL(page.url()).pathname);
            if (now) assert.ok(role.pages.includes(now), `${role.login}: ${href} led to ${now}`);
            assert.equal(await page.locator('#nav-refusal').count(), 0, `${role.login}: ${href} led to a refusal`);
          }
          clicked = true;
          break;
        }
      }
      assert.ok(clicked, `${role.login}: ${href} was not clickable on ${from}`);
    }
    assert.deepEqual(refused, [], `${role.login} reached refusals:\n${refused.join('\n')}`);
    assert.deepEqual(errors, [], `${role.login}: page errors`);
    await context.close();
  });
}
