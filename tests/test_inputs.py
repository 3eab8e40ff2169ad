"""Opening APKs, split sets and bundles: what is read, in which order, and the bounds on hostile archives."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from audit.errors import BoundExceeded, InputError
from audit.static import inputs
from audit.static.inputs import open_inputs


def _members(apk: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(apk) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def clean_parts(clean_apk) -> dict[str, bytes]:
    """The clean fixture's manifest and dex: real AXML and a real dex to build test archives from."""
    parts = _members(clean_apk)
    return {"AndroidManifest.xml": parts["AndroidManifest.xml"], "classes.dex": parts["classes.dex"]}


def test_single_apk_reads_manifest_and_dexes_in_numeric_order(tmp_path, clean_parts):
    # classes3..9 present: ART loads classes10.dex only after them (it stops at the first missing name)
    middle = {f"classes{i}.dex": str(i).encode() for i in range(3, 10)}
    apk = write_zip(tmp_path / "app.apk", {
        "AndroidManifest.xml": clean_parts["AndroidManifest.xml"],
        "classes10.dex": b"ten", "classes2.dex": b"two", "classes.dex": b"one", **middle,
        "assets/classes3.dex": b"not code the runtime loads", "classes_x.dex": b"neither"})
    opened = open_inputs([apk])
    (contents,) = opened.apks
    assert [name.split("!")[1] for name, _ in contents.dexes] == ["classes.dex", "classes2.dex", *middle,
                                                                  "classes10.dex"]
    assert [data for _, data in contents.dexes] == [b"one", b"two", *middle.values(), b"ten"]
    assert contents.manifest == clean_parts["AndroidManifest.xml"]
    (info,) = opened.inputs
    assert info.role == "apk" and info.path == str(apk) and info.size == apk.stat().st_size
    assert info.sha256 == hashlib.sha256(apk.read_bytes()).hexdigest()
    assert not opened.warnings


@pytest.mark.parametrize("bundle_fixture, members", [
    ("xapk", ["config.en.apk", "feature_maps.apk", "org.edukit.quiz.apk"]),
    ("apks_bundle", ["splits/base-en.apk", "splits/base-master.apk", "splits/feature_maps-master.apk"]),
    ("apkm_bundle", ["base.apk", "split_config.en.apk", "split_feature_maps.apk"]),
])
def test_bundles_list_every_member_with_its_own_digest(request, split_set, bundle_fixture, members):
    bundle = request.getfixturevalue(bundle_fixture)
    opened = open_inputs([bundle])
    assert opened.inputs[0].role == "bundle" and opened.inputs[0].path == str(bundle)
    assert [i.path for i in opened.inputs[1:]] == [f"{bundle}!{m}" for m in members]
    assert all(i.role == "member" for i in opened.inputs[1:])
    # The fixture bundles hold the split set's exact bytes: the same three digests.
    split_digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in split_set}
    assert {i.sha256 for i in opened.inputs[1:]} == split_digests
    assert len(opened.apks) == 3 and not opened.warnings
    dex_names = sorted(name.rsplit("!", 1)[1] for apk in opened.apks for name, _ in apk.dexes)
    assert dex_names == ["classes.dex", "classes.dex", "classes2.dex"]   # base multidex + feature split


def test_xapk_skips_obb_and_reads_the_package_from_manifest_json(tmp_path, split_set):
    base, feature, config = split_set
    xapk = write_zip(tmp_path / "app.xapk", {
        "manifest.json": json.dumps({"package_name": "org.edukit.quiz", "split_apks": [
            {"file": "base.apk", "id": "base"}, {"file": "feature.apk", "id": "feature_maps"}]}).encode(),
        "base.apk": base.read_bytes(), "feature.apk": feature.read_bytes(), "unlisted.apk": config.read_bytes(),
        "Android/obb/org.edukit.quiz/main.12.org.edukit.quiz.obb": b"\0" * 1000,
        "icon.png": b"\x89PNG"}, zipfile.ZIP_STORED)
    opened = open_inputs([xapk])
    assert opened.bundle_package == "org.edukit.quiz"
    assert [i.path.split("!")[1] for i in opened.inputs[1:]] == ["base.apk", "feature.apk"]


