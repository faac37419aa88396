"""One module per provider, wire format only. REGISTRY maps a provider's name to its class."""
from __future__ import annotations

from .alphasms import AlphaSMS

REGISTRY = {cls.name: cls for cls in (AlphaSMS,)}
