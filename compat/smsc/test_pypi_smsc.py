"""PyPI `smsc` 0.1.1 (SMSC.ru HTTP API Library): fmt=3 JSON over GET with `cost=2` sends,
`cost=1` quotes, `all=2` status lists (trailing-comma form) and `cur=1` balance.

Only the base URL changes: the library keeps it in the class attribute `SMSC._url`."""
from __future__ import annotations

import pytest
from smsc.api import SMSC
from smsc.messages import FlashMessage, SMSMessage, ViberMessage

LOGIN, PASSWORD = "demo", "demo-password"  # the demo account (emulator/data/accounts.yaml)


@pytest.fixture
def smsc_root(emulator) -> str:
    """What `https://smsc.ru/` becomes (each library appends `sys/<script>.php`)."""
    return emulator.url + "/smsc/"


@pytest.fixture
def client(smsc_root, monkeypatch):
    monkeypatch.setattr(SMSC, "_url", smsc_root + "sys/")
    return SMSC(login=LOGIN, password=PASSWORD)


def test_send_single(client, emulator):
    res = client.send(to="79001234567", message=SMSMessage(text="Your code 1234"))
    assert res.error is None
    assert (res.message_id, res.count, res.cost) == (1, 1, 3.5)
    sent = emulator.messages(phone="79001234567")
    assert [(m["text"], m["meta"]["sender"]) for m in sent] == [("Your code 1234", "SMSC.ru")]


def test_send_multiple_and_cyrillic(client, emulator):
    res = client.send(to=["79001230001", "79001230002"], message=SMSMessage(text="Ваш код 5678"))
    assert (res.count, res.cost) == (2, 7.0)
    assert sorted(m["recipient"] for m in emulator.messages()) == ["79001230001", "79001230002"]
    assert {m["text"] for m in emulator.messages()} == {"Ваш код 5678"}


def test_flash_and_viber_kinds(client, emulator):
    assert client.send(to="79001230003", message=FlashMessage(text="flash")).count == 1
    assert client.send(to="79001230004", message=ViberMessage(text="viber")).cost == 1.5
    assert sorted(m["channel"] for m in emulator.messages()) == ["flash", "viber"]


def test_cost(client, emulator):
    res = client.get_cost(to="79001234567", message=SMSMessage(text="x" * 200))
    assert (res.error, res.count, res.cost) == (None, 2, 7.0)
    assert emulator.messages() == []


def test_status_of_one_and_many(client, emulator):
    client.send(to=["79001230001", "79001230002"], message=SMSMessage(text="hi"))
    emulator.advance(10)
    one = client.get_status(to="79001230001", msg_id="1")
    assert [(s.status.status_id, s.status.name, s.data["phone"], s.data["cost"]) for s in one] == [(1, "Доставлено", "79001230001", "3.5")]
    assert one[0].data["last_date"].tzinfo is not None  # parsed as Moscow time
    many = client.get_status(to=["79001230001", "79001230002"], msg_id=["1", "1"])
    assert [s.status.status_id for s in many] == [1, 1]


def test_status_of_an_unknown_message(client):
    [res] = client.get_status(to="79001234567", msg_id="42")
    assert (res.status.status_id, res.data["id"], res.data["last_date"]) == (-3, 42, None)


def test_balance(client):
    res = client.get_balance()
    assert (res.error, res.balance, res.credit, res.currency) == (None, 1000.0, 0.0, "RUR")
    client.send(to="79001234567", message=SMSMessage(text="x"))
    assert client.get_balance().balance == 996.5


@pytest.mark.parametrize("phone,code", [("79000000301", 7), ("79000000302", 8), ("79000000303", 3), ("79000000304", 6)])
def test_errors_by_magic_recipients(client, phone, code):
    res = client.send(to=phone, message=SMSMessage(text="x"))
    assert res.error is not None and res.error.code == code and res.error.error
    assert res.count == 0


def test_wrong_password_is_error_2(smsc_root, monkeypatch):
    monkeypatch.setattr(SMSC, "_url", smsc_root + "sys/")
    res = SMSC(login=LOGIN, password="wrong").get_balance()
    assert res.error.code == 2
