"""One self-contained HTML file: inline CSS and SVG, no script, no network. Claim table, findings with their
evidence chain, the per-type table, and a flow diagram actor -> data type -> recipient."""
from __future__ import annotations

from ..escape import html as escape_html
from typing import Any

CATEGORY_COLOUR = {"incorrect": "#c62828", "omitted": "#ef6c00", "vague": "#f9a825", "consistent": "#2e7d32",
                   "overdeclared": "#78909c"}
VERDICT_COLOUR = {"supported": "#2e7d32", "contradicted": "#c62828", "inconclusive": "#6d6d6d"}
SEVERITY_COLOUR = {"high": "#c62828", "medium": "#ef6c00", "low": "#b28704"}
MAX_NODES = 40
MAX_EVIDENCE = 12

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1d;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:2px solid #dde1e6;padding-bottom:4px}
.meta{color:#555}.warn{background:#fff4e5;border-left:4px solid #ef6c00;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{border:1px solid #dde1e6;padding:6px 8px;vertical-align:top;text-align:left}th{background:#eef1f5}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;color:#fff;font-weight:600;font-size:12px;white-space:nowrap}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;padding:10px 16px;border-radius:6px;box-shadow:0 1px 2px #0002;min-width:120px}
.card b{display:block;font-size:22px}
.finding{background:#fff;margin:10px 0;padding:10px 14px;border-left:6px solid #999;box-shadow:0 1px 2px #0001}
.finding h3{margin:0 0 4px;font-size:15px}.finding .facts{color:#555;font-size:12px}
.chain{margin:6px 0 0;padding-left:18px;font-size:12px}.chain code{background:#f0f2f5;padding:0 3px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
svg text{font:12px system-ui,sans-serif}.legend span{margin-right:14px}
.baseline{opacity:.6}
"""


_e = escape_html   # one HTML escaper for every writer (audit/escape.py)


def pill(text: str, colour: str) -> str:
    return f'<span class="pill" style="background:{colour}">{_e(text)}</span>'


def flow_svg(flows: list[dict[str, Any]]) -> str:
    """Three columns of boxes joined by curves: dashed = capability only, solid = transmitted."""
    actors = sorted({f["actor"] for f in flows})[:MAX_NODES]
    types = sorted({f["data_type"] for f in flows})[:MAX_NODES]
    recipients = sorted({f["recipient"] for f in flows if f.get("recipient")})[:MAX_NODES]
    row, box_h, width = 30, 22, 1130
    columns = {"actor": (10, 250), "type": (430, 260), "recipient": (860, 260)}
    height = max(len(actors), len(types), len(recipients), 1) * row + 30

    def y(index: int, count: int) -> float:
        offset = (height - 30 - count * row) / 2
        return 20 + offset + index * row

    pos = {("actor", a): y(i, len(actors)) for i, a in enumerate(actors)}
    pos.update({("type", t): y(i, len(types)) for i, t in enumerate(types)})
    pos.update({("recipient", r): y(i, len(recipients)) for i, r in enumerate(recipients)})
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="data flows" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    drawn = set()
    for flow in flows:
        colour = CATEGORY_COLOUR.get(flow["category"], "#999")
        sent = flow["level"] == "transmitted"
        a, t, r = ("actor", flow["actor"]), ("type", flow["data_type"]), ("recipient", flow.get("recipient"))
        if a in pos and t in pos and (a, t) not in drawn:
            drawn.add((a, t))
            parts.append(_curve(columns["actor"][0] + columns["actor"][1], pos[a] + box_h / 2,
                                columns["type"][0], pos[t] + box_h / 2, colour, sent, flow["level"]))
        if r[1] and t in pos and r in pos and (t, r) not in drawn:
            drawn.add((t, r))
            parts.append(_curve(columns["type"][0] + columns["type"][1], pos[t] + box_h / 2,
                                columns["recipient"][0], pos[r] + box_h / 2, colour, sent, flow["level"]))
    for (column, name), top in sorted(pos.items(), key=lambda kv: (kv[0][0], kv[1])):
        x, w = columns[column]
        fill = {"actor": "#e3f2fd", "type": "#f3e5f5", "recipient": "#e8f5e9"}[column]
        label = name if len(name) <= 38 else name[:36] + "…"
        parts.append(f'<rect x="{x}" y="{top:.1f}" width="{w}" height="{box_h}" rx="4" fill="{fill}" '
                     f'stroke="#90a4ae"/><text x="{x + 8}" y="{top + 15:.1f}">{_e(label)}</text>')
    for column, title in (("actor", "who"), ("type", "data type"), ("recipient", "received by")):
        parts.append(f'<text x="{columns[column][0]}" y="12" font-weight="bold">{title}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _curve(x1, y1, x2, y2, colour, solid, level) -> str:
    mid = (x1 + x2) / 2
    dash = "" if solid else ' stroke-dasharray="5 4"'
    return (f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" fill="none" '
            f'stroke="{colour}" stroke-width="{2.5 if solid else 1.5}"{dash}><title>{_e(level)}</title></path>')


def render_html(report: dict[str, Any]) -> str:
    app = report.get("app") or {}
    summary = report.get("summary") or {}
    decl = report.get("declarations") or {}
    title = f"appaudit: {app.get('package')}"
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
           'img-src data:">',
           f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
           f"<h1>{_e(title)}</h1>",
           f'<div class="meta">Judged against <b>{_e(decl.get("source"))}</b> (<code>{_e(decl.get("path"))}</code>)'
           f'{" · captured identifier values redacted" if report.get("redacted") else ""}</div>']
    for warning in report.get("warnings") or ():
        out.append(f'<div class="warn">{_e(warning)}</div>')
    sev = summary.get("by_severity") or {}
    claims = summary.get("claims") or {}
    out.append('<div class="cards">')
    out.append(f'<div class="card"><b>{summary.get("findings", 0)}</b>findings ({summary.get("new", 0)} new)</div>')
    for name in ("high", "medium", "low"):
        out.append(f'<div class="card"><b style="color:{SEVERITY_COLOUR[name]}">{sev.get(name, 0)}</b>{name}</div>')
    if report.get("claims"):
        for verdict in ("supported", "contradicted", "inconclusive"):
            out.append(f'<div class="card"><b style="color:{VERDICT_COLOUR[verdict]}">{claims.get(verdict, 0)}</b>'
                       f'claims {verdict}</div>')
    out.append("</div>")

    if report.get("flows"):
        out.append("<h2>Data flows</h2>")
        out.append('<p class="legend">' + "".join(
            f'<span style="color:{c}">■ {k}</span>' for k, c in CATEGORY_COLOUR.items() if k != "overdeclared")
            + "<span>— transmitted</span><span>- - capability (not seen leaving)</span></p>")
        out.append(f'<div style="overflow-x:auto;background:#fff">{flow_svg(report["flows"])}</div>')

    if report.get("claims"):
        inquiry = report.get("inquiry") or {}
        out.append(f"<h2>Claims: {_e(inquiry.get('title'))}</h2>")
        if inquiry.get("source"):
            out.append(f'<p class="meta">{_e(inquiry["source"])}</p>')
        out.append("<table><tr><th>Claim</th><th>Verdict</th><th>Level</th><th>Vendor's declaration</th>"
                   "<th>Evidence and note</th></tr>")
        for claim in report["claims"]:
            evidence = "".join(f"<li>{_evidence(e)}</li>" for e in claim["evidence"][:3])
            out.append(f"<tr><td><b>{_e(claim['id'])}</b><br>{_e(claim['text'])}</td>"
                       f"<td>{pill(claim['verdict'], VERDICT_COLOUR[claim['verdict']])}</td>"
                       f"<td>{_e(claim['level'] or '—')}</td>"
                       f"<td>{'<br>'.join(_e(d) for d in claim['declaration'])}</td>"
                       f"<td>{_e(claim['note'])}<ul class=\"chain\">{evidence}</ul></td></tr>")
        out.append("</table>")

    out.append("<h2>Findings</h2>")
    if not report.get("findings"):
        out.append("<p>No findings.</p>")
    for finding in report.get("findings") or ():
        colour = SEVERITY_COLOUR.get(finding["severity"], "#999")
        facts = [f"rule {_e(finding['rule'])}"]
        for name in ("data_type", "level", "category", "location"):
            if finding.get(name):
                facts.append(f"{name.replace('_', ' ')} <code>{_e(finding[name])}</code>")
        facts.append(f"fingerprint <code>{_e(finding['fingerprint'])}</code>")
        chain = "".join(f"<li>{_evidence(e)}</li>" for e in finding["evidence"][:MAX_EVIDENCE])
        if len(finding["evidence"]) > MAX_EVIDENCE:
            chain += f"<li>… {len(finding['evidence']) - MAX_EVIDENCE} more in the JSON report</li>"
        declaration = (f'<div class="facts">declaration: {_e(finding["declaration"])}</div>'
                       if finding.get("declaration") else "")
        out.append(f'<div class="finding{" baseline" if finding.get("baseline") else ""}" '
                   f'style="border-left-color:{colour}"><h3>{pill(finding["severity"], colour)} '
                   f'{_e(finding["title"])}{" (accepted by baseline)" if finding.get("baseline") else ""}</h3>'
                   f'<div>{_e(finding["message"])}</div><div class="facts">{" · ".join(facts)}</div>'
                   f'{declaration}<ul class="chain">{chain}</ul></div>')

    out.append("<h2>Data types</h2><table><tr><th>Data type</th><th>Observed</th><th>Category</th>"
               "<th>Declaration</th></tr>")
    for data_type, row in (report.get("data_types") or {}).items():
        out.append(f"<tr><td><code>{_e(data_type)}</code><br>{_e(row['label'])}</td>"
                   f"<td>{_e(row['observed_level'] or '—')}</td>"
                   f"<td>{pill(row['category'], CATEGORY_COLOUR.get(row['category'], '#999'))}</td>"
                   f"<td>{'<br>'.join(_e(d) for d in row['declaration']) or '—'}</td></tr>")
    out.append("</table>")
    if report.get("sdks"):
        out.append("<h2>SDKs found</h2><ul>" + "".join(
            f"<li>{_e(s['name'])} <code>{_e(s['id'])}</code></li>" for s in report["sdks"]) + "</ul>")
    out.append('<p class="meta">Generated by appaudit. A finding at present/reachable level is a capability '
               "(the code can access the data), not proof of collection.</p></main></body></html>")
    return "\n".join(out) + "\n"


def _evidence(item: dict[str, Any]) -> str:
    text = f"{_e(item['kind'])}: <code>{_e(item['ref'])}</code>"
    if item.get("where"):
        text += f" at <code>{_e(item['where'])}</code>"
    if item.get("detail"):
        text += f" ({_e(item['detail'])})"
    return text
