"""AndroidManifest.xml parsing (binary AXML built by the real aapt) and rules/permissions.yaml."""
from __future__ import annotations

import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.rulesdata import datatypes, load_yaml, rules_dir
from audit.static.manifest import parse_manifest, permission_rules, permissions_of, qualify, resolve_label

FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")

PERMS_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.perms"
    android:versionCode="5" android:versionName="0.5">
  <uses-sdk android:minSdkVersion="16" android:targetSdkVersion="30"/>
  <uses-permission android:name="android.permission.READ_PHONE_STATE" android:maxSdkVersion="28"/>
  <uses-permission-sdk-23 android:name="android.permission.READ_CONTACTS"/>
  <uses-permission android:name="org.example.perms.OWN"/>
  <uses-permission android:name="com.vendor.SOMETHING"/>
  <uses-permission android:name="android.permission.INTERNET"/>
  <permission android:name="org.example.perms.OWN" android:protectionLevel="signature"/>
  <application android:label="Perms" android:name=".App">
    <meta-data android:name="com.vendor.API_KEY" android:value="secret-value-123"/>
    <activity android:name="Main">
      <intent-filter><action android:name="android.intent.action.MAIN"/></intent-filter>
    </activity>
    <activity android:name="org.other.Plain"/>
    <activity-alias android:name=".Alias" android:targetActivity=".Main" android:exported="true"/>
    <service android:name=".Svc" android:exported="true"/>
    <receiver android:name=".Rcv" android:exported="false">
      <intent-filter><action android:name="x.y"/></intent-filter>
    </receiver>
    <provider android:name=".Prov" android:authorities="org.example.perms.p"/>
  </application>
</manifest>
"""


def aapt_manifest(tmp_path: Path, text: str) -> bytes:
    """Compile a manifest with the real aapt into binary AXML."""
    if not shutil.which("aapt") or not FRAMEWORK_RES.exists():
        pytest.skip("aapt / android-framework-res not installed (make deb)")
    source = tmp_path / "AndroidManifest.xml"
    source.write_text(text)
    out = tmp_path / "out.apk"
    subprocess.run(["aapt", "package", "-f", "-M", str(source), "-I", str(FRAMEWORK_RES), "-F", str(out)],
                   check=True, capture_output=True, timeout=60)
    with zipfile.ZipFile(out) as z:
        return z.read("AndroidManifest.xml")


def _manifest_of(apk: Path) -> tuple[bytes, bytes | None]:
    with zipfile.ZipFile(apk) as z:
        names = z.namelist()
        return z.read("AndroidManifest.xml"), z.read("resources.arsc") if "resources.arsc" in names else None


def test_binary_manifest_fields_permissions_and_components(tmp_path):
    manifest = parse_manifest(aapt_manifest(tmp_path, PERMS_MANIFEST), "perms.apk")
    assert (manifest.package, manifest.version_code, manifest.version_name) == ("org.example.perms", "5", "0.5")
    assert (manifest.min_sdk, manifest.target_sdk, manifest.label, manifest.split) == (16, 30, "Perms", None)
    requested = {p.name: p for p in manifest.requested}
    assert requested["android.permission.READ_PHONE_STATE"].max_sdk == 28
    assert requested["android.permission.READ_CONTACTS"].min_sdk_23
    assert manifest.meta_data == ("com.vendor.API_KEY",)
    components = {(c.kind, c.name): c.exported for c in manifest.components}
    assert components == {
        ("application", "org.example.perms.App"): None,
        ("activity", "org.example.perms.Main"): True,        # intent filter, no explicit attribute
        ("activity", "org.other.Plain"): False,
        ("service", "org.example.perms.Svc"): True,
        ("receiver", "org.example.perms.Rcv"): False,         # explicit false beats the intent filter
        ("provider", "org.example.perms.Prov"): False,        # target 30: providers default to private
    }
    by_name = {p.name: p for p in permissions_of(manifest)}
    assert by_name["android.permission.READ_PHONE_STATE"].protection_level == "dangerous"
    assert by_name["android.permission.READ_PHONE_STATE"].max_sdk == 28
    assert by_name["android.permission.INTERNET"].protection_level == "normal"
    assert by_name["org.example.perms.OWN"].protection_level == "custom"
    assert by_name["com.vendor.SOMETHING"].protection_level == "unknown"


def test_a_platform_permission_without_a_privacy_role_has_its_platform_level(tmp_path):
    """Every permission AOSP defines has its level, not only those the table lists for what they unlock: an app
    that requests one (a game's WRITE_USER_DICTIONARY, a tool's WRITE_SECURE_SETTINGS) shows whether Android
    grants it at install or never grants it to an ordinary app."""
    text = PERMS_MANIFEST.replace(
        '<uses-permission android:name="android.permission.INTERNET"/>',
        '<uses-permission android:name="android.permission.WRITE_USER_DICTIONARY"/>'
        '<uses-permission android:name="android.permission.WRITE_SECURE_SETTINGS"/>'
        '<uses-permission android:name="android.permission.INSTALL_PACKAGES"/>')
    by_name = {p.name: p for p in permissions_of(parse_manifest(aapt_manifest(tmp_path, text), "perms.apk"))}
    assert by_name["android.permission.WRITE_USER_DICTIONARY"].protection_level == "normal"
    assert by_name["android.permission.WRITE_SECURE_SETTINGS"].protection_level == "signatureOrSystem"
    assert by_name["android.permission.INSTALL_PACKAGES"].protection_level == "signatureOrSystem"
    assert all(by_name[n].data_types == () for n in by_name if "SETTINGS" in n or "DICTIONARY" in n)
    assert by_name["com.vendor.SOMETHING"].protection_level == "unknown"     # nobody's: still unknown


OLD_TARGET = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.old" %s>
  %s
  <uses-permission android:name="android.permission.INTERNET"/>
  <application android:label="Old"/>
</manifest>
"""


