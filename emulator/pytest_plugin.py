"""pytest plugin (entry point `pytest11`): the `msgemu` fixture.

One emulator per test session, on a free port of 127.0.0.1, served from a background thread so
that sync and async tests alike can use it; reset before every test, so tests stay isolated.
The application under test gets `msgemu.url("smsc")` as its provider base URL.

    def test_login_sends_an_otp(msgemu, app):
        app.settings.SMSC_URL = msgemu.url("smsc") + "/sys/"
        app.request_login("+79001234567")
        assert msgemu.wait_otp("+79001234567") == app.last_code_shown()
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from .app import build_app
from .settings import Settings


class MsgemuServer:
    """A running emulator and a small synchronous client of its control API."""

    def __init__(self, clock: str = "manual") -> None:
        self.settings = Settings(port=_free_port(), clock=clock, access_log=False)
        self.base = f"http://127.0.0.1:{self.settings.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="msgemu-server", daemon=True)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "MsgemuServer":
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("msgemu did not start") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # surfaced in start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(build_app(self.settings), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.settings.port).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    # -- what tests use ---------------------------------------------------------------------
    def url(self, provider: str = "") -> str:
        """Base URL to give the application under test instead of the provider's host."""
        return f"{self.base}/{provider}" if provider else self.base

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Messages "sent" so far (filters: provider, phone, channel, status, account)."""
        return self._call("GET", "/_emulator/messages", query=filters)["messages"]

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "/_emulator/requests", query=filters)["requests"]

    def callbacks(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "/_emulator/callbacks", query=filters)["callbacks"]

    def wait_message(self, phone: str, timeout: float = 10, **filters: Any) -> dict[str, Any]:
        return self._call("GET", "/_emulator/messages/wait", query={"phone": phone, "timeout": timeout, **filters}, timeout=timeout + 5)

    def wait_otp(self, phone: str, timeout: float = 10, **filters: Any) -> str | None:
        """The one-time code of the (latest) message to `phone`, waiting up to `timeout` s."""
        return self.wait_message(phone, timeout, **filters)["otp"]

    def load_scenario(self, scenario: str | Path) -> dict[str, Any]:
        """A scenario file path, or its YAML text."""
        text = Path(scenario).read_text(encoding="utf-8") if _is_path(scenario) else str(scenario)
        return self._call("PUT", "/_emulator/scenario", body=text.encode("utf-8"))

    def clear_scenario(self) -> None:
        self._call("DELETE", "/_emulator/scenario")

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the virtual clock; every status change and callback due fires before it returns."""
        return self._call("POST", "/_emulator/clock/advance", body=json.dumps({"seconds": seconds}).encode())

    def set_account(self, provider: str, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/_emulator/accounts/{provider}", body=json.dumps(changes).encode())

    def reply(self, phone: str, text: str, provider: str | None = None) -> dict[str, Any]:
        body = {"phone": phone, "text": text, **({"provider": provider} if provider else {})}
        return self._call("POST", "/_emulator/inbound", body=json.dumps(body).encode())

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset")
        self.clear_scenario()

    def _call(self, method: str, path: str, query: dict[str, Any] | None = None, body: bytes | None = None, timeout: float = 30) -> Any:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"X-Msgemu-Request": "1"}  # the control API refuses bodies a web page could forge
        if body is not None:
            headers["Content-Type"] = "application/yaml" if path == "/_emulator/scenario" else "application/json"
        if self.settings.control_token:
            headers["Authorization"] = f"Bearer {self.settings.control_token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise AssertionError(f"msgemu {method} {path} -> {exc.code}: {detail}") from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_path(value: str | Path) -> bool:
    return isinstance(value, Path) or ("\n" not in value and Path(value).is_file())


@pytest.fixture(scope="session")
def msgemu_server() -> Iterator[MsgemuServer]:
    server = MsgemuServer().start()
    yield server
    server.stop()


@pytest.fixture
def msgemu(msgemu_server: MsgemuServer) -> Iterator[MsgemuServer]:
    """The emulator, reset (no messages, demo accounts, no scenario) for this test."""
    msgemu_server.reset()
    yield msgemu_server
