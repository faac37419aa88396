"""The access log: one line per request, cheap enough to leave on under load.

aiohttp's own access logger goes through `logging` for every request (a record, a format, a
write and a flush each): at 2-3k requests/s that was a quarter of msgemu's CPU. This one
formats a line with one f-string, buffers it, and writes the buffer to stderr at most every
FLUSH_SECONDS, in the same layout as the rest of msgemu's log. With `access_log: false`
aiohttp is given no logger at all and does no per-request work for it.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

FLUSH_SECONDS = 0.2
_pending: list[str] = []
_flush_handle: asyncio.TimerHandle | None = None
_stamp = [0, ""]  # the second last formatted, and its text


class AccessLog(AbstractAccessLogger):
    """`<time> INFO aiohttp.access: <remote> "<request line>" <status> <bytes> <seconds>s`."""

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        now = time.time()
        second = int(now)
        if second != _stamp[0]:
            _stamp[0], _stamp[1] = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        version = request.version
        _pending.append(
            f'{_stamp[1]},{int(now % 1 * 1000):03d} INFO {self.logger.name}: {request.remote} '
            f'"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}" '
            f"{response.status} {response.body_length} {time_taken:.6f}s\n"
        )
        global _flush_handle
        if _flush_handle is None:
            _flush_handle = asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def flush() -> None:
    """Write what is buffered (also called on exit, so no line is lost)."""
    global _flush_handle
    if _flush_handle is not None:
        _flush_handle.cancel()
        _flush_handle = None
    if _pending:
        text = "".join(_pending)
        _pending.clear()
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: the lines have nowhere to go
            pass
