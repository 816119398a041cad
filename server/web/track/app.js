// The citizens' tracking page: reads the code from the URL, asks /api/v1/track/{code},
// and shows the report in Persian (right to left) or English, chosen from the browser's
// languages (a visible switch changes it; `?lang=fa|en` too). No cookie, no storage.
'use strict';

const T = {
  en: {
    app: 'Track your report', enterCode: 'Enter your tracking code', show: 'Show', loading: 'Loading…',
    code: 'Tracking code', reported: 'Reported', expected: 'Expected by', notSet: 'not set yet',
    photos: 'Before and after', before: 'Before', after: 'After',
    noPhotos: 'Photos appear here when the crew starts and finishes the work.',
    drag: 'Slide to compare before and after',
    feedback: 'How was the work?', rateLegend: 'Your rating', comment: 'Comment (optional)', rate: 'Send rating',
    notFixedTitle: 'Not fixed?', notFixedPhoto: 'A photo of the problem as it is now', notFixed: 'Report not fixed',
    timeline: 'What happened', where: 'Where', yourReport: 'The report',
    switchTo: 'فارسی',
    status: {
      new: 'Received — waiting for a crew', queued: 'Received — waiting for a crew', assigned: 'A crew has been assigned',
      acknowledged: 'The crew accepted the job', in_progress: 'Work in progress', paused: 'Work paused',
      completed: 'Completed', verified: 'Completed and checked by the city',
      reopened: 'Reopened — the crew will come back', cancelled: 'Closed without work', duplicate: 'Merged into another report',
      received: 'Received — a staff member will answer', answered: 'Answered',
    },
    step: {
      received: 'Report received', routed: (v) => `Sent to the ${v.district} district`, assigned: 'A crew was assigned',
      accepted: 'The crew accepted the job', started: 'Work started', paused: 'Work paused', completed: 'Work completed',
      verified: 'The city checked the work', rejected: 'The city checked the work and sent the crew back',
      reopened: 'Reported not fixed — reopened', cancelled: 'Closed without work',
      merged: 'Merged into another report of the same problem', rated: (v) => `Rated ${v.stars} of 5`,
      answered: 'A staff member answered',
    },
    yours: 'you',
    district: (d) => `${d} district`,
    supporters: (n) => (n === 1 ? '1 other person supports this report' : `${n} other people support this report`),
    until: (d) => `You can respond until ${d}.`,
    notYet: 'You can rate the work or report it not fixed once it is completed.',
    closed: 'The time to rate the work or report it not fixed has passed.',
    youRated: (n) => `You rated this work ${n} of 5.`,
    youSaidNotFixed: 'You reported this as not fixed.',
    thanksRating: 'Thank you! Your rating was recorded.',
    thanksNotFixed: 'Thank you. The report is reopened and the crew will come back.',
    pickStars: 'Choose 1 to 5 stars.',
    pickPhoto: 'Add a photo of the problem.',
    already: 'You have already sent this.',
    notOpen: 'This is not possible now: the work is not completed yet, or the time to respond has passed.',
    badPhoto: 'The photo could not be read. Send a JPEG, PNG or WebP photo.',
    bigPhoto: 'The photo is too large.',
    notFound: 'No report has this tracking code. Check the code and try again.',
    tooMany: 'Too many requests. Please wait a minute and try again.',
    failed: 'Something went wrong. Please try again.',
    merged: 'Your report was merged into this report of the same problem; you now follow this one.',
    mapLabel: 'Map of the report\'s place',
    answerTitle: 'The city\'s answer', answeredAt: (d) => `Answered ${d}`,
    reportNew: 'Report a problem or send a message',
    contactLink: 'Stop messages about this report, or erase my e-mail and number',
    kind: {
      complaint: 'Complaint', criticism: 'Criticism', suggestion: 'Suggestion', idea: 'Idea', thanks: 'Thanks',
    },
  },
  fa: {
    app: 'پیگیری گزارش', enterCode: 'کد پیگیری خود را وارد کنید', show: 'نمایش', loading: 'در حال بارگذاری…',
    code: 'کد پیگیری', reported: 'زمان ثبت', expected: 'موعد پیش‌بینی‌شده', notSet: 'هنوز تعیین نشده',
    photos: 'قبل و بعد', before: 'قبل', after: 'بعد',
    noPhotos: 'عکس‌ها پس از شروع و پایان کار در اینجا نمایش داده می‌شوند.',
    drag: 'برای مقایسهٔ قبل و بعد بکشید',
    feedback: 'کار چطور انجام شد؟', rateLegend: 'امتیاز شما', comment: 'توضیح (اختیاری)', rate: 'ثبت امتیاز',
    notFixedTitle: 'مشکل رفع نشده؟', notFixedPhoto: 'عکسی از وضعیت فعلی مشکل', notFixed: 'اعلام رفع‌نشدن',
    timeline: 'روند رسیدگی', where: 'محل', yourReport: 'گزارش',
    switchTo: 'English',
    status: {
      new: 'ثبت شد — در انتظار اکیپ', queued: 'ثبت شد — در انتظار اکیپ', assigned: 'اکیپ تعیین شد',
      acknowledged: 'اکیپ کار را پذیرفت', in_progress: 'در حال انجام', paused: 'کار موقتاً متوقف شده',
      completed: 'انجام شد', verified: 'انجام شد و شهرداری تأیید کرد',
      reopened: 'بازگشایی شد — اکیپ دوباره مراجعه می‌کند', cancelled: 'بدون انجام کار بسته شد', duplicate: 'با گزارش دیگری ادغام شد',
      received: 'دریافت شد — کارشناس پاسخ می‌دهد', answered: 'پاسخ داده شد',
    },
    step: {
      received: 'گزارش دریافت شد', routed: (v) => `به ناحیهٔ ${v.district} ارجاع شد`, assigned: 'اکیپ تعیین شد',
      accepted: 'اکیپ کار را پذیرفت', started: 'کار آغاز شد', paused: 'کار متوقف شد', completed: 'کار انجام شد',
      verified: 'شهرداری کار را بازبینی کرد', rejected: 'شهرداری کار را بازبینی کرد و اکیپ را برگرداند',
      reopened: 'اعلام رفع‌نشدن — بازگشایی شد', cancelled: 'بدون انجام کار بسته شد',
      merged: 'با گزارش دیگری از همین مشکل ادغام شد', rated: (v) => `امتیاز ${v.stars} از ${v.five}`,
      answered: 'کارشناس پاسخ داد',
    },
    yours: 'شما',
    district: (d) => `ناحیهٔ ${d}`,
    supporters: (n) => `${n} نفر دیگر از این گزارش حمایت کرده‌اند`,
    until: (d) => `تا ${d} می‌توانید نظر خود را ثبت کنید.`,
    notYet: 'پس از انجام کار می‌توانید امتیاز دهید یا رفع‌نشدن مشکل را اعلام کنید.',
    closed: 'مهلت امتیازدهی و اعلام رفع‌نشدن به پایان رسیده است.',
    youRated: (n) => `شما به این کار امتیاز ${n} از ۵ دادید.`,
    youSaidNotFixed: 'شما اعلام کردید که مشکل رفع نشده است.',
    thanksRating: 'سپاس! امتیاز شما ثبت شد.',
    thanksNotFixed: 'سپاس. گزارش بازگشایی شد و اکیپ دوباره مراجعه می‌کند.',
    pickStars: 'از ۱ تا ۵ ستاره انتخاب کنید.',
    pickPhoto: 'عکسی از مشکل اضافه کنید.',
    already: 'این را قبلاً فرستاده‌اید.',
    notOpen: 'اکنون ممکن نیست: کار هنوز انجام نشده یا مهلت پاسخ گذشته است.',
    badPhoto: 'عکس خوانده نشد. یک عکس JPEG، PNG یا WebP بفرستید.',
    bigPhoto: 'حجم عکس زیاد است.',
    notFound: 'گزارشی با این کد پیگیری پیدا نشد. کد را بررسی کنید و دوباره تلاش کنید.',
    tooMany: 'درخواست‌ها زیاد است. یک دقیقه صبر کنید و دوباره تلاش کنید.',
    failed: 'خطایی رخ داد. لطفاً دوباره تلاش کنید.',
    merged: 'گزارش شما با این گزارش از همین مشکل ادغام شد؛ از این پس این گزارش را دنبال می‌کنید.',
    mapLabel: 'نقشهٔ محل گزارش',
    answerTitle: 'پاسخ شهرداری', answeredAt: (d) => `پاسخ داده شد در ${d}`,
    reportNew: 'گزارش مشکل یا ارسال پیام',
    contactLink: 'دیگر پیامی دربارهٔ این گزارش نفرستید، یا نشانی و شمارهٔ مرا پاک کنید',
    kind: {
      complaint: 'شکایت', criticism: 'انتقاد', suggestion: 'پیشنهاد', idea: 'ایده', thanks: 'قدردانی',
    },
  },
};

