"""Scale-out evidence: msgemu on a Valkey store with 1, 2, 4 workers, and "two hosts" (two msgemu
process groups on different ports sharing one Valkey), each sending AlphaSMS messages with a
callback URL; prints req/s in total and per worker, and checks every callback arrived exactly
once across workers and hosts.

    python benchmarks/scaleout.py                      # 1, 2, 4 workers and two hosts, ~2 minutes
    python benchmarks/scaleout.py --workers 1,2 --seconds 5 --host-workers 2
    python benchmarks/scaleout.py --json scaleout.json

Each configuration gets a fresh Valkey and fresh servers on every core (Valkey too), wrk and the
callback receiver on the last core (with 2 cores they share one with the servers: the output
says so). wrk -t1 -c50 after a warm-up; "two hosts" are driven by two wrk processes with half the
connections each, at the same time. Every request is distinct (phone, text and client id), so no
duplicate rule trips. The receiver counts POSTs per (client id, status): an AlphaSMS message
accepted with a `hook` owes exactly one ENROUTE and one DELIVERED callback. After the callbacks
stop coming, any (id, status) received twice, or owed and never received, is printed, and the
script exits 1.

Needs wrk, taskset and valkey-server or redis-server; when missing, wrk is installed from apt and
a Valkey/Redis server through .ci/valkey (from apt), each saying so. Nothing else is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from harness import Counter, Process, Valkey, cpu_list, journal, send_body, wrk  # noqa: E402

STATUSES = ("ENROUTE", "DELIVERED")  # the callbacks one accepted AlphaSMS message owes (sent, delivered)


@dataclass
class Result:
    name: str
    hosts: int
    workers: int  # in all, over the hosts
    rps: float = 0.0
    rps_per_worker: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    cpu_us_per_request: float = 0.0
    rss_mib: float = 0.0
    valkey_rss_mib: float = 0.0
    accepted: int = 0
    rejected: int = 0
    messages: int = 0
    callbacks: int = 0
    callbacks_owed: int = 0
    duplicated: list[str] = field(default_factory=list)
    missing: int = 0
    incomplete: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)  # msgemu's callback tries by outcome, when not exactly once

    @property
    def exactly_once(self) -> bool:
        return not self.duplicated and not self.missing and self.callbacks == self.callbacks_owed


class Scaleout:
    def __init__(self, args: argparse.Namespace, hook: Process) -> None:
        self.args = args
        self.hook = hook
        self.counter = Counter()

    def run(self, name: str, hosts: int, workers_per_host: int) -> Result:
        a = self.args
        result = Result(name, hosts, hosts * workers_per_host)
        valkey = Valkey(a.server_cpus)
        servers: list[Process] = []
        try:
            workers = None if workers_per_host == 1 else str(workers_per_host)
            for _ in range(hosts):
                servers.append(harness.msgemu(a.msgemu_root, a.server_cpus, a.msgemu_arg, store=valkey.url, workers=workers))
            servers[0].call("PATCH", "/_emulator/accounts/alphasms", {"balance": 10**11})
            self.hook.call("POST", "/reset")
            path, headers, body = send_body("alphasms", f"{self.hook.base}/hook")
            connections = max(1, a.connections // hosts)
            self.load(servers, path, headers, body, a.warmup, connections)
            pids = [p for s in servers for p in s.pids()] + valkey.pids()
            cpu_before = harness.cpu_seconds(pids)
            runs = self.load(servers, path, headers, body, a.seconds, connections)
            result.cpu_us_per_request = (harness.cpu_seconds(pids) - cpu_before) / max(1, sum(r["requests"] for r in runs)) * 1e6
            result.rps = sum(r["rps"] for r in runs)
            result.rps_per_worker = result.rps / result.workers
            result.p99_ms = max(r["p99_ms"] for r in runs)
            result.requests = sum(r["requests"] for r in runs)
            result.non_2xx = sum(r["non_2xx"] for r in runs)
            result.rss_mib = sum(s.rss_mib() for s in servers)
            result.valkey_rss_mib = harness.rss_mib(valkey.pids())
            counts = journal(servers[-1], "alphasms")  # the store is shared: any host answers for all
            result.accepted, result.rejected, result.messages = counts["accepted"], counts["rejected"], counts["messages"]
            result.callbacks = harness.drain(self.hook, a.quiet, expected=result.messages * len(STATUSES))
            self.check_callbacks(result, servers[-1])
            if not result.exactly_once:  # what msgemu's own journal says about its tries
                result.attempts = {o: servers[-1].call("GET", f"/_emulator/callbacks?provider=alphasms&outcome={o}&limit=1")["count"]
                                   for o in ("delivered", "retrying", "refused", "gave_up")}
        finally:
            for server in servers:
                server.stop()
            valkey.stop()
        return result

    def load(self, servers: list[Process], path: str, headers: dict, body: str, seconds: int, connections: int) -> list[dict]:
        """One wrk per host, all at once, each with its own range of numbers."""
        pending = [wrk(s.base + path, headers, body, self.counter.take(), seconds, connections, self.args.load_cpu,
                       background=True) for s in servers]
        return [finish() for finish in pending]

    def check_callbacks(self, result: Result, server: Process) -> None:
        """Exactly once per (message, status): nothing twice, nothing owed left out. The messages
        owing callbacks come from msgemu's own list (its last 10,000; the count covers all)."""
        seen: dict[str, int] = self.hook.call("GET", "/keys")
        result.callbacks_owed = result.messages * len(STATUSES)
        result.duplicated = sorted(f"{key} x{count}" for key, count in seen.items() if count > 1)
        result.missing = max(0, result.callbacks_owed - sum(1 for k in seen if k.partition("|")[2] in STATUSES))
        if result.missing:
            listed = server.call("GET", "/_emulator/messages?provider=alphasms&limit=10000")["messages"]
            for message in listed:
                owed = [s for s in STATUSES if f"{message['client_ref']}|{s}" not in seen]
                if owed:
                    result.incomplete.append(f"client id {message['client_ref']} (msgemu {message['id']}, status "
                                             f"{message['status']}): no {', '.join(owed)}")


