"""The traffic report's JSON text, byte for byte what `audit.report.dumps_json` writes, written faster.

`json.dumps(..., indent=2)` cannot use the C encoder (CPython's C encoder has no indentation), and its Python
encoder is a tower of generators, one step per value: on a report of 30 000 requests it cost as much as decoding
them. This writer visits containers only; scalars are rendered in the loop by C functions (the string escaper,
int/float repr). It renders the plain types a report holds (dict with str keys, list, tuple, str, int, float,
bool, None); anything else falls back to the standard encoder, so the text is always the standard one (the tests
compare the two).
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, Callable, Iterator

INDENT = "  "


class Rendered:
    """A list whose items are made while it is written, `make(source)` for each source (each rendered to text,
    then let go): `dumps_indented` writes it as the list of those items."""

    def __init__(self, sources, make: Callable[[Any], Any]) -> None:
        self.sources = sources
        self.make = make

    @property
    def items(self):
        return (self.make(source) for source in self.sources)


class _Unsupported(Exception):
    """A value this writer does not render exactly like `json.dumps`: let the standard encoder do it all."""


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


_SCALAR: dict[type, Callable[[Any], str]] = {
    str: encode_basestring, int: int.__repr__, float: _float,
    bool: lambda value: "true" if value else "false", type(None): lambda value: "null",
}


def dumps_indented(value: Any) -> str:
    """`json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)`."""
    parts: list[str] = []
    try:
        render = _SCALAR.get(type(value))
        if render is not None:
            return render(value)
        _container(value, parts.append, "\n")
    except (_Unsupported, RecursionError):
        return json.dumps(_materialised(value), indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(parts)


def iter_indented(value: Any) -> Iterator[str]:
    """`dumps_indented(value)` in pieces, for a writer that streams: a top-level dict key by key, and each item
    of a top-level `Rendered` list on its own (made, rendered, let go), so a report of any size is never held
    whole in memory. An item this writer cannot render exactly is rendered by the standard encoder alone."""
    if type(value) is not dict or not value or any(type(key) is not str for key in value):
        yield dumps_indented(value)
        return
    inner = "\n" + INDENT
    head = "{" + inner
    for key in sorted(value):
        item = value[key]
        if type(item) is Rendered:
            opening, written = head + encode_basestring(key) + ": [" + inner + INDENT, False
            for element in item.items:
                yield opening + _item_text(element, inner + INDENT)
                opening, written = "," + inner + INDENT, True
            yield inner + "]" if written else head + encode_basestring(key) + ": []"
        else:
            yield head + encode_basestring(key) + ": " + _item_text(item, inner)
        head = "," + inner
    yield "\n}"


def _item_text(item: Any, newline: str) -> str:
    render = _SCALAR.get(type(item))
    if render is not None:
        return render(item)
    parts: list[str] = []
    try:
        _container(item, parts.append, newline)
    except (_Unsupported, RecursionError):
        # the standard encoder indents from the left margin: each of its line breaks moved to this depth
        return json.dumps(_materialised(item), indent=2, sort_keys=True, ensure_ascii=False).replace("\n", newline)
    return "".join(parts)


def _materialised(value: Any) -> Any:
    """The value with every `Rendered` made a list (for the standard encoder)."""
    if isinstance(value, Rendered):
        return [_materialised(item) for item in value.items]
    if type(value) is dict:
        return {key: _materialised(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return [_materialised(item) for item in value]
    return value


def _container(value: Any, out: Callable[[str], None], newline: str) -> None:
    kind = type(value)
    if kind is dict:
        if not value:
            out("{}")
            return
        keys = list(value)
        for key in keys:
            if type(key) is not str:
                raise _Unsupported  # the standard encoder converts (or refuses) other key types
        keys.sort()
        inner = newline + INDENT
        head = "{" + inner
        for key in keys:
            item = value[key]
            render = _SCALAR.get(type(item))
            if render is not None:
                out(head + encode_basestring(key) + ": " + render(item))
            else:
                out(head + encode_basestring(key) + ": ")
                _container(item, out, inner)
            head = "," + inner
        out(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out("[]")
            return
        inner = newline + INDENT
        head = "[" + inner
        for item in value:
            render = _SCALAR.get(type(item))
            if render is not None:
                out(head + render(item))
            else:
                out(head)
                _container(item, out, inner)
            head = "," + inner
        out(newline + "]")
    elif kind is Rendered:
        inner = newline + INDENT
        head = "[" + inner
        for item in value.items:
            piece: list[str] = []
            render = _SCALAR.get(type(item))
            if render is not None:
                piece.append(head + render(item))
            else:
                piece.append(head)
                _container(item, piece.append, inner)
            out("".join(piece))  # one string per item: the item's dicts are let go now
            head = "," + inner
        out("[]" if head[0] == "[" else newline + "]")
    else:
        raise _Unsupported
