"""The fixture apps: each builds, is signed with the test key, is byte-reproducible, and real tools (androguard,
apksigner, dexdump) see in it exactly what tests/fixtures/README.md promises."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from androguard.core.analysis.analysis import Analysis
from androguard.core.apk import APK
from androguard.core.dex import DEX

FIXTURE_BUILD_PATH = Path(__file__).resolve().parent / "fixtures" / "build.py"

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"

EDUCATION_PERMISSIONS = {
    "android.permission.INTERNET", "android.permission.ACCESS_FINE_LOCATION",
    "android.permission.ACCESS_COARSE_LOCATION", "android.permission.READ_PHONE_STATE",
    "android.permission.READ_CONTACTS", "android.permission.READ_CALL_LOG", "android.permission.ACCESS_WIFI_STATE",
    "android.permission.CAMERA", "android.permission.RECORD_AUDIO", "android.permission.GET_ACCOUNTS",
    "com.google.android.gms.permission.AD_ID",
}
EDUCATION_CLASSES = {
    *(f"Lorg/edukit/classroom/{name};" for name in (
        "EduApplication", "MainActivity", "LiveLessonActivity", "DeviceInfo", "LocationHelper", "ContactsImporter",
        "CallHistory", "AdsHelper", "CompatImei", "Telemetry", "Legacy")),
    "Lcom/amplitude/api/AmplitudeClient;", "Lcom/amplitude/api/DeviceInfo;",
    "Lcom/google/firebase/analytics/FirebaseAnalytics;",
    "Lcom/google/android/gms/ads/identifier/AdvertisingIdClient;",
    "Lcom/google/android/gms/ads/identifier/AdvertisingIdClient$Info;",
    "Landroidx/core/telephony/TelephonyManagerCompat;",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def analyse(apk_path: Path) -> tuple[APK, Analysis]:
    apk = APK(str(apk_path))
    analysis = Analysis()
    for dex_bytes in apk.get_all_dex():
        analysis.add(DEX(dex_bytes))
    analysis.create_xref()
    return apk, analysis


def callers(analysis: Analysis, class_name: str, method_name: str) -> set[str]:
    """'Lpkg/Cls;->method' of every method calling class_name->method_name (any overload)."""
    methods = list(analysis.find_methods(classname=re.escape(class_name), methodname=f"^{re.escape(method_name)}$"))
    assert methods, f"{class_name}->{method_name} is neither defined nor called"
    found = set()
    for method in methods:
        for _, caller, _ in method.get_xref_from():
            found.add(f"{caller.class_name}->{caller.name}")
    return found


def strings_of(analysis: Analysis, class_name: str, method_name: str) -> set[str]:
    method = next(iter(analysis.find_methods(classname=re.escape(class_name), methodname=f"^{method_name}$")))
    return {ins.get_raw_string() for ins in method.get_method().get_instructions()
            if ins.get_name().startswith("const-string")}


def all_apks(fixture_builder) -> dict[str, Path]:
    split = fixture_builder.build("split")
    return {"education": fixture_builder.build("education"), "clean": fixture_builder.build("clean"),
            **{path.name: path for path in split}}


def keystore_certificate_sha256(fixture_builder) -> str:
    listing = subprocess.run(
        ["keytool", "-list", "-v", "-keystore", str(fixture_builder.KEYSTORE), "-storepass",
         fixture_builder.KEY_PASSWORD, "-alias", fixture_builder.KEY_ALIAS],
        capture_output=True, text=True, check=True).stdout
    return re.search(r"SHA256:\s*([0-9A-F:]+)", listing).group(1).replace(":", "").lower()


# ---------------------------------------------------------------- signing and reproducibility

def test_every_apk_verifies_with_apksigner_and_is_signed_by_the_fixture_key(fixture_builder):
    expected = keystore_certificate_sha256(fixture_builder)
    for label, apk in all_apks(fixture_builder).items():
        result = subprocess.run(["apksigner", "verify", "-v", "--print-certs", str(apk)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{label}: {result.stderr}"
        for scheme in ("v1", "v2", "v3"):
            assert re.search(rf"Verified using {scheme} scheme.*: true", result.stdout), (label, scheme)
        digests = re.findall(r"certificate SHA-256 digest: ([0-9a-f]+)", result.stdout)
        assert digests == [expected], label
        assert subprocess.run(["zipalign", "-c", "-p", "4", str(apk)], capture_output=True).returncode == 0, label


def test_builds_are_byte_reproducible_and_cached(fixture_builder, tmp_path, monkeypatch):
    digests = []
    for run in ("first", "second"):
        monkeypatch.setenv("APPAUDIT_FIXTURE_CACHE", str(tmp_path / f"cache-{run}"))
        built = {}
        for name in fixture_builder.FIXTURES:
            result = fixture_builder.build(name, out_dir=tmp_path / f"out-{run}")
            for path in result if isinstance(result, list) else [result]:
                built[path.name] = sha256(path)
        digests.append(built)
    assert digests[0] == digests[1]
    assert len(digests[0]) == 8  # 2 single APKs + 3 splits + 3 bundles
    # Built independently, the default-cache fixtures used by every other test carry the same bytes.
    monkeypatch.delenv("APPAUDIT_FIXTURE_CACHE")
    for label, apk in all_apks(fixture_builder).items():
        name = apk.name
        assert sha256(apk) == digests[0][name], label
    # A second request is a cache hit: same file, untouched.
    monkeypatch.setenv("APPAUDIT_FIXTURE_CACHE", str(tmp_path / "cache-first"))
    cached = fixture_builder.build("education")
    before = cached.stat().st_mtime_ns
    assert fixture_builder.build("education") == cached and cached.stat().st_mtime_ns == before
    assert not [p for p in (tmp_path / "cache-first").iterdir() if p.name.startswith(".")], "temp dirs left"


def test_changing_a_source_changes_the_cache_key(fixture_builder, tmp_path, monkeypatch):
    monkeypatch.setattr(fixture_builder, "APPS_DIR", tmp_path / "apps")
    source = Path(FIXTURE_BUILD_PATH).parent / "apps" / "calculator"
    shutil.copytree(source, tmp_path / "apps" / "calculator")
    before = fixture_builder.source_hash("clean")
    smali = tmp_path / "apps" / "calculator" / "smali" / "org" / "edukit" / "calculator" / "Calculator.smali"
    smali.write_text(smali.read_text().replace("add-int v0, p0, p1", "sub-int v0, p0, p1"))
    assert fixture_builder.source_hash("clean") != before


def test_concurrent_builders_share_one_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    env = {"APPAUDIT_FIXTURE_CACHE": str(cache), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    processes = [subprocess.Popen([sys.executable, str(FIXTURE_BUILD_PATH), "clean"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    assert [p.name for p in cache.iterdir()] == [Path(outputs[0][0].strip()).parent.name]


def test_cli_rejects_an_unknown_fixture_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(FIXTURE_BUILD_PATH), "no-such-app", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("build.py: error: unknown fixture 'no-such-app'")
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- what real tools see

def test_education_app_manifest(education_apk):
    apk = APK(str(education_apk))
    assert apk.get_package() == "org.edukit.classroom"
    assert (apk.get_androidversion_name(), apk.get_androidversion_code()) == ("3.1.0", "310")
    assert (apk.get_min_sdk_version(), apk.get_target_sdk_version()) == ("21", "33")
    assert set(apk.get_permissions()) == EDUCATION_PERMISSIONS
    assert apk.get_attribute_value("application", "name") == "org.edukit.classroom.EduApplication"
    assert apk.get_main_activity() == "org.edukit.classroom.MainActivity"
    assert set(apk.get_activities()) == {"org.edukit.classroom.MainActivity",
                                         "org.edukit.classroom.LiveLessonActivity"}
    meta = {m.get(ANDROID_NS + "name"): m.get(ANDROID_NS + "value")
            for m in apk.get_android_manifest_xml().iter("meta-data")}
    assert meta == {"firebase_analytics_collection_enabled": "true"}
    assert apk.get_app_name() == "EduKit Classroom"


def test_education_app_code_matches_the_readme(education_apk):
    apk, dx = analyse(education_apk)
    assert list(apk.get_dex_names()) == ["classes.dex"]
    assert {c.name for c in dx.get_classes() if not c.is_external()} == EDUCATION_CLASSES
    tm = "Landroid/telephony/TelephonyManager;"
    assert callers(dx, tm, "getDeviceId") == {"Lorg/edukit/classroom/DeviceInfo;->collect"}
    assert callers(dx, tm, "getLine1Number") == {"Lorg/edukit/classroom/DeviceInfo;->collect"}
    assert callers(dx, tm, "getImei") == {"Landroidx/core/telephony/TelephonyManagerCompat;->getImei"}
    assert callers(dx, "Landroidx/core/telephony/TelephonyManagerCompat;", "getImei") == {
        "Lorg/edukit/classroom/CompatImei;->read"}
    assert callers(dx, tm, "getSimSerialNumber") == {"Lorg/edukit/classroom/Legacy;->readSimSerial"}
    assert callers(dx, "Lorg/edukit/classroom/Legacy;", "readSimSerial") == set()  # present, not reachable
    assert callers(dx, tm, "getNetworkOperatorName") == {"Lcom/amplitude/api/DeviceInfo;->getCarrier"}
    assert callers(dx, "Landroid/provider/Settings$Secure;", "getString") == {
        "Lorg/edukit/classroom/DeviceInfo;->collect", "Lorg/edukit/classroom/DeviceInfo;->deviceName",
        "Lcom/amplitude/api/AmplitudeClient;->initialize"}
    assert "android_id" in strings_of(dx, "Lorg/edukit/classroom/DeviceInfo;", "collect")
    assert strings_of(dx, "Lorg/edukit/classroom/DeviceInfo;", "deviceName") == {"bluetooth_name"}
    assert callers(dx, "Landroid/location/LocationManager;", "getLastKnownLocation") == {
        "Lorg/edukit/classroom/LocationHelper;->lastKnown", "Lcom/amplitude/api/AmplitudeClient;->initialize"}
    assert callers(dx, "Landroid/net/wifi/WifiInfo;", "getSSID") == {"Lorg/edukit/classroom/DeviceInfo;->collect"}
    assert callers(dx, "Landroid/accounts/AccountManager;", "getAccounts") == {
        "Lorg/edukit/classroom/DeviceInfo;->collect"}
    assert callers(dx, "Landroid/hardware/Camera;", "open") == {"Lorg/edukit/classroom/LiveLessonActivity;->onCreate"}
    assert callers(dx, "Landroid/media/AudioRecord;", "startRecording") == {
        "Lorg/edukit/classroom/LiveLessonActivity;->onCreate"}
    assert callers(dx, "Landroid/content/ContentResolver;", "query") == {
        "Lorg/edukit/classroom/ContactsImporter;->load", "Lorg/edukit/classroom/CallHistory;->recent"}
    assert "content://call_log/calls" in strings_of(dx, "Lorg/edukit/classroom/CallHistory;", "recent")
    contacts_code = [ins.get_output() for ins in next(iter(dx.find_methods(
        classname=re.escape("Lorg/edukit/classroom/ContactsImporter;"), methodname="^load$")))
        .get_method().get_instructions() if ins.get_name() == "sget-object"]
    assert any("Landroid/provider/ContactsContract$Contacts;->CONTENT_URI" in out for out in contacts_code)
    assert callers(dx, "Lcom/google/android/gms/ads/identifier/AdvertisingIdClient$Info;", "getId") == {
        "Lorg/edukit/classroom/AdsHelper;->adId", "Lcom/amplitude/api/AmplitudeClient;->initialize"}
    assert callers(dx, "Lcom/amplitude/api/AmplitudeClient;", "initialize") == {
        "Lorg/edukit/classroom/EduApplication;->onCreate"}
    assert callers(dx, "Lcom/google/firebase/analytics/FirebaseAnalytics;", "getInstance") == {
        "Lorg/edukit/classroom/EduApplication;->onCreate"}
    assert strings_of(dx, "Lorg/edukit/classroom/Telemetry;", "send") >= {"https://api.edukit.org/v1/telemetry"}
    assert "https://api2.amplitude.com/2/httpapi" in strings_of(dx, "Lcom/amplitude/api/AmplitudeClient;",
                                                               "uploadEvents")
    assert "app-measurement.com" in strings_of(dx, "Lcom/google/firebase/analytics/FirebaseAnalytics;", "logEvent")
    main_calls = {f"{callee.class_name}->{callee.name}" for _, callee, _ in next(iter(dx.find_methods(
        classname=re.escape("Lorg/edukit/classroom/MainActivity;"), methodname="^onCreate$"))).get_xref_to()}
    assert {f"Lorg/edukit/classroom/{call}" for call in (
        "DeviceInfo;->collect", "DeviceInfo;->deviceName", "LocationHelper;->lastKnown", "ContactsImporter;->load",
        "CallHistory;->recent", "AdsHelper;->adId", "CompatImei;->read", "Telemetry;->send")} <= main_calls


def test_clean_app_has_no_permissions_and_touches_nothing_sensitive(clean_apk):
    apk, dx = analyse(clean_apk)
    assert apk.get_package() == "org.edukit.calculator"
    assert apk.get_permissions() == []
    assert list(apk.get_android_manifest_xml().iter("meta-data")) == []
    assert {c.name for c in dx.get_classes() if not c.is_external()} == {
        "Lorg/edukit/calculator/MainActivity;", "Lorg/edukit/calculator/Calculator;"}
    external = {c.name for c in dx.get_classes() if c.is_external()}
    assert external <= {"Landroid/app/Activity;", "Landroid/os/Bundle;", "Ljava/lang/String;",
                        "Ljava/lang/CharSequence;", "Ljava/lang/Object;"}, external
    assert not [s for s in dx.get_strings() if "://" in s.get_value()]


def manifest_attr(apk: APK, attribute: str) -> str | None:
    return apk.get_android_manifest_xml().get(attribute)


def test_split_set_base_feature_and_config(split_set):
    base_path, feature_path, config_path = split_set
    assert [p.name for p in split_set] == ["base.apk", "split_feature_maps.apk", "split_config.en.apk"]
    base, dx = analyse(base_path)
    assert base.get_package() == "org.edukit.quiz" and manifest_attr(base, "split") is None
    assert list(base.get_dex_names()) == ["classes.dex", "classes2.dex"]
    second_dex = DEX(zipfile.ZipFile(base_path).read("classes2.dex"))
    assert second_dex.get_classes_names() == ["Lorg/edukit/quiz/device/DeviceTag;"]
    assert callers(dx, "Landroid/telephony/TelephonyManager;", "getDeviceId") == {
        "Lorg/edukit/quiz/device/DeviceTag;->read"}
    assert callers(dx, "Lorg/edukit/quiz/device/DeviceTag;", "read") == {"Lorg/edukit/quiz/QuizActivity;->onCreate"}
    assert base.get_main_activity() == "org.edukit.quiz.QuizActivity"
    assert set(base.get_permissions()) == {"android.permission.INTERNET", "android.permission.READ_PHONE_STATE",
                                           "android.permission.ACCESS_FINE_LOCATION"}

    feature, feature_dx = analyse(feature_path)
    assert feature.get_package() == "org.edukit.quiz"
    assert manifest_attr(feature, "split") == "feature_maps"
    assert manifest_attr(feature, ANDROID_NS + "isFeatureSplit") == "true"
    assert list(feature.get_dex_names()) == ["classes.dex"]
    assert {c.name for c in feature_dx.get_classes() if not c.is_external()} == {"Lorg/edukit/quiz/maps/MapsActivity;"}
    assert callers(feature_dx, "Landroid/location/LocationManager;", "getLastKnownLocation") == {
        "Lorg/edukit/quiz/maps/MapsActivity;->onCreate"}

    config = APK(str(config_path))
    assert config.get_package() == "org.edukit.quiz"
    assert manifest_attr(config, "split") == "config.en"
    assert list(config.get_dex_names()) == [] and "resources.arsc" in config.get_files()


def test_dexdump_agrees_with_androguard_on_every_dex(fixture_builder, tmp_path):
    for label, apk_path in all_apks(fixture_builder).items():
        apk = APK(str(apk_path))
        for dex_name in apk.get_dex_names():
            dex_bytes = zipfile.ZipFile(apk_path).read(dex_name)
            dex_file = tmp_path / f"{label}-{dex_name}"
            dex_file.write_bytes(dex_bytes)
            verified = subprocess.run(["dexdump", "-c", str(dex_file)], capture_output=True, text=True)
            assert verified.returncode == 0 and "Checksum verified" in verified.stdout, (label, verified.stderr)
            dump = subprocess.run(["dexdump", str(dex_file)], capture_output=True, text=True)
            assert dump.returncode == 0, (label, dump.stderr)
            listed = set(re.findall(r"Class descriptor\s*:\s*'([^']+)'", dump.stdout))
            assert listed == set(DEX(dex_bytes).get_classes_names()), (label, dex_name)


def test_bundles_hold_the_split_set_in_their_formats(split_set, xapk, apks_bundle, apkm_bundle):
    split_bytes = {p.name: p.read_bytes() for p in split_set}

    with zipfile.ZipFile(xapk) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert manifest["package_name"] == "org.edukit.quiz" and manifest["xapk_version"] == 2
        files = {entry["id"]: entry["file"] for entry in manifest["split_apks"]}
        assert files == {"base": "org.edukit.quiz.apk", "feature_maps": "feature_maps.apk",
                         "config.en": "config.en.apk"}
        assert set(bundle.namelist()) == {"manifest.json", *files.values()}
        assert bundle.read(files["base"]) == split_bytes["base.apk"]
        assert bundle.read(files["feature_maps"]) == split_bytes["split_feature_maps.apk"]
        assert bundle.read(files["config.en"]) == split_bytes["split_config.en.apk"]

    with zipfile.ZipFile(apks_bundle) as bundle:
        assert bundle.namelist() == ["toc.pb", "splits/base-master.apk", "splits/base-en.apk",
                                     "splits/feature_maps-master.apk"]
        assert bundle.read("splits/base-master.apk") == split_bytes["base.apk"]
        assert bundle.read("splits/base-en.apk") == split_bytes["split_config.en.apk"]
        assert bundle.read("splits/feature_maps-master.apk") == split_bytes["split_feature_maps.apk"]

    with zipfile.ZipFile(apkm_bundle) as bundle:
        info = json.loads(bundle.read("info.json"))
        assert (info["pname"], info["versioncode"], info["release_version"]) == ("org.edukit.quiz", "12", "1.2")
        assert bundle.namelist() == ["info.json", "base.apk", "split_feature_maps.apk", "split_config.en.apk"]
        for name, data in split_bytes.items():
            assert bundle.read(name) == data
        embedded_base = APK(bundle.read("base.apk"), raw=True)
        assert embedded_base.get_package() == "org.edukit.quiz"


def test_corpus_fixture_points_at_real_apks(corpus_dir):
    apks = sorted(corpus_dir.glob("*.apk"))
    assert len(apks) >= 10
    assert zipfile.is_zipfile(apks[0])
