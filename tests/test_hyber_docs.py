"""GMS Hyber JSON v2 against gms-hyber-api.readthedocs.io, over real HTTP: matching_template_id in
delivery reports, the channel option limits of Table 8.1, and mass sending (chapter 3: /batch,
/batch/sync, /broadcast, /broadcast/sync, /status/{job_id}) with per-recipient results, cascades
and delivery reports.

One emulator and one callback receiver serve the whole module (reset before each test).
"""
from __future__ import annotations

import base64
import copy
import re

import pytest
import pytest_asyncio


from .conftest import advance, served_receiver

pytestmark = pytest.mark.asyncio(loop_scope="module")

URL = "/hyber/1000"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"demo:demo-password").decode()}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Hook:
    def __init__(self) -> None:
        self.got: list = []
        self.url = ""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def hook():
    receiver = Hook()
    async with served_receiver("/dr") as (receiver.got, receiver.url):
        yield receiver


@pytest.fixture
def client(fresh_emulator, hook):
    hook.got.clear()
    return fresh_emulator


async def post(client, path, body):
    response = await client.post(URL + path, json=body, headers=AUTH)
    assert response.content_type == "application/json"
    return response.status, await response.json()


async def get(client, path):
    response = await client.get(URL + path, headers=AUTH)
    return response.status, await response.json()


def single(channels=("sms",), phone=380961111111, **options):
    """A single-message body with valid options for each channel; `options` overrides per channel."""
    defaults = {
        "push": {"text": "Text for Push", "ttl": 60, "title": "Title for Push"},
        "viber": {"text": "Text for Viber", "ttl": 60, "device": "phone", "img": "https://example.com/image.png",
                  "caption": "Click the button", "action": "https://example.com"},
        "sms": {"text": "Text for SMS", "alpha_name": "GMSU", "ttl": 300},
        "whatsapp": {"text": "Templated text for WhatsApp", "ttl": 604800},
    }
    channel_options = {ch: {**defaults[ch], **options.get(ch, {})} for ch in channels}
    return {"phone_number": phone, "extra_id": "AD-6640-7006", "channels": list(channels), "channel_options": channel_options}


# -- matching_template_id ---------------------------------------------------------------------------
async def test_non_template_viber_report_has_matching_template_id_zero(client, hook):
    """chapter8.html, Table 8.3 #11: matching_template_id "specifies the Viber template number.
    If the Message does not match any template - the value in this field is 0"."""
    body = single(("viber",))
    body["callback_url"] = hook.url
    status, answer = await post(client, "", body)
    assert status == 200
    await advance(client, 5)
    [report] = hook.got
    assert report["sent_via"] == "viber" and report["matching_template_id"] == 0 and report["hyber_status"] == 23033
    _, simple = await get(client, f"/api/dr/{answer['message_id']}/simple")
    assert simple["matching_template_id"] == 0
    _, advanced = await get(client, f"/api/dr/{answer['message_id']}/advanced")
    assert advanced["reports"][0]["matching_template_id"] == 0


async def test_template_viber_report_names_its_template(client, hook):
    """chapter2.html: a template message has only text; chapter5.html: its report carries
    matching_template_id (hyber_status 23043)."""
    body = single(("viber",), viber={"text": "Templated text for Viber", "ttl": 60})
    for name in ("device", "img", "caption", "action"):
        body["channel_options"]["viber"].pop(name)
    body["callback_url"] = hook.url
    await post(client, "", body)
    await advance(client, 5)
    [report] = hook.got
    assert report["hyber_status"] == 23043 and report["matching_template_id"] > 0


async def test_sms_report_has_no_matching_template_id(client, hook):
    """Table 8.3: the field is about Viber templates; an SMS report does not carry it."""
    body = single(("sms",))
    body["callback_url"] = hook.url
    await post(client, "", body)
    await advance(client, 5)
    assert "matching_template_id" not in hook.got[0]