def report(results: list[Result], meta: dict) -> str:
    base = next((r.rps_per_worker for r in results if r.workers == 1 and r.hosts == 1), None)
    lines = [
        f"Machine: {meta['machine']}; load average {meta['load_before']} before, {meta['load_after']} after.",
        f"Servers and Valkey on CPUs {meta['server_cpus']}; wrk and the callback receiver on CPU {meta['load_cpu']}"
        + (" (shared with the servers)" if meta["shared"] else "") + f"; wrk -t1 -c{meta['connections']} in all "
        f"-d{meta['seconds']}s after a {meta['warmup']} s warm-up; every send has a hook (2 callbacks a message).",
        "",
        "| configuration | workers | req/s | req/s per worker | per worker vs 1 worker | p99 ms | CPU µs/req "
        "(msgemu + Valkey) | RSS MiB (msgemu + Valkey) | rejected | callbacks received / owed | duplicated | missing |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        scaling = f"{r.rps_per_worker / base:.2f}" if base else "-"
        lines.append(f"| {r.name} | {r.workers} | {r.rps:.0f} | {r.rps_per_worker:.0f} | {scaling} | {r.p99_ms:.1f} | "
                     f"{r.cpu_us_per_request:.0f} | {r.rss_mib:.0f} + {r.valkey_rss_mib:.0f} | {r.rejected} | "
                     f"{r.callbacks} / {r.callbacks_owed} | {len(r.duplicated)} | {r.missing} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,4", help="worker counts of the one-host runs (comma separated)")
    parser.add_argument("--host-workers", type=int, default=1, help="workers per host in the two-host run (0: skip it)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50, help="in all (split between the hosts)")
    harness.add_run_arguments(parser)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if missing := harness.ensure_tools(valkey=True):
        print(f"not found, and not installed: {missing} (apt-get install wrk util-linux; bash .ci/valkey)", file=sys.stderr)
        return 2
    cpus = harness.machine_cpus()
    args.server_cpus = cpus
    args.load_cpu = [args.load_cpu if args.load_cpu is not None else cpus[-1]]
    meta = {"machine": f"{len(cpus)} cores, {harness.interpreter()}",
            "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()), "connections": args.connections,
            "seconds": args.seconds, "warmup": args.warmup, "server_cpus": cpu_list(cpus),
            "load_cpu": cpu_list(args.load_cpu), "shared": bool(set(args.load_cpu) & set(cpus)),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{meta['machine']}: servers and Valkey on CPUs {meta['server_cpus']}, wrk and the receiver on CPU "
          f"{meta['load_cpu']}" + (" (shared)" if meta["shared"] else ""), flush=True)
    configurations = [(f"one host, {n} worker{'s' if n > 1 else ''}", 1, n) for n in map(int, args.workers.split(","))]
    if args.host_workers:
        configurations.append((f"two hosts x {args.host_workers} worker{'s' if args.host_workers > 1 else ''}, one Valkey",
                               2, args.host_workers))
    hook = harness.receiver(args.load_cpu)
    bench = Scaleout(args, hook)
    results: list[Result] = []
    failed = False
    try:
        for name, hosts, workers in configurations:
            try:
                r = bench.run(name, hosts, workers)
            except Exception as exc:  # one failed configuration does not lose the others
                print(f"  {name}: failed: {exc}", flush=True)
                failed = True
                continue
            results.append(r)
            print(f"  {name:40} {r.rps:7.0f} req/s  {r.rps_per_worker:6.0f} per worker  p99 {r.p99_ms:7.1f} ms  "
                  f"rejected {r.rejected}  callbacks {r.callbacks}/{r.callbacks_owed} "
                  f"duplicated {len(r.duplicated)} missing {r.missing}", flush=True)
            if r.attempts:
                print(f"    msgemu's callback tries by outcome: {r.attempts}", flush=True)
            for label, items in (("duplicated", r.duplicated), ("owed, never received", r.incomplete)):
                if items:
                    print(f"    {label} ({len(items)}): {'; '.join(items[:10])}{' ...' if len(items) > 10 else ''}", flush=True)
    finally:
        hook.stop()
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(results, meta)
    print("\n" + text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    wrong = [r.name for r in results if not r.exactly_once or r.rejected]
    if wrong:
        print(f"\ncallbacks not exactly once, or requests rejected, in: {'; '.join(wrong)}", file=sys.stderr)
    return 1 if wrong or failed else 0


if __name__ == "__main__":
    sys.exit(main())
