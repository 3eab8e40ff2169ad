"""The traffic report's JSON text, written at the C encoder's speed: the same JSON value as
`audit.report.dumps_json` writes (keys sorted, non-ASCII kept), laid out one line per element.

`json.dumps(..., indent=2)` cannot use the C encoder (CPython's C encoder has no indentation): its Python encoder
costs a step per value, and on a report of 30 000 requests writing cost as much as decoding. So only the top
level is laid out here: each top-level key on its own line, and each element of a top-level list or dict (a
request, a transmission, a recipient) on a line of its own, rendered whole by the C encoder. The text is
deterministic and every line is short enough to read and to diff. `Lines` are elements already rendered (by
a template that writes what `compact` would: `scalar` for each value), written a block at a time.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, Callable, Iterable, Iterator

INDENT = "  "


class Rendered:
    """A list whose items are made while it is written, `make(source)` for each source (each rendered to text,
    then let go): `iter_lines` writes it as the list of those items."""

    def __init__(self, sources, make: Callable[[Any], Any]) -> None:
        self.sources = sources
        self.make = make

    @property
    def items(self):
        return (self.make(source) for source in self.sources)


class Lines:
    """A list whose elements are JSON text already (as `compact` writes them), given in blocks: each block one
    or more elements, one a line (JSON text holds no raw line break). `iter_lines` writes each block whole."""

    def __init__(self, blocks: Iterable[str]) -> None:
        self.blocks = blocks


def scalar(value: Any) -> str:
    """`value` (a string, number, bool or None; anything else through `compact`) as the C encoder writes it,
    without its call overhead: for lines written from a template."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0:   # finite: NaN and infinities as the encoder spells them
        return float.__repr__(value)
    return _encode(value)


def _as_list(value: Any) -> Any:
    if type(value) is Rendered:
        return list(value.items)
    if type(value) is Lines:
        return [json.loads(line) for block in value.blocks for line in block.split("\n")]
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# the C encoder (no indent): sorted keys, non-ASCII kept as it is, the standard separators
_encode = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=_as_list).encode


def compact(value: Any) -> str:
    """`value` as JSON text on one line (keys sorted, non-ASCII kept)."""
    return _encode(value)


def iter_lines(value: Any) -> Iterator[str]:
    """`value` as JSON text in pieces: a top-level dict key by key, and each element of a top-level list,
    `Rendered` list, `Lines` or dict on its own line (a `Rendered` item made, rendered, let go; a block of
    `Lines` written as one piece), so a report of any size is never held whole in memory."""
    if type(value) is not dict or not value or any(type(key) is not str for key in value):
        yield compact(value)
        return
    inner = "\n" + INDENT
    deeper = inner + INDENT
    head = "{" + inner
    for key in sorted(value):
        item = value[key]
        kind = type(item)
        name = head + encode_basestring(key) + ": "
        head = "," + inner
        if kind is Lines:
            opening, separator, written = name + "[" + deeper, "," + deeper, False
            for block in item.blocks:
                yield opening + block.replace("\n", separator)
                opening, written = separator, True
            yield inner + "]" if written else name + "[]"
        elif kind is Rendered or kind is list or kind is tuple:
            items = item.items if kind is Rendered else item
            opening, written = name + "[" + deeper, False
            for element in items:
                yield opening + _encode(element)
                opening, written = "," + deeper, True
            yield inner + "]" if written else name + "[]"
        elif kind is dict and item and all(type(k) is str for k in item):
            opening = name + "{" + deeper
            for k in sorted(item):
                yield opening + encode_basestring(k) + ": " + _encode(item[k])
                opening = "," + deeper
            yield inner + "}"
        else:
            yield name + _encode(item)
    yield "\n}"
