"""Verification over real HTTP: /_emulator/requests and /_emulator/messages filtered by text
regex, body JSON path, header, time range, provider, status, channel; and their /count."""
from __future__ import annotations

import pytest

from emulator.control import regex
from emulator.control.filters import FilterError, parse_path

from .conftest import advance
from .sends import send

VIBER = {"type": "viber", "viber_type": "text", "viber_signature": "Shop", "viber_message": "Viber hello 55"}


@pytest.fixture
async def journal(client):
    """A small journal: three providers, a rejected call, a viber message, then time moves on."""
    await send(client, "alphasms", "380971111111", text="Your code is 482913. Support: 0800 123 456")
    await send(client, "smsc", "79001112233", text="Kod: 5521")
    await client.post("/alphasms/api/json.php", json={"auth": "wrong", "data": [{"type": "balance"}]})
    await client.post("/alphasms/api/json.php", json={"auth": "alphasms-demo-key", "data": [{**VIBER, "id": 9, "phone": 380972222222}]})
    clock = await advance(client, 60)
    await send(client, "octopush", "+33612345678", text="Votre code: 7788")
    return clock["now"]


async def get(client, path, params, status=200):
    response = await client.get(path, params=params)
    assert response.status == status, await response.text()
    return await response.json()


async def test_messages_by_text_regex(client, journal):
    body = await get(client, "/_emulator/messages", {"text": r"(?i)^votre code: \d{4}$"})
    assert [m["recipient"] for m in body["messages"]] == ["+33612345678"]
    assert (await get(client, "/_emulator/messages/count", {"text": "code"}))["count"] == 2
    assert (await get(client, "/_emulator/messages/count", {"text": "nothing like this"}))["count"] == 0


async def test_messages_by_json_path_and_channel_and_status(client, journal):
    viber = await get(client, "/_emulator/messages", {"json": "attempts[*].channel=viber"})
    assert [m["recipient"] for m in viber["messages"]] == ["380972222222"]
    assert (await get(client, "/_emulator/messages/count", {"json": "client_ref=9"}))["count"] == 1
    assert (await get(client, "/_emulator/messages/count", {"json": "attempts[0].content.text"}))["count"] == 4
    delivered = await get(client, "/_emulator/messages/count", {"status": "delivered", "provider": "alphasms"})
    assert delivered["count"] == 2


async def test_messages_by_header_of_the_request_that_created_them(client, journal):
    body = await get(client, "/_emulator/messages", {"header": "api-login:^demo@"})
    assert [m["provider"] for m in body["messages"]] == ["octopush"]
    assert (await get(client, "/_emulator/messages/count", {"header": "API-KEY"}))["count"] == 1


async def test_time_range_in_epoch_seconds_and_iso_8601(client, journal):
    now = journal
    late = await get(client, "/_emulator/messages", {"since": str(now)})
    assert [m["provider"] for m in late["messages"]] == ["octopush"]
    early = await get(client, "/_emulator/messages/count", {"until": str(now)})
    assert early["count"] == 3
    from datetime import datetime, timezone

    second_before = datetime.fromtimestamp(int(now) - 1, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await get(client, "/_emulator/messages/count", {"since": second_before}))["count"] == 1
    assert (await get(client, "/_emulator/messages/count", {"since": second_before.replace("Z", "+03:00")}))["count"] == 4


async def test_requests_by_text_json_path_header_status_and_channel(client, journal):
    assert (await get(client, "/_emulator/requests/count", {}))["count"] == 5
    by_text = await get(client, "/_emulator/requests", {"text": r"Kod: \d+"})
    assert [r["provider"] for r in by_text["requests"]] == ["smsc"]
    # a JSON body, by path; a form body, by field
    by_phone = await get(client, "/_emulator/requests", {"json": "data[0].phone=380971111111"})
    assert len(by_phone["requests"]) == 1 and by_phone["requests"][0]["outcome"] == "accepted"
    assert (await get(client, "/_emulator/requests/count", {"json": "data[*].type=viber"}))["count"] == 1
    assert (await get(client, "/_emulator/requests/count", {"json": "phones=79001112233"}))["count"] == 1
    assert (await get(client, "/_emulator/requests/count", {"json": ["auth=wrong", "data[0].type=balance"]}))["count"] == 1
    assert (await get(client, "/_emulator/requests/count", {"header": "content-type:json"}))["count"] == 4
    assert (await get(client, "/_emulator/requests/count", {"status": "2xx", "provider": "alphasms"}))["count"] == 3
    assert (await get(client, "/_emulator/requests/count", {"outcome": "rejected"}))["count"] == 1
    assert (await get(client, "/_emulator/requests/count", {"channel": "viber"}))["count"] == 1
    viber = (await get(client, "/_emulator/messages", {"channel": "viber"}))["messages"][0]
    origin = await get(client, "/_emulator/requests", {"message_id": viber["id"]})
    assert [r["message_ids"] for r in origin["requests"]] == [[viber["id"]]]


