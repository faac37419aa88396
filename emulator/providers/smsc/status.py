"""status.php: the status of one message or of many (parallel `id` / `phone` lists; a trailing
comma asks for the list form even for one), with all=0/1/2 detail, and del=1 to delete.

Shapes [DOC D3]: single `Status = s, check_time = d, err = e` / `s,ts,e` / `<sms>` / JSON with
every documented field in every fmt (`flag` and `err` also when 0), for all=0/1/2. An unknown
message answers the same form with status -3 (GUESS on its other values); the list form of
fmt 0/1/2 is a GUESS (status fields, then id and phone).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ...core.model import Message
from . import codes, formats, history, recipients
from .call import Call
from .schedule import moscow_date


def _split(value: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    return items[:-1] if len(items) > 1 and items[-1] == "" else items


def find(call: Call, message_id: str, phone: str) -> Message | None:
    recipient = recipients.recipient(phone) or phone.strip().lower()
    message = call.engine.find_message(call.provider.name, call.login, history.message_key(message_id, recipient))
    return None if message is None or message.meta.get("deleted") else message


async def handle(call: Call) -> web.StreamResponse:
    p = call.params
    if call.invalid("status") or not p.has("phone"):
        return call.fail("params")
    ids, phones = _split(p.get("id")), _split(p.get("phone"))
    many = "," in p.get("id")
    if len(phones) == 1 and len(ids) > 1:
        phones = phones * len(ids)
    if "" in ids or "" in phones or len(ids) != len(phones):
        return call.fail("params")
    # error 9: >5 requests for one message, >1 identical list request a minute [DOC D3]
    if many and call.too_often(f"status-list:{p.get('id')}:{p.get('phone')}", 1):
        return call.fail("duplicate")
    if not many and call.too_often(f"status:{ids[0]}:{phones[0]}", 5):
        return call.fail("duplicate")
    pairs = list(zip(ids, phones))
    if p.flag("del"):
        return _delete(call, pairs)
    detail = p.number("all")
    found = [(i, ph, find(call, i, ph)) for i, ph in pairs]
    if many:
        return call.answer(_list_answer(found, detail))
    return call.answer(_single_answer(*found[0], detail))


def _delete(call: Call, pairs: list[tuple[str, str]]) -> web.StreamResponse:
    """del=1: the message is stopped if it has not gone yet and is gone for status.php (-3)."""
    messages = [m for m in (find(call, i, ph) for i, ph in pairs) if m is not None]
    if not messages:
        return call.fail("delete_failed")
    for message in messages:
        call.engine.cancel(message)
        message.meta["deleted"] = True
    return call.answer(formats.ok(), "query", [m.id for m in messages])


# -- fields -------------------------------------------------------------------------------------
# One status record: (name, text value for fmt 0/1/2, JSON value). The order is the documented
# one [DOC D3]: basic fields, then all=1 (send_date ... type), then all=2 (country, operator,
# region); HLR results follow for an HLR request.
Field = tuple[str, Any, Any]


def _fields(message: Message | None, detail: int, phone: str = "") -> list[Field]:
    """The documented fields of one message; for an unknown one (None) the same fields with
    status -3, empty dates (JSON null: PyPI `smsc` parses a date unless it is None) and zero
    numbers (GUESS: SMSC's answer for an unknown id is not quoted anywhere we could read; see
    docs/providers/smsc.md)."""
    if message is None:
        fields: list[Field] = [
            ("status", codes.NOT_FOUND, codes.NOT_FOUND),
            ("last_date", "", None),
            ("last_timestamp", 0, 0),
            ("flag", 0, 0),
            ("err", 0, 0),
        ]
        if detail >= 1:
            fields += [
                ("send_date", "", None),
                ("send_timestamp", 0, 0),
                ("phone", phone, phone),
                ("cost", formats.money_text(0), formats.money(0)),
                ("sender_id", "", ""),
                ("status_name", codes.STATUS_NAMES.get(codes.NOT_FOUND, ""), codes.STATUS_NAMES.get(codes.NOT_FOUND, "")),
                ("message", "", ""),
                ("comment", "", ""),
                ("type", 0, 0),
            ]
        if detail >= 2:
            country = codes.country(phone)
            fields += [("country", country, country), ("operator", "", ""), ("region", "", "")]
        return fields
    status, err = codes.message_status(message)
    changed = codes.last_change(message)
    fields = [
        ("status", status, status),
        ("last_date", moscow_date(changed), moscow_date(changed)),
        ("last_timestamp", int(changed), int(changed)),
        ("flag", 0, 0),
        ("err", err, err),
    ]
    if detail >= 1:
        sender = message.meta.get("sender", "")
        name = codes.STATUS_NAMES.get(status, "")
        text = message.meta.get("mes", "")
        fields += [
            ("send_date", moscow_date(message.created_at), moscow_date(message.created_at)),
            ("send_timestamp", int(message.created_at), int(message.created_at)),
            ("phone", message.recipient, message.recipient),
            ("cost", formats.money_text(message.cost), formats.money(message.cost)),
            ("sender_id", sender, sender),
            ("status_name", name, name),
            ("message", text, text),
            ("comment", "", ""),
            ("type", message.meta.get("type", 0), message.meta.get("type", 0)),
        ]
    if detail >= 2:
        country = codes.country(message.recipient)
        fields += [("country", country, country), ("operator", "", ""), ("region", "", "")]
    if detail >= 1 and message.meta.get("kind") == "hlr" and status == 1:
        fields += [(key, value, value) for key, value in _hlr(message.recipient)]
    return fields


def _hlr(phone: str) -> list[tuple[str, Any]]:
    """HLR result fields (imsi, msc, mcc, mnc, cn, net) as a third-party client reads them
    [3P R4]; the values are made up from the number (GUESS)."""
    return [
        ("imsi", "25001" + phone[-10:].rjust(10, "0")),
        ("msc", "7" + phone[-10:-6].rjust(4, "0") + "0000000"),
        ("mcc", "250"),
        ("mnc", "01"),
        ("cn", codes.country(phone)),
        ("net", ""),
    ]


def _text(fields: list[Field]) -> str:
    """`Status = s, check_time = d, err = e[, send_date = ..., ...]` [DOC D3]: the fmt=0 form
    leaves out the timestamps and flag, and names status/last_date as Status/check_time."""
    renamed = {"status": "Status", "last_date": "check_time"}
    hidden = ("last_timestamp", "flag", "send_timestamp")
    return formats.text_pairs((renamed.get(name, name), value) for name, value, _ in fields if name not in hidden)


def _csv(fields: list[Field]) -> str:
    """`status,last_timestamp,err[,send_timestamp,phone,cost,sender,status_name,message,comment,type]`
    [DOC D3] (the dates and flag are not in this form). With all=2 the country, operator and
    region come before the message: the official PHP library re-splits an all=2 answer into 12
    fields, the message being the last [OFF-LIB R2]."""
    shown = [(name, value) for name, value, _ in fields if name not in ("last_date", "flag", "send_date")]
    names = [name for name, _ in shown]
    if "country" in names and "message" in names:
        extra = [item for item in shown if item[0] in ("country", "operator", "region")]
        rest = [item for item in shown if item[0] not in ("country", "operator", "region")]
        at = [name for name, _ in rest].index("message")
        shown = rest[:at] + extra + rest[at:]
    return formats.csv_line(value for _, value in shown)


def _xml_fields(fields: list[Field]) -> list[tuple[str, Any]]:
    return [(name, value) for name, value, _ in fields]


def _json(fields: list[Field], detail: int, message_id: str) -> dict[str, Any]:
    """fmt=3: every documented key, `flag` and `err` included when 0 [DOC D3]; all>=1 answers
    also name the message `id` [DOC D3 key list, CLI P1 reads it]."""
    data = {name: value for name, _, value in fields}
    if detail >= 1:
        data = {"id": _int(message_id), **data}
    return data


def _int(value: str) -> Any:
    return int(value) if value.strip().isdigit() else value


def _single_answer(message_id: str, phone: str, message: Message | None, detail: int) -> formats.Answer:
    fields = _fields(message, detail, phone)
    return formats.Answer(text=_text(fields), csv=_csv(fields), xml=formats.xml_element("sms", _xml_fields(fields)), json=_json(fields, detail, message_id))


def _list_answer(found: list[tuple[str, str, Message | None]], detail: int) -> formats.Answer:
    """The list form (several ids, or one with a trailing comma): one record per message, each
    the single form plus the `id` and `phone` it was asked for (fmt=1: `id,phone,` first);
    GUESS for fmt 0/1/2 (notes part 1: only the JSON array is confirmed [CLI P1])."""
    texts, csvs, xmls, items = [], [], [], []
    for message_id, phone, message in found:
        fields = _fields(message, detail, phone)
        names = {name for name, _, _ in fields}
        ident: list[Field] = [(k, v, j) for k, v, j in [("id", message_id, _int(message_id)), ("phone", phone, phone)] if k not in names]
        texts.append(_text(fields + ident))
        csvs.append(formats.csv_line([message_id, phone]) + "," + _csv(fields))
        xmls.append(formats.xml_element("sms", _xml_fields(fields + ident)))
        items.append({**_json(fields, detail, message_id), **{k: j for k, _, j in ident}})
    return formats.Answer(
        text="\n".join(texts),
        csv="\n".join(csvs),
        xml="<list>\n" + "".join(x + "\n" for x in xmls) + "</list>",
        json=items,
    )
