"""Where msgemu's own files are, and reading them once per process.

The repository keeps `schemas/` and `scenarios/` at its top level; a built wheel carries them
inside the package as `emulator/_schemas/` and `emulator/_scenarios/` (copied by setup.py at
build time). `shipped()` is the one place that knows both layouts.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"

# libyaml's parser is ~10x faster than the pure-Python one; same results, same SafeLoader rules
YAML_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def shipped(name: str) -> Path:
    """`schemas` or `scenarios`: the installed copy inside the package, else the checkout's
    top-level folder (editable install, or running from the repository)."""
    if name == "schemas" and os.environ.get("MSGEMU_SCHEMAS_DIR"):
        return Path(os.environ["MSGEMU_SCHEMAS_DIR"])
    installed = PACKAGE / f"_{name}"
    return installed if installed.is_dir() else PACKAGE.parent / name


def scenario_file(value: str | Path) -> Path:
    """A scenario path as given, or the name of a shipped one (`happy-path`, `flaky-network.yaml`):
    what a container or a wheel user can name without knowing where the package lives."""
    path = Path(value)
    if path.exists() or path.parent != Path("."):
        return path
    for candidate in (shipped("scenarios") / path.name, shipped("scenarios") / f"{path.name}.yaml"):
        if candidate.is_file():
            return candidate
    return path


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=YAML_LOADER)


def read_yaml(path: str | Path) -> Any:
    """A shipped data file, parsed once per process (and again only if it changed on disk).
    The result is shared: treat it as read-only."""
    path = Path(path)
    return _read_yaml(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=256)
def _read_yaml(path: str, mtime_ns: int) -> Any:
    return parse_yaml(Path(path).read_text(encoding="utf-8"))
