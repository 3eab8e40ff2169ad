"""Inquiry reproduction on the real education fixture (real static scan; real traffic analysis of a HAR built
here): capability alone is inconclusive, a transmission supports, strong absence contradicts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.pipeline import gather
from audit.rules.declarations import load_declarations
from audit.rules.engine import evaluate
from audit.rules.inquiry import answer, load_inquiry

REPO = Path(__file__).resolve().parents[1]
WEBEX = REPO / "examples" / "webex-inquiry"
IMEI = "358240051111110"
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
ANDROID_ID = "9774d56d682e549c"

EXTRA_CLAIMS = """\
title: test claims
claims:
  - id: sms
    text: The app reads the user's text messages.
    collects: sms
  - id: sms-access
    text: The app can access SMS.
    accesses: sms
  - id: sim-serial
    text: The app reads the SIM serial.
    accesses: device_ids.sim_serial
  - id: imei-to-amplitude
    text: The IMEI goes to Amplitude.
    shares: {type: device_ids.imei, recipient: amplitude}
  - id: aaid-to-amplitude
    text: The AAID goes to Amplitude.
    shares: {type: device_ids.advertising_id, recipient: amplitude}
"""


def har(entries: list[tuple[str, str, str]]) -> dict:
    """A HAR 1.2 log: (method, url, body) per request, as a browser or Charles would export it."""
    out = []
    for method, url, body in entries:
        request = {"method": method, "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "queryString": [],
                   "headersSize": -1, "bodySize": len(body),
                   "headers": [{"name": "Host", "value": url.split("/")[2]},
                               {"name": "User-Agent", "value": "okhttp/4.9.3"}]}
        if body:
            request["headers"].append({"name": "Content-Type", "value": "application/json"})
            request["postData"] = {"mimeType": "application/json", "text": body}
        out.append({"startedDateTime": "2026-11-24T10:00:00.000Z", "time": 12, "request": request,
                    "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                                 "headers": [], "content": {"size": 2, "mimeType": "application/json",
                                                            "text": "{}"},
                                 "redirectURL": "", "headersSize": -1, "bodySize": 2},
                    "cache": {}, "timings": {"send": 1, "wait": 10, "receive": 1}})
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": out}}


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("capture")
    (folder / "run.har").write_text(json.dumps(har([
        ("POST", "https://api.edukit.org/v1/telemetry", json.dumps({"imei": IMEI, "v": "3.1.0"})),
        ("POST", "https://api2.amplitude.com/2/httpapi",
         json.dumps({"api_key": "k", "events": [{"adid": AAID, "device_id": ANDROID_ID, "event_type": "open"}]})),
    ])))
    (folder / "identifiers.json").write_text(json.dumps({
        "device_ids.imei": IMEI, "device_ids.advertising_id": AAID, "device_ids.android_id": ANDROID_ID}))
    return folder


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    path = tmp_path_factory.mktemp("claims") / "claims.yaml"
    path.write_text(EXTRA_CLAIMS)
    return load_inquiry(path)


@pytest.fixture(scope="module")
def static_only(education_apk):
    audit, scan, _ = gather([str(education_apk)])
    return audit


def verdicts(results):
    return {r.claim.id: r for r in results}


def test_static_only_capability_is_inconclusive_absence_contradicts(static_only, claims):
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    webex = verdicts(answer(load_inquiry(WEBEX / "claims.yaml"), static_only, sheet))
    imei = webex["imei"]
    assert imei.verdict == "inconclusive" and imei.level.label == "reachable"
    assert "capability only" in imei.note and "no capture was analysed" in imei.note
    assert imei.declaration == ("not collected: device_ids.imei [datasheet.yaml:14]",)
    assert imei.category == "contested"          # the vendor's denial against the same evidence
    assert any(e.where and "DeviceInfo;->collect" in e.where for e in imei.evidence)
    # Accessing is shown by reachable code; collecting (HRW's word for call logs and contacts) needs a capture.
    assert webex["camera"].verdict == "supported" and webex["microphone"].verdict == "supported"
    assert webex["camera"].category == "consistent if the user granted CAMERA"
    assert webex["call-logs"].verdict == "inconclusive" and webex["contacts"].verdict == "inconclusive"
    assert webex["sdk-count"].verdict == "inconclusive" and "only 2 found" in webex["sdk-count"].note
    # Device time needs no permission: finding no known API proves nothing.
    assert webex["time-of-location"].verdict == "inconclusive" and \
        "Android gives device_time without a permission (time_zone.get_default)" in webex["time-of-location"].note
    assert webex["id-bridging"].verdict == "inconclusive"
    assert "not bridged: device_ids.advertising_id+device_ids.imei" in webex["id-bridging"].declaration[0]

    extra = verdicts(answer(claims, static_only, sheet))
    sms = extra["sms"]
    assert sms.verdict == "contradicted" and sms.level is None and "no code path to sms" in sms.note
    assert extra["sms-access"].verdict == "contradicted"
    # Present but unreachable code is not access.
    assert extra["sim-serial"].verdict == "inconclusive" and extra["sim-serial"].level.label == "present"
    # Amplitude's code reads the AAID (capability), and it does not read the IMEI at all.
    assert extra["aaid-to-amplitude"].verdict == "inconclusive" and "capability only" in extra["aaid-to-amplitude"].note
    assert extra["imei-to-amplitude"].verdict == "inconclusive"


def test_capture_turns_capability_into_support(education_apk, capture, claims):
    pytest.importorskip("audit.traffic", reason="traffic stage not available")
    from audit import traffic
    if not hasattr(traffic, "analyse"):
        pytest.skip("audit.traffic.analyse not landed yet")
    audit, scan, secrets = gather([str(education_apk)], [str(capture / "run.har")],
                                  str(capture / "identifiers.json"))
    assert IMEI in secrets and AAID in secrets
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    webex = verdicts(answer(load_inquiry(WEBEX / "claims.yaml"), audit, sheet))
    assert webex["imei"].verdict == "supported" and webex["imei"].level.label == "transmitted"
    assert any(e.kind == "request" for e in webex["imei"].evidence)
    assert webex["aaid"].verdict == "supported"
    # The IMEI went to the app's host, the AAID to Amplitude: no request or recipient received both.
    assert webex["id-bridging"].verdict == "inconclusive"
    extra = verdicts(answer(claims, audit, sheet))
    assert extra["aaid-to-amplitude"].verdict == "supported"
    assert extra["imei-to-amplitude"].verdict == "inconclusive"      # the IMEI went to the first party only
    assert extra["sms"].verdict == "contradicted" and "no capture or hook saw it" in extra["sms"].note

    findings = evaluate(audit, sheet).findings
    contradicted = [f for f in findings if f.rule == "not-collected-contradicted"]
    assert {f.data_type for f in contradicted} >= {"device_ids.imei", "device_ids.advertising_id"}
    assert all(f.severity.label == "high" for f in contradicted)
    assert any(f.rule == "id-bridging" and f.severity.label == "high" for f in findings)


@pytest.mark.parametrize("text, expected", [
    ("title: t\nclaims:\n  - id: a\n    text: x\n", r"claims.yaml:3: id: claim 'a' needs exactly one of"),
    ("title: t\nclaims:\n  - id: a\n    text: x\n    collects: imei\n",
     r"claims.yaml:5: collects: unknown data type 'imei'"),
    ("title: t\nclaims:\n  - id: a\n    text: x\n    bridges: [device_ids.imei]\n",
     r"claims.yaml:5: bridges: expected a list of two data types"),
    ("title: t\nclaims:\n  - id: a\n    text: x\n    shares: {typ: contacts}\n",
     r"claims.yaml:5: typ: unknown field \(allowed: recipient, type\)"),
    ("title: t\nclaims:\n  - {id: a, text: x, embeds: y}\n  - {id: a, text: x, embeds: z}\n",
     r"claims.yaml:4: id: duplicate claim id 'a'"),
    ("claims: []\n", r"claims.yaml:1: missing required field 'title'"),
])
def test_claims_validation(tmp_path, text, expected):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=expected):
        load_inquiry(path)


def test_run_folder_gives_invoked_level_and_redacts_hooked_values(education_apk, tmp_path, claims):
    """A run folder in the runtime stage's layout (run.json, frida-events.jsonl, identifiers.json, flows.har):
    hooked reads become `invoked`, the run's own truth values are redacted, an unfinished run is flagged."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": "appaudit.run/1", "complete": False,
                                              "app": {"package": "org.edukit.classroom"}}))
    event = {"type": "api", "data_type": "device_ids.imei", "api": "telephony.get_device_id",
             "class": "android.telephony.TelephonyManager", "value": IMEI, "time": 1764000000.0,
             "stack": ["android.telephony.TelephonyManager.getDeviceId(Native Method)",
                       "org.edukit.classroom.DeviceInfo.collect(DeviceInfo.java:21)",
                       "org.edukit.classroom.MainActivity.onCreate(MainActivity.java:9)"]}
    (run / "frida-events.jsonl").write_text(json.dumps(event) + "\n" + '{"type": "api", "torn')
    (run / "identifiers.json").write_text(json.dumps({"device_ids.imei": [IMEI]}))
    (run / "flows.har").write_text(json.dumps(har([])))
    audit, _, secrets = gather([str(education_apk)], [str(run)])
    assert IMEI in secrets
    assert any("incomplete run" in w for w in audit.warnings)
    invoked = [o for o in audit.observations if o.level.label == "invoked"]
    assert [(o.data_type, str(o.actor)) for o in invoked] == [("device_ids.imei", "first-party")]
    assert invoked[0].evidence[0].where == "org.edukit.classroom.DeviceInfo.collect"
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    imei = verdicts(answer(load_inquiry(WEBEX / "claims.yaml"), audit, sheet))["imei"]
    assert imei.verdict == "inconclusive" and imei.level.label == "invoked"
    # Fixed bug: the run's traffic could not be read (an incomplete run), so no capture was analysed; the note
    # used to say that one was.
    assert "no capture was analysed" in imei.note


