"""`--store redis://`: what one msgemu process accepts, another process on the same Valkey/Redis
store answers for at once; scenarios, resets, namespaces, `nth`, the built-in receiver, the virtual
clock and given-up callbacks are shared. Two real `msgemu serve` processes for the module, on a
real server (tests/valkey.py), reset before each test."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulator.client import Msgemu
from tests.shared_store import Served, hyber_send, needs_valkey, smsc_send
from tests.valkey import free_port

pytestmark = needs_valkey


@pytest.fixture(scope="module")
def pair(valkey):
    store = valkey.url
    here = Served("--store", store, "--clock", "manual", wait=False)
    there = Served("--store", store, "--clock", "manual", wait=False).ready()
    here.ready()
    yield here, there
    here.stop()
    there.stop()


@pytest.fixture
def here(pair):
    pair[0].client.reset()
    return pair[0]


@pytest.fixture
def there(pair):
    return pair[1]


def test_what_one_process_accepts_another_answers_for_at_once(here, there):
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


def test_a_namespace_made_through_one_process_works_through_another(here, there):
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


def test_a_callback_given_up_in_one_process_is_listed_and_resent_through_another(here, there):
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
