"""Builders of hostile APK parts, shared by the tests (tests/fuzz/test_hostile.py) and bench/hostile.py.

Each returns bytes or writes an APK next to a fixture app's other members: a synthetic dex, a binary manifest
whose string pool aliases one long string, a resources.arsc with a sparse OFFSET16 type chunk claiming a
billion entries, zip members compressed with methods Android refuses. Sizes are parameters, so the tests can
compare n with 4n (work counted, never wall time) and the bench can use the sizes of the issue.
"""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

NO_INDEX = 0xFFFFFFFF
ENTRY_CLASS = "Lorg/edukit/calculator/MainActivity;"     # the `clean` fixture's launcher activity


def members(apk: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(apk) as archive:
        return {info.filename: archive.read(info.filename) for info in archive.infolist()}


def write_apk(path: Path, parts: dict[str, bytes], methods: dict[str, int] | None = None) -> Path:
    """An APK (zip) of `parts`, deflated unless `methods` names another compression for a member."""
    methods = methods or {}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data, compress_type=methods.get(name, zipfile.ZIP_DEFLATED))
    return path


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def dex(descriptors: list[str], class_defs: list[tuple[int, int, int]], type_lists: list[list[int]] = (),
        extra_strings: list[bytes] = ()) -> bytes:
    """A dex of string_ids, type_ids (one per descriptor, which must be sorted), class_defs (class type,
    superclass type or NO_INDEX, index into `type_lists` + 1 for its interfaces or 0) and no code.
    `extra_strings` are MUTF-8 string data items appended after the descriptors' (their ids sort last)."""
    strings = [d.encode() for d in descriptors] + list(extra_strings)
    n_strings, n_types, n_classes = len(strings), len(descriptors), len(class_defs)
    string_ids_off = 0x70
    type_ids_off = string_ids_off + 4 * n_strings
    class_defs_off = type_ids_off + 4 * n_types
    data_off = class_defs_off + 32 * n_classes
    data = bytearray()
    list_offsets = []
    for items in type_lists:
        if (data_off + len(data)) % 4:
            data += b"\0" * (4 - (data_off + len(data)) % 4)
        list_offsets.append(data_off + len(data))
        data += struct.pack(f"<I{len(items)}H", len(items), *items)
    string_offsets = []
    for text in strings:
        string_offsets.append(data_off + len(data))
        data += _uleb(len(text)) + text + b"\0"
    body = bytearray()
    body += struct.pack(f"<{n_strings}I", *string_offsets)
    body += struct.pack(f"<{n_types}I", *range(n_types))
    for class_idx, super_idx, interfaces in class_defs:
        body += struct.pack("<8I", class_idx, 1, super_idx, list_offsets[interfaces - 1] if interfaces else 0,
                            NO_INDEX, 0, 0, 0)
    size = data_off + len(data)
    header = struct.pack("<8sI20sIIIIIIIIIIIIIIIIIIII", b"dex\n035\0", 0, b"\0" * 20, size, 0x70, 0x12345678,
                         0, 0, 0, n_strings, string_ids_off, n_types, type_ids_off, 0, 0, 0, 0, 0, 0,
                         n_classes, class_defs_off, len(data), data_off)
    return header + bytes(body) + bytes(data)