def test_an_app_whose_logic_the_scan_did_not_read_is_not_contradicted_by_its_silence(tmp_path):
    """A .NET for Android app: its C# reaches Android through JNI, with no call site in a dex, and may launch the
    contact picker or the camera app as well as any Java code. The scan is partial (rules/libraries.yaml
    runtimes_not_read), so what it did not find is no absence: contacts and camera, which a handover gives
    without a permission, are inconclusive, not contradicted. What Android refuses to the app whoever asks (call
    logs without READ_CALL_LOG) stays contradicted."""
    from smali_builds import build_apk, constructor_smali, launcher_manifest, require_tools
    require_tools()
    smali = {path: f".class public L{path};\n.super L{parent};\n\n{constructor_smali(parent)}"
             for path, parent in (("org/example/maui/MainActivity", "android/app/Activity"),
                                  ("mono/MonoRuntimeProvider", "java/lang/Object"))}
    apk = build_apk(tmp_path, launcher_manifest("org.example.maui", target_sdk=34,
                                                permissions=("android.permission.INTERNET",)), smali)
    audit, scan, _ = gather([str(apk)])
    assert scan.partial and any(w.startswith("code not read: .NET for Android") for w in scan.warnings)
    sheet = load_declarations(WEBEX / "datasheet.yaml")
    webex = verdicts(answer(load_inquiry(WEBEX / "claims.yaml"), audit, sheet))
    assert webex["contacts"].verdict == "inconclusive", webex["contacts"].note
    assert webex["camera"].verdict == "inconclusive", webex["camera"].note
    assert webex["call-logs"].verdict == "contradicted", webex["call-logs"].note
