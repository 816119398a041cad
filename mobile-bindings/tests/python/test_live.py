"""The background sync (live push to a listener), the HTTP fallback, and the crew's duty
and position calls against the real server."""

import time

import pytest
import tarmim
from conftest import open_task_of_my_crew
from test_bad_input import Recorder


def wait_for(what, check, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_background_sync_pushes_changes_to_the_listener(phones, server):
    a = phones.open()
    b = phones.open(server.second_login, server.second_password)
    a.sync_now()
    listener = Recorder()
    b.set_listener(listener)
    b.start_sync()
    wait_for("B live", lambda: tarmim.SyncState.LIVE() in listener.states)
    tid = open_task_of_my_crew(a).id
    # B's catch-up may still be telling the listener of tasks it already had (this one
    # among them): only A's note itself, and the listener told after it, prove the push.
    note = a.add_note(tid, "live note from A")
    a.sync_now()
    wait_for(
        "B told of A's note",
        lambda: note in {n.id for n in b.task(tid).notes} and tid in listener.changed,
    )

    # B's own edits leave at once while live; sync_now asks the running loop.
    b_note = b.add_note(tid, "live note from B")
    report = b.sync_now()
    assert report.pending_changes == 0 and report.transport == tarmim.SyncTransport.WEB_SOCKET
    a.sync_now()
    assert b_note in {n.id for n in a.task(tid).notes}

    b.stop_sync()
    wait_for("stopped", lambda: listener.states[-1] == tarmim.SyncState.STOPPED())
    b.stop_sync()  # stopping twice is harmless


def test_background_sync_retries_while_the_server_is_down(phones, server):
    from conftest import dead_url

    folder = phones.folder()
    phones.close(phones.open(data_dir=folder))
    offline = phones.open(data_dir=folder, url=dead_url())
    listener = Recorder()
    offline.set_listener(listener)
    offline.start_sync()
    wait_for("two attempts", lambda: sum(isinstance(s, tarmim.SyncState.OFFLINE) for s in listener.states) >= 2)
    waits = [s.retry_in_ms for s in listener.states if isinstance(s, tarmim.SyncState.OFFLINE)]
    assert all(w >= 1000 for w in waits), waits
    with pytest.raises(tarmim.TarmimError.Offline):
        offline.sync_now()
    offline.stop_sync()


def test_http_fallback_syncs_the_same(phones, server):
    h = phones.open(http_only=True)
    report = h.sync_now()
    assert report.transport == tarmim.SyncTransport.HTTP
    assert report.received >= 1
    tid = open_task_of_my_crew(h).id
    note = h.add_note(tid, "sent over the HTTP fallback")
    report = h.sync_now()
    assert (report.sent, report.acknowledged, report.pending_changes) == (1, 1, 0)
    w = phones.open(server.second_login, server.second_password)
    w.sync_now()
    assert note in {n.id for n in w.task(tid).notes}


def test_duty_and_position(phones, server):
    a = phones.open()
    a.set_on_duty(True)
    flags = a.report_position(tarmim.Position(lat=35.70, lon=51.40, at_ms=int(time.time() * 1000), accuracy_m=8.0))
    assert flags == []
    # Reporting again at once is rate limited: Offline with the server's Retry-After.
    with pytest.raises(tarmim.TarmimError.Offline) as e:
        a.report_position(tarmim.Position(lat=35.70, lon=51.40, at_ms=int(time.time() * 1000), accuracy_m=8.0))
    assert e.value.retry_after_secs is not None and e.value.retry_after_secs >= 1
    a.set_on_duty(False)


def test_register_push(phones, server):
    # How the server wakes this phone in a pocket (issue 20 §1): a token per device, a
    # rotated one replaces the old; an unknown kind or a malformed token is refused.
    a = phones.open()
    a.register_push("fcm", "fcm-token-1:" + "x" * 40)
    a.register_push("fcm", "fcm-token-2:" + "y" * 40)
    a.register_push("apns", "ab" * 32)
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.register_push("carrier-pigeon", "x")
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.register_push("fcm", "x" * 10_000)
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.register_push("webpush", '{"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}')
