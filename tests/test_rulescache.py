"""The parsed-rules cache: a hit gives exactly what a fresh parse gives (values, key order and types, the line
of every key), only rules/ files are cached, an edited file is a new entry, and a broken or unwritable cache is a
plain miss."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audit import rulescache
from audit.errors import InputError
from audit.rulesdata import LineDict, Validator, load_yaml, rules_dir


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, LineDict):
        return (a.line == b.line and a.key_lines == b.key_lines and list(a) == list(b)
                and [type(k) for k in a] == [type(k) for k in b] and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b or (a != a and b != b)      # NaN


def _entries() -> list[Path]:
    folder = rulescache.cache_dir()
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("APPAUDIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_every_rules_file_reads_back_identical_from_the_cache(home):
    files = sorted(rules_dir().rglob("*.yaml"))
    assert len(files) >= 6
    fresh = {f: load_yaml(f) for f in files}
    assert len(_entries()) == len(files)                 # apis.yaml too: its merge keys are plain copies
    for f in files:
        assert _same(load_yaml(f), fresh[f]), f.name


def test_a_hit_is_not_a_parse(home, monkeypatch):
    path = rules_dir() / "sdks.yaml"
    load_yaml(path)
    import audit.rulesdata as rulesdata

    def no_parse(*_args, **_kwargs):
        raise AssertionError("parsed although cached")
    monkeypatch.setattr(rulesdata, "_prescan", no_parse)
    assert load_yaml(path)["sdks"]


def test_lines_from_the_cache_still_point_at_the_field(home):
    path = rules_dir() / "permissions.yaml"
    load_yaml(path)
    raw = load_yaml(path)
    name = next(iter(raw["permissions"]))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(name + ":"))
    with pytest.raises(InputError, match=rf"permissions.yaml:{line}: {name}: boom"):
        Validator(path).fail(raw["permissions"], name, "boom")


def test_user_documents_are_never_cached(home, tmp_path):
    doc = tmp_path / "declaration.yaml"
    doc.write_text("app: x\ncollects: [a, b]\n")
    assert load_yaml(doc) == {"app": "x", "collects": ["a", "b"]}
    assert _entries() == []


def test_an_edited_rules_file_is_a_new_entry_and_errors_are_not_cached(home, tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    monkeypatch.setenv("APPAUDIT_RULES", str(rules))
    first = load_yaml(rules / "libraries.yaml")
    (rules / "libraries.yaml").write_text((rules / "libraries.yaml").read_text() + "\n# edited\n")
    count = len(_entries())
    assert _same(load_yaml(rules / "libraries.yaml"), first)
    assert len(_entries()) == count + 1
    (rules / "libraries.yaml").write_text("libraries: [unclosed\n")
    with pytest.raises(InputError, match="libraries.yaml:2"):
        load_yaml(rules / "libraries.yaml")
    assert len(_entries()) == count + 1


def test_corrupt_or_unwritable_cache_is_a_miss(home):
    path = rules_dir() / "entrypoints.yaml"
    fresh = load_yaml(path)
    for entry in _entries():
        entry.write_text('["m", 1, [["x", 1')       # truncated
    assert _same(load_yaml(path), fresh)
    for entry in _entries():
        entry.write_text(json.dumps(["q", 1]))      # not an entry
    assert _same(load_yaml(path), fresh)
    shutil.rmtree(rulescache.cache_dir())
    rulescache.cache_dir().parent.mkdir(parents=True, exist_ok=True)
    rulescache.cache_dir().write_text("a file where the folder should be")
    assert _same(load_yaml(path), fresh)
    if os.geteuid() != 0:       # root writes anywhere
        rulescache.cache_dir().unlink()
        rulescache.cache_dir().parent.chmod(0o500)
        try:
            assert _same(load_yaml(path), fresh)
        finally:
            rulescache.cache_dir().parent.chmod(0o700)


def test_only_plain_trees_are_stored(home, tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    monkeypatch.setenv("APPAUDIT_RULES", str(rules))
    (rules / "dated.yaml").write_text("since: 2024-01-02\n")
    (rules / "plain.yaml").write_text('2: two\ntrue: yes\n~: null\nf: [1.5, .nan, "\\u00e9"]\n')
    assert str(load_yaml(rules / "dated.yaml")["since"]) == "2024-01-02"
    assert _entries() == []
    fresh = load_yaml(rules / "plain.yaml")
    assert len(_entries()) == 1
    assert _same(load_yaml(rules / "plain.yaml"), fresh)
    assert list(fresh) == [2, True, None, "f"]


def test_a_scan_with_a_warm_cache_does_not_import_yaml(home, education_apk):
    import subprocess
    import sys
    code = ("import sys; from audit.static.scan import scan_app; scan_app([sys.argv[1]]);"
            "print('yaml' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, str(education_apk)], capture_output=True, text=True,
                           timeout=120, check=True, env={**os.environ, "APPAUDIT_HOME": str(home)}).stdout.strip()
            for _ in range(2)]
    assert runs == ["True", "False"]
