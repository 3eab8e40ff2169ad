"""Damaged `appaudit capture` run folders through `appaudit traffic RUN` and `appaudit audit APP --capture RUN`.

The seed is a run folder as audit/runtime/runfolder.py writes it (run.json, frida-events.jsonl with api,
request, connect and ssl_write events, identifiers.json, flows.har). A killed capture leaves a torn last event
line and `complete: false`; a hostile or corrupted one leaves anything. Either way: a report (partial, marked)
or one error line.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import assert_clean_outcome, fuzz_cost, run_cli
from mutate import byte_mutations, json_mutations, text_line_mutations

REPO = Path(__file__).resolve().parents[2]
SHEET = REPO / "examples" / "webex-inquiry" / "datasheet.yaml"
PACKAGE = "org.edukit.calculator"
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
ANDROID_ID = "9774d56d682e549c"

RUN = {"schema": "appaudit.run/1", "complete": True, "app": {"package": PACKAGE, "sha256": "0" * 64},
       "started": "2026-11-24T10:00:00.000Z", "ended": "2026-11-24T10:01:00.000Z",
       "device": {"serial": "local", "api": 34}, "options": {"duration": 60, "exercise": "none"}}
STACK = ["android.provider.Settings$Secure.getString(Settings.java:1)",
         "com.google.android.gms.ads.identifier.AdvertisingIdClient.getInfo(AdvertisingIdClient.java:20)",
         f"{PACKAGE}.MainActivity.onCreate(MainActivity.java:12)"]
EVENTS = [
    {"type": "api", "api": "settings.android_id", "class": "android.provider.Settings$Secure", "method": "getString",
     "data_type": "device_ids.android_id", "value": ANDROID_ID, "stack": STACK, "time": 1795514400.5, "tid": 7},
    {"type": "api", "api": "ads.advertising_id", "class": "com.google.android.gms.ads.identifier.AdvertisingIdClient",
     "method": "getInfo", "data_type": "device_ids.advertising_id", "value": AAID, "stack": STACK[1:],
     "time": 1795514401.0, "tid": 7},
    {"type": "request", "url": f"https://ads.example-tracker.net/px?aid={AAID}", "host": "ads.example-tracker.net",
     "stack": STACK[1:], "time": 1795514401.2},
    {"type": "connect", "local": {"ip": "10.0.2.15", "port": 40000}, "peer": {"ip": "203.0.113.7", "port": 443},
     "time": 1795514401.1, "tid": 7, "backtrace": ["libc.so!connect"]},
    {"type": "ssl_write", "first_line": "GET /px HTTP/1.1", "time": 1795514401.2, "tid": 7, "backtrace": []},
]
HAR_ENTRY = {"startedDateTime": "2026-11-24T10:00:01.200Z", "time": 3, "cache": {}, "timings": {},
             "request": {"method": "GET", "url": f"https://ads.example-tracker.net/px?aid={AAID}&aid2={ANDROID_ID}",
                         "httpVersion": "HTTP/1.1", "headers": [], "queryString": [], "cookies": [],
                         "headersSize": -1, "bodySize": 0},
             "response": {"status": 204, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0}}
HAR = {"log": {"version": "1.2", "creator": {"name": "appaudit", "version": "1"}, "entries": [HAR_ENTRY]}}
IDENTIFIERS = {"device_ids.advertising_id": [AAID], "device_ids.android_id": [ANDROID_ID]}


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seed") / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(RUN, indent=2))
    (folder / "frida-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (folder / "identifiers.json").write_text(json.dumps(IDENTIFIERS))
    (folder / "flows.har").write_text(json.dumps(HAR))
    return folder


def test_seed_run_is_judged(tmp_path, seed_run, clean_apk):
    """The undamaged seed must reach the engine, or the mutations below test nothing."""
    out = tmp_path / "audit.json"
    outcome = run_cli(["audit", str(clean_apk), "--datasheet", str(SHEET), "--capture", str(seed_run), "-o", str(out)])
    assert outcome.code == 0, outcome.stderr
    report = json.loads(out.read_text())
    assert "device_ids.advertising_id" in json.dumps(report["flows"])
    assert AAID not in out.read_text()


@st.composite
def damaged_runs(draw, seed: Path) -> dict[str, bytes | None]:
    """file name -> new content (None: delete) for one to three files of the seed run."""
    changes: dict[str, bytes | None] = {}
    for name in draw(st.lists(st.sampled_from(["run.json", "frida-events.jsonl", "identifiers.json", "flows.har"]),
                              min_size=1, max_size=3, unique=True)):
        raw = (seed / name).read_bytes()
        how = draw(st.sampled_from(["bytes", "truncate", "structure", "delete", "lines"]))
        if how == "delete":
            changes[name] = None
        elif how == "truncate":
            changes[name] = raw[:draw(st.integers(0, len(raw)))]
        elif how == "bytes":
            changes[name] = draw(byte_mutations(raw))
        elif how == "lines" or name == "frida-events.jsonl":
            changes[name] = draw(text_line_mutations(raw.decode())).encode("utf-8", "surrogatepass")
            if name == "frida-events.jsonl" and draw(st.booleans()):
                lines = raw.decode().splitlines()
                index = draw(st.integers(0, len(lines) - 1))
                event = draw(json_mutations(json.loads(lines[index])))
                lines[index] = json.dumps(event)
                changes[name] = ("\n".join(lines) + "\n").encode()
        else:
            changes[name] = json.dumps(draw(json_mutations(json.loads(raw)))).encode()
    return changes


def _apply(tmp_path_factory, seed: Path, changes) -> Path:
    folder = tmp_path_factory.mktemp("case") / "run"
    shutil.copytree(seed, folder)
    for name, content in changes.items():
        if content is None:
            (folder / name).unlink()
        else:
            (folder / name).write_bytes(content)
    return folder


@fuzz_cost(2)
@given(data=st.data())
def test_damaged_run_through_audit(tmp_path_factory, seed_run, clean_apk, data):
    changes = data.draw(damaged_runs(seed_run))
    folder = _apply(tmp_path_factory, seed_run, changes)
    out = folder.parent / "audit.json"
    outcome = run_cli(["audit", str(clean_apk), "--datasheet", str(SHEET), "--capture", str(folder), "-o", str(out)])
    assert_clean_outcome(outcome, allowed=(0, 2))
    if outcome.code == 0 and "identifiers.json" not in changes:   # values known: they must be redacted
        assert AAID not in out.read_text() and ANDROID_ID not in out.read_text()


@fuzz_cost(2)
@given(data=st.data())
def test_damaged_run_through_traffic(tmp_path_factory, seed_run, data):
    changes = data.draw(damaged_runs(seed_run))
    folder = _apply(tmp_path_factory, seed_run, changes)
    outcome = run_cli(["traffic", str(folder)])
    assert_clean_outcome(outcome)
    if "identifiers.json" not in changes:
        assert AAID not in outcome.stdout and ANDROID_ID not in outcome.stdout
