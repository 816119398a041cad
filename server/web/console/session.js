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
