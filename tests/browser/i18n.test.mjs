// Every staff page in both languages, with the untranslated-text check. The pages are
// discovered, not listed: every GET route of the OpenAPI document without a path
// parameter that answers HTML, and every same-origin link found on those pages once
// signed in (so a page someone adds and links from the console is walked too); of
// those, the ones with the staff login form, and the integrity page. Each page is walked
// signed out, and signed in as every demo staff login — dispatcher, manager, call centre,
// admin, a contractor's representative — (one sign-in per login and language, the token
// kept by the tab), and opened further where it can be: every tab ([data-tab]) clicked,
// the first item of the console's queue, the verification list and the penalties
// selected; on the desk, a caller found (their reports listed), one report's read-only
// view, and a report filed (the receipt with its code).
//
// The check, on visible text and on the placeholder/title/alt/aria-label attributes,
// outside [translate="no"] (people's own text, ids, codes):
// - never a raw key (⟦key⟧, what i18n.js shows for a key the catalogue lacks);
// - Persian page: no Latin word outside ALLOWED (proper names and file formats), and the
//   page is right to left with Persian digits in what it shows;
// - English page: no Persian text outside ALLOWED (the switch's own label).
//
// A second test: the language switch is remembered for the user, not the browser.
//
// Environment: TARMIM_BASE_URL (a demo server), CHROMIUM_PATH (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
assert.ok(BASE, 'TARMIM_BASE_URL is required');

// Words a Persian page may show in Latin letters: the product's name, the language
// switch, file formats and standards' names.
const ALLOWED_LATIN = new Set(['Tarmim', 'English', 'CSV', 'JSON', 'GeoJSON', 'Open311', 'JPEG', 'PNG', 'WebP', 'XXXX', 'Leaflet', 'uPlot']);
// Text an English page may show in Persian: the switch to Persian.
const ALLOWED_PERSIAN = new Set(['فارسی']);
const STAFF = [['dispatcher-r1', 'demo-dispatcher'], ['manager', 'demo-manager'], ['callcentre', 'demo-callcentre'],
  ['admin', 'demo-admin'], ['contractor-pars', 'demo-contractor']];

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});
after(async () => { await browser?.close(); });

async function discover() {
  const doc = await (await fetch(`${BASE}/api/openapi.json`)).json();
  const pages = new Set();
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (path.includes('{') || !ops.get) continue;
    const ok = (ops.get.responses || {})['200'];
    if (ok && ok.content && Object.keys(ok.content).some((c) => c.startsWith('text/html'))) pages.add(path);
  }
  return pages;
}

// What the page shows that the check reads: visible text nodes and the attributes people
// read, outside [translate="no"].
async function shown(page) {
  return page.evaluate(() => {
    const out = [];
    const skip = (el) => el.closest('[translate="no"], script, style, noscript, template');
    const visible = (el) => {
      if (!el || el.closest('[hidden]')) return false;
      const s = getComputedStyle(el);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
      return el.getClientRects().length > 0;
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      const text = n.textContent.trim();
      if (!text || skip(el) || !visible(el)) continue;
      out.push({ where: el.id ? `#${el.id}` : el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : ''), text });
    }
    for (const el of document.querySelectorAll('[placeholder], [title], img[alt], [aria-label]')) {
      if (skip(el) || !visible(el)) continue;
      for (const a of ['placeholder', 'title', 'alt', 'aria-label']) {
        const v = el.getAttribute(a);
        if (v && v.trim()) out.push({ where: `${el.tagName.toLowerCase()}[${a}]`, text: v.trim() });
      }
    }
    out.push({ where: 'title', text: document.title });
    return { items: out, dir: document.documentElement.dir, lang: document.documentElement.lang };
  });
}

