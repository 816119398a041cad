// Tarmim dispatch console: plain JavaScript over /api/v1/console/*.
// The session (token, login, logout) is session.js's, shared with the manager pages.
// The queue is the server's paged queue (/api/v1/console/queue): one page at a time with
// the total and the counts per state, so nothing is left out however many tasks are
// open; the state tabs, filters and search are the route's own parameters, and the map
// shows the tasks of the page on screen (and the crews).
// Every text people read comes from the catalogues (tr, label: session.js); what people
// typed (titles, notes, addresses) is marked translate="no".
'use strict';

const i18n = window.tarmimI18n;

const $ = (sel) => document.querySelector(sel);
const state = {
  me: null, tasks: [], crews: [], alerts: [], selected: null, detail: null,
  map: null, taskLayer: null, crewLayer: null, markers: new Map(),
  // The queue's page: what is asked (tab, filters, search, page) and what came back.
  q: { state: 'open', service: '', priority: '', crew: '', district: '', late: false, text: '', limit: 100, offset: 0 },
  total: 0, counts: null,
};

const STATUS_COLOUR = {
  new: '#8e44ad', queued: '#f1c40f', assigned: '#e67e22', acknowledged: '#d35400',
  in_progress: '#2980b9', paused: '#7f8c8d', completed: '#27ae60', reopened: '#c0392b',
  verified: '#16a085', cancelled: '#bdc3c7', duplicate: '#bdc3c7',
};
const PRIORITY_RADIUS = { urgent: 10, high: 8, normal: 6, low: 5 };

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const api = (method, path, body) => session.request(method, path, body);
// People's own text, kept as typed (the untranslated-text check skips it).
const own = (s) => `<span translate="no">${esc(s)}</span>`;
const n = (v) => i18n.num(v);
const dig = (s) => esc(i18n.digits(s ?? ''));
// Services and districts by their names in the page's language (session.js).
const service = (code) => serviceNames(state.services)(code);
const district = (code) => (state.districtName ? state.districtName(code) : code);
const reason = (text) => reasonHtml(text, { district, service });

// ---------------------------------------------------------------- start

async function start() {
  let boot;
  try { boot = await api('GET', '/api/v1/console/bootstrap'); } catch (e) {
    sessionStorage.removeItem('tarmim-token'); $('#login-error').textContent = e.message; return;
  }
  state.me = boot.me;
  state.boot = boot;
  state.services = boot.services;
  state.districtName = districtNames(boot.districts.features);
  $('#login-view').hidden = true;
  $('#console-view').hidden = false;
  $('#logout').hidden = false;
  fillChrome();
  if (boot.me.role === 'call_centre') $('#file-report').open = true;
  initMap(boot);
  wireQueue();
  await refresh();
  listen();
  setInterval(tick, 1000);
}

// The parts of the page drawn from the server's answers (redrawn on a language change).
function fillChrome() {
  const me = state.me;
  $('#who').innerHTML = whoHtml(me, district);
  const sel = $('#r-category');
  const kept = sel.value;
  sel.innerHTML = '';
  for (const s of state.services) {
    const o = document.createElement('option');
    o.value = s.code; o.textContent = tr('console.serviceOption', { name: service(s.code), priority: label('priority', s.default_priority) });
    sel.appendChild(o);
  }
  if (kept) sel.value = kept;
  fillFilters();
}

// The filters' choices: my services, crews and districts (the value kept on a redraw).
function fillFilters() {
  const fill = (sel, anyKey, items) => {
    const kept = sel.value;
    sel.innerHTML = '';
    const any = document.createElement('option');
    any.value = ''; any.textContent = tr(anyKey);
    sel.appendChild(any);
    for (const [value, text, own_] of items) {
      const o = document.createElement('option');
      o.value = value; o.textContent = text;
      if (own_) o.setAttribute('translate', 'no');
      sel.appendChild(o);
    }
    sel.value = kept;
  };
  fill($('#q-service'), 'queue.any.service', state.services.map((s) => [s.code, service(s.code)]));
  fill($('#q-district'), 'queue.any.district', (state.me.districts || []).map((d) => [d, district(d)]));
  fill($('#q-crew'), 'queue.any.crew', [...state.crews].sort((a, b) => a.id.localeCompare(b.id)).map((c) => [c.id, c.id, true]));
  $('#q-crew').hidden = state.me.role === 'call_centre';
  for (const o of $('#q-size').options) o.textContent = n(o.value);
}

