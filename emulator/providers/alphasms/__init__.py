"""AlphaSMS provider package; discovery finds the class through this import (see provider.py)."""
from .provider import AlphaSMS

__all__ = ["AlphaSMS"]
