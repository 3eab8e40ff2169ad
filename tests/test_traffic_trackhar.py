"""TrackHAR (npm `trackhar`, tweasel) as the reference on the shared real captures: every property it reports
must be found by appaudit too, in the same request with the same value (by a tracker adapter or a known value).
What appaudit finds beyond it is listed (printed, and written to the pytest cache as trackhar-comparison.json).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from audit.model import where_text
from audit.rulesdata import covers
from audit.traffic import analyse
from trackhar_support import HERE, SHARED, ios_har, run_trackhar

PROPERTIES = yaml.safe_load((HERE / "trackhar" / "properties.yaml").read_text())["properties"]
TRAFFIC = SHARED / "corpus" / "traffic"
CAPTURES = sorted([*TRAFFIC.glob("tweasel-reporthar/*.har"), *TRAFFIC.glob("mitmproxy-formats/*.har")])
# What the auditor of the Android capture knew (its tweasel metadata: the emulator's advertising ID).
KNOWN = {"android_second-run.har": {"device_ids.advertising_id": "1209d0b9-b959-42e6-b921-aa5d9d08c1af"}}

pytestmark = pytest.mark.skipif(not CAPTURES, reason="shared corpus not present")


def _types(prop: str) -> list[str]:
    mapped = PROPERTIES[prop]
    return mapped if isinstance(mapped, list) else [mapped]


def _same(value, text: str) -> bool:
    if isinstance(value, bool):
        return text == ("true" if value else "false")
    if isinstance(value, float):   # appaudit keeps the digits as sent; JavaScript rounds them to a double
        try:
            return float(text) == value
        except ValueError:
            return False
    return str(value) == text


def compare(har: Path, trackhar: list, known: dict | None) -> dict:
    report = analyse([har], known)
    assert len(report.requests) == len(trackhar), "one appaudit request per HAR entry"
    sent_by_request: dict[str, list] = {}
    for t in report.transmissions:
        for request in t.all_requests:
            sent_by_request.setdefault(request, []).append(t)
    missing, matched, used = [], 0, set()
    for index, found in enumerate(trackhar):
        request = report.requests[index].id
        for item in found or ():
            hits = [t for t in sent_by_request.get(request, ())
                    if any(covers(kind, t.data_type) for kind in _types(item["property"]))
                    and _same(item["value"], t.value)]
            if hits:
                matched += 1
                used.update(id(t) for t in hits)
            else:
                missing.append({"request": request, **item})
    beyond = [{"request": t.request, "data_type": t.data_type, "where": where_text(t.where), "adapter": t.adapter,
               "value_known": t.value_known} for t in report.transmissions if id(t) not in used]
    return {"capture": har.name, "trackhar": sum(len(f or ()) for f in trackhar), "found": matched,
            "missing": missing, "beyond": beyond}


@pytest.fixture(scope="module")
def comparisons(request, tmp_path_factory):
    out = []
    hars = [*CAPTURES, ios_har(tmp_path_factory.mktemp("ios"))]
    for har in hars:
        out.append(compare(har, run_trackhar(request.config, har), KNOWN.get(har.name)))
    record = Path(request.config.cache.mkdir("appaudit-trackhar")) / "trackhar-comparison.json"
    record.write_text(json.dumps(out, indent=1))
    for c in out:
        print(f"{c['capture']}: TrackHAR {c['trackhar']} properties, appaudit found {c['found']}, "
              f"beyond TrackHAR {len(c['beyond'])}")
    return out


def test_every_property_trackhar_reports_is_found_by_appaudit(comparisons):
    missing = [m for c in comparisons for m in c["missing"]]
    assert not missing, json.dumps(missing[:20], indent=1)


def test_the_comparison_is_not_empty(comparisons):
    # The Android capture and the iOS bodies carry Facebook, Branch, Kochava, Sentry, Chartboost: a change that
    # made TrackHAR or appaudit read nothing must fail here, not pass vacuously.
    assert sum(c["trackhar"] for c in comparisons) >= 140
    android = next(c for c in comparisons if c["capture"] == "android_second-run.har")
    assert android["trackhar"] >= 100 and android["found"] == android["trackhar"]
