// Reading the messages tests/browser/smtp-sink.mjs wrote (TARMIM_MAILBOX): headers
// (RFC 2047 encoded words decoded) and the text body (quoted-printable or base64
// decoded), as a mail reader would show them.
import fs from 'node:fs';
import path from 'node:path';

export const MAILBOX = process.env.TARMIM_MAILBOX;

function decodeWords(v) {
  return v.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=\s*/g, (_, _cs, enc, text) => {
    if (enc.toUpperCase() === 'B') return Buffer.from(text, 'base64').toString('utf8');
    const bytes = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  });
}

export function parse(raw) {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  let body = raw.slice(split + 4);
  const headers = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = decodeWords(line.slice(i + 1).trim());
  }
  const cte = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  else if (cte === 'quoted-printable') {
    const bin = body.replace(/=\r\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
    body = Buffer.from(bin, 'latin1').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}

// Every message delivered so far, oldest first: {from, to, headers, body}.
export function messages() {
  if (!MAILBOX || !fs.existsSync(MAILBOX)) return [];
  return fs.readdirSync(MAILBOX).filter((f) => f.endsWith('.json')).sort().map((f) => {
    const m = JSON.parse(fs.readFileSync(path.join(MAILBOX, f), 'utf8'));
    return { from: m.from, to: m.to, ...parse(m.data) };
  });
}

// Waits for a delivered message for which `match` is true.
export async function waitFor(match, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = messages().find(match);
    if (m) return m;
    if (Date.now() > end) throw new Error(`no such e-mail; delivered: ${JSON.stringify(messages().map((x) => x.headers.subject))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// An HTML page showing `m` as a phone's mail reader would: its headers and its text,
// laid out in the message's own direction (Persian right to left).
export function asHtml(m) {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  // Codes and links are left-to-right runs inside Persian text: isolated (and a code kept
  // on one line), as a mail reader that honours the text's direction shows them.
  const runs = (t) => esc(t)
    .replace(/\b([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\b/g, '<bdi dir="ltr" class="code">$1</bdi>')
    .replace(/(https?:\/\/[^\s<]+)/g, '<bdi dir="ltr"><a href="#">$1</a></bdi>');
  const linked = runs(m.body);
  const rtl = /[\u0600-\u06FF]/.test(m.headers.subject || '');
  return `<!doctype html><html lang="${rtl ? 'fa' : 'en'}" dir="${rtl ? 'rtl' : 'ltr'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><style>
body{font-family:Vazirmatn,"Noto Sans Arabic","DejaVu Sans",sans-serif;margin:0;background:#f3f1ec;color:#1d2430}
header{background:#fff;padding:14px 16px;border-bottom:1px solid #ddd}
h1{font-size:1.15rem;margin:0 0 8px;line-height:1.5}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0;font-size:.85rem;color:#5a6270}
dd{margin:0;overflow-wrap:anywhere} dd bdi{direction:ltr}
main{background:#fff;margin:12px;padding:14px 16px;border-radius:10px;white-space:pre-wrap;line-height:1.8;overflow-wrap:anywhere}
a{color:#0b5cad;word-break:break-all} .code{white-space:nowrap}
</style></head><body><header><h1>${runs(m.headers.subject || '')}</h1><dl>
<dt>${rtl ? 'از' : 'From'}</dt><dd><bdi dir="ltr">${esc(m.headers.from || '')}</bdi></dd>
<dt>${rtl ? 'به' : 'To'}</dt><dd><bdi dir="ltr">${esc(m.headers.to || '')}</bdi></dd>
<dt>${rtl ? 'تاریخ' : 'Date'}</dt><dd><bdi dir="ltr">${esc(m.headers.date || '')}</bdi></dd>
</dl></header><main dir="auto">${linked}</main></body></html>`;
}
