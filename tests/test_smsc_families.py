"""SMSC.ru over real HTTP, issue 9 and 11: the official libraries' `id=0`, error mapping, empty
lists, money with two decimals, `mes` length, charsets on every answer, the other scripts
(info, templates, receive_phones, get_mnp, users, get_stat, get_price, REST send), unknown
scripts in SMSC's error shape, WhatsApp, and fmt=1/fmt=2 answers that stay parseable for any text.

One emulator per module (reset before each test) keeps the module fast."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest



pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "/smsc/sys/"
AUTH = {"login": "demo", "psw": "demo-password"}


@pytest.fixture
def client(fresh_emulator):
    return fresh_emulator


async def call(client, command: str, params: dict | None = None, *, method: str = "GET", auth: dict | None = AUTH, **kwargs):
    """(body decoded with the charset the answer is labelled with, response)."""
    query = {**(auth or {}), **(params or {})}
    response = await client.request(method, BASE + command if not command.startswith("/") else command, params=query, **kwargs)
    assert response.status == 200
    raw = await response.read()
    return raw.decode(response.charset), response


async def js(client, command: str, params: dict | None = None, **kwargs):
    text, _ = await call(client, command, {"fmt": "3", "charset": "utf-8", **(params or {})}, **kwargs)
    return json.loads(text)


async def advance(client, seconds: float) -> None:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status == 200


def send(phone: str = "79001234567", mes: str = "Code 1234", **extra) -> dict:
    return {"phones": phone, "mes": mes, "charset": "utf-8", **extra}


# -- the official library's defaults: id=0, fmt=1, cost=3 ------------------------------------------------
@pytest.mark.parametrize("client_id", ["0", ""])
async def test_id_0_or_empty_is_a_send_without_client_id(client, client_id):
    text, _ = await call(client, "send.php", send(id=client_id, fmt="1", cost="3", translit="0"))
    assert text == "1,1,3.50,996.50"
    text, _ = await call(client, "send.php", send("79001234568", id=client_id, fmt="1", cost="3"))
    assert text.split(",")[:2] == ["2", "1"]  # a fresh number each time, never the 0 asked for


@pytest.mark.parametrize("phone,code", [("79000000301", "-7"), ("79000000303", "-3"), ("79000000304", "-6"), ("79000000302", "-8")])
async def test_magic_errors_reach_the_official_library_with_their_own_code(client, phone, code):
    """smsc_api.py reads (id, -error) from `fmt=1`: id=0 must not turn -7 or -3 into -1."""
    text, _ = await call(client, "send.php", send(phone, id="0", fmt="1", cost="3"))
    message_id, error = text.split(",")
    assert error == code and int(message_id) > 0


async def test_a_client_id_above_the_documented_range_is_still_error_1(client):
    assert (await js(client, "send.php", send(id="2147483648")))["error_code"] == 1


# -- mes length -------------------------------------------------------------------------------------------
async def test_mes_of_1000_characters_is_sent_and_1001_is_error_1(client):
    data = await js(client, "send.php", send(mes="a" * 1000))
    assert data["cnt"] == 7
    assert await js(client, "send.php", send("79001234568", mes="a" * 1001)) == {"error": "parameters error", "error_code": 1}
    text, _ = await call(client, "send.php", send("79001234569", mes="b" * 1001, fmt="1"))
    assert text == "0,-1"


# -- charset on every answer, errors included ------------------------------------------------------------
@pytest.mark.parametrize("charset,codec", [("utf-8", "utf-8"), ("koi8-r", "koi8_r"), ("windows-1251", "cp1251"), (None, "cp1251")])
@pytest.mark.parametrize("command,params", [("templates.php", {"add": "1", "name": "x"}), ("info.php", {"get_operator": "1", "phone": "70000000000"}), ("nope.php", {}), ("users.php", {"get": "1"})])
async def test_every_answer_is_encoded_in_and_labelled_with_the_charset(client, charset, codec, command, params):
    query = {**AUTH, "fmt": "2", **params, **({"charset": charset} if charset else {})}
    response = await client.get(BASE + command, params=query)
    raw = await response.read()
    assert response.status == 200 and response.charset == (charset or "windows-1251")
    assert "<error_code>" in raw.decode(codec)


async def test_a_russian_answer_is_in_the_requested_charset(client):
    for charset, codec in (("koi8-r", "koi8_r"), ("windows-1251", "cp1251")):
        response = await client.get(BASE + "info.php", params={**AUTH, "get_operator": "1", "phone": "79161234567", "charset": charset, "fmt": "3"})
        raw = await response.read()
        assert response.charset == charset
        assert json.loads(raw.decode(codec))["operator"] == "МТС"


# -- money ------------------------------------------------------------------------------------------------
async def test_money_has_two_decimals_in_fmt_0_1_2_and_php_floats_in_json(client):
    await js(client, "send.php", send(mes="x" * 200))  # 2 parts: 7.00
    assert (await call(client, "balance.php", {"fmt": "0"}))[0] == "993.00"
    assert (await call(client, "balance.php", {"fmt": "2", "cur": "1"}))[0] == "<result>\n<balance>993.00</balance>\n<currency>RUR</currency>\n</result>"
    assert await js(client, "balance.php") == {"balance": "993"}
    text, _ = await call(client, "status.php", {"id": "1", "phone": "79001234567", "all": "1", "fmt": "0"})
    assert ", cost = 7.00, " in text


# -- status.php ----------------------------------------------------------------------------------------------
async def test_status_json_always_has_flag_and_err(client):
    await js(client, "send.php", send())
    data = await js(client, "status.php", {"id": "1", "phone": "79001234567"})
    assert list(data) == ["status", "last_date", "last_timestamp", "flag", "err"] and data["flag"] == 0 and data["err"] == 0


async def test_status_all_1_fmt_1_and_xml_carry_every_documented_field(client):
    await js(client, "send.php", send(mes="a,b\nc"))
    text, _ = await call(client, "status.php", {"id": "1", "phone": "79001234567", "all": "1", "fmt": "1", "charset": "utf-8"})
    fields = [f.replace("\\,", ",") for f in re.split(r"(?<!\\),", text)]
    assert len(fields) == 11 and fields[8] == "a,b\\nc" and fields[10] == "0"
    xml, _ = await call(client, "status.php", {"id": "1", "phone": "79001234567", "all": "2", "fmt": "2", "charset": "utf-8"})
    sms = ET.fromstring(xml)
    assert [child.tag for child in sms] == ["status", "last_date", "last_timestamp", "flag", "err", "send_date", "send_timestamp", "phone", "cost",
                                            "sender_id", "status_name", "message", "comment", "type", "country", "operator", "region"]
    assert sms.findtext("message") == "a,b\nc"


@pytest.mark.parametrize("fmt", ["0", "1", "2", "3"])
async def test_unknown_id_in_a_list_query_has_the_full_form(client, fmt):
    await js(client, "send.php", send())
    text, _ = await call(client, "status.php", {"id": "1,77", "phone": "79001234567,79001234567", "fmt": fmt, "charset": "utf-8"})
    if fmt == "3":
        assert json.loads(text)[1] == {"status": -3, "last_date": None, "last_timestamp": 0, "flag": 0, "err": 0, "id": 77, "phone": "79001234567"}
    elif fmt == "2":
        items = ET.fromstring(text).findall("sms")
        assert items[1].findtext("status") == "-3" and items[1].findtext("id") == "77" and items[1].findtext("flag") == "0"
    elif fmt == "1":
        assert text.split("\n")[1] == "77,79001234567,-3,0,0"
    else:
        assert text.split("\n")[1] == "Status = -3, check_time = , err = 0, id = 77, phone = 79001234567"


# -- issue 11: XML well-formed and fmt=1 lists unambiguous for any content ------------------------------------
NASTY = "a\x01b\x0b<c>&\"d',e\r\nf\\g;h"


async def test_xml_is_well_formed_for_any_text(client):
    await js(client, "templates.php", {"add": "1", "name": "t1", "msg": NASTY})
    await js(client, "send.php", send(mes=NASTY))
    for command, params in (("templates.php", {"get": "1"}), ("status.php", {"id": "1", "phone": "79001234567", "all": "1"}),
                            ("get.php", {"get_messages": "1"})):
        text, _ = await call(client, command, {**params, "fmt": "2", "charset": "utf-8"})
        root = ET.fromstring(text)  # raises on a control character or a bare & / <
        assert "a?b?<c>&\"d',e" in ET.tostring(root, encoding="unicode").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')


async def test_fmt_1_lists_split_back_into_their_records_and_fields(client):
    await js(client, "templates.php", {"add": "1", "name": "first, one", "msg": NASTY})
    await js(client, "templates.php", {"add": "1", "name": "second", "msg": "plain"})
    text, _ = await call(client, "templates.php", {"get": "1", "fmt": "1", "charset": "utf-8"})
    records = text.split("\n")
    assert len(records) == 2
    fields = [re.split(r"(?<!\\),", record) for record in records]
    assert [len(f) for f in fields] == [4, 4]
    unescape = lambda v: re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m[1], m[1]), v)  # noqa: E731
    assert [unescape(v) for v in fields[0]] == ["1", "first, one", NASTY, "sms"]
    assert fields[1] == ["2", "second", "plain", "sms"]


# -- get.php ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["get_answers", "get_stat", "get_mega_accounts"])
async def test_empty_lists_are_empty_lists_not_error_3(client, kind):
    assert await js(client, "get.php", {kind: "1"}) == []
    assert (await call(client, "get.php", {kind: "1", "fmt": "2"}))[0] == "<list>\n</list>"
    assert (await call(client, "get.php", {kind: "1", "fmt": "1"}))[0] == ""


async def test_get_messages_with_nothing_found_stays_error_3(client):
    """node-smsc maps exactly this error to [] for get_messages (and get_mega_accounts)."""
    assert (await js(client, "get.php", {"get_messages": "1"}))["error_code"] == 3


async def test_get_stat_counts_what_was_sent(client):
    await js(client, "send.php", send("79001230001,79001230002"))
    assert await js(client, "get.php", {"get_stat": "1"}) == [{"login": "demo", "cnt": 2, "credit": "7", "debit": "0", "currency": "RUR"}]
    text, _ = await call(client, "get.php", {"get_stat": "1", "fmt": "1"})
    assert text == "demo,2,7.00,0.00,RUR"
    assert await js(client, "get.php", {"get_stat": "1", "start": "01.01.2000", "end": "02.01.2000"}) == []
    assert (await js(client, "get.php", {"get_stat": "1", "start": "2000-01-01"}))["error_code"] == 1


async def test_get_price_lists_zones(client):
    data = await js(client, "get.php", {"get_price": "1"})
    assert data["zones"][0] == {"zone": 1, "name": "Россия", "api": "3.5", "mass": "3.5", "mms": "3.5", "hlr": "0.25", "call": "5", "viber": "1.5"}
    text, _ = await call(client, "get.php", {"get_price": "1", "fmt": "1", "charset": "utf-8"})
    assert text.split("\n")[0] == "1,Россия,3.50,3.50,3.50,0.25,5.00,1.50"


# -- info.php -----------------------------------------------------------------------------------------------
async def test_info_gives_the_operator_of_a_number(client):
    data = await js(client, "info.php", {"get_operator": "1", "phone": "+79161234567"})
    assert data == {"country": "Россия", "operator": "МТС", "region": "Москва и Московская область", "mcc": 250, "mnc": 1, "tz": 3}
    text, _ = await call(client, "info.php", {"get_operator": "1", "phone": "79161234567", "fmt": "1", "charset": "utf-8"})
    assert text == "Россия,МТС,Москва и Московская область,250,1,3"
    many = await js(client, "info.php", {"get_operator": "1", "phone": "79161234567,380671234567"})
    assert [(m["phone"], m["operator"]) for m in many] == [("79161234567", "МТС"), ("380671234567", "Kyivstar")]
    assert await js(client, "info.php", {"get_operator": "1", "phone": "70000000000"}) == {"error": "operator not found", "error_code": 3}
    assert (await js(client, "info.php", {"get_operator": "1", "phone": "abc"}))["error_code"] == 1
    assert (await js(client, "info.php", {"phone": "79161234567"}))["error_code"] == 1


# -- templates.php ---------------------------------------------------------------------------------------------
async def test_templates_add_get_change_delete(client):
    assert await js(client, "templates.php", {"get": "1"}) == []
    created = await js(client, "templates.php", {"add": "1", "name": "welcome", "msg": "Hello!", "format": "sms"})
    assert created == {"id": 1}
    assert await js(client, "templates.php", {"get": "1"}) == [{"id": 1, "name": "welcome", "message": "Hello!", "format": "sms"}]
    assert await js(client, "templates.php", {"chg": "1", "id": "1", "msg": "Hi!"}) == {"result": "OK"}
    assert (await js(client, "templates.php", {"get": "1"}))[0]["message"] == "Hi!"
    assert (await call(client, "templates.php", {"del": "1", "id": "1"}))[0] == "OK"
    assert (await js(client, "templates.php", {"del": "1", "id": "1"}))["error_code"] == 3
    assert (await js(client, "templates.php", {"add": "1", "name": "x", "msg": "y", "format": "fax"}))["error_code"] == 1


# -- receive_phones.php, get_mnp.php -----------------------------------------------------------------------------
async def test_receive_phones_lists_rents_and_returns_numbers(client):
    available = await js(client, "receive_phones.php", {"get": "1"})
    assert available[0] == {"phone": "79010000001", "cost": "1500", "country": "Россия"}
    assert await js(client, "receive_phones.php", {"add": "1", "phone": "79010000001"}) == {"result": "OK"}
    assert [p["phone"] for p in await js(client, "receive_phones.php", {"get": "1"})] == ["79010000002", "77010000001"]
    assert (await js(client, "receive_phones.php", {"add": "1", "phone": "79010000001"}))["error_code"] == 3
    assert await js(client, "receive_phones.php", {"del": "1", "phone": "79010000001"}) == {"result": "OK"}


async def test_get_mnp_by_date_is_a_list_and_without_date_a_csv_file(client):
    assert (await js(client, "get_mnp.php", {"date": "23.11.2026"}))[0] == {"phone": "79161230001", "mccmnc": "25002"}
    text, response = await call(client, "get_mnp.php", {"fmt": "3"})
    assert text.startswith("Phone;mccmnc\r\n79161230001;25002\r\n") and response.content_type == "text/csv"
    assert (await js(client, "get_mnp.php", {"date": "2026-11-23"}))["error_code"] == 5


# -- users.php ---------------------------------------------------------------------------------------------------
async def test_users_add_change_pay_list_delete(client):
    assert (await js(client, "users.php", {"get": "1"}))["error_code"] == 3  # node-smsc: [] for error 3
    assert await js(client, "users.php", {"add": "1", "user": "sub1", "password": "pw", "fio": "Sub One"}) == {"id": 1}
    assert (await js(client, "users.php", {"add": "1", "user": "sub1", "password": "pw"}))["error_code"] == 5
    assert await js(client, "users.php", {"chg": "1", "user": "sub1", "fio": "Sub 1"}) == {"result": "OK"}
    assert await js(client, "users.php", {"pay": "1", "user": "sub1", "sum": "100.50"}) == {"result": "OK"}
    assert await js(client, "balance.php") == {"balance": "899.5"}
    listed = await js(client, "users.php", {"get": "1"})
    assert listed == [{"id": 1, "user": "sub1", "fio": "Sub 1", "email": "", "phone": "", "balance": "100.5", "comment": ""}]
    assert (await js(client, "users.php", {"pay": "1", "user": "sub1", "sum": "5000"}))["error_code"] == 3
    assert (await js(client, "users.php", {"get_stat": "1", "user": "sub1"}))["error_code"] == 3
    assert await js(client, "users.php", {"del": "1", "user": "sub1"}) == {"result": "OK"}
    assert (await js(client, "users.php", {"chg": "1", "user": "sub1"}))["error_code"] == 3


# -- REST send ---------------------------------------------------------------------------------------------------
async def test_rest_send_takes_the_parameters_as_json(client):
    body = {"login": "demo", "psw": "demo-password", "phones": ["79001234567", "79001234568"], "mes": "Привет", "cost": 3}
    response = await client.post("/smsc/rest/send/", json=body)
    assert response.status == 200 and response.content_type == "application/json"
    assert await response.json() == {"id": 1, "cnt": 2, "cost": "7", "balance": "993"}
    status = await js(client, "status.php", {"id": "1", "phone": "79001234568", "all": "1"})
    assert status["message"] == "Привет"
    response = await client.post("/smsc/rest/send/", json={**body, "fmt": 1})
    assert await response.text() == "2,2,7.00,986.00"
    for bad in (b"[1]", b"{not json", json.dumps({**body, "mes": {"x": 1}}).encode()):
        response = await client.post("/smsc/rest/send/", data=bad, headers={"Content-Type": "application/json"})
        assert json.loads(await response.text())["error_code"] == 1
    response = await client.post("/smsc/rest/send/", json={"login": "demo", "psw": "x", "phones": "79001234567", "mes": "m"})
    assert json.loads(await response.text())["error_code"] == 2


# -- unknown scripts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/smsc/sys/unknown.php", "/smsc/sys/op_templates.php", "/smsc/whatever", "/smsc/"])
@pytest.mark.parametrize("fmt,expected", [("0", "ERROR = 1 (parameters error)"), ("1", "0,-1"),
                                          ("2", "<result>\n<error>parameters error</error>\n<error_code>1</error_code>\n</result>"),
                                          ("3", '{"error": "parameters error", "error_code": 1}')])
async def test_a_script_not_emulated_answers_in_smsc_error_shape(client, path, fmt, expected):
    response = await client.get(path, params={"fmt": fmt})
    assert response.status == 200 and await response.text() == expected


# -- WhatsApp ------------------------------------------------------------------------------------------------------
async def test_whatsapp_by_bot_parameter_has_messenger_statuses(client):
    data = await js(client, "send.php", send("79000000311", bot="wa:79991112233", cost="2"))
    assert data == {"id": 1, "cnt": 1, "cost": "1.5"}
    await advance(client, 10)
    status = await js(client, "status.php", {"id": "1", "phone": "79000000311", "all": "1"})
    assert (status["status"], status["status_name"], status["type"]) == (2, "Прочитано", 13)
    messages = (await (await client.get("/_emulator/messages", params={"provider": "smsc"})).json())["messages"]
    assert (messages[0]["channel"], messages[0]["status"]) == ("whatsapp", "read")
    assert (await js(client, "send.php", send(bot="xx:1")))["error_code"] == 1


# -- the send logic without HTTP (for the SMPP / SMTP front ends) --------------------------------------------
async def test_commands_run_without_http_and_share_the_http_state(client):
    provider = _provider(client)
    response = await provider.run_command("send.php", {"phones": "79001234567", "mes": "via smpp", "fmt": "3", "cost": "3"}, "demo")
    assert json.loads(response.body) == {"id": 1, "cnt": 1, "cost": "3.5", "balance": "996.5"}
    status = await js(client, "status.php", {"id": "1", "phone": "79001234567", "all": "1"})
    assert status["message"] == "via smpp"
    error = await provider.run_command("send.php", {"phones": "79000000301", "mes": "x", "fmt": "1"}, "demo")
    assert error.body == b"2,-7"
    assert (await provider.run_command("send.php", {"fmt": "3"}, "nobody")).body == b'{"error": "authorise error", "error_code": 2}'


def _provider(client):
    from emulator.runtime import RUNTIME_KEY

    return client.server.app[RUNTIME_KEY].providers["smsc"]


async def test_history_money_follows_the_format(client):
    await js(client, "send.php", send(mes="x" * 200))
    assert (await js(client, "get.php", {"get_messages": "1"}))[0]["cost"] == "7"
    xml, _ = await call(client, "get.php", {"get_messages": "1", "fmt": "2", "charset": "utf-8"})
    assert ET.fromstring(xml).find("sms").findtext("cost") == "7.00"


async def test_status_all_2_fmt_1_keeps_the_message_last_for_the_official_php_split(client):
    await js(client, "send.php", send(mes="hello"))
    text, _ = await call(client, "status.php", {"id": "1", "phone": "79001234567", "all": "2", "fmt": "1", "charset": "utf-8"})
    fields = text.split(",", 11)  # smsc_api.php: explode(",", implode(",", $m), 12) for all=2
    assert fields[8:11] == ["Россия", "", ""] and fields[11] == "hello,,0"
