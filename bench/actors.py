"""Who makes each call site, per corpus app: the share of call sites by actor kind, and whether any file fails.

    PYTHONPATH=. python bench/actors.py [corpus/apks folder] [--json out.json] [--list KIND]

Kinds: first-party, sdk (catalogued), unidentified (sdk `unidentified:<prefix>`), library, unknown. A file that
the scan refuses (InputError, the CLI's exit 2) or that raises anything else is listed as such: on real apps
both are bugs. The last lines time the full scan of the app with the most dex code and of the one with the most
call sites (best of 5). `--list first-party` (or any kind) prints each call site of that kind, caller and API,
for the review by hand every first-party verdict needs (is the calling class really the app's own code?).
"""
from __future__ import annotations

import json
import re
import sys
import time
import zipfile
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
    listed = sorted({(kind_of(site.actor), site.caller, site.api_id, site.via or "") for site in report.api_calls})
    return {"file": path.name, "status": "ok", "sites": len(report.api_calls),
            "kinds": {k: counts.get(k, 0) for k in KINDS}, "unknown": dict(unknown_ids.most_common(3)),
            "listed": [list(item) for item in listed]}


def dex_bytes(path: Path) -> int:
    """Uncompressed size of the classes*.dex of a plain APK (0 for bundles: they are not the timing subject)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(i.file_size for i in archive.infolist() if re.fullmatch(r"classes\d*\.dex", i.filename))
    except (OSError, zipfile.BadZipFile):
        return 0


def main(argv: list[str]) -> int:
    quiet_androguard()
    out_json = listing = None
    if "--json" in argv:
        i = argv.index("--json")
        out_json = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if "--list" in argv:
        i = argv.index("--list")
        listing = argv[i + 1]
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
    for row in rows if listing else ():
        for kind, caller, api, via in row.get("listed", ()):
            if kind == listing:
                print(f"{listing} {row['file']}: {caller} {api}" + (f" via {via}" if via else ""))
    failures = [r for r in rows if r["status"] != "ok"]
    print(f"files: {len(rows)}, failures: {len(failures)}")
    # the app with the most dex code, and the one with the most call sites (the heaviest attribution work)
    subjects = [max(files, key=dex_bytes)]
    busiest = max((r for r in rows if r["status"] == "ok"), key=lambda r: r["sites"], default=None)
    if busiest is not None and busiest["file"] != subjects[0].name:
        subjects.append(folder / busiest["file"])
    for subject in subjects:
        best = None
        for _ in range(5):
            started = time.perf_counter()
            try:
                scan_app([subject])
            except Exception:  # noqa: BLE001
                break
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        print(f"timing {subject.name}: full scan {best:.3f} s (best of 5)" if best else
              f"timing {subject.name}: scan failed")
    if out_json:
        Path(out_json).write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
