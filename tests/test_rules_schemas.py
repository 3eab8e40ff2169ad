"""rules/schemas/: one JSON Schema per rule-file kind (and the data sheet), run by rulesdata.validate.

Every shipped rule file validates; for each kind, a broken copy (unknown key, wrong type, missing required key,
unknown data type) is refused by the kind's own loader with one line naming the file and the offending line; the
closed vocabularies come from the rules data, never from a list written into a schema; a rules/ file that passed
is not validated again (the scan's hot path) until the file, its schema or a vocabulary changes."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit import rulescache, rulesdata
from audit.errors import InputError
from audit.rulesdata import VOCABULARIES, data_dir, load_yaml, rules_dir, schema, validate, vocabulary

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "rules" / "schemas"

# kind -> the shipped files of that kind (relative to the repository)
SHIPPED = {
    "datatypes": ["rules/datatypes.yaml"],
    "sdks": ["rules/sdks.yaml"],
    "libraries": ["rules/libraries.yaml"],
    "apis": ["rules/apis.yaml", "hooks/apis.sample.yaml"],
    "entrypoints": ["rules/entrypoints.yaml"],
    "permissions": ["rules/permissions.yaml"],
    "recipients": ["rules/recipients.yaml"],
    "purposes": ["rules/purposes.yaml"],
    "declaration-formats": ["rules/declaration-formats.yaml"],
    "checks": [str(p.relative_to(REPO)) for p in sorted((REPO / "rules" / "checks").glob("*.yaml"))],
    "trackers": [str(p.relative_to(REPO)) for p in sorted((REPO / "rules" / "trackers").glob("*.yaml"))],
    "network": ["hooks/network.yaml"],
    "datasheet": [str(p.relative_to(REPO)) for p in sorted((REPO / "examples").rglob("*.yaml"))
                  if "claims" not in p.name],
    "inquiry": [str(p.relative_to(REPO)) for p in sorted((REPO / "examples").rglob("*claims*.yaml"))],
}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("APPAUDIT_HOME", str(tmp_path / "home"))


def test_every_kind_has_a_schema_and_every_rule_file_a_kind():
    assert {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")} == set(SHIPPED)
    covered = {REPO / f for files in SHIPPED.values() for f in files}
    rule_files = {*(REPO / "rules").rglob("*.yaml"), *(REPO / "hooks").glob("*.yaml")}
    assert rule_files <= covered, sorted(str(p.relative_to(REPO)) for p in rule_files - covered)


@pytest.mark.parametrize("kind, path", [(k, f) for k, files in SHIPPED.items() for f in files],
                         ids=lambda value: str(value).rsplit("/", 1)[-1])
def test_every_shipped_file_validates(kind, path):
    validate(load_yaml(REPO / path), kind, REPO / path)


def test_schemas_are_valid_draft_2020_12_and_name_only_known_vocabularies():
    import jsonschema
    for path in SCHEMAS.glob("*.schema.json"):
        document = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["$schema"].endswith("2020-12/schema"), path.name
        named = set(re.findall(r'"vocabulary": "([^"]+)"', path.read_text()))
        assert named <= set(VOCABULARIES), (path.name, named - set(VOCABULARIES))


def test_vocabularies_come_from_the_data_and_the_copied_enums_stay_in_step():
    assert vocabulary("data_type") == tuple(load_yaml(rules_dir() / "datatypes.yaml")["datatypes"])
    assert vocabulary("purpose") == tuple(load_yaml(rules_dir() / "purposes.yaml")["purposes"])
    assert vocabulary("permission") == tuple(load_yaml(rules_dir() / "permissions.yaml")["permissions"])
    assert vocabulary("sdk") == tuple(entry["id"] for entry in load_yaml(rules_dir() / "sdks.yaml")["sdks"])
    for name in VOCABULARIES:
        assert vocabulary(name), name
    # An enum written beside a vocabulary is a copy for editors (the data sheet's schema): it must be the data.
    for path in SCHEMAS.glob("*.schema.json"):
        stack = [json.loads(path.read_text())]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "vocabulary" in node and "enum" in node:
                    assert sorted(node["enum"]) == sorted(vocabulary(node["vocabulary"])), (path.name, node["vocabulary"])
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def test_every_check_subject_says_which_conditions_it_takes():
    item = schema("checks")["properties"]["checks"]["items"]
    assert item["properties"]["subject"]["enum"] == [rule["if"]["properties"]["subject"]["const"]
                                                     for rule in item["allOf"]]
    conditions = {name for rule in item["allOf"] for name in rule["then"]["properties"]["when"]["propertyNames"]["enum"]}
    assert conditions == set(item["properties"]["when"]["properties"])


# -- broken copies, refused by each kind's own loader --------------------------------------------------------
def _load(kind: str, path: Path):
    """The loader the program uses for this kind (cached loaders are called through their uncached parts)."""
    from audit.catalogue import parse_libraries, parse_sdks
    from audit.recipients import parse_recipients
    from audit.rules.declarations import _formats, _purposes_from, load_declarations
    from audit.rules.engine import _load_checks
    from audit.rules.inquiry import load_inquiry
    from audit.runtime.agent import load_request_hooks
    from audit.static.apis import _load_entrypoints, parse_apis
    from audit.static.manifest import _permission_table
    from audit.traffic.adapters import _load as load_trackers
    loaders = {
        "datatypes": lambda: rulesdata._datatypes_from.__wrapped__(str(path)),
        "sdks": lambda: parse_sdks(load_yaml(path), path),
        "libraries": lambda: parse_libraries(load_yaml(path), path),
        "apis": lambda: parse_apis(load_yaml(path), path),
        "entrypoints": lambda: _load_entrypoints.__wrapped__(str(path)),
        "permissions": lambda: _permission_table.__wrapped__(str(path)),
        "recipients": lambda: parse_recipients(load_yaml(path), path),
        "purposes": lambda: _purposes_from.__wrapped__(str(path.parent)),
        "declaration-formats": lambda: _formats.__wrapped__(str(path.parent)),
        "checks": lambda: _load_checks.__wrapped__(str(path.parent)),
        "trackers": lambda: load_trackers.__wrapped__(str(path.parent)),
        "network": lambda: load_request_hooks.__wrapped__(str(path)),
        "datasheet": lambda: load_declarations(path),
        "inquiry": lambda: load_inquiry(path),
    }
    return loaders[kind]()


# kind: file name, a minimal valid text, and per mutation (line number, replacement or None to delete, or
# ("insert", line, text)) with the line the error must name and a pattern of its message.
CASES = {
    "datatypes": ("datatypes.yaml", "datatypes:\n  x:\n    label: X\n    apple: A\n    play: {category: C, type: T}\n", {
        "unknown key": (("insert", 6, "    colour: red"), 6, r"colour: unknown field \(allowed: "),
        "wrong type": ((3, "    label: [X]"), 3, r"label: expected a string, found list"),
        "missing required": ((4, None), 3, r"field x: missing required field 'apple'"),
        "unknown data type": (("insert", 6, "    parent: device_ids.imeii"), 6,
                              r"parent: unknown data type 'device_ids.imeii'"),
    }),
    "sdks": ("sdks.yaml", "sdks:\n  - id: x\n    name: X\n    categories: [other]\n", {
        "unknown key": (("insert", 5, "    colour: red"), 5, r"colour: unknown field"),
        "wrong type": ((3, "    name: 3"), 3, r"name: expected a string, found int"),
        "missing required": ((3, None), 2, r"missing required field 'name'"),
        "unknown vocabulary": ((4, "    categories: [analytic]"), 4,
                               r"categories: unknown category 'analytic' \(did you mean analytics\?\)"),
    }),
    "libraries": ("libraries.yaml", "platform: [java]\nlibraries:\n  - id: x\n    name: X\n    packages: [a.b]\n", {
        "unknown key": (("insert", 6, "    colour: red"), 6, r"colour: unknown field"),
        "wrong type": ((1, "platform: java"), 1, r"platform: expected a list of package prefixes"),
        "missing required": ((5, None), 3, r"missing required field 'packages'"),
    }),
    "apis": ("apis.yaml", "apis:\n  - id: x.y\n    class: a.B\n    method: c\n    data_type: contacts\n"
                          "    returns: none\n", {
        "unknown key": (("insert", 7, "    colour: red"), 7, r"colour: unknown field"),
        "wrong type": ((3, "    class: 3"), 3, r"class: expected a string, found int"),
        "missing required": ((6, None), 2, r"missing required field 'returns'"),
        "unknown data type": ((5, "    data_type: device_ids.imeii"), 5,
                              r"data_type: unknown data type 'device_ids.imeii' \(did you mean device_ids.imei\?\)"),
    }),
    "entrypoints": ("entrypoints.yaml", "lifecycle: [onCreate]\ncallbacks: [run]\n", {
        "unknown key": (("insert", 3, "colour: red"), 3, r"colour: unknown field"),
        "wrong type": ((2, "callbacks: run"), 2, r"callbacks: expected a list, found str"),
        "missing required": ((2, None), 1, r"missing required field 'callbacks'"),
    }),
    "permissions": ("permissions.yaml", "permissions:\n  android.permission.X:\n    protection: normal\n"
                                        "    data_types: [contacts]\n", {
        "unknown key": (("insert", 5, "    colour: red"), 5, r"colour: unknown field"),
        "wrong type": ((3, "    protection: 3"), 3, r"protection: expected a string, found int"),
        "missing required": ((4, None), 3, r"field android.permission.X: missing required field 'data_types'"),
        "unknown data type": ((4, "    data_types: [contacts, device_ids.imeii]"), 4,
                              r"data_types: unknown data type 'device_ids.imeii'"),
    }),
    "recipients": ("recipients.yaml", "hosts:\n  a.example:\n    sdk: amplitude\ninfrastructure:\n"
                                      "  - match: '*.b.example'\n    provider: P\n    kind: cdn\n", {
        "unknown key": (("insert", 8, "    colour: red"), 8, r"colour: unknown field"),
        "wrong type": ((6, "    provider: [P]"), 6, r"provider: expected a string, found list"),
        "missing required": ((6, None), 5, r"missing required field 'provider'"),
        "unknown vocabulary": ((3, "    sdk: amplitud"), 3, r"sdk: 'amplitud' is not an SDK id of rules/sdks.yaml"),
    }),
    "purposes": ("purposes.yaml", "purposes:\n  x:\n    label: X\n    play: true\n", {
        "unknown key": (("insert", 5, "    colour: red"), 5, r"colour: unknown field"),
        "wrong type": ((4, "    play: maybe"), 4, r"play: expected true or false, found str"),
        "missing required": ((3, None), 3, r"field x: missing required field 'label'"),
    }),
    "declaration-formats": ("declaration-formats.yaml", "play:\n  types:\n    PSL_X: [contacts]\n  purposes: {}\n"
                                                        "apple:\n  types: {}\n  purposes: {}\n", {
        "unknown key": (("insert", 5, "  colour: red"), 5, r"colour: unknown field"),
        "wrong type": ((4, "  purposes: 3"), 4, r"purposes: expected a mapping, found int"),
        "missing required": ((4, None), 2, r"field play: missing required field 'purposes'"),
        "unknown data type": ((3, "    PSL_X: [device_ids.imeii]"), 3, r"PSL_X: unknown data type 'device_ids.imeii'"),
    }),
    "checks": ("default.yaml", "checks:\n  - id: x\n    title: t\n    subject: sdk\n    severity: low\n"
                               "    message: m\n    help: h\n", {
        "unknown key": (("insert", 8, "    colour: red"), 8, r"colour: unknown field"),
        "wrong type": ((3, "    title: [t]"), 3, r"title: expected a string, found list"),
        "missing required": ((7, None), 2, r"missing required field 'help'"),
        "unknown vocabulary": ((5, "    severity: severe"), 5, r"severity: unknown severity 'severe'"),
        "condition of another subject": (("insert", 8, "    when: {flow: any}"), 8,
                                         r"flow: not a condition of a sdk check \(allowed: declared\)"),
        "unknown data type": (("insert", 8, "    escalate: {requires: [device_ids.imeii], severity: high, "
                                            "reason: r}"), 8, r"requires: unknown data type 'device_ids.imeii'"),
    }),
    "trackers": ("x.yaml", "tracker: x\nname: X\nendpoints:\n  - id: a\n    hosts: [a.example]\n"
                           "    decoding: [json]\n    fields:\n      uid: {type: device_ids.android_id, reasoning: r}\n", {
        "unknown key": (("insert", 9, "    colour: red"), 9, r"colour: unknown field"),
        "wrong type": ((6, "    decoding: json"), 6, r"decoding: expected a list, found str"),
        "missing required": ((6, None), 4, r"missing required field 'decoding'"),
        "unknown data type": ((8, "      uid: {type: device_ids.imeii, reasoning: r}"), 8,
                              r"type: unknown data type 'device_ids.imeii'"),
        "unknown vocabulary": ((6, "    decoding: [jsn]"), 6, r"decoding: unknown decoding step 'jsn' \(did you mean json\?\)"),
    }),
    "network": ("network.yaml", "network:\n  - id: a\n    class: a.B\n    method: c\n    url: this\n", {
        "unknown key": (("insert", 6, "    colour: red"), 6, r"colour: unknown field"),
        "wrong type": ((4, "    method: 3"), 4, r"method: expected a string, found int"),
        "missing required": ((5, None), 2, r"missing required field 'url'"),
    }),
    "datasheet": ("sheet.yaml", "source: s\ncollected:\n  - type: contacts\n    optional: true\n", {
        "unknown key": (("insert", 5, "    colour: red"), 5, r"colour: unknown field"),
        "wrong type": ((4, "    optional: sometimes"), 4, r"optional: expected true or false, found str"),
        "missing required": ((1, None), 1, r"missing required field 'source'"),
        "unknown data type": ((3, "  - type: device_ids.imeii"), 3,
                              r"type: unknown data type 'device_ids.imeii' \(did you mean device_ids.imei\?\)"),
        "unknown vocabulary": (("insert", 5, "    purposes: [analytic]"), 5,
                               r"purposes: unknown purpose 'analytic' \(did you mean analytics\?\)"),
    }),
    "inquiry": ("claims.yaml", "title: t\nclaims:\n  - id: a\n    text: x\n    shares: {type: contacts}\n", {
        "unknown key": (("insert", 6, "    colour: red"), 6, r"colour: unknown field"),
        "wrong type": ((4, "    text: [x]"), 4, r"text: expected a string, found list"),
        "missing required": ((4, None), 3, r"missing required field 'text'"),
        "unknown data type": ((5, "    shares: {type: device_ids.imeii}"), 5,
                              r"type: unknown data type 'device_ids.imeii' \(did you mean device_ids.imei\?\)"),
    }),
}


def _mutate(text: str, change) -> str:
    lines = text.splitlines()
    if change[0] == "insert":
        lines.insert(change[1] - 1, change[2])
    elif change[1] is None:
        del lines[change[0] - 1]
    else:
        lines[change[0] - 1] = change[1]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_minimal_document_of_each_kind_loads(tmp_path, kind):
    name, text, _ = CASES[kind]
    (tmp_path / name).write_text(text)
    _load(kind, tmp_path / name)


@pytest.mark.parametrize("kind, case", [(k, c) for k in sorted(CASES) for c in CASES[k][2]])
def test_a_broken_copy_names_the_file_and_line_of_the_offending_node(tmp_path, kind, case):
    name, text, cases = CASES[kind]
    change, line, message = cases[case]
    path = tmp_path / name
    path.write_text(_mutate(text, change))
    with pytest.raises(InputError) as caught:
        _load(kind, path)
    error = str(caught.value)
    assert "\n" not in error
    assert re.match(rf"{re.escape(str(path))}:{line}: {message}", error), error


def test_a_key_written_without_a_value_is_a_key_not_written(tmp_path):
    path = tmp_path / "sheet.yaml"
    path.write_text("source: s\nnot_shared:\ncollected:\n  - type: contacts\n    purposes:\n")
    assert [s.kind for s in _load("datasheet", path).statements] == ["collected"]
    path = tmp_path / "sdks.yaml"
    path.write_text("sdks:\n  - id: x\n    name:\n    categories: [other]\n    packages:\n")
    with pytest.raises(InputError, match=r"sdks.yaml:3: name: expected a string, found no value"):
        _load("sdks", path)


def test_the_data_sheet_loader_validates_with_the_datasheet_schema(tmp_path, monkeypatch):
    path = tmp_path / "sheet.yaml"
    path.write_text("source: s\nnot_collected: [contacts]\n")
    seen = []
    original = rulesdata.validate

    def spy(document, kind, *args, **kwargs):
        seen.append(kind)
        return original(document, kind, *args, **kwargs)
    import audit.rules.declarations as declarations
    monkeypatch.setattr(declarations, "validate", spy)
    declarations.load_yaml_datasheet(path)
    assert seen == ["datasheet"]


def test_the_cli_reports_a_schema_error_as_one_line_and_exit_2(tmp_path, education_apk):
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text("source: s\ncollected:\n  - {type: contacts, colour: red}\n")
    done = subprocess.run([sys.executable, "-m", "audit.cli", "audit", str(education_apk), "--datasheet", str(sheet)],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "APPAUDIT_HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"appaudit: error: {sheet}:3: colour: unknown field (allowed: cite, condition, note, optional, purposes, "
        "quote, type, when)"]


# -- validation is off the hot path ------------------------------------------------------------------------
def _count_validations(monkeypatch) -> list:
    calls = []
    original = rulesdata._validator

    def counting(kind, vocabularies):
        calls.append(kind)
        return original(kind, vocabularies)
    monkeypatch.setattr(rulesdata, "_validator", counting)
    return calls


def test_a_rules_file_that_passed_is_not_validated_again_until_it_changes(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    monkeypatch.setenv("APPAUDIT_RULES", str(rules))
    calls = _count_validations(monkeypatch)
    path = rules / "entrypoints.yaml"
    validate(load_yaml(path), "entrypoints", path)
    validate(load_yaml(path), "entrypoints", path)          # from the parsed-rules cache, already valid
    assert calls == ["entrypoints"]
    path.write_text(path.read_text() + "\n# edited\n")
    validate(load_yaml(path), "entrypoints", path)
    assert calls == ["entrypoints"] * 2
    path.write_text(path.read_text() + "colour: red\n")
    for _ in range(2):                                       # a failure is never remembered as a pass
        with pytest.raises(InputError, match=r"entrypoints.yaml:\d+: colour: unknown field"):
            validate(load_yaml(path), "entrypoints", path)
    assert calls == ["entrypoints"] * 4


def test_a_changed_vocabulary_validates_again(tmp_path, monkeypatch):
    path = rules_dir() / "permissions.yaml"
    validate(load_yaml(path), "permissions", path)
    calls = _count_validations(monkeypatch)
    validate(load_yaml(path), "permissions", path)
    assert calls == []
    real = vocabulary
    monkeypatch.setattr(rulesdata, "vocabulary", lambda name: real(name) + (("extra",) if name == "data_type" else ()))
    validate(load_yaml(path), "permissions", path)
    assert calls == ["permissions"]


def test_user_documents_are_validated_every_time(tmp_path, monkeypatch):
    calls = _count_validations(monkeypatch)
    path = tmp_path / "sheet.yaml"
    path.write_text("source: s\n")
    for _ in range(2):
        validate(load_yaml(path), "datasheet", path)
    assert calls == ["datasheet"] * 2 and not list(rulescache.cache_dir().glob("*.valid.ok"))


def test_schemas_are_read_from_the_package_whatever_rules_folder_is_in_use(tmp_path, monkeypatch):
    monkeypatch.setenv("APPAUDIT_RULES", str(tmp_path))
    assert schema("sdks") == json.loads((data_dir("rules") / "schemas" / "sdks.schema.json").read_text())


@pytest.mark.parametrize("kind", sorted(CASES))
def test_any_value_anywhere_loads_or_gives_one_line_naming_the_file(tmp_path, kind):
    """Every value of the minimal document replaced by each kind of YAML node: the loader accepts it or refuses it
    with one `FILE[:LINE]: …` line, never a traceback."""
    name, text, _ = CASES[kind]
    path = tmp_path / name
    lines = text.splitlines()
    refused = 0
    for number, line in enumerate(lines):
        head, sep, _ = line.partition(": ")
        if not sep:
            continue
        for value in ("3", "-1", "[1, 2]", "['']", "{a: b}", "{}", "[]", "null", "''", "true", "2024-01-01", "x y"):
            path.write_text("\n".join([*lines[:number], f"{head}: {value}", *lines[number + 1:]]) + "\n")
            try:
                _load(kind, path)
            except InputError as exc:
                refused += 1
                assert str(exc).startswith(str(path)) and "\n" not in str(exc), str(exc)
    assert refused
