"""The static scan end to end on real APKs: the fixture apps (ground truth in tests/fixtures/README.md), the
split set and its bundles, partial results, determinism, and every APK of the shared corpus."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from audit.catalogue import Catalogue, Sdk
from audit.errors import InputError
from audit.model import Actor, ActorKind, Level
from audit.report import dumps_json
from audit.static.report import SCHEMA, CallSite
from audit.static.scan import MAX_EVIDENCE, _call_site_observations, scan_app
from audit.static.sdkdetect import detect_sdks, find_sdks

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "apks"
CORPUS_APKS = sorted(CORPUS.glob("*.apk")) if CORPUS.is_dir() else []
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
TOP_LEVEL_KEYS = {"schema", "app", "inputs", "permissions", "components", "meta_data", "sdks", "hints", "api_calls",
                  "observations", "partial", "warnings"}


def _obs(report, data_type, level=None, actor_kind=None):
    return [o for o in report.observations if o.data_type == data_type
            and (level is None or o.level is level) and (actor_kind is None or o.actor.kind is actor_kind)]


@pytest.fixture(scope="module")
def education_report(education_apk):
    return scan_app([education_apk])


def test_education_app_matches_its_ground_truth(education_report, education_apk):
    report = education_report
    assert report.app.package == "org.edukit.classroom" and report.app.label == "EduKit Classroom"
    assert not report.partial and not report.warnings
    assert report.inputs[0].sha256 == hashlib.sha256(education_apk.read_bytes()).hexdigest()

    sdks = {s.id: s for s in report.sdks}
    assert {"amplitude", "firebase_analytics"} <= set(sdks)
    amplitude = {e.kind: e for e in sdks["amplitude"].evidence}
    assert amplitude["sdk-class"].ref == "com.amplitude" and "2 classes" in amplitude["sdk-class"].detail
    assert amplitude["host"].ref == "api2.amplitude.com"
    firebase_kinds = {e.kind for e in sdks["firebase_analytics"].evidence}
    assert {"sdk-class", "manifest-key", "host"} <= firebase_kinds

    # declared-permission: one observation per unlocked data type, first party, naming the permission
    (imei_declared,) = _obs(report, "device_ids.imei", Level.DECLARED_PERMISSION)
    assert imei_declared.actor.kind is ActorKind.FIRST_PARTY
    assert [e.ref for e in imei_declared.evidence] == ["android.permission.READ_PHONE_STATE"]
    assert imei_declared.evidence[0].kind == "permission"
    (ad_id_declared,) = _obs(report, "device_ids.advertising_id", Level.DECLARED_PERMISSION)
    assert ad_id_declared.evidence[0].ref == "com.google.android.gms.permission.AD_ID"

    # present vs reachable from call sites
    (sim_serial,) = _obs(report, "device_ids.sim_serial", Level.PRESENT)
    assert sim_serial.actor.kind is ActorKind.FIRST_PARTY
    assert not _obs(report, "device_ids.sim_serial", Level.REACHABLE)
    assert sim_serial.evidence[0].kind == "call-site"
    assert "TelephonyManager;->getSimSerialNumber" in sim_serial.evidence[0].ref
    assert sim_serial.evidence[0].where.startswith("Lorg/edukit/classroom/Legacy;->readSimSerial")
    assert _obs(report, "device_ids.android_id", Level.REACHABLE, ActorKind.SDK)[0].actor.id == "amplitude"
    assert _obs(report, "location.precise", Level.REACHABLE, ActorKind.FIRST_PARTY)
    # every call-site observation is backed by the matching api_calls entries
    for obs in report.observations:
        if obs.level in (Level.PRESENT, Level.REACHABLE):
            sites = {(c.api, c.caller) for c in report.api_calls if c.data_type == obs.data_type
                     and c.actor == obs.actor and c.reachable == (obs.level is Level.REACHABLE)}
            assert {(e.ref, e.where) for e in obs.evidence if e.kind == "call-site"} <= sites


def test_report_json_contract(education_report):
    data = education_report.to_json()
    assert set(data) == TOP_LEVEL_KEYS and data["schema"] == SCHEMA
    assert "stats" not in data and "seconds" not in json.dumps(data)
    assert set(data["app"]) == {"package", "version_code", "version_name", "min_sdk", "target_sdk", "label",
                                "splits"}
    assert set(data["inputs"][0]) == {"path", "sha256", "size", "role"}
    assert set(data["permissions"][0]) == {"name", "protection_level", "data_types", "max_sdk"}
    assert set(data["sdks"][0]) == {"id", "name", "organisation", "categories", "evidence"}
    assert {"data_type", "api", "api_id", "caller", "actor", "reachable"} <= set(data["api_calls"][0])
    assert {"data_type", "level", "actor", "source", "evidence"} <= set(data["observations"][0])
    assert education_report.stats["seconds"]["total"] > 0


def test_identical_input_gives_byte_identical_json(education_apk, education_report):
    assert dumps_json(scan_app([education_apk]).to_json()) == dumps_json(education_report.to_json())


def test_clean_app_reports_nothing_sensitive(clean_apk):
    report = scan_app([clean_apk])
    assert report.app.package == "org.edukit.calculator"
    assert not report.permissions and not report.sdks and not report.api_calls and not report.observations
    assert not report.partial


def _without_inputs(report) -> dict:
    data = report.to_json()
    data.pop("inputs")
    return data


def test_split_set_is_one_app_whatever_the_order(split_set):
    report = scan_app(split_set)
    assert report.app.package == "org.edukit.quiz" and report.app.splits == ("config.en", "feature_maps")
    assert not report.partial
    callers = {(c.data_type, c.caller.split(";->")[0], c.reachable) for c in report.api_calls}
    assert ("device_ids.imei", "Lorg/edukit/quiz/device/DeviceTag", True) in callers          # base classes2.dex
    assert ("location.precise", "Lorg/edukit/quiz/maps/MapsActivity", True) in callers        # feature split
    assert dumps_json(scan_app(list(reversed(split_set))).to_json()) == dumps_json(report.to_json())


@pytest.mark.parametrize("bundle_fixture", ["xapk", "apks_bundle", "apkm_bundle"])
def test_bundles_scan_like_the_split_set(request, split_set, bundle_fixture):
    bundle = request.getfixturevalue(bundle_fixture)
    report = scan_app([bundle])
    assert _without_inputs(report) == _without_inputs(scan_app(split_set))
    assert report.inputs[0].role == "bundle" and len(report.inputs) == 4


def test_unreadable_split_gives_a_partial_result(tmp_path, split_set):
    junk = tmp_path / "split_junk.apk"
    junk.write_bytes(b"PK\x03\x04 this is not really a zip")
    report = scan_app([*split_set, junk])
    assert report.partial and report.to_json()["partial"] is True
    assert any("split_junk.apk" in w for w in report.warnings)
    assert {c.data_type for c in report.api_calls} >= {"device_ids.imei", "location.precise"}
    assert str(junk) in [i.path for i in report.inputs]


def _with_second_dex(education_apk: Path, target: Path, data: bytes) -> Path:
    with zipfile.ZipFile(education_apk) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info))
        out.writestr("classes2.dex", data)
    return target


def test_garbage_second_dex_gives_a_partial_result(tmp_path, education_apk):
    patched = _with_second_dex(education_apk, tmp_path / "edu-garbage-dex2.apk", b"dex\n035\x00" + os.urandom(4000))
    report = scan_app([patched])
    assert report.partial
    assert len(report.warnings) == 1 and "classes2.dex" in report.warnings[0]
    assert {s.id for s in report.sdks} >= {"amplitude"}
    assert _obs(report, "device_ids.imei", Level.REACHABLE)


FOREIGN_SPLIT = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.other.app" split="feature_x">
  <application android:hasCode="false"/>
</manifest>
"""


