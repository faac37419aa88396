"""One representative full send per provider: method, path, headers, body (what wrk replays)."""
from __future__ import annotations

import base64
import json

SENDS = {
    "alphasms": {
        "method": "POST",
        "path": "/alphasms/api/json.php",
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"auth": "alphasms-demo-key", "data": [
            {"type": "sms", "id": 1, "phone": 380971234567, "sms_signature": "Bench", "sms_message": "Your code is {n}"}]}),
    },
    "octopush": {
        "method": "POST",
        "path": "/octopush/v1/public/multi-channel/send",
        "headers": {"Content-Type": "application/json", "api-key": "octopush-demo-key", "api-login": "demo@msgemu.local"},
        "body": json.dumps({"channel": "sms", "text": "Your code is {n}", "recipients": [{"phone_number": "+33611223344"}],
                            "sender": "Bench", "purpose": "alert"}),
    },
    "smsc": {
        "method": "POST",
        "path": "/smsc/sys/send.php",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "body": "login=demo&psw=demo-password&phones=79001234567&mes=Your+code+is+{n}&fmt=3&charset=utf-8",
    },
    "hyber": {
        "method": "POST",
        "path": "/hyber/1000",
        "headers": {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(b"demo:demo-password").decode()},
        "body": json.dumps({"phone_number": 380961111111, "channels": ["sms"],
                            "channel_options": {"sms": {"text": "Your code is {n}", "alpha_name": "GMSU", "ttl": 300}}}),
    },
    "revicom": {
        "method": "POST",
        "path": "/revicom/api/v1/message",
        "headers": {"Content-Type": "application/json", "Authorization": "Basic revicom-demo-token"},
        "body": json.dumps([{"channelType": "SMS", "senderName": "Bench", "destination": "79001234567",
                             "content": "Your code is {n}"}]),
    },
}
