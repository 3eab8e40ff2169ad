"""Peeling a request into the byte segments that identifiers are searched in, layer by layer.

A request becomes a list of `Segment(where, data)`: the raw path, the raw query and each parameter, each header
and cookie, and the body after its Content-Encoding, then every layer that can be taken off: gzip / zlib / brotli
/ zstd, JSON (nested, also JSON inside strings), NDJSON, form and multipart bodies, base64 blobs, JWT payloads,
protobuf without a schema (field-number paths), gRPC frames. Both an outer layer and what it decodes to are
kept, so a value is found whether it was sent plain or encoded (the matcher keeps the most precise place).

`where` names the place: `query:idfa`, `header:x-device-id`, `cookie:uid`, `body.json:advertising_ids.aaid`,
`body.protobuf:1.3`, `body.json:payload.base64.json:aaid` (a layer is `.name`, a position inside it `:path`).

Everything is bounded by construction (hostile input): decompression runs through streaming decoders that stop at
an output budget per input, per request and per capture (`CaptureBudget`), so a bomb costs its budget and no
more; layers, JSON depth, segments and searched bytes are capped too. Every cap that leaves something undecoded is
recorded (`Walker.limits`: which limit, the first place, how much was dropped) for the report's `partial`.
"""
from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import math
import operator
import re
import struct
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from .. import percent
from ..protowire import varint
from .captures import MAX_BODY_BYTES, LimitHit, Request

MAX_LAYERS = 8                       # nested decodings below one request part
MAX_JSON_DEPTH = 48
MAX_SEGMENTS = 20_000                # per request
MAX_BOOLEANS = 20_000                # JSON true/false leaves kept per request (for the tracker adapters)
MAX_TOTAL_BYTES = 48 * 1024 * 1024   # per request, all segments together
MAX_INFLATE_BYTES = 16 * 1024 * 1024 # one decompression
CAPTURE_INFLATE_BASE = 256 * 1024 * 1024   # decompressed bytes per capture: this plus ...
CAPTURE_INFLATE_RATIO = 4                  # ... this many times the capture's size
MAX_EMBEDDED_TOKENS = 256            # base64 tokens tried inside one free text
MIN_BASE64_LEN = 12
MAX_PAIRS = 5_000                    # form / query parameters decoded by name
MAX_MULTIPART_PARTS = 1_000
MAX_NDJSON_LINES = 10_000
MAX_GRPC_FRAMES = 10_000             # length-prefixed messages of one gRPC body (a streaming call sends many)
MAX_JSON_VALUES = 1_000_000          # values of one JSON text parsed into objects; a text of more is searched as text
INFLATE_STEP = 64 * 1024             # compressed bytes fed to a decoder at a time
INFLATE_FLOOR = 1024 * 1024          # one decompression may give this much ...
INFLATE_RATIO = 1024                 # ... plus this many times its input (text compresses 10-100x, bombs 1000x+)


class Segment(NamedTuple):  # a tuple: made for every value of every request, it must be cheap to build
    where: str
    data: bytes


_new_segment = tuple.__new__  # Segment(where, data) without NamedTuple's Python-level __new__ (hot paths)


class _Budget:
    def __init__(self) -> None:
        self.segments = 0
        self.bytes = 0
        self.exhausted = False
        self.refused_bytes = 0

    def take(self, size: int) -> bool:
        if self.segments >= MAX_SEGMENTS or self.bytes + size > MAX_TOTAL_BYTES:
            self.exhausted = True
            self.refused_bytes += size
            return False
        self.segments += 1
        self.bytes += size
        return True


class CaptureBudget:
    """Decompressed bytes one capture may cost in all (so a capture of bombs costs a bounded amount of work)."""

    def __init__(self, capture_bytes: int = 0) -> None:
        self.left = CAPTURE_INFLATE_BASE + CAPTURE_INFLATE_RATIO * max(0, capture_bytes)
        self.bound = self.left


# -- decompression ----------------------------------------------------------------------------------------
def inflate(data: bytes, method: str) -> bytes | None:
    """Decompress with an output bound; None when the data is not in that format (or bombs past the bound)."""
    result = inflate_bounded(data, method, MAX_INFLATE_BYTES)
    if result is None or result[1]:
        return None
    return result[0]