# -- Table 8.1 limits -------------------------------------------------------------------------------
LIMITS = [
    # (what, channel, field, accepted edge, refused value, error_code)
    ("viber text up to 1000", "viber", "text", "v" * 1000, "v" * 1001, 36102),
    ("viber ttl 40..86400", "viber", "ttl", 40, 39, 36101),
    ("viber ttl upper", "viber", "ttl", 86400, 86401, 36101),
    ("viber caption up to 30", "viber", "caption", "c" * 30, "c" * 31, 36106),
    ("viber img up to 256", "viber", "img", "https://e.com/" + "i" * 242, "https://e.com/" + "i" * 243, 36105),
    ("viber action up to 256", "viber", "action", "https://e.com/" + "a" * 242, "https://e.com/" + "a" * 243, 36105),
    ("viber device all|phone", "viber", "device", "all", "tablet", 36110),
    ("sms latin text up to 765", "sms", "text", "s" * 765, "s" * 766, 36102),
    ("sms cyrillic text up to 335", "sms", "text", "ж" * 335, "ж" * 336, 36102),
    ("sms ttl 300..259200", "sms", "ttl", 300, 299, 36101),
    ("sms ttl upper", "sms", "ttl", 259200, 259201, 36101),
    ("sms alpha_name up to 11", "sms", "alpha_name", "1ABCDEFGHIJ", "ABCDEFGHIJKL", 36103),
    ("sms alpha_name GSM7 only", "sms", "alpha_name", "GMS U", "ГМС", 36103),
    ("whatsapp ttl 604800 only", "whatsapp", "ttl", 604800, 604799, 36101),
    ("whatsapp ttl not viber's", "whatsapp", "ttl", 604800, 86400, 36101),
    ("whatsapp text up to 1000", "whatsapp", "text", "w" * 1000, "w" * 1001, 36102),
    ("push text up to 1000", "push", "text", "p" * 1000, "p" * 1001, 36102),
    ("push ttl 30..86400", "push", "ttl", 30, 29, 36101),
    ("push ttl upper", "push", "ttl", 86400, 86401, 36101),
    ("push title up to 20", "push", "title", "t" * 20, "t" * 21, 36104),
]


@pytest.mark.parametrize("what, channel, field, good, bad, code", LIMITS, ids=[row[0] for row in LIMITS])
async def test_channel_option_limits_of_table_8_1(client, what, channel, field, good, bad, code):
    """chapter8.html Table 8.1 (channel parameters #10-#37): each documented limit is accepted at
    its edge and refused one step past it (the refusal's error code is a guess; 36024 is the only
    documented one)."""
    status, _ = await post(client, "", single((channel,), **{channel: {field: good}}))
    assert status == 200
    status, answer = await post(client, "", single((channel,), **{channel: {field: bad}}))
    assert status == 400 and answer["error_code"] == code


WHATSAPP_SESSION = {"text": "Session text for WhatsApp", "img": "https://example.com/image.png", "img_name": "Name for image",
                    "doc": "https://example.com/file.docx", "doc_name": "Name for document",
                    "audio": "https://example.com/audio.mp3", "video": "https://example.com/video.mp4",
                    "video_name": "Name for video", "latitude": "50.438820", "longitude": "30.498916", "ttl": 604800}


@pytest.mark.parametrize("field, bad", [("img_name", "n" * 1001), ("doc", "https://e.com/" + "d" * 243),
                                        ("latitude", "90.5"), ("longitude", -180.01)])
async def test_whatsapp_session_limits(client, field, bad):
    """Table 8.1 #23-#31: captions up to 1000, URLs up to 256, latitude -90..90, longitude -180..180."""
    status, _ = await post(client, "", single(("whatsapp",), whatsapp=WHATSAPP_SESSION))
    assert status == 200
    status, answer = await post(client, "", single(("whatsapp",), whatsapp={**WHATSAPP_SESSION, field: bad}))
    assert status == 400 and "error_code" in answer


@pytest.mark.parametrize("field, good, bad", [("extra_id", "e" * 64, "e" * 65), ("tag", "t" * 64, "t" * 65),
                                              ("division_code", "d" * 100, "d" * 101),
                                              ("callback_url", "https://e.com/" + "c" * 242, "https://e.com/" + "c" * 243)])
async def test_main_parameter_limits(client, field, good, bad):
    """Table 8.1 #6-#10: extra_id 64, callback_url 256, tag 64, division_code 100 characters."""
    assert (await post(client, "", {**single(), field: good}))[0] == 200
    status, answer = await post(client, "", {**single(), field: bad})
    assert status == 400 and "error_code" in answer


# -- mass sending (chapter 3) -------------------------------------------------------------------------
def batch(phones=(380961111111, 380962222222), channels=("viber", "sms"), **extra):
    """chapter3.html "Send batch Viber+SMS Messages request"."""
    body = {
        "messages": [{"phone_number": p, "extra_id": f"AD-{i}", "text": f"Text for all channels, recipient #{p}"}
                     for i, p in enumerate(phones)],
        "channels": list(channels),
        "channel_options": {
            "viber": {"ttl": 60, "device": "phone", "img": "https://example.com/image.png",
                      "caption": "Click the button", "action": "https://example.com", "ctr": False},
            "sms": {"alpha_name": "GMSU", "ttl": 300, "ctr": False},
        },
    }
    body["channel_options"] = {ch: body["channel_options"].get(ch, {"ttl": 60}) for ch in channels}
    body.update(extra)
    return body