@pytest.mark.parametrize("uses_sdk, implied", [
    ('<uses-sdk android:minSdkVersion="3"/>', True),                                   # target = min = 3
    ('<uses-sdk android:minSdkVersion="3" android:targetSdkVersion="3"/>', True),
    ("", True),                                                                         # no <uses-sdk>: API 1
    ('<uses-sdk android:minSdkVersion="3" android:targetSdkVersion="4"/>', False),
    ('<uses-sdk android:minSdkVersion="14"/>', False),
])
def test_an_app_targeting_api_3_or_lower_is_given_phone_state_and_storage(tmp_path, uses_sdk, implied):
    """PackageParser NEW_PERMISSIONS: API 4 put READ_PHONE_STATE and WRITE_EXTERNAL_STORAGE behind permissions,
    and requests them for every app targeting an older API: such an app reads the IMEI (until API 28) without
    asking for it in its manifest."""
    from audit.static.feasibility import AppLevels, judge
    from audit.static.apis import load_apis
    manifest = parse_manifest(aapt_manifest(tmp_path, OLD_TARGET % ("", uses_sdk)), "old.apk")
    requested = {p.name: p for p in manifest.requested}
    implicit = {n for n, p in requested.items() if p.implicit}
    assert implicit == ({"android.permission.READ_PHONE_STATE", "android.permission.WRITE_EXTERNAL_STORAGE"}
                        if implied else set())
    assert not requested["android.permission.INTERNET"].implicit
    reported = {p.name: p for p in permissions_of(manifest)}
    assert ("android.permission.READ_PHONE_STATE" in reported) == implied
    if implied:
        assert reported["android.permission.READ_PHONE_STATE"].to_json()["implicit"] is True
        device_id = next(r for r in load_apis() if r.id == "telephony.get_device_id")
        _type, verdict = judge(device_id, AppLevels.of(manifest))
        # not "blocked: missing READ_PHONE_STATE" (how a target below 23 is granted is the verdict's business)
        assert verdict.status in ("granted", "runtime-permission") and verdict.api_levels.endswith("-28"), verdict
        assert verdict.permissions == ("android.permission.READ_PHONE_STATE",)
    assert "implicit" not in reported["android.permission.INTERNET"].to_json()


def test_a_split_names_no_sdk_and_is_given_no_permission(tmp_path):
    """A configuration or feature split carries no <uses-sdk>: the base's target decides, not API 1."""
    manifest = parse_manifest(aapt_manifest(tmp_path, OLD_TARGET % ('split="config.en"', "")), "split.apk")
    assert manifest.split == "config.en"
    assert not any(p.implicit for p in manifest.requested)


def test_meta_data_values_never_leave_the_manifest_parser(tmp_path):
    manifest = parse_manifest(aapt_manifest(tmp_path, PERMS_MANIFEST), "perms.apk")
    assert "secret-value-123" not in repr(manifest)


