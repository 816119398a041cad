// "Notify me" on the tracking page, in headless Chromium (Debian's, playwright-core)
// against the demo city, with the suite's local Web Push service (lib/pushrx.mjs: VAPID
// verified with the server's key, the payload decrypted with the subscription's key).
//
// What is real and what is not: the page, its script, the service worker's registration
// (scope /track/), the notification permission (granted by the test, as a citizen
// would), the server's key (GET /api/v1/push/vapid), the POST of the subscription, the
// server's outbox, encryption, VAPID signature and delivery. Not real: the browser's own
// push service — headless Chromium here has no network to reach one, so
// PushManager.subscribe is replaced in the page by one that records what the page asked
// for (the application server key, userVisibleOnly) and returns a subscription for the
// local push service, whose keys the test holds. The push service's delivery to the
// service worker is therefore not exercised.
//
// Environment (tests/suites/browser.sh sets it): TARMIM_BASE_URL, CHROMIUM_PATH; the
// server runs with a VAPID key, TARMIM_PUSH_ALLOW_HTTP and TARMIM_WEBPUSH_HOSTS=127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startReceiver } from './lib/pushrx.mjs';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
assert.ok(BASE, 'TARMIM_BASE_URL is required');
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const DEMO_KEY = 'o311_demo0000000000000000000000000000';

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function fileSuggestion(words, lang) {
  const form = new URLSearchParams({ api_key: DEMO_KEY, service_code: 'msg_suggestion', description: words, lang });
  const r = await fetch(`${BASE}/open311/v2/requests.json`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form,
  });
  const v = await r.json();
  assert.equal(r.status, 201, JSON.stringify(v));
  return v[0].tracking_code;
}

async function answer(words, text) {
  const login = await fetch(`${BASE}/api/v1/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: 'dispatcher-r1', password: 'demo-dispatcher', device_id: 'node-notify-test' }),
  });
  assert.equal(login.status, 200);
  const { token } = await login.json();
  const auth = { Authorization: `Bearer ${token}` };
  const list = await (await fetch(`${BASE}/api/v1/desk/messages`, { headers: auth })).json();
  const m = list.find((x) => x.body === words);
  assert.ok(m, 'the message is in the inbox');
  const r = await fetch(`${BASE}/api/v1/desk/messages/${m.id}/answer`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ text }),
  });
  assert.equal(r.status, 201);
}

for (const [locale, lang, button, done] of [
  ['fa-IR', 'fa', 'خبرم کن', 'انجام شد'],
  ['en-US', 'en', 'Notify me', 'Done'],
]) {
  test(`"notify me" subscribes with the server's key and the answer is pushed (${lang})`, async () => {
    const key = await (await fetch(`${BASE}/api/v1/push/vapid`)).json();
    assert.ok(key.public_key, 'the suite runs the server with a VAPID key');
    const rx = await startReceiver(key.public_key);
    const words = `A bench by the bus stop, please (${lang} ${Date.now()})`;
    const code = await fileSuggestion(words, lang);
    const id = `sub-${lang}`;

    const context = await browser.newContext({ ...PHONE, locale });
    await context.grantPermissions(['notifications'], { origin: BASE });
    await context.addInitScript((sub) => {
      window.__subscribeCalls = [];
      PushManager.prototype.subscribe = async function subscribe(opts) {
        const k = new Uint8Array(opts.applicationServerKey);
        const b64 = btoa(String.fromCharCode(...k)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
        window.__subscribeCalls.push({ userVisibleOnly: opts.userVisibleOnly, key: b64 });
        return { endpoint: sub.endpoint, toJSON: () => sub, unsubscribe: async () => true };
      };
    }, rx.subscription(id));
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/track/${code}`);
    await page.waitForSelector('#report:not([hidden])');
    await page.waitForSelector('body[data-notify=ready]');
    assert.equal(await page.isVisible('#notify-card'), true);
    assert.equal((await page.textContent('#notify-me')).trim(), button);

    await page.click('#notify-me');
    await page.waitForFunction((d) => document.getElementById('notify-state').textContent.includes(d), done);
    const calls = await page.evaluate(() => window.__subscribeCalls);
    assert.deepEqual(calls, [{ userVisibleOnly: true, key: key.public_key }]);
    // The service worker is really registered for the tracking pages.
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/track/'))?.scope);
    assert.equal(scope, `${BASE}/track/`);

    // The city answers: the server pushes the news to the subscription the page gave.
    await answer(words, lang === 'fa' ? 'سپاس؛ نیمکت نصب می‌شود.' : 'Thank you: a bench is coming.');
    const end = Date.now() + 30_000;
    while (!rx.got.some((g) => g.path === `/push/${id}`)) {
      assert.ok(Date.now() < end, `no push arrived; refused: ${rx.refused}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(rx.refused, []);
    const { payload } = rx.got.find((g) => g.path === `/push/${id}`);
    assert.deepEqual(Object.keys(payload).sort(), ['lang', 'text', 'url']);
    assert.equal(payload.lang, lang);
    assert.ok(payload.url.endsWith(`/track/${code.replace(/-/g, '')}`), payload.url);
    assert.match(payload.text, lang === 'fa' ? /پاسخ/ : /answered/);

    // "Stop notifications" takes it back.
    assert.match(await page.textContent('#notify-me'), lang === 'fa' ? /قطع/ : /Stop/);
    const del = page.waitForResponse((r) => r.url().endsWith(`/api/v1/track/${code}/push`) && r.request().method() === 'DELETE');
    await page.click('#notify-me');
    assert.equal((await del).status(), 200);
    assert.deepEqual(errors, []);
    await context.close();
    await rx.close();
  });
}

test('a subscription with a bad key is refused with a clear message', async () => {
  const code = await fileSuggestion(`Refused key ${Date.now()}`, 'en');
  const r = await fetch(`${BASE}/api/v1/track/${code}/push`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subscription: { endpoint: 'http://127.0.0.1:9/push/x', keys: { p256dh: 'AAAA', auth: 'AAAAAAAAAAAAAAAAAAAAAA' } } }),
  });
  assert.equal(r.status, 400);
  assert.match((await r.json()).message, /p256dh/);
});
