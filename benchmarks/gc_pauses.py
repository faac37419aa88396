"""Does garbage collection dominate p99 at 50 connections? One provider's full sends under wrk,
the server's every collection timed (gc.callbacks, freeze of the survivors included), then the
same load with the collector off, in one run.

    python benchmarks/gc_pauses.py                      # alphasms, 10 s per run
    python benchmarks/gc_pauses.py --provider octopush --seconds 20
    python benchmarks/gc_pauses.py --retention 20000 --warmup 8 --seconds 30 --modes on --msgemu-root /tmp/old-tree

With --retention small enough for the warm-up to fill it, the measured seconds are the steady
state of a long-running server: every send evicts the oldest message (what gc_pacing.py's pacer
is for: without it, CPython's own young collections stop there and the young generation piles
up).

`msgemu serve` runs as compare.py runs it (pinned to one core, wrk on the other) through a small
wrapper that adds the timing callbacks after msgemu's own GC tuning (emulator/gc_pacing.py) and
writes the pauses to a file twice a second. The collector-off run is the control: if its p99 is
about the same, collections are not what makes the tail.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import REPO, SENDS, Counter, Process, free_port, wrk  # noqa: E402
from harness import tree_env  # noqa: E402

WRAPPER = """
import gc, json, sys, threading, time
from emulator import cli

out, mode, here = sys.argv.pop(1), sys.argv.pop(1), sys.argv.pop(1)
sys.path.append(here)  # (after the tree measured)
from harness import gc_tuning
pauses, started = [], [0.0]

def first(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()

def last(phase, info):
    if phase == "stop":
        pauses.append((info["generation"], time.perf_counter() - started[0]))

tuner, name = gc_tuning(cli)
tune = getattr(tuner, name)
def timed_tune():
    tune()
    if mode == "off":
        gc.disable()
        if name == "tune":
            tuner.pauses.tuned = False  # (and no pacer: it would collect with the collector off)
    gc.callbacks.insert(0, first)
    gc.callbacks.append(last)  # after msgemu's freeze of the survivors: its cost is counted
setattr(tuner, name, timed_tune)

def dump():
    while True:
        time.sleep(0.5)
        with open(out + ".tmp", "w") as f:
            json.dump(list(pauses), f)
        import os
        os.replace(out + ".tmp", out)
threading.Thread(target=dump, daemon=True).start()
sys.exit(cli.main())
"""


def run(provider: str, mode: str, args: argparse.Namespace, counter: Counter) -> dict:
    path, headers, template = SENDS[provider]
    body = template.replace("{hook}", "")
    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="msgemu-gc-")) / "pauses.json"
    argv = [sys.executable, "-c", WRAPPER, str(out), mode, str(Path(__file__).resolve().parent), "serve", "--port", str(port), "--clock", "real",
            "--log-level", "WARNING", *(["--retention", str(args.retention)] if args.retention else [])]
    root = Path(args.msgemu_root).resolve() if args.msgemu_root else REPO
    server = Process(argv, "/_emulator/health", port, args.server_cpu, cwd=root, env=tree_env(root))
    try:
        server.call("PATCH", f"/_emulator/accounts/{provider}", {"balance": 10**11})
        wrk(server.base + path, headers, body, counter.take(), args.warmup, args.connections, args.load_cpu)
        time.sleep(0.6)
        before = len(json.loads(out.read_text())) if out.exists() else 0
        result = wrk(server.base + path, headers, body, counter.take(), args.seconds, args.connections, args.load_cpu)
        time.sleep(0.6)
        pauses = json.loads(out.read_text())[before:] if out.exists() else []
    finally:
        server.stop()
    ms = sorted(p * 1000 for _, p in pauses)
    return {
        "mode": mode, "rps": result["rps"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
        "collections": len(ms), "per_1000_requests": 1000 * len(ms) / max(1, result["requests"]),
        "pause_p50_ms": statistics.median(ms) if ms else 0.0,
        "pause_p99_ms": ms[int(len(ms) * 0.99)] if ms else 0.0, "pause_max_ms": ms[-1] if ms else 0.0,
        "gc_share": sum(ms) / 1000 / args.seconds,
        "generations": {g: sum(1 for gen, _ in pauses if gen == g) for g in (0, 1, 2)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", default="alphasms", choices=sorted(SENDS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode (on, off, off, on, ...)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--retention", type=int, help="the server's --retention (default: msgemu's)")
    parser.add_argument("--modes", default="on,off", help="on, off or on,off (the collector off is the control)")
    parser.add_argument("--msgemu-root", help="another msgemu tree to run (default: this one)")
    args = parser.parse_args()
    counter = Counter()
    modes = args.modes.split(",")
    for index in range(args.rounds * len(modes)):
        mode = modes[(index + index // 2) % len(modes)] if len(modes) == 2 else modes[0]
        r = run(args.provider, mode, args, counter)
        print(f"  GC {r['mode']:3}  {r['rps']:6.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"{r['collections']:5} collections ({r['per_1000_requests']:.1f} per 1000 requests, by generation "
              f"{r['generations']})  pause p50 {r['pause_p50_ms']:.2f} ms  p99 {r['pause_p99_ms']:.2f} ms  "
              f"max {r['pause_max_ms']:.2f} ms  {r['gc_share']:.1%} of the time", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