def inflate_bounded(data: bytes, method: str, limit: int) -> tuple[bytes, int] | None:
    """(at most `limit` decompressed bytes, compressed bytes left unread because of the limit), or None when the
    data is not in that format. Streaming decoders with an output bound: a bomb never costs more than `limit`."""
    try:
        if method in ("gzip", "x-gzip", "deflate", "zlib"):
            wbits = {"gzip": 47, "x-gzip": 47, "zlib": 15}.get(method, 47)
            out = _zlib_bounded(data, wbits, limit)
            if out is None and method == "deflate":
                out = _zlib_bounded(data, -15, limit)  # raw deflate, as some servers send it
            return out
        if method == "br":
            return _brotli_bounded(data, limit)
        if method == "zstd":
            import zstandard
            source = io.BytesIO(data)
            reader = zstandard.ZstdDecompressor().stream_reader(source, read_size=INFLATE_STEP)
            out = reader.read(limit)
            more = reader.read(1) if len(out) >= limit else b""
            if not out:
                return None
            return (out, max(1, len(data) - source.tell())) if more else (out, 0)
    except Exception:  # every codec has its own error type; any of them means "not this format"
        return None
    return None


def _zlib_bounded(data: bytes, wbits: int, limit: int) -> tuple[bytes, int] | None:
    if wbits > 0 and data[:2] != b"\x1f\x8b" and not _zlib_header(data):
        return None   # what zlib would refuse at its first two bytes (HAR tools store bodies already inflated)
    try:
        decomp = zlib.decompressobj(wbits)
        out = decomp.decompress(data, limit)
    except zlib.error:
        return None
    if not out:
        return None
    left = len(decomp.unconsumed_tail)
    if len(out) >= limit and not decomp.eof:
        left = max(1, left)  # output still pending inside the decoder
    return out, left