const $ = (id) => document.getElementById(id);

function chooseLang() {
  const q = new URLSearchParams(location.search).get('lang');
  if (q === 'fa' || q === 'en') return q;
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (base === 'fa' || base === 'en') return base;
  }
  return 'en';
}

let lang = chooseLang();
let data = null;
let map = null;
let marker = null;

function codeFromPath() {
  const m = location.pathname.match(/^\/track\/([^/]+)\/?$/);
  return m ? decodeURIComponent(m[1]) : '';
}
const code = codeFromPath();

const tr = () => T[lang];
function num(n) {
  return lang === 'fa' ? Number(n).toLocaleString('fa-IR') : String(n);
}
function date(ms, withTime) {
  const opts = withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'long' };
  const text = new Intl.DateTimeFormat(lang === 'fa' ? 'fa-IR' : 'en-GB', opts).format(new Date(ms));
  // ICU joins a Persian date and time with a Latin comma; Persian writes «،».
  return lang === 'fa' ? text.replace(/,/g, '،') : text;
}

function applyStatic() {
  const html = document.documentElement;
  html.lang = lang;
  html.dir = lang === 'fa' ? 'rtl' : 'ltr';
  document.title = `${tr().app} — Tarmim`;
  for (const el of document.querySelectorAll('[data-t]')) {
    const v = tr()[el.dataset.t];
    if (typeof v === 'string') el.textContent = v;
  }
  const sw = $('lang-switch');
  sw.textContent = tr().switchTo;
  sw.lang = lang === 'fa' ? 'en' : 'fa';
  $('map').setAttribute('aria-label', tr().mapLabel);
  for (let n = 1; n <= 5; n++) $(`star-${n}`).nextElementSibling.title = num(n);
}

