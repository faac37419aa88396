"""A control API that lets no one in: the token off loopback (provider endpoints stay open),
no cross-site state changes, no DNS rebinding; and the built-in receiver is bounded."""
from __future__ import annotations

import socket

import pytest

from emulator.app import build_app
from emulator.control.received import ReceivedCalls
from emulator.runtime import RUNTIME_KEY, Runtime
from emulator.settings import Settings

from .test_callbacks_outage import advance
from .test_control import send, sms

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def exposed(aiohttp_client):
    """Bound off loopback (--host 0.0.0.0) with a token; served here on 127.0.0.1:port."""
    port = free_port()
    settings = Settings(host="0.0.0.0", port=port, control_token=TOKEN, clock="manual", watch_scenario=False)
    return await aiohttp_client(build_app(settings), server_kwargs={"port": port})


@pytest.fixture
async def local(aiohttp_client):
    return await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, callback_loopback_only=True)))


CONTROL_PATHS = [("GET", "/_emulator/messages"), ("POST", "/_emulator/reset"), ("GET", "/_emulator/ui"),
                 ("GET", "/_emulator/ui/static/inbox.js"), ("GET", "/_emulator/stream"),
                 ("POST", "/_emulator/receiver/x"), ("GET", "/_emulator/receiver/x")]


async def test_off_loopback_every_control_path_needs_the_token(exposed):
    for method, path in CONTROL_PATHS:
        refused = await exposed.request(method, path, json={})
        assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer"), path
        wrong = await exposed.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401, path
        if path != "/_emulator/stream":
            assert (await exposed.request(method, path, json={}, headers=BEARER)).status in (200, 202), path


async def test_off_loopback_providers_and_health_need_no_token(exposed):
    answer = await send(exposed, sms(id=1))
    assert answer["success"] is True
    assert (await exposed.get("/_emulator/health")).status == 200


async def test_the_inbox_page_takes_the_token_once_and_keeps_it_in_a_cookie(exposed):
    assert (await exposed.get("/_emulator/ui", params={"token": "nope"}, allow_redirects=False)).status == 401
    opened = await exposed.get("/_emulator/ui", params={"token": TOKEN}, allow_redirects=False)
    assert opened.status == 303 and opened.headers["Location"] == "/_emulator/ui"
    cookie = opened.cookies["msgemu_token"]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    jar = {"Cookie": f"msgemu_token={TOKEN}"}
    assert (await exposed.get("/_emulator/ui", headers=jar)).status == 200
    assert (await exposed.get("/_emulator/ui/static/inbox.js", headers=jar)).status == 200
    assert (await exposed.get("/_emulator/messages", headers=jar)).status == 200


async def test_callbacks_to_the_own_receiver_carry_the_token(exposed):
    port = exposed.server.port
    await send(exposed, sms(id=5, hook=f"http://127.0.0.1:{port}/_emulator/receiver/own"))
    await (await exposed.post("/_emulator/clock/advance", json={"seconds": 5}, headers=BEARER)).json()
    got = await (await exposed.get("/_emulator/receiver/own", headers=BEARER)).json()
    assert [c["answered"] for c in got["calls"]] == [200, 200]
    assert got["calls"][0]["headers"]["Authorization"] == "Bearer <control token>"  # redacted


def test_a_token_is_generated_and_printed_when_none_is_given(capsys):
    settings = Settings(host="0.0.0.0", clock="manual", watch_scenario=False)
    Runtime(settings)
    assert len(settings.control_token) >= 24
    assert settings.control_token in capsys.readouterr().err
    quiet = Settings(clock="manual", watch_scenario=False)
    Runtime(quiet)
    assert quiet.control_token == "" and capsys.readouterr().err == ""
    from_env = Settings.load({"host": "10.0.0.1"}, env={"MSGEMU_CONTROL_TOKEN": "from-env"})
    assert from_env.control_token == "from-env"


async def test_a_text_plain_post_from_a_web_page_cannot_reset(local):
    await send(local, sms(id=1))
    forged = await local.post("/_emulator/reset", data="x", headers={"Content-Type": "text/plain"})
    assert forged.status == 403
    form = await local.post("/_emulator/clock/advance", data={"seconds": "5"})
    assert form.status == 403
    assert (await (await local.get("/_emulator/messages")).json())["count"] == 1  # nothing reset
    assert (await local.post("/_emulator/reset", data="x", headers={"Content-Type": "text/plain", "X-Msgemu-Request": "1"})).status == 200
    assert (await local.post("/_emulator/reset", skip_auto_headers=["Content-Type"])).status == 200  # curl -X POST


async def test_cross_site_state_changes_are_refused_same_origin_ones_pass(local):
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        assert (await local.post("/_emulator/reset", json={}, headers=headers)).status == 403, headers
        assert (await local.put("/_emulator/scenario", data="name: x\nrules: []\n", headers=headers)).status == 403, headers
    origin = f"http://{local.server.host}:{local.server.port}"
    assert (await local.post("/_emulator/reset", json={}, headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})).status == 200


async def test_a_rebinding_host_name_is_refused(local):
    port = local.server.port
    assert (await local.get("/_emulator/messages", headers={"Host": f"evil.example:{port}"})).status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert (await local.get("/_emulator/messages", headers={"Host": host})).status == 200
    assert (await send(local, sms(id=9)))["success"] is True  # providers do not care


async def test_allowed_hosts_add_served_names(aiohttp_client):
    client = await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, allowed_hosts=["msgemu"])))
    assert (await client.get("/_emulator/messages", headers={"Host": "msgemu:8080"})).status == 200


# -- the built-in receiver is bounded ------------------------------------------------------------
async def test_large_bodies_are_kept_truncated_with_their_size(local):
    body = b"x" * (200 * 1024)
    assert (await local.post("/_emulator/receiver/big", data=body)).status == 200
    [call] = (await (await local.get("/_emulator/receiver/big")).json())["calls"]
    assert call["body_size"] == len(body) and call["truncated"] is True and len(call["body"]) == 64 * 1024


async def test_the_receiver_evicts_the_oldest_calls_and_names(local):
    runtime = local.app[RUNTIME_KEY]
    runtime.received = ReceivedCalls(max_names=2, per_name=3, max_bytes=4000)
    for i in range(5):
        await local.post("/_emulator/receiver/a", data=f"a{i}")
    got = await (await local.get("/_emulator/receiver/a")).json()
    assert [c["body"] for c in got["calls"]] == ["a2", "a3", "a4"] and got["calls"][-1]["n"] == 5
    await local.post("/_emulator/receiver/b", data="b")
    await local.post("/_emulator/receiver/c", data="c")  # a third name: the least recently used goes
    assert (await (await local.get("/_emulator/receiver/a")).json())["count"] == 0
    await local.post("/_emulator/receiver/c", data="y" * 3000)  # over the bytes: oldest calls go
    kept = (await (await local.get("/_emulator/receiver/c")).json())["kept"]
    assert kept["bytes"] <= 4000 and kept["evicted"] >= 4


def test_received_calls_stay_bounded_under_many_calls():
    received = ReceivedCalls(max_names=3, per_name=10, max_bytes=10_000)
    for i in range(20_000):
        received.record(f"n{i % 5}", {"n": i, "method": "POST", "query": "", "headers": {}, "body": "z" * (i % 50)})
    stats = received.stats()
    assert stats["names"] <= 3 and stats["calls"] <= 30 and stats["bytes"] <= 10_000
    assert len(received._order) <= 2 * stats["calls"] + 64
