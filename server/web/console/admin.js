// The admin page (role admin): services with their SLA terms and Open311 attributes,
// districts (region, auto-assignment, GeoJSON import), crews, users, contractors'
// penalty schedules, Open311 keys, and the jobs the server gave up on (the outbox's
// dead-letter list: a crew's field report outside every district lands there). Talks to
// /api/v1/admin/… and /api/v1/outbox/dead; every change is written to the staff audit log
// by the server. Texts: /i18n (adm.*).
'use strict';

const i18n = window.tarmimI18n;
const t = (k, v) => i18n.t(k, v);
const $ = (s) => document.querySelector(s);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
};
// People's own text (codes, names, logins): never translated, direction from itself.
const own = (text, tag) => { const e = el(tag || 'bdi', '', text); e.setAttribute('translate', 'no'); e.dir = 'auto'; return e; };

const PRIORITIES = ['urgent', 'high', 'normal', 'low'];
const DATATYPES = ['string', 'number', 'datetime', 'text', 'singlevaluelist', 'multivaluelist'];
const ROLES = ['admin', 'dispatcher', 'crew', 'manager', 'call_centre', 'contractor'];
const state = { tab: 'services', services: [], districts: [], crews: [], users: [], contractors: [], keys: [], dead: [], editing: null };

const api = (method, path, body) => session.request(method, `/api/v1/admin${path}`, body);
const say = (text, bad) => { const m = $('#message'); m.textContent = text; m.className = bad ? 'bad' : 'good'; };
const numOrNull = (v) => (v === '' || v === null || v === undefined ? null : Number(v));
const minutes = (m) => (m === null || m === undefined ? '—' : t('adm.minutes', { n: i18n.num(m) }));

// A change: run it, say so, reload the tab; a refusal is shown as the server words it.
async function change(fn, done) {
  try {
    await fn();
    say(t(done || 'adm.saved'));
    await load();
    return true;
  } catch (e) {
    say(e.message, true);
    return false;
  }
}

function card(title, lines, actions) {
  const c = el('article', 'card');
  const h = el('h3');
  h.append(...title);
  c.append(h);
  const dl = el('dl');
  for (const [k, v] of lines) {
    dl.append(el('dt', '', t(k)));
    const dd = el('dd');
    dd.append(...(Array.isArray(v) ? v : [v]));
    dl.append(dd);
  }
  c.append(dl);
  if (actions && actions.length) {
    const a = el('div', 'actions');
    a.append(...actions);
    c.append(a);
  }
  return c;
}