def _foreign_split(tmp_path: Path) -> Path:
    """A split APK of another package, built with the real aapt."""
    if not shutil.which("aapt") or not FRAMEWORK_RES.exists():
        pytest.skip("aapt / android-framework-res not installed (make deb)")
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "AndroidManifest.xml").write_text(FOREIGN_SPLIT)
    out = tmp_path / "split_feature_x.apk"
    subprocess.run(["aapt", "package", "-f", "-M", str(folder / "AndroidManifest.xml"), "-I", str(FRAMEWORK_RES),
                    "-F", str(out)], check=True, capture_output=True, timeout=60)
    return out


def test_split_sets_must_be_one_app(tmp_path, split_set, education_apk, clean_apk):
    base, feature, _config = split_set
    with pytest.raises(InputError, match=r"different apps: the base is org.edukit.quiz, but .*org.other.app"):
        scan_app([base, feature, _foreign_split(tmp_path)])
    with pytest.raises(InputError, match="several base APKs"):
        scan_app([education_apk, clean_apk])
    with pytest.raises(InputError, match="give the base APK"):
        scan_app([feature])


def test_call_site_evidence_is_capped_with_a_total():
    actor = Actor(ActorKind.SDK, "amplitude")
    sites = [CallSite("device_ids.android_id", "Landroid/provider/Settings$Secure;->getString()", f"La;->m{i}()V",
                      actor, "settings.android_id", True) for i in range(MAX_EVIDENCE + 5)]
    (obs,) = _call_site_observations(sites)
    assert len([e for e in obs.evidence if e.kind == "call-site"]) == MAX_EVIDENCE
    assert obs.evidence[-1].kind == "note" and obs.evidence[-1].ref == f"{MAX_EVIDENCE + 5} call sites"