def test_split_set_files_are_each_an_input(split_set):
    opened = open_inputs(split_set)
    assert [i.path for i in opened.inputs] == [str(p) for p in split_set]
    assert all(i.role == "split" for i in opened.inputs)
    assert len(opened.apks) == 3


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.apk", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: _file(d / "empty.apk", b""), "is empty"),
    (lambda d: _file(d / "text.apk", b"hello, not a zip\n"), "not a valid zip"),
])
def test_unreadable_files_are_one_line_input_errors(tmp_path, make, message):
    with pytest.raises(InputError, match=message) as caught:
        open_inputs([make(tmp_path)])
    assert "\n" not in str(caught.value)


def test_truncated_apk_is_refused(tmp_path, education_apk):
    data = education_apk.read_bytes()
    cut = tmp_path / "cut.apk"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="not a valid zip"):
        open_inputs([cut])


def test_zip_without_manifest_or_apks_is_refused(tmp_path):
    with pytest.raises(InputError, match="neither an APK"):
        open_inputs([write_zip(tmp_path / "x.apk", {"readme.txt": b"hi"})])


# Real apps carry such names to break unpacking tools (apktool's test APKs issue1498: "../assets/0/logo.png",
# issue1589: "META-INF/../../../../CERT.RSA"); Android installs them and finds its code by exact names
OUTSIDE_NAMES = ["../../etc/evil.dex", "/abs/classes.dex", "lib/..\\..\\x.so", "C:/x.dex", "assets/../classes2.dex",
                 "META-INF/../../../../CERT.RSA"]


@pytest.mark.parametrize("name", OUTSIDE_NAMES)
def test_member_names_outside_the_archive_are_left_unread_and_the_app_is_read(tmp_path, clean_parts, name):
    apk = write_zip(tmp_path / "evasive.apk", {**clean_parts, name: b"x"})
    opened = open_inputs([apk])
    assert not opened.warnings
    assert [n for n, _ in opened.apks[0].dexes] == [f"{apk}!classes.dex"]   # never read as a second dex


def test_member_names_outside_the_archive_in_one_split_leave_the_set_readable(tmp_path, split_set, clean_parts):
    evasive = write_zip(tmp_path / "evasive.apk", {**clean_parts, "../x": b"x"})
    opened = open_inputs([*split_set, evasive])
    assert len(opened.apks) == len(split_set) + 1 and not opened.warnings


def test_a_member_name_holding_a_nul_refuses_the_archive_as_android_does(tmp_path, clean_parts):
    """Python's zip reader cuts the name at the NUL (`test.txt\\0` reads as `test.txt`); libziparchive refuses
    the archive (apksig's v1-only-with-nul-in-entry-name.apk, tests/test_unseen_apps.py, is one)."""
    apk = write_zip(tmp_path / "nul.apk", {**clean_parts, "test.txt": b"x"})
    data = apk.read_bytes().replace(b"test.txt", b"test.tx\0")
    apk.write_bytes(data)
    with pytest.raises(InputError, match="NUL byte"):
        open_inputs([apk])


def test_two_members_of_one_name_refuse_the_archive_as_android_does(tmp_path, clean_parts):
    """The Master Key trick: a second classes.dex the signature check never saw. Android 4.4+ refuses to open
    the archive; which copy to scan is not a question."""
    import warnings
    apk = tmp_path / "twice.apk"
    with warnings.catch_warnings(), zipfile.ZipFile(apk, "w") as z:
        warnings.simplefilter("ignore")       # zipfile warns about the duplicate it writes
        for name, data in [*clean_parts.items(), ("classes.dex", b"dex\n035\0")]:
            z.writestr(name, data)
    with pytest.raises(InputError, match="two members named 'classes.dex'"):
        open_inputs([apk])


