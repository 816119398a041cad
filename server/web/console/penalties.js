// The penalties page, for managers (their districts' penalties: evidence, confirm,
// reduce or waive with a reason; statements) and contractors' representatives (their
// own contractor's penalties: evidence, appeal with a note; their statement). Talks to
// /api/v1/penalties…. Texts: /i18n (pen.*).
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

// People's own text (logins, contractors' names, reasons and notes): never translated.
const own = (text, tag) => { const e = el(tag || 'bdi', '', text); e.setAttribute('translate', 'no'); e.dir = 'auto'; return e; };

const state = { me: null, list: [], selected: null, detail: null, statement: null };

const amountText = (a, unit) => (a === null || a === undefined ? '—' : `${i18n.num(a)} ${t(`pen.unit.${unit}`)}`);

async function start() {
  $('#login-view').hidden = true;
  $('#pen-view').hidden = false;
  $('#logout').hidden = false;
  state.me = await session.request('GET', '/api/v1/me');
  renderWho();
  await refresh();
}

function renderWho() {
  const me = state.me;
  if (!me) return;
  const who = $('#who');
  who.replaceChildren(own(me.login), ` (${t(`role.${me.role}`)})`);
  if (me.contractor) who.append(' · ', own(me.contractor));
}

async function refresh() {
  const status = $('#f-status').value;
  state.list = await session.request('GET', `/api/v1/penalties${status ? `?status=${status}` : ''}`);
  renderList();
  renderContractors();
  if (state.selected) await open(state.selected);
}

// Each cell carries its column's name, which the phone layout (penalties.css, a card
// per row) shows before the value because the header row is hidden there.
function labelled(tr, keys) {
  [...tr.children].forEach((td, i) => { if (keys[i]) td.dataset.label = t(keys[i]); });
}

function renderList() {
  const body = $('#pen-list tbody');
  body.replaceChildren(...state.list.map((p) => {
    const tr = el('tr', p.id === state.selected ? 'selected' : '');
    tr.dataset.id = p.id;
    tr.dataset.task = p.task_id;
    tr.dataset.status = p.status;
    tr.append(
      el('td', '', i18n.digits(p.task_id)),
      el('td', '', t(`pen.cause.${p.cause}`)),
      own(p.contractor, 'td'),
      el('td', '', i18n.date(p.fact_at)),
      el('td', '', amountText(p.amount ?? p.proposed_amount, p.unit)),
      el('td', `st-${p.status}`, t(`pen.state.${p.status}`)),
    );
    labelled(tr, ['pen.col.task', 'pen.col.cause', 'pen.col.contractor', 'pen.col.when', 'pen.col.amount', 'pen.col.status']);
    tr.addEventListener('click', () => open(p.id));
    return tr;
  }));
  $('#count').textContent = i18n.num(state.list.length);
  $('#empty').hidden = state.list.length > 0;
}

function renderContractors() {
  const sel = $('#s-contractor');
  const mine = state.me && state.me.contractor;
  const names = mine ? [mine] : [...new Set(state.list.map((p) => p.contractor))].sort();
  const keep = sel.value;
  sel.setAttribute('translate', 'no');
  sel.replaceChildren(...names.map((n) => { const o = el('option', '', n); o.value = n; return o; }));
  if (names.includes(keep)) sel.value = keep;
}

async function open(id) {
  state.selected = id;
  state.detail = await session.request('GET', `/api/v1/penalties/${id}`);
  for (const tr of document.querySelectorAll('#pen-list tbody tr')) tr.classList.toggle('selected', Number(tr.dataset.id) === id);
  renderDetail();
  // On a phone the evidence is below the list: bring it into view.
  if (window.matchMedia('(max-width: 600px)').matches) $('#panel').scrollIntoView({ block: 'start' });
}

function fact(dl, key, value, mine) {
  dl.append(el('dt', '', t(key)), mine ? own(value, 'dd') : el('dd', '', value));
}

function renderDetail() {
  const p = state.detail;
  if (!p) return;
  $('#pick').hidden = true;
  $('#detail').hidden = false;
  $('#d-id').textContent = i18n.num(p.id);
  $('#d-cause').textContent = t(`pen.cause.${p.cause}`);
  const dl = $('#d-facts');
  dl.replaceChildren();
  fact(dl, 'pen.col.task', i18n.digits(p.task_id));
  fact(dl, 'pen.col.contractor', p.contractor, true);
  fact(dl, 'pen.crew', i18n.digits(p.crew || '—'));
  fact(dl, 'pen.district', i18n.digits(p.district || '—'));
  if (p.due_at) fact(dl, 'pen.due', i18n.date(p.due_at));
  fact(dl, 'pen.fact_at', i18n.date(p.fact_at));
  if (p.late_minutes !== null && p.late_minutes !== undefined) fact(dl, 'pen.late', t('pen.minutes', { n: i18n.num(p.late_minutes) }));
  fact(dl, 'pen.proposed', amountText(p.proposed_amount, p.unit));
  fact(dl, 'pen.decided', amountText(p.amount, p.unit));
  fact(dl, 'pen.col.status', t(`pen.state.${p.status}`));
  if (p.appeal_note) fact(dl, 'pen.appeal', p.appeal_note, true);
  const photos = $('#d-photos');
  photos.replaceChildren(...[['before', p.before_photo], ['after', p.after_photo]].filter(([, h]) => h).map(([kind, h]) => {
    const f = el('figure');
    const img = el('img');
    img.src = `/api/v1/photos/${h}/thumb`;
    img.alt = t(`pen.photo.${kind}`);
    img.addEventListener('error', () => { img.replaceWith(el('span', 'hint', t('pen.photo.missing'))); });
    f.append(img, el('figcaption', '', t(`pen.photo.${kind}`)));
    return f;
  }));
  $('#d-steps').replaceChildren(...p.steps.map((s) => {
    const li = el('li', '', `${i18n.date(s.at)} — ${t(`pen.step.${s.action}`)}${s.amount !== null && s.amount !== undefined ? ` (${amountText(s.amount, p.unit)})` : ''} — `);
    li.append(own(s.note));
    return li;
  }));
  const role = state.me.role;
  $('#decide-form').hidden = !(role === 'manager' && (p.status === 'proposed' || p.status === 'appealed'));
  $('#appeal-form').hidden = !(role === 'contractor' && p.status === 'confirmed' && !p.appeal_note);
  $('#amount-label').hidden = $('#action').value !== 'reduce';
}

