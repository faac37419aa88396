"""Reading an SMSC request: query string and form body (urlencoded or multipart) merged into one
set of parameters, decoded in the charset the request names.

Every command takes the same parameters by GET or POST, and clients mix the two (node-smsc
keeps everything in the query string even for multipart uploads) [DOC D1, CLI P4]. The body
wins over the query on a clash, as PHP's $_REQUEST does. Values are percent-decoded to raw
bytes first and only then decoded with `charset` (windows-1251 by default) [DOC D3].
"""
from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web

from ..base import BodyTooLarge, NotJSON, parse_json, read_body
from .formats import CODECS, DEFAULT_CHARSET

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class BadRequest(Exception):
    """The request cannot be read; carries what is needed to answer in its own format."""

    def __init__(self, key: str, fmt: int, charset: str) -> None:
        super().__init__(key)
        self.key, self.fmt, self.charset = key, fmt, charset


@dataclass
class Params:
    values: dict[str, str]
    fmt: int = 0
    charset: str = DEFAULT_CHARSET
    files: list[str] = field(default_factory=list)  # names of uploaded file fields (file0...)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def has(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def flag(self, name: str) -> bool:
        """PHP truthiness of a flag parameter: anything but empty and "0"."""
        return self.values.get(name, "").strip() not in ("", "0")

    def number(self, name: str, default: int = 0) -> int:
        value = self.values.get(name, "").strip()
        return int(value) if value.lstrip("-").isdigit() else default

    def without(self, *names: str) -> dict[str, str]:
        return {k: v for k, v in self.values.items() if k not in names}


def raw_query(request: web.Request) -> dict[str, str]:
    """Query parameters as latin-1 strings (one char per byte), before any charset decoding."""
    _, _, query = request.raw_path.partition("?")
    return dict(form_pairs(query)) if query else {}


def form_pairs(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True, encoding="latin-1")`, with a shortcut for the
    usual form without percent-escapes (`+` is a space either way; empty fields are skipped, a
    field without `=` has an empty value)."""
    if "%" in text:
        return parse_qsl(text, keep_blank_values=True, encoding="latin-1")
    pairs = []
    for item in text.replace("+", " ").split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
    return pairs


def format_of(values: dict[str, str]) -> tuple[int, str]:
    """fmt and charset as SMSC reads them: unknown fmt -> 0 (PHP int cast), unknown charset -> default."""
    fmt_text = values.get("fmt", "").strip()
    fmt = int(fmt_text) if fmt_text.isdigit() and int(fmt_text) in (0, 1, 2, 3) else 0
    charset = values.get("charset", "").strip().lower()
    return fmt, charset if charset in CODECS else DEFAULT_CHARSET


async def read_params(request: web.Request) -> Params:
    values = raw_query(request)
    files: list[str] = []
    if request.method == "POST" and request.content_type in (FORM, MULTIPART):
        try:
            body = await read_body(request)
        except BodyTooLarge:
            raise BadRequest("body_too_large", *format_of(values)) from None  # the query's fmt and charset
        if request.content_type == FORM:
            values.update(form_pairs(body.decode("latin-1")))
        else:
            fields, files = _multipart(request.headers.get("Content-Type", ""), body)
            if fields is None:
                raise BadRequest("params", *format_of(values))
            values.update(fields)
    fmt, charset = format_of(values)
    if _ascii(values):  # every charset SMSC takes reads ASCII as ASCII
        return Params(values, fmt, charset, files)
    try:
        decoded = {_decode(k, charset): _decode(v, charset) for k, v in values.items()}
    except UnicodeError:
        raise BadRequest("bad_charset", fmt, charset) from None
    return Params(decoded, fmt, charset, files)


def _ascii(values: dict[str, str]) -> bool:
    return "".join(values).isascii() and "".join(values.values()).isascii()


def _decode(raw: str, charset: str) -> str:
    return raw.encode("latin-1").decode(CODECS[charset])


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str] | None, list[str]]:
    """Text fields (as latin-1 strings) and file field names of a multipart/form-data body."""
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body,
        policy=email.policy.HTTP,
    )
    if not message.is_multipart():
        return None, []
    fields: dict[str, str] = {}
    files: list[str] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        name = str(name)
        if part.get_filename():
            files.append(name)
            continue
        payload = part.get_payload(decode=True) or b""
        fields[name] = payload.decode("latin-1")
    return fields, files


async def read_json_params(request: web.Request) -> Params:
    """`POST /rest/send/`: the send.php parameters as one JSON object in the body [DOC D1: "the
    transmission of parameters in json format in the request body"]. Values become the strings
    a form would carry (numbers as digits, true/false as 1/0, a list of phones comma-joined);
    the answer is JSON unless the body names another `fmt` (GUESS: the page shows no answer).
    Query parameters (e.g. credentials) are read too; the body wins on a clash."""
    query = raw_query(request)
    fmt, charset = format_of({"fmt": "3", **query})
    try:
        body = await read_body(request)
    except BodyTooLarge:
        raise BadRequest("body_too_large", fmt, charset) from None
    try:
        data = parse_json(body) if body.strip() else {}
    except (NotJSON, UnicodeError, ValueError):
        raise BadRequest("params", fmt, charset) from None
    if request.method != "POST" or not isinstance(data, dict):
        raise BadRequest("params", fmt, charset)
    values = {_decode(k, charset): _decode(v, charset) for k, v in query.items()}
    for key, value in data.items():
        text = _form_value(value)
        if text is None:
            raise BadRequest("params", fmt, charset)
        values[str(key)] = text
    fmt, charset = format_of({"fmt": "3", **values})
    return Params(values, fmt, charset)


def _form_value(value: object) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in value):
        return ",".join(str(item) for item in value)
    return None
