"""Octopush REST API over real HTTP: the seed's examples and errors, auth, every field rule,
bad input of every kind, the wallet, the lifecycle and the callbacks it sends."""
from __future__ import annotations

import base64
import io
import json
import re
from datetime import datetime, timezone

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer


from .conftest import advance

# One emulator and one webhook receiver for the whole module (building an app costs ~0.5 s);
# every test starts from POST /_emulator/reset: no messages, seeded accounts, no timers.
pytestmark = pytest.mark.asyncio(loop_scope="module")

SEND = "/octopush/v1/public/multi-channel/send"
CAMPAIGN = "/octopush/v1/public/sms-campaign/send"
BALANCE = "/octopush/v1/public/wallet/check-balance"
CREDITS = "/octopush/v1/public/wallet/check-credits"
AUTH = {"api-login": "demo@msgemu.local", "api-key": "octopush-demo-key"}
PRICE = {"sms": 0.065, "voice_sms": 0.05, "rcs": 0.04, "email": 0.001, "live_chat": 0.0}
VALIDATION = "Payload validation error."


async def post(client, body, url=SEND, headers=AUTH):
    response = await client.post(url, json=body, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


def sms(**overrides):
    body = {"channel": "sms", "text": "Your code is 123456", "recipients": [{"phone_number": "+33611111111"}], "sender": "MyShop", "purpose": "alert"}
    body.update(overrides)
    return body


async def messages(client, **params):
    return (await (await client.get("/_emulator/messages", params={"provider": "octopush", **params})).json())["messages"]


async def balance(client) -> float:
    response = await client.get(BALANCE, headers=AUTH)
    return (await response.json())["amount"]


@pytest.fixture
def client(fresh_emulator):
    return fresh_emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_receiver():
    """A webhook receiver that keeps every JSON body it is sent."""
    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append({"path": request.path, "body": await request.json()})
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/{kind}", hook)
    server = TestServer(app)
    await server.start_server()
    yield received, lambda kind="all": str(server.make_url(f"/{kind}"))
    await server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def receiver(shared_receiver):
    received, url = shared_receiver
    received.clear()
    return received, url


def field_errors(answer) -> dict:
    assert answer["code"] == 400 and answer["message"] == VALIDATION, answer
    return answer["errors"]


# -- the seed, verbatim ---------------------------------------------------------------------------
# The request examples of the multichannel page (octopush-api.readme.io
# post_public_apimulti_channelsend), by channel, as published; the page's obfuscated e-mail
# addresses ("[email protected]") became distinct real addresses.
SEED_EXAMPLES = {'sms': {'channel': 'sms',
         'text': 'Hello, this is a test message.',
         'recipients': [{'phone_number': '+33111222333'}, {'phone_number': '+33111222334'}],
         'sender': 'SenderName',
         'send_at': '2024-12-19T10:00:00-07:00',
         'purpose': 'alert',
         'list_name': 'sms_list',
         'simulation_mode': False,
         'recipient_tracking': True,
         'auto_optimize_text': True,
         'auto_delete_optout_contacts': True,
         'metadata': {'type': 'sms_premium', 'with_replies': True}},
 'voice_sms': {'channel': 'voice_sms',
               'text': 'Hello, this is a voice message test.',
               'recipients': [{'phone_number': '+33111222333'}, {'phone_number': '+33111222334'}],
               'sender': 'SenderName',
               'send_at': '2024-12-19T10:00:00-07:00',
               'purpose': 'alert',
               'list_name': 'voice_sms_list',
               'simulation_mode': False,
               'auto_delete_optout_contacts': True,
               'metadata': {'type': 'voice_sms',
                            'voice_gender': 'male',
                            'voice_language': 'en-US',
                            'get_back_pressed_keys': True}},
 'rcs': {'channel': 'rcs',
         'text': 'Hello, this is a test RCS message.',
         'recipients': [{'phone_number': '+33111222333'}, {'phone_number': '+33111222334'}],
         'sender': '***',
         'send_at': '2024-12-19T10:00:00-07:00',
         'purpose': 'alert',
         'list_name': 'rcs_list',
         'simulation_mode': False,
         'auto_delete_optout_contacts': True,
         'metadata': {'with_replies': True}},
 'email': {'channel': 'email',
           'text': 'This is the content of your email.',
           'recipients': [{'email': 'user1@example.com'}, {'email': 'user2@example.com'}],
           'sender': 'SenderName',
           'send_at': '2024-12-19T10:00:00-07:00',
           'purpose': 'alert',
           'list_name': 'email_list',
           'metadata': {'email_from': 'user3@example.com',
                        'name_from': 'Sender Name',
                        'subject': 'Test Email',
                        'emailing_service': 'gateway',
                        'template_name': 'welcome_email_template'}},
 'live_chat': {'channel': 'live_chat',
               'text': 'Hello, this is a live chat message.',
               'recipients': [{'phone_number': '+33111222333'},
                              {'email': 'user4@example.com'},
                              {'conversation_id': '00000000-0000-0000-0000-000000000001'}],
               'sender': 'AgentName'}}


def seed_examples() -> dict[str, dict]:
    return json.loads(json.dumps(SEED_EXAMPLES))


async def test_the_seed_has_one_example_per_channel():
    assert sorted(seed_examples()) == ["email", "live_chat", "rcs", "sms", "voice_sms"]


@pytest.mark.parametrize("channel", ["sms", "voice_sms", "rcs", "email", "live_chat"])
async def test_every_seed_example_is_accepted(client, channel):
    body = seed_examples()[channel]
    status, answer = await post(client, body)
    assert status == 200, answer
    contacts = len(body["recipients"])
    assert answer["number_of_contacts"] == contacts
    assert answer["total_cost"] == pytest.approx(PRICE[channel] * contacts)
    assert answer["residual_credit"] == pytest.approx(100 - PRICE[channel] * contacts)
    if channel == "sms":
        assert re.fullmatch(r"sms_[0-9a-f]{13}", answer["sms_ticket"])
        assert answer["number_of_sms_needed"] == 2
    elif channel == "live_chat":
        assert answer["ticket_number"] is None
    else:
        prefix = {"voice_sms": "voice", "rcs": "rcs", "email": "email"}[channel]
        assert answer["ticket_number"].startswith(prefix + "_")
    if channel == "voice_sms":
        assert answer["estimated_duration"] == 30
    stored = await messages(client)
    assert len(stored) == contacts
    assert {m["attempts"][0]["channel"] for m in stored} == {channel}
    assert all(m["text"] == body["text"] for m in stored)


async def test_seed_sms_error_example_stop_mention(client):
    status, answer = await post(client, sms(purpose="wholesale", text="Big sale today"))
    assert (status, answer) == (400, {"code": 121, "message": "Mention STOP is missing."})
    status, _ = await post(client, sms(purpose="wholesale", text="Big sale today. STOP au XXXXX"))
    assert status == 200
    status, _ = await post(client, sms(purpose="alert", text="Big sale today"))
    assert status == 200
    assert len(await messages(client)) == 2


async def test_seed_voice_error_example_voice_language(client):
    body = seed_examples()["voice_sms"]
    body["metadata"]["voice_language"] = "xx-XX"
    status, answer = await post(client, body)
    assert status == 400
    assert answer == {"code": 400, "message": VALIDATION, "errors": {"voice_language": {"code": 442, "message": "Voice language not supported."}}}
    assert await messages(client) == []


async def test_seed_email_error_example_invalid_destination(client):
    body = seed_examples()["email"]
    body["recipients"][1]["email"] = "not-an-address"
    status, answer = await post(client, body)
    assert (status, answer) == (400, {"code": 2005, "message": "[destination email] field should be valid."})
    status, answer = await post(client, {**body, "recipients": [{"phone_number": "+33611111111"}]})
    assert answer["code"] == 2005


async def test_live_chat_needs_a_resolvable_recipient(client):
    body = {"channel": "live_chat", "text": "Hi", "sender": "AgentName",
            "recipients": [{"phone_number": "12"}, {"conversation_id": "not-a-uuid"}, {"email": "nobody"}]}
    status, answer = await post(client, body)
    assert status == 400
    assert answer["message"] == "[recipients] field does not contain any valid recipient."
    body["recipients"].append({"conversation_id": "00000000-0000-0000-0000-000000000002", "phone_number": "x"})
    status, answer = await post(client, body)
    assert status == 200 and answer["number_of_contacts"] == 1


async def test_live_chat_recipient_without_any_id_is_a_validation_error(client):
    body = {"channel": "live_chat", "text": "Hi", "recipients": [{"phone_number": "+33611111111"}, {"first_name": "Ann"}]}
    status, answer = await post(client, body)
    assert status == 400 and list(field_errors(answer)) == ["recipients"]


# -- authentication -----------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"api-login": "demo@msgemu.local"}, {"api-key": "octopush-demo-key"}, {"api-login": "", "api-key": ""}])
async def test_missing_credentials_are_403(client, headers):
    status, answer = await post(client, sms(), headers=headers)
    assert (status, answer) == (403, {"code": 403, "message": "Forbidden to view."})


@pytest.mark.parametrize("headers", [{**AUTH, "api-key": "wrong"}, {**AUTH, "api-login": "other@msgemu.local"}])
async def test_wrong_credentials_are_401(client, headers):
    for url, method in ((SEND, "POST"), (CAMPAIGN, "POST"), (BALANCE, "GET"), (CREDITS + "?country_codes[]=FR", "GET")):
        response = await client.request(method, url, json=sms(), headers=headers)
        assert response.status == 401
        assert await response.json() == {"code": 401, "message": "Unauthorized."}
    assert await messages(client) == []


async def test_login_is_case_insensitive_and_basic_auth_works(client):
    status, _ = await post(client, sms(), headers={"api-login": "DEMO@msgemu.local", "api-key": "octopush-demo-key"})
    assert status == 200
    token = base64.b64encode(b"demo@msgemu.local:octopush-demo-key").decode()
    status, _ = await post(client, sms(), headers={"Authorization": f"Basic {token}"})
    assert status == 200


# -- field rules ------------------------------------------------------------------------------------
# "How Our API Deals With Incorrect Data" (octopush-api.readme.io post_public_apimulti_channelsend):
# required fields that cannot be read are refused; an optional field that cannot be cast or fixed
# is ignored (its default applies) and the request is sent.
@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"text": ""}, "text"),
        ({"text": "x" * 1225}, "text"),
        ({"text": "   "}, "text"),
        ({"text": {"a": 1}}, "text"),
        ({"channel": "whatsapp"}, "channel"),
        ({"channel": None}, "channel"),
        ({"recipients": []}, "recipients"),
        ({"recipients": "+33611111111"}, "recipients"),
        ({"recipients": [{"phone_number": f"+336{i:08d}"} for i in range(501)]}, "recipients"),
    ],
)
async def test_required_fields_that_cannot_be_read_are_refused(client, overrides, field):
    """Multichannel doc: channel, text (1-1224 characters) and recipients (up to 500) are required."""
    status, answer = await post(client, sms(**overrides))
    assert status == 400
    assert field in field_errors(answer)
    assert await messages(client) == []


