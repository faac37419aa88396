"""The `msgemu` fixture as a user gets it: fresh pytest runs with the installed plugin."""
from __future__ import annotations

from pathlib import Path

import pytest

from emulator.client import ControlAPIError, Msgemu
from emulator.server_thread import ServerThread

pytest_plugins = ["pytester"]

# pytest-asyncio (from pytest-aiohttp) warns in inner runs without this setting
QUIET = ("-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "test_otp_login.py"

UNRELATED = """
import sys

def test_a_project_that_never_asks_for_msgemu_loads_none_of_the_server():
    loaded = [m for m in sys.modules if m.startswith("emulator")]
    assert sorted(loaded) == ["emulator", "emulator.pytest_plugin"], loaded
"""

ISOLATION = """
import pytest

def test_one(msgemu):
    msgemu.set_account("alphasms", balance=1)
    msgemu.load_scenario("rules: []\\n")

def test_two(msgemu):
    assert msgemu.messages() == []
    assert msgemu.accounts("alphasms")[0]["balance"] == 100.0
    assert msgemu.health()["scenario"] is None

def test_bad_scenario(msgemu):
    with pytest.raises(AssertionError, match="422"):
        msgemu.load_scenario("rules: 5\\n")
"""


@pytest.fixture(autouse=True)
def no_outer_msgemu_url(monkeypatch):
    """A developer's own MSGEMU_URL (say for the compose example) must not leak into inner runs."""
    monkeypatch.delenv("MSGEMU_URL", raising=False)


def test_documented_example_isolation_and_nothing_loaded_for_other_projects(pytester):
    # one fresh interpreter: files run in name order, so the unrelated test sees a clean sys.modules
    pytester.makepyfile(test_a_unrelated=UNRELATED, test_example=EXAMPLE.read_text(encoding="utf-8"), test_iso=ISOLATION)
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=8)


def test_ini_options_set_the_clock_and_load_a_scenario_before_every_test(pytester):
    pytester.makeini("[pytest]\nmsgemu_clock = real\nmsgemu_scenario = outage.yaml\n")
    pytester.path.joinpath("outage.yaml").write_text("name: outage\nrules:\n  - fault: {type: status, status: 503}\n")
    pytester.makepyfile(
        test_ini="""
def test_first(msgemu):
    health = msgemu.health()
    assert health["clock"]["mode"] == "real"
    assert health["scenario"]["name"] == "outage"
    msgemu.clear_scenario()

def test_second_gets_it_again(msgemu):
    assert msgemu.health()["scenario"]["name"] == "outage"
"""
    )
    pytester.runpytest_inprocess(*QUIET).assert_outcomes(passed=2)


@pytest.fixture(scope="module")
def running():
    server = ServerThread().start()
    yield Msgemu(server.base)
    server.stop()


@pytest.mark.parametrize("how", ["option", "env"])
def test_fixture_attaches_to_a_running_msgemu(pytester, running, monkeypatch, how):
    running.reset()
    pytester.makepyfile(
        test_attached=f"""
import json, urllib.request

def test_sends_through_the_running_one(msgemu):
    assert msgemu.url() == {running.base!r}
    body = {{"auth": "alphasms-demo-key", "data": [{{"type": "sms", "id": 1, "phone": 380971234567,
             "sms_signature": "App", "sms_message": "code 4321"}}]}}
    request = urllib.request.Request(msgemu.url("alphasms") + "/api/json.php", data=json.dumps(body).encode(),
                                     headers={{"Content-Type": "application/json"}})
    urllib.request.urlopen(request).read()
    assert msgemu.wait_otp("380971234567") == "4321"
"""
    )
    args = list(QUIET)
    if how == "option":
        args.append(f"--msgemu-url={running.base}")
    else:
        monkeypatch.setenv("MSGEMU_URL", running.base)
    pytester.runpytest_inprocess(*args).assert_outcomes(passed=1)
    assert [m["otp"] for m in running.messages()] == ["4321"]  # it went to the running emulator


def test_nothing_at_the_url_is_one_clear_error(pytester):
    pytester.makeini("[pytest]\nmsgemu_wait = 0.5\n")
    pytester.makepyfile(test_x="def test_x(msgemu):\n    pass\n")
    result = pytester.runpytest_inprocess(*QUIET, "--msgemu-url=http://127.0.0.1:9")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*msgemu: nothing answers at http://127.0.0.1:9*"])


def test_client_reports_refusals_with_status_and_body(running):
    with pytest.raises(ControlAPIError) as refused:
        running.advance(-1)
    assert refused.value.status == 400 and "msgemu POST /_emulator/clock/advance -> 400" in str(refused.value)
