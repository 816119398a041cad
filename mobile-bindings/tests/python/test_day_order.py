"""The crew's day order (issue 20 §5): computed on the phone from the synced jobs, with no
network, urgent jobs first; it follows the jobs as they change."""

import gc
import time

import pytest
import tarmim
from conftest import dead_url, work_on


def now_ms():
    return int(time.time() * 1000)


def test_day_order_lists_the_crews_open_jobs_offline(phones, server, photo_file):
    folder = phones.folder()
    online = phones.open(data_dir=folder)
    online.sync_now()
    crew = online.account().crew
    mine = {
        t.id
        for t in online.tasks()
        if t.assignee == crew
        and t.status
        in (
            tarmim.TaskStatus.ASSIGNED,
            tarmim.TaskStatus.ACKNOWLEDGED,
            tarmim.TaskStatus.IN_PROGRESS,
            tarmim.TaskStatus.PAUSED,
            tarmim.TaskStatus.REOPENED,
        )
    }
    assert mine, "the demo crew has open jobs"
    phones.close(online)
    del online
    gc.collect()

    # The same phone with no server at all: the plan is made from the store alone.
    phone = phones.open(data_dir=folder, url=dead_url())
    here = tarmim.Position(lat=35.70, lon=51.40, at_ms=now_ms(), accuracy_m=None)
    stops = phone.day_order(here)
    assert {s.task_id for s in stops} == mine
    assert len(stops) == len(mine)
    # Urgent jobs come before every other one.
    urgent = [i for i, s in enumerate(stops) if s.priority == tarmim.TaskPriority.URGENT]
    assert urgent == list(range(len(urgent))), [s.priority for s in stops]
    # The times run forward, one stop after the other.
    for before, after in zip(stops, stops[1:]):
        assert after.arrive_at_ms >= before.finish_at_ms
    assert all(s.travel_m >= 0 and s.late_ms >= 0 for s in stops)
    assert all(s.title for s in stops)

    # A job completed on the phone (still offline) leaves the order at once.
    first = stops[0].task_id
    work_on(phone, first)
    phone.add_photo(first, photo_file(7), tarmim.PhotoKind.AFTER, None, None, None)
    phone.complete(first, [])
    after = [s.task_id for s in phone.day_order(here)]
    assert first not in after
    assert set(after) == mine - {first}


def test_day_order_refuses_a_point_off_the_globe(phones, server):
    phone = phones.open()
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        phone.day_order(tarmim.Position(lat=95.0, lon=51.4, at_ms=now_ms(), accuracy_m=None))
    with pytest.raises(tarmim.TarmimError.InvalidInput):
        phone.day_order(tarmim.Position(lat=float("nan"), lon=51.4, at_ms=now_ms(), accuracy_m=None))
