"""templates.php: the account's message templates. add=1 (name, msg, format) creates one,
get=1 lists them, chg=1 (id, name/msg/format) changes one, del=1 (id) deletes it [CLI P4 live
tests: add -> {"id"}, get -> items with id, name, message; CLI R1 lists `format` values sms,
flash, bin, push, mms, call, mail, viber].

Answers reuse the created / OK / list forms of phones.php (GUESS for fmt 0/1/2); an empty
list is an empty list (fmt=3 `[]`), an unknown id error 3 (GUESS).
"""
from __future__ import annotations

from aiohttp import web

from . import formats
from .call import Call

FORMATS = ("sms", "flash", "bin", "push", "mms", "call", "mail", "viber")


def _row(record) -> dict:
    f = record.fields
    return {"id": record.id, "name": f["name"], "message": f["message"], "format": f["format"]}


async def handle(call: Call) -> web.StreamResponse:
    p = call.params
    templates = call.directory("templates")
    if p.flag("get"):
        rows = [_row(record) for record in templates]
        return call.answer(formats.listing(rows, "template"))
    if p.flag("add"):
        name, message, kind = p.get("name").strip(), p.get("msg"), (p.get("format").strip() or "sms")
        if not name or not message.strip() or kind not in FORMATS:
            return call.fail("params")
        record = templates.add({"name": name, "message": message, "format": kind})
        return call.answer(formats.created(record.id, "template"), "accepted")
    if p.flag("chg") or p.flag("del"):
        record = templates.get(p.number("id")) if p.get("id").strip().isdigit() else None
        if not p.has("id"):
            return call.fail("params")
        if record is None:
            return call.fail("not_found")
        if p.flag("del"):
            templates.remove(record.id)
            return call.answer(formats.ok())
        if p.has("format") and p.get("format").strip() not in FORMATS:
            return call.fail("params")
        for param, field in (("name", "name"), ("msg", "message"), ("format", "format")):
            if p.has(param):
                record.fields[field] = p.get(param).strip() if param != "msg" else p.get(param)
        return call.answer(formats.ok())
    return call.fail("params")
