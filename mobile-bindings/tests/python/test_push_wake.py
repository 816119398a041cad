"""A crew's phone in a pocket is woken for an urgent job (issue 20 §1), end to end: the
phone library registers the device's push token (`register_push`), syncs and closes its
socket; a citizen files an urgent water leak through Open311 at a point of the crew's
district; the local provider (`push_receivers.py`: it checks each request as Google, Apple
or a Web Push service and the phone would) gets a valid wake-up within a second of the
201, carrying nothing of the task; the phone then syncs and has the job.

One case per push service: Web Push (the payload decrypted with the subscription's key),
FCM (the service account's RS256 assertion verified in the token exchange, a data-only
message) and APNs (HTTP/2, the ES256 provider token, `apns-*` headers). The Web Push case
also holds a second phone of the crew with its socket open: that one is not woken (it is
told of the job over its socket).

The suite (`tests/suites/bindings.sh`) starts the server with the keys and the receivers'
addresses (`push_receivers.py setup`), a crew of its own (`TARMIM_TEST_PUSH_*`) in a
district where it is the only crew that reports a position, and a metrics token (the test
waits until the server has seen the socket close before filing).
"""

import json
import os
import time
import urllib.parse
import urllib.request

import pytest
import tarmim
from conftest import Server, env
from push_receivers import ApnsReceiver, FcmReceiver, WebPushReceiver
from test_bad_input import Recorder
from test_live import wait_for

OPEN311_KEY = "o311_demo0000000000000000000000000000"
# The centre of the demo city's D06 (row 2, column 2 of its 4 × 3 grid).
POINT = (35.690, 51.3725)


def http(path, data=None, headers=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(Server.url + path, data=body, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def sockets_closed():
    """How many sync sockets the server has seen close (its metrics)."""
    _, text = http("/metrics", headers={"Authorization": "Bearer " + env("TARMIM_METRICS_TOKEN")})
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.decode().splitlines()
               if line.startswith("tarmim_sync_connections_closed_total"))


def file_urgent(n):
    """A citizen's urgent report (a water leak) a little off the district's centre; its
    task id and the time its 201 arrived."""
    lat, lon = POINT[0] + 0.001 * n, POINT[1] - 0.001 * n
    status, body = http("/open311/v2/requests.json", {
        "api_key": OPEN311_KEY, "service_code": "water_leak", "lat": lat, "long": lon,
        "description": f"Water gushing from the pavement ({n})",
    })
    at = time.monotonic()
    assert status == 201, body
    return json.loads(body)[0]["service_request_id"], at


def assert_contentless(payload, task_id):
    """Only "sync now" reaches a provider: no task id, title, place or anything else."""
    assert set(payload) <= {"t", "urgent", "aps"}, payload
    text = json.dumps(payload)
    for leak in [task_id, "Water", "water_leak", "D06", str(POINT[0])]:
        assert leak not in text, f"{leak!r} in {text}"
    if "aps" in payload:
        assert set(payload["aps"]) <= {"content-available", "alert", "sound"}, payload
        # The alert's only text is a localisation key the app resolves.
        assert set(payload["aps"].get("alert") or {}) <= {"loc-key"}, payload
    assert payload.get("t") == "sync", payload


@pytest.fixture(scope="module")
def receivers():
    _, body = http("/api/v1/push/vapid")
    vapid = json.loads(body)["public_key"]
    rx = {
        "webpush": WebPushReceiver(vapid),
        "fcm": FcmReceiver(int(env("TARMIM_TEST_FCM_PORT")), env("TARMIM_FCM_SERVICE_ACCOUNT")),
        "apns": ApnsReceiver(int(env("TARMIM_TEST_APNS_PORT")), env("TARMIM_APNS_KEY")),
    }
    yield rx
    for r in rx.values():
        r.close()


def token_for(kind, rx, name):
    """What the platform gives the app to register, and what the provider addresses."""
    if kind == "webpush":
        return rx.subscription(name), f"/push/{name}"
    token = f"{name}:APA91b" + os.urandom(24).hex() if kind == "fcm" else os.urandom(32).hex()
    return token, token


def go_live(phone):
    listener = Recorder()
    phone.set_listener(listener)
    phone.start_sync()
    wait_for("live", lambda: tarmim.SyncState.LIVE() in listener.states)
    return listener


@pytest.mark.parametrize("n,kind", [(1, "webpush"), (2, "fcm"), (3, "apns")])
def test_a_pocketed_phone_is_woken_for_an_urgent_report_and_syncs_it(n, kind, phones, receivers):
    crew = env("TARMIM_TEST_PUSH_CREW")
    login, password = env("TARMIM_TEST_PUSH_LOGIN"), env("TARMIM_TEST_PUSH_PASSWORD")
    rx = receivers[kind]
    phone = phones.open(login, password)
    if n == 1:
        # On duty where the reports will be: the district's best-scored crew.
        phone.set_on_duty(True)
        assert phone.report_position(tarmim.Position(
            lat=POINT[0], lon=POINT[1], at_ms=int(time.time() * 1000), accuracy_m=5.0)) == []
    token, to = token_for(kind, rx, f"pocket-{n}")
    phone.register_push(kind, token)
    # It syncs over its socket, then the phone goes into a pocket: the socket closes.
    go_live(phone)
    closed = sockets_closed()
    phone.stop_sync()
    wait_for("the server to see the socket close", lambda: sockets_closed() > closed)

    live = live_listener = None
    if kind == "webpush":
        # A second phone of the crew, its socket open: told over it, never woken.
        live = phones.open(login, password)
        live_token, live_to = token_for(kind, rx, f"live-{n}")
        live.register_push(kind, live_token)
        live_listener = go_live(live)

    task_id, filed_at = file_urgent(n)
    got = rx.log.wait(to, seconds=5)
    assert got is not None, f"no wake-up for {to} within 5 s; refused: {rx.log.refused}"
    assert got["at"] - filed_at <= 1.0, f"woken {got['at'] - filed_at:.3f} s after the 201"
    assert got["urgent"], got
    assert_contentless(got["payload"], task_id)
    assert rx.log.refused == [], rx.log.refused
    assert len(rx.log.of(to)) == 1, rx.log.of(to)

    if live is not None:
        wait_for("the live phone told of the job", lambda: task_id in live_listener.changed)
        # Its wake-up row was written in the same commit as the pocketed phone's and is
        # claimed with it: had it been sent, it would be here by now (a second more).
        time.sleep(1.0)
        assert rx.log.of(live_to) == [], "a phone with its socket open was woken"

    # Woken, the phone syncs and has the job, assigned to its crew, urgent.
    phone.sync_now()
    job = phone.task(task_id)
    assert (job.assignee, job.status, job.priority) == (
        crew, tarmim.TaskStatus.ASSIGNED, tarmim.TaskPriority.URGENT), job
