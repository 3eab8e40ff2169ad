"""A bounded reader for Android binary XML (AXML), the compiled form of AndroidManifest.xml.

    root = parse_axml(data, "app.apk")          # -> Element, or InputError("malformed manifest in app.apk: ...")
    root.tag, root.get("package"), root.get(ANDROID + "name"), root.find("uses-sdk"), root.iter()

Layout (frameworks/base/libs/androidfw/include/androidfw/ResourceTypes.h): a RES_XML_TYPE chunk holding a
string pool, an optional resource map (the resource id of each attribute name, by string index) and a flat
sequence of XML nodes: start/end namespace, start/end element (with typed attribute values) and CDATA.

It follows Android's own ResXMLTree rather than androguard's fix-ups, so that what we read is what the device
installs:
- every chunk is checked as ResXMLTree::validateNode does (header and total size 4-aligned, inside the
  parent, at least as large as its fixed part); a chunk walk always advances, so it cannot loop;
- an attribute whose name has a resource id in the android range is that platform attribute, whatever its name
  string says (packers blank or scramble the names; the platform matches by id only); the first occurrence of
  an attribute wins, as in the platform's attribute retrieval;
- a string reference that points nowhere reads as absent (the platform gets NULL), while a malformed chunk or
  string pool refuses the whole file;
- values are rendered as aapt dump / androguard print them: "@7F0A0001" for a reference, "0x00000010" for a hex
  int, "true"/"false", decimal ints, text for strings.
Bounds: the number of elements and the nesting depth; strings are decoded lazily, only when referenced, once
per offset, and no more characters in total than the pool has bytes (see StringPool).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import InputError

ANDROID_URI = "http://schemas.android.com/apk/res/android"
ANDROID = "{" + ANDROID_URI + "}"

RES_STRING_POOL_TYPE = 0x0001
RES_XML_TYPE = 0x0003
RES_XML_START_NAMESPACE_TYPE = 0x0100
RES_XML_END_NAMESPACE_TYPE = 0x0101
RES_XML_START_ELEMENT_TYPE = 0x0102
RES_XML_END_ELEMENT_TYPE = 0x0103
RES_XML_CDATA_TYPE = 0x0104
RES_XML_LAST_CHUNK_TYPE = 0x017F
RES_XML_RESOURCE_MAP_TYPE = 0x0180

NO_INDEX = 0xFFFFFFFF
UTF8_FLAG = 0x100
NODE_HEADER = 16                     # ResXMLTree_node: chunk header, line number, comment
STRING_POOL_HEADER = 28
ATTRIBUTE_SIZE = 20                  # ResXMLTree_attribute: ns, name, rawValue, Res_value (size, 0, type, data)
MIN_EXTENSION = {RES_XML_START_NAMESPACE_TYPE: 8, RES_XML_END_NAMESPACE_TYPE: 8, RES_XML_START_ELEMENT_TYPE: 20,
                 RES_XML_END_ELEMENT_TYPE: 8, RES_XML_CDATA_TYPE: 12}

MAX_ELEMENTS = 200_000
DECODE_GRACE = 4096                  # characters a pool may decode beyond its byte size (replacement chars)
MAX_DEPTH = 1_000

# Res_value data types
TYPE_NULL, TYPE_REFERENCE, TYPE_ATTRIBUTE, TYPE_STRING, TYPE_FLOAT = 0x00, 0x01, 0x02, 0x03, 0x04
TYPE_DIMENSION, TYPE_FRACTION, TYPE_DYNAMIC_REFERENCE, TYPE_DYNAMIC_ATTRIBUTE = 0x05, 0x06, 0x07, 0x08
TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN = 0x10, 0x11, 0x12
TYPE_FIRST_COLOR_INT, TYPE_LAST_COLOR_INT, TYPE_LAST_INT = 0x1C, 0x1F, 0x1F
_RADIX_MULTIPLIERS = (1.0 / (1 << 8), 1.0 / (1 << 15), 1.0 / (1 << 23), 1.0 / (1 << 31))
_DIMENSION_UNITS = ("px", "dip", "sp", "pt", "in", "mm")
_FRACTION_UNITS = ("%", "%p")

# Platform attributes a manifest reader looks up, by resource id (values from the framework's public.xml;
# tests/test_axml.py checks them against `aapt dump resources` of framework-res.apk).
ANDROID_ATTRIBUTES = {
    0x01010000: "theme", 0x01010001: "label", 0x01010002: "icon", 0x01010003: "name",
    0x01010006: "permission", 0x01010009: "protectionLevel", 0x0101000B: "sharedUserId", 0x0101000C: "hasCode",
    0x0101000D: "persistent", 0x0101000E: "enabled", 0x0101000F: "debuggable", 0x01010010: "exported",
    0x01010011: "process", 0x01010018: "authorities", 0x01010024: "value", 0x01010025: "resource",
    0x01010027: "scheme", 0x01010028: "host", 0x01010202: "targetActivity", 0x0101020C: "minSdkVersion",
    0x0101021B: "versionCode", 0x0101021C: "versionName", 0x01010270: "targetSdkVersion",
    0x01010271: "maxSdkVersion", 0x01010272: "testOnly", 0x0101027F: "backupAgent", 0x01010280: "allowBackup",
    0x0101028E: "required", 0x010102B7: "installLocation", 0x0101035A: "largeHeap",
    0x010103A9: "isolatedProcess", 0x010104EA: "extractNativeLibs", 0x010104EC: "usesCleartextTraffic",
    0x01010505: "directBootAware", 0x01010527: "networkSecurityConfig", 0x0101052C: "roundIcon",
    0x01010549: "splitName", 0x01010554: "requiredFeature", 0x0101055B: "isFeatureSplit",
    0x01010572: "compileSdkVersion", 0x01010573: "compileSdkVersionCodename", 0x01010576: "versionCodeMajor",
    0x0101057A: "appComponentFactory", 0x01010591: "isSplitRequired", 0x01010599: "foregroundServiceType",
    0x01010603: "requestLegacyExternalStorage",
}
# Attributes newer than the framework-res.apk the tests can dump (Debian's, API 29): ids from AOSP's
# core/res/res/values/public-final.xml of the API level named.
ANDROID_ATTRIBUTES_SINCE_30 = {
    0x01010644: "usesPermissionFlags",       # API 31: <uses-permission android:usesPermissionFlags="neverForLocation">
}
PLATFORM_ATTRIBUTES = {**ANDROID_ATTRIBUTES, **ANDROID_ATTRIBUTES_SINCE_30}

_LISTED_NAMES = frozenset(PLATFORM_ATTRIBUTES.values())

_HEADER = struct.Struct("<HHI")
_POOL = struct.Struct("<IIIII")
_NODE_EXTENSION = struct.Struct("<IIHHHHHH")
_ATTRIBUTE = struct.Struct("<IIIHBBI")
_PAIR = struct.Struct("<II")


@dataclass(frozen=True, slots=True)
class Element:
    """One element: `tag` is "{namespace-uri}name" or "name"; `attrib` maps attribute keys in the same form to
    their rendered values. The subset of lxml's element API the manifest reader uses."""
    tag: str
    attrib: dict[str, str] = field(default_factory=dict)
    children: list["Element"] = field(default_factory=list)
    line: int = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrib.get(key, default)

    def find(self, tag: str) -> "Element | None":
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list["Element"]:
        return [child for child in self.children if child.tag == tag]

    def iter(self) -> Iterator["Element"]:
        """This element and all below it, in document order (iteratively: depth is bounded, but not small)."""
        stack = [self]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.children))


