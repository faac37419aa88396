"""What one retained send costs in memory, counted by tracemalloc: the same figure on a busy
shared machine, and where the bytes go.

    python benchmarks/retained.py                          # this tree, every provider
    python benchmarks/retained.py --before /tmp/old-tree   # and another tree
    python benchmarks/retained.py --providers alphasms --top 25   # the 25 biggest lines

The real app (build_app, manual clock) is served on a real socket in one process; a raw
keep-alive client in the same process sends distinct full sends (harness.SENDS: every phone,
text and client id new, no duplicate rule trips). After a warm-up, tracemalloc snapshots the
heap before and after N more sends whose lifecycle has been played out (the clock advanced an
hour: every transition fired, the events journaled), each after a full collection. The
difference divided by N is what one retained send keeps: message, attempts, transitions,
events, the request's journal record, indexes. Grouped by the line that allocated it (the
first frame inside emulator/, else the innermost one). No callbacks (no hook): each callback
attempt adds its own record. Beside it, the containers the collector tracks (gc.get_objects,
sys.getsizeof) counted by type before and after, per send. The store's own accounting (`bytes` in /_emulator/health, what
`--retention-bytes` caps) is printed beside it per send, so the two can be compared.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import asyncio, gc, json, os, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
from harness import SENDS, http_exchange, listen_in_process
sys.path.insert(0, os.getcwd())  # the tree measured
from aiohttp import web

provider, count, top = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def tracked_types():
    # objects the collector tracks (containers: no str, int, float), by type: (count, bytes)
    kinds = {}
    for o in gc.get_objects():
        name = type(o).__qualname__
        n, size = kinds.get(name, (0, 0))
        kinds[name] = (n + 1, size + sys.getsizeof(o))
    return kinds


async def main():
    from emulator.app import build_app
    from emulator.settings import Settings
    app = build_app(Settings(clock="manual", watch_scenario=False, log_level="WARNING"))
    path, headers, template = SENDS[provider]
    template = template.replace("{hook}", "")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen_in_process(runner)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def call(method, target, extra, body=b""):
        return await asyncio.wait_for(http_exchange(reader, writer, method, target, extra, body), 10)

    json_type = {"Content-Type": "application/json"}
    await call("PATCH", f"/_emulator/accounts/{provider}", json_type, b'{"balance": 100000000000}')

    async def sends(first, n):
        accepted = 0
        for i in range(first, first + n):
            body = template.replace("{n}", str(i)).replace("{p7}", "%07d" % (i % 10000000))
            status, _ = await call("POST", path, headers, body.encode())
            accepted += status.startswith(b"HTTP/1.1 200")
        await call("POST", "/_emulator/clock/advance", json_type, b'{"seconds": 3600}')
        await asyncio.sleep(0.05)
        return accepted

    async def health():
        _, body = await call("GET", "/_emulator/health", {})
        return json.loads(body)

    await sends(1000, 1000)  # warm-up: compiled validators, caches, the store's tables grown
    gc.collect()
    tracemalloc.start(30)
    used_before = (await health())["retention"]["bytes"]
    gc.collect()
    types_before = tracked_types()
    before = tracemalloc.take_snapshot()
    ok = await sends(100000, count)
    gc.collect()
    after = tracemalloc.take_snapshot()
    types_after = tracked_types()
    state = await health()
    tracemalloc.stop()
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    lines = {}
    for stat in after.compare_to(before, "traceback"):
        frames = list(stat.traceback)  # oldest call first
        inside = [f for f in frames if "/emulator/" in f.filename]
        frame = inside[-1] if inside else frames[-1]
        key = f"{frame.filename.split('/emulator/')[-1] if inside else os.path.basename(frame.filename)}:{frame.lineno}"
        if frame is not frames[-1]:
            key += f" ({os.path.basename(frames[-1].filename)}:{frames[-1].lineno})"
        size, blocks = lines.get(key, (0, 0))
        lines[key] = (size + stat.size_diff, blocks + stat.count_diff)
    biggest = sorted(lines.items(), key=lambda kv: -kv[1][0])[:top]
    store = state["retention"]
    print(json.dumps({
        "bytes_per_send": total / count, "answered_200": ok / count,
        "store_bytes_per_send": (store["bytes"] - used_before) / count, "kept": store["kept"],
        "lines": [(k, size / count, blocks / count) for k, (size, blocks) in biggest],
        "types": sorted(((name, (n - types_before.get(name, (0, 0))[0]) / count, (size - types_before.get(name, (0, 0))[1]) / count)
                         for name, (n, size) in types_after.items()), key=lambda t: -t[2])[:top],
    }), flush=True)
    os._exit(0)

asyncio.run(main())
"""


def run(root: Path, provider: str, count: int, top: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", CHILD, str(HERE), provider, str(count), str(top)],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{root} {provider}: exit {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another msgemu tree, measured the same way")
    parser.add_argument("--tree", type=Path, default=REPO, help="the tree measured (default: this one)")
    parser.add_argument("--providers", default="alphasms,octopush,smsc,hyber,revicom")
    parser.add_argument("--sends", type=int, default=3000, help="measured sends per provider")
    parser.add_argument("--top", type=int, default=12, help="allocating lines shown per provider")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    trees = {"before": args.before, "this": args.tree} if args.before else {"this": args.tree}
    results: dict = {}
    for provider in [p for p in args.providers.split(",") if p]:
        for label, root in trees.items():
            result = run(root, provider, args.sends, args.top)
            results.setdefault(provider, {})[label] = result
            store = result["store_bytes_per_send"]
            print(f"{provider:9} {label:6} {result['bytes_per_send']:8.0f} B per retained send (tracemalloc); "
                  f"store's own count {store:.0f} B; answered 200: {result['answered_200']:.0%}", flush=True)
            for where, size, blocks in result["lines"]:
                print(f"    {size:8.0f} B {blocks:6.1f} blocks  {where}")
            print("    containers the collector tracks, by type (sys.getsizeof, their own bytes only):")
            for name, n, size in result["types"]:
                print(f"    {size:8.0f} B {n:6.2f} objects  {name}")
        if len(trees) == 2:
            b, t = (results[provider][label]["bytes_per_send"] for label in trees)
            print(f"{provider:9} {b:.0f} -> {t:.0f} B per retained send ({100 * (t - b) / b:+.0f}%)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
