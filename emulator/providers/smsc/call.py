"""One authenticated SMSC request as the command handlers see it: parameters, account, and the
ways to answer (in the request's fmt and charset)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Hashable

from aiohttp import web

from ...core.engine import Engine
from ...core.model import Account, Rejection
from ..base import mark, note
from . import formats
from .book import Book
from .request import Params

if TYPE_CHECKING:
    from . import SMSC


@dataclass(slots=True)  # its fields are read many times a request
class Call:
    provider: "SMSC"
    request: web.Request
    params: Params
    account: Account
    violation: Rejection | None = None  # the schema violation `invalid` found, for the journal

    @property
    def engine(self) -> Engine:
        return self.provider.engine

    @property
    def login(self) -> str:
        return self.account.login

    def now(self) -> float:
        return self.engine.clock.now()

    def book(self, optouts: set[str] | None = None) -> Book:
        return Book(self.engine, self.provider.name, self.login, optouts)

    def directory(self, kind: str):
        return self.engine.directory(self.provider.name, self.login, kind)

    # -- answering --------------------------------------------------------------------------
    def answer(self, answer: formats.Answer, outcome: str = "query", message_ids: list[str] | None = None) -> web.Response:
        mark(self.request, outcome, None, message_ids)
        return formats.respond(answer, self.params.fmt, self.params.charset)

    def fail(self, key: str, message_id: Any = None, why: Rejection | None = None) -> web.StreamResponse:
        if why is None and self.violation is not None and key == "params":
            why = self.violation
        return self.provider.reject(self.request, key, why, message_id=message_id)

    def note(self, why: Rejection | None) -> None:
        """Why one recipient of an otherwise answered request was refused (journal only)."""
        note(self.request, why)

    # -- checks shared by commands ----------------------------------------------------------------
    def invalid(self, definition: str) -> bool:
        """Whether the parameters break `schemas/smsc/params.json#/$defs/<definition>`."""
        found = self.provider.schemas.first_violation(f"smsc/params#/$defs/{definition}", self.params.values)
        if found is not None and self.violation is None:
            # parameters are flat: the parameter's name says more than a pointer
            self.violation = replace(Rejection.schema("params", found), pointer=found.field or found.pointer)
        return found is not None

    def too_often(self, key: Hashable, most: int, window: float = 60.0) -> bool:
        """Count this request under `key`; True once more than `most` fell in `window` (error 9)."""
        return self.provider.limits.count((self.account.login, key), window) > most  # a tuple: no text built
