"""From inputs to the rule engine's `AuditInput`: one `Source` per input kind (an APK scan, a run folder, a set
of captures), each adding what it saw to a `Gathered` accumulator through the stages' public functions.

    audit, scan, secrets = gather(["app.apk"], ["run/", "x.har"], identifiers="ids.yaml")

An audit needs no APK: from captures alone (`gather([], ["x.har"], app="com.example")`) it judges what was
sent, and says nothing about code (no static evidence, no absence claims).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

from .errors import InputError
from .model import Observation, Transmission
from .rulesdata import load_json
from .runtime.runfolder import is_run_folder



@dataclass
class Gathered:
    """What the sources saw, in the order they saw it."""

    app: str | None = None
    observations: list[Observation] = field(default_factory=list)
    transmissions: list[Transmission] = field(default_factory=list)
    sdks: list[Any] = field(default_factory=list)
    sdk_hints: list[Any] = field(default_factory=list)   # SDKs the app names (hosts, keys) whose code was not found
    permissions: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)     # evidence not read in full, and why
    secrets: list[str] = field(default_factory=list)     # identifier values to redact from every report
    scan: Any = None
    artifact: str | None = None
    captured: bool = False
    known_identifiers: Any = None
    first_party_domains: list[str] = field(default_factory=list)   # the app's own hosts, from its manifest
    app_code: Any = None      # attribution.AppContext: first party from the scanned manifest, for every stage


class Source(Protocol):
    """One kind of input. `add_to` reads it and records what it saw."""

    def add_to(self, gathered: Gathered) -> None: ...


def identifier_values(data: Any) -> list[str]:
    """Every string value in a loaded identifiers file (data type -> value or values), for redaction."""
    out: list[str] = []
    if isinstance(data, dict):
        for value in data.values():
            out.extend(identifier_values(value))
    elif isinstance(data, (list, tuple, set, frozenset)):
        for value in data:
            out.extend(identifier_values(value))
    elif isinstance(data, (str, int, float)) and not isinstance(data, bool):
        out.append(str(data))
    else:
        for name in ("value", "values"):
            if hasattr(data, name):
                out.extend(identifier_values(getattr(data, name)))
    return out


@dataclass(frozen=True)
class ApkScan:
    """The static scan of an APK (or a split set / bundle): code paths, permissions, SDKs."""

    paths: tuple[str, ...]

    def add_to(self, gathered: Gathered) -> None:
        from .rules.engine import DetectedSdk, PermissionUse
        from .static.scan import scan_app
        scan = scan_app(list(self.paths))
        gathered.scan = scan
        gathered.app = scan.app.package
        gathered.observations.extend(scan.observations)
        gathered.sdks.extend(DetectedSdk(s.id, s.name, tuple(s.evidence)) for s in scan.sdks)
        gathered.sdk_hints.extend(DetectedSdk(h.id, h.name, tuple(h.evidence)) for h in scan.hints)
        gathered.permissions.extend(PermissionUse(p.name, p.protection_level, tuple(p.data_types))
                                    for p in scan.permissions)
        gathered.warnings.extend(f"static: {w}" for w in scan.warnings)
        if scan.partial:
            gathered.partial.append("static: the scan did not read everything (see the static warnings)")
        gathered.artifact = scan.inputs[0].path if scan.inputs else self.paths[0]
        gathered.app_code = scan.app_code
        from .traffic.firstparty import app_domains
        try:
            gathered.first_party_domains.extend(app_domains(self.paths[0])[1])
        except InputError as exc:   # the scan read the app; only its own domains are unknown
            gathered.warnings.append(f"static: the app's own domains could not be read: {exc}")


@dataclass(frozen=True)
class RunFolder:
    """A run folder of `appaudit capture`: the hooks' runtime reads and the values they captured (its traffic is
    read with the other captures)."""

    path: Path

    def add_to(self, gathered: Gathered) -> None:
        from .runtime.events import observations_from_run, read_events
        gathered.observations.extend(observations_from_run(self.path, app_code=gathered.app_code))
        for event in read_events(self.path):
            if event.get("value") is not None:
                gathered.secrets.extend(identifier_values(event["value"]))
        truth = self.path / "identifiers.json"
        if truth.is_file():
            from .traffic import load_identifiers
            gathered.secrets.extend(identifier_values(load_identifiers(truth)))
        meta = self.path / "run.json"
        if meta.is_file():
            info = load_json(meta, "run metadata")
            if isinstance(info, dict) and info.get("complete") is False:
                gathered.warnings.append(f"runtime: {self.path} is an incomplete run (the capture stopped early)")
                gathered.partial.append(f"runtime: {self.path} is an incomplete run")


@dataclass(frozen=True)
class Captures:
    """HARs, mitmproxy flows, pcaps and the traffic of run folders, analysed together (one request numbering)."""

    paths: tuple[Path, ...]
    reveal: bool = False
    hooks_too: bool = False   # a run folder is among them: its hooks stand even if its traffic cannot be read

    def add_to(self, gathered: Gathered) -> None:
        from .traffic import analyse
        try:
            traffic = analyse([str(c) for c in self.paths], gathered.known_identifiers, gathered.app, [],
                              gathered.first_party_domains, gathered.app_code)
        except InputError as exc:
            if not self.hooks_too:
                raise
            # The hooks of a run are still evidence when its traffic cannot be read (a killed capture):
            # keep them, and say what is missing.
            gathered.warnings.append(f"traffic: {exc}; judged on hooked calls only")
            gathered.partial.append("traffic: no capture could be read; judged on hooked calls only")
            return
        gathered.captured = True
        gathered.app = gathered.app or traffic.app_package
        gathered.transmissions.extend(traffic.shown_transmissions(self.reveal))
        gathered.warnings.extend(f"traffic: {w}" for w in traffic.notes)
        of_captures = {id(hit) for result in traffic.captures for hit in result.limits}
        gathered.partial.extend(f"traffic: {hit.limit} bound ({hit.bound}) reached: {hit.dropped} {hit.unit} "
                                "not listed" for hit in traffic.limits if id(hit) not in of_captures)
        for result in traffic.captures:
            if result.status == "skipped":
                gathered.warnings.append(f"traffic: {result.path} skipped: {result.reason}")
            elif result.partial:
                gathered.partial.append(f"traffic: {result.path} was read in part")
            if result.app_package and gathered.app and result.app_package != gathered.app:
                gathered.warnings.append(f"capture {result.path} was recorded for {result.app_package}, not for "
                                         f"the audited app {gathered.app}: its traffic may be another app's")


def sources_for(apps: Iterable[str], captures: Iterable[str], reveal: bool = False) -> list[Source]:
    captures = [Path(c) for c in captures]
    for capture in captures:
        if not capture.exists():
            raise InputError(f"capture not found: {capture}")
    sources: list[Source] = []
    apps = list(apps)
    if apps:
        sources.append(ApkScan(tuple(apps)))
    runs = [c for c in captures if is_run_folder(c)]
    sources.extend(RunFolder(run) for run in runs)
    if captures:
        sources.append(Captures(tuple(captures), reveal, bool(runs)))
    return sources


def gather(apps: Iterable[str], captures: Iterable[str] = (), identifiers: str | None = None,
           reveal: bool = False, app: str | None = None, first_party_domains: Iterable[str] = ()):
    """Run every source; returns the engine's input, the static scan (None without an APK) and the identifier
    values seen (to redact). `app` names the audited app when there is no APK (else the capture's own)."""
    from .rules.engine import AuditInput, transmitted_observations
    apps, captures = list(apps), list(captures)
    if not apps and not captures:
        raise InputError("nothing to audit: give an APK, a capture (--capture), or both")
    gathered = Gathered(app=app, first_party_domains=list(first_party_domains))
    if identifiers:
        from .traffic import load_identifiers
        gathered.known_identifiers = load_identifiers(identifiers)
        gathered.secrets.extend(identifier_values(gathered.known_identifiers))
    for source in sources_for(apps, captures, reveal):
        source.add_to(gathered)
    observations = [*gathered.observations, *transmitted_observations(gathered.transmissions)]
    scan = gathered.scan
    audit = AuditInput(
        app=gathered.app, observations=tuple(observations), sdks=tuple(gathered.sdks),
        permissions=tuple(gathered.permissions), transmissions=tuple(gathered.transmissions),
        artifact=gathered.artifact, static_scanned=scan is not None,
        static_complete=scan is not None and not scan.partial, captured=gathered.captured,
        warnings=tuple(gathered.warnings), partial=tuple(gathered.partial),
        app_levels=scan.app_levels if scan is not None else None, sdk_hints=tuple(gathered.sdk_hints),
        manifest_keys=tuple(scan.meta_data) if scan is not None else ())
    return audit, gathered.scan, gathered.secrets
