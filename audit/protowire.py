"""Protocol Buffers' wire format where two stages read it: the .aab manifest (static/protoxml.py, a known schema)
and request bodies (traffic/decode.py, no schema)."""
from __future__ import annotations


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf encoding."""


def varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The base-128 varint at `pos` and the position after it; at most 10 bytes, never past `end`."""
    result = shift = 0
    for _ in range(10):
        if pos >= end:
            raise WireError(f"truncated varint at {pos}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise WireError(f"varint longer than 10 bytes at {pos}")
