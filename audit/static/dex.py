"""A focused, bounded reader of DEX tables: only what the static engine needs, nothing decoded eagerly.

Why not androguard: it decodes every instruction of every method into objects (seconds and hundreds of MB on
a 5 MB dex). The call-site search only needs a handful of table lookups, one pass of a bytes regex over the
code area and a proper instruction walk of the few methods a candidate falls in. This module gives the table
lookups and the walk; audit/static/callsites.py does the search.

Every offset and index read from the file is checked before use: a bad one raises InputError naming the dex
and the table, never IndexError, struct.error or a hang (every loop is bounded by the file's own sizes).

Layout reference: https://source.android.com/docs/core/runtime/dex-format
"""
from __future__ import annotations

import bisect
import re
from array import array
import struct
import sys
from dataclasses import dataclass
from typing import Iterable

from ..errors import InputError

HEADER_SIZE = 0x70
CONTAINER_HEADER_SIZE = 0x78       # DEX 041: the header ends with container_size and header_offset
ENDIAN_CONSTANT = 0x12345678
NO_INDEX = 0xFFFFFFFF
MAX_PARAMETERS = 255
# Versions with the header and layout read here: 035-039 (API 1-28+), 040, which ART loads from API 30 (the same
# layout, a newer number; D8 itself still writes 039 there), and 041, the container format ART loads from API 36:
# several dexes (sections) back to back in one file, each with a longer header whose file_size is the distance to
# the next header, every offset counted from the start of the file (sections may share data) -- dex_files.
_MAGIC = re.compile(rb"dex\n0(?:3[5-9]|4[01])\x00")
_CONTAINER_TAIL = struct.Struct("<II")
MAX_SECTIONS = 1 << 12             # sections of one DEX 041 file (each at least a header long)
_OTHER_VERSION = re.compile(rb"dex\n(\d{3})\x00")


ACC_PRIVATE = 0x2
ACC_STATIC = 0x8
ACC_INTERFACE = 0x200
ACC_ABSTRACT = 0x400
ACC_CONSTRUCTOR = 0x10000

_HEADER = struct.Struct("<8sI20sIIIIIIIIIIIIIIIIIIII")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_METHOD_ID = struct.Struct("<HHI")
_PROTO_ID = struct.Struct("<III")
_CLASS_DEF = struct.Struct("<IIIIIIII")
_CODE_HEAD = struct.Struct("<HHHHII")

# Instruction length in 16-bit code units by opcode (Dalvik bytecode formats). Unused opcodes count as one
# unit: an unknown opcode must not stop the walk, and verified code never contains one.
INSN_UNITS = bytearray([1] * 256)
for _op, _n in ((0x02, 2), (0x03, 3), (0x05, 2), (0x06, 3), (0x08, 2), (0x09, 3), (0x13, 2), (0x14, 3),
                (0x15, 2), (0x16, 2), (0x17, 3), (0x18, 5), (0x19, 2), (0x1a, 2), (0x1b, 3), (0x1c, 2),
                (0x1f, 2), (0x20, 2), (0x22, 2), (0x23, 2), (0x24, 3), (0x25, 3), (0x26, 3), (0x29, 2),
                (0x2a, 3), (0x2b, 3), (0x2c, 3), (0xfa, 4), (0xfb, 4), (0xfc, 3), (0xfd, 3), (0xfe, 2),
                (0xff, 2)):
    INSN_UNITS[_op] = _n
for _lo, _hi, _n in ((0x2d, 0x3d, 2), (0x44, 0x6d, 2), (0x6e, 0x72, 3), (0x74, 0x78, 3), (0x90, 0xaf, 2),
                     (0xd0, 0xe2, 2)):
    for _op in range(_lo, _hi + 1):
        INSN_UNITS[_op] = _n

# Opcodes whose second unit is a method index (35c, 3rc, 45cc, 4rcc), a field index for static gets
# (21c), a string index (21c / 31c).
INVOKE_OPCODES = frozenset([*range(0x6e, 0x73), *range(0x74, 0x79), 0xfa, 0xfb])
SGET_OPCODES = frozenset(range(0x60, 0x67))
OP_CONST_STRING = 0x1a
OP_CONST_STRING_JUMBO = 0x1b
PACKED_SWITCH_PAYLOAD = 0x0100
SPARSE_SWITCH_PAYLOAD = 0x0200
FILL_ARRAY_DATA_PAYLOAD = 0x0300