def broadcast(**extra):
    """chapter3.html "Send broadcast Viber+SMS Messages request"."""
    body = {
        "recipients": [{"phone_number": 380961111111, "extra_id": "AD-6640-7006", "name": "Michael", "greeting": "Mr. "},
                       {"phone_number": 380962222222, "extra_id": "AD-6640-7007", "name": "Zoya", "greeting": "Ms. "}],
        "channels": ["viber", "sms"],
        "channel_options": {
            "viber": {"text": "Dear %greeting% %name%! Here is a Viber message for you", "ttl": 60, "device": "phone",
                      "img": "https://example.com/image.png", "caption": "Click the button", "action": "https://example.com",
                      "ctr": False},
            "sms": {"text": "Dear %greeting% %name%! Here is an SMS", "alpha_name": "GMSU", "ttl": 300, "ctr": False},
        },
    }
    body.update(extra)
    return body


async def emulated(client):
    response = await client.get("/_emulator/messages", params={"provider": "hyber"})
    return (await response.json())["messages"]


@pytest.mark.parametrize("path", ["/batch", "/broadcast"])
async def test_async_mass_sending_answers_a_job_id(client, path):
    """chapter3.html "Response to a Mass Messages request": /batch and /broadcast answer
    {"job_id": uuid}; the messages are sent."""
    status, answer = await post(client, path, batch() if path == "/batch" else broadcast())
    assert status == 200 and set(answer) == {"job_id"} and UUID.match(answer["job_id"])
    assert len(await emulated(client)) == 2


@pytest.mark.parametrize("path", ["/batch/sync", "/broadcast/sync"])
async def test_sync_mass_sending_answers_per_recipient(client, path):
    """chapter3.html: /batch/sync and /broadcast/sync answer {"messages": [{processed,
    phone_number (a string), message_id, extra_id, accepted}]}, in request order."""
    status, answer = await post(client, path, batch() if path == "/batch/sync" else broadcast())
    assert status == 200
    rows = answer["messages"]
    assert [r["phone_number"] for r in rows] == ["380961111111", "380962222222"]
    for row in rows:
        assert set(row) == {"processed", "phone_number", "message_id", "extra_id", "accepted"}
        assert row["processed"] is True and row["accepted"] is True and UUID.match(row["message_id"])
    _, report = await get(client, f"/api/dr/{rows[0]['message_id']}/simple")
    assert report["phone_number"] == "380961111111"


async def test_batch_text_goes_to_every_channel(client):
    """Table 8.1 #4: messages - "phone numbers of Users and texts will be transmitted to all
    communication channels for batch request"."""
    await post(client, "/batch", batch(phones=(380000000103,)))  # magic: viber undelivered, sms delivers
    await advance(client, 10)
    [message] = await emulated(client)
    texts = {a["channel"]: a["content"]["text"] for a in message["attempts"]}
    assert texts == {"viber": "Text for all channels, recipient #380000000103",
                     "sms": "Text for all channels, recipient #380000000103"}
    assert message["channel"] == "sms" and message["status"] == "delivered"


async def test_broadcast_fills_each_recipients_variables(client):
    """chapter3.html broadcast: "general text and variables that holds personalized values and can
    be used for all query parameters" (%greeting% %name%)."""
    await post(client, "/broadcast", broadcast())
    texts = sorted(m["attempts"][0]["content"]["text"] for m in await emulated(client))
    # the docs' greeting values end with a space ("Mr. "), kept as written
    assert texts == ["Dear Mr.  Michael! Here is a Viber message for you", "Dear Ms.  Zoya! Here is a Viber message for you"]


async def test_broadcast_variables_fill_any_field(client):
    """chapter3.html "File Only" broadcast: file_name "%name%", action "%url%" per recipient."""
    body = {
        "recipients": [{"phone_number": 380961111111, "name": "Name_for_document1.docx", "url": "https://example.com/file1.docx"}],
        "channels": ["viber"],
        "channel_options": {"viber": {"ttl": 60, "device": "phone", "file_name": "%name%", "action": "%url%", "ctr": False}},
    }
    status, answer = await post(client, "/broadcast/sync", body)
    assert status == 200 and answer["messages"][0]["accepted"] is True
    [message] = await emulated(client)
    assert message["attempts"][0]["content"]["file_name"] == "Name_for_document1.docx"


async def test_campaign_status_reports_every_recipient(client):
    """chapter3.html "GET campaign status report": GET /{client_id}/status/{job_id} answers
    {"messages": [...]}: a delivered SMS with status_text "SMS delivered", 2/23/23011, and an
    expired one with error_text "SMS expired", error_code 35015; processed false once final."""
    _, answer = await post(client, "/batch", batch(phones=(380962222222, 380000000105), channels=("sms",)))
    job = answer["job_id"]
    status, running = await get(client, f"/status/{job}")
    assert status == 200 and [m["processed"] for m in running["messages"]] == [True, True]
    await advance(client, 400)
    _, done = await get(client, f"/status/{job}")
    delivered, expired = done["messages"]
    assert delivered["phone_number"] == "380962222222" and delivered["extra_id"] == "AD-0"
    assert (delivered["status_text"], delivered["status"], delivered["substatus"], delivered["hyber_status"]) == (
        "SMS delivered", 2, 23, 23011)
    assert delivered["processed"] is False and delivered["accepted"] is True
    assert delivered["total_sms_parts"] == 1 and delivered["delivered_sms_parts"] == 1
    assert (expired["error_text"], expired["error_code"], expired["processed"]) == ("SMS expired", 35015, False)
    assert isinstance(delivered["time"], int) and delivered["time"] > 10**12  # Unix milliseconds


