"""`appaudit audit`: scan the app, read captures, judge against the data sheet, answer an inquiry, report.

Exit codes: 0 nothing new at or above --fail-on; 1 new findings at or above it; 2 usage or input error.
Findings whose fingerprint is in --baseline (a previous JSON report) are accepted: reported, marked, and
never fail the gate, so CI fails only on what a change introduced.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from ..model import Observation, Severity
from ..redact import redact, redact_report
from ..report import check_output, dumps_json, write_output
from ..rulesdata import load_json
from .declarations import Declarations, load_declarations
from .engine import AuditInput, AuditResult, DetectedSdk, PermissionUse, Sent, evaluate
from .inquiry import ClaimResult, answer, load_inquiry

SCHEMA = "appaudit.audit/1"
RUN_EVENTS = "frida-events.jsonl"
PARTIAL_MARKERS = ("incomplete run", "judged on hooked calls only")


# -- adapters from the other stages ------------------------------------------------------------------------
def _get(item: Any, name: str, default: Any = None) -> Any:
    if item is None:
        return default
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


def sent_from(transmission: Any, reveal: bool = False) -> Sent:
    """A traffic-stage transmission (object or its JSON form) as the engine's `Sent`; the captured value is
    kept only redacted unless `reveal`."""
    recipient = _get(transmission, "recipient")
    if isinstance(recipient, str) or recipient is None:
        recipient_id, party = recipient, _get(transmission, "party")
    else:
        recipient_id, party = _get(recipient, "id"), _get(recipient, "party", _get(transmission, "party"))
    request = _get(transmission, "request")
    if not isinstance(request, str):
        request = _get(request, "id", str(request) if request is not None else "?")
    return Sent(data_type=str(_get(transmission, "data_type")), request=str(request),
                host=str(_get(transmission, "host") or ""), scheme=str(_get(transmission, "scheme") or ""),
                where=str(_get(transmission, "where") or ""), recipient=recipient_id, party=party,
                encoding=_get(transmission, "encoding"), value=_shown(_get(transmission, "value"), reveal))


def _shown(value: Any, reveal: bool) -> str | None:
    if value is None or value == "":
        return None
    return str(value) if reveal else redact(str(value))


def sent_from_observations(observations: Iterable[Observation]) -> list[Sent]:
    """When the traffic stage gives only observations: each request evidence of a transmission."""
    out = []
    for o in observations:
        if o.level.label != "transmitted":
            continue
        for e in o.evidence:
            if e.kind == "request":
                out.append(Sent(o.data_type, e.ref, where=e.where or "", recipient=o.recipient, party=o.party))
    return out


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / RUN_EVENTS).is_file()


def _identifier_values(data: Any) -> list[str]:
    """Every string value in a loaded identifiers file (data type -> value or values), for redaction."""
    out: list[str] = []
    if isinstance(data, dict):
        for value in data.values():
            out.extend(_identifier_values(value))
    elif isinstance(data, (list, tuple, set, frozenset)):
        for value in data:
            out.extend(_identifier_values(value))
    elif isinstance(data, (str, int, float)) and not isinstance(data, bool):
        out.append(str(data))
    else:
        for name in ("value", "values"):
            if hasattr(data, name):
                out.extend(_identifier_values(getattr(data, name)))
    return out


def _run_values(run_dir: Path) -> list[str]:
    """Values the Frida agent captured in a run: personal data to redact from the report."""
    from ..runtime.events import read_events
    values: list[str] = []
    for event in read_events(run_dir):
        if event.get("value") is not None:
            values.extend(_identifier_values(event["value"]))
    return values


# -- the pipeline ------------------------------------------------------------------------------------------
def gather(apps: list[str], captures: Iterable[str] = (), identifiers: str | None = None, reveal: bool = False
           ) -> tuple[AuditInput, Any, list[str]]:
    """Run the static scan and analyse the captures; returns the engine's input, the scan, and the
    identifier values seen (to redact)."""
    from ..static.scan import scan_app

    scan = scan_app(apps)
    package = scan.app.package
    observations: list[Observation] = list(scan.observations)
    transmissions: list[Sent] = []
    warnings = [f"static: {w}" for w in scan.warnings]
    secrets: list[str] = []
    captures = [Path(c) for c in captures]
    for capture in captures:
        if not capture.exists():
            raise InputError(f"capture not found: {capture}")
    runs = [c for c in captures if is_run_folder(c)]
    if runs:
        from ..runtime.events import observations_from_run
        for run in runs:
            observations.extend(observations_from_run(run))
            secrets.extend(_run_values(run))
            truth = run / "identifiers.json"
            if truth.is_file():
                from ..traffic import load_identifiers
                secrets.extend(_identifier_values(load_identifiers(truth)))
            meta = run / "run.json"
            if meta.is_file():
                info = load_json(meta, "run metadata")
                if isinstance(info, dict) and info.get("complete") is False:
                    warnings.append(f"runtime: {run} is an incomplete run (the capture stopped early)")
    known = None
    if identifiers:
        from ..traffic import load_identifiers
        known = load_identifiers(identifiers)
        secrets.extend(_identifier_values(known))
    if captures:
        from ..traffic import analyse
        try:
            traffic = analyse([str(c) for c in captures], known, package, [])
        except InputError as exc:
            if not runs:
                raise
            # The hooks of a run are still evidence when its traffic cannot be read (a killed capture):
            # keep them, and say what is missing.
            warnings.append(f"traffic: {exc}; judged on hooked calls only")
            traffic = None
        traffic_obs = list(_get(traffic, "observations", ()) or ())
        observations.extend(traffic_obs)
        raw = list(_get(traffic, "transmissions", ()) or ())
        transmissions = [sent_from(t, reveal) for t in raw] if raw else sent_from_observations(traffic_obs)
        warnings.extend(f"traffic: {w}" for w in (_get(traffic, "warnings", ()) or ()))
    artifact = scan.inputs[0].path if scan.inputs else (apps[0] if apps else None)
    audit = AuditInput(
        app=package, observations=tuple(observations),
        sdks=tuple(DetectedSdk(s.id, s.name, tuple(s.evidence)) for s in scan.sdks),
        permissions=tuple(PermissionUse(p.name, p.protection_level, tuple(p.data_types)) for p in scan.permissions),
        transmissions=tuple(transmissions), artifact=artifact, static_scanned=True,
        static_complete=not scan.partial, captured=bool(captures), warnings=tuple(warnings))
    return audit, scan, secrets


def build_report(audit: AuditInput, declarations: Declarations, result: AuditResult,
                 claims: list[ClaimResult] | None = None, inquiry: Any = None, scan: Any = None,
                 captures: Iterable[str] = (), baseline: set[str] | None = None) -> dict[str, Any]:
    baseline = baseline or set()
    warnings = list(audit.warnings)
    if declarations.app and declarations.app != audit.app:
        warnings.append(f"data sheet is for {declarations.app}, the app is {audit.app}")
    if declarations.sdks is None:
        warnings.append("the data sheet lists no SDKs: the undeclared-SDK check was not run")
    if declarations.unmapped:
        warnings.append("data-sheet types with no appaudit data type (not judged): "
                        + ", ".join(declarations.unmapped))
    findings = []
    titles = {c.id: c.title for c in result.checks.checks}
    for finding in result.findings:
        item = finding.to_json()
        item["title"] = titles.get(finding.rule, finding.rule)
        item["baseline"] = finding.fingerprint in baseline
        findings.append(item)
    by_severity = {s.label: sum(1 for f in result.findings if f.severity is s) for s in reversed(Severity)}
    app = scan.app.to_json() if scan is not None else {"package": audit.app}
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "app": app,
        "artifact": audit.artifact,
        "inputs": [i.to_json() for i in scan.inputs] if scan is not None else [],
        "captures": [str(c) for c in captures],
        "declarations": declarations.to_json(),
        "summary": {
            "findings": len(findings), "by_severity": by_severity,
            "new": sum(1 for f in findings if not f["baseline"]),
            "baselined": sum(1 for f in findings if f["baseline"]),
            "claims": {v: sum(1 for c in claims or () if c.verdict == v)
                       for v in ("supported", "contradicted", "inconclusive")},
            "evidence": {"static": audit.static_scanned, "static_complete": audit.static_complete,
                         "captured": audit.captured},
        },
        "findings": findings,
        "inquiry": {"title": inquiry.title, "source": inquiry.source, "path": inquiry.path} if inquiry else None,
        "claims": [c.to_json() for c in claims or ()],
        "data_types": result.data_types(declarations),
        "sdks": [{"id": s.id, "name": s.name, "evidence": [e.to_json() for e in s.evidence]}
                 for s in sorted(audit.sdks, key=lambda s: s.id)],
        "flows": flows(audit, result),
        "checks": [{"id": c.id, "title": c.title, "severity": c.severity.label, "help": c.help}
                   for c in result.checks.checks],
        # Partial: some evidence could not be read (an incomplete scan, an unreadable or unfinished capture).
        "partial": (audit.static_scanned and not audit.static_complete)
        or any(marker in w for w in warnings for marker in PARTIAL_MARKERS),
        "warnings": warnings,
    }
    return report


def flows(audit: AuditInput, result: AuditResult) -> list[dict[str, Any]]:
    """actor -> data type -> recipient edges, the strongest level each, for the flow diagram."""
    edges: dict[tuple, dict[str, Any]] = {}
    for j in result.judgements:
        if j.level.label == "declared-permission":
            continue   # a permission is not a flow; the permission check reports it
        key = (str(j.actor), j.data_type, j.recipient or ("first party" if j.level.label == "transmitted" else ""))
        edge = edges.setdefault(key, {"actor": str(j.actor), "data_type": j.data_type, "recipient": key[2] or None,
                                      "level": j.level.label, "category": j.category})
        if j.level.label == "transmitted" or edge["level"] != "transmitted":
            edge["level"] = max(edge["level"], j.level.label, key=_level_rank)
    return [edges[k] for k in sorted(edges)]


def _level_rank(label: str) -> int:
    from ..model import Level
    return Level.parse(label).value


def load_baseline(path: str) -> set[str]:
    data = load_json(path, "baseline report")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("findings"), list):
        raise InputError(f"{path}: not an appaudit audit report ({SCHEMA}) in JSON")
    out = set()
    for index, finding in enumerate(data["findings"]):
        if not isinstance(finding, dict) or not isinstance(finding.get("fingerprint"), str):
            raise InputError(f"{path}: findings[{index}]: fingerprint: missing")
        out.add(finding["fingerprint"])
    return out


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return dumps_json(report)
    if fmt == "md":
        from ..report.markdown import render_markdown
        return render_markdown(report)
    if fmt == "html":
        from ..report.html import render_html
        return render_html(report)
    if fmt == "sarif":
        from ..report.sarif import render_sarif
        return dumps_json(render_sarif(report))
    raise InputError(f"unknown format {fmt!r}")


def audit_app(apps: list[str], datasheet: str, captures: Iterable[str] = (), identifiers: str | None = None,
              inquiry_path: str | None = None, baseline_path: str | None = None,
              reveal: bool = False) -> dict[str, Any]:
    """The whole audit as a report dict (what `appaudit audit` writes as JSON)."""
    captures = list(captures)
    declarations = load_declarations(datasheet)          # read inputs first: bad input fails before a scan
    inquiry = load_inquiry(inquiry_path) if inquiry_path else None
    baseline = load_baseline(baseline_path) if baseline_path else set()
    audit, scan, secrets = gather(apps, captures, identifiers, reveal)
    result = evaluate(audit, declarations)
    claims = answer(inquiry, audit, declarations) if inquiry else None
    report = build_report(audit, declarations, result, claims, inquiry, scan, captures, baseline)
    report["redacted"] = not reveal
    return report if reveal else redact_report(report, secrets)


def gate(report: dict[str, Any], fail_on: str | None) -> int:
    if not fail_on:
        return 0
    threshold = Severity.parse(fail_on)
    return 1 if any(not f["baseline"] and Severity.parse(f["severity"]) >= threshold
                    for f in report["findings"]) else 0


def run(args) -> int:
    inputs = [*args.app, *args.capture, args.datasheet, *(p for p in (args.identifiers, args.inquiry,
                                                                      args.baseline) if p)]
    check_output(args.output, inputs)
    report = audit_app(args.app, args.datasheet, args.capture, args.identifiers, args.inquiry, args.baseline,
                       args.reveal)
    write_output(render(report, args.format), args.output, inputs)
    return gate(report, args.fail_on)
