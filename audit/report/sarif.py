"""SARIF 2.1.0 for code-scanning UIs: one rule per check, results located at the APK (artifactLocation) and,
for call sites, at the calling class (logicalLocations); fingerprints let the UI track findings across runs."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any
from urllib.parse import quote

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
LEVELS = {"high": "error", "medium": "warning", "low": "note"}
INFO_URI = "https://github.com/appaudit/appaudit"


def artifact_uri(path: str) -> str:
    """A relative path stays a relative URI reference; an absolute one becomes a file:// URI."""
    pure = PurePath(path)
    posix = pure.as_posix()
    return ("file://" + quote(posix)) if pure.is_absolute() else quote(posix)


def render_sarif(report: dict[str, Any]) -> dict[str, Any]:
    checks = report.get("checks") or []
    index = {c["id"]: i for i, c in enumerate(checks)}
    rules = [{
        "id": c["id"],
        "name": "".join(part.capitalize() for part in c["id"].split("-")),
        "shortDescription": {"text": c["title"]},
        "fullDescription": {"text": c["help"]},
        "help": {"text": c["help"]},
        "defaultConfiguration": {"level": LEVELS[c["severity"]]},
        "properties": {"tags": ["privacy"]},
    } for c in checks]
    artifact = report.get("artifact")
    artifacts = [{"location": {"uri": artifact_uri(artifact)}, "roles": ["analysisTarget"]}] if artifact else []
    results = []
    for finding in report.get("findings") or ():
        location: dict[str, Any] = {}
        if artifact:
            location["physicalLocation"] = {"artifactLocation": {"uri": artifact_uri(artifact), "index": 0}}
        where = finding.get("location")
        if where and where != artifact:
            kind = "type" if any(e["kind"] == "call-site" for e in finding["evidence"]) else "resource"
            location["logicalLocations"] = [{"fullyQualifiedName": where, "name": where.split(".")[-1]
                                             if kind == "type" else where, "kind": kind}]
        result: dict[str, Any] = {
            "ruleId": finding["rule"],
            "level": LEVELS[finding["severity"]],
            "message": {"text": finding["message"]},
            "locations": [location] if location else [],
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
            "tool": {"driver": {"name": "appaudit", "informationUri": INFO_URI, "rules": rules}},
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
