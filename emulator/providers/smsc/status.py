"""status.php: the status of one message or of many (parallel `id` / `phone` lists; a trailing
comma asks for the list form even for one), with all=0/1/2 detail, and del=1 to delete.

Shapes [DOC D3]: single `Status = s, check_time = d, err = e` / `s,ts,e` / `<sms>` / JSON.
Real JSON answers leave out `flag` and `err` when they are 0, and a list item for an unknown
message is just {"status": -3, "id", "phone"} [CLI: answers quoted in a client's tests]; the
list form of fmt 0/1/2 is a GUESS (status fields, then id and phone).
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
    return call.answer(_single_answer(found[0][2], detail))


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
def _fields(message: Message, detail: int) -> list[tuple[str, Any]]:
    """Status fields in the documented order: basic ones, then all=1, then all=2 extras."""
    status, err = codes.message_status(message)
    changed = codes.last_change(message)
    fields: list[tuple[str, Any]] = [
        ("status", status),
        ("last_date", moscow_date(changed)),
        ("last_timestamp", int(changed)),
        ("flag", 0),
        ("err", err),
    ]
    if detail >= 1:
        fields += [
            ("send_date", moscow_date(message.created_at)),
            ("send_timestamp", int(message.created_at)),
            ("phone", message.recipient),
            ("cost", formats.money(message.cost)),
            ("sender_id", message.meta.get("sender", "")),
            ("status_name", codes.STATUS_NAMES.get(status, "")),
            ("message", message.meta.get("mes", "")),
            ("comment", ""),
            ("type", message.meta.get("type", 0)),
        ]
    if detail >= 2:
        fields += [("country", codes.country(message.recipient)), ("operator", ""), ("region", "")]
    if detail >= 1 and message.meta.get("kind") == "hlr" and status == 1:
        fields += _hlr(message.recipient)
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


def _text(fields: list[tuple[str, Any]]) -> str:
    named = [("Status" if k == "status" else "check_time" if k == "last_date" else k, v) for k, v in fields if k not in ("last_timestamp", "flag", "send_timestamp")]
    return formats.text_pairs(named)


def _csv(fields: list[tuple[str, Any]], detail: int) -> str:
    """status,last_timestamp,err[,send_timestamp,phone,cost,sender,status_name[,country,operator,region],message]
    (the message goes last so the official library's limited split keeps its commas)."""
    data = dict(fields)
    values: list[Any] = [data["status"], data["last_timestamp"], data["err"]]
    if detail >= 1:
        values += [data["send_timestamp"], data["phone"], data["cost"], data["sender_id"], data["status_name"]]
        if detail >= 2:
            values += [data["country"], data["operator"], data["region"]]
        values.append(data["message"])
    return formats.csv_line(values)


def _json(fields: list[tuple[str, Any]], detail: int, message: Message) -> dict[str, Any]:
    """fmt=3 keys; all>=1 answers also name the message `id` [DOC D3 key list, CLI P1 reads it]."""
    data = dict(fields)
    if detail >= 1:
        data = {"id": int(message.provider_id), **data}
    if detail == 0:
        for key in ("flag", "err"):
            if not data[key]:
                del data[key]
    return data


def _single_answer(message: Message | None, detail: int) -> formats.Answer:
    if message is None:
        return formats.Answer(text=f"Status = {codes.NOT_FOUND}", csv=str(codes.NOT_FOUND), xml=formats.xml_element("sms", [("status", codes.NOT_FOUND)]), json={"status": codes.NOT_FOUND})
    fields = _fields(message, detail)
    return formats.Answer(text=_text(fields), csv=_csv(fields, detail), xml=formats.xml_element("sms", fields), json=_json(fields, detail, message))


def _list_answer(found: list[tuple[str, str, Message | None]], detail: int) -> formats.Answer:
    texts, csvs, xmls, items = [], [], [], []
    for message_id, phone, message in found:
        ident: list[tuple[str, Any]] = [("id", int(message_id)), ("phone", phone)]
        if message is None:
            fields: list[tuple[str, Any]] = [("status", codes.NOT_FOUND)]
            texts.append(_text(fields + ident))
            csvs.append(formats.csv_line([message_id, phone, codes.NOT_FOUND]))
            xmls.append(formats.xml_element("sms", fields + ident))
            items.append(dict(fields + ident))
            continue
        fields = _fields(message, detail)
        ident = [(key, value) for key, value in ident if key not in dict(fields)]
        texts.append(_text(fields + ident))
        csvs.append(f"{message_id},{phone}," + _csv(fields, detail))
        xmls.append(formats.xml_element("sms", fields + ident))
        items.append({**_json(fields, detail, message), **dict(ident)})
    return formats.Answer(
        text="\n".join(texts),
        csv="\n".join(csvs),
        xml="<list>\n" + "".join(x + "\n" for x in xmls) + "</list>",
        json=items,
    )
