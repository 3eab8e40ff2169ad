"""The traffic report's JSON text, byte for byte what `audit.report.dumps_json` writes, written faster.

`json.dumps(..., indent=2)` cannot use the C encoder (CPython's C encoder has no indentation), and its Python
encoder is a tower of generators: on a report of 30 000 requests it took longer than reading and decoding the
capture. This writer is one recursive function over the plain types a report holds (dict with str keys, list,
tuple, str, int, float, bool, None) with the C string escaper; anything else falls back to the standard encoder,
so the text is always the standard one (the tests compare the two on every report they make).
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, Callable

INDENT = "  "


class _Unsupported(Exception):
    """A value this writer does not render exactly like `json.dumps`: let the standard encoder do it all."""


def dumps_indented(value: Any) -> str:
    """`json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)`."""
    parts: list[str] = []
    try:
        _write(value, parts.append, "\n")
    except (_Unsupported, RecursionError):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(parts)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _write(value: Any, out: Callable[[str], None], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out(encode_basestring(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif kind is int:
        out(int.__repr__(value))
    elif kind is float:
        out(_float(value))
    elif kind is dict:
        if not value:
            out("{}")
            return
        if any(type(key) is not str for key in value):
            raise _Unsupported  # the standard encoder converts (or refuses) other key types
        inner = newline + INDENT
        opening = "{" + inner
        between = "," + inner
        for index, key in enumerate(sorted(value)):
            out((between if index else opening) + encode_basestring(key) + ": ")
            _write(value[key], out, inner)
        out(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out("[]")
            return
        inner = newline + INDENT
        out("[" + inner)
        between = "," + inner
        for index, item in enumerate(value):
            if index:
                out(between)
            _write(item, out, inner)
        out(newline + "]")
    else:
        raise _Unsupported
