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
import socket
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
    s.sendall(
        (
            f"GET /api/v1/sync HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    line = s.recv(4096).split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), s


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
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--victim", default="victim")
    p.add_argument("--sync-login", default="ops")
    p.add_argument("--password", default="hostile-pass-1")
    p.add_argument("--header-timeout", type=int, default=10)
    p.add_argument("--bomb", default="", help="a program that pushes a 4 GiB change bomb")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--attackers", type=int, default=32)
    p.add_argument("--seconds", type=int, default=15)
    args = p.parse_args()
    sys.exit(bench(args) if args.bench else run_checks(args))


if __name__ == "__main__":
    main()
