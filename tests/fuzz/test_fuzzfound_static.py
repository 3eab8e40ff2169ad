"""What coverage-guided fuzzing (atheris, on the static stage's readers) found: one test per cause.

Each builds its input from a test fixture mutated in code (no binary blob) and runs the real CLI. Inputs that
Android installs must be scanned (exit 0, `partial` where a limit dropped data); bad ones end in one
`appaudit: error:` line and exit 2; never an `unexpected` exception, a traceback or a hang.
"""
from __future__ import annotations

import hashlib
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
