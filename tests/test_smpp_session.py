"""SMPP session limits that need their own server: the idle timeout of a bound session."""
from __future__ import annotations

import asyncio
import copy

from emulator.runtime import Runtime
from emulator.settings import Settings
from emulator.smpp import SmppServer, codec
from emulator.smpp.profiles import load_profiles


async def test_a_silent_bound_session_is_closed_after_the_providers_inactivity_timeout():
    runtime = Runtime(Settings(clock="manual"))
    profiles = copy.deepcopy(load_profiles())
    profiles["smsc"].data["inactivity_timeout"] = 0.3
    server = SmppServer(runtime.engine, lambda p, c, n: runtime.providers[p].price(c, n), profiles)
    port = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(codec.encode(codec.Pdu(codec.BIND_TRANSCEIVER, 1, params={"system_id": "demo", "password": "smppdemo"})))
        head = await reader.readexactly(4)
        assert codec.decode(head + await reader.readexactly(codec.peek_length(head) - 4)).status == 0
        await asyncio.sleep(0.15)
        writer.write(codec.encode(codec.Pdu(codec.ENQUIRE_LINK, 2)))  # activity keeps it open
        head = await reader.readexactly(4)
        assert codec.decode(head + await reader.readexactly(12)).command_id == codec.ENQUIRE_LINK | codec.RESP
        assert await asyncio.wait_for(reader.read(), timeout=3) == b""  # then silence: closed
        assert not server.sessions
        writer.close()
    finally:
        await server.stop()
