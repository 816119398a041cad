"""Issue 20 §3, the user disabled: the phone drops what it may no longer see.

An administrator disables the user through the server's command line. A phone with a live
socket is told in the protocol (no scope left) before the socket closes; a phone that
syncs later over the HTTP fallback, or opens its folder again, is refused with a typed
`account_disabled`. Either way it drops the user's tasks (the listener told), keeps a task
whose edit has not reached the server, and the app gets `TarmimError.AccountDisabled`.
Enabled again, the kept edit reaches the server and the tasks come back."""

import os
import subprocess

import pytest
import tarmim
from conftest import env, open_task_of_my_crew
from test_bad_input import Recorder
from test_live import wait_for


def set_disabled(login, disabled):
    subprocess.run(
        [env("TARMIM_TEST_SERVER_BIN"), "user", "disable" if disabled else "enable", "--login", login],
        check=True,
        capture_output=True,
        timeout=60,
        env=os.environ,
    )


def account():
    return env("TARMIM_TEST_DISABLED_LOGIN"), env("TARMIM_TEST_DISABLED_PASSWORD")


def test_a_live_phone_of_a_disabled_user_drops_their_tasks(phones):
    login, password = account()
    phone = phones.open(login, password)
    phone.sync_now()
    held = {t.id for t in phone.tasks()}
    assert len(held) >= 2, held
    listener = Recorder()
    phone.set_listener(listener)
    phone.start_sync()
    wait_for("live", lambda: tarmim.SyncState.LIVE() in listener.states)
    try:
        set_disabled(login, True)
        wait_for(
            "the tasks dropped, the listener told and the sync stopped",
            lambda: not phone.tasks()
            and held <= set(listener.removed)
            and isinstance(listener.states[-1], tarmim.SyncState.ACCOUNT_DISABLED),
            seconds=30,
        )
        with pytest.raises(tarmim.TarmimError.AccountDisabled):
            phone.sync_now()
    finally:
        set_disabled(login, False)
    phone.sync_now()
    assert held <= {t.id for t in phone.tasks()}


def test_a_refused_sync_or_open_drops_them_but_keeps_an_unsent_edit(phones):
    login, password = account()
    folder, other = phones.folder(), phones.folder()
    phone = phones.open(login, password, data_dir=folder, http_only=True)
    assert phone.sync_now().transport == tarmim.SyncTransport.HTTP
    second = phones.open(login, password, data_dir=other, http_only=True)
    second.sync_now()
    phones.close(second)
    del second
    held = sorted(t.id for t in phone.tasks())
    kept = open_task_of_my_crew(phone).id
    note = phone.add_note(kept, "written before the account was disabled")
    listener = Recorder()
    phone.set_listener(listener)
    try:
        set_disabled(login, True)
        # Over the HTTP fallback: the exchange's token is refused as `account_disabled`.
        with pytest.raises(tarmim.TarmimError.AccountDisabled):
            phone.sync_now()
        assert [t.id for t in phone.tasks()] == [kept]
        assert set(held) - {kept} <= set(listener.removed), listener.removed
        assert note in {n.id for n in phone.task(kept).notes}
        phones.close(phone)
        del phone
        # The app opened again while disabled (the other folder never heard of it).
        for data_dir in (folder, other):
            with pytest.raises(tarmim.TarmimError.AccountDisabled):
                phones.open(login, password, data_dir=data_dir)
    finally:
        set_disabled(login, False)
    second = phones.open(login, password, data_dir=other)
    assert second.tasks() == [], "dropped when it was opened while disabled"
    phones.close(second)
    del second
    phone = phones.open(login, password, data_dir=folder)
    assert [t.id for t in phone.tasks()] == [kept]
    report = phone.sync_now()
    assert report.pending_changes == 0
    assert set(held) <= {t.id for t in phone.tasks()}
    # The edit made before the disabling reached the server: the crew's other phone has it.
    mate = phones.open()
    mate.sync_now()
    assert note in {n.id for n in mate.task(kept).notes}
