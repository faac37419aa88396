"""What compare.py and scaleout.py share: servers started pinned to cores (msgemu with any store
and worker count, WireMock, Valkey, a callback receiver), wrk driven with requests that never
repeat, and the resources (RSS, CPU time) of a server's whole process tree.

Every server is a separate process started with `taskset`, so a row's CPUs are what the output
says; startup time is spawn -> first 200 on the server's health path.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/valkey.py: the one Valkey starter of the project
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import parse_wrk  # noqa: E402  (one reading of wrk's output for every benchmark)

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "msgemu-bench"
ALPHASMS_KEY = "alphasms-demo-key"
HYBER_AUTH = "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"  # demo:demo-password

# One full send per provider. {n} is a number unique over the whole run (text and client id),
# {p7} its last seven digits in the phone number: no two requests of a run share a text or a
# recipient, so no duplicate rule can trip (SMSC: the same text twice within 60 s is error 9),
# and the phone prefixes stay clear of every provider's magic recipients (emulator/data/magic).
SENDS = {
    "alphasms": ("/alphasms/api/json.php", {"Content-Type": "application/json"},
                 '{"auth":"%s","data":[{"type":"sms","id":{n},"phone":38097{p7},"sms_signature":"Bench",'
                 '"sms_message":"Your code is {n}"{hook}}]}' % ALPHASMS_KEY),
    "octopush": ("/octopush/v1/public/multi-channel/send",
                 {"Content-Type": "application/json", "api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"},
                 '{"channel":"sms","text":"Your code is {n}","recipients":[{"phone_number":"+3361{p7}"}],'
                 '"sender":"Bench","purpose":"alert"}'),
    "smsc": ("/smsc/sys/send.php", {"Content-Type": "application/x-www-form-urlencoded"},
             "login=demo&psw=demo-password&phones=7916{p7}&mes=Your+code+is+{n}&id={n}&fmt=3&charset=utf-8"),
    "hyber": ("/hyber/1000", {"Content-Type": "application/json", "Authorization": HYBER_AUTH},
              '{"phone_number":38096{p7},"extra_id":"b{n}","channels":["sms"],'
              '"channel_options":{"sms":{"text":"Your code is {n}","alpha_name":"GMSU","ttl":300}}}'),
    "revicom": ("/revicom/api/v1/message", {"Content-Type": "application/json", "Authorization": "Basic revicom-demo-token"},
                '[{"channelType":"SMS","senderName":"Bench","destination":"7916{p7}","content":"Your code is {n}"}]'),
}

LUA = """
wrk.method = "POST"
{headers}
local template = {body}
local n = {start}
request = function()
  n = n + 1
  local body = template:gsub("{{n}}", tostring(n))
  body = body:gsub("{{p7}}", string.format("%07d", n % 10000000))
  return wrk.format(nil, nil, nil, body)
