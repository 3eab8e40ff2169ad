"""Traffic analysis on captures made here: a real client through a real mitmdump (HTTP and HTTPS), identifiers
sent in every encoding the contract names, then `analyse` and the `appaudit traffic` command on the flow file."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import brotli
import pytest

from audit.model import ActorKind, Level, where_text
from audit.traffic import analyse, load_identifiers
sys.path.insert(0, str(Path(__file__).resolve().parent))
from traffic.proxy import Mitmdump  # noqa: E402  (tests/traffic/: helpers)

APP = "org.edukit.classroom"          # first party: edukit.org
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
IMEI = "353627075111296"
ANDROID_ID = "9774d56d682e549c"
MAC = "02:00:00:44:55:66"
SSID = "AndroidWifi"
CONTACT = "Ada Lovelace"
EMAIL = "ada.lovelace@example.org"
IDS = {
    "device_ids.advertising_id": AAID, "device_ids.imei": IMEI, "device_ids.android_id": ANDROID_ID,
    "device_ids.mac_address": MAC, "network.wifi_ssid": SSID, "contacts": [CONTACT],
    "personal_info.email": EMAIL, "location.precise": {"lat": 52.5200, "lon": 13.4050},
}


# md5-zero-stripped differs from md5 only when a digest byte is below 0x10: take an identifier where it does
ZERO_STRIPPED = next(v for v in (AAID, IMEI, ANDROID_ID, SSID, EMAIL)
                     if any(b < 16 for b in hashlib.md5(v.encode()).digest()))
ZERO_STRIPPED_TYPE = next(k for k, v in IDS.items() if v == ZERO_STRIPPED)


def _pb_field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def _jwt(claims: dict) -> str:
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _md5_zero_stripped(text: str) -> str:
    return "".join(f"{b:x}" for b in hashlib.md5(text.encode()).digest())


def _send_all(proxy: Mitmdump) -> None:
    # 1 Amplitude (catalogue host), gzip JSON, AAID + IMEI in one request: bridging
    events = {"api_key": "k", "events": [{"device_id": AAID, "user_properties": {"imei": IMEI}}]}
    proxy.send("POST", "https://api.amplitude.com/2/httpapi", gzip.compress(json.dumps(events).encode()),
               {"content-type": "application/json", "content-encoding": "gzip"})
    # 2 unknown tracker, plain HTTP: url, md5, sha1 of a normalised MAC, sha256, md5-zero-stripped
    query = urlencode({"name": CONTACT, "aid": hashlib.md5(ANDROID_ID.encode()).hexdigest(),
                       "m": hashlib.sha1(MAC.replace(":", "").upper().encode()).hexdigest(),
                       "h": hashlib.sha256(IMEI.encode()).hexdigest(), "z": _md5_zero_stripped(ZERO_STRIPPED)})
    proxy.send("GET", f"http://tracker.invalid/t?{query}")
    # 3 Firebase host: hex header, base64 cookie, protobuf body with a nested message
    proto = _pb_field(1, _pb_field(3, AAID.encode()))
    proxy.send("POST", "https://app-measurement.com/a", proto,
               {"content-type": "application/x-protobuf", "x-device-id": ANDROID_ID.encode().hex(),
                "cookie": f"session=1; uid={base64.b64encode(IMEI.encode()).decode()}"})
    # 4 first party, brotli form body: SSID and a precise location
    form = urlencode({"ssid": SSID, "lat": "52.52001", "lon": "13.40502"}).encode()
    proxy.send("POST", "https://api.edukit.org/v1/ping", brotli.compress(form),
               {"content-type": "application/x-www-form-urlencoded", "content-encoding": "br"})
    # 5 JWT in Authorization, base64url in a query value, approximate location in the query
    proxy.send("GET", "https://tracker.invalid/j?d=" + base64.urlsafe_b64encode(b"\xfb\xff" + EMAIL.encode()).decode()
               + "&lat=52.52&lng=13.41", None, {"authorization": "Bearer " + _jwt({"sub": EMAIL})})
    # 6 base64 of a binary container: the AAID at each of the 3 alignments, only the stable cores can find it
    for shift in range(3):
        blob = bytes([0xFF, 0xFE, 0x80][:shift]) + AAID.encode() + b"\xff\x00\x81"
        proxy.send("POST", f"https://tracker.invalid/b{shift}",
                   json.dumps({"blob": base64.b64encode(blob).decode()}).encode(),
                   {"content-type": "application/json"})
    # 7 JSON inside a JSON string inside a multipart part
    inner = json.dumps({"wifi": {"ssid": SSID}, "contact": CONTACT})
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"payload\"\r\nContent-Type: application/json\r\n\r\n"
            + json.dumps({"data": inner}).encode() + b"\r\n--XyZ--\r\n")
    proxy.send("POST", "https://tracker.invalid/m", body, {"content-type": "multipart/form-data; boundary=XyZ"})
    # 8 another process, `requests` configured only by the proxy environment (as the capture command sets it)
    client = ("import requests; requests.post('https://api2.amplitude.com/batch?imei=%s', json={'ok': 1}, "
              "headers={'X-Android-Id': '%s'}, timeout=20).raise_for_status()" % (IMEI, ANDROID_ID))
    env = {**os.environ, "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "HTTP_PROXY": "",
           "NO_PROXY": "", "no_proxy": "", "REQUESTS_CA_BUNDLE": str(proxy.confdir / "mitmproxy-ca-cert.pem")}
    subprocess.run([sys.executable, "-c", client], env=env, check=True, timeout=60, capture_output=True)


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Path:
    if not shutil.which("mitmdump") and not Path(sys.executable).with_name("mitmdump").exists():
        pytest.skip("mitmdump not installed")
    work = tmp_path_factory.mktemp("mitm")
    with Mitmdump(work) as proxy:
        _send_all(proxy)
    assert proxy.flows.stat().st_size > 0
    return proxy.flows


@pytest.fixture(scope="module")
def report(captured):
    return analyse([captured], IDS, APP, first_party_domains=["edukit.org"])   # the app's domain, given


def _found(report) -> set[tuple[str, str, str, str]]:
    return {(t.data_type, t.encoding, where_text(t.where), t.host) for t in report.transmissions}


def test_every_request_was_captured_and_read(report):
    assert [c.status for c in report.captures] == ["ok"]
    assert len(report.requests) == 10
    assert {r.scheme for r in report.requests} == {"http", "https"}


@pytest.mark.parametrize("expected", [
    ("device_ids.advertising_id", "plain", "body.json:events[0].device_id", "api.amplitude.com"),
    ("device_ids.imei", "plain", "body.json:events[0].user_properties.imei", "api.amplitude.com"),
    ("contacts", "url", "query:name", "tracker.invalid"),
    ("device_ids.android_id", "md5", "query:aid", "tracker.invalid"),
    ("device_ids.mac_address", "sha1", "query:m", "tracker.invalid"),
    ("device_ids.imei", "sha256", "query:h", "tracker.invalid"),
    (ZERO_STRIPPED_TYPE, "md5-zero-stripped", "query:z", "tracker.invalid"),
    ("device_ids.android_id", "hex", "header:x-device-id", "app-measurement.com"),
    ("device_ids.imei", "base64", "cookie:uid.base64", "app-measurement.com"),
    ("device_ids.advertising_id", "plain", "body.protobuf:1.3", "app-measurement.com"),
    ("network.wifi_ssid", "plain", "body.form:ssid", "api.edukit.org"),
    ("location.precise", "plain", "body.form:lat", "api.edukit.org"),
    ("personal_info.email", "base64url", "header:authorization.jwt:sub", "tracker.invalid"),
    ("personal_info.email", "base64url", "query:d", "tracker.invalid"),
    ("location.approximate", "plain", "query:lat", "tracker.invalid"),
    ("network.wifi_ssid", "plain", "body.multipart:payload.json:data.json:wifi.ssid", "tracker.invalid"),
    ("contacts", "plain", "body.multipart:payload.json:data.json:contact", "tracker.invalid"),
    ("device_ids.android_id", "plain", "header:x-android-id", "api2.amplitude.com"),
    ("device_ids.imei", "plain", "query:imei", "api2.amplitude.com"),
])
def test_identifier_found_in_its_encoding_and_place(report, expected):
    assert expected in _found(report), sorted(_found(report))


def test_base64_found_at_every_alignment(report):
    blob = ("body.json", "blob")
    paths = {t.where for t in report.transmissions if t.data_type == "device_ids.advertising_id"
             and t.encoding == "base64" and t.where == blob}
    requests = {r for t in report.transmissions if t.where == blob for r in t.all_requests}
    assert paths == {blob} and len(requests) == 3


def test_recipients_and_parties(report):
    by_host = {t.host: report.recipient(t) for t in report.transmissions}
    assert by_host["api.amplitude.com"].id == "amplitude" and by_host["api.amplitude.com"].party == "third"
    assert "analytics" in by_host["api.amplitude.com"].categories
    assert by_host["app-measurement.com"].id == "firebase_analytics"
    assert by_host["app-measurement.com"].name == "Google"
    assert by_host["api.edukit.org"].party == "first"
    assert by_host["tracker.invalid"].name == "unknown organisation"
    assert by_host["tracker.invalid"].party == "third"
    assert {t.scheme for t in report.transmissions if t.host == "tracker.invalid"} == {"http", "https"}


def test_bridging_names_the_advertising_id_and_the_persistent_id(report):
    in_request = {b.recipient.id: b for b in report.bridging if b.scope == "request"}
    assert set(in_request) == {"amplitude", "firebase_analytics"}
    assert in_request["amplitude"].data_types == ("device_ids.advertising_id", "device_ids.imei")
    assert in_request["firebase_analytics"].data_types == (
        "device_ids.advertising_id", "device_ids.android_id", "device_ids.imei")
    # The unknown tracker got hashes of IMEI, ANDROID_ID and MAC in one request and the AAID (in base64) in
    # others: bridged across the session, by recipient. Amplitude got the ANDROID_ID in a later request.
    across = {b.recipient.id: b for b in report.bridging if b.scope == "recipient"}
    assert set(across) == {"unknown:tracker.invalid", "amplitude"}
    tracker = across["unknown:tracker.invalid"]
    assert tracker.data_types[0] == "device_ids.advertising_id"
    assert {"device_ids.imei", "device_ids.android_id", "device_ids.mac_address"} <= set(tracker.data_types)
    aaid_requests = {r for t in report.transmissions if t.host == "tracker.invalid"
                     and t.data_type == "device_ids.advertising_id" for r in t.all_requests}
    assert aaid_requests < set(tracker.requests)
    assert "device_ids.android_id" in across["amplitude"].data_types
    assert across["amplitude"].hosts == ("api.amplitude.com", "api2.amplitude.com")


def test_observations_are_transmitted_with_recipient_and_party(report):
    obs = {(o.data_type, o.recipient, o.party) for o in report.observations}
    assert ("device_ids.advertising_id", "amplitude", "third") in obs
    assert ("network.wifi_ssid", "first-party", "first") in obs
    assert all(o.level is Level.TRANSMITTED and o.source == "traffic" for o in report.observations)
    assert all(o.evidence and o.evidence[0].kind in ("request", "bridging") for o in report.observations)


def test_nothing_found_that_was_not_sent(report):
    # The SSID went to edukit.org and tracker.invalid only, never to Amplitude or Firebase.
    assert {t.host for t in report.transmissions if t.data_type == "network.wifi_ssid"} == \
        {"api.edukit.org", "tracker.invalid"}
    assert not [t for t in report.transmissions if t.host == "api.amplitude.com"
                and t.data_type not in ("device_ids.advertising_id", "device_ids.imei")]


def test_cli_redacts_by_default_and_reveals_on_request(captured, tmp_path):
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(IDS))
    cmd = [sys.executable, "-m", "audit.cli", "traffic", str(captured), "--identifiers", str(ids), "--app", APP]
    hidden = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert hidden.returncode == 0, hidden.stderr
    data = json.loads(hidden.stdout)
    assert data["schema"] == "appaudit.traffic/2"
    for secret in (AAID, IMEI, EMAIL, quote(CONTACT), CONTACT.replace(" ", "+"),
                   hashlib.md5(ANDROID_ID.encode()).hexdigest()):
        assert secret not in hidden.stdout
    shown = subprocess.run(cmd + ["--reveal"], capture_output=True, text=True, timeout=120)
    assert AAID in shown.stdout and hashlib.md5(ANDROID_ID.encode()).hexdigest() in shown.stdout
    md = subprocess.run(cmd + ["--format", "md", "-o", str(tmp_path / "r.md")], capture_output=True, text=True,
                        timeout=120)
    assert md.returncode == 0, md.stderr
    text = (tmp_path / "r.md").read_text()
    assert "| device_ids.imei | Amplitude (`amplitude`) | third |" in text and AAID not in text


def test_run_folder_with_frida_events_names_the_sender(captured, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(captured, run / "flows.mitm")
    (run / "identifiers.json").write_text(json.dumps({"device_ids.imei": IMEI}))
    (run / "run.json").write_text(json.dumps({"complete": True, "app": APP}))
    base = analyse([run], None, None)
    first = next(r for r in base.requests if r.host == "app-measurement.com")
    # the agent's `request` event (hooks/network.yaml): the URL and the Java stack, frames as the JVM prints them
    event = {"type": "request", "api": "okhttp3.real_call.execute", "url": first.url, "time": first.time + 0.01,
             "stack": ["java.base/java.lang.Thread.getStackTrace(Thread.java:1619)",
                       "okhttp3.RealCall.execute(RealCall.java:92)",
                       "app//com.amplitude.api.AmplitudeClient.logEvent(AmplitudeClient.java:10)",
                       "app//org.edukit.classroom.Main.onCreate(Main.java:3)"]}
    api_event = {"type": "api", "api": "telephony.get_device_id", "value": IMEI, "time": first.time,
                 "stack": ["org.edukit.classroom.Main.onCreate(Main.java:2)"]}
    (run / "frida-events.jsonl").write_text(json.dumps(api_event) + "\n" + json.dumps(event) + "\n" + '{"torn": ')
    # the run's own identifiers.json is used; a file on the command line adds to it
    report = analyse([run], load_identifiers(_write(tmp_path / "more.yaml", f"device_ids.advertising_id: {AAID}\n")),
                     None)
    assert report.app_package == APP
    imei = [t for t in report.transmissions if t.data_type == "device_ids.imei"]
    assert {t.host for t in imei} >= {"api.amplitude.com", "app-measurement.com"}
    sent = [t for t in imei if t.host == "app-measurement.com"]
    assert sent[0].actor is not None and sent[0].actor.kind is ActorKind.SDK and sent[0].actor.id == "amplitude"
    assert [t for t in report.transmissions if t.data_type == "device_ids.advertising_id"]
    assert all(t.actor is None for t in report.transmissions if t.host != "app-measurement.com")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