@pytest.mark.parametrize(
    "overrides,absent",
    [
        ({"sender": "ab"}, "sender"),
        ({"sender": "abcdefghijkl"}, "sender"),
        ({"sender": 12}, "sender"),
        ({"send_at": "tomorrow"}, None),
        ({"send_at": 12}, None),
        ({"list_name": ["a"]}, None),
        ({"simulation_mode": "perhaps"}, None),
        ({"optout_filtering": {"x": 1}}, None),
        ({"metadata": ["a"]}, None),
        ({"metadata": {"type": "sms_gold"}}, "type"),
        ({"metadata": {"with_replies": "sometimes"}}, "with_replies"),
        ({"metadata": {"request_id": ""}}, None),
        ({"purpose": "urgent"}, None),
    ],
)
async def test_optional_fields_that_cannot_be_fixed_are_ignored_and_the_request_sent(client, overrides, absent):
    """Multichannel doc, "How Our API Deals With Incorrect Data": "If a parameter could not be
    recognized or "fixed", we will ignore it, but your request will be sent." (A purpose that is
    not understood takes the default, wholesale, so the text carries the STOP mention here.)"""
    status, answer = await post(client, sms(text="Sale today. STOP au XXXXX", **overrides))
    assert status == 200, answer
    await advance(client, 5)
    (stored,) = await messages(client)
    assert stored["status"] == "delivered"  # sent now: an unreadable send_at is ignored too
    if absent:
        assert absent not in stored["attempts"][0]["content"]


