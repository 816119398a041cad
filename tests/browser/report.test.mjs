// The citizens' report page in headless Chromium on a phone-sized viewport, against the
// demo city (tests/suites/browser.sh starts it with TARMIM_REPORT_PER_MINUTE raised; the
// proof of work keeps its default difficulty, computed by the page as a citizen's phone
// would). A pothole with a 12-megapixel photo and a point from the map, in Persian and in
// English: the district is shown before sending, the photo is resized in the browser
// (the upload is well under 1 MB), the tracking code comes back and the tracking page
// opens. A point outside every district and a file that is not a photo are refused on
// the page. A suggestion without a point is answered by a dispatcher from the console's
// messages page, and the citizen reads the answer on the tracking page.
//
// The citizen's e-mail is read from the suite's SMTP sink (TARMIM_MAILBOX): the receipt
// of the pothole with its code and tracking link, and the news of the answer to the
// suggestion.
//
// Then the pothole is done: the district's dispatcher assigns it to a crew of the
// district (the console's API), and the crew's phone — a real sync-core device, the
// probe server/examples/phone_probe.rs (TARMIM_PHONE_PROBE) — syncs, starts, completes
// with an after photo and uploads it (tus). The completion e-mail reaches the citizen in
// the language filed, with the tracking link and the after photo's link, and the tracking
// page shows the citizen's photo (before) and the crew's (after), both loaded.
//
// TARMIM_REPORT_SCREENSHOT (optional): where to save the Persian page, filled in.
// TARMIM_NOTIFICATION_SCREENSHOT (optional): where to save the Persian receipt e-mail as
// delivered, rendered as a phone's mail reader shows it (docs/notification.png).
// TARMIM_SCREENSHOT_DIR (optional): where to save the tracking page of the completed
// report in each language (track-done-fa.png, track-done-en.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import * as mail from './lib/mail.mjs';

