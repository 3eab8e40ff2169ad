"""Hostile APK parts built on purpose (tests/hostile_builders.py): each bound holds by construction.

Complexity is checked by comparing n with 4n in one run (CPU time, a generous ratio: linear work gives ~4,
quadratic ~16), never against a wall-clock limit.
"""
from __future__ import annotations

import time
import zipfile

import pytest

import hostile_builders as hb  # tests/ is on sys.path (rootdir conftest)
from audit.errors import InputError
from audit.static.axml import ANDROID, parse_axml
from audit.static.callsites import CodeIndex, entry_class_descriptors, string_constants
from audit.static.dex import DexFile
from audit.static.inputs import open_inputs
from audit.static.manifest import arsc_string
from audit.static.scan import scan_app

LINEAR_RATIO = 9.0     # 4n costs about 4x n when linear, 16x when quadratic


def _cpu(fn, *args) -> float:
    best = None
    for _ in range(2):      # the best of two: one slow sample on a loaded machine must not fail the test
        start = time.process_time()
        fn(*args)
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
    return max(best, 1e-3)


def _scales_linearly(build, run, n: int) -> None:
    small, large = build(n), build(4 * n)
    ratio = _cpu(run, large) / _cpu(run, small)
    assert ratio < LINEAR_RATIO, f"4n cost {ratio:.1f}x n"


# -- zip methods --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, name", [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
def test_members_compressed_with_methods_android_refuses_are_not_inflated(clean_apk, tmp_path, method, name):
    parts = hb.members(clean_apk)
    parts["classes.dex"] = b"\0" * (16 * 1024 * 1024)
    apk = hb.write_apk(tmp_path / "m.apk", parts, {"classes.dex": method})
    with pytest.raises(InputError) as caught:
        scan_app([str(apk)])
    assert f"({name}) is not one Android accepts" in str(caught.value)
    opened = None
    parts["classes2.dex"] = hb.members(clean_apk)["classes.dex"]
    apk = hb.write_apk(tmp_path / "m2.apk", parts, {"classes.dex": method})
    opened = open_inputs([apk])
    assert [n for n, _ in opened.apks[0].dexes] == [f"{apk}!classes2.dex"]
    assert name in opened.apks[0].unreadable_dexes[0]
    report = scan_app([str(apk)])
    assert report.partial and any(name in w for w in report.warnings)


# -- string pools -------------------------------------------------------------------------------------------
def test_aliased_axml_strings_are_decoded_once():
    root = parse_axml(hb.axml_aliased_strings(200_000, 500), "aliased")
    values = [v for k, v in root.attrib.items() if k.startswith("a")]
    assert len(values) == 500 and len(values[0]) == 200_000
    assert all(v is values[0] for v in values)
    assert root.get("package") == "org.edukit.calculator"


def test_overlapping_axml_strings_hit_the_decoding_budget():
    with pytest.raises(InputError, match="decode to more than"):
        parse_axml(hb.axml_aliased_strings(20_000, 2_000, overlap=True), "overlap")
    root = parse_axml(hb.axml_aliased_strings(20_000, 1, overlap=True), "one suffix")   # within the budget
    assert len(root.get("a0")) == 19_999


def test_resources_and_manifest_share_one_string_pool_decoder():
    import audit.static.manifest as manifest
    assert not hasattr(manifest, "_pool_string")
    assert manifest.StringPool is __import__("audit.static.axml", fromlist=["StringPool"]).StringPool


def test_sparse_offset16_type_chunk_claiming_billions_of_entries_is_refused_unread():
    def lookup(table):
        return arsc_string(table, 0x7F020001)
    assert lookup(hb.arsc_sparse_claiming(0x7FFFFFFF, 1 << 20)) is None
    _scales_linearly(lambda n: hb.arsc_sparse_claiming(0x7FFFFFFF, n), lookup, 1 << 20)


# -- dex ----------------------------------------------------------------------------------------------------
def test_dex_string_aliases_share_one_object_and_overlaps_hit_the_budget():
    dex = DexFile(hb.dex_overlapping_strings(1 << 20, 64), "overlap.dex")
    with pytest.raises(InputError, match="string_ids overlapping"):
        for index in range(dex.string_ids_size):
            dex.string(index)


def test_url_scan_is_linear_in_one_long_string():
    def run(data):
        return string_constants([DexFile(data, "long.dex")])
    found = run(hb.dex_long_url_string(1 << 16))
    assert found and found[0].startswith("https://x.example/")
    _scales_linearly(hb.dex_long_url_string, run, 1 << 18)


def test_one_interfaces_list_shared_by_every_class_is_indexed_once():
    def run(data):
        index = CodeIndex([DexFile(data, "shared.dex")])
        entry_class_descriptors(index, ["org.edukit.calculator.MainActivity"])
        index.descendants("Lh/C00000;")
        return index
    index = run(hb.dex_shared_interfaces(2000))
    assert index.hierarchy_cut >= 1          # counted, and reported by the scan as a limit
    _scales_linearly(hb.dex_shared_interfaces, run, 4000)


def test_a_limit_that_drops_hierarchy_marks_the_scan_partial(clean_apk, tmp_path):
    parts = hb.members(clean_apk)
    parts["classes.dex"] = hb.dex_shared_interfaces(1000)
    report = scan_app([str(hb.write_apk(tmp_path / "h.apk", parts))])
    assert report.partial
    assert any(w.startswith("limit MAX_HIERARCHY:") for w in report.warnings)
