"""What the vendor declares: our data-sheet YAML, a Google Play Data-safety CSV export, or an Apple
PrivacyInfo.xcprivacy manifest, all read into one `Declarations` model.

Declarations are data, never code: YAML goes through the safe loader, plists through plistlib (no entities
beyond XML's own), the CSV through the csv module. Every problem is an InputError naming file:line:field.
Store vocabularies map onto our data types through rules/declaration-formats.yaml, not through branches here.
"""
from __future__ import annotations

import csv
import functools
import io
import plistlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from xml.parsers.expat import ExpatError

from ..errors import InputError
from ..rulesdata import LineDict, Validator, _read_text, covers, nearest, rules_dir, schema, validate
from ..rulesdata import load_yaml as _load_yaml

COLLECTED = "collected"
ACCESSED = "accessed"     # used on the device (camera in a meeting), not collected: covers no transmission
SHARED = "shared"
NOT_COLLECTED = "not_collected"
NOT_SHARED = "not_shared"
POSITIVE = (COLLECTED, SHARED, ACCESSED)
NEGATIVE = (NOT_COLLECTED, NOT_SHARED)


@dataclass(frozen=True)
class Statement:
    """One sentence of a declaration: `kind` is collected, shared, not_collected or not_shared."""

    kind: str
    type: str
    purposes: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()   # for shared: SDK ids/families/names; empty = "third parties" unnamed
    optional: bool | None = None
    condition: str | None = None       # free text (store imports); `when` is what verdicts read
    where: str | None = None           # file:line of the statement, so a report can point back at it
    when: tuple[tuple[str, Any], ...] = ()   # permission, feature, service, opt_in, platform
    quote: str | None = None           # the vendor's own words
    cite: str | None = None            # where in the source document they are

    @property
    def positive(self) -> bool:
        return self.kind in POSITIVE

    @property
    def conditional(self) -> bool:
        return any(name != "platform" for name, _ in self.when)

    def condition_of(self, name: str) -> Any:
        return dict(self.when).get(name)

    def condition_text(self) -> str:
        """The condition as a verdict can say it: "driving mode was on", "the user granted READ_CONTACTS"."""
        parts = []
        for name, value in self.when:
            if name == "permission":
                parts.append(f"the user granted {value.rsplit('.', 1)[-1]}")
            elif name == "feature":
                parts.append(f"{value} was on")
            elif name == "service":
                parts.append(f"{value} was in use")
            elif name == "opt_in" and value:
                parts.append("the user opted in")
            elif name == "platform":
                parts.append(f"on {value}")
        return " and ".join(parts)

    def covers(self, data_type: str) -> bool:
        return covers(self.type, data_type)

    def text(self) -> str:
        # Worded as the vendor's statement ("collected: X"), never as our finding ("collects X").
        out = f"{self.kind.replace('_', ' ')}: {self.type}"
        if self.recipients:
            out += " with " + ", ".join(self.recipients)
        extras = []
        if self.when:
            extras.append("if " + self.condition_text())
        if self.purposes:
            extras.append("for " + ", ".join(self.purposes))
        if self.optional:
            extras.append("optional")
        if self.condition:
            extras.append(self.condition)
        if extras:
            out += " (" + "; ".join(extras) + ")"
        if self.where:
            out += f" [{self.where}]"
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "type": self.type, "text": self.text()}
        for name in ("purposes", "recipients"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        if self.optional is not None:
            out["optional"] = self.optional
        for name in ("condition", "where", "quote", "cite"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.when:
            out["when"] = dict(self.when)
        return out


@dataclass(frozen=True)
class Exclusion:
    """A denial about recipients or uses rather than a data type: "not shared with advertising technology
    companies" (catalogue categories) or "not used for profiling" (a purpose, mapped to the categories of
    recipients serving it by rules/purposes.yaml)."""

    kind: str                              # not_shared_with | not_used_for
    names: tuple[str, ...]
    recipient_categories: tuple[str, ...]
    where: str | None = None
    quote: str | None = None
    cite: str | None = None

    def text(self) -> str:
        return f"{self.kind.replace('_', ' ')}: {', '.join(self.names)}" + (f" [{self.where}]" if self.where else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "names": list(self.names), "text": self.text(),
                               "recipient_categories": list(self.recipient_categories)}
        for name in ("where", "quote", "cite"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class Declarations:
    app: str | None
    source: str
    path: str
    format: str                                  # appaudit-yaml | play-csv | apple-xcprivacy
    statements: tuple[Statement, ...] = ()
    sdks: tuple[str, ...] | None = None          # None: the vendor said nothing about SDKs
    unmapped: tuple[str, ...] = ()               # store types we have no data type for (reported, not guessed)
    exclusions: tuple[Exclusion, ...] = ()
    sdks_where: str | None = None                # file:line of the SDK list
    sdks_subset: bool = False                    # "a subset of these, depending on the platform"
    warnings: tuple[str, ...] = ()               # names the catalogue does not know, with file:line
    not_bridged: tuple[Statement, ...] = ()      # denied identifier bridging: type "a+b"
    first_party_domains: tuple[str, ...] = ()    # the vendor's own domains: requests there are first party

    @property
    def path_line(self) -> str:
        return f"{Path(self.path).name}:1"

    def about(self, data_type: str) -> list[Statement]:
        """Every statement that says something about a data type (broader, equal or narrower)."""
        return [s for s in self.statements if covers(s.type, data_type) or covers(data_type, s.type)]

    def to_json(self) -> dict[str, Any]:
        out = {"app": self.app, "source": self.source, "path": self.path, "format": self.format,
               "statements": [s.to_json() for s in self.statements],
               "sdks": list(self.sdks) if self.sdks is not None else None,
               "unmapped": list(self.unmapped)}
        if self.exclusions:
            out["exclusions"] = [x.to_json() for x in self.exclusions]
        if self.sdks_subset:
            out["sdks_subset"] = True
        if self.not_bridged:
            out["not_bridged"] = [s.to_json() for s in self.not_bridged]
        return out

    def bridging_denied(self, types: Iterable[str]) -> list[Statement]:
        """Denials of bridging whose every member is among `types` (or covers one of them)."""
        types = list(types)
        return [s for s in self.not_bridged
                if all(any(covers(member, t) for t in types) for member in s.type.split("+"))]


# -- entry point -------------------------------------------------------------------------------------------
def load_declarations(path: str | Path) -> Declarations:
    """Read a data sheet in any supported format, chosen by suffix and, failing that, by content."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return load_play_csv(path)
    if suffix in (".xcprivacy", ".plist"):
        return load_xcprivacy(path)
    if suffix not in (".yaml", ".yml", ".json"):
        head = _read_text(path, "data sheet")[:200].lstrip()
        if head.startswith("<?xml") or head.startswith("<plist"):
            return load_xcprivacy(path)
        if head.startswith("Question ID"):
            return load_play_csv(path)
    return load_yaml_datasheet(path)


def load_yaml(path: Path, what: str):
    """The safe loader, with its message kept to one line (PyYAML reader errors span two)."""
    try:
        return _load_yaml(path, what)
    except InputError as exc:
        raise InputError(" ".join(str(exc).split())) from None


# -- appaudit YAML (docs/datasheet.md, rules/schemas/datasheet.schema.json) ---------------------------------
@functools.lru_cache(maxsize=4)
def _purposes_from(rules: str) -> dict[str, dict[str, Any]]:
    path = Path(rules) / "purposes.yaml"
    raw = _load_yaml(path, "purpose vocabulary")
    validate(raw, "purposes", path, "purpose vocabulary")
    return dict(raw["purposes"])


def purposes() -> dict[str, dict[str, Any]]:
    """The closed purpose vocabulary (rules/purposes.yaml): Play's Data-safety purposes and a few more."""
    return _purposes_from(str(rules_dir()))


def _when(entry: dict) -> tuple[tuple[str, Any], ...]:
    """A statement's condition, in the schema's order of the condition fields; a field written without a value
    (`permission:`) is a field not written, as the schema check reads it (rulesdata._validator)."""
    when = entry.get("when") or {}
    return tuple((name, when[name]) for name in schema("datasheet")["$defs"]["when"]["properties"]
                 if when.get(name) is not None)


def _item_line(text_lines: list[str], container: Any, key: str, index: int, value: str) -> int | str:
    """The line of a scalar list item: PyYAML keeps lines for mappings only, so find the item's text after its
    key (flow lists `[a, b]` sit on the key's line)."""
    start = _line(container, key)
    if not isinstance(start, int):
        return "?"
    for number in range(start, min(len(text_lines), start + 200) + 1):
        line = text_lines[number - 1].split("#", 1)[0]
        if value in line and (number > start or "[" in line):
            return number
    return start


def _sdk_names(raw: dict, text_lines: list[str], path: Path) -> tuple[tuple[str, ...], bool, str, list[str]]:
    value = raw["sdks"]
    if isinstance(value, dict):
        subset, names, container, key = bool(value.get("subset_by_platform")), tuple(value["names"]), value, "names"
    else:                                         # `sdks:` without a value declares none
        subset, names, container, key = False, tuple(value or ()), raw, "sdks"
    from ..catalogue import load_catalogue
    catalogue = load_catalogue()
    known = [n for sdk in catalogue.sdks for n in (sdk.id, sdk.family, sdk.name.lower()) if n]
    warnings = []
    for index, name in enumerate(names):
        if not any(sdk.answers_to(name) or sdk.organisation.lower() == name.lower() for sdk in catalogue.sdks):
            line = _item_line(text_lines, container, key, index, name)
            warnings.append(f"{path.name}:{line}: sdks: {name!r} is not in the SDK catalogue"
                            f"{nearest(name.lower(), known)}; it cannot be matched against the scan")
    return names, subset, f"{path.name}:{_line(raw, 'sdks')}", warnings


def load_yaml_datasheet(path: str | Path) -> Declarations:
    """An appaudit data sheet: rules/schemas/datasheet.schema.json says what it may hold (fields, types, the data
    types, purposes and recipient categories of the rules data); what a schema cannot say is checked here."""
    path = Path(path)
    raw = load_yaml(path, "data sheet")
    validate(raw, "datasheet", path, "data sheet")
    check = Validator(path)
    text_lines = _read_text(path, "data sheet").splitlines()
    statements: list[Statement] = []
    for kind in POSITIVE:
        for entry in raw.get(kind) or ():
            statements.append(Statement(
                kind=kind, type=entry["type"], purposes=tuple(entry.get("purposes") or ()),
                recipients=tuple(entry.get("recipients") or ()), optional=entry.get("optional"),
                condition=entry.get("condition"), where=f"{path.name}:{_line(entry, 'type')}", when=_when(entry),
                quote=_quote(entry.get("quote")), cite=entry.get("cite")))
    for kind in NEGATIVE:
        for index, item in enumerate(raw.get(kind) or ()):
            if isinstance(item, dict):
                statements.append(Statement(kind=kind, type=item["type"], where=f"{path.name}:{_line(item, 'type')}",
                                            recipients=tuple(item.get("recipients") or ()),
                                            quote=_quote(item.get("quote")), cite=item.get("cite")))
            else:
                line = _item_line(text_lines, raw, kind, index, item)
                statements.append(Statement(kind=kind, type=item, where=f"{path.name}:{line}"))
    bridged = [Statement("not_bridged", "+".join(entry["types"]), where=f"{path.name}:{_line(entry, 'types')}",
                         quote=_quote(entry.get("quote")), cite=entry.get("cite"))
               for entry in raw.get("not_bridged") or ()]
    _check_no_contradiction(check, raw, statements)
    sdks, subset, sdks_where, warnings = _sdk_names(raw, text_lines, path) if "sdks" in raw \
        else (None, False, None, [])
    return Declarations(app=raw.get("app"), source=raw["source"], path=str(path), format="appaudit-yaml",
                        statements=tuple(statements), sdks=sdks, exclusions=tuple(_exclusions(raw, path)),
                        sdks_where=sdks_where, sdks_subset=subset, warnings=tuple(warnings),
                        not_bridged=tuple(bridged), first_party_domains=_first_party_domains(check, raw))


def _first_party_domains(check: Validator, raw: dict) -> tuple[str, ...]:
    """Registered domains the vendor says are its own (never a public suffix such as co.uk or cloudfront.net:
    that would make every tenant's host the vendor's)."""
    from ..catalogue import is_public_suffix, normal_domain
    out = []
    for item in raw.get("first_party_domains") or ():
        domain = normal_domain(item)
        if "." not in domain or is_public_suffix(domain):
            check.fail(raw, "first_party_domains", f"{item!r} is not a domain one organisation registered")
        out.append(domain)
    return tuple(dict.fromkeys(out))


def _quote(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _exclusions(raw: dict, path: Path) -> list[Exclusion]:
    out = []
    for entry in raw.get("not_shared_with") or ():
        categories = tuple(entry["recipient_categories"])
        out.append(Exclusion("not_shared_with", categories, categories,
                             f"{path.name}:{_line(entry, 'recipient_categories')}", _quote(entry.get("quote")),
                             entry.get("cite")))
    for entry in raw.get("not_used_for") or ():
        names = tuple(entry["purposes"])
        categories = tuple(sorted({c for n in names for c in purposes()[n].get("recipient_categories") or ()}))
        out.append(Exclusion("not_used_for", names, categories, f"{path.name}:{_line(entry, 'purposes')}",
                             _quote(entry.get("quote")), entry.get("cite")))
    return out


def recipient_categories() -> set[str]:
    """The categories a data sheet may exclude recipients by: those of the catalogue's SDKs."""
    from ..catalogue import load_catalogue
    return {c for sdk in load_catalogue().sdks for c in sdk.categories}


def _line(container: Any, key: str) -> Any:
    return container.line_of(key) if isinstance(container, LineDict) else "?"


def _check_no_contradiction(check: Validator, raw: dict, statements: list[Statement]) -> None:
    """A sheet that says both "collects X" and "does not collect X" cannot be judged against; a conditional
    positive statement is an exception to the denial ("not generally, except in driving mode") and may stand."""
    for negative in (s for s in statements if s.kind == NOT_COLLECTED):
        for positive in (s for s in statements if s.positive and not s.conditional):
            if covers(negative.type, positive.type):
                check.fail(raw, NOT_COLLECTED, f"{negative.type} is listed as not collected but "
                                               f"{positive.kind} at {positive.where}")


# -- store formats: mapping data ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _formats(rules: str) -> dict[str, Any]:
    path = Path(rules) / "declaration-formats.yaml"
    raw = load_yaml(path, "declaration format mapping")
    validate(raw, "declaration-formats", path, "declaration format mapping")
    return raw


def formats() -> dict[str, Any]:
    return _formats(str(rules_dir()))


# -- Google Play Data-safety CSV ---------------------------------------------------------------------------
PLAY_HEADER = ("Question ID (machine readable)", "Response ID (machine readable)", "Response value",
               "Answer requirement", "Human-friendly question label")
_TRUE = {"true", "yes", "1"}


def load_play_csv(path: str | Path) -> Declarations:
    """The Play Console export: one row per (question, response); a data type is declared when its row under
    PSL_DATA_TYPES_* is TRUE, and collected and/or shared per its PSL_DATA_USAGE_RESPONSES rows."""
    path = Path(path)
    text = _read_text(path, "Data-safety CSV").lstrip("\ufeff")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InputError(f"{path}: not a CSV file: {exc}") from None
    if not rows:
        raise InputError(f"{path}:1: empty Data-safety CSV")
    header = tuple(h.strip() for h in rows[0])
    short = tuple(h.split(" (")[0] for h in PLAY_HEADER)
    if tuple(h.split(" (")[0] for h in header[:5]) != short:
        raise InputError(f"{path}:1: header: expected the Play Console Data-safety columns "
                         f"{', '.join(PLAY_HEADER)}; found {', '.join(header) or 'nothing'}")
    mapping = formats()["play"]
    selected: dict[str, int] = {}                      # response id -> line
    usage: dict[str, dict[str, set[str]]] = {}         # response id -> question -> true responses
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            raise InputError(f"{path}:{number}: Response value: row has {len(row)} columns, expected 5")
        question, response, value = (cell.strip() for cell in row[:3])
        truthy = value.lower() in _TRUE
        if question.startswith("PSL_DATA_TYPES_") and response and truthy:
            selected[response] = number
        elif question.startswith("PSL_DATA_USAGE_RESPONSES:"):
            parts = question.split(":")
            if len(parts) != 3:
                raise InputError(f"{path}:{number}: Question ID: malformed data-usage question {question!r}")
            _, code, sub = parts
            if truthy or (sub == "PSL_DATA_USAGE_EPHEMERAL" and value):
                usage.setdefault(code, {}).setdefault(sub, set()).add(response or value.lower())
    statements: list[Statement] = []
    unmapped: list[str] = []
    for code, line in sorted(selected.items(), key=lambda item: item[1]):
        ours = mapping["types"].get(code)
        if not ours:
            unmapped.append(code)
            continue
        answers = usage.get(code, {})
        how = answers.get("PSL_DATA_USAGE_COLLECTION_AND_SHARING", set())
        collected = bool(how & {"PSL_DATA_USAGE_ONLY_COLLECTED", "PSL_DATA_USAGE_BOTH_COLLECTED_AND_SHARED"}) \
            or not how  # an answer without the usage page still declares collection (the form's default)
        shared = bool(how & {"PSL_DATA_USAGE_ONLY_SHARED", "PSL_DATA_USAGE_BOTH_COLLECTED_AND_SHARED"})
        control = answers.get("DATA_USAGE_USER_CONTROL", set())
        optional = True if "PSL_DATA_USAGE_USER_CONTROL_OPTIONAL" in control else (
            False if "PSL_DATA_USAGE_USER_CONTROL_REQUIRED" in control else None)
        collect_purposes = _purposes(answers.get("DATA_USAGE_COLLECTION_PURPOSE"), mapping["purposes"])
        share_purposes = _purposes(answers.get("DATA_USAGE_SHARING_PURPOSE"), mapping["purposes"])
        where = f"{path.name}:{line}"
        for data_type in ours:
            if collected:
                statements.append(Statement(COLLECTED, data_type, collect_purposes, (), optional,
                                            f"Play: {code}", where))
            if shared:
                statements.append(Statement(SHARED, data_type, share_purposes or collect_purposes, (), optional,
                                            f"Play: {code}", where))
    return Declarations(app=None, source=f"Google Play Data safety export {path.name}", path=str(path),
                        format="play-csv", statements=tuple(statements), sdks=None, unmapped=tuple(unmapped))


def _purposes(responses: Iterable[str] | None, mapping: dict[str, str]) -> tuple[str, ...]:
    return tuple(sorted({mapping.get(r, r.lower()) for r in responses or ()}))


# -- Apple PrivacyInfo.xcprivacy ---------------------------------------------------------------------------
def load_xcprivacy(path: str | Path) -> Declarations:
    path = Path(path)
    text = _read_text(path, "privacy manifest")
    if "<!ENTITY" in text:
        raise InputError(f"{path}: XML entity declarations are not allowed in a privacy manifest")
    try:
        raw = plistlib.loads(text.encode("utf-8"), fmt=plistlib.FMT_XML)
    except (ExpatError, ValueError, plistlib.InvalidFileException, IndexError, TypeError, AttributeError,
            KeyError, LookupError) as exc:
        # plistlib's XML reader trusts tag nesting: unbalanced tags raise IndexError; expat raises LookupError for
        # an encoding its XML declaration names that Python does not know
        line = getattr(exc, "lineno", None)
        raise InputError(f"{path}{f':{line}' if line else ''}: not a property list: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the privacy manifest's root must be a <dict>")
    entries = raw.get("NSPrivacyCollectedDataTypes", [])
    if not isinstance(entries, list):
        raise InputError(f"{path}: NSPrivacyCollectedDataTypes: expected an <array>")
    mapping = formats()["apple"]
    shared_purposes = set(mapping.get("shared_when_purpose") or ())
    lines = _plist_lines(text)
    statements: list[Statement] = []
    unmapped: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("NSPrivacyCollectedDataType"), str):
            raise InputError(f"{path}: NSPrivacyCollectedDataTypes[{index}]: NSPrivacyCollectedDataType: "
                             "expected a <dict> with a <string> data type")
        key = entry["NSPrivacyCollectedDataType"]
        purposes_raw = entry.get("NSPrivacyCollectedDataTypePurposes", [])
        if not isinstance(purposes_raw, list) or not all(isinstance(p, str) for p in purposes_raw):
            raise InputError(f"{path}: {key}: NSPrivacyCollectedDataTypePurposes: expected an <array> of strings")
        purposes = _purposes(purposes_raw, mapping["purposes"])
        tracking = entry.get("NSPrivacyCollectedDataTypeTracking") is True
        linked = entry.get("NSPrivacyCollectedDataTypeLinked")
        ours = mapping["types"].get(key)
        if not ours:
            unmapped.append(key)
            continue
        where = f"{path.name}:{lines.get(key, '?')}"
        condition = "Apple: " + ", ".join(
            x for x in ("linked to the user" if linked else "not linked", "tracking" if tracking else "") if x)
        for data_type in ours:
            statements.append(Statement(COLLECTED, data_type, purposes, (), None, condition, where))
            if tracking or shared_purposes & set(purposes_raw):
                statements.append(Statement(SHARED, data_type, purposes, (), None, condition, where))
    return Declarations(app=None, source=f"Apple privacy manifest {path.name}", path=str(path),
                        format="apple-xcprivacy", statements=tuple(statements), sdks=None,
                        unmapped=tuple(unmapped))


def _plist_lines(text: str) -> dict[str, int]:
    """First line each NSPrivacyCollectedDataType* string appears on, to point errors and reports at it."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        start = line.find("<string>NSPrivacyCollectedDataType")
        if start >= 0:
            value = line[start + 8:line.find("</string>", start)]
            out.setdefault(value, number)
    return out
