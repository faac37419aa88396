"""GMS Hyber JSON v2: wire format only. Anatomy: `routes` the endpoints and auth, `rules` the
request rules beyond schemas/hyber/*.json, `mass` batch/broadcast bodies, `wire` the shapes,
`callbacks` the pushed reports and replies; status codes in schemas/hyber/statuses.yaml."""
from .routes import Hyber

__all__ = ["Hyber"]
