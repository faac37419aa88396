"""What SMSC POSTs to the client's handler, configured per account (no per-request URL): the
account credential `callback_url` (PATCH /_emulator/accounts/smsc {"credentials":
{"callback_url": ...}}) [DOC D9: the handler URL is an account setting].

INFERRED payload (the field list is not published): a form POST with `id`, `phone`, `status`,
`err` (what django-fs-smsc's handler reads [CLI P3]) plus `ts`, `cnt`, `cost` (read by another
client [3P R4]); with a `callback_secret` credential, `md5` = md5("<id>:<phone>:<status>:<secret>")
as that client checks it [3P R4]. Sent for every status after "waiting" (-1). Incoming replies
go to the same URL as `id`, `phone`, `mes`, `to`, `sent`, `time` (GUESS).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ...core.callbacks import CallbackRequest
from ...core.model import Account, Event, Message, Status
from . import codes, formats
from .auth import md5_hex

FORM = "application/x-www-form-urlencoded"
_WAITING = (Status.ACCEPTED, Status.QUEUED)  # read per status change: an Enum member lookup costs ~70 ns


def reports(event: Event) -> bool:
    """Whether SMSC calls the handler for this status change (not for "waiting")."""
    return event.status not in _WAITING


def status_callback(account: Account, message: Message, event: Event) -> CallbackRequest | None:
    url = account.secrets.get("callback_url")
    if not url or not reports(event):
        return None
    status, err = codes.smsc_status(event.channel, event.status, event.error)
    fields = {
        "id": message.provider_id,
        "phone": message.recipient,
        "status": str(status),
        "err": str(err),
        "ts": str(int(event.at)),
        "cnt": str(message.parts),
        "cost": formats.money(message.cost),
    }
    secret = account.secrets.get("callback_secret")
    if secret:
        fields["md5"] = md5_hex(f"{fields['id']}:{fields['phone']}:{fields['status']}:{secret}")
    return CallbackRequest(url, urlencode(fields), content_type=FORM)


def answer_callback(account: Account, message: Message, answer_id: int, reply: dict[str, Any]) -> CallbackRequest | None:
    url = account.secrets.get("callback_url")
    if not url:
        return None
    fields = {
        "id": str(answer_id),
        "phone": message.recipient,
        "mes": reply.get("text", ""),
        "to": message.meta.get("sender", ""),
        "sent": message.provider_id,
        "time": str(int(reply.get("at", 0))),
    }
    return CallbackRequest(url, urlencode(fields), content_type=FORM, kind="inbound")