function problems(lang, seen) {
  const bad = [];
  for (const { where, text } of seen.items) {
    if (text.includes('⟦')) { bad.push(`${where}: raw key in "${text}"`); continue; }
    if (lang === 'fa') {
      for (const w of text.match(/[A-Za-z][A-Za-z0-9]*/g) || []) {
        if (/[A-Za-z]{2,}/.test(w) && !ALLOWED_LATIN.has(w)) bad.push(`${where}: English "${w}" in "${text}"`);
      }
      if (/[0-9]/.test(text.replace(/[A-Za-z]+[0-9]*|[0-9]*[A-Za-z]+/g, ''))) bad.push(`${where}: Latin digits in "${text}"`);
    } else if (/[\u0600-\u06FF]/.test(text) && !ALLOWED_PERSIAN.has(text)) {
      bad.push(`${where}: Persian "${text}" on the English page`);
    }
  }
  if (lang === 'fa' && seen.dir !== 'rtl') bad.push(`the page is ${seen.dir || 'ltr'}, not rtl`);
  if (lang === 'en' && seen.dir !== 'ltr') bad.push(`the page is ${seen.dir}, not ltr`);
  return bad;
}

// The console keeps an event stream open, so the network is never idle: wait for the
// load, then a moment for the scripts' first answers.
async function settle(page) {
  await page.waitForLoadState('load').catch(() => {});
  await page.waitForTimeout(400);
}

// Opens the page further: each tab, the first item of a queue or list; the desk's states.
async function deepen(page, path, lang, login, check) {
  const tabs = await page.locator('[data-tab]:visible').all();
  for (const t of tabs) {
    const name = await t.getAttribute('data-tab');
    await t.click();
    // Loaded, or refused (a role without analytics sees the error, translated too).
    await page.waitForFunction((n) => document.body.dataset.loaded === n || (document.querySelector('#error')?.textContent || '') !== '', name, { timeout: 20_000 }).catch(() => {});
    await settle(page);
    await check(`tab ${name}`);
  }
  for (const [list, opened, what] of [
    ['#queue li', '#detail-title', 'a task selected'],
    ['#verify-list li', '#task:not([hidden]) #timeline tr, #task:not([hidden])', 'a task to verify selected'],
    ['#pen-list tbody tr', '#detail:not([hidden]), #d-steps li', 'a penalty selected'],
  ]) {
    const first = page.locator(list).first();
    if (await first.count() && await first.isVisible()) {
      await first.click();
      await page.waitForSelector(opened, { timeout: 10_000 }).catch(() => {});
      await settle(page);
      await check(what);
    }
  }
  if (path === '/console/desk.html' && login === 'callcentre') await deskStates(page, lang, check);
}

// The desk's states that appear only while a call is taken: the caller's reports, one
// report's read-only view, and the receipt after filing a report for them.
async function deskStates(page, lang, check) {
  await page.keyboard.press('F2');
  await page.waitForSelector('#callbar.on', { timeout: 10_000 });
  await check('a call taken');
  await page.fill('#find', lang === 'fa' ? '۰۹۱۲ ۳۴۵ ۶۷۸۹' : '0912 345 6789');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#reports li').length > 0, null, { timeout: 10_000 });
  await settle(page);
  await check("a caller's reports");
  await page.locator('#reports li').first().click();
  await page.waitForSelector('#task-view:not([hidden]) ol li', { timeout: 10_000 });
  await settle(page);
  await check('a report, read only');
  await page.selectOption('#kind', 'request');
  await page.selectOption('#service', 'pothole');
  await page.waitForSelector('#attributes select[data-attr=size]', { timeout: 10_000 });
  await page.selectOption('#attributes select[data-attr=size]', 'medium');
  await page.fill('#place-q', 'میدان تجریش');
  await page.waitForSelector('#place-results button', { timeout: 10_000 });
  await page.locator('#place-results button').first().click();
  await page.fill('#description', lang === 'fa' ? 'چاله کنار میدان' : 'a pothole by the square');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#receipt:not([hidden])', { timeout: 15_000 });
  await settle(page);
  await check('the receipt after filing');
  await page.keyboard.press('F4');
  await page.waitForSelector('#callbar:not(.on)', { timeout: 10_000 }).catch(() => {});
  await check('the call ended');
}