function showError(text) {
  $('loading').hidden = true;
  $('report').hidden = true;
  const e = $('error');
  e.textContent = text;
  e.hidden = false;
}

async function load() {
  if (!code) {
    $('lookup').hidden = false;
    return;
  }
  $('loading').hidden = false;
  let r;
  try {
    r = await fetch(`/api/v1/track/${encodeURIComponent(code)}`, { cache: 'no-store', credentials: 'omit' });
  } catch (_) {
    showError(tr().failed);
    return;
  }
  if (r.status === 404) { $('lookup').hidden = false; showError(tr().notFound); return; }
  if (r.status === 429) { showError(tr().tooMany); return; }
  if (!r.ok) { showError(tr().failed); return; }
  data = await r.json();
  $('loading').hidden = true;
  $('error').hidden = true;
  render();
}

function setPhoto(img, photo) {
  if (img.getAttribute('src') !== photo.display) img.src = photo.display;
}

function renderPhotos() {
  const before = data.photos.before[0];
  const after = data.photos.after[0];
  $('no-photos').hidden = Boolean(before || after);
  $('side-by-side').hidden = !(before || after);
  $('before-img').parentElement.hidden = !before;
  $('after-img').parentElement.hidden = !after;
  if (before) { setPhoto($('before-img'), before); $('before-img').alt = tr().before; }
  if (after) { setPhoto($('after-img'), after); $('after-img').alt = tr().after; }
  const both = Boolean(before && after);
  $('compare-box').hidden = !both;
  if (both) {
    setPhoto($('cmp-before'), before);
    setPhoto($('cmp-after'), after);
    $('cmp-before').alt = tr().before;
    $('cmp-after').alt = tr().after;
    slide();
  }
}

