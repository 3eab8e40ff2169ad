"""The scan report as Markdown for a human reader: what the app is, asks for, contains and can do."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..escape import code, markdown
from ..rulesdata import datatypes

MAX_ROWS = 200   # per table: a report a person can read; the JSON has everything


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:MAX_ROWS]:
        out.append("| " + " | ".join(row) + " |")
    if len(rows) > MAX_ROWS:
        out.append(f"\n_{len(rows) - MAX_ROWS} more rows in the JSON report._")
    return out


def _actor(actor: dict) -> str:
    return markdown(f"{actor['kind']}:{actor['id']}" if actor.get("id") else actor["kind"])


def _type_label(type_id: str) -> str:
    known = datatypes().get(type_id)
    return f"{known.label} (`{type_id}`)" if known else f"`{type_id}`"


def _method(descriptor: str) -> str:
    """`Lcom/example/Foo;->bar(I)V` -> `com.example.Foo.bar` (the path reads as a chain of calls)."""
    owner, _, member = descriptor.partition("->")
    return owner[1:-1].replace("/", ".") + "." + member.split("(", 1)[0] if member else descriptor


def _reachability(call: dict) -> str:
    if not call["reachable"]:
        return "no (present: no call path from an entry point)"
    return "yes: " + " → ".join(code(_method(m)) for m in call.get("path", ()))


def _feasibility(verdict: dict | None) -> str:
    if not verdict:
        return ""
    text = f"**{verdict['status']}**: {markdown(verdict['reason'])}"
    if verdict["status"] == "blocked":
        text += " (the code is there; Android refuses it to this app)"
    return text


def render_markdown(report: dict[str, Any]) -> str:
    """`report` is ScanReport.to_json() output (so Markdown and JSON never disagree)."""
    app = report["app"]
    title = app.get("label") or app["package"]
    lines = [f"# Static scan: {markdown(title)}", ""]
    facts = [("Package", code(app["package"])),
             ("Version", markdown(" / ".join(str(v) for v in (app.get("version_name"), app.get("version_code"))
                                          if v is not None))),
             ("SDK levels", markdown(f"min {app.get('min_sdk')}, target {app.get('target_sdk')}")),
             ("Splits", ", ".join(code(s) for s in app.get("splits", ())) or "none")]
    lines += _table(["", ""], [[k, v] for k, v in facts])
    if report.get("partial"):
        lines += ["", "**Partial result.** Some parts could not be read:", ""]
        lines += [f"- {markdown(w)}" for w in report.get("warnings", ())]

    lines += ["", "## Inputs", ""]
    lines += _table(["File", "Role", "Bytes", "SHA-256"],
                    [[code(i["path"]), i["role"], str(i["size"]), code(i["sha256"])] for i in report["inputs"]])

    lines += ["", "## Permissions", ""]
    if report["permissions"]:
        lines += _table(["Permission", "Protection", "Unlocks", "Max SDK"],
                        [[code(p["name"]) + (" (implicit: the app targets API 3 or lower)" if p.get("implicit") else ""),
                          p["protection_level"], ", ".join(code(t) for t in p["data_types"]),
                          markdown(p.get("max_sdk"))] for p in report["permissions"]])
    else:
        lines.append("None requested.")

    lines += ["", "## SDKs", ""]
    if report["sdks"]:
        rows = []
        for sdk in report["sdks"]:
            why = "; ".join(f"{e['kind']} {code(e['ref'])}" + (f" ({markdown(e['detail'])})" if e.get("detail") else "")
                            for e in sdk["evidence"])
            rows.append([f"{markdown(sdk['name'])} ({code(sdk['id'])})", markdown(sdk["organisation"]),
                         ", ".join(sdk["categories"]), why])
        lines += _table(["SDK", "Organisation", "Categories", "Why"], rows)
    else:
        lines.append("No catalogued SDK found.")
    if report.get("hints"):
        lines += ["", "SDKs the app names but whose code was not found (not detections, no findings):", ""]
        lines += _table(["SDK", "Organisation", "Why not"],
                        [[f"{markdown(h['name'])} ({code(h['id'])})", markdown(h["organisation"]), markdown(h["summary"])]
                         for h in report["hints"]])

    lines += ["", "## Sensitive API call sites", ""]
    if report["api_calls"]:
        grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for call in report["api_calls"]:
            grouped[call["data_type"]][_actor(call["actor"])].append(call)
        for data_type in sorted(grouped):
            lines += [f"### {_type_label(data_type)}", ""]
            rows = []
            for actor in sorted(grouped[data_type]):
                for call in grouped[data_type][actor]:
                    rows.append([actor, code(call["api"]), code(call["caller"]), _reachability(call),
                                 _feasibility(call.get("feasibility")), code(call.get("via"))])
            lines += _table(["Actor", "API", "Caller", "Reachable (call path from an entry point)",
                             "Can Android let it succeed", "Via"], rows)
            lines.append("")
    else:
        lines += ["None found.", ""]

    lines += ["## Observations", ""]
    if report["observations"]:
        rows = []
        for obs in report["observations"]:
            evidence = obs["evidence"]
            rows.append([_type_label(obs["data_type"]), obs["level"], _actor(obs["actor"]),
                         _feasibility(obs.get("feasibility")),
                         str(sum(1 for e in evidence if e["kind"] != "note"))
                         + "".join(f" ({markdown(e['ref'])})" for e in evidence if e["kind"] == "note")])
        lines += _table(["Data type", "Level", "Actor", "Feasibility", "Evidence items"], rows)
    else:
        lines.append("None.")
    lines += ["", "## Components", ""]
    if report["components"]:
        lines += _table(["Kind", "Name", "Exported"],
                        [[c["kind"], code(c["name"]), markdown("" if c["exported"] is None else
                                                              ("yes" if c["exported"] else "no"))]
                         for c in report["components"]])
    else:
        lines.append("None declared.")
    if report["meta_data"]:
        lines += ["", "Manifest meta-data keys (values not shown): "
                  + ", ".join(code(k) for k in report["meta_data"])]
    return "\n".join(lines).rstrip() + "\n"
