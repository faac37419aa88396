"""msgemu's own schema files are valid JSON Schema (2020-12), checked here once rather than at
every start of msgemu (emulator/core/validation.py:_is_shipped); other schema folders
(MSGEMU_SCHEMAS_DIR) are still checked when they are loaded."""
from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from emulator.core.validation import Schemas, _is_shipped, schemas_root

SHIPPED = sorted(schemas_root().rglob("*.json"))


def test_the_shipped_schemas_are_found():
    assert _is_shipped(schemas_root())
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(schemas_root()).as_posix())
def test_every_shipped_schema_passes_the_meta_schema(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)


def test_a_schema_folder_of_ones_own_is_checked_when_loaded(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "broken.json").write_text(json.dumps({"type": "object", "properties": {"a": {"type": "nope"}}}))
    assert not _is_shipped(tmp_path)
    with pytest.raises(SchemaError):
        Schemas(tmp_path)