def _zlib_header(data: bytes) -> bool:
    """The two bytes zlib's inflate accepts as a zlib header (deflate, a window of at most 32 KiB, check bits)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0


def _brotli_bounded(data: bytes, limit: int) -> tuple[bytes, int] | None:
    try:
        import brotlicffi as brotli_stream
    except ImportError:  # brotli 1.1 has no output limit: small input steps bound each step's output instead
        brotli_stream = None
    chunks, size = [], 0
    if brotli_stream is not None:
        decomp = brotli_stream.Decompressor()
        for start in range(0, len(data), INFLATE_STEP):
            piece = decomp.process(data[start:start + INFLATE_STEP], output_buffer_limit=limit - size)
            chunks.append(piece)
            size += len(piece)
            while not decomp.can_accept_more_data() and size < limit:  # output the step left pending
                piece = decomp.process(b"", output_buffer_limit=limit - size)
                if not piece:
                    break
                chunks.append(piece)
                size += len(piece)
            if size >= limit and not decomp.is_finished():
                return b"".join(chunks), max(1, len(data) - start - INFLATE_STEP)
    else:
        import brotli
        decomp = brotli.Decompressor()
        for start in range(0, len(data), 256):
            piece = decomp.process(data[start:start + 256])
            chunks.append(piece[:limit - size])
            size += len(piece)
            if size >= limit:
                return b"".join(chunks), max(1, len(data) - start - 256)
    out = b"".join(chunks)
    return (out, 0) if out else None


def sniff_compression(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) > 2 and data[0] == 0x78 and data[1] in (0x01, 0x5E, 0x9C, 0xDA) and (data[0] * 256 + data[1]) % 31 == 0:
        return "zlib"
    return None


# -- protobuf without a schema ----------------------------------------------------------------------------
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
            key, pos = varint(data, pos, len(data))
            number, wire = key >> 3, key & 7
            if number < 1 or number > (1 << 29) - 1:
                return None
            if wire == 0:
                value, pos = varint(data, pos, len(data))
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
                length, pos = varint(data, pos, len(data))
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
    if _printable_ascii(text, data):
        return True
    if strict:
        return text.isprintable() or text.translate(_WHITESPACE_DROP).isprintable()
    return _printable_text(text)


def _printable_ascii(text: str, data: bytes) -> bool:
    """`text.isprintable()` when `text` (the UTF-8 decoding of `data`) is ASCII: 3x faster when it holds, and a
    control byte near the start answers at once (a binary blob is not copied whole)."""
    return text.isascii() and not data[:64].translate(None, _PRINTABLE_ASCII) \
        and not data.translate(None, _PRINTABLE_ASCII)


def _printable_text(text: str) -> bool:
    """`_printable` (lenient) of text already decoded from UTF-8."""
    if not text or text.isprintable():  # C-speed paths: a per-character generator took 1.4 s on 16 MiB
        return True
    sample = text[:_PRINTABLE_SAMPLE]
    good = sum(ch.isprintable() or ch in "\r\n\t" for ch in sample)
    return good >= 0.95 * len(sample)


_WHITESPACE_DROP = {ord("\r"): None, ord("\n"): None, ord("\t"): None}
_PRINTABLE_SAMPLE = 64 * 1024  # lenient check: the first 64 Ki characters decide


# -- the walker -------------------------------------------------------------------------------------------
_BASE64_WHOLE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+={0,2}$")
_BASE64_TOKEN = re.compile(rb"[A-Za-z0-9+/_-]{%d,}={0,2}" % 24)
_JWT = re.compile(r"^(?:Bearer\s+)?(eyJ[A-Za-z0-9_-]+)\.(eyJ[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$")


def _has_space(text: str) -> bool:
    """Whether `re.search(r"\\s", text)` finds something, without the regex engine's work per character (6.6 us
    over a 2 KB form body; this 1.2): str.split() and the pattern's \\s both take the characters str.isspace()
    names (Py_UNICODE_ISSPACE), and a text without any is its own one piece."""
    return bool(text) and text.split(None, 1) != [text]


def _looks_like_form(text: str) -> bool:
    """`a=1&b=2`: no whitespace, and every `&` piece is a `name=value` pair (a plain split: no regex backtracking)."""
    if "=" not in text or _has_space(text[:65536]):
        return False
    # at C speed: a piece starts with `=` only at the start or after an `&`; with an `=` in the text, some piece
    # is not empty
    if text.startswith("=") or "&=" in text:
        return False
    return all(map(operator.contains, filter(None, text.split("&")), itertools.repeat("=")))


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """`urllib.parse.parse_qsl(text, keep_blank_values=True)`, with unquoting only where there is something to
    unquote (most names and values have no `%` or `+`)."""
    out = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in name or "+" in name:
            name = _unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = _unquote(value.replace("+", " "))
        out.append((name, value))
    return out


_unquote = percent.unquote   # urllib.parse.unquote, at C speed where it can be


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
    if decoded[0] <= 1 and _grpc_frames(decoded):   # gRPC-Web's text mode: the frames in base64
        return True
    return parse_protobuf(decoded) is not None and len(decoded) >= 8


class Walker:
    def __init__(self, capture_budget: CaptureBudget | None = None) -> None:
        self.budget = _Budget()
        self.segments: list[Segment] = []
        # JSON true/false leaves: not searched (no identifier is a boolean), yet `is_rooted: false` is what a
        # tracker adapter reads (audit/traffic/adapters.py); kept aside, outside the segment budget
        self.booleans: list[Segment] = []
        self.capture_budget = capture_budget
        self.inflated = 0                # decompressed bytes of this request
        # limit -> [bound, unit, first place, amount dropped]: what a cap left undecoded, for the report
        self.limits: dict[str, list] = {}
        self.drops = 0
        self.inflations = 0              # decompressions tried (what `_below_remembered` must not skip)

    def dropped(self, limit: str, bound: int, where: str, amount: int, unit: str) -> None:
        self.drops += 1
        entry = self.limits.get(limit)
        if entry is None:
            self.limits[limit] = [bound, unit, where, amount]
        else:
            entry[3] += amount

    def emit(self, where: str, data: bytes) -> bool:
        if not data:
            return False
        budget = self.budget
        if budget.segments >= MAX_SEGMENTS or budget.bytes + len(data) > MAX_TOTAL_BYTES:
            budget.exhausted = True
            budget.refused_bytes += len(data)
            return False
        budget.segments += 1
        budget.bytes += len(data)
        self.segments.append(_new_segment(Segment, (where, data)))
        return True

    def inflate(self, where: str, data: bytes, method: str) -> bytes | None:
        """Decompress within the budgets (one input, this request, the capture); a cut is recorded, what was
        decompressed up to it is kept and searched."""
        self.inflations += 1
        # per input: no more than a compression ratio real payloads reach (a 151-byte double gzip is no 16 MiB)
        limit = bound = min(MAX_INFLATE_BYTES, INFLATE_FLOOR + INFLATE_RATIO * len(data))
        name = "decompressed bytes per input"
        if MAX_TOTAL_BYTES - self.inflated < limit:
            limit, name, bound = MAX_TOTAL_BYTES - self.inflated, "decompressed bytes per request", MAX_TOTAL_BYTES
        capture = self.capture_budget
        if capture is not None and capture.left < limit:
            limit, name, bound = capture.left, "decompressed bytes per capture", capture.bound
        if limit <= 0:
            if sniff_compression(data) or method:
                self.dropped(name, bound, where, len(data), "compressed bytes")
            return None
        result = inflate_bounded(data, method, limit)
        if result is None:
            return None
        out, left = result
        self.inflated += len(out)
        if capture is not None:
            capture.left -= len(out)
        if left:
            self.dropped(name, bound, where, left, "compressed bytes")
        return out

    # A value (a header, a parameter, a body, a JSON string ...): emit it, then everything under it.
    def value(self, where: str, data: bytes, layers: int = 0, content_type: str = "") -> None:
        size = len(data)
        budget = self.budget  # emit(), inlined: this runs for every value of every request
        if not size or budget.segments >= MAX_SEGMENTS or budget.bytes + size > MAX_TOTAL_BYTES:
            if size:
                budget.exhausted = True
                budget.refused_bytes += size
            return
        budget.segments += 1
        budget.bytes += size
        self.segments.append(_new_segment(Segment, (where, data)))
        if size < 4:
            return
        if content_type:
            self._below(where, data, layers, content_type)
            return
        if size > _LEAF_MEMO_BYTES:
            self._below_remembered(where, data, layers)
            return
        # Most values are short text with nothing below (the same device model, event name or UUID in every
        # request): checked at C speed, and a value once found to have nothing below is not checked again.
        if data in _NOTHING_BELOW and layers < MAX_LAYERS:   # (at the cap `_below` records what it leaves)
            return
        if _terminal(data):
            if len(_NOTHING_BELOW) >= _LEAF_MEMO_ENTRIES:
                _NOTHING_BELOW.clear()   # (unique values, timestamps, fill it: forgotten all at once, re-learnt)
            _NOTHING_BELOW[data] = None
            return
        if self._found_nothing_below(where, data, layers):
            if len(_NOTHING_BELOW) >= _LEAF_MEMO_ENTRIES:
                _NOTHING_BELOW.clear()
            _NOTHING_BELOW[data] = None

    def _below_remembered(self, where: str, data: bytes, layers: int) -> None:
        """`_below` for a longer value (a field list, a long user agent): remembered, within a byte budget, when
        nothing was below it (`_found_nothing_below`)."""
        if len(data) > _LONG_MEMO_VALUE_BYTES or layers >= MAX_LAYERS:
            self._below(where, data, layers, "")
            return
        if data in _LONG_NOTHING_BELOW:
            return
        if self._found_nothing_below(where, data, layers):
            global _long_memo_bytes
            if _long_memo_bytes + len(data) > _LONG_MEMO_TOTAL_BYTES:
                _LONG_NOTHING_BELOW.clear()   # forgotten all at once, re-learnt
                _long_memo_bytes = 0
            _LONG_NOTHING_BELOW[data] = None
            _long_memo_bytes += len(data)

    def _found_nothing_below(self, where: str, data: bytes, layers: int) -> bool:
        """`_below`, and whether what it found below `data` is nothing, whatever lies outside the value: no
        segment, no JSON true/false leaf (`{"is_rooted":false}`: the tracker adapters read them), no drop, no
        decompression tried (its outcome depends on the capture's budget), in budgets that did not stop it (the
        segment budget, the cap on kept booleans), below the layer cap (at the cap `_below` records what it
        leaves). What the memos of values with nothing below may remember."""
        before, drops, inflations = len(self.segments), self.drops, self.inflations
        exhausted, booleans = self.budget.exhausted, len(self.booleans)
        self._below(where, data, layers, "")
        return len(self.segments) == before and len(self.booleans) == booleans < MAX_BOOLEANS \
            and self.drops == drops and self.inflations == inflations \
            and not self.budget.exhausted and not exhausted and layers < MAX_LAYERS

    def _below(self, where: str, data: bytes, layers: int, content_type: str) -> None:
        if layers >= MAX_LAYERS:
            if _has_layer(data):
                self.dropped("decoding layers", MAX_LAYERS, where, 1, "values")
            return
        method = sniff_compression(data)
        if method:
            inflated = self.inflate(where, data, method)
            if inflated:
                self.value(f"{where}.{method}", inflated, layers + 1, content_type)
            return
        ctype = content_type.lower()
        if data[:1] in (b"\x00", b"\x01") and len(data) >= 5:
            frames = _grpc_frames(data)
            if frames:
                for compressed, payload in frames:
                    if compressed:
                        payload = self.inflate(where, payload, "gzip") or payload
                    self._grpc_message(f"{where}.grpc", payload, layers + 1)
                return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._protobuf(where + ".protobuf", data, layers + 1)
            return
        if not _printable_ascii(text, data) and not _printable_text(text) \
                and self._protobuf(where + ".protobuf", data, layers + 1):
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
                    claims = None if _json_values_over(decoded[0]) else json.loads(decoded[0], parse_float=Decimal)
                except (ValueError, RecursionError):
                    claims = None
                if isinstance(claims, (dict, list)):
                    self._walk_json(f"{where}.{name}", claims, "", 0, layers + 1)
                else:
                    self.value(f"{where}.{name}", decoded[0], layers + 1)
            return
        if len(stripped) >= MIN_BASE64_LEN and _BASE64_WHOLE.match(stripped) and not stripped.isdigit() \
                and not _HEX_WHOLE.match(stripped):
            decoded = _b64decode(stripped)
            if decoded and _worth_decoding(decoded[0]):
                self.value(f"{where}.{decoded[1]}", decoded[0], layers + 1)
                return
        if _looks_like_form(stripped) or "x-www-form-urlencoded" in ctype:
            if self._form(where + ".form", stripped, layers):
                return
        if len(stripped) > 48:
            self._embedded_base64(where, data, layers)

    def _grpc_message(self, where: str, payload: bytes, layers: int) -> None:
        """One gRPC message: protobuf, or JSON (gRPC's JSON codec)."""
        if payload[:1] in (b"{", b"["):
            try:
                if self._json(where, payload.decode("utf-8"), layers):
                    return
            except UnicodeDecodeError:
                pass
        self._protobuf(where, payload, layers)

    def _json(self, where: str, text: str, layers: int) -> bool:
        values = _json_values_over(text)
        if values:
            self.dropped("JSON values per text", MAX_JSON_VALUES, where, values, "values")
            return False
        try:
            doc = _parse_json(text)
        except RecursionError:
            return False
        except ValueError:
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) < 2:
                return False
            docs = []
            for line in lines[:MAX_NDJSON_LINES]:
                try:
                    docs.append(_parse_json(line))
                except (ValueError, RecursionError):
                    return False
            if len(lines) > MAX_NDJSON_LINES:
                self.dropped("NDJSON lines", MAX_NDJSON_LINES, where, len(lines) - MAX_NDJSON_LINES, "lines")
            doc = docs
        if isinstance(doc, str):
            self.value(f"{where}.json", doc.encode("utf-8", "surrogatepass"), layers + 1)
            return True
        self._walk_json(f"{where}.json", doc, "", 0, layers)
        return True

    def _walk_json(self, prefix: str, node, path: str, depth: int, layers: int) -> None:
        self._walk(f"{prefix}:{path}", bool(path), node, depth, layers)

    def _walk(self, place: str, nested: bool, node, depth: int, layers: int) -> None:
        """The values of a JSON node at `place` (`<prefix>:<path>`; `nested`: the path is not empty)."""
        budget = self.budget
        if budget.exhausted:
            return
        if depth > MAX_JSON_DEPTH:
            self.dropped("JSON depth", MAX_JSON_DEPTH, place, 1, "values")
            return
        kind = type(node)
        # Each child's place is made by one concatenation: `<place>.<key>` (JSON keys are str: the key is its own
        # text) or `<place>[<index>]`.
        if kind is dict:
            dot = place + "." if nested else place
            children = node.items()
        elif kind is list:
            dot = place
            children = zip(_INDEX_KEYS if len(node) <= len(_INDEX_KEYS) else [f"[{i}]" for i in range(len(node))],
                           node)
        else:
            dot = place
            children = (("", node),)  # a scalar document
        # The leaves are most of a document: emitted here without a call each when nothing can be below them
        # (emit() and the start of value(), inlined).
        append = self.segments.append
        nothing_below = _NOTHING_BELOW if layers + 1 < MAX_LAYERS else {}
        for key, child in children:
            where = dot + key
            kind = type(child)
            if kind is str:
                data = child.encode() if child.isascii() else child.encode("utf-8", "surrogatepass")
                size = len(data)
                if size >= 4 and data not in nothing_below:
                    self.value(where, data, layers + 1)
                    continue
            elif child is None:
                continue
            elif kind is bool:
                if len(self.booleans) < MAX_BOOLEANS:
                    self.booleans.append(_new_segment(Segment, (where, b"true" if child else b"false")))
                continue
            elif kind is dict or kind is list:
                self._walk(where, True, child, depth + 1, layers)
                continue
            else:  # int or Decimal: keep the digits as sent (52.5200 stays 52.5200)
                data = str(child).encode()
                size = len(data)
            if not size:
                continue
            if budget.segments >= MAX_SEGMENTS or budget.bytes + size > MAX_TOTAL_BYTES:
                budget.exhausted = True
                budget.refused_bytes += size
                continue
            budget.segments += 1
            budget.bytes += size
            append(_new_segment(Segment, (where, data)))

    def _form(self, where: str, text: str, layers: int) -> bool:
        pairs = parse_pairs(text)
        if not pairs:
            return False
        if len(pairs) > MAX_PAIRS:
            self.budget.exhausted = True  # the rest stays searched in the raw text, not by name
            self.dropped("parameters decoded by name", MAX_PAIRS, where, len(pairs) - MAX_PAIRS, "parameters")
        head = where + ":"
        self.values([(head + name, value) for name, value in pairs[:MAX_PAIRS]], layers + 1)
        return True

    def values(self, items: list[tuple[str, str]], layers: int) -> None:
        """`value(where, text as UTF-8, layers)` for each (where, text), in order; the values with nothing below
        (short, or remembered) emitted without a call (emit() and the start of value(), inlined)."""
        budget = self.budget
        append = self.segments.append
        nothing_below = _NOTHING_BELOW if layers < MAX_LAYERS else {}
        for where, text in items:
            data = text.encode() if text.isascii() else text.encode("utf-8", "surrogatepass")
            size = len(data)
            if size >= 4 and data not in nothing_below:
                self.value(where, data, layers)
                continue
            if not size:
                continue
            if budget.segments >= MAX_SEGMENTS or budget.bytes + size > MAX_TOTAL_BYTES:
                budget.exhausted = True
                budget.refused_bytes += size
                continue
            budget.segments += 1
            budget.bytes += size
            append(_new_segment(Segment, (where, data)))

    def _multipart(self, where: str, data: bytes, ctype: str, layers: int) -> bool:
        match = re.search(r'(?i)boundary="?([^";]+)"?', ctype)
        if not match:
            return False
        boundary = b"--" + match.group(1).encode("latin-1", "replace")
        # split no further than the parts read: a 32 MiB body of 1-byte parts was 6.7 M objects (+440 MiB)
        parts = data.split(boundary, MAX_MULTIPART_PARTS + 1)
        found = False
        for index, part in enumerate(parts[1:]):
            if part.startswith(b"--"):
                break
            if index >= MAX_MULTIPART_PARTS:   # `part` is the rest, unsplit
                self.dropped("multipart parts", MAX_MULTIPART_PARTS, where, 1 + part.count(boundary), "parts")
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
        # where the first 24 base64 characters in a row are, found at C speed (the regex walks every byte of a
        # 16 MiB body at ~30 MB/s): most large bodies have none, and the regex starts there
        first = data.translate(_BASE64_MASK).find(b"A" * 24)
        if first < 0:
            return
        tokens = _BASE64_TOKEN.finditer(data, first)
        for count, match in enumerate(tokens):
            if self.budget.exhausted:
                return
            if count >= MAX_EMBEDDED_TOKENS:
                left = 1 + sum(1 for _ in tokens)
                self.dropped("base64 tokens tried per text", MAX_EMBEDDED_TOKENS, where, left, "tokens")
                return
            token = match.group(0).decode("ascii")
            if token.isdigit() or _HEX_WHOLE.match(token):
                continue
            decoded = _b64decode(token)
            if decoded and _worth_decoding(decoded[0]):
                self.value(f"{where}.{decoded[1]}", decoded[0], layers + 1)


