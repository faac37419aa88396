"""AlphaSMS XML API (`POST /api/xml.php`) over real HTTP: the shapes PyPI alphasms-client parses,
the documented codes, and the one core shared with the JSON API."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from .conftest import advance
from .test_alphasms import client  # noqa: F401  (the module-shared emulator, reset)

pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "/alphasms/api/xml.php"
KEY = "alphasms-demo-key"


def package(*commands: str, auth: str = f'key="{KEY}"') -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><package {auth}>{"".join(commands)}</package>'


async def post(client, body: str | bytes, **headers) -> ET.Element:
    response = await client.post(URL, data=body.encode() if isinstance(body, str) else body, headers=headers)
    assert response.status == 200
    assert response.content_type == "text/xml"
    return ET.fromstring(await response.read())


def msg(recipient="380971234567", sender="Shop", text="Hello", **attrs) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f'<msg recipient="{recipient}" sender="{sender}" type="0"{extra}>{text}</msg>'


async def test_balance(client):
    root = await post(client, package("<balance/>"))
    assert root.tag == "package"
    assert float(root.findtext("balance/amount")) == 100.0 and root.findtext("balance/currency") == "UAH"


async def test_send_answers_one_msg_per_message_with_code_1(client):
    root = await post(client, package(f'<message>{msg(id="1")}{msg(recipient="0501112233", id="2", text="a" * 161)}</message>'))
    first, second = root.findall("message/msg")
    assert (first.get("id"), first.get("sms_count"), first.text) == ("1", "1", "1")
    assert int(first.get("sms_id")) > 0
    assert (second.get("id"), second.get("sms_count"), second.text) == ("2", "2", "1")
    listed = await (await client.get("/_emulator/messages", params={"phone": "380501112233"})).json()
    assert listed["count"] == 1  # Ukrainian national form normalised to 380...


@pytest.mark.parametrize(
    "message,code",
    [
        (msg(recipient="12"), "203"),
        (msg(sender="WayTooLongSenderName"), "202"),
        (msg(text=""), "204"),
        (msg(id="has space"), "201"),
        ('<msg recipient="380971234567" sender="Shop" type="2">wap</msg>', "200"),  # WAP-push without url
        (msg(recipient="380000000001"), "203"),  # magic: invalid phone
        (msg(recipient="380000000002"), "206"),  # magic: insufficient funds
    ],
)
async def test_message_errors_are_msg_codes(client, message, code):
    root = await post(client, package(f"<message>{message}</message>"))
    result = root.find("message/msg")
    assert (result.text, result.get("sms_id"), result.get("sms_count")) == (code, "0", "0")
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0


async def test_duplicate_id_is_208_and_shared_with_the_json_api(client):
    await post(client, package(f'<message>{msg(id="500")}</message>'))
    root = await post(client, package(f'<message>{msg(id="500")}</message>'))
    assert root.find("message/msg").text == "208"
    json_answer = await (await client.post("/alphasms/api/json.php", json={"auth": KEY, "data": [
        {"type": "sms", "id": 500, "phone": 380971234567, "sms_signature": "Shop", "sms_message": "x"}]})).json()
    assert json_answer["data"][0]["error"] == "A message with the specified ID already exists"


async def test_status_by_client_id_and_by_sms_id_follows_the_code_table(client):
    sent = (await post(client, package(f'<message>{msg(id="7")}{msg(recipient="380000000003", id="8")}</message>'))).findall("message/msg")
    query = package(f'<status><msg id="7"/><msg sms_id="{sent[1].get("sms_id")}"/><msg id="nope"/></status>')
    fresh = (await post(client, query)).findall("status/msg")
    assert [m.text for m in fresh] == ["100", "100", "201"]  # SCHEDULED, never 106 ACCEPTED
    assert fresh[0].get("date_completed") is None
    await advance(client, 10)
    done = (await post(client, query)).findall("status/msg")
    assert [m.text for m in done] == ["102", "105", "201"]  # DELIVERED, UNDELIVERABLE
    assert done[0].get("id") == "7" and done[0].get("sms_id") == sent[0].get("sms_id")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", done[0].get("date_completed"))  # AlphaSMSKit's form
    # the same message through the JSON API
    answer = await (await client.post("/alphasms/api/json.php", json={"auth": KEY, "data": [{"type": "status", "id": 7}]})).json()
    assert answer["data"][0]["data"]["status"] == "DELIVERED"


async def test_delete_a_scheduled_message_then_not_again(client):
    later = '<msg recipient="380971234567" sender="Shop" type="0" id="9" date_beg="2999-01-01T10:00">Later</msg>'
    await post(client, package(f"<message>{later}</message>"))
    deleted = (await post(client, package('<delete><msg id="9"/></delete>'))).find("status/msg")
    assert deleted.text == "104"
    again = (await post(client, package('<delete><msg id="9"/></delete>'))).find("status/msg")
    assert again.text == "211"


async def test_date_beg_and_date_end_set_start_and_validity(client):
    later = ('<msg recipient="380971234567" sender="Shop" type="0" id="1" '
             'date_beg="2999-01-01T10:00:00+02:00" date_end="2999-01-01T10:30:00Z">Hi</msg>')
    assert (await post(client, package(f"<message>{later}</message>"))).find("message/msg").text == "1"
    [message] = (await (await client.get("/_emulator/messages")).json())["messages"]
    assert message["attempts"][0]["content"]["_ttl"] == 2 * 3600 + 1800  # 08:00Z start -> 10:30Z end
    await advance(client, 60)
    assert (await post(client, package('<status><msg id="1"/></status>'))).find("status/msg").text == "100"  # still SCHEDULED
    bad = msg(id="2", date_end="tomorrow")
    assert (await post(client, package(f"<message>{bad}</message>"))).find("message/msg").text == "200"


async def test_prices_per_phone(client):
    root = await post(client, package("<prices><phone>380971234567</phone><phone>380501112233</phone></prices>"))
    phones = root.findall("prices/phone")
    assert [p.text for p in phones] == ["380971234567", "380501112233"]
    assert all(float(p.get("price")) > 0 and p.get("currency") == "UAH" for p in phones)


async def test_several_commands_in_one_package_answer_in_order(client):
    root = await post(client, package(f'<message>{msg(id="1")}</message>', '<status><msg id="1"/></status>', "<balance/>"))
    assert [child.tag for child in root] == ["message", "status", "balance"]
    assert float(root.findtext("balance/amount")) == pytest.approx(98.75)


async def test_login_and_password_authenticate_too(client):
    root = await post(client, package("<balance/>", auth='login="demo" password="alphasms-demo-password"'))
    assert root.findtext("balance/currency") == "UAH"
    wrong = await post(client, package("<balance/>", auth='login="demo" password="nope"'))
    assert wrong.findtext("error") == "202"


@pytest.mark.parametrize(
    "body,code",
    [
        (package("<balance/>", auth='key="nope"'), "209"),
        (package("<balance/>", auth=""), "209"),
        ("not xml", "201"),
        ("<other/>", "201"),
        (package("<fax/>"), "201"),
        (package(""), "201"),
        ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><package key="k">&a;</package>', "201"),
        (b"\xff\xfe<package>", "201"),
    ],
)
async def test_package_errors(client, body, code):
    root = await post(client, body)
    assert root.tag == "package" and root.findtext("error") == code


async def test_no_content_type_check(client):
    root = await post(client, package("<balance/>"), **{"Content-Type": "application/x-www-form-urlencoded"})
    assert root.findtext("balance/currency") == "UAH"


async def test_wrong_method_is_a_package_error(client):
    response = await client.get(URL)
    assert response.status == 200
    assert ET.fromstring(await response.read()).findtext("error") == "201"


async def test_fuzz_packages_with_a_valid_key(client):
    """Whatever the attributes and texts: an XML answer, never a 500, nothing accepted lost."""
    from xml.sax.saxutils import quoteattr, escape

    from .garbage import Garbage
    from .test_robustness import assert_nothing_lost, assert_sane

    values = ["380971234567", "0501112233", "Shop", "0", "1", "2", "3", "2999-01-01T10:00"]
    names = ["recipient", "sender", "type", "id", "sms_id", "url", "date_beg"]
    garbage = Garbage("alphasms xml packages")

    def msg() -> str:
        attrs = {garbage.rng.choice(names): garbage.text_or(values) for _ in range(garbage.size(6))}
        return f"<msg {' '.join(f'{k}={quoteattr(v)}' for k, v in attrs.items())}>{escape(garbage.text(30))}</msg>"

    def section() -> str:
        tag = garbage.rng.choice(["message", "status", "delete", "balance"])
        return f"<{tag}>{''.join(msg() for _ in range(garbage.size(4)))}</{tag}>"

    for number in range(120):
        body = [section() for _ in range(garbage.rng.randint(1, 3))]
        response = await client.post(URL, data=package(*body).encode())
        case = {"case": number, "body": body}
        await assert_sane(client, response, case)
        root = ET.fromstring(await response.read())
        assert root.tag == "package", case
    await advance(client, 120)
    await assert_nothing_lost(client)