function rerender() {
  if (!state.me) return;
  fillChrome();
  if (state.zoom) { state.zoom.remove(); state.zoom = zoomControl().addTo(state.map); }
  state.districtLayer?.eachLayer((l) => l.setTooltipContent(districtTip(l.feature)));
  renderQueue(); renderMap(); renderAlerts();
  if (state.detail) renderDetail(state.detail);
}

const districtTip = (f) => `${esc(i18n.digits(f.properties.code))} ${esc(district(f.properties.code))}`;

function initMap(boot) {
  const map = L.map('map', { zoomControl: false, zoomSnap: 0.1, attributionControl: !!boot.tile_url });
  state.zoom = zoomControl().addTo(map);
  state.map = map;
  if (boot.tile_url) L.tileLayer(boot.tile_url, { maxZoom: 19 }).addTo(map);
  const districts = L.geoJSON(boot.districts, {
    style: { color: '#34495e', weight: 1.5, fillColor: '#9fb3c8', fillOpacity: 0.15 },
    onEachFeature: (f, layer) => layer.bindTooltip(districtTip(f), { permanent: true, direction: 'center', className: 'district-label' }),
  }).addTo(map);
  state.districtLayer = districts;
  const b = districts.getBounds();
  const fit = () => { if (b.isValid()) map.fitBounds(b, { padding: [10, 10] }); else map.setView([35.69, 51.39], 12); };
  fit();
  // The container was hidden until now: measure it again once laid out, then fit.
  setTimeout(() => { map.invalidateSize(); fit(); }, 0);
  state.taskLayer = L.layerGroup().addTo(map);
  state.crewLayer = L.layerGroup().addTo(map);
  map.on('click', (e) => {
    $('#r-lat').value = e.latlng.lat.toFixed(6);
    $('#r-lon').value = e.latlng.lng.toFixed(6);
  });
}

// ---------------------------------------------------------------- data

let refreshing = null;
// Each queue request's number: an answer is shown only if no newer one was asked since.
let pageSeq = 0;
async function refresh() {
  if (refreshing) { refreshing.again = true; return; }
  refreshing = { again: false };
  try {
    const isDispatch = state.me.role !== 'call_centre';
    const seq = ++pageSeq;
    const [page, crews, alerts] = await Promise.all([
      loadPage(),
      isDispatch ? api('GET', '/api/v1/crews') : Promise.resolve([]),
      api('GET', '/api/v1/console/alerts'),
    ]);
    const hadCrews = state.crews.length;
    state.crews = crews; state.alerts = alerts;
    if (crews.length !== hadCrews) fillFilters();
    if (seq === pageSeq) showPage(page);
    renderAlerts();
    if (state.selected) await loadDetail(state.selected);
  } catch (e) { console.error(e); }
  const again = refreshing.again;
  refreshing = null;
  if (again) refresh();
}

// The query string of the page asked for.
function queueQuery() {
  const q = state.q;
  const p = new URLSearchParams({ limit: q.limit, offset: q.offset });
  if (q.state !== 'open') p.set('state', q.state);
  for (const k of ['service', 'priority', 'crew', 'district']) if (q[k]) p.set(k, q[k]);
  if (q.late) p.set('late', 'true');
  if (q.text) p.set('q', q.text);
  return p.toString();
}

