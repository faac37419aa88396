"""`--store redis://` and `--workers N`, against a real Valkey/Redis server and real `msgemu serve`
processes: what one process accepts another answers for, each scheduled transition and its
callback happens once whatever the number of workers, and everything survives restarts (of
msgemu, and of the store server itself)."""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulator.client import Msgemu
from tests.valkey import ValkeyServer, free_port, server_binary

pytestmark = pytest.mark.skipif(server_binary() is None, reason="no valkey-server/redis-server: bash .ci/valkey installs one")

HYBER_AUTH = {"Authorization": "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"}  # demo:demo-password


@pytest.fixture(scope="module")
def valkey():
    with ValkeyServer() as server:
        yield server


@pytest.fixture
def store(valkey):
    """A fresh store URL per test (its own database number keeps tests apart)."""
    store.db = getattr(store, "db", 0) + 1
    return valkey.url.rsplit("/", 1)[0] + f"/{store.db % 16}"


class Served:
    """One `msgemu serve` process (or process group with --workers)."""

    def __init__(self, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator.cli", "serve", "--port", str(self.port), "--callback-loopback-only", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.client = Msgemu(f"http://127.0.0.1:{self.port}", timeout=10)
        try:
            self.client.wait_ready(30)
        except Exception:
            self.stop()
            raise AssertionError("msgemu did not start:\n" + self.output)
        self.output = ""

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.output = out or ""
        return self.output

    def post(self, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.client.url() + path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _decoded(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decoded(exc.read())

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(self.client.url() + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())


def _decoded(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")  # (the built-in receiver answers plain text)


@pytest.fixture
def serve():
    started: list[Served] = []

    def start(*args: str, port: int | None = None) -> Served:
        served = Served(*args, port=port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def receiver():
    """A real webhook receiver counting the delivery reports it gets per message id."""
    calls: collections.Counter = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with lock:
                calls[str(body.get("message_id"))] += 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield calls, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def hyber_send(served: Served, phone: str, hook: str | None = None, text: str = "Your code is 4711") -> str:
    body = {"phone_number": int(phone), "channels": ["sms"], "channel_options": {"sms": {"text": text, "alpha_name": "GMSU", "ttl": 300}}}
    if hook:
        body["callback_url"] = hook
    status, answer = served.post("/hyber/1000", body, HYBER_AUTH)
    assert status == 200, answer
    return str(answer["message_id"])


def smsc_send(served: Served, phone: str, text: str) -> dict:
    body = urllib.parse.urlencode({"login": "demo", "psw": "demo-password", "phones": phone, "mes": text, "fmt": "3"})
    with urllib.request.urlopen(served.client.url() + "/smsc/sys/send.php", body.encode(), timeout=10) as response:
        return json.loads(response.read())


def test_what_one_process_accepts_another_answers_for_at_once(serve, store):
    here = serve("--store", store, "--clock", "manual")
    there = serve("--store", store, "--clock", "manual")
    message_id = hyber_send(here, "380501234567")

    # no waiting: the send was committed before its answer, and `there` syncs before answering
    found = there.client.messages(phone="380501234567")
    assert [m["provider_id"] for m in found] == [message_id] and found[0]["status"] == "accepted"
    assert there.client.wait_otp("380501234567") == "4711"

    there.client.advance(5)  # the shared virtual clock: the transitions fire wherever time moves
    assert here.client.health()["clock"]["now"] == there.client.health()["clock"]["now"]
    assert [m["status"] for m in here.client.messages(phone="380501234567")] == ["delivered"]
    assert [e["status"] for e in here.client.events(message_id=found[0]["id"])] == ["accepted", "queued", "sent", "delivered"]

    # money moves by increments: both processes charge the same account, nobody's charge is lost
    before = here.client.accounts("smsc")[0]["balance"]
    for served, n in ((here, 1), (there, 2), (here, 3)):
        assert "id" in smsc_send(served, f"7999000000{n}", f"order {n}")
    assert here.client.accounts("smsc")[0]["balance"] == there.client.accounts("smsc")[0]["balance"] == pytest.approx(before - 3 * 3.5)

    # the built-in callback receiver: a call one process got is listed by the other
    status, _ = here.post("/_emulator/receiver/shop", {"status": "delivered"})
    assert status == 200
    listed = there.client.call("GET", "/_emulator/receiver/shop")
    assert [json.loads(c["body"]) for c in listed["calls"]] == [{"status": "delivered"}]

    # a scenario loaded through one process decides in the other; a reset through one empties both
    here.client.load_scenario("rules:\n  - match: {provider: smsc}\n    reply: {error: insufficient_balance}\n")
    assert smsc_send(there, "79990000009", "refused")["error_code"] == 3
    assert here.client.health()["scenario"] is not None

    # `nth` counts the requests of every process: the 2nd SMSC send fails wherever it arrives
    here.client.load_scenario("rules:\n  - match: {provider: smsc, nth: 2}\n    reply: {error: forbidden}\n")
    assert "id" in smsc_send(here, "79990000011", "first")
    assert smsc_send(there, "79990000012", "second")["error_code"] == 6
    assert "id" in smsc_send(here, "79990000013", "third")
    there.client.reset()  # (the client's reset also clears the scenario)
    assert here.client.messages() == [] and here.client.requests() == []
    assert here.client.health()["scenario"] is None
    assert "id" in smsc_send(here, "79990000009", "accepted again")


def test_workers_share_one_port_and_each_transition_and_callback_happens_once(serve, store, receiver):
    calls, hook = receiver
    served = serve("--store", store, "--workers", "2")  # real clock: both workers claim due transitions
    pids = {served.get("/_emulator/health")[1]["process"]["pid"] for _ in range(40)}  # a new connection each
    assert len(pids) == 2, "SO_REUSEPORT spreads connections over both workers"

    sent = [hyber_send(served, f"38050{n:07d}", hook) for n in range(30)]  # Hyber reports final statuses only
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(calls.values()) < len(sent):
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate would arrive now, if any were to
    assert dict(calls) == {message_id: 1 for message_id in sent}

    journal = served.client.callbacks()
    assert sorted(a["message_id"] for a in journal if a["outcome"] == "delivered") == sorted(
        m["id"] for m in served.client.messages(provider="hyber")
    )
    statuses = collections.Counter(m["status"] for m in served.client.messages(provider="hyber"))
    assert statuses == {"delivered": len(sent)}


def test_everything_survives_a_restart_of_msgemu_and_of_the_store_server(serve, valkey, store):
    first = serve("--store", store, "--clock", "manual")
    message_id = hyber_send(first, "380509999999")
    first.client.set_account("smsc", balance=42)
    first.client.advance(1.5)  # sent, not yet delivered: the rest is still scheduled
    first.stop()

    valkey.restart()  # the store server's own persistence (append-only file) keeps it all
    again = serve("--store", store, "--clock", "manual")
    found = again.client.messages(phone="380509999999")
    assert [(m["provider_id"], m["status"]) for m in found] == [(message_id, "sent")]
    assert again.client.accounts("smsc")[0]["balance"] == 42
    assert again.client.requests(provider="hyber")  # the request journal too
    again.client.advance(5)  # the transition scheduled before the restart still fires, once
    assert [m["status"] for m in again.client.messages(phone="380509999999")] == ["delivered"]
    assert [e["status"] for e in again.client.events(message_id=found[0]["id"])].count("delivered") == 1


def test_several_workers_without_a_shared_store_is_one_clear_line():
    result = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(free_port()), "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "msgemu: --workers='2': several workers need a shared store (--store redis://host:port/db): each worker "
        "is a process of its own, and only a store they share lets one see the messages, timers and clock of another"
    ]


def test_an_unreachable_store_is_one_clear_line():
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "emulator.cli", "serve", "--port", str(free_port()), "--store", f"redis://127.0.0.1:{port}/0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"store redis://127.0.0.1:{port}/0: cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_namespace_made_through_one_process_works_through_another(serve, store):
    here = serve("--store", store, "--clock", "manual")
    there = serve("--store", store, "--clock", "manual")
    namespace = here.client.namespace()
    smsc = namespace.credentials("smsc")
    namespace.load_scenario("rules:\n  - match: {recipient_prefix: '7999'}\n    reply: {error: forbidden}\n")

    seen_there = Msgemu(there.client.url())  # the same namespace, asked through the other process
    assert seen_there.call("GET", f"/_emulator/namespaces/{namespace.name}")["namespace"] == namespace.name
    body = urllib.parse.urlencode({"login": smsc["login"], "psw": smsc["password"], "phones": "79991234567", "mes": "hi", "fmt": "3"})
    with urllib.request.urlopen(there.client.url() + "/smsc/sys/send.php", body.encode(), timeout=10) as response:
        assert json.loads(response.read())["error_code"] == 6  # its scenario decides there too
    assert smsc_send(there, "79991234567", "the default namespace has no such rule")["cnt"] == 1

    namespace.delete()
    with urllib.request.urlopen(there.client.url() + "/smsc/sys/send.php", body.encode(), timeout=10) as response:
        assert json.loads(response.read())["error_code"] == 2  # its credentials stop working everywhere


def test_the_store_keeps_no_more_than_the_retention(serve, store):
    first = serve("--store", store, "--clock", "manual", "--retention", "3")
    for n in range(6):
        smsc_send(first, f"7999111000{n}", f"message {n}")
    assert [m["recipient"] for m in first.client.messages()] == [f"7999111000{n}" for n in (3, 4, 5)]
    first.stop()
    again = serve("--store", store, "--clock", "manual", "--retention", "3")
    assert [m["recipient"] for m in again.client.messages()] == [f"7999111000{n}" for n in (3, 4, 5)]
    assert len(again.client.requests()) == 3


def test_a_callback_given_up_in_one_process_is_listed_and_resent_through_another(serve, store):
    here = serve("--store", store, "--clock", "manual")
    there = serve("--store", store, "--clock", "manual")
    port = free_port()
    hook = f"http://127.0.0.1:{port}/hook"  # nobody listens there yet
    message_id = hyber_send(here, "380507777777", hook)
    here.client.advance(3 * 24 * 3600)  # every try of Hyber's ladder fails: given up, in `here`

    failed = there.client.call("GET", "/_emulator/callbacks/failed")["callbacks"]
    assert [(c["url"], c["state"]) for c in failed] == [(hook, "gave_up")]

    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    listening = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # the receiver is back
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    try:
        answer = there.client.call("POST", f"/_emulator/callbacks/{failed[0]['callback_id']}/retry")
        assert answer["state"] == "queued elsewhere"
        there.client.advance(1)  # the shared clock moves `here` too, which holds the callback and resends it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not got:
            time.sleep(0.05)
        time.sleep(0.3)
        assert [report["message_id"] for report in got] == [message_id]  # resent, once
    finally:
        listening.shutdown()
        listening.server_close()
