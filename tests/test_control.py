"""The /_emulator control API over real HTTP."""
from __future__ import annotations

import asyncio

import pytest

from emulator.app import build_app
from emulator.settings import Settings

from .conftest import advance

URL = "/alphasms/api/json.php"
KEY = "alphasms-demo-key"


def sms(phone=380971234567, id=1, text="Your code is 4321", hook=None):
    item = {"type": "sms", "id": id, "phone": phone, "sms_signature": "Shop", "sms_message": text}
    if hook:
        item["hook"] = hook
    return item


async def send(client, *items):
    return await (await client.post(URL, json={"auth": KEY, "data": list(items)})).json()


async def test_health(client):
    body = await (await client.get("/_emulator/health")).json()
    assert body["status"] == "ok" and body["clock"]["mode"] == "manual"
    assert "alphasms" in body["providers"]


async def test_messages_filters(client):
    await send(client, sms(phone=380971111111, id=1), sms(phone=380972222222, id=2))
    await advance(client, 5)
    await send(client, sms(phone=380971111111, id=3))
    by_phone = await (await client.get("/_emulator/messages", params={"phone": "+380971111111"})).json()
    assert by_phone["count"] == 2
    delivered = await (await client.get("/_emulator/messages", params={"status": "delivered"})).json()
    assert sorted(m["client_ref"] for m in delivered["messages"]) == ["1", "2"]
    by_channel = await (await client.get("/_emulator/messages", params={"channel": "viber"})).json()
    assert by_channel["count"] == 0
    bad = await client.get("/_emulator/messages", params={"status": "nope"})
    assert bad.status == 400


async def test_message_detail_with_history(client):
    await send(client, sms())
    await advance(client, 5)
    listed = await (await client.get("/_emulator/messages")).json()
    detail = await (await client.get(f"/_emulator/messages/{listed['messages'][0]['id']}")).json()
    assert [e["status"] for e in detail["events"]] == ["accepted", "queued", "sent", "delivered"]
    assert detail["attempts"][0]["history"][-1]["status"] == "delivered"
    assert (await client.get("/_emulator/messages/nope")).status == 404


async def test_requests_journal_keeps_rejected_ones_with_their_response(client):
    await client.post(URL, json={"auth": "wrong", "data": [sms()]})
    await send(client, sms())
    journal = await (await client.get("/_emulator/requests")).json()
    first, second = journal["requests"]
    assert first["outcome"] == "rejected" and first["error"] == "access_denied"
    assert first["response"] == '{"success":false,"error":"Access denied"}'
    assert '"auth": "wrong"' in first["body"]
    assert second["outcome"] == "accepted" and len(second["message_ids"]) == 1
    only_rejected = await (await client.get("/_emulator/requests", params={"outcome": "rejected"})).json()
    assert only_rejected["count"] == 1


async def test_the_journal_keeps_its_headers_by_lower_case_name_however_each_request_spells_them(client):
    """Header names are remembered as clients spell them: a new spelling of a kept header is
    journaled under its lower-case name, and a header the journal leaves out stays out."""
    spellings = [{"User-Agent": "first", "X-Trace": "t1"}, {"USER-AGENT": "second", "x-trace": "t2"},
                 {"user-agent": "third", "Api-Key": "k3"}, {"User-Agent": "fourth", "Api-Key": "k4"}]
    for headers in spellings:
        await client.post(URL, json={"auth": "wrong", "data": [sms()]}, headers=headers)
    records = (await (await client.get("/_emulator/requests")).json())["requests"]
    kept = [{k: v for k, v in r["headers"].items() if k != "content-type" and k != "content-length"} for r in records]
    assert kept == [{"user-agent": "first"}, {"user-agent": "second"}, {"user-agent": "third", "api-key": "k3"},
                    {"user-agent": "fourth", "api-key": "k4"}]


async def test_reset_forgets_everything_and_restores_accounts(client):
    await client.patch("/_emulator/accounts/alphasms", json={"balance": 5})
    await send(client, sms())
    assert (await client.post("/_emulator/reset")).status == 200
    assert (await (await client.get("/_emulator/messages")).json())["count"] == 0
    assert (await (await client.get("/_emulator/requests")).json())["count"] == 0
    balance = await send(client, {"type": "balance"})
    assert balance["data"][0]["data"]["amount"] == 100.0


async def test_patch_account_balance_and_credentials(client):
    response = await client.patch("/_emulator/accounts/alphasms", json={"balance": 12.5, "credentials": {"api_key": "new-key"}})
    assert response.status == 200
    assert (await response.json())["balance"] == 12.5
    old = await send(client, {"type": "balance"})
    assert old == {"success": False, "error": "Access denied"}
    new = await (await client.post(URL, json={"auth": "new-key", "data": [{"type": "balance"}]})).json()
    assert new["data"][0]["data"]["amount"] == 12.5


