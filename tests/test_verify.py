"""Msgemu.assert_sent / assert_not_sent / assert_requested (emulator/verify.py) against a real
msgemu on a socket: what passes returns the matches, what fails says what was expected, how many
matched and the near misses, word for word."""
from __future__ import annotations

import json
from pathlib import Path
import urllib.error
import urllib.request

import pytest

from emulator.client import Msgemu


@pytest.fixture
def emu(threaded_emulator):
    return threaded_emulator


@pytest.fixture(autouse=True)
def traffic(emu):
    """Three AlphaSMS messages and one refused request, on the manual clock (all 'accepted')."""
    emu.reset()
    send(emu, 380971111111, 1, "Your code is 482913")
    send(emu, 380971111111, 2, "Order 77 shipped")
    send(emu, 380972222222, 3, "Your CODE is 1234")
    send(emu, 380971111111, 4, "refused", auth="wrong-key")


def send(emu: Msgemu, phone: int, id: int, text: str, auth: str = "alphasms-demo-key") -> None:
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": text}
    request = urllib.request.Request(emu.url("alphasms") + "/api/json.php", data=json.dumps({"auth": auth, "data": [item]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def failure(check, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as failed:
        check(*args, **kwargs)
    return str(failed.value)


def test_assert_sent_passes_and_returns_the_matches(emu):
    found = emu.assert_sent(phone="+380 97 111 11 11", text=r"code is \d{6}")
    assert [m["text"] for m in found] == ["Your code is 482913"]
    assert len(emu.assert_sent(phone="380971111111", count=2)) == 2
    emu.assert_sent(provider="alphasms", channel="sms", status="accepted", count=3)
    emu.assert_sent(json="meta", text="CODE", count=1)  # any other filter of /_emulator/messages
    emu.assert_not_sent(phone="380979999999")
    emu.assert_not_sent(text="password")


def test_assert_sent_failure_lists_near_misses(emu):
    assert failure(emu.assert_sent, phone="380971111111", text=r"code is \d{4}$") == (
        "expected at least one message sent (phone='380971111111', text=/code is \\d{4}$/); 0 matched.\n"
        "Near misses (same phone or similar text) (3):\n"
        "  - 380972222222 alphasms sms accepted: 'Your CODE is 1234'\n"
        "  - 380971111111 alphasms sms accepted: 'Order 77 shipped'\n"
        "  - 380971111111 alphasms sms accepted: 'Your code is 482913'"
    )


def test_assert_sent_with_a_count_shows_what_matched(emu):
    assert failure(emu.assert_sent, phone="380971111111", count=1) == (
        "expected exactly 1 message sent (phone='380971111111'); 2 matched.\n"
        "Matched (2):\n"
        "  - 380971111111 alphasms sms accepted: 'Order 77 shipped'\n"
        "  - 380971111111 alphasms sms accepted: 'Your code is 482913'"
    )
    # nothing to go by: the last messages sent are the near misses
    assert failure(emu.assert_sent, status="delivered").splitlines()[:2] == [
        "expected at least one message sent (status='delivered'); 0 matched.", "Last messages sent (3):"]


def test_assert_not_sent_failure_lists_the_matches(emu):
    assert failure(emu.assert_not_sent, text="(?i)code") == (
        "expected no message sent (text=/(?i)code/); 2 matched.\n"
        "Matched (2):\n"
        "  - 380972222222 alphasms sms accepted: 'Your CODE is 1234'\n"
        "  - 380971111111 alphasms sms accepted: 'Your code is 482913'"
    )


def test_assert_requested(emu):
    refused = emu.assert_requested(provider="alphasms", outcome="rejected", count=1)
    assert refused[0]["reason"]["rule"] == "auth"
    emu.assert_requested(text="482913", status="2xx")
    message = failure(emu.assert_requested, provider="alphasms", outcome="rejected", text="Order")
    lines = message.splitlines()
    assert lines[0] == "expected at least one request to a provider (provider='alphasms', text=/Order/, outcome='rejected'); 0 matched."
    assert lines[1] == "Near misses (same provider) (4):"
    assert lines[2].endswith("alphasms POST /alphasms/api/json.php -> HTTP 200 rejected access_denied") and lines[2].startswith("  - #")
    assert len(lines) == 6


def test_a_bad_filter_is_a_readable_failure_too(emu):
    message = failure(emu.assert_sent, text="(unclosed")
    assert "400" in message and "text" in message


pytest_plugins = ["pytester"]
README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "test_otp_login.py"
QUIET = ("-q", "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")


def readme_block() -> tuple[list[str], list[str]]:
    """The README's assert_sent example: its code lines, and the failure it shows (as comments)."""
    text = README.read_text(encoding="utf-8")
    block = next(b for b in text.split("```python\n")[1:] if "msgemu.assert_sent(" in b.split("```")[0]).split("```")[0]
    lines = block.strip().splitlines()
    return [l for l in lines if not l.startswith("#")], [l[2:] for l in lines if l.startswith("#")]


def test_the_readme_example_passes_and_fails_as_shown(pytester):
    code, shown = readme_block()
    body = "\n".join("    " + line for line in code)
    sender = EXAMPLE.read_text(encoding="utf-8").split("def test_")[0]  # the example's send_login_code
    pytester.makepyfile(test_readme_verify=f"""{sender}
def test_six_digits(msgemu):
    send_login_code(msgemu.url("alphasms"), "380971234567", "482913")
{body}

def test_four_digits(msgemu):
    send_login_code(msgemu.url("alphasms"), "380971234567", "4829")
{body}
""")
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    for line in shown:
        assert line.replace("AssertionError: ", "") in output, (line, output)
    assert "AssertionError: expected exactly 1 message sent" in output
