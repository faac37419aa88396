"""Which scenario rule decided each message: `rule` on /_emulator/messages is the user scenario's
rule ({source, index, name}), a magic recipient's (plus the recipient), or null when no rule
matched and the default plan applied. Over real HTTP, answers checked against the OpenAPI file."""
from __future__ import annotations

from .conftest import advance
from .test_openapi import check

URL = "/alphasms/api/json.php"
SCENARIO = """
name: rules shown
rules:
  - name: not this one
    match: {text_regex: "never matches"}
    reply: {error: invalid_text}
  - name: slow delivery for promos
    match: {text_regex: "promo"}
    deliver:
      sms: [{after: 5, status: sent}, {after: 60, status: delivered}]
"""


def sms(phone, id, text):
    return {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": text}


async def send(client, *items):
    response = await client.post(URL, json={"auth": "alphasms-demo-key", "data": list(items)})
    assert response.status == 200, await response.text()


async def by_phone(client, phone):
    body = await check(await client.get("/_emulator/messages", params={"phone": phone}), "/_emulator/messages")
    (message,) = body["messages"]
    return message


async def test_each_message_names_the_rule_that_decided_it(client):
    loaded = await client.put("/_emulator/scenario", data=SCENARIO, headers={"Content-Type": "application/yaml"})
    assert loaded.status == 200, await loaded.text()
    await send(client, sms(380971000001, 1, "promo: -20% today"), sms(380971000002, 2, "Code 4321"), sms(380000000003, 3, "magic"))

    assert (await by_phone(client, "380971000001"))["rule"] == {
        "source": "<PUT /_emulator/scenario>", "index": 1, "name": "slow delivery for promos"}
    assert (await by_phone(client, "380971000002"))["rule"] is None  # no rule: the default plan
    magic = (await by_phone(client, "380000000003"))["rule"]
    assert magic["source"] == "magic/alphasms.yaml" and magic["recipient"] == "380000000003" and magic["name"]

    # the rule stays with the message through its lifecycle, and in its detail
    await advance(client, 10)
    promo = await by_phone(client, "380971000001")
    assert promo["status"] == "sent"  # the scenario's plan, not the default one
    detail = await check(await client.get(f"/_emulator/messages/{promo['id']}"), "/_emulator/messages/{id}")
    assert detail["rule"]["name"] == "slow delivery for promos"


async def test_the_same_origin_as_a_rejected_requests_reason(client):
    """One helper writes both: a refused request's reason.scenario and an accepted message's rule."""
    await send(client, sms(380000000001, 1, "refused by magic"))
    await send(client, sms(380000000003, 2, "accepted by magic"))
    refused = (await (await client.get("/_emulator/requests", params={"outcome": "rejected"})).json())["requests"]
    assert refused[-1]["reason"]["scenario"] == {
        "source": "magic/alphasms.yaml", "index": 0, "name": "alphasms invalid phone", "recipient": "380000000001"}
    assert (await by_phone(client, "380000000003"))["rule"] == {
        "source": "magic/alphasms.yaml", "index": 2, "name": "alphasms undelivered on every channel", "recipient": "380000000003"}
