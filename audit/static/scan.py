"""The static scan: inputs -> manifest -> dex tables -> SDKs -> call sites -> observations (`appaudit.scan/1`).

Partial results: a split, a dex or a resource table that cannot be read is left out with a warning (the report
says `partial: true`); only when nothing usable is left (no base manifest, or code that exists but none of it
readable) is the scan refused with an InputError. Output is deterministic: identical input gives identical
JSON; timings go into `stats`, which is not part of the JSON contract.
"""
from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from ..attribution import AppContext, app_context, attribution_rules, dotted, is_platform, with_static_placements
from ..catalogue import Catalogue, load_catalogue
from ..errors import BoundExceeded, InputError, TimeLimit
from ..gcpause import without_cyclic_gc
from ..model import FIRST_PARTY, Evidence, Level, Observation
from .callsites import MAX_HIERARCHY, class_names, find_call_sites, string_constants, string_hosts
from .dex import DexFile, dex_files
from . import feasibility
from .apis import load_apis
from .inputs import (DEX_LOADER_TYPES, MAX_MEMBERS_PEEKED, MAX_NESTED_ARCHIVE, MAX_NESTED_ENTRIES, ApkContents,
                     open_inputs)
from .obfuscated import place_obfuscated_with_rules
from .manifest import Manifest, parse_manifest, permission_rules, permissions_of, resolve_label
from .report import AppInfo, CallSite, ScanReport
from .sdkdetect import SdkFindings, entry_classes_with_code, find_sdks

SOURCE = "static"
MAX_EVIDENCE = 20   # call-site evidence items per observation; a `note` item gives the total


@without_cyclic_gc
def scan_app(paths: Iterable[str | Path], catalogue: Catalogue | None = None) -> ScanReport:
    """Scan one app: a single APK, the APK files of one split set, or one .apks/.xapk/.apkm/.aab bundle."""
    clock = _Clock()
    (opened, warnings, base_apk, base, splits, merged, dexes, classes, hosts, catalogue, app_code,
     found) = _through_sdks(paths, catalogue, clock)

    search_stats: dict = {}
    try:
        api_calls, dexes = _call_sites(dexes, catalogue, app_code, merged, warnings, search_stats)
    except TimeLimit as exc:   # the watchdog (audit/watchdog.py): keep the rest of the scan, say what is missing
        warnings.append(f"limit time: {exc}; the call-site search was stopped, no call sites are reported")
        api_calls = []
    if search_stats.get("hierarchy_cut"):
        warnings.append(f"limit MAX_HIERARCHY: {search_stats['hierarchy_cut']} class-hierarchy walk(s) stopped at "
                        f"{MAX_HIERARCHY} classes; virtual calls through the classes beyond were not followed")
    # `ar.b` called only by one SDK's code
    api_calls, moved_into, relocated_sdks = place_obfuscated_with_rules(dexes, api_calls, catalogue, app_code)
    clock.lap("call_sites")

    permissions = permissions_of(merged)
    # can Android let this app obtain each one (and which data type then); the call graph's limit, if hit
    levels = feasibility.AppLevels.of(merged)
    api_calls = feasibility.apply(api_calls, load_apis(), levels)
    if search_stats.get("call_graph", {}).get("limit"):
        warnings.append(search_stats["call_graph"]["limit"])
    observations = _permission_observations(merged) + _call_site_observations(api_calls)
    # the runtime and traffic stages attribute stacks with what this scan placed: one class, one actor
    app_code = with_static_placements(catalogue, app_code, ((s.caller.split("->", 1)[0], s.actor) for s in api_calls),
                                      moved_into, relocated_sdks)
    clock.lap("observations")

    app = AppInfo(package=base.package, version_code=base.version_code, version_name=base.version_name,
                  min_sdk=base.min_sdk, target_sdk=base.target_sdk,
                  label=resolve_label(base.label, base_apk.arsc),
                  splits=tuple(sorted(m.split for _, m in splits if m.split)))
    stats = {"seconds": clock.laps, "dex": [d.stats() for d in dexes], "classes": len(classes),
             "hosts_in_strings": len(hosts), "call_site_search": search_stats}
    return ScanReport(app=app, inputs=opened.inputs, permissions=permissions, components=merged.components,
                      meta_data=merged.meta_data, sdks=found.sdks, api_calls=tuple(api_calls),
                      observations=tuple(observations), warnings=tuple(warnings), stats=stats, hints=found.hints,
                      app_code=app_code, app_levels=levels)


