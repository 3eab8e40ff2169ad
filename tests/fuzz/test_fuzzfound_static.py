"""What coverage-guided fuzzing (atheris, on the static stage's readers) found: one test per cause.

Each builds its input from a test fixture mutated in code (no binary blob) and runs the real CLI. Inputs that
Android installs must be scanned (exit 0, `partial` where a limit dropped data); bad ones end in one
`appaudit: error:` line and exit 2; never an `unexpected` exception, a traceback or a hang.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

from conftest import assert_clean_outcome, run_cli

from audit.static.dex import INVOKE_OPCODES, DexFile


def _members(apk: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(apk) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def _write_apk(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _resealed(dex: bytearray) -> bytes:
    """The header's SHA-1 signature and Adler-32 checksum recomputed, as ART checks them on load: the dex stays
    one Android opens, only its instructions differ."""
    dex[12:32] = hashlib.sha1(bytes(dex[32:])).digest()
    struct.pack_into("<I", dex, 8, zlib.adler32(bytes(dex[12:])))
    return bytes(dex)


def _scan_json(tmp_path: Path, apk: Path) -> dict:
    out = tmp_path / "report.json"
    outcome = run_cli(["scan", str(apk), "-o", str(out)])
    assert_clean_outcome(outcome, allowed=(0,))
    return json.loads(out.read_text())


def test_invoke_naming_a_method_index_past_the_table_does_not_refuse_the_app(tmp_path, education_apk):
    """Every method's first invoke names method 0xFFFF, past method_ids. ART's DexFileVerifier does not read
    instructions; its method verifier fails only that method's class (a VerifyError when used) and the app
    installs. The SDK entry-class check (sdkdetect) and the renamed-code evidence (callsites) decoded such an
    index and raised, so the whole app was refused: `error: ... method index 65535 out of range`."""
    members = _members(education_apk)
    original = members["classes.dex"]
    reader = DexFile(original)
    dex = bytearray(original)
    idxs, flags, offs, owners = reader.method_table()
    corrupted = 0
    for row in range(len(idxs)):
        if not offs[row]:
            continue
        body = reader.body(reader._method_row(row))
        if body.invokes:
            pc = min(body.invokes)
            code = offs[row] + 16 + 2 * pc
            assert original[code] in INVOKE_OPCODES
            dex[code + 2:code + 4] = b"\xff\xff"
            corrupted += 1
    assert corrupted > 10
    members["classes.dex"] = _resealed(dex)
    report = _scan_json(tmp_path, _write_apk(tmp_path / "bad-invokes.apk", members))
    assert report["app"]["package"] == "org.edukit.classroom"


def _with_method(apk_bytes: bytes, member: str, method: int) -> bytes:
    """The archive with `member`'s compression method number set to `method` in its local header and its central
    directory entry, its bytes left as they are: the header tampering of Zimperium's 2023 samples."""
    data = bytearray(apk_bytes)
    with zipfile.ZipFile(io.BytesIO(apk_bytes)) as archive:
        info = archive.getinfo(member)
    assert data[info.header_offset:info.header_offset + 4] == b"PK\x03\x04"
    struct.pack_into("<H", data, info.header_offset + 8, method)
    central = data.rfind(b"PK\x01\x02" + data[info.header_offset + 4:info.header_offset + 8])
    name = member.encode()
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0
    struct.pack_into("<H", data, central + 10, method)
    return bytes(data)


def test_manifest_with_an_unknown_compression_method_is_read_as_android_reads_it(tmp_path, education_apk):
    """AndroidManifest.xml stored, its method number set to 0x5A5A (and 12, bzip2) in both headers. The installer
    reads the manifest through libandroidfw, which maps any member that is not deflated as stored, so the app
    installs (Android 9+); the scan refused it: `compression method 23130 (unknown) is not one Android accepts`."""
    members = _members(education_apk)
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name == "AndroidManifest.xml" else None)
    for method in (0x5A5A, zipfile.ZIP_BZIP2):
        apk = tmp_path / f"method-{method}.apk"
        apk.write_bytes(_with_method(stored.getvalue(), "AndroidManifest.xml", method))
        report = _scan_json(tmp_path, apk)
        assert report["app"]["package"] == "org.edukit.classroom"
        assert any(p["name"] == "android.permission.READ_PHONE_STATE" for p in report["permissions"])


