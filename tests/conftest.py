"""Shared fixtures: an emulator app on a real aiohttp test server, on a manual clock."""
from __future__ import annotations

import pytest

from emulator.app import build_app
from emulator.settings import Settings


@pytest.fixture
def settings() -> Settings:
    # callbacks to the docs' example hosts (example.org...) are journaled, never sent off this machine
    return Settings(clock="manual", watch_scenario=False, callback_backoff=1.0, callback_loopback_only=True)


@pytest.fixture
async def client(aiohttp_client, settings):
    """A client of the full emulator (all providers + control API) over real HTTP."""
    return await aiohttp_client(build_app(settings))


async def advance(client, seconds: float) -> dict:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status == 200, await response.text()
    return await response.json()
