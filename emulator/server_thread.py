"""msgemu served from a background thread of the current process (what the pytest fixture
starts): its own event loop, so synchronous and asynchronous tests alike can call it."""
from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from .app import build_app
from .listener import Budget, ListenerSite
from .settings import Settings


class ServerThread:
    def __init__(self, clock: str = "manual", host: str = "127.0.0.1") -> None:
        self.settings = Settings(host=host, port=0, clock=clock, access_log=False)
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.doors: list = []  # SMPP / SMTP front doors, when their ports are set
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="msgemu-server", daemon=True)

    def start(self) -> "ServerThread":
        self._thread.start()
        if not self._ready.wait(timeout=60):
            raise RuntimeError("msgemu did not start within 60 s")
        if self._error is not None:
            raise RuntimeError(f"msgemu did not start: {self._error}") from self._error
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
        # the OS picks a free port (no race); accepting as `msgemu serve` does (emulator/listener.py)
        site = ListenerSite(self._runner, self.settings.host, 0, Budget())
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.settings.port = port
        self.base = f"http://{host}:{port}"
        if self.settings.smpp_port or self.settings.smtp_port:
            from . import front_doors
            from .runtime import RUNTIME_KEY

            self.runtime = self._runner.app[RUNTIME_KEY]
            self.doors = await front_doors.start(self.runtime)

    def stop(self) -> None:
        for door in self.doors:
            asyncio.run_coroutine_threadsafe(door.stop(), self._loop).result(timeout=30)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
