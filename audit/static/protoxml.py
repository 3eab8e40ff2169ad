"""A bounded reader for aapt2's protobuf XML, the form of AndroidManifest.xml inside an Android App Bundle (.aab).

    root = parse_proto_xml(data, "app.aab!base/manifest/AndroidManifest.xml")   # -> axml.Element

Only the messages of aapt2's Resources.proto that a manifest uses are read (field numbers from that file):
    XmlNode      { XmlElement element = 1; string text = 2; SourcePosition source = 3; }
    XmlElement   { repeated XmlNamespace namespace_declaration = 1; string namespace_uri = 2; string name = 3;
                   repeated XmlAttribute attribute = 4; repeated XmlNode child = 5; }
    XmlAttribute { string namespace_uri = 1; string name = 2; string value = 3; SourcePosition source = 4;
                   uint32 resource_id = 5; Item compiled_item = 6; }
    Item         { Reference ref = 1; ... Primitive prim = 7; ... }
    Reference    { Type type = 1; uint32 id = 2; ... }        (type 1: an attribute reference, ?id)
    Primitive    { float float_value = 3; int32 int_decimal_value = 6; uint32 int_hexadecimal_value = 7;
                   bool boolean_value = 8; uint32 color_* = 9..12; uint32 dimension_value = 13;
                   uint32 fraction_value = 14; }
Everything else is skipped by its wire type. The result is the same Element tree the binary-XML reader gives,
with values rendered the same way (axml.render_value) and platform attributes named by their resource id, so
the manifest reader cannot tell an .aab from an .apk. Bounds: element count and nesting depth as for AXML;
every length is checked against its enclosing message; the walk is iterative (no recursion on hostile depth).
"""
from __future__ import annotations

import struct

from ..errors import InputError
from ..protowire import WireError, varint
from .axml import (ANDROID, PLATFORM_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS, TYPE_ATTRIBUTE, TYPE_DIMENSION,
                   TYPE_FIRST_COLOR_INT, TYPE_FLOAT, TYPE_FRACTION, TYPE_INT_BOOLEAN, TYPE_INT_DEC, TYPE_INT_HEX,
                   TYPE_REFERENCE, Element, render_value)

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_PRIMITIVE_TYPES = {3: TYPE_FLOAT, 6: TYPE_INT_DEC, 7: TYPE_INT_HEX, 8: TYPE_INT_BOOLEAN, 9: TYPE_FIRST_COLOR_INT,
                    10: TYPE_FIRST_COLOR_INT, 11: TYPE_FIRST_COLOR_INT, 12: TYPE_FIRST_COLOR_INT,
                    13: TYPE_DIMENSION, 14: TYPE_FRACTION}