_HEX_WHOLE = re.compile(r"[0-9a-fA-F]+\Z")


def _json_values_over(text: str | bytes) -> int:
    """How many values a JSON text may hold (commas and opening brackets, counted at C speed) when that is more
    than MAX_JSON_VALUES, else 0. Parsed JSON costs up to 25x its text: 16 MiB of `[{},{},...]` (from 16 KB of
    gzip) held 870 MB for 15 s. A text of fewer than 2 bytes a value cannot pass the bound: not counted."""
    if len(text) < 2 * MAX_JSON_VALUES:
        return 0
    comma, brace, bracket = (",", "{", "[") if isinstance(text, str) else (b",", b"{", b"[")
    count = text.count(comma) + text.count(brace) + text.count(bracket) + 1
    return count if count > MAX_JSON_VALUES else 0


_parse_json = json.JSONDecoder(parse_float=Decimal).decode   # json.loads(text, parse_float=...) makes one per call
_LEAF_MEMO_BYTES = 128                   # values up to this size are remembered when nothing is below them
_LEAF_MEMO_ENTRIES = 65_536              # at most this many (~10 MiB), then forgotten all at once
_NOTHING_BELOW: dict[bytes, None] = {}
_INDEX_KEYS = [f"[{index}]" for index in range(1024)]   # a JSON list's places: `<place>` + this
_LONG_MEMO_VALUE_BYTES = 4096            # longer values with nothing below are remembered apart, up to this size ...
_LONG_MEMO_TOTAL_BYTES = 8 * 1024 * 1024 # ... and this many bytes in all, then forgotten all at once
_LONG_NOTHING_BELOW: dict[bytes, None] = {}
_long_memo_bytes = 0
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_HEX_BYTES = b"0123456789abcdefABCDEF"
_BASE64_MASK = bytes(65 if byte in _BASE64_BYTES else 46 for byte in range(256))  # base64 -> "A", else "."
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def _grpc_frames(data: bytes) -> list[tuple[bool, bytes]] | None:
    """A gRPC body's length-prefixed messages (flag byte 0/1: compressed, 4-byte length), when they tile it: a
    streaming call sends many in one body. The last may be cut (a capture that stopped mid-stream) when whole ones
    came before it. None when the bytes are not such frames."""
    frames, pos, size = [], 0, len(data)
    while pos < size:
        if size - pos < 5 or data[pos] > 1 or len(frames) >= MAX_GRPC_FRAMES:
            return None
        length = int.from_bytes(data[pos + 1:pos + 5], "big")
        end = pos + 5 + length
        if end > size:
            if not frames:
                return None
            frames.append((False, data[pos + 5:]))   # cut: a compressed one could not be inflated anyway
            return frames
        frames.append((data[pos] == 1, data[pos + 5:end]))
        pos = end
    return frames