def dex_container(sections: list[list[str]]) -> bytes:
    """A DEX 041 file (ART's container format, API 36): one section per list of class descriptors (each sorted,
    every class a subclass of nothing, no code), each behind its own 0x78-byte header whose file_size is the
    distance to the next header and whose container_size and header_offset say where it lies; every offset counts
    from the start of the file, as the format has it."""
    out, bases = bytearray(), []
    for descriptors in sections:
        base = len(out)
        bases.append(base)
        strings = [d.encode() for d in descriptors]
        count = len(strings)
        string_ids_off = base + 0x78
        type_ids_off = string_ids_off + 4 * count
        class_defs_off = type_ids_off + 4 * count
        data_off = class_defs_off + 32 * count
        data, string_offsets = bytearray(), []
        for text in strings:
            string_offsets.append(data_off + len(data))
            data += _uleb(len(text)) + text + b"\0"
        data += b"\0" * (-len(data) % 4)
        body = struct.pack(f"<{count}I", *string_offsets) + struct.pack(f"<{count}I", *range(count))
        body += b"".join(struct.pack("<8I", i, 1, NO_INDEX, 0, NO_INDEX, 0, 0, 0) for i in range(count))
        size = 0x78 + len(body) + len(data)
        header = struct.pack("<8sI20sIIIIIIIIIIIIIIIIIIIIII", b"dex\n041\0", 0, b"\0" * 20, size, 0x78, 0x12345678,
                             0, 0, 0, count, string_ids_off, count, type_ids_off, 0, 0, 0, 0, 0, 0,
                             count, class_defs_off, 0, 0, 0, base)
        out += header + body + data
    for base in bases:
        struct.pack_into("<I", out, base + 0x70, len(out))    # container_size
    return bytes(out)


def dex_shared_interfaces(classes: int) -> bytes:
    """`classes` classes (the fixture's launcher among them) that all implement the same `classes` interfaces
    through one shared type_list: a valid layout (dex files share equal lists), quadratic if walked pairwise."""
    names = sorted({ENTRY_CLASS, *(f"Lh/C{i:05d};" for i in range(classes - 1))})
    everything = list(range(len(names)))
    return dex(names, [(i, NO_INDEX, 1) for i in everything], [everything])


def _host_words(length: int) -> bytes:
    """`length` bytes of distinct host-like words (`w1.com w2.com ...`): compresses like text, not like a bomb."""
    out, i = bytearray(), 0
    while len(out) < length:
        out += b"w%x.com " % i
        i += 1
    return bytes(out[:length])


def dex_long_url_string(length: int) -> bytes:
    """One string constant of `length` bytes of host-like words: a host-name candidate every few bytes, all
    inside one string (the old scan looked for the string's end again at each)."""
    return dex([ENTRY_CLASS], [(0, NO_INDEX, 0)], extra_strings=[b"https://x.example/ " + _host_words(length)])


