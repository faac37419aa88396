"""What the tests of `--store redis://` and `--workers` share: a Valkey/Redis server of their own
(tests/valkey.py), `msgemu serve` processes started on it, and sends through them; for the tests
of RedisStore itself, a journal record, a client to look into the store (`spy`) and stores opened
on either connection (`opened`)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from emulator.client import Msgemu
from emulator.core.model import RequestRecord
from emulator.core.redis_store import RedisStore
from tests.valkey import free_port, server_binary

needs_valkey = pytest.mark.skipif(server_binary() is None, reason="no valkey-server/redis-server: bash .ci/valkey installs one")

HYBER_AUTH = {"Authorization": "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"}  # demo:demo-password


def record(store, path: str) -> RequestRecord:
    """A journal record of an accepted AlphaSMS request to `path`: the smallest change to commit."""
    return RequestRecord(id=store.new_request_id(), at=1.0, provider="alphasms", method="POST", path=path,
                         query="", headers={}, body="{}", status=200, response="{}", outcome="accepted")


@pytest.fixture
async def spy(store):
    """A plain redis-py client on the test's (emptied) Valkey, to see what the stores wrote."""
    from redis import asyncio as client

    redis = client.from_url(store)
    await redis.flushdb()
    yield redis
    await redis.aclose()


@pytest.fixture(params=["hiredis link", "redis-py"])
def opened(request):
    """Stores that commit and read the feed through their own hiredis connections (the default)
    or, as without hiredis or over TLS, through redis-py."""

    async def open_one(url: str) -> RedisStore:
        store = RedisStore(url)
        if request.param == "redis-py":
            store._commits_link = store._feed_link = None
        await store.open()
        return store

    return open_one


class Served:
    """One `msgemu serve` process (or process group with --workers). Its output is read by a
    thread as it comes: readiness is the start line (printed once every worker listens), and
    stopping never waits on a pipe that a stray process might hold."""

    def __init__(self, *args: str, port: int | None = None, wait: bool = True) -> None:
        self.port = port or free_port()
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.port), "--callback-loopback-only", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._lines: list[str] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.client = Msgemu(f"http://127.0.0.1:{self.port}", timeout=10)
        if wait:
            self.ready()

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line)
            if " ready" in line and line.startswith("msgemu "):
                self._started.set()
        self._started.set()  # the process ended (ready() then says why)

    def ready(self) -> "Served":
        """Wait for the start line (start several with wait=False first: they start side by side)."""
        if not self._started.wait(30) or self.proc.poll() is not None:
            self.stop()
            raise AssertionError("msgemu did not start:\n" + self.output)
        self.client.wait_ready(10)
        return self

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._lines.append("\n(did not stop within 30 s of SIGTERM: killed)\n")
        self._reader.join(timeout=5)  # workers end with their parent (the lifeline): EOF follows
        return self.output

    def post(self, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.client.url() + path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decoded(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decoded(exc.read())

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(self.client.url() + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())


def _decoded(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")  # (the built-in receiver answers plain text)


def hyber_send(served: Served, phone: str, hook: str | None = None, text: str = "Your code is 4711") -> str:
    body = {"phone_number": int(phone), "channels": ["sms"], "channel_options": {"sms": {"text": text, "alpha_name": "GMSU", "ttl": 300}}}
    if hook:
        body["callback_url"] = hook
    status, answer = served.post("/hyber/1000", body, HYBER_AUTH)
    assert status == 200, answer
    return str(answer["message_id"])


async def until_listed(copy: RedisStore, path: str, tries: int = 50) -> None:
    """Sync `copy` until it lists a request to `path` (another process's commit, brought by the
    feed), at most `tries` times 0.05 s: the test asserts what it then lists."""
    for _ in range(tries):
        await copy.sync()
        if any(r.path == path for r in copy.requests):
            return
        await asyncio.sleep(0.05)


def served_pair(store: str) -> tuple[Served, Served]:
    """Two `msgemu serve` processes (no --workers) on the store, emptied first, started side by side."""
    import redis

    redis.Redis.from_url(store).flushdb()
    here = Served("--store", store, wait=False)
    there = Served("--store", store).ready()
    return here.ready(), there


def wait_every_worker_lists(served: Served, expected: dict[str, str], seconds: float, reads: int = 6, why: str = "") -> None:
    """Until `reads` reads of the Hyber messages (a new connection each: SO_REUSEPORT spreads them
    over the workers) all list exactly `expected` (provider id -> status), or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        views = [{m["provider_id"]: m["status"] for m in served.client.messages(provider="hyber", limit=1000)}
                 for _ in range(reads)]
        if all(view == expected for view in views):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{why or 'not every worker lists what it should'}: {views}\n{served.output}")
        time.sleep(0.2)


def smsc_send(served: Served, phone: str, text: str) -> dict:
    body = urllib.parse.urlencode({"login": "demo", "psw": "demo-password", "phones": phone, "mes": text, "fmt": "3"})
    with urllib.request.urlopen(served.client.url() + "/smsc/sys/send.php", body.encode(), timeout=10) as response:
        return json.loads(response.read())


