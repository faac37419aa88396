"""CPU per full send measured in one process: steadier than wrk on a busy shared machine.

    python benchmarks/inprocess.py                          # this tree, every provider
    python benchmarks/inprocess.py --before /tmp/old-tree   # interleaved against another tree
    python benchmarks/inprocess.py --profile alphasms       # cProfile of the sends, by cumulative time
    python benchmarks/inprocess.py --before /tmp/old-tree --close   # a new connection per send
    MSGEMU_LOOP=asyncio python benchmarks/inprocess.py ...          # on asyncio's loop (else uvloop if installed)
    python benchmarks/inprocess.py --sites --close                  # aiohttp's TCPSite against msgemu's listener
    python benchmarks/inprocess.py --split --providers alphasms     # CPU before the answer is written, and after

The real app (build_app) is served on a real socket with msgemu's GC tuning and event loop; a
raw keep-alive HTTP/1.1 client in the same process sends distinct requests one after another.
The figure is the process's CPU time per send, client included (the bare-aiohttp row is the
same client against a one-line aiohttp handler: the floor). With --close every send opens its
own connection (`Connection: close`): what accepting costs, the listener's part. Runs of each tree alternate in
fresh processes, and the medians are compared; wrk-based numbers stay in bench.py/compare.py.
With --split, each send's CPU is cut where middleware._answer_now has written the answer: before
(the client's write, aiohttp, the provider, submit, the answer) and after (held lifecycle work,
the journal, metrics, the client's read), medians over the sends; what a sequential client waits
for is mostly the first part.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import asyncio, cProfile, json, os, pstats, sys, time
sys.path.insert(0, sys.argv[1])
from harness import app_under_test, gc_tuning, http_exchange, listen_in_process
sys.path.insert(0, os.getcwd())  # the tree measured: compare's harness put its own checkout first
from aiohttp import web

provider, count, profile, close = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"


async def main():
    from emulator import cli
    app, path, headers, template = app_under_test(provider)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen_in_process(runner, tcp_site=os.environ.get("BENCH_SITE") == "TCPSite")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def call(method, target, extra, body):
        return await asyncio.wait_for(exchange(method, target, extra, body), 10)

    async def exchange(method, target, extra, body):
        nonlocal reader, writer
        if close:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            extra = {**extra, "Connection": "close"}
        answer = await http_exchange(reader, writer, method, target, extra, body)
        if close:
            writer.close()
        return answer

    if provider != "bare":
        await call("PATCH", f"/_emulator/accounts/{provider}", {"Content-Type": "application/json"}, b'{"balance": 100000000000}')
    template = template.replace("{hook}", "")

    split = os.environ.get("BENCH_SPLIT") == "1" and provider != "bare"
    answered_at = []  # --split: CPU clock when each answer was written (middleware._answer_now)
    before, after = [], []
    if split:
        from emulator import middleware
        answer_now = middleware._answer_now

        async def marked(request, response, *app):
            await answer_now(request, response, *app)
            answered_at.append(time.process_time_ns())

        middleware._answer_now = marked

    async def sends(first, n):
        accepted = 0
        for i in range(first, first + n):
            sent_at = time.process_time_ns()
            answered_at.clear()
            status, _ = await call("POST", path, headers, template.replace("{n}", str(i)).encode())
            if answered_at:
                before.append(answered_at[0] - sent_at)
                after.append(time.process_time_ns() - answered_at[0])
            accepted += status.startswith(b"HTTP/1.1 200")
        return accepted

    await sends(1000, 300)  # warm-up: compiled validators, caches
    before.clear(); after.clear()
    tune_gc()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started = time.process_time()
    ok = await sends(100000, count)
    cpu = time.process_time() - started
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats("emulator|json|fastjsonschema|<string>", 45)
    result = {"cpu_us": cpu / count * 1e6, "answered_200": ok / count}
    if split:
        before.sort(); after.sort()
        result.update(before_us=before[len(before) // 2] / 1e3, after_us=after[len(after) // 2] / 1e3)
    print(json.dumps(result), flush=True)
    os._exit(0)  # measured: no teardown (msgemu serve leaves the same way)

from emulator import cli
tune_gc = getattr(*gc_tuning(cli))
if os.environ.get("MSGEMU_LOOP") != "asyncio":  # MSGEMU_LOOP=asyncio: asyncio's loop in either tree
    cli.use_loop() if hasattr(cli, "use_loop") else cli.use_uvloop_if_installed()
asyncio.run(main())
"""


def run(root: Path, provider: str, count: int, profile: bool = False, close: bool = False, site: str = "") -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])), BENCH_SITE=site)
    out = subprocess.run([sys.executable, "-c", CHILD, str(HERE), provider, str(count), "1" if profile else "0", "1" if close else "0"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{root} {provider}: exit {out.returncode}: {out.stderr[-2000:]}")
    if profile:
        print(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another msgemu tree, run alternately with this one")
    parser.add_argument("--providers", default="bare,alphasms,octopush,smsc,hyber,revicom")
    parser.add_argument("--sends", type=int, default=3000, help="measured sends per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", metavar="PROVIDER")
    parser.add_argument("--close", action="store_true", help="a new connection per send (Connection: close)")
    parser.add_argument("--sites", action="store_true", help="this tree twice: aiohttp's TCPSite, then msgemu's listener")
    parser.add_argument("--split", action="store_true", help="also the CPU a send takes before its answer is written and after")
    args = parser.parse_args()
    if args.split:
        os.environ["BENCH_SPLIT"] = "1"
    if args.profile:
        print(run(REPO, args.profile, args.sends, profile=True, close=args.close))
        return 0
    trees = {"before": args.before, "this": REPO} if args.before else {"this": REPO}
    if args.sites:
        trees = {"TCPSite": REPO, "listener": REPO}
    for provider in [p for p in args.providers.split(",") if p]:
        runs: dict[str, list[float]] = {label: [] for label in trees}
        splits: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
        for index in range(args.rounds):
            for label in (list(trees) if index % 2 == 0 else list(trees)[::-1]):
                result = run(trees[label], provider, args.sends, close=args.close, site=label)
                runs[label].append(result["cpu_us"])
                if "before_us" in result:
                    splits[label].append((result["before_us"], result["after_us"]))
                if result["answered_200"] < 0.99:
                    print(f"  {provider}: only {result['answered_200']:.0%} answered 200", file=sys.stderr)
        line = "  ".join(f"{label}: {statistics.median(v):6.1f} µs/send (runs {', '.join(f'{x:.0f}' for x in v)})"
                         for label, v in runs.items())
        if len(trees) == 2:
            b, t = (statistics.median(v) for v in runs.values())
            line += f"  {100 * (t - b) / b:+.0f}%"
        print(f"{provider:9} {line}", flush=True)
        for label, pairs in splits.items():
            if pairs:
                print(f"{'':9} {label}: before the answer {statistics.median(p[0] for p in pairs):6.1f} µs, "
                      f"after it {statistics.median(p[1] for p in pairs):6.1f} µs (medians of sends, client included)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
