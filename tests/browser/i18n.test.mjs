// Every staff page in both languages, with the untranslated-text check. The pages are
// discovered, not listed: every GET route of the OpenAPI document without a path
// parameter that answers HTML, and every same-origin link found on those pages once
// signed in (so a page someone adds and links from the console is walked too); of
// those, the ones with the staff login form, and the integrity page. Each page
// is walked as every demo staff login, signed out and signed in, and opened further where
// it can be: every tab ([data-tab]) clicked, the first queue item selected.
//
// The check, on visible text and on the placeholder/title/alt/aria-label attributes,
// outside [translate="no"] (people's own text, ids, codes):
// - never a raw key (⟦key⟧, what i18n.js shows for a key the catalogue lacks);
// - Persian page: no Latin word outside ALLOWED (proper names and file formats), and the
//   page is right to left with Persian digits in what it shows;
// - English page: no Persian text outside ALLOWED (the switch's own label).
//
// Environment: TARMIM_BASE_URL (a demo server), CHROMIUM_PATH (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const BASE = process.env.TARMIM_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
assert.ok(BASE, 'TARMIM_BASE_URL is required');

// Words a Persian page may show in Latin letters: the product's name, the language
// switch, file formats.
const ALLOWED_LATIN = new Set(['Tarmim', 'English', 'CSV', 'JSON', 'JPEG', 'PNG', 'WebP', 'XXXX', 'Leaflet', 'uPlot']);
// Text an English page may show in Persian: the switch to Persian.
const ALLOWED_PERSIAN = new Set(['فارسی']);
const STAFF = [['dispatcher-r1', 'demo-dispatcher'], ['manager', 'demo-manager'], ['callcentre', 'demo-callcentre']];

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
      for (const w of text.match(/[A-Za-z]{2,}/g) || []) {
        if (!ALLOWED_LATIN.has(w)) bad.push(`${where}: English "${w}" in "${text}"`);
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

// Opens the page further: each tab, the first item of a queue or list of results.
async function deepen(page, check) {
  const tabs = await page.locator('[data-tab]:visible').all();
  for (const t of tabs) {
    const name = await t.getAttribute('data-tab');
    await t.click();
    // Loaded, or refused (a role without analytics sees the error, translated too).
    await page.waitForFunction((n) => document.body.dataset.loaded === n || (document.querySelector('#error')?.textContent || '') !== '', name, { timeout: 20_000 }).catch(() => {});
    await settle(page);
    await check(`tab ${name}`);
  }
  const first = page.locator('#queue li').first();
  if (await first.count()) {
    await first.click();
    await page.waitForSelector('#detail-title', { timeout: 10_000 }).catch(() => {});
    await settle(page);
    await check('a task selected');
  }
}

test('every staff page is fully translated in Persian and in English', async () => {
  const pages = await discover();
  const walked = new Set();
  const failures = [];
  const queue = [...pages];
  while (queue.length) {
    const path = queue.shift();
    if (walked.has(path)) continue;
    walked.add(path);
    // Staff pages only: those with the staff login form, and the integrity page (the
    // citizens' pages, /track and /report, have their own tests).
    if (!(await pagesWithLogin(path)) && !path.startsWith('/integrity')) continue;
    for (const lang of ['fa', 'en']) {
      for (const [login, password] of [[null, null], ...STAFF]) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        const sep = path.includes('?') ? '&' : '?';
        await page.goto(`${BASE}${path}${sep}lang=${lang}`);
        await settle(page);
        const who = login || 'signed out';
        const check = async (what) => {
          for (const p of problems(lang, await shown(page))) failures.push(`${path} [${lang}, ${who}, ${what}] ${p}`);
        };
        const form = page.locator('#login-form:visible');
        if (login && await form.count()) {
          await page.fill('#login', login);
          await page.fill('#password', password);
          await page.click('#login-form button[type=submit]');
          await page.waitForSelector('#login-form', { state: 'hidden', timeout: 15_000 }).catch(() => {});
          await settle(page);
          await check('signed in');
          await deepen(page, check);
          // Links to more pages of this server (the console's to the manager pages, …).
          for (const href of await page.$$eval('a[href]', (as) => as.map((a) => a.href))) {
            const u = new URL(href);
            if (u.origin === new URL(BASE).origin && !u.pathname.startsWith('/api/') && !walked.has(u.pathname)) queue.push(u.pathname);
          }
        } else if (!login) {
          await check('first view');
        }
        for (const e of errors) failures.push(`${path} [${lang}, ${who}] page error: ${e}`);
        await context.close();
        if (!login && !(await pagesWithLogin(path))) break;
      }
    }
  }
  console.log(`walked: ${[...walked].join(' ')}`);
  assert.ok(walked.size >= 3, `only ${[...walked]} walked`);
  assert.deepEqual(failures, [], `untranslated text:\n${failures.join('\n')}`);
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