def test_sdk_detection_says_why_and_host_only_evidence_is_a_hint():
    catalogue = Catalogue(sdks=[
        Sdk("acme", "Acme Analytics", "Acme", ("analytics",), packages=("com.acme", "io.acme.core"),
            manifest_keys=("com.acme.KEY",), hosts=("api.acme.io",)),
        Sdk("far", "Far Ads", "Far", ("advertisement",), packages=("com.far",), hosts=("far-ads.com",)),
    ], libraries=[])
    found = find_sdks(
        catalogue, ["com.acme.A", "com.acme.b.B", "com.acme.c.C", "com.acme.D", "io.acme.core.C", "com.acmeother.X",
                    "Lcom/acme/Z;"],
        meta_data=["com.acme.KEY", "unrelated"], hosts=["eu.api.acme.io", "cdn.far-ads.com"],
        app_package="org.example")
    (acme,) = found.sdks
    assert [(e.kind, e.ref) for e in acme.evidence] == [
        ("sdk-class", "com.acme"), ("sdk-class", "io.acme.core"), ("manifest-key", "com.acme.KEY"),
        ("host", "eu.api.acme.io")]
    assert acme.evidence[0].detail.startswith("5 classes") and acme.evidence[0].where == "com.acme.A"
    assert "api.acme.io" in acme.evidence[-1].detail
    (far,) = found.hints
    assert far.id == "far" and [(e.kind, e.ref) for e in far.evidence] == [("host", "cdn.far-ads.com")]
    assert far.summary == "mentions host cdn.far-ads.com; no code found"


@pytest.mark.skipif(not CORPUS_APKS, reason=f"shared corpus not present at {CORPUS}")
def test_every_corpus_apk_scans(tmp_path):
    """One test over the real APKs (kept as one to keep the suite quick): each scans without error, its digest
    matches PROVENANCE.json, and the JSON is complete; partial only where its manifest names a component class
    that no dex of the file defines (as dexdump lists them: DroidBoxTests), or where it runs its logic in a
    runtime whose code the scan does not read (rules/libraries.yaml runtimes_not_read: none of the corpus). Dex
    code an app carries and loads itself (StatusSaver's audience_network.dex) is read: it has call sites."""
    from smali_builds import defined_classes, loads_dex_it_carries, runtimes_in
    from audit.attribution import dotted
    provenance = {Path(e["file"]).name: e for e in json.loads((CORPUS.parent / "PROVENANCE.json").read_text())}
    found_sdks = set()
    for apk in CORPUS_APKS:
        report = scan_app([apk])
        data = report.to_json()
        assert set(data) == TOP_LEVEL_KEYS, apk.name
        assert report.app.package, apk.name
        assert report.inputs[0].sha256 == provenance[apk.name]["sha256"], apk.name
        assert report.inputs[0].size == provenance[apk.name]["size"], apk.name
        classes = defined_classes(apk)
        unread = sorted({c.name for c in report.components if c.name not in classes})
        runtimes = runtimes_in(classes, [c.name for c in report.components])
        assert report.partial == bool(unread or runtimes), (apk.name, report.warnings)
        if loads_dex_it_carries(apk):   # the code it carries was read: call sites in classes no classes*.dex defines
            assert {dotted(c.caller.split("->")[0]) for c in report.api_calls} - classes, apk.name
        assert [w for w in report.warnings if not w.startswith("code not read:")] == [], apk.name
        found_sdks |= {s.id for s in report.sdks}
    # SDK sample apps in the corpus: their own SDK must be found by its classes.
    assert {"appsflyer", "branch", "countly", "mixpanel", "unity_ads", "facebook_sdk"} <= found_sdks


