// The "to verify" page: completed tasks of the dispatcher's districts, the longest
// waiting first; a task's before and after photos (thumbnails, the display size on a
// click, the original for staff), their EXIF place and time and flags in plain words,
// the crew's notes and the timeline; and the decision: verify, or reject with a reason
// (the task goes back to the same crew). Talks to /api/v1/console/verify and
// /api/v1/console/tasks/{id}/{evidence,verify,reject}. Texts: /i18n (verify.*).
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

const state = { me: null, list: [], selected: null, detail: null, evidence: null };

function statusWord(s) { return t(`verify.state.${s}`); }

async function start() {
  $('#login-view').hidden = true;
  $('#verify-view').hidden = false;
  $('#logout').hidden = false;
  const boot = await session.request('GET', '/api/v1/console/bootstrap');
  state.me = boot.me;
  state.districtName = districtNames(boot.districts.features);
  state.serviceName = serviceNames(boot.services);
  // The login as typed; the role and districts by their names.
  $('#who').innerHTML = whoHtml(boot.me, state.districtName);
  $('#decide').hidden = boot.me.role !== 'dispatcher';
  await refresh();
  follow();
}

// Live: the console's event stream (read through fetch, so the token goes in a header)
// says when a task of my districts changed.
async function follow() {
  for (;;) {
    try {
      const r = await fetch('/api/v1/console/events', { headers: session.headers() });
      if (!r.ok) throw new Error(`events: ${r.status}`);
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          if (/^event: change/m.test(chunk)) refresh().catch(() => {});
        }
      }
    } catch (e) { console.warn(e); }
    await new Promise((res) => setTimeout(res, 2000));
  }
}

async function refresh() {
  // The list is the longest waiting (at most 500); the queue's count says how many wait
  // in all, so a longer backlog is said, not hidden.
  const [list, all] = await Promise.all([
    session.request('GET', '/api/v1/console/verify'),
    session.request('GET', '/api/v1/console/queue?state=to_verify&limit=1').catch(() => null),
  ]);
  state.list = list;
  state.total = all ? Math.max(all.total, list.length) : list.length;
  renderList();
  if (state.selected) await open(state.selected, true);
}

function renderList() {
  const ul = $('#verify-list');
  ul.replaceChildren();
  $('#count').textContent = i18n.num(state.total ?? state.list.length);
  $('#empty').hidden = state.list.length > 0;
  const more = (state.total ?? 0) > state.list.length;
  $('#more').hidden = !more;
  $('#more').textContent = more ? t('verify.more', { shown: state.list.length, total: state.total }) : '';
  for (const row of state.list) {
    const li = el('li');
    li.dataset.id = row.id;
    if (row.id === state.selected) li.classList.add('selected');
    const title = el('div', 'title', row.title);
    title.translate = false; // the reporter's words
    li.append(title);
    const meta = el('div', 'meta');
    meta.textContent = `${i18n.digits(row.id)} · ${t('verify.crew')} ${i18n.digits(row.assignee || '—')} · ${i18n.date(row.updated_at)}`;
    li.append(meta);
    li.addEventListener('click', () => open(row.id));
    ul.append(li);
  }
}

// Each task load's number: a slower, older answer (a live refresh begun before a
// decision) must not draw over a newer one.
let openSeq = 0;

async function open(id, quiet) {
  const seq = ++openSeq;
  state.selected = id;
  document.querySelectorAll('#verify-list li').forEach((li) => li.classList.toggle('selected', li.dataset.id === id));
  if (!quiet) $('#message').textContent = '';
  const [detail, evidence] = await Promise.all([
    session.request('GET', `/api/v1/console/tasks/${encodeURIComponent(id)}`),
    session.request('GET', `/api/v1/console/tasks/${encodeURIComponent(id)}/evidence`),
  ]);
  if (seq !== openSeq) return;
  state.detail = detail;
  state.evidence = evidence;
  renderTask();
}

function flagText(code, p) {
  if (code === 'far_from_task' && p.distance_m !== null && p.distance_m !== undefined) {
    return t('verify.flag.far_from_task_m', { m: Math.round(p.distance_m) });
  }
  return t(`verify.flag.${code}`);
}

const SERIOUS = ['far_from_task', 'before_task'];

