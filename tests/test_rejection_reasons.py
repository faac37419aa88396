"""Why a request was refused, as /_emulator/requests tells it: for every provider a schema
violation, an auth failure, a rule beyond the schema, a magic recipient and a scenario rule each
journal their `reason`; unknown paths answer in the provider's own error shape and name the
nearest known path. All over real HTTP against one shared emulator."""
from __future__ import annotations

import base64

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from emulator.app import build_app
from emulator.settings import Settings

from .test_openapi import check

ALPHA = "/alphasms/api/json.php"
ALPHA_KEY = "alphasms-demo-key"
OCTO = "/octopush/v1/public/multi-channel/send"
OCTO_AUTH = {"api-login": "demo@msgemu.local", "api-key": "octopush-demo-key"}
SMSC = "/smsc/sys/send.php"
SMSC_AUTH = {"login": "demo", "psw": "demo-password", "fmt": "3"}
HYBER = "/hyber/1000"
HYBER_AUTH = {"Authorization": "Basic " + base64.b64encode(b"demo:demo-password").decode()}
REVI = "/revicom/api/v1/message"
REVI_AUTH = {"Authorization": "Basic revicom-demo-token"}

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCENARIO = """
name: reasons
rules:
  - name: not this one
    match: {provider: octopush, text_regex: "never matches this"}
    reply: {error: invalid_text}
  - name: refuse 'blocked' texts
    match: {text_regex: "blocked"}
    reply: {error: %s}
"""


def alpha_sms(phone=380971234567, id=1, **extra):
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": "Code 4321"}
    item.update(extra)
    return item


def octo_sms(phone="+33611111111", text="Your code is 123456", **extra):
    body = {"channel": "sms", "text": text, "recipients": [{"phone_number": phone}], "sender": "MyShop", "purpose": "alert"}
    body.update(extra)
    return body


def hyber_sms(phone=380961111111, text="Text for SMS", **extra):
    body = {"phone_number": phone, "channels": ["sms"],
            "channel_options": {"sms": {"text": text, "alpha_name": "GMSU", "ttl": 300}}}
    body.update(extra)
    return body


def revi_sms(destination="79161234567", content="Your code 1234", **extra):
    item = {"channelType": "SMS", "senderName": "sms_promo", "destination": destination, "content": content}
    item.update(extra)
    return item


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def emulator():
    settings = Settings(clock="manual", watch_scenario=False, callback_loopback_only=True)
    client = TestClient(TestServer(build_app(settings)))
    await client.start_server()
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def client(emulator):
    await emulator.post("/_emulator/reset")
    await emulator.delete("/_emulator/scenario")
    return emulator


async def last_request(client, provider: str) -> dict:
    answer = await (await client.get("/_emulator/requests", params={"provider": provider, "limit": "1"})).json()
    return answer["requests"][-1]


async def alphasms(client, data, auth=ALPHA_KEY):
    return await client.post(ALPHA, json={"auth": auth, "data": data})


async def octopush(client, body, headers=OCTO_AUTH):
    return await client.post(OCTO, json=body, headers=headers)


async def smsc(client, params, auth=SMSC_AUTH):
    return await client.get(SMSC, params={**auth, **params})


async def hyber(client, body, headers=HYBER_AUTH):
    return await client.post(HYBER, json=body, headers=headers)


async def revicom(client, items, headers=REVI_AUTH):
    return await client.post(REVI, json=items, headers=headers)


