"""get.php (`get_messages`, `get_answers`) and the per-account memory it reads.

Sent messages are the account's messages the store keeps (oldest first, bounded by its
retention), each findable by `<id>:<phone>` for status.php. Subscriber replies are numbered in
an engine directory as they arrive (see SMSC.inbound_callbacks).

Shapes [CLI P4, R1]: every kind answers a list. get_messages with nothing found is error 3,
which node-smsc turns into [] (it does so for get_messages and get_mega_accounts only);
get_answers, get_stat and get_mega_accounts with nothing to list are an empty list (fmt=3 `[]`,
node-smsc's live tests assert an array) [CLI P4]. get_price is {"zones": [...]} [CLI P4] with
the tariff page's fields [DOC get_data/tariffs]; get_stat rows carry login, cnt, credit,
debit, currency [DOC get_data/statistic]. Item field names of get_messages / get_answers are
not published (GUESS): messages use the status.php all=1 names, answers use id / received /
phone / to_phone / sent / message.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...core.engine import Engine
from ...core.model import Message
from . import codes, formats, reference
from .call import Call
from .schedule import MOSCOW, moscow_date

def message_key(message_id: Any, recipient: str) -> str:
    """What a sent message is found by (its request's id and its phone): send.dispatch stores
    every message with it."""
    return f"{message_id}:{recipient}"


def sent_messages(call: Call) -> list[Message]:
    return [m for m in call.engine.sent_messages(call.provider.name, call.login) if not m.meta.get("deleted")]


def record_answer(engine: Engine, provider: str, message: Message, reply: dict[str, Any]) -> int:
    """Number a subscriber reply for get_answers; returns its id."""
    answers = engine.directory(provider, message.account, "answers")
    record = answers.add(
        {
            "received": reply.get("at", engine.clock.now()),
            "phone": message.recipient,
            "to_phone": message.meta.get("sender", ""),
            "sent": message.provider_id,
            "message": reply.get("text", ""),
        }
    )
    return record.id


async def handle(call: Call) -> web.StreamResponse:
    if call.invalid("get"):
        return call.fail("params")
    if call.params.flag("get_messages"):
        return _messages(call)
    if call.params.flag("get_answers"):
        return _answers(call)
    if call.params.flag("get_stat"):
        return _stat(call)
    if call.params.flag("get_price"):
        return _price(call)
    if call.params.flag("get_mega_accounts"):
        return call.answer(formats.listing([], "account"))  # no Megafon accounts in the emulator
    return call.fail("params")


def _day(text: str, end: bool = False) -> float | None:
    if not text:
        return None
    day = datetime.strptime(text, "%d.%m.%Y").replace(tzinfo=MOSCOW).timestamp()
    return day + 86400 if end else day


def _messages(call: Call) -> web.StreamResponse:
    p = call.params
    try:
        start, end = _day(p.get("start")), _day(p.get("end"), end=True)
    except ValueError:
        return call.fail("bad_date")
    wanted = (p.get("email") or p.get("phone")).strip().lower()
    rows = []
    for message in reversed(sent_messages(call)):
        if wanted and message.recipient != wanted.lstrip("+"):
            continue
        if p.has("prev_id") and int(message.provider_id) >= p.number("prev_id"):
            continue
        if (start is not None and message.created_at < start) or (end is not None and message.created_at >= end):
            continue
        rows.append(_message_row(message))
    rows = rows[: min(p.number("cnt", 1000) or 1000, 1000)]
    if not rows:
        return call.fail("not_found")
    text_rows = [{**row, "cost": formats.money_text(row["cost"])} for row in rows]
    json_rows = [{**row, "cost": formats.money(row["cost"])} for row in rows]
    return call.answer(formats.listing(text_rows, "sms", json_rows))


def _message_row(message: Message) -> dict[str, Any]:
    status, err = codes.message_status(message)
    changed = codes.last_change(message)
    return {
        "id": int(message.provider_id),
        "phone": message.recipient,
        "status": status,
        "status_name": codes.STATUS_NAMES.get(status, ""),
        "err": err,
        "send_date": moscow_date(message.created_at),
        "send_timestamp": int(message.created_at),
        "last_date": moscow_date(changed),
        "last_timestamp": int(changed),
        "cost": message.cost,
        "cnt": message.parts,
        "sender": message.meta.get("sender", ""),
        "type": message.meta.get("type", 0),
        "message": message.meta.get("mes", ""),
    }


def _answers(call: Call) -> web.StreamResponse:
    p = call.params
    hours = p.number("hour", 1) or 1
    since = call.now() - 3600 * hours
    rows = []
    for record in call.directory("answers"):
        fields = record.fields
        if fields["received"] < since and not p.has("after_id"):
            continue
        if p.has("after_id") and record.id <= p.number("after_id"):
            continue
        if p.has("to_phone") and fields["to_phone"] != p.get("to_phone"):
            continue
        rows.append(
            {
                "id": record.id,
                "received": moscow_date(fields["received"]),
                "phone": fields["phone"],
                "to_phone": fields["to_phone"],
                "sent": int(fields["sent"]) if str(fields["sent"]).isdigit() else fields["sent"],
                "message": fields["message"],
            }
        )
    return call.answer(formats.listing(rows, "answer"))


def _stat(call: Call) -> web.StreamResponse:
    """One row for the account over [start, end]: messages sent and money spent (`credit`,
    "debit" in the page's own words) and paid in (`debit`: 0, no payments in the emulator)."""
    p = call.params
    try:
        start, end = _day(p.get("start")), _day(p.get("end"), end=True)
    except ValueError:
        return call.fail("bad_date")
    sent = [m for m in sent_messages(call)
            if (start is None or m.created_at >= start) and (end is None or m.created_at < end)]
    if not sent:
        return call.answer(formats.listing([], "stat"))
    spent = sum((m.cost for m in sent), Decimal("0"))
    row = {"login": call.login, "cnt": len(sent), "credit": spent, "debit": Decimal("0"), "currency": call.account.currency}
    text_row = {**row, "credit": formats.money_text(spent), "debit": formats.money_text(0)}
    json_row = {**row, "credit": formats.money(spent), "debit": formats.money(0)}
    return call.answer(formats.listing([text_row], "stat", [json_row]))


PRICE_FIELDS = {"api": "sms", "mass": "sms", "mms": "sms", "hlr": "hlr", "call": "call", "viber": "viber"}


def _price(call: Call) -> web.StreamResponse:
    prices = call.provider.prices
    zones = []
    for zone in reference.data()["price_zones"]:
        zones.append({"zone": zone["zone"], "name": zone["name"], **{field: prices.get(kind, Decimal("0")) for field, kind in PRICE_FIELDS.items()}})
    text_rows = [{k: (formats.money_text(v) if k in PRICE_FIELDS else v) for k, v in z.items()} for z in zones]
    json_zones = [{k: (formats.money(v) if k in PRICE_FIELDS else v) for k, v in z.items()} for z in zones]
    listed = formats.listing(text_rows, "zone")
    return call.answer(formats.Answer(text=listed.text, csv=listed.csv, xml=listed.xml,
                                      json={"zones": json_zones, "currency": call.account.currency}))
