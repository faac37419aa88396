"""The four answer forms every SMSC command speaks (fmt=0 text, 1 CSV, 2 XML, 3 JSON), and
their encoding in the request's charset.

A command builds one `Answer` holding all four forms; `respond()` picks the requested one.
Shapes come from the provider's own pages (errors, contacts, groups, blacklist: the seed
shared/seeds/smsc-contacts-groups-errors.txt) and from real clients (notes part 1); the XML
layout (one element per line, no declaration, no indentation) follows the seed's examples.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from aiohttp import web

from ..base import answer as ready_response

# charset parameter value -> Python codec. windows-1251 is SMSC's default [DOC].
CODECS = {"windows-1251": "cp1251", "utf-8": "utf-8", "koi8-r": "koi8_r"}
DEFAULT_CHARSET = "windows-1251"
# GUESS: SMSC's Content-Type headers are not documented; these are what the bodies are.
CONTENT_TYPES = {0: "text/plain", 1: "text/plain", 2: "text/xml", 3: "application/json"}


_DUMPS = json.JSONEncoder(ensure_ascii=False).encode  # built once (json.dumps with options builds one per call)


class JSONText(str):
    """A fmt=3 form already written as JSON text (what _DUMPS would write): sent as it is."""

    __slots__ = ()


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__
class Answer:
    """The four forms; a form may also be given as a function that builds it, so that an
    answer every send gives (the receipt) renders only the form the client asked for."""

    text: str | Callable[[], str]  # fmt=0
    csv: str | Callable[[], str]  # fmt=1
    xml: str | Callable[[], str]  # fmt=2
    json: Any  # fmt=3, dumped as JSON (or a function returning what to dump)

    def body(self, fmt: int) -> str:
        form = self.csv if fmt == 1 else self.xml if fmt == 2 else self.json if fmt == 3 else self.text
        if callable(form):
            form = form()
        return _DUMPS(form) if fmt == 3 and type(form) is not JSONText else form


def respond(answer: Answer, fmt: int, charset: str) -> web.Response:
    """The HTTP response: always 200, the body in the request's charset (unencodable -> '?')."""
    charset = charset if charset in CODECS else DEFAULT_CHARSET
    data = answer.body(fmt).encode(CODECS[charset], errors="replace")
    return ready_response(data, 200, f"{CONTENT_TYPES.get(fmt, 'text/plain')}; charset={charset}")


# -- building blocks ------------------------------------------------------------------------
def money(value: Decimal | float | int) -> str:
    """Amounts in JSON (fmt=3) as PHP prints a float: "3.5", "286.55", "1000" (real JSON answers
    quoted by clients: cost "3.8")."""
    number = Decimal(str(value)).quantize(Decimal("0.0001")).normalize()
    text = format(number, "f")
    return "0" if text in ("-0", "") else text


def money_text(value: Decimal | float | int) -> str:
    """Amounts in fmt 0/1/2 answers: always two decimals ("250.80", "3.50"), as SMSC's pages
    show them (balance `250.80`)."""
    number = Decimal(str(value)).quantize(Decimal("0.01"))
    return "0.00" if number == 0 else format(number, "f")


# XML 1.0 cannot carry these characters at all (not even as &#n;): they are replaced with "?",
# the way an unencodable character is (GUESS: SMSC's own handling is not published; a
# well-formed document is what every XML parser a client uses needs).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(value: Any) -> str:
    return escape(_XML_FORBIDDEN.sub("?", str(value)))


def xml_element(root: str, fields: Iterable[tuple[str, Any]]) -> str:
    inner = "".join(f"<{key}>{xml_text(value)}</{key}>\n" for key, value in fields)
    return f"<{root}>\n{inner}</{root}>"


def xml_list(item: str, rows: list[dict[str, Any]]) -> str:
    return "<list>\n" + "".join(xml_element(item, row.items()) + "\n" for row in rows) + "</list>"


def line_value(value: Any) -> str:
    """A free-text value inside a one-record-per-line answer (fmt=0): a line break in it would
    start a new record, so CR and LF are written as the two characters `\\r`, `\\n` and a
    backslash as `\\\\` (GUESS: SMSC does not publish its escaping; see docs/providers/smsc.md)."""
    text = str(value)
    if not any(ch in text for ch in "\\\r\n"):
        return text
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def csv_value(value: Any) -> str:
    """A value inside a fmt=1 record: as line_value, and a comma written as `\\,`, so that
    splitting on unescaped commas and newlines gives back every field (GUESS, same page)."""
    text = line_value(value)
    return text.replace(",", "\\,") if "," in text else text


def text_pairs(fields: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(f"{key} = {line_value(value)}" for key, value in fields)


def csv_line(values: Iterable[Any]) -> str:
    return ",".join(csv_value(value) for value in values)


# -- the common answers -----------------------------------------------------------------------
def error(code: int, text: str, message_id: Any = None) -> Answer:
    """`ERROR = N (text)` / `0,-N` / XML / JSON; with the message id for errors 3, 6, 7, 8 [DOC D2]."""
    fields: list[tuple[str, Any]] = [("error", text), ("error_code", code)]
    data: dict[str, Any] = {"error": text, "error_code": code}
    suffix = ""
    if message_id is not None:
        fields.append(("id", message_id))
        data["id"] = int(message_id) if str(message_id).isdigit() else message_id
        suffix = f", ID - {message_id}"
    return Answer(
        text=f"ERROR = {code} ({text}){suffix}",
        csv=f"{message_id if message_id is not None else 0},-{code}",
        xml=xml_element("result", fields),
        json=data,
    )


def ok() -> Answer:
    """Changes and deletions: `OK`, `<result>OK</result>`, `{"result": "OK"}` (seed).

    node-smsc turns a bare `OK` body into {result: 'OK'} and parses anything else as JSON, so
    the seed's JSON form reaches its callers as the very same object."""
    return Answer(text="OK", csv="OK", xml="<result>OK</result>", json={"result": "OK"})


def created(record_id: int, xml_root: str) -> Answer:
    """A record the server numbered: `ID = n` / `n` / `<phone|group><id>n</id></...>` / {"id": n} (seed)."""
    return Answer(
        text=f"ID = {record_id}",
        csv=str(record_id),
        xml=xml_element(xml_root, [("id", record_id)]),
        json={"id": record_id},
    )


def listing(rows: list[dict[str, Any]], xml_item: str, json_rows: list[dict[str, Any]] | None = None) -> Answer:
    """Lists: one `key = value, ...` line / CSV line per record, `<list><item>...`, JSON array."""
    return Answer(
        text="\n".join(text_pairs(row.items()) for row in rows),
        csv="\n".join(csv_line(row.values()) for row in rows),
        xml=xml_list(xml_item, rows),
        json=json_rows if json_rows is not None else rows,
    )