DECLARED_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.declared">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>
  <uses-permission android:name="android.permission.READ_PHONE_STATE" android:maxSdkVersion="18"/>
  <uses-permission android:name="android.permission.READ_CONTACTS"/>
  <uses-permission-sdk-23 android:name="android.permission.ACCESS_COARSE_LOCATION"/>
  <uses-permission android:name="android.permission.SEND_SMS"/>
  <uses-permission android:name="android.permission.ACCESS_NETWORK_STATE"/>
  <uses-permission android:name="com.google.android.gms.permission.AD_ID"/>
  <application android:hasCode="false">
    <service android:name=".Reader" android:permission="android.permission.BIND_ACCESSIBILITY_SERVICE"
             android:exported="false"/>
  </application>
</manifest>
"""


def test_declared_permission_observations_follow_the_permission_table(tmp_path):
    """An aapt-built APK without code: only the manifest speaks. READ_PHONE_STATE capped below minSdk is
    granted on no device; SEND_SMS collects nothing; a normal permission yields nothing, except AD_ID; an
    accessibility service declares what it can read through the permission guarding it."""
    if not shutil.which("aapt") or not FRAMEWORK_RES.exists():
        pytest.skip("aapt / android-framework-res not installed (make deb)")
    (tmp_path / "AndroidManifest.xml").write_text(DECLARED_MANIFEST)
    apk = tmp_path / "declared.apk"
    subprocess.run(["aapt", "package", "-f", "-M", str(tmp_path / "AndroidManifest.xml"), "-I", str(FRAMEWORK_RES),
                    "-F", str(apk)], check=True, capture_output=True, timeout=60)
    report = scan_app([apk])
    assert not report.partial and not report.api_calls
    declared = {o.data_type: o for o in report.observations}
    assert all(o.level is Level.DECLARED_PERMISSION and o.actor.kind is ActorKind.FIRST_PARTY
               for o in declared.values())
    assert set(declared) == {"contacts", "location.approximate", "location.last_known", "device_ids.advertising_id",
                             "app_activity.app_interactions"}
    (accessibility,) = declared["app_activity.app_interactions"].evidence
    assert accessibility.ref == "android.permission.BIND_ACCESSIBILITY_SERVICE"
    assert "org.example.declared.Reader" in accessibility.detail
    (coarse,) = declared["location.approximate"].evidence
    assert (coarse.kind, coarse.ref, coarse.where) == ("permission", "android.permission.ACCESS_COARSE_LOCATION",
                                                       "AndroidManifest.xml")
    assert "uses-permission-sdk-23" in coarse.detail
    assert {p.name: p.max_sdk for p in report.permissions}["android.permission.READ_PHONE_STATE"] == 18


def test_an_sdk_vendors_own_app_code_is_not_counted_as_the_sdk():
    catalogue = Catalogue(sdks=[Sdk("acme", "Acme Analytics", "Acme", ("analytics",), packages=("com.acme",),
                                    entry_classes=("com.acme.sdk.Tracker",))], libraries=[])
    (acme,) = detect_sdks(catalogue, ["com.acme.demo.Main", "com.acme.demo.ui.Screen", "com.acme.sdk.Tracker"],
                          app_package="com.acme.demo")
    assert [(e.kind, e.ref) for e in acme.evidence] == [("sdk-class", "com.acme"), ("entry-class",
                                                                                     "com.acme.sdk.Tracker")]
    assert acme.evidence[0].detail.startswith("1 class ") and acme.evidence[0].where == "com.acme.sdk.Tracker"
    assert detect_sdks(catalogue, [f"com.acme.demo.C{i}" for i in range(20)], app_package="com.acme.demo") == ()


def test_the_scan_pauses_the_cyclic_gc_and_restores_its_state(tmp_path):
    """scan_app runs with the cyclic collector paused (a speed measure) and leaves it as it found it, on
    success and on refusal alike."""
    import gc
    apk = SHARED / "corpus" / "apks" / "droidbench__DirectLeak1.apk"
    if not apk.is_file():
        pytest.skip("shared corpus not present")
    seen = []
    original = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            report = scan_app([apk])
            seen.append(gc.isenabled())
            bad = tmp_path / "bad.apk"
            bad.write_bytes(b"not a zip")
            with pytest.raises(InputError):
                scan_app([bad])
            seen.append(gc.isenabled())
        assert report.api_calls
    finally:
        (gc.enable if original else gc.disable)()
    assert seen == [True, True, False, False]


def test_a_dex_041_container_is_read_section_by_section(tmp_path, education_apk):
    """ART loads DEX 041 from API 36: one classes*.dex holding several dexes (sections), each header where the
    previous one's file_size ends, every offset counted from the start of the file. The scan refused the file
    (`DEX version 041 is not read`): here Adjust's classes are in the second section of classes2.dex."""
    import hostile_builders as hb
    adjust = sorted(f"Lcom/adjust/sdk/C{i};" for i in range(6))
    container = hb.dex_container([["Lorg/edukit/classroom/Padding;"], adjust])
    report = scan_app([_with_second_dex(education_apk, tmp_path / "dex041.apk", container)])
    assert not report.partial, report.warnings
    adjust_found = next(s for s in report.sdks if s.id == "adjust")
    assert any(e.kind == "sdk-class" and "6 classes" in e.detail for e in adjust_found.evidence)
    names = [d["name"].rpartition("!")[2] for d in report.stats["dex"]]
    assert names == ["classes.dex", "classes2.dex", "classes2.dex[2]"]
    assert _obs(report, "device_ids.imei", Level.REACHABLE)          # classes.dex (035) read as before


