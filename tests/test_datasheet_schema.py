"""rules/schemas/datasheet.schema.json, the schema the loader validates sheets with, read as an editor reads it
(plain JSON Schema, enumerations copied beside each vocabulary): every example sheet validates, the copied
enumerations are the rules data, and a sheet the loader refuses for a vocabulary error the editor refuses too."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.rules.declarations import load_declarations, purposes, recipient_categories
from audit.rulesdata import datatypes, load_yaml

jsonschema = pytest.importorskip("jsonschema")
REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "rules" / "schemas" / "datasheet.schema.json").read_text())
SHEETS = sorted(p for p in (REPO / "examples").rglob("*.yaml") if "claims" not in p.name)


def validator():
    return jsonschema.validators.validator_for(SCHEMA)(SCHEMA)


def as_plain(value):
    return json.loads(json.dumps(value))


def test_enumerations_are_the_rules_data():
    defs = SCHEMA["$defs"]
    assert defs["data_type"]["enum"] == sorted(datatypes())
    assert defs["purpose"]["enum"] == list(purposes())
    assert defs["recipient_category"]["enum"] == sorted(recipient_categories())
    assert {defs[name]["vocabulary"] for name in ("data_type", "purpose", "recipient_category")} == {
        "data_type", "purpose", "recipient_category"}


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.name)
def test_every_example_sheet_validates_and_loads(sheet):
    errors = list(validator().iter_errors(as_plain(load_yaml(sheet, "data sheet"))))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    load_declarations(sheet)


@pytest.mark.parametrize("text", [
    "source: s\ncollected:\n  - {type: contacts, purposes: [acount_management]}\n",
    "source: s\nnot_collected: [imei]\n",
    "source: s\ncollected:\n  - {type: contacts, when: {feature: x, colour: red}}\n",
    "source: s\nnot_shared_with:\n  - {recipient_categories: [adtech]}\n",
])
def test_schema_and_loader_refuse_the_same_vocabulary_errors(tmp_path, text):
    path = tmp_path / "sheet.yaml"
    path.write_text(text)
    assert list(validator().iter_errors(as_plain(load_yaml(path, "data sheet"))))
    with pytest.raises(InputError, match=r"sheet.yaml:\d+:"):
        load_declarations(path)
