"""The Public Suffix List, parsed once per installation instead of once per process.

publicsuffixlist parses its 10 000-line file on every start (each rule also IDNA-encoded): ~40 ms, a twentieth of
a whole scan. The parsed state of the object (its instance attributes: a frozenset of rules, two scalars) is
kept as JSON beside the rules cache (audit/rulescache.py) and read back in a few milliseconds.

- The key is a hash of the list file's bytes, the library's version and the constructor's option, so an
  updated list or library is simply a different entry; nothing can go stale.
- Only plain state is stored (frozensets/sets of str, str, int, bool, None); anything else is not cached and
  the list is parsed as usual.
- An unreadable, corrupt or unwritable cache is a miss, never an error.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT = "1"
_SCALARS = (str, int, bool, type(None))


def public_suffix_list(accept_unknown: bool):
    """publicsuffixlist.PublicSuffixList(accept_unknown=...) over the list shipped with the library."""
    import publicsuffixlist
    from publicsuffixlist import PublicSuffixList
    try:
        with open(publicsuffixlist.PSLFILE, "rb") as handle:
            text = handle.read()
    except OSError:
        return PublicSuffixList(accept_unknown=accept_unknown)
    digest = hashlib.sha256(f"{FORMAT}\0{publicsuffixlist.__version__}\0{accept_unknown}\0".encode() + text)
    from .rulescache import cache_dir, read_entry
    entry = cache_dir().parent / "psl" / f"{digest.hexdigest()}.json"
    try:
        state = _decode(read_entry(entry))
        parsed = PublicSuffixList.__new__(PublicSuffixList)
        parsed.__dict__.update(state)
        return parsed
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    parsed = PublicSuffixList(accept_unknown=accept_unknown)
    _put(entry, parsed)
    return parsed


def _put(entry, parsed) -> None:
    try:
        blob = json.dumps({name: _encode(value) for name, value in vars(parsed).items()})
    except (TypeError, ValueError):
        return
    from .rulescache import write_entry
    write_entry(entry, blob)


def _encode(value: Any) -> Any:
    if type(value) in _SCALARS:
        return {"value": value}
    if type(value) in (frozenset, set) and all(type(item) is str for item in value):
        return {type(value).__name__: sorted(value)}
    raise TypeError(f"not cached: {type(value).__name__}")


def _decode(state: dict) -> dict[str, Any]:
    out = {}
    for name, item in state.items():
        (kind, value), = item.items()
        out[name] = {"value": lambda v: v, "frozenset": frozenset, "set": set}[kind](value)
    return out
