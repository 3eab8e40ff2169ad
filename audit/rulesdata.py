"""Loading the data in rules/ and user-supplied YAML safely, with errors that name file, line and field.

YAML is read with a SafeLoader subclass: no tag constructs objects, and every mapping remembers the line of
each key so that validation errors can point at it. `validate` checks a document against its JSON Schema
(rules/schemas/<kind>.schema.json) and names the line of the offending node.
"""
from __future__ import annotations

import difflib
import enum
import functools
import hashlib
import importlib
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
    digest: str | None = None    # the document's content key when it is a rules/ file (root only; validate)

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
    key = rulescache.digest(path, text, _cache_salt())     # rules/ files only: see rulescache
    cached = rulescache.get(key)
    if cached is not rulescache.MISS:
        if isinstance(cached, LineDict):
            cached.digest = key
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
            rulescache.put(key, document)
            if isinstance(document, LineDict):
                document.digest = key
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


class Validator:
    """Reports a problem in one loaded document as `file:line: field: message`: the checks a schema cannot state
    (cross-references, order, uniqueness) after `validate`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fail(self, container: Any, key: Any, message: str) -> None:
        line = container.line_of(key) if isinstance(container, LineDict) else None
        where = f"{self.path}:{line}" if line else f"{self.path}"
        field = f" {key}:" if key is not None else ""
        raise InputError(f"{where}:{field} {message}")

    def unique(self, entries: Iterable[dict], key: str, what: str) -> None:
        """Each entry's `key` differs (a check a JSON Schema cannot state)."""
        seen = set()
        for entry in entries:
            if entry[key] in seen:
                self.fail(entry, key, f"duplicate {what} {entry[key]!r}")
            seen.add(entry[key])

    def ordered(self, item: dict) -> None:
        """An item's API range (`since` .. `until`) does not end before it starts."""
        if item.get("since") and item.get("until") and item["since"] > item["until"]:
            self.fail(item, "until", f"until {item['until']} is before since {item['since']}")

    def mapping(self, value: Any, context: Any = None, key: Any = None) -> dict:
        if not isinstance(value, dict):
            self.fail(context, key, f"expected a mapping, found {type(value).__name__}")
        return value


# -- declarative schemas: rules/schemas/<kind>.schema.json ---------------------------------------------------
# JSON Schema (draft 2020-12) says what each file holds; `validate` runs it and names the offending node's file and
# line. Closed vocabularies are not copied into the schemas: `"vocabulary": "data_type"` names one, and its values
# come from where they live (rules/datatypes.yaml, or the one constant the code acts on), with the message that
# reports an unknown value. `"errorMessage"` (the ajv-errors convention) words a subschema's own failures.
VOCABULARIES: dict[str, tuple[str, str]] = {
    "data_type": ("audit.rulesdata:datatypes", "unknown data type {value!r}{hint}"),
    "purpose": ("audit.rules.declarations:purposes", "unknown purpose {value!r}{hint}"),
    "recipient_category": ("audit.rules.declarations:recipient_categories",
                           "unknown recipient category {value!r}{hint}"),
    "sdk_category": ("audit.catalogue:CATEGORIES", "unknown category {value!r}{hint}"),
    "sdk": ("audit.catalogue:sdk_ids", "{value!r} is not an SDK id of rules/sdks.yaml{hint}"),
    "permission": ("audit.static.manifest:permission_rules",
                   "unknown permission {value!r}{hint} (rules/permissions.yaml)"),
    "protection_level": ("audit.static.manifest:PROTECTION_LEVELS", "{value!r} is not one of: {known}"),
    "decoding_step": ("audit.traffic.adapters:DECODING_STEPS", "unknown decoding step {value!r}{hint}"),
    "request_part": ("audit.traffic.adapters:PARTS", "{value!r} is not one of: {known}"),
    "evidence_level": ("audit.model:Level", "unknown evidence level {value!r}{hint}"),
    "severity": ("audit.model:Severity", "unknown severity {value!r}{hint}"),
}
_JSON_TYPES = {"string": "a string", "integer": "a number", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping", "null": "nothing"}


def vocabulary(name: str) -> tuple[str, ...]:
    """The values of a closed vocabulary, from where they live (VOCABULARIES)."""
    module, _, attribute = VOCABULARIES[name][0].partition(":")
    source = getattr(importlib.import_module(module), attribute)
    if isinstance(source, type) and issubclass(source, enum.Enum):
        return tuple(getattr(member, "label", member.name) for member in source)
    values = source() if callable(source) else source
    return tuple(sorted(values) if isinstance(values, (set, frozenset)) else values)


def nearest(name: str, known: Iterable[str]) -> str:
    """" (did you mean X?)" for the closest known name (the same last dotted segment first), or nothing."""
    known = sorted(set(known))
    same_leaf = [k for k in known if "." in k and k.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]]
    close = same_leaf or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


