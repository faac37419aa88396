"""Concatenated messages: parts collected until the last one arrives, whichever bind carried
them. Bounded: at most MAX_OPEN messages wait at once, each for at most MAX_AGE seconds of the
emulator's clock; an incomplete message past that is dropped (its parts were answered, as a
real SMSC does, and it never reaches the journal)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_OPEN = 10_000
MAX_AGE = 600.0


@dataclass
class Pending:
    total: int
    started: float
    chunks: dict[int, bytes] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)
    registered_delivery: int = 0


class Assembler:
    def __init__(self) -> None:
        self._open: OrderedDict[tuple[Any, ...], Pending] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, key: tuple[Any, ...], total: int, seq: int, chunk: bytes, part_id: str, registered_delivery: int, now: float) -> Pending | None:
        """Keep one part; the whole message (parts in order) once every part is in."""
        self._expire(now)
        pending = self._open.get(key)
        if pending is None or pending.total != total:
            pending = self._open[key] = Pending(total, now)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        pending.chunks[seq] = chunk
        pending.ids[seq] = part_id
        pending.registered_delivery |= registered_delivery
        if len(pending.chunks) < total:
            return None
        del self._open[key]
        return pending

    def _expire(self, now: float) -> None:
        while self._open:
            key, oldest = next(iter(self._open.items()))
            if now - oldest.started <= MAX_AGE:
                break
            del self._open[key]

    def clear(self) -> None:
        self._open.clear()


def joined(pending: Pending) -> tuple[bytes, list[str]]:
    order = sorted(pending.chunks)
    return b"".join(pending.chunks[i] for i in order), [pending.ids[i] for i in order]
