"""`appaudit audit` through the real CLI in a subprocess: exit codes 0/1/2, the baseline gate, formats,
redaction by default, and refusing to overwrite inputs."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WEBEX = REPO / "examples" / "webex-inquiry"
SHEET = WEBEX / "datasheet.yaml"


def appaudit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("APPAUDIT_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "audit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd or REPO, env=env)


@pytest.fixture(scope="module")
def apk(education_apk, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("apk") / "org.edukit.classroom.apk"   # cached fixtures must not be touched
    shutil.copy(education_apk, copy)
    return copy


@pytest.fixture(scope="module")
def baseline(apk, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("baseline") / "audit.json"
    done = appaudit("audit", apk, "--datasheet", SHEET, "--inquiry", WEBEX / "claims.yaml", "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    return out


def test_json_report_contract(baseline):
    report = json.loads(baseline.read_text())
    assert report["schema"] == "appaudit.audit/1"
    assert report["app"]["package"] == "org.edukit.classroom"
    assert report["summary"]["findings"] == len(report["findings"]) > 0
    assert {c["verdict"] for c in report["claims"]} == {"supported", "inconclusive"}
    imei = report["data_types"]["device_ids.imei"]
    assert imei["observed_level"] == "reachable" and imei["category"] == "contested"
    assert imei["declaration"] == ["not collected: device_ids.imei [datasheet.yaml:14]"]
    for finding in report["findings"]:
        assert set(finding) >= {"rule", "severity", "message", "data_type", "level", "actor", "evidence",
                                "declaration", "fingerprint", "title", "baseline"}
        assert finding["evidence"] and len(finding["fingerprint"]) == 20
        if finding["level"] in ("present", "reachable"):
            assert "collects" not in finding["message"]


def test_fail_on_gate_and_baseline(apk, baseline, tmp_path):
    report = json.loads(baseline.read_text())
    severities = {f["severity"] for f in report["findings"]}
    assert "medium" in severities and "high" not in severities   # static evidence only: no transmission
    assert appaudit("audit", apk, "--datasheet", SHEET, "--fail-on", "high", "-o", tmp_path / "a.json"
                    ).returncode == 0
    assert appaudit("audit", apk, "--datasheet", SHEET, "--fail-on", "medium", "-o", tmp_path / "b.json"
                    ).returncode == 1
    # Everything known is accepted by the baseline: the gate passes even at `low`.
    done = appaudit("audit", apk, "--datasheet", SHEET, "--fail-on", "low", "--baseline", baseline,
                    "-o", tmp_path / "c.json")
    assert done.returncode == 0, done.stderr
    again = json.loads((tmp_path / "c.json").read_text())
    assert again["summary"]["new"] == 0 and again["summary"]["baselined"] == len(again["findings"])
    # A new finding (the sheet drops its contacts statement) fails the gate; the old ones stay accepted.
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(SHEET.read_text().replace("type: contacts", "type: calendar"))
    done = appaudit("audit", apk, "--datasheet", sheet, "--fail-on", "low", "--baseline", baseline,
                    "-o", tmp_path / "d.json")
    assert done.returncode == 1, done.stderr
    new = [f for f in json.loads((tmp_path / "d.json").read_text())["findings"] if not f["baseline"]]
    assert sorted((f["rule"], f["data_type"]) for f in new) == [("dangerous-permission-undeclared", "contacts"),
                                                                ("undeclared-collection", "contacts")]


@pytest.mark.parametrize("case", ["missing-sheet", "bad-sheet", "bad-format", "bad-baseline", "missing-apk",
                                  "overwrite-input", "not-an-apk", "bad-capture"])
def test_input_errors_exit_2_with_one_line(apk, tmp_path, case):
    bad_sheet = tmp_path / "bad.yaml"
    bad_sheet.write_text("source: s\ncollected:\n  - {type: imei}\n")
    not_report = tmp_path / "not-report.json"
    not_report.write_text('{"schema": "appaudit.scan/1"}')
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip at all")
    sheet_copy = tmp_path / "sheet.yaml"
    shutil.copy(SHEET, sheet_copy)
    args = {
        "missing-sheet": (apk, "--datasheet", tmp_path / "nope.yaml"),
        "bad-sheet": (apk, "--datasheet", bad_sheet),
        "bad-format": (apk, "--datasheet", SHEET, "--format", "pdf"),
        "bad-baseline": (apk, "--datasheet", SHEET, "--baseline", not_report),
        "missing-apk": (tmp_path / "nope.apk", "--datasheet", SHEET),
        "overwrite-input": (apk, "--datasheet", sheet_copy, "-o", sheet_copy),
        "not-an-apk": (junk, "--datasheet", SHEET),
        "bad-capture": (apk, "--datasheet", SHEET, "--capture", tmp_path / "nope.har"),
    }[case]
    before = sheet_copy.read_bytes()
    done = appaudit("audit", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("appaudit: error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sheet_copy.read_bytes() == before
    if case == "bad-sheet":
        assert "bad.yaml:3: type: unknown data type 'imei'" in done.stderr


def test_markdown_and_sarif_formats_via_cli(apk, tmp_path):
    done = appaudit("audit", apk, "--datasheet", SHEET, "--inquiry", WEBEX / "claims.yaml", "--format", "md")
    assert done.returncode == 0 and done.stdout.startswith("# appaudit: org.edukit.classroom")
    assert "| **imei**:" in done.stdout and "inconclusive" in done.stdout
    out = tmp_path / "r.sarif"
    assert appaudit("audit", apk, "--datasheet", SHEET, "--format", "sarif", "-o", out).returncode == 0
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]


def test_capture_redaction_reveal_and_high_gate(apk, tmp_path):
    imei, aaid = "358240051111110", "38400000-8cf0-11bd-b23e-10b96e40000d"
    capture = tmp_path / "run.har"
    entry = {"startedDateTime": "2026-11-24T10:00:00.000Z", "time": 5, "cache": {}, "timings": {},
             "request": {"method": "GET", "url": f"http://ads.example-tracker.net/px?aid={aaid}&imei={imei}",
                         "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [],
                         "headersSize": -1, "bodySize": 0},
             "response": {"status": 204, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0}}
    capture.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                           "entries": [entry]}}))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": imei, "device_ids.advertising_id": aaid}))
    out = tmp_path / "audit.json"
    done = appaudit("audit", apk, "--datasheet", SHEET, "--capture", capture, "--identifiers", ids,
                    "--fail-on", "high", "-o", out)
    assert done.returncode == 1, done.stderr
    text = out.read_text()
    assert imei not in text and aaid not in text
    report = json.loads(text)
    rules = {f["rule"] for f in report["findings"] if f["severity"] == "high"}
    assert {"not-collected-contradicted", "cleartext-identifier", "id-bridging"} <= rules
    assert report["data_types"]["device_ids.imei"]["category"] == "contradicted"
    md = appaudit("audit", apk, "--datasheet", SHEET, "--capture", capture, "--identifiers", ids, "--format", "md",
                  "--reveal")
    assert md.returncode == 0 and imei in md.stdout


def test_store_formats_as_datasheet(apk, tmp_path):
    for sheet in ("education-play-datasafety.csv", "PrivacyInfo.xcprivacy"):
        out = tmp_path / f"{sheet}.json"
        done = appaudit("audit", apk, "--datasheet", REPO / "examples" / "datasheets" / sheet, "-o", out)
        assert done.returncode == 0, done.stderr
        report = json.loads(out.read_text())
        assert report["declarations"]["format"] in ("play-csv", "apple-xcprivacy")
        assert any("lists no SDKs" in w for w in report["warnings"])
        assert not any(f["rule"] == "undeclared-sdk" for f in report["findings"])
        # Both stores declare device IDs without naming the IMEI: the reachable IMEI read is consistent.
        assert report["data_types"]["device_ids.imei"]["category"] == "consistent"


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
COUNTLY = SHARED / "corpus" / "apks" / "countly__ly.count.android.demo_app-release.apk"


@pytest.mark.skipif(not COUNTLY.exists(), reason="../shared corpus not available")
def test_real_corpus_app_undeclared_sdks(tmp_path):
    """Countly's public demo app (real APK): the vendor names Countly, not Firebase, whose code is there. AdMob's
    host in the advertising-ID client is a hint, not an SDK: no finding (../shared/corpus/TRUTH.json)."""
    sheet = tmp_path / "countly.yaml"
    sheet.write_text("app: ly.count.android.demo\nsource: test sheet\nsdks: [countly]\n"
                     "collected:\n  - {type: device_ids.android_id, purposes: [analytics]}\n")
    out = tmp_path / "countly.sarif"
    done = appaudit("audit", COUNTLY, "--datasheet", sheet, "--format", "sarif", "-o", out, "--fail-on", "medium")
    assert done.returncode == 1, done.stderr
    results = json.loads(out.read_text())["runs"][0]["results"]
    undeclared = sorted(r["message"]["text"] for r in results if r["ruleId"] == "undeclared-sdk")
    named = {re.search(r"\((\w+)\)", text).group(1) for text in undeclared}
    assert named == {"firebase_analytics", "firebase_installations", "firebase_messaging"}, undeclared
    flagged = {(r["ruleId"], r["properties"].get("data_type")) for r in results}
    assert ("undeclared-collection", "device_ids.android_id") not in flagged
    assert any(rule in ("undeclared-collection", "undeclared-sharing") and dt == "device_ids.advertising_id"
               for rule, dt in flagged)


TWEASEL = SHARED / "corpus" / "traffic" / "tweasel-reporthar" / "android_second-run.har"


def test_fail_on_prints_one_line_with_counts_and_the_top_finding(apk, tmp_path):
    done = appaudit("audit", apk, "--datasheet", SHEET, "--fail-on", "medium", "-o", tmp_path / "r.json")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    failed = [f for f in report["findings"] if f["severity"] in ("high", "medium")]
    assert lines[0].startswith(f"appaudit: {len(failed)} new finding(s) at or above medium (")
    assert f"top: [{failed[0]['severity']}] {failed[0]['rule']}: " in lines[0]


def har_for(app: str, url: str, body: str) -> dict:
    entry = {"startedDateTime": "2025-01-01T00:00:00.000Z", "time": 1,
             "request": {"method": "POST", "url": url, "httpVersion": "HTTP/1.1", "headers": [], "queryString": [],
                         "cookies": [], "headersSize": -1, "bodySize": len(body),
                         "postData": {"mimeType": "application/json", "text": body}},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0}, "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [entry],
                    "_tweasel": {"app": {"id": app}}}}


def test_audit_from_traffic_alone(tmp_path):
    aaid = "38400000-8cf0-11bd-b23e-10b96e40000d"
    capture = tmp_path / "c.har"
    capture.write_text(json.dumps(har_for("org.edukit.classroom", "https://api2.branch.io/v1/open",
                                          json.dumps({"advertising_ids": {"aaid": aaid}}))))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"device_ids.advertising_id": aaid}))
    out = tmp_path / "r.json"
    done = appaudit("audit", "--capture", capture, "--identifiers", ids, "--datasheet", SHEET, "-o", out)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["evidence"] == {"static": False, "static_complete": False, "captured": True}
    assert any("judged on captured traffic alone" in w for w in report["warnings"])
    contradicted = [f for f in report["findings"] if f["rule"] == "not-collected-contradicted"]
    # No stack: the request is Branch's own (the SDK owning the host), one chain, with the request's place.
    assert [(f["data_type"], f["actor"]) for f in contradicted] == [
        ("device_ids.advertising_id", {"kind": "sdk", "id": "branch"})]
    request = contradicted[0]["evidence"][0]
    assert request["where"].startswith("body") and "advertising_ids.aaid" in request["where"] and "POST https://api2.branch.io/v1/open" in request["detail"]
    assert aaid not in out.read_text()


@pytest.mark.skipif(not TWEASEL.exists(), reason="../shared corpus not available")
def test_capture_of_another_app_is_warned_in_report_and_stderr(apk, tmp_path):
    out = tmp_path / "r.json"
    done = appaudit("audit", apk, "--capture", TWEASEL, "--datasheet", SHEET, "-o", out)
    assert done.returncode == 0, done.stderr
    warning = next(w for w in json.loads(out.read_text())["warnings"] if w.startswith("capture "))
    assert "tld.sample.app" in warning and "org.edukit.classroom" in warning
    assert "appaudit: warning: capture " in done.stderr and "tld.sample.app" in done.stderr


BUGLY_APK = SHARED / "corpus" / "apks" / "vicwkx__TestBugly1.0.apk"


@pytest.mark.skipif(not BUGLY_APK.exists(), reason="../shared corpus not available")
def test_sdk_capability_and_its_stackless_transmission_are_one_chain(tmp_path):
    """A real app embedding Tencent Bugly: Bugly's code reads the Android ID, and a request without a stack sends
    it to Bugly's host. One chain (sdk:tencent_bugly), one finding at transmitted level, no "no transmission"
    note beside it (the Branch case of issue 11, on an app whose package does not make the SDK's host its own)."""
    android_id = "9774d56d682e549c"
    capture = tmp_path / "c.har"
    capture.write_text(json.dumps(har_for("com.example.testbugly", "https://android.bugly.qq.com/rqd/async",
                                          json.dumps({"androidId": android_id}))))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"device_ids.android_id": android_id}))
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text("app: com.example.testbugly\nsource: test\nnot_collected: [device_ids.android_id]\n")
    out = tmp_path / "r.json"
    done = appaudit("audit", BUGLY_APK, "--capture", capture, "--identifiers", ids, "--datasheet", sheet,
                    "-o", out)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    about = [f for f in report["findings"] if f["data_type"] == "device_ids.android_id"]
    assert [(f["rule"], f["actor"]["id"], f["level"]) for f in about] == [
        ("not-collected-contradicted", "tencent_bugly", "transmitted")]
    kinds = {e["kind"] for e in about[0]["evidence"]}
    assert kinds == {"call-site", "request"}, kinds
    assert not any("no transmission" in f["message"] for f in about)