async function send(path, body, done) {
  const msg = $('#message');
  msg.className = '';
  try {
    const p = await session.request('POST', path, body);
    msg.className = 'good';
    msg.textContent = t(done, { id: i18n.num(p.id) });
    // The list first, then the status: whoever waits for the status sees the new list.
    await refresh();
    msg.dataset.status = p.status;
  } catch (e) {
    msg.className = 'bad';
    msg.textContent = t('pen.error', { why: e.message });
  }
}

$('#action').addEventListener('change', () => { $('#amount-label').hidden = $('#action').value !== 'reduce'; });
$('#decide-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const reason = $('#reason').value.trim();
  if (!reason) { $('#message').className = 'bad'; $('#message').textContent = t('pen.reason_needed'); return; }
  const body = { action: $('#action').value, reason };
  if (body.action === 'reduce') body.amount = Number($('#amount').value);
  $('#reason').value = '';
  send(`/api/v1/penalties/${state.selected}/decision`, body, 'pen.done.decided');
});
$('#appeal-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const note = $('#note').value.trim();
  if (!note) { $('#message').className = 'bad'; $('#message').textContent = t('pen.note_needed'); return; }
  $('#note').value = '';
  send(`/api/v1/penalties/${state.selected}/appeal`, { note }, 'pen.done.appealed');
});
$('#f-status').addEventListener('change', () => refresh().catch((e) => { $('#message').textContent = e.message; }));

function statementQuery(csv) {
  const q = new URLSearchParams();
  q.set('contractor', $('#s-contractor').value);
  if ($('#s-from').value) q.set('from', $('#s-from').value);
  if ($('#s-to').value) q.set('to', $('#s-to').value);
  if (csv) q.set('format', 'csv');
  return `/api/v1/penalties/statement?${q}`;
}

async function showStatement() {
  const out = $('#statement');
  try {
    state.statement = await session.request('GET', statementQuery(false));
  } catch (e) {
    out.replaceChildren(el('p', 'bad', t('pen.error', { why: e.message })));
    return;
  }
  renderStatement();
}

function renderStatement() {
  const s = state.statement;
  if (!s) return;
  const out = $('#statement');
  // The contractor's name goes in untranslated, where the catalogue puts it.
  const [before, after] = t('pen.statement.head', { contractor: '\u0000', from: i18n.digits(s.from), to: i18n.digits(s.to) }).split('\u0000');
  const head = el('p', '', before || '');
  head.append(own(s.contractor), after || '');
  const table = el('table');
  const hr = el('tr');
  for (const k of ['pen.col.task', 'pen.col.cause', 'pen.col.when', 'pen.col.status', 'pen.col.amount']) hr.append(el('th', '', t(k)));
  table.append(hr);
  for (const p of s.penalties) {
    const tr = el('tr');
    tr.append(el('td', '', i18n.digits(p.task_id)), el('td', '', t(`pen.cause.${p.cause}`)), el('td', '', i18n.date(p.fact_at)),
      el('td', `st-${p.status}`, t(`pen.state.${p.status}`)), el('td', '', amountText(p.amount ?? p.proposed_amount, p.unit)));
    labelled(tr, ['pen.col.task', 'pen.col.cause', 'pen.col.when', 'pen.col.status', 'pen.col.amount']);
    table.append(tr);
  }
  const totals = el('dl');
  fact(totals, 'pen.statement.confirmed', amountText(s.confirmed_total, s.unit));
  fact(totals, 'pen.statement.cap', s.cap_per_month ? amountText(s.cap_per_month, s.unit) : t('pen.statement.nocap'));
  fact(totals, 'pen.statement.charged', amountText(s.charged_total, s.unit));
  fact(totals, 'pen.statement.pending', i18n.num(s.proposed));
  out.replaceChildren(head, table, totals);
}

$('#statement-form').addEventListener('submit', (ev) => { ev.preventDefault(); showStatement(); });
$('#s-print').addEventListener('click', async () => { await showStatement(); window.print(); });
$('#s-csv').addEventListener('click', async () => {
  const r = await fetch(statementQuery(true), { headers: session.headers() });
  if (!r.ok) { $('#statement').replaceChildren(el('p', 'bad', t('pen.error', { why: r.status }))); return; }
  const url = URL.createObjectURL(await r.blob());
  const a = el('a');
  a.href = url;
  a.download = `penalties-${$('#s-contractor').value}.csv`;
  a.click();
  URL.revokeObjectURL(url);
});

i18n.ready.then(() => {
  i18n.switcher($('#lang'));
  i18n.onChange(() => { renderWho(); renderList(); renderDetail(); renderStatement(); });
  session.init(() => start().catch((e) => { $('#login-error').textContent = e.message; }));
});
