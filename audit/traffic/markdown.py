"""The Markdown form of a traffic report: what left the device, to whom, ID bridging, recipients, captures.

Every value in it comes from a capture or a catalogue (hosts, app ids, recipient ids and names, places in a
request): each goes through audit/escape.py, `code()` inside code spans and `markdown()` elsewhere."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..escape import code, markdown

if TYPE_CHECKING:
    from .analyse import TrafficReport


def to_markdown(report: TrafficReport, reveal: bool = False) -> str:
    data = report.to_json(reveal)
    recipients = data["recipients"]
    lines = ["# Traffic analysis", ""]
    if report.app_package:
        lines.append(f"App: {code(report.app_package)}  ")
    lines.append(f"Identifiers searched: {markdown(', '.join(report.identifier_types)) or 'none'}  ")
    read = sum(not t.value_known for t in report.transmissions)
    lines.append(f"Requests: {len(report.requests)}; transmissions: {len(report.transmissions)} "
                 f"({len(report.transmissions) - read} of known values, {read} read by tracker adapters; "
                 f"the same sent by several requests is one row); values {'shown' if reveal else 'redacted'}.")
    lines += ["", "## Captures", "", "| capture | format | status | requests | reason |", "|---|---|---|---|---|"]
    for c in data["captures"]:
        status = c["status"] + (" (partial)" if c.get("partial") else "")
        lines.append(f"| {code(c['path'])} | {markdown(c['format'])} | {markdown(status)} | {c['requests']} | "
                     f"{markdown(c.get('reason') or '')} |")
    lines += ["", "## What left the device, to whom", ""]
    if data["transmissions"]:
        value_head = " value |" if reveal else ""
        lines += ["| data type | recipient | party | host | where | encoding | requests | sent by | found by |"
                  + value_head, "|---|---|---|---|---|---|---|---|---|" + ("---|" if reveal else "")]
        for t in data["transmissions"]:
            actor = t["actor"]
            actor_text = f"{actor['kind']}:{actor['id']}" if actor and actor.get("id") else \
                (actor["kind"] if actor else "")
            recipient = recipients[t["recipient"]]
            lines.append(f"| {markdown(t['data_type'])} | {markdown(recipient['name'])} "
                         f"({code(recipient['id'])}) | {markdown(recipient['party'])} | "
                         f"{markdown(t['scheme'] + '://' + t['host'])} | {code(t['where'])} | "
                         f"{markdown(t['encoding'])} | {markdown(_requests(t))} | {markdown(actor_text)} | "
                         f"{_found_by(t)} |" + (f" {code(t['value'])} |" if reveal else ""))
    else:
        lines.append("Nothing was found in the captured requests: no known value, no field a tracker adapter reads.")
    lines += ["", "## ID bridging", ""]
    if data["bridging"]:
        for b in data["bridging"]:
            lines.append(f"- **{markdown(recipients[b['recipient']]['name'])}** ({code(b['recipient'])}, "
                         f"{markdown(b['scope'])}): {markdown(' + '.join(b['data_types']))} in "
                         f"{markdown(', '.join(b['requests'][:20]))}")
    else:
        lines.append("None: the advertising ID was not sent together with a persistent identifier.")
    lines += ["", "## Recipients", "", "| recipient | party | categories | hosts | requests |", "|---|---|---|---|---|"]
    by_recipient: dict[str, dict] = {}
    for r in data["requests"]:
        entry = by_recipient.setdefault(r["recipient"], {"r": recipients[r["recipient"]], "hosts": set(), "n": 0})
        entry["hosts"].add(r["host"])
        entry["n"] += 1
    for rid, entry in sorted(by_recipient.items()):
        lines.append(f"| {markdown(entry['r']['name'])} ({code(rid)}) | {markdown(entry['r']['party'])} | "
                     f"{markdown(', '.join(entry['r']['categories']))} | "
                     f"{markdown(', '.join(sorted(entry['hosts'])[:8]))} | {entry['n']} |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {markdown(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"


def _requests(t: dict) -> str:
    shown = ", ".join(t["requests"][:5])
    return shown if t["count"] <= 5 else f"{shown} … ({t['count']} in all)"


def _found_by(t: dict) -> str:
    if not t.get("adapter"):
        return "known value"
    how = "known value, " if t["value_known"] else ""
    return f"{how}adapter {code(t['adapter'])} field {code(t['field'])}"
