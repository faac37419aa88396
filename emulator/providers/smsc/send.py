"""send.php: SMS and the other kinds (flash, push, bin, HLR, ping, MMS, e-mail, voice call,
Viber, social, Telegram), price quotes (cost=1) and answers with cost and balance (cost=2/3).

One request has one message id (the client's `id`, echoed back, or a new per-account number)
shared by all its recipients; status.php finds a message by that id plus its phone [DOC D1, D3].
A number the request cannot use (bad format, blacklisted, refused by the scenario) is left out
while the others go; when none is left the request fails with that number's error and the id
(errors 3, 6, 7, 8) [DOC D2]. Facts and tags: shared/providers/smsc-alphasms.md part 1.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...core.engine import Submission
from ...core.model import Attempt, Message, ZERO
from ...core.text import count_parts
from . import codes, formats, history, recipients
from .book import Book
from .call import Call
from .schedule import BadTime, lifetime, send_at
from .translit import transliterate

# flag -> message kind, first present wins [OFF-LIB R2 format table, CLI R1, R3].
# `tg` / `telegram`: the docs have a Telegram page but its flag name was NOT FOUND (GUESS).
KIND_FLAGS = ("hlr", "ping", "mail", "call", "viber", "flash", "push", "mms", "soc", "tg", "telegram")
FLAG_KINDS = {"tg": "telegram", "telegram": "telegram"}
_ANY_KIND_FLAG = frozenset(KIND_FLAGS)  # most sends name none of them: one set test, not eleven reads
# `bot=wa:<bot number>` sends to WhatsApp [DOC smscentre.com/api/http/send/whatsapp];
# `bot=tg:<bot>` to a Telegram chat bot (GUESS by analogy: that page's parameter was not read).
BOT_KINDS = {"wa": "whatsapp", "tg": "telegram"}
# `mes` is at most 1000 characters [DOC D1 "The maximum size is 1000 characters"]; an e-mail
# body may be longer (GUESS: 100 KB, the SMTP page's letter size).
MAX_TEXT = 1000
MAX_MAIL_TEXT = 100_000
# text prefixes that switch the kind [CLI R1 Send/Prefix.php]
PREFIXES = {"__CALL__": "call", "__VIBER__": "viber", "__SOC__": "soc", "__PING__": "ping", "__HLR__": "hlr"}
# kinds without their own tariff in emulator/data/prices.yaml are priced like these (GUESS)
PRICE_AS = {"push": "sms", "bin": "sms", "binhex": "sms", "mms": "sms", "soc": "viber", "whatsapp": "viber"}
SEGMENTED = frozenset({"sms", "flash", "push", "bin", "binhex"})  # billed per SMS part
WITHOUT_TEXT = frozenset({"hlr", "ping"})
DEFAULT_SENDER = "SMSC.RU"  # the sender a new SMSC account has (PyPI smsc default) [CLI P1]
# Sender ID: empty or "." disables the default one [OFF-LIB R6]; otherwise up to 11 Latin
# letters/digits or a number of up to 15 digits (GUESS: the usual alphanumeric sender rules).
SENDER = re.compile(r"^(|\.|(?=.*[A-Za-z])[A-Za-z0-9 ._&'!-]{1,11}|\+?[0-9]{1,15})$")
MAX_CLIENT_ID = 2147483647  # [OFF-LIB R6]
AUTH_PARAMS = frozenset({"login", "psw", "apikey"})


class Refused(Exception):
    def __init__(self, key: str, with_id: bool = False) -> None:
        super().__init__(key)
        self.key, self.with_id = key, with_id


@dataclass
class Plan:
    """What a send request asks for, checked, with recipients resolved."""

    kind: str
    client_id: int | None
    sender: str
    entries: list[tuple[str, str]]  # (recipient, text)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (recipient as given, error key)
    mass: bool = False
    scheduled_at: float | None = None
    ttl: int | None = None
    _id: int | None = None

    def message_id(self, call: Call) -> int:
        """The client's id, else a new per-account number (allocated once, when first needed)."""
        if self._id is None:
            self._id = self.client_id if self.client_id is not None else next_id(call)
        return self._id


def next_id(call: Call) -> int:
    ids = call.directory("message_ids")
    record = ids.add({})
    ids.remove(record.id)
    return record.id


# -- reading the request --------------------------------------------------------------------------
def _kind_by_params(call: Call) -> str | None:
    """The kind a flag, `bin` or `bot` asks for; None: the text's prefix decides (or sms)."""
    p = call.params
    values = p.values
    if not _ANY_KIND_FLAG.isdisjoint(values):
        for flag in KIND_FLAGS:
            if p.flag(flag):
                return FLAG_KINDS.get(flag, flag)
    if "bin" in values and p.flag("bin"):  # absent: not a flag (most sends name neither bin nor bot)
        return "binhex" if p.get("bin").strip() == "2" else "bin"
    if "bot" not in values:
        return None
    bot, sep, _ = p.get("bot").strip().partition(":")
    if sep and bot.lower() in BOT_KINDS:
        return BOT_KINDS[bot.lower()]
    return None


