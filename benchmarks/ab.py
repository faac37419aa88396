"""Before/after: two msgemu trees, interleaved, on a shared machine.

    python benchmarks/ab.py /tmp/old-checkout                  # this tree (B) against that one (A)
    python benchmarks/ab.py /tmp/old-checkout --providers alphasms,smsc --rounds 5 --seconds 4
    python benchmarks/ab.py . --loop-a asyncio      # this tree on asyncio's loop (A) against uvloop (B)
    python benchmarks/ab.py . --arg-b=--log-level=INFO   # access log off (A) against on (B)
    python benchmarks/ab.py /tmp/old-checkout --close    # a new connection per request (the listener's cost)

The machine is shared, so one run of each says little: rounds alternate A, B, B, A, ... per
provider under compare.py's conditions (server pinned to one core, wrk to the other, every
request distinct), and the medians are compared. The server's CPU time per request is the
figure to trust most; req/s and p99 move with whatever else runs on the server's core.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import REPO, SENDS, Counter, Process, free_port, msgemu, wrk  # noqa: E402

# `msgemu serve` with asyncio's own event loop even where uvloop is installed, in trees from
# before the `loop` setting (use_uvloop_if_installed) as well as after (use_loop)
ASYNCIO_LOOP = ("import sys\nfrom emulator import cli\ncli.use_uvloop_if_installed = lambda: None\n"
                "cli.use_loop = lambda choice='auto': None\nsys.exit(cli.main())\n")


def server_process(root: Path, loop: str, extra: list[str], args: argparse.Namespace) -> Process:
    if loop == "uvloop":
        return msgemu(root, args.server_cpu, [*args.msgemu_arg, *extra])
    port = free_port()
    argv = [sys.executable, "-c", ASYNCIO_LOOP, "serve", "--port", str(port), "--clock", "real", "--log-level", "WARNING",
            *args.msgemu_arg, *extra]
    return Process(argv, "/_emulator/health", port, args.server_cpu, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))


def one_run(root: Path, loop: str, extra: list[str], provider: str, args: argparse.Namespace, counter: Counter) -> dict:
    path, headers, template = SENDS[provider]
    if args.close:
        headers = {**headers, "Connection": "close"}  # wrk opens a new connection for every request
    body = template.replace("{hook}", "")
    server = server_process(root, loop, extra, args)
    try:
        server.call("PATCH", f"/_emulator/accounts/{provider}", {"balance": 10**11})
        wrk(server.base + path, headers, body, counter.take(), args.warmup, args.connections, args.load_cpu)
        cpu_before = server.cpu_seconds()
        result = wrk(server.base + path, headers, body, counter.take(), args.seconds, args.connections, args.load_cpu)
        result["cpu_us"] = (server.cpu_seconds() - cpu_before) / max(1, result["requests"]) * 1e6
        if args.sequential:
            result["seq_p50_ms"] = wrk(server.base + path, headers, body, counter.take(), args.sequential, 1, args.load_cpu)["p50_ms"]
    finally:
        server.stop()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="the msgemu tree to compare against (A)")
    parser.add_argument("--after", type=Path, default=REPO, help="the tree measured against it (B): this one")
    parser.add_argument("--providers", default=",".join(SENDS))
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tree per provider")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=0, help="seconds of a -c1 run for p50 (0: none)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--msgemu-arg", action="append", default=[])
    parser.add_argument("--close", action="store_true", help="Connection: close: one connection per request")
    parser.add_argument("--loop-a", choices=["uvloop", "asyncio"], default="uvloop", help="A's event loop (uvloop: when installed)")
    parser.add_argument("--loop-b", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--arg-a", action="append", default=[], help="`msgemu serve` argument for A only (repeatable)")
    parser.add_argument("--arg-b", action="append", default=[], help="... for B only")
    args = parser.parse_args()
    counter = Counter()
    trees = {"A": args.before, "B": args.after}
    for provider in [p for p in args.providers.split(",") if p]:
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        for index in range(args.rounds * 2):
            label = "AB"[(index + index // 2) % 2]  # A B B A A B ...: neither always goes first
            loop, extra = (args.loop_a, args.arg_a) if label == "A" else (args.loop_b, args.arg_b)
            runs[label].append(one_run(trees[label], loop, extra, provider, args, counter))
        line = [f"{provider:9}"]
        for label in "AB":
            rows = runs[label]
            line.append(f"{label}: {statistics.median(r['cpu_us'] for r in rows):5.0f} µs CPU/req "
                        f"{statistics.median(r['rps'] for r in rows):6.0f} req/s p99 {statistics.median(r['p99_ms'] for r in rows):6.1f} ms"
                        + (f" seq p50 {statistics.median(r['seq_p50_ms'] for r in rows):.2f} ms" if args.sequential else ""))
        a = statistics.median(r["cpu_us"] for r in runs["A"])
        b = statistics.median(r["cpu_us"] for r in runs["B"])
        runs_a = ", ".join(f"{r['cpu_us']:.0f}" for r in runs["A"])
        runs_b = ", ".join(f"{r['cpu_us']:.0f}" for r in runs["B"])
        line.append(f"CPU {100 * (b - a) / a:+.0f}%  (A runs: {runs_a}; B runs: {runs_b})")
        print("  ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