def test_education_fixture_manifest(education_apk):
    data, arsc = _manifest_of(education_apk)
    manifest = parse_manifest(data, str(education_apk))
    assert manifest.package == "org.edukit.classroom"
    assert (manifest.version_name, manifest.version_code, manifest.min_sdk, manifest.target_sdk) == \
        ("3.1.0", "310", 21, 33)
    assert resolve_label(manifest.label, arsc) == "EduKit Classroom"
    assert len(manifest.requested) == 11
    assert manifest.meta_data == ("firebase_analytics_collection_enabled",)
    exported = {c.name.rsplit(".", 1)[1]: c.exported for c in manifest.components if c.kind == "activity"}
    assert exported == {"MainActivity": True, "LiveLessonActivity": False}
    assert manifest.application_class == "org.edukit.classroom.EduApplication"
    perms = {p.name.rsplit(".", 1)[1]: p for p in permissions_of(manifest)}
    assert perms["AD_ID"].protection_level == "normal"
    assert perms["AD_ID"].data_types == ("device_ids.advertising_id",)
    assert perms["CAMERA"].data_types == ("photos_videos.camera",)


def test_split_manifest_names_its_split(split_set):
    names = [parse_manifest(_manifest_of(p)[0], str(p)).split for p in split_set]
    assert names == [None, "feature_maps", "config.en"]


def test_permission_table_maps_the_platform_permissions_that_matter():
    rules = permission_rules()
    expected = {
        "android.permission.READ_PHONE_STATE": {"device_ids.imei", "device_ids.imsi", "device_ids.sim_serial",
                                                "personal_info.phone_number"},
        "android.permission.ACCESS_FINE_LOCATION": {"location.precise"},
        "android.permission.ACCESS_COARSE_LOCATION": {"location.approximate"},
        "android.permission.READ_CONTACTS": {"contacts"},
        "android.permission.READ_CALL_LOG": {"call_logs"},
        "android.permission.CAMERA": {"photos_videos.camera"},
        "android.permission.RECORD_AUDIO": {"audio"},
        "android.permission.GET_ACCOUNTS": {"personal_info.accounts"},
        "android.permission.READ_SMS": {"sms"},
        "android.permission.READ_CALENDAR": {"calendar"},
        "android.permission.ACCESS_WIFI_STATE": {"network.wifi_ssid"},
        "android.permission.QUERY_ALL_PACKAGES": {"app_activity.installed_apps"},
        "com.google.android.gms.permission.AD_ID": {"device_ids.advertising_id"},
        "android.permission.BLUETOOTH_CONNECT": {"device_ids.device_name"},
    }
    for name, types in expected.items():
        assert types <= set(rules[name].data_types), name
    assert rules["com.google.android.gms.permission.AD_ID"].protection == "normal"
    assert rules["android.permission.READ_PHONE_STATE"].observe           # dangerous: observed by default
    assert rules["com.google.android.gms.permission.AD_ID"].observe       # normal, but explicitly observed
    assert not rules["android.permission.ACCESS_NETWORK_STATE"].observe
    assert not rules["android.permission.SEND_SMS"].observe               # dangerous, but collects nothing
    known = datatypes()
    assert all(t in known for rule in rules.values() for t in rule.data_types)
    assert len(rules) >= 80


def test_permission_table_errors_name_file_line_and_field(tmp_path, monkeypatch):
    bad = tmp_path / "rules"
    shutil.copytree(rules_dir(), bad)
    text = (bad / "permissions.yaml").read_text()
    (bad / "permissions.yaml").write_text(text.replace("data_types: [contacts]", "data_types: [contactz]", 1))
    monkeypatch.setenv("APPAUDIT_RULES", str(bad))
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "data_types: [contacts]" in l)
    with pytest.raises(InputError, match=rf"permissions.yaml:{line}: data_types: unknown data type 'contactz'"):
        permission_rules()
    assert load_yaml(rules_dir() / "permissions.yaml")


def test_qualified_component_names():
    assert qualify(".Main", "a.b") == "a.b.Main"
    assert qualify("Main", "a.b") == "a.b.Main"
    assert qualify("x.y.Main", "a.b") == "x.y.Main"


@pytest.mark.parametrize("data", [b"", b"\x03\x00\x08\x00" + bytes(range(256)) * 2, b"<manifest><oops",
                                  b"<manifest/>", b"\x00" * 64])
def test_malformed_manifests_are_input_errors(data):
    with pytest.raises(InputError, match="malformed manifest in broken.apk") as caught:
        parse_manifest(data, "broken.apk")
    assert "\n" not in str(caught.value)


def test_mutated_manifests_parse_or_fail_with_one_input_error(education_apk):
    """Any corruption of real AXML ends in a parsed manifest or an InputError, never another exception."""
    data, _ = _manifest_of(education_apk)
    rng = random.Random(7)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if rng.random() < 0.2:
            mutated = mutated[: rng.randrange(len(mutated))]
        try:
            parse_manifest(bytes(mutated), "mutant.apk")
            outcomes["ok"] += 1
        except InputError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and outcomes["ok"] > 0


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS_APKS = sorted((SHARED / "corpus" / "apks").glob("*.apk")) if (SHARED / "corpus" / "apks").is_dir() else []


