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
    seen: set[str] = set()
    out = []
    for entry in entries:
        check.mapping(entry, raw, "apis")
        check.fields(entry, required={"id": str, "class": str, "data_type": str, "returns": str},
                     optional={"method": str, "field": str, "signature": str, "permission": str,
                               "args_any": list, "fields_any": list, "note": str})
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
            fields_any=tuple(entry.get("fields_any") or ())))
    return tuple(out)


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