def test_data_sheet_first_party_domains_make_the_vendors_host_first_party(tmp_path):
    """Issue 15: first-party domains come from the app, the declaration or the user, never from the package name;
    a sheet naming the vendor's domain makes its own backend first party, and a public suffix is refused."""
    aaid = "38400000-8cf0-11bd-b23e-10b96e40000d"
    capture = tmp_path / "c.har"
    capture.write_text(json.dumps(har_for("org.edukit.classroom", "https://api.edukit.org/v1/telemetry",
                                          json.dumps({"adid": aaid}))))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"device_ids.advertising_id": aaid}))

    def recipients(sheet_text: str) -> set:
        sheet = tmp_path / "sheet.yaml"
        sheet.write_text(sheet_text)
        out = tmp_path / "r.json"
        done = appaudit("audit", "--capture", capture, "--identifiers", ids, "--datasheet", sheet, "-o", out)
        assert done.returncode in (0, 1), done.stderr
        return {f["recipient"] for f in json.loads(out.read_text())["flows"] if f["level"] == "transmitted"}

    base = "app: org.edukit.classroom\nsource: test\ncollected: [{type: device_ids.advertising_id}]\n"
    assert recipients(base) == {"unknown:edukit.org"}     # the package name makes nothing first party
    assert recipients(base + "first_party_domains: [edukit.org]\n") == {"first party"}
    sheet = tmp_path / "bad.yaml"
    sheet.write_text(base + "first_party_domains: [co.uk]\n")
    done = appaudit("audit", "--capture", capture, "--datasheet", sheet)
    assert done.returncode == 2 and "first_party_domains" in done.stderr and "co.uk" in done.stderr