def test_a_broken_dex_041_container_is_skipped_with_a_warning(tmp_path, education_apk):
    import hostile_builders as hb
    container = bytearray(hb.dex_container([["La/A;"], ["Lb/B;"]]))
    second = struct.unpack_from("<I", container, 32)[0]
    struct.pack_into("<I", container, second + 0x74, 8)              # the second header says it lies elsewhere
    report = scan_app([_with_second_dex(education_apk, tmp_path / "dex041-bad.apk", bytes(container))])
    assert report.partial and any("says it is at" in w for w in report.warnings)
    assert _obs(report, "device_ids.imei", Level.REACHABLE)


SPLIT_REQUIRED_BASE = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.splitreq">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>
  <application android:isSplitRequired="true">
    <activity android:name=".MainActivity" android:exported="true"/>
  </application>
</manifest>
"""
SPLIT_OF_IT = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.splitreq"
          split="config.en">
  <application android:hasCode="false"/>
</manifest>
"""


def test_a_base_that_needs_its_splits_scanned_alone_is_partial(tmp_path):
    """A base.apk pulled from a device without its splits: its manifest says isSplitRequired, Android refuses to
    install it alone, and a feature split's code was never read. The scan reported it complete, so an inquiry
    could contradict a claim from code it had not seen; it is partial and says why. With a split given, not."""
    from smali_builds import activity_smali, build_apk, require_tools
    require_tools()
    base = build_apk(tmp_path / "base", SPLIT_REQUIRED_BASE,
                     {"org/example/splitreq/MainActivity": activity_smali("org/example/splitreq/MainActivity", "")},
                     name="base")
    alone = scan_app([base])
    assert alone.partial and any('isSplitRequired="true"' in w and "splits not given" in w for w in alone.warnings)
    split_manifest = tmp_path / "split" / "AndroidManifest.xml"
    split_manifest.parent.mkdir()
    split_manifest.write_text(SPLIT_OF_IT)
    split = tmp_path / "split_config.en.apk"
    subprocess.run(["aapt", "package", "-f", "-M", str(split_manifest), "-I", str(FRAMEWORK_RES), "-F", str(split)],
                   check=True, capture_output=True, timeout=60)
    together = scan_app([base, split])
    assert not together.partial, together.warnings


