"""`nth` counts a provider's requests from the moment the scenario is loaded, so a scenario
loaded after traffic still fires (and loading it again starts the count again)."""
from __future__ import annotations

import base64

HYBER = "/hyber/1000"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"demo:demo-password").decode()}
BODY = {"phone_number": 380961111111, "channels": ["sms"],
        "channel_options": {"sms": {"text": "Code 1234", "alpha_name": "GMSU", "ttl": 300}}}
SECOND_FAILS = """
rules:
  - name: the second request fails
    match: {provider: hyber, nth: 2}
    reply: {error: phone_incorrect}
"""


async def statuses(client, n: int) -> list[int]:
    return [(await client.post(HYBER, json=BODY, headers=AUTH)).status for _ in range(n)]


async def test_nth_counts_from_when_the_scenario_is_loaded(client):
    assert await statuses(client, 3) == [200, 200, 200]  # traffic before any scenario
    assert (await client.put("/_emulator/scenario", data=SECOND_FAILS)).status == 200
    assert await statuses(client, 3) == [200, 400, 200]
    assert (await client.put("/_emulator/scenario", data=SECOND_FAILS)).status == 200  # loaded again
    assert await statuses(client, 2) == [200, 400]
    journal = await (await client.get("/_emulator/requests", params={"outcome": "rejected"})).json()
    assert [r["reason"]["scenario"]["name"] for r in journal["requests"]] == ["the second request fails"] * 2


async def test_nth_counts_again_after_a_reset(client):
    assert (await client.put("/_emulator/scenario", data=SECOND_FAILS)).status == 200
    assert await statuses(client, 1) == [200]
    assert (await client.post("/_emulator/reset")).status == 200
    assert await statuses(client, 2) == [200, 400]
