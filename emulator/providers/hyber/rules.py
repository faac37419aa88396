"""Hyber request rules that schemas/hyber/send.json cannot state, and which error key a schema
violation becomes.

Runs after the schema, so every value here already has its documented type and length.
Documented rules (docs/research/hyber.md section 2): an options entry for each listed channel,
SMS Cyrillic text <= 335, SMS alpha_name GSM-7 only, Viber file_name extensions, WhatsApp
coordinates -90..90 / -180..180, start_time "YYYY-MM-DD hh:mm:ss[±hh:mm]" (Kyiv time without an
offset). Viber content combinations: the six documented types, plus Viber's own "image only" and
"text + button" types (a guess for Hyber); anything else is rejected.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ...core.text import is_gsm7
from ...core.model import Rejection
from ...core.validation import Violation

KYIV = ZoneInfo("Europe/Kyiv")  # summer time included (tzdata ships the zone where the OS has none)

MAIN_ERRORS = {
    "phone_number": "phone_incorrect",
    "channels": "channels_incorrect",
    "channel_options": "channel_options_incorrect",
    "extra_id": "extra_id_incorrect",
    "callback_url": "callback_url_incorrect",
    "start_time": "start_time_incorrect",
    "tag": "tag_incorrect",
    "division_code": "division_code_incorrect",
}
OPTION_ERRORS = {
    "ttl": "ttl_incorrect",
    "text": "text_incorrect",
    "alpha_name": "alpha_name_incorrect",
    "title": "title_incorrect",
    "caption": "caption_incorrect",
    "file_name": "file_name_incorrect",
    **{url: "url_incorrect" for url in ("img", "action", "thumbnail", "doc", "audio", "video")},
}
SMS_CYRILLIC_MAX = 335
VIBER_FILE_EXTENSIONS = frozenset(
    ".doc .docx .rtf .dot .dotx .odt .odf .fodt .txt .info "
    ".pdf .xps .pdax .eps "
    ".xls .xlsx .ods .fods .csv .xlsm .xltx".split()
)
VIBER_VIDEO_FIELDS = ("thumbnail", "file_size", "duration")
WHATSAPP_MEDIA_NAMES = {"img_name": "img", "doc_name": "doc", "video_name": "video"}


class RuleError(Exception):
    def __init__(self, key: str, why: Rejection | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.why = why  # the schema violation behind it, when there is one (for the journal)


def error_for(violation: Violation) -> str:
    """The error key for the first schema violation (missing field, else by the field's name)."""
    if violation.keyword == "required":
        return "missing_parameter"
    path = violation.pointer.split("/")[1:]
    if len(path) >= 3 and path[0] == "channel_options":
        return OPTION_ERRORS.get(path[2], "parameter_incorrect")
    return MAIN_ERRORS.get(path[0] if path else "", "parameter_incorrect")


def validate(schemas, body: dict[str, Any]) -> dict[str, str]:
    """A single-message body against hyber/send then the rules below; RuleError on the first
    broken one, else the detected content type per channel."""
    violation = schemas.first_violation("hyber/send", body)
    if violation:
        key = error_for(violation)
        raise RuleError(key, Rejection.schema(key, violation))
    return check(body)


def mass_error_for(violation: Violation) -> str:
    """The error key of a violation of hyber/mass (the shared fields and the recipient list)."""
    path = violation.pointer.split("/")[1:]
    if path and path[0] in ("messages", "recipients"):
        if len(path) > 2 and path[2] == "phone_number":
            return "phone_incorrect"
        return "recipients_incorrect"
    if violation.keyword == "required":
        return "missing_parameter"
    return MAIN_ERRORS.get(path[0] if path else "", "parameter_incorrect")


def check(body: dict[str, Any]) -> dict[str, str]:
    """Raise RuleError on the first broken rule; return the detected content type per channel."""
    options = body["channel_options"]
    kinds: dict[str, str] = {}
    for channel in body["channels"]:
        if not isinstance(options.get(channel), dict):
            why = Rejection("channel_options_incorrect", "rules", pointer=f"/channel_options/{channel}", detail="missing")
            raise RuleError("channel_options_incorrect", why)  # "have to be specified for each channel"
        try:
            kinds[channel] = CHECKS[channel](options[channel])
        except RuleError as exc:
            exc.why = exc.why or Rejection(exc.key, "rules", pointer=_option_pointer(channel, exc.key))
            raise
    if "start_time" in body:
        start_epoch(body["start_time"])
    return kinds


def _option_pointer(channel: str, key: str) -> str:
    """Where in channel_options an error key points (its field when the key names one)."""
    fields = [name for name, error in OPTION_ERRORS.items() if error == key]
    return f"/channel_options/{channel}" + (f"/{fields[0]}" if len(fields) == 1 else "")


def _push(options: dict[str, Any]) -> str:
    if ("caption" in options) != ("action" in options):
        raise RuleError("parameter_incorrect")  # a button needs its text and its URL (guess)
    return "push"


def _sms(options: dict[str, Any]) -> str:
    if not is_gsm7(options["text"]) and len(options["text"]) > SMS_CYRILLIC_MAX:
        raise RuleError("text_incorrect")
    if not is_gsm7(options["alpha_name"]):
        raise RuleError("alpha_name_incorrect")
    return "sms"


def _viber(options: dict[str, Any]) -> str:
    kind = viber_type(options)
    if kind is None:
        raise RuleError("viber_type_incorrect")
    if kind == "file":
        name = options["file_name"]
        dot = name.rfind(".")
        if dot <= 0 or name[dot:].lower() not in VIBER_FILE_EXTENSIONS:
            raise RuleError("file_name_incorrect")
    return kind


def viber_type(options: dict[str, Any]) -> str | None:
    """Which Viber message type the fields make, None for a combination Viber does not send."""
    text, img, caption, action = (k in options for k in ("text", "img", "caption", "action"))
    video = [k in options for k in VIBER_VIDEO_FIELDS]
    if any(video):
        if not all(video) or not action or img or "file_name" in options or (caption and not text):
            return None
        return "video+text+button" if caption else "video+text" if text else "video"
    if "file_name" in options:
        return "file" if action and not (text or img or caption) else None
    if caption != action:
        return None  # a button is its caption plus its action
    if text and img and caption:
        return "text+image+button"
    if text and caption:
        return "text+button"  # Viber type not shown in the Hyber docs: guess
    if img and not text and not caption:
        return "image"  # Viber type not shown in the Hyber docs: guess
    if text and not img:
        return "template"  # "template Message request (only text is specified)"
    return None  # text+image, image+button, nothing at all


def _whatsapp(options: dict[str, Any]) -> str:
    for name, media in WHATSAPP_MEDIA_NAMES.items():
        if name in options and media not in options:
            raise RuleError("whatsapp_content_incorrect")  # a caption without its media (guess)
    located = [k in options for k in ("latitude", "longitude")]
    if any(located):
        if not all(located):
            raise RuleError("whatsapp_content_incorrect")
        if not (_in_range(options["latitude"], 90) and _in_range(options["longitude"], 180)):
            raise RuleError("whatsapp_content_incorrect")
    session = any(located) or any(k in options for k in ("img", "doc", "audio", "video"))
    if session:
        return "session"
    if "text" in options:
        return "template"  # "to open a chat you must first send a pre-registered text template"
    raise RuleError("whatsapp_content_incorrect")


def _in_range(value: Any, limit: float) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and -limit <= number <= limit


CHECKS = {"push": _push, "viber": _viber, "sms": _sms, "whatsapp": _whatsapp}


def start_epoch(value: str) -> float:
    """Epoch seconds of a start_time; without an offset it is Kyiv time (documented)."""
    try:
        moment = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
        if len(value) > 19:
            sign = 1 if value[19] == "+" else -1
            hours, minutes = int(value[20:22]), int(value[23:25])
            if hours > 14 or minutes > 59:
                raise ValueError(value)
            moment = moment.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
        else:
            moment = moment.replace(tzinfo=KYIV)
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise RuleError("start_time_incorrect") from None
