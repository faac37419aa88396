"""Stands for your application in docker-compose.yml: it sends a login code through SMSC.ru at
SMSC_URL (msgemu instead of https://smsc.ru/sys/), then, as its end-to-end test would, reads the
code back from msgemu's control API at MSGEMU_URL. Standard library only."""
import json
import os
import urllib.parse
import urllib.request

SMSC_URL = os.environ["SMSC_URL"]  # http://msgemu:8080/smsc/sys/
MSGEMU_URL = os.environ["MSGEMU_URL"]  # http://msgemu:8080
PHONE = "79001234567"

form = {"login": "demo", "psw": "demo-password", "phones": PHONE, "mes": "Your login code is 5821", "fmt": "3"}
with urllib.request.urlopen(SMSC_URL + "send.php", data=urllib.parse.urlencode(form).encode(), timeout=10) as response:
    answer = json.load(response)
print("SMSC answered:", answer)
assert "id" in answer and "error" not in answer, answer

wait = urllib.request.Request(f"{MSGEMU_URL}/_emulator/messages/wait?phone={PHONE}&timeout=5",
                              headers={"Authorization": "Bearer " + os.environ["MSGEMU_CONTROL_TOKEN"]})
with urllib.request.urlopen(wait, timeout=10) as response:
    message = json.load(response)
print("msgemu received it; code:", message["otp"])
assert message["otp"] == "5821"
