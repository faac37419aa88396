"""Shared fixtures: an emulator app on a real aiohttp test server, on a manual clock."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from emulator.app import build_app
from emulator.settings import Settings


def test_settings() -> Settings:
    # callbacks to the docs' example hosts (example.org...) are journaled, never sent off this machine
    return Settings(clock="manual", watch_scenario=False, callback_backoff=1.0, callback_loopback_only=True)


test_settings.__test__ = False  # a helper, not a test


@pytest.fixture
def settings() -> Settings:
    return test_settings()


@asynccontextmanager
async def served_emulator() -> AsyncIterator[TestClient]:
    """One emulator on a real test server for a whole module to share (building one per test is
    most of a suite's time); its tests reset it before each test."""
    client = TestClient(TestServer(build_app(test_settings())))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def client(aiohttp_client, settings):
    """A client of the full emulator (all providers + control API) over real HTTP."""
    return await aiohttp_client(build_app(settings))


async def advance(client, seconds: float) -> dict:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status == 200, await response.text()
    return await response.json()


@asynccontextmanager
async def served_receiver(path: str, with_headers: bool = False) -> AsyncIterator[tuple[list, str]]:
    """A real callback receiver on a port of its own: (every JSON body it got, or (headers,
    body) pairs with `with_headers`; its URL). It answers 200 "ok"."""
    got: list = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        got.append((dict(request.headers), body) if with_headers else body)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield got, f"http://127.0.0.1:{server.port}{path}"
    finally:
        await server.close()
