"""Revicom Direct API against its own GitBook (api.direct.revicom.ltd), page by page, over real
HTTP: the status vocabulary of the References page, `unread` at the ttl, callback bodies for every
status event, every Getting Messages filter, VIBER, and the sending pages one by one.

One emulator and one callback receiver serve the whole module (reset before each test).
"""
from __future__ import annotations

import re

import pytest
import pytest_asyncio


from .conftest import advance, served_receiver

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEND = "/revicom/api/v1/message"
AUTH = {"Authorization": "Basic revicom-demo-token"}
STATUSES = ["sending", "sent", "delivered", "undelivered", "unsent", "read", "unread"]


class Hook:
    """A real callback receiver on its own port."""

    def __init__(self) -> None:
        self.got: list[tuple[dict, list]] = []
        self.url = ""

    def events(self) -> list[dict]:
        return [event for _, body in self.got for event in body]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def hook():
    receiver = Hook()
    async with served_receiver("/hook", with_headers=True) as (receiver.got, receiver.url):
        yield receiver


@pytest.fixture
def client(fresh_emulator, hook):
    hook.got.clear()
    return fresh_emulator


def item(channel="SMS", destination="79161234567", **extra):
    content = {
        "SMS": "Your code 1234",
        "FLASHCALL": "1234",
        "VOICECODE": {"contentType": "text", "text": "Код авторизации от revicom: 1234"},
        "VIBER": "Hello from Viber",
        "WHATSAPP": {"contentType": "text", "text": "Hello from WhatsApp"},
        "VK": "Hello from VK",
    }[channel]
    sender = {"VOICECODE": "voicecode", "SMS": "sms_promo"}.get(channel, "shop")
    return {"channelType": channel, "senderName": sender, "destination": destination, "content": content, **extra}


async def send(client, *items, expect=200):
    response = await client.post(SEND, json=list(items), headers=AUTH)
    body = await response.json()
    assert response.status == expect, body
    return body


async def uuids(client, *items):
    return [i["messageUuid"] for i in (await send(client, *items))["items"]]


async def listed(client, query: str = "", expect=200):
    response = await client.get(SEND + ("?" + query if query else ""), headers=AUTH)
    body = await response.json()
    assert response.status == expect, (query, body)
    return body


async def message(client, uuid):
    response = await client.get(f"{SEND}/{uuid}", headers=AUTH)
    assert response.status == 200
    return await response.json()


# -- References page: status vocabulary -----------------------------------------------------------
async def test_message_status_walks_the_documented_vocabulary(client):
    """api.direct.revicom.ltd/extra/references ("Main message statuses": sending = awaiting
    sending, sent = awaiting the final status, delivered final)."""
    [uuid] = await uuids(client, item("SMS"))
    assert (await message(client, uuid))["status"] == "sending"
    await advance(client, 1)
    assert (await message(client, uuid))["status"] == "sent"
    await advance(client, 1)
    assert (await message(client, uuid))["status"] == "delivered"


async def test_failed_messages_are_undelivered_or_unsent(client):
    """References "Main message statuses": undelivered and unsent are final; callback page:
    undelivered = not delivered in lifetime, unsent = not sent (stopped ones too, Stopping
    Messages page)."""
    undelivered, rejected, expiring = await uuids(
        client, item(destination="79000000203"), item(destination="79000000206"), item(destination="79000000204", ttl=60))
    slow = (await uuids(client, item(destination="79000000207")))[0]
    stop = await client.post(f"{SEND}/stop", json={"uuids": [slow]}, headers=AUTH)
    assert stop.status == 200
    await advance(client, 61)
    statuses = [(await message(client, u))["status"] for u in (undelivered, rejected, expiring, slow)]
    assert statuses == ["undelivered", "unsent", "undelivered", "unsent"]


@pytest.mark.parametrize("status", STATUSES)
async def test_status_filter_takes_every_documented_status(client, status):
    """api.direct.revicom.ltd/messages/get: `status` (Multiple parameter) with the References
    page's statuses; each filters, none is refused."""
    await send(client, item("SMS"))
    found = await listed(client, f"status={status}")
    assert found["total"] == (1 if status == "sending" else 0)


async def test_status_filter_refuses_a_status_the_references_do_not_list(client):
    """References page: the status vocabulary is closed; "created" / "queued" are not in it."""
    for word in ("created", "queued"):
        body = await listed(client, f"status={word}", expect=422)
        assert body["error"]["code"] == 4220


# -- unread at the ttl --------------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["VIBER", "VK", "WHATSAPP"])
async def test_unread_when_not_read_within_the_ttl(client, hook, channel):
    """References "Read message statuses": read is available for VIBER, VK, WHATSAPP; unread =
    not read during the lifetime of the message (ttl). Callback page: the `read` event reports
    read or unread."""
    [uuid] = await uuids(client, item(channel, ttl=600, callbackUrl=hook.url, callbackEvents=["read", "delivered"]))
    await advance(client, 10)
    assert (await message(client, uuid))["status"] == "delivered"
    await advance(client, 600)
    assert (await message(client, uuid))["status"] == "unread"
    assert [(e["callback_event"], e["status"]) for e in hook.events()] == [("delivered", "delivered"), ("read", "unread")]
    assert (await listed(client, "status=unread"))["total"] == 1


