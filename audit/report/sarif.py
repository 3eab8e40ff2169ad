"""SARIF 2.1.0 for code-scanning UIs: one rule per check (help in Markdown, helpUri into docs/verdicts.md), each
result located at the data-sheet line the finding was judged against (a text file a UI can show a line of), with
the APK and the calling class as related locations; fingerprints let the UI track findings across runs."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any
from urllib.parse import quote

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
LEVELS = {"high": "error", "medium": "warning", "low": "note"}
INFO_URI = "https://github.com/appaudit/appaudit"
DOCS_URI = f"{INFO_URI}/blob/main/"


def artifact_uri(path: str) -> str:
    """A relative path stays a relative URI reference; an absolute one becomes a file:// URI."""
    pure = PurePath(path)
    posix = pure.as_posix()
    return ("file://" + quote(posix)) if pure.is_absolute() else quote(posix)


def statement_line(statement: str | None) -> int:
    """`datasheet.yaml:14` -> 14; 1 when the finding has no statement line (judged against the whole sheet)."""
    if statement and ":" in statement:
        tail = statement.rsplit(":", 1)[1]
        if tail.isdigit() and int(tail) > 0:
            return int(tail)
    return 1


def _rule(check: dict[str, Any]) -> dict[str, Any]:
    uri = DOCS_URI + check.get("help_uri", f"docs/verdicts.md#{check['id']}")
    return {
        "id": check["id"],
        "name": "".join(part.capitalize() for part in check["id"].split("-")),
        "shortDescription": {"text": check["title"]},
        "fullDescription": {"text": check["help"]},
        "help": {"text": check["help"],
                 "markdown": f"**{check['title']}**\n\n{check['help']}\n\n[How appaudit judges this]({uri})"},
        "helpUri": uri,
        "defaultConfiguration": {"level": LEVELS[check["severity"]]},
        "properties": {"tags": ["privacy"]},
    }


def render_sarif(report: dict[str, Any]) -> dict[str, Any]:
    checks = report.get("checks") or []
    index = {c["id"]: i for i, c in enumerate(checks)}
    sheet = (report.get("declarations") or {}).get("path")
    artifact = report.get("artifact")
    artifacts = []
    if sheet:
        artifacts.append({"location": {"uri": artifact_uri(sheet)}, "roles": ["resultFile"]})
    if artifact:
        artifacts.append({"location": {"uri": artifact_uri(artifact)}, "roles": ["analysisTarget"]})
    results = []
    for finding in report.get("findings") or ():
        locations, related = [], []
        if sheet:
            locations.append({"physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(sheet), "index": 0},
                "region": {"startLine": statement_line(finding.get("statement"))}}})
        if artifact:
            related.append({"id": 1, "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(artifact), "index": len(artifacts) - 1}},
                "message": {"text": "the audited app"}})
        where = finding.get("location")
        if where and where != artifact:
            kind = "type" if any(e["kind"] == "call-site" for e in finding["evidence"]) else "resource"
            related.append({"id": 2, "logicalLocations": [{"fullyQualifiedName": where, "kind": kind,
                                                           "name": where.split(".")[-1] if kind == "type" else where}],
                            "message": {"text": "the calling class" if kind == "type" else "the recipient host"}})
        result: dict[str, Any] = {
            "ruleId": finding["rule"],
            "level": LEVELS[finding["severity"]],
            "message": {"text": finding["message"]},
            "locations": locations,
            "relatedLocations": related,
            "partialFingerprints": {"appaudit/v1": finding["fingerprint"]},
            "baselineState": "unchanged" if finding.get("baseline") else "new",
            "properties": {k: finding.get(k) for k in ("data_type", "level", "category", "declaration")
                           if finding.get(k) is not None} | {"evidence": finding["evidence"]},
        }
        if finding["rule"] in index:
            result["ruleIndex"] = index[finding["rule"]]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "appaudit", "informationUri": INFO_URI, "rules": [_rule(c) for c in checks]}},
            "artifacts": artifacts,
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


class SarifFormat:
    name, suffix = "sarif", ".sarif"

    def render(self, report) -> str:
        from . import dumps_json
        return dumps_json(render_sarif(report.to_json()))


FORMAT = SarifFormat()
