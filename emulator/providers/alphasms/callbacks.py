"""The `hook` callback of the JSON API.

INFERRED: AlphaSMS does not publish its `hook` payload (method, fields, signature). We POST JSON
`{"id", "msg_id", "type", "status", "time"}` on every status past the gateway's own queue,
matching the fields of the documented `status` answer plus the gateway id clients already store.
Only JSON items carry a `hook`; XML and HTTP API messages have no callback URL.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from ...core.callbacks import CallbackRequest
from ...core.model import Event, Message, Status
from .gateway import STATUSES


def status_callbacks(message: Message, event: Event) -> list[CallbackRequest]:
    if not message.callback_url or event.status in (Status.ACCEPTED, Status.QUEUED):
        return []
    payload = {
        "id": message.meta.get("client_id"),
        "msg_id": int(message.provider_id),
        "type": event.channel,
        "status": STATUSES["json"][event.status.value],
        "time": datetime.fromtimestamp(event.at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    }
    return [CallbackRequest(message.callback_url, json.dumps(payload))]