@pytest.mark.skipif(not CORPUS_APKS, reason="shared corpus not present")
def test_label_lookup_agrees_with_androguards_full_resource_parser():
    """Our one-entry resources.arsc walk against androguard's full ARSCParser on every corpus APK whose label is
    a resource reference (a literal label is returned as it is)."""
    from androguard.core.axml import ARSCParser, ARSCResTableConfig
    references = 0
    for apk in CORPUS_APKS:
        data, arsc = _manifest_of(apk)
        label = parse_manifest(data, apk.name).label
        if not label or not label.startswith("@"):     # no label, or a literal one
            assert label is None or resolve_label(label, arsc) == label, apk.name
            continue
        references += 1
        values = ARSCParser(arsc).get_resolved_res_configs(int(label[1:], 16),
                                                            ARSCResTableConfig.default_config())
        assert resolve_label(label, arsc) == values[0][1], apk.name
    assert references >= len(CORPUS_APKS) // 2


def test_label_lookup_survives_corrupt_resource_tables(education_apk):
    data, arsc = _manifest_of(education_apk)
    label = parse_manifest(data, "edu").label
    rng = random.Random(3)
    for _ in range(300):
        mutated = bytearray(arsc)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        result = resolve_label(label, bytes(mutated[: rng.randrange(8, len(mutated) + 1)]))
        assert result is None or isinstance(result, str)
    assert resolve_label("@zz", arsc) is None and resolve_label("Plain", None) == "Plain"


NEVER_FOR_LOCATION = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.ble">
  <uses-sdk android:minSdkVersion="31" android:targetSdkVersion="34"/>
  <uses-permission android:name="android.permission.BLUETOOTH_SCAN" android:usesPermissionFlags="neverForLocation"/>
  <uses-permission android:name="android.permission.NEARBY_WIFI_DEVICES" android:usesPermissionFlags="neverForLocation"/>
  <application/>
</manifest>
"""


def test_bluetooth_scan_declared_never_for_location_unlocks_no_location():
    """usesPermissionFlags="neverForLocation": the app asserts it derives no location from the scan and Android
    filters beacons out; a declared-permission observation of location.approximate would be a false claim."""
    from audit.static.manifest import parse_manifest, permissions_of
    from audit.static.scan import _permission_observations
    manifest = parse_manifest(NEVER_FOR_LOCATION.encode(), "AndroidManifest.xml")
    scan = {r.name: r for r in manifest.requested}
    assert scan["android.permission.BLUETOOTH_SCAN"].never_for_location
    unlocked = {p.name: p.data_types for p in permissions_of(manifest)}
    assert unlocked["android.permission.BLUETOOTH_SCAN"] == ()
    assert unlocked["android.permission.NEARBY_WIFI_DEVICES"] == ("network.wifi_ssid",)   # SSIDs all the same
    assert "location.approximate" not in {o.data_type for o in _permission_observations(manifest)}
    plain = parse_manifest(NEVER_FOR_LOCATION.replace(' android:usesPermissionFlags="neverForLocation"', "")
                           .encode(), "AndroidManifest.xml")
    assert "location.approximate" in {o.data_type for o in _permission_observations(plain)}


def test_never_for_location_is_read_from_binary_xml_by_its_resource_id():
    """Compiled (aapt2, API 31+), the flag is an int (0x10000) on the attribute whose resource id is 0x01010644
    (public-final.xml): read by id, as the platform does, even under a scrambled name string."""
    from audit.static import axml
    from audit.static.manifest import parse_manifest
    from test_axml import A, Doc, NAME, S
    flags = 0x01010644
    assert axml.ANDROID_ATTRIBUTES_SINCE_30[flags] == "usesPermissionFlags"

    def manifest(value_type, value, name="usesPermissionFlags"):
        doc = Doc(("manifest", [(None, "package", 0, S, "org.example.ble")],
                   [("uses-permission", [(A, "name", NAME, S, "android.permission.BLUETOOTH_SCAN"),
                                         (A, name, flags, value_type, value)], []),
                    ("application", [], [])]))
        # (no <uses-sdk>: API 1, so READ_PHONE_STATE and WRITE_EXTERNAL_STORAGE are requested implicitly too)
        (request,) = [r for r in parse_manifest(doc.bytes(), "ble").requested if not r.implicit]
        return request

    assert manifest(axml.TYPE_INT_HEX, 0x10000).never_for_location
    assert manifest(axml.TYPE_INT_HEX, 0x10000, name="zzz").never_for_location
    assert not manifest(axml.TYPE_INT_HEX, 0x0).never_for_location