async function loadPage() {
  const asked = queueQuery();
  let page = await api('GET', `/api/v1/console/queue?${asked}`);
  // The page emptied under us (tasks closed since): show the last page that has rows.
  if (!page.rows.length && page.total > 0 && state.q.offset > 0) {
    state.q.offset = Math.max(0, Math.floor((page.total - 1) / state.q.limit) * state.q.limit);
    page = await api('GET', `/api/v1/console/queue?${queueQuery()}`);
  }
  return page;
}

function showPage(page) {
  state.tasks = page.rows; state.total = page.total; state.counts = page.counts;
  renderQueue(); renderMap();
  document.body.dataset.loaded = state.q.state;
}

// Loads the queue alone (a tab, filter, search or page changed): the crews and alerts
// stay as they are.
async function reloadQueue() {
  const seq = ++pageSeq;
  delete document.body.dataset.loaded;
  try {
    const page = await loadPage();
    if (seq === pageSeq) showPage(page);
  } catch (e) { $('#q-range').textContent = e.message; }
}

function wireQueue() {
  const q = state.q;
  const changed = () => { q.offset = 0; reloadQueue(); };
  for (const b of document.querySelectorAll('#q-tabs [data-tab]')) {
    b.addEventListener('click', () => { q.state = b.dataset.tab; changed(); });
  }
  for (const k of ['service', 'priority', 'crew', 'district']) {
    $(`#q-${k}`).addEventListener('change', (e) => { q[k] = e.target.value; changed(); });
  }
  $('#q-late').addEventListener('change', (e) => { q.late = e.target.checked; changed(); });
  $('#q-size').addEventListener('change', (e) => { q.limit = Number(e.target.value); changed(); });
  let typing = null;
  const search = () => {
    clearTimeout(typing);
    const text = $('#q-search').value.trim();
    if (text === q.text) return;
    q.text = text; changed();
  };
  $('#q-search').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(search, 300); });
  $('#q-filters').addEventListener('submit', (e) => { e.preventDefault(); search(); });
  $('#q-clear').addEventListener('click', () => {
    $('#q-filters').reset();
    Object.assign(q, { service: '', priority: '', crew: '', district: '', late: false, text: '' });
    changed();
  });
  $('#q-prev').addEventListener('click', () => { q.offset = Math.max(0, q.offset - q.limit); reloadQueue(); });
  $('#q-next').addEventListener('click', () => { if (q.offset + q.limit < state.total) { q.offset += q.limit; reloadQueue(); } });
}

// Live updates: Server-Sent Events read through fetch (so the token goes in a header).
async function listen() {
  for (;;) {
    try {
      const r = await fetch('/api/v1/console/events', { headers: session.headers() });
      if (!r.ok) throw new Error(`events: ${r.status}`);
      $('#live').className = 'live on';
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
          if (/^event: (change|hello)/m.test(chunk)) refresh();
        }
      }
    } catch (e) { console.warn(e); }
    $('#live').className = 'live off';
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// ---------------------------------------------------------------- queue

function nextDue(t) {
  if (['new', 'queued', 'assigned'].includes(t.status) && t.ack_due) return { due: t.ack_due, what: 'ack' };
  if (t.complete_due && !['completed', 'verified'].includes(t.status)) return { due: t.complete_due, what: 'done' };
  return { due: Infinity, what: '' };
}

function fmtLeft(ms) {
  const neg = ms < 0; ms = Math.abs(ms);
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  const t = h ? tr('time.hm', { h, m: i18n.digits(String(m).padStart(2, '0')) }) : i18n.digits(`${m}:${String(s).padStart(2, '0')}`);
  return neg ? tr('sla.overdue', { t }) : t;
}

