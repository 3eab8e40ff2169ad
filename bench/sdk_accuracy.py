"""`make bench`: SDK detection precision and recall against ../shared/corpus/TRUTH.json, beside an exodus-style scan.

    .venv/bin/python bench/sdk_accuracy.py [--corpus DIR] [--json FILE] [--check]

TRUTH.json lists, per corpus file, the SDK families whose code is really in it (`present`, checked by hand from
the classes its dexes define) and traps a naive scan claims (`absent`: host strings, manifest flags, look-alike
packages). For each file and in total:

- appaudit: the static scan's SDK stage (audit.static.scan.scan_sdks: the same inputs, manifests, dexes and
  detection as `appaudit scan`, without the call-site search). A file the scanner refuses counts every present
  SDK as missed, and the table says so.
- exodus-style: what exodus-core's static analysis does: the class list of every dex (`dexdump`; for a bundle,
  every dex of every member APK and of the .aab's modules) searched with each Exodus tracker's `code_signature`
  regex (longer than 3 characters, as exodus-core). An Exodus tracker is named by the catalogue entry that
  covers it (rules/sdks.yaml `exodus`), so both columns speak catalogue ids.

Scoring: a present SDK is found when the scan claims its id (or, for TRUTH ids our catalogue spells otherwise,
one of ALIASES). A claim is correct when it is one of the file's present SDKs (or COVERED_BY one of them);
every other claim is a false positive, traps included. Precision = correct claims / claims; recall = present
SDKs found / present SDKs. Targets: precision 100 %, recall >= 98 %, never below the exodus-style scan on a file.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
TRACKERS = SHARED / "signatures" / "exodus-trackers.json"

# TRUTH ids spelt differently from catalogue ids: the TRUTH id -> the catalogue ids that are it.
ALIASES: dict[str, frozenset[str]] = {
    # "huawei" (a trap: the flavour name only) is the vendor: any Huawei entry would be claiming it.
    "huawei": frozenset({"huawei_mobile_services", "huawei_analytics", "huawei_ads", "huawei_push",
                         "huawei_location"}),
}
# A TRUTH id whose description includes code a separate catalogue entry names: that entry's claim is correct
# where the TRUTH id is present. Firebase Cloud Messaging shipped the Instance ID (com.google.firebase.iid,
# our firebase_installations) inside its artifact until 2020; TRUTH lists it under firebase_messaging there.
COVERED_BY: dict[str, frozenset[str]] = {
    "firebase_messaging": frozenset({"firebase_installations"}),
}
RECALL_TARGET = 0.98


@dataclass
class Score:
    present: list[str]
    claimed: list[str]
    found: list[str] = field(default_factory=list)      # present TRUTH ids claimed
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)      # claims that are not present SDKs
    note: str = ""

    @property
    def correct_claims(self) -> int:
        return len(self.claimed) - len(self.wrong)


def score(present: list[str], claimed: list[str], note: str = "") -> Score:
    result = Score(sorted(present), sorted(claimed), note=note)
    claimed_set = set(claimed)
    for truth_id in result.present:
        names = {truth_id} | ALIASES.get(truth_id, frozenset())
        (result.found if names & claimed_set else result.missed).append(truth_id)
    accepted = set()
    for truth_id in present:
        accepted |= {truth_id} | ALIASES.get(truth_id, frozenset()) | COVERED_BY.get(truth_id, frozenset())
    result.wrong = [c for c in result.claimed if c not in accepted]
    return result


# -- appaudit ------------------------------------------------------------------------------------------
def appaudit_claims(path: Path) -> tuple[list[str], str]:
    """Catalogue ids the scan detects, and a note (refused input, hints)."""
    from audit.errors import InputError
    from audit.static import scan
    try:
        if hasattr(scan, "scan_sdks"):
            found, warnings = scan.scan_sdks([path])
        else:   # a checkout from before the SDK stage could run alone (--repo, to measure "before")
            report = scan.scan_app([path])
            found, warnings = report, report.warnings
    except InputError as exc:
        return [], f"refused by the scanner: {exc}"
    hints = getattr(found, "hints", ())
    note = f"hints: {', '.join(h.id for h in hints)}" if hints else ""
    if warnings:
        note = "; ".join(filter(None, [note, f"partial ({len(warnings)} warnings)"]))
    return sorted({s.id for s in found.sdks}), note


# -- exodus-style ----------------------------------------------------------------------------------------
_DEX_MEMBER = re.compile(r"(?:.*/)?classes\d*\.dex|base/dex/[^/]+\.dex|[^/]+/dex/[^/]+\.dex")
_DESCRIPTOR = re.compile(r"Class descriptor\s+:\s+'L(.*);'")


def _dexes(data: bytes, depth: int = 0) -> list[bytes]:
    """Every dex of an APK, of each APK inside a bundle (.apks/.xapk), and of each module of an .aab."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.filename
            if _DEX_MEMBER.fullmatch(name):
                out.append(archive.read(info))
            elif name.endswith(".apk") and depth == 0:
                out.extend(_dexes(archive.read(info), depth + 1))
    return out


def dexdump_classes(path: Path) -> list[str]:
    classes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, dex in enumerate(_dexes(path.read_bytes())):
            dex_path = Path(tmp) / f"classes{index}.dex"
            dex_path.write_bytes(dex)
            out = subprocess.run(["dexdump", str(dex_path)], capture_output=True, text=True, errors="replace",
                                 check=False).stdout
            classes.extend(c.replace("/", ".") for c in _DESCRIPTOR.findall(out))
    return classes