@pytest.mark.parametrize(
    "sender,kept",
    [("My Shop", "My Shop"), ("My-Shop!", "MyShop"), ("Café 24h", "Caf 24h"), ("  ABC  ", "ABC"), ("A-B", None), ("ABCDEFGHIJ1", "ABCDEFGHIJ1")],
)
async def test_sender_allows_spaces_and_loses_prohibited_characters(client, sender, kept):
    """dev.octopush.com Transactional SMS: sender "3-11 alphanumeric characters with spaces
    (a-zA-Z0-9 )"; multichannel doc: wrong values are formatted ("delete prohibited characters"),
    and one still not valid is ignored."""
    status, answer = await post(client, sms(sender=sender))
    assert status == 200, answer
    (stored,) = await messages(client)
    assert stored["attempts"][0]["content"].get("sender") == kept


async def test_enum_values_and_purpose_words_are_understood(client):
    """Multichannel doc: "If a parameter has the wrong value, we will try to understand it anyway";
    purpose is "(transactional/alert or marketing)"."""
    body = sms(channel="SMS", purpose="Transactional", text="Code 1", metadata={"type": "SMS_LOW_COST"})
    status, answer = await post(client, body)
    assert status == 200, answer
    status, answer = await post(client, sms(purpose="marketing", text="Big sale"))
    assert (status, answer) == (400, {"code": 121, "message": "Mention STOP is missing."})
    (stored,) = await messages(client)
    assert stored["attempts"][0]["content"]["type"] == "sms_low_cost"


@pytest.mark.parametrize(
    "channel,metadata,field,code",
    [
        ("voice_sms", {"voice_language": "fr-CA"}, "voice_language", 442),
        ("voice_sms", {"voice_language": 7}, "voice_language", 442),
    ],
)
async def test_documented_metadata_error_is_kept(client, channel, metadata, field, code):
    """Multichannel doc, "Bad request from a Voice campaign": errors.voice_language 442."""
    body = {"channel": channel, "text": "Hello", "recipients": [{"phone_number": "+33611111111"}], "metadata": metadata}
    status, answer = await post(client, body)
    assert status == 400
    assert field_errors(answer)[field]["code"] == code