async def test_channels_without_reads_never_become_unread(client, hook):
    """References: read statuses exist for VIBER, VK and WHATSAPP only."""
    [uuid] = await uuids(client, item("SMS", ttl=600, callbackUrl=hook.url, callbackEvents=["read"]))
    await advance(client, 700)
    assert (await message(client, uuid))["status"] == "delivered" and hook.events() == []


async def test_a_read_message_is_not_made_unread_later(client, hook):
    """Callback page: `read` - the message was read; read is final (References)."""
    [uuid] = await uuids(client, item("VK", destination="79000000205", ttl=600, callbackUrl=hook.url, callbackEvents=["read"]))
    await advance(client, 700)
    assert (await message(client, uuid))["status"] == "read"
    assert [(e["callback_event"], e["status"]) for e in hook.events()] == [("read", "read")]


async def test_default_lifetime_is_25_hours(client):
    """Callback page: "not read in lifetime (default 25 hours)"."""
    [uuid] = await uuids(client, item("WHATSAPP"))
    await advance(client, 25 * 3600 - 10)
    assert (await message(client, uuid))["status"] == "delivered"
    await advance(client, 20)
    assert (await message(client, uuid))["status"] == "unread"


# -- callback bodies ------------------------------------------------------------------------------
async def test_callback_bodies_for_every_status_event(client, hook):
    """api.direct.revicom.ltd/messages/callback, "Message status change": a JSON array of
    {message_uuid, channel_type, callback_event, status, status_time, error_code?}; cascade_* are
    sent for cascading messages only (single messages have none)."""
    [uuid] = await uuids(client, item("VIBER", destination="79000000205", callbackUrl=hook.url,
                                      callbackEvents=["sent", "delivered", "read"]))
    await advance(client, 10)
    events = hook.events()
    assert [(e["callback_event"], e["status"]) for e in events] == [("sent", "sent"), ("delivered", "delivered"), ("read", "read")]
    for event in events:
        assert set(event) == {"message_uuid", "channel_type", "callback_event", "status", "status_time"}
        assert event["message_uuid"] == uuid and event["channel_type"] == "VIBER"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["status_time"])
    assert all(len(body) == 1 for _, body in hook.got)


async def test_error_code_comes_with_failed_statuses(client, hook):
    """Callback page example: status undelivered with error_code 6969 (integer). The codes
    themselves are guesses (schemas/revicom/references.yaml) except that example."""
    await send(client, item(destination="79000000203", callbackUrl=hook.url), item(destination="79000000206", callbackUrl=hook.url))
    await advance(client, 10)
    by_status = {e["status"]: e for e in hook.events()}
    assert by_status["undelivered"]["error_code"] == 6969 and by_status["undelivered"]["callback_event"] == "delivered"
    assert isinstance(by_status["unsent"]["error_code"], int)
    undelivered = (await listed(client, "status=undelivered"))["items"][0]
    assert undelivered["errorCode"] == 6969


async def test_expired_message_is_undelivered_with_an_error_code(client, hook):
    """Callback page: undelivered - not delivered in lifetime; error_code accompanies it."""
    await send(client, item("FLASHCALL", destination="79000000204", ttl=60, callbackUrl=hook.url))
    await advance(client, 70)
    [event] = hook.events()
    assert event["status"] == "undelivered" and event["error_code"] == 6969


# -- Getting Messages: every filter ---------------------------------------------------------------
async def three_messages(client):
    await send(client, item("SMS", destination="79161111111", tags=["otp"]))
    await advance(client, 1)
    await send(client, item("FLASHCALL", destination="380961111111"), item("VIBER", destination="77011234567"))


@pytest.mark.parametrize("query, total", [
    ("country_code=RU", 1), ("country_code=ua", 1), ("country_code=KZ", 1), ("country_code=DE", 0),
    ("traffic_type=AUTHORIZE", 1), ("traffic_type=SERVICE", 2), ("traffic_type=PROMO", 0),
    ("traffic_type=SERVICE&traffic_type=AUTHORIZE", 3),
    ("template_id=120", 0), ("dispatch_id=123", 0),
    ("traffic_center_id=1", 3), ("traffic_center_id=2", 0),
    ("sending_method=API", 3), ("sending_method=UI", 0),
    ("direction=outbound", 3), ("direction=inbound", 0),
    ("channel_type=VIBER", 1), ("channel_type=SMS,FLASHCALL", 2),
    ("destination=79161111111", 1), ("destination=%2B380961111111", 1),
    ("sender_name=shop", 2), ("tags=otp", 1), ("status=sending", 2), ("status=sent", 1),
    ("content=code", 1), ("content_nor=code", 2),
    ("cascade_message_uuid=063464ec-a34f-4558-90c5-984395000002", 0),
    ("root=true", 3), ("root=false", 0), ("dispatch=false", 3), ("dispatch=true", 0),
    ("ready_to_stop=true", 2), ("time_from=2999-01-01T00:00:00Z", 0), ("time_to=2000-01-01T00:00:00Z", 0),
    ("per_page=2&page=2", 3),
])
async def test_every_documented_filter_is_applied(client, query, total):
    """api.direct.revicom.ltd/messages/get: every query parameter filters (country_code ISO-3166
    alpha-2, traffic_type from References, template_id, dispatch_id, ...); none is ignored.
    References page: sending methods API/UI, directions outbound/inbound, traffic types."""
    await three_messages(client)
    assert (await listed(client, query))["total"] == total


