"""The issue-13 classes of hostile APK parts (tests/hostile_builders.py), with fuzzed shapes, through `appaudit
scan`: each case ends in a report or one error line, and a partial report says which limit made it so."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import FUZZ, assert_clean_outcome, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile_builders as hb  # noqa: E402


@pytest.fixture(scope="module")
def clean_members(clean_apk) -> dict[str, bytes]:
    return hb.members(clean_apk)


def _scan(tmp_path_factory, members: dict[str, bytes], methods: dict | None = None) -> dict | None:
    target = tmp_path_factory.mktemp("hostile") / "case.apk"
    hb.write_apk(target, members, methods)
    report = target.with_suffix(".json")
    outcome = run_cli(["scan", str(target), "-o", str(report)])
    assert_clean_outcome(outcome)
    if outcome.code != 0:
        return None
    data = json.loads(report.read_text())
    if data["partial"]:
        assert data["warnings"], "a partial report says why"
    return data


@FUZZ
@given(method=st.sampled_from([zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]),
       member=st.sampled_from(["classes.dex", "resources.arsc", "AndroidManifest.xml"]))
def test_members_in_every_compression_method(tmp_path_factory, clean_members, method, member):
    data = _scan(tmp_path_factory, dict(clean_members), {member: method})
    if method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA) and member == "resources.arsc":
        assert data is not None and data["partial"]
        # Android's resource system reads a member it does not inflate as stored: these bytes are no table
        assert any("is no resource table" in w for w in data["warnings"])


@FUZZ
@given(chars=st.integers(1, 30_000), attributes=st.integers(1, 400), overlap=st.booleans())
def test_manifest_string_pools_that_alias_or_overlap(tmp_path_factory, clean_members, chars, attributes, overlap):
    members = dict(clean_members)
    members["AndroidManifest.xml"] = hb.axml_aliased_strings(chars, attributes, overlap=overlap)
    _scan(tmp_path_factory, members)


@FUZZ
@given(kind=st.sampled_from(["long-url", "overlap", "interfaces"]), size=st.integers(1, 4000))
def test_dex_strings_and_shared_tables(tmp_path_factory, clean_members, kind, size):
    members = dict(clean_members)
    members["classes.dex"] = {"long-url": lambda: hb.dex_long_url_string(size * 64),
                              "overlap": lambda: hb.dex_overlapping_strings(size * 64, size),
                              "interfaces": lambda: hb.dex_shared_interfaces(size + 1)}[kind]()
    _scan(tmp_path_factory, members)


@FUZZ
@given(entries=st.integers(0, 0xFFFFFFFF), padding=st.integers(0, 1 << 16), type_id=st.integers(1, 3))
def test_resource_tables_claiming_any_entry_count(tmp_path_factory, clean_members, entries, padding, type_id):
    members = dict(clean_members)
    members["resources.arsc"] = hb.arsc_sparse_claiming(entries, padding, type_id)
    _scan(tmp_path_factory, members, {"resources.arsc": zipfile.ZIP_STORED})


# -- escaping and redaction: properties over any text ------------------------------------------------------
@FUZZ
@given(text=st.text(max_size=200))
def test_escaped_text_carries_no_control_and_no_line_break(text):
    import unicodedata
    from audit import escape
    for shown in (escape.terminal_line(text), escape.markdown(text), escape.markdown_code(text)):
        assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") for ch in shown), shown
    page = escape.html(text)
    assert "<" not in page and ">" not in page and '"' not in page


@FUZZ
@given(value=st.from_regex(r"[0-9A-Za-z:-]{6,40}", fullmatch=True),
       before=st.text(max_size=30), after=st.text(max_size=30),
       form=st.sampled_from(["plain", "upper", "percent", "host", "query"]))
def test_a_value_is_redacted_in_every_form(value, before, after, form):
    from urllib.parse import quote
    from audit.redact import Redactor
    shown = {"plain": value, "upper": value.upper(),
             "percent": "".join(f"%{ord(c):02X}" for c in value[:3]) + quote(value[3:], safe=""),
             "host": f"{value}.tracker.example", "query": f"?a=1&id={value}&b=2"}[form]
    text = before + shown + after
    out = Redactor([value]).report({"k": [text]})["k"][0]
    assert value not in out and value.upper() not in out
    assert value.lower() not in out.lower() or value.lower() in (before + after).lower()
