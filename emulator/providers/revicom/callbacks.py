"""Status callbacks (api.direct.revicom.ltd/messages/callback, "Message status change").

POST {callbackUrl}, Content-Type application/json, a JSON array of
`{message_uuid, channel_type, [cascade_message_uuid, cascade_step], callback_event, status,
status_time, [error_code]}`, sent only for the events the message asked for (callbackEvents;
`delivered` by default). cascade_* are "sent for cascading messages only": single messages sent
through POST /api/v1/message have none. error_code accompanies the failed statuses (undelivered,
unsent); its values are guesses (schemas/revicom/references.yaml). INFERRED: one event per POST;
the `login:password@` of the URL is sent as Basic auth ("transmission of a login:password pair
for Basic authorization").
"""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

from yarl import URL

from ...core.callbacks import CallbackRequest
from ...core.model import Event, Message, Status
from .reference import callback_event_of
from .wire import error_code, iso


def status_callbacks(message: Message, event: Event, status_name: Callable[[Status], str]) -> list[CallbackRequest]:
    if event.status in (Status.ACCEPTED, Status.QUEUED) or not message.callback_url:
        return []  # `sending` is no event of the callback page
    status = status_name(event.status)
    wanted = callback_event_of(status)
    if wanted not in message.meta.get("callbackEvents", []):
        return []
    payload: dict[str, Any] = {
        "message_uuid": message.provider_id,
        "channel_type": event.channel,
    }
    payload.update({"callback_event": wanted, "status": status, "status_time": iso(event.at)})
    code = error_code(event.status, event.error)
    if code is not None:
        payload["error_code"] = code
    url, headers = _split_credentials(message.callback_url)
    return [CallbackRequest(url, json.dumps([payload], ensure_ascii=False, separators=(",", ":")), headers=headers)]


def _split_credentials(callback_url: str) -> tuple[str, dict[str, str]]:
    try:
        url = URL(callback_url)
    except (ValueError, TypeError):
        return callback_url, {}
    if not url.user:
        return callback_url, {}
    secret = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
    return str(url.with_user(None)), {"Authorization": f"Basic {secret}"}
