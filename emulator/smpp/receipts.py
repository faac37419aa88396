"""deliver_sm PDUs the SMSC sends: delivery receipts (SMPP 3.4 appendix B text plus the
receipted_message_id / message_state TLVs) and mobile-originated replies.

Which statuses earn a receipt follows registered_delivery (5.2.17): bits 0-1 = 1 final
outcome, 2 failures only, 3 successes only (SMPP 5.0; SMSC.ru speaks 5.0 too); bit 4 asks
for intermediate notifications, sent here when the message reaches `sent` (stat ENROUTE)."""
from __future__ import annotations

import struct
from typing import Any

from ..core.model import Event, Message, Status
from .bridge import SMPP_KEY
from .codec import DELIVER_SM, TLV, Pdu
from .profiles import Profile
from .text import encode_text
from .times import receipt_date

# SMPP 3.4 5.2.28 message_state
ENROUTE, DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, ACCEPTED, UNKNOWN, REJECTED = 1, 2, 3, 4, 5, 6, 7, 8
MESSAGE_STATE = {
    Status.ACCEPTED: ACCEPTED,
    Status.QUEUED: ENROUTE,
    Status.SENT: ENROUTE,
    Status.DELIVERED: DELIVERED,
    Status.READ: DELIVERED,
    Status.UNDELIVERED: UNDELIVERABLE,
    Status.EXPIRED: EXPIRED,
    Status.REJECTED: REJECTED,
    Status.CANCELLED: DELETED,
}
RECEIPT_ESM_CLASS = 0x04  # SMSC delivery receipt
INTERMEDIATE_ESM_CLASS = 0x20  # intermediate delivery notification
MAX_SHORT_MESSAGE = 254


def wanted(message: Message, event: Event) -> str | None:
    """'final' / 'intermediate' when this event earns a receipt, else None."""
    info = message.meta.get(SMPP_KEY)
    if not info or info.get("receipted"):
        return None
    flags = int(info.get("registered_delivery", 0))
    final = event.status.is_success or event.status.is_failure
    if not final:
        return "intermediate" if flags & 0x10 and event.status == Status.SENT else None
    mode = flags & 0x03
    if mode == 1 or (mode == 2 and event.status.is_failure) or (mode == 3 and event.status.is_success):
        return "final"
    return None


def err_code(profile: Profile, status: Status, error: str | None) -> int:
    spec = profile.data["receipt"]
    if error is not None and str(error).strip().isdigit():
        return int(error)
    if error is not None and error in (spec.get("err_words") or {}):
        return int(spec["err_words"][error])
    return int((spec.get("err_default") or {}).get(status.value, 0))


def receipts(profile: Profile, message: Message, event: Event, kind: str) -> list[Pdu]:
    """One deliver_sm per message id the ESME was given (one per concatenated part)."""
    info = message.meta[SMPP_KEY]
    spec = profile.data["receipt"]
    status = event.status
    err = err_code(profile, status, event.error) if status.is_failure else 0
    stat = spec["stat"].get(status.value, "UNKNOWN")
    offset = float(profile.get("receipt_utc_offset", 0))
    text = message.text[: int(spec.get("text_chars", 20))]
    out = []
    for part_id in info["ids"]:
        body = spec["text"].format(
            id=part_id,
            dlvrd="001" if status.is_success else "000",
            submit_date=receipt_date(info["submitted_at"], offset),
            done_date=receipt_date(event.at, offset),
            stat=stat,
            err=f"{err:03d}",
            text=text,
        )
        raw = body.encode("latin-1", "replace")[:MAX_SHORT_MESSAGE]
        tlvs = {
            TLV["receipted_message_id"]: part_id.encode("latin-1", "replace") + b"\x00",
            TLV["message_state"]: bytes([MESSAGE_STATE.get(status, UNKNOWN)]),
        }
        if err:
            tlvs[TLV["network_error_code"]] = struct.pack(">BH", 3, min(err, 0xFFFF))  # 3 = GSM
        out.append(_deliver_sm(info["dest"], info["source"], RECEIPT_ESM_CLASS if kind == "final" else INTERMEDIATE_ESM_CLASS, raw, 0, tlvs))
    return out


def mobile_originated(message: Message, reply: dict[str, Any]) -> Pdu:
    """The subscriber's answer: from the recipient to the sender the message came from."""
    info = message.meta.get(SMPP_KEY) or {}
    sender = info.get("source") or [5, 0, str(message.current.content.get("sender") or "")]
    raw, coding = encode_text(str(reply.get("text", "")))
    tlvs = {}
    if len(raw) > MAX_SHORT_MESSAGE:
        tlvs[TLV["message_payload"]] = raw
        raw = b""
    return _deliver_sm([1, 1, message.recipient], sender, 0x00, raw, coding, tlvs)


def _deliver_sm(source: list[Any], dest: list[Any], esm_class: int, short_message: bytes, coding: int, tlvs: dict[int, bytes]) -> Pdu:
    return Pdu(
        DELIVER_SM,
        params={
            "service_type": "",
            "source_addr_ton": int(source[0]),
            "source_addr_npi": int(source[1]),
            "source_addr": str(source[2]),
            "dest_addr_ton": int(dest[0]),
            "dest_addr_npi": int(dest[1]),
            "destination_addr": str(dest[2]),
            "esm_class": esm_class,
            "protocol_id": 0,
            "priority_flag": 0,
            "schedule_delivery_time": "",
            "validity_period": "",
            "registered_delivery": 0,
            "replace_if_present_flag": 0,
            "data_coding": coding,
            "sm_default_msg_id": 0,
            "short_message": short_message,
        },
        tlvs=tlvs,
    )