def _terminal(data: bytes) -> bool:
    """Short printable text that no layer can start from (what `Walker.value` would find nothing under):
    not JSON, not a compressed stream, no `=` (form, padding), no JWT, and not a base64 candidate."""
    if len(data) > 48 or data.translate(None, _PRINTABLE_ASCII):
        return False
    if data[:1] in b'{["x \t' or b"=" in data or b"eyJ" in data:
        return False
    if len(data) >= MIN_BASE64_LEN and not data.translate(None, _BASE64_BYTES):
        # base64 alphabet only: a candidate unless hex/digits only (never decoded) or a UUID (never base64)
        return not data.translate(None, _HEX_BYTES) or bool(_UUID.match(data))
    return True


def _has_layer(data: bytes) -> bool:
    """Whether `Walker.value` would decode something below `data` (for counting what the layer cap left)."""
    if sniff_compression(data) or data.translate(None, _PRINTABLE_ASCII + b"\t\r\n"):
        return True
    stripped = data.strip()
    return stripped[:1] in (b"{", b"[", b'"') or (len(stripped) >= MIN_BASE64_LEN and
                                                   not stripped.rstrip(b"=").translate(None, _BASE64_BYTES)
                                                   and bool(stripped.translate(None, _HEX_BYTES)))


@dataclass
class Decoded:
    """A request's searchable segments, and what the decoding bounds left out: limit -> (bound, unit, first
    place, amount dropped)."""

    segments: list[Segment]
    limits: dict[str, tuple[int, str, str, int]]
    booleans: list[Segment] = field(default_factory=list)   # JSON true/false leaves, for the tracker adapters

    @property
    def exhausted(self) -> bool:
        return bool(self.limits)


