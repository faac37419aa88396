"""What the shared store writes (core/store_codec.py) reads back as the same message, event and
journaled request, every field set; blobs an earlier msgemu wrote (whole pickles) still read."""
from __future__ import annotations

import dataclasses
import pickle
from decimal import Decimal

from emulator.core import store_codec as codec
from emulator.core.model import Attempt, Event, Message, Rejection, RequestRecord, Status, Transition
from emulator.core.scenario import Step


def full_message() -> Message:
    return Message(
        provider="hyber", account="demo", recipient="380501234567",
        attempts=[
            Attempt("viber", {"text": "Код 4711", "button": {"url": "https://x"}}, Status.UNDELIVERED,
                    [Transition(1.5, Status.ACCEPTED), Transition(2.5, Status.UNDELIVERED, "41")], "41"),
            Attempt("sms", {"text": "Code 4711"}, Status.DELIVERED, [Transition(3.0, Status.DELIVERED)]),
            Attempt("push", {}),
        ],
        provider_id="100000007", client_ref="ref-1", callback_url="http://127.0.0.1:9/hook", created_at=1.25,
        request_id="r-1", parts=2, cost=Decimal("1.2500"), otp="4711", meta={"wire": "json", "n": [1, 2]},
        inbound=[{"text": "STOP", "at": 9.0}], scheduled_at=99.5,
        plans={"viber": (Step(1.0, Status.SENT), Step(2.0, Status.UNDELIVERED, "41")), "sms": (Step(0.5, Status.READ),)},
        rule={"source": "magic", "index": 3},
    )


def test_every_field_of_a_message_comes_back_as_it_was():
    message = full_message()
    again, keys = codec.message_from(codec.message_blob(message, ["ext-1", "ext-2"]))
    assert again == message and keys == ["ext-1", "ext-2"]
    assert type(again.cost) is Decimal and str(again.cost) == "1.2500"  # kept as its text, read back exact
    assert again.attempts[0].history[1].status is Status.UNDELIVERED
    assert again.plans["viber"][1] == Step(2.0, Status.UNDELIVERED, "41")
    assert again.attempts[2].status is None and not again.attempts[2].started
    empty = Message(provider="smsc", account="demo", recipient="79001234567", attempts=[Attempt("sms")])
    assert codec.message_from(codec.message_blob(empty, []))[0] == empty


def test_a_message_goes_by_position_without_its_field_names_and_by_name_when_it_has_more():
    """The layouts are the dataclasses' fields in order: a field added, removed or moved fails
    here (a new layout needs a new tag, the old one still read)."""
    assert codec.MESSAGE_LAYOUT == tuple(f.name for f in dataclasses.fields(Message))
    assert codec.ATTEMPT_LAYOUT == tuple(f.name for f in dataclasses.fields(Attempt))
    message = full_message()
    blob = codec.message_blob(message, ["k"])
    assert pickle.loads(blob)[0] == "M" and b"provider_id" not in blob and b"history" not in blob
    assert len(blob) < 0.8 * len(codec._message_blob_by_name(message, ["k"]))
    message.extra = "set by hand"  # an attribute beyond the fields: kept, by name
    blob = codec.message_blob(message, ["k"])
    assert pickle.loads(blob)[0] == "m"
    again, keys = codec.message_from(blob)
    assert again == message and again.extra == "set by hand" and keys == ["k"]


def test_the_plain_tuples_cover_every_field_of_transitions_and_steps():
    """Transitions and plan steps go as (at/after, status, error): a new field would be dropped."""
    assert [f.name for f in dataclasses.fields(Transition)] == ["at", "status", "error"]
    assert [f.name for f in dataclasses.fields(Step)] == ["after", "status", "error"]


def test_events_and_journaled_requests_come_back_as_they_were():
    event = Event("m-1", "sms", Status.DELIVERED, 4.5, "0", seq=7)
    assert codec.event_from(codec.event_blob(event)) == event
    record = RequestRecord(
        id=12, at=3.5, provider="alphasms", method="POST", path="/alphasms/api/json.php", query="a=1",
        headers={"content-type": "application/json"}, body="{}", status=200, response="{}", outcome="rejected",
        error="auth", message_ids=["m-1"], reason=Rejection("auth", "auth", pointer="/auth"), body_size=2, response_size=2,
    )
    assert codec.request_from(codec.request_blob(record)) == record
    # the change feed's rows (inside its entry's pickle) give the same objects
    assert codec.event_from_row(pickle.loads(pickle.dumps(codec.event_row(event)))) == event
    assert codec.request_from_row(pickle.loads(pickle.dumps(codec.request_row(record)))) == record


def test_blobs_an_earlier_msgemu_wrote_are_still_read():
    message = full_message()
    assert codec.message_from(pickle.dumps((message, ["k"])))[0] == message
    assert codec.message_from(codec._message_blob_by_name(message, ["k"])) == (message, ["k"])  # by name (tag m)
    event = Event("m-1", "sms", Status.SENT, 1.0)
    assert codec.event_from(pickle.dumps(event)) == event
    record = RequestRecord(id=1, at=1.0, provider=None, method="GET", path="/", query="", headers={}, body="")
    assert codec.request_from(pickle.dumps(record)) == record
    # their fields as dicts (the format before rows)
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(Event)}
    assert codec.event_from(pickle.dumps(("e", {**fields, "status": "sent"}))) == event
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(RequestRecord)}
    assert codec.request_from(pickle.dumps(("r", fields))) == record