@pytest.mark.parametrize(
    "channel,metadata,absent",
    [
        ("voice_sms", {"voice_gender": "robot"}, "voice_gender"),
        ("voice_sms", {"type": "sms_premium"}, "type"),
        ("voice_sms", {"get_back_pressed_keys": [1]}, "get_back_pressed_keys"),
        ("email", {"emailing_service": "smtp"}, "emailing_service"),
        ("email", {"body_format": "markdown"}, "body_format"),
        ("email", {"email_from": "not-an-address"}, "email_from"),
        ("rcs", {"message_type": "carousel"}, "message_type"),
        ("rcs", {"message_type": "rich_card"}, "message_type"),
        ("rcs", {"actions": "call"}, "actions"),
    ],
)
async def test_metadata_that_cannot_be_fixed_takes_its_default(client, channel, metadata, absent):
    """Multichannel doc, "How Our API Deals With Incorrect Data" (defaults: body_format plain_text,
    message_type simple_text...): the value is ignored and the message sent."""
    recipient = {"email": "ann@example.com"} if channel == "email" else {"phone_number": "+33611111111"}
    body = {"channel": channel, "text": "Hello", "recipients": [recipient], "purpose": "alert", "metadata": metadata}
    status, answer = await post(client, body)
    assert status == 200, answer
    (stored,) = await messages(client)
    assert absent not in stored["attempts"][0]["content"]


async def test_long_subject_is_cut_to_its_documented_maximum(client):
    """Multichannel doc: metadata.subject "(max 1000 characters)"; formatted, not refused (guess)."""
    body = {"channel": "email", "text": "Hello", "recipients": [{"email": "ann@example.com"}], "metadata": {"subject": "s" * 1500}}
    assert (await post(client, body))[0] == 200
    (stored,) = await messages(client)
    assert stored["attempts"][0]["content"]["subject"] == "s" * 1000


async def test_metadata_of_another_channel_is_ignored(client):
    status, _ = await post(client, sms(metadata={"voice_language": "xx", "emailing_service": 5}))
    assert status == 200


async def test_several_field_errors_are_reported_together(client):
    status, answer = await post(client, {"channel": "voice_sms", "text": "", "sender": "x", "recipients": [],
                                         "metadata": {"voice_language": "xx", "voice_gender": "x"}})
    assert status == 400
    assert set(field_errors(answer)) == {"text", "recipients", "voice_language"}


async def test_limits_themselves_are_accepted(client):
    await client.patch("/_emulator/accounts/octopush", json={"balance": 1000})
    recipients = [{"phone_number": f"+336{i:08d}"} for i in range(100, 600)]
    status, answer = await post(client, sms(text="x" * 1224, sender="ABC", recipients=recipients, purpose="alert"))
    assert status == 200, answer
    assert answer["number_of_contacts"] == 500
    assert answer["number_of_sms_needed"] == 500 * 8
    status, _ = await post(client, sms(sender="ABCDEFGHIJ1"))
    assert status == 200


async def test_rcs_sender_is_the_agent_name(client):
    body = {"channel": "rcs", "text": "Hi", "recipients": [{"phone_number": "+33611111111"}], "sender": "My RCS agent!"}
    assert (await post(client, body))[0] == 200


async def test_castable_wrong_types_are_cast_as_documented(client):
    body = sms(text=123456, recipients=[{"phone_number": 33611111111}], simulation_mode="false",
               auto_optimize_text=0, metadata={"with_replies": "true", "type": "sms_low_cost"}, send_at=None)
    status, answer = await post(client, body)
    assert status == 200, answer
    stored = (await messages(client))[0]
    assert stored["recipient"] == "+33611111111" and stored["text"] == "123456"
    assert stored["attempts"][0]["content"]["with_replies"] is True


# -- recipients -----------------------------------------------------------------------------------
async def test_non_international_numbers_are_dropped_and_duplicates_merged(client):
    recipients = [{"phone_number": "+33 6 11 11 11 11"}, {"phone_number": "0033611111111"}, {"phone_number": "0601020304"},
                  {"phone_number": "12"}, {"phone_number": "+33622222222"}]
    status, answer = await post(client, sms(recipients=recipients))
    assert status == 200 and answer["number_of_contacts"] == 2
    assert sorted(m["recipient"] for m in await messages(client)) == ["+33611111111", "+33622222222"]


async def test_no_valid_number_at_all(client):
    status, answer = await post(client, sms(recipients=[{"phone_number": "0601020304"}, {"email": "a@b.co"}]))
    assert status == 400
    assert answer["message"] == "[recipients] field does not contain any valid recipient."


async def test_text_is_personalised_per_recipient(client):
    recipients = [{"phone_number": "+33611111111", "param1": "Ann"}, {"phone_number": "+33622222222", "param1": "Bob", "first_name": "Robert"}]
    status, _ = await post(client, sms(text="Hello {param1} ({first_name})", recipients=recipients))
    assert status == 200
    texts = {m["recipient"]: m["text"] for m in await messages(client)}
    assert texts == {"+33611111111": "Hello Ann ({first_name})", "+33622222222": "Hello Bob (Robert)"}