// The page in the server's order (most urgent priority first, then the oldest), the
// counts on the tabs, and where this page is in the whole.
function renderQueue() {
  const ul = $('#queue');
  const c = state.counts || { new: 0, assigned: 0, acknowledged: 0, late: 0, to_verify: 0 };
  const counts = Object.assign({ open: c.new + c.assigned + c.acknowledged }, c);
  for (const b of document.querySelectorAll('#q-tabs [data-tab]')) {
    const on = b.dataset.tab === state.q.state;
    b.classList.toggle('on', on);
    b.setAttribute('aria-selected', String(on));
    b.querySelector('.n').textContent = n(counts[b.dataset.tab] ?? 0);
  }
  const { offset, limit } = state.q;
  const shown = state.tasks.length;
  $('#q-range').textContent = state.total
    ? tr('queue.range', { from: offset + 1, to: offset + shown, total: state.total })
    : '';
  $('#q-prev').disabled = offset === 0;
  $('#q-next').disabled = offset + limit >= state.total;
  $('#q-pager').hidden = state.total <= limit && offset === 0;
  $('#q-empty').hidden = state.total > 0;
  $('#q-map').textContent = tr('queue.mapShows', { n: shown });
  const frag = document.createDocumentFragment();
  ul.innerHTML = '';
  for (const t of state.tasks) {
    const li = document.createElement('li');
    li.dataset.id = t.id;
    li.className = `p-${t.priority}${state.selected === t.id ? ' selected' : ''}`;
    const d = nextDue(t);
    li.innerHTML = `<div><b>${own(t.title)}</b></div>
      <div class="meta"><span><bdi translate="no">${dig(t.id)}</bdi> · ${esc(district(t.district || ''))} · <span class="badge status" data-status="${esc(t.status)}">${esc(label('status', t.status))}</span> ${t.assignee ? '← <bdi class="assignee" translate="no">' + esc(t.assignee) + '</bdi>' : ''}</span>
      <span class="sla" data-due="${d.due === Infinity ? '' : d.due}" data-what="${d.what}"></span></div>`;
    li.addEventListener('click', () => select(t.id));
    frag.appendChild(li);
  }
  ul.appendChild(frag);
  tick();
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('.sla[data-due]')) {
    if (!el.dataset.due) { el.textContent = ''; continue; }
    const left = Number(el.dataset.due) - now;
    el.textContent = `${tr('sla.what.' + el.dataset.what)} ${fmtLeft(left)}`;
    el.classList.toggle('overdue', left < 0);
  }
}

function renderAlerts() {
  const box = $('#alerts');
  box.innerHTML = state.alerts.slice(0, 5).map((a) => `<div class="alert" data-task="${esc(a.task || '')}"><b>${esc(label('alert', a.kind))}</b> ${alertText(a)}</div>`).join('');
  for (const el of box.querySelectorAll('.alert[data-task]')) {
    if (el.dataset.task) el.addEventListener('click', () => select(el.dataset.task));
  }
}

// An alert's sentence: the server writes it in English; in Persian the task stands for it.
function alertText(a) {
  if (i18n.lang === 'en') return esc(a.message);
  return a.task ? `<bdi translate="no">${dig(a.task)}</bdi>` : '';
}

// ---------------------------------------------------------------- map

function renderMap() {
  state.taskLayer.clearLayers();
  state.markers.clear();
  for (const t of state.tasks) {
    const m = L.circleMarker([t.lat, t.lon], {
      radius: PRIORITY_RADIUS[t.priority] || 6,
      color: t.priority === 'urgent' ? '#7b1010' : '#2c3e50',
      weight: t.priority === 'urgent' ? 3 : 1,
      fillColor: STATUS_COLOUR[t.status] || '#999', fillOpacity: 0.9,
      className: `task-marker task-${t.id}`,
    }).bindTooltip(`${dig(t.id)} ${own(t.title)} (${esc(label('status', t.status))}${tr('list.sep')}${esc(label('priority', t.priority))})`);
    m.on('click', () => select(t.id));
    m.addTo(state.taskLayer);
    state.markers.set(t.id, m);
  }
  state.crewLayer.clearLayers();
  for (const c of state.crews) {
    if (!c.position) continue;
    const flagged = c.position.flags.length > 0;
    const icon = L.divIcon({
      className: '', iconSize: null,
      html: `<div class="crew-marker${c.on_duty ? '' : ' off'}${flagged ? ' flagged' : ''}" data-crew="${esc(c.id)}" translate="no">${esc(c.id)}</div>`,
    });
    L.marker([c.position.lat, c.position.lon], { icon })
      .bindTooltip(`${own(c.name)}: ${tr(c.on_duty ? 'crew.onDuty' : 'crew.offDuty')}${tr('list.sep')}${tr('crew.load', { n: c.load })}${flagged ? ' — ' + tr('crew.flagged', { flags: c.position.flags.map((f) => esc(label('flag', f))).join(tr('list.sep')) }) : ''}`)
      .addTo(state.crewLayer);
  }
}