def _kind_by_prefix(text: str) -> tuple[str, str]:
    if not text.startswith("__"):  # every prefix does
        return "sms", text
    for prefix, kind in PREFIXES.items():
        if text.startswith(prefix):
            return kind, text[len(prefix) :]
    return "sms", text


def build(call: Call) -> Plan:
    p = call.params
    if call.invalid("send"):
        raise Refused("params")
    client_id = client_id_of(p.get("id"))
    if client_id is not None and client_id > MAX_CLIENT_ID:
        raise Refused("params")
    by_params = _kind_by_params(call)  # once: the flags say the same for every entry
    kind = by_params if by_params is not None else _kind_by_prefix(p.get("mes"))[0]
    if p.has("bot") and kind not in BOT_KINDS.values():
        raise Refused("params")
    raw_entries = _raw_entries(call, kind, by_params)
    if not raw_entries:
        raise Refused("params")
    longest = 0
    for _, text in raw_entries:  # a loop, not a generator: most sends have one entry
        if len(text) > longest:
            longest = len(text)
    if longest > (MAX_MAIL_TEXT if kind == "mail" else MAX_TEXT):
        raise Refused("message_too_long")
    values = p.values
    time, tz = values.get("time"), values.get("tz")
    try:  # neither given (the usual send): right away, without reading the clock
        scheduled_at = send_at(time or "", tz or "", call.now()) if time or tz else None
    except BadTime:
        raise Refused("bad_date") from None
    valid = values.get("valid")
    try:
        ttl = lifetime(valid) if valid else None
    except ValueError:
        raise Refused("params") from None
    sender = values.get("sender", DEFAULT_SENDER)
    plan = Plan(kind, client_id, sender, [], scheduled_at=scheduled_at, ttl=ttl)
    if kind != "mail" and sender != DEFAULT_SENDER and not SENDER.match(sender):  # the default matches
        raise Refused("forbidden", with_id=True)
    _resolve(call, plan, raw_entries)
    if not plan.entries:
        raise Refused(plan.failures[0][1] if plan.failures else "invalid_phone", with_id=True)
    return plan


def client_id_of(text: str) -> int | None:
    """The client's message id; `0` or empty is "none": the official libraries send `id=0` on
    every call [OFF-LIB R2 smsc_api.py/.php: `"&id=" + str(id)` with id=0 by default]."""
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _raw_entries(call: Call, kind: str, by_params: str | None) -> list[tuple[str, str]]:
    """(recipient token, text) pairs: from `phones` + `mes`, or from `list` lines `phones:mes`."""
    values = call.params.values
    pairs: list[tuple[str, str]] = []
    if values.get("list"):
        for line in values["list"].splitlines():
            tokens, sep, text = line.partition(":")
            if not sep:
                continue
            pairs.extend((token, text) for token in recipients.split(tokens))
    else:
        mes = values.get("mes", "")
        for token in recipients.split(values.get("phones", "")):  # a loop: most sends name one number
            pairs.append((token, mes))
    mode = values["translit"].strip() if "translit" in values else ""
    out = []
    for token, text in pairs:
        if by_params is None and text.startswith("__"):  # each text's own prefix (`__VIBER__...`) comes off it
            _, text = _kind_by_prefix(text)
        if kind not in WITHOUT_TEXT and (not text or text.isspace()):  # `not text.strip()`, without a copy
            return []
        out.append((token, transliterate(text, mode) if mode in ("1", "2") else text))
    return out


def _resolve(call: Call, plan: Plan, raw_entries: list[tuple[str, str]]) -> None:
    """Expand groups, normalise numbers/addresses, drop duplicates and blacklisted numbers."""
    optouts = call.engine.optouts(call.provider.name, call.login)
    book: Book | None = None  # its directories are needed for groups and opted-out numbers only
    seen: set[str] = set()
    resolved: list[tuple[str, str]] = []
    for token, text in raw_entries:
        group = recipients.group_ref(token)
        if group is not None:
            plan.mass = True
            book = book or call.book(optouts)
            record = book.group_for_send(group)
            if record is None:
                plan.failures.append((token, "invalid_phone"))
                continue
            for contact in book.members(record.id):
                targets = [contact.fields["mail"]] if plan.kind == "mail" and contact.fields.get("mail") else contact.fields["numbers"]
                resolved.extend((target, text) for target in targets if plan.kind != "mail" or "@" in target)
            continue
        target = recipients.mail(token) if plan.kind == "mail" else recipients.phone(token)
        if target is None:
            plan.failures.append((token, "invalid_phone"))
        else:
            resolved.append((target, text))
    plan.mass = plan.mass or (len(resolved) > 1 and len({target for target, _ in resolved}) > 1)
    for target, text in resolved:
        if target in seen:
            continue
        seen.add(target)
        if target in optouts and (book := book or call.book(optouts)).refuses(target, plan.mass):
            plan.failures.append((target, "cannot_deliver"))  # blacklisted: error 8 (our choice, docs/providers/smsc.md)
        else:
            plan.entries.append((target, text))


