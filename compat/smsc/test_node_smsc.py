"""npm `node-smsc` 0.2.3: every API call the library offers (send, cost, status, balance,
phones: contacts, groups, blacklist; jobs, senders, templates, info, get: messages, answers,
stat, mega accounts, price; get_mnp, receive_phones, users), driven from Node.js with only
`request` pointed at msgemu; the values it returned are checked here."""
from __future__ import annotations

from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("node_smsc.js")


@pytest.fixture
def out(emulator, node):
    return node(SCRIPT, emulator.url + "/smsc/sys/")


def test_sends_cost_status_balance(out):
    assert out["send"] == {"ok": {"id": 1, "cnt": 1, "cost": "3.5", "balance": "996.5"}}
    assert out["sendMany"] == {"ok": {"id": 2, "cnt": 4}}
    assert out["cost"] == {"ok": {"cost": "3.5", "cnt": 1}}
    status = out["status"]["ok"]
    assert (status["id"], status["status"], status["phone"], status["message"], status["flag"], status["err"]) == (1, -1, "79001234567", "Ваш код 1234", 0, 0)
    assert out["statusUnknown"]["ok"]["status"] == -3
    assert out["balance"] == {"ok": {"balance": "982.5", "currency": "RUR"}}
    assert out["del"] == {"ok": {"result": "OK"}}


def test_errors_surface_as_smsc_api_errors(out):
    assert out["badLogin"] == {"error": {"error": "authorise error", "error_code": 2}}
    assert out["invalidNumber"]["error"]["error_code"] == 7
    assert out["noMoney"]["error"]["error_code"] == 3
    assert out["blacklisted"]["error"]["error_code"] == 8


def test_contacts_groups_blacklist(out):
    assert out["addGroup"] == {"ok": {"id": 1}}
    assert out["addContact"] == {"ok": {"id": 1}}
    assert [(c["phone"], c["name"], c["group"]) for c in out["contacts"]["ok"]] == [("79001112233", "Ivan", 1)]
    assert [(g["id"], g["name"], g["cnt"]) for g in out["groups"]["ok"]] == [(1, "Clients", "1")]
    for key in ("moveGroup", "delBlack", "delContact", "jobCancel", "userChange"):
        assert out[key] == {"ok": {"result": "OK"}}, key
    assert out["addBlack"] == {"ok": {"id": 1}}


def test_jobs_senders_templates_info(out):
    assert out["job"] == {"ok": {"id": 1}}
    assert out["senders"] == {"ok": [{"sender": "SMSC.RU"}]}
    assert out["templateAdd"] == {"ok": {"id": 1}}
    assert out["templates"] == {"ok": [{"id": 1, "name": "welcome", "message": "Hello!", "format": "sms"}]}
    info = out["info"]["ok"]
    assert all(info[key] for key in ("country", "operator", "region", "mcc", "mnc", "tz"))  # what its live test asserts


def test_get_kinds_and_the_other_scripts_answer_arrays(out):
    assert [m["phone"] for m in out["messages"]["ok"]] == ["79001234567"]
    assert out["noMessages"] == {"ok": []}  # error 3, mapped to [] by the library
    for key in ("answers", "stat", "megaAccounts", "mnp", "receivePhones"):
        assert isinstance(out[key]["ok"], list), key
    assert out["stat"]["ok"][0]["cnt"] == 4  # 1 + 2 sent + 1 in the mailing
    assert [z["name"] for z in out["price"]["ok"]["zones"]][:1] == ["Россия"]
    assert out["users"] == {"ok": []}  # error 3, mapped to [] by the library
    assert out["userAdd"] == {"ok": {"id": 1}}
