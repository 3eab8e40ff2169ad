"""Mutated APKs (zip structure, AXML manifest, dex tables) through `appaudit scan`."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import FUZZ, assert_clean_outcome, run_cli
from mutate import byte_mutations, dex_mutations, rezip


@pytest.fixture(scope="module")
def seed_apk(education_apk) -> bytes:
    return Path(education_apk).read_bytes()


@pytest.fixture(scope="module")
def seed_members(seed_apk) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(seed_apk)) as archive:
        return {name: archive.read(name) for name in ("AndroidManifest.xml", "classes.dex")}


def _scan(tmp_path_factory, data: bytes, suffix: str = ".apk"):
    target = tmp_path_factory.mktemp("case") / f"case{suffix}"
    target.write_bytes(data)
    outcome = run_cli(["scan", str(target), "-o", str(target.with_suffix(".json"))])
    assert_clean_outcome(outcome)
    assert target.read_bytes() == data, "the input was modified"
    return outcome


@FUZZ
@given(data=st.data())
def test_whole_file_mutations(tmp_path_factory, seed_apk, data):
    _scan(tmp_path_factory, data.draw(byte_mutations(seed_apk)))


@FUZZ
@given(data=st.data())
def test_manifest_mutations(tmp_path_factory, seed_apk, seed_members, data):
    manifest = data.draw(byte_mutations(seed_members["AndroidManifest.xml"], max_ops=3))
    _scan(tmp_path_factory, rezip(seed_apk, replace={"AndroidManifest.xml": manifest}))


@FUZZ
@given(data=st.data())
def test_dex_mutations(tmp_path_factory, seed_apk, seed_members, data):
    dex = data.draw(st.one_of(dex_mutations(seed_members["classes.dex"]),
                              byte_mutations(seed_members["classes.dex"], max_ops=3)))
    _scan(tmp_path_factory, rezip(seed_apk, replace={"classes.dex": dex}))


@FUZZ
@given(names=st.lists(st.sampled_from([
    "../../evil.apk", "/etc/passwd", "a/../../b.dex", "classes2.dex", "classes.dex", "AndroidManifest.xml",
    "C:\\windows\\x.apk", "split_x.apk", "manifest.json", "info.json", "toc.pb"]), max_size=5),
       suffix=st.sampled_from([".apk", ".xapk", ".apks", ".apkm"]))
def test_zip_structure_and_bundle_members(tmp_path_factory, seed_apk, names, suffix):
    extra = {name: (seed_apk if name.endswith(".apk") else b"\x00garbage") for name in names}
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        if suffix == ".apk":
            with zipfile.ZipFile(io.BytesIO(seed_apk)) as src:
                for info in src.infolist():
                    archive.writestr(info.filename, src.read(info.filename))
        for name, payload in extra.items():
            archive.writestr(name, payload)
    _scan(tmp_path_factory, outer.getvalue(), suffix)


def test_zip_bomb_is_refused_with_bounded_memory(tmp_path):
    """1 GiB of zeros deflates to ~1 MiB: the reader must stop at its cap, not inflate it."""
    bomb = tmp_path / "bomb.apk"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")
        with archive.open("classes.dex", "w", force_zip64=True) as member:
            chunk = b"\x00" * (1 << 20)
            for _ in range(1024):
                member.write(chunk)
    outcome = run_cli(["scan", str(bomb)])
    assert_clean_outcome(outcome, allowed=(2,))