class _Malformed(WireError):
    pass


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value) of one message: ints for VARINT/FIXED*, (start, end) for LEN."""
    pos = start
    while pos < end:
        key, pos = varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed(f"field number 0 at {pos}")
        if wire == VARINT:
            value, pos = varint(data, pos, end)
        elif wire == LEN:
            size, pos = varint(data, pos, end)
            if size > end - pos:
                raise _Malformed(f"field {number} at {pos}: {size} bytes past the end of its message")
            value, pos = (pos, pos + size), pos + size
        elif wire == FIXED32:
            if pos + 4 > end:
                raise _Malformed(f"field {number} at {pos}: truncated")
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        elif wire == FIXED64:
            if pos + 8 > end:
                raise _Malformed(f"field {number} at {pos}: truncated")
            value, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        else:
            raise _Malformed(f"field {number}: unsupported wire type {wire}")
        yield number, wire, value


def _text(data: bytes, span) -> str:
    if not isinstance(span, tuple):
        raise _Malformed("a string field with a numeric wire type")
    return data[span[0]:span[1]].decode("utf-8", errors="replace")


def _compiled(data: bytes, span) -> tuple[int, int] | None:
    """(Res_value type, data) of an Item that is a reference or a primitive; None for strings and the rest."""
    if not isinstance(span, tuple):
        return None
    for number, _wire, value in _fields(data, *span):
        if number == 1 and isinstance(value, tuple):           # Reference
            kind, ident = 0, 0
            for field, _w, item in _fields(data, *value):
                if field == 1 and isinstance(item, int):
                    kind = item
                elif field == 2 and isinstance(item, int):
                    ident = item & 0xFFFFFFFF
            return (TYPE_ATTRIBUTE if kind == 1 else TYPE_REFERENCE), ident
        if number == 7 and isinstance(value, tuple):           # Primitive
            for field, _w, item in _fields(data, *value):
                if field in _PRIMITIVE_TYPES and isinstance(item, int):
                    return _PRIMITIVE_TYPES[field], item & 0xFFFFFFFF
            return None                                         # null or empty
    return None


def _attribute(data: bytes, span: tuple[int, int]) -> tuple[str, str | None]:
    namespace = name = value = ""
    resource_id = 0
    compiled = None
    for number, _wire, item in _fields(data, *span):
        if number == 1:
            namespace = _text(data, item)
        elif number == 2:
            name = _text(data, item)
        elif number == 3:
            value = _text(data, item)
        elif number == 5 and isinstance(item, int):
            resource_id = item & 0xFFFFFFFF
        elif number == 6:
            compiled = _compiled(data, item)
    if resource_id >> 24 == 0x01 and resource_id in PLATFORM_ATTRIBUTES:
        key = ANDROID + PLATFORM_ATTRIBUTES[resource_id]     # the platform matches by id, as for binary XML
    else:
        key = "{" + namespace + "}" + name if namespace else name
    return key, (render_value(*compiled) if compiled is not None else value)


def parse_proto_xml(data: bytes, where: str) -> Element:
    """The root element of a protobuf XmlNode; an InputError naming `where` if it is malformed."""
    try:
        return _parse(data)
    except WireError as exc:
        raise InputError(f"malformed manifest in {where}: {exc}") from None


def _parse(data: bytes) -> Element:
    root: Element | None = None
    # (node span, parent element or None, depth): children are appended in document order because the stack
    # is filled in reverse.
    stack: list[tuple[tuple[int, int], Element | None, int]] = [((0, len(data)), None, 0)]
    count = 0
    while stack:
        span, parent, depth = stack.pop()
        element_span = None
        for number, _wire, value in _fields(data, *span):
            if number == 1 and isinstance(value, tuple):
                element_span = value
        if element_span is None:
            continue                       # a text node
        count += 1
        if count > MAX_ELEMENTS:
            raise _Malformed(f"more than {MAX_ELEMENTS} elements")
        if depth > MAX_DEPTH:
            raise _Malformed(f"elements nested deeper than {MAX_DEPTH}")
        namespace = name = ""
        attrib: dict[str, str] = {}
        children: list[tuple[int, int]] = []
        for number, _wire, value in _fields(data, *element_span):
            if number == 2:
                namespace = _text(data, value)
            elif number == 3:
                name = _text(data, value)
            elif number == 4 and isinstance(value, tuple):
                key, rendered = _attribute(data, value)
                if rendered is not None:
                    attrib.setdefault(key, rendered)     # the first occurrence wins
            elif number == 5 and isinstance(value, tuple):
                children.append(value)
        element = Element("{" + namespace + "}" + name if namespace else name, attrib)
        if parent is None:
            if root is not None:
                raise _Malformed("more than one root element")
            root = element
        else:
            parent.children.append(element)
        stack.extend((child, element, depth + 1) for child in reversed(children))
    if root is None:
        raise _Malformed("no element")
    return root


# -- a string resource in an App Bundle's resource table (`<module>/resources.pb`) ----------------------------
# ResourceTable { Package package = 2 }  Package { PackageId package_id = 1; Type type = 3 }
# Type { TypeId type_id = 1; Entry entry = 3 }  Entry { EntryId entry_id = 1; ConfigValue config_value = 6 }
# ConfigValue { Configuration config = 1; Value value = 2 }  Value { Item item = 4 }
# Item { Reference ref = 1; String str = 2; RawString raw_str = 3; StyledString styled_str = 4 }  (value = 1 each)
MAX_REFERENCE_HOPS = 4


def _submessage(data: bytes, span, number: int):
    """The first field `number` (a message) of the message at `span`, or None."""
    for field, _wire, value in _fields(data, *span):
        if field == number and isinstance(value, tuple):
            return value
    return None


def _id_of(data: bytes, span) -> int | None:
    """The `id = 1` of a PackageId / TypeId / EntryId message."""
    for field, _wire, value in _fields(data, *span):
        if field == 1 and isinstance(value, int):
            return value
    return None


def _entry(data: bytes, resource_id: int):
    package_id, type_id, entry_id = resource_id >> 24, (resource_id >> 16) & 0xFF, resource_id & 0xFFFF
    for field, _wire, package in _fields(data, 0, len(data)):
        if field != 2 or not isinstance(package, tuple):
            continue
        pid = _submessage(data, package, 1)
        if pid is None or _id_of(data, pid) != package_id:
            continue
        for number, _w, type_span in _fields(data, *package):
            if number != 3 or not isinstance(type_span, tuple):
                continue
            tid = _submessage(data, type_span, 1)
            if tid is None or _id_of(data, tid) != type_id:
                continue
            for kind, _w2, entry in _fields(data, *type_span):
                if kind == 3 and isinstance(entry, tuple):
                    eid = _submessage(data, entry, 1)
                    if eid is not None and _id_of(data, eid) == entry_id:
                        return entry
    return None


def proto_resource_string(data: bytes, resource_id: int) -> str | None:
    """The default-configuration text of a string resource (following references), or None."""
    try:
        for _hop in range(MAX_REFERENCE_HOPS):
            entry = _entry(data, resource_id)
            if entry is None:
                return None
            values = [v for f, _w, v in _fields(data, *entry) if f == 6 and isinstance(v, tuple)]
            # the default configuration is an empty Configuration message; else the first one listed
            chosen = next((v for v in values if (c := _submessage(data, v, 1)) is None or c[0] == c[1]),
                          values[0] if values else None)
            value = _submessage(data, chosen, 2) if chosen is not None else None
            item = _submessage(data, value, 4) if value is not None else None
            if item is None:
                return None
            for field, _wire, span in _fields(data, *item):
                if field in (2, 3, 4) and isinstance(span, tuple):
                    for number, _w, text in _fields(data, *span):
                        if number == 1:
                            return _text(data, text)
                    return ""
                if field == 1 and isinstance(span, tuple):
                    for number, _w, ident in _fields(data, *span):
                        if number == 2 and isinstance(ident, int):
                            resource_id = ident
                    break
            else:
                return None
        return None
    except WireError:
        return None
