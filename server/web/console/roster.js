// The rosters and coverage page, for dispatchers (their districts' crews: shifts, add,
// remove, import a CSV) and managers (read only): the coverage gaps of urgent work over
// the next 7 days and the alerts they raised ahead of time. Talks to /api/v1/roster….
// Texts: /i18n (roster.*).
'use strict';

const i18n = window.tarmimI18n;
const t = (k, v) => i18n.t(k, v);
const $ = (s) => document.querySelector(s);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
// Codes and people's own text (district codes, crew ids and names): never translated.
const own = (text, tag) => { const e = el(tag || 'bdi', '', i18n.digits(text)); e.setAttribute('translate', 'no'); e.dir = 'auto'; return e; };
const skillName = (code) => { const s = t(`service.${code}`); return s.startsWith('⟦') ? code : s; };
const when = (ms) => i18n.date(ms, { dateStyle: 'short', timeStyle: 'short' });

const state = { me: null, week: null, coverage: null, alerts: [] };

async function start() {
  $('#login-view').hidden = true;
  $('#roster-view').hidden = false;
  $('#logout').hidden = false;
  state.me = await session.request('GET', '/api/v1/me');
  const dispatcher = state.me.role === 'dispatcher';
  $('#add-form').hidden = !dispatcher;
  $('#import-form').hidden = !dispatcher;
  renderWho();
  await refresh();
}

function renderWho() {
  const me = state.me;
  if (!me) return;
  $('#who').replaceChildren(own(me.login), ` (${t(`role.${me.role}`)})`);
}

async function refresh() {
  const [week, coverage, alerts] = await Promise.all([
    session.request('GET', '/api/v1/roster'),
    session.request('GET', '/api/v1/roster/coverage'),
    session.request('GET', '/api/v1/console/alerts'),
  ]);
  state.week = week;
  state.coverage = coverage;
  state.alerts = (alerts || []).filter((a) => a.kind === 'coverage_gap');
  render();
}

function render() {
  renderWho();
  renderCoverage();
  renderAlerts();
  renderCrews();
}

function renderCoverage() {
  const c = state.coverage;
  if (!c) return;
  $('#coverage-summary').textContent = t('roster.summary', {
    districts: c.districts.length, skills: c.skills.length, hours: c.hours, gaps: c.gaps.length,
  });
  $('#coverage-ok').hidden = c.gaps.length > 0;
  $('#gaps').hidden = c.gaps.length === 0;
  const keys = ['roster.col.district', 'roster.col.skill', 'roster.col.from', 'roster.col.to', 'roster.col.hours'];
  $('#gaps tbody').replaceChildren(...c.gaps.map((g) => {
    const tr = el('tr');
    tr.dataset.district = g.district;
    tr.dataset.skill = g.skill;
    tr.append(own(g.district, 'td'), el('td', '', skillName(g.skill)), el('td', '', when(g.from)),
      el('td', '', when(g.to)), el('td', '', i18n.num(g.hours)));
    [...tr.children].forEach((td, i) => { td.dataset.label = t(keys[i]); });
    return tr;
  }));
}

// The alert's words: the server writes them in English; in Persian they are said again
// from the gap's district and time.
function renderAlerts() {
  const list = $('#gap-alerts');
  list.replaceChildren(...state.alerts.map((a) => {
    const li = el('li');
    li.dataset.district = a.district;
    if (i18n.lang === 'en') li.textContent = a.message;
    else li.append(t('roster.alertText', { when: when(a.created_at) }), ' ', own(a.district));
    return li;
  }));
  $('#alerts-empty').hidden = state.alerts.length > 0;
}

function renderCrews() {
  const w = state.week;
  if (!w) return;
  const dispatcher = state.me && state.me.role === 'dispatcher';
  $('#crews').replaceChildren(...w.crews.map((c) => {
    const box = el('div', 'crew');
    box.dataset.crew = c.id;
    const h = el('h4');
    const duty = el('span', `duty ${c.on_duty ? 'on' : 'off'}`,
      `${t(c.on_duty ? 'roster.onDuty' : 'roster.offDuty')} · ${t(`roster.from.${c.duty_from}`)}`);
    h.append(own(c.name), own(c.district), duty);
    const ul = el('ul', 'shifts');
    ul.append(...c.shifts.map((s) => {
      const li = el('li', '', `${t('roster.span', { from: when(s.starts_at), to: when(s.ends_at) })} `);
      li.dataset.shift = s.id;
      if (dispatcher) {
        const b = el('button', 'small', '×');
        b.type = 'button';
        b.title = t('roster.remove');
        b.setAttribute('aria-label', t('roster.remove'));
        b.addEventListener('click', () => remove(s.id));
        li.append(b);
      }
      return li;
    }));
    if (!c.shifts.length) ul.append(el('li', 'hint', t('roster.noShifts')));
    box.append(h, ul);
    return box;
  }));
  const sel = $('#a-crew');
  const keep = sel.value;
  sel.replaceChildren(...w.crews.map((c) => {
    const o = el('option', '', `${i18n.digits(c.id)} — ${c.name}`);
    o.value = c.id;
    return o;
  }));
  if (keep) sel.value = keep;
}

function say(text, status) {
  const m = $('#message');
  m.textContent = text;
  m.className = status === 'error' ? 'bad' : 'good';
  m.dataset.status = status;
}

async function remove(id) {
  try {
    await session.request('DELETE', `/api/v1/roster/shifts/${id}`);
    await refresh();
    say(t('roster.removed'), 'removed');
  } catch (e) { say(e.message, 'error'); }
}

$('#add-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await session.request('POST', '/api/v1/roster/shifts', {
      crew: $('#a-crew').value, start: $('#a-start').value, end: $('#a-end').value,
    });
    await refresh();
    say(t('roster.added'), 'added');
  } catch (e) { say(e.message, 'error'); }
});

$('#import-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('#i-file').files[0];
  if (!file) { say(t('roster.pickFile'), 'error'); return; }
  const r = await fetch('/api/v1/roster/import', {
    method: 'POST', headers: session.headers({ 'Content-Type': 'text/csv' }), body: await file.text(),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { say(errorText(body.error, body.message, r.status), 'error'); return; }
  await refresh();
  say(t('roster.imported', { shifts: body.shifts, crews: body.crews }), 'imported');
});

i18n.ready.then(() => {
  i18n.switcher($('#lang'));
  i18n.onChange(() => render());
  session.init(() => start().catch((e) => { $('#login-error').textContent = e.message; }));
});