function button(key, onClick, cls) {
  const b = el('button', cls || 'secondary', t(key));
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function options(select, values, labelOf, selected) {
  select.replaceChildren(...values.map((v) => {
    const o = el('option', '', labelOf(v));
    o.value = v;
    if (v === selected) o.selected = true;
    return o;
  }));
}

function checks(box, values, labelOf, chosen, name) {
  box.replaceChildren(...values.map((v) => {
    const l = el('label');
    const c = el('input');
    c.type = 'checkbox';
    c.value = v;
    c.name = name;
    c.checked = chosen.includes(v);
    l.append(c, ' ', labelOf(v));
    return l;
  }));
}
const checked = (box) => [...box.querySelectorAll('input:checked')].map((c) => c.value);

// ---------------------------------------------------------------- services

const serviceName = (s) => (i18n.lang === 'en' && s.name_en ? s.name_en : s.name);

function renderServices() {
  $('#svc-list').replaceChildren(...state.services.map((s) => {
    const title = [own(serviceName(s)), ' ', own(s.code, 'code')];
    if (s.retired_at) title.push(' ', el('span', 'badge', t('adm.retired')));
    const lines = [
      ['adm.svc.name', own(s.name)],
      ['adm.svc.name_en', own(s.name_en || '—')],
      ['adm.svc.group', own(s.group || '—')],
      ['adm.svc.priority', t(`priority.${s.default_priority}`)],
      ['adm.svc.terms', `${minutes(s.ack_minutes)} / ${minutes(s.complete_minutes)}`],
    ];
    for (const o of s.sla) lines.push([`priority.${o.priority}`, `${minutes(o.ack_minutes)} / ${minutes(o.complete_minutes)}`]);
    // Attribute codes as typed (never translated), their datatypes in words.
    lines.push(['adm.svc.attributes', s.attributes.length
      ? s.attributes.flatMap((a, i) => [...(i ? [t('list.sep')] : []), own(a.code), ` (${t(`adm.datatype.${a.datatype}`)})`])
      : '—']);
    const actions = s.retired_at ? [] : [
      button('adm.edit', () => openService(s)),
      button('adm.retire', () => change(() => api('POST', `/services/${encodeURIComponent(s.code)}/retire`), 'adm.retired_done'), 'danger'),
    ];
    return card(title, lines, actions);
  }));
}

function attrRow(a) {
  const row = el('div', 'attr');
  const code = el('input'); code.className = 'a-code'; code.value = a.code || ''; code.placeholder = t('adm.attr.code'); code.dir = 'ltr'; code.required = true;
  const type = el('select'); type.className = 'a-type';
  options(type, DATATYPES, (d) => t(`adm.datatype.${d}`), a.datatype || 'string');
  const req = el('input'); req.type = 'checkbox'; req.className = 'a-required'; req.checked = !!a.required;
  const reqLabel = el('label'); reqLabel.append(req, ' ', t('adm.attr.required'));
  const desc = el('input'); desc.className = 'a-desc'; desc.value = a.description || ''; desc.placeholder = t('adm.attr.question'); desc.required = true;
  const values = el('textarea'); values.className = 'a-values'; values.rows = 2; values.placeholder = t('adm.attr.values');
  values.value = (a.values || []).map((v) => `${v.key}=${v.name}`).join('\n');
  const showValues = () => { values.hidden = !type.value.endsWith('valuelist'); };
  type.addEventListener('change', showValues);
  showValues();
  const remove = button('adm.attr.remove', () => row.remove());
  row.append(code, type, reqLabel, desc, values, remove);
  return row;
}

function readAttributes() {
  return [...document.querySelectorAll('#svc-attrs .attr')].map((r) => {
    const datatype = r.querySelector('.a-type').value;
    const values = datatype.endsWith('valuelist')
      ? r.querySelector('.a-values').value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
        const i = l.indexOf('=');
        return i < 0 ? { key: l, name: l } : { key: l.slice(0, i).trim(), name: l.slice(i + 1).trim() };
      })
      : [];
    return {
      code: r.querySelector('.a-code').value.trim(),
      datatype,
      required: r.querySelector('.a-required').checked,
      description: r.querySelector('.a-desc').value,
      values,
    };
  });
}

function openService(s) {
  state.editing = s ? s.code : null;
  const f = $('#svc-form');
  f.hidden = false;
  $('#svc-form-title').textContent = s ? t('adm.svc.edit', { code: s.code }) : t('adm.svc.new');
  $('#svc-code').value = s ? s.code : '';
  $('#svc-code').readOnly = !!s;
  $('#svc-name').value = s ? s.name : '';
  $('#svc-name-en').value = s && s.name_en ? s.name_en : '';
  $('#svc-group').value = s ? s.group : '';
  $('#svc-description').value = s ? s.description : '';
  options($('#svc-priority'), PRIORITIES, (p) => t(`priority.${p}`), s ? s.default_priority : 'normal');
  $('#svc-ack').value = s && s.ack_minutes !== null ? s.ack_minutes : '';
  $('#svc-complete').value = s && s.complete_minutes !== null ? s.complete_minutes : '';
  $('#svc-sla').replaceChildren(...PRIORITIES.map((p) => {
    const o = (s ? s.sla : []).find((x) => x.priority === p) || {};
    const row = el('div', 'sla-row');
    row.dataset.priority = p;
    const a = el('input'); a.type = 'number'; a.step = '1'; a.className = 'o-ack'; a.value = o.ack_minutes ?? ''; a.setAttribute('aria-label', `${t(`priority.${p}`)} ${t('adm.svc.ack')}`);
    const c = el('input'); c.type = 'number'; c.step = '1'; c.className = 'o-complete'; c.value = o.complete_minutes ?? ''; c.setAttribute('aria-label', `${t(`priority.${p}`)} ${t('adm.svc.complete')}`);
    row.append(el('span', '', t(`priority.${p}`)), a, c);
    return row;
  }));
  $('#svc-attrs').replaceChildren(...(s ? s.attributes : []).map(attrRow));
  f.scrollIntoView({ block: 'start' });
}

