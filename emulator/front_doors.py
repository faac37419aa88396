"""The non-HTTP front doors (SMPP, SMTP), started beside the HTTP server when their port is
set (--smpp-port / --smtp-port, MSGEMU_SMPP_PORT / MSGEMU_SMTP_PORT); off by default."""
from __future__ import annotations

import logging
from typing import Any

from .listener import Budget
from .runtime import Runtime

log = logging.getLogger("msgemu")


async def start(runtime: Runtime, budget: Budget | None = None) -> list[Any]:
    """Start each configured front door on the runtime, within the process's connection budget
    (emulator/listener.py) when given; returns them (each has `stop()`)."""
    settings = runtime.settings
    doors: list[Any] = []
    if settings.smpp_port:
        from .smpp import SmppServer

        smpp = SmppServer(runtime.engine, lambda provider, channel, parts: runtime.providers[provider].price(channel, parts))
        port = await smpp.start(settings.host, settings.smpp_port, budget)
        log.info("listening on smpp://%s:%d (%s)", settings.host, port, ", ".join(sorted(smpp.profiles)))
        doors.append(smpp)
    if settings.smtp_port:
        from .smtp import SmtpServer

        smtp = SmtpServer(runtime)
        port = await smtp.start(settings.host, settings.smtp_port, budget)
        log.info("listening on smtp://%s:%d (smsc e-mail to SMS)", settings.host, port)
        doors.append(smtp)
    return doors