// ---------------------------------------------------------------- detail

async function select(id) {
  state.selected = id;
  for (const li of document.querySelectorAll('#queue li')) li.classList.toggle('selected', li.dataset.id === id);
  await loadDetail(id);
}

async function loadDetail(id) {
  let d;
  try { d = await api('GET', `/api/v1/console/tasks/${encodeURIComponent(id)}`); } catch (e) {
    $('#detail').innerHTML = `<p class="error">${esc(e.message)}</p>`; return;
  }
  if (state.selected !== id) return;
  state.detail = d;
  renderDetail(d);
}

// A time people read: Solar Hijri in Persian, in the city's zone.
function when(ms) { return ms ? i18n.date(ms) : ''; }

// An event's details as HTML: the server's reasons in the page's language (reasonHtml);
// people's reasons and comments as they wrote them.
function eventText(k) {
  switch (k.kind) {
    case 'assigned': return `← <bdi translate="no">${esc(k.crew)}</bdi>: ${reason(k.reason)}`;
    case 'escalated': return reason(k.reason);
    case 'routed': return `← ${esc(district(k.district))}`;
    case 'reprioritized': return `${esc(label('priority', k.priority))}: ${own(k.reason)}`;
    case 'marked_duplicate': return esc(tr('event.duplicateOf', { of: i18n.digits(k.of) }));
    case 'completed': return esc(tr('event.photos', { n: k.photos.length }));
    case 'rated': return `${esc(n(k.stars))}★ ${own(k.comment || '')}`;
    default: return own(k.reason || '');
  }
}

// The server's receipt beside the phone's time: present only when the event claimed a
// time older than its receipt by more than the allowed clock skew (offline work, or a
// clock set back); the time SLA measures and citizens' windows count from is shown when
// it is not the phone's.
function receiptText(e) {
  const r = e.receipt;
  if (!r) return '';
  const vouched = r.vouched_at !== e.event.at
    ? `<div class="hint receipt vouched">${esc(tr('event.vouched', { at: when(r.vouched_at) }))}</div>` : '';
  return `<div class="hint receipt">${esc(tr('event.received', { at: when(r.received_at) }))}</div>${vouched}`;
}

