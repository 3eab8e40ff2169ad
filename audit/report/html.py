"""One self-contained HTML file: inline CSS and SVG, no script, no network. Claim table, findings grouped by data
type and actor with their evidence chain (call path; request method, host, path, field, redacted value), the
per-type table, and a flow diagram actor -> data type -> recipient coloured by verdict category.

Rendered with jinja2 and autoescape: every value from a report is escaped by the template engine, never by hand.
"""
from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup

from ..escape import visible

# Fallbacks for reports written before categories were part of the report; the report's own win.
CATEGORY_COLOUR = {"contradicted": "#c62828", "contested": "#ad1457", "omitted": "#ef6c00", "vague": "#f9a825",
                   "consistent": "#2e7d32", "overdeclared": "#78909c"}
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
.baseline{opacity:.6}.group{font-size:15px;margin:18px 0 4px;color:#37474f}
"""

TEMPLATE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ title }}</title><style>{{ css }}</style></head><body><main>
<h1>{{ title }}</h1>
<div class="meta">Judged against <b>{{ decl.source }}</b> (<code>{{ decl.path }}</code>)
{%- if report.redacted %} · captured identifier values redacted{% endif %}</div>
{% for warning in report.warnings or () %}<div class="warn">{{ warning }}</div>
{% endfor %}
<div class="cards"><div class="card"><b>{{ summary.findings or 0 }}</b>findings ({{ summary.new or 0 }} new)</div>
{%- for name in ("high", "medium", "low") %}<div class="card"><b style="color:{{ severity_colour[name] }}">
{{- (summary.by_severity or {}).get(name, 0) }}</b>{{ name }}</div>{% endfor %}
{%- if report.claims %}{% for verdict in ("supported", "contradicted", "inconclusive") %}
<div class="card"><b style="color:{{ verdict_colour[verdict] }}">{{ (summary.claims or {}).get(verdict, 0) }}</b>
claims {{ verdict }}</div>{% endfor %}{% endif %}</div>
{% if report.flows %}<h2>Data flows</h2>
<p class="legend">{% for name, colour in category_colour.items() if name != "overdeclared" %}
<span style="color:{{ colour }}">■ {{ name }}</span>{% endfor %}<span>— transmitted</span>
<span>- - capability (not seen leaving)</span></p>
<div style="overflow-x:auto;background:#fff">{{ svg }}</div>{% endif %}
{% if report.claims %}<h2>Claims: {{ (report.inquiry or {}).title }}</h2>
{% if (report.inquiry or {}).source %}<p class="meta">{{ report.inquiry.source }}</p>{% endif %}
<table><tr><th>Claim</th><th>Verdict</th><th>Level</th><th>Vendor's declaration</th><th>Vendor's statement judged</th>
<th>Evidence and note</th></tr>
{% for claim in report.claims %}<tr><td><b>{{ claim.id }}</b><br>{{ claim.text }}</td>
<td>{{ pill(claim.verdict, verdict_colour[claim.verdict]) }}</td><td>{{ claim.level or "—" }}</td>
<td>{% for d in claim.declaration %}{{ d }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td>{% if claim.category %}{{ pill(claim.category, category_colour.get(claim.category.split(" ")[0], "#999")) }}
{% else %}—{% endif %}</td>
<td>{{ claim.note }}<ul class="chain">{% for e in claim.evidence[:3] %}<li>{{ evidence(e) }}</li>{% endfor %}</ul></td></tr>
{% endfor %}</table>{% endif %}
<h2>Findings</h2>
{% if not groups %}<p>No findings.</p>{% endif %}
{% for group in groups %}<h3 class="group">{{ group.data_type or "—" }} · {{ group.actor }}</h3>
{% for finding in group.findings %}{% set colour = severity_colour.get(finding.severity, "#999") %}
<div class="finding{% if finding.baseline %} baseline{% endif %}" style="border-left-color:{{ colour }}">
<h3>{{ pill(finding.severity, colour) }} {{ finding.title }}{% if finding.baseline %} (accepted by baseline){% endif %}</h3>
<div>{{ finding.message }}</div>
<div class="facts">rule {{ finding.rule }}{% for name in ("level", "category", "location", "statement") if finding[name] %}
 · {{ name }} <code>{{ finding[name] }}</code>{% endfor %} · fingerprint <code>{{ finding.fingerprint }}</code></div>
{% if finding.declaration %}<div class="facts">declaration: {{ finding.declaration }}</div>{% endif %}
<ul class="chain">{% for e in finding.evidence[:max_evidence] %}<li>{{ evidence(e) }}</li>{% endfor %}
{% if finding.evidence|length > max_evidence %}<li>… {{ finding.evidence|length - max_evidence }} more in the JSON report</li>{% endif %}
</ul></div>
{% endfor %}{% endfor %}
<h2>Data types</h2><table><tr><th>Data type</th><th>Observed</th><th>Category</th><th>Declaration</th></tr>
{% for data_type, row in (report.data_types or {}).items() %}<tr><td><code>{{ data_type }}</code><br>{{ row.label }}</td>
<td>{{ row.observed_level or "—" }}</td><td>{{ pill(row.category, category_colour.get(row.category, "#999")) }}
{%- for note in row.notes or () %}<br><span class="meta">{{ note }}</span>{% endfor %}</td>
<td>{% for d in row.declaration %}{{ d }}{% if not loop.last %}<br>{% endif %}{% else %}—{% endfor %}</td></tr>
{% endfor %}</table>
{% if report.sdks %}<h2>SDKs found</h2><ul>{% for s in report.sdks %}<li>{{ s.name }} <code>{{ s.id }}</code></li>{% endfor %}</ul>{% endif %}
<p class="meta">Generated by appaudit. A finding at present/reachable level is a capability (the code can access the
data), not proof of collection. Categories and severities: docs/verdicts.md.</p></main></body></html>
"""

SVG = """<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="data flows" width="{{ width }}" height="{{ height }}"
 viewBox="0 0 {{ width }} {{ height }}">{% for c in curves %}<path d="M{{ '%.1f' % c.x1 }},{{ '%.1f' % c.y1 }}
 C{{ '%.1f' % c.mid }},{{ '%.1f' % c.y1 }} {{ '%.1f' % c.mid }},{{ '%.1f' % c.y2 }} {{ '%.1f' % c.x2 }},{{ '%.1f' % c.y2 }}"
 fill="none" stroke="{{ c.colour }}" stroke-width="{{ 2.5 if c.solid else 1.5 }}"
{%- if not c.solid %} stroke-dasharray="5 4"{% endif %}><title>{{ c.title }}</title></path>{% endfor %}
{% for b in boxes %}<rect x="{{ b.x }}" y="{{ '%.1f' % b.y }}" width="{{ b.w }}" height="{{ box_h }}" rx="4" fill="{{ b.fill }}"
 stroke="#90a4ae"/><text x="{{ b.x + 8 }}" y="{{ '%.1f' % (b.y + 15) }}">{{ b.label }}</text>{% endfor %}
{% for x, title in headings %}<text x="{{ x }}" y="12" font-weight="bold">{{ title }}</text>{% endfor %}</svg>"""


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, trim_blocks=False, undefined=jinja2.ChainableUndefined)
    env.globals.update(pill=pill, evidence=evidence_html)
    return env


