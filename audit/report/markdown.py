"""Markdown for people and pull-request comments: verdicts first, then findings with their evidence chain."""
from __future__ import annotations

from typing import Any

from ..escape import code, markdown

VERDICT_MARK = {"supported": "✅ supported", "contradicted": "❌ contradicted", "inconclusive": "❔ inconclusive"}
SEVERITY_MARK = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟡 low"}
MAX_EVIDENCE_LINES = 8
MAX_FINDINGS = 100   # a PR comment is capped at 65,536 characters; the JSON report has everything


def evidence_line(item: dict[str, Any]) -> str:
    text = f"{item['kind']}: {code(item['ref'])}"
    if item.get("where"):
        text += f" at {code(item['where'])}"
    if item.get("detail"):
        text += f" ({markdown(item['detail'])})"
    if item.get("path"):
        text += " via " + " → ".join(f"{code(step)}" for step in item["path"])
    return text


def render_markdown(report: dict[str, Any]) -> str:
    app = report.get("app") or {}
    summary = report.get("summary") or {}
    decl = report.get("declarations") or {}
    out = [f"# appaudit: {markdown(app.get('package'))}"
           + (f" {markdown(app.get('version_name'))}" if app.get("version_name") else ""), ""]
    out.append(f"Judged against **{markdown(decl.get('source'))}** ({code(decl.get('path'))}, {decl.get('format')}).")
    evidence = summary.get("evidence") or {}
    sources = ["static scan" + ("" if evidence.get("static_complete", True) else " (partial)")]
    if evidence.get("captured"):
        sources.append("captures: " + ", ".join(code(c) for c in report.get("captures") or ()))
    out.append("Evidence: " + "; ".join(sources) + ".")
    sev = summary.get("by_severity") or {}
    out.append(f"Findings: **{summary.get('findings', 0)}** ({', '.join(f'{k} {v}' for k, v in sev.items())}); "
               f"new {summary.get('new', 0)}, accepted by baseline {summary.get('baselined', 0)}.")
    if summary.get("by_category"):
        out.append("By verdict category (docs/verdicts.md): "
                   + ", ".join(f"{k} {v}" for k, v in summary["by_category"].items()) + ".")
    if report.get("redacted"):
        out.append("Captured identifier values are redacted (`--reveal` shows them).")
    out.append("")
    for warning in report.get("warnings") or ():
        out.append(f"> ⚠ {markdown(warning)}")
    if report.get("warnings"):
        out.append("")

    if report.get("claims"):
        inquiry = report.get("inquiry") or {}
        out += [f"## Claims: {markdown(inquiry.get('title'))}", ""]
        if inquiry.get("source"):
            out += [f"Source: {markdown(inquiry['source'])}", ""]
        out += ["| Claim | Verdict | Strongest level | Vendor's declaration | Vendor's statement judged | Note |",
                "|---|---|---|---|---|---|"]
        for claim in report["claims"]:
            out.append(f"| **{markdown(claim['id'])}**: {markdown(claim['text'])} | {VERDICT_MARK[claim['verdict']]} | "
                       f"{markdown(claim['level'] or '—')} | {markdown('; '.join(claim['declaration']))} | "
                       f"{markdown(claim.get('category') or '—')} | {markdown(claim['note'])} |")
        out.append("")

    out += ["## Findings", ""]
    if not report.get("findings"):
        out += ["No findings.", ""]
    findings = report.get("findings") or []
    for finding in findings[:MAX_FINDINGS]:
        flag = " (accepted by baseline)" if finding.get("baseline") else ""
        out.append(f"### {SEVERITY_MARK.get(finding['severity'], finding['severity'])} · {markdown(finding['title'])}{flag}")
        out.append("")
        out.append(markdown(finding["message"]))
        out.append("")
        facts = [f"rule `{finding['rule']}`"]
        if finding.get("data_type"):
            facts.append(f"data type {code(finding['data_type'])}")
        if finding.get("level"):
            facts.append(f"level **{finding['level']}**")
        if finding.get("category"):
            facts.append(f"category *{finding['category']}*")
        if finding.get("location"):
            facts.append(f"at {code(finding['location'])}")
        facts.append(f"fingerprint `{finding['fingerprint']}`")
        out.append("- " + " · ".join(facts))
        if finding.get("declaration"):
            out.append(f"- declaration: {markdown(finding['declaration'])}")
        items = finding.get("evidence") or []
        for item in items[:MAX_EVIDENCE_LINES]:
            out.append(f"  - {evidence_line(item)}")
        if len(items) > MAX_EVIDENCE_LINES:
            out.append(f"  - … {len(items) - MAX_EVIDENCE_LINES} more in the JSON report")
        out.append("")

    if len(findings) > MAX_FINDINGS:
        out += [f"… {len(findings) - MAX_FINDINGS} more findings (lower severity) in the JSON report.", ""]
    out += ["## Data types", "", "| Data type | Observed | Category | Declaration |", "|---|---|---|---|"]
    for data_type, row in (report.get("data_types") or {}).items():
        category = row["category"] + "".join(f"<br>{markdown(n)}" for n in row.get("notes") or ())
        out.append(f"| {code(data_type)} {markdown(row['label'])} | {markdown(row['observed_level'] or '—')} | "
                   f"{category} | {markdown('; '.join(row['declaration']) or '—')} |")
    out.append("")
    if report.get("sdks"):
        out += ["## SDKs found", ""] + [f"- {markdown(s['name'])} (`{s['id']}`)" for s in report["sdks"]] + [""]
    return "\n".join(out)


class MarkdownFormat:
    name, suffix = "md", ".md"

    def render(self, report) -> str:
        return render_markdown(report.to_json())


FORMAT = MarkdownFormat()
