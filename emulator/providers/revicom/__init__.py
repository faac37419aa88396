"""Revicom Direct API (direct.revicom.ltd/api/v1): wire format only.

Revicom Direct is the i-Digital "Direct" platform under another name, so i-Digital's pages fill
the gaps of Revicom's (docs/research/revicom.md). `api` holds the endpoints, `items` the rules of
one message of a send request, `views` the message object and the Getting Messages filters.
"""
from .api import Revicom

__all__ = ["Revicom"]