def payload_units(units, pc: int, n: int) -> int:
    """Length in code units of the data at `pc` whose first unit is a nop opcode with a non-zero high byte:
    a switch or array payload (skipped whole by its own length), else 1. Every instruction walk uses it."""
    unit = units[pc]
    if unit == PACKED_SWITCH_PAYLOAD and pc + 1 < n:
        return 4 + 2 * units[pc + 1]
    if unit == SPARSE_SWITCH_PAYLOAD and pc + 1 < n:
        return 2 + 4 * units[pc + 1]
    if unit == FILL_ARRAY_DATA_PAYLOAD and pc + 3 < n:
        return 4 + (units[pc + 1] * (units[pc + 2] | (units[pc + 3] << 16)) + 1) // 2
    return 1


@dataclass(frozen=True)
class ClassDef:
    index: int
    class_idx: int
    access_flags: int
    superclass_idx: int       # NO_INDEX for java.lang.Object
    interfaces_off: int
    class_data_off: int
    source_file_idx: int = NO_INDEX   # the debug info's source-file name (a string index), NO_INDEX when stripped


@dataclass(frozen=True)
class EncodedMethod:
    method_idx: int
    access_flags: int
    code_off: int             # 0 for abstract and native methods
    class_def: int            # index into class_defs


@dataclass(frozen=True)
class CodeItem:
    registers: int
    ins: int
    outs: int
    tries: int
    insns_off: int            # absolute file offset of the first code unit
    insns_units: int          # number of 16-bit code units


@dataclass(frozen=True)
class MethodBody:
    """What one instruction walk found: instruction starts that matter, keyed by code-unit offset."""

    invokes: dict[int, int]          # pc -> method_idx
    static_gets: dict[int, int]      # pc -> field_idx
    strings: tuple[int, ...]         # string indices loaded by const-string(/jumbo)
    units: int


