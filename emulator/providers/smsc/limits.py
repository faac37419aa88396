"""SMSC's protective limits: identical requests per minute (error 9), concurrent requests per
login (error 9), and an IP blocked after repeated errors (error 4).

Windows run on the emulator clock, so `--clock manual` tests move them with advance(). The
state is forgotten on POST /_emulator/reset (the provider's reset() calls clear()).
"""
from __future__ import annotations

from collections import deque
from typing import Hashable

from ...core.engine import Engine

CONCURRENT_LIMIT = 15  # "fifteen or more requests at once under one login" [DOC seed, D2]
BAD_LOGINS_PER_MINUTE = 10  # GUESS: SMSC says only "frequent errors" [DOC D2]
IP_BLOCK_SECONDS = 600.0  # GUESS: "temporarily blocked", duration not published
PRUNE_EVERY = 1000  # counts between two sweeps of expired IP blocks


class _Window:
    """Every hit of one window length, oldest first, and how many each key has in it: a hit
    leaves when the window has passed it, so memory holds one window of traffic, and a
    distinct request (every send has its own text) costs a tuple, not a deque of its own."""

    __slots__ = ("hits", "counts", "latest")

    def __init__(self) -> None:
        self.hits: deque[tuple[float, Hashable]] = deque()
        self.counts: dict[Hashable, int] = {}
        self.latest = float("-inf")


class Limits:
    def __init__(self, engine: Engine, provider: str) -> None:
        self.engine = engine
        self.provider = provider
        self._windows: dict[float, _Window] = {}
        self._blocked_until: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._counted = 0

    def clear(self) -> None:
        self._windows.clear()
        self._blocked_until.clear()

    def count(self, key: Hashable, window: float = 60.0) -> int:
        """Record one more request under `key`; how many fell within the last `window` seconds.
        Hits are kept in arrival order; should the wall clock step back, a hit counts as made at
        the latest time seen so far, so the oldest hit is always first."""
        now = self.engine.clock.now()
        found = self._windows.get(window)
        if found is None:
            found = self._windows[window] = _Window()
        hits, counts = found.hits, found.counts
        while hits and now - hits[0][0] >= window:
            _, old = hits.popleft()
            left = counts[old] - 1
            if left:
                counts[old] = left
            else:
                del counts[old]
        if now > found.latest:
            found.latest = now
        hits.append((found.latest, key))
        counts[key] = seen = counts.get(key, 0) + 1
        self._counted += 1
        if self._counted % PRUNE_EVERY == 0:
            self._prune(now)
        return seen

    def _prune(self, now: float) -> None:
        for key in [k for k, until in self._blocked_until.items() if until < now]:
            del self._blocked_until[key]

    def block(self, key: str, seconds: float = IP_BLOCK_SECONDS) -> None:
        self._blocked_until[key] = self.engine.clock.now() + seconds

    def blocked(self, key: str) -> bool:
        if not self._blocked_until:  # nothing blocked: no clock read
            return False
        until = self._blocked_until.get(key)
        return until is not None and self.engine.clock.now() < until

    def bad_login(self, ip: str) -> None:
        """One more failed authentication from `ip`; too many in a minute blocks it."""
        if self.count(f"bad-login:{ip}") >= BAD_LOGINS_PER_MINUTE:
            self.block(f"ip:{ip}")

    def ip_blocked(self, ip: str) -> bool:
        return bool(self._blocked_until) and self.blocked(f"ip:{ip}")  # nothing blocked: no key built

    # -- requests being served right now, per login --------------------------------------------
    def enter(self, login: str) -> int:
        self._in_flight[login] = self._in_flight.get(login, 0) + 1
        return self._in_flight[login]

    def leave(self, login: str) -> None:
        left = self._in_flight.get(login, 0) - 1
        if left > 0:
            self._in_flight[login] = left
        else:
            self._in_flight.pop(login, None)
