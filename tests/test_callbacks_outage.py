"""Callbacks survive outages: a real receiver that is down (its port closed) and then up again
gets every callback afterwards, in order per message, each once; the provider's ladder spans
hours (made instant by the manual clock); after the last try a callback is given up and can be
resent; and advance() never waits on a hanging receiver."""
from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator.app import build_app
from emulator.core.retries import load_ladders
from emulator.settings import Settings

from .test_control import send, sms


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """The application under test's webhook on a fixed port, which can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[dict] = []
        self.hang = asyncio.Event()  # set: answer; clear: hang (until released)
        self.hang.set()
        self._server: TestServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def up(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            await self.hang.wait()
            self.got.append(body)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()

    async def down(self) -> None:
        if self._server is not None:
            self.hang.set()
            await self._server.close()
            self._server = None


@pytest.fixture
async def receiver():
    hook = Receiver()
    yield hook
    await hook.down()


@pytest.fixture
async def emulator(aiohttp_client):
    """The emulator with the providers' own retry ladders (no --callback-backoff)."""
    return await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, callback_loopback_only=True)))


async def advance(client, seconds: float, **extra) -> dict:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds, **extra})
    assert response.status == 200, await response.text()
    return await response.json()


async def journal(client, **query) -> list[dict]:
    return (await (await client.get("/_emulator/callbacks", params={"limit": 10000, **query})).json())["callbacks"]


def test_every_provider_has_a_ladder_spanning_hours():
    default, ladders = load_ladders()
    assert set(ladders) == {"alphasms", "octopush", "smsc", "hyber", "revicom"}
    for name, ladder in ladders.items():
        assert ladder.span >= 3 * 3600, name  # not 15 s
        assert ladder.delays == tuple(sorted(ladder.delays)), name  # backs off
        assert ladder.source == "guess"  # none of the five publishes its policy


async def test_a_receiver_down_for_60_s_gets_every_callback_afterwards_in_order_once(emulator, receiver):
    await send(emulator, *(sms(phone=380971234560 + i, id=100 + i, hook=receiver.url()) for i in range(4)))
    await advance(emulator, 5)  # ENROUTE and DELIVERED due: the receiver is down
    await advance(emulator, 55)
    failed = await journal(emulator, outcome="retrying")
    assert failed and all(a["status"] is None for a in failed)
    assert not await journal(emulator, outcome="delivered")
    await receiver.up()  # back after 60 s
    answer = await advance(emulator, 3600)
    assert answer["callbacks"]["delivered"] == 8 and answer["callbacks"]["in_flight"] == 0
    per_message: dict[int, list[str]] = {}
    for body in receiver.got:
        per_message.setdefault(body["id"], []).append(body["status"])
    assert per_message == {100 + i: ["ENROUTE", "DELIVERED"] for i in range(4)}  # all, in order, once
    await advance(emulator, 86400)
    assert len(receiver.got) == 8  # nothing sent twice later


async def test_the_last_try_is_journaled_as_given_up_and_can_be_resent(emulator, receiver):
    await send(emulator, sms(id=7, hook=receiver.url()))
    await advance(emulator, 5)
    await advance(emulator, 16 * 3600)  # the whole ladder (15 h 51 min), receiver down
    given_up = await journal(emulator, outcome="gave_up")
    assert [a["attempt"] for a in given_up] == [10]  # ENROUTE: 10 tries; DELIVERED waits behind it
    assert "gave up after 10 tries" in given_up[0]["error"]
    await advance(emulator, 2 * 86400)
    given_up = await journal(emulator, outcome="gave_up")
    assert len(given_up) == 2
    failed = await (await emulator.get("/_emulator/callbacks/failed")).json()
    assert failed["count"] == 2 and {c["state"] for c in failed["callbacks"]} == {"gave_up"}

    await receiver.up()
    first, second = (c["callback_id"] for c in failed["callbacks"])
    resent = await emulator.post(f"/_emulator/callbacks/{first}/retry", json={})
    assert resent.status == 202 and (await resent.json())["state"] == "queued"
    await advance(emulator, 0)
    assert [b["status"] for b in receiver.got] == ["ENROUTE"]
    assert (await emulator.post("/_emulator/callbacks/999999/retry", json={})).status == 404
    replay = await emulator.post("/_emulator/callbacks/retry", json={})  # every given-up one, not the delivered
    assert replay.status == 202 and [c["callback_id"] for c in (await replay.json())["callbacks"]] == [second]
    await advance(emulator, 0)
    assert [b["status"] for b in receiver.got] == ["ENROUTE", "DELIVERED"]
    again = await emulator.post(f"/_emulator/callbacks/{first}/retry", json={})  # a deliberate replay
    assert again.status == 202
    await advance(emulator, 0)
    assert [b["status"] for b in receiver.got] == ["ENROUTE", "DELIVERED", "ENROUTE"]
    assert (await (await emulator.get("/_emulator/callbacks/failed")).json())["count"] == 0


