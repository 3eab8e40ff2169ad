"""The sensitive-API list (rules/apis.yaml) and the entry-point list (rules/entrypoints.yaml), validated against
rules/schemas/{apis,entrypoints}.schema.json.

Both the static engine and the Frida agent read ApiRule; every problem in the YAML is reported as
`file:line: field: message` (InputError) so a bad rules edit never reaches a traceback.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from ..attribution import is_platform
from ..rulesdata import Validator, load_yaml, rules_dir, validate


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
    if_held: tuple[str, ...] = ()        # with degraded: only when the app holds one of these
    special: str | None = None           # with any_of: special access the user grants in Settings (an app-op)
    system_only: tuple[str, ...] = ()    # with unavailable/degraded: what a system app holding one of these gets
    handover: str | None = None          # with any_of []: the one item Android hands over (a picked contact)

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
    also_any: tuple[str, ...] = ()       # and the method loads one of these strings too (static only)
    access: tuple[AccessItem, ...] | None = None   # what Android gives through it; None: no rule (unknown)
    access_name: str | None = None
    added: int | None = None             # the API level that introduced the method / field
    static_only: bool = False            # not hooked at runtime (rules/apis.yaml `static_only`)
    manifest_key: str | None = None      # a <meta-data> key every app linking the class's library carries
    not_in: tuple[str, ...] = ()         # packages whose call sites do not count, as descriptor prefixes
    rename_proof: bool = False           # renaming the class leaves what another rule finds

    @property
    def class_descriptor(self) -> str:
        return class_descriptor(self.class_name)

    @property
    def conditional(self) -> bool:
        return bool(self.args_any or self.fields_any)

    @property
    def found_renamed(self) -> bool:
        """A complete scan finds a call of it whatever the build renamed: a platform class (never renamed), or
        `rename_proof`."""
        return self.rename_proof or is_platform(self.class_name)

    @property
    def handover(self) -> bool:
        """Android hands the app one item through it (a picked contact, the one-time-code SMS), never the store:
        rules/apis.yaml `handover` on every item of its access set."""
        return bool(self.access) and all(item.handover for item in self.access)

    def field_refs(self) -> tuple[tuple[str, str], ...]:
        """fields_any as (class descriptor, field name) pairs."""
        out = []
        for ref in self.fields_any:
            owner, _, name = ref.rpartition(".")
            out.append((class_descriptor(owner), name))
        return tuple(out)


def parse_apis(raw, path: Path) -> tuple[ApiRule, ...]:
    validate(raw, "apis", path, "API list")    # rules/schemas/apis.schema.json; what a schema cannot say follows
    check = Validator(path)
    access_sets = _parse_access(raw, check)
    check.unique(raw["apis"], "id", "API id")
    out = []
    for entry in raw["apis"]:
        if entry.get("access") is not None and entry["access"] not in access_sets:
            check.fail(entry, "access", f"no rule set {entry['access']!r} under `access:` "
                                        f"(known: {', '.join(sorted(access_sets)) or 'none'})")
        out.append(ApiRule(
            id=entry["id"], class_name=entry["class"], data_type=entry["data_type"], returns=entry["returns"],
            method=entry.get("method"), field=entry.get("field"), signature=entry.get("signature"),
            permission=entry.get("permission"), args_any=tuple(entry.get("args_any") or ()),
            fields_any=tuple(entry.get("fields_any") or ()), also_any=tuple(entry.get("also_any") or ()),
            access=access_sets.get(entry.get("access")) if entry.get("access") else None,
            access_name=entry.get("access"), added=entry.get("added"), static_only=entry.get("static_only", False),
            manifest_key=entry.get("manifest_key"),
            not_in=tuple("L" + package.replace(".", "/") + "/" for package in entry.get("not_in") or ()),
            rename_proof=entry.get("rename_proof", False)))
    return tuple(out)


def _parse_access(raw, check: Validator) -> dict[str, tuple[AccessItem, ...]]:
    """The top-level `access:` rule sets (checked by the schema but for the order of since and until)."""
    out: dict[str, tuple[AccessItem, ...]] = {}
    for name, items in (raw.get("access") or {}).items():
        parsed = []
        for item in items:
            check.ordered(item)
            parsed.append(AccessItem(
                since=item.get("since") or 1, until=item.get("until"), target_min=item.get("target_min"),
                target_max=item.get("target_max"),
                any_of=tuple(item["any_of"]) if item.get("any_of") is not None else None,
                all_of=tuple(item.get("all_of") or ()), data_type=item.get("data_type"),
                without=item.get("without"), unavailable=item.get("unavailable"), degraded=item.get("degraded"),
                note=item.get("note"), if_held=tuple(item.get("if_held") or ()), special=item.get("special"),
                system_only=tuple(item.get("system_only") or ()), handover=item.get("handover")))
        out[name] = tuple(parsed)
    return out


@dataclass(frozen=True)
class DangerousGrant:
    """How Android grants a requested dangerous permission on some device levels to some target SDKs."""

    status: str                          # granted | runtime-permission
    reason: str                          # {permissions} names them
    since: int = 1
    until: int | None = None
    target_max: int | None = None

    def applies(self, api: int, target_sdk: int | None) -> bool:
        target = target_sdk if target_sdk is not None else 1
        return (self.since <= api and (self.until is None or api <= self.until)
                and (self.target_max is None or target <= self.target_max))


@dataclass(frozen=True)
class Platform:
    """rules/apis.yaml `platform`: what Android does to every app of a target SDK on a device level."""

    min_installable_target: tuple[tuple[int, int], ...] = ()    # (device level from, lowest target installed)
    dangerous_grants: tuple[DangerousGrant, ...] = ()

    def lowest_target_installed(self, api: int) -> int | None:
        lowest = None
        for since, target in sorted(self.min_installable_target):
            if api >= since:
                lowest = target
        return lowest

    def dangerous_grant(self, api: int, target_sdk: int | None) -> DangerousGrant | None:
        return next((g for g in self.dangerous_grants if g.applies(api, target_sdk)), None)


def parse_platform(raw, path: Path) -> Platform:
    section = raw.get("platform") or {}
    check = Validator(path)
    grants = []
    for item in section.get("dangerous_grants") or ():
        check.ordered(item)
        grants.append(DangerousGrant(item["status"], item["reason"], item.get("since") or 1, item.get("until"),
                                     item.get("target_max")))
    installable = tuple((i["since"], i["target"]) for i in section.get("min_installable_target") or ())
    return Platform(installable, tuple(grants))


@functools.lru_cache(maxsize=8)
def _load_api_list(path: str) -> tuple[tuple[ApiRule, ...], Platform]:
    """The file read and checked once: its API rules (parse_apis validates it) and its `platform` section."""
    raw = load_yaml(path, "API list")
    return parse_apis(raw, Path(path)), parse_platform(raw, Path(path))


def load_platform(path: str | Path | None = None) -> Platform:
    """rules/apis.yaml `platform` (or another file in the same schema; none there: nothing assumed)."""
    return _load_api_list(str(path or rules_dir() / "apis.yaml"))[1]


def load_apis(path: str | Path | None = None) -> tuple[ApiRule, ...]:
    """rules/apis.yaml (or another file in the same schema)."""
    return _load_api_list(str(path or rules_dir() / "apis.yaml"))[0]


@dataclass(frozen=True)
class EntryPoints:
    lifecycle: frozenset[str]
    callbacks: frozenset[str]
    class_lookup: tuple[str, ...] = ()     # reflection: dotted `pkg.Class.method` loading a class by name
    method_lookup: tuple[str, ...] = ()    # reflection: looking a method up by name
    test_runner: str | None = None         # instrumentation: the class a test runner component descends from
    test_annotations: tuple[str, ...] = ()  # instrumentation: annotations marking the methods a runner calls


@functools.lru_cache(maxsize=8)
def _load_entrypoints(path: str) -> EntryPoints:
    raw = load_yaml(path, "entry-point list")
    validate(raw, "entrypoints", path, "entry-point list")
    reflection = raw.get("reflection") or {}
    instrumentation = raw.get("instrumentation") or {}
    return EntryPoints(frozenset(raw["lifecycle"]), frozenset(raw["callbacks"]),
                       tuple(reflection.get("class_lookup") or ()), tuple(reflection.get("method_lookup") or ()),
                       instrumentation.get("runner"), tuple(instrumentation.get("test_annotations") or ()))


def load_entrypoints(path: str | Path | None = None) -> EntryPoints:
    return _load_entrypoints(str(path or rules_dir() / "entrypoints.yaml"))
