"""The sensitive-API list (rules/apis.yaml) and the entry-point list (rules/entrypoints.yaml), validated.

Both the static engine and the Frida agent read ApiRule; every problem in the YAML is reported as
`file:line: field: message` (InputError) so a bad rules edit never reaches a traceback.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..rulesdata import Validator, datatypes, load_yaml, rules_dir

RETURNS = ("identifier", "location", "none")
_JAVA_NAME = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
_MEMBER = re.compile(r"^(<init>|<clinit>|[A-Za-z_$][\w$]*)$")
_PROTO = re.compile(r"^\((\[*([ZBSCIJFD]|L[^;()]+;))*\)(V|\[*([ZBSCIJFD]|L[^;()]+;))$")


def class_descriptor(dotted_name: str) -> str:
    """`android.provider.Settings$Secure` -> `Landroid/provider/Settings$Secure;`"""
    return "L" + dotted_name.replace(".", "/") + ";"


@dataclass(frozen=True)
class AccessItem:
    """One line of a rules/apis.yaml `access` rule set (the schema is documented there)."""

    since: int = 1                       # device API levels, inclusive
    until: int | None = None
    target_min: int | None = None        # the app's target SDK
    target_max: int | None = None
    any_of: tuple[str, ...] | None = None    # None: not a permission item (unavailable / degraded)
    all_of: tuple[str, ...] = ()
    data_type: str | None = None
    without: str | None = None
    unavailable: str | None = None
    degraded: str | None = None
    note: str | None = None

    def applies(self, api: int, target_sdk: int | None) -> bool:
        if api < self.since or (self.until is not None and api > self.until):
            return False
        target = target_sdk if target_sdk is not None else 1
        return not ((self.target_min is not None and target < self.target_min)
                    or (self.target_max is not None and target > self.target_max))


@dataclass(frozen=True)
class ApiRule:
    id: str
    class_name: str                      # dotted, as in the YAML
    data_type: str
    returns: str
    method: str | None = None            # exactly one of method / field
    field: str | None = None
    signature: str | None = None
    permission: str | None = None
    args_any: tuple[str, ...] = ()
    fields_any: tuple[str, ...] = ()     # dotted `pkg.Class$Nested.FIELD`
    access: tuple[AccessItem, ...] | None = None   # what Android gives through it; None: no rule (unknown)
    access_name: str | None = None

    @property
    def class_descriptor(self) -> str:
        return class_descriptor(self.class_name)

    @property
    def conditional(self) -> bool:
        return bool(self.args_any or self.fields_any)

    def field_refs(self) -> tuple[tuple[str, str], ...]:
        """fields_any as (class descriptor, field name) pairs."""
        out = []
        for ref in self.fields_any:
            owner, _, name = ref.rpartition(".")
            out.append((class_descriptor(owner), name))
        return tuple(out)


def parse_apis(raw, path: Path) -> tuple[ApiRule, ...]:
    check = Validator(path)
    check.mapping(raw)
    entries = raw.get("apis")
    if not isinstance(entries, list):
        check.fail(raw, "apis", "expected a list of API entries")
    known_types = datatypes()
    access_sets = _parse_access(raw, check, known_types)
    seen: set[str] = set()
    out = []
    for entry in entries:
        check.mapping(entry, raw, "apis")
        check.fields(entry, required={"id": str, "class": str, "data_type": str, "returns": str},
                     optional={"method": str, "field": str, "signature": str, "permission": str,
                               "args_any": list, "fields_any": list, "note": str, "access": str})
        if entry.get("access") is not None and entry["access"] not in access_sets:
            check.fail(entry, "access", f"no rule set {entry['access']!r} under `access:` "
                                        f"(known: {', '.join(sorted(access_sets)) or 'none'})")
        if entry["id"] in seen:
            check.fail(entry, "id", f"duplicate API id {entry['id']!r}")
        seen.add(entry["id"])
        if not _JAVA_NAME.match(entry["class"]):
            check.fail(entry, "class", f"{entry['class']!r} is not a dotted Java class name")
        has_method, has_field = entry.get("method") is not None, entry.get("field") is not None
        if has_method == has_field:
            check.fail(entry, "method" if has_method else "id", "give exactly one of 'method' or 'field'")
        member = entry.get("method") or entry.get("field")
        if not _MEMBER.match(member):
            check.fail(entry, "method" if has_method else "field", f"{member!r} is not a member name")
        if entry.get("signature") is not None:
            if has_field:
                check.fail(entry, "signature", "a field entry takes no signature")
            if not _PROTO.match(entry["signature"]):
                check.fail(entry, "signature", f"{entry['signature']!r} is not a Dalvik proto like (I)V")
        if entry["data_type"] not in known_types:
            check.fail(entry, "data_type", f"unknown data type {entry['data_type']!r} (see rules/datatypes.yaml)")
        check.one_of(entry, "returns", RETURNS)
        for list_field in ("args_any", "fields_any"):
            for item in entry.get(list_field) or ():
                if not isinstance(item, str) or not item:
                    check.fail(entry, list_field, "expected a list of non-empty strings")
        for ref in entry.get("fields_any") or ():
            owner, _, name = ref.rpartition(".")
            if not owner or not _JAVA_NAME.match(owner) or not _MEMBER.match(name):
                check.fail(entry, "fields_any", f"{ref!r} is not a static field like pkg.Class$Nested.FIELD")
        out.append(ApiRule(
            id=entry["id"], class_name=entry["class"], data_type=entry["data_type"], returns=entry["returns"],
            method=entry.get("method"), field=entry.get("field"), signature=entry.get("signature"),
            permission=entry.get("permission"), args_any=tuple(entry.get("args_any") or ()),
            fields_any=tuple(entry.get("fields_any") or ()),
            access=access_sets.get(entry.get("access")) if entry.get("access") else None,
            access_name=entry.get("access")))
    return tuple(out)


_PERMISSION = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
_ITEM_FIELDS = {"since": int, "until": int, "target_min": int, "target_max": int, "any_of": list, "all_of": list,
                "data_type": str, "without": str, "unavailable": str, "degraded": str, "note": str}


def _parse_access(raw, check: Validator, known_types) -> dict[str, tuple[AccessItem, ...]]:
    """The top-level `access:` rule sets, each item checked; errors name the file and line."""
    sets = raw.get("access")
    if sets is None:
        return {}
    check.mapping(sets, raw, "access")
    out: dict[str, tuple[AccessItem, ...]] = {}
    for name, items in sets.items():
        if not isinstance(items, list) or not items:
            check.fail(sets, name, "expected a non-empty list of access items")
        parsed = []
        for item in items:
            check.mapping(item, sets, name)
            check.fields(item, optional=_ITEM_FIELDS)
            kinds = [k for k in ("any_of", "unavailable", "degraded") if item.get(k) is not None]
            if len(kinds) != 1:
                check.fail(item, kinds[1] if len(kinds) > 1 else None,
                           "give exactly one of any_of (permissions, [] for none), unavailable or degraded")
            for key in ("since", "until", "target_min", "target_max"):
                value = item.get(key)
                if value is not None and not 1 <= value <= 100:
                    check.fail(item, key, f"{value} is not an API level")
            if item.get("since") and item.get("until") and item["since"] > item["until"]:
                check.fail(item, "until", f"until {item['until']} is before since {item['since']}")
            for key in ("any_of", "all_of"):
                for permission in item.get(key) or ():
                    if not isinstance(permission, str) or not _PERMISSION.match(permission):
                        check.fail(item, key, f"{permission!r} is not a permission name")
            if item.get("all_of") and item.get("any_of") is None:
                check.fail(item, "all_of", "all_of goes with any_of")
            for key in ("data_type", "without"):
                if item.get(key) is not None and item.get("any_of") is None:
                    check.fail(item, key, f"{key} goes with any_of")
            if item.get("data_type") is not None and item["data_type"] not in known_types:
                check.fail(item, "data_type", f"unknown data type {item['data_type']!r} (see rules/datatypes.yaml)")
            parsed.append(AccessItem(
                since=item.get("since") or 1, until=item.get("until"), target_min=item.get("target_min"),
                target_max=item.get("target_max"),
                any_of=tuple(item["any_of"]) if item.get("any_of") is not None else None,
                all_of=tuple(item.get("all_of") or ()), data_type=item.get("data_type"),
                without=item.get("without"), unavailable=item.get("unavailable"), degraded=item.get("degraded"),
                note=item.get("note")))
        out[name] = tuple(parsed)
    return out


@functools.lru_cache(maxsize=8)
def _load_apis(path: str) -> tuple[ApiRule, ...]:
    return parse_apis(load_yaml(path, "API list"), Path(path))


def load_apis(path: str | Path | None = None) -> tuple[ApiRule, ...]:
    """rules/apis.yaml (or another file in the same schema)."""
    return _load_apis(str(path or rules_dir() / "apis.yaml"))


@dataclass(frozen=True)
class EntryPoints:
    lifecycle: frozenset[str]
    callbacks: frozenset[str]
    class_lookup: tuple[str, ...] = ()     # reflection: dotted `pkg.Class.method` loading a class by name
    method_lookup: tuple[str, ...] = ()    # reflection: looking a method up by name


@functools.lru_cache(maxsize=8)
def _load_entrypoints(path: str) -> EntryPoints:
    raw = load_yaml(path, "entry-point list")
    check = Validator(path)
    check.mapping(raw)
    check.fields(raw, required={"lifecycle": list, "callbacks": list}, optional={"reflection": dict})
    for key in ("lifecycle", "callbacks"):
        for name in raw[key]:
            if not isinstance(name, str) or not _MEMBER.match(name):
                check.fail(raw, key, f"{name!r} is not a method name")
    reflection = raw.get("reflection") or {}
    check.fields(reflection, optional={"class_lookup": list, "method_lookup": list})
    for key in ("class_lookup", "method_lookup"):
        for ref in reflection.get(key) or ():
            owner, _, name = ref.rpartition(".") if isinstance(ref, str) else ("", "", "")
            if not owner or not _JAVA_NAME.match(owner) or not _MEMBER.match(name):
                check.fail(reflection, key, f"{ref!r} is not a method like java.lang.Class.forName")
    return EntryPoints(frozenset(raw["lifecycle"]), frozenset(raw["callbacks"]),
                       tuple(reflection.get("class_lookup") or ()), tuple(reflection.get("method_lookup") or ()))


def load_entrypoints(path: str | Path | None = None) -> EntryPoints:
    return _load_entrypoints(str(path or rules_dir() / "entrypoints.yaml"))