test('every staff page is fully translated in Persian and in English', async () => {
  const failures = [];
  // Staff pages only: those with the staff login form, and the integrity page (the
  // citizens' pages, /track and /report, have their own tests).
  const staff = async (path) => (await pagesWithLogin(path)) || path.startsWith('/integrity');
  const known = [];
  const add = async (path) => {
    if (!known.includes(path) && await staff(path)) known.push(path);
  };
  for (const p of await discover()) await add(p);
  const origin = new URL(BASE).origin;
  const open = async (page, path, lang) => {
    const sep = path.includes('?') ? '&' : '?';
    await page.goto(`${BASE}${path}${sep}lang=${lang}`);
    await settle(page);
  };
  // (login, language) → the pages it walked; repeated until every login has walked every
  // page any of them found.
  const walked = new Map();
  for (let round = 0, more = true; more && round < 4; round += 1) {
    more = false;
    for (const lang of ['fa', 'en']) {
      for (const [login, password] of [[null, null], ...STAFF]) {
        const key = `${login} ${lang}`;
        const done = walked.get(key) || new Set();
        walked.set(key, done);
        const todo = () => known.filter((p) => !done.has(p));
        if (!todo().length) continue;
        more = true;
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        const who = login || 'signed out';
        let signedIn = false;
        for (let path = todo()[0]; path; path = todo()[0]) {
          done.add(path);
          const check = async (what) => {
            for (const p of problems(lang, await shown(page))) failures.push(`${path} [${lang}, ${who}, ${what}] ${p}`);
          };
          const seen = errors.length;
          await open(page, path, lang);
          const form = page.locator('#login-form:visible');
          if (!login) {
            await check('first view');
          } else if (!(await pagesWithLogin(path))) {
            continue; // the integrity page has no staff login
          } else {
            if (!signedIn && await form.count()) {
              await page.fill('#login', login);
              await page.fill('#password', password);
              await page.click('#login-form button[type=submit]');
              signedIn = true;
            }
            await page.waitForSelector('#login-form', { state: 'hidden', timeout: 15_000 }).catch(() => {});
            await settle(page);
            await check('signed in');
            await deepen(page, path, lang, login, check);
            // Links to more pages of this server (the console's to the manager pages, …).
            for (const href of await page.$$eval('a[href]', (as) => as.map((a) => a.href))) {
              const u = new URL(href);
              if (u.origin === origin && !u.pathname.startsWith('/api/')) await add(u.pathname);
            }
          }
          for (const e of errors.slice(seen)) failures.push(`${path} [${lang}, ${who}] page error: ${e}`);
        }
        await context.close();
      }
    }
  }
  console.log(`walked: ${known.join(' ')}`);
  for (const want of ['/console/', '/console/admin.html', '/console/desk.html', '/console/penalties.html']) {
    assert.ok(known.includes(want), `${want} not walked: ${known}`);
  }
  assert.deepEqual(failures, [], `untranslated text:\n${failures.join('\n')}`);
});

// The language is the user's: switched on one browser, it is theirs at the next login on
// another (a fresh browser context: no localStorage); ?lang= still wins.
test('the language switch is remembered per user', async () => {
  const signIn = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${BASE}/console/manage.html`);
    await page.fill('#login', 'manager');
    await page.fill('#password', 'demo-manager');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#manage-view:not([hidden])');
    await settle(page);
    return { context, page };
  };
  const lang = (page) => page.evaluate(() => document.documentElement.lang);
  let { context, page } = await signIn();
  assert.equal(await lang(page), 'fa', 'Persian by default');
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  // The choice reaches the server before the page is left.
  await page.waitForFunction(async () => (await (await fetch('/api/v1/me', { headers: session.headers() })).json()).lang === 'en');
  await context.close();
  ({ context, page } = await signIn());
  assert.equal(await lang(page), 'en', 'English, the user\'s choice, in a fresh browser');
  assert.equal(await page.evaluate(() => document.documentElement.dir), 'ltr');
  assert.match(await page.textContent('#lang'), /فارسی/);
  // Back to Persian, for the other tests on this shared server.
  await page.click('#lang');
  await page.waitForFunction(() => document.documentElement.lang === 'fa');
  await page.waitForFunction(async () => (await (await fetch('/api/v1/me', { headers: session.headers() })).json()).lang === 'fa');
  await context.close();
});

// Whether a page has a login form (only then is it walked once per staff login).
const loginCache = new Map();
async function pagesWithLogin(path) {
  if (!loginCache.has(path)) {
    const r = await fetch(`${BASE}${path}`);
    loginCache.set(path, r.ok && (await r.text()).includes('id="login-form"'));
  }
  return loginCache.get(path);
}