@pytest.mark.parametrize("query", [
    "dispatch_id=abc", "traffic_center_id=x", "channel_type=FAX", "traffic_type=SPAM", "sending_method=SMPP",
    "direction=sideways", "status=created", "country_code=RUS", "country_code=1", "dispatch=maybe",
    "ready_to_stop=yes", "root=1", "page=0", "per_page=200&page=51", "time_to=tomorrow",
])
async def test_a_filter_value_outside_its_type_is_refused(client, query):
    """api.direct.revicom.ltd/messages/get (types integer/boolean, page*per_page <= 10000) and
    the References enumerations: a value the parameter cannot take is 4220, never ignored
    (the HTTP status 422 is a guess)."""
    body = await listed(client, query, expect=422)
    assert body["error"]["code"] == 4220


async def test_message_object_names_country_traffic_type_and_traffic_center(client):
    """Message object fields trafficType, trafficCenterId, country (i-Digital's identical
    platform page; Revicom's Getting Messages page lists the matching filters)."""
    [uuid] = await uuids(client, item("FLASHCALL", destination="380961111111"))
    obj = await message(client, uuid)
    assert (obj["trafficType"], obj["trafficCenterId"], obj["country"], obj["sendingMethog"]) == ("AUTHORIZE", 1, "Ukraine", "API")


async def test_page_slices_newest_first(client):
    """Getting Messages: page / per_page (default 100)."""
    await three_messages(client)
    page = await listed(client, "per_page=2&page=2")
    assert len(page["items"]) == 1 and page["items"][0]["destination"] == "79161111111"


# -- channels, page by page --------------------------------------------------------------------------
async def test_viber_is_a_documented_channel(client):
    """References "Traffic channels": SMS, FLASHCALL, VIBER, WHATSAPP, VK. VIBER has no sending
    page: its request shape (text content like VK) is a guess."""
    [uuid] = await uuids(client, item("VIBER"))
    obj = await message(client, uuid)
    assert obj["channelType"] == "VIBER" and obj["content"] == "Hello from Viber"
    assert (await listed(client, "channel_type=viber"))["total"] == 1


@pytest.mark.parametrize("page, good, bad", [
    # api.direct.revicom.ltd/messages/sms-sending: content a UTF-8 string; 60 <= ttl <= 86400
    ("sms-sending", item("SMS", ttl=60), item("SMS", ttl=59)),
    ("sms-sending", item("SMS", ttl=86400, tags=["Promo_1"]), item("SMS", tags=["with space"])),
    ("sms-sending", item("SMS", hours=[0, 23], days=[1, 7]), item("SMS", days=[0])),
    # messages/flashcall-sending: content a numerical code, 4 symbols
    ("flashcall-sending", item("FLASHCALL", content="0042"), item("FLASHCALL", content="12345")),
    ("flashcall-sending", item("FLASHCALL", senderName="any sender"), item("FLASHCALL", content="12a4")),
    # messages/sending-voicecode: senderName always voicecode; 30 <= ttl <= 86400
    ("sending-voicecode", item("VOICECODE", ttl=30), item("VOICECODE", ttl=29)),
    ("sending-voicecode", item("VOICECODE", externalMessageId="x" * 100), item("VOICECODE", senderName="other")),
    # messages/whatsapp-sending: content an object; 60 <= ttl <= 86400
    ("whatsapp-sending", item("WHATSAPP", ttl=86400), item("WHATSAPP", content="plain string")),
    ("whatsapp-sending", item("WHATSAPP", useLocalTime=False), item("WHATSAPP", ttl=86401)),
    # messages/vk-sending: content 1 to 2048 characters; 60 <= ttl <= 86400
    ("vk-sending", item("VK", content="v" * 2048), item("VK", content="v" * 2049)),
    ("vk-sending", item("VK", shortUrl=True), item("VK", content="")),
])
async def test_sending_pages_one_by_one(client, page, good, bad):
    """Each sending page's field rules: the documented edge is accepted (code 201), one step past
    it refuses the whole request with 4220."""
    assert (await send(client, good))["items"][0]["code"] == 201
    answer = await send(client, bad, expect=422)
    assert answer["error"]["code"] == 4220


async def test_unknown_channel_type_is_refused(client):
    """Sending pages: channelType is one of the documented channels."""
    answer = await send(client, {**item("SMS"), "channelType": "TELEGRAM"}, expect=422)
    assert answer["error"]["code"] == 4220