async def test_text_optimisation_can_be_turned_off(client):
    fancy = "Don’t  miss it…"
    await post(client, sms(text=fancy))
    await post(client, sms(text=fancy, auto_optimize_text=False, recipients=[{"phone_number": "+33622222222"}]))
    texts = {m["recipient"]: m["text"] for m in await messages(client)}
    assert texts == {"+33611111111": "Don't miss it...", "+33622222222": fancy}


# -- money --------------------------------------------------------------------------------------
async def test_cost_counts_sms_parts_and_is_debited(client):
    recipients = [{"phone_number": "+33611111111"}, {"phone_number": "+33622222222"}]
    status, answer = await post(client, sms(text="a" * 161, recipients=recipients))
    assert status == 200
    assert answer["number_of_sms_needed"] == 4
    assert answer["total_cost"] == pytest.approx(4 * 0.065)
    assert answer["residual_credit"] == pytest.approx(100 - 4 * 0.065)
    assert await balance(client) == pytest.approx(answer["residual_credit"])
    assert {m["parts"] for m in await messages(client)} == {2}


async def test_insufficient_credit_refuses_the_whole_campaign(client):
    await client.patch("/_emulator/accounts/octopush", json={"balance": 0.1})
    recipients = [{"phone_number": "+33611111111"}, {"phone_number": "+33622222222"}]
    status, answer = await post(client, sms(recipients=recipients))
    assert (status, answer) == (400, {"code": 104, "message": "You have run out of credit."})
    assert await messages(client) == []
    assert await balance(client) == pytest.approx(0.1)


async def test_simulation_mode_answers_without_storing_or_charging(client):
    status, answer = await post(client, sms(simulation_mode=True, metadata={"request_id": "sim-1"}))
    assert status == 200
    assert answer["number_of_contacts"] == 1 and answer["total_cost"] == pytest.approx(0.065)
    assert answer["residual_credit"] == 100.0
    assert await messages(client) == []
    assert await balance(client) == 100.0
    status, _ = await post(client, sms(metadata={"request_id": "sim-1"}))  # a simulation does not use the id up
    assert status == 200


async def test_simulation_still_validates(client):
    status, answer = await post(client, sms(simulation_mode=True, text=""))
    assert status == 400 and "text" in field_errors(answer)


async def test_request_id_duplicates_within_24_hours(client):
    assert (await post(client, sms(metadata={"request_id": "order-42"})))[0] == 200
    status, answer = await post(client, sms(metadata={"request_id": "order-42"}))
    assert status == 400
    assert field_errors(answer)["request_id"]["code"] == 120
    assert (await post(client, sms(metadata={"request_id": "order-43"})))[0] == 200
    await advance(client, 24 * 3600 + 1)
    assert (await post(client, sms(metadata={"request_id": "order-42"})))[0] == 200
    assert len(await messages(client)) == 3


# -- opt-outs -------------------------------------------------------------------------------------
async def opt_out(client, phone):
    await post(client, sms(recipients=[{"phone_number": phone}]))
    response = await client.post("/_emulator/inbound", json={"phone": phone, "provider": "octopush", "text": "STOP"})
    assert response.status == 200 and (await response.json())["optout"] is True


async def test_opted_out_numbers_are_filtered_and_not_counted(client):
    await opt_out(client, "+33699999999")
    both = [{"phone_number": "+33699999999"}, {"phone_number": "+33611111111"}]
    status, answer = await post(client, sms(recipients=both))
    assert status == 200 and answer["number_of_contacts"] == 1
    assert answer["total_cost"] == pytest.approx(0.065)
    status, answer = await post(client, sms(recipients=both[:1]))
    assert status == 400 and answer["message"] == "[recipients] field does not contain any valid recipient."


async def test_transactional_campaign_may_keep_opted_out_numbers(client):
    await opt_out(client, "+33699999999")
    both = [{"phone_number": "+33699999999"}, {"phone_number": "+33611111111"}]
    _, answer = await post(client, sms(recipients=both, purpose="alert", optout_filtering=False))
    assert answer["number_of_contacts"] == 2
    _, answer = await post(client, sms(recipients=both, purpose="wholesale", text="Sale. STOP au XXXXX", optout_filtering=False))
    assert answer["number_of_contacts"] == 1
    _, answer = await post(client, sms(recipients=both, purpose="alert", optout_filtering=False, auto_delete_optout_contacts=True))
    assert answer["number_of_contacts"] == 1


