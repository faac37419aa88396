"""AlphaSMS JSON API over real HTTP: envelope, auth, every request type, errors, debits."""
from __future__ import annotations

import json
import re

import pytest


from .conftest import advance

# One emulator for the module (building the app per test dominates the run time); each test
# starts from POST /_emulator/reset. The XML and HTTP test modules use the same fixtures.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def client(fresh_emulator):
    return fresh_emulator

URL = "/alphasms/api/json.php"
KEY = "alphasms-demo-key"


async def call(client, *items, auth=KEY):
    response = await client.post(URL, json={"auth": auth, "data": list(items)})
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def sms(**overrides):
    item = {"type": "sms", "id": 100500, "phone": 380971234567, "sms_signature": "SenderID", "sms_message": "Your code is 100500"}
    item.update(overrides)
    return item


# The request example of AlphaSMS's multi-channel page (docs.alphasms.ua/ru/api/json/multi_channel),
# verbatim apart from the masked key, kept here so the tests need nothing outside the repository.
DOC_PIPELINE_EXAMPLE = """{"auth": "bb56a4369eb19***cfec6d1776bd25", "data": [{"type": "pipeline",
 "pipeline": ["voice", "telegram", "viber", "rcs", "sms"], "id": 100500, "phone": 380971234567,
 "voice": {"message": "Your code is 100500", "voice": {"gender": "female", "language": "en-GB", "name": "en-GB-Standard-A"}, "dtmf": false},
 "telegram": {"message": "100500"},
 "viber": {"type": "text", "signature": "SenderID", "message": "Your code is 100500"},
 "whatsapp": {"signature": "SenderID", "message": "Your code is 1234"},
 "rcs": {"signature": "SenderID", "message": "Your code is 1234"},
 "sms": {"signature": "SenderID", "message": "Your code is 100500"},
 "hook": "https://example.org/webhook/url.php"}]}"""


def seed_example() -> dict:
    """The request example of the provider's own document."""
    return json.loads(DOC_PIPELINE_EXAMPLE)


async def test_seed_pipeline_example_is_answered_as_documented(client):
    body = seed_example()
    body["auth"] = KEY
    response = await client.post(URL, json=body)
    answer = await response.json()
    assert answer["success"] is True
    item = answer["data"][0]
    assert item["success"] is True
    assert item["data"]["id"] == 100500
    assert isinstance(item["data"]["msg_id"], int)
    assert item["data"]["data"] == 1 and item["data"]["parts"] == 1
    listed = await (await client.get("/_emulator/messages", params={"phone": "380971234567"})).json()
    channels = [a["channel"] for a in listed["messages"][0]["attempts"]]
    assert channels == ["voice", "telegram", "viber", "rcs", "sms"]


async def test_wrong_key_is_access_denied(client):
    assert await call(client, sms(), auth="nope") == {"success": False, "error": "Access denied"}


async def test_missing_auth_is_access_denied(client):
    response = await client.post(URL, json={"data": [sms()]})
    assert await response.json() == {"success": False, "error": "Access denied"}


