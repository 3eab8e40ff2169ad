"""One class, one actor in one audit: a runtime stack (Frida events) or a request's stack (a HAR's `_stacktrace`)
whose deciding frame lies in a class the static scan placed gets the static report's actor.

The static scan places renamed code the names misattribute (audit/static/obfuscated.py): SDK code R8 moved into the
app's package, an SDK shaded under it without its top-level label, renamed library code. The app context the scan
hands the runtime and traffic stages (attribution.with_static_placements) carries those placements and the rules
behind them, so `appaudit audit APK --capture RUN`, `appaudit traffic HAR --apk APK` and the static report agree.

Built from smali (the builders of tests/test_attribution_unseen_builds.py), and a property over every corpus file:
each static call site's calling method, as a one-frame stack through the runtime and traffic paths, gets the call
site's actor.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from smali_builds import ANDROID_ID, IMEI, build_apk, require_tools, tools_missing

from audit.attribution import dotted
from audit.catalogue import load_catalogue
from audit.cli import main
from audit.model import Actor, ActorKind
from audit.pipeline import gather
from audit.runtime.events import observations_from_run
from audit.runtime.runfolder import RUN_SCHEMA
from audit.static.scan import scan_app
from audit.traffic import analyse
from audit.traffic.attribution import Attributor, ScannedApp
from test_attribution_unseen_builds import _activity, _calls, _class, _manifest, _static

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "apks"
CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir()
                      if p.name.lower().endswith((".apk", ".apks", ".xapk", ".apkm", ".aab"))) if CORPUS.is_dir() else []
AD_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"
PKG = "com/app/moved"
SHADED = f"{PKG}/vendor/adjust/sdk"

needs_tools = pytest.mark.skipif(bool(tools_missing()), reason=str(tools_missing()))


@pytest.fixture(scope="module")
def moved_apk(tmp_path_factory) -> Path:
    """com.app.moved built with `-repackageclasses com.app.moved`: AppsFlyer's kept AppsFlyerLib calls the renamed
    `b` (IMEI) and `e` (no sensitive call: it calls `d`, Android ID); the app's MainActivity calls the renamed `c`
    (IMEI; only the app calls it) and its own `util.f`; Adjust shaded as `com.app.moved.vendor.adjust.sdk`, whose
    ActivityHandler reads the Android ID and whose Network class makes no call site."""
    require_tools()
    classes = {
        f"{PKG}/MainActivity": _activity(f"{PKG}/MainActivity", f"{PKG}/c", f"{PKG}/util/f", f"{SHADED}/Adjust"),
        "com/appsflyer/AppsFlyerLib": _class("com/appsflyer/AppsFlyerLib",
                                             _static("start", _calls(f"{PKG}/b", f"{PKG}/e"))),
        f"{PKG}/b": _class(f"{PKG}/b", _static("a", IMEI)),
        f"{PKG}/c": _class(f"{PKG}/c", _static("a", IMEI)),
        f"{PKG}/d": _class(f"{PKG}/d", _static("a", ANDROID_ID)),
        f"{PKG}/e": _class(f"{PKG}/e", _static("a", _calls(f"{PKG}/d"))),
        f"{PKG}/util/f": _class(f"{PKG}/util/f", _static("a", ANDROID_ID)),
        f"{SHADED}/Adjust": _class(f"{SHADED}/Adjust", _static("a", _calls(f"{SHADED}/ActivityHandler",
                                                                           f"{SHADED}/Network"))),
        f"{SHADED}/ActivityHandler": _class(f"{SHADED}/ActivityHandler", _static("a", ANDROID_ID)),
        f"{SHADED}/Network": _class(f"{SHADED}/Network", _static("a", "    return-void")),
    }
    return build_apk(tmp_path_factory.mktemp("moved"), _manifest("com.app.moved", ".MainActivity"), classes)


def _static_actors(report) -> dict[str, Actor]:
    return {dotted(s.caller.split("->", 1)[0]): s.actor for s in report.api_calls}


def _stack(*classes: str) -> list[str]:
    """A Java stack as the agents report it: the hooked API, the sending library, then the given classes."""
    return (["android.telephony.TelephonyManager.getDeviceId(TelephonyManager.java:1)",
             "okhttp3.RealCall.execute(RealCall.java:92)"]
            + [f"{dotted(c)}.a(Unknown Source:4)" for c in classes]
            + [f"{dotted(PKG)}.MainActivity.onCreate(Unknown Source:2)"])


def _run(tmp_path: Path, stacks: list[list[str]]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, "app": {"package": "com.app.moved"}}))
    (run / "frida-events.jsonl").write_text("".join(json.dumps({
        "type": "api", "data_type": "device_ids.imei", "api": "telephony.get_device_id",
        "class": "android.telephony.TelephonyManager", "stack": stack, "time": 1 + i}) + "\n"
        for i, stack in enumerate(stacks)))
    return run


@needs_tools
def test_a_stack_through_moved_sdk_code_gets_the_static_report_s_actor(moved_apk, tmp_path):
    report = scan_app([moved_apk])
    static = _static_actors(report)
    assert static["com.app.moved.b"] == Actor(ActorKind.SDK, "appsflyer")
    assert static["com.app.moved.c"].kind is ActorKind.UNKNOWN
    assert static["com.app.moved.vendor.adjust.sdk.ActivityHandler"] == Actor(ActorKind.SDK, "adjust")
    assert static["com.app.moved.util.f"].kind is ActorKind.FIRST_PARTY
    catalogue = load_catalogue()
    attributor = Attributor(catalogue, "com.app.moved", app_code=report.app_code)
    for cls in ("com.app.moved.b", "com.app.moved.c", "com.app.moved.vendor.adjust.sdk.ActivityHandler",
                "com.app.moved.util.f"):
        assert attributor.actor_from_stack(_stack(cls)) == static[cls], cls
    # classes that made no call site, placed by the rules the scan found: renamed code in the package AppsFlyer's
    # code was moved into is no one's known code, the shaded Adjust's other classes are Adjust's
    moved = attributor.actor_from_stack(_stack("com.app.moved.e"))
    assert moved.kind is ActorKind.UNKNOWN and "com.appsflyer.AppsFlyerLib of appsflyer" in moved.id
    assert attributor.actor_from_stack(_stack(f"{SHADED}/Network")) == Actor(ActorKind.SDK, "adjust")
    assert attributor.actor_from_stack(_stack("com.app.moved.MainActivity")).kind is ActorKind.FIRST_PARTY
    # the names alone said first party for all of these
    by_name = Attributor(catalogue, "com.app.moved")
    assert by_name.actor_from_stack(_stack("com.app.moved.b")).kind is ActorKind.FIRST_PARTY


@needs_tools
def test_an_audit_s_runtime_stage_gets_the_static_actor(moved_apk, tmp_path):
    """`appaudit audit APK --capture RUN`: the hooked reads of a run are attributed with the scan's placements."""
    run = _run(tmp_path, [_stack("com.app.moved.b"), _stack(f"{SHADED}/Network")])
    audit, _scan, _secrets = gather([str(moved_apk)], [str(run)])
    runtime = {o.actor for o in audit.observations if o.source == "runtime"}
    assert runtime == {Actor(ActorKind.SDK, "appsflyer"), Actor(ActorKind.SDK, "adjust")}
    static = {o.actor for o in audit.observations if o.source == "static" and o.data_type == "device_ids.imei"}
    assert Actor(ActorKind.SDK, "appsflyer") in static


