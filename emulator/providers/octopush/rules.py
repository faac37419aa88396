"""Octopush rules a JSON Schema cannot state: defaults, the "incorrect data" repairs that are
not plain casts, recipients per channel, the STOP mention, send_at's time zone.

Sources (docs/research/octopush.md): dev.octopush.com "Transactional SMS" (purpose defaults to
wholesale; sender "3-11 alphanumeric characters with spaces"), "How Our API Deals With
Incorrect Data" (cast, strip prohibited characters, ignore what cannot be fixed and send),
the official PHP SDK's voice example (a send_at without offset is Central European time).
Everything returns data or raises Rejected with error keys of schemas/octopush/errors.yaml.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ...core.model import Rejection

PARIS = ZoneInfo("Europe/Paris")  # summer time included (tzdata ships the zone where the OS has none)

CHANNELS = ("sms", "voice_sms", "rcs", "email", "live_chat")
DEFAULT_PURPOSE = "wholesale"  # "purpose: ["wholesale" (default), "alert"]" (Transactional SMS page)
# "Campaign purpose: (transactional/alert or marketing)": the words the docs use for each value
PURPOSES = {
    "alert": "alert", "transactional": "alert", "transactionnel": "alert", "alerte": "alert",
    "wholesale": "wholesale", "marketing": "wholesale",
}
STOP_MENTION = "STOP au"  # legacy code 121 text: 'the mention "STOP au XXXXX" is mandatory (respect the case)'
PERSONAL_FIELDS = ("first_name", "last_name", "param1", "param2", "param3", "param4", "param5")
_PERSONAL = frozenset(PERSONAL_FIELDS)

_SENDER_PROHIBITED = re.compile(r"[^A-Za-z0-9 ]")
_PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# GUESS: what "optimized by Octopush robot" does: typographic characters that would force
# UCS-2 become their GSM-7 look-alikes, and runs of spaces collapse.
_OPTIMISED = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "})
_SPACES = re.compile(r"[ \t]{2,}")


class Rejected(Exception):
    """The request breaks a documented rule; `keys` are error keys (several only for field errors)."""

    def __init__(self, *keys: str, why: Rejection | None = None) -> None:
        super().__init__(keys[0])
        self.keys = list(keys)
        self.why = why  # the schema violation behind it, when one is known (for the journal)


@dataclass
class Contact:
    """One resolved recipient: `identity` is what the message is addressed to."""

    identity: str
    phone: str | None = None
    email: str | None = None
    conversation_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)


# -- repairs ("we will try to understand it anyway") ---------------------------------------------
def purpose(value: Any) -> str:
    """The documented value a purpose means; anything unrecognised takes the default."""
    if isinstance(value, str):
        return PURPOSES.get(value.strip().lower(), DEFAULT_PURPOSE)
    return DEFAULT_PURPOSE


def sender(value: Any, channel: str) -> str | None:
    """3-11 of a-zA-Z0-9 and space; prohibited characters are deleted, and a sender still out of
    bounds is ignored (the account's default sender is used). RCS: the agent name, as given."""
    if not isinstance(value, str):
        return None
    if channel == "rcs":
        return value.strip() or None
    if value.isascii() and value.isalnum():  # only a-zA-Z0-9 (the usual sender): nothing to delete or strip
        cleaned = value
    else:
        cleaned = _SENDER_PROHIBITED.sub("", value).strip()
    return cleaned if 3 <= len(cleaned) <= 11 else None


def send_at(value: Any) -> float | None:
    """ISO 8601 -> epoch seconds. Without an offset the date is Paris time, summer time included
    (SDK: '"2021-01-01 00:01:00" (Central European TimeZone by default)'). An unreadable date
    is ignored: the campaign goes now (GUESS, per "ignore it, your request will be sent")."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return moment.timestamp()


def paris_iso(at: float) -> str:
    """A moment the way Octopush writes one back: ISO 8601 with the Paris offset."""
    return datetime.fromtimestamp(at, PARIS).isoformat(timespec="seconds")


# -- recipients ---------------------------------------------------------------------------------
def normalise_phone(value: Any) -> str | None:
    """'+33 6 00-00' / '0033600...' -> '+33600...'; None when it is not an international number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit() or (value[0] == "+" and value[1:].isdigit()):
        phone = value  # nothing for the separators' regex to take out (the usual form)
    else:
        phone = _PHONE_SEPARATORS.sub("", value)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    # an international number: an optional "+", then 8-15 ASCII digits, the first not 0 (string
    # tests, not a regex: every recipient of every send is read here)
    plus = phone.startswith("+")
    number = phone[1:] if plus else phone
    if not (8 <= len(number) <= 15 and number.isascii() and number.isdigit() and number[0] != "0"):
        return None
    return phone if plus else "+" + phone


def valid_email(value: Any) -> str | None:
    if isinstance(value, str) and _EMAIL.match(value.strip()):
        return value.strip().lower()
    return None


def personal_params(item: dict[str, Any]) -> dict[str, str]:
    if _PERSONAL.isdisjoint(item):  # a bare number, the usual recipient
        return {}
    return {k: item[k] for k in PERSONAL_FIELDS if isinstance(item.get(k), str)}


def resolve_contacts(channel: str, recipients: list[Any]) -> list[Contact]:
    """The recipients the channel can reach, deduplicated, in request order.

    email: every recipient needs a valid address (2005, documented).
    live_chat: each needs one of phone_number/email/conversation_id (documented); those that
    resolve are kept (a well-formed id resolves: GUESS, no conversation directory here).
    Phone channels: numbers that are not international are dropped (GUESS, as the legacy API
    listed them as per-number failures); none left -> no valid recipient.
    """
    contacts: dict[str, Contact] = {}
    for item in recipients:
        if not isinstance(item, dict):
            continue
        params = {} if _PERSONAL.isdisjoint(item) else personal_params(item)  # a bare number, the usual recipient
        phone = normalise_phone(item.get("phone_number"))
        if channel not in ("email", "live_chat"):  # a phone channel, the usual send
            if phone is not None and phone not in contacts:
                contacts[phone] = Contact(phone, phone, None, None, params)
        elif channel == "email":
            email = valid_email(item.get("email"))
            if email is None:
                raise Rejected("invalid_email")
            contacts.setdefault(email, Contact(email, email=email, params=params))
        elif channel == "live_chat":
            if not any(item.get(k) for k in ("phone_number", "email", "conversation_id")):
                raise Rejected("recipient_without_id")
            conversation = item.get("conversation_id")
            conversation = conversation.lower() if isinstance(conversation, str) and _UUID.match(conversation) else None
            email = valid_email(item.get("email"))
            identity = conversation or phone or email
            if identity:
                contacts.setdefault(identity, Contact(identity, phone, email, conversation, params))
    if not contacts:
        raise Rejected("no_valid_recipient")
    return list(contacts.values())


def filters_optouts(purpose_value: str, optout_filtering: Any, auto_delete: Any) -> bool:
    """Opted-out numbers are removed, unless a transactional (alert) campaign says
    optout_filtering=false (multichannel doc) and does not ask for auto-deletion as well."""
    if auto_delete is True:
        return True
    return not (purpose_value == "alert" and optout_filtering is False)


# -- content ------------------------------------------------------------------------------------
def needs_stop_mention(channel: str, purpose_value: str, text: str) -> bool:
    """A marketing SMS (purpose wholesale, the default) must carry "STOP au XXXXX": code 121
    "Mention STOP is missing." (multichannel doc). The exact test (case-sensitive "STOP au",
    every SMS type) is the legacy API's rule (GUESS for the current API)."""
    return channel == "sms" and purpose_value == "wholesale" and STOP_MENTION not in text


def optimise(text: str) -> str:
    if not text.isascii():  # the look-alikes replaced are all beyond ASCII
        text = text.translate(_OPTIMISED)
    if "  " in text or "\t" in text:  # every run _SPACES collapses has two spaces or a tab
        text = _SPACES.sub(" ", text)
    return text.strip()


def personalise(text: str, params: dict[str, str]) -> str:
    """`{param1}`, `{first_name}`... replaced by the recipient's own values (Send SMS page)."""
    for name, value in params.items():
        text = text.replace("{" + name + "}", value)
    return text


def estimated_duration(text: str) -> int:
    """GUESS: seconds of one call, ~15 characters spoken per second, billed by 30 s blocks
    (the multichannel doc's one example: a 36-character text -> 30)."""
    return 30 * max(1, math.ceil(len(text) / 15 / 30))
