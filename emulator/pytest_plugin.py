"""pytest plugin (entry point `pytest11`): the `msgemu` fixture.

Installed with msgemu, so it is loaded into every pytest run of that environment: importing it
costs nothing (os, pathlib, typing; the client and the server are imported the first time a test
asks for the fixture) and it adds nothing but its options and fixtures to a project that does not use it.

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
    msgemu_namespace = off | test | worker
                                    test: `msgemu` is a fresh namespace per test (deleted after it);
                                    worker: one namespace per session (per xdist worker), reset
                                    before every test; off (default): the whole emulator, reset
    The `msgemu_namespace` fixture is a fresh namespace for one test whatever the ini says. A
    namespaced client hands the application its own credentials: `msgemu.credentials("smsc")`.
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
    parser.addini(
        "msgemu_namespace",
        "off (default): msgemu is the whole emulator, reset before every test; test: a fresh namespace "
        "per test; worker: one namespace per session (xdist worker), reset before every test",
        default="off",
    )
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


NAMESPACE_MODES = ("off", "test", "worker")


def _namespace_mode(pytestconfig: pytest.Config) -> str:
    mode = str(pytestconfig.getini("msgemu_namespace") or "off").strip().lower()
    if mode not in NAMESPACE_MODES:
        pytest.fail(f"msgemu_namespace = {mode!r}: expected one of {', '.join(NAMESPACE_MODES)}", pytrace=False)
    return mode


def _prepared(client: Msgemu, pytestconfig: pytest.Config) -> Msgemu:
    """Reset, then the ini scenario (if any) loaded: what every test starts from."""
    client.reset()
    scenario = str(pytestconfig.getini("msgemu_scenario") or "")
    if scenario:
        client.load_scenario(Path(pytestconfig.rootpath, scenario))
    return client


@pytest.fixture(scope="session")
def msgemu_worker_namespace(msgemu_server: Msgemu) -> Iterator[Msgemu]:
    """One namespace for this session (each xdist worker is a session of its own)."""
    namespace = msgemu_server.namespace()
    yield namespace
    _delete_quietly(namespace)


@pytest.fixture
def msgemu_namespace(msgemu_server: Msgemu, pytestconfig: pytest.Config) -> Iterator[Msgemu]:
    """A fresh namespace of the session's emulator for this test: its own credentials per
    provider (`.credentials("smsc")`), messages, balances and scenario; deleted afterwards."""
    namespace = _prepared(msgemu_server.namespace(), pytestconfig)
    yield namespace
    _delete_quietly(namespace)


def _delete_quietly(namespace: Msgemu) -> None:
    try:
        namespace.delete()  # type: ignore[attr-defined]
    except (OSError, AssertionError):
        pass  # the emulator went away first: nothing left to clean


@pytest.fixture
def msgemu(msgemu_server: Msgemu, pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Iterator[Msgemu]:
    """The emulator, reset (no messages, demo accounts, the ini scenario or none) for this test;
    with `msgemu_namespace = test | worker`, a namespace of it instead (see the module doc)."""
    mode = _namespace_mode(pytestconfig)
    if mode == "test":
        yield request.getfixturevalue("msgemu_namespace")
    elif mode == "worker":
        yield _prepared(request.getfixturevalue("msgemu_worker_namespace"), pytestconfig)
    else:
        yield _prepared(msgemu_server, pytestconfig)
