"""Capabilities over the corpus, before and after feasibility and call paths (issue 10's measurements).

    .venv/bin/python bench/capabilities.py [--apks DIR] [--before REPO] [--json FILE]

A capability is one (app, data type, actor) that a sensitive call site gives (levels present / reachable).
For this checkout: how many, split by feasibility status (the best verdict over the capability's call sites)
and by reachable (here: a call path from an entry point) / present-only. With --before REPO (e.g. a checkout of main), the same scan is run
from that repository in a child process and its capabilities (reachable / present, no feasibility) are
listed beside (there `reachable` is whatever that checkout means by it). Then DroidBench: the known sources found, with their paths.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".aab")
RANK = {"granted": 0, "runtime-permission": 1, "unknown": 2, "degraded": 3, "blocked": 4}


def capabilities(apk: Path) -> dict | None:
    """{"data_type|actor": {"reachable": bool, "feasibility": status or None}} for one app; None if refused."""
    import audit  # noqa: F401
    from audit.errors import InputError
    from audit.static.scan import scan_app
    try:
        report = scan_app([apk]).to_json()
    except InputError as exc:
        return {"error": str(exc)}
    out: dict[str, dict] = {}
    for call in report["api_calls"]:
        actor = call["actor"]
        key = f"{call['data_type']}|{actor['kind']}:{actor.get('id') or ''}"
        entry = out.setdefault(key, {"reachable": False, "feasibility": None})
        entry["reachable"] = entry["reachable"] or call["reachable"]
        status = (call.get("feasibility") or {}).get("status")
        if status and (entry["feasibility"] is None or RANK[status] < RANK[entry["feasibility"]]):
            entry["feasibility"] = status
    return out


def scan_corpus(folder: Path) -> dict[str, dict]:
    return {p.name: capabilities(p) for p in sorted(folder.iterdir()) if p.suffix in SUFFIXES}


def summary(results: dict[str, dict]) -> dict:
    by_status: Counter = Counter()
    reach: Counter = Counter()
    total = errors = 0
    for caps in results.values():
        if caps is None or "error" in caps:
            errors += 1
            continue
        for entry in caps.values():
            total += 1
            by_status[entry["feasibility"] or "none"] += 1
            reach["reachable" if entry["reachable"] else "present-only"] += 1
            if entry["reachable"] and entry["feasibility"] in ("granted", "runtime-permission", "unknown"):
                reach["reachable and possible"] += 1
    return {"apps": len(results) - errors, "refused": errors, "capabilities": total,
            "by_feasibility": dict(sorted(by_status.items())), "by_reachability": dict(sorted(reach.items()))}


def droidbench(folder: Path) -> list[dict]:
    sys.path.insert(0, str(REPO / "bench"))
    from run import DROIDBENCH   # the benchmark's ground truth, shared with bench/run.py
    from audit.static.scan import scan_app
    rows = []
    for name, truth in DROIDBENCH.items():
        path = folder / name
        if not path.is_file():
            continue
        calls = scan_app([path]).api_calls
        found = {(c.api_id, c.caller.split("(")[0]): c for c in calls}
        hits = [found[e] for e in truth["expect"] if e in found]
        rows.append({"apk": name, "expected": len(truth["expect"]), "found": len(hits),
                     "reachable_with_path": sum(1 for c in hits if c.reachable and c.path),
                     "sources": [{"api": c.api_id, "data_type": c.data_type, "path": list(c.path),
                                  "feasibility": c.feasibility.to_json() if c.feasibility else None}
                                 for c in hits]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apks", type=Path, default=SHARED / "corpus" / "apks")
    parser.add_argument("--before", type=Path, help="another checkout (e.g. main) to compare with")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(scan_corpus(args.child)))
        return 0
    if not args.apks.is_dir():
        print(f"bench: no corpus at {args.apks}", file=sys.stderr)
        return 2
    after = scan_corpus(args.apks)
    out = {"after": summary(after)}
    if args.before:
        child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(args.apks)],
                               capture_output=True, text=True, check=True, cwd=args.before,
                               env={**os.environ, "PYTHONPATH": str(args.before.resolve())})
        before = json.loads(child.stdout.strip().splitlines()[-1])
        out["before"] = summary(before)
    out["droidbench"] = droidbench(args.apks)
    for label in ("before", "after"):
        if label in out:
            s = out[label]
            print(f"{label:6}: {s['capabilities']} capabilities in {s['apps']} apps ({s['refused']} refused); "
                  f"feasibility {s['by_feasibility']}; {s['by_reachability']}")
    for row in out["droidbench"]:
        print(f"DroidBench {row['apk']}: {row['found']}/{row['expected']} expected sources found, "
              f"{row['reachable_with_path']} with a call path")
        for source in row["sources"]:
            verdict = source["feasibility"] or {}
            print(f"    {source['api']} ({source['data_type']}): {verdict.get('status')} - "
                  f"{' -> '.join(m.split('(')[0] for m in source['path'])}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    if "--child" not in sys.argv:     # a child scans with the checkout its PYTHONPATH names
        sys.path.insert(0, str(REPO))
    else:
        sys.path.remove(str(Path(__file__).resolve().parent))
    sys.exit(main())
