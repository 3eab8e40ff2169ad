"""The DEX table reader: every corpus dex parses, tables and instruction walks agree with androguard, and
malformed input is an InputError (never IndexError, struct.error or a hang)."""
from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import audit  # noqa: F401  (silences androguard's loguru output)
from audit.errors import InputError
from audit.static.callsites import class_names, find_call_sites, string_constants
from audit.static.dex import INVOKE_OPCODES, DexFile, decode_mutf8, read_uleb128

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
APKS = SHARED / "corpus" / "apks"


def _corpus_apks() -> list[Path]:
    return sorted(APKS.glob("*.apk")) if APKS.is_dir() else []


def _dex_blobs(apk: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(apk) as z:
        return [(n, z.read(n)) for n in sorted(z.namelist()) if re.fullmatch(r"classes\d*\.dex", n)]


def _small_dex() -> bytes:
    apk = APKS / "droidbot__DroidBoxTests.apk"
    if not apk.is_file():
        pytest.skip(f"shared corpus not present: {apk}")
    return _dex_blobs(apk)[0][1]


@pytest.mark.skipif(not _corpus_apks(), reason="shared corpus not present")
def test_every_corpus_dex_parses():
    total_methods = 0
    for apk in _corpus_apks():
        blobs = _dex_blobs(apk)
        assert blobs, apk.name
        for name, data in blobs:
            dex = DexFile(data, f"{apk.name}!{name}")
            assert dex.version in ("035", "037", "038", "039", "040")
            assert len(dex.class_descriptors()) == dex.class_defs_size
            idxs, _flags, offs, _owners = dex.method_table()
            total_methods += len(idxs)
            assert all(i < dex.method_ids_size for i in idxs)
            first_code = next((o for o in offs if o), None)
            if first_code:
                assert dex.method_at(first_code + 16) is not None
            start, end = dex.code_area()
            assert 0 <= start < end <= dex.size
            # every method id resolves to a descriptor that the binary-search lookup finds again
            for m in range(0, dex.method_ids_size, max(1, dex.method_ids_size // 200)):
                assert dex.find_method(dex.method_descriptor(m)) == m
    assert total_methods > 100_000


ANDROGUARD_CHECKED = ["androguard__com.teleca.jamendo_35.apk", "droidbench__DirectLeak1.apk",
                      "facebook-sdk__examples_stream.apk"]


@pytest.mark.parametrize("apk_name", ANDROGUARD_CHECKED)
def test_tables_and_instruction_walk_agree_with_androguard(apk_name):
    from androguard.core.dex import DEX
    apk = APKS / apk_name
    if not apk.is_file():
        pytest.skip(f"shared corpus not present: {apk}")
    name, data = _dex_blobs(apk)[0]
    theirs = DEX(data)
    ours = DexFile(data, name)
    assert ours.class_descriptors() == list(theirs.get_classes_names())
    their_methods = [m.get_class_name() + "->" + m.get_name() + m.get_descriptor().replace(" ", "")
                     for m in theirs.get_methods_id_item().get_obj()]
    assert [ours.method_descriptor(i) for i in range(ours.method_ids_size)] == their_methods
    walked = 0
    for encoded in theirs.get_encoded_methods():
        if not encoded.get_code_off():
            continue
        pc, invokes, strings = 0, {}, []
        for ins in encoded.get_instructions():
            op = ins.get_op_value()
            if op in INVOKE_OPCODES:
                invokes[pc] = ins.get_ref_kind()
            elif op in (0x1a, 0x1b):
                strings.append(ins.get_ref_kind())
            pc += ins.get_length() // 2
        body = ours.body(ours.method_by_idx(encoded.get_method_idx()))
        assert body.invokes == invokes, ours.method_descriptor(encoded.get_method_idx())
        assert list(body.strings) == strings
        walked += 1
    assert walked > 100


def test_uleb128_and_mutf8():
    assert read_uleb128(b"\x00", 0, 1) == (0, 1)
    assert read_uleb128(b"\x7f", 0, 1) == (127, 1)
    assert read_uleb128(b"\x80\x7f", 0, 2) == (16256, 2)
    assert read_uleb128(b"\xff\xff\xff\xff\x0f", 0, 5) == (0xFFFFFFFF, 5)
    with pytest.raises(InputError, match="truncated uleb128"):
        read_uleb128(b"\x80\x80", 0, 2)
    with pytest.raises(InputError, match="longer than 5 bytes"):
        read_uleb128(b"\x80" * 6, 0, 6)
    assert decode_mutf8(b"abc") == "abc"
    assert decode_mutf8(b"a\xc0\x80b") == "a\x00b"
    # U+1F600 as a CESU-8 surrogate pair
    assert decode_mutf8("\U0001F600".encode("utf-16-le").decode("utf-16-le", "surrogatepass")
                        .encode("utf-8", "surrogatepass")) == "\U0001F600"
    assert decode_mutf8(b"ok\xff\xfe") == "ok\ufffd\ufffd"     # corrupt: kept, never raised


# -- malformed input ---------------------------------------------------------------------------------------
def _header_field(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, offset, value)
    return bytes(out)


def _full_read(data: bytes) -> None:
    """Everything the scan does with a dex."""
    dex = DexFile(data, "classes.dex")
    class_names([dex])
    dex.method_at(0)
    string_constants([dex])
    find_call_sites([dex], app_package="droidbox.tests")


def test_bad_magic_truncated_and_tables_outside_the_file():
    data = _small_dex()
    with pytest.raises(InputError, match=r"classes.dex: not a DEX file \(magic"):
        DexFile(b"PK\x03\x04" + data[4:], "classes.dex")
    with pytest.raises(InputError, match="shorter than the 112-byte header"):
        DexFile(data[:50], "classes.dex")
    with pytest.raises(InputError, match="truncated: header says"):
        DexFile(data[: len(data) // 2], "classes.dex")
    with pytest.raises(InputError, match="method_ids .* outside the file"):
        DexFile(_header_field(data, 92, len(data) - 4), "classes.dex")       # method_ids_off
    with pytest.raises(InputError, match="string_ids .* outside the file"):
        DexFile(_header_field(data, 56, 0x0FFFFFFF), "classes.dex")          # string_ids_size
    with pytest.raises(InputError, match="endian"):
        DexFile(_header_field(data, 40, 0x78563412), "classes.dex")


def test_dex_version_040_is_read_and_a_newer_one_is_refused_by_name():
    """ART loads version 040 from API 30: the layout is 039's, and its classes are read as such. A 041 header
    (API 36's container) must be the longer one; a version after 041 is refused saying so, not called "not a DEX
    file" (containers themselves: tests/test_scan.py)."""
    data = _small_dex()
    as_040 = DexFile(b"dex\n040\x00" + data[8:], "classes.dex")
    assert as_040.version == "040"
    assert as_040.class_descriptors() == DexFile(data, "classes.dex").class_descriptors()
    _full_read(b"dex\n040\x00" + data[8:])
    with pytest.raises(InputError, match="DEX 041 header size 112 below 120"):
        DexFile(b"dex\n041\x00" + data[8:], "classes.dex")
    with pytest.raises(InputError, match="DEX version 042 is not read"):
        DexFile(b"dex\n042\x00" + data[8:], "classes.dex")


def test_out_of_range_indices_and_offsets_are_input_errors():
    data = _small_dex()
    dex = DexFile(data)
    with pytest.raises(InputError, match="string index .* out of range"):
        dex.string(dex.string_ids_size)
    with pytest.raises(InputError, match="method index .* out of range"):
        dex.method_descriptor(dex.method_ids_size + 5)
    with pytest.raises(InputError, match="type index"):
        dex.type_name(0xFFFF)
    # a class_def whose class type index is past type_ids
    patched = _header_field(data, dex.class_defs_off, 0xFFFF)
    with pytest.raises(InputError, match="class_def 0: class type index 65535 out of range"):
        DexFile(patched).class_descriptors()
    # a class_data offset past the end
    patched = _header_field(data, dex.class_defs_off + 24, len(data) + 100)
    with pytest.raises(InputError, match="class_data offset .* outside the file"):
        DexFile(patched).method_table()
    # a string id pointing outside the file
    patched = _header_field(data, dex.string_ids_off, len(data) + 7)
    with pytest.raises(InputError, match="string 0: data offset .* outside the file"):
        DexFile(patched).string(0)
    # a code_item whose instructions run past the end
    code_off = next(o for o in dex.method_table()[2] if o)
    patched = _header_field(data, code_off + 12, 0x7FFFFFF)
    with pytest.raises(InputError, match="code units run past the end"):
        DexFile(patched).method_at(0)


# Positions: the header's sizes and offsets, or the id tables, class data and code that follow.
_POSITIONS = st.one_of(st.integers(32, 0x6F), st.integers(0x70, 12_000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_POSITIONS, st.integers(0, 255)), min_size=1, max_size=16), st.integers(0, 20_000))
def test_mutated_dex_never_escapes_as_anything_but_input_error(mutations, cut):
    data = bytearray(_small_dex())
    for pos, value in mutations:
        data[pos % len(data)] = value
    if cut > 200:
        data = data[:max(0x70, len(data) - cut)]
    try:
        _full_read(bytes(data))
    except InputError:
        pass
