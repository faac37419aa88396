"""send.php `time`, `tz` and `valid`: when a message leaves, and how long it may try.

`time` forms [OFF-LIB R6, mirrors the official library comments]: `DDMMYYhhmm` (also written
`DD.MM.YY hh:mm`), `h1-h2` (send only between those hours), `0ts` (a unix timestamp), `+m`
(minutes from now). Clock times are Moscow time shifted by `tz` hours [CLI R1]. A bad value is
error 5 [DOC D2]. `valid`: hours 1..24 or `hh:mm` up to 24:00 [CLI R1].
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

MOSCOW = timezone(timedelta(hours=3))
_CLOCK_TIME = re.compile(r"^(\d{2})\.?(\d{2})\.?(\d{2})\s*(\d{2}):?(\d{2})$")
_HOURS = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_TIMESTAMP = re.compile(r"^0(\d+)$")
_MINUTES = re.compile(r"^\+(\d{1,6})$")
_TZ = re.compile(r"^[+-]?\d{1,2}$")
_VALID_HOURS = re.compile(r"^\d{1,2}$")
_VALID_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


class BadTime(ValueError):
    """The `time` or `tz` value is not one SMSC understands (error 5)."""


def local_zone(tz: str) -> timezone:
    tz = tz.strip()
    if not tz:
        return MOSCOW
    if not _TZ.match(tz) or not -12 <= int(tz) <= 12:  # GUESS on the range: R1 shows -1..9
        raise BadTime(tz)
    return timezone(timedelta(hours=3 + int(tz)))


def send_at(time: str, tz: str, now: float) -> float | None:
    """The (virtual) epoch second the message may leave, or None for right away."""
    time = time.strip()
    zone = local_zone(tz)
    if time in ("", "0"):
        return None
    if match := _CLOCK_TIME.match(time):
        day, month, year, hour, minute = (int(g) for g in match.groups())
        try:
            when = datetime(2000 + year, month, day, hour, minute, tzinfo=zone).timestamp()
        except ValueError:
            raise BadTime(time) from None
    elif match := _HOURS.match(time):
        when = _next_window(int(match[1]), int(match[2]), zone, now)
    elif match := _TIMESTAMP.match(time):
        when = float(match[1])
    elif match := _MINUTES.match(time):
        when = now + 60 * int(match[1])
    else:
        raise BadTime(time)
    return when if when > now else None  # GUESS: a time in the past means "now"


def _next_window(first: int, last: int, zone: timezone, now: float) -> float:
    if not 0 <= first < last <= 24:
        raise BadTime(f"{first}-{last}")
    local = datetime.fromtimestamp(now, zone)
    if first <= local.hour < last:
        return now
    start = local.replace(hour=first, minute=0, second=0, microsecond=0)
    if local.hour >= last:
        start += timedelta(days=1)
    return start.timestamp()


def lifetime(valid: str) -> int | None:
    """`valid` in seconds; None when absent. ValueError when malformed (error 1)."""
    valid = valid.strip()
    if not valid:
        return None
    if _VALID_HOURS.match(valid):
        hours, minutes = int(valid), 0
    elif match := _VALID_CLOCK.match(valid):
        hours, minutes = int(match[1]), int(match[2])
    else:
        raise ValueError(valid)
    seconds = hours * 3600 + minutes * 60
    if minutes >= 60 or not 0 < seconds <= 24 * 3600:
        raise ValueError(valid)
    return seconds


def moscow_date(epoch: float) -> str:
    """Dates in answers: `DD.MM.YYYY HH:MM:SS`, Moscow time [DOC D3 example, CLI P1 parser]."""
    return datetime.fromtimestamp(epoch, MOSCOW).strftime("%d.%m.%Y %H:%M:%S")
