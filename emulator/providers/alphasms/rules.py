"""AlphaSMS rules beyond the JSON Schemas (schemas/alphasms/items.json): which definitions an item
type must satisfy, which fields a viber_type needs, which error a schema violation is, and the
client-id rule shared by every wire format.

Everything here returns data or a symbolic key of schemas/alphasms/errors.yaml.
"""
from __future__ import annotations

from typing import Any

from ...core.model import Rejection
from ...core.validation import Schemas

# One item type -> the cascade of channels it sends on.
CASCADES = {
    "sms": ["sms"],
    "viber": ["viber"],
    "viber+sms": ["viber", "sms"],
    "rcs": ["rcs"],
    "rcs+sms": ["rcs", "sms"],
    "rcs+viber+sms": ["rcs", "viber", "sms"],
    "voice": ["voice"],
    "call/otp": ["call"],
}
# Schema definitions an item must satisfy: one per channel of a flat cascade type (named after
# the channel unless listed here), or the type's own.
CHANNEL_SCHEMAS = {"voice": "voice_item", "call": "phone_only"}
OTHER_SCHEMAS = {"pipeline": ["pipeline"], "hlr": ["phone_only"], "status": ["status"], "balance": []}
# Types that may come without a client `id`: the documented answers of these carry none, and the
# public PHP JSON client (Prihod/alphasms-client) sends none for them.
ID_OPTIONAL = {"hlr", "call/otp"}
SEND_TYPES = set(CASCADES) | {"pipeline"}

VIBER_NEEDS = {  # viber_type -> fields it requires
    "text": ("viber_message",),
    "image": ("viber_image",),
    "text+link": ("viber_message", "viber_link", "viber_button"),
    "text+image+link": ("viber_message", "viber_image", "viber_link", "viber_button"),
}
SIGNATURE_FIELDS = {"sms_signature", "viber_signature", "rcs_signature", "signature"}
TEXT_FIELDS = {"sms_message", "viber_message", "rcs_message", "message"}


def item_schemas(kind: Any) -> list[str] | None:
    """The definitions an item of `kind` must satisfy; None for an unknown type."""
    if not isinstance(kind, str):
        return None
    if kind in CASCADES:
        return [CHANNEL_SCHEMAS.get(channel, channel) for channel in CASCADES[kind]]
    return OTHER_SCHEMAS.get(kind)


def _schema_names(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    definitions = item_schemas(kind) or []
    return tuple(definitions), tuple(f"alphasms/items#/$defs/{d}" for d in definitions)


# item type -> (its definitions, their schema names), made once: every item is checked by them
_SCHEMAS_OF = {kind: _schema_names(kind) for kind in (*CASCADES, *OTHER_SCHEMAS)}


def item_rejection(schemas: Schemas, item: dict[str, Any]) -> Rejection | None:
    """Why a JSON item is refused (its error key with the schema keyword or rule), or None."""
    kind = item.get("type")
    found = _SCHEMAS_OF.get(kind) if isinstance(kind, str) else None
    if found is None:
        return Rejection("unknown_type", "rules", pointer="/type")
    definitions, names = found
    for name in names:
        violation = schemas.first_violation(name, item)
        if violation:
            return Rejection.schema(_error_for(violation.field, violation.keyword), violation)
    if "viber" in definitions:  # (only the viber definition checks viber_type: elsewhere it is an unknown field)
        for needed in VIBER_NEEDS[item["viber_type"]]:
            if not item.get(needed):
                key = "empty_message" if needed == "viber_message" else "invalid_parameters"
                return Rejection(key, "rules", pointer=f"/{needed}", detail=f"viber_type {item['viber_type']} needs {needed}")
    if item["type"] == "pipeline":
        for channel in item["pipeline"]:
            if not isinstance(item.get(channel), dict):
                return Rejection("invalid_pipeline", "rules", pointer=f"/{channel}")
        viber = item.get("viber")
        if isinstance(viber, dict) and viber.get("type", "text") in ("text", "text+link", "text+image+link"):
            if not viber.get("message"):
                return Rejection("empty_message", "rules", pointer="/viber/message")
    return None


def _error_for(field: str, keyword: str) -> str:
    if field == "phone":
        return "invalid_phone"
    if field in SIGNATURE_FIELDS:
        return "alpha_name"
    if field in TEXT_FIELDS and keyword in ("required", "minLength"):
        return "empty_message"
    if field == "pipeline":
        return "invalid_pipeline"
    return "invalid_parameters"


class ClientIds:
    """The client-id rule of one request: an id already used by a message of the account, or twice
    in the same request, is refused (XML API: 208 ERR_DUPLICATE "A message with the specified ID
    already exists"; the JSON wording is a guess, see errors.yaml)."""

    def __init__(self, used_before) -> None:
        self._used_before = used_before  # client id -> bool, the store's answer
        self._seen: set[str] = set()

    def claim(self, client_id: Any) -> str | None:
        """None when `client_id` is free (and now taken), else the error key."""
        if client_id is None:
            return None
        key = str(client_id)
        if key in self._seen or self._used_before(key):
            return "duplicate_id"
        self._seen.add(key)
        return None