function renderDetail(d) {
  const t = d.task;
  const dv = t.derived;
  const mine = state.me.role === 'dispatcher';
  const crews = state.crews.filter((c) => c.skills.includes(t.category) || c.district === dv.district)
    .sort((a, b) => (b.on_duty - a.on_duty) || a.id.localeCompare(b.id));
  const rows = t.timeline.map((e) => {
    const sup = e.outcome.outcome === 'superseded';
    return `<tr class="${sup ? 'superseded' : ''}" data-kind="${esc(e.event.kind.kind)}"><td>${esc(when(e.event.at))}${receiptText(e)}</td><td><b>${esc(label('event', e.event.kind.kind))}</b></td>
      <td><bdi translate="no">${esc(e.event.actor.user)}</bdi> <span class="hint">${esc(label('role', e.event.actor.role))}</span></td><td>${eventText(e.event.kind)}</td>
      <td class="why">${sup ? esc(tr('event.superseded')) + ': ' + own(e.outcome.reason) : e.outcome.outcome === 'extra_visit' ? esc(tr('event.extraVisit')) : ''}</td></tr>`;
  }).join('');
  const T = (k, v) => esc(tr(k, v));
  $('#detail').innerHTML = `
    <h3 id="detail-title">${own(t.title)}</h3>
    <div><span class="badge" translate="no">${dig(t.id)}</span> <span class="badge" id="detail-status" data-status="${esc(dv.status)}">${esc(label('status', dv.status))}</span>
      <span class="badge">${esc(label('priority', dv.priority))}</span> ${esc(district(dv.district || ''))} · ${esc(service(t.category))}
      ${dv.escalated ? `<span class="badge" style="background:#f5c2bd">${T('detail.escalated')}</span>` : ''}</div>
    <p>${own(t.description)}</p>
    <p class="hint">${own(t.address || '')} (${esc(n(t.point.lat.toFixed(5)))}${tr('list.sep')}${esc(n(t.point.lon.toFixed(5)))})</p>
    <p>${T('detail.crew')}: <b id="detail-assignee" translate="no">${esc(dv.assignee || '—')}</b>
      · ${T('detail.ackBy', { at: when(t.sla.ack_due) })} · ${T('detail.doneBy', { at: when(t.sla.complete_due) })}</p>
    ${(d.tracking_codes || []).length ? `<p id="detail-codes">${T('detail.codes')}: ${d.tracking_codes.map((c) => `<b translate="no" data-code="${esc(c.code)}">${dig(c.code)}</b> (${esc(label('codeRole', c.role))})`).join(tr('list.sep'))}</p>` : ''}
    ${dv.conflicts.map((c) => `<div class="conflict"><b>${esc(label('conflict', c.kind))}</b>${i18n.lang === 'en' ? ': ' + esc(c.message) : ''}</div>`).join('')}
    ${mine ? `<div class="actions">
      <div class="row"><select id="assign-crew">${crews.map((c) => `<option value="${esc(c.id)}">${esc(c.id)} ${c.on_duty ? '' : T('detail.offDuty')} ${c.district !== dv.district ? '(' + esc(district(c.district)) + ')' : ''} · ${T('crew.load', { n: c.load })}</option>`).join('')}</select>
        <button id="assign-btn">${T(dv.assignee ? 'detail.reassign' : 'detail.assign')}</button></div>
      <input id="assign-override" placeholder="${T('detail.override')}">
      <div class="row"><button id="auto-btn" class="secondary">${T('detail.autoAssign')}</button></div>
      <div class="row"><select id="prio">${['urgent', 'high', 'normal', 'low'].map((p) => `<option value="${p}" ${p === dv.priority ? 'selected' : ''}>${esc(label('priority', p))}</option>`).join('')}</select>
        <input id="prio-reason" placeholder="${T('detail.reason')}"><button id="prio-btn" class="secondary">${T('detail.setPriority')}</button></div>
      <div class="row"><input id="dup-of" placeholder="${T('detail.duplicateOf')}"><button id="dup-btn" class="secondary">${T('detail.markDuplicate')}</button></div>
      ${(d.nearby || []).length ? `<div id="nearby"><b>${T('detail.nearby')}</b> ${T('detail.nearby.same')}:<ul>${d.nearby.map((x) => `<li data-id="${esc(x.id)}"><span class="badge" translate="no">${dig(x.id)}</span> ${own(x.title)} · ${esc(label('status', x.status))} · ${T('unit.metres', { n: Math.round(x.distance_m) })}${x.supporters ? ` · ${T('detail.supporters', { n: x.supporters })}` : ''} <button class="secondary merge-into" data-of="${esc(x.id)}">${T('detail.mergeInto')}</button></li>`).join('')}</ul><p class="hint">${T('detail.mergeHint')}</p></div>` : ''}
      <div class="row"><input id="cancel-reason" placeholder="${T('detail.cancelReason')}"><button id="cancel-btn" class="danger">${T('detail.cancel')}</button></div>
      <p id="action-error" class="error"></p></div>` : ''}
    <h4>${T('detail.timeline')}</h4><table class="timeline" id="timeline">${rows}</table>
    <h4>${T('detail.photos', { n: t.photos.length })}</h4>
    <ul>${t.photos.map((p) => `<li>${esc(label('photoKind', p.kind))} · <bdi translate="no">${esc(p.hash.slice(0, 12))}…</bdi> · ${esc(when(p.taken_at))} · <bdi translate="no">${esc(p.author)}</bdi></li>`).join('')}</ul>
    <h4>${T('detail.notes')}</h4>
    <ul id="notes">${t.notes.map((x) => `<li><b translate="no">${esc(x.author)}</b> ${esc(when(x.at))}: ${own(x.text)}</li>`).join('')}</ul>
    ${mine ? `<div class="row"><input id="note-text" placeholder="${T('detail.addNote')}"><button id="note-btn" class="secondary">${T('detail.add')}</button></div>` : ''}
    ${d.alerts.length ? `<h4>${T('detail.alerts')}</h4>` + d.alerts.map((a) => `<div class="alert">${esc(label('alert', a.kind))}${i18n.lang === 'en' ? ': ' + esc(a.message) : ''}</div>`).join('') : ''}`;
  if (!mine) return;
  const act = (fn) => async () => {
    $('#action-error').textContent = '';
    try { await fn(); await refresh(); } catch (e) { $('#action-error').textContent = e.message; }
  };
  const base = `/api/v1/console/tasks/${encodeURIComponent(t.id)}`;
  $('#assign-btn').addEventListener('click', act(() => {
    const o = $('#assign-override').value.trim();
    return api('POST', `${base}/assign`, Object.assign({ crew: $('#assign-crew').value }, o ? { override: o } : {}));
  }));
  $('#auto-btn').addEventListener('click', act(() => api('POST', `${base}/auto-assign`)));
  $('#prio-btn').addEventListener('click', act(() => api('POST', `${base}/priority`, { priority: $('#prio').value, reason: $('#prio-reason').value || 'dispatcher' })));
  $('#dup-btn').addEventListener('click', act(() => api('POST', `${base}/duplicate`, { of: $('#dup-of').value.trim() })));
  for (const b of document.querySelectorAll('#nearby .merge-into')) {
    b.addEventListener('click', act(() => api('POST', `${base}/duplicate`, { of: b.dataset.of })));
  }
  $('#cancel-btn').addEventListener('click', act(() => api('POST', `${base}/cancel`, { reason: $('#cancel-reason').value })));
  $('#note-btn').addEventListener('click', act(() => api('POST', `${base}/notes`, { text: $('#note-text').value })));
}

// ---------------------------------------------------------------- filing

$('#report-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = {
    category: $('#r-category').value, title: $('#r-title').value, description: $('#r-description').value,
    lat: Number($('#r-lat').value), lon: Number($('#r-lon').value),
  };
  if ($('#r-address').value) body.address = $('#r-address').value;
  if ($('#r-priority').value) body.priority = $('#r-priority').value;
  try {
    const r = await api('POST', '/api/v1/console/tasks', body);
    const d = r.dispatch;
    $('#report-result').textContent = tr('console.filed', { id: i18n.digits(r.task.id), district: district(r.district) })
      + (r.tracking_code ? ' · ' + tr('console.filedCode', { code: i18n.digits(r.tracking_code) }) : '')
      + (d ? ' — ' + label('dispatchOutcome', d.outcome) + (d.crew ? ' ← ' + d.crew : '') : '');
    $('#report-form').reset();
    refresh();
  } catch (e) { $('#report-result').textContent = e.message; }
});

session.init(start, rerender);
