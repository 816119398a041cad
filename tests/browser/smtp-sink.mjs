// A small SMTP server for the browser suite (tests/suites/browser.sh starts it before the
// server, which sends its citizens' e-mail here): speaks enough of RFC 5321 for lettre
// (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) and writes each
// message it accepts to DIR as a JSON file {from, to, data}, which the tests read.
//
//   node smtp-sink.mjs PORT DIR
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';

const [port, dir] = process.argv.slice(2);
if (!port || !dir) { console.error('usage: node smtp-sink.mjs PORT DIR'); process.exit(2); }
fs.mkdirSync(dir, { recursive: true });
let n = 0;

net.createServer((sock) => {
  let buf = '';
  let inData = false;
  let from = '';
  let to = [];
  let data = '';
  const say = (line) => sock.write(`${line}\r\n`);
  say('220 tarmim-test-sink ESMTP');
  sock.on('data', (chunk) => {
    buf += chunk.toString('utf8');
    for (;;) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) return;
        data += buf.slice(0, end);
        buf = buf.slice(end + 5);
        inData = false;
        // Dot-unstuffing (RFC 5321 §4.5.2).
        const body = data.replace(/\r\n\.\./g, '\r\n.');
        n += 1;
        const file = path.join(dir, `${Date.now()}-${String(n).padStart(4, '0')}.json`);
        fs.writeFileSync(`${file}.tmp`, JSON.stringify({ from, to, data: body }));
        fs.renameSync(`${file}.tmp`, file);
        data = ''; from = ''; to = [];
        say('250 2.0.0 queued');
        continue;
      }
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const line = buf.slice(0, eol);
      buf = buf.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO' || verb === 'HELO') say('250 tarmim-test-sink');
      else if (verb === 'MAIL') { from = line.slice(10).trim(); say('250 2.1.0 ok'); }
      else if (verb === 'RCPT') { to.push(line.slice(8).trim()); say('250 2.1.5 ok'); }
      else if (verb === 'DATA') { inData = true; data = ''; say('354 end with <CRLF>.<CRLF>'); }
      else if (verb === 'RSET') { from = ''; to = []; say('250 2.0.0 ok'); }
      else if (verb === 'NOOP') say('250 2.0.0 ok');
      else if (verb === 'QUIT') { say('221 2.0.0 bye'); sock.end(); return; }
      else say('502 5.5.2 not implemented');
    }
  });
  sock.on('error', () => {});
}).listen(Number(port), '127.0.0.1');
