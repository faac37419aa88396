"""Revicom's answer to a send whose messages were all accepted is written as text
(wire.sent_answer_text), not by the JSON encoder: it must be the very bytes
base.json_response's encoder writes, and give way to the encoder for every other answer."""
from __future__ import annotations

import random

from emulator.providers.base import _COMPACT
from emulator.providers.revicom.wire import sent_answer_text

CHARACTERS = ['"', "\\", "/", "\n", "\x00", "\x1f", "\u2028", "é", "Ж", "😀", "a", "-", "0"]


def test_accepted_messages_are_the_encoders_bytes():
    rng = random.Random("revicom answer text")
    for _ in range(20_000):
        items = [{"messageUuid": "".join(rng.choice(CHARACTERS) for _ in range(rng.randrange(0, 40))), "code": 201}
                 for _ in range(rng.randrange(1, 5))]
        assert sent_answer_text(False, items) == _COMPACT({"errors": False, "items": items})


def test_any_other_answer_goes_to_the_encoder():
    sent = {"messageUuid": "0b5c1f0e-7f5c-4a55-9d0f-3c4a8f1b2e6d", "code": 201}
    assert sent_answer_text(True, [sent, {"code": 422, "errorCode": 4220}]) is None
    assert sent_answer_text(False, [sent, {"code": 422, "errorCode": 4220}]) is None
    assert sent_answer_text(0, [sent]) is None
    for other in ({"code": 201, "messageUuid": "x"}, {"messageUuid": "x", "code": 201.0}, {"messageUuid": "x", "code": True},
                  {"messageUuid": 5, "code": 201}, {"messageUuid": "x", "code": 202}, {"messageUuid": "x", "code": 201, "more": 1}, None):
        assert sent_answer_text(False, [sent, other]) is None
