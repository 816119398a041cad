#!/usr/bin/env python3
"""Hostile clients against the real server binary, from outside, with real sockets.

Python 3 standard library only. Started by tests/suites/hostile.sh, which starts the
server and passes its address and pid; every check reads the server's memory from
/proc/<pid>/status (VmRSS now, VmHWM the peak).

Each check prints `ok <name>` or `FAIL <name>: why`; the last line is
`hostile: N passed, M failed`.

With --bench, prints the figures of BENCHMARKS.md instead (login throughput under
attack, normal request latency under a 200-connection slowloris).
"""

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

MIB = 1024 * 1024


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_mib(pid):
    return status_kib(pid, "VmRSS") / 1024


def hwm_mib(pid):
    return status_kib(pid, "VmHWM") / 1024


def http(method, url, body=None, headers=None, timeout=30, source=None):
    """(status, headers, body) of one request; status 0 when the connection failed."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        if source:
            # urllib cannot pick a source address: a raw socket can.
            return raw_json(method, url, body, headers, timeout, source)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError:
        return 0, {}, b""


def raw_json(method, url, body, headers, timeout, source):
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    host, port = host_port.split(":")
    data = json.dumps(body).encode() if body is not None else b""
    s = socket.create_connection((host, int(port)), timeout=timeout, source_address=(source, 0))
    head = f"{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    line, _, rest = resp.partition(b"\r\n")
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 else 0
    hdrs = {}
    head_text, _, payload = rest.partition(b"\r\n\r\n")
    for h in head_text.split(b"\r\n"):
        k, _, v = h.decode("latin-1").partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, payload


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            self.passed += 1
            print(f"ok {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}", flush=True)


def login(base, login_name, password, device, source=None):
    return http(
        "POST",
        f"{base}/api/v1/login",
        {"login": login_name, "password": password, "device_id": device},
        source=source,
    )


def upgrade(host, port, token):
    """Opens a sync WebSocket; (status, socket)."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(upgrade_request(host, port, token))
    line = s.recv(4096).split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), s