def read_uleb128(data: bytes, pos: int, limit: int, where: str = "uleb128") -> tuple[int, int]:
    """Value and next position; at most 5 bytes, never past `limit`."""
    result = shift = 0
    for _ in range(5):
        if pos >= limit:
            raise InputError(f"{where}: truncated uleb128 at offset {pos:#x}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise InputError(f"{where}: uleb128 longer than 5 bytes at offset {pos:#x}")


def decode_mutf8(raw: bytes) -> str:
    """Modified UTF-8: NUL as C0 80, supplementary characters as surrogate pairs (CESU-8)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    raw = raw.replace(b"\xc0\x80", b"\x00")
    try:
        text = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        # Not even CESU-8: a corrupt string. One bad constant must not sink the whole scan, so it is kept
        # with replacement characters (it can match no rule, class prefix or host).
        return raw.decode("utf-8", "replace")
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:   # a lone surrogate
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class FileData:
    """What the dexes read from one file share: the sections of a DEX 041 container point into the same data,
    so decoding it once for all of them keeps the work in proportion to the file, however many sections name it.
    `budget`: characters left to decode. In a valid dex each string_data_item is distinct and none overlaps, so
    decoding never yields more characters than the file has bytes; ids that point into the middle of one long
    string (or sections all naming it) would otherwise cost the square of its length. `class_data`: the items
    read, each a class's own (one shared by two classes, of one section or two, would multiply the work)."""

    __slots__ = ("strings_at", "budget", "class_data")

    def __init__(self, size: int):
        self.strings_at: dict[int, str] = {}     # by data offset: aliased string_ids share one object
        self.budget = size + 4096
        self.class_data: set[int] = set()


class DexFile:
    """One classes*.dex, read lazily from bytes. `name` is how errors and stats refer to it."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "classes.dex", header_at: int = 0,
                 shared: FileData | None = None):
        """`header_at`: where this dex's header starts (a DEX 041 section); its offsets still count from 0.
        `shared`: the FileData of the other sections of the same file."""
        self.name = name
        self.data = bytes(data) if not isinstance(data, bytes) else data
        self.size = len(self.data)
        self.header_at = header_at
        self._parse_header()
        self._strings: dict[int, str] = {}
        self._file = shared if shared is not None else FileData(self.size)
        self._type_lists: dict[int, tuple[int, ...]] = {}
        self._found_strings: dict[str, int | None] = {}
        self._found_methods: dict[str, int | None] = {}
        self._found_types: dict[str, int | None] = {}
        self._types: dict[int, str] = {}
        self._protos: dict[int, str] = {}
        self._class_defs: list[ClassDef] | None = None
        self._methods: list[EncodedMethod] | None = None
        self._table: tuple[array, array, array, array] | None = None
        self._code_starts: list[int] | None = None
        self._code_ends: list[int] | None = None
        self._code_rows: list[int] | None = None
        self._method_by_idx: dict[int, EncodedMethod] | None = None
        self._bodies: dict[int, MethodBody] = {}

    # -- header -----------------------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        raise InputError(f"{self.name}: {message}")

    def _parse_header(self) -> None:
        at = self.header_at
        if self.size < at + HEADER_SIZE:
            self._fail(f"not a DEX file ({self.size - at} bytes, shorter than the {HEADER_SIZE}-byte header)")
        magic = self.data[at:at + 8]
        if not _MAGIC.fullmatch(magic):
            other = _OTHER_VERSION.fullmatch(magic)
            if other:
                self._fail(f"DEX version {other.group(1).decode()} is not read (versions 035 to 041 are)")
            self._fail(f"not a DEX file (magic {magic!r}, expected dex\\n035..041)")
        (magic, _checksum, _sig, file_size, header_size, endian, _link_size, _link_off, self.map_off,
         self.string_ids_size, self.string_ids_off, self.type_ids_size, self.type_ids_off,
         self.proto_ids_size, self.proto_ids_off, self.field_ids_size, self.field_ids_off,
         self.method_ids_size, self.method_ids_off, self.class_defs_size, self.class_defs_off,
         self.data_size, self.data_off) = _HEADER.unpack_from(self.data, at)
        self.version = magic[4:7].decode()
        if endian != ENDIAN_CONSTANT:
            self._fail(f"unsupported endian tag {endian:#x}")
        self.file_size = file_size   # of a DEX 041 section: the distance to the next header
        if self.version == "041":
            if header_size < CONTAINER_HEADER_SIZE or self.size < at + CONTAINER_HEADER_SIZE:
                self._fail(f"DEX 041 header size {header_size} below {CONTAINER_HEADER_SIZE}")
            container_size, header_offset = _CONTAINER_TAIL.unpack_from(self.data, at + HEADER_SIZE)
            if header_offset != at:
                self._fail(f"the section header at {at:#x} says it is at {header_offset:#x}")
            if container_size > self.size or at + file_size > container_size:
                self._fail(f"truncated: the container says {container_size} bytes, file has {self.size}")
            # a section's own tables lie between its header and the next (only data is shared): every
            # section's tables together are no larger than the file
            low, high, span = at + CONTAINER_HEADER_SIZE, at + file_size, "section"
        elif at:
            self._fail(f"a section at {at:#x} of a DEX {self.version} file (only 041 holds several)")
        elif header_size < HEADER_SIZE:
            self._fail(f"header size {header_size} below {HEADER_SIZE}")
        elif file_size > self.size:
            self._fail(f"truncated: header says {file_size} bytes, file has {self.size}")
        else:
            low, high, span = HEADER_SIZE, self.size, "file"
        for table, count, offset, item in (
                ("string_ids", self.string_ids_size, self.string_ids_off, 4),
                ("type_ids", self.type_ids_size, self.type_ids_off, 4),
                ("proto_ids", self.proto_ids_size, self.proto_ids_off, 12),
                ("field_ids", self.field_ids_size, self.field_ids_off, 8),
                ("method_ids", self.method_ids_size, self.method_ids_off, 8),
                ("class_defs", self.class_defs_size, self.class_defs_off, 32)):
            if count and (offset < low or offset + count * item > high):
                self._fail(f"{table} ({count} items at {offset:#x}) lies outside the {span}")
            if not count:
                # an empty table's offset points at nothing: 0, whatever the header says, so that no read of the
                # table (struct.unpack_from of 0 items at an offset past the end raises) depends on it
                setattr(self, f"{table}_off", 0)
        if self.type_ids_size > 0x10000 or self.method_ids_size > 0x10000 or self.field_ids_size > 0x10000 \
                or self.proto_ids_size > 0x10000:
            self._fail("more than 65536 type, proto, field or method ids")

    # -- checked primitives -----------------------------------------------------------------------------
    def _u32(self, offset: int, what: str) -> int:
        if offset < 0 or offset + 4 > self.size:
            self._fail(f"{what}: offset {offset:#x} outside the file")
        return _U32.unpack_from(self.data, offset)[0]

    def _check_index(self, index: int, count: int, table: str) -> None:
        if not 0 <= index < count:
            self._fail(f"{table} index {index} out of range (0..{count - 1})")

    # -- strings, types, protos -------------------------------------------------------------------------
    def string(self, index: int) -> str:
        cached = self._strings.get(index)
        if cached is not None:
            return cached
        if not 0 <= index < self.string_ids_size:
            self._check_index(index, self.string_ids_size, "string")
        offset = _U32.unpack_from(self.data, self.string_ids_off + 4 * index)[0]
        strings_at = self._file.strings_at
        text = strings_at.get(offset)
        if text is None:
            text = strings_at[offset] = self._string_at(offset, index)
        self._strings[index] = text
        return text

    def _string_at(self, offset: int, index: int) -> str:
        if not HEADER_SIZE <= offset < self.size:
            self._fail(f"string {index}: data offset {offset:#x} outside the file")
        # the utf16 length is not needed: the data ends at the first NUL (MUTF-8 never contains one)
        start = offset + 1
        if self.data[offset] & 0x80:
            _length, start = read_uleb128(self.data, offset, self.size, f"{self.name}: string {index}")
        end = self.data.find(b"\x00", start)
        if end < 0:
            self._fail(f"string {index}: unterminated string data at {start:#x}")
        self._file.budget -= end - start
        if self._file.budget < 0:
            self._fail(f"string data decodes to more than the file's {self.size} bytes "
                       "(string_ids overlapping one another)")
        return decode_mutf8(self.data[start:end])

    def type_string_idx(self, type_idx: int) -> int:
        self._check_index(type_idx, self.type_ids_size, "type")
        return _U32.unpack_from(self.data, self.type_ids_off + 4 * type_idx)[0]

    def type_name(self, type_idx: int) -> str:
        """The type descriptor: `Lcom/foo/Bar;`, `I`, `[B` ..."""
        cached = self._types.get(type_idx)
        if cached is None:
            cached = self._types[type_idx] = self.string(self.type_string_idx(type_idx))
        return cached

    def type_list(self, offset: int) -> tuple[int, ...]:
        """A type_list item, read once per offset: one list is shared by every class and proto naming the
        same types (dex files deduplicate them), so it may be asked for once per class."""
        if offset == 0:
            return ()
        cached = self._type_lists.get(offset)
        if cached is None:
            count = self._u32(offset, "type_list")
            if offset + 4 + 2 * count > self.size:
                self._fail(f"type_list at {offset:#x} ({count} entries) runs past the end of the file")
            cached = self._type_lists[offset] = struct.unpack_from(f"<{count}H", self.data, offset + 4)
        return cached

    def proto(self, proto_idx: int) -> tuple[int, int, int]:
        """(shorty string idx, return type idx, parameters offset)."""
        self._check_index(proto_idx, self.proto_ids_size, "proto")
        return _PROTO_ID.unpack_from(self.data, self.proto_ids_off + 12 * proto_idx)

    def proto_descriptor(self, proto_idx: int) -> str:
        """`(ILjava/lang/String;)V`"""
        cached = self._protos.get(proto_idx)
        if cached is None:
            _shorty, return_idx, params_off = self.proto(proto_idx)
            types = self.type_list(params_off)
            if len(types) > MAX_PARAMETERS:
                # a method takes at most 255 argument words (JVM spec 4.3.3); thousands of protos sharing one
                # list of thousands of types would otherwise make each descriptor megabytes long
                self._fail(f"proto {proto_idx}: {len(types)} parameters, more than a method may have")
            params = "".join(self.type_name(t) for t in types)
            cached = self._protos[proto_idx] = f"({params}){self.type_name(return_idx)}"
        return cached

    # -- fields and methods -----------------------------------------------------------------------------
    def field_id(self, field_idx: int) -> tuple[int, int, int]:
        """(class type idx, field type idx, name string idx)."""
        self._check_index(field_idx, self.field_ids_size, "field")
        return _METHOD_ID.unpack_from(self.data, self.field_ids_off + 8 * field_idx)

    def field_descriptor(self, field_idx: int) -> str:
        """`Landroid/os/Build;->SERIAL:Ljava/lang/String;`"""
        class_idx, type_idx, name_idx = self.field_id(field_idx)
        return f"{self.type_name(class_idx)}->{self.string(name_idx)}:{self.type_name(type_idx)}"

    def method_id(self, method_idx: int) -> tuple[int, int, int]:
        """(class type idx, proto idx, name string idx)."""
        self._check_index(method_idx, self.method_ids_size, "method")
        return _METHOD_ID.unpack_from(self.data, self.method_ids_off + 8 * method_idx)

    def method_descriptor(self, method_idx: int) -> str:
        """`Lcom/example/Foo;->bar(I)V`"""
        class_idx, proto_idx, name_idx = self.method_id(method_idx)
        return f"{self.type_name(class_idx)}->{self.string(name_idx)}{self.proto_descriptor(proto_idx)}"

    # -- sorted-table lookups (the format requires these tables sorted; see the reference) ---------------
    def find_string(self, text: str) -> int | None:
        """Index of a string, by binary search (string_ids are sorted by UTF-16 code units, which for the
        identifiers and descriptors we look up is the order of Python's str comparison)."""
        if text in self._found_strings:
            return self._found_strings[text]
        found = self._found_strings[text] = self._bisect_string(text)
        return found

    def _bisect_string(self, text: str) -> int | None:
        lo, hi = 0, self.string_ids_size
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.string(mid)
            if value < text:
                lo = mid + 1
            elif value > text:
                hi = mid
            else:
                return mid
        return None

    def find_type(self, descriptor: str) -> int | None:
        """type_ids are sorted by string index. Cached: hierarchy walks ask for the same classes many times."""
        try:
            return self._found_types[descriptor]
        except KeyError:
            found = self._found_types[descriptor] = self._find_type(descriptor)
            return found

    def _find_type(self, descriptor: str) -> int | None:
        string_idx = self.find_string(descriptor)
        if string_idx is None:
            return None
        lo, hi = 0, self.type_ids_size
        while lo < hi:
            mid = (lo + hi) // 2
            value = self.type_string_idx(mid)
            if value < string_idx:
                lo = mid + 1
            elif value > string_idx:
                hi = mid
            else:
                return mid
        return None

    def _id_range(self, table_off: int, count: int, class_idx: int, name_idx: int) -> range:
        """Indices of a (class, name) run in method_ids or field_ids, both sorted by (class, name, ...)."""
        def key(i: int) -> tuple[int, int]:
            c, _, n = _METHOD_ID.unpack_from(self.data, table_off + 8 * i)
            return c, n
        target = (class_idx, name_idx)
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) // 2
            if key(mid) < target:
                lo = mid + 1
            else:
                hi = mid
        end = lo
        while end < count and key(end) == target:
            end += 1
        return range(lo, end)

    def find_methods(self, class_descriptor: str, name: str, proto: str | None = None) -> list[int]:
        """method_ids of `class->name` (every overload, or the one with this proto descriptor)."""
        class_idx = self.find_type(class_descriptor)
        name_idx = self.find_string(name) if class_idx is not None else None
        if name_idx is None:
            return []
        found = self._id_range(self.method_ids_off, self.method_ids_size, class_idx, name_idx)
        if proto is None:
            return list(found)
        return [m for m in found if self.proto_descriptor(self.method_id(m)[1]) == proto]

    def find_method(self, descriptor: str) -> int | None:
        """method_idx of a full Dalvik method descriptor, if this dex refers to it (cached)."""
        if descriptor not in self._found_methods:
            self._found_methods[descriptor] = self._find_method(descriptor)
        return self._found_methods[descriptor]

    def _find_method(self, descriptor: str) -> int | None:
        class_desc, _, rest = descriptor.partition("->")
        paren = rest.find("(")
        if paren <= 0:
            return None
        found = self.find_methods(class_desc, rest[:paren], rest[paren:])
        return found[0] if found else None

    def find_fields(self, class_descriptor: str, name: str) -> list[int]:
        class_idx = self.find_type(class_descriptor)
        name_idx = self.find_string(name) if class_idx is not None else None
        if name_idx is None:
            return []
        return list(self._id_range(self.field_ids_off, self.field_ids_size, class_idx, name_idx))

    # -- classes ----------------------------------------------------------------------------------------
    @property
    def class_defs(self) -> list[ClassDef]:
        if self._class_defs is None:
            out = []
            for i, (class_idx, access, superclass, interfaces_off, source_file, _ann, data_off, _static) in \
                    enumerate(_CLASS_DEF.iter_unpack(
                        self.data[self.class_defs_off:self.class_defs_off + 32 * self.class_defs_size])):
                self._check_index(class_idx, self.type_ids_size, f"class_def {i}: class type")
                if superclass != NO_INDEX:
                    self._check_index(superclass, self.type_ids_size, f"class_def {i}: superclass type")
                if data_off and not HEADER_SIZE <= data_off < self.size:
                    self._fail(f"class_def {i}: class_data offset {data_off:#x} outside the file")
                if interfaces_off and not HEADER_SIZE <= interfaces_off < self.size:
                    self._fail(f"class_def {i}: interfaces offset {interfaces_off:#x} outside the file")
                out.append(ClassDef(i, class_idx, access, superclass, interfaces_off, data_off, source_file))
            self._class_defs = out
        return self._class_defs

    def annotated_methods(self, annotation_descriptors: Iterable[str]) -> list[int]:
        """method_idx of every method carrying one of these annotations (`Lorg/junit/Test;`), from the class_defs'
        annotations_directory_items; [] at once when the dex names none of the annotation types. Every offset
        and count is checked against the file, and no more entries are read in total than the file has words."""
        wanted = {t for t in (self.find_type(d) for d in annotation_descriptors) if t is not None}
        if not wanted:
            return []
        out: list[int] = []
        budget = self.size // 4
        sets: dict[int, bool] = {}            # annotation_set_item offset -> holds a wanted annotation
        for i, (*_head, annotations_off, _data, _static) in enumerate(_CLASS_DEF.iter_unpack(
                self.data[self.class_defs_off:self.class_defs_off + 32 * self.class_defs_size])):
            if not annotations_off:
                continue
            _class_set, fields, methods, _params = (self._u32(annotations_off + 4 * k, "annotations_directory")
                                                     for k in range(4))
            first = annotations_off + 16 + 8 * fields
            if first + 8 * methods > self.size:
                self._fail(f"class_def {i}: annotations_directory at {annotations_off:#x} runs past the end")
            budget -= fields + methods
            for method_idx, set_off in struct.iter_unpack("<II", self.data[first:first + 8 * methods]):
                held = sets.get(set_off)
                if held is None:
                    size = self._u32(set_off, "annotation_set")
                    if set_off + 4 + 4 * size > self.size:
                        self._fail(f"annotation_set at {set_off:#x} ({size} entries) runs past the end")
                    budget -= size
                    held = False
                    for (item_off,) in struct.iter_unpack("<I", self.data[set_off + 4:set_off + 4 + 4 * size]):
                        if not HEADER_SIZE <= item_off < self.size - 1:
                            self._fail(f"annotation_item offset {item_off:#x} outside the file")
                        type_idx, _ = read_uleb128(self.data, item_off + 1, self.size, "annotation type")
                        if type_idx in wanted:
                            held = True
                            break
                    sets[set_off] = held
                if budget < 0:
                    self._fail("more annotation entries than the file has words")
                if held:
                    self._check_index(method_idx, self.method_ids_size, f"class_def {i}: annotated method")
                    out.append(method_idx)
        return out

    def class_descriptors(self) -> list[str]:
        return [self.type_name(c.class_idx) for c in self.class_defs]

    def superclass(self, class_def: ClassDef) -> str | None:
        return None if class_def.superclass_idx == NO_INDEX else self.type_name(class_def.superclass_idx)

    def interfaces(self, class_def: ClassDef) -> list[str]:
        return [self.type_name(t) for t in self.type_list(class_def.interfaces_off)]

    @property
    def methods(self) -> list[EncodedMethod]:
        """Every defined method (direct and virtual) of every class_def, from the class_data_items."""
        if self._methods is None:
            table = self.method_table()
            self._methods = [EncodedMethod(*row) for row in zip(*table)]
        return self._methods

    def method_table(self) -> tuple[array, array, array, array]:
        """Defined methods as parallel arrays (method_idx, access_flags, code_off, class_def index).

        Arrays rather than objects: this is read once per method of the app (tens of thousands) and only
        the few methods a search lands in ever become EncodedMethod objects."""
        if self._table is None:
            try:
                self._table = self._read_class_data()
            except IndexError:
                self._fail("class_data runs past the end of the file")
        return self._table

    def _read_class_data(self) -> tuple[array, array, array, array]:
        data, size = self.data, self.size
        idxs, flags, offs, owners = array("I"), array("I"), array("I"), array("I")
        method_count = self.method_ids_size
        where = f"{self.name}: class_data"
        # In a valid dex each class_data item belongs to one class_def and each method is defined once: a
        # shared item or more methods than method_ids would multiply the work (a few KB decoding for minutes).
        seen_offsets = self._file.class_data
        defined_budget = method_count
        # uleb128 reads are inlined with a one-byte fast path: this loop runs once per field and method.
        # A read past the end raises IndexError, turned into InputError by method_table().
        for cdef in self.class_defs:
            pos = cdef.class_data_off
            if not pos:
                continue
            if pos in seen_offsets:
                self._fail(f"class_def {cdef.index}: class_data at {pos:#x} is shared with another class_def "
                           "(of this dex or another section of its file)")
            seen_offsets.add(pos)
            counts = [0, 0, 0, 0]
            for k in range(4):
                byte = data[pos]
                if byte < 0x80:
                    counts[k] = byte
                    pos += 1
                else:
                    counts[k], pos = read_uleb128(data, pos, size, where)
            static_fields, instance_fields, direct, virtual = counts
            defined_budget -= direct + virtual
            if defined_budget < 0:
                self._fail(f"class_def {cdef.index}: more methods defined than method_ids ({method_count})")
            if (static_fields + instance_fields) * 2 + (direct + virtual) * 3 > size - pos:
                self._fail(f"class_def {cdef.index}: class_data counts exceed the file")
            for _ in range(2 * (static_fields + instance_fields)):   # field_idx_diff, access_flags: skip
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            owner = cdef.index
            for count in (direct, virtual):
                method_idx = 0
                for _ in range(count):
                    byte = data[pos]
                    if byte < 0x80:
                        pos += 1
                        method_idx += byte
                    else:
                        value, pos = read_uleb128(data, pos, size, where)
                        method_idx += value
                    byte = data[pos]
                    if byte < 0x80:
                        pos += 1
                        access = byte
                    else:
                        access, pos = read_uleb128(data, pos, size, where)
                    code_off = shift = 0
                    while True:     # bounded: data[pos] past the end raises IndexError
                        byte = data[pos]
                        pos += 1
                        code_off |= (byte & 0x7F) << shift
                        if byte < 0x80:
                            break
                        shift += 7
                    if method_idx >= method_count:
                        self._fail(f"class_def {cdef.index}: method index {method_idx} out of range "
                                   f"(0..{method_count - 1})")
                    if code_off and not HEADER_SIZE <= code_off <= size - 16:
                        self._fail(f"class_def {cdef.index}: code offset {code_off:#x} outside the file")
                    idxs.append(method_idx)
                    flags.append(access)
                    offs.append(code_off)
                    owners.append(owner)
        return idxs, flags, offs, owners

    def method_by_idx(self, method_idx: int) -> EncodedMethod | None:
        if self._method_by_idx is None:
            idxs = self.method_table()[0]
            self._method_by_idx = {m: i for i, m in enumerate(idxs)}
        row = self._method_by_idx.get(method_idx)
        return None if row is None else self._method_row(row)

    def _method_row(self, row: int) -> EncodedMethod:
        idxs, flags, offs, owners = self.method_table()
        return EncodedMethod(idxs[row], flags[row], offs[row], owners[row])

    def code_item(self, code_off: int) -> CodeItem:
        if not HEADER_SIZE <= code_off <= self.size - 16:
            self._fail(f"code_item offset {code_off:#x} outside the file")
        registers, ins, outs, tries, _debug, units = _CODE_HEAD.unpack_from(self.data, code_off)
        if code_off + 16 + 2 * units > self.size:
            self._fail(f"code_item at {code_off:#x}: {units} code units run past the end of the file")
        return CodeItem(registers, ins, outs, tries, code_off + 16, units)

    # -- code area --------------------------------------------------------------------------------------
    def _build_code_index(self) -> None:
        _idxs, _flags, offs, _owners = self.method_table()
        rows = sorted((r for r in range(len(offs)) if offs[r]), key=offs.__getitem__)
        data, size = self.data, self.size
        starts, ends = [], []
        unpack = _U32.unpack_from
        for r in rows:
            off = offs[r]
            units = unpack(data, off + 12)[0]
            if off + 16 + 2 * units > size:
                self._fail(f"code_item at {off:#x}: {units} code units run past the end of the file")
            starts.append(off + 16)
            ends.append(off + 16 + 2 * units)
        self._code_starts, self._code_ends, self._code_rows = starts, ends, rows

    def method_at(self, offset: int) -> EncodedMethod | None:
        """The method whose instructions contain file offset `offset` (bisect over sorted code ranges)."""
        if self._code_starts is None:
            self._build_code_index()
        i = bisect.bisect_right(self._code_starts, offset) - 1
        if i < 0 or offset >= self._code_ends[i]:
            return None
        return self._method_row(self._code_rows[i])

    def code_area(self) -> tuple[int, int]:
        """File range [start, end) spanning every method's instructions (from the code index itself, so a
        wrong map_list cannot hide code); (0, 0) when the dex has no code."""
        if self._code_starts is None:
            self._build_code_index()
        if not self._code_starts:
            return 0, 0
        return self._code_starts[0], max(self._code_ends)

    def body(self, method: EncodedMethod) -> MethodBody:
        """Walk one method's instructions once (cached): invokes, static gets and strings it loads, at
        real instruction boundaries (switch and array payloads are skipped by their own lengths)."""
        cached = self._bodies.get(method.code_off)
        if cached is not None:
            return cached
        item = self.code_item(method.code_off)
        n = item.insns_units
        units = memoryview(self.data)[item.insns_off:item.insns_off + 2 * n].cast("B")
        units = _as_u16(units)
        invokes: dict[int, int] = {}
        sgets: dict[int, int] = {}
        strings: list[int] = []
        lengths = INSN_UNITS
        # An index past its table is not a malformed dex: ART's DexFileVerifier does not read instructions; its
        # method verifier fails that method's class (CheckMethodIndex/CheckFieldIndex/CheckStringIndex, a hard
        # failure: VerifyError when the class is used) and the app installs and runs the rest. Such an
        # instruction never runs and names nothing, so it is left out here, where every reader of a body
        # would otherwise have to check it (a missed check refused the whole app).
        methods, fields, string_count = self.method_ids_size, self.field_ids_size, self.string_ids_size
        pc = 0
        while pc < n:
            unit = units[pc]
            op = unit & 0xFF
            if op == 0 and unit:
                pc += payload_units(units, pc, n)
                continue
            step = lengths[op]
            if pc + step > n:
                break   # a truncated last instruction: ignore, verification would reject the method anyway
            if op in INVOKE_OPCODES:
                if units[pc + 1] < methods:
                    invokes[pc] = units[pc + 1]
            elif op == OP_CONST_STRING:
                if units[pc + 1] < string_count:
                    strings.append(units[pc + 1])
            elif op == OP_CONST_STRING_JUMBO:
                if units[pc + 1] | (units[pc + 2] << 16) < string_count:
                    strings.append(units[pc + 1] | (units[pc + 2] << 16))
            elif op in SGET_OPCODES:
                if units[pc + 1] < fields:
                    sgets[pc] = units[pc + 1]
            pc += step
        body = MethodBody(invokes, sgets, tuple(strings), n)
        self._bodies[method.code_off] = body
        return body

    def string_offsets_sorted(self) -> tuple[list[int], list[int]]:
        """(sorted data offsets, their string indices), for mapping a byte position back to its string."""
        offsets = list(struct.unpack_from(f"<{self.string_ids_size}I", self.data, self.string_ids_off))
        order = sorted(range(len(offsets)), key=offsets.__getitem__)
        return [offsets[i] for i in order], order

    def stats(self) -> dict[str, int | str]:
        return {"name": self.name, "version": self.version, "bytes": self.size,
                "strings": self.string_ids_size, "types": self.type_ids_size, "methods": self.method_ids_size,
                "fields": self.field_ids_size, "classes": self.class_defs_size}


def _as_u16(view: memoryview):
    """Little-endian 16-bit code units as an indexable sequence (a zero-copy cast on little-endian hosts)."""
    if sys.byteorder == "little" and len(view) % 2 == 0:
        return view.cast("H")
    import array
    out = array.array("H", bytes(view[:len(view) // 2 * 2]))
    out.byteswap()
    return out


def dex_files(data: bytes, name: str = "classes.dex") -> list[DexFile]:
    """The dexes of one classes*.dex file in the order ART loads them: the file itself, or each section of a DEX
    041 container (`name[2]`, `name[3]` ... after the first), each header found where the previous one's
    file_size ends, up to the container_size of the first."""
    if data[4:8] != b"041\0" or len(data) < CONTAINER_HEADER_SIZE:
        return [DexFile(data, name)]
    container_size = min(_CONTAINER_TAIL.unpack_from(data, HEADER_SIZE)[0], len(data))
    sections, at, shared = [], 0, FileData(len(data))
    while at < container_size:
        if len(sections) >= MAX_SECTIONS:
            raise InputError(f"{name}: more than {MAX_SECTIONS} DEX 041 sections")
        section = DexFile(data, f"{name}[{len(sections) + 1}]" if sections else name, at, shared)
        sections.append(section)
        if section.file_size < CONTAINER_HEADER_SIZE:
            raise InputError(f"{section.name}: a DEX 041 section of {section.file_size} bytes, shorter than its "
                             "header")
        at += section.file_size
    return sections


def open_dexes(blobs: Iterable[tuple[str, bytes]]) -> list[DexFile]:
    """DexFiles for (name, bytes) pairs, e.g. every classes*.dex of an APK and its splits, in that order."""
    return [dex for name, data in blobs for dex in dex_files(data, name)]
