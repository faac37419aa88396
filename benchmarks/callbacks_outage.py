"""Callbacks survive an outage: the receiver is down for 60 s, then up; every callback arrives
afterwards, once, in order per message.

    python benchmarks/callbacks_outage.py                    # 2,000 messages, 60 s of virtual time
    python benchmarks/callbacks_outage.py --real             # the same in real time (takes ~75 s)
    python benchmarks/callbacks_outage.py --messages 500 --outage 120

Starts `msgemu serve` as its own process (manual clock, or real with --real), sends N AlphaSMS
messages whose `hook` is a local receiver that is not listening yet (connection refused), keeps
it down for the outage, starts it, and waits until the provider's retry ladder
(emulator/data/callback_retries.yaml) has brought everything over. Prints what was expected,
received, duplicated, out of order and lost, and how long the backlog took to drain.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import Server, free_port  # noqa: E402

ORDER = ["ENROUTE", "DELIVERED"]  # AlphaSMS: sent, then delivered


async def run(messages: int, outage: float, real: bool) -> dict:
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"
    got: list[tuple[int, str]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        got.append((body["id"], body["status"]))
        return web.Response(text="ok")

    server = Server("--clock", "real" if real else "manual", "--callback-loopback-only", "--retention", str(max(100_000, messages * 4)))
    runner: web.AppRunner | None = None
    try:
        server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**11})
        async with aiohttp.ClientSession(server.base) as http:

            async def advance(seconds: float) -> dict:
                async with http.post("/_emulator/clock/advance", json={"seconds": seconds, "wait": 30}) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            for start in range(0, messages, 100):
                items = [{"type": "sms", "id": i, "phone": 380970000000 + i, "sms_signature": "Bench", "sms_message": "code 1234", "hook": hook}
                         for i in range(start, min(messages, start + 100))]
                async with http.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": items}) as r:
                    assert r.status == 200
            down_since = time.monotonic()
            if real:
                await asyncio.sleep(outage)
            else:
                for _ in range(int(outage // 5)):
                    await advance(5)  # tries during the outage meet a closed port
            receiver = web.Application()
            receiver.router.add_post("/hook", receive)
            runner = web.AppRunner(receiver, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            up_at = time.monotonic()
            virtual_drain = 0.0
            expected = 2 * messages
            while len(got) < expected and time.monotonic() - up_at < 600:
                if real:
                    await asyncio.sleep(0.5)
                else:
                    await advance(10)
                    virtual_drain += 10
            drained = time.monotonic() - up_at
            async with http.get("/_emulator/callbacks", params={"outcome": "retrying", "limit": 1}) as r:
                failed_tries = (await r.json())["count"]
            async with http.get("/_emulator/callbacks", params={"outcome": "gave_up", "limit": 1}) as r:
                gave_up = (await r.json())["count"]
    finally:
        server.stop()
        if runner is not None:
            await runner.cleanup()
    per_message: dict[int, list[str]] = {}
    for message_id, status in got:
        per_message.setdefault(message_id, []).append(status)
    unique = {(m, s) for m, s in got}
    return {
        "clock": "real" if real else "manual",
        "messages": messages,
        "outage_seconds": outage,
        "expected": expected,
        "received": len(got),
        "duplicates": len(got) - len(unique),
        "out_of_order": sum(1 for statuses in per_message.values() if set(ORDER) <= set(statuses) and statuses.index(ORDER[1]) < statuses.index(ORDER[0])),
        "lost": expected - len(unique),
        "failed_tries_during_outage": failed_tries,
        "gave_up": gave_up,
        "drain_wall_seconds": round(drained, 2),
        "drain_virtual_seconds": virtual_drain if not real else None,
        "outage_wall_seconds": round(up_at - down_since, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the receiver stays down")
    parser.add_argument("--real", action="store_true", help="real time instead of the manual clock")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args.messages, args.outage, args.real))
    print(
        f"receiver down {result['outage_seconds']:g} s ({result['clock']} clock), {result['messages']} messages: "
        f"{result['received']}/{result['expected']} callbacks received, {result['duplicates']} duplicates, "
        f"{result['out_of_order']} messages out of order, {result['lost']} lost, {result['gave_up']} given up; "
        f"{result['failed_tries_during_outage']} tries failed during the outage; backlog drained in "
        f"{result['drain_wall_seconds']} s wall" + (f" ({result['drain_virtual_seconds']:g} s virtual)" if result["drain_virtual_seconds"] is not None else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
