"""What the shared store costs per send, counted rather than timed: Valkey/Redis commands per send
(INFO commandstats before/after), the server's reads (INFO stats total_reads_processed: about one
per round trip a client makes), the bytes msgemu sends to Valkey and reads back (INFO stats
total_net_input/output_bytes), what the AOF grows by (INFO persistence aof_current_size, when
appendonly is on), and CPU µs per send of msgemu's processes and of Valkey.

    python benchmarks/store_cost.py                       # 1 worker, 5,000 AlphaSMS sends, 50 at once
    python benchmarks/store_cost.py --workers 2 --sends 4000 --hook

A fixed number of distinct sends goes out from this process (an aiohttp client, `--connections`
at a time), and the counts are taken once their scheduled transitions (queued, sent, delivered)
have all fired, so they do not depend on how fast the machine is; CPU time moves with the
machine's load, the counts do not. No lock needed for the counts; `--hook` adds a callback URL
(a receiver in this process) and waits for the callbacks before counting.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def info(url: str) -> dict[str, dict]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
        server = client.info("stats")
        aof = client.info("persistence").get("aof_current_size", 0)
    finally:
        client.close()
    return {"commands": {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()},
            "reads": server["total_reads_processed"], "in": server["total_net_input_bytes"],
            "out": server["total_net_output_bytes"], "aof": aof}


WARM_UP = 200  # sends before counting, numbered apart from the counted ones (AlphaSMS refuses a repeated id)


async def load(base: str, sends: int, connections: int, hook: str | None, first: int = 3_000_000) -> int:
    import aiohttp

    path, headers, template = harness.send_body("alphasms", hook)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await harness.distinct_sends(session, base + path, headers, template,
                                            iter(range(first, first + sends)), connections)


def stored_messages(url: str, prefix: str = "msgemu:") -> int:
    """Messages the store holds: a send refused (a repeated id, a balance run out) makes none."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.hlen(prefix + "messages"))
    finally:
        client.close()


async def settle(url: str, prefix: str = "msgemu:") -> None:
    """Until no scheduled transition is left in the store (at most 60 s), then 0.3 s for the last ones to commit."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 60
        while client.zcard(prefix + "timers") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        client.close()
    await asyncio.sleep(0.3)


async def receiver() -> tuple[object, int, list[int]]:
    from aiohttp import web

    got = [0]

    async def hook(request):
        await request.read()
        got[0] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = harness.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, got


async def main_async(args) -> dict:
    cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else harness.machine_cpus()
    valkey = harness.Valkey(cpus)
    runner = None
    try:
        hook = None
        if args.hook:
            runner, port, got = await receiver()
            hook = f"http://127.0.0.1:{port}/hook"
        server = harness.msgemu(harness.REPO if not args.tree else Path(args.tree), cpus, [],
                                store=None if args.memory else valkey.url, workers=str(args.workers))
        try:
            server.call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**11})  # every send accepted
            await load(server.base, WARM_UP, args.connections, hook, first=2_000_000)  # warm-up (ids, caches)
            if args.hook:
                await asyncio.sleep(3)
            before, cpu0, vcpu0 = info(valkey.url), server.cpu_seconds(), harness.cpu_seconds(valkey.pids())
            started = time.monotonic()
            ok = await load(server.base, args.sends, args.connections, hook)
            if not args.memory:  # every transition of these sends fired: their versions are counted too
                await settle(valkey.url)
            if args.hook:
                owed = 2 * (ok + WARM_UP)
                deadline = time.monotonic() + 120
                while got[0] < owed and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1)
            elapsed = time.monotonic() - started
            after, cpu1, vcpu1 = info(valkey.url), server.cpu_seconds(), harness.cpu_seconds(valkey.pids())
            stored = None if args.memory else stored_messages(valkey.url)
        finally:
            server.stop()
    finally:
        if runner is not None:
            await runner.cleanup()
        valkey.stop()
    commands = {k: after["commands"].get(k, 0) - before["commands"].get(k, 0) for k in after["commands"]}
    commands = {k: v for k, v in sorted(commands.items(), key=lambda kv: -kv[1]) if v > 0 and k != "info"}
    result = {
        "workers": args.workers, "sends": args.sends, "answered_200": ok, "hook": bool(args.hook),
        "messages_stored": stored,  # every send and warm-up send accepted: sends + WARM_UP
        "commands_per_send": round(sum(commands.values()) / args.sends, 2),
        "reads_per_send": round((after["reads"] - before["reads"] - 2) / args.sends, 2),
        "bytes_to_valkey_per_send": round((after["in"] - before["in"]) / args.sends),
        "bytes_from_valkey_per_send": round((after["out"] - before["out"]) / args.sends),
        "aof_bytes_per_send": round((after["aof"] - before["aof"]) / args.sends),
        "by_command": {k: round(v / args.sends, 3) for k, v in commands.items()},
        "msgemu_cpu_us_per_send": round((cpu1 - cpu0) / args.sends * 1e6),
        "valkey_cpu_us_per_send": round((vcpu1 - vcpu0) / args.sends * 1e6),
        "seconds": round(elapsed, 2),
    }
    if args.hook:
        result["callbacks"] = got[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sends", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--hook", action="store_true", help="every send has a callback URL (sent, delivered)")
    parser.add_argument("--cpus", help="msgemu's and Valkey's CPUs, e.g. 0 (this process: pin it with taskset)")
    parser.add_argument("--memory", action="store_true", help="the memory store, for reference (no commands)")
    parser.add_argument("--tree", help="another checkout to measure (default: this one)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=1))


if __name__ == "__main__":
    main()
