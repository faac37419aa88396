"""SMSC's protective limits: identical requests per minute (error 9), concurrent requests per
login (error 9), and an IP blocked after repeated errors (error 4).

Windows run on the emulator clock, so `--clock manual` tests move them with advance(). The
state is forgotten on POST /_emulator/reset (the provider's reset() calls clear()).
"""
from __future__ import annotations

from collections import deque

from ...core.engine import Engine

CONCURRENT_LIMIT = 15  # "fifteen or more requests at once under one login" [DOC seed, D2]
BAD_LOGINS_PER_MINUTE = 10  # GUESS: SMSC says only "frequent errors" [DOC D2]
IP_BLOCK_SECONDS = 600.0  # GUESS: "temporarily blocked", duration not published
FORGET_AFTER = 3600.0  # windows are at most a minute: older keys are dropped (flat memory)
PRUNE_EVERY = 1000


class Limits:
    def __init__(self, engine: Engine, provider: str) -> None:
        self.engine = engine
        self.provider = provider
        self._hits: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._counted = 0

    def clear(self) -> None:
        self._hits.clear()
        self._blocked_until.clear()

    def count(self, key: str, window: float = 60.0) -> int:
        """Record one more request under `key`; how many fell within the last `window` seconds."""
        now = self.engine.clock.now()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= window:
            hits.popleft()
        hits.append(now)
        self._counted += 1
        if self._counted % PRUNE_EVERY == 0:
            self._prune(now)
        return len(hits)

    def _prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or now - h[-1] > FORGET_AFTER]:
            del self._hits[key]
        for key in [k for k, until in self._blocked_until.items() if until < now]:
            del self._blocked_until[key]

    def block(self, key: str, seconds: float = IP_BLOCK_SECONDS) -> None:
        self._blocked_until[key] = self.engine.clock.now() + seconds

    def blocked(self, key: str) -> bool:
        until = self._blocked_until.get(key)
        return until is not None and self.engine.clock.now() < until

    def bad_login(self, ip: str) -> None:
        """One more failed authentication from `ip`; too many in a minute blocks it."""
        if self.count(f"bad-login:{ip}") >= BAD_LOGINS_PER_MINUTE:
            self.block(f"ip:{ip}")

    def ip_blocked(self, ip: str) -> bool:
        return self.blocked(f"ip:{ip}")

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