// The after photo lies over the before photo, clipped to the slider's share from the left.
function slide() {
  const v = Number($('cmp-slider').value);
  $('cmp-after').style.clipPath = `inset(0 ${100 - v}% 0 0)`;
  $('cmp-handle').style.left = `${v}%`;
}

// The district's name in the page's language (its English name, where the city gave one).
function districtName() {
  if (!data.district) return '';
  return (lang === 'en' && data.district.name_en) || data.district.name;
}

function renderTimeline() {
  const ol = $('timeline');
  ol.textContent = '';
  const district = districtName();
  for (const s of data.timeline) {
    const li = document.createElement('li');
    li.className = `step step-${s.kind}`;
    const words = tr().step[s.kind];
    const text = typeof words === 'function'
      ? words({ district, stars: num(s.stars || 0), five: num(5) })
      : (words || s.text);
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = s.yours ? `${text} (${tr().yours})` : text;
    const when = document.createElement('time');
    when.dateTime = new Date(s.at).toISOString();
    when.textContent = date(s.at, true);
    li.append(what, when);
    ol.append(li);
  }
}

function renderMap() {
  $('where-card').hidden = !data.point && !data.address;
  if (!data.point || typeof L === 'undefined') return;
  const p = [data.point.lat, data.point.lon];
  if (!map) {
    map = L.map('map', { zoomControl: true, attributionControl: Boolean(data.tile_url) });
    if (data.tile_url) L.tileLayer(data.tile_url, { maxZoom: 19 }).addTo(map);
    marker = L.circleMarker(p, { radius: 10, color: '#b3261e', weight: 3, fillColor: '#e4572e', fillOpacity: 0.85 }).addTo(map);
  }
  marker.setLatLng(p);
  map.setView(p, 16);
}

function renderFeedback() {
  const f = data.feedback;
  const box = $('feedback');
  const completed = data.status === 'completed' || data.status === 'verified';
  box.hidden = !(completed || f.rated || f.said_not_fixed || data.status === 'reopened');
  const done = [];
  if (f.rated) done.push(tr().youRated(num(f.rated)));
  if (f.said_not_fixed) done.push(tr().youSaidNotFixed);
  $('feedback-done').hidden = done.length === 0;
  $('feedback-done').textContent = done.join(' ');
  $('rating-form').hidden = !f.can_rate;
  $('notfixed-form').hidden = !f.can_say_not_fixed;
  const win = $('feedback-window');
  if (f.open && f.until) win.textContent = tr().until(date(f.until, true));
  else if (!completed && !f.until) win.textContent = tr().notYet;
  else win.textContent = tr().closed;
}

function render() {
  if (!data) return;
  $('report').hidden = false;
  $('merged').hidden = !data.merged;
  $('merged').textContent = data.merged ? tr().merged : '';
  const badge = $('status-badge');
  badge.textContent = tr().status[data.status] || data.status_text;
  badge.className = `badge badge-${data.status}`;
  const message = Boolean(tr().kind[data.kind]);
  $('title').textContent = message ? tr().kind[data.kind] : data.title;
  const parts = message ? [] : [data.category.name];
  if (data.district) parts.push(tr().district(districtName()));
  $('where-line').textContent = parts.join(' · ');
  $('code').textContent = data.code;
  $('reported').textContent = date(data.created_at, true);
  $('expected').textContent = data.expected_by ? date(data.expected_by, false) : tr().notSet;
  $('description').textContent = data.description;
  $('supporters').textContent = data.supporters > 0 ? tr().supporters(num(data.supporters)) : '';
  $('address').textContent = data.address || '';
  $('report-link').href = `/report?lang=${lang}`;
  // "Forget my contact" (issue 17): the page every message's unsubscribe link opens, with
  // its two buttons (stop messages, erase the contact); a GET there changes nothing.
  $('contact-link').href = `/track/${encodeURIComponent(data.code)}/unsubscribe`;
  $('contact-foot').hidden = false;
  $('expected-dt').hidden = message;
  $('expected').hidden = message;
  $('photos').hidden = message;
  $('answer-card').hidden = !data.answer;
  if (data.answer) {
    $('answer-text').textContent = data.answer.text;
    $('answer-at').textContent = tr().answeredAt(date(data.answer.at, true));
  }
  renderPhotos();
  renderTimeline();
  renderFeedback();
  renderMap();
}