def test_dex_041_sections_naming_one_long_string_cost_what_the_file_holds(tmp_path):
    """Sections share their file's data, so 200 sections whose string ids all point at one 64 KB string would
    each decode it (200 x 64 KB for a 90 KB file) and, pointing their tables at one another's, multiply any work.
    Decoding is shared by the file (each offset once, within one budget), and a section's tables lie in its own
    span between two headers."""
    import hostile_builders as hb
    from audit.static.dex import dex_files
    container = bytearray(hb.dex_container([["La/A;"]] * 200))
    long_string = b"\x00" + b"x" * 65536 + b"\x00"        # uleb 0 (a length no reader needs), 64 KB, NUL
    at_string = len(container)
    container += long_string
    starts = []
    at = 0
    while at < len(container) - len(long_string):
        starts.append(at)
        at += struct.unpack_from("<I", container, at + 32)[0]
    for start in starts:
        ids_off = struct.unpack_from("<I", container, start + 60)[0]
        struct.pack_into("<I", container, ids_off, at_string)   # every section's one string id -> the long string
    for start in starts:
        struct.pack_into("<I", container, start + 0x70, len(container))   # container_size
    struct.pack_into("<I", container, starts[-1] + 32, len(container) - starts[-1])
    sections = dex_files(bytes(container))
    assert len(sections) == 200
    decoded = [len(dex.string(0)) for dex in sections]
    assert decoded == [65536] * 200 and len({id(dex.string(0)) for dex in sections}) == 1   # decoded once
    # a section whose table reaches into the next section is refused
    bad = bytearray(hb.dex_container([["La/A;"], ["Lb/B;"]]))
    second = struct.unpack_from("<I", bad, 32)[0]
    struct.pack_into("<I", bad, 60, second + 0x78)                   # section 1's string_ids_off -> section 2
    with pytest.raises(InputError, match="string_ids .* lies outside the section"):
        dex_files(bytes(bad))


def test_components_whose_code_no_dex_defines_make_the_scan_partial(tmp_path):
    """A packed app (Jiagu, Bangcle, Tencent Legu ...) ships a stub Application that decrypts the real code at
    runtime: the manifest's activities and services are in no dex. The scan read the stub alone and called itself
    complete, so the inquiry took its silence for absence ("embeds SDK X": contradicted). Components that no dex
    defines now make it partial, naming them; not for an app without code, nor for a platform class named as
    the Application."""
    from smali_builds import build_apk, launcher_manifest, require_tools
    require_tools()
    stub = """.class public Lcom/stub/StubApp;
.super Landroid/app/Application;
"""
    packed = launcher_manifest("org.example.packed", application='    <service android:name=".Sync"/>\n').replace(
        "<application>", '<application android:name="com.stub.StubApp">')
    report = scan_app([build_apk(tmp_path / "packed", packed, {"com/stub/StubApp": stub}, name="packed")])
    assert report.partial
    (warning,) = [w for w in report.warnings if w.startswith("code not read")]
    assert "2 component class(es)" in warning and "org.example.packed.MainActivity" in warning
    assert "com.stub.StubApp" not in warning

    main = """.class public Lorg/example/whole/MainActivity;
.super Landroid/app/Activity;
"""
    for name, manifest in (
            ("platform", launcher_manifest("org.example.whole").replace(
                "<application>", '<application android:name="android.app.Application">')),
            ("nocode", launcher_manifest("org.example.whole", launcher=".Elsewhere").replace(
                "<application>", '<application android:hasCode="false">'))):
        whole = scan_app([build_apk(tmp_path / name, manifest, {"org/example/whole/MainActivity": main},
                                    name=name)])
        assert not [w for w in whole.warnings if w.startswith("code not read")], (name, whole.warnings)


