"""Traffic: end-to-end `appaudit traffic` on large HARs side by side with TrackHAR, and matching throughput.

    .venv/bin/python bench/traffic.py [--sizes 25 50 100] [--baseline /work/main] [--matching-mb 32]

End to end: HARs of 25/50/100 MB are made in a temporary folder from the real captures in
../shared/corpus/traffic (their entries replicated; long digit runs such as timestamps shifted per copy, so copies
are not byte-identical requests), never committed. Each size is read by `python -m audit.cli traffic` (this
checkout, and --baseline CHECKOUT for a before/after) and by tweasel's TrackHAR (npm `trackhar`, installed into a
cache folder outside the repository, run by bench/trackhar_run.mjs), each in its own process: MB of HAR per CPU
second (user + system: the machine may be shared, and wall time would measure the neighbours), wall seconds, and
the process's peak RSS.

Matching: one Aho-Corasick pass vs a naive search per needle, on the same decoded bytes. Data: the real iOS tracker
request bodies in ../shared/corpus/traffic/ios-tracker-requests (synthetic JSON if the shared folder is absent),
wrapped into requests and decoded by audit.traffic.decode, repeated to --matching-mb MB of decoded segments.
Identifiers: 12 values x every encoding (plain, url, base64 x3 alignments, base64url, hex, md5, sha1, sha256,
md5-zero-stripped, of each normalised form). Only matching is timed, in CPU seconds of this process.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.traffic.captures import Request  # noqa: E402
from audit.traffic.decode import request_segments  # noqa: E402
from audit.traffic.match import Identifier, Matcher, needles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAFFIC = ROOT.parent / "shared" / "corpus" / "traffic"
SHARED = TRAFFIC / "ios-tracker-requests"
ANDROID_HAR = TRAFFIC / "tweasel-reporthar" / "android_second-run.har"
TRACKHAR_VERSION = "1.0.0"
AD_ID = "1209d0b9-b959-42e6-b921-aa5d9d08c1af"   # the advertising ID in the real Android capture
VALUES = {
    "device_ids.advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "device_ids.imei": "353627075111296", "device_ids.android_id": "9774d56d682e549c",
    "device_ids.mac_address": "02:00:00:44:55:66", "device_ids.serial": "R58M12ABCDE",
    "device_ids.sim_serial": "8949022012345678901", "device_ids.imsi": "262011234567890",
    "network.wifi_ssid": "AndroidWifi", "personal_info.email": "ada.lovelace@example.org",
    "personal_info.phone_number": "+4915557543434", "device_ids.device_name": "R2Gl5OLv20",
    "contacts": "JGKfozntbF TBFFZbBYea",
}


# -- end to end ---------------------------------------------------------------------------------------------
_LONG_NUMBER = re.compile(rb"(?<![\w.-])\d{10,13}(?![\w.-])")


def make_har(target: Path, megabytes: float, sources: list[Path]) -> int:
    """A HAR of about `megabytes` MB: the sources' entries over and over; returns the number of entries."""
    entries = []
    for source in sources:
        entries += [json.dumps(e).encode() for e in json.loads(source.read_text("utf-8-sig"))["log"]["entries"]]
    goal = int(megabytes * 1024 * 1024)
    count = size = 0
    with open(target, "wb") as out:
        out.write(b'{"log": {"version": "1.2", "creator": {"name": "bench/traffic.py", "version": "1"}, '
                  b'"entries": [')
        while size < goal:
            copy = count // len(entries)
            entry = entries[count % len(entries)]
            if copy:
                entry = _LONG_NUMBER.sub(lambda m: str(int(m.group(0)) + copy).encode(), entry)
            if count:
                out.write(b",\n")
            out.write(entry)
            size += len(entry) + 2
            count += 1
        out.write(b"]}}\n")
    return count


def measure(argv: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Run one process; its CPU seconds, wall seconds and peak RSS (from wait4: this child alone)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:4]))}... exit {proc.returncode}: {err.decode()[-400:]}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "rss": usage.ru_maxrss * 1024, "out": out}


def install_trackhar() -> Path | None:
    """`npm install trackhar` into a cache folder outside the repository; its node_modules, or None."""
    if not shutil.which("npm") or not shutil.which("node"):
        return None
    cache = Path(os.environ.get("APPAUDIT_BENCH_CACHE", Path(tempfile.gettempdir()) / "appaudit-bench-npm"))
    modules = cache / "node_modules"
    if not (modules / "trackhar" / "package.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache),
                        "--cache", str(cache / ".npm"), f"trackhar@{TRACKHAR_VERSION}"],
                       check=False, capture_output=True, timeout=600)
    return modules if (modules / "trackhar" / "package.json").is_file() else None


