"""`appaudit audit`: scan the app, read captures, judge against the data sheet, answer an inquiry, report.

Exit codes: 0 nothing new at or above --fail-on; 1 new findings at or above it; 2 usage or input error.
Findings whose fingerprint is in --baseline (a previous JSON report) are accepted: reported, marked, and
never fail the gate, so CI fails only on what a change introduced.
"""
from __future__ import annotations

import sys
from typing import Any, Iterable

from ..errors import InputError
from ..model import Level, Severity
from ..pipeline import gather
from ..redact import redact_report
from ..report import check_output, write_output
from ..report.formats import AuditReport, render as render_format
from ..rulesdata import load_json
from .declarations import Declarations, load_declarations
from .engine import AuditInput, AuditResult, evaluate
from .inquiry import ClaimResult, answer, load_inquiry

SCHEMA = "appaudit.audit/1"
VERDICTS_DOC = "docs/verdicts.md"


def build_report(audit: AuditInput, declarations: Declarations, result: AuditResult,
                 claims: list[ClaimResult] | None = None, inquiry: Any = None, scan: Any = None,
                 captures: Iterable[str] = (), baseline: set[str] | None = None,
                 redacted: bool = True) -> AuditReport:
    baseline = baseline or set()
    warnings = list(audit.warnings) + list(declarations.warnings)
    if declarations.app and audit.app and declarations.app != audit.app:
        warnings.append(f"data sheet is for {declarations.app}, the app is {audit.app}")
    if declarations.sdks is None:
        warnings.append("the data sheet lists no SDKs: the undeclared-SDK check was not run")
    if declarations.unmapped:
        warnings.append("data-sheet types with no appaudit data type (not judged): "
                        + ", ".join(declarations.unmapped))
    if not audit.static_scanned:
        warnings.append("no APK: judged on captured traffic alone (no code paths, no claims of absence)")
    findings = []
    titles = {c.id: c.title for c in result.checks.checks}
    for finding in result.findings:
        item = finding.to_json()
        item["title"] = titles.get(finding.rule, finding.rule)
        item["baseline"] = finding.fingerprint in baseline
        findings.append(item)
    by_severity = {s.label: sum(1 for f in result.findings if f.severity is s) for s in reversed(Severity)}
    by_category: dict[str, int] = {}
    for finding in result.findings:
        if finding.category:
            by_category[finding.category] = by_category.get(finding.category, 0) + 1
    partial = list(audit.partial)
    return AuditReport(
        schema=SCHEMA,
        app=scan.app.to_json() if scan is not None else {"package": audit.app},
        artifact=audit.artifact,
        inputs=[i.to_json() for i in scan.inputs] if scan is not None else [],
        captures=[str(c) for c in captures],
        declarations=declarations.to_json(),
        summary={
            "findings": len(findings), "by_severity": by_severity, "by_category": dict(sorted(by_category.items())),
            "new": sum(1 for f in findings if not f["baseline"]),
            "baselined": sum(1 for f in findings if f["baseline"]),
            "claims": {v: sum(1 for c in claims or () if c.verdict == v)
                       for v in ("supported", "contradicted", "inconclusive")},
            "evidence": {"static": audit.static_scanned, "static_complete": audit.static_complete,
                         "captured": audit.captured},
        },
        findings=findings,
        inquiry={"title": inquiry.title, "source": inquiry.source, "path": inquiry.path} if inquiry else None,
        claims=[c.to_json() for c in claims or ()],
        data_types=result.data_types(declarations),
        sdks=[{"id": s.id, "name": s.name, "evidence": [e.to_json() for e in s.evidence]}
              for s in sorted(audit.sdks, key=lambda s: s.id)],
        flows=flows(result),
        checks=[{"id": c.id, "title": c.title, "severity": c.severity.label, "help": c.help,
                 "help_uri": f"{VERDICTS_DOC}#{c.id}"} for c in result.checks.checks],
        categories=[{"id": c, "rank": r, "colour": colour, "meaning": meaning}
                    for c, r, colour, meaning in result.checks.categories],
        # Partial: some evidence could not be read (an incomplete scan, an unreadable or unfinished capture).
        partial=bool(partial),
        partial_reasons=partial,
        warnings=warnings,
        redacted=redacted,
    )


