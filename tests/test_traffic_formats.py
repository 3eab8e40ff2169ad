"""Every capture format the contract names reads (all the shared fixtures), and bad input fails one line, exit 2."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.model import where_text
from audit.errors import InputError
from audit.traffic import analyse, load_identifiers
from audit.traffic.captures import read_capture

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TRAFFIC = SHARED / "corpus" / "traffic"
needs_shared = pytest.mark.skipif(not TRAFFIC.is_dir(), reason="../shared corpus not present")
IDS = {"device_ids.advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d"}


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "audit.cli", "traffic", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@needs_shared
@pytest.mark.parametrize("name", sorted(p.name for p in (TRAFFIC / "mitmproxy-formats").iterdir())
                         if TRAFFIC.is_dir() else [])
def test_every_shared_flow_file_and_har_reads(name):
    result = read_capture(TRAFFIC / "mitmproxy-formats" / name)
    assert result.status == "ok", result.reason
    assert result.format == ("har" if name.endswith(".har") else "mitmproxy")
    assert result.requests and all(r.host and r.method for r in result.requests)


@needs_shared
def test_old_mitmproxy_versions_are_migrated():
    first = read_capture(TRAFFIC / "mitmproxy-formats" / "dumpfile-018.mitm").requests[0]
    assert (first.method, first.url) == ("GET", "https://www.example.com/")
    ws = read_capture(TRAFFIC / "mitmproxy-formats" / "flows_websocket.mitm").requests
    assert any(r.note == "websocket message" for r in ws)  # client-to-server messages are searched too


@needs_shared
def test_pcapdroid_captures():
    proxy = read_capture(TRAFFIC / "pcapdroid" / "http_proxy.pcap")
    assert proxy.requests[0].method == "CONNECT" and "not decrypted" in proxy.reason
    plain = read_capture(TRAFFIC / "pcapdroid" / "two_flows.pcap")
    assert [r.url for r in plain.requests] == ["http://www.google.com/imghp?test=1&v2=2"]
    invalid = read_capture(TRAFFIC / "pcapdroid" / "invalid_or_unsupported.pcap")
    assert invalid.status == "skipped" and invalid.reason


@needs_shared
def test_skipped_captures_are_listed_while_the_others_are_analysed(tmp_path):
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": {"entries": [')
    report = analyse([TRAFFIC / "mitmproxy-formats" / "har_files_chrome.har", broken,
                      TRAFFIC / "pcapdroid" / "invalid_or_unsupported.pcap"], IDS)
    status = {Path(c.path).name: (c.status, c.reason) for c in report.captures}
    assert status["har_files_chrome.har"][0] == "ok"
    assert status["broken.har"][0] == "skipped" and "invalid JSON" in status["broken.har"][1]
    assert status["invalid_or_unsupported.pcap"][0] == "skipped"
    assert {Path(c.path).name for c in report.skipped} == {"broken.har", "invalid_or_unsupported.pcap"}
    assert len(report.requests) == 3


def test_pirogue_stacktrace_and_tweasel_metadata(tmp_path):
    har = {"log": {"version": "1.2", "creator": {"name": "cyanoacrylate", "version": "1"},
                   "_tweasel": {"metaVersion": "2.0", "apps": [{"platform": "android", "id": "org.sample.demo"}]},
                   "entries": [{
                       "startedDateTime": "2024-04-19T08:52:48.077Z",
                       "_stacktrace": "java.lang.Exception\n\tat okhttp3.RealCall.execute(RealCall.java:92)\n"
                                      "\tat com.amplitude.api.AmplitudeClient.sendEvents(Unknown Source:4)\n"
                                      "\tat org.sample.demo.MainActivity.onCreate(MainActivity.java:20)",
                       "request": {"method": "POST", "url": "https://api2.amplitude.com/",
                                   "headers": [{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}],
                                   "postData": {"mimeType": "application/x-www-form-urlencoded",
                                                "params": [{"name": "e", "value": json.dumps(
                                                    [{"adid": IDS["device_ids.advertising_id"]}])}]}},
                       "response": {"status": 200}}]}}
    path = tmp_path / "tweasel.har"
    path.write_text(json.dumps(har))
    report = analyse([path], IDS)
    assert report.app_package == "org.sample.demo"
    (sent,) = report.transmissions
    assert (where_text(sent.where), sent.recipient, str(sent.actor)) == ("body.form:e.json:[0].adid", "amplitude",
                                                                         "sdk:amplitude")


def test_bad_identifiers_files(tmp_path):
    unknown = tmp_path / "ids.yaml"
    unknown.write_text("device_ids.advertising_id: x1234567\nimei_number: 1\n")
    with pytest.raises(InputError, match="imei_number"):
        load_identifiers(unknown)
    broken = tmp_path / "ids.json"
    broken.write_text("{")
    with pytest.raises(InputError, match=r"ids.json:1: invalid JSON"):
        load_identifiers(broken)
    location = tmp_path / "loc.yaml"
    location.write_text("location.precise: {lat: 91, lon: 0}\n")
    with pytest.raises(InputError, match="out of range"):
        load_identifiers(location)


@needs_shared
def test_cli_exit_codes_and_one_line_errors(tmp_path):
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(IDS))
    truncated = tmp_path / "cut.pcap"
    truncated.write_bytes((TRAFFIC / "pcapdroid" / "two_flows.pcap").read_bytes()[:300])
    garbage = tmp_path / "x.mitm"
    garbage.write_bytes(b"123:not a flow,")
    tls_only = tmp_path / "tls.pcap"
    tls_only.write_bytes((TRAFFIC / "pcapdroid" / "http_proxy.pcap").read_bytes())
    cases = [
        ([tmp_path / "missing.har", "--identifiers", ids], "not found"),
        ([truncated, "--identifiers", ids], "nothing could be analysed"),
        ([garbage, "--identifiers", ids], "mitmproxy"),
        ([TRAFFIC / "pcapdroid" / "invalid_or_unsupported.pcap", "--identifiers", ids], "no TCP stream"),
        ([TRAFFIC / "mitmproxy-formats" / "har_files_chrome.har", "--apk", garbage], "not a valid zip"),
        ([TRAFFIC / "mitmproxy-formats" / "har_files_chrome.har", "--identifiers", tmp_path / "nope.json"],
         "not found"),
        ([TRAFFIC / "mitmproxy-formats" / "har_files_chrome.har", "--identifiers", ids, "-o", ids], "overwrite"),
    ]
    # without identifiers the tracker adapters still read what trackers send: a report, and a note saying so
    plain = _cli(TRAFFIC / "mitmproxy-formats" / "har_files_chrome.har")
    assert plain.returncode == 0 and "no identifiers given" in json.loads(plain.stdout)["notes"][0]
    for args, message in cases:
        proc = _cli(*args)
        assert proc.returncode == 2, (args, proc.stdout[:300], proc.stderr)
        assert proc.stderr.startswith("appaudit: error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    # a TLS-only pcap without its key log still reads the plain CONNECT, and says what it could not decrypt
    ok = _cli(tls_only, "--identifiers", ids)
    assert ok.returncode == 0, ok.stderr
    capture = json.loads(ok.stdout)["captures"][0]
    assert capture["status"] == "ok" and capture["partial"] and "tls.pcap.keylog" in capture["reason"]
    # a truncated pcap next to a good one: the good one is analysed, the bad one listed
    mixed = _cli(truncated, TRAFFIC / "pcapdroid" / "two_flows.pcap", "--identifiers", ids)
    assert mixed.returncode == 0, mixed.stderr
    statuses = [(c["status"], c.get("partial", False)) for c in json.loads(mixed.stdout)["captures"]]
    assert statuses == [("skipped", False), ("ok", True)]


def test_extra_tracker_lists_name_the_recipient(tmp_path):
    har = {"log": {"version": "1.2", "entries": [
        {"startedDateTime": "2024-01-01T00:00:00Z",
         "request": {"method": "GET", "url": f"https://{host}/p?adid={IDS['device_ids.advertising_id']}",
                     "headers": []}} for host in ("px.acme-ads.test", "geo.databerries.com")]}}
    path = tmp_path / "t.har"
    path.write_text(json.dumps(har))
    report = analyse([path], IDS)
    plain = {t.host: report.recipient(t) for t in report.transmissions}
    assert plain["px.acme-ads.test"].name == "unknown organisation"
    assert plain["px.acme-ads.test"].id == "unknown:acme-ads.test"
    ours = tmp_path / "acme.yaml"
    ours.write_text("sdks:\n  - {id: acme_ads, name: Acme Ads, organisation: Acme Corp, categories: [advertisement],"
                    " hosts: [acme-ads.test]}\n")
    trackers = [ours]
    exodus = SHARED / "signatures" / "exodus-trackers.json"
    if exodus.is_file():
        trackers.append(exodus)
    report = analyse([path], IDS, extra_trackers=trackers)
    extra = {t.host: report.recipient(t) for t in report.transmissions}
    assert extra["px.acme-ads.test"].to_json() == {"id": "acme_ads", "name": "Acme Corp", "party": "third",
                                                   "categories": ["advertisement"]}
    if exodus.is_file():
        assert extra["geo.databerries.com"].name == "Teemo"
    bad = tmp_path / "bad.json"
    bad.write_text('{"nothing": 1}')
    with pytest.raises(InputError, match="neither an appaudit SDK list"):
        analyse([path], IDS, extra_trackers=[bad])


def test_run_folder_identifiers_are_taken_leniently(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    har = {"log": {"version": "1.2", "entries": [{"startedDateTime": "2024-01-01T00:00:00Z", "request": {
        "method": "GET", "url": "https://x.example/?id=" + IDS["device_ids.advertising_id"], "headers": []}}]}}
    (run / "flows.har").write_text(json.dumps(har))
    (run / "identifiers.json").write_text(json.dumps({
        "device_ids.advertising_id": [IDS["device_ids.advertising_id"]], "made_up.type": ["x"],
        "device_ids.imei": [{"unexpected": "shape"}]}))
    (run / "run.json").write_text(json.dumps({"complete": False, "app": {"package": "org.sample.demo"}}))
    report = analyse([run])
    assert [t.where for t in report.transmissions] == [("query", "id")]
    assert report.app_package == "org.sample.demo"
    assert any("made_up.type" in n for n in report.notes) and any("device_ids.imei" in n for n in report.notes)
    (capture,) = report.captures
    assert capture.status == "ok" and capture.partial and "incomplete" in capture.reason
    # an empty folder is not a run
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="not a run folder"):
        analyse([empty], IDS)


def test_har_websocket_messages_sent_by_the_client(tmp_path):
    aaid = IDS["device_ids.advertising_id"]
    har = {"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2024-01-01T00:00:00Z",
        "request": {"method": "GET", "url": "wss://ws.example/socket", "headers": []},
        "_webSocketMessages": [
            {"type": "send", "time": 1704067200.5, "opcode": 1, "data": json.dumps({"hello": {"adid": aaid}})},
            {"type": "receive", "time": 1704067200.6, "opcode": 1, "data": json.dumps({"echo": aaid})},
            {"type": "send", "time": 1704067200.7, "opcode": 2,
             "data": base64.b64encode(b"\x08\x01\x12\x24" + aaid.encode()).decode()}]}]}}
    path = tmp_path / "ws.har"
    path.write_text(json.dumps(har))
    report = analyse([path], IDS)
    assert [(r.method, r.scheme, r.note) for r in report.requests] == [
        ("GET", "https", None), ("WS", "https", "websocket message"), ("WS", "https", "websocket message")]
    assert [(t.request, where_text(t.where)) for t in report.transmissions] == [("r2", "body.json:hello.adid"),
                                                                                ("r3", "body.protobuf:2")]
