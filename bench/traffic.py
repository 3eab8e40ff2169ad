"""Traffic matching throughput: one Aho-Corasick pass vs a naive search per needle, on the same decoded bytes.

    .venv/bin/python bench/traffic.py [--mb 32]

Data: the real iOS tracker request bodies in ../shared/corpus/traffic/ios-tracker-requests (synthetic JSON if the
shared folder is absent), wrapped into requests and decoded by audit.traffic.decode, repeated to --mb MB of
decoded segments. Identifiers: 12 values x every encoding (plain, url, base64 x3 alignments, base64url, hex, md5,
sha1, sha256, md5-zero-stripped, of each normalised form). Only matching is timed, in CPU seconds of this (single-threaded) process: the
machine may be shared, and wall time would measure the neighbours.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.traffic.captures import Request  # noqa: E402
from audit.traffic.decode import request_segments  # noqa: E402
from audit.traffic.match import Identifier, Matcher, needles  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "traffic" / "ios-tracker-requests"
VALUES = {
    "device_ids.advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
    "device_ids.imei": "353627075111296", "device_ids.android_id": "9774d56d682e549c",
    "device_ids.mac_address": "02:00:00:44:55:66", "device_ids.serial": "R58M12ABCDE",
    "device_ids.sim_serial": "8949022012345678901", "device_ids.imsi": "262011234567890",
    "network.wifi_ssid": "AndroidWifi", "personal_info.email": "ada.lovelace@example.org",
    "personal_info.phone_number": "+4915557543434", "device_ids.device_name": "R2Gl5OLv20",
    "contacts": "JGKfozntbF TBFFZbBYea",
}


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
    parser.add_argument("--mb", type=float, default=32.0, help="decoded megabytes to match (default 32)")
    args = parser.parse_args()
    base = [request_segments(r)[0] for r in _requests()]
    base_bytes = sum(len(s.data) for segs in base for s in segs)
    rounds = max(1, int(args.mb * 1024 * 1024 / max(base_bytes, 1)))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