def test_a_bundle_member_named_outside_the_archive_is_not_one_of_its_apks(tmp_path, clean_apk):
    bundle = write_zip(tmp_path / "b.apks", {"splits/base-master.apk": clean_apk.read_bytes(),
                                             "../splits/evil.apk": clean_apk.read_bytes()})
    assert [a.name for a in open_inputs([bundle]).apks] == [f"{bundle}!splits/base-master.apk"]


def _zero_member_zip(path: Path, name: str, mib: int, extra: dict[str, bytes]) -> Path:
    """A zip whose member inflates to `mib` MiB of zeros (compressed to ~1/1000), written in streaming."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in extra.items():
            z.writestr(member, data)
        with z.open(name, "w", force_zip64=True) as handle:
            block = b"\0" * (1024 * 1024)
            for _ in range(mib):
                handle.write(block)
    return path


def test_zip_bomb_is_stopped_by_the_ratio_check_early(tmp_path, clean_parts):
    manifest = {"AndroidManifest.xml": clean_parts["AndroidManifest.xml"]}
    bomb = _zero_member_zip(tmp_path / "bomb.apk", "classes.dex", 64, manifest)
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(BoundExceeded, match="zip bomb"):
        open_inputs([bomb])


def test_entry_and_total_caps_hold_for_incompressible_data(tmp_path, clean_parts, monkeypatch):
    noise = os.urandom(3 * 1024 * 1024)
    apk = write_zip(tmp_path / "big.apk", {**clean_parts, "classes2.dex": noise})
    monkeypatch.setattr(inputs, "MAX_ENTRY_INFLATED", 2 * 1024 * 1024)
    with pytest.raises(BoundExceeded, match="more than 2 MiB"):
        open_inputs([apk])
    monkeypatch.setattr(inputs, "MAX_ENTRY_INFLATED", 256 * 1024 * 1024)
    monkeypatch.setattr(inputs, "MAX_TOTAL_INFLATED", 5 * 1024 * 1024)
    apk2 = write_zip(tmp_path / "big2.apk", {**clean_parts, "classes2.dex": noise, "classes3.dex": noise})
    with pytest.raises(BoundExceeded, match="more than 5 MiB in total"):
        open_inputs([apk2])


def test_declared_sizes_are_not_trusted(tmp_path, clean_parts):
    """A member whose headers claim 100 bytes but which inflates to 3 MiB is not read past its claim: the
    reader stops there and the CRC check refuses the member (left out with its reason; the rest is read)."""
    noise = os.urandom(3 * 1024 * 1024)
    apk = write_zip(tmp_path / "liar.apk", {**clean_parts, "classes2.dex": noise})
    raw = bytearray(apk.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("classes2.dex")
    struct.pack_into("<I", raw, info.header_offset + 22, 100)        # local header: uncompressed size
    pos = raw.find(b"PK\x01\x02")                                    # ... and its central directory entry
    while pos >= 0:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46: pos + 46 + name_len] == b"classes2.dex":
            struct.pack_into("<I", raw, pos + 24, 100)
        pos = raw.find(b"PK\x01\x02", pos + 4)
    apk.write_bytes(bytes(raw))
    (contents,) = open_inputs([apk]).apks
    assert [n.rsplit("!", 1)[1] for n, _ in contents.dexes] == ["classes.dex"]
    (problem,) = contents.unreadable_dexes
    assert "classes2.dex" in problem and "CRC" in problem


def test_a_corrupt_dex_member_is_a_warning_not_a_failure(tmp_path, clean_parts):
    apk = write_zip(tmp_path / "app.apk", {**clean_parts, "classes2.dex": os.urandom(50_000)})
    raw = bytearray(apk.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        info = z.getinfo("classes2.dex")
    start = info.header_offset + 30 + len(info.filename)
    raw[start + 10: start + 400] = os.urandom(390)       # the deflate stream itself
    apk.write_bytes(bytes(raw))
    (contents,) = open_inputs([apk]).apks
    assert [n.rsplit("!", 1)[1] for n, _ in contents.dexes] == ["classes.dex"]
    assert len(contents.unreadable_dexes) == 1 and "classes2.dex" in contents.unreadable_dexes[0]


def test_bundle_and_apks_together_or_twice_are_refused(tmp_path, xapk, education_apk):
    with pytest.raises(InputError, match="bundle on its own"):
        open_inputs([xapk, education_apk])
    with pytest.raises(InputError, match="given twice"):
        open_inputs([education_apk, education_apk])


def test_fake_encryption_flag_is_ignored_like_android_does(tmp_path, clean_parts):
    apk = write_zip(tmp_path / "flagged.apk", clean_parts)
    raw = bytearray(apk.read_bytes())
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:                                   # set bit 0 (encrypted) in every central entry
        raw[pos + 8] |= 1
        pos = raw.find(b"PK\x01\x02", pos + 4)
    apk.write_bytes(bytes(raw))
    (contents,) = open_inputs([apk]).apks
    assert contents.manifest == clean_parts["AndroidManifest.xml"]


def test_an_encrypted_manifest_whose_ciphertext_happens_to_inflate_is_told_by_its_crc(tmp_path, clean_parts):
    """ZipCrypto ciphertext read as deflate data inflates without an error for a few percent of random headers
    (the password test below failed 4 runs in 600): the manifest, read with no CRC check as Android reads it, then
    passed as garbage. A member flagged encrypted keeps its CRC (the plaintext's): here the manifest's data is a
    valid deflate stream of other bytes, as such ciphertext decodes, under the plaintext's CRC and the flag."""
    other_bytes = os.urandom(len(clean_parts["AndroidManifest.xml"]))
    apk = write_zip(tmp_path / "locked.apk", {**clean_parts, "AndroidManifest.xml": other_bytes})
    raw = bytearray(apk.read_bytes())
    plaintext_crc = zlib.crc32(clean_parts["AndroidManifest.xml"])
    for signature, flag_at, crc_at in ((b"PK\x03\x04", 6, 14), (b"PK\x01\x02", 8, 16)):
        pos = raw.find(signature)
        while pos >= 0:
            name_at = pos + (30 if signature == b"PK\x03\x04" else 46)
            if raw[name_at:name_at + 19] == b"AndroidManifest.xml":
                raw[pos + flag_at] |= 1
                struct.pack_into("<I", raw, pos + crc_at, plaintext_crc)
            pos = raw.find(signature, pos + 4)
    apk.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="encrypted.*password-protected"):
        open_inputs([apk])


