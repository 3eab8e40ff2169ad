"""The Markdown form of a traffic report: what left the device, to whom, ID bridging, recipients, captures."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analyse import TrafficReport


def to_markdown(report: TrafficReport, reveal: bool = False) -> str:
    data = report.to_json(reveal)
    lines = ["# Traffic analysis", ""]
    if report.app_package:
        lines.append(f"App: `{report.app_package}`  ")
    lines.append(f"Identifiers searched: {', '.join(report.identifier_types) or 'none'}  ")
    read = sum(not t.value_known for t in report.transmissions)
    lines.append(f"Requests: {len(report.requests)}; transmissions: {len(report.transmissions)} "
                 f"({len(report.transmissions) - read} of known values, {read} read by tracker adapters); "
                 f"values {'shown' if reveal else 'redacted'}.")
    lines += ["", "## Captures", "", "| capture | format | status | requests | reason |", "|---|---|---|---|---|"]
    for c in data["captures"]:
        status = c["status"] + (" (partial)" if c.get("partial") else "")
        lines.append(f"| `{_md(c['path'])}` | {c['format']} | {status} | {c['requests']} | "
                     f"{_md(c.get('reason') or '')} |")
    lines += ["", "## What left the device, to whom", ""]
    if data["transmissions"]:
        value_head = " value |" if reveal else ""
        lines += ["| data type | recipient | party | host | where | encoding | request | sent by | found by |"
                  + value_head, "|---|---|---|---|---|---|---|---|---|" + ("---|" if reveal else "")]
        for t in data["transmissions"]:
            actor = t["actor"]
            actor_text = f"{actor['kind']}:{actor['id']}" if actor and actor.get("id") else \
                (actor["kind"] if actor else "")
            lines.append(f"| {t['data_type']} | {_md(t['recipient']['name'])} (`{t['recipient']['id']}`) | "
                         f"{t['recipient']['party']} | {t['scheme']}://{_md(t['host'])} | `{_md(t['where'])}` | "
                         f"{t['encoding']} | {t['request']} | {_md(actor_text)} | {_found_by(t)} |"
                         + (f" `{_md(t['value'])}` |" if reveal else ""))
    else:
        lines.append("Nothing was found in the captured requests: no known value, no field a tracker adapter reads.")
    lines += ["", "## ID bridging", ""]
    if data["bridging"]:
        for b in data["bridging"]:
            lines.append(f"- **{_md(b['recipient']['name'])}** (`{b['recipient']['id']}`, {b['scope']}): "
                         f"{' + '.join(b['data_types'])} in {', '.join(b['requests'][:20])}")
    else:
        lines.append("None: the advertising ID was not sent together with a persistent identifier.")
    lines += ["", "## Recipients", "", "| recipient | party | categories | hosts | requests |", "|---|---|---|---|---|"]
    by_recipient: dict[str, dict] = {}
    for r in data["requests"]:
        entry = by_recipient.setdefault(r["recipient"]["id"], {"r": r["recipient"], "hosts": set(), "n": 0})
        entry["hosts"].add(r["host"])
        entry["n"] += 1
    for rid, entry in sorted(by_recipient.items()):
        lines.append(f"| {_md(entry['r']['name'])} (`{rid}`) | {entry['r']['party']} | "
                     f"{', '.join(entry['r']['categories'])} | {_md(', '.join(sorted(entry['hosts'])[:8]))} | "
                     f"{entry['n']} |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {_md(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _found_by(t: dict) -> str:
    if not t.get("adapter"):
        return "known value"
    how = "known value, " if t["value_known"] else ""
    return f"{how}adapter `{_md(t['adapter'])}` field `{_md(t['field'])}`"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
