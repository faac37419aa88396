"""GMS Hyber JSON v2 wire shapes: a request body as a domain Message, and every report rendered
from it (DR push, GET DR simple/advanced, campaign status entries, sync answers).

Report fields: Table 8.3 of gms-hyber-api.readthedocs.io (chapter 8); status codes and texts:
schemas/hyber/statuses.yaml.
"""
from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

import yaml

from ...core.model import Account, Attempt, Message, Status, digits
from ...core.text import count_parts
from ...core.validation import schemas_root
from ..base import NotJSON, parse_json
from . import rules

PLATFORM = "hyber"  # sent_via / last_partner / delivered_via when the platform has the message
TEMPLATE_NAMESPACE = uuid.UUID("5d3b9b7e-8a51-4c39-9a3e-4f2c1f6a9e10")


@lru_cache(maxsize=None)
def status_table() -> dict[str, Any]:
    return yaml.safe_load((schemas_root() / "hyber" / "statuses.yaml").read_text(encoding="utf-8"))


def json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = parse_json(raw)
    except NotJSON:
        return None
    return body if isinstance(body, dict) else None


def draft(provider, account: Account, body: dict[str, Any], kinds: dict[str, str], now: float,
          job_id: str | None = None) -> Message:
    """A checked single-message body (rules.check passed) as a domain Message."""
    channels: list[str] = body["channels"]
    options = body["channel_options"]
    attempts = []
    ctr = False
    for ch in channels:  # a loop, not comprehensions: most sends name one channel
        chosen = options[ch]
        attempts.append(Attempt(ch, {**chosen, "_ttl": chosen["ttl"], "_type": kinds[ch]}))
        ctr = ctr or chosen.get("ctr") is True
    sms_parts = count_parts(options["sms"]["text"]) if "sms" in channels else 0
    start = rules.start_epoch(body["start_time"]) if "start_time" in body else None
    meta = {
        "client_id": account.secrets.get("client_id"),
        "extra_id": body.get("extra_id"),
        "tag": body.get("tag"),
        "division_code": body.get("division_code"),
        "start_time": body.get("start_time"),
        "sms_parts": sms_parts,
        "ctr": ctr,
    }
    if job_id:
        meta["job_id"] = job_id
    return Message(
        provider=provider.name,
        account=account.login,
        recipient=digits(body["phone_number"]),
        attempts=attempts,
        client_ref=body.get("extra_id") or None,
        callback_url=body.get("callback_url"),
        parts=max(sms_parts, 1),
        cost=provider.price(channels[0], sms_parts if channels[0] == "sms" else 1),
        scheduled_at=start if start and start > now else None,
        meta=meta,
    )


# -- status codes ----------------------------------------------------------------------------
def codes_for(attempt: Attempt, status: Status, error: str | None) -> dict[str, int]:
    row = status_table()["statuses"][status.value]
    details = row["hyber_status"]
    channel = "viber_template" if is_viber_template(attempt) else attempt.channel
    detail = details.get(channel) or details.get(attempt.channel) or details.get("*") or row["substatus"] * 1000
    if status.is_failure and error and error.isdigit():
        detail = int(error)  # a scenario step's `error` is the hyber_status to report
    return {"status": row["status"], "substatus": row["substatus"], "hyber_status": detail}


def status_text(attempt: Attempt, status: Status) -> str | None:
    pattern = status_table()["texts"].get(status.value)
    if pattern is None:
        return None
    return pattern.format(channel=status_table()["channel_names"].get(attempt.channel, attempt.channel))


def is_viber_template(attempt: Attempt) -> bool:
    return attempt.channel == "viber" and attempt.content.get("_type") == "template"


def is_final(message: Message) -> bool:
    if message.status.is_success:
        return True
    last = message.attempts[-1]
    return last.status is not None and last.status.is_failure


def partner(attempt: Attempt, status: Status | None = None) -> str:
    """The channel that reported, or "hyber" when the platform blocked the message."""
    return PLATFORM if (status or attempt.status) == Status.REJECTED else attempt.channel


def extra_id(message: Message) -> dict[str, str]:
    value = message.meta.get("extra_id")
    return {"extra_id": value} if value else {}


def sms_parts(message: Message) -> dict[str, int]:
    """Only when the SMS channel was used (Table 8.3: missing otherwise)."""
    sms = message.attempt("sms")
    if sms is None or sms.status is None:
        return {}
    delivered = message.meta["sms_parts"] if sms.status.is_success else 0
    return {"total_sms_parts": message.meta["sms_parts"], "delivered_sms_parts": delivered}


