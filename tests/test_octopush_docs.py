"""Octopush behaviours settled by the provider's own docs (dev.octopush.com, the multichannel
readme page) and its official PHP SDK (octopush/Octopush-SMS-API-PHP), over real HTTP: the
default purpose and its STOP mention, send_at's time zone, the voice campaign endpoints and
their delivery statuses, SMS campaigns on contact lists and tags."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from .conftest import advance
from .test_octopush import client, shared_receiver  # noqa: F401  (the module-shared emulator, reset)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASE = "/octopush/v1/public"
AUTH = {"api-login": "demo@msgemu.local", "api-key": "octopush-demo-key"}
PARIS = ZoneInfo("Europe/Paris")


async def call(client, path, body=None, method="POST", params=None):
    response = await client.request(method, BASE + path, json=body, params=params, headers=AUTH)
    text = await response.text()
    return response.status, (await response.json() if text else None)


async def messages(client, **params):
    return (await (await client.get("/_emulator/messages", params={"provider": "octopush", **params})).json())["messages"]


class Bodies:
    """The JSON bodies the shared webhook receiver got during this test."""

    def __init__(self, received: list[dict]) -> None:
        self._received = received

    def __iter__(self):
        return (r["body"] for r in self._received)

    def __getitem__(self, index: int) -> dict:
        return self._received[index]["body"]


@pytest_asyncio.fixture(loop_scope="module")
async def receiver(shared_receiver):
    received, url = shared_receiver
    received.clear()
    return Bodies(received), url()


async def set_callback(client, url):
    response = await client.patch("/_emulator/accounts/octopush", json={"credentials": {"callback_url": url}})
    assert response.status == 200


# -- purpose: the documented default ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path,body",
    [
        ("/multi-channel/send", {"channel": "sms", "text": "Big sale today", "recipients": [{"phone_number": "+33611111111"}]}),
        ("/sms-campaign/send", {"text": "Big sale today", "type": "sms_premium", "recipients": [{"phone_number": "+33611111111"}]}),
    ],
)
async def test_missing_purpose_is_marketing_so_the_stop_mention_is_required(client, path, body):
    """dev.octopush.com/en/sms-gateway-api-documentation/transactional-sms: purpose
    ["wholesale" (default), "alert"]; multichannel doc: "Bad request from an SMS campaign"
    {"code": 121, "message": "Mention STOP is missing."}."""
    assert await call(client, path, body) == (400, {"code": 121, "message": "Mention STOP is missing."})
    status, _ = await call(client, path, {**body, "text": "Big sale today. STOP au XXXXX"})
    assert status == 200
    status, _ = await call(client, path, {**body, "purpose": "alert"})
    assert status == 200
    assert len(await messages(client)) == 2


async def test_the_stop_mention_is_an_sms_rule(client):
    """Multichannel doc: 121 is the answer of an SMS campaign; a voice call has no STOP reply."""
    body = {"channel": "voice_sms", "text": "Big sale today", "recipients": [{"phone_number": "+33611111111"}]}
    assert (await call(client, "/multi-channel/send", body))[0] == 200
    status, _ = await call(client, "/voice-campaign/send", {"text": "Big sale", "recipients": [{"phone_number": "+33611111111"}]})
    assert status == 200


# -- sender ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/sms-campaign/send", "/voice-campaign/send"])
async def test_sender_with_spaces_is_kept(client, path):
    """dev.octopush.com/en/sms-gateway-api-documentation/transactional-sms: "3-11 alphanumeric
    characters with spaces (a-zA-Z0-9 )"."""
    body = {"text": "Code 1", "purpose": "alert", "sender": "My Shop 24", "recipients": [{"phone_number": "+33611111111"}]}
    status, answer = await call(client, path, body)
    assert status == 200, answer
    (stored,) = await messages(client)
    assert stored["attempts"][0]["content"]["sender"] == "My Shop 24"


# -- send_at: Central European time ---------------------------------------------------------------------
def next_paris(now: float, month: int) -> datetime:
    """The next 10:00 (Paris) on the 15th of `month` after `now`."""
    today = datetime.fromtimestamp(now, PARIS)
    year = today.year if (today.month, today.day) < (month, 15) else today.year + 1
    return datetime(year, month, 15, 10, 0, 0, tzinfo=PARIS)