def decode_request(request: Request, capture_budget: CaptureBudget | None = None) -> Decoded:
    """Every searchable segment of a request, and every bound that cut the decoding short."""
    walker = Walker(capture_budget)
    target = request.target or "/"
    path, _, query = target.partition("?")
    walker.emit("path", path.encode("utf-8", "surrogatepass"))
    for index, piece in enumerate(filter(None, path.split("/"))):
        if len(piece) >= MIN_BASE64_LEN:
            # encoded first with surrogatepass, as every other place: a path may hold lone surrogates (a HAR's
            # `\udcff` escape, mitmproxy's surrogateescape of non-UTF-8 bytes); unquote_to_bytes(str) refuses them
            raw = piece.encode("utf-8", "surrogatepass")
            decoded = unquote_to_bytes(raw) if "%" in piece else raw
            if decoded in _NOTHING_BELOW or _terminal(decoded):
                continue
            # only the layers below a path piece: its text is already in "path"
            sub = Walker(capture_budget)
            sub.budget, sub.limits = walker.budget, walker.limits
            sub.value(f"path:{index}", decoded, 0)
            walker.segments.extend(s for s in sub.segments if s.where != f"path:{index}")
            walker.booleans += sub.booleans
    if query:
        walker.emit("query", query.encode("utf-8", "surrogatepass"))
        pairs = parse_pairs(query)
        if len(pairs) > MAX_PAIRS:
            walker.budget.exhausted = True
            walker.dropped("parameters decoded by name", MAX_PAIRS, "query", len(pairs) - MAX_PAIRS, "parameters")
        walker.values([("query:" + name, value) for name, value in pairs[:MAX_PAIRS]], 0)
    content_type = ""
    content_encoding = ""
    headers: list[tuple[str, str]] = []   # (place, value), emitted together below, in order
    places = _HEADER_PLACES
    for name, value in request.headers:
        place = places.get(name)
        if place is not None:   # (most headers: their name seen before, not one of _HEADERS_APART)
            headers.append((place, value))
            continue
        lname = name.lower()
        if lname in _HEADERS_APART:
            if lname == "content-type":
                content_type = value
            elif lname == "content-encoding":
                content_encoding = value
            elif lname == "cookie":
                for pair in value.split(";"):
                    key, sep, cookie = pair.strip().partition("=")
                    if sep:
                        headers.append(("cookie:" + key, cookie))
                continue
            else:
                continue   # content-length, host, :authority, :path: not sent by the app's choice
        else:
            if len(places) >= _HEADER_PLACES_MAX:
                places.clear()
            places[name] = "header:" + lname
        headers.append(("header:" + lname, value))
    walker.values(headers, 0)
    body = request.body
    if request.body_dropped:
        walker.dropped("body bytes", MAX_BODY_BYTES, "body", request.body_dropped, "bytes")
    if body:
        # Content-Encoding is transport: undo it without naming it in `where` (HAR tools often store it undone).
        sent, cut = body, False
        for method in [m.strip().lower() for m in content_encoding.split(",") if m.strip()][::-1]:
            if method in ("identity", ""):
                continue
            drops = walker.drops
            inflated = walker.inflate("body", body, method)
            if inflated is None:
                break
            body = inflated
            if walker.drops != drops:
                cut = True
                break  # cut by a budget: what was decompressed is searched, and the bytes as sent (below)
        walker.value("body", body, 0, content_type)
        if cut:
            # a compressor stores short literals as they are: an identifier past the cut may still be in them
            walker.emit("body.as-sent", sent)
    if walker.budget.refused_bytes:
        walker.dropped("searched bytes per request", MAX_TOTAL_BYTES, "request", walker.budget.refused_bytes,
                       "bytes")
    limits = {name: tuple(entry) for name, entry in walker.limits.items()} if walker.limits else {}
    return Decoded(walker.segments, limits, walker.booleans)


