"""The `msgemu` fixture as a user gets it: the documented example run by a fresh pytest."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "test_otp_login.py"


def test_documented_example_passes_with_the_installed_plugin(pytester):
    pytester.makepyfile(test_example=EXAMPLE.read_text(encoding="utf-8"))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_fixture_is_isolated_and_reports_failures_clearly(pytester):
    pytester.makepyfile(
        test_iso="""
import pytest

def test_one(msgemu):
    msgemu.set_account("alphasms", balance=1)
    msgemu.load_scenario("rules: []\\n")

def test_two(msgemu):
    assert msgemu.messages() == []
    accounts = msgemu._call("GET", "/_emulator/accounts/alphasms")
    assert accounts[0]["balance"] == 100.0

def test_bad_scenario(msgemu):
    with pytest.raises(AssertionError, match="422"):
        msgemu.load_scenario("rules: 5\\n")
"""
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