def _class_smali(path: str, superclass: str = "java/lang/Object") -> str:
    from smali_builds import constructor_smali
    return f".class public L{path};\n.super L{superclass};\n\n{constructor_smali(superclass)}"


def test_apps_whose_logic_runs_in_a_runtime_the_scan_does_not_read_are_partial(tmp_path):
    """A .NET for Android, Unity, Godot, Qt, Kivy ... app runs its own logic from C#, IL2CPP, GDScript, C++ or
    Python, which calls any Android API by name through JNI: no call site in any dex. The scan read the runtime's
    Java side, called itself complete, and the inquiry took its silence for absence. A class of such a runtime
    (rules/libraries.yaml runtimes_not_read), or a NativeActivity in the manifest, now makes it partial, naming
    the runtime and the code not read. Look-alikes (a package that only starts with the same letters, Unity's ad
    SDK in a Java app) do not."""
    from smali_builds import build_apk, launcher_manifest, require_tools
    require_tools()
    main = "org/example/app/MainActivity"
    cases = {   # name -> (classes besides the launcher, manifest change, runtime named or None)
        "dotnet": (["mono/MonoRuntimeProvider", "mono/android/TypeManager"], {}, ".NET for Android"),
        "unity": (["com/unity3d/player/UnityPlayer"], {}, "Unity"),
        "qt6": (["org/qtproject/qt/android/QtNative"], {}, "Qt"),
        "sdl": (["org/libsdl/app/SDLActivity"], {}, "Native activities"),
        "native": ([], {"<application>": '<application android:hasCode="false">',
                        'android:name=".MainActivity"': 'android:name="android.app.NativeActivity"'},
                   "Native activities"),
        "unity-ads-only": (["com/unity3d/ads/UnityAds", "com/unity3d/services/core/Sdk"], {}, None),
        "look-alikes": (["monotonic/Clock", "com/tnsx/Runtime", "org/libsdlx/app/SDLActivity"], {}, None),
    }
    for name, (classes, change, runtime) in cases.items():
        manifest = launcher_manifest("org.example.app")
        for old, new in change.items():
            manifest = manifest.replace(old, new)
        smali = {path: _class_smali(path) for path in classes}
        smali[main] = _class_smali(main, "android/app/Activity")
        report = scan_app([build_apk(tmp_path / name, manifest, smali, name=name)])
        unread = [w for w in report.warnings if w.startswith("code not read")]
        if runtime is None:
            assert not report.partial and not unread, (name, report.warnings)
            continue
        assert report.partial, name
        (warning,) = unread
        assert warning.startswith(f"code not read: {runtime}"), (name, warning)
        marker = (classes[0] if classes else "android/app/NativeActivity").replace("/", ".")
        assert f"({marker})" in warning and "not scanned" in warning, (name, warning)