@without_cyclic_gc
def scan_sdks(paths: Iterable[str | Path], catalogue: Catalogue | None = None) -> tuple[SdkFindings, list[str]]:
    """The SDK stage of scan_app alone (same inputs, manifests, dexes and detection; no call-site search):
    (detections and hints, warnings). For measuring detection over many apps."""
    front = _through_sdks(paths, catalogue, _Clock())
    return front.found, front.warnings


class _Front(NamedTuple):
    opened: ApkContents
    warnings: list[str]
    base_apk: Any
    base: Manifest
    splits: list
    merged: Manifest
    dexes: list[DexFile]
    classes: list[str]
    hosts: list[str]
    catalogue: Catalogue
    app_code: AppContext
    found: SdkFindings


def _through_sdks(paths: Iterable[str | Path] | str | Path, catalogue: Catalogue | None, clock: "_Clock") -> _Front:
    """The stages every scan shares, up to SDK detection: inputs, manifests, dexes, code facts, first party."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if len(paths) > 1:
        paths = sorted(paths, key=str)   # a split set is one app whatever order its files are given in
    opened = open_inputs(paths)
    clock.lap("open")
    warnings = list(opened.warnings)

    base_apk, base, splits = _manifests(opened.apks, warnings)
    if opened.bundle_package and opened.bundle_package != base.package:
        warnings.append(f"bundle metadata names package {opened.bundle_package}, "
                        f"the base manifest {base.package}")
    if base.split_required and not splits:
        # Android refuses to install such a base alone (INSTALL_FAILED_MISSING_SPLIT): what the splits hold, a
        # feature module's code among it, was not read
        warnings.append(f"splits not given: the base manifest says the app installs only with its split APKs "
                        f"({base.split_required}); code and resources they hold were not read: scan the base and "
                        "its splits together, or the .apks / .xapk / .apkm")
    merged = _merge(base, [m for _, m in splits])
    clock.lap("manifest")

    apks = [base_apk, *(apk for apk, _ in splits)]
    dexes = _open_dexes(apks, warnings)
    dexes += _carried_code(apks, dexes, warnings)
    clock.lap("dex")

    catalogue = catalogue or load_catalogue()
    classes, hosts = _code_facts(dexes, warnings)
    unread = _components_without_code(merged, classes)
    if unread:
        # A packer's stub (the real code decrypted at runtime), a feature split not given, a stripped file: the
        # scan saw none of what these components run, and a complete scan's silence would read as absence
        warnings.append(f"code not read: the manifest names {len(unread)} component class(es) that no dex of the "
                        f"app defines ({', '.join(unread[:MAX_NAMED_UNREAD])}"
                        f"{', ...' if len(unread) > MAX_NAMED_UNREAD else ''}): their code is loaded from elsewhere "
                        "(a packer's encrypted payload, a split not given, downloaded code) or missing, and was not "
                        "scanned")
    warnings += _runtimes_not_read(merged, classes)
    app_code = app_context(catalogue, base.package, merged.entry_classes, merged.application_class,
                           [c.name for c in merged.components if c.launcher], merged.instrumentation_targets)
    found = _sdks(catalogue, classes, hosts, merged, app_code, _entry_code(catalogue, dexes, warnings))
    clock.lap("sdks")
    return _Front(opened, warnings, base_apk, base, splits, merged, dexes, classes, hosts, catalogue, app_code,
                  found)


def _sdks(catalogue: Catalogue, classes: list[str], hosts: list[str], manifest: Manifest,
          app_code: AppContext, entry_code: set[str]) -> SdkFindings:
    return find_sdks(catalogue, classes, manifest.meta_data, hosts, manifest.package,
                     components=manifest.components, meta_data_off=manifest.meta_data_off, app_code=app_code,
                     entry_code=entry_code)


class _Clock:
    def __init__(self):
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 4)
        self.laps["total"] = round(now - self.started, 4)
        self.last = now


# -- manifests ------------------------------------------------------------------------------------------
def _manifests(apks: tuple[ApkContents, ...], warnings: list[str]) \
        -> tuple[ApkContents, Manifest, list[tuple[ApkContents, Manifest]]]:
    """(base APK, its manifest, [(split APK, its manifest)...] sorted by split name), after checking that
    they are one app: exactly one base, one package, no split twice."""
    parsed: list[tuple[ApkContents, Manifest]] = []
    for apk in apks:
        try:
            manifest = parse_manifest(apk.manifest, apk.name, bundle=apk.bundle_module)
            if apk.module and manifest.split is None:   # a bundle's feature module names its split by folder
                manifest = dataclasses.replace(manifest, split=apk.module)
            parsed.append((apk, manifest))
        except InputError as exc:
            if len(apks) == 1:
                raise
            warnings.append(f"split skipped: {exc}")
    bases = [(apk, m) for apk, m in parsed if m.split is None]
    if not bases:
        if len(parsed) == 1:
            apk, m = parsed[0]
            raise InputError(f"{apk.name} is split {m.split!r} of {m.package}; give the base APK with it")
        raise InputError("no base APK among the files given (each one is a split): "
                         + ", ".join(apk.name for apk, _ in parsed) if parsed else
                         "no APK could be read: " + "; ".join(warnings))
    if len(bases) > 1:
        raise InputError("several base APKs given: " + ", ".join(f"{apk.name} ({m.package})" for apk, m in bases)
                         + "; give the APK files of one app")
    base_apk, base = bases[0]
    others = {m.package for _, m in parsed if m.package != base.package}
    if others:
        strays = ", ".join(f"{apk.name} ({m.package})" for apk, m in parsed if m.package != base.package)
        raise InputError(f"APKs of different apps: the base is {base.package}, but {strays}")
    splits = sorted(((apk, m) for apk, m in parsed if m.split is not None), key=lambda p: (p[1].split, p[0].name))
    names = [m.split for _, m in splits]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"split {duplicates[0]!r} given more than once")
    return base_apk, base, splits


def _merge(base: Manifest, splits: list[Manifest]) -> Manifest:
    """A split set installs as one app: its feature splits add components and meta-data. Not permissions:
    Android reads only the <application> of a split (ParsingPackageUtils.parseSplitApk), so a permission a split
    requests is granted only if the base requests it too."""
    if not splits:
        return base
    components = {(c.kind, c.name): c for c in base.components}
    for split in splits:
        for c in split.components:
            components.setdefault((c.kind, c.name), c)
    return dataclasses.replace(
        base,
        service_permissions=tuple(sorted({*base.service_permissions,
                                          *(g for s in splits for g in s.service_permissions)})),
        defined=tuple(sorted({*base.defined, *(d for s in splits for d in s.defined)})),
        components=tuple(sorted(components.values(), key=lambda c: (c.kind, c.name))),
        meta_data=tuple(sorted({*base.meta_data, *(k for s in splits for k in s.meta_data)})),
        meta_data_off=tuple(sorted({*base.meta_data_off, *(k for s in splits for k in s.meta_data_off)})))


# -- code -----------------------------------------------------------------------------------------------
def _check_dex(dex: DexFile) -> None:
    """Read the tables every later stage walks, so that a corrupt dex fails here, alone, not mid-search."""
    dex.class_descriptors()
    dex.method_at(0)     # reads every class_data item and code_item header
    dex.code_area()


def _open_dexes(apks: list[ApkContents], warnings: list[str]) -> list[DexFile]:
    dexes, failures = [], []
    for apk in apks:
        for problem in apk.unreadable_dexes:
            failures.append(problem)
            warnings.append(f"dex skipped: {problem}")
        parsed, problems = _parsed_dexes(apk.dexes)
        for problem in problems:
            failures.append(problem)
            warnings.append(f"dex skipped: {problem}")
        dexes += parsed
    if failures and not dexes:
        raise InputError("no readable code: " + "; ".join(failures))
    return dexes


def _parsed_dexes(files: Iterable[tuple[str, bytes]]) -> tuple[list[DexFile], list[str]]:
    """(the dex sections of these (name, bytes) files, each checked by _check_dex; why each file that could not
    be read failed): one corrupt file costs only its own code."""
    dexes, problems = [], []
    for name, data in files:
        try:
            sections = dex_files(data, name)
            for dex in sections:
                _check_dex(dex)
        except BoundExceeded:
            raise
        except InputError as exc:
            problems.append(str(exc))
            continue
        dexes += sections
    return dexes, problems


MAX_NAMED_UNREAD = 3   # component classes, or carried members, a warning names


def _components_without_code(manifest: Manifest, classes: list[str]) -> list[str]:
    """The manifest's component classes (application, activities, services, receivers, providers) that no dex
    read defines. Not asked of an app without code (hasCode="false") or of an instrumentation APK, whose classes
    may be the target app's; platform classes (android.app.Application named outright) are the device's."""
    if not manifest.has_code or manifest.instrumentation_targets:
        return []
    defined = set(classes)
    return sorted({c.name for c in manifest.components if c.name not in defined and not is_platform(c.name)})


def _runtimes_not_read(manifest: Manifest, classes: list[str]) -> list[str]:
    """A warning for each runtime in the app that runs its logic from code the scan does not read (C#, IL2CPP,
    Python, a game engine's scripts) and calls Android from it by name (rules/libraries.yaml
    `runtimes_not_read`): that code's reads have no call site in any dex, and a complete scan's silence would read
    as their absence. Known by a class its Java side defines in the app's dex, or a component the manifest names."""
    runtimes = attribution_rules().runtimes_not_read
    prefixes = tuple(f"{package}." for runtime in runtimes for package in runtime.packages)
    marked = [name for name in classes if name.startswith(prefixes)]   # one pass, mostly empty
    components = {c.name for c in manifest.components}
    warnings = []
    for runtime in runtimes:
        evidence = sorted(name for name in marked if any(name.startswith(f"{p}.") for p in runtime.packages))
        evidence += sorted(components.intersection(runtime.components))
        if evidence:
            warnings.append(f"code not read: {runtime.name} ({evidence[0]}) runs {runtime.code}; that code can "
                            "call any Android API by name, with no call site in a dex, and was not scanned")
    return warnings


