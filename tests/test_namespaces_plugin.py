"""The fixture's namespace modes, in fresh pytest runs against one running msgemu: tests that
share the emulator never see each other's messages, and nothing of the default is touched."""
from __future__ import annotations

import json
import urllib.request

import pytest

from emulator.client import Msgemu
from emulator.pytest_plugin import _namespace_mode

pytest_plugins = ["pytester"]

QUIET = ("-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")

TWO_TESTS = """
import json, urllib.request

NAMES = []

def send(msgemu, key, text):
    body = {"auth": key, "data": [{"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "App", "sms_message": text}]}
    request = urllib.request.Request(msgemu.url("alphasms") + "/api/json.php", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()

def test_first(FIXTURE):
    NAMES.append(FIXTURE.name)
    assert FIXTURE.messages() == []
    send(FIXTURE, FIXTURE.credentials("alphasms")["api_key"], "code 1111")
    assert FIXTURE.wait_otp("380971234567") == "1111"
    FIXTURE.set_account("alphasms", balance=1)

def test_second(FIXTURE):
    NAMES.append(FIXTURE.name)
    assert FIXTURE.messages() == []
    assert FIXTURE.accounts("alphasms")[0]["balance"] == 100.0
    send(FIXTURE, FIXTURE.credentials("alphasms")["api_key"], "code 2222")
    assert FIXTURE.wait_otp("380971234567") == "2222"

def test_names(FIXTURE, msgemu_namespace):
    assert len(set(NAMES)) == EXPECTED_NAMES
    assert msgemu_namespace.name not in NAMES
    assert (FIXTURE is msgemu_namespace) == (EXPECTED_NAMES == 2)  # test mode: msgemu is that fixture
"""


@pytest.fixture
def running(threaded_emulator):
    return threaded_emulator


@pytest.fixture(autouse=True)
def no_outer_msgemu_url(monkeypatch):
    monkeypatch.delenv("MSGEMU_URL", raising=False)


def default_traffic(running: Msgemu) -> None:
    """A message of the default namespace (demo credentials) the inner runs must leave alone."""
    running.reset()
    body = {"auth": "alphasms-demo-key", "data": [{"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "App", "sms_message": "code 9999"}]}
    request = urllib.request.Request(running.url("alphasms") + "/api/json.php", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()


@pytest.mark.parametrize("mode,names", [("test", 2), ("worker", 1)])
def test_namespace_modes_isolate_tests_and_leave_the_default_alone(pytester, running, mode, names):
    default_traffic(running)
    pytester.makeini(f"[pytest]\nmsgemu_namespace = {mode}\n")
    pytester.makepyfile(test_ns=TWO_TESTS.replace("FIXTURE", "msgemu").replace("EXPECTED_NAMES", str(names)))
    pytester.runpytest_inprocess(*QUIET, f"--msgemu-url={running.base}").assert_outcomes(passed=3)
    assert [m["otp"] for m in running.messages()] == ["9999"]  # the default's, and nothing left behind
    assert running.call("GET", "/_emulator/namespaces")["count"] == 0  # each deleted after use


def test_an_unknown_mode_is_one_clear_error():
    class Config:
        def getini(self, name):
            return {"msgemu_namespace": " Sometimes "}[name]

    with pytest.raises(pytest.fail.Exception, match="msgemu_namespace = 'sometimes': expected one of off, test, worker"):
        _namespace_mode(Config())