async def test_content_type_must_be_json_even_for_valid_json(client):
    body = json.dumps({"auth": KEY, "data": [sms()]})
    response = await client.post(URL, data=body, headers={"Content-Type": "text/plain"})
    answer = await response.json()
    assert response.status == 200 and answer["success"] is False
    requests = await (await client.get("/_emulator/requests")).json()
    assert requests["requests"][-1]["outcome"] == "rejected"
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b"[1,2]", b'"x"', b"\xff\xfe", b'{"auth": 5, "data": []}', b'{"auth": "alphasms-demo-key", "data": []}',
     b'{"auth": "alphasms-demo-key", "data": {}}', b'{"auth": "alphasms-demo-key", "data": [1]}', b"[" * 100000,
     b'{"auth": "alphasms-demo-key", "data": [{"type": "status", "id": NaN}]}'],
)
async def test_bad_bodies_get_the_envelope_error(client, body):
    response = await client.post(URL, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    answer = await response.json()
    assert answer["success"] is False and isinstance(answer["error"], str)


async def test_huge_body_gets_the_envelope_error(client):
    body = b'{"auth": "alphasms-demo-key", "data": [' + b'{"type":"balance"},' * 300_000 + b'{"type":"balance"}]}'
    response = await client.post(URL, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 200
    assert (await response.json())["success"] is False


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_wrong_method_gets_the_envelope_error(client, method):
    response = await client.request(method, URL)
    assert response.status == 200
    assert (await response.json())["success"] is False


async def test_sms_parts_counting_gsm7_and_ucs2(client):
    answer = await call(
        client,
        sms(id=1, sms_message="a" * 160),
        sms(id=2, sms_message="a" * 161),
        sms(id=3, sms_message="Привіт" * 11 + "abcd"),  # 70 UCS-2 chars: one part
        sms(id=4, sms_message="Привіт" * 12),  # 72 UCS-2 chars: two parts
        sms(id=5, sms_message="€" * 80),  # extended GSM-7: 160 septets
        sms(id=6, sms_message="€" * 81),
    )
    assert [item["data"]["parts"] for item in answer["data"]] == [1, 2, 1, 2, 1, 2]


async def test_balance_is_debited_per_part(client):
    before = (await call(client, {"type": "balance"}))["data"][0]["data"]
    assert before == {"amount": 100.0, "currency": "UAH"}
    await call(client, sms(sms_message="a" * 161))  # 2 parts x 1.25
    after = (await call(client, {"type": "balance"}))["data"][0]["data"]
    assert after["amount"] == pytest.approx(97.5)


async def test_insufficient_balance_is_a_per_item_error(client):
    response = await client.patch("/_emulator/accounts/alphasms", json={"balance": 1.3})
    assert response.status == 200
    answer = await call(client, sms(id=1), sms(id=2))
    assert answer["data"][0]["success"] is True
    assert answer["data"][1] == {"success": False, "error": "Insufficient funds", "data": {"id": 2}}


async def test_per_item_errors_do_not_spoil_the_others(client):
    answer = await call(
        client,
        sms(id=1, sms_signature="WayTooLongSenderName"),
        sms(id=2),
        sms(id=3, phone="12"),
        sms(id=4, sms_message=""),
        {"type": "fax", "id": 5},
    )
    results = answer["data"]
    assert results[0] == {"success": False, "error": "Error in Alpha-name", "data": {"id": 1}}
    assert results[1]["success"] is True
    assert results[2]["success"] is False and results[2]["data"] == {"id": 3}
    assert results[3]["success"] is False
    assert results[4]["success"] is False
    messages = await (await client.get("/_emulator/messages")).json()
    assert messages["count"] == 1


@pytest.mark.parametrize(
    "item,channels",
    [
        ({"type": "viber", "viber_type": "text", "viber_signature": "Shop", "viber_message": "Hi"}, ["viber"]),
        ({"type": "viber", "viber_type": "image", "viber_signature": "Shop", "viber_image": "https://e.x/i.png"}, ["viber"]),
        ({"type": "viber", "viber_type": "text+link", "viber_signature": "Shop", "viber_message": "Hi", "viber_link": "https://e.x", "viber_button": "Go"}, ["viber"]),
        ({"type": "viber", "viber_type": "text+image+link", "viber_signature": "Shop", "viber_message": "Hi", "viber_image": "https://e.x/i.png", "viber_link": "https://e.x", "viber_button": "Go"}, ["viber"]),
        ({"type": "viber+sms", "viber_type": "text", "viber_signature": "Shop", "viber_message": "Hi", "sms_signature": "Shop", "sms_message": "Hi"}, ["viber", "sms"]),
        ({"type": "rcs", "rcs_signature": "Shop", "rcs_message": "Hi", "rcs_image": "https://e.x/i.png", "rcs_link": "https://e.x", "rcs_button": "Go"}, ["rcs"]),
        ({"type": "rcs+sms", "rcs_signature": "Shop", "rcs_message": "Hi", "sms_signature": "Shop", "sms_message": "Hi"}, ["rcs", "sms"]),
        ({"type": "rcs+viber+sms", "rcs_signature": "Shop", "rcs_message": "Hi", "viber_type": "text", "viber_signature": "Shop", "viber_message": "Hi", "sms_signature": "Shop", "sms_message": "Hi"}, ["rcs", "viber", "sms"]),
        ({"type": "voice", "message": "Your code is 1234", "voice": {"gender": "female", "language": "en-GB", "name": "en-GB-Standard-A"}, "dtmf": False}, ["voice"]),
    ],
)
async def test_every_send_type_is_accepted_with_its_cascade(client, item, channels):
    answer = await call(client, {"id": 7, "phone": 380501112233, **item})
    result = answer["data"][0]
    assert result["success"] is True, result
    assert result["data"]["id"] == 7 and result["data"]["data"] == 1
    listed = await (await client.get("/_emulator/messages", params={"phone": "380501112233"})).json()
    assert [a["channel"] for a in listed["messages"][-1]["attempts"]] == channels


async def test_viber_type_requires_its_fields(client):
    answer = await call(client, {"type": "viber", "id": 1, "phone": 380501112233, "viber_type": "text+link", "viber_signature": "Shop", "viber_message": "Hi"})
    assert answer["data"][0]["success"] is False


@pytest.mark.parametrize("viber_type", ["text", "bogus", ["text"]])
async def test_viber_type_on_an_sms_item_is_an_unknown_field_like_any_other(client, viber_type):
    """Only the viber definition reads viber_type (it was looked up for every item: an internal error)."""
    answer = await call(client, sms(id=7, viber_type=viber_type))
    assert answer["data"][0]["success"] is True
    journal = await (await client.get("/_emulator/requests", params={"limit": "1"})).json()
    assert journal["requests"][-1]["outcome"] == "accepted"


async def test_call_otp_returns_a_four_digit_code_readable_by_tests(client):
    answer = await call(client, {"type": "call/otp", "id": 9, "phone": 380671234567})
    data = answer["data"][0]["data"]
    assert re.fullmatch(r"\d{4}", data["code"]) and data["price"] == 0.2
    listed = await (await client.get("/_emulator/messages", params={"phone": "380671234567"})).json()
    assert listed["messages"][0]["otp"] == data["code"]


async def test_call_otp_operator_not_supported_is_an_envelope_error(client):
    answer = await call(client, {"type": "call/otp", "id": 9, "phone": 380000000005})
    assert answer == {"success": False, "error": "Operator not supported"}


async def test_hlr_answer_shape(client):
    data = (await call(client, {"type": "hlr", "id": 1, "phone": 380971234567}))["data"][0]["data"]
    assert data["status"] == "DELIVERED" and data["phone"] == 380971234567
    assert data["network"]["origin"]["country"]["prefix"] == "380"
    assert {"imsi", "mccmnc", "ported"} <= set(data)


async def test_status_follows_the_lifecycle(client):
    await call(client, sms(id=555))
    first = (await call(client, {"type": "status", "id": 555}))["data"][0]
    assert first == {"success": True, "data": {"id": 555, "type": "sms", "status": "SCHEDULED"}}  # not ACCEPTED (106: read by customer service)
    await advance(client, 10)
    done = (await call(client, {"type": "status", "id": 555}))["data"][0]
    assert done["data"]["status"] == "DELIVERED"


async def test_status_of_unknown_id_is_an_item_error(client):
    answer = await call(client, {"type": "status", "id": 424242})
    assert answer["data"][0]["success"] is False and answer["data"][0]["data"] == {"id": 424242}


async def test_pipeline_falls_back_to_the_next_channel(client):
    body = seed_example()["data"][0]
    body["phone"] = 380000000007  # magic: viber undelivered, other channels deliver
    body["pipeline"] = ["viber", "sms"]
    await call(client, body)
    await advance(client, 30)
    status = (await call(client, {"type": "status", "id": 100500}))["data"][0]["data"]
    assert status == {"id": 100500, "type": "sms", "status": "DELIVERED"}


async def test_pipeline_channel_without_its_options_is_an_item_error(client):
    answer = await call(client, {"type": "pipeline", "id": 1, "phone": 380971234567, "pipeline": ["viber", "sms"], "sms": {"signature": "S", "message": "m"}})
    assert answer["data"][0]["success"] is False


async def test_mixed_request_of_sends_and_queries(client):
    answer = await call(client, sms(id=1), {"type": "balance"}, {"type": "status", "id": 1}, {"type": "hlr", "id": 2, "phone": 380631234567})
    assert [item["success"] for item in answer["data"]] == [True, True, True, True]
    assert answer["data"][1]["data"]["amount"] == pytest.approx(98.75)


# -- issue 9: id-less hlr and call/otp, duplicate client ids, documented status names ------------

async def test_hlr_and_call_otp_without_id_are_accepted(client):
    """Prihod/alphasms-client sends no `id` for these types; the documented answers carry none."""
    answer = await call(client, {"type": "hlr", "phone": "380971234567"}, {"type": "call/otp", "phone": "380671234567"})
    hlr, otp = answer["data"]
    assert hlr["success"] is True and hlr["data"]["phone"] == 380971234567 and "id" not in hlr["data"]
    assert otp["success"] is True and re.fullmatch(r"\d{4}", otp["data"]["code"]) and "id" not in otp["data"]
    listed = await (await client.get("/_emulator/messages", params={"phone": "380671234567"})).json()
    assert listed["messages"][0]["otp"] == otp["data"]["code"]


async def test_sms_without_id_is_still_an_item_error(client):
    item = sms()
    del item["id"]
    answer = await call(client, item)
    assert answer["data"][0]["success"] is False
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0


async def test_second_message_with_a_used_id_is_refused_and_not_charged(client):
    first = await call(client, sms(id=31337))
    assert first["data"][0]["success"] is True
    again = await call(client, sms(id=31337, sms_message="other text"))
    assert again["data"][0] == {"success": False, "error": "A message with the specified ID already exists", "data": {"id": 31337}}
    twice = await call(client, sms(id=1), sms(id=1))
    assert [r["success"] for r in twice["data"]] == [True, False]
    balance = (await call(client, {"type": "balance"}))["data"][0]["data"]["amount"]
    assert balance == pytest.approx(100 - 2 * 1.25)
    status = (await call(client, {"type": "status", "id": 31337}))["data"][0]["data"]
    assert status["status"] == "SCHEDULED"  # the first message's, untouched


async def test_status_names_follow_the_documented_table(client):
    await call(client, sms(id=1), sms(id=3, phone=380000000003), sms(id=4, phone=380000000004), sms(id=8, phone=380000000008))

    async def names():
        answer = await call(client, *({"type": "status", "id": i} for i in (1, 3, 4, 8)))
        return [item["data"]["status"] for item in answer["data"]]

    assert await names() == ["SCHEDULED"] * 4
    await advance(client, 1)
    assert await names() == ["ENROUTE"] * 4
    await advance(client, 10)
    assert await names() == ["DELIVERED", "UNDELIVERABLE", "ENROUTE", "READ"]
    await advance(client, 60)
    assert (await names())[2] == "EXPIRED"


# -- the asynchronous endpoint POST /v1/json ------------------------------------------------------

ASYNC_URL = "/alphasms/v1/json"


async def test_async_send_answers_a_request_id_and_no_msg_id(client):
    response = await client.post(ASYNC_URL, json={"auth": KEY, "data": [sms(id=11), sms(id=12, phone=380501112233)]})
    assert response.status == 200 and response.content_type == "application/json"
    answer = await response.json()
    assert set(answer) == {"request_id", "success"} and answer["success"] is True
    assert isinstance(answer["request_id"], str) and answer["request_id"]
    again = await (await client.post(ASYNC_URL, json={"auth": KEY, "data": [sms(id=13)]})).json()
    assert again["request_id"] != answer["request_id"]


async def test_async_results_are_read_by_status_and_shared_with_the_sync_api(client):
    await client.post(ASYNC_URL, json={"auth": KEY, "data": [sms(id=21), sms(id=22, phone=380000000001)]})
    await advance(client, 10)
    answer = await call(client, {"type": "status", "id": 21}, {"type": "status", "id": 22}, {"type": "balance"})
    assert answer["data"][0]["data"] == {"id": 21, "type": "sms", "status": "DELIVERED"}
    # the magic "invalid phone" recipient: refused after queueing, reported by status for its id
    assert answer["data"][1] == {"success": False, "error": "Invalid phone number", "data": {"id": 22}}
    assert answer["data"][2]["data"]["amount"] == pytest.approx(98.75)  # one message charged
    dup = await (await client.post(ASYNC_URL, json={"auth": KEY, "data": [sms(id=21)]})).json()
    assert dup == {"success": False, "error": "A message with the specified ID already exists"}


async def test_async_hook_is_called_like_the_sync_one(client):
    await client.post(ASYNC_URL, json={"auth": KEY, "data": [sms(id=31, hook="https://example.org/hook")]})
    await advance(client, 10)
    attempts = (await (await client.get("/_emulator/callbacks", params={"provider": "alphasms"})).json())["callbacks"]
    bodies = [json.loads(a["body"]) for a in attempts]
    assert bodies and {"id": 31, "status": "DELIVERED"}.items() <= bodies[-1].items()


@pytest.mark.parametrize(
    "body,error",
    [
        ({"auth": "nope", "data": [sms()]}, "Access denied"),
        ({"auth": KEY, "data": [{"type": "balance"}]}, "Invalid request"),
        ({"auth": KEY, "data": [sms(), {"type": "viber", "id": 2, "phone": 380971234567}]}, "Invalid request"),
        ({"auth": KEY, "data": []}, "Invalid request"),
        ({"auth": KEY, "data": [sms(sms_signature="WayTooLongSenderName")]}, "Error in Alpha-name"),
    ],
)
async def test_async_refuses_the_whole_request(client, body, error):
    answer = await (await client.post(ASYNC_URL, json=body)).json()
    assert answer == {"success": False, "error": error}
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0


async def test_async_needs_the_json_content_type(client):
    response = await client.post(ASYNC_URL, data=json.dumps({"auth": KEY, "data": [sms()]}), headers={"Content-Type": "text/plain"})
    assert (await response.json()) == {"success": False, "error": "Invalid request"}


async def test_envelope_level_refusal_among_other_items_stays_per_item(client):
    """A lone call/otp to an unsupported operator gets the documented envelope error; next to an
    accepted item it cannot (that item is sent and charged), so it is that item's error."""
    answer = await call(client, sms(id=1), {"type": "call/otp", "phone": 380000000005})
    assert answer["success"] is True
    assert answer["data"][0]["success"] is True
    assert answer["data"][1] == {"success": False, "error": "Operator not supported"}
