"""GMS Hyber JSON v2 over real HTTP: seed examples, auth, validation, cascade, DRs, replies."""
from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer


from .conftest import advance

# One emulator and one webhook receiver for the whole module, reset before each test.
pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "/hyber/1000"


def basic(login: str, password: str) -> dict[str, str]:
    """An Authorization header, as every Hyber client builds it."""
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


AUTH = basic("demo", "demo-password")
# every JSON code block of readthedocs chapter 2 (single sending), verbatim, in order
EXAMPLES = Path(__file__).resolve().parent / "data" / "hyber-chapter2-examples.json"
JSON_AUTH = {"Content-Type": "application/json", **AUTH}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def seed_blocks() -> list[dict]:
    """Every JSON code block of the provider's chapter 2, verbatim, in order."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))["blocks"]


def seed_requests() -> list[dict]:
    return [b for b in seed_blocks() if "phone_number" in b]


def sms_request(**overrides) -> dict:
    body = {
        "phone_number": 380961111111,
        "extra_id": "AD-6640-7006",
        "channels": ["sms"],
        "channel_options": {"sms": {"text": "Text for SMS", "alpha_name": "GMSU", "ttl": 300}},
    }
    body.update(overrides)
    return body


def cascade_request(channels=("push", "viber", "sms"), **overrides) -> dict:
    """The seed's Push+Viber+SMS example without start_time/callback_url (set per test)."""
    body = copy.deepcopy(seed_requests()[0])
    body.pop("start_time")
    body.pop("callback_url")
    body["channels"] = list(channels)
    body["channel_options"] = {ch: body["channel_options"][ch] for ch in channels if ch in body["channel_options"]}
    body.update(overrides)
    return body


async def send(client, body, auth=AUTH, url=URL):
    response = await client.post(url, json=body, headers=auth)
    assert response.content_type == "application/json"
    return response.status, await response.json()


async def messages(client, phone=None) -> list[dict]:
    params = {"provider": "hyber", **({"phone": str(phone)} if phone else {})}
    return (await (await client.get("/_emulator/messages", params=params)).json())["messages"]


async def dr(client, path, auth=AUTH):
    response = await client.get(f"{URL}/api/dr/{path}", headers=auth)
    return response.status, await response.json()


@pytest.fixture
def client(fresh_emulator):
    return fresh_emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def webhook():
    """A client's webhook: records every JSON body it receives, answers 200."""
    received: list = []

    async def hook(request: web.Request) -> web.Response:
        received.append({"path": request.path, "body": await request.json(), "headers": dict(request.headers)})
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/{name}", hook)
    server = TestServer(app)
    await server.start_server()
    server.received = received
    server.url = lambda name="dr": str(server.make_url(f"/{name}"))
    yield server
    await server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def receiver(webhook):
    webhook.received.clear()
    return webhook


# -- the documented examples ------------------------------------------------------------------
async def test_seed_has_every_documented_example():
    blocks = seed_blocks()
    assert len(seed_requests()) == 12
    assert blocks[-2] == {"message_id": "9f60ac8f-e721-5027-b838-e6fcb95fcd7a"}
    assert blocks[-1] == {"error_code": 36024, "error_text": "Phone number incorrect"}


@pytest.mark.parametrize("index", range(12))
async def test_every_seed_request_is_accepted_verbatim(client, index):
    example = seed_requests()[index]
    status, answer = await send(client, example)
    assert status == 200
    assert list(answer) == ["message_id"] and UUID.match(answer["message_id"])
    [message] = await messages(client)
    assert message["provider_id"] == answer["message_id"]
    assert [a["channel"] for a in message["attempts"]] == example["channels"]
    for attempt in message["attempts"]:
        options = example["channel_options"][attempt["channel"]]
        assert attempt["content"]["_ttl"] == options["ttl"]
        assert {k: attempt["content"][k] for k in options} == options
    assert message["callback_url"] == "https://send-dr-here.com"
    assert message["meta"]["extra_id"] == "AD-6640-7006" and message["meta"]["tag"] == "Campaign name"