# -- bad input never gets a 500 -------------------------------------------------------------------
@pytest.mark.parametrize("url", [SEND, CAMPAIGN])
@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{", b"[1,2]", b'"x"', b"null", b"\xff\xfe", b"[" * 100000, b'{"text": 1' + b"0" * 5000 + b"}",
     b'{"channel": "sms", "text": NaN, "recipients": [{"phone_number": Infinity}]}'],
)
async def test_unreadable_bodies_get_the_validation_shape(client, url, raw):
    response = await client.post(url, data=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 400
    answer = await response.json()
    assert answer["code"] == 400 and answer["message"] == VALIDATION and answer["errors"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"channel": ["sms"], "text": "x", "recipients": [{"phone_number": "+33611111111"}]}, "channel"),
        ({"channel": "live_chat", "text": "x", "recipients": [{"conversation_id": {"id": 5}}]}, "recipients"),
        ({"recipients": {"phone_number": "+33611111111"}, "text": True}, "text"),
    ],
)
async def test_wrong_types_of_required_fields_get_the_validation_shape(client, body, field):
    status, answer = await post(client, body)
    assert status == 400 and answer["message"] == VALIDATION and field in answer["errors"]


@pytest.mark.parametrize(
    "body,error",
    [
        ({"channel": "sms", "text": "x", "recipients": [None, 5, "x"]}, 2010),
        ({"channel": "email", "text": "x", "recipients": [{"email": ["a@b.co"]}]}, 2005),
    ],
)
async def test_recipients_that_cannot_be_read_reach_nobody(client, body, error):
    """Multichannel doc: "[recipients] field does not contain any valid recipient." / 2005."""
    status, answer = await post(client, body)
    assert status == 400 and answer["code"] == error


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "sms", "text": "x", "recipients": [{"phone_number": "+33611111111"}], "purpose": "alert", "metadata": {"type": {"x": []}}},
        {"channel": "sms", "text": "x", "recipients": [{"phone_number": "+33611111111"}], "purpose": "alert", "send_at": "2024-13-45T99:00:00"},
        {"channel": "rcs", "text": "x", "recipients": [{"phone_number": "+33611111111"}], "metadata": {"cards": [[[[]]]], "message_type": 1}},
    ],
)
async def test_wrong_types_of_optional_fields_are_ignored(client, body):
    """Multichannel doc, "How Our API Deals With Incorrect Data"."""
    status, answer = await post(client, body)
    assert status == 200, answer


async def test_huge_body_gets_the_validation_shape(client):
    body = b'{"channel": "sms", "text": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = await client.post(SEND, data=io.BytesIO(body), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["errors"] == {"payload": {"code": 413, "message": "The request body is too large."}}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("url", [SEND, CAMPAIGN])
async def test_wrong_method_on_sends(client, method, url):
    response = await client.request(method, url, headers=AUTH)
    assert response.status == 400
    assert (await response.json())["errors"]["method"]["code"] == 405


@pytest.mark.parametrize("url", [BALANCE, CREDITS])
async def test_wrong_method_on_wallet(client, url):
    response = await client.post(url, headers=AUTH, json={})
    assert response.status == 400 and "method" in (await response.json())["errors"]