@pytest.mark.skipif(shutil.which("zip") is None, reason="the `zip` tool (Debian package zip) makes the archive")
def test_really_password_protected_member_is_a_clear_input_error(tmp_path, clean_parts):
    """The encrypted bit ignored above may be true: a password-protected archive (an old APKM, `zip -e`) then
    fails to inflate, and the error says why instead of quoting zlib."""
    folder = tmp_path / "parts"
    for name, data in clean_parts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    apk = tmp_path / "locked.apk"
    subprocess.run(["zip", "-q", "-r", "-P", "secret", str(apk), "."], cwd=folder, check=True)
    with pytest.raises(InputError, match="encrypted.*password-protected"):
        open_inputs([apk])


def test_broken_bundle_metadata_falls_back_to_every_top_level_apk(tmp_path, split_set):
    base, feature, config = split_set
    xapk = write_zip(tmp_path / "broken-meta.xapk", {
        "manifest.json": b"{not json", "base.apk": base.read_bytes(), "feature.apk": feature.read_bytes(),
        "config.en.apk": config.read_bytes(), "Android/obb/x/main.1.x.apk": b"expansion data"},
        zipfile.ZIP_STORED)
    opened = open_inputs([xapk])
    assert [i.path.split("!")[1] for i in opened.inputs[1:]] == ["base.apk", "config.en.apk", "feature.apk"]
    assert opened.bundle_package is None and not opened.warnings
