"""pytest plugin (entry point `pytest11`): the `msgemu` fixture.

Installed with msgemu, so it is loaded into every pytest run of that environment: importing it
costs nothing (os, pathlib, typing; the client and the server are imported the first time a test
asks for the fixture) and it adds nothing but two options and two fixtures to a project that does not use it.

One emulator per test session, reset before every test. Either started here, on a free port of
127.0.0.1 in a background thread (sync and async tests alike can use it), or an already running
one (`--msgemu-url` / `MSGEMU_URL`: a container, a CI service, a `msgemu serve` of your own).
The fixture is an `emulator.client.Msgemu`; the application under test gets `msgemu.url("smsc")`
as its provider base URL.

    def test_login_sends_an_otp(msgemu, app):
        app.settings.SMSC_URL = msgemu.url("smsc") + "/sys/"
        app.request_login("+79001234567")
        assert msgemu.wait_otp("+79001234567") == app.last_code_shown()

ini options (pytest.ini / pyproject `[tool.pytest.ini_options]`):
    msgemu_clock = manual | real    clock of the emulator started here (default: manual)
    msgemu_scenario = path.yaml     scenario loaded before every test (relative to the rootdir)
    msgemu_wait = 10                seconds to wait for the msgemu at --msgemu-url to answer
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:  # imported for real only when a test uses the fixture
    from .client import Msgemu
    from .server_thread import ServerThread


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msgemu", "msgemu messaging-provider emulator")
    group.addoption(
        "--msgemu-url",
        default=None,
        help="use the msgemu running at this URL instead of starting one (env MSGEMU_URL)",
    )
    parser.addini("msgemu_clock", "clock of the msgemu the fixture starts: manual (default) or real", default="manual")
    parser.addini("msgemu_scenario", "scenario file loaded before every test using the msgemu fixture", default="")
    parser.addini("msgemu_wait", "seconds to wait for the msgemu at --msgemu-url to answer (default 10)", default="10")


@pytest.fixture(scope="session")
def msgemu_server(pytestconfig: pytest.Config) -> Iterator[Msgemu]:
    """The session's emulator: the one at --msgemu-url / MSGEMU_URL, or one started here."""
    from .client import Msgemu  # the fixture's imports are paid only by tests that use it

    url = pytestconfig.getoption("msgemu_url") or os.environ.get("MSGEMU_URL")
    if url:
        client = Msgemu(url)
        try:
            client.wait_ready(timeout=float(pytestconfig.getini("msgemu_wait")))
        except (OSError, AssertionError) as exc:
            pytest.fail(f"msgemu: nothing answers at {url} ({exc})", pytrace=False)
        yield client
        return
    from .server_thread import ServerThread  # the server's imports, paid only here too

    server: ServerThread = ServerThread(clock=str(pytestconfig.getini("msgemu_clock") or "manual")).start()
    try:
        yield Msgemu(server.base)
    finally:
        server.stop()


@pytest.fixture
def msgemu(msgemu_server: Msgemu, pytestconfig: pytest.Config) -> Iterator[Msgemu]:
    """The emulator, reset (no messages, demo accounts, the ini scenario or none) for this test."""
    msgemu_server.reset()
    scenario = str(pytestconfig.getini("msgemu_scenario") or "")
    if scenario:
        msgemu_server.load_scenario(Path(pytestconfig.rootpath, scenario))
    yield msgemu_server
