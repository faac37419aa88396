"""The send bodies of Octopush, read the way the real API reads them.

Octopush documents that it "casts" wrong types it can understand and ignores what it cannot
recognise, so scalars are cast first (`"true"` -> true, `33600000001` -> `"33600000001"`,
`null` -> absent), then the JSON Schemas of schemas/octopush/ decide, then the rules a schema
cannot express (recipients per channel, the STOP mention, send_at) are applied here.
Everything returns data or a symbolic error key of schemas/octopush/errors.yaml; nothing here
knows about HTTP.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ...core.model import digits

CHANNELS = ("sms", "voice_sms", "rcs", "email", "live_chat")
PHONE_CHANNELS = ("sms", "voice_sms", "rcs")
# Which metadata fields end up in a channel's content (what the subscriber gets and QA reads).
CONTENT_METADATA = {
    "sms": ("type", "with_replies"),
    "voice_sms": ("type", "voice_gender", "voice_language", "get_back_pressed_keys"),
    "rcs": ("with_replies", "message_type", "cards", "actions"),
    "email": ("email_from", "name_from", "subject", "template_name", "body_format", "emailing_service", "language"),
    "live_chat": (),
}
PERSONAL_FIELDS = ("first_name", "last_name", "param1", "param2", "param3", "param4", "param5")

_PHONE = re.compile(r"^\+?[1-9][0-9]{7,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
# GUESS: what "optimized by Octopush robot" does: typographic characters that would force
# UCS-2 become their GSM-7 look-alikes, and runs of spaces collapse.
_OPTIMISED = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "})
_SPACES = re.compile(r"[ \t]{2,}")


class Rejected(Exception):
    """The request breaks a rule; `keys` are error keys (several only for field errors)."""

    def __init__(self, *keys: str) -> None:
        super().__init__(keys[0])
        self.keys = list(keys)


@dataclass
class Contact:
    """One resolved recipient: `identity` is what the message is addressed to."""

    identity: str
    phone: str | None = None
    email: str | None = None
    conversation_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Send:
    """A validated send request, whichever endpoint it came through."""

    channel: str
    text: str
    contacts: list[Contact]
    sender: str | None
    send_at: float | None
    purpose: str | None
    list_name: str | None
    metadata: dict[str, Any]
    simulation: bool
    optimise_text: bool
    filter_optouts: bool
    request_id: str | None


# -- casting ------------------------------------------------------------------------------------
def cast(body: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Cast the scalars of `body` to the types its schema `properties` declare."""
    out = dict(body)
    for name, kind in properties.items():
        if name not in out:
            continue
        value = out[name]
        if value is None:
            del out[name]  # null is the same as absent
        elif kind == "boolean":
            out[name] = _as_bool(value)
        elif kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = str(value)
    return out


def _as_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return value  # not castable: the schema rejects it


def cast_recipients(recipients: Any, properties: dict[str, Any]) -> Any:
    if not isinstance(recipients, list):
        return recipients
    return [cast(item, properties) if isinstance(item, dict) else item for item in recipients]


# -- rules a schema cannot express --------------------------------------------------------------
def parse_send_at(value: str | None) -> float | None:
    """ISO 8601 -> epoch seconds; a date without offset is taken as UTC (guess)."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Rejected("invalid_send_at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def normalise_phone(value: str | None) -> str | None:
    """'+33 6 00-00' / '0033600...' -> '+33600...'; None when it is not an international number."""
    if not value:
        return None
    phone = _PHONE_SEPARATORS.sub("", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _PHONE.match(phone):
        return None
    return "+" + digits(phone)


def valid_email(value: str | None) -> str | None:
    if value and _EMAIL.match(value.strip()):
        return value.strip().lower()
    return None


def resolve_contacts(channel: str, recipients: list[dict[str, Any]]) -> list[Contact]:
    """The recipients the channel can reach, deduplicated, in request order.

    email: every recipient needs a valid address (2005 otherwise, as documented).
    live_chat: each needs one of phone_number/email/conversation_id; those that resolve are
    kept (a well-formed id resolves: GUESS, the emulator has no conversation directory).
    Phone channels: numbers that are not international are dropped (GUESS, as the legacy API
    listed them as per-number failures); none left -> no valid recipient.
    """
    contacts: dict[str, Contact] = {}
    for item in recipients:
        params = {k: item[k] for k in PERSONAL_FIELDS if isinstance(item.get(k), str)}
        phone = normalise_phone(item.get("phone_number"))
        if channel == "email":
            email = valid_email(item.get("email"))
            if email is None:
                raise Rejected("invalid_email")
            contacts.setdefault(email, Contact(email, email=email, params=params))
        elif channel == "live_chat":
            if not any(item.get(k) for k in ("phone_number", "email", "conversation_id")):
                raise Rejected("recipient_without_id")
            conversation = item.get("conversation_id")
            conversation = conversation.lower() if conversation and _UUID.match(conversation) else None
            email = valid_email(item.get("email"))
            identity = conversation or phone or email
            if identity:
                contacts.setdefault(identity, Contact(identity, phone, email, conversation, params))
        elif phone is not None:
            contacts.setdefault(phone, Contact(phone, phone=phone, params=params))
    if not contacts:
        raise Rejected("no_valid_recipient")
    return list(contacts.values())


def needs_stop_mention(channel: str, purpose: str | None, text: str) -> bool:
    """Marketing SMS must carry "STOP au XXXXX" (legacy code 121, case-sensitive).

    GUESS: only an explicit purpose "wholesale" triggers it. D16 calls wholesale the default,
    but clients that omit purpose for one-time codes (C5, C6) expect a success.
    """
    return channel == "sms" and purpose == "wholesale" and "STOP au" not in text


def optimise(text: str) -> str:
    return _SPACES.sub(" ", text.translate(_OPTIMISED)).strip()


def personalise(text: str, params: dict[str, str]) -> str:
    """`{param1}`, `{first_name}`... replaced by the recipient's own values (D1)."""
    for name, value in params.items():
        text = text.replace("{" + name + "}", value)
    return text


def filters_optouts(purpose: str | None, optout_filtering: bool | None, auto_delete: bool | None) -> bool:
    """Opted-out numbers are removed, unless a transactional (alert) campaign says
    optout_filtering=false (SEED) and does not ask for auto-deletion at the same time."""
    if auto_delete:
        return True
    return not (purpose == "alert" and optout_filtering is False)