@pytest.mark.parametrize("month,offset", [(1, "+01:00"), (7, "+02:00")])
async def test_send_at_without_offset_is_paris_time_with_summer_time(client, month, offset):
    """Official PHP SDK examples/send-vocal-campaign.php: send_at 'also works with "2021-01-01
    00:01:00", (Central European TimeZone by default)'; dev.octopush.com Confirm SMS on contacts
    answers {"sending_date": "2021-06-01T12:00:00+03:00"}."""
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    moment = next_paris(now, month)
    naive = moment.strftime("%Y-%m-%d %H:%M:%S")
    await call(client, "/contact/create", {"contacts": [{"phone_number": "+33611111111"}], "list_name": "l"})
    status, created = await call(client, "/sms-campaign-on-list/create", {"list_name": "l", "text": "Hi", "purpose": "alert", "send_at": naive})
    assert status == 201, created
    status, answer = await call(client, "/sms-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert (status, answer) == (200, {"sending_date": moment.strftime("%Y-%m-%dT%H:%M:%S") + offset})
    # and the message really waits for that moment, not for the same wall time in UTC
    status, _ = await call(client, "/sms-campaign/send", {"text": "Hi", "purpose": "alert", "send_at": naive.replace(" ", "T"),
                                                          "recipients": [{"phone_number": "+33622222222"}]})
    assert status == 200
    await advance(client, moment.timestamp() - now - 60)
    assert {m["status"] for m in await messages(client)} == {"accepted"}
    await advance(client, 70)
    assert {m["status"] for m in await messages(client)} == {"delivered"}


async def test_send_at_with_an_offset_is_taken_as_given(client):
    """Send SMS page: send_at "DateTime ISO8601 (for ex: "2018-10-03T07:42:39-07:00")"."""
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    at = datetime.fromtimestamp(now + 3600, timezone(timedelta(hours=-7))).isoformat(timespec="seconds")
    await call(client, "/sms-campaign/send", {"text": "Hi", "purpose": "alert", "send_at": at, "recipients": [{"phone_number": "+33611111111"}]})
    await advance(client, 3500)
    assert (await messages(client))[0]["status"] == "accepted"
    await advance(client, 110)
    assert (await messages(client))[0]["status"] == "delivered"


# -- voice campaigns ------------------------------------------------------------------------------------
DOC_VOICE = {  # dev.octopush.com Voice SMS API / Send Voice SMS
    "recipients": [{"phone_number": "+33611111111"}, {"phone_number": "+33622222222"}],
    "text": "Hello, this is a voice message.",
    "sender": "MyShop",
    "purpose": "alert",
    "voice_gender": "female",
    "voice_language": "fr-FR",
}
SDK_VOCAL = {  # official PHP SDK curl-examples/send-vocal-campaign.php, with the SDK's null fields
    "recipients": [{"phone_number": "+33611111111"}],
    "text": "Test vocal Campaign.",
    "type": "vocal_sms",
    "purpose": "alert",
    "sender": "+12345",
    "send_at": "2018-10-03T07:42:39-07:00",
    "voice_gender": "female",
    "voice_language": "fr-FR",
    "simulation_mode": None,
}


async def test_voice_campaign_send_as_documented(client):
    """dev.octopush.com/en/sms-gateway-api-documentation/voice-sms-api/send-voice-sms/:
    POST /v1/public/voice-campaign/send, up to 500 contacts."""
    status, answer = await call(client, "/voice-campaign/send", DOC_VOICE)
    assert status == 200, answer
    assert list(answer) == ["ticket_number", "number_of_contacts", "total_cost", "estimated_duration", "residual_credit"]
    assert re.fullmatch(r"voice_[0-9a-f]{13}", answer["ticket_number"])
    assert answer["number_of_contacts"] == 2 and answer["total_cost"] == pytest.approx(0.10)
    stored = await messages(client)
    assert {m["attempts"][0]["channel"] for m in stored} == {"voice_sms"}
    assert stored[0]["attempts"][0]["content"]["voice_language"] == "fr-FR"


async def test_vocal_campaign_send_as_the_sdk_calls_it(client):
    """Official PHP SDK src/Request/VocalCampaign/SendVocalCampaignRequest.php (URI
    'vocal-campaign/send'); its example result {"vocal_ticket": "vocal_5fed928fda524",
    "number_of_contacts": 1, "total_cost": 0.03, "residual_credit": 99.5, "estimated_duration": 30}."""
    status, answer = await call(client, "/vocal-campaign/send", SDK_VOCAL)
    assert status == 200, answer
    assert set(answer) == {"vocal_ticket", "number_of_contacts", "total_cost", "residual_credit", "estimated_duration"}
    assert re.fullmatch(r"vocal_[0-9a-f]{13}", answer["vocal_ticket"])
    assert answer["estimated_duration"] == 30
    (stored,) = await messages(client)
    assert stored["attempts"][0]["content"]["sender"] == "12345"  # "+" is not allowed: deleted


async def test_voice_campaign_documented_error(client):
    """Multichannel doc, "Bad request from a Voice campaign": errors.voice_language 442."""
    status, answer = await call(client, "/voice-campaign/send", {**DOC_VOICE, "voice_language": "xx-XX"})
    assert status == 400
    assert answer == {"code": 400, "message": "Payload validation error.",
                      "errors": {"voice_language": {"code": 442, "message": "Voice language not supported."}}}


@pytest.mark.parametrize(
    "phone,status",
    [
        ("+33611111111", "DELIVERED"),
        ("+33600000003", "NOT_DELIVERED"),
        ("+33600000005", "NOT_DELIVERABLE"),
        ("+33600000006", "BLACKLISTED_NUMBER"),
        ("+33600000010", "REFUSED"),
        ("+33600000011", "BUSY"),
        ("+33600000012", "REFUSED"),
        ("+33600000013", "NOT_DELIVERABLE"),
    ],
)
@pytest.mark.parametrize("path", ["/voice-campaign/send", "/vocal-campaign/send", "/multi-channel/send"])
async def test_voice_reports_use_the_voice_statuses(client, receiver, path, phone, status):
    """dev.octopush.com/en/sms-gateway-api-documentation/webhook-sms-vocal-ar-acknowledge-receipt:
    status DELIVERED, NOT_DELIVERED, NOT_DELIVERABLE, BUSY, REFUSED, BLACKLISTED_NUMBER, with
    call_duration and charged_duration; readme callbacks-statuses: voice_sms meta_data. One
    report per call (the voice list has no ACK)."""
    received, url = receiver
    await set_callback(client, url)
    body = {**DOC_VOICE, "recipients": [{"phone_number": phone}]}
    if path == "/multi-channel/send":
        body = {"channel": "voice_sms", "text": DOC_VOICE["text"], "recipients": body["recipients"], "purpose": "alert"}
    assert (await call(client, path, body))[0] == 200
    await advance(client, 120)
    assert [r["status"] for r in received] == [status]
    report = received[0]
    assert report["channel"] == "voice_sms" and report["number"] == phone
    assert re.fullmatch(r"(voice|vocal)_[0-9a-f]{13}", report["message_id"])
    answered = status == "DELIVERED"
    assert report["call_duration"] == report["meta_data"]["call_duration"] == (30 if answered else 0)
    assert report["charged_duration"] == report["meta_data"]["charged_duration"] == (30 if answered else 0)


@pytest.mark.parametrize("phone,statuses", [("+33600000011", ["ACK", "NOT_DELIVERED"]), ("+33600000012", ["ACK", "NOT_ALLOWED"]),
                                            ("+33600000013", ["BAD_DESTINATION"])])
async def test_the_same_outcomes_read_in_sms_words_on_sms(client, receiver, phone, statuses):
    """dev.octopush.com callbacks/acknowledge-receipt: the SMS statuses (ACK, DELIVERED,
    NOT_DELIVERED, NOT_ALLOWED, UNKNOWN_DELIVERY, BAD_DESTINATION, BLACKLISTED_NUMBER, UNDEFINED)."""
    received, url = receiver
    await set_callback(client, url)
    body = {"channel": "sms", "text": "Code 1", "purpose": "alert", "recipients": [{"phone_number": phone}]}
    assert (await call(client, "/multi-channel/send", body))[0] == 200
    await advance(client, 120)
    assert [r["status"] for r in received] == statuses


# -- SMS campaigns on a contact list or a tag ----------------------------------------------------------------
CONTACTS = [
    {"phone_number": "+33611111111", "first_name": "Axelle", "last_name": "Durand", "param3": "Mme"},
    {"phone_number": "+33622222222", "first_name": "John", "last_name": "Smith", "param3": "M"},
]


async def fill(client):
    """dev.octopush.com Create a contact list ({"list_name"} -> 201 CREATED) and Add a contact."""
    assert (await call(client, "/contact-list/create", {"list_name": "my_list"}))[0] == 201
    status, answer = await call(client, "/contact/create", {"contacts": CONTACTS, "list_name": "my_list"})
    assert (status, answer) == (201, {"number_of_contacts": 2})
    status, _ = await call(client, "/contact/create", {"contacts": [{"phone_number": "+33633333333", "first_name": "Vic"}], "tag_name": "vip"})
    assert status == 201
    status, _ = await call(client, "/contact/create", {"contacts": CONTACTS[:1], "tag_name": "vip"})
    assert status == 201


async def test_campaign_on_a_list_create_status_confirm(client):
    """dev.octopush.com/en/sms-api/send-sms-to-list (create), .../api-sms/status-sms-campaign-list
    (200 {"number_of_contacts", "cost", "status"}), .../api-sms/confirm-sms-on-list
    (200 {"sending_date"})."""
    await fill(client)
    body = {"list_name": "my_list", "text": "Hello {first_name}", "type": "sms_premium", "purpose": "alert", "sender": "MyShop"}
    status, created = await call(client, "/sms-campaign-on-list/create", body)
    assert status == 201 and re.fullmatch(r"sms_[0-9a-f]{13}", created["ticket_number"])
    ticket = created["ticket_number"]
    status, answer = await call(client, "/sms-campaign-on-list/status", method="GET", params={"ticket_number": ticket})
    assert (status, answer) == (200, {"number_of_contacts": 2, "cost": pytest.approx(0.13), "status": "ready_to_be_sent"})
    assert await messages(client) == []  # nothing goes before the confirmation
    status, answer = await call(client, "/sms-campaign-on-list/send", {"ticket_number": ticket})
    assert status == 200 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00", answer["sending_date"])
    stored = sorted(await messages(client), key=lambda m: m["recipient"])
    assert [m["text"] for m in stored] == ["Hello Axelle", "Hello John"]
    balance = await (await client.get(BASE + "/wallet/check-balance", headers=AUTH)).json()
    assert balance["amount"] == pytest.approx(100 - 0.13)
    status, answer = await call(client, "/sms-campaign-on-list/send", {"ticket_number": ticket})
    assert (status, answer["code"]) == (400, 131)  # sent: no longer waiting


async def test_campaign_on_a_tag(client, receiver):
    """dev.octopush.com/en/sms-api/send-sms-to-list: POST sms-campaign-on-tag/create "Name of the
    tag to be used to filter your contacts"; confirmed with sms-campaign-on-tag/send."""
    received, url = receiver
    await set_callback(client, url)
    await fill(client)
    status, created = await call(client, "/sms-campaign-on-tag/create", {"tag_name": "vip", "text": "VIP sale. STOP au XXXXX"})
    assert status == 201
    status, answer = await call(client, "/sms-campaign-on-list/status", method="GET", params={"ticket_number": created["ticket_number"]})
    assert answer["number_of_contacts"] == 2
    assert (await call(client, "/sms-campaign-on-tag/send", {"ticket_number": created["ticket_number"]}))[0] == 200
    assert {m["recipient"] for m in await messages(client)} == {"+33611111111", "+33633333333"}
    await advance(client, 10)
    assert {r["message_id"] for r in received} == {created["ticket_number"]}


async def test_campaign_on_a_list_rules(client):
    """Send SMS to contacts: the STOP mention and the default purpose apply as on every SMS send;
    Confirm SMS on contacts: "400 Bad Request ... as long as the campaign is not ready"; Cancel an
    SMS campaign on contacts: DELETE -> 204 NO CONTENT."""
    await fill(client)
    status, answer = await call(client, "/sms-campaign-on-list/create", {"list_name": "my_list", "text": "Sale"})
    assert (status, answer["code"]) == (400, 121)
    status, answer = await call(client, "/sms-campaign-on-list/create", {"list_name": "nope", "text": "Hi", "purpose": "alert"})
    assert (status, answer["code"]) == (400, 303)
    status, answer = await call(client, "/sms-campaign-on-list/create", {"text": "Hi", "purpose": "alert"})
    assert status == 400 and "list_name" in answer["errors"]
    assert (await call(client, "/contact-list/create", {"list_name": "empty"}))[0] == 201
    assert (await call(client, "/contact-list/create", {"list_name": "empty"}))[1]["code"] == 302
    _, created = await call(client, "/sms-campaign-on-list/create", {"list_name": "empty", "text": "Hi", "purpose": "alert"})
    _, answer = await call(client, "/sms-campaign-on-list/status", method="GET", params={"ticket_number": created["ticket_number"]})
    assert answer == {"number_of_contacts": 0, "cost": 0.0, "status": "failed"}
    status, answer = await call(client, "/sms-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert status == 400 and answer["code"] == 400
    _, created = await call(client, "/sms-campaign-on-list/create", {"list_name": "my_list", "text": "Hi", "purpose": "alert"})
    assert await call(client, "/sms-campaign-on-list/cancel", {"ticket_number": created["ticket_number"]}, method="DELETE") == (204, None)
    status, answer = await call(client, "/sms-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert (status, answer["code"]) == (400, 131)
    assert await messages(client) == []


async def test_contacts_are_merged_on_their_number(client):
    """dev.octopush.com Add a contact: do_not_overwrite "if you try to add a contact whose number
    already exist, instead of overwriting it with your new data, we will ignore it"."""
    await fill(client)
    await call(client, "/contact/create", {"contacts": [{"phone_number": "+33611111111", "first_name": "Ann"}], "do_not_overwrite": True})
    _, created = await call(client, "/sms-campaign-on-list/create", {"list_name": "my_list", "text": "Hi {first_name}", "purpose": "alert"})
    await call(client, "/sms-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert sorted(m["text"] for m in await messages(client)) == ["Hi Axelle", "Hi John"]
    await call(client, "/contact/create", {"contacts": [{"phone_number": "+33611111111", "first_name": "Ann"}]})
    _, created = await call(client, "/sms-campaign-on-list/create", {"list_name": "my_list", "text": "Yo {first_name}", "purpose": "alert"})
    await call(client, "/sms-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert sorted(m["text"] for m in await messages(client) if m["text"].startswith("Yo")) == ["Yo Ann", "Yo John"]


@pytest.mark.parametrize(
    "path,body,status",
    [
        ("/contact/create", {}, 400),
        ("/contact/create", {"contacts": [None, 5, {"phone_number": "0601"}], "list_names": "x", "do_not_overwrite": "maybe"}, 201),
        ("/contact-list/create", {"list_name": ["x"]}, 400),
        ("/sms-campaign-on-list/create", {"list_name": {"a": 1}, "tag_name": 5, "text": "Hi", "purpose": "alert"}, 400),
        ("/sms-campaign-on-list/send", {"ticket_number": ["sms_1"]}, 400),
        ("/sms-campaign-on-list/cancel", {}, 400),
    ],
)
async def test_bad_input_on_the_list_endpoints_gets_a_documented_shape(client, path, body, status):
    """Add a contact / Send SMS to contacts: contacts and a list or tag name are what these
    endpoints need; everything else that cannot be read is ignored."""
    method = "DELETE" if path.endswith("cancel") else "POST"
    got, answer = await call(client, path, body, method=method)
    assert got == status, answer
    if status == 400:
        assert set(answer) >= {"code", "message"}


async def test_voice_campaign_on_a_list_and_a_tag(client, receiver):
    """dev.octopush.com/en/sms-gateway-api-documentation/voice-sms-api/send-voice-sms-list/
    (voice-campaign-on-list/create, voice-campaign-on-tag/create), .../status-voice-sms-on-a-list/
    ({"number_of_contacts", "cost", "estimated_duration", "status": "ready_to_be_sent"}),
    .../cancel-voice-sms-on-a-list/ (204); the calls report voice statuses."""
    received, url = receiver
    await set_callback(client, url)
    await fill(client)
    body = {"list_name": "my_list", "text": "Hello {first_name}", "voice_gender": "male", "voice_language": "fr-FR"}
    status, created = await call(client, "/voice-campaign-on-list/create", body)  # no purpose, no STOP: fine for voice
    assert status == 201 and re.fullmatch(r"voice_[0-9a-f]{13}", created["ticket_number"])
    status, answer = await call(client, "/voice-campaign-on-list/status", method="GET", params={"ticket_number": created["ticket_number"]})
    assert (status, answer) == (200, {"number_of_contacts": 2, "cost": pytest.approx(0.10), "estimated_duration": 30, "status": "ready_to_be_sent"})
    status, answer = await call(client, "/voice-campaign-on-list/send", {"ticket_number": created["ticket_number"]})
    assert status == 200 and "sending_date" in answer
    stored = await messages(client)
    assert {m["attempts"][0]["channel"] for m in stored} == {"voice_sms"} and len(stored) == 2
    await advance(client, 10)
    assert [r["status"] for r in received] == ["DELIVERED", "DELIVERED"]
    status, answer = await call(client, "/voice-campaign-on-list/create", {**body, "voice_language": "xx"})
    assert status == 400 and answer["errors"]["voice_language"]["code"] == 442
    _, created = await call(client, "/voice-campaign-on-tag/create", {"tag_name": "vip", "text": "Hi"})
    assert await call(client, "/voice-campaign-on-list/cancel", {"ticket_number": created["ticket_number"]}, method="DELETE") == (204, None)
