"""Peeling a request into the byte segments that identifiers are searched in, layer by layer.

A request becomes a list of `Segment(where, data)`: the raw path, the raw query and each parameter, each header
and cookie, and the body after its Content-Encoding, then every layer that can be taken off: gzip / zlib / brotli
/ zstd, JSON (nested, also JSON inside strings), NDJSON, form and multipart bodies, base64 blobs, JWT payloads,
protobuf without a schema (field-number paths), gRPC frames. Both an outer layer and what it decodes to are
kept, so a value is found whether it was sent plain or encoded (the matcher keeps the most precise place).

`where` names the place: `query:idfa`, `header:x-device-id`, `cookie:uid`, `body.json:advertising_ids.aaid`,
`body.protobuf:1.3`, `body.json:payload.base64.json:aaid` (a layer is `.name`, a position inside it `:path`).

Everything is bounded: layers, JSON depth, segments, decompressed and total bytes (hostile input).
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import struct
import zlib
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qsl, unquote_to_bytes

from .captures import Request

MAX_LAYERS = 8                       # nested decodings below one request part
MAX_JSON_DEPTH = 48
MAX_SEGMENTS = 20_000                # per request
MAX_TOTAL_BYTES = 48 * 1024 * 1024   # per request, all segments together
MAX_INFLATE_BYTES = 16 * 1024 * 1024 # one decompression
MAX_EMBEDDED_TOKENS = 256            # base64 tokens tried inside one free text
MIN_BASE64_LEN = 12
MAX_PAIRS = 5_000                    # form / query parameters decoded by name


@dataclass(frozen=True)
class Segment:
    where: str
    data: bytes


class _Budget:
    def __init__(self) -> None:
        self.segments = 0
        self.bytes = 0
        self.exhausted = False

    def take(self, size: int) -> bool:
        if self.segments >= MAX_SEGMENTS or self.bytes + size > MAX_TOTAL_BYTES:
            self.exhausted = True
            return False
        self.segments += 1
        self.bytes += size
        return True


# -- decompression ----------------------------------------------------------------------------------------
def inflate(data: bytes, method: str) -> bytes | None:
    """Decompress with an output bound; None when the data is not in that format (or bombs past the bound)."""
    try:
        if method in ("gzip", "x-gzip", "deflate", "zlib"):
            wbits = {"gzip": 47, "x-gzip": 47, "zlib": 15}.get(method, 47)
            out = _zlib_bounded(data, wbits)
            if out is None and method == "deflate":
                out = _zlib_bounded(data, -15)  # raw deflate, as some servers send it
            return out
        if method == "br":
            import brotli
            decomp = brotli.Decompressor()
            chunks, size = [], 0
            for start in range(0, len(data), 256):  # small steps: brotli has no output limit of its own
                piece = decomp.process(data[start:start + 256])
                size += len(piece)
                if size > MAX_INFLATE_BYTES:
                    return None
                chunks.append(piece)
            return b"".join(chunks)
        if method == "zstd":
            import zstandard
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
            out = reader.read(MAX_INFLATE_BYTES + 1)
            return None if len(out) > MAX_INFLATE_BYTES else out
    except Exception:  # every codec has its own error type; any of them means "not this format"
        return None
    return None


def _zlib_bounded(data: bytes, wbits: int) -> bytes | None:
    try:
        decomp = zlib.decompressobj(wbits)
        out = decomp.decompress(data, MAX_INFLATE_BYTES + 1)
    except zlib.error:
        return None
    if len(out) > MAX_INFLATE_BYTES or not out:
        return None
    return out


def sniff_compression(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) > 2 and data[0] == 0x78 and data[1] in (0x01, 0x5E, 0x9C, 0xDA) and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


# -- protobuf without a schema ----------------------------------------------------------------------------
def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def parse_protobuf(data: bytes, depth: int = 0) -> list[tuple[str, object]] | None:
    """Field-number paths and values, or None when `data` is not a well-formed protobuf message.

    Length-delimited fields that are printable text stay text; otherwise a nested message if one parses
    exactly; otherwise bytes. Numbers come back as their decimal text (an IMEI sent as int64 is still found).
    """
    if not data or depth > 12:
        return None
    out: list[tuple[str, object]] = []
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if number < 1 or number > (1 << 29) - 1:
                return None
            if wire == 0:
                value, pos = _varint(data, pos)
                out.append((str(number), str(value)))
            elif wire == 1:
                if pos + 8 > len(data):
                    return None
                raw = data[pos:pos + 8]
                pos += 8
                out.append((str(number), str(struct.unpack("<q", raw)[0])))
                real = struct.unpack("<d", raw)[0]
                if math.isfinite(real) and 1e-6 < abs(real) < 1e9:
                    out.append((str(number), repr(real)))
            elif wire == 2:
                length, pos = _varint(data, pos)
                if pos + length > len(data):
                    return None
                chunk = data[pos:pos + length]
                pos += length
                if _printable(chunk, strict=True):
                    out.append((str(number), chunk))
                    continue
                nested = parse_protobuf(chunk, depth + 1)
                if nested:
                    out.extend((f"{number}.{path}", value) for path, value in nested)
                else:
                    out.append((str(number), chunk))
            elif wire == 5:
                if pos + 4 > len(data):
                    return None
                raw = data[pos:pos + 4]
                pos += 4
                out.append((str(number), str(struct.unpack("<i", raw)[0])))
                real = struct.unpack("<f", raw)[0]
                if math.isfinite(real) and 1e-3 < abs(real) < 1e7:
                    out.append((str(number), f"{real:.6g}"))
            else:
                return None  # groups (3/4) are obsolete; 6/7 do not exist
            if len(out) > 50_000:
                return None
    except ValueError:
        return None
    return out or None


def _printable(data: bytes, strict: bool = False) -> bool:
    """UTF-8 text: mostly printable, or (strict, for protobuf strings vs nested messages) entirely."""
    if not data:
        return True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if text.isprintable():  # C-speed paths: a per-character generator took 1.4 s on 16 MiB
        return True
    if strict:
        return text.translate(_WHITESPACE_DROP).isprintable()
    sample = text[:_PRINTABLE_SAMPLE]
    good = sum(ch.isprintable() or ch in "\r\n\t" for ch in sample)
    return good >= 0.95 * len(sample)


_WHITESPACE_DROP = {ord("\r"): None, ord("\n"): None, ord("\t"): None}
_PRINTABLE_SAMPLE = 64 * 1024  # lenient check: the first 64 Ki characters decide


# -- the walker -------------------------------------------------------------------------------------------
_BASE64_WHOLE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+={0,2}$")
_BASE64_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{%d,}={0,2}" % 24)
_JWT = re.compile(r"^(?:Bearer\s+)?(eyJ[A-Za-z0-9_-]+)\.(eyJ[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$")


def _looks_like_form(text: str) -> bool:
    """`a=1&b=2`: no whitespace, and every `&` piece is a `name=value` pair (a plain split: no regex backtracking)."""
    if "=" not in text or any(ch.isspace() for ch in text[:65536]):
        return False
    pieces = [p for p in text.split("&") if p]
    return bool(pieces) and all("=" in p and not p.startswith("=") for p in pieces)


def _b64decode(text: str) -> tuple[bytes, str] | None:
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        return None
    urlsafe = "-" in stripped or "_" in stripped
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded), "base64url"
        return base64.b64decode(padded, validate=True), "base64"
    except (binascii.Error, ValueError):
        return None


def _worth_decoding(decoded: bytes) -> bool:
    """A base64 guess is kept only when it decodes to something: text, a compressed stream or a message."""
    if len(decoded) < 4:
        return False
    if sniff_compression(decoded):
        return True
    if _printable(decoded):
        return True
    return parse_protobuf(decoded) is not None and len(decoded) >= 8


class Walker:
    def __init__(self) -> None:
        self.budget = _Budget()
        self.segments: list[Segment] = []

    def emit(self, where: str, data: bytes) -> bool:
        if not data or not self.budget.take(len(data)):
            return False
        self.segments.append(Segment(where, data))
        return True

    # A value (a header, a parameter, a body, a JSON string ...): emit it, then everything under it.
    def value(self, where: str, data: bytes, layers: int = 0, content_type: str = "") -> None:
        if not self.emit(where, data) or layers >= MAX_LAYERS or len(data) < 4:
            return
        method = sniff_compression(data)
        if method:
            inflated = inflate(data, method)
            if inflated:
                self.value(f"{where}.{method}", inflated, layers + 1, content_type)
            return
        ctype = content_type.lower()
        if data[:1] in (b"\x00", b"\x01") and len(data) >= 5 and int.from_bytes(data[1:5], "big") == len(data) - 5:
            payload = data[5:]  # a gRPC message frame
            if data[0] == 1:
                payload = inflate(payload, "gzip") or payload
            self._protobuf(f"{where}.grpc", payload, layers + 1)
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._protobuf(where + ".protobuf", data, layers + 1)
            return
        if not _printable(data) and self._protobuf(where + ".protobuf", data, layers + 1):
            return  # valid UTF-8 but full of control bytes: a message whose bytes happen to be ASCII
        stripped = text.strip()
        if "multipart/" in ctype and "boundary=" in ctype:
            if self._multipart(where, data, content_type, layers):
                return
        if stripped[:1] in ("{", "[", '"') and self._json(where, stripped, layers):
            return
        if "proto" in ctype and self._protobuf(where + ".protobuf", data, layers + 1):
            return
        jwt = _JWT.match(stripped)
        if jwt:
            for part, name in ((jwt.group(2), "jwt"), (jwt.group(1), "jwt-header")):
                decoded = _b64decode(part)
                if not decoded:
                    continue
                try:
                    claims = json.loads(decoded[0], parse_float=Decimal)
                except (ValueError, RecursionError):
                    claims = None
                if isinstance(claims, (dict, list)):
                    self._walk_json(f"{where}.{name}", claims, "", 0, layers + 1)
                else:
                    self.value(f"{where}.{name}", decoded[0], layers + 1)
            return
        if len(stripped) >= MIN_BASE64_LEN and _BASE64_WHOLE.match(stripped) and not stripped.isdigit() \
                and not re.fullmatch(r"[0-9a-fA-F]+", stripped):
            decoded = _b64decode(stripped)
            if decoded and _worth_decoding(decoded[0]):
                self.value(f"{where}.{decoded[1]}", decoded[0], layers + 1)
                return
        if _looks_like_form(stripped) or "x-www-form-urlencoded" in ctype:
            if self._form(where + ".form", stripped, layers):
                return
        if len(stripped) > 48:
            self._embedded_base64(where, data, layers)

    def _json(self, where: str, text: str, layers: int) -> bool:
        try:
            doc = json.loads(text, parse_float=Decimal)
        except RecursionError:
            return False
        except ValueError:
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) < 2:
                return False
            docs = []
            for line in lines[:10_000]:
                try:
                    docs.append(json.loads(line, parse_float=Decimal))
                except (ValueError, RecursionError):
                    return False
            doc = docs
        if isinstance(doc, str):
            self.value(f"{where}.json", doc.encode("utf-8", "surrogatepass"), layers + 1)
            return True
        self._walk_json(f"{where}.json", doc, "", 0, layers)
        return True

    def _walk_json(self, prefix: str, node, path: str, depth: int, layers: int) -> None:
        if depth > MAX_JSON_DEPTH or self.budget.exhausted:
            return
        if isinstance(node, dict):
            for key, child in node.items():
                key = str(key)
                self._walk_json(prefix, child, f"{path}.{key}" if path else key, depth + 1, layers)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                self._walk_json(prefix, child, f"{path}[{index}]", depth + 1, layers)
        elif isinstance(node, str):
            self.value(f"{prefix}:{path}", node.encode("utf-8", "surrogatepass"), layers + 1)
        elif isinstance(node, bool) or node is None:
            return
        else:  # int or Decimal: keep the digits as sent (52.5200 stays 52.5200)
            self.emit(f"{prefix}:{path}", str(node).encode())

    def _form(self, where: str, text: str, layers: int) -> bool:
        pairs = parse_qsl(text, keep_blank_values=True)
        if not pairs:
            return False
        if len(pairs) > MAX_PAIRS:
            self.budget.exhausted = True  # the rest stays searched in the raw text, not by name
        for name, value in pairs[:MAX_PAIRS]:
            self.value(f"{where}:{name}", value.encode("utf-8", "surrogatepass"), layers + 1)
        return True

    def _multipart(self, where: str, data: bytes, ctype: str, layers: int) -> bool:
        match = re.search(r'(?i)boundary="?([^";]+)"?', ctype)
        if not match:
            return False
        boundary = b"--" + match.group(1).encode("latin-1", "replace")
        parts = data.split(boundary)
        found = False
        for index, part in enumerate(parts[1:1001]):
            if part.startswith(b"--"):
                break
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                head, sep, content = part.partition(b"\n\n")
            if not sep:
                continue
            if content.endswith(b"\r\n"):
                content = content[:-2]
            name_match = re.search(rb'name="([^"]*)"', head)
            name = name_match.group(1).decode("utf-8", "replace") if name_match else str(index)
            type_match = re.search(rb"(?im)^content-type:\s*([^\r\n]+)", head)
            part_type = type_match.group(1).decode("latin-1") if type_match else ""
            self.value(f"{where}.multipart:{name}", content, layers + 1, part_type)
            found = True
        return found

    def _protobuf(self, where: str, data: bytes, layers: int) -> bool:
        fields = parse_protobuf(data)
        if not fields:
            return False
        for path, value in fields:
            if isinstance(value, bytes):
                self.value(f"{where}:{path}", value, layers + 1)
            else:
                self.emit(f"{where}:{path}", str(value).encode())
            if self.budget.exhausted:
                break
        return True

    def _embedded_base64(self, where: str, data: bytes, layers: int) -> None:
        for count, match in enumerate(_BASE64_TOKEN.finditer(data)):
            if count >= MAX_EMBEDDED_TOKENS or self.budget.exhausted:
                return
            token = match.group(0).decode("ascii")
            if token.isdigit() or re.fullmatch(r"[0-9a-fA-F]+", token):
                continue
            decoded = _b64decode(token)
            if decoded and _worth_decoding(decoded[0]):
                self.value(f"{where}.{decoded[1]}", decoded[0], layers + 1)


def request_segments(request: Request) -> tuple[list[Segment], bool]:
    """Every searchable segment of a request, and whether a bound cut the decoding short."""
    walker = Walker()
    target = request.target or "/"
    path, _, query = target.partition("?")
    walker.emit("path", path.encode("utf-8", "surrogatepass"))
    for index, piece in enumerate(p for p in path.split("/") if p):
        if len(piece) >= MIN_BASE64_LEN:
            decoded = unquote_to_bytes(piece)
            # only the layers below a path piece: its text is already in "path"
            sub = Walker()
            sub.budget = walker.budget
            sub.value(f"path:{index}", decoded, 0)
            walker.segments.extend(s for s in sub.segments if s.where != f"path:{index}")
    if query:
        walker.emit("query", query.encode("utf-8", "surrogatepass"))
        pairs = parse_qsl(query, keep_blank_values=True)
        walker.budget.exhausted |= len(pairs) > MAX_PAIRS
        for name, value in pairs[:MAX_PAIRS]:
            walker.value(f"query:{name}", value.encode("utf-8", "surrogatepass"))
    content_type = ""
    content_encoding = ""
    for name, value in request.headers:
        lname = name.lower()
        if lname == "content-type":
            content_type = value
        elif lname == "content-encoding":
            content_encoding = value
        if lname == "cookie":
            for pair in value.split(";"):
                key, sep, cookie = pair.strip().partition("=")
                if sep:
                    walker.value(f"cookie:{key}", cookie.encode("utf-8", "surrogatepass"))
        elif lname not in ("content-length", "host", ":authority", ":path"):
            walker.value(f"header:{lname}", value.encode("utf-8", "surrogatepass"))
    body = request.body
    if body:
        # Content-Encoding is transport: undo it without naming it in `where` (HAR tools often store it undone).
        for method in [m.strip().lower() for m in content_encoding.split(",") if m.strip()][::-1]:
            if method in ("identity", ""):
                continue
            inflated = inflate(body, method)
            if inflated is None:
                break
            body = inflated
        walker.value("body", body, 0, content_type)
    return walker.segments, walker.budget.exhausted
