"""Mass sending (chapter 3 of gms-hyber-api.readthedocs.io): one request, up to 50,000 recipients,
each turned into the single-message body it stands for and checked as one.

batch: `messages[]` of {phone_number, extra_id, text}; the text goes to every channel ("The list
of phone numbers of Users and texts will be transmitted to all communication channels").
broadcast: `recipients[]` of {phone_number, extra_id, <variables>}; every `%variable%` in any
channel option is replaced by that recipient's value ("variables that holds personalized values
and can be used for all query parameters").
"""
from __future__ import annotations

import copy
import re
from typing import Any

SHARED_FIELDS = ("channels", "callback_url", "start_time", "tag", "division_code")
PLACEHOLDER = re.compile(r"%([A-Za-z0-9_]+)%")


def recipients(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["messages"] if kind == "batch" else body["recipients"]


def single_body(kind: str, body: dict[str, Any], recipient: dict[str, Any]) -> dict[str, Any]:
    """The single-send body one recipient of a mass request amounts to."""
    single = {name: body[name] for name in SHARED_FIELDS if name in body}
    single["phone_number"] = recipient.get("phone_number")
    if "extra_id" in recipient:
        single["extra_id"] = recipient["extra_id"]
    options = copy.deepcopy(body["channel_options"])
    if kind == "batch":
        if "text" in recipient:
            for channel in body["channels"]:
                if isinstance(options.get(channel), dict):
                    options[channel]["text"] = recipient["text"]
    else:
        options = _fill(options, recipient)
    single["channel_options"] = options
    return single


def _fill(value: Any, variables: dict[str, Any]) -> Any:
    """Replace %name% with the recipient's value; an unknown variable stays as written (guess)."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: str(variables[m.group(1)]) if m.group(1) in variables else m.group(0), value)
    if isinstance(value, dict):
        return {k: _fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    return value
