// The staff's inbox of citizens' messages: lists GET /api/v1/desk/messages, answers
// through POST /api/v1/desk/messages/{id}/answer (once; the citizen sees it on the
// tracking page).
'use strict';

const i18n = window.tarmimI18n;
const $ = (s) => document.querySelector(s);
let shown = [];
// Districts by their names in the page's language (session.js), from the console's
// bootstrap where the role may read it (else their codes).
let districtName = (c) => c;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  for (const c of children) e.append(c);
  return e;
}

function card(m) {
  // Words from the catalogues; ids and the citizen's own text kept as they are.
  const when = i18n.date(new Date(m.created_at).getTime());
  const district = (c) => districtName(c);
  const inbox = m.inbox === 'city' ? tr('messages.inbox.city') : tr('messages.inbox.district', { district: district(m.inbox) });
  const about = [m.district && tr('messages.about.district', { district: district(m.district) }),
    m.about_task && tr('messages.about.task', { task: i18n.digits(m.about_task) }),
    m.about_unit && tr('messages.about.unit', { unit: m.about_unit })].filter(Boolean).join(' · ');
  const meta = [label('messageKind', m.kind), inbox, label('channel', m.channel), label('common.lang', m.lang), when].join(' · ');
  const div = el('div', { className: `msg${m.answer ? ' answered' : ''}`, id: `msg-${m.id}` },
    el('div', { className: 'meta', textContent: `${meta}${about ? ' · ' + about : ''}` }),
    el('div', { className: 'body', textContent: m.body, translate: false }));
  if (m.answer) {
    div.append(el('div', { className: 'answer', textContent: m.answer, translate: false }));
    return div;
  }
  const text = el('textarea', { rows: 3, maxLength: 4000, placeholder: tr('messages.answer.placeholder'), className: 'answer-text' });
  const err = el('p', { className: 'error' });
  const send = el('button', { type: 'button', textContent: tr('messages.answer.send'), className: 'answer-send' });
  send.addEventListener('click', async () => {
    err.textContent = '';
    send.disabled = true;
    try {
      await session.request('POST', `/api/v1/desk/messages/${encodeURIComponent(m.id)}/answer`, { text: text.value });
      await load();
    } catch (e) {
      err.textContent = e.message;
    } finally {
      send.disabled = false;
    }
  });
  div.append(text, send, err);
  return div;
}

async function load() {
  $('#list-error').textContent = '';
  try {
    const list = await session.request('GET', '/api/v1/desk/messages');
    shown = list;
    draw();
  } catch (e) {
    $('#list-error').textContent = e.message;
  }
}

function draw() {
  $('#list').replaceChildren(...shown.map(card));
  if (!shown.length) $('#list').append(el('p', { textContent: tr('messages.none') }));
}

session.init(() => {
  $('#login-view').hidden = true;
  $('#messages').hidden = false;
  $('#logout').hidden = false;
  // The console's bootstrap answers only the roles that may open the console (an admin
  // reads this inbox but would get a 403 there): the others see district codes.
  const nav = window.tarmimNav;
  (nav && !nav.may('console')
    ? Promise.resolve()
    : session.request('GET', '/api/v1/console/bootstrap')
      .then((boot) => { districtName = districtNames(boot.districts.features); }, () => {}))
    .then(load);
}, draw);