class StringPool:
    """ResStringPool, checked as ResStringPool::setTo does: the one decoder for binary XML and resources.arsc.

    Strings are decoded on first use, once per data offset: indices that alias one string (a packer's trick:
    a million indices pointing at one 8 MB string) share one decoded object, and the characters decoded in
    total are bounded (overlapping entries, each a suffix of one long string, would otherwise cost the square
    of its length). A valid pool never decodes more characters than it has bytes: aapt writes each string
    once, without overlap."""

    def __init__(self, data: bytes, start: int, header_size: int, size: int, fail):
        if header_size < STRING_POOL_HEADER:
            fail(f"string pool header is {header_size} bytes, expected at least {STRING_POOL_HEADER}")
        count, style_count, flags, strings_start, styles_start = _POOL.unpack_from(data, start + 8)
        self.data, self.count, self.utf8 = data, count, bool(flags & UTF8_FLAG)
        self.entries = start + header_size
        self.fail = fail
        self._by_offset: dict[int, str | None] = {}
        if count:
            if header_size + 4 * count > size:
                fail(f"string pool of {count} strings does not fit its {size}-byte chunk")
            if strings_start >= size - 2:
                fail(f"string data starts at {strings_start}, past the pool's {size} bytes")
            if style_count:
                if styles_start >= size - 2 or styles_start <= strings_start:
                    fail(f"style data at {styles_start} is outside the pool or before its strings")
                end = styles_start
            else:
                end = size
            self.strings, self.strings_end = start + strings_start, start + end
        else:
            self.strings = self.strings_end = start
        self.budget = self.strings_end - self.strings + DECODE_GRACE   # characters left to decode

    def get(self, index: int) -> str | None:
        """The string at `index`, or None: no string (0xFFFFFFFF), out of range, or malformed."""
        if index >= self.count:
            return None
        offset = struct.unpack_from("<I", self.data, self.entries + 4 * index)[0]
        try:
            return self._by_offset[offset]
        except KeyError:
            value = self._by_offset[offset] = self._decode(self.strings + offset)
            if value is not None:
                self.budget -= len(value)
                if self.budget < 0:
                    self.fail(f"string pool entries decode to more than {self.strings_end - self.strings} "
                              "characters, the size of its string data (overlapping strings?)")
            return value

    def _decode(self, pos: int) -> str | None:
        data, end = self.data, self.strings_end
        if self.utf8:
            if pos + 2 > end:
                return None
            pos += 2 if data[pos] & 0x80 else 1          # length in UTF-16 units: not needed to decode
            if pos + 2 > end:
                return None
            length = data[pos]
            if length & 0x80:
                length = ((length & 0x7F) << 8) | data[pos + 1]
                pos += 1
            pos += 1
            if pos + length >= end or data[pos + length] != 0:
                return None                              # runs past the pool or is not NUL-terminated
            return data[pos:pos + length].decode("utf-8", "replace")
        if pos + 4 > end:
            return None
        length = struct.unpack_from("<H", data, pos)[0]
        pos += 2
        if length & 0x8000:
            length = ((length & 0x7FFF) << 16) | struct.unpack_from("<H", data, pos)[0]
            pos += 2
        stop = pos + 2 * length
        if stop + 2 > end or data[stop:stop + 2] != b"\0\0":
            return None
        return data[pos:stop].decode("utf-16-le", "replace")