async function saveService(ev) {
  ev.preventDefault();
  const body = {
    code: $('#svc-code').value.trim(),
    name: $('#svc-name').value,
    name_en: $('#svc-name-en').value || null,
    group: $('#svc-group').value,
    description: $('#svc-description').value,
    default_priority: $('#svc-priority').value,
    ack_minutes: numOrNull($('#svc-ack').value),
    complete_minutes: numOrNull($('#svc-complete').value),
    sla: [...document.querySelectorAll('#svc-sla .sla-row')].map((r) => ({
      priority: r.dataset.priority,
      ack_minutes: numOrNull(r.querySelector('.o-ack').value),
      complete_minutes: numOrNull(r.querySelector('.o-complete').value),
    })).filter((o) => o.ack_minutes !== null || o.complete_minutes !== null),
    attributes: readAttributes(),
  };
  const ok = await change(() => (state.editing
    ? api('PUT', `/services/${encodeURIComponent(state.editing)}`, body)
    : api('POST', '/services', body)));
  if (ok) $('#svc-form').hidden = true;
}

// ---------------------------------------------------------------- districts

// A district's name in the page's language (the other one if it has none).
const districtName = (d) => (i18n.lang === 'en' ? d.name_en || d.name : d.name || d.name_en) || d.code;

function renderDistricts() {
  $('#dist-list').replaceChildren(...state.districts.map((d) => {
    const input = (value, key, dir) => {
      const e = el('input'); e.value = value || ''; e.maxLength = 100; e.setAttribute('aria-label', t(key));
      if (dir) e.dir = dir;
      return e;
    };
    const name = input(d.name, 'adm.dist.name', 'rtl');
    name.required = true;
    name.className = 'd-name';
    const nameEn = input(d.name_en, 'adm.dist.name_en', 'ltr');
    nameEn.className = 'd-name-en';
    const region = input(d.region, 'adm.dist.region');
    const auto = el('input'); auto.type = 'checkbox'; auto.checked = d.auto_assign;
    const autoLabel = el('label'); autoLabel.append(auto, ' ', t('adm.dist.auto'));
    const save = button('common.save', () => change(() => api('PUT', `/districts/${encodeURIComponent(d.code)}`,
      { name: name.value, name_en: nameEn.value, region: region.value || null, auto_assign: auto.checked })));
    // The name of the page's language, as a name people read (not marked untranslatable:
    // an English page showing a Persian name is a missing English name).
    return card([el('bdi', 'd-title', districtName(d)), ' ', own(i18n.digits(d.code), 'code')], [
      ['adm.dist.name', name],
      ['adm.dist.name_en', nameEn],
      ['adm.dist.region', region],
      ['adm.dist.neighbours', own(d.neighbours.length ? d.neighbours.map(i18n.digits).join(t('list.sep')) : '—')],
      ['adm.dist.auto_short', autoLabel],
    ], [save]);
  }));
}

async function importDistricts(ev) {
  ev.preventDefault();
  const file = $('#dist-file').files[0];
  if (!file) { say(t('adm.dist.nofile'), true); return; }
  let geojson;
  try { geojson = JSON.parse(await file.text()); } catch (e) { say(t('adm.dist.notjson'), true); return; }
  await change(async () => {
    const r = await api('POST', '/districts/import', {
      geojson,
      code_property: $('#dist-code-prop').value,
      name_property: $('#dist-name-prop').value,
      name_en_property: $('#dist-name-en-prop').value || null,
      region_property: $('#dist-region-prop').value || null,
    });
    say(t('adm.dist.imported', { n: i18n.num(r.districts), pairs: i18n.num(r.adjacent_pairs) }));
  }, 'adm.dist.imported_short');
}

// ---------------------------------------------------------------- crews