async def test_any_content_type_is_read_as_json(client):
    response = await client.post(SEND, data=json.dumps(sms()), headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status == 200


async def test_rejections_are_journaled(client):
    await post(client, sms(text=""))
    requests = (await (await client.get("/_emulator/requests")).json())["requests"]
    assert requests[-1]["outcome"] == "rejected" and requests[-1]["error"] == "invalid_text"


# -- classic SMS campaign -------------------------------------------------------------------------------
SDK_EXAMPLE = {  # official PHP SDK, curl-examples/send-sms-campaign.php
    "recipients": [{"phone_number": "+33600000000", "param1": "John"}],
    "text": "Hello {param1}. STOP au XXXXX",
    "type": "sms_premium",
    "purpose": "wholesale",
    "sender": "SMS",
    "send_at": "2020-10-03T07:42:39-07:00",
    "with_replies": False,
}


async def test_sms_campaign_sdk_example(client):
    status, answer = await post(client, SDK_EXAMPLE, url=CAMPAIGN)
    assert status == 200
    assert set(answer) == {"sms_ticket", "number_of_contacts", "total_cost", "number_of_sms_needed", "residual_credit"}
    assert re.fullmatch(r"sms_[0-9a-f]{13}", answer["sms_ticket"])
    assert answer["number_of_contacts"] == 1 and answer["total_cost"] == pytest.approx(0.065)
    (stored,) = await messages(client)
    assert stored["text"] == "Hello John. STOP au XXXXX"
    assert stored["attempts"][0]["content"]["type"] == "sms_premium"


async def test_sms_campaign_rules(client):
    status, answer = await post(client, {**SDK_EXAMPLE, "text": "Hello"}, url=CAMPAIGN)
    assert (status, answer["code"]) == (400, 121)
    status, answer = await post(client, {**SDK_EXAMPLE, "type": "sms_gold", "sender": "S", "auto_remove_blacklisted_numbers": "x"}, url=CAMPAIGN)
    assert status == 200, answer  # unrecognised values are ignored (incorrect-data rule)
    status, answer = await post(client, {"text": "x"}, url=CAMPAIGN)
    assert set(field_errors(answer)) == {"recipients"}
    assert (await post(client, {**SDK_EXAMPLE, "request_id": "r1"}, url=CAMPAIGN))[0] == 200
    status, answer = await post(client, {**SDK_EXAMPLE, "request_id": "r1"}, url=CAMPAIGN)
    assert field_errors(answer)["request_id"]["code"] == 120


async def test_transactional_send_gets_exactly_200(client):
    body = {"channel": "sms", "text": "Your code 4242", "recipients": [{"phone_number": "+998901234567"}], "sender": "NewMsg",
            "purpose": "alert", "auto_optimize_text": True}
    status, _ = await post(client, body)
    assert status == 200
    listed = await (await client.get("/_emulator/messages", params={"phone": "+998901234567"})).json()
    assert listed["messages"][0]["otp"] == "4242"


# -- wallet --------------------------------------------------------------------------------------------
async def test_balance_shapes(client):
    response = await client.get(BALANCE, headers=AUTH)
    assert response.status == 200 and await response.json() == {"amount": 100.0, "unit": "euros"}
    answer = await (await client.get(BALANCE, params={"product_name": "sms_premium", "country_code": "FR"}, headers=AUTH)).json()
    assert answer == {"amount": int(100 / 0.065), "unit": "sms_premium"}
    answer = await (await client.get(BALANCE, params={"product_name": "vocal_sms", "country_code": "LU", "with_details": "1"}, headers=AUTH)).json()
    assert answer["amount"] == 2000 and answer["unit"] == "vocal_sms"
    (pack,) = answer["wallet_packs"]
    assert pack["credit"] == 100.0 and re.fullmatch(r"[0-9a-f-]{36}", pack["wallet_pack_id"])
    assert datetime.fromisoformat(pack["expiration_date"]).tzinfo is not None
    answer = await (await client.get(BALANCE, params={"with_details": "false"}, headers=AUTH)).json()
    assert "wallet_packs" not in answer


@pytest.mark.parametrize(
    "params,fields",
    [({"product_name": "sms_premium"}, {"country_code"}), ({"country_code": "FR"}, {"product_name"}),
     ({"product_name": "fax", "country_code": "FR"}, {"product_name"}), ({"product_name": "hlr", "country_code": "FRA"}, {"country_code"})],
)
async def test_balance_parameter_errors(client, params, fields):
    response = await client.get(BALANCE, params=params, headers=AUTH)
    assert response.status == 400
    assert set(field_errors(await response.json())) == fields


async def test_check_credits(client):
    response = await client.get(CREDITS + "?country_codes[]=FR&country_codes[]=es", headers=AUTH)
    assert response.status == 200
    answer = await response.json()
    assert list(answer) == ["FR", "ES"]
    assert answer["FR"] == {"premium_sms": 1538, "low_cost_sms": 1538, "vocal_sms": 2000, "hlr": 20000}
    for bad in ("", "?country_codes[]=France", "?other=1"):
        response = await client.get(CREDITS + bad, headers=AUTH)
        assert response.status == 400 and "country_codes" in (await response.json())["errors"]


# -- lifecycle -------------------------------------------------------------------------------------------
async def test_each_recipient_is_one_message_with_the_ticket(client):
    _, answer = await post(client, sms(recipients=[{"phone_number": "+33611111111"}, {"phone_number": "+33622222222"}], list_name="Clients"))
    stored = await messages(client)
    assert [m["provider_id"] for m in stored] == [f"{answer['sms_ticket']}-1", f"{answer['sms_ticket']}-2"]
    assert all(m["meta"]["ticket"] == answer["sms_ticket"] and m["status"] == "accepted" for m in stored)
    await advance(client, 10)
    assert {m["status"] for m in await messages(client)} == {"delivered"}


async def test_send_at_schedules_the_message(client):
    now = (await (await client.get("/_emulator/clock")).json())["now"]
    later = datetime.fromtimestamp(now + 3600, timezone.utc).isoformat(timespec="seconds")
    await post(client, sms(send_at=later))
    (stored,) = await messages(client)
    await advance(client, 600)
    assert (await messages(client))[0]["status"] == "accepted"
    await advance(client, 3010)
    assert (await messages(client))[0]["status"] == "delivered"


# -- callbacks -------------------------------------------------------------------------------------------
async def set_callbacks(client, **credentials):
    response = await client.patch("/_emulator/accounts/octopush", json={"credentials": credentials})
    assert response.status == 200


async def test_sms_delivery_reports(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    _, answer = await post(client, sms(list_name="Clients"))
    await advance(client, 10)
    bodies = [r["body"] for r in received]
    assert [b["status"] for b in bodies] == ["ACK", "DELIVERED"]
    report = bodies[-1]
    assert set(report) == {"channel", "message_id", "list_name", "number", "status", "unit_price", "delivery_date", "meta_data"}
    assert report["channel"] == "sms" and report["message_id"] == answer["sms_ticket"]
    assert report["number"] == "+33611111111" and report["list_name"] == "Clients"
    assert report["unit_price"] == pytest.approx(0.065) and report["meta_data"] == {}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", report["delivery_date"])


async def test_no_callback_url_no_callbacks(client):
    await post(client, sms())
    await advance(client, 10)
    assert (await (await client.get("/_emulator/callbacks", params={"provider": "octopush"})).json())["count"] == 0


async def test_the_deliveries_url_wins_over_the_general_one(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url("general"), callback_url_for_deliveries=url("deliveries"))
    await post(client, sms())
    await advance(client, 10)
    assert {r["path"] for r in received} == {"/deliveries"}


@pytest.mark.parametrize(
    "phone,statuses",
    [("+33600000003", ["ACK", "NOT_DELIVERED"]), ("+33600000004", ["ACK", "UNKNOWN_DELIVERY"]),
     ("+33600000005", ["BAD_DESTINATION"]), ("+33600000006", ["BLACKLISTED_NUMBER"]),
     ("+33600000007", ["ACK", "DELIVERED", "READ"]), ("+33600000010", ["NOT_ALLOWED"])],
)
async def test_magic_outcomes_reach_the_callback(client, receiver, phone, statuses):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    assert (await post(client, sms(recipients=[{"phone_number": phone}])))[0] == 200
    await advance(client, 120)
    assert [r["body"]["status"] for r in received] == statuses


@pytest.mark.parametrize("phone,key", [("+33600000001", "no_valid_recipient"), ("+33600000002", "insufficient_balance")])
async def test_magic_errors(client, phone, key):
    recipients = [{"phone_number": "+33611111111"}, {"phone_number": phone}]
    status, answer = await post(client, sms(recipients=recipients))
    assert status == 400
    assert answer["code"] == {"no_valid_recipient": 2010, "insufficient_balance": 104}[key]
    assert await messages(client) == []
    magic = await (await client.get("/_emulator/magic", params={"provider": "octopush"})).json()
    assert magic["count"] >= 10


async def test_voice_report_carries_call_metadata(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    body = seed_examples()["voice_sms"]
    body["recipients"] = body["recipients"][:1]
    _, answer = await post(client, body)
    await advance(client, 10)
    report = received[-1]["body"]
    assert report["channel"] == "voice_sms" and report["message_id"] == answer["ticket_number"]
    assert report["status"] == "DELIVERED"
    assert report["meta_data"] == {"pressed_keys_code": "", "call_duration": 30, "charged_duration": 30}


async def test_email_report_lists_deliveries(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    body = {"channel": "email", "text": "Hi", "recipients": [{"email": "Ann@Example.com"}], "list_name": "L",
            "metadata": {"template_name": "welcome", "subject": "Hello"}}
    _, answer = await post(client, body)
    await advance(client, 10)
    report = received[-1]["body"]
    assert report["channel"] == "email" and report["message_id"] == answer["ticket_number"]
    assert report["meta_data"] == {"template_name": "welcome"}
    (delivery,) = report["deliveries"]
    assert delivery["email"] == "ann@example.com" and delivery["status"] == "DELIVERED"
    assert [h["status"] for h in delivery["status_history"]] == ["TRANSMITTED"]


async def test_email_magic_bounce(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    await post(client, {"channel": "email", "text": "Hi", "recipients": [{"email": "bounce@msgemu.local"}]})
    await advance(client, 10)
    assert received[-1]["body"]["deliveries"][0]["status"] == "NOT_DELIVERED"


async def test_live_chat_sends_no_delivery_report(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url())
    await post(client, seed_examples()["live_chat"])
    await advance(client, 10)
    assert received == []
    assert {m["status"] for m in await messages(client)} == {"delivered"}


async def test_reply_callback(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url(), callback_url_for_inbounds=url("inbounds"))
    _, answer = await post(client, sms(recipients=[{"phone_number": "+33600000009"}]))
    await advance(client, 10)
    (inbound,) = [r for r in received if r["path"] == "/inbounds"]
    assert set(inbound["body"]) == {"message_id", "number", "text", "sim_card_number", "reception_date"}
    assert inbound["body"]["message_id"] == answer["sms_ticket"]
    assert inbound["body"]["number"] == "+33600000009" and inbound["body"]["text"] == "Yes, confirmed"


async def test_stop_reply_opts_out_and_calls_back(client, receiver):
    received, url = receiver
    await set_callbacks(client, callback_url=url(), callback_url_for_blacklisted_numbers=url("stop"))
    _, answer = await post(client, sms(recipients=[{"phone_number": "+33600000008"}]))
    await advance(client, 10)
    (stop,) = [r["body"] for r in received if r["path"] == "/stop"]
    assert stop["message_id"] == answer["sms_ticket"] and stop["number"] == "+33600000008"
    assert stop["text"] == "STOP" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stop["stop_date"])
    status, answer = await post(client, sms(recipients=[{"phone_number": "+33600000008"}]))
    assert status == 400 and answer["code"] == 2010
