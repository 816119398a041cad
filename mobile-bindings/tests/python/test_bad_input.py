"""Bad input from the app or the world gets a clear error of the right kind and loses
nothing: a corrupt data folder, a photo path that does not exist, a wrong password, a
server that is down, a change the server refuses."""

import os
import time

import pytest
import tarmim
from conftest import dead_url, open_task_of_my_crew


def test_corrupt_data_folder_is_a_storage_error(phones, tmp_path):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "tarmim.redb").write_bytes(b"this is not a store" + os.urandom(4096))
    with pytest.raises(tarmim.TarmimError.Storage) as e:
        phones.open(data_dir=str(folder))
    assert "corrupt" in str(e.value)
    # The folder is left as it was, for the app to decide (delete it and sync again).
    assert (folder / "tarmim.redb").read_bytes().startswith(b"this is not a store")


def test_missing_photo_file_is_invalid_input_and_changes_nothing(phones, tmp_path):
    a = phones.open()
    a.sync_now()
    tid = open_task_of_my_crew(a).id
    before = a.task(tid)
    for bad in [str(tmp_path / "no-such-photo.jpg"), str(tmp_path), ""]:
        with pytest.raises(tarmim.TarmimError.InvalidInput):
            a.add_photo(tid, bad, tarmim.PhotoKind.AFTER, None, None, None)
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    with pytest.raises(tarmim.TarmimError.InvalidInput) as e:
        a.add_photo(tid, str(not_an_image), tarmim.PhotoKind.AFTER, None, None, None)
    assert "not a JPEG" in str(e.value)
    assert a.task(tid) == before
    assert a.pending_changes() == 0


def test_wrong_password_asks_for_login(phones, server):
    with pytest.raises(tarmim.TarmimError.LoginRequired):
        phones.open(password="not-the-password")
    with pytest.raises(tarmim.TarmimError.LoginRequired):
        phones.open(login="nobody-by-this-name")


def test_other_bad_arguments_are_invalid_input(phones, server, tmp_path):
    for url in ["", "ftp://example.org", "tarmim.example.org", "http://"]:
        with pytest.raises(tarmim.TarmimError.InvalidInput):
            phones.open(url=url)
    a = phones.open()
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.task("no-such-task")
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.add_note("../../etc/passwd", "x")
    a.sync_now()
    tid = open_task_of_my_crew(a).id
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.add_note(tid, "   ")
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.add_note(tid, "x" * 5000)
    for lat, lon in [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)]:
        with pytest.raises(tarmim.TarmimError.InvalidInput):
            a.report_position(tarmim.Position(lat=lat, lon=lon, at_ms=0, accuracy_m=None))
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        a.report_task(tarmim.FieldReport(category="pothole", title="Off the globe", description="x", lat=200.0, lon=51.4, priority=tarmim.TaskPriority.NORMAL))
    assert a.pending_changes() == 0
    # Another login on the same folder is refused: one folder per account.
    folder = phones.folder()
    phones.close(phones.open(data_dir=folder))
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        phones.open(login=server.second_login, password=server.second_password, data_dir=folder)
    # Two clients on one folder at once: the second is refused, the first keeps working.
    held = phones.open(data_dir=folder)
    with pytest.raises(tarmim.TarmimError.Storage):
        phones.open(data_dir=folder)
    held.tasks()


def test_server_down_calls_work_offline_and_sync_says_offline(phones, server):
    folder = phones.folder()
    first = phones.open(data_dir=folder)
    first.sync_now()
    tid = open_task_of_my_crew(first).id
    phones.close(first)
    del first

    # A fresh folder cannot learn who the login is without the server.
    with pytest.raises(tarmim.TarmimError.Offline):
        phones.open(url=dead_url())

    # A folder that has logged in before opens offline and works.
    offline = phones.open(data_dir=folder, url=dead_url())
    assert offline.account().login == server.login
    assert tid in {t.id for t in offline.tasks()}
    note = offline.add_note(tid, "written with no server")
    assert offline.pending_changes() == 1
    with pytest.raises(tarmim.TarmimError.Offline):
        offline.sync_now()
    with pytest.raises(tarmim.TarmimError.Offline):
        offline.set_on_duty(True)
    assert offline.pending_changes() == 1
    phones.close(offline)
    del offline

    # Back online: the note reaches the server.
    online = phones.open(data_dir=folder)
    report = online.sync_now()
    assert report.sent == 1 and report.acknowledged == 1 and report.pending_changes == 0
    other = phones.open(server.second_login, server.second_password)
    other.sync_now()
    assert note in {n.id for n in other.task(tid).notes}


class Recorder(tarmim.ChangeListener):
    def __init__(self):
        self.changed, self.removed, self.refused, self.states = [], [], [], []

    def on_tasks_changed(self, task_ids):
        self.changed.extend(task_ids)

    def on_tasks_removed(self, task_ids):
        self.removed.extend(task_ids)

    def on_change_refused(self, refused):
        self.refused.append(refused)

    def on_sync_state(self, state):
        self.states.append(state)


def test_field_report_is_routed_by_its_point_not_the_phones_guess(phones, server):
    # A crew's field report is accepted wherever it is (while unassigned it stays in the
    # filing crew's scope); the server routes it by its point, whatever district the
    # phone named, and nothing is refused. (Server refusals of forged or out-of-scope
    # changes are covered by sync-core's and the server's Rust tests.)
    a = phones.open()
    a.sync_now()
    listener = Recorder()
    a.set_listener(listener)
    home = a.report_task(tarmim.FieldReport(
        category="pothole", title="Pothole by the bus stop", description="found on the way",
        lat=35.70, lon=51.40, district="D01", priority=tarmim.TaskPriority.HIGH))
    foreign = a.report_task(tarmim.FieldReport(
        category="pothole", title="Pothole elsewhere", description="the phone guessed wrong",
        lat=35.70, lon=51.40, district=server.other_district, priority=tarmim.TaskPriority.NORMAL))
    assert {home, foreign} <= {t.id for t in a.tasks()}
    report = a.sync_now()
    assert report.refused == [] and report.acknowledged == 2 and report.pending_changes == 0
    assert listener.refused == []
    # The server's Routed event reaches the phone: both tasks end in the point's district.
    deadline = time.time() + 20
    while True:
        a.sync_now()
        districts = {a.task(home).district, a.task(foreign).district}
        if len(districts) == 1 and None not in districts:
            break
        assert time.time() < deadline, districts
        time.sleep(0.2)
    # The phone named two different districts for one point: the server overrode a guess.
    routed = districts.pop()
    assert server.other_district != "D01"
    # Another phone of the crew sees both as the server has them.
    fresh = phones.open(server.second_login, server.second_password)
    fresh.sync_now()
    fresh_ids = {t.id for t in fresh.tasks()}
    assert home in fresh_ids and foreign in fresh_ids
    assert fresh.task(foreign).district == routed