async def test_optouts_list_stop_replies(client):
    await send(client, "alphasms", "380975555555")
    await client.post("/_emulator/inbound", json={"phone": "380975555555", "text": "STOP"})
    body = await get(client, "/_emulator/optouts", {})
    assert body["optouts"] == [{"provider": "alphasms", "account": body["optouts"][0]["account"], "recipient": "380975555555"}]


async def test_limit_keeps_the_newest_but_count_is_the_whole_match(client, journal):
    body = await get(client, "/_emulator/requests", {"provider": "alphasms", "limit": "1"})
    assert body["count"] == 3 and len(body["requests"]) == 1
    assert "viber" in body["requests"][0]["body"]


@pytest.mark.parametrize(
    "path,params,parameter",
    [
        ("/_emulator/requests", {"text": "(unclosed"}, "text"),
        ("/_emulator/messages/count", {"text": "x" * 300}, "text"),
        ("/_emulator/requests/count", {"json": "data[0"}, "json"),
        ("/_emulator/requests/count", {"json": ".a"}, "json"),
        ("/_emulator/messages", {"json": ".".join(["a"] * 20)}, "json"),
        ("/_emulator/requests", {"header": ":x"}, "header"),
        ("/_emulator/requests", {"since": "yesterday"}, "since"),
        ("/_emulator/messages/count", {"until": "2026-13-45"}, "until"),
        ("/_emulator/requests/count", {"status": "abc"}, "status"),
    ],
)
async def test_unreadable_filters_get_a_400_naming_the_parameter(client, path, params, parameter):
    body = await get(client, path, params, status=400)
    assert body["parameter"] == parameter and body["problem"]


def test_json_paths():
    assert parse_path("data[0].phone") == ["data", 0, "phone"]
    assert parse_path("[2]")[0] == 2
    with pytest.raises(FilterError):
        parse_path("data..phone")


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)*b", r"(\w)\1", r"(?=x)y", r"a*b*c*d", r"(x*)*"])
def test_without_re2_only_a_safe_subset_of_re_is_accepted(pattern):
    with pytest.raises(regex.PatternError):
        regex.compile_search(pattern, engine="re")


@pytest.mark.parametrize("pattern,text", [(r"(?i)code:? \d{4,8}", "Your CODE 482913"), (r"^\+33\d+$", "+33612345678"), (r"a.*z", "a---z")])
def test_safe_patterns_match_with_either_engine(pattern, text):
    assert regex.compile_search(pattern, engine="re")(text)
    assert regex.compile_search(pattern)(text)


async def test_random_filters_answer_200_or_a_400_never_a_500(client, journal):
    from .garbage import Garbage

    values = ["(a+)+$", "data[*].phone=1", "[0]", "a.b.c", "x:(", "4xx", "1e309", "nan", "\\"]
    names = ["text", "json", "header", "since", "until", "status", "channel", "message_id"]
    garbage = Garbage("verification filters")
    paths = ["/_emulator/requests", "/_emulator/requests/count", "/_emulator/messages", "/_emulator/messages/count"]
    for number in range(160):  # every (path, first filter) pair 5 times, with other filters after it
        path, first = paths[number % 4], names[number // 4 % len(names)]
        query = [(name, garbage.text_or(values, 40)) for name in [first] + [garbage.rng.choice(names) for _ in range(garbage.size(3))]]
        response = await client.get(path, params=query)
        assert response.status in (200, 400), (number, path, query, response.status, await response.text())
        body = await response.json()
        assert "count" in body if response.status == 200 else body["error"]
