"""msgemu side by side with WireMock, in one run, on this machine.

    python benchmarks/compare.py                          # every row once, ~8 minutes
    python benchmarks/compare.py --repeat 3               # three passes, the median run of each row
    python benchmarks/compare.py --rows memory-1,wm-static-one --providers ""
    python benchmarks/compare.py --msgemu-root /tmp/old-checkout   # another msgemu tree, same harness
    python benchmarks/compare.py --json results.json --markdown results.md

Rows (an AlphaSMS full send unless said): a bare one-line aiohttp handler (the framework's floor on
this machine, no msgemu); msgemu with the memory store, 1 worker; with a Valkey
store, 1 worker, 2 workers and `--workers auto`; WireMock as a static stub (journal on, its
default) and as a JSON-path-matching, response-templated AlphaSMS stub, with and without a
webhook; msgemu AlphaSMS with `hook` (callbacks sent + delivered) to the same receiver; one
memory-store row per other provider (--providers). `ratio` is req/s against WireMock's static
stub on the same cores; webhook rows also against WireMock's webhook stub on the same cores.

Same conditions for every row: a fresh server process (and a fresh Valkey) per row; "one core"
rows run the server (and its Valkey) on one core and wrk alone on another; "all cores" rows run
the server on every core, so with 2 cores wrk shares one of them with it (the output says which
core is which). `wrk -t1 -c50` for the same duration after a warm-up, then `wrk -c1` for the
sequential p50/p99. Every request of the run is distinct (a counter in the text and client id,
its last 7 digits in the phone number, never reset between warm-up and measurement), so no
duplicate rule can trip (SMSC: the same text within 60 s is error 9); after each msgemu row
its journal is asked how many requests it rejected (printed; anything but 0 fails the run).
Startup = spawn -> first 200 on the health path; RSS after the row, summed over the server's
processes (Valkey's shown apart); CPU µs per request of the server's processes plus Valkey.

Needs wrk and taskset, Java 17+ and npm for WireMock, and valkey-server or redis-server for the
Valkey rows. What is missing is installed, each saying so: wrk from apt, a Valkey/Redis server
from apt through .ci/valkey, the npm package `wiremock` (which ships the standalone jar) into
~/.cache/msgemu-bench (or give --wiremock-jar / $WIREMOCK_JAR). Nothing else is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import REPO, Counter, Process, Valkey, cpu_list, free_port, journal, msgemu, send_body, wrk  # noqa: E402, F401

# What ab.py, gc_pauses.py and inprocess.py import from here: REPO, Counter, Process, free_port,
# msgemu, wrk (harness's, re-exported) and SENDS in its earlier form, one fixed phone number per
# provider ({n} and {hook} only); this script's own rows vary the phone too (harness.SENDS).
SENDS = {provider: (path, headers, template.replace("{p7}", "1234567"))
         for provider, (path, headers, template) in harness.SENDS.items()}

ALPHASMS_OK = '{"success":true,"data":[{"success":true,"data":{"id":1,"msg_id":100000001,"data":1,"parts":1}}]}'
ALPHASMS_TEMPLATED = (
    '{"success":true,"data":[{"success":true,"data":{"id":{{jsonPath request.body \'$.data[0].id\'}},'
    '"msg_id":{{randomInt lower=100000000 upper=999999999}},"data":1,"parts":1}}]}'
)
CALLBACKS_PER_SEND = 2  # msgemu AlphaSMS: ENROUTE (sent) and DELIVERED; WireMock's webhook: one per request


@dataclass
class Spec:
    """One row: which server, how it is run, on which cores."""

    key: str
    server: str  # msgemu | WireMock
    title: str
    cores: str  # one | all
    provider: str = "alphasms"
    store: str | None = None  # msgemu: memory | valkey
    workers: str | None = None  # msgemu --workers
    stub: str | None = None  # WireMock: static | templated | webhook
    hook: bool = False


@dataclass
class Row:
    key: str
    server: str
    title: str
    cores: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    seq_p50_ms: float = 0.0
    seq_p99_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: str = ""
    cpu_us_per_request: float = 0.0
    rss_mib: float = 0.0
    store_rss_mib: float | None = None
    processes: int = 1
    startup_s: float = 0.0
    accepted: int | None = None  # msgemu: requests its journal accepted / rejected (whole row)
    rejected: int | None = None
    callbacks: int | None = None  # webhook rows: POSTs the receiver got while measuring
    callbacks_drained: int | None = None  # ... and in all, once they stopped coming
    callbacks_expected: int | None = None  # msgemu: 2 per accepted message
    callbacks_duplicated: int | None = None  # (id, status) pairs POSTed more than once
    notes: list[str] = field(default_factory=list)


def specs(providers: list[str]) -> list[Spec]:
    rows = [  # run in this order: each msgemu row next to the WireMock row it is compared with
        Spec("wm-static-one", "WireMock", "static stub, journal on", "one", stub="static"),
        Spec("bare-one", "aiohttp", "one-line handler (the framework's floor, no msgemu)", "one"),
        Spec("memory-1", "msgemu", "AlphaSMS full send, memory store, 1 worker", "one", store="memory", workers="1"),
        Spec("valkey-1", "msgemu", "AlphaSMS full send, Valkey store, 1 worker", "one", store="valkey", workers="1"),
        Spec("wm-static-all", "WireMock", "static stub, journal on", "all", stub="static"),
        Spec("valkey-2", "msgemu", "AlphaSMS full send, Valkey store, 2 workers", "all", store="valkey", workers="2"),
        Spec("valkey-auto", "msgemu", "AlphaSMS full send, Valkey store, --workers auto", "all", store="valkey", workers="auto"),
        Spec("unshared-2", "msgemu", "AlphaSMS full send, 2 processes with a memory store each (nothing shared: the "
             "ceiling of all cores, not a mode msgemu offers)", "all", store="unshared", workers="2"),
        Spec("wm-templated-one", "WireMock", "JSON-path matching + templated AlphaSMS stub", "one", stub="templated"),
        Spec("wm-webhook-one", "WireMock", "templated AlphaSMS stub + webhook", "one", stub="webhook", hook=True),
        Spec("memory-1-hook", "msgemu", "AlphaSMS send + callbacks (sent, delivered), memory store, 1 worker", "one",
             store="memory", workers="1", hook=True),
        Spec("wm-webhook-all", "WireMock", "templated AlphaSMS stub + webhook", "all", stub="webhook", hook=True),
        Spec("valkey-2-hook", "msgemu", "AlphaSMS send + callbacks (sent, delivered), Valkey store, 2 workers", "all",
             store="valkey", workers="2", hook=True),
    ]
    rows += [Spec(f"memory-1-{p}", "msgemu", f"{p} full send, memory store, 1 worker", "one", provider=p,
                  store="memory", workers="1") for p in providers if p != "alphasms"]
    return rows


class Bench:
    def __init__(self, args: argparse.Namespace, hook: Process) -> None:
        self.args = args
        self.hook = hook
        self.counter = Counter()

    def cpus(self, cores: str) -> list[int]:
        return self.args.all_cpus if cores == "all" else self.args.one_cpu

    def run(self, spec: Spec) -> Row:
        row = Row(spec.key, spec.server, spec.title, spec.cores)
        cpus = self.cpus(spec.cores)
        valkey = Valkey(cpus) if spec.store == "valkey" else None
        try:
            hook_url = f"{self.hook.base}/hook" if spec.hook else None
            if spec.server == "msgemu":
                path, headers, body = send_body(spec.provider, hook_url)
                if spec.store == "unshared":
                    server = harness.msgemu_unshared(self.args.msgemu_root, cpus, int(spec.workers))
                    row.notes.append("journal counts are one process's")
                else:
                    server = harness.msgemu(self.args.msgemu_root, cpus, self.args.msgemu_arg,
                                            store=valkey.url if valkey else None,
                                            workers=None if spec.workers == "1" else spec.workers)
            elif spec.server == "aiohttp":
                path, headers, body = send_body("alphasms")
                server = harness.bare_aiohttp(cpus, path)
            else:
                path, headers, body = send_body("alphasms")
                server = harness.wiremock(self.args.wiremock_jar, cpus, [wiremock_mapping(spec.stub, hook_url)])
            try:
                if spec.server == "msgemu" and spec.store != "unshared":  # (unshared: funded at start, harness.UNSHARED)
                    server.call("PATCH", f"/_emulator/accounts/{spec.provider}", {"balance": 10**11})
                self.measure(row, server, valkey, path, headers, body, spec.hook)
                if spec.server == "msgemu":
                    counts = journal(server, spec.provider)
                    row.accepted, row.rejected = counts["accepted"], counts["rejected"]
                    if spec.hook:
                        row.callbacks_expected = counts["messages"] * CALLBACKS_PER_SEND
                elif spec.hook:  # one webhook per request WireMock journaled
                    row.callbacks_expected = server.call("POST", "/__admin/requests/count", {"method": "POST", "url": path})["count"]
                if spec.hook:  # warm-up, measured and sequential sends: every callback, counted per (id, status)
                    row.callbacks_drained = harness.drain(self.hook, self.args.quiet, expected=row.callbacks_expected)
                    row.callbacks_duplicated = self.hook.call("GET", "/count")["duplicates"]
                    if spec.server == "WireMock" and (failed := server.output().count("Failed to fire webhook")):
                        row.notes.append(f"WireMock logged 'Failed to fire webhook' {failed} times (it does not retry)")
            finally:
                server.stop()
        finally:
            if valkey:
                valkey.stop()
        return row

    def measure(self, row: Row, server: Process, valkey: Valkey | None, path: str, headers: dict, body: str,
                hook: bool) -> None:
        a = self.args
        url = server.base + path
        row.startup_s = server.startup_s
        if hook:
            self.hook.call("POST", "/reset")
        wrk(url, headers, body, self.counter.take(), a.warmup, a.connections, a.load_cpu)
        time.sleep(0.5)
        hits_before = self.hook.call("GET", "/count")["total"] if hook else 0
        pids = server.pids() + (valkey.pids() if valkey else [])
        cpu_before = harness.cpu_seconds(pids)
        result = wrk(url, headers, body, self.counter.take(), a.seconds, a.connections, a.load_cpu)
        row.cpu_us_per_request = (harness.cpu_seconds(pids) - cpu_before) / max(1, result["requests"]) * 1e6
        if hook:  # callbacks that arrived while measuring; the rest drain before the sequential run
            row.callbacks = self.hook.call("GET", "/count")["total"] - hits_before
            harness.drain(self.hook, a.quiet)
        for key in ("rps", "p50_ms", "p99_ms", "requests", "non_2xx", "socket_errors"):
            setattr(row, key, result[key])
        sequential = wrk(url, headers, body, self.counter.take(), a.sequential, 1, a.load_cpu)
        row.seq_p50_ms, row.seq_p99_ms = sequential["p50_ms"], sequential["p99_ms"]
        row.processes = len(server.pids())
        row.rss_mib = server.rss_mib()
        row.store_rss_mib = harness.rss_mib(valkey.pids()) if valkey else None


def wiremock_mapping(stub: str, hook_url: str | None) -> dict:
    path = harness.SENDS["alphasms"][0]
    request: dict = {"method": "POST", "url": path}
    response: dict = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": ALPHASMS_OK}
    mapping: dict = {"request": request, "response": response}
    if stub != "static":
        request["bodyPatterns"] = [{"matchesJsonPath": "$.auth"}, {"matchesJsonPath": "$.data[0].phone"},
                                   {"matchesJsonPath": "$.data[?(@.type == 'sms')]"}]
        response.update(body=ALPHASMS_TEMPLATED, transformers=["response-template"])
    if hook_url:
        mapping["serveEventListeners"] = [{"name": "webhook", "parameters": {
            "method": "POST", "url": hook_url, "headers": {"Content-Type": "application/json"},
            "body": "{\"id\": {{jsonPath originalRequest.body '$.data[0].id'}}, \"status\": \"DELIVERED\"}"}}]
    return mapping


def median(found: list[Row]) -> Row:
    """The run of a row with the median req/s (the lower one of an even count), noting the others."""
    ordered = sorted(found, key=lambda r: r.rps)
    chosen = ordered[(len(ordered) - 1) // 2]
    if len(found) > 1:
        chosen.notes.append(f"median of {len(found)} runs: {', '.join(f'{r.rps:.0f}' for r in found)} req/s")
    return chosen


# -- report ----------------------------------------------------------------------------------------
def fmt(value, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def ratio(row: Row, against: Row | None) -> str:
    return f"{row.rps / against.rps:.2f}x" if against and against.rps else "-"


def line(row: Row) -> str:
    extra = ""
    if row.rejected is not None:
        extra += f"  accepted {row.accepted} rejected {row.rejected}"
    if row.callbacks_drained is not None:
        extra += (f"  callbacks {row.callbacks} while measured, {row.callbacks_drained} in all"
                  f" (expected {fmt(row.callbacks_expected)}, duplicated {row.callbacks_duplicated})")
    extra += "".join(f"  [{note}]" for note in row.notes)
    store = f" + Valkey {row.store_rss_mib:.0f}" if row.store_rss_mib is not None else ""
    return (f"  {row.server:8} {row.title:70} [{row.cores} core{'s' if row.cores == 'all' else ''}] {row.rps:7.0f} req/s  p50 {row.p50_ms:6.2f}  "
            f"p99 {row.p99_ms:7.2f} ms  seq p50 {row.seq_p50_ms:.2f} p99 {row.seq_p99_ms:.2f} ms  "
            f"{row.cpu_us_per_request:5.0f} µs CPU/req  RSS {row.rss_mib:.0f}{store} MiB ({row.processes} proc)  "
            f"startup {row.startup_s:.2f} s  non-2xx {row.non_2xx}{extra}")


def markdown(rows: dict[str, Row], meta: dict) -> str:
    lines = [
        f"Machine: {meta['machine']}; load average {meta['load_before']} before, {meta['load_after']} after.",
        f"Cores: one-core rows run the server (and its Valkey) on CPU {meta['one_cpu']} and wrk on CPU "
        f"{meta['load_cpu']}; all-core rows run the server on CPUs {meta['all_cpus']}, "
        + ("so wrk shares a core with it. " if meta["shared"] else "wrk apart. ")
        + f"The webhook receiver runs on wrk's core. wrk -t1 -c{meta['connections']} -d{meta['seconds']}s after a "
        f"{meta['warmup']} s warm-up; sequential = wrk -c1 -d{meta['sequential']}s"
        + (f"; each row run {meta['repeat']} times in passes, the median shown." if meta["repeat"] > 1 else "."),
        "",
        "| row | cores | req/s | ratio vs WireMock static (same cores) | p50 / p99 ms | sequential p50 / p99 ms "
        "| CPU µs/req | RSS MiB (processes) | startup s | rejected | callbacks (expected, duplicated) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        static = rows.get(f"wm-static-{row.cores}")
        webhook = rows.get(f"wm-webhook-{row.cores}")
        versus = "-" if static is None or static is row else ratio(row, static)
        if row.server == "msgemu" and row.callbacks_drained is not None and webhook:
            versus += f"; {ratio(row, webhook)} vs WireMock + webhook"
        store = f" + Valkey {row.store_rss_mib:.0f}" if row.store_rss_mib is not None else ""
        callbacks = "-" if row.callbacks_drained is None else (
            f"{row.callbacks_drained} ({fmt(row.callbacks_expected)}, {row.callbacks_duplicated})")
        lines.append(
            f"| {row.server} {row.title} | {row.cores} | {row.rps:.0f} | {versus} | {row.p50_ms:.2f} / {row.p99_ms:.2f} | "
            f"{row.seq_p50_ms:.2f} / {row.seq_p99_ms:.2f} | {row.cpu_us_per_request:.0f} | "
            f"{row.rss_mib:.0f} ({row.processes}){store} | {row.startup_s:.2f} | {fmt(row.rejected)} | {callbacks} |")
    notes = [f"- {row.server} {row.title} ({row.cores} core{'s' if row.cores == 'all' else ''}): {'; '.join(row.notes)}"
             for row in rows.values() if row.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


ONE_PROCESS = {"rps": 4000, "p99_ms": 15, "seq_p50_ms": 0.25}  # issue 15: one process, 50 connections


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def verdicts(rows: dict[str, Row]) -> list[str]:
    """Issue 15's targets, judged on this run's rows."""
    out = []
    best = max((r for r in rows.values() if r.server == "msgemu" and r.cores == "all" and r.callbacks_drained is None
                and not r.key.startswith("unshared")), key=lambda r: r.rps, default=None)
    for key in ("wm-static-all", "wm-static-one"):
        static = rows.get(key)
        if best and static:
            out.append(f"- msgemu on all cores ({best.title}, {best.rps:.0f} req/s) vs WireMock's static stub, journal on, "
                       f"{static.cores} core{'s' if static.cores == 'all' else ''} ({static.rps:.0f} req/s): "
                       f"{best.rps / static.rps:.2f}x, target >= 1x {'met' if best.rps >= static.rps else 'NOT met'}")
    ceiling, static = rows.get("unshared-2"), rows.get("wm-static-all")
    if ceiling and static:
        out.append(f"- the ceiling of all cores (2 processes, nothing shared, {ceiling.rps:.0f} req/s) vs WireMock's static "
                   f"stub on all cores ({static.rps:.0f} req/s): {ceiling.rps / static.rps:.2f}x")
    for row in rows.values():  # one process, memory store: every provider's full send
        if row.server == "msgemu" and row.key.startswith("memory-1") and row.callbacks_drained is None:
            met = [row.rps >= ONE_PROCESS["rps"], row.p99_ms < ONE_PROCESS["p99_ms"], row.seq_p50_ms < ONE_PROCESS["seq_p50_ms"]]
            out.append(f"- {row.title}: {row.rps:.0f} req/s (target >= {ONE_PROCESS['rps']}: {_met(met[0])}), "
                       f"p99 {row.p99_ms:.1f} ms (< {ONE_PROCESS['p99_ms']}: {_met(met[1])}), sequential p50 "
                       f"{row.seq_p50_ms:.2f} ms (< {ONE_PROCESS['seq_p50_ms']}: {_met(met[2])})")
    if bare := rows.get("bare-one"):
        out.append(f"- for scale, the bare aiohttp handler on the same core: {bare.rps:.0f} req/s, p50 {bare.p50_ms:.1f} / "
                   f"p99 {bare.p99_ms:.1f} ms, sequential p50 {bare.seq_p50_ms:.2f} ms")
    for row in rows.values():
        webhook = rows.get(f"wm-webhook-{row.cores}")
        if row.server == "msgemu" and row.callbacks_drained is not None and webhook and webhook.rps:
            out.append(f"- {row.title} ({row.rps:.0f} req/s) vs WireMock + webhook, same cores ({webhook.rps:.0f} req/s): "
                       f"{row.rps / webhook.rps:.2f}x, target >= 3x {'met' if row.rps >= 3 * webhook.rps else 'NOT met'}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["msgemu", "wiremock"])
    parser.add_argument("--rows", help="comma-separated row keys to run (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="print the row keys and exit")
    parser.add_argument("--providers", default=",".join(harness.SENDS),
                        help="providers with a memory-store row of their own (comma separated; alphasms is always in)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk before each measurement (the JVM compiles its hot code meanwhile)")
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1, help="run every row this many times (in passes) and report the median")
    harness.add_run_arguments(parser)
    parser.add_argument("--wiremock-jar")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    chosen = [s for s in specs([p for p in args.providers.split(",") if p])
              if (not args.rows or s.key in args.rows.split(","))
              and (args.only is None or s.server.lower() == args.only)]
    if args.list:
        for spec in chosen:
            print(f"{spec.key:20} {spec.server} {spec.title} [{spec.cores} core{'s' if spec.cores == 'all' else ''}]")
        return 0
    if missing := harness.ensure_tools(valkey=any(s.store == "valkey" for s in chosen)):
        print(f"not found, and not installed: {missing} (apt-get install wrk util-linux; bash .ci/valkey)", file=sys.stderr)
        return 2
    if any(s.server == "WireMock" for s in chosen):
        args.wiremock_jar = harness.find_wiremock_jar(args.wiremock_jar)
        if not args.wiremock_jar or not shutil.which("java"):
            print("WireMock needs java and the npm package wiremock (or --wiremock-jar)", file=sys.stderr)
            return 2
    cpus = harness.machine_cpus()
    args.load_cpu = [args.load_cpu if args.load_cpu is not None else cpus[-1]]
    args.one_cpu = [next((c for c in cpus if c not in args.load_cpu), cpus[0])]
    args.all_cpus = cpus
    meta = {"machine": f"{len(cpus)} cores, {harness.interpreter()}",
            "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()), "connections": args.connections,
            "seconds": args.seconds, "warmup": args.warmup, "sequential": args.sequential, "repeat": args.repeat,
            "one_cpu": cpu_list(args.one_cpu), "load_cpu": cpu_list(args.load_cpu), "all_cpus": cpu_list(cpus),
            "shared": bool(set(args.load_cpu) & set(cpus)),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{meta['machine']}: one-core rows: server on CPU {meta['one_cpu']}, wrk on CPU {meta['load_cpu']}; "
          f"all-core rows: server on CPUs {meta['all_cpus']}, wrk on CPU {meta['load_cpu']}"
          + (" (shared with the server)" if meta["shared"] else ""), flush=True)
    hook = harness.receiver(args.load_cpu)
    bench = Bench(args, hook)
    runs: dict[str, list[Row]] = {}
    try:
        for attempt in range(args.repeat):  # passes over every row, so a row's runs are spread out in time
            if args.repeat > 1:
                print(f"pass {attempt + 1} of {args.repeat}", flush=True)
            for spec in chosen:
                try:
                    row = bench.run(spec)
                except Exception as exc:  # one failed row does not lose the others
                    print(f"  {spec.key}: failed: {exc}", flush=True)
                    continue
                runs.setdefault(spec.key, []).append(row)
                print(line(row), flush=True)
    finally:
        hook.stop()
    rows = {key: median(found) for key, found in runs.items()}
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report = markdown(rows, meta)
    if verdict := verdicts(rows):
        report += "\n\nTargets of issue 15, this run:\n" + "\n".join(verdict)
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": {k: asdict(v) for k, v in rows.items()},
                                                "runs": {k: [asdict(r) for r in found] for k, found in runs.items()}}, indent=2))
    bad = sorted({r.key for found in runs.values() for r in found if r.server == "msgemu" and (
        r.rejected or r.callbacks_duplicated or (r.callbacks_expected is not None and r.callbacks_drained != r.callbacks_expected))})
    if bad:
        print(f"\nrows with rejected requests or callbacks not exactly once: {', '.join(bad)}", file=sys.stderr)
    failed = sum(len(found) for found in runs.values()) < len(chosen) * args.repeat
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