def parse_axml(data: bytes, where: str) -> Element:
    """The element tree of a binary XML file. Raises InputError for anything that is not well-formed AXML
    with a root element; never another exception, never unbounded work."""
    def fail(reason: str):
        raise InputError(f"malformed manifest in {where}: {reason}")

    try:
        return _parse(memoryview(data).tobytes() if not isinstance(data, bytes) else data, fail)
    except InputError:
        raise
    except (struct.error, IndexError) as exc:   # a read past the end that the checks did not foresee
        fail(f"truncated ({exc})")


def _check_chunk(data_end: int, pos: int, header_size: int, size: int, minimum: int, fail) -> None:
    """validate_chunk() of ResourceTypes.cpp."""
    if header_size < minimum:
        fail(f"chunk at {pos} has a {header_size}-byte header, expected at least {minimum}")
    if size < header_size:
        fail(f"chunk at {pos} is {size} bytes, smaller than its {header_size}-byte header")
    if (header_size | size) & 3:
        fail(f"chunk at {pos} is not 4-byte aligned (header {header_size}, size {size})")
    if size > data_end - pos:
        fail(f"chunk at {pos} of {size} bytes runs past the end ({data_end})")


def _parse(data: bytes, fail) -> Element:
    if len(data) < 8:
        fail(f"{len(data)} bytes, too short for binary XML")
    _type, header_size, size = _HEADER.unpack_from(data, 0)
    if header_size < 8 or header_size > size or size > len(data):
        fail(f"XML header (header {header_size} bytes, size {size}) does not fit the {len(data)} bytes")
    end = size                      # bytes after the declared size are not part of the document (as Android)

    # The string pool and resource map precede the first XML node (ResXMLTree::setTo).
    pool: StringPool | None = None
    resource_ids_at, resource_id_count = 0, 0
    pos = header_size
    while pos + 8 <= end:
        chunk_type, chunk_header, chunk_size = _HEADER.unpack_from(data, pos)
        if RES_XML_START_NAMESPACE_TYPE <= chunk_type <= RES_XML_LAST_CHUNK_TYPE:
            break
        _check_chunk(end, pos, chunk_header, chunk_size, 8, fail)
        if chunk_type == RES_STRING_POOL_TYPE:
            pool = StringPool(data, pos, chunk_header, chunk_size, fail)
        elif chunk_type == RES_XML_RESOURCE_MAP_TYPE:
            resource_ids_at, resource_id_count = pos + chunk_header, (chunk_size - chunk_header) // 4
        pos += chunk_size
    if pool is None:
        fail("no string pool")
    if pos + 8 > end:
        fail("no XML elements")

    string = pool.get
    root: Element | None = None
    stack: list[Element] = []
    elements = 0
    while pos + 8 <= end:
        chunk_type, chunk_header, chunk_size = _HEADER.unpack_from(data, pos)
        if not RES_XML_START_NAMESPACE_TYPE <= chunk_type <= RES_XML_LAST_CHUNK_TYPE:
            _check_chunk(end, pos, chunk_header, chunk_size, 8, fail)   # e.g. a late resource map: skipped
            pos += chunk_size
            continue
        _check_chunk(end, pos, chunk_header, chunk_size, NODE_HEADER, fail)
        minimum = MIN_EXTENSION.get(chunk_type)
        if minimum is not None and chunk_size - chunk_header < minimum:
            fail(f"XML node at {pos} is too small for its type 0x{chunk_type:04x}")
        ext = pos + chunk_header
        if chunk_type == RES_XML_START_ELEMENT_TYPE:
            elements += 1
            if elements > MAX_ELEMENTS:
                fail(f"more than {MAX_ELEMENTS} elements")
            if len(stack) >= MAX_DEPTH:
                fail(f"elements nested more than {MAX_DEPTH} deep")
            line = struct.unpack_from("<I", data, pos + 8)[0]
            element = Element(_tag(string, *_PAIR.unpack_from(data, ext)), {}, [], line)
            _read_attributes(data, pos, chunk_size, ext, string, resource_ids_at, resource_id_count,
                             element.attrib, fail)
            if root is None:
                root = element
            else:
                stack[-1].children.append(element)   # (the walk stops when the root closes: never empty here)
            stack.append(element)
        elif chunk_type == RES_XML_END_ELEMENT_TYPE:
            if stack:
                stack.pop()
                if not stack:
                    break           # the root is closed: nothing after it belongs to the manifest
        # namespaces (attributes carry their namespace URI themselves), CDATA and unknown node types: skipped
        pos += chunk_size
    if root is None:
        fail("no root element")
    return root


