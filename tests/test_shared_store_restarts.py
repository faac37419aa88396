"""`--store redis://` keeps everything across restarts of msgemu and of the Valkey/Redis server
itself (its own persistence), and keeps no more than the retention."""
from __future__ import annotations

from tests.shared_store import hyber_send, needs_valkey, smsc_send

pytestmark = needs_valkey


def test_everything_survives_a_restart_of_msgemu_and_of_the_store_server(serve, valkey, store):
    first = serve("--store", store, "--clock", "manual")
    message_id = hyber_send(first, "380509999999")
    first.client.set_account("smsc", balance=42)
    first.client.advance(1.5)  # sent, not yet delivered: the rest is still scheduled
    first.stop()

    valkey.restart()  # the store server's own persistence (append-only file) keeps it all
    again = serve("--store", store, "--clock", "manual")
    found = again.client.messages(phone="380509999999")
    assert [(m["provider_id"], m["status"]) for m in found] == [(message_id, "sent")]
    assert again.client.accounts("smsc")[0]["balance"] == 42
    assert again.client.requests(provider="hyber")  # the request journal too
    again.client.advance(5)  # the transition scheduled before the restart still fires, once
    assert [m["status"] for m in again.client.messages(phone="380509999999")] == ["delivered"]
    assert [e["status"] for e in again.client.events(message_id=found[0]["id"])].count("delivered") == 1


def test_the_store_keeps_no_more_than_the_retention(serve, store):
    first = serve("--store", store, "--clock", "manual", "--retention", "3")
    for n in range(6):
        smsc_send(first, f"7999111000{n}", f"message {n}")
    assert [m["recipient"] for m in first.client.messages()] == [f"7999111000{n}" for n in (3, 4, 5)]
    first.stop()
    again = serve("--store", store, "--clock", "manual", "--retention", "3")
    assert [m["recipient"] for m in again.client.messages()] == [f"7999111000{n}" for n in (3, 4, 5)]
    assert len(again.client.requests()) == 3