def fingerprint(call: Call) -> int:
    """What makes two send requests "identical" for error 9: every parameter but the credentials.
    A 64-bit hash of them (a frozenset of the pairs, so their order does not count; no sort),
    computed in C: the window that counts them is this process's own
    (limits.py), and a minute of different sends at 4,000/s has about 2 in 10^9 odds of two of
    them sharing a hash (a SHA-1 of their repr cost ~8 µs a send, a quarter of SMSC's own work)."""
    values = call.params.values
    if AUTH_PARAMS.isdisjoint(values):
        return hash(frozenset(values.items()))
    values = values.copy()  # the credentials left out: a password or its MD5 make the same send
    for name in AUTH_PARAMS:
        values.pop(name, None)
    return hash(frozenset(values.items()))


# -- domain messages --------------------------------------------------------------------------------
def drafts(call: Call, plan: Plan, extra_meta: dict[str, Any] | None = None) -> list[Message]:
    message_id = plan.message_id(call)
    p = call.params
    kind, sender = plan.kind, plan.sender
    # the same for every recipient of the request: read once
    provider, account = call.provider, call.account
    provider_id = str(message_id)
    client_ref = str(plan.client_id) if plan.client_id is not None else None
    callback_url = account.secrets.get("callback_url") or None
    segmented = kind in SEGMENTED
    tariff = PRICE_AS.get(kind, kind)
    type_code = codes.TYPES.get(kind, 0)
    out = []
    for recipient, text in plan.entries:
        parts = count_parts(text) if segmented else 1
        content: dict[str, Any] = {"text": text, "sender": sender}
        if kind == "mail":
            content.update({"subject": p.get("subj"), "from": sender})
        elif kind == "call":
            content.update({"voice": p.get("voice", "m"), "param": p.get("param")})
        if plan.ttl:
            content["_ttl"] = plan.ttl
        meta = {"smsc_id": message_id, "kind": kind, "type": type_code, "sender": sender, "mes": text}
        if extra_meta:
            meta.update(extra_meta)
        out.append(
            Message(
                provider=provider.name,
                account=account.login,
                recipient=recipient,
                attempts=[Attempt(kind, content)],
                provider_id=provider_id,
                client_ref=client_ref,
                callback_url=callback_url,
                parts=parts,
                cost=provider.price(tariff, parts),
                scheduled_at=plan.scheduled_at,
                meta=meta,
            )
        )
    return out


@dataclass
class Sent:
    message_id: int
    accepted: list[Message]
    failures: list[tuple[str, str]]

    @property
    def parts(self) -> int:
        parts = 0
        for message in self.accepted:
            parts += message.parts
        return parts

    @property
    def cost(self) -> Decimal:
        return _cost(self.accepted)


def _cost(messages: list[Message]) -> Decimal:
    """What the messages cost together: the sum() of their costs, by a loop (no generator)."""
    total = ZERO
    for message in messages:
        total += message.cost
    return total


def dispatch(call: Call, plan: Plan, operation: str = "send", extra_meta: dict[str, Any] | None = None) -> Sent | web.StreamResponse:
    """Submit the plan's messages; a response when the request fails as a whole."""
    quote = operation == "cost"
    if quote and plan.client_id is None:
        plan._id = 0  # a price quote sends nothing and takes no message number
    messages = drafts(call, plan, extra_meta)
    if not quote and _cost(messages) > call.account.balance:
        return call.fail("insufficient_balance", plan.message_id(call))
    keys = None
    if not quote:
        keys = []  # each found by its history key (a loop: a comprehension is a call of its own)
        for message in messages:
            keys.append((history.message_key(message.provider_id, message.recipient),))
    submission = Submission(call.provider.name, call.account, messages, atomic=False, operation=operation, charge=not quote,
                            store=not quote, index_keys=keys)
    decision = call.engine.submit(submission)
    special = call.provider.special(call.request, decision)
    if special is not None:
        return special
    failures = list(plan.failures)
    accepted = []
    for outcome in decision.outcomes:
        if outcome.error:
            failures.append((outcome.message.recipient, outcome.error))
        else:
            accepted.append(outcome.message)  # stored with its history key
    if not accepted:
        why = decision.first_reason if not plan.failures else None
        return call.fail(failures[0][1] if failures else "cannot_deliver", plan.message_id(call) or None, why)
    call.note(decision.first_reason)
    return Sent(plan.message_id(call), accepted, failures)


