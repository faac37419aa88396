"""emulator.client.Msgemu, every call, against a real msgemu on a socket (one per module)."""
from __future__ import annotations

import json
import urllib.request

import pytest

from emulator.client import ControlAPIError, Msgemu

from .conftest import threaded_receiver

PHONE = "380971234567"


@pytest.fixture
def emu(threaded_emulator):
    return threaded_emulator


@pytest.fixture(autouse=True)
def clean(emu):
    emu.reset()


@pytest.fixture(scope="module")
def hook():
    """A receiver of the application's own, on this machine (callbacks are really POSTed)."""
    with threaded_receiver("/dlr") as receiver:
        yield receiver


def send_sms(emu: Msgemu, text: str = "Your code is 100500", hook_url: str | None = None) -> dict:
    item = {"type": "sms", "id": 1, "phone": int(PHONE), "sms_signature": "Shop", "sms_message": text}
    if hook_url:
        item["hook"] = hook_url
    body = json.dumps({"auth": "alphasms-demo-key", "data": [item]}).encode()
    request = urllib.request.Request(emu.url("alphasms") + "/api/json.php", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_health_and_urls(emu):
    assert emu.wait_ready()["status"] == "ok"
    assert emu.url() == emu.base and emu.url("smsc") == emu.base + "/smsc"


def test_a_message_its_code_its_request_its_events_and_callbacks(emu, hook):
    hook_url, calls = hook
    send_sms(emu, hook_url=hook_url)
    assert emu.wait_otp(PHONE) == "100500"
    listed = emu.messages(phone=PHONE)
    assert len(listed) == 1 and listed[0]["status"] == "accepted"
    assert emu.requests(provider="alphasms")[0]["outcome"] == "accepted"
    fired = emu.advance(5)
    assert fired["mode"] == "manual"
    one = emu.message(listed[0]["id"])
    assert one["status"] == "delivered" and one["events"]
    assert {e["status"] for e in emu.events()} >= {"sent", "delivered"}
    assert len(emu.callbacks()) == len(calls) >= 2


def test_accounts_scenarios_and_replies(emu):
    assert emu.set_account("alphasms", balance=0)["balance"] == 0
    assert emu.accounts("alphasms")[0]["balance"] == 0
    assert send_sms(emu)["data"][0]["success"] is False  # no money
    emu.reset()
    assert emu.accounts("alphasms")[0]["balance"] == 100
    emu.load_scenario("name: outage\nrules:\n  - fault: {type: status, status: 503}\n")
    assert emu.health()["scenario"]["name"] == "outage"
    emu.clear_scenario()
    send_sms(emu)
    assert emu.reply(PHONE, "STOP")["message_id"] == emu.messages()[0]["id"]


def test_refusals_carry_status_and_body(emu):
    with pytest.raises(ControlAPIError) as refused:
        emu.message("no-such-id")
    assert refused.value.status == 404 and json.loads(refused.value.detail)["error"]
    with pytest.raises(ControlAPIError, match="422"):
        emu.load_scenario("rules: 5\n")
