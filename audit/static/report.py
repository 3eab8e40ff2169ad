"""The static scan's result and its JSON contract (`appaudit.scan/1`), relied on by the rules, the corpus
store and CI. Order is deterministic: identical input gives byte-identical JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import Actor, Evidence, Observation, order_key, sorted_observations, total_order

SCHEMA = "appaudit.scan/1"

if TYPE_CHECKING:
    from ..model import Feasibility


@dataclass(frozen=True)
class InputFile:
    path: str          # as given by the user (or member name inside a bundle: bundle.xapk!base.apk)
    sha256: str
    size: int
    role: str          # apk | split | bundle | member

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "role": self.role}


@dataclass(frozen=True)
class AppInfo:
    package: str
    version_code: str | None = None
    version_name: str | None = None
    min_sdk: int | None = None
    target_sdk: int | None = None
    label: str | None = None
    splits: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "version_code": self.version_code, "version_name": self.version_name,
                "min_sdk": self.min_sdk, "target_sdk": self.target_sdk, "label": self.label,
                "splits": list(self.splits)}


@dataclass(frozen=True)
class Permission:
    name: str
    protection_level: str            # dangerous | normal | signature | signatureOrSystem | unknown
    data_types: tuple[str, ...] = ()  # what it unlocks, from rules/permissions.yaml
    max_sdk: int | None = None
    implicit: bool = False           # not in the manifest: Android requests it for the app's old target SDK

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "protection_level": self.protection_level,
               "data_types": list(self.data_types), "max_sdk": self.max_sdk}
        if self.implicit:
            out["implicit"] = True
        return out


@dataclass(frozen=True)
class Component:
    kind: str   # activity | service | receiver | provider | application
    name: str   # fully qualified class name
    exported: bool | None = None
    launcher: bool = False   # an activity the home screen starts (intent filter MAIN + LAUNCHER): the app's own

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "exported": self.exported}
        if self.launcher:
            out["launcher"] = True   # only when true: reports of apps' other components stay as they were
        return out


@dataclass(frozen=True)
class SdkHint:
    """An SDK the app names (a host in its strings, a manifest key, a few classes) whose code was not found: not a
    detection, and no finding is made from it."""
    id: str
    name: str
    organisation: str
    categories: tuple[str, ...]
    evidence: tuple[Evidence, ...]   # kinds: host, manifest-key, sdk-class (below the detection threshold)
    summary: str                     # "mentions host X; no code found"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "organisation": self.organisation,
                "categories": list(self.categories), "summary": self.summary,
                "evidence": [e.to_json() for e in self.evidence]}


@dataclass(frozen=True)
class SdkDetection:
    id: str
    name: str
    organisation: str
    categories: tuple[str, ...]
    evidence: tuple[Evidence, ...]   # code: sdk-class (prefix + count), entry-class, manifest-component;
                                     # corroborating: manifest-key, host

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "organisation": self.organisation,
                "categories": list(self.categories), "evidence": [e.to_json() for e in self.evidence]}


@total_order
@dataclass(frozen=True)
class CallSite:
    data_type: str
    api: str                 # callee in Dalvik form: Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    caller: str              # calling method in Dalvik form: Lcom/example/Foo;->bar(I)V
    actor: Actor
    api_id: str              # the rules/apis.yaml entry id
    reachable: bool          # a call path leads from an entry point to the calling method (`path`)
    via: str | None = None   # library method the call was made in, when attributed to its caller
    # entry method, ..., calling method (Dalvik names, shortest call path); () when none was found
    path: tuple[str, ...] = field(default=(), compare=False)
    # can Android let this app obtain the data through this call (audit/static/feasibility.py)
    feasibility: Feasibility | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        out = {"data_type": self.data_type, "api": self.api, "api_id": self.api_id, "caller": self.caller,
               "actor": self.actor.to_json(), "reachable": self.reachable}
        if self.via:
            out["via"] = self.via
        if self.path:
            out["path"] = list(self.path)
        if self.feasibility is not None:
            out["feasibility"] = self.feasibility.to_json()
        return out


@dataclass(frozen=True)
class ScanReport:
    app: AppInfo
    inputs: tuple[InputFile, ...]
    permissions: tuple[Permission, ...]
    components: tuple[Component, ...]
    meta_data: tuple[str, ...]                 # <meta-data> keys (values may be API keys: not reported)
    sdks: tuple[SdkDetection, ...]
    api_calls: tuple[CallSite, ...]
    observations: tuple[Observation, ...]
    warnings: tuple[str, ...] = ()             # partial results: what could not be read, and why
    stats: dict[str, Any] = field(default_factory=dict, compare=False)
    hints: tuple[SdkHint, ...] = ()            # SDKs named (hosts, keys) whose code was not found: no findings
    # attribution.AppContext the scan attributed with (not in the JSON: app_context_from_report rebuilds it)
    app_code: Any = field(default=None, compare=False, repr=False)
    # feasibility.AppLevels the verdicts were judged with (levels, target, permissions; not in the JSON)
    app_levels: Any = field(default=None, compare=False, repr=False)

    @property
    def partial(self) -> bool:
        return bool(self.warnings)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "app": self.app.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "permissions": [p.to_json() for p in sorted(self.permissions, key=lambda p: p.name)],
            "components": [c.to_json() for c in sorted(self.components, key=lambda c: (c.kind, c.name))],
            "meta_data": sorted(self.meta_data),
            "sdks": [s.to_json() for s in sorted(self.sdks, key=lambda s: s.id)],
            "api_calls": [c.to_json() for c in sorted(self.api_calls, key=order_key)],
            "observations": [o.to_json() for o in sorted_observations(self.observations)],
            "partial": self.partial,
            "warnings": list(self.warnings),
            "hints": [h.to_json() for h in sorted(self.hints, key=lambda h: h.id)],
        }
