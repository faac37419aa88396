"""CPU per callback POST: aiohttp's client against msgemu's own (emulator/core/callback_client.py).

    python benchmarks/callback_client.py                 # 20,000 POSTs each, 50 at once, 3 rounds
    python benchmarks/callback_client.py --posts 50000 --concurrency 10 --rounds 5

Both send the same AlphaSMS-like status callback to the benchmarks' webhook receiver (its own
process, on the last core; this process on the first), as the dispatcher does: a task per try,
at most `--concurrency` at once, the answer's first 2,000 bytes read. The clients alternate in
each round; the figure is this process's CPU time (user + system) per POST, which the receiver's
speed does not change.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import harness  # noqa: E402

BODY = b'{"id":"100000001","status":"delivered","phone":"380971234567","data":{"id":100500}}'
HEADERS = {"Content-Type": "application/json"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def with_aiohttp(url: str, posts: int, concurrency: int) -> int:
    import aiohttp

    ok = 0
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200), headers={"User-Agent": "bench"}) as session:
        async def one() -> None:
            nonlocal ok
            async with gate:
                async with session.request("POST", url, data=BODY, headers=HEADERS, allow_redirects=False, timeout=timeout) as response:
                    await response.content.read(2000)
                    ok += response.status == 200

        await asyncio.gather(*(one() for _ in range(posts)))
    return ok


async def with_msgemu(url: str, posts: int, concurrency: int) -> int:
    from yarl import URL

    from emulator.core.callback_client import CallbackClient
    from emulator.core.targets import GuardedResolver, TargetPolicy

    ok = 0
    gate = asyncio.Semaphore(concurrency)
    client = CallbackClient(GuardedResolver(TargetPolicy()), 200, "bench")
    target = URL(url)

    async def one() -> None:
        nonlocal ok
        async with gate:
            reply = await client.send("POST", target, HEADERS, BODY, 10, 2000)
            ok += reply.status == 200  # (after the await: `ok +=` reads ok first)

    await asyncio.gather(*(one() for _ in range(posts)))
    await client.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = os.sched_getaffinity(0)
    if len(cores) > 1:
        os.sched_setaffinity(0, {min(cores)})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    hook = harness.receiver([max(cores)])
    url = f"http://127.0.0.1:{hook.port}/hook"
    figures: dict[str, list[float]] = {"aiohttp": [], "msgemu": []}
    try:
        for _ in range(args.rounds):
            for name, run in (("aiohttp", with_aiohttp), ("msgemu", with_msgemu)):
                started, wall = cpu_seconds(), time.perf_counter()
                ok = asyncio.run(run(url, args.posts, args.concurrency))
                used, elapsed = cpu_seconds() - started, time.perf_counter() - wall
                if ok != args.posts:
                    print(f"{name}: {args.posts - ok} POSTs not answered 200", file=sys.stderr)
                    return 1
                figures[name].append(used / args.posts * 1e6)
                print(f"{name:8} {used / args.posts * 1e6:6.1f} µs CPU per POST  ({args.posts / elapsed:,.0f} POSTs/s)", flush=True)
    finally:
        hook.stop()
    best = {name: sorted(values)[len(values) // 2] for name, values in figures.items()}
    print(f"median: aiohttp {best['aiohttp']:.1f} µs, msgemu {best['msgemu']:.1f} µs per POST "
          f"({best['aiohttp'] / best['msgemu']:.2f}x less CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