# -- the endpoint -------------------------------------------------------------------------------------
async def handle(call: Call) -> web.StreamResponse:
    try:
        plan = build(call)
    except Refused as refused:
        return call.fail(refused.key, plan_id(call) if refused.with_id else None)
    cost_mode = call.params.number("cost")
    if call.too_often(("send", cost_mode == 1, fingerprint(call)), 5 if cost_mode == 1 else 1):
        return call.fail("duplicate")  # >1 identical send / >5 identical cost requests a minute [DOC D2]
    result = dispatch(call, plan, "cost" if cost_mode == 1 else "send")
    if not isinstance(result, Sent):
        return result
    answer = _quote(result) if cost_mode == 1 else _receipt(call, result, cost_mode)
    outcome = "query" if cost_mode == 1 else "accepted"
    return call.answer(answer, outcome, [] if cost_mode == 1 else [m.id for m in result.accepted])


def plan_id(call: Call) -> int:
    """The id an error names when the plan itself failed: the client's, else a new number."""
    client_id = client_id_of(call.params.get("id"))
    if client_id is not None and client_id <= MAX_CLIENT_ID:
        return client_id
    return next_id(call)


def _receipt(call: Call, sent: Sent, cost_mode: int) -> formats.Answer:
    """`OK - n SMS, ID - x` / `id,cnt[,cost[,balance]]` / XML / JSON [CLI P2, OFF-LIB R2, CLI P4].
    Text and XML forms of cost/balance are a GUESS (notes: NOT FOUND). Money: two decimals in
    fmt 0/1/2, PHP's float print in JSON (formats.money_text / money)."""
    parts = sent.parts
    fields: list[tuple[str, Any]] = [("id", sent.message_id), ("cnt", parts)]
    data: dict[str, Any] = {"id": sent.message_id, "cnt": parts}
    if cost_mode in (2, 3):
        cost = sent.cost
        fields.append(("cost", formats.money_text(cost)))
        data["cost"] = formats.money(cost)
    if cost_mode == 3:
        fields.append(("balance", formats.money_text(call.account.balance)))
        data["balance"] = formats.money(call.account.balance)
    phones = _phone_report(call, sent)
    if phones is not None:
        data["phones"] = phones
    json: Any = data
    if len(data) == 2 and type(sent.message_id) is int and type(parts) is int:  # the usual receipt: what _DUMPS writes, without it
        json = formats.JSONText(f'{{"id": {sent.message_id}, "cnt": {parts}}}')
    return formats.Answer(
        text=lambda: _receipt_text(fields),  # only the asked-for form is built
        csv=lambda: formats.csv_line(value for _, value in fields),
        xml=lambda: formats.xml_element("result", fields),
        json=json,
    )


def _receipt_text(fields: list[tuple[str, Any]]) -> str:
    """`OK - <cnt> SMS, ID - <id>[, COST - <cost>[, BALANCE - <balance>]]` from _receipt's fields."""
    text = f"OK - {fields[1][1]} SMS, ID - {fields[0][1]}"
    for name, value in fields[2:]:
        text += f", {name.upper()} - {value}"
    return text


def _quote(sent: Sent) -> formats.Answer:
    """cost=1: `{"cost": "x", "cnt": n}` [CLI P1, R4], `cost,cnt` [OFF-LIB R2]; text/XML GUESS."""
    cost = formats.money_text(sent.cost)
    return formats.Answer(
        text=f"OK - {sent.parts} SMS, COST - {cost}",
        csv=f"{cost},{sent.parts}",
        xml=formats.xml_element("result", [("cost", cost), ("cnt", sent.parts)]),
        json={"cost": formats.money(sent.cost), "cnt": sent.parts},
    )


def _phone_report(call: Call, sent: Sent) -> list[dict[str, str]] | None:
    """op=1 (every number) / err=1 (failed ones): fmt=3 key "phones", items of strings
    {phone, mccmnc, cost, status, error} [CLI R3]; values for accepted numbers are a GUESS."""
    p = call.params
    values = p.values
    if ("op" not in values and "err" not in values) or not (p.flag("op") or p.flag("err")):  # most sends ask for neither
        return None
    rows = []
    if p.flag("op"):
        for message in sent.accepted:
            status, err = codes.message_status(message)
            rows.append({"phone": message.recipient, "mccmnc": "", "cost": formats.money(message.cost), "status": str(status), "error": str(err)})
    for recipient, key in sent.failures:
        code = call.provider.error(key)["code"]
        rows.append({"phone": recipient, "mccmnc": "", "cost": "0", "status": "", "error": str(code)})
    return rows
