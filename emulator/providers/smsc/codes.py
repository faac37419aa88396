"""SMSC's status and err codes for a message's lifecycle (canonical status + Attempt.error).

STATUSES is the one canonical -> SMSC status table; schemas/smsc/statuses.yaml holds the data
around it (names, err refinements, message type numbers, countries).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


from ...resources import read_yaml
from ...core.model import Message, Status
from ...core.validation import schemas_root

# canonical status -> SMSC `status` (codes: notes part 1, three clients agree; -2 from R5 only)
STATUSES = {
    "accepted": -1,  # waiting to be sent
    "queued": -1,
    "sent": 0,  # handed to the operator
    "delivered": 1,
    "read": 2,  # messengers / e-mail; an SMS "read" is a clicked short link: 4
    "undelivered": 20,  # refined by err, see failure_status_by_err
    "expired": 3,
    "rejected": 23,
    "cancelled": -2,  # stopped (jobs.php cancel, status.php del)
}
NOT_FOUND = -3
SMS_CHANNELS = frozenset({"sms", "flash", "push", "bin", "binhex"})


def _load() -> dict[str, Any]:
    path = Path(schemas_root()) / "smsc" / "statuses.yaml"
    return read_yaml(path)


DATA = _load()
STATUS_NAMES: dict[int, str] = {int(k): v for k, v in DATA["status_names"].items()}
FAILURE_STATUS: dict[int, int] = {int(k): int(v) for k, v in DATA["failure_status_by_err"].items()}
STEP_ERRORS: dict[str, tuple[int, int]] = {k: (int(v[0]), int(v[1])) for k, v in DATA["step_errors"].items()}
DEFAULT_ERR: dict[str, int] = {k: int(v) for k, v in DATA["default_err"].items()}
TYPES: dict[str, int] = {k: int(v) for k, v in DATA["types"].items()}
COUNTRIES: list[tuple[str, str]] = sorted(DATA["countries"].items(), key=lambda item: -len(item[0]))


def smsc_status(channel: str, status: Status, error: str | None) -> tuple[int, int]:
    """(status, err) for one canonical status reached on `channel` with an optional plan error."""
    code = STATUSES[status.value]
    if status is Status.READ and channel in SMS_CHANNELS:
        code = 4
    if error in STEP_ERRORS:
        return STEP_ERRORS[error]
    if error and error.strip().isdigit():
        err = int(error)
        if status in (Status.UNDELIVERED, Status.REJECTED):
            code = FAILURE_STATUS.get(err, code)
        return code, err
    return code, DEFAULT_ERR.get(status.value, 0)


def message_status(message: Message) -> tuple[int, int]:
    if message.meta.get("deleted"):
        return NOT_FOUND, 0
    attempt = message.current
    return smsc_status(attempt.channel, attempt.status or Status.ACCEPTED, attempt.error)


def last_change(message: Message) -> float:
    history = message.current.history
    return history[-1].at if history else message.created_at


def country(phone: str) -> str:
    return next((name for prefix, name in COUNTRIES if phone.startswith(prefix)), "")
