// The signed-in session shared by the dispatch console and the manager pages: the bearer
// token lives in this tab's sessionStorage (never a cookie) and goes in every request's
// Authorization header. Both pages have the same login form (#login-form, #login,
// #password, #login-error) and #logout button.
'use strict';

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
    if (!r.ok) throw new Error((data && (data.message || data.error)) || `${r.status}`);
    return data;
  },

  logout() {
    if (session.token) fetch('/api/v1/logout', { method: 'POST', headers: session.headers() }).catch(() => {});
    sessionStorage.removeItem('tarmim-token');
    location.reload();
  },

  // Wires the login form and the logout button; `start` runs once signed in (now, if a
  // token is already held).
  init(start) {
    document.querySelector('#login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = document.querySelector('#login-error');
      err.textContent = '';
      const device = sessionStorage.getItem('tarmim-device') || `console-${Math.random().toString(16).slice(2, 10)}`;
      sessionStorage.setItem('tarmim-device', device);
      const r = await fetch('/api/v1/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ login: document.querySelector('#login').value, password: document.querySelector('#password').value, device_id: device }),
      });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) { err.textContent = data.message || 'login failed'; return; }
      session.token = data.token;
      sessionStorage.setItem('tarmim-token', data.token);
      start();
    });
    document.querySelector('#logout').addEventListener('click', session.logout);
    if (session.token) start();
  },
};