def flows(result: AuditResult) -> list[dict[str, Any]]:
    """actor -> data type -> recipient edges, the strongest level and the worst category each, for the diagram."""
    edges: dict[tuple, dict[str, Any]] = {}
    rank = result.checks.rank
    for j in result.judgements:
        if j.level is Level.DECLARED_PERMISSION:
            continue   # a permission is not a flow; the permission check reports it
        recipient = j.recipient or ("first party" if j.level is Level.TRANSMITTED else "")
        key = (str(j.actor), j.data_type, recipient)
        edge = edges.setdefault(key, {"actor": str(j.actor), "data_type": j.data_type, "recipient": recipient or None,
                                      "level": j.level.label, "category": j.category})
        edge["level"] = max(edge["level"], j.level.label, key=lambda label: Level.parse(label).value)
        edge["category"] = max(edge["category"], j.category, key=rank)
    return [edges[k] for k in sorted(edges)]




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


def render(report: AuditReport, fmt: str) -> str:
    return render_format(report, fmt)


def audit_app(apps: list[str], datasheet: str, captures: Iterable[str] = (), identifiers: str | None = None,
              inquiry_path: str | None = None, baseline_path: str | None = None,
              reveal: bool = False) -> AuditReport:
    """The whole audit as a report (what `appaudit audit` writes). With no APK, the audit judges the captures
    alone, for the app the data sheet names (else the one the capture says it recorded)."""
    captures = list(captures)
    declarations = load_declarations(datasheet)          # read inputs first: bad input fails before a scan
    inquiry = load_inquiry(inquiry_path) if inquiry_path else None
    baseline = load_baseline(baseline_path) if baseline_path else set()
    audit, scan, secrets = gather(apps, captures, identifiers, reveal, app=declarations.app,
                                  first_party_domains=declarations.first_party_domains)
    result = evaluate(audit, declarations)
    claims = answer(inquiry, audit, declarations) if inquiry else None
    report = build_report(audit, declarations, result, claims, inquiry, scan, captures, baseline, not reveal)
    return report if reveal else AuditReport.from_json(redact_report(report.to_json(), secrets))


def failing(report: AuditReport, fail_on: str | None) -> list[dict[str, Any]]:
    if not fail_on:
        return []
    threshold = Severity.parse(fail_on)
    return [f for f in report.findings if not f["baseline"] and Severity.parse(f["severity"]) >= threshold]


def gate(report: AuditReport, fail_on: str | None) -> int:
    return 1 if failing(report, fail_on) else 0


def failure_line(report: AuditReport, fail_on: str) -> str:
    """One stderr line on a --fail-on failure: how many, of which severities, and the worst one."""
    failed = failing(report, fail_on)
    counts = ", ".join(f"{n} {label}" for label in ("high", "medium", "low")
                       if (n := sum(1 for f in failed if f["severity"] == label)))
    top = failed[0]
    return (f"appaudit: {len(failed)} new finding(s) at or above {fail_on} ({counts}); top: [{top['severity']}] "
            f"{top['rule']}: {top['message']}")


def run(args) -> int:
    inputs = [*args.app, *args.capture, args.datasheet, *(p for p in (args.identifiers, args.inquiry,
                                                                      args.baseline) if p)]
    check_output(args.output, inputs)
    report = audit_app(args.app, args.datasheet, args.capture, args.identifiers, args.inquiry, args.baseline,
                       args.reveal)
    write_output(render(report, args.format), args.output, inputs)
    for warning in report.warnings:
        if warning.startswith("capture ") or "is not in the SDK catalogue" in warning:
            print(f"appaudit: warning: {warning}", file=sys.stderr)
    status = gate(report, args.fail_on)
    if status:
        print(failure_line(report, args.fail_on), file=sys.stderr)
    return status
