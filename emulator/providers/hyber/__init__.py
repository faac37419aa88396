"""GMS Hyber JSON v2: the provider class lives in provider.py, request rules in rules.py."""
from .provider import Hyber

__all__ = ["Hyber"]
