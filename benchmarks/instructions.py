"""Instructions per full send, counted by valgrind: the same figure on a busy shared machine.

    python benchmarks/instructions.py                          # this tree, every provider
    python benchmarks/instructions.py --before /tmp/old-tree   # and another tree, same providers
    python benchmarks/instructions.py --providers octopush --small 50 --large 250
    python benchmarks/instructions.py --before-answer          # only what comes before each answer

CPU time per send (inprocess.py) moves by 10-20% between runs when other processes share the
cores; instructions retired do not (about 1-2% here). The real app is served on a real socket
in one process under `valgrind --tool=cachegrind --cache-sim=no` (uvloop, msgemu's GC tuning);
a raw keep-alive client in the same process sends distinct requests one after another, then
waits 2.5 s so that every send's lifecycle (sent +1 s, delivered +2 s) has fired. Two runs,
`--small` and `--large` sends, and the difference divided by the extra sends is the figure:
start-up, imports and the wait cancel out. Client included, as in inprocess.py (the `bare`
row is the same client against a one-line aiohttp handler). Needs valgrind (apt-get install
valgrind); each run takes ~20-30 s.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CHILD = r"""
import asyncio, os, sys
sys.path.insert(0, sys.argv[1])
from harness import app_under_test, gc_tuning, http_exchange
sys.path.insert(0, os.getcwd())  # the tree measured: compare's harness put its own checkout first
from aiohttp import web

provider, count = sys.argv[2], int(sys.argv[3])


def only_before_the_answer(app):
    # --before-answer: nothing of a send runs once its answer is written (held lifecycle work
    # dropped, no journal record, no tally), so the count is what comes before the answer
    from emulator import middleware
    from emulator.core import after_answer

    def drop(held):
        held.open = False
        if held._token is not None:
            after_answer._HOLD.reset(held._token)
            held._token = None
        if held._soon is not None:
            held._soon.cancel()
            held._soon = None
        held.work = []

    after_answer.release = drop
    middleware._record_now = lambda *args: True
    app[middleware.TALLY_KEY] = None


async def main():
    app, path, headers, template = app_under_test(provider)
    if os.environ.get("BENCH_BEFORE_ANSWER") == "1" and provider != "bare":
        only_before_the_answer(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])

    async def call(method, target, extra, body):
        return (await http_exchange(reader, writer, method, target, extra, body))[0]

    if provider != "bare":
        await call("PATCH", f"/_emulator/accounts/{provider}", {"Content-Type": "application/json"}, b'{"balance": 100000000000}')
    template = template.replace("{hook}", "")
    ok = 0
    for i in range(1000, 1000 + count):
        ok += (await call("POST", path, headers, template.replace("{n}", str(i)).encode())).startswith(b"HTTP/1.1 200")
    await asyncio.sleep(2.5)  # every send's lifecycle has fired
    print("answered_200", ok, flush=True)
    os._exit(0)

from emulator import cli
tune_gc = getattr(*gc_tuning(cli))
cli.use_loop() if hasattr(cli, "use_loop") else cli.use_uvloop_if_installed()
tune_gc()
asyncio.run(main())
"""


def instructions(root: Path, provider: str, sends: int, before_answer: bool = False) -> int:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])), PYTHONHASHSEED="0",
               BENCH_BEFORE_ANSWER="1" if before_answer else "0")
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", CHILD, str(HERE), provider, str(sends)],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    answered = re.search(r"answered_200 (\d+)", out.stdout)
    if out.returncode != 0 or not answered or int(answered.group(1)) != sends:
        raise RuntimeError(f"{root} {provider}: exit {out.returncode}: {out.stdout[-500:]} {out.stderr[-2000:]}")
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if not found:
        raise RuntimeError(f"no instruction count in valgrind's output: {out.stderr[-1000:]}")
    return int(found.group(1).replace(",", ""))


def per_send(root: Path, provider: str, small: int, large: int, before_answer: bool = False) -> int:
    return (instructions(root, provider, large, before_answer) - instructions(root, provider, small, before_answer)) // (large - small)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="another msgemu tree, measured the same way")
    parser.add_argument("--providers", default="bare,alphasms,octopush,smsc,hyber,revicom")
    parser.add_argument("--small", type=int, default=50, help="sends of the first run")
    parser.add_argument("--large", type=int, default=250, help="sends of the second run")
    parser.add_argument("--before-answer", action="store_true",
                        help="count only what a send runs before its answer is written (client included): "
                             "its held lifecycle work, journal record and tally are dropped")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    trees = {"before": args.before, "this": REPO} if args.before else {"this": REPO}
    for provider in [p for p in args.providers.split(",") if p]:
        counts = {label: per_send(root, provider, args.small, args.large, args.before_answer) for label, root in trees.items()}
        line = "  ".join(f"{label}: {count:>9,} instructions/send" for label, count in counts.items())
        if args.before:
            line += f"  {100 * (counts['this'] - counts['before']) / counts['before']:+.1f}%"
        print(f"{provider:9} {line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
