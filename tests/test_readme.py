"""README.md stays true to the code: its first two blocks are the setup commands, and every
magic recipient and ready scenario is documented in it."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_setup_commands():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert blocks[0].strip().endswith("msgemu serve")
    assert blocks[1].strip().endswith("python -m pytest -q")
    assert README.index("```sh") < README.index("## ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.strip().endswith("python -m pytest -q")


def test_every_magic_recipient_is_in_the_readme():
    for path in sorted((ROOT / "emulator" / "data" / "magic").glob("*.yaml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            assert f"`{rule['match']['recipient']}`" in README, (path.name, rule["name"])


def test_every_ready_scenario_is_in_the_readme():
    for path in (ROOT / "scenarios").glob("*.yaml"):
        assert f"`{path.name}`" in README, path.name
