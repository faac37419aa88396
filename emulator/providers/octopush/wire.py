"""Octopush's wire format: reading request bodies the way the real API reads them, and
rendering its answers.

"How Our API Deals With Incorrect Data" (every send page of the docs): "If a parameter has the
wrong value, we will try to understand it anyway. If the parameter has the wrong type, we will
try to format it... If a parameter could not be recognized or "fixed", we will ignore it, but
your request will be sent." So a body is read in three passes:
  1. cast: `"true"`/`1` -> true, `33600000001` -> `"33600000001"`, `null` -> absent, enum values
     matched without regard to case, a lone recipient object -> a list of one;
  2. repairs of rules.py (sender characters stripped, purpose synonyms, send_at time zone);
  3. the JSON Schema of schemas/octopush/: a violation of an optional field drops that field (its
     default applies); only the required fields, and the field errors the docs show
     (voice_language 442), are refused with a 400.
Nothing here knows about the store, the engine or aiohttp.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from ...core.model import Message, Rejection, ZERO
from ...core.validation import Schemas
from . import rules
from .rules import Contact, Rejected

MULTICHANNEL = "octopush/multichannel"
SMS_CAMPAIGN = "octopush/sms-campaign"
VOICE_CAMPAIGN = "octopush/voice-campaign"
LIST_CAMPAIGN = "octopush/list-campaign"
CONTACTS = "octopush/contacts"
SCHEMAS = (MULTICHANNEL, SMS_CAMPAIGN, VOICE_CAMPAIGN, LIST_CAMPAIGN, CONTACTS)

# A required field that cannot be read refuses the request: its error key.
REQUIRED = {"channel": "invalid_channel", "text": "invalid_text", "recipients": "invalid_recipients", "contacts": "invalid_contacts"}
# Optional fields whose wrong value the docs show refused, not ignored.
DOCUMENTED_FIELD_ERRORS = {"voice_language": "voice_language"}
# Strings the docs bound and that are "formatted" (cut) rather than dropped (GUESS: cut, not refused).
TRUNCATED = {"subject": 1000}
VOICE_FIELDS = ("type", "voice_gender", "voice_language", "get_back_pressed_keys")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_MAX_REPAIR_PASSES = 16


@dataclass
class Send:
    """A validated send request, whichever endpoint it came through."""

    channel: str
    text: str
    contacts: list[Contact]
    sender: str | None
    send_at: float | None
    purpose: str
    list_name: str | None
    metadata: dict[str, Any]
    simulation: bool
    optimise_text: bool
    filter_optouts: bool
    request_id: str | None


@dataclass
class ListCampaign:
    """A campaign to be prepared on a contact list or a tag (contacts resolved later)."""

    list_name: str | None
    tag_name: str | None
    send: Send


class Reader:
    """Reads each endpoint's body into a Send (or raises Rejected)."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        defs = schemas.raw(MULTICHANNEL)["$defs"]
        self.shapes = {name: self._shape(schemas.raw(name)["properties"]) for name in SCHEMAS}
        self.shapes["recipient"] = self._shape(self._resolve(defs["recipient"])["properties"])
        for channel in rules.CHANNELS:
            self.shapes[channel] = self._shape(defs[f"metadata_{channel}"]["properties"])

    # -- endpoints ----------------------------------------------------------------------------
    def multichannel(self, body: dict[str, Any]) -> Send:
        body = self._cast(MULTICHANNEL, body)
        channel = body.get("channel")
        if isinstance(body.get("metadata"), dict) and channel in rules.CHANNELS:
            body["metadata"] = self._cast_fields(body["metadata"], self.shapes[channel])
            _rcs_card_rule(channel, body["metadata"])
        body = self._conform(MULTICHANNEL, body, channel=channel if isinstance(channel, str) else "sms")
        channel, metadata = body["channel"], body.get("metadata", {})
        purpose = body.get("purpose") or rules.DEFAULT_PURPOSE  # _conform read it already
        return Send(
            channel=channel,
            text=body["text"],
            contacts=rules.resolve_contacts(channel, body["recipients"]),
            sender=body.get("sender"),
            send_at=rules.send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata=metadata,
            simulation=body.get("simulation_mode", False),
            optimise_text=body.get("auto_optimize_text", True),
            filter_optouts=rules.filters_optouts(purpose, body.get("optout_filtering"), body.get("auto_delete_optout_contacts")),
            request_id=metadata.get("request_id"),
        )

    def sms_campaign(self, body: dict[str, Any]) -> Send:
        body = self._conform(SMS_CAMPAIGN, self._cast(SMS_CAMPAIGN, body), channel="sms")
        purpose = rules.purpose(body.get("purpose"))
        return Send(
            channel="sms",
            text=body["text"],
            contacts=rules.resolve_contacts("sms", body["recipients"]),
            sender=body.get("sender"),
            send_at=rules.send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata={k: body[k] for k in ("type", "with_replies") if k in body},
            simulation=body.get("simulation_mode", False),
            optimise_text=body.get("auto_optimize_text", True),
            filter_optouts=rules.filters_optouts(purpose, body.get("optout_filtering"), body.get("auto_remove_blacklisted_numbers")),
            request_id=body.get("request_id"),
        )

    def voice_campaign(self, body: dict[str, Any]) -> Send:
        body = self._conform(VOICE_CAMPAIGN, self._cast(VOICE_CAMPAIGN, body), channel="voice_sms")
        purpose = rules.purpose(body.get("purpose"))
        return Send(
            channel="voice_sms",
            text=body["text"],
            contacts=rules.resolve_contacts("voice_sms", body["recipients"]),
            sender=body.get("sender"),
            send_at=rules.send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata={k: body[k] for k in VOICE_FIELDS if k in body},
            simulation=body.get("simulation_mode", False),
            optimise_text=False,
            filter_optouts=rules.filters_optouts(purpose, None, body.get("auto_remove_blacklisted_numbers")),
            request_id=body.get("request_id"),
        )

    def list_campaign(self, body: dict[str, Any], channel: str) -> ListCampaign:
        """An SMS (channel "sms") or voice ("voice_sms") campaign on a list or a tag."""
        body = self._conform(LIST_CAMPAIGN, self._cast(LIST_CAMPAIGN, body), channel=channel)
        if not (body.get("list_name") or body.get("tag_name")):
            raise Rejected("invalid_list_name")
        purpose = rules.purpose(body.get("purpose"))
        voice = channel == "voice_sms"
        send = Send(
            channel=channel,
            text=body["text"],
            contacts=[],
            sender=body.get("sender"),
            send_at=rules.send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata={k: body[k] for k in (VOICE_FIELDS if voice else ("type", "with_replies")) if k in body},
            simulation=body.get("simulation_mode", False),
            optimise_text=False if voice else body.get("auto_optimize_text", True),
            filter_optouts=rules.filters_optouts(purpose, None, body.get("auto_remove_blacklisted_numbers")),
            request_id=body.get("request_id"),
        )
        return ListCampaign(body.get("list_name"), body.get("tag_name"), send)

    def contacts(self, body: dict[str, Any]) -> dict[str, Any]:
        body = self._cast(CONTACTS, body)
        for name, limit in (("list_name", 30), ("tag_name", 20)):  # "[max-length : 30 chars]" / 20
            if isinstance(body.get(name), str):
                body[name] = body[name].strip()[:limit]
        return self._conform(CONTACTS, body, channel="sms")

    # -- pass 1: casting ------------------------------------------------------------------------
    def _cast(self, schema: str, body: dict[str, Any]) -> dict[str, Any]:
        body = self._cast_fields(body, self.shapes[schema])
        for key in ("recipients", "contacts"):
            items = body.get(key)
            if isinstance(items, dict):
                items = [items]  # one contact instead of a list of one
            if isinstance(items, list):
                shape = self.shapes["recipient"]
                cast = []
                for item in items:  # a loop, not a comprehension: most sends have one recipient
                    cast.append(self._cast_fields(item, shape) if isinstance(item, dict) else item)
                body[key] = cast
        return body

    @staticmethod
    def _cast_fields(body: dict[str, Any], shape: dict[str, tuple[str | None, dict[str, str]]]) -> dict[str, Any]:
        out = dict(body)
        for name, value in body.items():  # the fields given, not all the schema names
            spec = shape.get(name)
            if spec is None:
                continue
            kind, allowed = spec
            if type(value) is str and kind != "boolean":  # the usual field, a string where one is read: enums only
                if allowed:
                    found = allowed.get(value)  # the value as listed (keys are stripped, lower case)
                    out[name] = found if found is not None else allowed.get(value.strip().lower(), value)
                continue
            if value is None:
                del out[name]  # null is the same as absent (the PHP SDK sends unset fields as null)
                continue
            if kind == "boolean":
                value = out[name] = _as_bool(value)
            elif kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
                value = out[name] = str(value)
            if allowed and isinstance(value, str):
                found = allowed.get(value)
                out[name] = found if found is not None else allowed.get(value.strip().lower(), value)
        return out

    # -- pass 2 and 3: repairs, then the schema ----------------------------------------------------
    def _conform(self, schema: str, body: dict[str, Any], channel: str) -> dict[str, Any]:
        if "sender" in body:
            cleaned = rules.sender(body["sender"], channel)
            if cleaned is None:
                del body["sender"]
            else:
                body["sender"] = cleaned
        if "purpose" in body:
            body["purpose"] = rules.purpose(body["purpose"])
        metadata = body.get("metadata")
        for name, limit in TRUNCATED.items():
            if isinstance(body.get(name), str):
                body[name] = body[name][:limit]
            if isinstance(metadata, dict) and isinstance(metadata.get(name), str):
                metadata[name] = metadata[name][:limit]
        clean = False  # the last pass found nothing: the body is valid as it stands
        for _ in range(_MAX_REPAIR_PASSES):
            errors: list[str] = []
            first: Rejection | None = None
            repaired = False
            violations = self.schemas.violations(schema, body)
            clean = not violations
            for violation in violations:
                parts = [p.replace("~1", "/").replace("~0", "~") for p in violation.pointer.split("/") if p]
                if not parts:
                    errors.append("invalid_payload")
                elif len(parts) == 1 and parts[0] in REQUIRED:
                    errors.append(REQUIRED[parts[0]])
                elif parts[-1] in DOCUMENTED_FIELD_ERRORS:
                    errors.append(DOCUMENTED_FIELD_ERRORS[parts[-1]])
                else:
                    repaired = _drop(body, parts) or repaired
                    continue
                first = first or Rejection.schema(errors[-1], violation)
            if errors:
                keys = list(dict.fromkeys(errors))
                raise Rejected(*keys, why=first if first and first.key == keys[0] else None)
            if not repaired:
                break
        text = body.get("text")
        if isinstance(text, str) and (not text or text.isspace()):  # what `not text.strip()` says, without a copy
            raise Rejected("invalid_text", why=Rejection("invalid_text", "rules", pointer="/text", detail="only white space"))
        left = None if clean else self.schemas.first_violation(schema, body)  # a valid body is checked once
        if left:
            raise Rejected("invalid_payload", why=Rejection.schema("invalid_payload", left))
        return body

    def _shape(self, properties: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, str]]]:
        """name -> (JSON type, enum values by their lower case) for casting; enums are strings,
        and of two values alike but for case the first one listed is what either reads as."""
        shape = {}
        for name, spec in properties.items():
            spec = self._resolve(spec)
            enum = tuple(spec.get("enum", ()))
            kind = spec.get("type") or ("string" if enum else None)
            # a key with white space around it could never match a stripped value: none is kept
            allowed = {value.lower(): value for value in reversed(enum) if value.strip() == value}
            shape[name] = (kind if isinstance(kind, str) else None, allowed)
        return shape

    def _resolve(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Follow `$ref`s into the octopush schemas (every ref here points into one of them; a
        local one into the file of the last hop, multichannel to begin with) until a definition."""
        file = MULTICHANNEL
        while isinstance(spec.get("$ref"), str):
            target, _, pointer = spec["$ref"].partition("#")
            file = target.removeprefix("urn:msgemu:") or file
            node: Any = self.schemas.raw(file)
            for part in pointer.strip("/").split("/"):
                node = node[part]
            spec = node
        return spec


def _as_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return value  # not castable: the schema pass drops it


def _rcs_card_rule(channel: Any, metadata: dict[str, Any]) -> None:
    """A rich_card without cards cannot be sent as one: the default type (simple_text) applies."""
    if channel == "rcs" and metadata.get("message_type") == "rich_card" and not metadata.get("cards"):
        metadata.pop("message_type", None)


def _drop(body: dict[str, Any], parts: list[str]) -> bool:
    """Ignore the value at `parts`: delete it (a recipient that is not an object becomes empty,
    so it resolves to nobody). False when there was nothing to delete."""
    node: Any = body
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node) and node[int(last)] != {}:
        node[int(last)] = {}
        return True
    return False


# -- answers -------------------------------------------------------------------------------------
def error_body(catalog: dict[str, dict[str, Any]], keys: list[str]) -> tuple[int, dict[str, Any]]:
    """A flat {"code", "message"} error, or the documented 400 "Payload validation error."
    wrapper with one entry per field."""
    def entry(key: str) -> dict[str, Any]:
        return catalog.get(key) or catalog["internal"]

    first = entry(keys[0])
    if "field" not in first:
        return first["http"], {"code": first["code"], "message": first["message"]}
    errors: dict[str, dict[str, Any]] = {}
    for key in keys:
        field = entry(key)
        errors.setdefault(field.get("field", "payload"), {"code": field["code"], "message": field["message"]})
    wrapper = catalog["payload_validation"]
    return wrapper["http"], {"code": wrapper["code"], "message": wrapper["message"], "errors": errors}


def send_answer(send: Send, drafts: list[Message], residual: Decimal, style: str) -> dict[str, Any]:
    """The success body of a send. `style`: multichannel (SEED), sms (Send SMS page / SDK),
    voice (voice-campaign/send: GUESS, shaped like SEED's voice answer), vocal (the SDK's
    vocal-campaign/send example: vocal_ticket)."""
    ticket = drafts[0].meta["ticket"]
    cost, parts = ZERO, 0
    for message in drafts:  # a loop, not two generators: most sends have one recipient
        cost += message.cost
        parts += message.parts
    if send.channel == "sms":
        body = {"sms_ticket": ticket, "number_of_contacts": len(drafts), "total_cost": float(cost),
                "number_of_sms_needed": parts, "residual_credit": float(residual)}
        if style == "multichannel":
            # GUESS: SEED masks this field ("******"); we echo the text as sent
            body["message"] = rules.optimise(send.text) if send.optimise_text else send.text
        return body
    key = "vocal_ticket" if style == "vocal" else "ticket_number"
    body = {key: ticket, "number_of_contacts": len(drafts), "total_cost": float(cost)}
    if send.channel == "voice_sms":
        body["estimated_duration"] = max(m.meta["estimated_duration"] for m in drafts)
    body["residual_credit"] = float(residual)
    return body


_SMS_ANSWER = ("sms_ticket", "number_of_contacts", "total_cost", "number_of_sms_needed", "residual_credit", "message")


def answer_text(body: dict[str, Any]) -> str | None:
    """The multichannel SMS answer (the usual send) as the JSON text base.json_response would
    write (compact, non-ASCII as is): the same string, int and float texts its C encoder writes,
    without setting an encoder up per answer. None for any other body (the encoder writes it)."""
    if tuple(body) != _SMS_ANSWER:
        return None
    ticket, contacts, cost, parts, residual, message = body.values()
    if not (type(ticket) is str and type(message) is str and type(contacts) is int and type(parts) is int
            and type(cost) is float and type(residual) is float and math.isfinite(cost) and math.isfinite(residual)):
        return None
    return (f'{{"sms_ticket":{encode_basestring(ticket)},"number_of_contacts":{contacts},"total_cost":{cost!r},'
            f'"number_of_sms_needed":{parts},"residual_credit":{residual!r},"message":{encode_basestring(message)}}}')
