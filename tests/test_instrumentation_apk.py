"""Test and automation APKs (`<instrumentation android:targetPackage=...>`): `am instrument` loads their code into
the target app's process, so the target's permissions and target API level govern every call they make, not the
test APK's own manifest. Found on real ones (the Appium espresso server's androidTest APK, the uiautomator2 server
test APK): a verdict from the test APK's own manifest said `granted` / `blocked` for an app it does not run as.

Fixtures are built here: aapt for the binary manifest, the Debian `smali` tool for the dex."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from smali_builds import build_apk, instrumentation_manifest, require_tools

from audit.static.feasibility import AppLevels, judge
from audit.static.apis import load_apis
from audit.static.manifest import RequestedPermission, parse_manifest
from audit.static.scan import scan_app

RULES = {r.id: r for r in load_apis()}


def _manifest(package: str, target: str) -> str:
    return instrumentation_manifest(package, target, runner="org.example.target.test.Runner",
                                    permissions=("android.permission.READ_PHONE_STATE",))


RUNNER = """.class public Lorg/example/target/test/Runner;
.super Landroid/app/Instrumentation;

.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Landroid/app/Instrumentation;-><init>()V
    return-void
.end method

.method public onStart()V
    .registers 3
    invoke-virtual {p0}, Landroid/app/Instrumentation;->getTargetContext()Landroid/content/Context;
    move-result-object v0
    const-string v1, "phone"
    invoke-virtual {v0, v1}, Landroid/content/Context;->getSystemService(Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v0
    check-cast v0, Landroid/telephony/TelephonyManager;
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    return-void
.end method
"""


PROBE_TEST = """.class public Lorg/example/target/test/ProbeTest;
.super Ljava/lang/Object;

.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method

.method public readsTheSubscriberId()V
    .registers 2
    .annotation runtime Lorg/junit/Test;
    .end annotation
    const/4 v0, 0x0
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;
    return-void
.end method

.method public notATest()V
    .registers 2
    const/4 v0, 0x0
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getSimSerialNumber()Ljava/lang/String;
    return-void
.end method
"""


def _build(tmp_path: Path, package: str, target: str) -> Path:
    require_tools()
    return build_apk(tmp_path / package, _manifest(package, target),
                     {"org/example/target/test/Runner": RUNNER, "org/example/target/test/ProbeTest": PROBE_TEST},
                     name="test")


def test_a_test_apk_of_another_app_gets_no_verdict_from_its_own_manifest(tmp_path):
    apk = _build(tmp_path, "org.example.target.test", "org.example.target")
    report = scan_app([apk])
    (call,) = [c for c in report.api_calls if c.api_id == "telephony.get_device_id"]
    assert call.reachable   # the instrumentation class is an entry point
    assert call.feasibility.status == "unknown"
    assert "instrumentation in the process of org.example.target" in call.feasibility.reason
    # what the test APK's own manifest alone would say is kept for the reader, and every level is open
    assert "READ_PHONE_STATE" in call.feasibility.reason and call.feasibility.api_levels == "API 21+"


def test_a_self_instrumenting_apk_is_judged_by_its_own_manifest(tmp_path):
    apk = _build(tmp_path, "org.example.target", "org.example.target")
    report = scan_app([apk])
    (call,) = [c for c in report.api_calls if c.api_id == "telephony.get_device_id"]
    # minSdk 21: accepted at install on API 21-22, the user's to allow on API 23-28
    assert call.feasibility.status == "runtime-permission" and call.feasibility.api_levels == "API 21-28"
    assert "API 21-22: works if the user accepts READ_PHONE_STATE when installing" in call.feasibility.reason


def test_instrumentation_targets_are_read_from_the_manifest(tmp_path):
    text = _manifest("org.example.target.test", "org.example.target")
    manifest = parse_manifest(text.encode(), "AndroidManifest.xml")
    assert manifest.instrumentation_targets == ("org.example.target",)
    assert manifest.instruments_other_app == "org.example.target"
    own = parse_manifest(text.replace('"org.example.target"', '"org.example.target.test"').encode(), "x")
    assert own.instruments_other_app is None


@pytest.mark.parametrize("api_id", sorted(RULES))
def test_no_api_is_granted_or_refused_to_code_that_runs_as_another_app(api_id):
    """Whatever the rule and whatever this manifest holds, the target app decides."""
    for held in ((), ("android.permission.READ_PHONE_STATE", "android.permission.ACCESS_FINE_LOCATION")):
        levels = AppLevels(21, 33, tuple(RequestedPermission(p) for p in held), runs_in="org.example.target")
        _type, verdict = judge(RULES[api_id], levels)
        assert verdict.status == "unknown", (api_id, held, verdict)


def test_the_test_methods_a_runner_calls_by_annotation_are_reached(tmp_path):
    """JUnit 4 finds @Test methods by reflection: with the manifest's runner (an Instrumentation) as an entry
    point, they are roots (rules/entrypoints.yaml `instrumentation`); the same class's unannotated method is not."""
    apk = _build(tmp_path, "org.example.target.test", "org.example.target")
    report = scan_app([apk])
    reached = {c.api_id: c for c in report.api_calls}
    test = reached["telephony.get_subscriber_id"]
    assert test.reachable and test.path[0] == ("Lorg/example/target/test/ProbeTest;->readsTheSubscriberId()V")
    assert not reached["telephony.get_sim_serial_number"].reachable


def test_test_annotations_make_no_roots_without_a_runner(tmp_path):
    """An ordinary app that ships a class with @Test methods (test code left in a release) runs none of them."""
    from audit.static.callgraph import call_paths
    from audit.static.dex import DexFile
    apk = _build(tmp_path, "org.example.target.test", "org.example.target")
    with zipfile.ZipFile(apk) as zf:
        dex = DexFile(zf.read("classes.dex"), "classes.dex")
    target = "Lorg/example/target/test/ProbeTest;->readsTheSubscriberId()V"
    assert call_paths([dex], ["org.example.target.test.Runner"], [target])[0]
    assert call_paths([dex], ["org.example.target.test.ProbeTest"], [target])[0] == {}
