"""Fixtures for the Python tests of the generated bindings.

`tests/suites/bindings.sh` generates the bindings into a folder (TARMIM_BINDINGS_PY, with
`tarmim.py` and `libtarmim_mobile.so`) and starts a real tarmim-server with the demo city;
these fixtures read where from the environment. Each phone is a real `TarmimClient` on its
own temporary data folder.
"""

import gc
import os
import socket
import struct
import sys
import zlib

import pytest

sys.path.insert(0, os.environ["TARMIM_BINDINGS_PY"])
import tarmim  # noqa: E402  (generated; found through the path above)


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through tests/suites/bindings.sh")
    return value


class Server:
    url = env("TARMIM_TEST_URL")
    login = env("TARMIM_TEST_LOGIN")
    password = env("TARMIM_TEST_PASSWORD")
    second_login = env("TARMIM_TEST_SECOND_LOGIN")
    second_password = env("TARMIM_TEST_SECOND_PASSWORD")
    other_district = env("TARMIM_TEST_OTHER_DISTRICT")


@pytest.fixture
def server():
    return Server


def server_takes_uploads():
    """Whether the server implements the tus photo upload endpoint (`OPTIONS` → 204)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(Server.url + "/api/v1/photos/uploads", method="OPTIONS")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status == 204 and resp.headers.get("Tus-Version") == "1.0.0"
    except urllib.error.HTTPError:
        return False


def dead_url():
    """A loopback URL nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


class Phones:
    """Opens clients on fresh folders under tmp_path and closes them all at the end."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.clients = []
        self.n = 0

    def folder(self):
        self.n += 1
        return str(self.tmp_path / f"phone-{self.n}")

    def open(self, login=None, password=None, data_dir=None, url=None, http_only=False):
        client = tarmim.TarmimClient.open(
            tarmim.ClientConfig(
                data_dir=data_dir or self.folder(),
                server_url=url if url is not None else Server.url,
                login=login or Server.login,
                password=password if password is not None else Server.password,
                http_only=http_only,
            )
        )
        self.clients.append(client)
        return client

    def close(self, client):
        """Stops a client and forgets it here; once the caller drops its own reference
        too (`del`), the client is freed and its data folder can be opened again."""
        self.clients = [c for c in self.clients if c is not client]
        client.stop_sync()
        del client
        gc.collect()

    def close_all(self):
        for c in self.clients:
            c.stop_sync()
        self.clients.clear()
        gc.collect()


@pytest.fixture
def phones(tmp_path):
    p = Phones(tmp_path)
    yield p
    p.close_all()


def png(seed: int) -> bytes:
    """A small valid PNG whose pixels depend on `seed` (so each seed is another photo)."""
    width, height = 8, 8
    raw = b"".join(b"\x00" + bytes((seed * 31 + x * 7 + y) % 256 for x in range(width * 3)) for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.fixture
def photo_file(tmp_path):
    def make(seed):
        path = tmp_path / f"photo-{seed}.png"
        path.write_bytes(png(seed))
        return str(path)

    return make


OPEN = {
    tarmim.TaskStatus.ASSIGNED,
    tarmim.TaskStatus.ACKNOWLEDGED,
    tarmim.TaskStatus.IN_PROGRESS,
    tarmim.TaskStatus.PAUSED,
}


def open_task_of_my_crew(client):
    """An open job of the client's crew (the demo city gives each crew a few)."""
    crew = client.account().crew
    mine = [t for t in client.tasks() if t.assignee == crew and t.status in OPEN]
    assert mine, f"crew {crew} has no open task left: {client.tasks()}"
    order = [tarmim.TaskStatus.ASSIGNED, tarmim.TaskStatus.ACKNOWLEDGED, tarmim.TaskStatus.PAUSED, tarmim.TaskStatus.IN_PROGRESS]
    return sorted(mine, key=lambda t: (order.index(t.status), t.id))[0]


def work_on(client, task_id):
    """Brings a task to in progress through the crew's own steps."""
    status = client.task(task_id).status
    if status == tarmim.TaskStatus.ASSIGNED:
        client.acknowledge(task_id)
    if client.task(task_id).status != tarmim.TaskStatus.IN_PROGRESS:
        client.start(task_id)
    assert client.task(task_id).status == tarmim.TaskStatus.IN_PROGRESS