async def test_advance_never_waits_on_a_hanging_receiver(emulator, receiver):
    await receiver.up()
    receiver.hang.clear()  # accepts connections, never answers
    healthy = Receiver()
    await healthy.up()
    try:
        await send(emulator, *(sms(phone=380971234560 + i, id=200 + i, hook=receiver.url()) for i in range(3)))
        await send(emulator, sms(phone=380979999999, id=300, hook=healthy.url()))
        started = time.monotonic()
        answer = await advance(emulator, 5)
        took = time.monotonic() - started
        assert took < 6, took  # the wait budget (2 s), not 3 messages x 2 callbacks x a 10 s timeout
        assert answer["callbacks"]["in_flight"] == 3
        assert answer["callbacks"]["delivered"] == 2  # the healthy receiver's, sent concurrently
        assert [b["status"] for b in healthy.got] == ["ENROUTE", "DELIVERED"]
        started = time.monotonic()
        quick = await advance(emulator, 1, wait=0)
        assert time.monotonic() - started < 1.5 and quick["callbacks"]["in_flight"] == 3
    finally:
        receiver.hang.set()
        await healthy.down()


async def test_a_slow_try_times_out_and_is_retried(aiohttp_client, receiver):
    client = await aiohttp_client(build_app(Settings(clock="manual", watch_scenario=False, callback_loopback_only=True, callback_timeout=0.3)))
    await receiver.up()
    receiver.hang.clear()
    await send(client, sms(id=9, hook=receiver.url()))
    await advance(client, 5, wait=2)
    [attempt] = await journal(client)  # DELIVERED waits behind ENROUTE
    assert attempt["outcome"] == "retrying" and attempt["error"] == "no answer within 0.3 s" and attempt["next_retry_in"] == 10
    receiver.hang.set()
    await advance(client, 10)
    tries = [(a["callback_id"], a["attempt"], a["outcome"]) for a in await journal(client)]
    assert tries == [(1, 1, "retrying"), (1, 2, "delivered"), (2, 1, "delivered")]


async def test_reset_forgets_callbacks_in_flight_and_waiting(emulator, receiver):
    await send(emulator, sms(id=11, hook=receiver.url()))
    await advance(emulator, 5)
    assert await journal(emulator)
    assert (await emulator.post("/_emulator/reset", json={})).status == 200
    await receiver.up()
    await advance(emulator, 86400)
    assert receiver.got == [] and await journal(emulator) == []


def test_callback_settings_load_from_flags_and_env():
    settings = Settings.load({"callback_allow_link_local": True}, env={"MSGEMU_CALLBACK_ATTEMPTS": "3"})
    assert settings.callback_allow_link_local is True and settings.callback_attempts == 3
    assert json.loads(json.dumps(Settings().callback_backoff)) == 0.0  # default: the providers' ladders


async def test_an_unexpected_error_in_a_try_is_a_failed_try_and_the_lane_goes_on(emulator, receiver, monkeypatch, caplog):
    """A bug in the client (here: its send raising what no network error raises) is journaled
    as a failed try and retried on the ladder; the callbacks behind it in the lane still go."""
    from emulator.core import callback_client

    real_send = callback_client.CallbackClient.send
    broken = {"left": 1}

    async def send_once_broken(self, *args, **kwargs):
        if broken["left"]:
            broken["left"] -= 1
            raise RuntimeError("a bug")
        return await real_send(self, *args, **kwargs)

    monkeypatch.setattr(callback_client.CallbackClient, "send", send_once_broken)
    await receiver.up()
    await send(emulator, sms(id=9, hook=receiver.url()))
    await advance(emulator, 5)
    first = (await journal(emulator))[0]
    assert (first["outcome"], first["error"], first["next_retry_in"]) == ("retrying", "internal error: RuntimeError: a bug", 10)
    assert "unexpected error" in caplog.text
    await advance(emulator, 10)
    assert [b["status"] for b in receiver.got] == ["ENROUTE", "DELIVERED"]
