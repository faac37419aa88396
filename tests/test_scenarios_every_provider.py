"""The ready scenarios apply to every provider, each answering in its own wire format."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import advance
from .sends import send

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PROVIDERS = ["alphasms", "octopush", "smsc", "hyber", "revicom"]


async def use(client, name):
    assert (await client.put("/_emulator/scenario", data=(SCENARIOS / name).read_text())).status == 200


async def messages(client, provider):
    return (await (await client.get("/_emulator/messages", params={"provider": provider})).json())["messages"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_plain_send_is_accepted_and_delivered(client, provider):
    response = await send(client, provider, "+380971234567" if provider != "smsc" else "+79001234567")
    assert response.status == 200, await response.text()
    await advance(client, 10)
    listed = await messages(client, provider)
    assert len(listed) == 1 and listed[0]["status"] == "delivered"
    assert listed[0]["otp"] == "123456"


EXPECTED_INVALID = {
    "alphasms": (200, "Invalid phone number"),
    "octopush": (400, "does not contain any valid recipient"),
    "smsc": (200, '"error_code":7'),
    "hyber": (400, "36024"),
    "revicom": (200, "4220"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_invalid_numbers_get_each_providers_error(client, provider):
    await use(client, "invalid-numbers.yaml")
    response = await send(client, provider, "+9991234567890")
    body = await response.text()
    status, fragment = EXPECTED_INVALID[provider]
    assert response.status == status and fragment.replace(" ", "") in body.replace(" ", ""), body
    assert await messages(client, provider) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_insufficient_balance_for_every_provider(client, provider):
    await use(client, "insufficient-balance.yaml")
    response = await send(client, provider, "+380971234567" if provider != "smsc" else "+79001234567")
    assert response.status < 500
    assert await messages(client, provider) == []
    journal = (await (await client.get("/_emulator/requests", params={"provider": provider})).json())["requests"]
    assert journal[-1]["error"] == "insufficient_balance" or journal[-1]["outcome"] == "rejected", journal[-1]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_outage_for_every_provider(client, provider):
    await use(client, "provider-outage-503.yaml")
    response = await send(client, provider, "+380971234567" if provider != "smsc" else "+79001234567")
    assert response.status == 503
    assert await messages(client, provider) == []