@needs_tools
def test_traffic_with_the_apk_gets_the_static_actor_of_a_request_s_sender(moved_apk, tmp_path):
    """`appaudit traffic HAR --apk APK`: a request whose `_stacktrace` runs through SDK code moved into the app's
    package is sent by that SDK, as the static report says; without --apk the names alone call it the app's."""
    stacktrace = "java.lang.Exception\n" + "".join(f"\tat {frame}\n" for frame in _stack("com.app.moved.b")[1:])
    har = {"log": {"version": "1.2", "creator": {"name": "cyanoacrylate", "version": "1"}, "entries": [{
        "startedDateTime": "2024-04-19T08:52:48.077Z", "_stacktrace": stacktrace.rstrip("\n"),
        "request": {"method": "GET", "url": f"https://collector.example.net/e?adid={AD_ID}", "headers": []},
        "response": {"status": 200}}]}}
    (tmp_path / "c.har").write_text(json.dumps(har))
    (tmp_path / "ids.json").write_text(json.dumps({"device_ids.advertising_id": AD_ID}))

    def senders(*extra: str) -> set[str]:
        out = tmp_path / "out.json"
        assert main(["traffic", str(tmp_path / "c.har"), "--identifiers", str(tmp_path / "ids.json"),
                     "--app", "com.app.moved", "--format", "json", "-o", str(out), *extra]) == 0
        report = json.loads(out.read_text())
        return {f"{t['actor']['kind']}:{t['actor']['id']}" for t in report["transmissions"] if t.get("actor")}

    assert senders("--apk", str(moved_apk)) == {"sdk:appsflyer"}
    assert senders() == {"first-party:None"}