def pill(text: str, colour: str) -> Markup:
    return Markup('<span class="pill" style="background:{}">{}</span>').format(colour, text)


def evidence_html(item: dict[str, Any]) -> Markup:
    """One link of a chain: a call site with its call path, a hooked read, or a request (method, host, path, the
    field that carried the value, the value as redacted)."""
    markup = Markup
    text = markup("{}: <code>{}</code>").format(item.get("kind"), item.get("ref"))
    if item.get("where"):
        text += markup(" at <code>{}</code>").format(item["where"])
    if item.get("detail"):
        text += markup(" ({})").format(item["detail"])
    if item.get("path"):
        text += markup('<br><span class="meta">call path: {}</span>').format(" → ".join(item["path"]))
    return text


def flow_svg(flows: list[dict[str, Any]], colours: dict[str, str] | None = None) -> Markup:
    """Three columns of boxes joined by curves coloured by category: dashed = capability only, solid = sent."""
    colours = colours or CATEGORY_COLOUR
    actors = sorted({f["actor"] for f in flows})[:MAX_NODES]
    types = sorted({f["data_type"] for f in flows})[:MAX_NODES]
    recipients = sorted({f["recipient"] for f in flows if f.get("recipient")})[:MAX_NODES]
    row, box_h, width = 30, 22, 1130
    columns = {"actor": (10, 250), "type": (430, 260), "recipient": (860, 260)}
    height = max(len(actors), len(types), len(recipients), 1) * row + 30

    def y(index: int, count: int) -> float:
        return 20 + (height - 30 - count * row) / 2 + index * row

    pos = {("actor", a): y(i, len(actors)) for i, a in enumerate(actors)}
    pos.update({("type", t): y(i, len(types)) for i, t in enumerate(types)})
    pos.update({("recipient", r): y(i, len(recipients)) for i, r in enumerate(recipients)})
    curves, drawn = [], set()
    for flow in flows:
        colour = colours.get(flow["category"], "#999")
        solid = flow["level"] == "transmitted"
        a, t, r = ("actor", flow["actor"]), ("type", flow["data_type"]), ("recipient", flow.get("recipient"))
        for left, right, start in ((a, t, "actor"), (t, r, "type")):
            if right[1] and left in pos and right in pos and (left, right) not in drawn:
                drawn.add((left, right))
                x1 = columns[start][0] + columns[start][1]
                x2 = columns["type" if start == "actor" else "recipient"][0]
                curves.append({"x1": x1, "y1": pos[left] + box_h / 2, "x2": x2, "y2": pos[right] + box_h / 2,
                               "mid": (x1 + x2) / 2, "colour": colour, "solid": solid,
                               "title": f"{flow['level']}, {flow['category']}"})
    fills = {"actor": "#e3f2fd", "type": "#f3e5f5", "recipient": "#e8f5e9"}
    boxes = [{"x": columns[column][0], "w": columns[column][1], "y": top, "fill": fills[column],
              "label": name if len(name) <= 38 else name[:36] + "…"}
             for (column, name), top in sorted(pos.items(), key=lambda kv: (kv[0][0], kv[1]))]
    headings = [(columns["actor"][0], "who"), (columns["type"][0], "data type"), (columns["recipient"][0], "received by")]
    return Markup(_environment().from_string(SVG).render(
        width=width, height=height, curves=curves, boxes=boxes, headings=headings, box_h=box_h))


