"""PyPI `smsc-client` 0.0.1: one operation, `default.send(phones, mes, id, sender, time)`, a
form POST without `fmt` or `charset`; it parses the fmt=0 line `OK - n SMS, ID - x` into
{"OK": "n SMS", "ID": "x"}. The base URL is the instance attribute `_domain`.

The library is itself broken against the real SMSC in two ways, shown below:
- `id` is typed `UUID`, but SMSC's message id is an integer 1..2147483647 [official library
  comment]: a UUID gets `ERROR = 1 (...)`, which the library cannot parse (ValueError).
- it never sends `charset`, so SMSC decodes its UTF-8 form as windows-1251 (the documented
  default) and Cyrillic text arrives garbled; any error line also crashes its parser."""
from __future__ import annotations

import uuid

import pytest
from smsc_client.api.api import SMSCAPI
from smsc_client.categories import APICategories

LOGIN, PASSWORD = "demo", "demo-password"  # the demo account (emulator/data/accounts.yaml)


@pytest.fixture
def smsc_root(emulator) -> str:
    """What `https://smsc.ru/` becomes (each library appends `sys/<script>.php`)."""
    return emulator.url + "/smsc/"


@pytest.fixture
def api(smsc_root):
    client = SMSCAPI(login=LOGIN, password=PASSWORD)
    client._domain = smsc_root
    return APICategories(client).default


def test_send_single_with_an_integer_id(api, emulator):
    res = api.send(phones="79001234567", mes="Code 1234", id=77, sender="Shop")
    assert (res.OK, res.ID) == ("1 SMS", "77")
    [message] = emulator.messages()
    assert (message["recipient"], message["text"], message["client_ref"], message["meta"]["sender"]) == ("79001234567", "Code 1234", "77", "Shop")


def test_send_multiple(api, emulator):
    res = api.send(phones="79001230001,79001230002", mes="x" * 161, id=5, sender="Shop")
    assert (res.OK, res.ID) == ("4 SMS", "5")
    assert len(emulator.messages()) == 2


def test_a_uuid_id_as_typed_is_refused_and_the_library_crashes_on_the_error_line(api, emulator):
    with pytest.raises(ValueError):
        api.send(phones="79001234567", mes="x", id=uuid.uuid4(), sender="Shop")
    assert emulator.messages() == []


def test_an_error_recipient_crashes_its_parser(api):
    with pytest.raises(ValueError):  # "ERROR = 7 (invalid number), ID - 1" has no " - " pair it can read
        api.send(phones="79000000301", mes="x", id=1, sender="Shop")


def test_cyrillic_arrives_garbled_because_no_charset_is_sent(api, emulator):
    api.send(phones="79001234567", mes="Привет", id=9, sender="Shop")
    [message] = emulator.messages()
    assert message["text"] == "Привет".encode("utf-8").decode("cp1251")