# (provider, how to send, expected outcome, expected reason fields)
CASES = {
    # -- AlphaSMS ---------------------------------------------------------------------------------
    "alphasms schema": ("alphasms", lambda c: alphasms(c, [alpha_sms(phone="12")]), "rejected",
                        {"key": "invalid_phone", "rule": "schema", "pointer": "/data/0/phone", "keyword": "pattern"}),
    "alphasms auth": ("alphasms", lambda c: alphasms(c, [alpha_sms()], auth="wrong"), "rejected",
                      {"key": "access_denied", "rule": "auth", "pointer": "/auth"}),
    "alphasms rules": ("alphasms", lambda c: alphasms(c, [alpha_sms(id=7), alpha_sms(id=7, phone=380971234568)]), "accepted",
                       {"key": "duplicate_id", "rule": "rules", "pointer": "/data/1/id"}),
    "alphasms magic": ("alphasms", lambda c: alphasms(c, [alpha_sms(phone=380000000001)]), "rejected",
                       {"key": "invalid_phone", "rule": "magic"}),
    # -- Octopush ---------------------------------------------------------------------------------
    "octopush schema": ("octopush", lambda c: octopush(c, {k: v for k, v in octo_sms().items() if k != "recipients"}), "rejected",
                        {"key": "invalid_recipients", "rule": "schema", "pointer": "/recipients", "keyword": "required"}),
    "octopush auth": ("octopush", lambda c: octopush(c, octo_sms(), headers={"api-login": "demo@msgemu.local", "api-key": "x"}),
                      "rejected", {"key": "unauthorized", "rule": "auth", "pointer": "api-login,api-key"}),
    "octopush rules": ("octopush", lambda c: octopush(c, octo_sms(purpose="advertisement", text="Sale today")), "rejected",
                       {"key": "stop_mention_missing", "rule": "rules"}),
    "octopush magic": ("octopush", lambda c: octopush(c, octo_sms(phone="+33600000001")), "rejected",
                       {"key": "no_valid_recipient", "rule": "magic"}),
    # -- SMSC ---------------------------------------------------------------------------------------
    "smsc schema": ("smsc", lambda c: smsc(c, {"phones": "79001234567", "mes": "Code 1234", "id": "abc"}), "rejected",
                    {"key": "params", "rule": "schema", "pointer": "id", "keyword": "pattern"}),
    "smsc auth": ("smsc", lambda c: smsc(c, {"phones": "79001234567", "mes": "Code 1234"}, auth={"login": "demo", "psw": "no", "fmt": "3"}),
                  "rejected", {"key": "auth", "rule": "auth", "pointer": "login,psw|apikey"}),
    "smsc rules": ("smsc", lambda c: smsc(c, {"phones": "79001234567", "mes": "x" * 1001}), "rejected",
                   {"key": "message_too_long", "rule": "rules", "pointer": "mes"}),
    "smsc magic": ("smsc", lambda c: smsc(c, {"phones": "79000000301", "mes": "Code 1234"}), "rejected",
                   {"key": "invalid_phone", "rule": "magic"}),
    # -- Hyber --------------------------------------------------------------------------------------
    "hyber schema": ("hyber", lambda c: hyber(c, hyber_sms(channels="sms")), "rejected",
                     {"key": "channels_incorrect", "rule": "schema", "pointer": "/channels", "keyword": "type"}),
    "hyber auth": ("hyber", lambda c: hyber(c, hyber_sms(), headers={"Authorization": "Basic bm86bm8="}), "rejected",
                   {"key": "unauthorized", "rule": "auth", "pointer": "Authorization"}),
    "hyber rules": ("hyber", lambda c: hyber(c, hyber_sms(text="Ж" * 336)), "rejected",
                    {"key": "text_incorrect", "rule": "rules", "pointer": "/channel_options/sms/text"}),
    "hyber magic": ("hyber", lambda c: hyber(c, hyber_sms(phone=380000000101)), "rejected",
                    {"key": "phone_incorrect", "rule": "magic"}),
    # -- Revicom ------------------------------------------------------------------------------------
    "revicom schema": ("revicom", lambda c: revicom(c, [revi_sms(), revi_sms(ttl="soon")]), "rejected",
                       {"key": "invalid_ttl", "rule": "schema", "pointer": "/1/ttl", "keyword": "type"}),
    "revicom auth": ("revicom", lambda c: revicom(c, [revi_sms()], headers={"Authorization": "Basic nope"}), "rejected",
                     {"key": "bad_credentials", "rule": "auth", "pointer": "Authorization"}),
    "revicom rules": ("revicom", lambda c: revicom(c, [revi_sms(localSendTime="2001-01-01 10:00:00")]), "rejected",
                      {"key": "invalid_send_time", "rule": "rules", "pointer": "/0/localSendTime"}),
    "revicom magic": ("revicom", lambda c: revicom(c, [revi_sms(destination="79000000201")]), "rejected",
                      {"key": "invalid_msisdn", "rule": "magic"}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_refusal_journals_the_rule_that_fired(client, case):
    provider, send, outcome, expected = CASES[case]
    response = await send(client)
    assert response.status < 500
    record = await last_request(client, provider)
    assert record["outcome"] == outcome, record
    reason = record["reason"]
    assert reason is not None, record
    assert {k: reason[k] for k in expected} == expected, reason
    if expected["rule"] == "schema":
        assert reason["detail"], reason  # the validator's own words
    if expected["rule"] == "magic":
        assert reason["scenario"]["source"] == f"magic/{provider}.yaml"
        assert reason["scenario"]["name"] and isinstance(reason["scenario"]["index"], int)
        assert reason["scenario"]["recipient"]


SCENARIO_SENDS = {
    "alphasms": ("invalid_phone", lambda c: alphasms(c, [alpha_sms(sms_message="you are blocked")])),
    "octopush": ("no_valid_recipient", lambda c: octopush(c, octo_sms(text="you are blocked"))),
    "smsc": ("invalid_phone", lambda c: smsc(c, {"phones": "79001234567", "mes": "you are blocked"})),
    "hyber": ("phone_incorrect", lambda c: hyber(c, hyber_sms(text="you are blocked"))),
    "revicom": ("invalid_msisdn", lambda c: revicom(c, [revi_sms(content="you are blocked")])),
}


@pytest.mark.parametrize("provider", list(SCENARIO_SENDS))
async def test_a_scenario_refusal_names_its_rule(client, provider):
    key, send = SCENARIO_SENDS[provider]
    loaded = await client.put("/_emulator/scenario", data=SCENARIO % key)
    assert loaded.status == 200, await loaded.text()
    response = await send(client)
    assert response.status < 500
    record = await last_request(client, provider)
    assert record["outcome"] == "rejected" and record["error"] == key
    assert record["reason"]["rule"] == "scenario" and record["reason"]["key"] == key
    assert record["reason"]["scenario"] == {"source": "<PUT /_emulator/scenario>", "index": 1, "name": "refuse 'blocked' texts"}


async def test_a_raw_scenario_reply_is_journaled_with_its_rule(client):
    scenario = "rules:\n  - name: teapot\n    match: {provider: hyber}\n    reply: {status: 418, body: short and stout}\n"
    assert (await client.put("/_emulator/scenario", data=scenario)).status == 200
    response = await hyber(client, hyber_sms())
    assert response.status == 418
    record = await last_request(client, "hyber")
    assert record["outcome"] == "scenario"
    assert record["reason"] == {"key": None, "rule": "scenario", "pointer": None, "keyword": None, "nearest_path": None,
                                "detail": None, "scenario": {"source": "<PUT /_emulator/scenario>", "index": 0, "name": "teapot"}}


async def test_accepted_requests_carry_no_reason(client):
    await octopush(client, octo_sms())
    record = await last_request(client, "octopush")
    assert record["outcome"] == "accepted" and record["reason"] is None


# -- unknown paths ----------------------------------------------------------------------------------
UNKNOWN = [
    # (path, status, body check, nearest known path)
    ("/octopush/v1/public/multi-channel/sendd", 404, lambda b: b == {"code": 404, "message": "Not found."},
     "/octopush/v1/public/multi-channel/send"),
    ("/revicom/api/v1/mesage", 404, lambda b: b == {"error": {"code": 4040, "msg": "Not Found"}}, "/revicom/api/v1/message"),
    ("/hyber/1000/api/dr/x", 404, lambda b: b == {"error_code": 36006, "error_text": "Resource not found"},
     "/hyber/{client_id}/api/dr/{message_id}/{kind}"),
    ("/alphasms/api/jsn.php", 200, lambda b: b == {"success": False, "error": "Unknown command"}, "/alphasms/api/json.php"),
    ("/smsc/sys/sendd.php", 200, lambda b: b == {"error": "parameters error", "error_code": 1}, "/smsc/sys/send.php"),
]


@pytest.mark.parametrize("path,status,body_ok,nearest", UNKNOWN)
async def test_unknown_paths_answer_in_the_provider_shape_with_the_nearest_path(client, path, status, body_ok, nearest):
    response = await client.post(path + ("?fmt=3" if path.startswith("/smsc") else ""), json={})
    assert response.status == status
    assert body_ok(await response.json(content_type=None))
    provider = path.split("/")[1]
    record = await last_request(client, provider)
    assert record["outcome"] == "rejected" and record["path"] == path
    reason = record["reason"]
    assert reason["rule"] == "route" and reason["pointer"] == path and reason["nearest_path"] == nearest


async def test_reasons_match_the_control_api_document(client):
    await client.get("/revicom/api/v1/nope")  # route
    await alphasms(client, [alpha_sms(phone="12")])  # schema
    await alphasms(client, [alpha_sms(phone=380000000001)])  # magic
    assert (await client.put("/_emulator/scenario", data=SCENARIO % "phone_incorrect")).status == 200
    await hyber(client, hyber_sms(text="blocked"))  # scenario
    body = await check(await client.get("/_emulator/requests"), "/_emulator/requests")
    assert [r["reason"]["rule"] for r in body["requests"]] == ["route", "schema", "magic", "scenario"]


async def test_a_very_long_unknown_path_is_answered_quickly_in_shape(client):
    path = "/revicom/api/v1/" + "x" * 7000
    response = await client.get(path)
    assert response.status == 404 and await response.json() == {"error": {"code": 4040, "msg": "Not Found"}}
    record = await last_request(client, "revicom")
    assert record["reason"]["rule"] == "route" and record["reason"]["nearest_path"].startswith("/revicom/api/v1/")
