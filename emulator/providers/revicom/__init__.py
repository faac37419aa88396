"""Revicom Direct API (direct.revicom.ltd/api/v1): wire format only.

Sources: Revicom's own GitBook (api.direct.revicom.ltd), see docs/research/revicom.md. Anatomy:
`routes` the endpoints and auth, `sending` the request-free send logic, `rules` the message rules
beyond the schema, `filters` Getting Messages, `wire` the shapes, `callbacks` the status
callbacks, `reference` the tables of schemas/revicom/*.yaml.
"""
from .routes import Revicom

__all__ = ["Revicom"]
