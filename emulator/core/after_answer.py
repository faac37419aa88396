"""Work a request may leave until its answer is written: the client's wait ends with what the
answer depends on, not with what follows it (a message's filing in the store's phone lists
and journal, its first event, its first channel started).

The HTTP layer opens a hold around a provider request and releases it right after the answer
is written (memory store), in the same synchronous run: nothing else runs in between, so
nothing can tell the work was held. With a shared store the answer waits for the commit, so
the hold is released when the handler is done, before the commit: a message's first version
in the store then has its first channel started, and its start never goes through the store's
timers (one version, one timer and one claim less a send). Whatever happens meanwhile, held work runs at the
latest on the next turn of the event loop (when the handler waits for something, a fault
delays the answer, the client's socket is full, the client hung up), which is when a timer
due now would have run it: nothing held is ever lost or later than that.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from contextvars import ContextVar, Token
from typing import Any, Callable

from .store_outage import StoreAway

log = logging.getLogger("msgemu.engine")


class Hold:
    """The work held for one request, run once (in the order it was held)."""

    __slots__ = ("work", "open", "_soon", "_token")

    def __init__(self) -> None:
        self.work: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.open = True
        self._soon: asyncio.Handle | None = None
        self._token: Token | None = None

    def add(self, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self._soon is None:  # the next loop turn at the latest
            self._soon = _running_loop().call_soon(self.run)
        self.work.append((work, args))

    def run(self) -> None:
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None
        work, self.work = self.work, []
        for function, args in work:
            try:
                function(*args)
            except StoreAway:  # (a shared store away for long: said once, by the store)
                pass
            except Exception:  # one broken piece must not keep the others from running
                log.exception("work held until the answer failed")


_HOLD: ContextVar[Hold | None] = ContextVar("msgemu_hold", default=None)


def hold() -> Hold:
    """Hold work from here on (in this task) until release()."""
    held = Hold()
    held._token = _HOLD.set(held)
    return held


def release(held: Hold) -> None:
    """The answer is out (or will not be): run what was held; work offered later runs at once."""
    held.open = False
    if held._token is not None:
        _HOLD.reset(held._token)
        held._token = None
    held.run()


def open_hold() -> Hold | None:
    """The hold of the request being handled while it takes work (Hold.add), else None (no
    request, or a task started by a request already answered)."""
    held = _HOLD.get()
    return held if held is not None and held.open else None


def later(work: Callable[..., Any], *args: Any) -> bool:
    """Hold `work(*args)` until the answer of the request being handled is written; False when
    no request holds work (then the caller does it now)."""
    held = open_hold()
    if held is None:
        return False
    held.add(work, args)
    return True


_this_thread = threading.local()


def _running_loop() -> asyncio.AbstractEventLoop:
    """asyncio.get_running_loop() without its system call: CPython 3.11 asks the kernel for the
    process id at every call (to tell a forked child), once a send here. The loop is remembered
    per thread while it runs (a thread runs one loop at a time) and forgotten in a forked child."""
    loop = getattr(_this_thread, "loop", None)
    if loop is None or not loop.is_running():
        loop = _this_thread.loop = asyncio.get_running_loop()
    return loop


def _forget_loop_after_fork() -> None:
    _this_thread.loop = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loop_after_fork)