def _carried_code(apks: list[ApkContents], dexes: list[DexFile], warnings: list[str]) -> list[DexFile]:
    """The dex code the app carries outside classes*.dex (assets/audience_network.dex, a plugin jar:
    ApkContents.carried_dexes) when its code constructs a class loader that loads dex: that code runs in the app,
    and is scanned after the app's own dexes (a class loader asks its parent first: the app's definition of a
    class comes first in the hierarchy; a class both define keeps the call sites of both, as a hotfix framework
    puts its patch ahead). Either alone says little: an APK in assets is often another app to install, and Play services
    loads its modules with the same class loaders. An app of its own (an APK), code that could not be read and
    members not looked into are not scanned, and said."""
    carried = [dex for apk in apks for dex in apk.carried_dexes]
    unreadable = [problem for apk in apks for problem in apk.unreadable_carried]
    apps = [name for apk in apks for name in apk.carried_apps]
    not_peeked = sum(apk.members_not_peeked for apk in apks)
    if not carried and not unreadable and not apps and not not_peeked:
        return []
    loader = next((d.decode() for d in DEX_LOADER_TYPES if any(_constructs(dex, d.decode()) for dex in dexes)), None)
    if loader is None:
        return []
    why = f"the app's code constructs {dotted(loader)}, which loads such code at runtime"
    opened, problems = _parsed_dexes(carried)
    unreadable += problems
    if apps:
        warnings.append(f"code not read: {_first_named(apps, ', ')} {'is an app' if len(apps) == 1 else 'are apps'}"
                        f" of {'its' if len(apps) == 1 else 'their'} own (a manifest): one the app installs is not "
                        f"its code, one a plugin framework loads runs in it; not scanned, and {why}")
    if unreadable:
        warnings.append(f"code not read: {_first_named(unreadable, '; ')}; {why}")
    if not_peeked:
        warnings.append(f"code not read: {not_peeked} members were not looked into for dex code (past the first "
                        f"{MAX_MEMBERS_PEEKED} per APK, or archives over {MAX_NESTED_ARCHIVE // 2 ** 20} MiB or "
                        f"{MAX_NESTED_ENTRIES} entries), and {why}")
    return opened