@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_a_call_site_s_calling_method_as_a_stack_gets_the_call_site_s_actor(name, tmp_path):
    """Every static call site of every corpus file: its calling method as a one-frame stack, through the traffic
    stage's attributor and the runtime stage's run-folder reading with the scanned app's context, gets the static
    call site's actor (renamed SDK code placed by its callers, renamed library code, bundled support library
    classes under `android.` alike)."""
    report = scan_app([CORPUS / name])
    catalogue = load_catalogue()
    attributor = Attributor(catalogue, report.app.package, app_code=report.app_code)
    sites = sorted({(s.caller, s.actor) for s in report.api_calls}, key=str)
    frames = {site: f"{dotted(site[0].split('->', 1)[0])}.{site[0].split('->', 1)[1].split('(', 1)[0]}(Unknown)"
              for site in sites}
    traffic = [(caller, str(actor), str(attributor.actor_from_stack([frames[(caller, actor)]])))
               for caller, actor in sites]
    assert [t for t in traffic if t[1] != t[2]] == []
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, "app": {"package": report.app.package}}))
    with (run / "frida-events.jsonl").open("w") as events:
        for i, site in enumerate(sites):
            events.write(json.dumps({"type": "api", "data_type": f"probe.{i}", "api": "probe",
                                     "class": "android.telephony.TelephonyManager", "stack": [frames[site]],
                                     "time": 1}) + "\n")
    runtime = {int(o.data_type.split(".")[1]): o.actor for o in observations_from_run(run, catalogue,
                                                                                       report.app_code)}
    assert [(s[0], str(s[1]), str(runtime.get(i))) for i, s in enumerate(sites) if runtime.get(i) != s[1]] == []


class _CountingScan(ScannedApp):
    scans = 0

    def context(self):
        type(self).scans += 1
        return super().context()


def _har(path: Path, stacks: list[str | None]) -> Path:
    entries = [{"startedDateTime": f"2024-04-19T08:52:4{i}.000Z", **({"_stacktrace": stack} if stack else {}),
                "request": {"method": "GET", "url": f"https://collector.example.net/e{i}?adid={AD_ID}", "headers": []},
                "response": {"status": 200}} for i, stack in enumerate(stacks)]
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": entries}}))
    return path


@needs_tools
def test_traffic_scans_the_apk_once_and_only_for_a_capture_with_stacks(moved_apk, tmp_path):
    """The scan costs what a static scan costs: a capture whose requests carry no stack never pays it, and one
    with many stacks pays it once."""
    ids = {"device_ids.advertising_id": AD_ID}
    _CountingScan.scans = 0
    analyse([_har(tmp_path / "plain.har", [None, None])], ids, "com.app.moved",
            app_code=_CountingScan([str(moved_apk)]))
    assert _CountingScan.scans == 0
    stack = "java.lang.Exception\n\tat com.app.moved.b.a(Unknown Source:4)"
    report = analyse([_har(tmp_path / "stacks.har", [stack, stack, stack])], ids, "com.app.moved",
                     app_code=_CountingScan([str(moved_apk)]))
    assert _CountingScan.scans == 1
    assert {str(t.actor) for t in report.transmissions} == {"sdk:appsflyer"}


def test_a_refused_scan_leaves_the_names_to_decide(tmp_path):
    """An APK the scan refuses (no readable code) gives no context: the request's sender is placed by the names,
    not a traceback."""
    broken = tmp_path / "broken.apk"
    broken.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    attributor = Attributor(load_catalogue(), "com.app.moved", app_code=ScannedApp([str(broken)]))
    assert attributor.actor_from_stack(["com.app.moved.b.a(Unknown Source:4)"]).kind is ActorKind.FIRST_PARTY