def end_to_end(sizes: list[float], baseline: Path | None, repeat: int) -> None:
    if not ANDROID_HAR.is_file():
        print(f"end to end: {ANDROID_HAR} not present; skipped")
        return
    trackhar = install_trackhar()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="appaudit-bench-") as tmp:
        work = Path(tmp)
        ids = work / "ids.json"
        ids.write_text(json.dumps({"device_ids.advertising_id": AD_ID}))
        indicators = work / "indicators.json"
        indicators.write_text(json.dumps({"advertisingId": AD_ID}))
        tools = [("appaudit", ROOT)] + ([("appaudit (baseline)", baseline)] if baseline else [])
        # Measured as installed, as bench/run.py does: each checkout compiled to bytecode first, whatever the
        # caller's PYTHONDONTWRITEBYTECODE says (else a checkout with stale bytecode compiles modules in every run)
        import compileall
        for _, checkout in tools:
            compileall.compile_dir(str(checkout / "audit"), quiet=1)
        print(f"end to end on HARs of the real Android capture's entries, replicated "
              f"(CPU = user+system seconds, best of {repeat}; RSS = peak of the process)")
        print(f"  {'HAR':>7} {'entries':>8}  {'tool':<20} {'MB/s CPU':>9} {'CPU s':>7} {'wall s':>7} "
              f"{'peak RSS':>9}")
        for name, checkout in tools:
            # unmeasured: the first run builds the rules cache in APPAUDIT_HOME (~0.45 s), which would be charged
            # to whichever tool runs first
            env = dict(os.environ, PYTHONPATH=str(checkout), APPAUDIT_HOME=str(work / "home"))
            measure([python, "-m", "audit.cli", "traffic", str(ANDROID_HAR), "-o", str(work / "report.json")],
                    checkout, env)
        for size in sizes:
            har = work / f"bench-{size:g}mb.har"
            count = make_har(har, size, [ANDROID_HAR])
            mb = har.stat().st_size / 1e6
            rows = []
            for name, checkout in tools:
                env = dict(os.environ, PYTHONPATH=str(checkout), APPAUDIT_HOME=str(work / "home"))
                argv = [python, "-m", "audit.cli", "traffic", str(har), "--identifiers", str(ids),
                        "-o", str(work / "report.json")]
                rows.append((name, _best(argv, checkout, env, repeat)))
            if trackhar:
                argv = ["node", str(ROOT / "bench" / "trackhar_run.mjs"), str(trackhar), str(har), str(indicators)]
                rows.append((f"trackhar {TRACKHAR_VERSION}", _best(argv, work, None, repeat)))
            for name, run in rows:
                print(f"  {mb:6.1f}M {count:8d}  {name:<20} {mb / run['cpu']:9.1f} {run['cpu']:7.2f} "
                      f"{run['wall']:7.2f} {run['rss'] / 2 ** 20:7.0f}Mi")
            har.unlink()
        if not trackhar:
            print("  trackhar: npm/node not available or `npm install trackhar` failed; not compared")


def _best(argv: list[str], cwd: Path, env: dict | None, repeat: int) -> dict:
    runs = [measure(argv, cwd, env) for _ in range(max(1, repeat))]
    return min(runs, key=lambda run: run["cpu"])


# -- matching -----------------------------------------------------------------------------------------------
def _requests() -> list[Request]:
    bodies = []
    if SHARED.is_dir():
        for path in sorted(SHARED.iterdir()):
            if path.suffix in (".json", ".txt", ".ndjson") and not path.name.startswith("data_"):
                bodies.append((path.read_bytes(), "application/json" if path.suffix != ".txt"
                               else "application/x-www-form-urlencoded"))
    else:
        for i in range(20):
            doc = {"events": [{"i": j, "device": {"model": "Pixel", "idfv": f"{i:08d}-{j}"}} for j in range(300)]}
            bodies.append((json.dumps(doc).encode(), "application/json"))
    return [Request(None, "POST", "https", "tracker.example", 443, "/collect?v=1&sdk=2",
                    (("content-type", ctype), ("user-agent", "bench")), body, "bench") for body, ctype in bodies]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="*", default=[25, 50, 100],
                        help="HAR sizes in MB for the end-to-end comparison (default 25 50 100; none to skip)")
    parser.add_argument("--baseline", type=Path, help="another appaudit checkout to run too (before/after)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool and size; the best CPU time counts")
    parser.add_argument("--matching-mb", type=float, default=32.0, help="decoded megabytes to match (default 32)")
    args = parser.parse_args()
    if args.sizes:
        end_to_end(args.sizes, args.baseline, args.repeat)
    matching(args.matching_mb)
    return 0


def matching(megabytes: float) -> None:
    base = [request_segments(r)[0] for r in _requests()]
    base_bytes = sum(len(s.data) for segs in base for s in segs)
    rounds = max(1, int(megabytes * 1024 * 1024 / max(base_bytes, 1)))
    workload = base * rounds
    total = sum(len(s.data) for segs in workload for s in segs)
    identifiers = [Identifier(k, v) for k, v in VALUES.items()]
    built = time.process_time()
    matcher = Matcher(identifiers)
    build_s = time.process_time() - built

    start = time.process_time()
    hits = 0
    for segments in workload:
        found, _ = matcher.find(segments)
        hits += len(found)
    fast_s = time.process_time() - start

    # Naive: every needle searched separately (str.find, C speed) over the same joined, lower-cased bytes.
    all_needles = [(text.lower() if not cs else text, cs) for ident in identifiers
                   for text, _, cs in needles(ident.value)]
    start = time.process_time()
    naive_hits = 0
    for segments in workload:
        joined = b"\x00".join(s.data for s in segments)
        original, lowered = joined.decode("latin-1"), joined.lower().decode("latin-1")
        for needle, case_sensitive in all_needles:
            hay = original if case_sensitive else lowered
            pos = hay.find(needle)
            while pos >= 0:
                naive_hits += 1
                pos = hay.find(needle, pos + 1)
    naive_s = time.process_time() - start

    mb = total / (1024 * 1024)
    print(f"traffic matching: {mb:.1f} MB of decoded request data, {len(workload)} requests, "
          f"{len(identifiers)} identifiers -> {matcher.needle_count} needles (automaton built in {build_s * 1000:.0f} ms)")
    print(f"  aho-corasick, one pass : {mb / fast_s:8.1f} MB/s  ({hits} hits)")
    print(f"  naive, per needle      : {mb / naive_s:8.1f} MB/s  ({naive_hits} raw needle hits)")
    print(f"  ratio                  : {naive_s / fast_s:8.1f}x")


if __name__ == "__main__":
    sys.exit(main())