def _groups(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings by (data type, actor), the groups in order of their worst finding."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for finding in findings:
        actor = finding.get("actor") or {}
        who = f"{actor.get('kind')}:{actor.get('id')}" if actor.get("id") else (actor.get("kind") or "—")
        groups.setdefault((finding.get("data_type") or "", who), []).append(finding)
    return [{"data_type": key[0], "actor": key[1], "findings": items} for key, items in groups.items()]


def _shown(value: Any) -> Any:
    """Every string of the report with its invisible characters (bidi overrides, controls) made visible; the
    template engine escapes the markup characters."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {_shown(k): _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def render_html(report: dict[str, Any]) -> str:
    report = _shown(report)
    colours = {c["id"]: c["colour"] for c in report.get("categories") or ()} or CATEGORY_COLOUR
    title = f"appaudit: {(report.get('app') or {}).get('package')}"
    return _environment().from_string(TEMPLATE).render(
        report=report, title=title, css=Markup(CSS), decl=report.get("declarations") or {},
        summary=report.get("summary") or {}, severity_colour=SEVERITY_COLOUR, verdict_colour=VERDICT_COLOUR,
        category_colour=colours, groups=_groups(report.get("findings") or []), max_evidence=MAX_EVIDENCE,
        svg=flow_svg(report["flows"], colours) if report.get("flows") else "") + "\n"


class HtmlFormat:
    name, suffix = "html", ".html"

    def render(self, report) -> str:
        return render_html(report.to_json())


FORMAT = HtmlFormat()