def _tag(string, namespace_index: int, name_index: int) -> str:
    name = string(name_index) or ""
    namespace = string(namespace_index) if namespace_index != NO_INDEX else None
    return "{" + namespace + "}" + name if namespace else name


def _read_attributes(data: bytes, pos: int, chunk_size: int, ext: int, string, resource_ids_at: int,
                     resource_id_count: int, attrib: dict[str, str], fail) -> None:
    (_ns, _name, attribute_start, attribute_size, count, _id, _class, _style) = _NODE_EXTENSION.unpack_from(data, ext)
    if not count:
        return
    first = ext + attribute_start
    # ResXMLTree::validateNode checks only that count x attributeSize bytes fit the chunk; ResXMLParser reads
    # each attribute's 20 bytes at first + attributeSize x index: a size under 20 makes records overlap (0: every
    # index reads the first), and Android still installs the app
    last = first + attribute_size * (count - 1)
    if first + attribute_size * count > pos + chunk_size or last + ATTRIBUTE_SIZE > len(data):
        fail(f"element at {pos}: {count} attributes of {attribute_size} bytes do not fit its chunk")
    for offset in range(first, last + 1, attribute_size) if attribute_size else (first,):
        namespace_index, name_index, _raw, _size, _zero, value_type, value = _ATTRIBUTE.unpack_from(data, offset)
        resource_id = (struct.unpack_from("<I", data, resource_ids_at + 4 * name_index)[0]
                       if name_index < resource_id_count else 0)
        if resource_id >> 24 == 0x01:
            # A platform attribute: its id is its identity. For an id we do not list, its name string is
            # kept unless it claims to be one we list (a scrambled name must not pass for another attribute).
            name = PLATFORM_ATTRIBUTES.get(resource_id)
            if name is None:
                text = string(name_index)
                name = text if text and text not in _LISTED_NAMES else f"@{resource_id:08X}"
            key = ANDROID + name
        else:
            name = string(name_index) or ""
            namespace = string(namespace_index) if namespace_index != NO_INDEX else None
            key = "{" + namespace + "}" + name if namespace else name
        if key in attrib:
            continue                # the first occurrence wins
        rendered = render_value(value_type, value, string)
        if rendered is not None:
            attrib[key] = rendered