@pytest.mark.parametrize(
    "body,status",
    [({"balance": "lots"}, 400), ({"balance": True}, 400), ({"nope": 1}, 400), ([1], 400), ({"credentials": {"a": 1}}, 400), ({"login": "ghost"}, 404)],
)
async def test_patch_account_rejects_bad_input(client, body, status):
    assert (await client.patch("/_emulator/accounts/alphasms", json=body)).status == status


async def test_patch_unknown_provider_and_bad_json(client):
    assert (await client.patch("/_emulator/accounts/nope", json={"balance": 1})).status == 404
    assert (await client.patch("/_emulator/accounts/alphasms", data=b"{")).status == 400


async def test_clock_advance_validation(client):
    for body in ({"seconds": -1}, {"seconds": "5"}, {}, [1], {"seconds": True}):
        assert (await client.post("/_emulator/clock/advance", json=body)).status == 400
    before = (await (await client.get("/_emulator/clock")).json())["now"]
    after = await advance(client, 60)
    assert after["now"] == pytest.approx(before + 60)


async def test_wait_returns_the_otp_of_a_message_sent_later(client):
    async def later():
        await asyncio.sleep(0.2)
        await send(client, sms(phone=380931234567, text="Your code is 908172"))

    task = asyncio.create_task(later())
    response = await client.get("/_emulator/messages/wait", params={"phone": "380931234567", "timeout": "5"})
    await task
    body = await response.json()
    assert response.status == 200 and body["otp"] == "908172"


async def test_wait_times_out_with_404(client):
    response = await client.get("/_emulator/messages/wait", params={"phone": "380930000000", "timeout": "0.2"})
    assert response.status == 404
    assert (await client.get("/_emulator/messages/wait")).status == 400


async def test_wait_new_ignores_messages_already_there(client):
    await send(client, sms(phone=380931234567, text="old 1111"))
    response = await client.get("/_emulator/messages/wait", params={"phone": "380931234567", "timeout": "0.3", "new": "1"})
    assert response.status == 404


async def test_put_scenario_reports_problems_with_lines(client):
    bad = "rules:\n  - match: {provider: alphasms}\n    reply: {error: 5}\n"
    response = await client.put("/_emulator/scenario", data=bad)
    body = await response.json()
    assert response.status == 422
    assert body["problems"][0]["line"] == 3
    ok = await client.put("/_emulator/scenario", data="name: x\nrules: []\n")
    assert (await ok.json())["active"]["name"] == "x"
    assert (await (await client.delete("/_emulator/scenario")).json())["active"] is None


async def test_magic_table(client):
    body = await (await client.get("/_emulator/magic", params={"provider": "alphasms"})).json()
    recipients = {row["match"]["recipient"]: row for row in body["magic"]}
    assert recipients["380000000001"]["error"] == "invalid_phone"
    assert recipients["380000000003"]["deliver"]["*"][-1]["status"] == "undelivered"


async def test_alphasms_hook_receives_status_callbacks(client, aiohttp_server):
    from aiohttp import web

    got = []

    async def hook(request):
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = await aiohttp_server(app)
    await send(client, sms(id=77, hook=f"http://127.0.0.1:{receiver.port}/hook"))
    await advance(client, 5)
    assert [(g["id"], g["type"], g["status"]) for g in got] == [(77, "sms", "ENROUTE"), (77, "sms", "DELIVERED")]
    assert all(isinstance(g["msg_id"], int) for g in got)


async def test_inbound_endpoint(client):
    await send(client, sms())
    response = await client.post("/_emulator/inbound", json={"phone": "380971234567", "text": "hello"})
    assert response.status == 200
    assert (await client.post("/_emulator/inbound", json={"phone": "380000009999", "text": "x"})).status == 404
    assert (await client.post("/_emulator/inbound", json={"text": "x"})).status == 400


async def test_retention_cap_drops_the_oldest(aiohttp_client):
    client = await aiohttp_client(build_app(Settings(clock="manual", retention=3, watch_scenario=False)))
    for i in range(5):
        await send(client, sms(id=i))
    listed = await (await client.get("/_emulator/messages")).json()
    assert [m["client_ref"] for m in listed["messages"]] == ["2", "3", "4"]
    gone = await send(client, {"type": "status", "id": 0})
    assert gone["data"][0]["success"] is False
    assert len((await (await client.get("/_emulator/requests")).json())["requests"]) == 3


async def test_loopback_only_callbacks_are_journaled_not_sent(client):
    await send(client, sms(id=5, hook="https://example.org/webhook/url.php"))
    await advance(client, 5)
    attempts = (await (await client.get("/_emulator/callbacks")).json())["callbacks"]
    assert attempts and all(a["status"] is None and a["error"].startswith("not sent") for a in attempts)
    assert all(a["next_retry_in"] is None for a in attempts)