def _first_named(items: list[str], separator: str) -> str:
    """The first MAX_NAMED_UNREAD of `items`, and how many more."""
    more = len(items) - MAX_NAMED_UNREAD
    return separator.join(items[:MAX_NAMED_UNREAD]) + (f" (and {more} more)" if more > 0 else "")


def _constructs(dex: DexFile, descriptor: str) -> bool:
    """Whether the dex invokes a constructor of the class `descriptor` (its method_ids list only what the code
    refers to)."""
    try:
        return bool(dex.find_methods(descriptor, "<init>"))
    except InputError:   # a corrupt table: that dex's share of the evidence is lost, as in _code_facts
        return False


def _code_facts(dexes: list[DexFile], warnings: list[str]) -> tuple[list[str], list[str]]:
    """Defined class names and hosts named in strings, dex by dex so that one corrupt table costs only its
    own dex's share of the SDK evidence."""
    classes: dict[str, None] = {}
    strings: set[str] = set()
    for dex in dexes:
        try:
            names, found = class_names([dex]), string_constants([dex])
        except BoundExceeded:
            raise
        except InputError as exc:
            warnings.append(f"SDK evidence from {dex.name} incomplete: {exc}")
            continue
        classes.update(dict.fromkeys(names))
        strings.update(found)
    return list(classes), string_hosts(sorted(strings))


