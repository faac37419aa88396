"""The letter SMSC.ru reads (smsc.ru/api/smtp/send, smscentre.com/api/smtp):

    <login>:<psw>:<id>:<time>,<tz>:<translit>,<format>,<sender>,<test>:<phones>:<mes>
    <login>:<psw>:<id>:<time>,<tz>:<translit>,<format>,<sender>,<test>::<list>

sent as text/plain in the charset of its Content-Type (default koi8-r), or, when plain text is
impossible, with the text inside [text]...[/text]. At most 100 KB."""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field

MAX_SIZE = 100 * 1024
DEFAULT_CHARSET = "koi8-r"
_TAGGED = re.compile(r"\[text\](.*?)\[/text\]", re.S | re.I)


class BadLetter(ValueError):
    """A letter that does not follow the format (SMSC error 1, parameters)."""


@dataclass
class Letter:
    login: str
    psw: str
    id: str
    time: str
    tz: str
    translit: str
    format: str
    sender: str
    test: str
    entries: list[tuple[str, str]] = field(default_factory=list)  # (phones, text)


def body_text(raw: bytes) -> str:
    """The letter's text: its text/plain part in its charset, else what [text] tags enclose."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    fallback = None
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or DEFAULT_CHARSET
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            raise BadLetter(f"unknown charset {charset}") from None
        tagged = _TAGGED.search(text)
        if tagged:
            return tagged.group(1)
        if part.get_content_type() == "text/plain" and fallback is None:
            fallback = text
    if fallback is None:
        raise BadLetter("no text/plain part and no [text] tags")
    return fallback


def parse(text: str) -> Letter:
    text = text.strip().replace("\r\n", "\n")
    fields = text.split(":", 5)
    if len(fields) < 6:
        raise BadLetter("fewer fields than the format has")
    login, psw, message_id, when, options, rest = fields
    time, _, tz = when.partition(",")
    translit, fmt, sender, test = (options.split(",", 3) + ["", "", "", ""])[:4]
    letter = Letter(login.strip(), psw.strip(), message_id.strip(), time.strip(), tz.strip(), translit.strip(), fmt.strip(), sender.strip(), test.strip())
    if rest.startswith(":"):  # ::<list>, one `phones:text` per line
        for line in rest[1:].split("\n"):
            phones, sep, mes = line.partition(":")
            if sep and phones.strip():
                letter.entries.append((phones, mes))
    else:
        phones, sep, mes = rest.partition(":")
        if not sep:
            raise BadLetter("no text after the phones")
        letter.entries.append((phones, mes.strip("\n")))
    if not letter.entries:
        raise BadLetter("no recipients")
    return letter
