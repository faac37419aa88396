"""AlphaSMS HTTP API (`/api/http.php`) over real HTTP: the `name:value` answers, checked with the
very patterns the official `alphasms/gateway` library (src/AlphaSMS.php) parses them with."""
from __future__ import annotations

import re

import pytest

from .conftest import advance
from .test_alphasms import client  # noqa: F401  (the module-shared emulator, reset)

pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "/alphasms/api/http.php"
KEY = "alphasms-demo-key"
# alphasms/gateway: sendSms/sendViber, getBalance, getStatus/deleteQueue
GATEWAY_ID = re.compile(r"id\:([0-9]+)", re.I | re.S)
GATEWAY_BALANCE = re.compile(r"^balance\:([0-9\.\-]+)$", re.I | re.S)
GATEWAY_STATUS = re.compile(r"status\:(.*?)[\s]{1,}", re.I | re.S)


async def get(client, **params) -> str:
    response = await client.get(URL, params={"version": "http", "key": KEY, **params})
    assert response.status == 200 and response.content_type == "text/plain"
    return await response.text()


async def send(client, **params) -> str:
    return await get(client, command="send", **{"from": "Shop", "to": "380971234567", "message": "Hello", **params})


async def test_balance_matches_the_gateway_pattern(client):
    answer = await get(client, command="balance")
    assert float(GATEWAY_BALANCE.match(answer.strip()).group(1)) == 100.0


async def test_send_then_status_then_balance(client):
    answer = await send(client)
    gateway_id = GATEWAY_ID.search(answer).group(1)
    assert answer == f"id:{gateway_id}\nsms_count:1\n"
    status = await get(client, command="receive", id=gateway_id)
    assert GATEWAY_STATUS.search(status.strip()).group(1) == "Awaiting"
    await advance(client, 10)
    status = await get(client, command="receive", id=gateway_id)
    assert re.fullmatch(r"status:Delivered\ncode:3\nstatus_time:\d{4}/\d{2}/\d{2}\n", status)  # the documented lines
    assert GATEWAY_STATUS.search(status.strip()).group(1) == "Delivered"
    assert float(GATEWAY_BALANCE.match((await get(client, command="balance")).strip()).group(1)) == pytest.approx(98.75)


async def test_the_same_message_through_the_xml_api(client):
    gateway_id = GATEWAY_ID.search(await send(client)).group(1)
    response = await client.post("/alphasms/api/xml.php", data=f'<package key="{KEY}"><status><msg sms_id="{gateway_id}"/></status></package>')
    assert "<msg " in await response.text() and ">100</msg>" in await response.text()


async def test_post_form_works_like_get(client):
    response = await client.post(URL, data={"key": KEY, "command": "send", "from": "Shop", "to": "380971234567", "message": "Hi"})
    assert GATEWAY_ID.search(await response.text())


async def test_viber_with_sms_fallback_is_one_cascade(client):
    answer = await get(client, command="send", viber="1", viber_type="text", to="380000000007", viber_from="Shop",
                       viber_message="Hi", viber_sms="1", **{"from": "Shop"}, message="Hi", viber_lifetime="60")
    assert GATEWAY_ID.search(answer)
    listed = await (await client.get("/_emulator/messages", params={"phone": "380000000007"})).json()
    assert [a["channel"] for a in listed["messages"][0]["attempts"]] == ["viber", "sms"]
    await advance(client, 30)
    status = await get(client, command="receive", id=GATEWAY_ID.search(answer).group(1))
    assert status.startswith("status:Delivered\ncode:3\n")


async def test_scheduled_send_can_be_deleted(client):
    gateway_id = GATEWAY_ID.search(await send(client, ask_date="2999-01-01T10:00:00+0200")).group(1)
    deleted = await get(client, command="delete", id=gateway_id)
    assert GATEWAY_STATUS.search(deleted.strip()).group(1) == "Removed"
    assert (await get(client, command="delete", id=gateway_id)).startswith("errors:")


async def test_price(client):
    assert re.fullmatch(r"price:[0-9.]+\ncurrency:UAH\n", await get(client, command="price", to="380971234567"))


async def test_login_password_and_the_text_parameter_of_the_cpan_client(client):
    """Net::SMS::AlphaSMS sends `login` + `password` and the message as `text`; its parser splits
    lines on newlines and each on `:`."""
    response = await client.get(URL, params={"version": "http", "command": "send", "login": "demo",
                                             "password": "alphasms-demo-password", "from": "perl", "to": "380501234567", "text": "hi"})
    parsed = dict(line.split(":", 1) for line in (await response.text()).splitlines())
    assert parsed["id"].isdigit() and parsed["sms_count"] == "1"
    listed = await (await client.get("/_emulator/messages", params={"phone": "380501234567"})).json()
    assert listed["messages"][0]["attempts"][0]["content"]["text"] == "hi"
    wrong = await client.get(URL, params={"command": "balance", "login": "demo", "password": "nope"})
    assert await wrong.text() == "errors:Access denied\n"


@pytest.mark.parametrize(
    "params,errors",
    [
        ({"command": "fax"}, ["Unknown command"]),
        ({"command": "balance", "key": "nope"}, ["Access denied"]),
        ({"command": "receive", "id": "999"}, ["SMS not found"]),
        ({"command": "send", "to": "12", "from": "Shop", "message": "x"}, ["Please enter valid receiver phone number"]),
        ({"command": "send", "to": "12", "from": "WayTooLongSenderName", "message": ""},
         ["Please enter valid receiver phone number", "Error in Alpha-name", "Empty message text"]),
        ({"command": "send", "to": "380000000001", "from": "Shop", "message": "x"},
         ["Please enter valid receiver phone number"]),  # magic
    ],
)
async def test_errors_are_errors_lines(client, params, errors):
    answer = await get(client, **params)
    assert answer.splitlines() == [f"errors:{text}" for text in errors]
    assert not GATEWAY_ID.search(answer)
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0


async def test_fuzz_commands_with_a_valid_key(client):
    """Whatever the parameters: a `name:value` answer, never a 500, nothing accepted lost."""
    from .garbage import Garbage
    from .test_robustness import assert_nothing_lost, assert_sane

    values = {  # per parameter, values that mean something to it (else any text)
        "command": ["send", "balance", "receive", "delete", "price"], "from": ["Shop", "1", "WayTooLongSenderName"],
        "to": ["380971234567", "0501112233", "1"], "message": ["Hello", " ", "text"], "id": ["1", "999"],
        "ask_date": ["2999-01-01T10:00:00+0200", "2000-01-01T10:00:00+0200", "1"], "viber": ["1", "0"],
        "viber_type": ["text", "image", "button", "text+image+link"], "viber_from": ["Shop"], "viber_message": ["Hello"],
        "viber_sms": ["1", "0"], "viber_image": ["https://example.org/a.png", "image"], "viber_lifetime": ["1", "3600", "text"],
    }
    names = list(values)
    garbage = Garbage("alphasms http commands")
    for number in range(150):
        params = {name: garbage.text_or(values[name]) for name in (garbage.rng.choice(names) for _ in range(garbage.size(10)))}
        if garbage.rng.random() < 0.8:
            params["command"] = garbage.text_or(values["command"])
        post = garbage.rng.random() < 0.5
        if post:
            response = await client.post(URL, data={"key": KEY, **params})
        else:
            response = await client.get(URL, params={"key": KEY, **params})
        case = {"case": number, "post": post, "params": params}
        await assert_sane(client, response, case)
        assert re.match(r"^[a-z_]+:", await response.text()), case
    await advance(client, 120)
    await assert_nothing_lost(client)
