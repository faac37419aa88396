"""The garbage collector of `msgemu serve`: small young collections, survivors frozen, and
paced by the event loop so that no collection ever meets a large young generation.

A young collection looks only at what was allocated since the last one: whatever survives it
is frozen (moved out of the generations the collector scans), so no pause grows with the
store's size. Frozen objects are still freed by reference counting when the store lets them go;
only reference cycles that become garbage after surviving a collection would stay.

CPython starts a young collection when its count (tracked objects allocated minus tracked
objects freed) passes the threshold, and every free counts, also of an object frozen long ago.
Once the store's retention is full, each send frees about as many old objects (the evicted
message, its events, its journal record) as it keeps new ones: the count stays near zero,
collections stop, and the young generation grows until a collection meets all of it. Measured
(AlphaSMS under wrk -c50, 2026-11-24) once the store was full: young collections of 240k-860k
objects at the default retention, 1.7 M at --retention 1000000; benchmarks/gc_pauses.py
--retention: the longest 0.23-0.30 s, every request in flight waiting (p99 146-206 ms, against
17-22 ms with the pacer). So the Pacer runs a young
collection itself whenever none ran for PACE seconds: the young generation then holds at most
what PACE seconds allocate.
"""
from __future__ import annotations

import asyncio
import gc
import time

# Small and frequent beats large and rare: a pause lands on every request in flight, so at 50
# connections p99 is set by the few longest. AlphaSMS under wrk -c50, CPU per collection:
# 5,000 -> p50 0.95 / max 2.2 ms; 1,000 -> p50 0.30 / max 0.8 ms, for +1.4 us of GC a send.
YOUNG_THRESHOLD = 1_000
# PACE: the longest a young generation grows without a collection while sends come. In a steady
# state of AlphaSMS sends (retention full, ~4,500/s, benchmarks/gc_pauses.py --retention 20000):
# 10 ms -> pauses p50 0.68 / max 1.96 ms; 20 ms -> 1.49 / 4.13 ms; 5 ms -> 0.45 / 1.86 ms; the
# collector's share of the time 6.0-6.7% for all three.
PACE = 0.01  # s
IDLE_PACE = 0.25  # s: the pacer's interval once its collections find (next to) nothing
CHEAP = 0.0001  # s of CPU: a collection at most this cheap found next to nothing


class Pauses:
    """What the collector did in this process since tune(): /_emulator/metrics shows it."""

    def __init__(self) -> None:
        self.tuned = False
        self.collections = 0
        self.paced = 0  # of them, run by the Pacer
        self.cpu_seconds = 0.0
        self.longest = 0.0  # CPU seconds of the longest collection
        self._started = 0.0


pauses = Pauses()


def tune() -> None:
    """Young collections only, every YOUNG_THRESHOLD (net) allocations, survivors frozen."""
    gc.freeze()  # what start-up built is never garbage
    gc.set_threshold(YOUNG_THRESHOLD, 1_000_000, 1_000_000)  # older generations stay empty anyway
    if _after_collection not in gc.callbacks:
        gc.callbacks.append(_after_collection)
    pauses.tuned = True


def _after_collection(phase: str, info: dict) -> None:
    """Survivors frozen; the collection's CPU time counted (CPU, not wall: a process descheduled
    meanwhile did not pause longer)."""
    if phase == "start":
        pauses._started = time.thread_time()
        return
    gc.freeze()
    spent = time.thread_time() - pauses._started
    pauses.collections += 1
    pauses.cpu_seconds += spent
    if spent > pauses.longest:
        pauses.longest = spent


class Pacer:
    """A young collection from the loop when none ran for PACE seconds (the count was held down
    by frees of old objects). While CPython's own collections come, it only looks at a number
    every PACE seconds; its own collections that find next to nothing slow it down to IDLE_PACE,
    so an idle server wakes up a few times a second, not fifty."""

    def __init__(self) -> None:
        self._handle: asyncio.TimerHandle | None = None
        self._seen = -1
        self._pace = PACE

    def start(self) -> "Pacer":
        self._seen = pauses.collections
        self._handle = asyncio.get_running_loop().call_later(self._pace, self._tick)
        return self

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        if pauses.collections == self._seen:
            started = time.thread_time()
            gc.collect(0)
            pauses.paced += 1
            cheap = time.thread_time() - started <= CHEAP
            self._pace = min(self._pace * 2, IDLE_PACE) if cheap else PACE
        else:
            self._pace = PACE
        self._seen = pauses.collections
        self._handle = asyncio.get_running_loop().call_later(self._pace, self._tick)
