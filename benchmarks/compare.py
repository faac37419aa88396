"""msgemu side by side with WireMock, in one run, on this machine.

    python benchmarks/compare.py                      # everything, ~5 minutes
    python benchmarks/compare.py --only msgemu --providers alphasms,smsc
    python benchmarks/compare.py --msgemu-root /tmp/old-checkout   # another msgemu tree, same harness
    python benchmarks/compare.py --json results.json --markdown results.md

Same conditions for every row: the server alone on one core (taskset), wrk alone on another,
`wrk -t1 -c50` for the same duration after a warm-up, then a sequential run (`-c1`) for p50/p99;
a fresh server process per row, whose startup time, RSS and CPU time per request are recorded.
Every request is distinct (a counter in the text and the client id, never reset between the
warm-up and the measurement), so SMSC's duplicate rule (the same text twice within 60 s is
error 9) cannot skew a row; msgemu rows also report the share of requests it accepted.

WireMock (the npm package `wiremock` ships the standalone jar; Java 17+) runs as:
  - a static stub (journal on, its default),
  - a JSON-path-matching, response-templated AlphaSMS stub,
  - the same with a templated webhook to a local receiver (msgemu: AlphaSMS with `hook`).
The jar is looked up with --wiremock-jar, $WIREMOCK_JAR, or installed with npm into
~/.cache/msgemu-bench (outside the repository).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import parse_wrk  # noqa: E402  (one reading of wrk's output for every benchmark)

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "msgemu-bench"
TARGET_RPS, TARGET_P99_MS, TARGET_SEQ_P50_MS = 4000, 15.0, 0.25

ALPHASMS_KEY = "alphasms-demo-key"
HYBER_AUTH = "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"  # demo:demo-password

# One full send per provider; {n} becomes a number unique over the whole run (text and client id).
SENDS = {
    "alphasms": ("/alphasms/api/json.php", {"Content-Type": "application/json"},
                 '{"auth":"%s","data":[{"type":"sms","id":{n},"phone":380971234567,"sms_signature":"Bench",'
                 '"sms_message":"Your code is {n}"{hook}}]}' % ALPHASMS_KEY),
    "octopush": ("/octopush/v1/public/multi-channel/send",
                 {"Content-Type": "application/json", "api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"},
                 '{"channel":"sms","text":"Your code is {n}","recipients":[{"phone_number":"+33611223344"}],'
                 '"sender":"Bench","purpose":"alert"}'),
    "smsc": ("/smsc/sys/send.php", {"Content-Type": "application/x-www-form-urlencoded"},
             "login=demo&psw=demo-password&phones=79001234567&mes=Your+code+is+{n}&id={n}&fmt=3&charset=utf-8"),
    "hyber": ("/hyber/1000", {"Content-Type": "application/json", "Authorization": HYBER_AUTH},
              '{"phone_number":380961111111,"extra_id":"b{n}","channels":["sms"],'
              '"channel_options":{"sms":{"text":"Your code is {n}","alpha_name":"GMSU","ttl":300}}}'),
    "revicom": ("/revicom/api/v1/message", {"Content-Type": "application/json", "Authorization": "Basic revicom-demo-token"},
                '[{"channelType":"SMS","senderName":"Bench","destination":"79001234567","content":"Your code is {n}"}]'),
}

LUA = """
wrk.method = "POST"
{headers}
local template = {body}
local n = {start}
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, (template:gsub("{{n}}", tostring(n))))
end
"""

ALPHASMS_OK = '{"success":true,"data":[{"success":true,"data":{"id":1,"msg_id":100000001,"data":1,"parts":1}}]}'
ALPHASMS_TEMPLATED = (
    '{"success":true,"data":[{"success":true,"data":{"id":{{jsonPath request.body \'$.data[0].id\'}},'
    '"msg_id":{{randomInt lower=100000000 upper=999999999}},"data":1,"parts":1}}]}'
)


@dataclass
class Row:
    name: str
    server: str
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
    startup_s: float = 0.0
    accepted: float | None = None  # msgemu: share of the measured requests it accepted
    callbacks: int | None = None  # webhook rows: POSTs the receiver got while measuring
    callbacks_drained: int | None = None  # ... and in all, once they stopped coming
    notes: list[str] = field(default_factory=list)


# -- processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[3:5]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


class Process:
    """A server pinned to one core; startup time is spawn -> first HTTP answer."""

    def __init__(self, argv: list[str], ready_path: str, port: int, cpu: str, cwd: Path | None = None, env=None):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile("w+")
        spawned = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", cpu, *argv], cwd=cwd, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        wait_http(self.base + ready_path, self.proc)
        self.startup_s = time.monotonic() - spawned

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def msgemu(root: Path, cpu: str, extra: list[str]) -> Process:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--clock", "real",
            "--log-level", "WARNING", *extra]
    return Process(argv, "/_emulator/health", port, cpu, cwd=root, env=env)


def wiremock(jar: Path, cpu: str, mappings: list[dict]) -> Process:
    root = Path(tempfile.mkdtemp(prefix="wiremock-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    for index, mapping in enumerate(mappings):
        (root / "mappings" / f"{index}.json").write_text(json.dumps(mapping))
    port = free_port()
    argv = ["java", "-jar", str(jar), "--port", str(port), "--root-dir", str(root), "--disable-banner"]
    return Process(argv, "/__admin/health", port, cpu)


def receiver(cpu: str) -> Process:
    """A webhook receiver (aiohttp) that counts POSTs; on the load core, the same for every server."""
    port = free_port()
    code = (
        "import sys\nfrom aiohttp import web\nhits=[0]\n"
        "async def hook(r):\n    await r.read(); hits[0]+=1; return web.Response(text='ok')\n"
        "async def count(r):\n    return web.json_response({'count': hits[0]})\n"
        "app=web.Application(); app.router.add_post('/hook', hook); app.router.add_get('/count', count)\n"
        "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), access_log=None, print=None)\n"
    )
    return Process([sys.executable, "-c", code, str(port)], "/count", port, cpu)


# -- load ------------------------------------------------------------------------------------------
class Counter:
    """Hands out disjoint ranges for {n}, so no two requests of the whole run are alike (and the
    numbers stay valid client ids: SMSC takes 1..2147483647)."""

    def __init__(self) -> None:
        self.next = 1_000_000

    def take(self) -> int:
        start, self.next = self.next, self.next + 1_000_000  # more requests than one wrk run sends
        return start


def wrk(url: str, headers: dict, body: str, start: int, seconds: int, connections: int, cpu: str) -> dict:
    lua = LUA.format(headers="\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()),
                     body=json.dumps(body), start=start)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        out = subprocess.run(
            ["taskset", "-c", cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "--latency", "-s", script.name, url],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.counter = Counter()

    @staticmethod
    def drain(hook: Process, quiet: float = 4.0, limit: float = 120.0) -> int:
        """The receiver's count once it stopped growing for `quiet` s (msgemu's last callback of a
        send comes 3 s after it)."""
        count, since, started = -1, time.monotonic(), time.monotonic()
        while time.monotonic() - started < limit:
            now = hook.call("GET", "/count")["count"]
            if now != count:
                count, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.25)
        return count

    def measure(self, row: Row, server: Process, path: str, headers: dict, body: str,
                hook: Process | None = None) -> Row:
        a = self.args
        url = server.base + path
        row.startup_s = server.startup_s
        wrk(url, headers, body, self.counter.take(), a.warmup, a.connections, a.load_cpu)
        time.sleep(0.5)
        hits_before = hook.call("GET", "/count")["count"] if hook else 0
        cpu_before = server.cpu_seconds()
        result = wrk(url, headers, body, self.counter.take(), a.seconds, a.connections, a.load_cpu)
        row.cpu_us_per_request = (server.cpu_seconds() - cpu_before) / max(1, result["requests"]) * 1e6
        if hook:  # let the callbacks of the measured sends drain, so the sequential run is not behind them
            row.callbacks = hook.call("GET", "/count")["count"] - hits_before
            row.callbacks_drained = self.drain(hook) - hits_before
        for key in ("rps", "p50_ms", "p99_ms", "requests", "non_2xx", "socket_errors"):
            setattr(row, key, result[key])
        sequential = wrk(url, headers, body, self.counter.take(), a.sequential, 1, a.load_cpu)
        row.seq_p50_ms, row.seq_p99_ms = sequential["p50_ms"], sequential["p99_ms"]
        row.rss_mib = server.rss_mib()
        return row

    # msgemu ---------------------------------------------------------------------------------------
    def msgemu_send(self, provider: str, hook: Process | None = None) -> Row:
        path, headers, template = SENDS[provider]
        hook_field = f',"hook":"{hook.base}/hook"' if hook else ""
        body = template.replace("{hook}", hook_field)
        name = f"{provider} full send" + (" + webhook (sent, delivered)" if hook else "")
        server = msgemu(self.args.msgemu_root, self.args.server_cpu, self.args.msgemu_arg)
        try:
            server.call("PATCH", f"/_emulator/accounts/{provider}", {"balance": 10**11})
            row = self.measure(Row(name, "msgemu"), server, path, headers, body, hook)
            journal = f"/_emulator/requests?provider={provider}&limit=1"  # warm-up, measured and sequential
            accepted = server.call("GET", journal + "&outcome=accepted")["count"]
            row.accepted = accepted / max(1, server.call("GET", journal)["count"])
        finally:
            server.stop()
        return row

    # WireMock -------------------------------------------------------------------------------------
    def wiremock_row(self, kind: str, hook: Process | None = None) -> Row:
        path, headers, template = SENDS["alphasms"]
        body = template.replace("{hook}", "")
        request = {"method": "POST", "url": path}
        response: dict = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": ALPHASMS_OK}
        mapping: dict = {"request": request, "response": response}
        if kind != "static":
            request["bodyPatterns"] = [{"matchesJsonPath": "$.auth"}, {"matchesJsonPath": "$.data[0].phone"},
                                       {"matchesJsonPath": "$.data[?(@.type == 'sms')]"}]
            response.update(body=ALPHASMS_TEMPLATED, transformers=["response-template"])
        if hook:
            mapping["serveEventListeners"] = [{"name": "webhook", "parameters": {
                "method": "POST", "url": f"{hook.base}/hook", "headers": {"Content-Type": "application/json"},
                "body": "{\"id\": {{jsonPath originalRequest.body '$.data[0].id'}}, \"status\": \"delivered\"}"}}]
        names = {"static": "static stub, journal on", "templated": "JSON-path matching + templated AlphaSMS stub",
                 "webhook": "templated AlphaSMS stub + webhook"}
        server = wiremock(self.args.wiremock_jar, self.args.server_cpu, [mapping])
        try:
            row = self.measure(Row(names[kind], "WireMock"), server, path, headers, body, hook)
        finally:
            server.stop()
        return row


# -- report ----------------------------------------------------------------------------------------
def fmt(value, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(pairs: list[tuple[str, Row | None, Row | None]], sends: list[Row], meta: dict) -> str:
    lines = [f"Machine: {meta['machine']}; load average {meta['load_before']} before, {meta['load_after']} after "
             f"(other processes were running: figures are noisy).",
             f"wrk -t1 -c{meta['connections']} -d{meta['seconds']}s after a {meta['warmup']} s warm-up; "
             f"sequential = wrk -c1 -d{meta['sequential']}s; server on CPU {meta['server_cpu']}, wrk on CPU {meta['load_cpu']}.",
             "",
             "| row | WireMock req/s | msgemu req/s | ratio | WireMock p50 / p99 | msgemu p50 / p99 | "
             "sequential p50 / p99 (WM, msgemu) | CPU µs/req (WM, msgemu) | RSS MiB (WM, msgemu) | startup s (WM, msgemu) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for title, wm, me in pairs:
        ratio = f"{me.rps / wm.rps:.2f}x" if wm and me and wm.rps else "-"
        lines.append(
            f"| {title} | {fmt(wm and wm.rps)} | {fmt(me and me.rps)} | {ratio} | "
            f"{_lat(wm)} | {_lat(me)} | {_seq(wm)}, {_seq(me)} | {fmt(wm and wm.cpu_us_per_request)}, "
            f"{fmt(me and me.cpu_us_per_request)} | {fmt(wm and wm.rss_mib)}, {fmt(me and me.rss_mib)} | "
            f"{fmt(wm and wm.startup_s, '.2f')}, {fmt(me and me.startup_s, '.2f')} |")
    lines += ["", f"msgemu, one process, memory store: a full send per provider against the targets "
              f"(>= {TARGET_RPS} req/s, p99 < {TARGET_P99_MS:g} ms, sequential p50 < {TARGET_SEQ_P50_MS} ms):", "",
              "| provider | req/s | p50 | p99 | sequential p50 / p99 | CPU µs/req | accepted | RSS MiB | targets met |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in sends:
        met = [row.rps >= TARGET_RPS, row.p99_ms < TARGET_P99_MS, row.seq_p50_ms < TARGET_SEQ_P50_MS]
        lines.append(f"| {row.name} | {row.rps:.0f} | {row.p50_ms:.2f} ms | {row.p99_ms:.2f} ms | {_seq(row)} | "
                     f"{row.cpu_us_per_request:.0f} | {fmt(row.accepted and row.accepted * 100)}% | {row.rss_mib:.0f} | "
                     f"{'/'.join('yes' if m else 'no' for m in met)} |")
    return "\n".join(lines)


def _lat(row: Row | None) -> str:
    return "-" if row is None else f"{row.p50_ms:.2f} / {row.p99_ms:.2f} ms"


def _seq(row: Row | None) -> str:
    return "-" if row is None else f"{row.seq_p50_ms:.2f} / {row.seq_p99_ms:.2f} ms"


def find_jar(explicit: str | None) -> Path | None:
    candidates = [explicit, os.environ.get("WIREMOCK_JAR")]
    for candidate in candidates:
        if candidate:
            return Path(candidate)
    found = sorted(CACHE.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    if not found and shutil.which("npm"):
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"installing the npm package wiremock into {CACHE}", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "wiremock"], check=True, capture_output=True)
        found = sorted(CACHE.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    return found[-1] if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["msgemu", "wiremock"])
    parser.add_argument("--providers", default=",".join(SENDS), help="msgemu provider rows (comma separated)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--msgemu-root", type=Path, default=REPO, help="the msgemu checkout to run")
    parser.add_argument("--msgemu-arg", action="append", default=[], help="extra `msgemu serve` argument (repeatable)")
    parser.add_argument("--wiremock-jar")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if not shutil.which(tool):
            print(f"{tool} not found (apt-get install wrk util-linux)", file=sys.stderr)
            return 2
    if args.only != "msgemu":
        args.wiremock_jar = find_jar(args.wiremock_jar)
        if not args.wiremock_jar or not shutil.which("java"):
            print("WireMock needs java and the npm package wiremock (or --wiremock-jar)", file=sys.stderr)
            return 2
    meta = {"machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()), "connections": args.connections,
            "seconds": args.seconds, "warmup": args.warmup, "sequential": args.sequential,
            "server_cpu": args.server_cpu, "load_cpu": args.load_cpu, "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    bench = Bench(args)
    hook = receiver(args.load_cpu)
    rows: dict[str, Row] = {}

    def run(key: str, make) -> None:
        try:
            rows[key] = row = make()
        except Exception as exc:  # one failed row does not lose the others
            print(f"  {key}: failed: {exc}", flush=True)
            return
        extra = f"  accepted {row.accepted:.0%}" if row.accepted is not None else ""
        extra += f"  callbacks {row.callbacks} ({row.callbacks_drained} once drained)" if row.callbacks is not None else ""
        print(f"  {row.server:8} {row.name:52} {row.rps:8.0f} req/s  p50 {row.p50_ms:6.2f}  p99 {row.p99_ms:6.2f} ms  "
              f"seq p50 {row.seq_p50_ms:.2f}  p99 {row.seq_p99_ms:.2f} ms  {row.cpu_us_per_request:5.0f} µs CPU/req  "
              f"RSS {row.rss_mib:5.0f} MiB  startup {row.startup_s:.2f} s  non-2xx {row.non_2xx}{extra}", flush=True)

    try:
        if args.only != "wiremock":
            for provider in [p for p in args.providers.split(",") if p]:
                run(f"msgemu {provider}", lambda p=provider: bench.msgemu_send(p))
            run("msgemu webhook", lambda: bench.msgemu_send("alphasms", hook))
        if args.only != "msgemu":
            for kind in ("static", "templated", "webhook"):
                run(f"wiremock {kind}", lambda k=kind: bench.wiremock_row(k, hook if k == "webhook" else None))
    finally:
        hook.stop()
    meta["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    alphasms = rows.get("msgemu alphasms")
    pairs = [("static stub (journal on) vs msgemu full AlphaSMS send", rows.get("wiremock static"), alphasms),
             ("JSON-path + templated AlphaSMS stub vs msgemu AlphaSMS", rows.get("wiremock templated"), alphasms),
             ("templated + webhook vs msgemu AlphaSMS + callbacks", rows.get("wiremock webhook"), rows.get("msgemu webhook"))]
    sends = [rows[k] for k in rows if k.startswith("msgemu ")]
    report = markdown(pairs, sends, meta)
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": {k: asdict(v) for k, v in rows.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