def template(attempt: Attempt) -> dict[str, int]:
    """Table 8.3: matching_template_id "specifies the Viber template number. If the Message does
    not match any template - the value in this field is 0". Carried by Viber reports only; the
    number of a matched template is made up here (stable, derived from the text)."""
    if attempt.channel != "viber":
        return {}
    if not is_viber_template(attempt):
        return {"matching_template_id": 0}
    text = str(attempt.content.get("text", ""))
    return {"matching_template_id": 1_000_000 + uuid.uuid5(TEMPLATE_NAMESPACE, text).int % 9_000_000}


def clicks(message: Message) -> dict[str, int]:
    """`clicks` only when ctr was asked for (Table 8.3); nobody clicks in the emulator."""
    return {"clicks": 0} if message.meta.get("ctr") else {}


def ms(at: float) -> int:
    return int(round(at * 1000))


# -- reports ---------------------------------------------------------------------------------
def attempt_fields(message: Message, attempt: Attempt, status: Status) -> dict[str, Any]:
    at = attempt.history[-1].at if attempt.history else message.created_at
    return {
        **extra_id(message),
        "time": ms(at),
        **codes_for(attempt, status, attempt.error),
        **(sms_parts(message) if attempt.channel == "sms" else {}),
        **template(attempt),
    }


def simple_report(message: Message) -> dict[str, Any]:
    """GET .../simple (chapter 5)."""
    final = is_final(message)
    attempt = message.attempt(message.channel) or message.current
    report = {
        "phone_number": message.recipient,
        "last_partner": partner(attempt) if final else PLATFORM,
        "message_id": message.provider_id,
        **attempt_fields(message, attempt, attempt.status or Status.ACCEPTED),
    }
    if not final:
        report["status"] = -1  # "no final delivery status yet" (chapter 5)
        report.pop("matching_template_id", None)  # known once a Viber attempt has a result
    return report | clicks(message)


def advanced_report(message: Message) -> dict[str, Any]:
    """GET .../advanced (chapter 5): one report per channel the cascade reached."""
    reports = []
    for attempt in message.attempts:
        if attempt.status is None:
            continue  # the cascade never reached this channel
        reports.append({
            "phone_number": message.recipient,
            "message_id": message.provider_id,
            "last_partner": partner(attempt),
            **attempt_fields(message, attempt, attempt.status),
        })
    final = is_final(message)
    started = any(t.status == Status.QUEUED for a in message.attempts for t in a.history)
    return {
        "reports": reports,
        "started": started,
        "processing": started and not final,
        "delivered_via": partner(message.attempt(message.channel) or message.current) if final else PLATFORM,
        **clicks(message),
        "channels": [{"channel": a.channel, "ttl": a.content["_ttl"]} for a in message.attempts],
    }


def delivery_report(message: Message, attempt: Attempt, status: Status, error: str | None, at: float) -> dict[str, Any]:
    """The DR pushed to callback_url (part 4): `number` a JSON number, `time` in ms."""
    return {
        "number": int(message.recipient),
        "time": ms(at),
        **codes_for(attempt, status, error),
        "message_id": message.provider_id,
        **extra_id(message),
        "sent_via": partner(attempt, status),
        **sms_parts(message),
        **template(attempt),
        **clicks(message),
    }


def campaign_entry(message: Message) -> dict[str, Any]:
    """One accepted message of GET /{client_id}/status/{job_id} (chapter 3 example): processed
    while it has no final status; a final one carries status_text + codes (success) or
    error_text + error_code (failure, error_code = hyber_status as in the documented 35015)."""
    final = is_final(message)
    attempt = message.attempt(message.channel) or message.current
    at = attempt.history[-1].at if attempt.history else message.created_at
    entry: dict[str, Any] = {
        "time": ms(at),
        "phone_number": message.recipient,
        "message_id": message.provider_id,
        **extra_id(message),
        "processed": not final,
        "accepted": True,
        **sms_parts(message),
    }
    status = attempt.status or Status.ACCEPTED
    if final:
        codes = codes_for(attempt, status, attempt.error)
        text = status_text(attempt, status)
        if status.is_failure:
            entry.update({"error_text": text, "error_code": codes["hyber_status"]})
        else:
            entry.update({"status_text": text, **codes, **template(attempt)})
    return entry | clicks(message)


def sync_entry(message: Message) -> dict[str, Any]:
    """One accepted recipient of a /batch/sync or /broadcast/sync answer (chapter 3)."""
    return {"processed": True, "phone_number": message.recipient, "message_id": message.provider_id,
            **extra_id(message), "accepted": True}


def refused_entry(phone_number: Any, extra: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """A recipient the platform did not accept (Table 8.2: accepted false, error_code/text)."""
    refused: dict[str, Any] = {"processed": False, "phone_number": str(phone_number)}
    if isinstance(extra, str) and extra:
        refused["extra_id"] = extra
    return refused | {"accepted": False, "error_code": entry["code"], "error_text": entry["text"]}
