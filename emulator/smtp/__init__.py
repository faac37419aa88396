"""SMSC.ru e-mail to SMS (`msgemu serve --smtp-port 2525`): mail.py reads the documented
letter format, send.py turns it into the domain submission, server.py is the aiosmtpd port."""
from .server import SmtpServer

__all__ = ["SmtpServer"]