def upgrade_answer(host, port, token):
    """Opens a sync WebSocket; (status, the answer's text, socket)."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(upgrade_request(host, port, token))
    head = read_head(s)
    line = head.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), head.decode("latin-1"), s


def read_head(s):
    """An HTTP answer's status line and headers, as far as they come."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def upgrade_request(host, port, token):
    return (
        f"GET /api/v1/sync HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n == 0:
            return out + bytes([b])
        out += bytes([b | 0x80])


def hello_frame(device):
    """sync-core's `Hello` (protocol/mod.rs): the envelope `TM`, format version 2, frame
    number 0, then postcard: variant 0, versions 1..=2, the device id, no cursors."""
    dev = device.encode()
    body = b"\x00\x01\x02" + varint(len(dev)) + dev + b"\x00"
    return b"TM" + (2).to_bytes(2, "little") + (0).to_bytes(4, "little") + body


def ws_binary(payload):
    """One masked binary WebSocket frame, as a client sends it."""
    mask = os.urandom(4)
    n = len(payload)
    head = b"\x82"
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def stalled_socket(host, port, token, device):
    """A sync socket that says Hello, takes its (small) catch-up, then never reads
    again; its receive buffer is made small so that the server's sends back up soon.
    (status, socket)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(upgrade_request(host, port, token))
    head = read_head(s)
    line = head.split(b"\r\n", 1)[0].split()
    status = int(line[1]) if len(line) > 1 else 0
    if status == 101:
        s.sendall(ws_binary(hello_frame(device)))
        end = time.monotonic() + 1.5
        s.settimeout(0.2)
        while time.monotonic() < end:
            try:
                if not s.recv(65536):
                    break
            except socket.timeout:
                pass
    return status, s


def drain(s, quiet):
    """Reads until the peer closes (True) or `quiet` seconds pass without data (False);
    and the bytes read."""
    s.settimeout(quiet)
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return True, got
            got += len(chunk)
    except socket.timeout:
        return False, got
    except OSError:
        return True, got


def probe(args, *extra):
    """Runs the crew phone (server/examples/phone_probe.rs) as the sync user; its JSON,
    or None with why."""
    out = subprocess.run(
        [args.phone_probe, args.url, args.sync_login, args.password, args.phone_store, *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "RUST_BACKTRACE": "0"},
    )
    for line in out.stderr.splitlines():
        if line.startswith("phone_probe:"):
            print(f"[hostile] {line}", flush=True)
    if out.returncode != 0:
        return None, (out.stdout + out.stderr)[:600]
    return json.loads(out.stdout.strip().splitlines()[-1]), ""


def slowloris(host, port, n):
    out = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=10)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        except OSError:
            pass
        out.append(s)
    return out


def closed_within(s, seconds):
    s.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def stream_media(host, port, key, files):
    """Multipart POST of `files` × 10 MiB media[]; (status line, bytes sent before it)."""
    part = 10 * MIB
    b = "hostileboundary"
    head = ""
    if key:
        head = f'--{b}\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n{key}\r\n'
    part_head = (
        f'--{b}\r\nContent-Disposition: form-data; name="media[]"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    tail = f"--{b}--\r\n"
    length = len(head) + files * (len(part_head) + part + 2) + len(tail)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(
        (
            f"POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\nContent-Type: "
            f"multipart/form-data; boundary={b}\r\nContent-Length: {length}\r\n\r\n{head}"
        ).encode()
    )
    answer = []

    def read():
        s2 = s
        try:
            s2.settimeout(120)
            data = s2.recv(4096)
            answer.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
        except OSError:
            answer.append("")

    t = threading.Thread(target=read)
    t.start()
    chunk = b"\xab" * (64 * 1024)
    sent = 0
    s.settimeout(5)
    try:
        for _ in range(files):
            s.sendall(part_head.encode())
            left = part
            while left > 0 and not answer:
                n = min(left, len(chunk))
                s.sendall(chunk[:n])
                sent += n
                left -= n
            if answer:
                break
            s.sendall(b"\r\n")
    except OSError:
        pass
    t.join(120)
    s.close()
    return (answer[0] if answer else ""), sent


def stream_report(host, port, total, pow_stamp=None):
    """An integrity report declaring a `total`-byte JSON body, streamed; (status line,
    body bytes sent when the answer came)."""
    pow_line = f"X-Integrity-Pow: {pow_stamp}\r\n" if pow_stamp else ""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(
        (
            f"POST /integrity/api/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"{pow_line}Content-Length: {total}\r\n\r\n"
        ).encode()
    )
    answer = []

    def read():
        try:
            s.settimeout(120)
            data = s.recv(4096)
            answer.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
        except OSError:
            answer.append("")

    t = threading.Thread(target=read)
    t.start()
    chunk = b'{"category":"bribery","text":"' + b"y" * (64 * 1024)
    sent = 0
    s.settimeout(5)
    try:
        while sent < total and not answer:
            n = min(total - sent, len(chunk))
            s.sendall(chunk[:n])
            sent += n
    except OSError:
        pass
    t.join(120)
    s.close()
    return (answer[0] if answer else ""), sent


def flood_logins(base, n, login_name, sources=None):
    """`n` concurrent wrong logins; the list of (status, retry-after)."""
    results = []
    lock = threading.Lock()

    def one(i):
        src = sources[i % len(sources)] if sources else None
        st, h, _ = login(base, login_name, f"guess-{i}", f"att-{i}", source=src)
        retry = {k.lower(): v for k, v in h.items()}.get("retry-after")
        with lock:
            results.append((st, retry))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return results


def cap_checks(args):
    """Point 4, the server-wide cap (the server runs with TARMIM_SYNC_MAX_SOCKETS=2):
    the third sync socket is refused before the upgrade with 429, `Retry-After` and words
    naming the server's cap (not the user's), while plain requests are still served."""
    c = Checks()
    base = args.url
    host, port = base.split("//")[1].split(":")
    port = int(port)
    st, _, body = login(base, args.sync_login, args.password, "hostile-phone")
    token = json.loads(body).get("token", "") if st == 200 else ""
    c.check("login of the sync user", st == 200, f"status {st}")
    answers = [upgrade_answer(host, port, token) for _ in range(3)]
    statuses = [a[0] for a in answers]
    refusal = answers[2][1].lower()
    c.check(
        "3rd sync socket over a server-wide cap of 2 refused with 429, Retry-After and the server's cap named",
        statuses == [101, 101, 429] and "retry-after:" in refusal and "this server" in refusal,
        f"statuses {statuses}, answer {answers[2][1][-300:]!r}",
    )
    st, _, _ = http("GET", f"{base}/healthz", timeout=5)
    st2, _, _ = login(base, args.victim, args.password, "hostile-admin")
    c.check(
        "with the sync sockets at the cap, /healthz and a login are served",
        st == 200 and st2 == 200,
        f"healthz {st}, login {st2}",
    )
    for a in answers:
        a[2].close()
    print(f"hostile: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


def held_checks(args):
    """Point 13, before the kill: the phone's reports are acknowledged (phone_probe
    checked the acks), and each is in the database with its `adopt` row pending and no
    district: the routing has not happened (hostile.sh holds it with a trigger)."""
    c = Checks()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True, timeout=10)
    for task in args.filed.split(",") + [args.unroutable]:
        row = db.execute(
            "SELECT o.state, o.attempts, t.district FROM outbox o JOIN tasks t ON t.id = o.task "
            "WHERE o.kind = 'adopt' AND o.task = ?",
            (task,),
        ).fetchone()
        c.check(
            f"acknowledged field report {task}: adopt row pending, not routed",
            row == ("pending", 0, None),
            f"row {row}",
        )
    db.close()
    print(f"hostile: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


def routed_checks(c, args, host, port):
    """Point 13 after the SIGKILL and the restart: the reports the killed server had
    acknowledged but not routed are routed and dispatched (the crew's phone receives
    them assigned), and the one outside every district is in the dead-letter list an
    administrator reads."""
    filed = args.filed.split(",")
    statuses = {}
    why = ""
    end = time.monotonic() + 20
    while time.monotonic() < end:
        got, why = probe(args)
        statuses = got["statuses"] if got else {}
        if all(statuses.get(t) == "assigned" for t in filed):
            break
        time.sleep(0.5)
    c.check(
        "after SIGKILL between ack and routing, and a restart: the phone's reports are routed and assigned",
        all(statuses.get(t) == "assigned" for t in filed),
        f"statuses {dict((t, statuses.get(t)) for t in filed)} {why}",
    )
    st, _, body = login(args.url, args.victim, args.password, "hostile-admin")
    token = json.loads(body).get("token", "") if st == 200 else ""
    dead = []
    end = time.monotonic() + 10
    while time.monotonic() < end:
        st, _, body = http(
            "GET", f"{args.url}/api/v1/outbox/dead", headers={"Authorization": f"Bearer {token}"}
        )
        dead = [d for d in (json.loads(body) if st == 200 else []) if d.get("task") == args.unroutable]
        if dead:
            break
        time.sleep(0.5)
    c.check(
        "the report outside every district is in the administrators' dead-letter list",
        len(dead) == 1
        and dead[0].get("kind") == "adopt"
        and "outside every district" in (dead[0].get("last_error") or ""),
        f"status {st}, rows {dead}",
    )


def stall_check(c, args, host, port):
    """Point 4, the bound on a socket's outgoing buffer: a crew device that never reads
    its socket while 6 MiB of notes are published to its crew (100 notes of 16 KB on
    each of the 4 tasks) is closed by the server (the send timeout, 2 s here) once its
    buffers are full — it had received less than was published, then the close —
    instead of being buffered for. The peak RSS bound covers the pushes' own work too:
    the closing, not the RSS figure, is what shows the bound (with the loopback's
    buffers, about 2.7 MiB were in flight when it was closed)."""
    pid = args.pid
    st, _, body = login(args.url, args.sync_login, args.password, "stall-phone")
    token = json.loads(body).get("token", "") if st == 200 else ""
    status, s = stalled_socket(host, port, token, "stall-phone")
    if status != 101:
        c.check("a stalled sync socket is closed", False, f"upgrade answered {status}")
        return
    before = hwm_mib(pid)
    tasks = args.filed.split(",")
    notes = []
    for t in tasks:
        notes += ["--notes", f"{t},{args.stall_notes}"]
    t0 = time.monotonic()
    got, why = probe(args, *notes)
    pushed = time.monotonic() - t0
    published = len(tasks) * args.stall_notes * 16000
    time.sleep(args.send_timeout + 1)
    closed, read = drain(s, 3)
    s.close()
    c.check(
        f"a device that never reads while {published / MIB:.1f} MiB is published to it is closed "
        f"(it had {read / MIB:.1f} MiB waiting)",
        got is not None and closed and read < published,
        f"phone {why!r}, closed {closed}, read {read} of {published} bytes",
    )
    grew = hwm_mib(pid) - before
    print(f"[hostile] notes pushed in {pushed:.1f} s; peak RSS grew {grew:.0f} MiB", flush=True)
    c.check(f"stalled socket: peak RSS grew {grew:.0f} MiB (< 150)", grew < 150, f"{grew:.0f} MiB")


def track(base, source, forwarded=None):
    """A tracking lookup of an unknown code from `source`; (status, Retry-After)."""
    h = {"X-Forwarded-For": forwarded} if forwarded else {}
    st, hd, _ = http("GET", f"{base}/api/v1/track/AAAA-BBBB-CCCC", headers=h, source=source)
    return st, int(hd.get("retry-after", "0") or 0)


def lookups_until_limited(base, source, spoof, most=300):
    """Tracking lookups from `source` — each claiming another X-Forwarded-For when
    `spoof` — until one is refused with 429 with at least 3 s left of the limiter's
    window (so that the next requests fall in the same window); True once refused."""
    for i in range(most):
        forwarded = f"198.51.100.{i % 250 + 1}" if spoof else None
        st, retry = track(base, source, forwarded)
        if st == 429:
            if retry >= 3:
                return True
            time.sleep(retry + 0.2)
    return False


def wrong_login(base, source, n, forwarded=None):
    h = {"X-Forwarded-For": forwarded} if forwarded else {}
    st, hd, body = http(
        "POST",
        f"{base}/api/v1/login",
        {"login": f"nobody-{n}", "password": "wrong", "device_id": f"proxy-check-{n}"},
        headers=h,
        source=source,
    )
    return st, body


def spoof_checks(c, base):
    """Point 17 with trusted_proxy off (the default), straight to the server: a client
    that claims a new X-Forwarded-For with every request is still counted by its own
    address."""
    c.check(
        "trusted_proxy off: a client-supplied X-Forwarded-For does not evade the tracking limit",
        lookups_until_limited(base, "127.0.0.6", spoof=True),
        "never refused",
    )


def proxy_checks(args):
    """Point 17 behind a real reverse proxy (tests/suites/replicas.sh: HAProxy in front,
    the replicas with TARMIM_TRUSTED_PROXY=true and TARMIM_LOGIN_ADDRESS_ATTEMPTS=3):
    clients at two source addresses are limited separately, by the address the proxy
    appended to X-Forwarded-For, for tracking lookups and logins; what a client puts in
    X-Forwarded-For itself evades nothing (the proxy replaces the header, and the server
    reads only its last entry anyway)."""
    c = Checks()
    base = args.url
    limited = lookups_until_limited(base, "127.0.0.2", spoof=True)
    other, _ = track(base, "127.0.0.3")
    again, _ = track(base, "127.0.0.2", "203.0.113.50")
    c.check(
        "behind the proxy: tracking lookups of 127.0.0.2 limited (a forged X-Forwarded-For "
        "evades nothing), 127.0.0.3 still served",
        limited and other == 404 and again == 429,
        f"limited {limited}, 127.0.0.3 → {other}, 127.0.0.2 again → {again}",
    )
    statuses = []
    for n in range(args.login_attempts + 1):
        st, body = wrong_login(base, "127.0.0.2", n, f"203.0.113.{n + 1}")
        statuses.append(st)
        if st == 429:
            break
    # At once: the first back-off lasts a second.
    again, body = wrong_login(base, "127.0.0.2", 101, "203.0.113.99")
    other, _ = wrong_login(base, "127.0.0.3", 100)
    c.check(
        f"behind the proxy: logins of 127.0.0.2 refused after {args.login_attempts} attempts "
        "(a forged X-Forwarded-For evades nothing), 127.0.0.3 still checked",
        statuses == [401] * args.login_attempts + [429] and other == 401 and again == 429,
        f"127.0.0.2 → {statuses}, 127.0.0.3 → {other}, 127.0.0.2 again → {again} {body[:120]!r}",
    )
    print(f"proxy: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


def ended_within(s, seconds, marker, first=False):
    """Whether the peer closed `s`, or sent `marker` (at the start of a read when `first`:
    a WebSocket frame's header), within `seconds`."""
    s.settimeout(seconds)
    end = time.monotonic() + seconds
    seen = b""
    try:
        while time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                return True
            if (first and chunk.startswith(marker)) or (not first and marker in seen[-8:] + chunk):
                return True
            seen = (seen + chunk)[-64:]
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def event_stream(host, port, token):
    """Opens the console's event stream (SSE); (status, socket)."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(
        (
            f"GET /api/v1/console/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    line = s.recv(4096).split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), s


def revoke_checks(args):
    """Point 7 on the real binaries (tests/suites/replicas.sh: two replicas on one
    PostgreSQL database): a dispatcher's console stream and a crew phone's sync socket
    open on replica a; `user revoke-tokens` run by the real CLI, a third process, cuts
    both within seconds, and their tokens are refused on replica b too."""
    c = Checks()
    a, b = args.url, args.url_b
    host, port = a.split("//")[1].split(":")
    port = int(port)
    opened = {}
    for who, password in [(args.revoke_console, args.revoke_password), (args.revoke_phone, args.revoke_phone_password)]:
        st, _, body = login(a, who, password, f"revoke-{who}")
        opened[who] = json.loads(body).get("token", "") if st == 200 else ""
        c.check(f"login of {who} on replica a", st == 200, f"status {st}")
    st_stream, stream = event_stream(host, port, opened[args.revoke_console])
    st_sock, sock = upgrade(host, port, opened[args.revoke_phone])
    c.check(
        "the console stream and the sync socket open on replica a",
        st_stream == 200 and st_sock == 101,
        f"stream {st_stream}, socket {st_sock}",
    )
    started = time.monotonic()
    for who in (args.revoke_console, args.revoke_phone):
        cli = subprocess.run(
            [args.server_bin, "user", "revoke-tokens", "--login", who],
            capture_output=True, text=True, timeout=60,
        )
        c.check(f"`user revoke-tokens --login {who}` (the CLI)", cli.returncode == 0, cli.stderr[-300:])
    stream_cut = ended_within(stream, 10, b"0\r\n\r\n")
    stream_took = time.monotonic() - started
    # A WebSocket close frame (FIN + opcode 8) is the cut; the TCP close follows it.
    sock_cut = ended_within(sock, 10, b"\x88", first=True)
    sock_took = time.monotonic() - started
    c.check(
        "after revoke-tokens by the CLI, replica a ends the console stream and closes the sync socket",
        stream_cut and sock_cut,
        f"stream ended {stream_cut}, socket closed {sock_cut}",
    )
    print(
        f"[revoke] stream ended {stream_took:.1f} s, socket closed {sock_took:.1f} s "
        "after the first revoke-tokens began (each CLI run included)",
        flush=True,
    )
    refused = [http("GET", f"{b}/api/v1/me", headers={"Authorization": f"Bearer {t}"})[0] for t in opened.values()]
    c.check("the revoked tokens are refused on replica b", refused == [401, 401], f"statuses {refused}")
    stream.close()
    sock.close()
    print(f"revoke: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


def run_checks(args):
    c = Checks()
    base = args.url
    host, port = base.split("//")[1].split(":")
    port = int(port)
    pid = args.pid
    start_rss = rss_mib(pid)
    print(f"[hostile] server pid {pid}, RSS {start_rss:.0f} MiB at start", flush=True)

    # Point 4: sync sockets capped per user (a token first: the login flood below puts
    # this address into back-off).
    st, _, body = login(base, args.sync_login, args.password, "hostile-phone")
    token = json.loads(body).get("token", "") if st == 200 else ""
    c.check("login of the sync user", st == 200, f"status {st}")
    socks = []
    statuses = []
    for _ in range(9):
        s_status, s = upgrade(host, port, token)
        statuses.append(s_status)
        socks.append(s)
    c.check(
        "9th sync socket of one user refused with 429",
        statuses[:8] == [101] * 8 and statuses[8] == 429,
        f"statuses {statuses}",
    )
    for s in socks:
        s.close()

    # Points 13 and 4 (when hostile.sh filed reports before killing the server): before
    # the login flood, which puts this address into back-off.
    if args.filed:
        routed_checks(c, args, host, port)
        stall_check(c, args, host, port)

    # Point 17: trusted_proxy is off here.
    spoof_checks(c, base)

    # Point 3: 300 concurrent wrong logins.
    before = hwm_mib(pid)
    t0 = time.monotonic()
    res = flood_logins(base, 300, args.victim)
    took = time.monotonic() - t0
    refused = [r for r in res if r[0] == 429]
    checked = [r for r in res if r[0] == 401]
    c.check(
        "login flood: 429 with Retry-After beyond the allowances",
        len(refused) >= 280 and all(r[1] for r in refused) and len(refused) + len(checked) == 300,
        f"{len(refused)} × 429, {len(checked)} × 401, others {[r for r in res if r[0] not in (401, 429)][:5]}",
    )
    grew = hwm_mib(pid) - before
    c.check(f"login flood: peak RSS grew {grew:.0f} MiB (< 100)", grew < 100, f"{grew:.0f} MiB")
    print(f"[hostile] login flood answered in {took:.1f} s", flush=True)

    # Point 1: Open311 multipart without a key.
    before = hwm_mib(pid)
    line, sent = stream_media(host, port, None, 50)
    c.check(
        "Open311 50 × 10 MiB media[] without a key: 403 before 40 MiB is read",
        " 403 " in line and sent < 40 * MIB,
        f"{line!r} after {sent / MIB:.0f} MiB",
    )
    grew = hwm_mib(pid) - before
    c.check(f"Open311 flood: peak RSS grew {grew:.0f} MiB (< 60)", grew < 60, f"{grew:.0f} MiB")

    # Point 6: integrity reports of 40 MiB without proof of work, 8 at once: refused from
    # their headers, before the body is read.
    before = hwm_mib(pid)
    results = []

    def one_report():
        results.append(stream_report(host, port, 40 * MIB))

    threads = [threading.Thread(target=one_report) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    c.check(
        "integrity: 8 × 40 MiB reports without proof of work refused (400) before 8 MiB each is read",
        len(results) == 8 and all(" 400 " in line and sent < 8 * MIB for line, sent in results),
        f"{[(line, round(sent / MIB, 1)) for line, sent in results]}",
    )
    grew = hwm_mib(pid) - before
    c.check(f"integrity flood: peak RSS grew {grew:.0f} MiB (< 40)", grew < 40, f"{grew:.0f} MiB")

    # Point 4: slowloris.
    slow = slowloris(host, port, 200)
    t0 = time.monotonic()
    st, _, _ = http("GET", f"{base}/healthz", timeout=5)
    lat = time.monotonic() - t0
    c.check(
        f"200 slowloris connections: /healthz answered in {lat * 1000:.0f} ms",
        st == 200 and lat < 1.0,
        f"status {st} after {lat:.2f} s",
    )
    deadline = time.monotonic() + args.header_timeout + 4
    cut = sum(1 for s in slow if closed_within(s, max(0.05, deadline - time.monotonic())))
    c.check("slowloris connections cut after the header timeout", cut == 200, f"{cut} of 200")
    for s in slow:
        s.close()

    # Point 2 (when the server has it): a compressed-change bomb over sync.
    if args.bomb:
        bomb_check(c, args, host, port, token)

    peak = hwm_mib(pid)
    c.check(f"server peak RSS {peak:.0f} MiB (< 400)", peak < 400, f"{peak:.0f} MiB")
    print(f"hostile: {c.passed} passed, {c.failed} failed", flush=True)
    return 0 if c.failed == 0 else 1


def bomb_check(c, args, host, port, token):
    """Compressed-change bombs over sync: one change inflating to 4 GiB, then 64 valid
    changes inflating to 15 MiB each (about 1 GiB together): both refused with the typed
    refusal, the server's peak RSS bounded (see --bomb)."""
    import subprocess

    pid = args.pid
    for mode in ("one", "many"):
        before = hwm_mib(pid)
        out = subprocess.run(
            [args.bomb, f"http://{host}:{port}", token, "hostile-phone", mode],
            capture_output=True,
            text=True,
            timeout=300,
        )
        grew = hwm_mib(pid) - before
        c.check(
            f"compressed-change bomb ({mode}) refused",
            out.returncode == 0,
            (out.stdout + out.stderr)[-400:],
        )
        c.check(
            f"bomb ({mode}): peak RSS grew {grew:.0f} MiB (< 100)",
            grew < 100,
            f"{grew:.0f} MiB",
        )


def bench(args):
    """BENCHMARKS.md figures for one server binary (run before and after)."""
    base = args.url
    host, port = base.split("//")[1].split(":")
    port = int(port)
    pid = args.pid
    stop = threading.Event()
    attempts = [0]

    def attacker(k):
        # Many accounts and 100 source addresses (127.0.1.x), as a botnet would.
        i = 0
        while not stop.is_set():
            src = f"127.0.1.{(k * 7 + i) % 100 + 1}"
            login(base, f"user{(k * 1000 + i) % 5000}", "wrong", f"a{k}-{i}", source=src)
            attempts[0] += 1
            i += 1

    attackers = [threading.Thread(target=attacker, args=(k,)) for k in range(args.attackers)]
    for t in attackers:
        t.start()
    time.sleep(2)
    lat = []
    ok = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        st, _, _ = login(base, args.sync_login, args.password, "bench-phone", source="127.0.0.2")
        lat.append(time.monotonic() - t0)
        ok += st == 200
    stop.set()
    for t in attackers:
        t.join(60)
    lat.sort()
    print(
        f"login under attack ({args.attackers} attackers, {args.seconds} s): "
        f"attack attempts {attempts[0] / (args.seconds + 2):.0f}/s; "
        f"legit logins {ok} ok of {len(lat)} ({ok / args.seconds:.1f}/s), "
        f"p50 {statistics.median(lat) * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.0f} ms; "
        f"server peak RSS {hwm_mib(pid):.0f} MiB"
    )
    time.sleep(1)
    slow = slowloris(host, port, 200)
    lat = []
    fails = 0
    for _ in range(50):
        t0 = time.monotonic()
        st, _, _ = http("GET", f"{base}/healthz", timeout=10)
        lat.append(time.monotonic() - t0)
        fails += st != 200
    lat.sort()
    print(
        f"GET /healthz under 200 slowloris connections: p50 {statistics.median(lat) * 1000:.1f} ms, "
        f"p99 {lat[-1] * 1000:.1f} ms, failed {fails} of 50"
    )
    time.sleep(args.header_timeout + 2)
    cut = sum(1 for s in slow if closed_within(s, 0.5))
    print(f"slowloris connections the server had cut {args.header_timeout + 2} s later: {cut} of 200")
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--victim", default="victim")
    p.add_argument("--sync-login", default="ops")
    p.add_argument("--password", default="hostile-pass-1")
    p.add_argument("--header-timeout", type=int, default=10)
    p.add_argument("--bomb", default="", help="a program that pushes a 4 GiB change bomb")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--phase", default="main", choices=["cap", "held", "main", "proxy", "revoke"])
    p.add_argument("--url-b", default="", help="the second replica (--phase revoke)")
    p.add_argument("--server-bin", default="", help="the server's binary, for its CLI (--phase revoke)")
    p.add_argument("--revoke-console", default="dispatcher-r2")
    p.add_argument("--revoke-password", default="demo-dispatcher")
    p.add_argument("--revoke-phone", default="crew-d05-a")
    p.add_argument("--revoke-phone-password", default="demo-crew")
    p.add_argument("--db", default="", help="the server's SQLite file (--phase held)")
    p.add_argument("--filed", default="", help="field reports inside a district, comma-separated")
    p.add_argument("--unroutable", default="", help="a field report outside every district")
    p.add_argument("--phone-probe", default="", help="server/examples/phone_probe's binary")
    p.add_argument("--phone-store", default="", help="the probe phone's store folder")
    p.add_argument("--send-timeout", type=int, default=2)
    p.add_argument("--stall-notes", type=int, default=100)
    p.add_argument("--login-attempts", type=int, default=3, help="the server's address allowance")
    p.add_argument("--attackers", type=int, default=32)
    p.add_argument("--seconds", type=int, default=15)
    args = p.parse_args()
    if args.bench:
        sys.exit(bench(args))
    phases = {
        "cap": cap_checks,
        "held": held_checks,
        "main": run_checks,
        "proxy": proxy_checks,
        "revoke": revoke_checks,
    }
    sys.exit(phases[args.phase](args))


if __name__ == "__main__":
    main()
