"""senders.php: the account's sender names. get=1 lists them as [{"sender": "<sender>"}, ...]
[CLI: a client's comment quoting the answer]; add=1 (sender, cmt) and del=1 (sender or id).
Answers of add/del reuse the created/OK forms (GUESS). A new account has "SMSC.RU" [CLI P1]."""
from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from . import formats
from .call import Call
from .send import DEFAULT_SENDER, SENDER


def _senders(call: Call):
    senders = call.directory("senders")
    seeded = call.directory("_senders_seeded")
    if not len(seeded):
        seeded.add({})
        senders.add({"sender": DEFAULT_SENDER, "comment": ""})
    return senders


async def handle(call: Call) -> web.StreamResponse:
    p = call.params
    if call.invalid("senders"):
        return call.fail("params")
    senders = _senders(call)
    if p.flag("get"):
        names = [record.fields["sender"] for record in senders]
        if not names:
            return call.fail("not_found")
        return call.answer(
            formats.Answer(
                text="\n".join(f"sender = {name}" for name in names),
                csv="\n".join(names),
                xml="<list>\n" + "".join(f"<sender>{escape(name)}</sender>\n" for name in names) + "</list>",
                json=[{"sender": name} for name in names],
            )
        )
    if p.flag("add"):
        name = p.get("sender").strip()
        if not name or name == "." or not SENDER.match(name):
            return call.fail("params")
        if any(r.fields["sender"] == name for r in senders):
            return call.fail("operation_failed")
        record = senders.add({"sender": name, "comment": p.get("cmt")})
        return call.answer(formats.created(record.id, "sender"), "accepted")
    if p.flag("del"):
        found = [r for r in senders if (p.has("id") and r.id == p.number("id")) or (p.has("sender") and r.fields["sender"] == p.get("sender").strip())]
        if not found:
            return call.fail("not_found")
        for record in found:
            senders.remove(record.id)
        return call.answer(formats.ok())
    return call.fail("params")
