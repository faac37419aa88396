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


async def test_submit_multi_where_a_profile_allows_it_reports_unsuccessful_destinations():
    """Neither provider serves submit_multi; a profile that does gets one message per
    destination under one id, and the refused ones in unsuccess_sme."""
    runtime = Runtime(Settings(clock="manual"))
    profiles = copy.deepcopy(load_profiles())
    profiles["smsc"].data["submit_multi"] = True
    server = SmppServer(runtime.engine, lambda p, c, n: runtime.providers[p].price(c, n), profiles)
    port = await server.start("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def recv() -> codec.Pdu:
            head = await reader.readexactly(4)
            return codec.decode(head + await reader.readexactly(codec.peek_length(head) - 4))

        writer.write(codec.encode(codec.Pdu(codec.BIND_TRANSMITTER, 1, params={"system_id": "demo", "password": "smppdemo"})))
        assert (await recv()).status == 0
        dests = [{"ton": 1, "npi": 1, "addr": "79001110001"}, {"ton": 1, "npi": 1, "addr": "79000000301"}, {"ton": 1, "npi": 1, "addr": "79001110002"}]
        writer.write(codec.encode(codec.Pdu(codec.SUBMIT_MULTI, 2, params={"source_addr": "MSGEMU", "dest_addresses": dests, "short_message": b"to many"})))
        resp = await recv()
        assert resp.command_id == codec.SUBMIT_MULTI | codec.RESP and resp.status == 0 and resp.get("message_id")
        assert resp.get("unsuccess_sme") == [{"ton": 1, "npi": 1, "addr": "79000000301", "error": codec.STATUS["ESME_RINVDSTADR"]}]
        messages = runtime.store.query_messages(provider="smsc")
        assert sorted(m.recipient for m in messages) == ["79001110001", "79001110002"]
        assert {m.provider_id for m in messages} == {resp.get("message_id")}
        writer.write(codec.encode(codec.Pdu(codec.SUBMIT_MULTI, 3, params={"dest_addresses": [{"dl_name": "friends"}], "short_message": b"x"})))
        assert (await recv()).status == codec.STATUS["ESME_RCNTSUBDL"]
        writer.close()
    finally:
        await server.stop()
