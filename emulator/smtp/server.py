"""The SMTP port (aiosmtpd): any envelope is accepted (SMSC's send address needs no login);
the letter's DATA is answered with the send result (GUESS, see send.py)."""
from __future__ import annotations

import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..listener import Acceptor, Budget, listen
from ..runtime import Runtime
from . import mail
from .send import MailSender

log = logging.getLogger("msgemu.smtp")


class Handler:
    def __init__(self, sender: MailSender) -> None:
        self.sender = sender

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            text = mail.body_text(raw)
            letter: mail.Letter | mail.BadLetter = mail.parse(text)
        except mail.BadLetter as bad:
            letter, text = bad, raw.decode("latin-1")
        except Exception:  # a letter email cannot parse at all
            log.exception("unreadable letter")
            letter, text = mail.BadLetter("unreadable"), raw.decode("latin-1")
        return self.sender.send(letter, text).line()


class SmtpServer:
    def __init__(self, runtime: Runtime) -> None:
        self.handler = Handler(MailSender(runtime))
        self._acceptor: Acceptor | None = None

    async def start(self, host: str, port: int, budget: Budget | None = None) -> int:
        """Listen (within the process's connection budget, as HTTP: emulator/listener.py)."""

        def factory() -> SMTP:
            return SMTP(self.handler, data_size_limit=mail.MAX_SIZE, hostname="msgemu", ident="msgemu SMSC.ru e-mail to SMS", timeout=120)

        self._acceptor = await listen(host, port, factory, budget or Budget(), f"smtp://{host}:{port}")
        return self._acceptor.port

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.settled()
            self._acceptor = None