def _entry_code(catalogue: Catalogue, dexes: list[DexFile], warnings: list[str]) -> set[str]:
    """entry_classes_with_code dex by dex, as _code_facts: it decodes the method_ids its entry classes invoke, and
    one corrupt one (a proto index past its table) refused the whole app, whatever the other dexes held."""
    found: set[str] = set()
    for dex in dexes:
        try:
            found |= entry_classes_with_code(catalogue, [dex])
        except BoundExceeded:
            raise
        except InputError as exc:
            warnings.append(f"SDK evidence from {dex.name} incomplete: {exc}")
    return found


def _call_sites(dexes: list[DexFile], catalogue: Catalogue, app: AppContext, manifest: Manifest,
                warnings: list[str], stats: dict) -> tuple[list[CallSite], list[DexFile]]:
    """The call-site search over all dexes; if one dex turns out corrupt mid-search, it is left out."""
    entry = list(manifest.entry_classes)
    try:
        return find_call_sites(dexes, catalogue=catalogue, app_package=app, component_classes=entry,
                               stats=stats), dexes
    except BoundExceeded:
        raise
    except InputError as first:
        good = []
        for dex in dexes:
            try:
                find_call_sites([dex], catalogue=catalogue, app_package=app, component_classes=entry)
            except BoundExceeded:      # the time limit, a bound: not a fault of this dex
                raise
            except InputError as exc:
                warnings.append(f"dex skipped (call-site search): {exc}")
                continue
            good.append(dex)
        if len(good) == len(dexes):   # only the cross-dex search fails: report it, keep no call sites
            warnings.append(f"call-site search failed: {first}")
            return [], dexes
        if not good:
            return [], []
        return find_call_sites(good, catalogue=catalogue, app_package=app, component_classes=entry,
                               stats=stats), good


# -- observations ---------------------------------------------------------------------------------------
def _permission_observations(manifest: Manifest) -> list[Observation]:
    """declared-permission: each data type a requested permission unlocks (rules/permissions.yaml `observe`)."""
    rules = permission_rules()
    by_type: dict[str, list[Evidence]] = defaultdict(list)
    for request in manifest.requested:
        rule = rules.get(request.name)
        if rule is None or not rule.observe:
            continue
        if request.max_sdk is not None and manifest.min_sdk is not None and request.max_sdk < manifest.min_sdk:
            continue   # capped below the app's own minimum: granted on no device the app installs on
        detail = f"{rule.protection} permission"
        if request.max_sdk is not None:
            detail += f", requested up to API {request.max_sdk}"
        if request.min_sdk_23:
            detail += ", requested from API 23 (uses-permission-sdk-23)"
        if request.never_for_location and rule.never_for_location:
            detail += ", usesPermissionFlags neverForLocation"
        for data_type in rule.unlocks(request):
            by_type[data_type].append(Evidence("permission", request.name, "AndroidManifest.xml", detail))
    for service, permission in manifest.service_permissions:
        rule = rules.get(permission)
        if rule is None or not rule.observe or not rule.binds_service:
            continue
        detail = (f"guards service {service}: the system binds it once the user enables it "
                  f"({rule.protection} permission)")
        for data_type in rule.data_types:
            by_type[data_type].append(Evidence("permission", permission, "AndroidManifest.xml", detail))
    return [Observation(data_type, Level.DECLARED_PERMISSION, FIRST_PARTY, SOURCE, tuple(sorted(evidence)))
            for data_type, evidence in sorted(by_type.items())]


def _call_site_observations(sites: Iterable[CallSite]) -> list[Observation]:
    """present / reachable: one observation per data type, actor, level and feasibility verdict (a capability
    Android refuses is not merged with one it allows), with capped evidence; call-site evidence carries the
    call path."""
    groups: dict[tuple, list[Evidence]] = defaultdict(list)
    for site in sites:
        level = Level.REACHABLE if site.reachable else Level.PRESENT
        detail = f"{site.api_id} via {site.via}" if site.via else site.api_id
        groups[(site.data_type, site.actor, level, site.feasibility)].append(
            Evidence("call-site", site.api, site.caller, detail, path=site.path))
    out = []
    for (data_type, actor, level, verdict), evidence in sorted(
            groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2],
                                            dataclasses.astuple(kv[0][3]) if kv[0][3] else ())):
        evidence = sorted(set(evidence))
        shown = evidence[:MAX_EVIDENCE]
        if len(evidence) > MAX_EVIDENCE:
            shown.append(Evidence("note", f"{len(evidence)} call sites", None,
                                  f"first {MAX_EVIDENCE} listed; the report's api_calls has them all"))
        out.append(Observation(data_type, level, actor, SOURCE, tuple(shown), feasibility=verdict))
    return out
