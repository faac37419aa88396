"""jobs.php: mass mailings ("рассылки"). add=1 (name, phones, mes, time... as send.php) creates
the mailing and its messages; cancel=1 stops what has not gone yet; del=1 also forgets it.

Shapes [DOC jobs_answer, CLI P4]: add -> `OK, ID - n` / `n` / `<result><id>` / {"id": n} (with
cost=1 also the cost); cancel/del -> the OK forms. Error 3 for an unknown mailing (GUESS: the
page names 3 "error saving a record").
Templates (`tpl`) are not emulated: a mailing needs its `mes`.
"""
from __future__ import annotations

from aiohttp import web

from . import formats, history
from .call import Call
from .send import Refused, Sent, build, dispatch


async def handle(call: Call) -> web.StreamResponse:
    p = call.params
    if call.invalid("jobs"):
        return call.fail("params")
    if p.flag("add"):
        return _add(call)
    if p.flag("cancel") or p.flag("del"):
        return _stop(call, forget=p.flag("del"))
    return call.fail("params")


def _add(call: Call) -> web.StreamResponse:
    values = call.params.values
    job_id_text = values.pop("id", None)  # a mailing's `id` is not a message id
    try:
        plan = build(call)
    except Refused as refused:
        return call.fail(refused.key)
    finally:
        if job_id_text is not None:
            values["id"] = job_id_text
    jobs = call.directory("jobs")
    job = jobs.add({"name": call.params.get("name"), "keys": [], "status": "active"})
    result = dispatch(call, plan, operation="job", extra_meta={"job": job.id})
    if not isinstance(result, Sent):
        jobs.remove(job.id)
        return result
    job.fields["keys"] = [history.message_key(m.provider_id, m.recipient) for m in result.accepted]
    return call.answer(_created(job.id, result.cost if call.params.flag("cost") else None), "accepted", [m.id for m in result.accepted])


def _created(job_id: int, cost=None) -> formats.Answer:
    """`OK, ID - <id>[, COST - <cost>]` / `<id>[,<cost>]` / `<result><id>..</id>[<cost>..</cost>]</result>`
    / {"id": n[, "cost": "<cost>"]} [DOC smscentre.com/api/http/jobs/jobs_answer]."""
    fields: list[tuple[str, object]] = [("id", job_id)]
    data: dict[str, object] = {"id": job_id}
    text = f"OK, ID - {job_id}"
    if cost is not None:
        fields.append(("cost", formats.money_text(cost)))
        data["cost"] = formats.money(cost)
        text += f", COST - {formats.money_text(cost)}"
    return formats.Answer(text=text, csv=formats.csv_line(v for _, v in fields), xml=formats.xml_element("result", fields), json=data)


def _stop(call: Call, forget: bool) -> web.StreamResponse:
    p = call.params
    if not p.has("id"):
        return call.fail("params")
    jobs = call.directory("jobs")
    job = jobs.get(p.number("id"))
    if job is None:
        return call.fail("not_found")
    for key in job.fields["keys"]:
        message = call.engine.find_message(call.provider.name, call.login, key)
        if message is not None:
            call.engine.cancel(message)
    job.fields["status"] = "cancelled"
    if forget:
        jobs.remove(job.id)
    return call.answer(formats.ok())