async def test_documented_error_body_for_an_incorrect_phone(client):
    status, answer = await send(client, sms_request(phone_number="12"))
    assert (status, answer) == (400, {"error_code": 36024, "error_text": "Phone number incorrect"})
    assert await messages(client) == []


@pytest.mark.parametrize("phone", ["+380961111111", "38096111111a", True, 12, [380961111111], 3.8e11 + 0.5, "", "0380961111111"])
async def test_phone_number_variants_are_36024(client, phone):
    status, answer = await send(client, sms_request(phone_number=phone))
    assert (status, answer["error_code"]) == (400, 36024)


async def test_phone_number_as_string_is_accepted(client):
    status, _ = await send(client, sms_request(phone_number="380961111111"))
    assert status == 200
    assert (await messages(client))[0]["recipient"] == "380961111111"


# -- auth ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers,url",
    [
        ({}, URL),
        (basic("demo", "wrong"), URL),
        (basic("other", "demo-password"), URL),
        (AUTH, "/hyber/9999"),
        ({"Authorization": "Bearer demo-password"}, URL),
        ({"Authorization": "Basic !!!not-base64"}, URL),
        ({"Authorization": "Basic ZGVtbw=="}, URL),  # "demo" without a password part
    ],
)
async def test_bad_or_missing_basic_auth_is_401(client, headers, url):
    response = await client.post(url, json=sms_request(), headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert await response.json() == {"error_code": 36001, "error_text": "Authorization failed"}
    assert await messages(client) == []


async def test_auth_follows_the_accounts_client_id(client):
    patch = await client.patch("/_emulator/accounts/hyber", json={"credentials": {"client_id": "777"}})
    assert patch.status == 200
    assert (await send(client, sms_request()))[0] == 401
    assert (await send(client, sms_request(), url="/hyber/777"))[0] == 200


# -- transport-level bad input --------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
async def test_content_type_must_be_json(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(URL, data=json.dumps(sms_request()).encode(), headers={**headers, **AUTH})
    assert response.status == 415
    assert await response.json() == {"error_code": 36003, "error_text": "Content-Type must be application/json"}


async def test_content_type_with_charset_is_fine(client):
    headers = {"Content-Type": "application/json; charset=utf-8", **AUTH}
    response = await client.post(URL, data=json.dumps(sms_request()).encode(), headers=headers)
    assert response.status == 200


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{", b"[1,2]", b'"x"', b"null", b"\xff\xfe", b'{"phone_number": NaN}', b"[" * 100_000, b'{"a":' * 50_000],
)
async def test_bodies_that_are_not_a_json_object(client, raw):
    response = await client.post(URL, data=raw, headers=JSON_AUTH)
    assert response.status == 400
    assert (await response.json())["error_code"] == 36004


async def test_huge_body_is_413_in_the_hyber_shape(client):
    body = sms_request(tag="x" * (5 * 1024 * 1024))
    response = await client.post(URL, data=json.dumps(body), headers=JSON_AUTH)
    assert response.status == 413
    assert await response.json() == {"error_code": 36005, "error_text": "Request body too large"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_method_is_405_in_the_hyber_shape(client, method):
    response = await client.request(method, URL, headers=AUTH)
    assert response.status == 405 and response.headers["Allow"] == "POST"
    assert (await response.json())["error_code"] == 36002


# -- mandatory fields and limits (Section 8) ------------------------------------------------------
@pytest.mark.parametrize("field", ["phone_number", "channels", "channel_options"])
async def test_missing_mandatory_main_field(client, field):
    body = sms_request()
    del body[field]
    assert await send(client, body) == (400, {"error_code": 36010, "error_text": "Mandatory parameter is missing"})


async def test_every_listed_channel_needs_its_options(client):
    body = sms_request(channels=["viber", "sms"])
    status, answer = await send(client, body)
    assert (status, answer["error_code"]) == (400, 36022)


def _with(channel: str, changes: dict, drop: tuple = ()) -> dict:
    base = {
        "sms": {"text": "Text for SMS", "alpha_name": "GMSU", "ttl": 300},
        "viber": {"text": "Text for Viber", "ttl": 60},
        "push": {"text": "Text for Push", "title": "Title", "ttl": 60},
        "whatsapp": {"text": "Templated text", "ttl": 604800},
    }[channel]
    options = {k: v for k, v in {**base, **changes}.items() if k not in drop}
    return sms_request(channels=[channel], channel_options={channel: options})


@pytest.mark.parametrize(
    "channel,changes,drop,code",
    [
        ("sms", {"ttl": 299}, (), 36101),
        ("sms", {"ttl": 259201}, (), 36101),
        ("sms", {"ttl": "300"}, (), 36101),
        ("sms", {}, ("ttl",), 36010),
        ("sms", {}, ("text",), 36010),
        ("sms", {}, ("alpha_name",), 36010),
        ("sms", {"alpha_name": "TwelveChars1"}, (), 36103),
        ("sms", {"alpha_name": "Привіт"}, (), 36103),
        ("sms", {"alpha_name": ""}, (), 36103),
        ("sms", {"text": "a" * 766}, (), 36102),
        ("sms", {"text": "Ж" * 336}, (), 36102),
        ("sms", {"text": ""}, (), 36102),
        ("sms", {"ctr": "yes"}, (), 36110),
        ("viber", {"ttl": 39}, (), 36101),
        ("viber", {"ttl": 86401}, (), 36101),
        ("viber", {}, ("ttl",), 36010),
        ("viber", {"text": "a" * 1001}, (), 36102),
        ("viber", {"device": "tablet"}, (), 36110),
        ("viber", {"img": "https://e.x/" + "i" * 250, "caption": "Go", "action": "https://e.x"}, (), 36105),
        ("viber", {"img": "https://e.x/i.png", "caption": "c" * 31, "action": "https://e.x"}, (), 36106),
        ("push", {}, ("title",), 36010),
        ("push", {}, ("text",), 36010),
        ("push", {}, ("ttl",), 36010),
        ("push", {"title": "t" * 21}, (), 36104),
        ("push", {"ttl": 29}, (), 36101),
        ("push", {"ttl": 86401}, (), 36101),
        ("push", {"text": "a" * 1001}, (), 36102),
        ("whatsapp", {"ttl": 86400}, (), 36101),
        ("whatsapp", {}, ("ttl",), 36010),
        ("whatsapp", {"text": "a" * 1001}, (), 36102),
        ("whatsapp", {"img": "https://e.x/" + "i" * 250}, (), 36105),
        ("whatsapp", {"latitude": "91", "longitude": "30"}, (), 36109),
        ("whatsapp", {"latitude": 50.4, "longitude": -181}, (), 36109),
        ("whatsapp", {"latitude": "north", "longitude": "30"}, (), 36109),
        ("whatsapp", {"latitude": "50.4"}, (), 36109),
        ("whatsapp", {"img_name": "caption without image"}, (), 36109),
        ("whatsapp", {}, ("text",), 36109),
    ],
)
async def test_channel_option_limits(client, channel, changes, drop, code):
    status, answer = await send(client, _with(channel, changes, drop))
    assert (status, answer["error_code"]) == (400, code), answer
    assert await messages(client) == []


@pytest.mark.parametrize(
    "channel,changes",
    [
        ("sms", {"ttl": 300}), ("sms", {"ttl": 259200}), ("sms", {"text": "a" * 765}), ("sms", {"text": "Ж" * 335}),
        ("sms", {"alpha_name": "1Elevenchar"}), ("viber", {"ttl": 40}), ("viber", {"ttl": 86400}),
        ("push", {"ttl": 30}), ("push", {"ttl": 86400}), ("push", {"title": "t" * 20}),
        ("whatsapp", {"latitude": -90, "longitude": 180}),
    ],
)
async def test_channel_option_limits_inclusive(client, channel, changes):
    status, answer = await send(client, _with(channel, changes))
    assert status == 200, answer


@pytest.mark.parametrize(
    "changes,code",
    [
        ({"extra_id": "e" * 65}, 36023),
        ({"extra_id": 42}, 36023),
        ({"callback_url": "https://e.x/" + "c" * 245}, 36025),
        ({"callback_url": "ftp://e.x"}, 36025),
        ({"tag": "t" * 65}, 36027),
        ({"division_code": "d" * 101}, 36028),
        ({"start_time": "2020-12-12T10:10:10+03:00"}, 36026),
        ({"start_time": "2020-13-45 10:10:10"}, 36026),
        ({"start_time": "2020-12-12 10:10:10+3:00"}, 36026),
        ({"start_time": "2020-12-12 10:10:10+25:00"}, 36026),
        ({"start_time": 1607760610}, 36026),
        ({"channels": []}, 36021),
        ({"channels": "sms"}, 36021),
        ({"channels": ["sms", "sms"]}, 36021),
        ({"channels": ["telegram"]}, 36021),
        ({"channel_options": []}, 36022),
        ({"channel_options": {"sms": "Text for SMS"}}, 36022),
    ],
)
async def test_main_field_limits(client, changes, code):
    status, answer = await send(client, sms_request(**changes))
    assert (status, answer["error_code"]) == (400, code), answer


async def test_main_field_limits_inclusive(client):
    body = sms_request(extra_id="e" * 64, tag="t" * 64, division_code="d" * 100, callback_url="https://e.x/" + "c" * 244)
    assert (await send(client, body))[0] == 200


async def test_unknown_and_legacy_fields_are_ignored(client):
    body = sms_request(is_promotional=False, text="legacy")
    body["channel_options"]["sms"]["is_promotional"] = "true"
    assert (await send(client, body))[0] == 200


# -- Viber message types and WhatsApp template/session ---------------------------------------------
VIDEO = {"thumbnail": "https://e.x/t.png", "action": "https://e.x/v.mp4", "file_size": 3, "duration": 60}


@pytest.mark.parametrize(
    "fields,kind",
    [
        ({"text": "Hi"}, "template"),
        ({"text": "Hi", "img": "https://e.x/i.png", "caption": "Go", "action": "https://e.x"}, "text+image+button"),
        ({"file_name": "Name_for_document.docx", "action": "https://e.x/f.docx"}, "file"),
        ({"file_name": "report.PDF", "action": "https://e.x/f.pdf"}, "file"),
        (VIDEO, "video"),
        ({**VIDEO, "text": "Hi"}, "video+text"),
        ({**VIDEO, "text": "Hi", "caption": "Go"}, "video+text+button"),
        ({"img": "https://e.x/i.png"}, "image"),
        ({"text": "Hi", "caption": "Go", "action": "https://e.x"}, "text+button"),
    ],
)
async def test_viber_types_are_accepted_and_recorded(client, fields, kind):
    body = sms_request(channels=["viber"], channel_options={"viber": {"ttl": 60, **fields}})
    assert (await send(client, body))[0] == 200
    assert (await messages(client))[0]["attempts"][0]["content"]["_type"] == kind


@pytest.mark.parametrize(
    "fields,code",
    [
        ({}, 36108),
        ({"text": "Hi", "img": "https://e.x/i.png"}, 36108),
        ({"img": "https://e.x/i.png", "caption": "Go", "action": "https://e.x"}, 36108),
        ({"text": "Hi", "caption": "Go"}, 36108),
        ({"text": "Hi", "action": "https://e.x"}, 36108),
        ({"file_name": "doc.docx"}, 36108),
        ({"file_name": "doc.docx", "action": "https://e.x/f", "text": "Hi"}, 36108),
        ({"file_name": "doc.exe", "action": "https://e.x/f"}, 36107),
        ({"file_name": "no_extension", "action": "https://e.x/f"}, 36107),
        ({"file_name": "a_very_long_file_name_.docx", "action": "https://e.x/f"}, 36107),
        ({"thumbnail": "https://e.x/t.png", "action": "https://e.x/v.mp4"}, 36108),
        ({**VIDEO, "img": "https://e.x/i.png"}, 36108),
        ({**VIDEO, "caption": "Go"}, 36108),
        ({**VIDEO, "file_size": "3"}, 36110),
    ],
)
async def test_invalid_viber_combinations_are_rejected(client, fields, code):
    body = sms_request(channels=["viber"], channel_options={"viber": {"ttl": 60, **fields}})
    status, answer = await send(client, body)
    assert (status, answer["error_code"]) == (400, code), answer


async def test_whatsapp_template_and_session_are_told_apart(client):
    examples = [e for e in seed_requests() if e["channels"] == ["whatsapp"]]
    for example in examples:
        assert (await send(client, example))[0] == 200
    kinds = [m["attempts"][0]["content"]["_type"] for m in await messages(client)]
    assert kinds == ["template", "session"]


# -- cascade, balance, scheduling -----------------------------------------------------------------
async def test_cascade_is_one_message_with_attempts_in_channels_order(client):
    body = cascade_request(channels=("sms", "viber", "push"))
    assert (await send(client, body))[0] == 200
    [message] = await messages(client)
    assert [a["channel"] for a in message["attempts"]] == ["sms", "viber", "push"]
    assert [a["content"]["_ttl"] for a in message["attempts"]] == [300, 60, 60]
    assert message["attempts"][1]["content"]["text"] == "Text for Viber"
    assert message["attempts"][2]["content"]["title"] == "Title for Push"


async def test_balance_is_debited_for_the_first_channel(client):
    await send(client, cascade_request(channels=("viber", "sms")))
    await send(client, sms_request(channel_options={"sms": {"text": "a" * 161, "alpha_name": "GMSU", "ttl": 300}}))
    accounts = await (await client.get("/_emulator/accounts/hyber")).json()
    assert accounts[0]["balance"] == pytest.approx(100 - 0.60 - 2 * 1.10)


async def test_insufficient_balance_rejects_and_stores_nothing(client):
    await client.patch("/_emulator/accounts/hyber", json={"balance": 0.5})
    status, answer = await send(client, sms_request())
    assert (status, answer) == (400, {"error_code": 36201, "error_text": "Insufficient balance"})
    assert await messages(client) == []


@pytest.mark.parametrize("phone,code", [(380000000101, 36024), (380000000102, 36201), (380000000110, 36103)])
async def test_magic_recipients_reject(client, phone, code):
    status, answer = await send(client, sms_request(phone_number=phone))
    assert (status, answer["error_code"]) == (400, code)


async def test_future_start_time_schedules_the_message(client, receiver):
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    start = datetime.fromtimestamp(now, timezone(timedelta(hours=3))) + timedelta(hours=1)
    body = sms_request(start_time=start.strftime("%Y-%m-%d %H:%M:%S+03:00"), callback_url=receiver.url())
    await send(client, body)
    [message] = await messages(client)
    assert (await (await client.get(f"/_emulator/messages/{message['id']}")).json())["status"] == "accepted"
    await advance(client, 3000)
    assert receiver.received == []
    await advance(client, 700)
    assert [r["body"]["status"] for r in receiver.received] == [2]


async def test_start_time_without_offset_is_kyiv_time(client):
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(now, ZoneInfo("Europe/Kyiv")) + timedelta(minutes=30)
    await send(client, sms_request(start_time=local.strftime("%Y-%m-%d %H:%M:%S")))
    status, report = await dr(client, "external/AD-6640-7006/advanced")
    assert report["started"] is False and report["reports"][0]["status"] == -1
    await advance(client, 30 * 60 - 5)
    assert (await dr(client, "external/AD-6640-7006/advanced"))[1]["started"] is False
    await advance(client, 10)
    assert (await dr(client, "external/AD-6640-7006/simple"))[1]["status"] == 2


# -- delivery reports pushed to callback_url --------------------------------------------------------
async def test_sms_delivery_report_has_the_documented_fields(client, receiver):
    await send(client, sms_request(callback_url=receiver.url()))
    await advance(client, 10)
    [call] = receiver.received
    body = call["body"]
    assert call["headers"]["Content-Type"].startswith("application/json")
    assert "Authorization" not in call["headers"]
    [message] = await messages(client)
    delivered_at = message["attempts"][0]["history"][-1]["at"]
    assert body == {
        "number": 380961111111,
        "time": int(round(delivered_at * 1000)),
        "status": 2,
        "substatus": 23,
        "hyber_status": 23011,
        "message_id": message["provider_id"],
        "extra_id": "AD-6640-7006",
        "sent_via": "sms",
        "total_sms_parts": 1,
        "delivered_sms_parts": 1,
    }


async def test_delivery_on_the_first_channel_stops_the_cascade(client, receiver):
    await send(client, cascade_request(channels=("viber", "sms"), callback_url=receiver.url()))
    await advance(client, 400)
    [call] = receiver.received
    assert call["body"]["sent_via"] == "viber" and call["body"]["hyber_status"] == 23033
    assert "total_sms_parts" not in call["body"] and "delivered_sms_parts" not in call["body"]
    [message] = await messages(client)
    assert message["attempts"][1]["status"] is None


async def test_viber_undelivered_falls_back_to_sms_with_one_final_report(client, receiver):
    body = cascade_request(channels=("viber", "sms"), phone_number=380000000103, callback_url=receiver.url())
    await send(client, body)
    await advance(client, 10)
    assert [r["body"]["sent_via"] for r in receiver.received] == ["sms"]
    assert receiver.received[0]["body"]["status"] == 2
    status, report = await dr(client, "external/AD-6640-7006/advanced")
    assert [(r["last_partner"], r["status"], r["substatus"]) for r in report["reports"]] == [("viber", 3, 36), ("sms", 2, 23)]
    assert report["delivered_via"] == "sms" and report["processing"] is False and report["started"] is True
    assert report["channels"] == [{"channel": "viber", "ttl": 60}, {"channel": "sms", "ttl": 300}]


async def test_unanswered_channels_expire_by_their_own_ttl(client, receiver):
    body = cascade_request(channels=("viber", "sms"), phone_number=380000000105, callback_url=receiver.url())
    await send(client, body)
    await advance(client, 59)
    [message] = await messages(client)
    assert [a["status"] for a in message["attempts"]] == ["sent", None]
    await advance(client, 2)  # viber ttl 60 is over: sms starts
    [message] = await messages(client)
    assert [a["status"] for a in message["attempts"]] == ["expired", "sent"]
    assert receiver.received == []
    await advance(client, 300)  # sms ttl 300 is over too: the message is final
    [call] = receiver.received
    assert {k: call["body"][k] for k in ("status", "substatus", "hyber_status", "sent_via")} == {
        "status": 3, "substatus": 35, "hyber_status": 35015, "sent_via": "sms"}
    assert call["body"]["total_sms_parts"] == 1 and call["body"]["delivered_sms_parts"] == 0


async def test_push_and_viber_expire_then_sms_delivers(client, receiver):
    await send(client, cascade_request(phone_number=380000000107, callback_url=receiver.url()))
    await advance(client, 200)
    [message] = await messages(client)
    assert [a["status"] for a in message["attempts"]] == ["expired", "expired", "delivered"]
    assert [r["body"]["sent_via"] for r in receiver.received] == ["sms"]


async def test_undelivered_everywhere_reports_once_from_the_last_channel(client, receiver):
    await send(client, cascade_request(phone_number=380000000104, callback_url=receiver.url()))
    await advance(client, 20)
    [call] = receiver.received
    assert (call["body"]["status"], call["body"]["substatus"], call["body"]["sent_via"]) == (3, 36, "sms")
    assert call["body"]["delivered_sms_parts"] == 0


async def test_blocked_by_the_platform_reports_sent_via_hyber(client, receiver):
    await send(client, sms_request(phone_number=380000000108, callback_url=receiver.url()))
    await advance(client, 5)
    [call] = receiver.received
    assert call["body"]["sent_via"] == "hyber" and call["body"]["status"] == 3


async def test_seen_report_only_when_enabled(client, receiver):
    body = sms_request(phone_number=380000000106, channels=["viber"], channel_options={"viber": {"text": "Hi", "ttl": 60}}, callback_url=receiver.url())
    await send(client, body)
    await advance(client, 10)
    assert [r["body"]["substatus"] for r in receiver.received] == [23]
    await client.patch("/_emulator/accounts/hyber", json={"credentials": {"dr_seen": "true"}})
    await send(client, body)
    await advance(client, 10)
    assert [r["body"]["substatus"] for r in receiver.received] == [23, 23, 24]
    seen = receiver.received[-1]["body"]
    assert seen["status"] == 2 and seen["hyber_status"] == 24043 and seen["sent_via"] == "viber"


async def test_batched_mode_posts_an_array_with_number_as_string(client, receiver):
    await client.patch("/_emulator/accounts/hyber", json={"credentials": {"dr_batched": "true"}})
    await send(client, sms_request(callback_url=receiver.url()))
    await advance(client, 10)
    [call] = receiver.received
    assert isinstance(call["body"], list) and call["body"][0]["number"] == "380961111111"


async def test_no_callback_url_no_report(client):
    await send(client, sms_request())
    await advance(client, 10)
    assert (await (await client.get("/_emulator/callbacks")).json())["count"] == 0


# -- GET delivery report ------------------------------------------------------------------------------
async def test_simple_report_follows_the_lifecycle(client):
    _, answer = await send(client, sms_request())
    message_id = answer["message_id"]
    status, before = await dr(client, f"{message_id}/simple")
    assert status == 200
    assert before["status"] == -1 and before["last_partner"] == "hyber" and before["phone_number"] == "380961111111"
    await advance(client, 10)
    _, after = await dr(client, f"{message_id}/simple")
    assert list(after) == ["phone_number", "last_partner", "message_id", "extra_id", "time", "status", "substatus",
                           "hyber_status", "total_sms_parts", "delivered_sms_parts"]
    assert (after["last_partner"], after["status"], after["substatus"], after["hyber_status"]) == ("sms", 2, 23, 23011)
    assert after["message_id"] == message_id and isinstance(after["time"], int) and after["time"] > 10**12
    assert (await dr(client, "external/AD-6640-7006/simple"))[1] == after


async def test_viber_template_report_has_matching_template_id(client):
    template = next(e for e in seed_requests() if e["channel_options"].get("viber", {}).get("text") == "Templated text for Viber")
    await send(client, template)
    assert "matching_template_id" not in (await dr(client, "external/AD-6640-7006/simple"))[1]
    await advance(client, 10)
    _, simple = await dr(client, "external/AD-6640-7006/simple")
    assert simple["hyber_status"] == 23043 and simple["matching_template_id"] > 0
    _, advanced = await dr(client, "external/AD-6640-7006/advanced")
    assert advanced["reports"][0]["matching_template_id"] == simple["matching_template_id"]


async def test_clicks_appear_only_with_ctr(client):
    await send(client, sms_request(extra_id="with-ctr", channel_options={"sms": {"text": "t", "alpha_name": "A", "ttl": 300, "ctr": True}}))
    await send(client, sms_request(extra_id="without"))
    assert (await dr(client, "external/with-ctr/simple"))[1]["clicks"] == 0
    assert "clicks" not in (await dr(client, "external/without/simple"))[1]


async def test_scenario_error_becomes_the_hyber_status(client):
    body = cascade_request(channels=("whatsapp", "sms"), phone_number=380000000109)
    body["channel_options"]["whatsapp"] = {"text": "Templated text for WhatsApp", "ttl": 604800}
    await send(client, body)
    await advance(client, 10)
    _, report = await dr(client, "external/AD-6640-7006/advanced")
    assert [(r["last_partner"], r["hyber_status"]) for r in report["reports"]] == [("whatsapp", 36052), ("sms", 23011)]


@pytest.mark.parametrize("path", ["00000000-0000-0000-0000-000000000000/simple", "external/nope/advanced"])
async def test_unknown_message_is_404(client, path):
    assert await dr(client, path) == (404, {"error_code": 36202, "error_text": "Message not found"})


async def test_report_needs_auth_and_get(client):
    _, answer = await send(client, sms_request())
    assert (await dr(client, f"{answer['message_id']}/simple", auth=basic("demo", "x")))[0] == 401
    response = await client.post(f"{URL}/api/dr/{answer['message_id']}/simple", headers=AUTH)
    assert response.status == 405 and (await response.json())["error_code"] == 36002


# -- user replies (2way) --------------------------------------------------------------------------------
async def test_viber_reply_is_posted_with_the_documented_fields(client, receiver):
    body = cascade_request(channels=("viber", "sms"), callback_url=receiver.url())
    await send(client, body)
    await advance(client, 10)
    [message] = await messages(client)
    response = await client.post("/_emulator/inbound", json={"message_id": message["id"], "text": "Reply from viber user"})
    assert response.status == 200
    await advance(client, 0)
    reply = receiver.received[-1]["body"]
    assert set(reply) == {"phone", "time", "channel", "message_id", "extra_id", "text_to_subscriber", "text_from_subscriber"}
    assert reply["channel"] == "viber" and reply["phone"] == "380961111111"
    assert reply["text_to_subscriber"] == "Text for Viber" and reply["text_from_subscriber"] == "Reply from viber user"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", reply["time"])


async def test_whatsapp_reply_goes_to_the_accounts_inbound_url(client, receiver):
    await client.patch("/_emulator/accounts/hyber", json={"credentials": {"inbound_url": receiver.url("replies")}})
    example = next(e for e in seed_requests() if e["channels"] == ["whatsapp"])
    await send(client, {**example, "callback_url": receiver.url("dr")})
    await advance(client, 10)
    await client.post("/_emulator/inbound", json={"phone": "380961111111", "provider": "hyber", "text": "Test reply"})
    await advance(client, 0)
    replies = [r for r in receiver.received if r["path"] == "/replies"]
    [reply] = replies
    assert set(reply["body"]) == {"channel", "phone", "time", "umid", "text_from_subscriber"}
    assert reply["body"]["channel"] == "whatsapp" and UUID.match(reply["body"]["umid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reply["body"]["time"])


async def test_no_reply_callback_for_sms(client, receiver):
    await send(client, sms_request(callback_url=receiver.url()))
    await advance(client, 10)
    await client.post("/_emulator/inbound", json={"phone": "380961111111", "provider": "hyber", "text": "hi"})
    await advance(client, 0)
    assert [r["body"].get("sent_via") for r in receiver.received] == ["sms"]


async def test_nothing_ever_answers_500(client):
    weird = [
        {"phone_number": {"a": 1}, "channels": [{}], "channel_options": {"sms": None}},
        {"phone_number": 380961111111, "channels": ["viber"], "channel_options": {"viber": {"ttl": 60, "text": ["x"]}}},
        {"phone_number": 380961111111, "channels": ["whatsapp"], "channel_options": {"whatsapp": {"ttl": 604800, "latitude": True, "longitude": 1}}},
        {"phone_number": 380961111111, "channels": ["sms"], "channel_options": {"sms": {"text": "x", "alpha_name": "A", "ttl": 1e308}}},
        {"phone_number": 380961111111, "channels": ["viber"], "channel_options": {"viber": {"ttl": 60, **VIDEO, "file_size": 1e400}}},
    ]
    for body in weird:
        response = await client.post(URL, data=json.dumps(body), headers=JSON_AUTH)
        assert 400 <= response.status < 500
        assert set(await response.json()) == {"error_code", "error_text"}
