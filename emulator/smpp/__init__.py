"""SMPP 3.4 front door (`msgemu serve --smpp-port 2775`): ESMEs bind with a provider account's
system_id/password and submit messages that join the same journal as HTTP sends.

codec: PDUs <-> bytes; text: data_coding, GSM 03.38, UDH; times: SMPP time fields;
profiles: schemas/<provider>/smpp.yaml; bridge: submit_sm -> core.engine.submit;
parts: concatenated messages; receipts: deliver_sm; session: one connection; server: the port.
"""
from .server import SmppServer

__all__ = ["SmppServer"]