def render_value(value_type: int, value: int, string=None) -> str | None:
    """A typed value as text, in aapt's and androguard's notation; None for no value (TYPE_NULL, or a string
    reference that points nowhere)."""
    if value_type == TYPE_STRING:
        return string(value) if string is not None else None
    if value_type in (TYPE_REFERENCE, TYPE_DYNAMIC_REFERENCE):
        return f"@{'android:' if value >> 24 == 1 else ''}{value:08X}"
    if value_type in (TYPE_ATTRIBUTE, TYPE_DYNAMIC_ATTRIBUTE):
        return f"?{'android:' if value >> 24 == 1 else ''}{value:08X}"
    if value_type == TYPE_INT_HEX:
        return f"0x{value:08X}"
    if value_type == TYPE_INT_BOOLEAN:
        return "false" if value == 0 else "true"
    if TYPE_FIRST_COLOR_INT <= value_type <= TYPE_LAST_COLOR_INT:
        return f"#{value:08X}"
    if TYPE_INT_DEC <= value_type <= TYPE_LAST_INT:
        return str(value - 0x100000000 if value > 0x7FFFFFFF else value)
    if value_type == TYPE_FLOAT:
        return "%f" % struct.unpack("<f", struct.pack("<I", value))[0]
    if value_type in (TYPE_DIMENSION, TYPE_FRACTION):
        number = _complex(value)
        units = _DIMENSION_UNITS if value_type == TYPE_DIMENSION else _FRACTION_UNITS
        unit = units[value & 0xF] if (value & 0xF) < len(units) else f"<unit {value & 0xF}>"
        return f"{number * (100 if value_type == TYPE_FRACTION else 1):f}{unit}"
    if value_type == TYPE_NULL:
        return None
    return f"<0x{value:X}, type 0x{value_type:02X}>"


def _complex(value: int) -> float:
    mantissa = value & 0xFFFFFF00
    if mantissa & 0x80000000:
        mantissa -= 0x100000000
    return float(mantissa) * _RADIX_MULTIPLIERS[(value >> 4) & 3]