def test_dex_code_the_app_loads_itself_is_scanned(tmp_path, monkeypatch):
    """Facebook Audience Network (StatusSaver in the corpus) ships its ad code as assets/audience_network.dex and
    loads it with a DexClassLoader; plugin frameworks do the same with jars. Android never loads such a member
    itself, so the scan read the stub alone and called itself complete: Audience Network's reads of the
    Bluetooth address, the serial, the Wi-Fi SSID and the advertising ID were not there. A member holding dex code
    (a dex, or an archive holding a classes*.dex, in assets/, res/raw/ or the root), in an app whose code
    constructs a dex class loader, is now scanned after the app's own dexes. Either alone does not count: an APK
    in assets is often another app to install (ApiDemos), and Play services loads its modules with the same class
    loaders. An APK of its own, what could not be read, or was not looked into, makes the scan partial and is
    named."""
    import io
    from smali_builds import IMEI, assemble_dex, build_apk, launcher_manifest, require_tools
    require_tools()
    reads = (".method public static read(Landroid/content/Context;)V\n    .registers 3\n"
             f"{IMEI}\n.end method\n")
    plugin = assemble_dex({"com/plugin/Entry": _class_smali("com/plugin/Entry") + reads},
                          tmp_path / "plugin.dex").read_bytes()
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("classes.dex", plugin)
    loads = """.method public static load(Ljava/lang/String;Ljava/lang/ClassLoader;)V
    .registers 4
    new-instance v0, Ldalvik/system/DexClassLoader;
    const/4 v1, 0x0
    invoke-direct {v0, p0, v1, v1, p1}, Ldalvik/system/DexClassLoader;-><init>(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;Ljava/lang/ClassLoader;)V
    return-void
.end method
"""
    main = "org/example/app/MainActivity"

    def scan(name: str, members: dict[str, bytes], loader: bool):
        smali = {main: _class_smali(main, "android/app/Activity") + (loads if loader else "")}
        apk = build_apk(tmp_path / name, launcher_manifest("org.example.app"), smali, name=name)
        with zipfile.ZipFile(apk, "a") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        return scan_app([apk])

    def carried_reads(report) -> list[str]:
        return [c.caller for c in report.api_calls if c.api_id == "telephony.get_device_id"]

    for name, members in (("dex", {"assets/audience_network.dex": plugin, "assets/logo.png": b"\x89PNG...."}),
                          ("jar", {"res/raw/plugin.jar": jar.getvalue()})):
        report = scan(name, members, loader=True)
        assert not report.partial, (name, report.warnings)
        assert carried_reads(report) == ["Lcom/plugin/Entry;->read(Landroid/content/Context;)V"], name
    for name, members, loader in (("no-loader", {"assets/audience_network.dex": plugin}, False),
                                  ("no-code", {"assets/fake.dex": b"not a dex", "assets/data.zip": b"PK\x03\x04"},
                                   True),
                                  ("resources", {"res/drawable/x.dex": plugin}, True)):
        report = scan(name, members, loader)
        assert not report.partial and not carried_reads(report), name
    # an APK of its own (a manifest): installed, it is not the app's code; loaded by a plugin framework, it is.
    # Not read either way: partial, named
    companion = io.BytesIO()
    with zipfile.ZipFile(companion, "w") as archive:
        archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")
        archive.writestr("classes.dex", plugin)
    report = scan("companion", {"assets/companion.apk": companion.getvalue()}, loader=True)
    assert not carried_reads(report) and list(report.warnings) == [
        "code not read: assets/companion.apk is an app of its own (a manifest): one the app installs is not its "
        "code, one a plugin framework loads runs in it; not scanned, and the app's code constructs "
        "dalvik.system.DexClassLoader, which loads such code at runtime"]
    # carried code that does not parse as dex: partial, named
    report = scan("corrupt", {"assets/broken.dex": b"dex\n035\x00" + bytes(40)}, loader=True)
    (warning,) = report.warnings
    assert warning.startswith("code not read: ") and "assets/broken.dex" in warning, warning
    assert warning.endswith("the app's code constructs dalvik.system.DexClassLoader, which loads such code at runtime")
    # members past the cap are not looked into: with a loader, the report says how many
    import audit.static.inputs as inputs
    import audit.static.scan as scanning
    monkeypatch.setattr(inputs, "MAX_MEMBERS_PEEKED", 2)
    monkeypatch.setattr(scanning, "MAX_MEMBERS_PEEKED", 2)
    report = scan("cap", {f"assets/{n}.txt": b"text" for n in range(4)}, loader=True)
    assert list(report.warnings) == [
        "code not read: 2 members were not looked into for dex code (past the first 2 per APK, or archives over "
        "64 MiB or 10000 entries), and the app's code constructs dalvik.system.DexClassLoader, which loads such "
        "code at runtime"]
    # a nested archive's directory is read whole: one of more entries than the bound is not looked into
    monkeypatch.undo()
    crowded = io.BytesIO()
    with zipfile.ZipFile(crowded, "w") as archive:
        for n in range(inputs.MAX_NESTED_ENTRIES + 1):
            archive.writestr(f"{n}", b"")
        archive.comment = b"a comment after the end record"
    report = scan("crowded", {"assets/crowded.zip": crowded.getvalue(), "assets/plugin.jar": jar.getvalue()},
                  loader=True)
    assert carried_reads(report) and list(report.warnings) == [
        "code not read: 1 members were not looked into for dex code (past the first 20000 per APK, or archives "
        "over 64 MiB or 10000 entries), and the app's code constructs dalvik.system.DexClassLoader, which loads "
        "such code at runtime"]