function renderCrews() {
  $('#crew-list').replaceChildren(...state.crews.map((c) => {
    const title = [own(c.name), ' ', own(c.id, 'code')];
    if (c.retired_at) title.push(' ', el('span', 'badge', t('adm.retired')));
    const actions = c.retired_at ? [] : [
      button('adm.edit', () => openCrew(c)),
      button('adm.retire', () => change(() => api('POST', `/crews/${encodeURIComponent(c.id)}/retire`), 'adm.retired_done'), 'danger'),
    ];
    return card(title, [
      ['adm.crew.district', own(i18n.digits(c.district))],
      ['adm.crew.skills', c.skills.length ? c.skills.map(skillName).join(t('list.sep')) : '—'],
      ['adm.crew.contractor', own(c.contractor || t('adm.crew.city'))],
      ['adm.crew.members', own(c.members.length ? c.members.join(t('list.sep')) : '—')],
      ['adm.crew.duty', t(c.on_duty ? 'adm.crew.on' : 'adm.crew.off')],
    ], actions);
  }));
}

// A skill by its service's name: the catalogue's, else the one of the page's language.
const skillName = (code) => serviceNames(state.services)(code);

function openCrew(c) {
  state.editing = c ? c.id : null;
  $('#crew-form').hidden = false;
  $('#crew-form-title').textContent = c ? t('adm.crew.edit', { id: c.id }) : t('adm.crew.new');
  $('#crew-id').value = c ? c.id : '';
  $('#crew-id').readOnly = !!c;
  $('#crew-name').value = c ? c.name : '';
  $('#crew-contractor').value = c && c.contractor ? c.contractor : '';
  options($('#crew-district'), state.districts.map((d) => d.code), (code) => `${i18n.digits(code)} — ${districtName(state.districts.find((d) => d.code === code) || { code })}`, c ? c.district : undefined);
  const live = state.services.filter((s) => !s.retired_at).map((s) => s.code);
  checks($('#crew-skills'), live, skillName, c ? c.skills : [], 'skill');
  $('#crew-form').scrollIntoView({ block: 'start' });
}

async function saveCrew(ev) {
  ev.preventDefault();
  const body = {
    id: $('#crew-id').value.trim(),
    name: $('#crew-name').value,
    district: $('#crew-district').value,
    skills: checked($('#crew-skills')),
    contractor: $('#crew-contractor').value || null,
  };
  const ok = await change(() => (state.editing
    ? api('PUT', `/crews/${encodeURIComponent(state.editing)}`, body)
    : api('POST', '/crews', body)));
  if (ok) $('#crew-form').hidden = true;
}

// ---------------------------------------------------------------- users

function renderUsers() {
  $('#user-list').replaceChildren(...state.users.map((u) => {
    const title = [own(u.login), ' (', t(`role.${u.role}`), ')'];
    if (u.disabled) title.push(' ', el('span', 'badge', t('adm.user.disabled')));
    const password = el('input'); password.type = 'password'; password.minLength = 8; password.autocomplete = 'new-password';
    password.setAttribute('aria-label', t('adm.user.new_password'));
    const reset = button('adm.user.reset', () => change(() => api('POST', `/users/${encodeURIComponent(u.login)}/password`, { password: password.value }), 'adm.user.reset_done'));
    const where = u.crew || u.contractor || (u.districts.length ? u.districts.map(i18n.digits).join(t('list.sep')) : '—');
    return card(title, [
      ['adm.user.where', own(where)],
      ['adm.user.new_password', [password, reset]],
    ], [
      button('adm.user.access', () => openUser(u)),
      u.disabled
        ? button('adm.user.enable', () => change(() => api('POST', `/users/${encodeURIComponent(u.login)}/enable`)))
        : button('adm.user.disable', () => change(() => api('POST', `/users/${encodeURIComponent(u.login)}/disable`), 'adm.user.disabled_done'), 'danger'),
    ]);
  }));
}

function roleFields() {
  const role = $('#user-role').value;
  $('#user-crew-label').hidden = role !== 'crew';
  $('#user-contractor-label').hidden = role !== 'contractor';
  $('#user-districts-box').hidden = !['dispatcher', 'manager'].includes(role);
}

