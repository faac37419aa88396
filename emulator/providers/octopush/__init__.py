"""Octopush REST API. Anatomy: provider.py (the class), routes.py (endpoints), wire.py (bodies
and answers), rules.py (rules beyond the schemas), book.py (contacts, lists, list campaigns),
callbacks.py (callback bodies, status names). Discovery finds the class through this import."""
from .provider import Octopush

__all__ = ["Octopush"]
