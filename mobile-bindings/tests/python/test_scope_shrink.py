"""A phone drops what it may no longer see: its crew is moved to another district through
the server's command line (as an administrator would), the server cuts the live session
(`4409`), the phone reconnects (or, over the HTTP fallback, syncs next), and the old
district's tasks leave it, the listener told.
The harder cases (an unacknowledged completion in the lost scope, photos still to upload)
are sync-core's tests (`tests/session.rs`, `tests/simnet.rs`)."""

import os
import subprocess

import tarmim
from conftest import env
from test_bad_input import Recorder
from test_live import wait_for


def move_crew(crew, district):
    subprocess.run(
        [env("TARMIM_TEST_SERVER_BIN"), "crew", "add", "--id", crew, "--name", "Moving crew", "--district", district],
        check=True,
        capture_output=True,
        timeout=60,
        env=os.environ,
    )


def test_a_crew_moved_to_another_district_drops_the_old_districts_tasks(phones):
    crew = env("TARMIM_TEST_MOVING_CREW")
    old, new = env("TARMIM_TEST_MOVING_FROM"), env("TARMIM_TEST_MOVING_TO")
    move_crew(crew, old)
    phone = phones.open(env("TARMIM_TEST_MOVING_LOGIN"), env("TARMIM_TEST_MOVING_PASSWORD"))
    phone.sync_now()
    held = {t.id: t.district for t in phone.tasks()}
    leaving = {i for i, d in held.items() if d == old}
    assert leaving, f"the crew sees no open task of {old}: {held}"
    assert not any(d == new for d in held.values())

    listener = Recorder()
    phone.set_listener(listener)
    phone.start_sync()
    wait_for("live", lambda: tarmim.SyncState.LIVE() in listener.states)

    move_crew(crew, new)
    # The listener is told after the store has dropped them: wait for both.
    wait_for(
        f"the tasks of {old} dropped and the listener told",
        lambda: not any(t.district == old for t in phone.tasks()) and leaving <= set(listener.removed),
        seconds=30,
    )
    assert {t.district for t in phone.tasks()} <= {new}
    for task_id in leaving:
        try:
            phone.task(task_id)
        except tarmim.TarmimError.InvalidInput:
            continue
        raise AssertionError(f"{task_id} can still be read on the phone")

    # A one-off sync afterwards brings nothing of the old district back.
    phone.stop_sync()
    phone.sync_now()
    assert {t.district for t in phone.tasks()} <= {new}


def test_over_the_http_fallback_the_next_sync_drops_them(phones):
    # No socket to cut: the next one-off exchange's welcome lists the scopes now granted.
    crew = env("TARMIM_TEST_MOVING_CREW")
    old, new = env("TARMIM_TEST_MOVING_FROM"), env("TARMIM_TEST_MOVING_TO")
    move_crew(crew, old)
    phone = phones.open(env("TARMIM_TEST_MOVING_LOGIN"), env("TARMIM_TEST_MOVING_PASSWORD"), http_only=True)
    report = phone.sync_now()
    assert report.transport == tarmim.SyncTransport.HTTP
    leaving = {t.id for t in phone.tasks() if t.district == old}
    assert leaving

    listener = Recorder()
    phone.set_listener(listener)
    move_crew(crew, new)
    phone.sync_now()
    assert not any(t.district == old for t in phone.tasks())
    assert leaving <= set(listener.removed), (leaving, listener.removed)
