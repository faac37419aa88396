"""Octopush REST API: provider.py (routes, auth, wire format), payload.py (reading send
bodies), callbacks.py (callback bodies). Discovery finds the class through this import."""
from .provider import Octopush

__all__ = ["Octopush"]
