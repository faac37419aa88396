"""Revicom Direct API over real HTTP: send on every channel, auth, every documented error,
bad input of every kind, get, stop, balance, connection check and status callbacks."""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio


from .conftest import advance, served_receiver

# One emulator and one callback receiver for the whole module, reset before each test.
pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "/revicom/api/v1"
SEND = f"{BASE}/message"
TOKEN = "revicom-demo-token"
SERVICE_TOKEN = "revicom-demo-service-token"
AUTH = {"Authorization": f"Basic {TOKEN}"}
# the VOICECODE page's request example and curl payload, verbatim
EXAMPLE = Path(__file__).resolve().parent / "data" / "revicom-voicecode-example.json"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def seed_request_example() -> list:
    """The VOICECODE request example of Revicom's page, verbatim."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))["request_example"]


def seed_curl_body() -> str:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))["curl_body"]


def voicecode(destination="79161234567", text="Код авторизации от revicom: 1234", **extra):
    item = {"channelType": "VOICECODE", "senderName": "voicecode", "destination": destination,
            "content": {"contentType": "text", "text": text}}
    item.update(extra)
    return item


def sms(destination="79161234567", content="Your code 1234", **extra):
    item = {"channelType": "SMS", "senderName": "sms_promo", "destination": destination, "content": content}
    item.update(extra)
    return item


def flashcall(destination="79161234567", content="1234", **extra):
    item = {"channelType": "FLASHCALL", "senderName": "any sender", "destination": destination, "content": content}
    item.update(extra)
    return item


def vk(destination="79161234567", content="Hello from VK", **extra):
    item = {"channelType": "VK", "senderName": "shop", "destination": destination, "content": content}
    item.update(extra)
    return item


def whatsapp(destination="79161234567", content=None, **extra):
    item = {"channelType": "WHATSAPP", "senderName": "shop", "destination": destination,
            "content": content or {"contentType": "text", "text": "Hello from WhatsApp"}}
    item.update(extra)
    return item


async def post(client, body, headers=AUTH, path=SEND):
    if isinstance(body, (bytes, str)):
        response = await client.post(path, data=body, headers={"Content-Type": "application/json", **headers})
    else:
        response = await client.post(path, json=body, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


async def sent(client, *items):
    status, answer = await post(client, list(items))
    assert status == 200, answer
    return answer


async def emulated(client, **params):
    return (await (await client.get("/_emulator/messages", params={"provider": "revicom", **params})).json())["messages"]


def error(code, msg):
    return {"error": {"code": code, "msg": msg}}


@pytest.fixture
def client(fresh_emulator):
    return fresh_emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def callback_server():
    async with served_receiver("/hook", with_headers=True) as (got, url):
        yield url, got


@pytest_asyncio.fixture(loop_scope="module")
async def receiver(callback_server):
    """A callback receiver: (url, list of (headers, JSON body) it got since the test began)."""
    url, got = callback_server
    got.clear()
    return url, got


async def emulator_now(client) -> datetime:
    """The emulator's (virtual) UTC time: the module's clock runs ahead of the wall clock."""
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    return datetime.fromtimestamp(now, timezone.utc)


# -- documented examples ---------------------------------------------------------------------
async def test_seed_voicecode_example_is_accepted_verbatim(client):
    body = seed_request_example()
    assert body[0]["content"]["text"] == "Код авторизации от revicom: 3 4 5 6"
    status, answer = await post(client, body)
    assert status == 200
    assert answer["errors"] is False
    assert len(answer["items"]) == 1 and answer["items"][0]["code"] == 201
    assert UUID.match(answer["items"][0]["messageUuid"])


async def test_seed_curl_payload_is_accepted_and_its_code_is_readable(client):
    status, answer = await post(client, seed_curl_body())
    assert status == 200 and answer["errors"] is False
    waited = await client.get("/_emulator/messages/wait", params={"phone": "14085553911", "timeout": 1})
    message = await waited.json()
    assert message["otp"] == "3456"
    assert message["provider_id"] == answer["items"][0]["messageUuid"]
    assert message["channel"] == "VOICECODE"


async def test_flashcall_doc_example_gives_a_call_whose_number_ends_with_the_code(client):
    answer = await sent(client, {"channelType": "FLASHCALL", "senderName": "any sender", "destination": "14085553911",
                                 "content": "1234", "callbackUrl": "https://company.com/callback",
                                 "callbackEvents": ["sent", "delivered"], "tags": ["tag1", "tag2"]})
    assert answer["errors"] is False
    message = await (await client.get("/_emulator/messages/wait", params={"phone": "14085553911", "timeout": 1})).json()
    assert message["otp"] == "1234"
    assert message["attempts"][0]["content"]["caller"].endswith("1234")


async def test_public_client_shapes_are_accepted(client):
    # i-Digital clients: SMS with ttl 70; FLASHCALL with an integer code; trailing slash on the path
    answer = await sent(client, {"channelType": "SMS", "senderName": "sms_promo", "destination": "79818282828",
                                 "content": "text", "ttl": 70},
                        {"channelType": "FLASHCALL", "senderName": "x", "destination": 79818282828, "content": 4821, "ttl": 70})
    assert [i["code"] for i in answer["items"]] == [201, 201]
    status, answer = await post(client, [sms()], path=SEND + "/")
    assert status == 200 and answer["errors"] is False


@pytest.mark.parametrize("item", [
    sms(), sms(content="Привет " * 50, ttl=86400, useLocalTime=False, hours=[10, 11], days=[1, 7], shortUrl=True),
    flashcall(ttl=30), voicecode(ttl=30), voicecode(text="Код авторизации от Shop: 1-2-3-4"),
    voicecode(text="Код авторизации от My Brand: 123456."), vk(), vk(content="x" * 2048, ttl=60),
    whatsapp(), whatsapp(content={"contentType": "image", "imageUrl": "https://e.x/i.png"}),
    sms(externalMessageId="x" * 100, tags=["tag1", "Tag_2"], callbackUrl="http://u:p@127.0.0.1:9/cb",
        callbackEvents=["delivered", "sent", "read", "price", "click"]),
])
async def test_every_channel_is_accepted(client, item):
    answer = await sent(client, item)
    assert answer["errors"] is False, answer
    listed = await emulated(client, phone=item["destination"])
    assert listed[-1]["channel"] == item["channelType"]


async def test_thousand_messages_in_one_request(client):
    await client.patch("/_emulator/accounts/revicom", json={"balance": 100000})
    answer = await sent(client, *[flashcall(destination=f"7916{i:07d}") for i in range(1000)])
    assert len(answer["items"]) == 1000 and answer["errors"] is False
    assert len({i["messageUuid"] for i in answer["items"]}) == 1000


# -- authorization -------------------------------------------------------------------------------
async def test_no_authorization_header_is_4010(client):
    assert await post(client, [sms()], headers={}) == (401, error(4010, "Not Authenticated"))


@pytest.mark.parametrize("header", ["Basic nope", "Basic ", "Basic", f"Basic {TOKEN}x", "Bearer wrong"])
async def test_bad_token_is_4012(client, header):
    assert await post(client, [sms()], headers={"Authorization": header}) == (401, error(4012, "Bad credentials"))


async def test_unknown_scheme_counts_as_no_authentication(client):
    assert await post(client, [sms()], headers={"Authorization": f"Token {TOKEN}"}) == (401, error(4010, "Not Authenticated"))


@pytest.mark.parametrize("method,path,body", [
    ("POST", SEND, [{"channelType": "SMS"}]), ("GET", SEND, None), ("POST", f"{SEND}/stop", {"uuids": ["x"]}),
    ("GET", f"{SEND}/9d213ffc-c388-46f5-b42b-01d589d1a815", None),
])
async def test_token_of_wrong_type_is_4030(client, method, path, body):
    response = await client.request(method, path, json=body, headers={"Authorization": f"Basic {SERVICE_TOKEN}"})
    assert response.status == 403
    assert await response.json() == error(4030, "Access Denied")


async def test_bearer_scheme_is_accepted(client):
    status, answer = await post(client, [sms()], headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and answer["errors"] is False


# -- documented and inferred validation errors -----------------------------------------------
INVALID = [
    (sms(destination="abc"), "Invalid msisdn"),
    (sms(destination="+79161234567"), "Invalid msisdn"),
    (sms(destination="7916"), "Invalid msisdn"),
    (sms(destination=None), "Invalid msisdn"),
    ({k: v for k, v in sms().items() if k != "destination"}, "Invalid msisdn"),
    (sms(content=""), "Invalid content"),
    (sms(content=["a"]), "Invalid content"),
    ({k: v for k, v in sms().items() if k != "content"}, "Invalid content"),
    (flashcall(content="12345"), "Invalid content"),
    (flashcall(content="12a4"), "Invalid content"),
    (flashcall(content=123), "Invalid content"),
    (voicecode(text="Your code is 1234"), "Invalid content"),
    (voicecode(text="Код авторизации от revicom: "), "Invalid content"),
    (voicecode(text="Код авторизации от revicom: 1234" + "5" * 1000), "Invalid content"),
    (voicecode(content={"contentType": "audio", "text": "Код авторизации от a: 1"}), "Invalid content"),
    (voicecode(content="Код авторизации от a: 1"), "Invalid content"),
    (vk(content="x" * 2049), "Invalid content"),
    (whatsapp(content={"contentType": "text"}), "Invalid content"),
    (whatsapp(content="plain"), "Invalid content"),
    (voicecode(senderName="brand"), "Invalid senderName"),
    (sms(senderName="WayTooLongName"), "Invalid senderName"),
    (vk(senderName=""), "Invalid senderName"),
    ({"channelType": "TELEGRAM", "senderName": "a", "destination": "79161234567", "content": "x"}, "Invalid channelType"),
    ({"senderName": "a", "destination": "79161234567", "content": "x"}, "Invalid channelType"),
    (voicecode(ttl=29), "Invalid ttl"),
    (voicecode(ttl=86401), "Invalid ttl"),
    (sms(ttl=59), "Invalid ttl"),
    (vk(ttl="60"), "Invalid ttl"),
    (sms(tags=["bad-tag"]), "Invalid tags"),
    (sms(tags="tag"), "Invalid tags"),
    (sms(callbackUrl="ftp://company.com/cb"), "Invalid callbackUrl"),
    (sms(callbackUrl="https://company.com/cb", callbackEvents=["opened"]), "Invalid callbackEvents"),
    (sms(externalMessageId="x" * 101), "Invalid externalMessageId"),
    (sms(localSendTime="2020-01-01 00:00:00"), "Invalid localSendTime"),
    (sms(localSendTime="tomorrow"), "Invalid localSendTime"),
    (sms(localSendTime="2021-02-30 10:00:00"), "Invalid localSendTime"),
    (sms(hours=[10, 10]), "Invalid hours"),
    (sms(hours=[24]), "Invalid hours"),
    (vk(days=[0]), "Invalid days"),
    ("not an object", "Invalid request"),
    (sms(useLocalTime="yes"), "Invalid request"),
]


@pytest.mark.parametrize("item,msg", INVALID)
async def test_a_broken_rule_refuses_the_whole_request_with_4220(client, item, msg):
    status, answer = await post(client, [sms(destination="79160000001"), item])
    assert (status, answer) == (422, error(4220, msg))
    assert await emulated(client) == []


async def test_completion_time_beyond_70_days_is_refused(client):
    far = (await emulator_now(client) + timedelta(days=71)).strftime("%Y-%m-%d %H:%M:%S")
    assert await post(client, [sms(localCompletionTime=far)]) == (422, error(4220, "Invalid localCompletionTime"))


@pytest.mark.parametrize("body", [[], {"channelType": "SMS"}, "x", 5, None])
async def test_not_an_array_of_1_to_1000_is_4220(client, body):
    status, answer = await post(client, json.dumps(body))
    assert status == 422 and answer["error"]["code"] == 4220


async def test_more_than_1000_messages_is_4220(client):
    status, answer = await post(client, [flashcall()] * 1001)
    assert (status, answer) == (422, error(4220, "Invalid messages count"))


@pytest.mark.parametrize("body", [b"not json", b"[", b"\xff\xfe", b"[NaN]", b"[" * 100000 + b"]" * 100000, b""])
async def test_bodies_that_are_not_json_get_the_error_shape(client, body):
    status, answer = await post(client, body)
    assert status == 422 and answer["error"]["code"] == 4220


async def test_wrong_content_type_is_refused(client):
    response = await client.post(SEND, data=json.dumps([sms()]), headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status == 422
    assert await response.json() == error(4220, "Invalid content type")


async def test_huge_body_gets_the_error_shape(client):
    body = b"[" + b'{"channelType":"SMS"},' * 300_000 + b"{}]"
    status, answer = await post(client, body)
    assert (status, answer) == (413, error(4130, "Payload Too Large"))


@pytest.mark.parametrize("method,path", [
    ("PUT", SEND), ("DELETE", SEND), ("PATCH", SEND), ("GET", f"{SEND}/stop"), ("POST", f"{BASE}/balance"),
    ("DELETE", f"{SEND}/some-uuid"), ("POST", f"{BASE}/ping"),
])
async def test_wrong_method_gets_the_error_shape(client, method, path):
    response = await client.request(method, path, headers=AUTH)
    assert response.status == 405
    assert await response.json() == error(4050, "Method Not Allowed")


# -- per-message refusals, balance ---------------------------------------------------------------
async def test_magic_refusals_are_per_message_with_errors_true(client):
    answer = await sent(client, sms(), sms(destination="79000000201"), sms(destination="79000000202"),
                        sms(destination="79000000208"))
    assert answer["errors"] is True
    items = answer["items"]
    assert items[0]["code"] == 201 and UUID.match(items[0]["messageUuid"])
    assert items[1:] == [{"code": 422, "errorCode": 4220}, {"code": 402, "errorCode": 4020}, {"code": 403, "errorCode": 4030}]
    assert len(await emulated(client)) == 1


async def test_balance_answers_in_the_account_currency_and_is_debited(client):
    balance = await client.get(f"{BASE}/balance", headers=AUTH)
    assert (balance.status, await balance.json()) == (200, {"RUB": 100.0})
    await sent(client, sms(content="a" * 161), voicecode())  # 2 SMS parts x 3.00 + 1.50
    balance = await client.get(f"{BASE}/balance", headers={"Authorization": f"Basic {SERVICE_TOKEN}"})
    assert await balance.json() == {"RUB": 92.5}


async def test_balance_needs_a_valid_token(client):
    response = await client.get(f"{BASE}/balance")
    assert (response.status, await response.json()) == (401, error(4010, "Not Authenticated"))


async def test_not_enough_money_fails_the_messages_it_does_not_cover(client):
    await client.patch("/_emulator/accounts/revicom", json={"balance": 4})
    answer = await sent(client, sms(), sms())
    assert answer["errors"] is True
    assert answer["items"][0]["code"] == 201
    assert answer["items"][1] == {"code": 402, "errorCode": 4020}


# -- connection check ---------------------------------------------------------------------------
async def test_connection_check(client):
    for token in (TOKEN, SERVICE_TOKEN):
        response = await client.get(f"{BASE}/ping", headers={"Authorization": f"Basic {token}"})
        assert (response.status, await response.json()) == (200, {"status": "ok"})
    response = await client.get(f"{BASE}/ping", headers={"Authorization": "Basic nope"})
    assert (response.status, await response.json()) == (401, error(4012, "Bad credentials"))


# -- getting messages ------------------------------------------------------------------------------
async def get(client, path=SEND, **params):
    response = await client.get(path, params=params, headers=AUTH)
    return response.status, await response.json()


async def test_single_message_object_follows_the_lifecycle(client):
    answer = await sent(client, sms(externalMessageId="id123", tags=["otp"], ttl=600))
    uuid = answer["items"][0]["messageUuid"]
    status, obj = await get(client, f"{SEND}/{uuid}")
    assert status == 200
    assert obj["messageUuid"] == uuid and obj["status"] == "sending"
    assert obj["channelType"] == "SMS" and obj["destination"] == "79161234567" and obj["senderName"] == "sms_promo"
    assert obj["externalMessageId"] == "id123" and obj["tags"] == ["otp"] and obj["ttl"] == 600
    assert obj["price"] == {"totalPrice": 3.0, "currency": "RUB", "invoicedParts": 1, "final": False}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", obj["createdTime"])
    await advance(client, 5)
    _, obj = await get(client, f"{SEND}/{uuid}")
    assert obj["status"] == "delivered" and obj["price"]["final"] is True and "sentTime" in obj


async def test_unknown_message_is_404(client):
    assert await get(client, f"{SEND}/9d213ffc-c388-46f5-b42b-01d589d1a815") == (404, error(4040, "Not Found"))


async def test_list_filters(client):
    await sent(client, sms(destination="79161111111", tags=["a"]))
    await advance(client, 1)
    await sent(client, vk(destination="79162222222", tags=["b"]), voicecode(destination="79163333333"))
    status, listed = await get(client)
    assert status == 200 and listed["total"] == 3
    assert listed["items"][-1]["destination"] == "79161111111"  # newest first
    assert (await get(client, sort="asc"))[1]["items"][0]["destination"] == "79161111111"
    assert (await get(client, channel_type="VK"))[1]["total"] == 1
    assert (await get(client, destination="79161111111"))[1]["items"][0]["channelType"] == "SMS"
    assert (await get(client, tags="b"))[1]["items"][0]["channelType"] == "VK"
    assert (await get(client, channel_type="SMS,VK"))[1]["total"] == 2
    response = await client.get(SEND + "?channel_type=SMS&channel_type=VOICECODE", headers=AUTH)
    assert (await response.json())["total"] == 2
    assert (await get(client, content="авторизации"))[1]["total"] == 1
    assert (await get(client, content_nor="авторизации"))[1]["total"] == 2
    assert (await get(client, status="sending"))[1]["total"] == 2
    assert (await get(client, per_page=2, page=2))[1]["total"] == 3
    assert len((await get(client, per_page=2, page=2))[1]["items"]) == 1
    assert (await get(client, time_from="2999-01-01T00:00:00Z"))[1]["total"] == 0
    assert (await get(client, dispatch_id="5"))[1]["total"] == 0
    await advance(client, 5)
    assert (await get(client, status="delivered"))[1]["total"] == 3


@pytest.mark.parametrize("params", [{"page": "0"}, {"per_page": "x"}, {"page": "101", "per_page": "100"},
                                    {"time_from": "yesterday"}, {"root": "maybe"}])
async def test_bad_list_query_is_4220(client, params):
    status, answer = await get(client, **params)
    assert status == 422 and answer["error"]["code"] == 4220


async def test_reset_empties_the_list(client):
    await sent(client, sms())
    await client.post("/_emulator/reset")
    assert (await get(client))[1] == {"total": 0, "items": []}


# -- stopping messages ---------------------------------------------------------------------------
async def stop(client, *uuids):
    return await post(client, {"uuids": list(uuids)}, path=f"{SEND}/stop")


async def test_stop_answers_per_message_and_cancels_pending_ones(client):
    pending = (await sent(client, sms(destination="79000000207")))["items"][0]["messageUuid"]
    queued = (await sent(client, sms(destination="79000000207")))["items"][0]["messageUuid"]
    done = (await sent(client, sms()))["items"][0]["messageUuid"]
    await advance(client, 5)  # the last two start; the ordinary one is delivered
    scheduled_later = (await sent(client, sms(destination="79000000207")))["items"][0]["messageUuid"]
    missing = "cc46e6b6-2d77-4457-aa81-c17a027721d3"
    status, answer = await stop(client, scheduled_later, queued, done, missing)
    assert status == 200
    assert answer == {"errors": True, "items": [
        {"messageUuid": scheduled_later, "code": 200}, {"messageUuid": queued, "code": 202},
        {"messageUuid": done, "code": 403}, {"messageUuid": missing, "code": 404}]}
    await advance(client, 400)
    for uuid in (scheduled_later, queued):
        assert (await get(client, f"{SEND}/{uuid}"))[1]["status"] == "unsent"
    assert (await get(client, f"{SEND}/{pending}"))[1]["status"] == "delivered"


async def test_stop_without_failures_has_errors_false(client):
    uuid = (await sent(client, sms()))["items"][0]["messageUuid"]
    assert await stop(client, uuid) == (200, {"errors": False, "items": [{"messageUuid": uuid, "code": 200}]})


@pytest.mark.parametrize("body", [{}, {"uuids": []}, {"uuids": "x"}, {"uuids": [1]}, [], {"uuids": ["x"] * 10001}])
async def test_bad_stop_body_is_4220(client, body):
    status, answer = await stop_raw(client, body)
    assert (status, answer) == (422, error(4220, "Invalid uuids"))


async def stop_raw(client, body):
    return await post(client, body, path=f"{SEND}/stop")


async def test_stop_not_json_and_no_auth(client):
    status, answer = await post(client, b"{", path=f"{SEND}/stop")
    assert (status, answer["error"]["code"]) == (422, 4220)
    assert await post(client, {"uuids": []}, headers={}, path=f"{SEND}/stop") == (401, error(4010, "Not Authenticated"))


# -- lifecycle and callbacks ---------------------------------------------------------------------
async def test_default_callback_is_the_delivered_event_only(client, receiver):
    url, got = receiver
    uuid = (await sent(client, voicecode(callbackUrl=url)))["items"][0]["messageUuid"]
    await advance(client, 10)
    assert len(got) == 1
    payload = got[0][1]
    assert isinstance(payload, list) and len(payload) == 1
    event = payload[0]
    assert {k: event[k] for k in ("message_uuid", "channel_type", "callback_event", "status")} == {
        "message_uuid": uuid, "channel_type": "VOICECODE", "callback_event": "delivered", "status": "delivered"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", event["status_time"])
    assert "error_code" not in event


async def test_callbacks_only_for_the_events_asked(client, receiver):
    url, got = receiver
    await sent(client, sms(callbackUrl=url, callbackEvents=["sent", "delivered"]))
    await sent(client, whatsapp(destination="79000000205", callbackUrl=url, callbackEvents=["read"]))
    await sent(client, sms(callbackUrl=url, callbackEvents=[]))
    await sent(client, sms(callbackEvents=["sent"]))  # no URL: nothing
    await advance(client, 10)
    seen = sorted((e["channel_type"], e["callback_event"], e["status"]) for _, body in got for e in body)
    assert seen == [("SMS", "delivered", "delivered"), ("SMS", "sent", "sent"), ("WHATSAPP", "read", "read")]


async def test_undelivered_and_rejected_report_on_the_delivered_event(client, receiver):
    url, got = receiver
    await sent(client, vk(destination="79000000203", callbackUrl=url), vk(destination="79000000206", callbackUrl=url))
    await advance(client, 10)
    assert sorted(e["status"] for _, body in got for e in body) == ["undelivered", "unsent"]
    assert {e["callback_event"] for _, body in got for e in body} == {"delivered"}


async def test_expired_message_ends_undelivered_at_its_ttl(client, receiver):
    url, got = receiver
    uuid = (await sent(client, flashcall(destination="79000000204", ttl=60, callbackUrl=url)))["items"][0]["messageUuid"]
    await advance(client, 30)
    assert (await get(client, f"{SEND}/{uuid}"))[1]["status"] == "sent" and got == []
    await advance(client, 40)
    assert [e["status"] for _, body in got for e in body] == ["undelivered"]


async def test_stopped_message_reports_unsent(client, receiver):
    url, got = receiver
    uuid = (await sent(client, sms(callbackUrl=url, callbackEvents=["sent", "delivered"])))["items"][0]["messageUuid"]
    await stop(client, uuid)
    await advance(client, 10)
    assert [(e["message_uuid"], e["callback_event"], e["status"]) for _, body in got for e in body] == [
        (uuid, "delivered", "unsent")]


async def test_scenario_error_code_is_reported(client, receiver):
    url, got = receiver
    scenario = ("rules:\n  - match: {provider: revicom}\n    deliver:\n"
                "      '*': [{after: 1, status: sent}, {after: 2, status: undelivered, error: 6969}]\n")
    assert (await client.put("/_emulator/scenario", data=scenario)).status == 200
    uuid = (await sent(client, sms(callbackUrl=url)))["items"][0]["messageUuid"]
    await advance(client, 5)
    assert got[0][1][0]["error_code"] == 6969
    assert (await get(client, f"{SEND}/{uuid}"))[1]["errorCode"] == 6969


async def test_callback_url_credentials_become_basic_auth(client, receiver):
    url, got = receiver
    await sent(client, sms(callbackUrl=url.replace("http://", "http://login:secret@")))
    await advance(client, 5)
    assert got[0][0]["Authorization"] == "Basic " + base64.b64encode(b"login:secret").decode()


async def test_scheduled_message_waits_for_its_local_send_time(client):
    moscow_now = await emulator_now(client) + timedelta(hours=3)
    later = (moscow_now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    uuid = (await sent(client, sms(localSendTime=later, useLocalTime=False)))["items"][0]["messageUuid"]
    await advance(client, 600)
    assert (await get(client, f"{SEND}/{uuid}"))[1]["status"] == "sending"
    await advance(client, 3600)
    assert (await get(client, f"{SEND}/{uuid}"))[1]["status"] == "delivered"


async def test_no_request_ever_gets_a_500(client):
    bodies = [b"[{}]", b"[[]]", b'[{"channelType": null}]', b'[{"channelType": "SMS", "content": {}}]',
              json.dumps([voicecode(content={"text": None})]).encode(), json.dumps([whatsapp(content={"contentType": 5})]).encode(),
              json.dumps([sms(destination=1e20)]).encode(), json.dumps([sms(hours="x", days=None)]).encode()]
    for body in bodies:
        status, answer = await post(client, body)
        assert status == 422 and "error" in answer, body
    requests = (await (await client.get("/_emulator/requests", params={"provider": "revicom"})).json())["requests"]
    assert all(r["status"] < 500 for r in requests)
