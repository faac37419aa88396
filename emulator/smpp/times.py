"""SMPP time fields (SMPP 3.4 7.1.1): absolute `YYMMDDhhmmsstnnp` and relative `...R`, and the
`YYMMDDhhmm` dates of delivery receipts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


class BadTime(ValueError):
    pass


def parse(value: str, now: float) -> float | None:
    """The moment an SMPP time names (None for an empty field)."""
    if not value:
        return None
    if len(value) != 16 or not value[:15].isdigit() or value[15] not in "+-R":
        raise BadTime(value)
    yy, mo, dd, hh, mi, ss = (int(value[i : i + 2]) for i in range(0, 12, 2))
    if value[15] == "R":
        return now + (((yy * 365 + mo * 30 + dd) * 24 + hh) * 60 + mi) * 60 + ss
    offset = int(value[13:15]) * 15 * 60 * (1 if value[15] == "+" else -1)
    if offset and abs(offset) > 48 * 15 * 60:
        raise BadTime(value)
    try:
        local = datetime(2000 + yy, mo, dd, hh, mi, ss, int(value[12]) * 100_000, tzinfo=timezone(timedelta(seconds=offset)))
    except ValueError:
        raise BadTime(value) from None
    return local.timestamp()


def absolute(at: float) -> str:
    """`YYMMDDhhmmss000+` in UTC (query_sm_resp final_date)."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%y%m%d%H%M%S") + "000+"


def receipt_date(at: float, utc_offset_hours: float) -> str:
    """`YYMMDDhhmm` in the provider's zone (delivery receipt submit date / done date)."""
    zone = timezone(timedelta(hours=utc_offset_hours))
    return datetime.fromtimestamp(at, zone).strftime("%y%m%d%H%M")