function feedbackError(status, body, notFixed) {
  const msg = (body && body.message) || '';
  let text = tr().failed;
  if (status === 409) text = tr().already;
  else if (status === 404) text = tr().notFound;
  else if (status === 429) text = tr().tooMany;
  else if (status === 413) text = tr().bigPhoto;
  else if (status === 415 || (notFixed && status === 422 && /photo/i.test(msg))) text = tr().badPhoto;
  else if (status === 422) text = tr().notOpen;
  const e = $('feedback-error');
  e.textContent = text;
  e.hidden = false;
}

async function submit(path, init, thanks, notFixed, button) {
  $('feedback-error').hidden = true;
  button.disabled = true;
  try {
    const r = await fetch(`/api/v1/track/${encodeURIComponent(code)}/${path}`, Object.assign({ method: 'POST', credentials: 'omit' }, init));
    const body = await r.json().catch(() => null);
    if (r.status !== 201) { feedbackError(r.status, body, notFixed); return; }
    $('rating-form').hidden = true;
    $('notfixed-form').hidden = true;
    const t = $('thanks');
    t.textContent = thanks();
    t.hidden = false;
    const again = await fetch(`/api/v1/track/${encodeURIComponent(code)}`, { cache: 'no-store', credentials: 'omit' });
    if (again.ok) {
      data = await again.json();
      render();
      $('rating-form').hidden = true;
      $('notfixed-form').hidden = true;
    }
  } catch (_) {
    feedbackError(0, null, notFixed);
  } finally {
    button.disabled = false;
  }
}

$('rating-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const picked = document.querySelector('input[name=stars]:checked');
  if (!picked) { feedbackError(-1, null, false); $('feedback-error').textContent = tr().pickStars; return; }
  const body = JSON.stringify({ stars: Number(picked.value), comment: $('rating-comment').value });
  submit('rating', { headers: { 'Content-Type': 'application/json' }, body }, () => tr().thanksRating, false, $('rating-submit'));
});

$('notfixed-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const file = $('notfixed-photo').files[0];
  if (!file) { feedbackError(-1, null, true); $('feedback-error').textContent = tr().pickPhoto; return; }
  const form = new FormData();
  form.append('photo', file);
  form.append('comment', $('notfixed-comment').value);
  submit('not-fixed', { body: form }, () => tr().thanksNotFixed, true, $('notfixed-submit'));
});

$('lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = $('code-input').value.trim();
  if (v) location.assign(`/track/${encodeURIComponent(v)}${lang === 'fa' ? '?lang=fa' : ''}`);
});

$('cmp-slider').addEventListener('input', slide);

// Stars light up to the one chosen.
for (const input of document.querySelectorAll('input[name=stars]')) {
  input.addEventListener('change', () => {
    const v = Number(input.value);
    for (let n = 1; n <= 5; n++) $(`star-${n}`).nextElementSibling.classList.toggle('on', n <= v);
  });
}

$('lang-switch').addEventListener('click', () => {
  lang = lang === 'fa' ? 'en' : 'fa';
  const url = new URL(location.href);
  url.searchParams.set('lang', lang);
  history.replaceState(null, '', url);
  applyStatic();
  render();
  if (!$('error').hidden && data === null) load();
});

applyStatic();
load();