function openUser(u) {
  state.editing = u ? u.login : null;
  $('#user-form').hidden = false;
  $('#user-form-title').textContent = u ? t('adm.user.access_of', { login: u.login }) : t('adm.user.new');
  $('#user-login').value = u ? u.login : '';
  $('#user-login').readOnly = !!u;
  $('#user-password-label').hidden = !!u;
  $('#user-password').required = !u;
  $('#user-password').value = '';
  options($('#user-role'), ROLES, (r) => t(`role.${r}`), u ? u.role : 'dispatcher');
  options($('#user-crew'), state.crews.filter((c) => !c.retired_at).map((c) => c.id), (id) => id, u ? u.crew : undefined);
  $('#user-contractor').value = u && u.contractor ? u.contractor : '';
  checks($('#user-districts'), state.districts.map((d) => d.code), (code) => i18n.digits(code), u ? u.districts : [], 'district');
  roleFields();
  $('#user-form').scrollIntoView({ block: 'start' });
}

async function saveUser(ev) {
  ev.preventDefault();
  const role = $('#user-role').value;
  const access = {
    role,
    crew: role === 'crew' ? $('#user-crew').value : null,
    contractor: role === 'contractor' ? $('#user-contractor').value : null,
    districts: ['dispatcher', 'manager'].includes(role) ? checked($('#user-districts')) : [],
  };
  const ok = await change(() => (state.editing
    ? api('PUT', `/users/${encodeURIComponent(state.editing)}/access`, access)
    : api('POST', '/users', Object.assign({ login: $('#user-login').value.trim(), password: $('#user-password').value }, access))));
  if (ok) $('#user-form').hidden = true;
}

// ---------------------------------------------------------------- contractors

function termsForm(name, terms) {
  const f = el('form', 'terms');
  const field = (key, prop, value) => {
    const l = el('label');
    const i = el('input'); i.type = 'number'; i.min = '0'; i.step = '1'; i.name = prop; i.value = value ?? '';
    l.append(el('span', '', t(key)), ' ', i);
    return l;
  };
  const unit = el('select'); unit.name = 'unit';
  options(unit, ['rial', 'points'], (u) => t(`pen.unit.${u}`), terms ? terms.unit : 'rial');
  const unitLabel = el('label'); unitLabel.append(el('span', '', t('adm.con.unit')), ' ', unit);
  f.append(unitLabel,
    field('adm.con.late', 'per_late_hour', terms ? terms.per_late_hour : 0),
    field('adm.con.rejection', 'per_rejection', terms ? terms.per_rejection : 0),
    field('adm.con.not_fixed', 'per_not_fixed', terms ? terms.per_not_fixed : 0),
    field('adm.con.complaint', 'per_complaint', terms ? terms.per_complaint : 0),
    field('adm.con.cap', 'cap_per_month', terms ? terms.cap_per_month : null));
  const save = el('button', '', t('common.save')); save.type = 'submit';
  f.append(save);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = (n) => numOrNull(f.elements[n].value);
    change(() => api('PUT', `/contractors/${encodeURIComponent(name)}/terms`, {
      unit: unit.value, per_late_hour: v('per_late_hour') ?? 0, per_rejection: v('per_rejection') ?? 0,
      per_not_fixed: v('per_not_fixed') ?? 0, per_complaint: v('per_complaint') ?? 0, cap_per_month: v('cap_per_month'),
    }));
  });
  return f;
}

function renderContractors() {
  $('#con-list').replaceChildren(...state.contractors.map((c) => card([own(c.name)], [
    ['adm.con.crews', own(c.crews.length ? c.crews.join(t('list.sep')) : '—')],
    ['adm.con.schedule', termsForm(c.name, c.terms)],
  ])));
}

// ---------------------------------------------------------------- keys

