"""Loading the data in rules/ and user-supplied YAML safely, with errors that name file, line and field.

YAML is read with a SafeLoader subclass: no tag constructs objects, and every mapping remembers the line of
each key so that validation errors can point at it.
"""
from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterable

from . import rulescache
from .errors import InputError
from .model import DataType

MAX_DATA_FILE_BYTES = 16 * 1024 * 1024   # JSON (parsed in C: 16 MiB reads in well under a second)
MAX_YAML_BYTES = 2 * 1024 * 1024         # rules and declarations are KBs (a full Exodus import: 110 KB)
MAX_NESTING = 64
MAX_NODES = 250_000                      # scalars + collections after expanding aliases ("billion laughs")
MAX_INT_DIGITS = 640                     # no real rule or identifier is longer; int() of 4301+ digits raises


def rules_dir() -> Path:
    override = os.environ.get("APPAUDIT_RULES")
    return Path(override) if override else data_dir("rules")


@functools.cache
def data_dir(folder: str) -> Path:
    """The data folder `rules` or `hooks` of the audit package in use. A wheel carries them inside the package
    (audit/_rules, audit/_hooks); a source checkout (editable install, or the tree on sys.path) has them beside
    the package, which wins over whatever an editable finder maps the names to, so that a second checkout reads
    its own rules."""
    shipped = Path(str(importlib.resources.files("audit"))) / f"_{folder}"
    if shipped.is_dir():
        return shipped
    beside = Path(__file__).resolve().parent.parent / folder
    if (beside / "__init__.py").is_file():
        return beside
    return Path(str(importlib.resources.files(f"audit._{folder}")))


