"""A letter becomes SMSC.ru messages through core, as send.php's would: the same accounts,
message ids (per-account numbers), prices, scenarios, magic numbers, status.php lookups.

The letter's fields are send.php's parameters, so they are read with the SMSC package's own
rules for them (numbers, time/tz, translit). The SMTP answer is a GUESS (the pages say nothing
of it): `250 OK - <n> SMS, ID - <id>` as send.php's text answer, `550 ERROR = <code> (<text>)`
with send.php's error codes."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ..core.engine import Submission
from ..core.model import Account, Attempt, Message, RequestRecord
from ..core.text import count_segments
from ..core.validation import schemas_root
from ..providers.smsc import recipients
from ..providers.smsc.schedule import BadTime, send_at
from ..providers.smsc.translit import transliterate
from ..runtime import Runtime
from ..smpp.bridge import Bridge
from ..smpp.profiles import load_profiles
from .mail import BadLetter, Letter

PROVIDER = "smsc"
DEFAULT_SENDER = "SMSC.RU"
MAX_CLIENT_ID = 2147483647
SEGMENTED = frozenset({"sms", "flash", "push", "bin", "binhex"})


def _kinds() -> dict[str, str]:
    """`format` number -> message kind (schemas/smsc/statuses.yaml `types`)."""
    data = yaml.safe_load((Path(schemas_root()) / PROVIDER / "statuses.yaml").read_text(encoding="utf-8"))
    return {str(number): kind for kind, number in data["types"].items()}


@dataclass
class Answer:
    code: int
    text: str

    def line(self) -> str:
        return f"{self.code} {self.text}"


class Refused(Exception):
    def __init__(self, key: str, message_id: Any = None) -> None:
        super().__init__(key)
        self.key, self.message_id = key, message_id


class MailSender:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.provider = runtime.providers[PROVIDER]
        self.profile = load_profiles()[PROVIDER]
        self.bridge = Bridge(self.engine, lambda p, channel, parts: self.provider.price(channel, parts))
        self.kinds = _kinds()

    def error(self, key: str, message_id: Any = None) -> Answer:
        entry = self.provider.error(key)
        suffix = f", ID - {message_id}" if message_id is not None and entry.get("with_id") else ""
        return Answer(550, f"ERROR = {entry['code']} ({entry['text']}){suffix}")

    def send(self, letter: Letter | BadLetter, raw: str) -> Answer:
        account = None
        try:
            if isinstance(letter, BadLetter):
                raise Refused("params")
            account = self._authenticate(letter)
            answer = self._send(letter, account)
        except Refused as refused:
            answer = self.error(refused.key, refused.message_id)
        self._journal(account, raw, answer)
        return answer

    def _authenticate(self, letter: Letter) -> Account:
        """login + psw (the password or its MD5); an empty login makes psw the API key [DOC]."""
        for account in self.engine.accounts(PROVIDER):
            if not letter.login:
                key = account.secrets.get("apikey")
                if key and letter.psw and hmac.compare_digest(key, letter.psw):
                    return account
            elif account.login == letter.login:
                password = account.secrets.get("password", "")
                md5 = hashlib.md5(password.encode("utf-8")).hexdigest()
                if password and (hmac.compare_digest(letter.psw, password) or hmac.compare_digest(letter.psw.lower(), md5)):
                    return account
        raise Refused("auth")

    def _send(self, letter: Letter, account: Account) -> Answer:
        kind = self.kinds.get(letter.format or "0")
        if kind is None:
            raise Refused("params")
        if letter.id and (not letter.id.isdigit() or int(letter.id) > MAX_CLIENT_ID):
            raise Refused("params")
        message_id = letter.id or self.bridge.new_id(self.profile, account)
        try:
            scheduled_at = send_at(letter.time, letter.tz, self.engine.clock.now())
        except BadTime:
            raise Refused("bad_date") from None
        sender = letter.sender or DEFAULT_SENDER
        test = letter.test == "1"
        messages: list[Message] = []
        failures: list[str] = []
        seen: set[str] = set()
        for phones, text in letter.entries:
            if not text.strip() and kind not in ("hlr", "ping"):
                raise Refused("params")
            if letter.translit in ("1", "2"):
                text = transliterate(text, letter.translit)
            for token in recipients.split(phones):
                target = recipients.mail(token) if kind == "mail" else recipients.phone(token)
                if target is None:
                    failures.append("invalid_phone")
                elif target not in seen:
                    seen.add(target)
                    messages.append(self._message(account, kind, message_id, target, text, sender, scheduled_at, test))
        if not messages:
            raise Refused(failures[0] if failures else "invalid_phone", message_id)
        decision = self.engine.submit(Submission(PROVIDER, account, messages, atomic=False, charge=not test))
        if decision.action in ("fault", "raw"):
            return Answer(451, "4.3.0 temporary failure, try again later")
        accepted = [o.message for o in decision.outcomes if o.accepted]
        if not accepted:
            raise Refused(next(o.error for o in decision.outcomes if o.error) or "cannot_deliver", message_id)
        for message in accepted:
            self.bridge.register(self.profile, message, [message_id], sender)
        parts = sum(m.parts for m in accepted)
        return Answer(250, f"OK - {parts} SMS, ID - {message_id}")

    def _message(self, account: Account, kind: str, message_id: str, recipient: str, text: str, sender: str, scheduled_at: float | None, test: bool) -> Message:
        parts = count_segments(text).parts if kind in SEGMENTED else 1
        price = self.provider.price(kind, parts) if kind in self.provider.prices else self.provider.price("sms", parts)
        attempt = Attempt(kind, {"text": text, "sender": sender})
        if test:
            attempt.error = "virtual"  # test mode: status.php shows err 200 "virtual sending" [DOC D6]
        return Message(
            provider=PROVIDER,
            account=account.login,
            recipient=recipient,
            attempts=[attempt],
            provider_id=message_id,
            parts=parts,
            cost=Decimal("0") if test else price,
            callback_url=account.secrets.get("callback_url") or None,
            scheduled_at=scheduled_at,
            meta={"smsc_id": int(message_id), "kind": kind, "type": int(_type_of(self.kinds, kind)), "sender": sender, "mes": text, "via": "smtp", "test": test},
        )

    def _journal(self, account: Account | None, raw: str, answer: Answer) -> None:
        store = self.engine.store
        accepted = answer.code == 250
        store.add_request(
            RequestRecord(
                id=store.new_request_id(),
                at=self.engine.clock.now(),
                provider=PROVIDER,
                method="SMTP",
                path="DATA",
                query="",
                headers={"login": account.login} if account else {},
                body=raw[:4096],
                status=answer.code,
                response=answer.line(),
                outcome="accepted" if accepted else "rejected",
            )
        )


def _type_of(kinds: dict[str, str], kind: str) -> str:
    return next((number for number, name in kinds.items() if name == kind), "0")
