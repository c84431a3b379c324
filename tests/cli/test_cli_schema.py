"""`duly schema` describes the files in rules/ (an editor can check them with it)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import RULES


@pytest.fixture(scope="module")
def schema():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.mark.parametrize("path", sorted(RULES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_rule_file_matches_the_schema(schema, path):
    data = json.loads(json.dumps(YAML(typ="safe").load(path.read_text()), default=str))
    jsonschema.validate(data, schema)


def test_the_schema_rejects_an_unknown_key(schema):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {
                "version": 1,
                "owners": [{"id": "a", "name": "A", "email": "a@example.org", "phone": "0"}],
            },
            schema,
        )
