"""SMSC's official Python library `smsc_api.py` (v1.9, 01.02.2017; published on smsc.ru's
"libraries" page and vendored by many public repositories) is not on PyPI, so this file
reproduces exactly the requests it sends and the way it reads the answers:

- every call: `login=<login>&psw=<password>&fmt=1&charset=utf-8&` + the command's arguments,
  a GET to `http://smsc.ru/sys/<cmd>.php?...` (POST when the query exceeds 2000 characters),
  the answer decoded as utf-8 and split on "," (`_smsc_send_cmd`);
- send_sms: `cost=3&phones=..&mes=..&translit=0&id=0` (+ `&flash=1`... for format, `&sender=`)
  -> (id, cnt, cost, balance) or (id, -error);
- get_sms_cost: `cost=1&phones=..&mes=..&translit=0` -> (cost, cnt) or (0, -error);
- get_status: `phone=..&id=..&all=<all>` -> (status, time, err, ...) or (0, -error); with all
  it re-splits the answer into 9 fields when it is not an HLR answer;
- get_balance: no arguments -> (balance) or (0, -error).

Only the host changes (the library keeps it in a constant inside the file)."""
from __future__ import annotations

from urllib.parse import quote
from urllib.request import urlopen

import pytest

LOGIN, PASSWORD = "demo", "demo-password"  # the demo account (emulator/data/accounts.yaml)


@pytest.fixture
def smsc_root(emulator) -> str:
    """What `https://smsc.ru/` becomes (each library appends `sys/<script>.php`)."""
    return emulator.url + "/smsc/"

CHARSET = "utf-8"


class OfficialSMSC:
    """The request/answer logic of smsc_api.py's class SMSC, with its URL pointed at msgemu."""

    def __init__(self, root: str, password: str = PASSWORD) -> None:
        self.root = root  # "http://smsc.ru/" in the original
        self.password = password  # the SMSC_PASSWORD constant in the original

    def _smsc_send_cmd(self, cmd: str, arg: str = "") -> list[str]:
        url = self.root + "sys/" + cmd + ".php"
        arg = "login=" + quote(LOGIN) + "&psw=" + quote(self.password) + "&fmt=1&charset=" + CHARSET + "&" + arg
        if len(arg) > 2000:
            data = urlopen(url, arg.encode(CHARSET))
        else:
            data = urlopen(url + "?" + arg)
        ret = str(data.read().decode(CHARSET))
        return ret.split(",")

    def send_sms(self, phones, message, translit=0, time="", id=0, format=0, sender=False, query=""):
        formats = ["flash=1", "push=1", "hlr=1", "bin=1", "bin=2", "ping=1", "mms=1", "mail=1", "call=1"]
        return self._smsc_send_cmd("send", "cost=3&phones=" + quote(phones) + "&mes=" + quote(message) +
                                   "&translit=" + str(translit) + "&id=" + str(id) + ("&" + formats[format - 1] if format > 0 else "") +
                                   ("" if sender is False else "&sender=" + quote(str(sender))) +
                                   ("&time=" + quote(time) if time else "") + ("&" + query if query else ""))

    def get_sms_cost(self, phones, message, translit=0, format=0, sender=False, query=""):
        formats = ["flash=1", "push=1", "hlr=1", "bin=1", "bin=2", "ping=1", "mms=1", "mail=1", "call=1"]
        return self._smsc_send_cmd("send", "cost=1&phones=" + quote(phones) + "&mes=" + quote(message) +
                                   ("" if sender is False else "&sender=" + quote(str(sender))) +
                                   "&translit=" + str(translit) + ("&" + formats[format - 1] if format > 0 else "") + ("&" + query if query else ""))

    def get_status(self, id, phone, all=0):
        m = self._smsc_send_cmd("status", "phone=" + quote(phone) + "&id=" + str(id) + "&all=" + str(all))
        if all and len(m) > 9 and (len(m) < 14 or m[14] != "HLR"):
            m = (",".join(m)).split(",", 8)
        return m

    def get_balance(self):
        m = self._smsc_send_cmd("balance")
        return False if len(m) > 1 else m[0]


@pytest.fixture
def smsc(smsc_root):
    return OfficialSMSC(smsc_root)


def test_default_send_with_id_0(smsc, emulator):
    assert smsc.send_sms("79001234567", "Ваш код 1234", sender="Shop") == ["1", "1", "3.50", "996.50"]
    [message] = emulator.messages()
    assert (message["text"], message["client_ref"], message["meta"]["sender"]) == ("Ваш код 1234", None, "Shop")


def test_send_multiple_and_flash(smsc, emulator):
    assert smsc.send_sms("79001230001;79001230002", "x" * 161) == ["1", "4", "14.00", "986.00"]
    assert smsc.send_sms("79001230003", "flash", format=1)[:2] == ["2", "1"]
    assert sorted(m["channel"] for m in emulator.messages()) == ["flash", "sms", "sms"]


def test_long_query_goes_by_post(smsc, emulator):
    phones = ",".join(f"790012{n:05d}" for n in range(200))  # > 2000 characters
    assert smsc.send_sms(phones, "bulk")[:2] == ["1", "200"]
    assert [m["text"] for m in emulator.messages(phone="79001200199")] == ["bulk"]  # the last of the 200


def test_cost(smsc, emulator):
    assert smsc.get_sms_cost("79001234567", "Вы успешно зарегистрированы!") == ["3.50", "1"]
    assert emulator.messages() == []


@pytest.mark.parametrize("phone,error", [("79000000301", "-7"), ("79000000303", "-3"), ("79000000304", "-6"), ("79000000302", "-8")])
def test_errors_keep_their_code(smsc, phone, error):
    message_id, code = smsc.send_sms(phone, "x")
    assert code == error and int(message_id) > 0


def test_status(smsc, emulator):
    smsc.send_sms("79001234567", "Hello, world")
    assert smsc.get_status(1, "79001234567")[0] == "-1"
    emulator.advance(10)
    status, changed, err = smsc.get_status(1, "79001234567")
    assert (status, err) == ("1", "0") and int(changed) > 0
    full = smsc.get_status(1, "79001234567", all=1)
    assert len(full) == 9 and full[4:8] == ["79001234567", "3.50", "SMSC.RU", "Доставлено"]
    assert full[8] == "Hello\\, world,,0"  # message, comment, type: the library keeps the rest as one field


def test_status_of_an_unknown_message(smsc):
    assert smsc.get_status(99, "79001234567") == ["-3", "0", "0"]


def test_balance(smsc):
    assert smsc.get_balance() == "1000.00"
    smsc.send_sms("79001234567", "x")
    assert smsc.get_balance() == "996.50"


def test_wrong_password(smsc_root):
    assert OfficialSMSC(smsc_root, password="wrong").get_balance() is False
