"""Who makes each call site, per corpus app: the share of call sites by actor kind, and whether any file fails.

    PYTHONPATH=. python bench/actors.py [corpus/apks folder] [--json out.json]

Kinds: first-party, sdk (catalogued), unidentified (sdk `unidentified:<prefix>`), library, unknown. A file that
the scan refuses (InputError, the CLI's exit 2) or that raises anything else is listed as such: on real apps
both are bugs. The last line times the full scan of the largest file (best of 3).
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from audit import quiet_androguard
from audit.errors import InputError
from audit.static.scan import scan_app

KINDS = ("first-party", "sdk", "unidentified", "library", "unknown")
SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".aab")


def kind_of(actor) -> str:
    if actor.kind.value == "sdk" and (actor.id or "").startswith("unidentified:"):
        return "unidentified"
    return actor.kind.value


def measure(path: Path) -> dict:
    try:
        report = scan_app([path])
    except InputError as exc:
        return {"file": path.name, "status": f"refused: {exc}"}
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure, it does not stop at one
        return {"file": path.name, "status": f"crash: {type(exc).__name__}: {exc}"}
    counts = Counter(kind_of(site.actor) for site in report.api_calls)
    unknown_ids = Counter(site.actor.id or "(obfuscated)" for site in report.api_calls
                          if site.actor.kind.value == "unknown")
    return {"file": path.name, "status": "ok", "sites": len(report.api_calls),
            "kinds": {k: counts.get(k, 0) for k in KINDS}, "unknown": dict(unknown_ids.most_common(3))}


def main(argv: list[str]) -> int:
    quiet_androguard()
    out_json = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "apks"
    files = sorted(p for p in folder.iterdir() if p.name.lower().endswith(SUFFIXES))
    rows = [measure(p) for p in files]
    print(f"{'file':52} {'sites':>5} " + " ".join(f"{k:>12}" for k in KINDS))
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['file'][:52]:52} {row['status'][:100]}")
            continue
        shares = " ".join(f"{100 * row['kinds'][k] / row['sites'] if row['sites'] else 0:11.0f}%" for k in KINDS)
        print(f"{row['file'][:52]:52} {row['sites']:5} {shares}")
    total = Counter()
    for row in rows:
        total.update(row.get("kinds", {}))
    n = sum(total.values()) or 1
    print(f"{'ALL':52} {n:5} " + " ".join(f"{100 * total[k] / n:11.1f}%" for k in KINDS))
    failures = [r for r in rows if r["status"] != "ok"]
    print(f"files: {len(rows)}, failures: {len(failures)}")
    largest = max(files, key=lambda p: p.stat().st_size)
    best = None
    for _ in range(3):
        started = time.perf_counter()
        try:
            scan_app([largest])
        except Exception:  # noqa: BLE001
            break
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"largest file {largest.name}: full scan {best:.3f} s (best of 3)" if best else "largest file failed")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
