// The staff pages' navigation, by role: each page shows links only to the pages its
// user's role may open (so no click leads to a 401/403/404), and a user whose role may not
// use the page at all is told so in words — a crew member is sent to the phone app —
// instead of meeting a refused request. The page is named by <html data-page>; the roles
// per page mirror the server's checks (the server still refuses everything on its own).
// Loaded before session.js, which calls tarmimNav.guard() once signed in.
'use strict';
(function () {
  // Same order on every page. `roles`: who may open it (server: ConsoleUser for the
  // console, the call centre for the desk, analytics' scopes for the manager pages…).
  const PAGES = [
    { id: 'console', href: '/console/', key: 'nav.console', roles: ['dispatcher', 'manager', 'call_centre'] },
    { id: 'desk', href: '/console/desk.html', key: 'nav.desk', roles: ['call_centre'] },
    { id: 'verify', href: '/console/verify.html', key: 'nav.verify', roles: ['dispatcher', 'manager'] },
    { id: 'messages', href: '/console/messages.html', key: 'nav.messages', roles: ['admin', 'dispatcher', 'manager', 'call_centre'] },
    { id: 'manage', href: '/console/manage.html', key: 'nav.manage', roles: ['dispatcher', 'manager'] },
    { id: 'roster', href: '/console/roster.html', key: 'nav.roster', roles: ['dispatcher', 'manager'] },
    { id: 'penalties', href: '/console/penalties.html', key: 'nav.penalties', roles: ['manager', 'contractor', 'admin'] },
    { id: 'admin', href: '/console/admin.html', key: 'nav.admin', roles: ['admin'] },
  ];
  const i18n = () => window.tarmimI18n;
  const $ = (s) => document.querySelector(s);
  let role = null;

  const allowed = (r) => PAGES.filter((p) => p.roles.includes(r));
  const here = () => document.documentElement.dataset.page || '';

  function link(p) {
    const a = document.createElement('a');
    a.href = p.href;
    a.className = 'nav';
    a.dataset.navPage = p.id;
    a.setAttribute('data-i18n', p.key);
    a.textContent = i18n().t(p.key);
    return a;
  }

  // The header's links: every page of the role but this one.
  function render() {
    const nav = $('#nav');
    if (!nav || !role) return;
    nav.replaceChildren(...allowed(role).filter((p) => p.id !== here()).map(link));
    nav.setAttribute('aria-label', i18n().t('nav.aria'));
    // A link in the page's body to a page this role may not use (the manager pages'
    // link to penalties, seen by a dispatcher) is hidden too.
    for (const a of document.querySelectorAll('a[href]')) {
      const target = PAGES.find((p) => new URL(a.href, location.href).pathname === p.href);
      if (target && !target.roles.includes(role)) a.hidden = true;
    }
  }

  // Said in place of the page: why this user cannot use it, and where to go instead.
  function refuse() {
    let box = $('#nav-refusal');
    if (!box) {
      box = document.createElement('section');
      box.id = 'nav-refusal';
      box.setAttribute('role', 'alert');
      const header = $('body > header');
      if (header) header.after(box); else document.body.prepend(box);
    }
    for (const el of document.body.children) {
      if (el.tagName !== 'HEADER' && el !== box && el.tagName !== 'SCRIPT') el.hidden = true;
    }
    const logout = $('#logout');
    if (logout) logout.hidden = false;
    const t = i18n().t;
    const p = document.createElement('p');
    if (role === 'crew') {
      p.textContent = t('nav.crewApp');
      box.replaceChildren(p);
      return;
    }
    p.textContent = t('nav.refused', { role: t(`role.${role}`) });
    const list = document.createElement('p');
    list.className = 'nav-refusal-links';
    list.append(...allowed(role).map(link));
    box.replaceChildren(p, list);
  }

  let wired = false;
  // Resolves true when the page may start for this user; false when it was refused.
  async function guard() {
    let me;
    try {
      me = await session.request('GET', '/api/v1/me');
    } catch (_) {
      return true; // offline or logged out: the page's own requests say so
    }
    role = me && me.role;
    // The user's own language (kept by the server), unless the address names one.
    if (me && me.lang) await i18n().adopt(me.lang);
    if (!wired) {
      wired = true;
      i18n().onChange(() => { render(); if ($('#nav-refusal')) refuse(); });
    }
    render();
    const page = PAGES.find((p) => p.id === here());
    if (page && !page.roles.includes(role)) {
      refuse();
      return false;
    }
    return true;
  }

  // Whether the signed-in role may open page `id` (known once guard() has run).
  const may = (id) => Boolean(PAGES.find((p) => p.id === id && p.roles.includes(role)));

  window.tarmimNav = { guard, may, pages: PAGES };
})();
