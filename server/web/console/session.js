// The signed-in session shared by the dispatch console and the manager pages: the bearer
// token lives in this tab's sessionStorage (never a cookie) and goes in every request's
// Authorization header. Both pages have the same login form (#login-form, #login,
// #password, #login-error) and #logout button. Texts come from the shared catalogues
// (/i18n/i18n.js loaded before this file): `tr` and friends below are short names for it.
'use strict';

// (No top-level `i18n` here: a page's own script may name it; pages that want it say
// `const i18n = window.tarmimI18n;` themselves.)
const tr = (key, vars) => window.tarmimI18n.t(key, vars);
// A status, priority, role or other code shown to people: its catalogue text, else the
// code itself (a value the catalogue does not know yet stays readable).
const label = (group, code) => {
  if (code === null || code === undefined || code === '') return '';
  const text = window.tarmimI18n.t(`${group}.${code}`);
  return text.startsWith('⟦') ? String(code) : text;
};
// Districts' names from their GeoJSON features (`name`: Persian, `name_en`: English, as
// the server stores them): a function code → the name of the page's language, else the
// other language's, else the code.
const districtNames = (features) => {
  const by = new Map((features || []).map((f) => [f.properties.code, f.properties]));
  return (code) => {
    if (!code) return '';
    const p = by.get(code) || {};
    return (window.tarmimI18n.lang === 'en' ? p.name_en || p.name : p.name || p.name_en) || code;
  };
};
// A service's name: the catalogue's (`<prefix>.<code>`), else the name of the page's
// language the city gave it (`name_en` on English pages, else `name`), else the code.
const serviceNames = (services, prefix) => (code) => {
  const text = window.tarmimI18n.t(`${prefix || 'service'}.${code}`);
  if (!text.startsWith('⟦')) return text;
  const s = (services || []).find((x) => x.code === code);
  if (!s) return code || '';
  return (window.tarmimI18n.lang === 'en' && s.name_en) || s.name || code;
};
// A reason the server wrote into an event (`domain::dispatch::reason`: JSON with a
// `code` and its parameters) as HTML in the page's language, from the catalogue's
// `reason.<code>`; `names` gives `district(code)` and `service(code)`. Anything else —
// older events' sentences, people's own words — is shown as written, marked as theirs.
const reasonHtml = (text, names) => {
  const i18n = window.tarmimI18n;
  const e = (x) => String(x ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  let r = null;
  if (typeof text === 'string' && text.startsWith('{')) { try { r = JSON.parse(text); } catch (_) { r = null; } }
  const known = (c) => typeof c === 'string' && !i18n.t(`reason.${c}`).startsWith('⟦');
  if (!r || !known(r.code)) return text ? `<span translate="no">${e(text)}</span>` : '';
  // Parameters go in as markers, the sentence is escaped, then the markers become HTML.
  const parts = [];
  const mark = (html) => { parts.push(html); return `\u2063${parts.length - 1}\u2063`; };
  const fill = (key, vars) => e(i18n.t(key, vars)).replace(/\u2063(\d+)\u2063/g, (_, i) => parts[Number(i)]);
  const own = (s) => mark(`<bdi translate="no">${e(s)}</bdi>`);
  const words = (s) => mark(e(s));
  const num = (x) => words(i18n.num(x, { maximumFractionDigits: 2 }));
  const district = (c) => words(names && names.district ? names.district(c) : c);
  const service = (c) => words(names && names.service ? names.service(c) : c);
  const window_ = (secs) => words(secs % 60 === 0 && secs >= 60
    ? i18n.t('reason.minutes', { n: secs / 60 }) : i18n.t('reason.seconds', { n: secs }));
  const one = (x) => {
    if (!x || !known(x.code)) return own(JSON.stringify(x));
    switch (x.code) {
      case 'auto.district':
      case 'auto.neighbour':
        return mark(fill(`reason.${x.code}`, {
          district: district(x.district), skill: service(x.skill), from: district(x.from || ''),
          distance: words(x.km === null || x.km === undefined ? i18n.t('reason.unknownPosition') : i18n.t('reason.km', { n: x.km })),
          load: x.load, score: num(x.score),
        }));
      case 'dispatcher':
        return mark(fill(x.note ? 'reason.dispatcher.note' : 'reason.dispatcher', { by: own(x.by), note: own(x.note || '') }));
      case 'dispatcher.override': {
        const why = [];
        if (x.off_duty) why.push(i18n.t('reason.problem.offDuty'));
        if (x.crew_district) why.push(i18n.t('reason.problem.otherDistrict', { crew: names && names.district ? names.district(x.crew_district) : x.crew_district, task: names && names.district ? names.district(x.task_district) : x.task_district || '—' }));
        return mark(fill('reason.dispatcher.override', { by: own(x.by), problems: words(why.join(i18n.t('list.sep'))), note: own(x.note || '') }));
      }
      case 'escalation.unacknowledged':
        return mark(fill('reason.escalation.unacknowledged', { crew: own(x.crew), window: window_(x.secs) }));
      case 'escalation.reassigned':
        return mark(fill('reason.escalation.reassigned', { crew: own(x.crew), window: window_(x.secs), then: one(x.then) }));
      default:
        return mark(fill(`reason.${x.code}`, {}));
    }
  };
  return one(r).replace(/\u2063(\d+)\u2063/g, (_, i) => parts[Number(i)]);
};
// A server error as people read it: the catalogue's sentence for its code in Persian,
// the server's own message in English (it is written in English).
// The signed-in line: the login as typed (not translated), the role in words, districts.
const whoHtml = (me, districtName) => {
  const e = (x) => String(x ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  return `<bdi translate="no">${e(me.login)}</bdi> (${e(label('role', me.role))})`
    + (me.districts && me.districts.length && districtName ? ' · ' + e(me.districts.map(districtName).join(tr('list.sep'))) : '');
};
// Leaflet's zoom buttons with the catalogue's titles, in the mirrored corner in RTL.
const zoomControl = () => L.control.zoom({
  position: window.tarmimI18n.dir === 'rtl' ? 'topright' : 'topleft',
  zoomInTitle: tr('map.zoomIn'), zoomOutTitle: tr('map.zoomOut'),
});
const errorText = (code, message, status) => {
  const i18n = window.tarmimI18n;
  if (i18n.lang === 'en' && message) return message;
  const text = i18n.t(`error.${code || 'unknown'}`);
  return text.startsWith('⟦') ? i18n.t('error.unknown', { status: i18n.num(status || 0) }) : text;
};

const session = {
  token: sessionStorage.getItem('tarmim-token'),

  headers(extra) {
    return Object.assign({ Authorization: `Bearer ${session.token}` }, extra || {});
  },

  // A JSON request; a 401 ends the session, any other failure throws its message.
  async request(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: session.headers(body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    if (r.status === 401) { session.logout(); throw new Error('logged out'); }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
    if (!r.ok) {
      const e = new Error(errorText(data && data.error, data && data.message, r.status));
      e.status = r.status;
      throw e;
    }
    return data;
  },

  logout() {
    if (session.token) fetch('/api/v1/logout', { method: 'POST', headers: session.headers() }).catch(() => {});
    sessionStorage.removeItem('tarmim-token');
    location.reload();
  },

  // Wires the login form and the logout button; `start` runs once signed in (now, if a
  // token is already held) and once the catalogue is loaded. With `rerender`, also the
  // language switch (#lang), after which `rerender` draws the page again (a page that
  // wires its own switch passes none).
  init(start, rerender) {
    const i18n = window.tarmimI18n;
    if (!i18n) { session.begin(start); return; }
    // The language switch is remembered for the user (their next login, on any browser);
    // nav.js's guard adopts it when the page starts.
    i18n.persist = (l) => (session.token
      ? fetch('/api/v1/me/lang', { method: 'PUT', headers: session.headers({ 'Content-Type': 'application/json' }), body: JSON.stringify({ lang: l }) })
      : null);
    const lang = document.querySelector('#lang');
    if (rerender) {
      if (lang) i18n.switcher(lang);
      i18n.onChange(() => { if (session.token) rerender(); });
    }
    // The form is wired at once (a login typed before the catalogue arrives must not
    // submit the page natively); the page itself starts once the texts are there.
    // The role's navigation first; a page the role may not use is refused in words
    // (nav.js) and not started.
    const guarded = () => (window.tarmimNav ? window.tarmimNav.guard() : Promise.resolve(true))
      .then((ok) => { if (ok) start(); });
    const go = () => i18n.ready.then(guarded, guarded);
    session.begin(go);
  },

  begin(start) {
    document.querySelector('#login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = document.querySelector('#login-error');
      err.textContent = '';
      const fresh = () => `console-${Math.random().toString(16).slice(2, 10)}`;
      const attempt = (device) => {
        sessionStorage.setItem('tarmim-device', device);
        return fetch('/api/v1/login', {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ login: document.querySelector('#login').value, password: document.querySelector('#password').value, device_id: device }),
        });
      };
      let r = await attempt(sessionStorage.getItem('tarmim-device') || fresh());
      // A device id belongs to the user who registered it: another person signing in on
      // this tab gets a device id of their own (409 device_taken).
      if (r.status === 409) r = await attempt(fresh());
      const data = await r.json().catch(() => ({}));
      if (!r.ok) { err.textContent = r.status === 401 ? (window.tarmimI18n.lang === 'en' && data.message ? data.message : tr('login.failed')) : errorText(data.error, data.message, r.status); return; }
      session.token = data.token;
      sessionStorage.setItem('tarmim-token', data.token);
      start();
    });
    document.querySelector('#logout').addEventListener('click', session.logout);
    if (session.token) start();
  },
};
