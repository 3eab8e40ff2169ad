"""Mutated app bundles (.xapk, .apks, .apkm from tests/fixtures) through `appaudit scan`: their metadata
(manifest.json / info.json / toc.pb), their member APKs, and bundles nested in bundles."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import FUZZ, assert_clean_outcome, run_cli
from mutate import byte_mutations, json_mutations, rezip


@pytest.fixture(scope="module")
def bundles(xapk, apks_bundle, apkm_bundle) -> dict[str, Path]:
    # paths, not bytes: hypothesis prints the arguments of a failing case
    return {".xapk": Path(xapk), ".apks": Path(apks_bundle), ".apkm": Path(apkm_bundle)}


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _scan(tmp_path_factory, data: bytes, suffix: str):
    target = tmp_path_factory.mktemp("bundle") / f"case{suffix}"
    target.write_bytes(data)
    outcome = run_cli(["scan", str(target), "-o", str(target.with_suffix(".json"))])
    assert_clean_outcome(outcome)
    assert target.read_bytes() == data, "the input was modified"
    # nothing is ever extracted: the case folder holds the input and at most the report
    assert {p.name for p in target.parent.iterdir()} <= {target.name, target.with_suffix(".json").name}
    return outcome


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".xapk", ".apkm"]))
def test_bundle_metadata_mutations(tmp_path_factory, bundles, data, suffix):
    original = bundles[suffix].read_bytes()
    name = "manifest.json" if suffix == ".xapk" else "info.json"
    raw = _members(original)[name]
    if data.draw(st.booleans()):
        mutated = json.dumps(data.draw(json_mutations(json.loads(raw)))).encode()
    else:
        mutated = data.draw(byte_mutations(raw))
    _scan(tmp_path_factory, rezip(original, replace={name: mutated}), suffix)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".xapk", ".apks", ".apkm"]))
def test_bundle_member_mutations(tmp_path_factory, bundles, data, suffix):
    original = bundles[suffix].read_bytes()
    members = _members(original)
    apks = sorted(n for n in members if n.endswith(".apk"))
    victim = data.draw(st.sampled_from(apks))
    how = data.draw(st.sampled_from(["bytes", "truncate", "drop", "nested", "metadata-only", "toc"]))
    if how == "bytes":
        mutated = rezip(original, replace={victim: data.draw(byte_mutations(members[victim]))})
    elif how == "truncate":
        mutated = rezip(original, replace={victim: members[victim][:data.draw(st.integers(0, 4096))]})
    elif how == "drop":
        mutated = rezip(original, drop=(victim,))
    elif how == "nested":   # a whole bundle where an APK should be, or beside them
        other = bundles[data.draw(st.sampled_from(sorted(bundles)))].read_bytes()
        if data.draw(st.booleans()):
            mutated = rezip(original, replace={victim: other})
        else:
            mutated = rezip(original, add={"inner" + data.draw(st.sampled_from(sorted(bundles))): other})
    elif how == "metadata-only":
        mutated = rezip(original, drop=tuple(apks))
    else:
        mutated = rezip(original, add={"toc.pb": data.draw(st.binary(max_size=64))}, drop=("toc.pb",))
    _scan(tmp_path_factory, mutated, data.draw(st.sampled_from([suffix, ".zip"])))
