"""Shared fixtures: an emulator app on a real aiohttp test server, on a manual clock."""
from __future__ import annotations

import itertools
import json
import threading
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

# emulator is imported where an app is built, not here: the xdist controller loads this file
# before it starts the workers and runs no test, so it does not pay for importing the server
if TYPE_CHECKING:
    from emulator.settings import Settings


# The files that take seconds, longest first (measured with `--durations`): real `msgemu serve`
# processes and their timeouts, a browser, fuzzing. pytest-xdist (--dist loadfile) hands files to the
# workers in collection order, so these go first and the short files fill in at the end: no
# core waits idle on one long file started last.
LONGEST_FIRST = (
    "test_shared_store_outage.py", "test_workers_restarts.py", "test_reliability_server.py", "test_listener.py",
    "test_shared_store_reload.py", "test_shared_store_commits.py", "test_workers.py", "test_ui.py",
    "test_validation.py", "test_reliability_store.py", "test_cli.py", "test_arrival_order.py", "test_gc_pacing.py",
    "test_shared_store_first_version.py", "test_shared_store_emptied.py", "test_smsc.py", "test_callbacks_outage.py",
    "test_robustness.py", "test_shared_store_inboxes.py", "test_smpp.py", "test_shared_store_restarts.py",
    "test_reliability_inputs.py", "test_shared_store.py", "test_pytest_plugin.py", "test_openapi.py",
    "test_verify.py", "test_operations.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): two workers per core. Most of the suite's wall time is
    spent waiting on real processes, sockets and timeouts (`msgemu serve`, Valkey, Chromium, idle
    and shutdown timeouts), not computing: a second worker per core computes meanwhile."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 * cores


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


def test_settings() -> Settings:
    from emulator.settings import Settings

    # callbacks to the docs' example hosts (example.org...) are journaled, never sent off this machine
    return Settings(clock="manual", watch_scenario=False, callback_backoff=1.0, callback_loopback_only=True)


test_settings.__test__ = False  # a helper, not a test


@pytest.fixture
def settings() -> Settings:
    return test_settings()


@asynccontextmanager
async def served_emulator() -> AsyncIterator[TestClient]:
    """One emulator on a real test server for a whole module to share (building one per test is
    most of a suite's time); its tests reset it before each test."""
    from emulator.app import build_app

    client = TestClient(TestServer(build_app(test_settings())))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(scope="module")
def threaded_emulator():
    """msgemu served from a background thread (what the pytest plugin starts), for a module's
    tests to share through the control API client."""
    from emulator.client import Msgemu
    from emulator.server_thread import ServerThread

    server = ServerThread().start()
    yield Msgemu(server.base)
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_emulator():
    """served_emulator() for a module's tests to share; take it through `fresh_emulator`."""
    async with served_emulator() as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def fresh_emulator(module_emulator):
    """The module's emulator, reset and with no scenario: what the per-test `client` below gives,
    without building an app per test."""
    for method, path in (("POST", "/_emulator/reset"), ("DELETE", "/_emulator/scenario")):
        response = await module_emulator.request(method, path)
        assert response.status == 200, await response.text()
    return module_emulator


@pytest.fixture
async def client(aiohttp_client, settings):
    """A client of the full emulator (all providers + control API) over real HTTP."""
    from emulator.app import build_app

    return await aiohttp_client(build_app(settings))


async def advance(client, seconds: float) -> dict:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status == 200, await response.text()
    return await response.json()


@asynccontextmanager
async def served_receiver(path: str, with_headers: bool = False) -> AsyncIterator[tuple[list, str]]:
    """A real callback receiver on a port of its own: (every JSON body it got, or (headers,
    body) pairs with `with_headers`; its URL). It answers 200 "ok"."""
    got: list = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        got.append((dict(request.headers), body) if with_headers else body)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield got, f"http://127.0.0.1:{server.port}{path}"
    finally:
        await server.close()


@contextmanager
def threaded_receiver(path: str) -> Iterator[tuple[str, list]]:
    """The application's own webhook receiver on this machine, in a thread (for tests whose
    emulator runs in another thread or process): (its URL, every JSON body POSTed to it)."""
    calls: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}", calls
    finally:
        server.shutdown()


# -- a Valkey/Redis server and `msgemu serve` processes on it (tests of --store and --workers) --------
@pytest.fixture(scope="module")
def valkey():
    from tests.valkey import ValkeyServer

    with ValkeyServer() as server:
        yield server


_databases = itertools.count(1)


@pytest.fixture
def store(valkey):
    """A fresh store URL per test (a database number of its own keeps tests apart)."""
    return valkey.url.rsplit("/", 1)[0] + f"/{next(_databases) % 16}"


@pytest.fixture
def serve():
    from tests.shared_store import Served

    started: list = []

    def start(*args: str, port: int | None = None) -> Served:
        served = Served(*args, port=port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