const BASE = process.env.TARMIM_BASE_URL;
const PROBE = process.env.TARMIM_PHONE_PROBE;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOT = process.env.TARMIM_REPORT_SCREENSHOT;
const MAIL_SHOT = process.env.TARMIM_NOTIFICATION_SCREENSHOT;
const SHOT_DIR = process.env.TARMIM_SCREENSHOT_DIR;
assert.ok(BASE, 'TARMIM_BASE_URL is required');
assert.ok(mail.MAILBOX, 'TARMIM_MAILBOX is required (tests/suites/browser.sh runs an SMTP sink)');
assert.ok(PROBE, 'TARMIM_PHONE_PROBE is required (the crew\'s phone)');

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function api(method, path, token, body) {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

// The report with tracking code `code`, in `district` (D01…D12), assigned by its region's
// dispatcher to the district's crew B and completed by that crew's phone (the probe: a
// sync-core device that syncs, starts, adds a drawn after photo, completes, syncs and
// uploads it). Returns the task id.
async function completeByCrew(code, district) {
  const n = Number(district.slice(1));
  const region = Math.ceil(n / 4);
  const login = await api('POST', '/api/v1/login', null,
    { login: `dispatcher-r${region}`, password: 'demo-dispatcher', device_id: `node-report-${code}` });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const token = login.body.token;
  const found = await api('GET', `/api/v1/console/queue?q=${code}`, token);
  assert.equal(found.status, 200, JSON.stringify(found.body));
  assert.equal(found.body.rows.length, 1, JSON.stringify(found.body));
  const task = found.body.rows[0].id;
  const crew = `C-${district}-B`;
  const assigned = await api('POST', `/api/v1/console/tasks/${task}/assign`, token,
    { crew, override: 'browser test: the crew of the district' });
  assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
  const out = execFileSync(PROBE, [BASE, `crew-${district.toLowerCase()}-b`, 'demo-crew', '--complete', task],
    { encoding: 'utf8', timeout: 60_000 });
  const phone = JSON.parse(out.trim().split('\n').pop());
  assert.equal(phone.statuses[task], 'completed', out);
  return task;
}

async function open(locale) {
  const context = await browser.newContext({ ...PHONE, locale });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${BASE}/report`);
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForSelector('#map .leaflet-pane', { state: 'attached' });
  return { context, page, errors };
}

// A point on the map a little off its centre (the demo districts fill the view).
async function tapMap(page, dx = 25, dy = 30) {
  await page.locator('#map').scrollIntoViewIfNeeded();
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
}

// A 4000 × 3000 photo (12 MP) of noise, made in the page and put into the file input.
async function addBigPhoto(page) {
  await page.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 4000; c.height = 3000;
    const g = c.getContext('2d');
    const img = g.createImageData(4000, 3000);
    for (let i = 0; i < img.data.length; i += 4) {
      img.data[i] = (i * 7) & 255; img.data[i + 1] = (i * 13) & 255; img.data[i + 2] = (i >> 9) & 255; img.data[i + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    const blob = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.95));
    const file = new File([blob], 'IMG_0001.jpg', { type: 'image/jpeg' });
    window.__bigPhotoBytes = blob.size;
    const dt = new DataTransfer();
    dt.items.add(file);
    const input = document.getElementById('photos');
    input.files = dt.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await page.waitForSelector('#previews figure');
  return page.evaluate(() => window.__bigPhotoBytes);
}

for (const [locale, lang] of [['fa-IR', 'fa'], ['en-US', 'en']]) {
  test(`a pothole with a photo and a point from the map (${lang})`, async () => {
    const { context, page, errors } = await open(locale);
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    assert.equal(await page.getAttribute('html', 'dir'), lang === 'fa' ? 'rtl' : 'ltr');
    if (lang === 'fa') {
      assert.match(await page.textContent('h1'), /گزارش/);
    } else {
      assert.match(await page.textContent('h1'), /Report/);
    }
    // No untranslated text anywhere.
    assert.doesNotMatch(await page.textContent('body'), /⟦/);

    // Field kind by default; the service's questions as fields.
    assert.equal(await page.getAttribute('#kinds [data-kind=request]', 'aria-checked'), 'true');
    await page.selectOption('#service', 'pothole');
    await page.waitForSelector('#attr-size');
    await page.selectOption('#attr-size', 'large');

    // A file that is not a photo is refused before upload.
    await page.setInputFiles('#photos', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await page.waitForSelector('#error:not([hidden])');
    assert.equal(await page.locator('#previews figure').count(), 0);

    // The place: its district is shown before sending.
    await tapMap(page);
    // Any name (Persian names have no \w letters), once the lookup's "…" is gone.
    await page.waitForFunction(() => {
      const t = document.getElementById('district').textContent.trim();
      return t.length > 0 && !t.includes('…');
    });
    assert.equal(await page.getAttribute('#district', 'class'), 'district');
    const district = (await page.textContent('#district')).trim();
    assert.ok(district.length > 3, district);

    const original = await addBigPhoto(page);
    await page.fill('#description', lang === 'fa' ? 'چاله‌ی بزرگ جلوی مدرسه' : 'A big pothole by the school');
    await page.fill('#email', `citizen-${lang}@example.com`);
    await page.check('#consent');
    if (lang === 'fa' && SHOT) await page.screenshot({ path: SHOT, fullPage: true });

    // The resized photo's size, as the page shows it under the preview (Persian digits
    // in Persian).
    const caption = await page.textContent('#previews figcaption');
    const kb = Number(caption.replace(/[۰-۹]/g, (d) => '۰۱۲۳۴۵۶۷۸۹'.indexOf(d)).replace(/[^0-9]/g, ''));
    assert.ok(kb > 0 && kb < 1024, `a ${original}-byte 12 MP photo is sent as ${kb} KB`);
    const sent = page.waitForResponse((r) => r.url().endsWith('/api/v1/report') && r.request().method() === 'POST');
    await page.click('#send');
    assert.equal((await sent).status(), 201);
    await page.waitForSelector('#done:not([hidden])', { timeout: 30_000 });
    const code = await page.getAttribute('#done-code', 'data-code');
    assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    if (lang === 'fa') assert.match(await page.textContent('#done-code'), /[۰-۹]|^[A-Z-]+$/);
    assert.ok(await page.isVisible('#done-contact'));

    // The tracking page opens from the link, in the same language, with the report.
    await page.click('#done-link');
    await page.waitForSelector('#report:not([hidden])');
    assert.equal((await page.textContent('#code')).trim(), code);
    const view = await (await fetch(`${BASE}/api/v1/track/${code}`)).json();
    assert.equal(view.kind, 'request');
    assert.equal(view.category.code, 'pothole');

    // The code reaches the contact by e-mail, in the language filed, with the link.
    const bare = code.replace(/-/g, '');
    const receipt = await mail.waitFor((m) => m.to.includes(`<citizen-${lang}@example.com>`) && m.body.includes(bare));
    assert.match(receipt.headers.subject, lang === 'fa' ? /گزارش دریافت شد/ : /Report received/);
    assert.ok(receipt.body.includes(`/track/${bare}`), receipt.body);
    assert.ok(receipt.body.includes(`/track/${bare}/unsubscribe`), receipt.body);
    if (lang === 'fa' && MAIL_SHOT) {
      const reader = await browser.newContext({ ...PHONE, locale: 'fa-IR' });
      const view = await reader.newPage();
      await view.setContent(mail.asHtml(receipt));
      await view.screenshot({ path: MAIL_SHOT, fullPage: true });
      await reader.close();
    }

    // A crew completes it on its phone with an after photo: the citizen is told, in the
    // language filed, with the tracking link and the after photo's.
    await completeByCrew(bare, view.district.code);
    const done = await mail.waitFor((m) => m.to.includes(`<citizen-${lang}@example.com>`) && m.body.includes(bare)
      && m !== receipt && /fixed|رفع شد/.test(m.headers.subject));
    assert.match(done.headers.subject, lang === 'fa' ? /رفع شد/ : /Reported fixed/);
    assert.match(done.body, new RegExp(`https?://\\S+/track/${bare}\\n`), 'the tracking link');
    assert.match(done.body, lang === 'fa' ? /عکس پس از کار: \S+\/api\/v1\/photos\/[0-9a-f]{64}\/display/
      : /After photo: \S+\/api\/v1\/photos\/[0-9a-f]{64}\/display/);
    // The tracking page shows both photos: the citizen's (before) and the crew's (after).
    await page.reload();
    await page.waitForSelector('#report:not([hidden])');
    await page.waitForFunction(() => ['before-img', 'after-img', 'cmp-before', 'cmp-after'].every((id) => {
      const img = document.getElementById(id);
      return img && img.complete && img.naturalWidth > 0 && !img.closest('[hidden]');
    }), null, { timeout: 15_000 });
    const srcs = await page.$$eval('#before-img, #after-img', (imgs) => imgs.map((i) => i.getAttribute('src')));
    assert.notEqual(srcs[0], srcs[1]);
    assert.match(await page.textContent('#status-badge'), lang === 'fa' ? /انجام شد/ : /Completed/);
    if (SHOT_DIR) await page.screenshot({ path: `${SHOT_DIR}/track-done-${lang}.png`, fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test('a point outside every district is refused on the page', async () => {
  const { context, page, errors } = await open('en-US');
  // Zoomed out, the map's corner is far from the city.
  for (let i = 0; i < 4; i++) await page.click('.leaflet-control-zoom-out');
  await page.locator('#map').scrollIntoViewIfNeeded();
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + 15, box.y + box.height - 15);
  await page.waitForFunction(() => document.getElementById('district').classList.contains('bad'));
  assert.match(await page.textContent('#district'), /outside the city's districts/);
  await page.fill('#description', 'Far away');
  await page.click('#send');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /outside the city's districts/);
  assert.equal(await page.isVisible('#done'), false);
  assert.deepEqual(errors, []);
  await context.close();
});

for (const [locale, lang] of [['fa-IR', 'fa'], ['en-US', 'en']]) {
  test(`a number the form lets through but the server cannot read is refused in the page's language (${lang})`, async () => {
    const { context, page, errors } = await open(locale);
    await page.click('#kinds [data-kind=suggestion]');
    await page.fill('#description', `More benches in the park (${lang}, ${Date.now()})`);
    // Ten digits: the form's check passes, libphonenumber finds no such Iranian number.
    await page.fill('#phone', lang === 'fa' ? '۰۹۱۲ ۱۲۳ ۴۵۶' : '0912 123 456');
    await page.check('#consent');
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/report') && r.request().method() === 'POST');
    await page.click('#send');
    assert.equal((await answer).status(), 400);
    await page.waitForSelector('#error:not([hidden])');
    const shown = await page.textContent('#error');
    if (lang === 'fa') {
      assert.match(shown, /شماره‌ی تلفن نیست/);
      assert.doesNotMatch(shown, /phone number/, 'the server\'s English words are not shown');
    } else {
      assert.match(shown, /^This is not a phone number\. Write it as/);
    }
    assert.equal(await page.isVisible('#done'), false);
    if (SHOT_DIR) await page.screenshot({ path: `${SHOT_DIR}/report-bad-phone-${lang}.png`, fullPage: true });
    // Written properly, the same message is filed.
    await page.fill('#phone', lang === 'fa' ? '۰۹۱۲ ۱۲۳ ۴۵۶۷' : '+98 912 123 4567');
    await page.click('#send');
    await page.waitForSelector('#done:not([hidden])', { timeout: 30_000 });
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test('a suggestion without a point, answered from the console', async () => {
  const { context, page, errors } = await open('en-US');
  await page.click('#kinds [data-kind=suggestion]');
  assert.equal(await page.isVisible('#service-card'), false);
  assert.equal(await page.isVisible('#photos-block'), false);
  const words = `More shade trees on our street, please (${Date.now()})`;
  await page.fill('#description', words);
  const email = `suggester-${Date.now()}@example.com`;
  await page.fill('#email', email);
  await page.check('#consent');
  await page.click('#send');
  await page.waitForSelector('#done:not([hidden])', { timeout: 30_000 });
  const code = await page.getAttribute('#done-code', 'data-code');
  assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);

  // A dispatcher answers it from the console's messages page.
  const staff = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const desk = await staff.newPage();
  await desk.goto(`${BASE}/console/messages.html`);
  await desk.fill('#login', 'dispatcher-r1');
  await desk.fill('#password', 'demo-dispatcher');
  await desk.click('#login-form button[type=submit]');
  const card = desk.locator('.msg', { hasText: words });
  await card.waitFor();
  const answer = 'Thank you: the district plants twenty trees on your street this spring.';
  await card.locator('.answer-text').fill(answer);
  await card.locator('.answer-send').click();
  await desk.locator('.msg.answered', { hasText: words }).waitFor();
  await staff.close();

  // The citizen reads the answer on the tracking page.
  await page.click('#done-link');
  await page.waitForSelector('#report:not([hidden])');
  await page.waitForSelector('#answer-card:not([hidden])');
  assert.equal((await page.textContent('#answer-text')).trim(), answer);
  assert.match(await page.textContent('#status-badge'), /Answered/);
  assert.equal(await page.isVisible('#photos'), false);

  // …and is told by e-mail: the code when filed, then the answer's news, with the link.
  const bare = code.replace(/-/g, '');
  const receipt = await mail.waitFor((m) => m.to.includes(`<${email}>`) && /Report received/.test(m.headers.subject));
  assert.ok(receipt.headers.subject.includes(code), receipt.headers.subject);
  const news = await mail.waitFor((m) => m.to.includes(`<${email}>`) && /The city answered/.test(m.headers.subject));
  assert.ok(news.body.includes(`/track/${bare}`), news.body);
  assert.ok(news.body.includes('More shade trees'), news.body);
  assert.deepEqual(errors, []);
  await context.close();
});
