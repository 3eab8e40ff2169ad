"""A content-addressed cache of the parsed YAML files of rules/ (load_yaml's result, line numbers included).

Parsing the rules is a sixth of a scan's time (libyaml plus Python-level construction and the hostile-input
bounds, ~45 ms for the six files a scan reads); reading the same tree back from JSON takes ~5 ms.

- Only files inside rules_dir() are cached: user documents (declarations, extra catalogues) are parsed afresh.
- The key is a hash of the file's text, the loader's bounds and the PyYAML version, so an edited rule file is
  simply a different entry; nothing can go stale.
- Only plain trees are stored: mappings (LineDict, with their key lines), lists, str, int, float, bool, None;
  a document with anything else (a date, a set) is not cached. A node shared through an alias or a merge key
  comes back as equal copies, which is the same to every reader of rules/ (they only read; the loader has
  already bounded the expanded size).
- Entries live in $APPAUDIT_HOME/cache/rules (else $XDG_CACHE_HOME/appaudit/rules, else
  ~/.cache/appaudit/rules), written atomically. An unreadable, corrupt or unwritable cache is a miss, never an
  error: the file is then parsed as usual.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

MISS = object()
FORMAT = "1"
_SCALARS = (str, int, float, bool, type(None))


def cache_dir() -> Path:
    base = os.environ.get("APPAUDIT_HOME")
    if base:
        return Path(base) / "cache" / "rules"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "appaudit" / "rules"


def digest(path: Path, text: str, salt: str) -> str | None:
    """The content key of a rules/ document, or None when it is not a rules/ file."""
    from .rulesdata import rules_dir
    try:
        if rules_dir().resolve() not in path.resolve().parents:
            return None
    except (OSError, RuntimeError):
        return None
    return hashlib.sha256(f"{FORMAT}\0{salt}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def marked(name: str) -> bool:
    """Whether `mark(name)` was done before (rulesdata.validate: this document passed this schema)."""
    return os.path.exists(cache_dir() / f"{name}.ok")


def mark(name: str) -> None:
    """An empty file named for a fact about a content key; one that cannot be written is simply not there."""
    try:
        cache_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        (cache_dir() / f"{name}.ok").touch()
    except OSError:
        pass


def get(key: str | None) -> Any:
    """The document cached under `key` (digest()), or MISS."""
    if key is None:
        return MISS
    try:
        return _decode(read_entry(cache_dir() / f"{key}.json"))
    except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError):
        return MISS


def put(key: str | None, value: Any) -> None:
    if key is None:
        return
    entry = cache_dir() / f"{key}.json"
    try:
        blob = json.dumps(_encode(value))      # ASCII: lone surrogates from YAML escapes survive
    except (_Uncacheable, ValueError, TypeError, RecursionError):
        return
    write_entry(entry, blob)


def read_entry(entry: Path) -> Any:
    """The JSON of one cache entry (at most 64 MiB read); OSError or ValueError when missing or not JSON."""
    with open(entry, "rb") as handle:
        return json.loads(handle.read(64 * 1024 * 1024))


def write_entry(entry: Path, blob: str) -> None:
    """Write one cache entry atomically (a private temporary file, then a rename); a failure leaves no entry
    and no temporary behind and is not an error."""
    temporary = entry.with_name(f".{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary.write_text(blob, encoding="ascii")
        os.replace(temporary, entry)
    except OSError:
        try:
            temporary.unlink()
        except OSError:
            pass


class _Uncacheable(Exception):
    pass


def _encode(value: Any) -> Any:
    from .rulesdata import LineDict
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is LineDict:
        items = []
        for key, item in value.items():
            if type(key) not in _SCALARS or key not in value.key_lines:
                raise _Uncacheable
            items.append([key, value.key_lines[key], _encode(item)])
        return ["m", value.line, items]
    if kind is list:
        return ["l", [_encode(item) for item in value]]
    raise _Uncacheable


def _decode(value: Any) -> Any:
    from .rulesdata import LineDict   # here, not per node: an import statement costs more than the node
    return _decode_tree(value, LineDict)


def _decode_tree(value: Any, line_dict: type) -> Any:
    if type(value) is not list:
        return value
    if value[0] == "l":
        return [_decode_tree(item, line_dict) for item in value[1]]
    if value[0] != "m":
        raise ValueError("not a cache entry")
    out = line_dict()
    out.line = value[1]
    out.key_lines = {}
    for key, line, item in value[2]:
        out[key] = _decode_tree(item, line_dict)
        out.key_lines[key] = line
    return out
