// Tarmim's one translation mechanism, shared by every page (staff pages, the tracking
// page, the citizens' report page). Plain script, no framework, no build step.
//
// - Catalogues: /i18n/fa.json and /i18n/en.json, flat objects {"key": "text"}. Keys are
//   namespaced by page or feature ("common.*", "console.*", "track.*", …). A text may name
//   values as {name}; t("k", {name: 5}) fills them (numbers in the active language).
// - A key with no text in the active catalogue is shown as ⟦key⟧, so a test walking the
//   pages finds it (never silently English on a Persian page).
// - HTML: data-i18n="key" sets textContent; data-i18n-attr="placeholder:key;title:key"
//   sets attributes. tarmimI18n.apply(root) does both (the whole document on load).
// - Language: ?lang=fa|en, else the signed-in user's choice (kept by the server per user:
//   the staff pages' session.js hands it over with adopt(), and sends a switch there through
//   the `persist` hook), else this browser's remembered choice (localStorage
//   "tarmim.lang", the fallback before login), else <html data-default-lang>, else the
//   browser's languages, else Persian. Persian is right to left, with Persian digits and
//   the Solar Hijri calendar.
//   A page whose <html> has data-i18n-no-store (the integrity page: it keeps nothing
//   about its reader) neither reads nor writes the remembered choice.
// - Times shown to people are in the city's zone (<html data-tz>, default Asia/Tehran).
(function () {
  'use strict';
  const SUPPORTED = ['fa', 'en'];
  const STORE_KEY = 'tarmim.lang';
  const html = document.documentElement;
  // The catalogues sit beside this script (/i18n/, or /integrity/i18n/ for the integrity
  // page, whose requests stay under its own prefix).
  const base = (document.currentScript && document.currentScript.src)
    ? document.currentScript.src.replace(/[^/]*$/, '') : '/i18n/';
  const noStore = html.hasAttribute('data-i18n-no-store');

  const asked = new URLSearchParams(location.search).get('lang');
  function choose() {
    const q = asked;
    if (SUPPORTED.includes(q)) return q;
    try {
      const kept = noStore ? null : localStorage.getItem(STORE_KEY);
      if (SUPPORTED.includes(kept)) return kept;
    } catch (_) { /* storage may be off (private mode): fall through */ }
    const def = html.dataset.defaultLang;
    if (SUPPORTED.includes(def)) return def;
    for (const l of navigator.languages || [navigator.language || '']) {
      const base = String(l).toLowerCase().split('-')[0];
      if (SUPPORTED.includes(base)) return base;
    }
    return 'fa';
  }

  const state = { lang: choose(), texts: {}, listeners: [], labels: [], persist: null };
  const zone = () => html.dataset.tz || 'Asia/Tehran';
  const locale = () => (state.lang === 'fa' ? 'fa-IR' : 'en-GB');

  function num(n, opts) {
    if (n === null || n === undefined || n === '') return '';
    const v = Number(n);
    if (!Number.isFinite(v)) return String(n);
    return new Intl.NumberFormat(locale(), opts).format(v);
  }

  // Persian digits inside any text (codes, ids typed by people); Latin for English.
  function digits(s) {
    const text = String(s);
    return state.lang === 'fa' ? text.replace(/[0-9]/g, (d) => '۰۱۲۳۴۵۶۷۸۹'[d]) : text;
  }

  function date(ms, opts) {
    if (ms === null || ms === undefined) return '';
    const o = Object.assign({ timeZone: zone() }, opts || { dateStyle: 'medium', timeStyle: 'short' });
    const loc = state.lang === 'fa' ? 'fa-IR-u-ca-persian' : 'en-GB';
    const text = new Intl.DateTimeFormat(loc, o).format(new Date(ms));
    // ICU joins a Persian date and time with a Latin comma; Persian writes «،».
    return state.lang === 'fa' ? text.replace(/,/g, '،') : text;
  }

  function t(key, vars) {
    const text = state.texts[key];
    if (typeof text !== 'string') return '⟦' + key + '⟧';
    if (!vars) return text;
    // `{n|# gap|# gaps}`: the form the language's plural rules choose for n, `#` being n.
    return text.replace(/\{(\w+)(?:\|([^|}]*)\|([^}]*))?\}/g, (m, name, one, other) => {
      if (!(name in vars)) return m;
      const v = vars[name];
      if (one !== undefined && typeof v === 'number') {
        const form = new Intl.PluralRules(state.lang === 'fa' ? 'fa' : 'en').select(v) === 'one' ? one : other;
        return form.replace(/#/g, num(v));
      }
      return typeof v === 'number' ? num(v) : String(v);
    });
  }

  function apply(root) {
    const r = root || document;
    r.querySelectorAll('[data-i18n]').forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    r.querySelectorAll('[data-i18n-attr]').forEach((el) => {
      for (const pair of el.dataset.i18nAttr.split(';')) {
        const [attr, key] = pair.split(':').map((x) => x.trim());
        if (attr && key) el.setAttribute(attr, t(key));
      }
    });
  }

  async function load(lang) {
    const r = await fetch(base + lang + '.json', { cache: 'no-cache' });
    if (!r.ok) throw new Error('catalogue ' + lang + ': ' + r.status);
    state.texts = await r.json();
    state.lang = lang;
    html.lang = lang;
    html.dir = lang === 'fa' ? 'rtl' : 'ltr';
    apply(document);
  }

  function keep(lang) {
    if (!noStore) {
      try { localStorage.setItem(STORE_KEY, lang); } catch (_) { /* not kept: fine */ }
    }
  }

  // The reader's choice (the language switch): kept in this browser and, through the
  // `persist` hook a signed-in page sets, for the user.
  async function setLang(lang) {
    if (!SUPPORTED.includes(lang) || lang === state.lang) return;
    keep(lang);
    if (state.persist) Promise.resolve().then(() => state.persist(lang)).catch(() => {});
    await load(lang);
    state.labels.forEach((f) => f());
    state.listeners.forEach((f) => f(lang));
  }

  // The signed-in user's own choice, from the server, before the page is drawn: applied
  // unless the address names a language (?lang=), kept in this browser too; the page's
  // listeners are not called (nothing is drawn yet).
  async function adopt(lang) {
    if (!SUPPORTED.includes(lang) || SUPPORTED.includes(asked)) return;
    keep(lang);
    if (lang === state.lang) return;
    await load(lang);
    state.labels.forEach((f) => f());
  }

  // A button that switches to the other language (its label is that language's name).
  function switcher(button) {
    const label = () => {
      const other = state.lang === 'fa' ? 'en' : 'fa';
      button.textContent = other === 'fa' ? 'فارسی' : 'English';
      button.lang = other;
    };
    label();
    state.labels.push(label);
    button.addEventListener('click', () => setLang(state.lang === 'fa' ? 'en' : 'fa'));
  }

  window.tarmimI18n = {
    get lang() { return state.lang; },
    get dir() { return state.lang === 'fa' ? 'rtl' : 'ltr'; },
    ready: load(state.lang),
    t, apply, num, digits, date, setLang, adopt, switcher,
    // Called with the new language when the reader switches (a signed-in page saves it).
    set persist(f) { state.persist = f; },
    onChange(f) { state.listeners.push(f); },
    SUPPORTED,
  };
})();