@functools.cache
def schema(kind: str) -> dict:
    """rules/schemas/<kind>.schema.json of the package in use (the format the code reads, whatever rules folder
    APPAUDIT_RULES points at)."""
    return json.loads((data_dir("rules") / "schemas" / f"{kind}.schema.json").read_text(encoding="utf-8"))


@functools.cache
def _schema_digest(kind: str) -> str:
    return hashlib.sha256(json.dumps(schema(kind), sort_keys=True).encode()).hexdigest()


@functools.cache
def _vocabularies_of(kind: str) -> tuple[str, ...]:
    names, stack = set(), [schema(kind)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("vocabulary"), str):
                names.add(node["vocabulary"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return tuple(sorted(names))


def _validator(kind: str, vocabularies: dict[str, tuple[str, ...]]):
    """A draft 2020-12 validator of the kind's schema that also knows the `vocabulary` keyword."""
    import jsonschema
    members = {name: frozenset(values) for name, values in vocabularies.items()}

    def check_vocabulary(validator, name, instance, subschema):
        if isinstance(instance, str) and instance not in members[name]:
            yield jsonschema.ValidationError(_unknown(name, instance, vocabularies[name]))

    base = jsonschema.Draft202012Validator

    def check_enum(validator, enums, instance, subschema):
        if "vocabulary" not in subschema:        # an enum beside a vocabulary is a copy for editors
            yield from base.VALIDATORS["enum"](validator, enums, instance, subschema)

    def check_properties(validator, properties, instance, subschema):
        # An optional field written without a value (`packages:`) is a field not written, as the loaders read
        # it (`entry.get("packages") or ()`); a required one must have its value.
        if validator.is_type(instance, "object"):
            required = subschema.get("required", ())
            for name, inner in properties.items():
                if name in instance and (instance[name] is not None or name in required):
                    yield from validator.descend(instance[name], inner, path=name, schema_path=name)

    extended = jsonschema.validators.extend(base, {"vocabulary": check_vocabulary, "enum": check_enum,
                                                   "properties": check_properties})
    return extended(schema(kind))


def _unknown(name: str, value: str, known: tuple[str, ...]) -> str:
    hint = nearest(value, known) or (f" (known: {', '.join(known)})" if len(known) <= 16 else "")
    return VOCABULARIES[name][1].format(value=value, hint=hint, known=", ".join(known))


def validate(document: Any, kind: str, path: str | Path, what: str = "file") -> None:
    """Check a loaded document against rules/schemas/<kind>.schema.json; the first problem (in file order)
    becomes an InputError `FILE:LINE: field: message`. A rules/ document that passed the same schema with the
    same vocabularies is not checked again (its content key is marked in the rules cache): a scan pays for
    validation only when a rule file, a schema or a vocabulary changes."""
    vocabularies = {name: vocabulary(name) for name in _vocabularies_of(kind)}
    mark = None
    if getattr(document, "digest", None):
        mark = hashlib.sha256(json.dumps([document.digest, kind, _schema_digest(kind), vocabularies]).encode()
                              ).hexdigest() + ".valid"
        if rulescache.marked(mark):
            return
    errors = list(_validator(kind, vocabularies).iter_errors(document))
    if errors:
        located = [_locate(document, error, what) for error in errors]
        line, message = min(located, key=lambda item: item[0])
        where = f"{path}:{line}" if line else f"{path}"
        raise InputError(f"{where}: {message}")
    if mark:
        rulescache.mark(mark)


def _found(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "no value" if value is None else type(value).__name__


def _custom_message(error) -> str | None:
    """The schema's own wording of this failure: `errorMessage` as one text, or per keyword."""
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    return custom.get(error.validator) if isinstance(custom, dict) else custom


def _locate(document: Any, error, what: str) -> tuple[int, str]:
    """(line, `field: message`) of one jsonschema error, found by walking the line-tracking tree."""
    custom = _custom_message(error)
    if error.validator in ("oneOf", "anyOf") and error.context and not custom:
        branches: dict[Any, list] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        fitting = [inner for inner in branches.values()
                   if not any(e.validator == "type" and not e.relative_path for e in inner)]
        if len(fitting) == 1:      # the instance has the type of one branch: its own first problem
            return min((_locate(document, e, what) for e in fitting[0]), key=lambda item: item[0])
    path = list(error.absolute_path)
    node, line, label = document, 0, None
    for step in path:
        if isinstance(node, LineDict):
            line = node.line_of(step)
        node = node[step]
        label = step if isinstance(step, str) else label
    if isinstance(node, LineDict) and (not path or isinstance(path[-1], int)):
        line = node.line or line
    item = bool(path) and isinstance(path[-1], int)
    if "propertyNames" in error.absolute_schema_path:    # the failing instance is a key of `node`
        line = node.line_of(error.instance) if isinstance(node, LineDict) else line
        label, item = error.instance, False
    value, validator, expected = error.instance, error.validator, error.validator_value
    if validator == "vocabulary":
        message = error.message
    elif validator == "required":
        missing = next(name for name in expected if name not in value)
        field = f"field {path[-1]}: " if path and isinstance(path[-1], str) else ""
        return (node.line if isinstance(node, LineDict) else line) or line, f"{field}missing required field '{missing}'"
    elif validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = next(k for k in value if k not in allowed)
        listing = ", ".join(sorted(allowed))
        return (value.line_of(extra) if isinstance(value, LineDict) else line), \
            f"{extra}: unknown field (allowed: {listing})"
    elif custom:
        message = custom.format(value=value)
    elif validator == "type":
        wanted = " or ".join(_JSON_TYPES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        found = _found(value)
        if not path:
            return line, f"the {what} must be {wanted}, found {found}"
        message = f"each {label} entry must be {wanted}, found {found}" if item else f"expected {wanted}, found {found}"
    elif validator in ("oneOf", "anyOf"):
        wanted = " or ".join(_JSON_TYPES.get(e.validator_value, e.validator_value) for e in error.context
                             if e.validator == "type" and isinstance(e.validator_value, str))
        found = _found(value)
        message = f"expected {wanted}, found {found}" if wanted else " ".join(error.message.split())[:200]
    elif validator == "enum":
        message = f"{value!r} is not one of: {', '.join(map(str, expected))}"
    elif validator == "minLength" and expected == 1:
        message = "expected a list of non-empty strings" if item else "expected a non-empty string"
    elif validator == "dependentRequired":
        key = next(k for k, needs in expected.items() if k in value and any(n not in value for n in needs))
        needs = " and ".join(n for n in expected[key] if n not in value)
        return (value.line_of(key) if isinstance(value, LineDict) else line), f"{key}: {key} goes with {needs}"
    elif validator == "uniqueItems":
        message = "lists an item twice"
    else:
        message = " ".join(error.message.split())[:200]
    return line, f"{label}: {message}" if label is not None else message


@functools.lru_cache(maxsize=None)
def _datatypes_from(path: str) -> dict[str, DataType]:
    raw = load_yaml(path, "data-type taxonomy")
    validate(raw, "datatypes", path, "data-type taxonomy")
    types = raw["datatypes"]
    out: dict[str, DataType] = {}
    for type_id, spec in types.items():
        parent = spec.get("parent")
        if parent is not None and parent not in types:
            Validator(path).fail(spec, "parent", f"unknown data type {parent!r}{nearest(parent, types)}")
        play = spec["play"]
        out[type_id] = DataType(
            id=type_id, label=spec["label"], play_category=play["category"], play_type=play["type"],
            apple_category=spec["apple"], persistent=spec.get("persistent", False),
            identifier=spec.get("identifier", False), parent=parent, resettable=spec.get("resettable", False),
            coordinates=spec.get("coordinates", False))
    return out


def datatypes() -> dict[str, DataType]:
    """The taxonomy from rules/datatypes.yaml, keyed by dotted id."""
    return _datatypes_from(str(rules_dir() / "datatypes.yaml"))


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
