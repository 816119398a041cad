"""Two phones of one crew edit the same task offline, then sync: both phones and the
server end with the same task, and design §2's rules held (completion needs an after
photo; notes from both phones are kept; the same photo from two phones is one photo; two
concurrent completions leave one completion and one extra visit)."""

import tarmim
import urllib.request

from conftest import Server, open_task_of_my_crew, server_takes_uploads, work_on


def fingerprint(t):
    """Everything two replicas of a task must agree on."""
    return {
        "status": t.status,
        "assignee": t.assignee,
        "completion": t.completion_event,
        "extra_visits": sorted(t.extra_visits),
        "notes": sorted((n.id, n.author, n.text) for n in t.notes),
        "photos": sorted((p.hash, p.kind) for p in t.photos),
        "timeline": sorted((e.event_id, e.kind, repr(e.outcome)) for e in t.timeline),
    }


def test_offline_edits_on_two_phones_converge(phones, server, photo_file):
    a = phones.open(server.login, server.password)
    b = phones.open(server.second_login, server.second_password)
    assert a.account().crew == b.account().crew
    assert a.account().user_id != b.account().user_id
    a.sync_now()
    b.sync_now()
    task = open_task_of_my_crew(a)
    tid = task.id
    assert tid in {t.id for t in b.tasks()}, "both phones of the crew hold its task"
    notes_before = len(a.task(tid).notes)

    # --- offline: both phones work on the task, neither syncs -------------------------
    work_on(a, tid)
    a.add_note(tid, "A: hole filled, asphalt needs a day")
    a.add_photo(tid, photo_file(1), tarmim.PhotoKind.BEFORE, None, task.lat, task.lon)
    a_after = a.add_photo(tid, photo_file(2), tarmim.PhotoKind.AFTER, None, None, None)
    shared = a.add_photo(tid, photo_file(3), tarmim.PhotoKind.AFTER, None, None, None)
    a.complete(tid, [a_after])
    assert a.task(tid).status == tarmim.TaskStatus.COMPLETED

    work_on(b, tid)
    b.add_note(tid, "B: cones left on site")
    # Rule 6: no completion without an after photo; the task is untouched.
    before_refusal = fingerprint(b.task(tid))
    try:
        b.complete(tid, [])
        raise AssertionError("completing without an after photo was accepted")
    except tarmim.TarmimError.Refused as e:
        assert "photo" in str(e).lower(), e
    assert fingerprint(b.task(tid)) == before_refusal
    # Rule 5: the same image from the other phone is the same photo.
    assert b.add_photo(tid, photo_file(3), tarmim.PhotoKind.AFTER, None, None, None) == shared
    b.add_photo(tid, photo_file(4), tarmim.PhotoKind.AFTER, None, None, None)
    b.complete(tid, [])
    assert b.task(tid).status == tarmim.TaskStatus.COMPLETED
    assert a.pending_changes() > 0 and b.pending_changes() > 0

    # --- reconnect ----------------------------------------------------------------------
    ra = a.sync_now()
    rb = b.sync_now()
    ra2 = a.sync_now()
    for r in (ra, rb):
        assert r.refused == [], r.refused
        assert r.sent >= 1 and r.acknowledged == r.sent, r
        assert r.pending_changes == 0, r
    # Photos travel through each phone's outbox (3 on A; B's copy of the shared one is
    # the same blob, so B uploads 2 at most).
    assert len(a.uploads()) == 3 and len(b.uploads()) == 2
    if server_takes_uploads():
        assert ra.pending_uploads == 0 and rb.pending_uploads == 0, (ra, rb)
        assert {u.state for u in a.uploads() + b.uploads()} == {"uploaded"}
        for u in a.uploads():
            with urllib.request.urlopen(f"{Server.url}/api/v1/photos/{u.hash}/thumb") as resp:
                assert resp.status == 200
    else:
        # A server without the upload endpoint: the photos wait, nothing is lost.
        assert (ra.pending_uploads, rb.pending_uploads) == (3, 2), (ra, rb)
        assert {u.state for u in a.uploads()} == {"pending"}
        assert all(u.uploaded_bytes == 0 for u in a.uploads())
        # The first attempt says why; the rest wait for the next round (no hammering).
        assert any("upload endpoint" in (u.last_error or "") for u in a.uploads())
    assert tid in {t for t in [tid]} and rb.received >= 1, "B received A's edits"
    assert ra2.received >= 1, "A received B's edits"

    ta, tb = a.task(tid), b.task(tid)
    assert fingerprint(ta) == fingerprint(tb)

    # Rule 5: notes from both phones are kept; the shared photo is one photo.
    texts = [n.text for n in ta.notes]
    assert len(ta.notes) == notes_before + 2
    assert "A: hole filled, asphalt needs a day" in texts and "B: cones left on site" in texts
    hashes = [p.hash for p in ta.photos]
    assert len(hashes) == len(set(hashes)) == 4
    assert hashes.count(shared) == 1
    # Rule 2: both completions kept, one is the task's, the other an extra visit.
    completions = [e for e in ta.timeline if e.kind == "completed"]
    assert len(completions) == 2
    assert ta.status == tarmim.TaskStatus.COMPLETED
    assert ta.completion_event in {e.event_id for e in completions}
    assert len(ta.extra_visits) == 1 and ta.extra_visits[0] != ta.completion_event
    assert {repr(e.outcome) for e in completions} == {
        repr(tarmim.EventOutcome.APPLIED()),
        repr(tarmim.EventOutcome.EXTRA_VISIT()),
    }

    # --- the server agrees: a fresh phone gets the server's copy ------------------------
    c = phones.open(server.login, server.password)
    rc = c.sync_now()
    assert rc.received >= 1 and rc.sent == 0
    assert fingerprint(c.task(tid)) == fingerprint(ta)
    row = next(t for t in c.tasks() if t.id == tid)
    assert row.status == tarmim.TaskStatus.COMPLETED
