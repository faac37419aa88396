"""`msgemu serve`'s garbage collector once the store's retention is full (emulator/gc_pacing.py).

Every send then frees about as many old objects (the message it evicts, with its events and
journal record) as it keeps new ones, so CPython's count of allocations stays near zero and
its own young collections stop: without the pacer the young generation grew until one
collection met all of it (up to 0.3 s at the default retention, every request in flight
waiting). A real server with a retention of 5,000, real sends over HTTP, and the
collector's figures from /_emulator/metrics (CPU time, not wall time: a busy test machine
descheduling the server does not lengthen them)."""
from __future__ import annotations

import asyncio
import itertools
import re

import aiohttp

from .test_reliability_server import serve, sms  # noqa: F401 (serve is a fixture)

RETENTION = 5_000  # messages (and requests) kept: every later send evicts the oldest
FILL, STEADY = 6_000, 10_000  # sends that fill the retention, then sends that each evict one
COLLECTIONS_WANTED = 10  # young collections during the steady sends (the pacer runs one every 10 ms)
YOUNG_ALLOWED = 5_000  # objects waiting for the next collection: without the pacer they pile up
# (15,334 after the steady sends, and no collection among them); with it, what 10 ms of sends
# leave (374-515 here)
LONGEST_ALLOWED = 0.025  # s of CPU: a young collection of that many takes well under 1 ms


def figure(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.M)
    assert found, f"{name} not in /_emulator/metrics"
    return float(found.group(1))


async def test_young_collections_go_on_once_the_retention_is_full(serve):
    server = serve("--retention", str(RETENTION))
    await server.up()
    numbers = itertools.count(1)
    async with aiohttp.ClientSession() as http:

        async def send_until(last: int) -> None:
            async def sender() -> None:
                for i in numbers:
                    async with http.post(server.base + "/alphasms/api/json.php", json=sms(i)) as response:
                        assert response.status == 200
                        assert (await response.json())["success"] is True
                    if i >= last:
                        return

            await asyncio.gather(*(sender() for _ in range(8)))

        async def read(path: str):
            async with http.get(server.base + path) as response:
                return await (response.json() if path.endswith("health") else response.text())

        await send_until(FILL)
        before = figure(await read("/_emulator/metrics"), "msgemu_gc_collections_total")
        await send_until(FILL + STEADY)
        usage = (await read("/_emulator/health"))["retention"]
        metrics = await read("/_emulator/metrics")
    assert usage["kept"]["requests"] == RETENTION and usage["evicted"]["requests"] >= STEADY, usage  # full all along
    assert figure(metrics, "msgemu_gc_collections_total") - before >= COLLECTIONS_WANTED
    assert figure(metrics, "msgemu_gc_paced_collections_total") > 0  # CPython's count was held down: the loop collected
    assert figure(metrics, "msgemu_gc_young_objects") < YOUNG_ALLOWED
    longest = figure(metrics, "msgemu_gc_longest_pause_seconds")
    assert 0 < longest < LONGEST_ALLOWED, f"a young collection took {longest * 1000:.1f} ms of CPU"
    assert figure(metrics, "msgemu_gc_cpu_seconds_total") >= longest