def test_resource_table_with_an_unknown_compression_method_is_read_as_android_reads_it(tmp_path, education_apk):
    """resources.arsc goes through the same resource system as the manifest (AssetManager, libandroidfw): a member
    that is not deflated is mapped as stored. Its method number set to 0x5A5A, the scan left the table out (`resources
    not read: ... not one Android accepts`) and lost what it names, the app's label among it."""
    members = _members(education_apk)
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name == "resources.arsc" else None)
    plain = _scan_json(tmp_path, _write_apk(tmp_path / "plain.apk", members))
    assert plain["app"].get("label") and not plain["warnings"]
    apk = tmp_path / "arsc-method.apk"
    apk.write_bytes(_with_method(stored.getvalue(), "resources.arsc", 0x5A5A))
    report = _scan_json(tmp_path, apk)
    assert report["app"]["label"] == plain["app"]["label"] and not report["warnings"]


def test_dex_with_an_unknown_compression_method_stays_skipped(tmp_path, education_apk):
    """The code is not read by the resource system: ART's loader (libziparchive) extracts stored and deflated
    members only, so such a classes.dex does not load on a device either and is still left out (no code: exit 2)."""
    apk = tmp_path / "dex-method.apk"
    apk.write_bytes(_with_method(education_apk.read_bytes(), "classes.dex", 0x5A5A))
    outcome = run_cli(["scan", str(apk), "-o", str(tmp_path / "r.json")])
    assert_clean_outcome(outcome, allowed=(2,))
    assert "is not one Android accepts" in outcome.stderr


def test_manifest_whose_chunk_type_was_changed_is_read_as_binary_xml(tmp_path, education_apk):
    """The manifest's first two bytes (the root chunk's type, 03 00) set to 0a 00 or 3c 00. The installer's
    ResXMLTree::setTo checks the header's sizes, never the type, so the app installs; the scan chose its reader by
    the first byte and refused the app: `malformed manifest ...` from the protobuf or the text-XML reader."""
    members = _members(education_apk)
    for first in (b"\x0a\x00", b"<\x00"):
        members["AndroidManifest.xml"] = first + _members(education_apk)["AndroidManifest.xml"][2:]
        report = _scan_json(tmp_path, _write_apk(tmp_path / f"type-{first[0]:02x}.apk", members))
        assert report["app"]["package"] == "org.edukit.classroom"
        assert any(p["name"] == "android.permission.READ_PHONE_STATE" for p in report["permissions"])


def test_a_dex_with_corrupt_method_ids_is_skipped_not_the_whole_app(tmp_path, education_apk):
    """classes.dex: every method_id's proto index set past proto_ids; classes2.dex: the app's good code. The SDK
    entry-class check decoded method descriptors outside the per-dex guards, so the corrupt dex refused the whole
    app (`proto index 65535 out of range`) although the other dex holds all of it. Android would not load the
    corrupt dex (DexFileVerifier checks method_ids); the scan skips it, says so, and reads the rest."""
    members = _members(education_apk)
    good = members["classes.dex"]
    reader = DexFile(good)
    corrupt = bytearray(good)
    for index in range(reader.method_ids_size):
        struct.pack_into("<H", corrupt, reader.method_ids_off + 8 * index + 2, 0xFFFF)
    members["classes.dex"], members["classes2.dex"] = _resealed(corrupt), good
    report = _scan_json(tmp_path, _write_apk(tmp_path / "corrupt-first-dex.apk", members))
    assert report["partial"]
    assert any("classes.dex" in w and "proto index" in w for w in report["warnings"])
    assert report["api_calls"], "the good dex's call sites are reported"