class LineDict(dict):
    """A dict that knows the source line of each key (1-based), and of itself."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _LazyYaml:
    """PyYAML, imported on first use (~20 ms of start-up): with the rules cache warm (rulescache), a scan
    parses no YAML at all."""

    def __getattr__(self, name: str):
        import yaml as module
        globals()["yaml"] = module
        return getattr(module, name)


yaml = _LazyYaml()


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    # Keys merged in with `<<: *anchor` come first after flattening and may be overridden by the mapping's
    # own keys (that is what a merge is for); a key written twice in the mapping itself is an error: YAML
    # would silently keep the last value, so `collected: [x]` then `collected: []` would slip past every check.
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    first_own = len(node.value) - own
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    own_lines: dict = {}
    for position, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain scalars", key_node.start_mark)
        if position >= first_own:
            line = key_node.start_mark.line + 1
            if key in own_lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (lines {own_lines[key]} and {line}): keep one",
                    key_node.start_mark)
            own_lines[key] = line
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    if len(node.value) > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"number with {len(node.value)} digits (at most {MAX_INT_DIGITS})", node.start_mark)
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except (ValueError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(None, None, f"bad number: {exc}", node.start_mark) from None


@functools.lru_cache(maxsize=1)
def _loader() -> type:
    """The SafeLoader subclass every document is read with (made on first use, with PyYAML)."""
    # libyaml parses ~20x faster than the pure-Python parser: a 4 MiB hostile document costs seconds, not minutes.
    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        pass

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    return _Loader


def _prescan(text: str) -> None:
    """Depth and alias-expanded size from the parser's event stream, before any node is built: a YAML node
    costs ~350 bytes and ~2 us in Python, so a 2 MiB list of a million scalars would take a second and
    350 MB just to be refused afterwards. Events are counted and dropped (~1 us each, no memory)."""
    anchors: dict[str, int] = {}
    stack: list[list] = []           # [expanded size so far, anchor] per open collection
    expanded = 0

    def add(size: int, event) -> None:
        nonlocal expanded
        expanded += size
        if expanded > MAX_NODES:
            raise yaml.YAMLError(f"document expands to more than {MAX_NODES} values (alias bomb?) "
                                 f"at line {event.start_mark.line + 1}")
        if stack:
            stack[-1][0] += size

    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if len(stack) >= MAX_NESTING:
                raise yaml.YAMLError(f"nesting deeper than {MAX_NESTING} levels at line {event.start_mark.line + 1}")
            add(1, event)
            stack.append([1, event.anchor])
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            size, anchor = stack.pop()
            if anchor is not None:
                anchors[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            add(1, event)
            if event.anchor is not None:
                anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                open_ = any(frame[1] == event.anchor for frame in stack)
                raise yaml.YAMLError(f"{'recursive' if open_ else 'undefined'} alias *{event.anchor} "
                                     f"at line {event.start_mark.line + 1}")
            add(anchors[event.anchor], event)


def _check_tree(root: yaml.Node) -> None:
    """Depth and expanded size of the node graph, before anything is constructed from it.

    Aliases make the graph a DAG whose expansion can be exponential (a few lines of `&a [*a, *a, ...]`), and
    every consumer downstream (validators, reports) walks the expansion. Sizes are memoised per node, so this
    check itself is linear in the document; a node reached again while being sized is a recursive alias.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_NESTING:
            raise yaml.YAMLError(f"nesting deeper than {MAX_NESTING} levels at line {node.start_mark.line + 1}")
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise yaml.YAMLError(f"recursive alias at line {node.start_mark.line + 1}")
        open_.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, depth + 1) + size(v, depth + 1)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                total += size(v, depth + 1)
                if total > MAX_NODES:
                    break
        if total > MAX_NODES:
            raise yaml.YAMLError(f"document expands to more than {MAX_NODES} values (alias bomb?) "
                                 f"at line {node.start_mark.line + 1}")
        open_.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _check_json(doc: Any, path: Path) -> None:
    """The same depth and size bounds as YAML, iteratively (a 900-deep document parses, then breaks any
    recursive consumer)."""
    stack = [(doc, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_NESTING:
            raise InputError(f"{path}: nesting deeper than {MAX_NESTING} levels")
        if count > MAX_NODES:
            raise InputError(f"{path}: more than {MAX_NODES} values")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _read_text(path: Path, what: str, limit: int = MAX_DATA_FILE_BYTES) -> str:
    """A regular file's text, never more than `limit` bytes read: FIFOs and devices (`/dev/zero`, a named pipe
    nobody writes to) would hang or exhaust memory, so they are refused before they are opened."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} {path} is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what} {path} is not a regular file")
    if info.st_size > limit:
        raise InputError(f"{what} {path} is {info.st_size} bytes, larger than the {limit} allowed")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:   # grew since stat
        raise InputError(f"{what} {path} is larger than the {limit} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


@functools.lru_cache(maxsize=1)
def _cache_salt() -> str:
    """What else a parsed document depends on: a cache entry made under other bounds or another PyYAML (told
    by its installed files, without importing it) is not reused."""
    installed = []
    try:
        package = Path(importlib.util.find_spec("yaml").origin).parent     # finds, does not import
        for name in sorted(os.listdir(package)):
            if name == "__init__.py" or name.startswith("_yaml"):          # the Python side and libyaml's
                info = os.stat(package / name)
                installed.append(f"{package / name}:{info.st_size}:{info.st_mtime_ns}")
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        installed.append("yaml:unknown")
    return "|".join([*installed, str(MAX_YAML_BYTES), str(MAX_NESTING), str(MAX_NODES), str(MAX_INT_DIGITS)])


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Parse YAML (or JSON, a subset) safely; any problem becomes an InputError naming file and line."""
    path = Path(path)
    text = _read_text(path, what, MAX_YAML_BYTES)
    cached = rulescache.get(path, text, _cache_salt())     # rules/ files only: see rulescache
    if cached is not rulescache.MISS:
        return cached
    try:
        _prescan(text)
        loader = _loader()(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_tree(node)
            document = loader.construct_document(node)
            rulescache.put(path, text, _cache_salt(), document)
            return document
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"{path}{line}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise InputError(f"{path}: nesting too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:   # a constructor's own error (a bad date, a bad float)
        raise InputError(f"{path}: {what}: {' '.join(str(exc).split())[:200]}") from None


def load_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    text = _read_text(path, what)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nesting too deep") from None
    except ValueError as exc:   # a number of more than 4300 digits (Python's int-conversion limit)
        raise InputError(f"{path}: invalid JSON: a number too long to read (more than 4300 digits)") from None
    _check_json(doc, path)
    return doc


def load_data(path: str | Path, what: str = "file") -> Any:
    """JSON or YAML by suffix (YAML also reads JSON, but JSON errors are clearer from json)."""
    path = Path(path)
    return load_json(path, what) if path.suffix.lower() == ".json" else load_yaml(path, what)


_TYPE_NAMES = {str: "a string", int: "a number", bool: "true or false", list: "a list", dict: "a mapping"}


class Validator:
    """Checks one loaded document and reports the first problem as `file:line: field: message`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fail(self, container: Any, key: Any, message: str) -> None:
        line = container.line_of(key) if isinstance(container, LineDict) else None
        where = f"{self.path}:{line}" if line else f"{self.path}"
        field = f" {key}:" if key is not None else ""
        raise InputError(f"{where}:{field} {message}")

    def mapping(self, value: Any, context: Any = None, key: Any = None) -> dict:
        if not isinstance(value, dict):
            self.fail(context, key, f"expected a mapping, found {type(value).__name__}")
        return value

    def fields(self, mapping: dict, required: dict[str, type | tuple] = {},
               optional: dict[str, type | tuple] = {}, where: str = "") -> None:
        for name, kind in required.items():
            if name not in mapping:
                self.fail(mapping, None, f"{where}missing required field '{name}'")
            self.type(mapping, name, kind)
        for name in mapping:
            if name in required:
                continue
            if name not in optional:
                allowed = ", ".join(sorted([*required, *optional]))
                self.fail(mapping, name, f"unknown field (allowed: {allowed})")
            if mapping[name] is not None:
                self.type(mapping, name, optional[name])

    def type(self, mapping: dict, name: str, kind: type | tuple) -> None:
        value = mapping[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds)
        if not ok:
            expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            self.fail(mapping, name, f"expected {expected}, found {type(value).__name__}")

    def one_of(self, mapping: dict, name: str, choices: Iterable[str]) -> None:
        choices = list(choices)
        if mapping.get(name) not in choices:
            self.fail(mapping, name, f"{mapping.get(name)!r} is not one of: {', '.join(choices)}")


@functools.lru_cache(maxsize=None)
def _datatypes_from(path: str) -> dict[str, DataType]:
    raw = load_yaml(path, "data-type taxonomy")
    check = Validator(path)
    check.mapping(raw)
    types = check.mapping(raw.get("datatypes"), raw, "datatypes")
    out: dict[str, DataType] = {}
    for type_id, spec in types.items():
        check.mapping(spec, types, type_id)
        check.fields(spec, required={"label": str, "play": dict, "apple": str},
                     optional={"persistent": bool, "identifier": bool, "parent": str, "note": str,
                               "resettable": bool, "coordinates": bool})
        play = spec["play"]
        check.fields(play, required={"category": str, "type": str})
        parent = spec.get("parent")
        if parent is not None and parent not in types:
            check.fail(spec, "parent", f"unknown data type {parent!r}")
        out[type_id] = DataType(
            id=type_id, label=spec["label"], play_category=play["category"], play_type=play["type"],
            apple_category=spec["apple"], persistent=spec.get("persistent", False),
            identifier=spec.get("identifier", False), parent=parent, resettable=spec.get("resettable", False),
            coordinates=spec.get("coordinates", False))
    return out


def datatypes() -> dict[str, DataType]:
    """The taxonomy from rules/datatypes.yaml, keyed by dotted id."""
    return _datatypes_from(str(rules_dir() / "datatypes.yaml"))


def known_datatype(type_id: str) -> bool:
    return type_id in datatypes()


def covers(broad: str, narrow: str) -> bool:
    """True when data type `broad` is `narrow` or one of its ancestors (dotted prefix or declared parent)."""
    if broad == narrow or narrow.startswith(broad + "."):
        return True
    parent = datatypes().get(narrow)
    seen = set()
    while parent is not None and parent.parent and parent.parent not in seen:
        seen.add(parent.parent)
        if parent.parent == broad:
            return True
        parent = datatypes().get(parent.parent)
    return False
