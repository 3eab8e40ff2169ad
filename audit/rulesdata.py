"""Loading the data in rules/ and user-supplied YAML safely, with errors that name file, line and field.

YAML is read with a SafeLoader subclass: no tag constructs objects, and every mapping remembers the line of
each key so that validation errors can point at it.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import InputError
from .model import DataType

MAX_DATA_FILE_BYTES = 16 * 1024 * 1024
MAX_NESTING = 64


def rules_dir() -> Path:
    override = os.environ.get("APPAUDIT_RULES")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "rules"


class LineDict(dict):
    """A dict that knows the source line of each key (1-based), and of itself."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain scalars", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_depth(node: yaml.Node, depth: int = 0) -> None:
    if depth > MAX_NESTING:
        raise yaml.YAMLError(f"nesting deeper than {MAX_NESTING} levels at line {node.start_mark.line + 1}")
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _check_depth(k, depth + 1)
            _check_depth(v, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _check_depth(v, depth + 1)


def _read_text(path: Path, what: str) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, expected a file")
    if size > MAX_DATA_FILE_BYTES:
        raise InputError(f"{what} {path} is {size} bytes, larger than the {MAX_DATA_FILE_BYTES} allowed")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Parse YAML (or JSON, a subset) safely; any problem becomes an InputError naming file and line."""
    path = Path(path)
    text = _read_text(path, what)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is None:
            return None
        _check_depth(node)
        loader = _Loader(text)
        try:
            return loader.get_single_data()
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


def load_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nesting too deep") from None


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
                     optional={"persistent": bool, "identifier": bool, "parent": str, "note": str})
        play = spec["play"]
        check.fields(play, required={"category": str, "type": str})
        parent = spec.get("parent")
        if parent is not None and parent not in types:
            check.fail(spec, "parent", f"unknown data type {parent!r}")
        out[type_id] = DataType(
            id=type_id, label=spec["label"], play_category=play["category"], play_type=play["type"],
            apple_category=spec["apple"], persistent=spec.get("persistent", False),
            identifier=spec.get("identifier", False), parent=parent)
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