function photoCard(p) {
  const card = el('figure', 'photo');
  card.dataset.hash = p.hash;
  const serious = p.flags.filter((f) => SERIOUS.includes(f));
  if (serious.length) card.classList.add('flagged');
  const head = el('figcaption');
  head.append(el('span', 'kind', t(`verify.kind.${p.kind}`)));
  if (serious.length) head.append(el('span', 'flag-badge', t('verify.flagged')));
  card.append(head);
  if (p.thumb_url) {
    const img = el('img');
    img.src = p.thumb_url;
    img.alt = t(`verify.kind.${p.kind}`);
    img.loading = 'eager';
    img.addEventListener('click', () => {
      $('#viewer-img').src = p.display_url;
      $('#viewer').showModal();
    });
    card.append(img);
  }
  const facts = el('ul');
  for (const f of p.flags) facts.append(el('li', SERIOUS.includes(f) ? 'flag' : '', flagText(f, p)));
  if (p.exif_lat !== null && p.exif_lat !== undefined && !p.flags.includes('far_from_task')) {
    facts.append(el('li', '', p.distance_m !== null && p.distance_m !== undefined
      ? t('verify.fact.near_m', { m: Math.round(p.distance_m) }) : t('verify.fact.place')));
  }
  if (p.exif_taken_at) facts.append(el('li', '', t('verify.fact.taken', { at: i18n.date(p.exif_taken_at) })));
  if (p.received_at) facts.append(el('li', '', t('verify.fact.received', { at: i18n.date(p.received_at) })));
  card.append(facts);
  if (p.original_url) {
    const b = el('button', 'secondary original', t('verify.original'));
    b.type = 'button';
    b.addEventListener('click', async () => {
      const r = await fetch(p.original_url, { headers: session.headers() });
      if (!r.ok) { $('#message').textContent = t('verify.error', { why: r.status }); return; }
      const url = URL.createObjectURL(await r.blob());
      $('#viewer-img').src = url;
      $('#viewer').showModal();
    });
    card.append(b);
  }
  return card;
}

// An event in words, as HTML: the server's reasons in the page's language (reasonHtml,
// session.js), crews and people's reasons as written.
function eventWords(e) {
  const k = e.event.kind;
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const words = esc(t(`verify.event.${k.kind}`));
  const extra = [
    k.crew ? `<bdi translate="no">${esc(k.crew)}</bdi>` : '',
    k.reason ? reasonHtml(k.reason, { district: state.districtName, service: state.serviceName }) : '',
  ].filter(Boolean).join(' — ');
  return extra ? `${words}: ${extra}` : words;
}

function renderTask() {
  const task = state.detail.task;
  const ev = state.evidence;
  $('#pick').hidden = true;
  $('#task').hidden = false;
  $('#t-title').textContent = task.title;
  $('#t-title').translate = false;
  $('#t-id').textContent = i18n.digits(task.id);
  $('#t-address').textContent = task.address || '';
  $('#t-crew').textContent = i18n.digits(task.derived.assignee || '—');
  $('#t-status').textContent = statusWord(task.derived.status);
  $('#t-status').dataset.status = task.derived.status;
  const rej = task.derived.rejections || 0;
  $('#t-rejections').hidden = rej === 0;
  $('#t-rejections').textContent = t('verify.rejections', { n: rej });
  const photos = $('#photos');
  photos.replaceChildren(...ev.photos.map(photoCard));
  if (!ev.photos.length) photos.append(el('p', 'hint', t('verify.no_photos')));
  const notes = $('#notes');
  notes.replaceChildren(...task.notes.map((n) => el('li', '', `${i18n.date(n.at)} — ${n.text}`)));
  const tl = $('#timeline');
  tl.replaceChildren(...task.timeline.map((e) => {
    const tr = el('tr', e.outcome.outcome === 'superseded' ? 'superseded' : '');
    const words = el('td');
    words.innerHTML = eventWords(e);
    const actor = el('td', 'meta', e.event.actor.user);
    actor.translate = false;
    tr.append(el('td', '', i18n.date(e.event.at)), words, actor);
    return tr;
  }));
  $('#btn-verify').disabled = !ev.decidable;
  $('#btn-reject').disabled = !ev.decidable;
  $('#reject-reason').disabled = !ev.decidable;
}

async function decide(what) {
  const id = state.selected;
  const msg = $('#message');
  msg.className = '';
  let body;
  if (what === 'reject') {
    const reason = $('#reject-reason').value.trim();
    if (!reason) { msg.className = 'bad'; msg.textContent = t('verify.reason_needed'); $('#reject-reason').focus(); return; }
    body = { reason };
  }
  try {
    const task = await session.request('POST', `/api/v1/console/tasks/${encodeURIComponent(id)}/${what}`, body);
    msg.className = 'good';
    msg.textContent = t(what === 'verify' ? 'verify.done.verified' : 'verify.done.rejected', { id: i18n.digits(id) });
    msg.dataset.status = task.derived.status;
    $('#reject-reason').value = '';
    await refresh();
  } catch (e) {
    msg.className = 'bad';
    msg.textContent = t('verify.error', { why: e.message });
  }
}

$('#btn-verify').addEventListener('click', () => decide('verify'));
$('#btn-reject').addEventListener('click', () => decide('reject'));

i18n.ready.then(() => {
  i18n.switcher($('#lang'));
  i18n.onChange(() => { if (state.list.length) renderList(); if (state.detail) renderTask(); });
  session.init(() => start().catch((e) => { $('#login-error').textContent = e.message; }));
});