async def test_mass_messages_cascade_and_push_delivery_reports(client, hook):
    """chapter2/3: a message delivered by any channel stops the cascade; part4.html: the DR of
    each batch message is POSTed to the request's callback_url."""
    body = batch(phones=(380961111111, 380000000103), callback_url=hook.url)
    _, answer = await post(client, "/batch/sync", body)
    ids = {r["phone_number"]: r["message_id"] for r in answer["messages"]}
    await advance(client, 10)
    reports = {r["message_id"]: r for r in hook.got}
    assert reports[ids["380961111111"]]["sent_via"] == "viber"
    assert reports[ids["380000000103"]]["sent_via"] == "sms" and reports[ids["380000000103"]]["hyber_status"] == 23011
    assert reports[ids["380000000103"]]["extra_id"] == "AD-1"
    assert len(hook.got) == 2  # no report for the Viber attempt the cascade moved past


async def test_a_bad_recipient_is_refused_alone(client):
    """Table 8.2: accepted is false if the Message is rejected by the platform, with error_code /
    error_text (36024 "Phone number incorrect", chapter 2); the other recipients are sent."""
    body = batch(phones=(380961111111, 12, 380000000101))  # 12: not a number; ...101: magic 36024
    status, answer = await post(client, "/batch/sync", body)
    assert status == 200
    good, bad, magic = answer["messages"]
    assert good["accepted"] is True
    for refused in (bad, magic):
        assert (refused["accepted"], refused["error_code"], refused["error_text"]) == (False, 36024, "Phone number incorrect")
    assert bad["phone_number"] == "12"
    assert len(await emulated(client)) == 1


@pytest.mark.parametrize("path, body, code", [
    ("/batch", {"channels": ["sms"], "channel_options": {"sms": {"alpha_name": "GMSU", "ttl": 300}}}, 36010),
    ("/broadcast", batch(), 36010),  # a broadcast needs recipients, not messages
    ("/batch", batch(messages=[]), 36029),
    ("/batch", batch(channels=("fax",)), 36021),
])
async def test_a_broken_mass_request_is_refused_whole(client, path, body, code):
    """Table 8.1 #3-#5: channels, channel_options and messages (batch) / recipients (broadcast) are
    mandatory (the codes are guesses)."""
    status, answer = await post(client, path, body)
    assert status == 400 and answer["error_code"] == code
    assert await emulated(client) == []


async def test_more_than_50000_recipients_is_refused(client):
    """chapter3.html: "The maximum number of Recipients in one request is 50,000"."""
    body = batch(channels=("sms",))
    body["channel_options"]["sms"]["text"] = "Same text"
    body["messages"] = [{"phone_number": 380961111111}] * 50001
    status, answer = await post(client, "/batch", body)
    assert status == 400 and answer["error_code"] == 36029
    body["messages"] = body["messages"][:3]
    assert (await post(client, "/batch", body))[0] == 200


async def test_unknown_job_and_wrong_auth(client):
    """chapter3.html Table 3.2: the job status is a GET with Basic auth."""
    status, answer = await get(client, "/status/66591729-cb47-5ef9-964b-949dc6aff84f")
    assert status == 404 and "error_code" in answer
    response = await client.get(URL + "/status/x")
    assert response.status == 401
    response = await client.get(URL + "/batch", headers=AUTH)
    assert response.status == 405


async def test_whatsapp_batch_with_template_and_session(client):
    """chapter3.html "Send batch WhatsApp Messages request": template (ttl only + message text)
    and session (media options) bodies are both accepted."""
    template = copy.deepcopy(batch(channels=("sms",)))
    template["channels"] = ["whatsapp"]
    template["channel_options"] = {"whatsapp": {"ttl": 604800, "ctr": False}}
    status, answer = await post(client, "/batch/sync", template)
    assert status == 200 and all(r["accepted"] for r in answer["messages"])
    session = copy.deepcopy(template)
    session["channel_options"] = {"whatsapp": {**WHATSAPP_SESSION, "ctr": False}}
    del session["channel_options"]["whatsapp"]["text"]
    status, answer = await post(client, "/batch/sync", session)
    assert status == 200 and all(r["accepted"] for r in answer["messages"])
