"""One minimal valid send per provider, to a given recipient: for tests that apply to them all."""
from __future__ import annotations

import base64

HYBER_AUTH = "Basic " + base64.b64encode(b"demo:demo-password").decode()


def send_request(provider: str, phone: str, text: str = "Your code is 123456", hook: str | None = None, item_id: int = 1) -> dict:
    """kwargs for client.request(): method, path, and json/data/headers. AlphaSMS refuses a
    client `id` used before (error 208), so a second AlphaSMS send names another `item_id`."""
    digits = phone.lstrip("+")
    if provider == "alphasms":
        item = {"type": "sms", "id": item_id, "phone": int(digits), "sms_signature": "Shop", "sms_message": text}
        if hook:
            item["hook"] = hook
        return {"method": "POST", "path": "/alphasms/api/json.php", "json": {"auth": "alphasms-demo-key", "data": [item]}}
    if provider == "octopush":
        return {"method": "POST", "path": "/octopush/v1/public/multi-channel/send",
                "headers": {"api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"},
                "json": {"channel": "sms", "text": text, "recipients": [{"phone_number": "+" + digits}], "sender": "Shop", "purpose": "alert"}}
    if provider == "smsc":
        return {"method": "POST", "path": "/smsc/sys/send.php",
                "data": {"login": "demo", "psw": "demo-password", "phones": digits, "mes": text, "fmt": "3", "charset": "utf-8"}}
    if provider == "hyber":
        body = {"phone_number": int(digits), "channels": ["sms"], "channel_options": {"sms": {"text": text, "alpha_name": "GMSU", "ttl": 300}}}
        if hook:
            body["callback_url"] = hook
        return {"method": "POST", "path": "/hyber/1000", "headers": {"Authorization": HYBER_AUTH}, "json": body}
    if provider == "revicom":
        item = {"channelType": "SMS", "senderName": "Shop", "destination": digits, "content": text}
        if hook:
            item["callbackUrl"] = hook
        return {"method": "POST", "path": "/revicom/api/v1/message", "headers": {"Authorization": "Basic revicom-demo-token"}, "json": [item]}
    raise KeyError(provider)


async def send(client, provider: str, phone: str, **kwargs):
    spec = send_request(provider, phone, **kwargs)
    method, path = spec.pop("method"), spec.pop("path")
    return await client.request(method, path, **spec)