def dex_overlapping_strings(length: int, ids: int) -> bytes:
    """`ids` extra string ids pointing into one `length`-byte string of host-like words, one every 64 bytes:
    each id is a long suffix of it, and each holds a host-name candidate."""
    base = bytearray(dex([ENTRY_CLASS], [(0, NO_INDEX, 0)], extra_strings=[_host_words(length)]))
    n_strings, string_ids_off = struct.unpack_from("<II", base, 0x38)
    last = struct.unpack_from("<I", base, string_ids_off + 4 * (n_strings - 1))[0]
    offsets = [struct.unpack_from("<I", base, string_ids_off + 4 * i)[0] for i in range(n_strings)]
    # an id points at a uleb128 length byte: any byte below 0x80 is a one-byte length, and the reader ends
    # the string at the NUL, so each id decodes the rest of the long string
    step = max(1, (length - 64) // max(ids, 1))
    offsets += [last + 4 + k * step for k in range(ids)]
    table_off = len(base) + (-len(base)) % 4
    base += b"\0" * (table_off - len(base))
    base += struct.pack(f"<{len(offsets)}I", *offsets)
    struct.pack_into("<II", base, 0x38, len(offsets), table_off)
    struct.pack_into("<I", base, 0x20, len(base))
    return bytes(base)


# -- binary XML ---------------------------------------------------------------------------------------------
def _chunk(kind: int, header: bytes, body: bytes) -> bytes:
    return struct.pack("<HHI", kind, 8 + len(header), 8 + len(header) + len(body)) + header + body


def _utf16_pool(strings: list[str], offsets: list[int] | None = None) -> bytes:
    data, own = bytearray(), []
    for text in strings:
        own.append(len(data))
        encoded = text.encode("utf-16-le")
        units = len(encoded) // 2
        if units > 0x7FFF:
            data += struct.pack("<HH", 0x8000 | (units >> 16), units & 0xFFFF)
        else:
            data += struct.pack("<H", units)
        data += encoded + b"\0\0"
    data += b"\0" * (-len(data) % 4)
    entries = offsets if offsets is not None else own
    strings_start = 28 + 4 * len(entries)
    return _chunk(0x0001, struct.pack("<IIIII", len(entries), 0, 0, strings_start, 0),
                  struct.pack(f"<{len(entries)}I", *entries) + bytes(data))


def axml_aliased_strings(long_chars: int, attributes: int, overlap: bool = False) -> bytes:
    """A manifest whose root element has `attributes` attributes, each valued with its own string index; all
    of those indices alias one `long_chars`-character string (one copy in the file, `attributes` if each
    index is decoded by itself). With `overlap`, index k points at character k of the long string instead,
    whose characters count down so that each is the length of a valid suffix: `attributes` distinct strings
    of nearly `long_chars` characters each, from one (long_chars < 32768)."""
    long_text = "".join(chr(long_chars - k - 1) for k in range(long_chars)) if overlap else "A" * long_chars
    names = ["manifest", "package", "org.edukit.calculator"] + [f"a{i}" for i in range(attributes)] + [long_text]
    own = []
    pos = 0
    for text in names:
        own.append(pos)
        units = len(text)
        pos += (4 if units > 0x7FFF else 2) + 2 * units + 2
    long_at = own[-1]
    offsets = own + ([long_at + 2 + 2 * k for k in range(attributes)] if overlap else [long_at] * attributes)
    pool = _utf16_pool(names, offsets)
    first_alias = len(names)
    attrs = [struct.pack("<IIIHBBI", NO_INDEX, 1, 2, 8, 0, 0x03, 2)]
    for i in range(attributes):
        attrs.append(struct.pack("<IIIHBBI", NO_INDEX, 3 + i, first_alias + i, 8, 0, 0x03, first_alias + i))
    count = len(attrs)
    start = _chunk(0x0102, struct.pack("<II", 1, NO_INDEX),
                   struct.pack("<IIHHHHHH", NO_INDEX, 0, 20, 20, count, 0, 0, 0) + b"".join(attrs))
    end = _chunk(0x0103, struct.pack("<II", 1, NO_INDEX), struct.pack("<II", NO_INDEX, 0))
    return _chunk(0x0003, b"", pool + start + end)


# -- resources.arsc -----------------------------------------------------------------------------------------
def arsc_sparse_claiming(entries: int, padding: int, type_id: int = 2) -> bytes:
    """A resource table whose one type chunk (type 2: the `clean` fixture's label is @7F020000) is sparse +
    OFFSET16 and claims `entries` entries, followed by `padding` bytes of sparse entries for no wanted index
    (0xFFFF): what the old check let a lookup scan to the end of the table."""
    pool = _utf16_pool(["EduKit"])
    padding -= padding % 4
    type_header = struct.pack("<BBHII", type_id, 0x01 | 0x02, 0, entries, 0) + struct.pack("<I", 64) + b"\0" * 60
    type_chunk = struct.pack("<HHI", 0x0201, 8 + len(type_header), 8 + len(type_header) + padding) + \
        type_header + b"\xff\xff\0\0" * (padding // 4)
    package_header = struct.pack("<I", 0x7F) + "org.edukit".encode("utf-16-le").ljust(256, b"\0") + \
        struct.pack("<IIIII", 0, 0, 0, 0, 0)
    package = struct.pack("<HHI", 0x0200, 8 + len(package_header), 8 + len(package_header) + len(type_chunk)) + \
        package_header + type_chunk
    body = pool + package
    return struct.pack("<HHII", 0x0002, 12, 12 + len(body), 1) + body