end
"""


def add_run_arguments(parser: Any) -> None:
    """The options compare.py and scaleout.py share: where the load runs, which msgemu, how long
    callbacks are waited for."""
    parser.add_argument("--quiet", type=float, default=4.0, help="seconds without a callback that end the wait for them")
    parser.add_argument("--load-cpu", type=int, help="the core of wrk and the receiver (default: the last one)")
    parser.add_argument("--msgemu-root", type=Path, default=REPO, help="the msgemu checkout to run")
    parser.add_argument("--msgemu-arg", action="append", default=[], help="extra `msgemu serve` argument (repeatable)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_cpus(cpus: list[int] | str) -> list[int]:
    """[0, 1] or the taskset form "0,1" (what the older benchmarks pass)."""
    return [int(c) for c in cpus.split(",")] if isinstance(cpus, str) else list(cpus)


def store_command(port: int | str, *command: str) -> str:
    """One command to the Valkey/Redis on `port` through redis-cli: its reply as text."""
    return subprocess.run(["redis-cli", "-p", str(port), *command], capture_output=True, text=True).stdout.strip()


def cpu_list(cpus: list[int] | str) -> str:
    return ",".join(map(str, as_cpus(cpus)))


def machine_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def interpreter() -> str:
    """The Python every server of a run is started with (this one: sys.executable), and how it
    was built where that moves the figures: a CPython that loads libpython as a shared library
    (pyenv's default build) runs msgemu's sends ~10% slower than one linked statically (Debian's
    /usr/bin/python3, python.org's Docker images), measured in the README."""
    linked = "libpython shared" if _maps_mention("libpython") else "libpython linked in"
    return f"Python {sys.version.split()[0]} ({sys.executable}, {linked})"


def _maps_mention(name: str) -> bool:
    try:
        with open("/proc/self/maps") as maps:
            return any(name in line for line in maps)
    except OSError:  # not Linux: unknown, said as "linked in"
        return False


# -- process trees ---------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """pid and every process below it (a `--workers N` server is a parent and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def started_at(pid: int) -> int | None:
    """A process's start time (clock ticks after boot): with the pid, what identifies it."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args[3:8]))} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"no 200 from {url} within {timeout} s")


class Process:
    """A server (and whatever it forks) pinned to `cpus`; startup = spawn -> first 200."""

    def __init__(self, argv: list[str], ready_path: str, port: int, cpus: list[int] | str, cwd: Path | None = None,
                 env: dict | None = None, scratch: Path | None = None) -> None:
        self.scratch = scratch  # a directory of this server's own, removed when it stops
        self.port = port
        self.cpus = as_cpus(cpus)
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile("w+")
        spawned = time.monotonic()
        self.proc = subprocess.Popen(["taskset", "-c", cpu_list(cpus), *argv], cwd=cwd, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_http(self.base + ready_path, self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"{argv[:6]} did not start:\n{self.output()[-2000:]}") from None
        self.startup_s = time.monotonic() - spawned

    def pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def rss_mib(self) -> float:
        return rss_mib(self.pids())

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
        return json.loads(raw) if raw else {}

    def stop(self) -> None:
        """SIGTERM to the parent (msgemu stops its workers); any of its processes still there after
        20 s are killed one by one, by pid (and start time, so a reused pid is left alone)."""
        tree = [(pid, started_at(pid)) for pid in self.pids()]
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid, started in tree[1:]:
            if started is not None and started_at(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def tree_env(root: Path) -> dict:
    """The environment a server of the msgemu tree `root` runs in: that tree first on the path."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))


def msgemu(root: Path, cpus: list[int] | str, extra: list[str], store: str | None = None, workers: str | None = None,
           clock: str = "real") -> Process:
    port = free_port()
    argv = [sys.executable, "-m", "emulator.cli", "serve", "--port", str(port), "--clock", clock, "--log-level", "WARNING"]
    if store:
        argv += ["--store", store]
    if workers:
        argv += ["--workers", workers]
    return Process(argv + extra, "/_emulator/health", port, cpus, cwd=root, env=tree_env(root))


# Not a mode msgemu offers: `--workers 2` forked on one port, each worker with a memory store of
# its own (nothing shared, so a message sent through one worker is unknown to the other). Only a
# benchmark runs it, as the ceiling of every core on this machine: what N processes of msgemu's
# request path do when sharing state costs nothing.
# Each process's accounts get the balance no run spends when its runtime is built. PATCHed over
# HTTP, it reached only the processes already listening (each binds its own SO_REUSEPORT socket;
# the start-up check answers once one does: the likely cause), and a process left with the demo
# balance refused ~100,000 sends of a pass in the 2026-11-24 14:28 run.
UNSHARED = ("import sys\nfrom decimal import Decimal\nfrom emulator import runtime, workers\nfrom emulator.settings import Settings\n"
            "built = runtime.Runtime.__init__\n"
            "def funded(self, settings):\n"
            "    built(self, settings)\n"
            "    for accounts in self.store.accounts.values():\n"
            "        for account in accounts:\n"
            "            account.balance = Decimal(10**11)\n"
            "runtime.Runtime.__init__ = funded\n"
            "settings = Settings.load({'port': int(sys.argv[1]), 'clock': 'real', 'log_level': 'WARNING'})\n"
            "settings.workers = sys.argv[2]\nsys.exit(workers.serve(settings, int(sys.argv[2])))\n")


def msgemu_unshared(root: Path, cpus: list[int] | str, count: int) -> Process:
    """`count` msgemu processes on one port, each with its own memory store (the ceiling row)."""
    port = free_port()
    return Process([sys.executable, "-c", UNSHARED, str(port), str(count)], "/_emulator/health", port, cpus,
                   cwd=root, env=tree_env(root))


def wiremock(jar: Path, cpus: list[int] | str, mappings: list[dict]) -> Process:
    root = Path(tempfile.mkdtemp(prefix="wiremock-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    for index, mapping in enumerate(mappings):
        (root / "mappings" / f"{index}.json").write_text(json.dumps(mapping))
    argv = ["java", "-jar", str(jar), "--port", str(port := free_port()), "--root-dir", str(root), "--disable-banner"]
    return Process(argv, "/__admin/health", port, cpus, scratch=root)


def find_wiremock_jar(explicit: str | None) -> Path | None:
    """--wiremock-jar, $WIREMOCK_JAR, or the npm package `wiremock` (which ships the standalone
    jar) installed with npm into ~/.cache/msgemu-bench, saying so."""
    for candidate in (explicit, os.environ.get("WIREMOCK_JAR")):
        if candidate:
            return Path(candidate)
    found = sorted(CACHE.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    if not found and shutil.which("npm"):
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"installing the npm package wiremock into {CACHE}", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(CACHE), "wiremock"], check=True, capture_output=True)
        found = sorted(CACHE.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    return found[-1] if found else None


def ensure_tools(valkey: bool) -> str | None:
    """wrk from apt and (when asked) a Valkey/Redis server through .ci/valkey, each installed only
    when missing and said out loud; None when everything is there, else what is still missing."""
    if not shutil.which("wrk") and shutil.which("apt-get"):
        print("installing wrk from apt (apt-get install wrk)", flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], capture_output=True)
        subprocess.run([*sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "wrk"],
                       capture_output=True)
    if valkey and not valkey_binary():
        print("installing a Valkey/Redis server from apt (bash .ci/valkey)", flush=True)
        subprocess.run(["bash", str(REPO / ".ci" / "valkey")], capture_output=True)
    missing = [tool for tool in ("wrk", "taskset") if not shutil.which(tool)]
    if valkey and not valkey_binary():
        missing.append("valkey-server or redis-server")
    return ", ".join(missing) or None


def valkey_binary() -> str | None:
    from tests.valkey import server_binary

    return server_binary()


class Valkey:
    """tests/valkey.py's ValkeyServer, pinned to `cpus` (it is part of the server side of a row)."""

    def __init__(self, cpus: list[int]) -> None:
        from tests.valkey import ValkeyServer

        self.server = ValkeyServer().start()
        self.url = self.server.url
        subprocess.run(["taskset", "-a", "-p", "-c", cpu_list(cpus), str(self.server.process.pid)],
                       check=True, capture_output=True)

    def pids(self) -> list[int]:
        return [self.server.process.pid]

    def stop(self) -> None:
        self.server.__exit__(None, None, None)


RECEIVER = r'''
import json, sys
from aiohttp import web
seen = {}   # (id, status) -> POSTs received
total = [0]
async def hook(request):
    raw = await request.read()
    total[0] += 1
    try:
        payload = json.loads(raw)
        key = f"{payload.get('id')}|{payload.get('status')}"
    except (ValueError, AttributeError):
        key = "unreadable|" + raw[:40].decode(errors="replace")
    seen[key] = seen.get(key, 0) + 1
    return web.Response(text="ok")
async def count(request):
    return web.json_response({"total": total[0], "keys": len(seen),
                              "duplicates": sum(1 for c in seen.values() if c > 1)})
async def keys(request):
    return web.json_response(seen)
async def reset(request):
    seen.clear(); total[0] = 0
    return web.json_response({})
app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/count", count)
app.router.add_get("/keys", keys)
app.router.add_post("/reset", reset)
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
'''


def bare_app(path: str):
    """A one-line aiohttp handler on `path` (reads the body, answers a fixed JSON): the floor a
    Python server on this framework and loop reaches on this machine, under the same load. The
    bare rows of compare.py, inprocess.py and instructions.py."""
    from aiohttp import web

    async def answer(request):
        await request.read()
        return web.Response(body=b'{"success":true}', content_type="application/json")

    app = web.Application()
    app.router.add_post(path, answer)
    return app



def app_under_test(provider: str):
    """(app, path, headers, template) of the in-process measurements (inprocess.py,
    instructions.py): `bare` is bare_app on AlphaSMS's path, anything else msgemu's own app on
    the real clock, from whichever tree is first on sys.path. The template varies {n} only
    (text and client id); the phone is one fixed number, as these measurements always had."""
    path, headers, template = SENDS["alphasms" if provider == "bare" else provider]
    template = template.replace("{p7}", "1234567")
    if provider == "bare":
        return bare_app(path), path, headers, template
    from emulator.app import build_app
    from emulator.settings import Settings
    return build_app(Settings(clock="real", watch_scenario=False, log_level="WARNING")), path, headers, template

def gc_tuning(cli: Any) -> tuple[Any, str]:
    """(module, function name) of the GC tuning `msgemu serve` applies, in the tree measured
    (first on sys.path, its emulator.cli imported as `cli`): cli.tune_gc before gc_pacing.py,
    gc_pacing.tune since. Asked in that order: an editable install of this tree would answer
    `from emulator import gc_pacing` in an older tree too. The benchmarks' child processes call
    it (or wrap it: gc_pauses.py) as msgemu serve does."""
    if hasattr(cli, "tune_gc"):
        return cli, "tune_gc"
    from emulator import gc_pacing
    return gc_pacing, "tune"

BARE_AIOHTTP = r'''
import sys
sys.path.insert(0, sys.argv[3])
from aiohttp import web
from harness import bare_app
try:
    import uvloop
    uvloop.install()  # the loop msgemu runs on when installed
except ImportError:
    pass
async def health(request):
    return web.Response(text="ok")
app = bare_app(sys.argv[2])
app.router.add_get("/health", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
'''


def bare_aiohttp(cpus: list[int] | str, path: str) -> Process:
    """bare_app in a process of its own, served as compare.py serves every row."""
    port = free_port()
    here = str(Path(__file__).resolve().parent)
    return Process([sys.executable, "-c", BARE_AIOHTTP, str(port), path, here], "/health", port, cpus)


def receiver(cpus: list[int]) -> Process:
    """A webhook receiver (aiohttp) that counts POSTs per (payload id, payload status): the same
    one for msgemu's and WireMock's callbacks, on the load generator's core."""
    port = free_port()
    return Process([sys.executable, "-c", RECEIVER, str(port)], "/count", port, cpus)


def drain(hook: Process, quiet: float = 4.0, limit: float = 180.0, expected: int | None = None) -> int:
    """The receiver's total once the callbacks stopped coming: once it reached `expected` (when
    known) and then 1 s passed without one more, else once it stopped growing for `quiet` s
    (three times that while it is short of `expected`: a busy machine can stall a sender)."""
    count, since, started = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - started < limit:
        now = hook.call("GET", "/count")["total"]
        if now != count:
            count, since = now, time.monotonic()
        else:
            still = time.monotonic() - since
            if expected is None and still >= quiet:
                break
            if expected is not None and still >= (1.0 if count >= expected else 3 * quiet):
                break
        time.sleep(0.25)
    return count


# -- load ------------------------------------------------------------------------------------------
class Counter:
    """Disjoint ranges for {n}, so no two requests of the whole run are alike (and the numbers stay
    valid client ids: SMSC takes 1..2147483647)."""

    def __init__(self) -> None:
        self.next = 1_000_000

    def take(self) -> int:
        start, self.next = self.next, self.next + 1_000_000  # more requests than one wrk run sends
        return start


def send_body(provider: str, hook_url: str | None = None) -> tuple[str, dict, str]:
    path, headers, template = SENDS[provider]
    return path, headers, template.replace("{hook}", f',"hook":"{hook_url}"' if hook_url else "")


async def distinct_sends(session, url: str, headers: dict, template: str, numbers, connections: int) -> int:
    """POST one send per number of `numbers` (an iterator shared by `connections` loops: each
    number goes out once) to `url` with an aiohttp `session`; how many were answered 200.
    {n} and {p7} in `template` become the number and its last 7 digits (send_body's bodies)."""
    import asyncio

    ok = 0

    async def one_connection() -> None:
        nonlocal ok
        for n in numbers:
            body = template.replace("{n}", str(n)).replace("{p7}", f"{n % 10_000_000:07d}")
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                ok += response.status == 200

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return ok


def wrk(url: str, headers: dict, body: str, start: int, seconds: float, connections: int, cpus: list[int] | str,
        background: bool = False):
    """wrk -t1 pinned to `cpus`; the result of parse_wrk, or (background) a function returning it."""
    lua = LUA.format(headers="\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()),
                     body=json.dumps(body), start=start)
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(lua)
    script.close()
    proc = subprocess.Popen(
        ["taskset", "-c", cpu_list(cpus), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "--latency", "-s", script.name, url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result() -> dict:
        out, err = proc.communicate()
        os.unlink(script.name)
        if proc.returncode:
            raise RuntimeError(f"wrk failed: {err.strip()}")
        return parse_wrk(out)

    return result if background else result()


def journal(server: Process, provider: str) -> dict:
    """What the emulator journaled for `provider`: requests accepted / rejected, messages kept."""
    base = f"/_emulator/requests/count?provider={provider}"
    return {"accepted": server.call("GET", base + "&outcome=accepted")["count"],
            "rejected": server.call("GET", base + "&outcome=rejected")["count"],
            "messages": server.call("GET", f"/_emulator/messages/count?provider={provider}")["count"]}


async def listen_in_process(runner, tcp_site: bool = False) -> int:
    """Serve an AppRunner on a free 127.0.0.1 port the way `msgemu serve` listens (emulator/
    listener.py) when the tree measured has it, else (or with `tcp_site`) on aiohttp's TCPSite:
    the children of inprocess.py and retained.py. Returns the port."""
    from aiohttp import web

    try:
        if tcp_site:
            raise ImportError("asked for aiohttp's own")
        from emulator.listener import Budget, ListenerSite
        site = ListenerSite(runner, "127.0.0.1", 0, Budget())
    except ImportError:
        site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner.addresses[0][1]


async def http_exchange(reader, writer, method: str, target: str, extra: dict, body: bytes) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request on a raw keep-alive connection: (status line, body). The clients of
    inprocess.py and instructions.py, which count the client's own work in their figures: next
    to nothing per send."""
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    writer.write((head + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n").encode() + body)
    status = await reader.readline()
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return status, await reader.readexactly(length)