def exodus_signatures() -> list[tuple[str, str, re.Pattern]]:
    trackers = json.loads(TRACKERS.read_text(encoding="utf-8"))["trackers"]
    items = trackers.items() if isinstance(trackers, dict) else ((str(t.get("id")), t) for t in trackers)
    out = []
    for key, tracker in items:
        signature = tracker.get("code_signature") or ""
        if len(signature) > 3:
            out.append((str(key), tracker["name"], re.compile(signature)))
    return out


def exodus_to_catalogue() -> dict[str, str]:
    """Exodus tracker id -> the catalogue id whose `exodus` list names it; library ones -> `library:<id>`."""
    import yaml
    raw = yaml.safe_load((REPO / "rules" / "sdks.yaml").read_text(encoding="utf-8"))
    out = {str(key): entry["id"] for entry in raw["sdks"] for key in entry.get("exodus") or ()}
    for entry in raw.get("exodus_libraries") or ():
        out[str(entry["exodus"])] = f"library:{entry.get('library') or 'none'}"
    return out


def exodus_claims(path: Path, signatures, names: dict[str, str]) -> tuple[list[str], str]:
    try:
        classes = dexdump_classes(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [], f"unreadable: {exc}"
    claims = set()
    for key, name, pattern in signatures:
        if any(pattern.search(c) for c in classes):
            claims.add(names.get(key, f"exodus:{name}"))
    return sorted(claims), f"{len(classes)} classes"


# -- report ----------------------------------------------------------------------------------------------
def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def totals(scores: list[Score]) -> dict:
    claims = sum(len(s.claimed) for s in scores)
    correct = sum(s.correct_claims for s in scores)
    present = sum(len(s.present) for s in scores)
    found = sum(len(s.found) for s in scores)
    return {"claims": claims, "correct": correct, "present": present, "found": found,
            "precision": _ratio(correct, claims), "recall": _ratio(found, present)}


def run(corpus: Path, tools: tuple[str, ...] = ("appaudit", "exodus-style")) -> dict:
    truth = json.loads((corpus / "TRUTH.json").read_text(encoding="utf-8"))["apps"]
    signatures = exodus_signatures() if "exodus-style" in tools else []
    names = exodus_to_catalogue() if "exodus-style" in tools else {}
    rows = {}
    for name in sorted(truth):
        path = corpus / "apks" / name
        if not path.is_file():
            continue
        present = [p["sdk"] for p in truth[name]["present"]]
        traps = [a["sdk"] for a in truth[name]["absent"]]
        row = {"traps": traps}
        if "appaudit" in tools:
            row["appaudit"] = score(present, *appaudit_claims(path))
        if "exodus-style" in tools:
            row["exodus-style"] = score(present, *exodus_claims(path, signatures, names))
        rows[name] = row
    return {"rows": rows, "totals": {tool: totals([r[tool] for r in rows.values()]) for tool in tools}}


def _cell(s: Score) -> str:
    parts = [f"{len(s.found)}/{len(s.present)}"]
    if s.missed:
        parts.append("missed " + ",".join(s.missed))
    if s.wrong:
        parts.append("WRONG " + ",".join(s.wrong))
    return " ".join(parts)


def print_report(result: dict) -> None:
    rows = result["rows"]
    tools = list(result["totals"])
    print(f"{'file':58} " + " ".join(f"{t:34}" for t in tools))
    for name, row in rows.items():
        print(f"{name[:58]:58} " + " ".join(f"{_cell(row[t])[:34]:34}" for t in tools))
        for tool in tools:
            if row[tool].note.startswith(("refused", "unreadable")):
                print(f"{'':58} {tool}: {row[tool].note[:150]}")
    print()
    for tool, t in result["totals"].items():
        print(f"{tool:13} precision {100 * t['precision']:6.2f} % ({t['correct']}/{t['claims']} claims correct)   "
              f"recall {100 * t['recall']:6.2f} % ({t['found']}/{t['present']} present SDKs found)")
    if {"appaudit", "exodus-style"} <= set(tools):
        behind = [name for name, row in rows.items()
                  if len(row["appaudit"].found) < len(row["exodus-style"].found)]
        differ = [name for name, row in rows.items()
                  if (row["appaudit"].found, row["appaudit"].wrong) != (row["exodus-style"].found,
                                                                       row["exodus-style"].wrong)]
        print(f"files where appaudit finds fewer present SDKs than exodus-style: {', '.join(behind) or 'none'}")
        print(f"files where the two differ: {', '.join(differ) or 'none'}")


def targets_met(result: dict) -> list[str]:
    problems = []
    ours = result["totals"]["appaudit"]
    if ours["precision"] < 1.0:
        problems.append(f"precision {ours['precision']:.4f} < 1")
    if ours["recall"] < RECALL_TARGET:
        problems.append(f"recall {ours['recall']:.4f} < {RECALL_TARGET}")
    if "exodus-style" in result["totals"]:
        for name, row in result["rows"].items():
            if len(row["appaudit"].found) < len(row["exodus-style"].found):
                problems.append(f"{name}: fewer present SDKs found than the exodus-style scan")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--tools", nargs="+", choices=("appaudit", "exodus-style"),
                        default=["appaudit", "exodus-style"])
    parser.add_argument("--json", type=Path, help="also write the per-file scores here")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose scanner is measured")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.repo.resolve()))
    if not (args.corpus / "TRUTH.json").is_file():
        print(f"bench: no TRUTH.json under {args.corpus}", file=sys.stderr)
        return 2
    result = run(args.corpus, tuple(args.tools))
    print_report(result)
    problems = targets_met(result) if "appaudit" in args.tools else []
    print("targets: " + ("met" if not problems else "NOT met: " + "; ".join(problems)))
    if args.json:
        args.json.write_text(json.dumps({
            "rows": {name: {tool: vars(score) if isinstance(score, Score) else score for tool, score in row.items()}
                     for name, row in result["rows"].items()},
            "totals": result["totals"]}, indent=1, sort_keys=True))
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
