"""What the built-in receiver got: bounded in names, calls per name and bytes in all.

Past a bound the oldest calls go first (a name unused the longest when there are too many
names); a large body is kept truncated, with its real size. Eviction is counted, so a test
can tell "never received" from "received, then evicted".
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

MAX_NAMES = 100
CALLS_PER_NAME = 1000
MAX_BYTES = 32 * 1024 * 1024
BODY_KEPT = 64 * 1024
HEADERS_KEPT = 50
HEADER_VALUE_KEPT = 1024


def call_size(call: dict[str, Any]) -> int:
    """About how many bytes a kept call costs (its strings; fixed overhead for the rest)."""
    headers = call.get("headers", {})
    return 256 + len(call.get("body", "")) + len(call.get("query", "")) + sum(len(k) + len(v) for k, v in headers.items())


class ReceivedCalls:
    def __init__(self, max_names: int = MAX_NAMES, per_name: int = CALLS_PER_NAME, max_bytes: int = MAX_BYTES) -> None:
        self.max_names = max_names
        self.per_name = per_name
        self.max_bytes = max_bytes
        self.clear()

    def clear(self) -> None:
        self._names: OrderedDict[str, deque[tuple[int, dict[str, Any]]]] = OrderedDict()
        self._counts: dict[str, int] = {}
        self._order: deque[tuple[str, dict[str, Any]]] = deque()  # every kept call, oldest first
        self.bytes = 0
        self.evicted = 0
        self._live = 0

    def next_number(self, name: str) -> int:
        """The number the next call to `name` will get (1, 2...; counts evicted calls too)."""
        return self._counts.get(name, 0) + 1

    def record(self, name: str, call: dict[str, Any]) -> None:
        if name not in self._names:
            while len(self._names) >= self.max_names:
                self.drop(next(iter(self._names)), evicted=True)
            self._names[name] = deque()
        self._names.move_to_end(name)
        self._counts[name] = self._counts.get(name, 0) + 1
        size = call_size(call)
        calls = self._names[name]
        calls.append((size, call))
        self._order.append((name, call))
        self.bytes += size
        self._live += 1
        while len(calls) > self.per_name:
            self._forget_oldest_of(name)
        while self.bytes > self.max_bytes and self._order:
            oldest_name, oldest = self._order[0]
            kept = self._names.get(oldest_name)
            if kept and kept[0][1] is oldest:
                self._forget_oldest_of(oldest_name)
            else:
                self._order.popleft()  # already gone with its name or its name's cap
        if len(self._order) > 2 * self._live + 64:  # drop the stale entries, in arrival order
            live = {id(call) for kept in self._names.values() for _, call in kept}
            self._order = deque(entry for entry in self._order if id(entry[1]) in live)

    def _forget_oldest_of(self, name: str) -> None:
        size, call = self._names[name].popleft()
        self.bytes -= size
        self.evicted += 1
        self._live -= 1
        if self._order and self._order[0][1] is call:
            self._order.popleft()

    def calls(self, name: str) -> list[dict[str, Any]]:
        return [call for _, call in self._names.get(name, ())]

    def drop(self, name: str, evicted: bool = False) -> None:
        calls = self._names.pop(name, None) or ()
        for size, _ in calls:
            self.bytes -= size
        self._live -= len(calls)
        if evicted:
            self.evicted += len(calls)
        self._counts.pop(name, None)
        if not self._names:
            self._order.clear()

    def stats(self) -> dict[str, int]:
        return {"names": len(self._names), "calls": self._live, "bytes": self.bytes, "evicted": self.evicted}