def test_dex_members_android_never_loads_are_not_scanned(tmp_path, education_apk, split_set):
    """classes.dex (the app) plus classes0.dex and classes3.dex (no classes2.dex) holding other code with sensitive
    calls. ART opens classes.dex, classes2.dex ... up to the first missing name, so neither ever loads; the reader
    took every `classes<digits>.dex`, sorted classes0.dex first (its classes shadowed the app's) and reported the
    decoys' calls as what the app can do."""
    decoy = _members(split_set[1])["classes.dex"]           # split_feature_maps.apk: sensitive calls of its own
    plain = _scan_json(tmp_path, education_apk)
    members = _members(education_apk)
    members["classes0.dex"] = members["classes3.dex"] = decoy
    report = _scan_json(tmp_path, _write_apk(tmp_path / "decoys.apk", members))
    assert report["api_calls"] == plain["api_calls"]
    assert any("classes0.dex" in w and "classes3.dex" in w and "Android loads" in w for w in report["warnings"])


def test_manifest_whose_crc_is_wrong_is_read_as_android_reads_it(tmp_path, education_apk):
    """The manifest's CRC-32 zeroed in its local header and central directory entry. libandroidfw maps or inflates
    the manifest without checking a CRC, so the app installs; Python's zipfile checked it and the app was refused
    (`corrupt zip member: Bad CRC-32`)."""
    data = bytearray(education_apk.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("AndroidManifest.xml")
    struct.pack_into("<I", data, info.header_offset + 14, 0)
    name = b"AndroidManifest.xml"
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
        assert central > 0
    struct.pack_into("<I", data, central + 16, 0)
    apk = tmp_path / "crc.apk"
    apk.write_bytes(bytes(data))
    report = _scan_json(tmp_path, apk)
    assert report["app"]["package"] == "org.edukit.classroom"


def test_empty_string_table_with_an_offset_past_the_end_is_not_an_unexpected_error(tmp_path, education_apk):
    """Found by atheris on the dex tables: string_ids_size 0 with string_ids_off 0xC80000 (past the end; no
    class_defs, so nothing else reads a string first). The header check skips empty tables, and the host scan's
    struct.unpack_from of 0 items at that offset raised struct.error: `error: unexpected error: unpack_from
    requires a buffer of at least 13107200 bytes`."""
    members = _members(education_apk)
    dex = bytearray(members["classes.dex"])
    struct.pack_into("<II", dex, 0x38, 0, 0xC80000)     # string_ids_size, string_ids_off
    struct.pack_into("<II", dex, 0x60, 0, 0)            # class_defs_size, class_defs_off
    members["classes.dex"] = _resealed(dex)
    apk = _write_apk(tmp_path / "empty-strings.apk", members)
    assert_clean_outcome(run_cli(["scan", str(apk), "-o", str(tmp_path / "r.json")]))


def _element_attribute_sizes(manifest: bytes):
    """(offset of the attributeSize field, attribute count) of every start-element chunk of a binary XML."""
    pos = struct.unpack_from("<H", manifest, 2)[0]          # past the file header
    while pos + 8 <= len(manifest):
        chunk_type, header_size, size = struct.unpack_from("<HHI", manifest, pos)
        if chunk_type == 0x0102:                              # RES_XML_START_ELEMENT_TYPE
            yield pos + header_size + 10, struct.unpack_from("<H", manifest, pos + header_size + 12)[0]
        pos += size


def test_attributes_smaller_than_their_record_are_read_as_android_reads_them(tmp_path, education_apk):
    """Every one-attribute element of the manifest given an attributeSize of 0 or 8 (its record is 20 bytes).
    ResXMLTree::validateNode checks only that count x size bytes fit the chunk and ResXMLParser reads each record
    at start + size x index, so Android installs the app and reads the same attributes; the scan refused it:
    `element at ...: 1 attributes of 0 bytes do not fit its chunk`."""
    members = _members(education_apk)
    original = members["AndroidManifest.xml"]
    for size in (0, 8):
        manifest = bytearray(original)
        changed = 0
        for field, count in _element_attribute_sizes(original):
            if count == 1:
                struct.pack_into("<H", manifest, field, size)
                changed += 1
        assert changed > 5
        members["AndroidManifest.xml"] = bytes(manifest)
        report = _scan_json(tmp_path, _write_apk(tmp_path / f"attribute-size-{size}.apk", members))
        assert report["app"]["package"] == "org.edukit.classroom"
        assert any(p["name"] == "android.permission.READ_PHONE_STATE" for p in report["permissions"])
