"""Mutation strategies for binary and structured inputs (hypothesis strategies)."""
from __future__ import annotations

import io
import struct
import zipfile

from hypothesis import strategies as st


@st.composite
def byte_mutations(draw, data: bytes, max_ops: int = 6) -> bytes:
    """Flip, overwrite, insert, delete and truncate: the classic dumb mutator, seeded from a real file."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, max_ops))):
        if not buf:
            break
        op = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate", "interesting"]))
        pos = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            buf[pos:pos + len(chunk)] = chunk
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del buf[pos:pos + draw(st.integers(1, 256))]
        elif op == "truncate":
            del buf[pos:]
        else:  # integers that break size and offset arithmetic
            value = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))
            pos -= pos % 4
            buf[pos:pos + 4] = struct.pack("<I", value)
    return bytes(buf)


@st.composite
def dex_mutations(draw, dex: bytes) -> bytes:
    """Aim at the header's sizes and offsets (0x38..0x70) and at the id tables behind it."""
    buf = bytearray(dex)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["header", "tables", "anywhere"]))
        if where == "header":
            pos = draw(st.integers(0x20, 0x6C)) & ~3
        elif where == "tables":
            pos = draw(st.integers(0x70, max(0x70, min(len(buf) - 4, 0x70 + 8192)))) & ~3
        else:
            pos = draw(st.integers(0, len(buf) - 4)) & ~3
        value = draw(st.one_of(st.integers(0, 0xFFFFFFFF),
                               st.sampled_from([0, 0xFFFFFFFF, 0x7FFFFFFF, len(buf), len(buf) + 1])))
        buf[pos:pos + 4] = struct.pack("<I", value)
    return bytes(buf)


def rezip(original: bytes, replace: dict[str, bytes] = {}, add: dict[str, bytes] = {},
          drop: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, data in add.items():
            dst.writestr(name, data)
    return out.getvalue()


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False),
                        st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)


def json_mutations(document):
    """Replace, delete or retype nodes of a real JSON document (keeps most of its structure valid)."""
    return tree_mutations(document, leaves=JSON_VALUES, replace_root=True)


TNET_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                        st.text(max_size=20), st.binary(max_size=40),
                        st.sampled_from([b"", b"\xff\xfe", b"GET", b"http", b"example.org", 0, -1, 2**64]))
TNET_VALUES = st.recursive(TNET_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=8)), inner,
                                                  max_size=3)), max_leaves=10)


@st.composite
def tree_mutations(draw, document, leaves=TNET_VALUES, max_ops: int = 3, replace_root: bool = False):
    """Replace or delete nodes of any tree of dicts/lists/tuples (mitmproxy flow state has bytes and tuples)."""
    import copy

    def thaw(node):
        if isinstance(node, dict):
            return {k: thaw(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [thaw(v) for v in node]
        return node

    doc = thaw(copy.deepcopy(document))
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (key,))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + (index,))

    walk(doc, ())
    for _ in range(draw(st.integers(1, max_ops))):
        path = draw(st.sampled_from(paths))
        if not path:
            if replace_root:
                return draw(leaves)
            continue
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            if draw(st.booleans()):
                parent[path[-1]] = draw(leaves)
            elif isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        except (KeyError, IndexError, TypeError, AttributeError):  # an earlier op replaced the parent
            continue
    return doc


@st.composite
def text_line_mutations(draw, text: str) -> str:
    """Line-oriented damage (JSONL, CSV): drop, duplicate, swap, truncate mid-line, or byte-mutate one line."""
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "cut", "bytes", "junk"]))
        if op == "drop" and len(lines) > 1:
            del lines[index]
        elif op == "dup":
            lines.insert(index, lines[index])
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        elif op == "cut":
            cut = draw(st.integers(0, max(0, len(lines[index]) - 1)))
            lines[index:] = [lines[index][:cut]]
        elif op == "bytes" and lines[index]:
            raw = draw(byte_mutations(lines[index].encode("utf-8"), max_ops=2))
            lines[index] = raw.decode("utf-8", "replace")
        else:
            lines.insert(index, draw(st.text(max_size=60)) + "\n")
    return "".join(lines)