_HEADERS_APART = frozenset(("content-type", "content-encoding", "cookie", "content-length", "host", ":authority",
                            ":path"))
_HEADER_PLACES: dict[str, str] = {}     # header name as sent -> its place, for names not among _HEADERS_APART
_HEADER_PLACES_MAX = 4096               # names remembered, then forgotten all at once


def request_segments(request: Request) -> tuple[list[Segment], bool]:
    """Every searchable segment of a request, and whether a bound cut the decoding short."""
    decoded = decode_request(request)
    return decoded.segments, decoded.exhausted


class LimitTally:
    """The decoding bounds hit by the requests of the captures: one record per capture and limit (the first place
    it was hit, the number of requests, the amount dropped in all), in the order they were first hit."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], list] = {}

    def add(self, capture: str, request_id: str, limits: dict[str, tuple[int, str, str, int]]) -> None:
        for limit, (bound, unit, where, amount) in limits.items():
            record = self._records.get((capture, limit))
            if record is None:
                self._records[(capture, limit)] = [bound, unit, f"{capture} {request_id} {where}", amount, 1]
            else:
                record[3] += amount
                record[4] += 1

    def hits(self, capture: str | None = None) -> list[LimitHit]:
        """The records (of one capture, or of all)."""
        out = []
        for (path, limit), (bound, unit, where, amount, requests) in self._records.items():
            if capture is not None and path != capture:
                continue
            if requests > 1:
                where += f" (and {requests - 1} more request{'s' if requests > 2 else ''})"
            out.append(LimitHit(limit, bound, where, amount, unit))
        return out