function renderKeys() {
  $('#key-list').replaceChildren(...state.keys.map((k) => card([own(k.name, 'code')], [
    ['adm.key.created', i18n.date(k.created_at)],
    ['adm.key.state', k.revoked_at ? t('adm.key.revoked', { when: i18n.date(k.revoked_at) }) : t('adm.key.live')],
  ], k.revoked_at ? [] : [button('adm.key.revoke', () => change(() => api('POST', `/open311-keys/${encodeURIComponent(k.name)}/revoke`), 'adm.key.revoked_done'), 'danger')])));
}

async function issueKey(ev) {
  ev.preventDefault();
  const name = $('#key-name').value.trim();
  await change(async () => {
    const r = await api('POST', '/open311-keys', { name });
    $('#key-value').textContent = r.key;
    $('#key-issued').hidden = false;
  }, 'adm.key.issued');
}

// ---------------------------------------------------------------- given up

const DEAD_KINDS = ['adopt', 'email', 'sms', 'webpush', 'wake'];

function renderDead() {
  $('#dead-empty').hidden = state.dead.length > 0;
  $('#dead-list').replaceChildren(...state.dead.map((d) => {
    const kind = DEAD_KINDS.includes(d.kind) ? t(`adm.dead.kind.${d.kind}`) : t('adm.dead.kind.other', { kind: d.kind });
    const c = card([kind], [
      ['adm.dead.task', own(d.task, 'code')],
      ['adm.dead.attempts', i18n.num(d.attempts)],
      ['adm.dead.filed', i18n.date(d.created_at)],
      ['adm.dead.given_up', d.done_at ? i18n.date(d.done_at) : '—'],
      ['adm.dead.error', own(d.last_error || '—')],
    ]);
    c.dataset.task = d.task;
    c.dataset.kind = d.kind;
    return c;
  }));
}

// ---------------------------------------------------------------- the page

async function load() {
  const [services, districts, crews, users, contractors, keys, dead] = await Promise.all([
    api('GET', '/services'), api('GET', '/districts'), api('GET', '/crews'),
    api('GET', '/users'), api('GET', '/contractors'), api('GET', '/open311-keys'),
    session.request('GET', '/api/v1/outbox/dead?limit=100'),
  ]);
  Object.assign(state, { services, districts, crews, users, contractors, keys, dead, ready: true });
  render();
}

function render() {
  for (const b of document.querySelectorAll('#tabs [data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === state.tab));
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${state.tab}`;
  renderServices();
  renderDistricts();
  renderCrews();
  renderUsers();
  renderContractors();
  renderKeys();
  renderDead();
  // Drawn with the server's data (what a test waits for after choosing a tab).
  if (state.ready) document.body.dataset.loaded = state.tab;
}

async function start() {
  $('#login-view').hidden = true;
  $('#admin-view').hidden = false;
  $('#logout').hidden = false;
  const me = await session.request('GET', '/api/v1/me');
  $('#who').replaceChildren(own(me.login), ` (${t(`role.${me.role}`)})`);
  await load();
}

for (const b of document.querySelectorAll('#tabs [data-tab]')) {
  b.addEventListener('click', () => { state.tab = b.dataset.tab; say(''); render(); });
}
$('#svc-new').addEventListener('click', () => openService(null));
$('#svc-cancel').addEventListener('click', () => { $('#svc-form').hidden = true; });
$('#svc-attr-add').addEventListener('click', () => $('#svc-attrs').append(attrRow({})));
$('#svc-form').addEventListener('submit', saveService);
$('#dist-import').addEventListener('submit', importDistricts);
$('#crew-new').addEventListener('click', () => openCrew(null));
$('#crew-cancel').addEventListener('click', () => { $('#crew-form').hidden = true; });
$('#crew-form').addEventListener('submit', saveCrew);
$('#user-new').addEventListener('click', () => openUser(null));
$('#user-cancel').addEventListener('click', () => { $('#user-form').hidden = true; });
$('#user-role').addEventListener('change', roleFields);
$('#user-form').addEventListener('submit', saveUser);
$('#con-new').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = $('#con-name').value.trim();
  if (!name || state.contractors.some((c) => c.name === name)) return;
  state.contractors.push({ name, crews: [], terms: null });
  renderContractors();
});
$('#key-form').addEventListener('submit', issueKey);

session.init(() => start().catch((e) => say(e.message, true)), () => render());
