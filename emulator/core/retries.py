"""Callback retry ladders: how long each provider keeps retrying a webhook, read from
emulator/data/callback_retries.yaml (data, not code: a provider's real numbers go there)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..resources import read_yaml

LADDERS_FILE = Path(__file__).resolve().parent.parent / "data" / "callback_retries.yaml"


@dataclass(frozen=True)
class RetryLadder:
    delays: tuple[float, ...]  # seconds to wait after try n before try n+1
    timeout: float  # seconds one try may take
    source: str = "guess"

    @property
    def tries(self) -> int:
        return len(self.delays) + 1

    @property
    def span(self) -> float:
        return float(sum(self.delays))

    @classmethod
    def exponential(cls, tries: int, base: float, timeout: float) -> "RetryLadder":
        """The --callback-backoff ladder: base, 2*base, 4*base... between `tries` tries."""
        return cls(tuple(base * 2**i for i in range(max(1, tries) - 1)), timeout, "--callback-backoff")


def _ladder(entry: dict[str, Any], where: str) -> RetryLadder:
    delays = entry.get("delays")
    timeout = entry.get("timeout")
    if not isinstance(delays, list) or not all(isinstance(d, (int, float)) and not isinstance(d, bool) and d >= 0 for d in delays):
        raise ValueError(f"{where}: delays must be a list of seconds >= 0")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{where}: timeout must be a number of seconds > 0")
    return RetryLadder(tuple(float(d) for d in delays), float(timeout), str(entry.get("source", "guess")))


def load_ladders(path: Path = LADDERS_FILE) -> tuple[RetryLadder, dict[str, RetryLadder]]:
    """(default ladder, {provider: ladder}). Every emulator built reads them: the file is parsed
    once per process (read_yaml)."""
    data = read_yaml(path) or {}
    default = _ladder(data.get("default") or {}, f"{path.name}: default")
    providers = {name: _ladder(entry, f"{path.name}: {name}") for name, entry in (data.get("providers") or {}).items()}
    return default, providers
