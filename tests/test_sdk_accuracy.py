"""SDK detection from code only: precision and recall on every corpus file against TRUTH.json (bench/sdk_accuracy.py
scores it, beside an exodus-style scan), the rules that make a detection, and the catalogue's cover of the Exodus
tracker list."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from smali_builds import build_apk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.catalogue import Catalogue, Library, Sdk, load_catalogue
from audit.rules.declarations import Declarations
from audit.rules.engine import evaluate
from audit.static.report import Component
from audit.static.scan import scan_app, scan_sdks
from audit.static.sdkdetect import MIN_CLASSES, find_sdks

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
EXODUS = SHARED / "signatures" / "exodus-trackers.json"
SMALI_JAR = Path("/usr/share/java/smali.jar")
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")


def _bench():
    spec = importlib.util.spec_from_file_location("sdk_accuracy_bench", REPO / "bench" / "sdk_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- the corpus: a property over every file ------------------------------------------------------------
@pytest.mark.skipif(not (CORPUS / "TRUTH.json").is_file(), reason=f"shared corpus not present at {CORPUS}")
def test_precision_and_recall_on_every_corpus_file():
    """Every file TRUTH.json describes: no claim that is not present code (traps included), and at least 98 % of
    the present SDKs found. A file the scanner refuses is counted as missed; refusing must be a clean error."""
    bench = _bench()
    truth = json.loads((CORPUS / "TRUTH.json").read_text())["apps"]
    files = [CORPUS / "apks" / name for name in sorted(truth) if (CORPUS / "apks" / name).is_file()]
    assert len(files) >= 30
    scores, refused = {}, {}
    for path in files:
        claims, note = bench.appaudit_claims(path)
        if note.startswith("refused"):
            refused[path.name] = note
        scores[path.name] = bench.score([p["sdk"] for p in truth[path.name]["present"]], claims, note)
    wrong = {name: s.wrong for name, s in scores.items() if s.wrong}
    assert not wrong, f"claims of SDKs whose code is not there: {wrong}"
    read = [s for name, s in scores.items() if name not in refused]
    totals = bench.totals(read)
    missed = {name: s.missed for name, s in scores.items() if s.missed and name not in refused}
    assert totals["recall"] >= bench.RECALL_TARGET, f"recall {totals['recall']:.3f}; missed {missed}"
    # A format the scanner does not read yet (the .aab before its reader) is missed honestly, never a crash;
    # once read, it is scored like the rest.
    for name, note in refused.items():
        assert "\n" not in note and "Traceback" not in note, name
    overall = bench.totals(list(scores.values()))
    assert overall["present"] == sum(len(truth[p.name]["present"]) for p in files)


# -- the rules of a detection, on synthetic class lists ---------------------------------------------------
ACME = Sdk("acme", "Acme Ads", "Acme", ("advertisement",), packages=("com.acme.ads",),
           manifest_keys=("com.acme.ads.ENABLED",), hosts=("ads.acme.io",),
           entry_classes=("com.acme.ads.AcmeAds",))
SHARED_LIB = Library("acme_id", "Acme advertising-ID client", ("com.acme.ads.identifier",))


def _catalogue() -> Catalogue:
    return Catalogue(sdks=[ACME], libraries=[SHARED_LIB])


def _classes(prefix: str, count: int) -> list[str]:
    return [f"{prefix}.C{i}" for i in range(count)]


def test_host_only_is_a_hint_not_an_sdk():
    found = find_sdks(_catalogue(), ["org.example.app.Main"], hosts=["pagead.ads.acme.io"],
                      app_package="org.example.app")
    assert found.sdks == ()
    (hint,) = found.hints
    assert hint.id == "acme" and hint.summary == "mentions host pagead.ads.acme.io; no code found"
    assert [e.kind for e in hint.evidence] == ["host"]


def test_a_switched_off_manifest_flag_is_not_presence():
    found = find_sdks(_catalogue(), ["org.example.app.Main"], meta_data=["com.acme.ads.ENABLED"],
                      meta_data_off=["com.acme.ads.ENABLED"], app_package="org.example.app")
    assert found.sdks == ()
    (hint,) = found.hints
    assert "com.acme.ads.ENABLED=false (switched off)" in hint.summary
    # with the code there, the switch is listed with the detection and said to be off
    (sdk,) = find_sdks(_catalogue(), _classes("com.acme.ads.core", MIN_CLASSES), meta_data=["com.acme.ads.ENABLED"],
                       meta_data_off=["com.acme.ads.ENABLED"]).sdks
    assert "switched off" in [e for e in sdk.evidence if e.kind == "manifest-key"][0].detail


def test_the_apps_own_package_is_never_the_sdk():
    app = "com.acme.ads.demo"
    found = find_sdks(_catalogue(), _classes(app, 50) + [f"{app}.AcmeAds"], hosts=["ads.acme.io"],
                      components=[Component("activity", f"{app}.MainActivity", True)], app_package=app)
    assert found.sdks == ()
    # the SDK's own code beside the vendor's demo app still is the SDK
    found = find_sdks(_catalogue(), _classes(app, 50) + _classes("com.acme.ads.core", MIN_CLASSES),
                      app_package=app)
    assert [s.id for s in found.sdks] == ["acme"]
    assert all(not e.where.startswith(app) for e in found.sdks[0].evidence)


def test_a_few_shared_classes_are_not_the_sdk():
    # classes of a library nested in the SDK's namespace do not count at all ...
    found = find_sdks(_catalogue(), _classes("com.acme.ads.identifier", 8), hosts=["ads.acme.io"])
    assert found.sdks == () and [h.id for h in found.hints] == ["acme"]
    # ... and fewer than MIN_CLASSES of its own, with no entry class, are a hint
    found = find_sdks(_catalogue(), _classes("com.acme.ads.util", MIN_CLASSES - 1))
    assert found.sdks == ()
    (hint,) = found.hints
    assert f"{MIN_CLASSES - 1} classes under its packages" in hint.summary
    assert [s.id for s in find_sdks(_catalogue(), _classes("com.acme.ads.util", MIN_CLASSES)).sdks] == ["acme"]
    # one entry class is enough: minified apps keep the SDK's public API by name
    (sdk,) = find_sdks(_catalogue(), ["com.acme.ads.AcmeAds"]).sdks
    assert [e.kind for e in sdk.evidence] == ["sdk-class", "entry-class"]


def test_a_manifest_component_naming_an_sdk_class_is_the_sdk():
    components = [Component("activity", "com.acme.ads.AdActivity", False),
                  Component("activity", "org.example.app.Main", True)]
    (sdk,) = find_sdks(_catalogue(), ["org.example.app.Main", "com.acme.ads.AdActivity"],
                       app_package="org.example.app", components=components).sdks
    assert sdk.id == "acme"
    assert [(e.kind, e.ref) for e in sdk.evidence] == [("sdk-class", "com.acme.ads"),
                                                       ("manifest-component", "com.acme.ads.AdActivity")]
    # a component whose class is not in the code is a manifest leftover: a hint, never a detection
    found = find_sdks(_catalogue(), ["org.example.app.Main"], app_package="org.example.app", components=components)
    assert found.sdks == () and [h.id for h in found.hints] == ["acme"]
    assert "whose class is not in the code" in found.hints[0].summary
    # the Application class is the app's, whatever its name: only activities, services, receivers, providers
    assert find_sdks(_catalogue(), [], components=[Component("application", "com.acme.ads.AcmeApp", None)]).sdks == ()


_REAL = load_catalogue()
_HOSTS = sorted({h for sdk in _REAL.sdks for h in sdk.hosts})
_KEYS = sorted({k for sdk in _REAL.sdks for k in sdk.manifest_keys})
_PREFIXES = sorted({p for sdk in _REAL.sdks for p in sdk.packages})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(classes=st.lists(st.tuples(st.sampled_from(_PREFIXES), st.integers(0, 9)), max_size=40),
       hosts=st.lists(st.sampled_from(_HOSTS).map(lambda h: "api." + h), max_size=8),
       keys=st.lists(st.sampled_from(_KEYS), max_size=4), off=st.booleans())
def test_hosts_and_manifest_keys_never_change_which_sdks_are_detected(classes, hosts, keys, off):
    """With the real catalogue: whatever hosts and manifest keys an app names, the detected SDKs are those its
    classes and components show; the names only add evidence to them, or hints."""
    names = [f"{prefix}.C{n}" for prefix, n in classes]
    code_only = find_sdks(_REAL, names, app_package="org.example.app")
    named = find_sdks(_REAL, names, meta_data=keys, hosts=hosts, app_package="org.example.app",
                      meta_data_off=keys if off else ())
    assert [s.id for s in named.sdks] == [s.id for s in code_only.sdks]
    detected = {s.id for s in named.sdks}
    assert not detected & {h.id for h in named.hints}
    for hint in named.hints:
        assert hint.summary.endswith("; no code found")


# -- end to end: a smali-built APK whose traps must become hints, and no findings ------------------------
MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="org.example.traps">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>
  <application>
    <meta-data android:name="google_analytics_adid_collection_enabled" android:value="false"/>
    <activity android:name=".Main" android:exported="true"/>
    <service android:name="com.onesignal.SyncJobService" android:exported="false"/>
  </application>
</manifest>
"""


def _smali_class(name: str, body: str = "") -> str:
    return f".class public L{name};\n.super Ljava/lang/Object;\n{body}\n"


MAIN_BODY = """
.method public static ads()Ljava/lang/String;
    .registers 1
    const-string v0, "https://pagead2.googlesyndication.com/pagead/gen_204"
    return-object v0
.end method
"""


@pytest.fixture(scope="module")
def traps_apk(tmp_path_factory) -> Path:
    if not (SMALI_JAR.is_file() and shutil.which("java") and shutil.which("aapt") and FRAMEWORK_RES.is_file()):
        pytest.skip("smali, java, aapt or android-framework-res missing (make deb)")
    classes = {"org/example/traps/Main": MAIN_BODY, "com/onesignal/SyncJobService": ""}
    classes.update({f"com/google/android/gms/ads/identifier/zz{c}": "" for c in "abcdefg"})   # the ad-ID client
    classes.update({f"com/appsflyer/internal/AFa{i}": "" for i in range(2)})                  # two stray classes
    return build_apk(tmp_path_factory.mktemp("traps"), MANIFEST,
                     {name: _smali_class(name, body) for name, body in classes.items()}, name="traps")


def test_traps_in_a_real_apk_are_hints_and_make_no_finding(traps_apk):
    report = scan_app([traps_apk])
    assert [s.id for s in report.sdks] == ["onesignal"]   # by its service in the manifest, one class defined
    hints = {h.id: h for h in report.hints}
    assert set(hints) == {"google_admob", "firebase_analytics", "appsflyer"}
    assert hints["google_admob"].summary == "mentions host pagead2.googlesyndication.com; no code found"
    assert "google_analytics_adid_collection_enabled=false (switched off)" in hints["firebase_analytics"].summary
    assert "2 classes under its packages" in hints["appsflyer"].summary
    data = report.to_json()
    assert [h["id"] for h in data["hints"]] == sorted(hints) and [s["id"] for s in data["sdks"]] == ["onesignal"]
    assert scan_sdks([traps_apk])[0] == type(scan_sdks([traps_apk])[0])(report.sdks, report.hints)

    from audit.rules.command import gather
    audit, _scan, _secrets = gather([str(traps_apk)])
    declared_none = Declarations(app="org.example.traps", source="test", path="-", format="appaudit-yaml", sdks=())
    result = evaluate(audit, declared_none)
    named = {f.actor.id for f in result.findings if f.actor is not None and f.actor.id}
    assert "onesignal" in named, "the detected, undeclared SDK is a finding"
    assert not named & {"google_admob", "firebase_analytics", "appsflyer"}, "a hint made a finding"


# -- the catalogue covers the Exodus list ----------------------------------------------------------------
def _package_of(name: str) -> str:
    """A signature naming a class (`io.radar.sdk.Radar`) denotes its package."""
    parts = name.split(".")
    while len(parts) > 1 and parts[-1][:1].isupper():
        parts.pop()
    return ".".join(parts)


@pytest.mark.skipif(not EXODUS.is_file(), reason=f"Exodus list not present at {EXODUS}")
def test_every_exodus_tracker_is_covered_by_one_catalogue_entry():
    from audit.exodus import reduce_code_signature
    from audit.rulesdata import load_yaml, rules_dir

    trackers = json.loads(EXODUS.read_text())["trackers"]
    catalogue = load_catalogue()
    owner: dict[str, str] = {}
    for sdk in catalogue.sdks:
        for key in sdk.exodus:
            assert key not in owner, f"Exodus {key} under both {owner[key]} and {sdk.id}"
            owner[key] = sdk.id
    raw = load_yaml(rules_dir() / "sdks.yaml", "SDK catalogue")
    libraries = {lib.id: lib for lib in catalogue.libraries}
    as_library = {}
    for entry in raw.get("exodus_libraries") or ():
        assert set(entry) <= {"exodus", "library", "packages", "not_this", "note"} and entry["packages"], entry
        key = str(entry["exodus"])
        assert key not in owner and key not in as_library, key
        assert entry.get("library") is None or entry["library"] in libraries, entry
        as_library[key] = entry
    missing = sorted(set(trackers) - set(owner) - set(as_library), key=int)
    assert not missing, f"Exodus trackers no catalogue entry covers: {missing}"
    assert not (set(owner) | set(as_library)) - set(trackers), "ids that are not Exodus trackers"

    # Each plain code signature lies under one of the covering entry's packages, or (narrowed on purpose, e.g.
    # Pangle's `com.bytedance`) one of the entry's packages lies under it; one naming a class (Mapbox's
    # `com.mapbox.mapboxsdk.maps.TelemetryDefinition`) is a class some catalogue SDK owns.
    uncovered = []
    for key, tracker in trackers.items():
        if key in owner:
            packages, elsewhere = catalogue.sdk(owner[key]).packages, ()
        else:
            packages, elsewhere = tuple(as_library[key]["packages"]), tuple(as_library[key].get("not_this") or ())
        for alternative in filter(None, (a.strip() for a in (tracker.get("code_signature") or "").split("|"))):
            reduced, _why = reduce_code_signature(alternative)
            if reduced is None or not re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+", _package_of(reduced)):
                continue   # a regex or a capitalised package: written by hand, checked by the corpus
            package = _package_of(reduced)
            if any(package == p or package.startswith(p + ".") for p in elsewhere):
                continue
            if any(package == p or package.startswith(p + ".") or p.startswith(package + ".") for p in packages):
                continue
            owned = catalogue.match_prefix(reduced) if reduced != package else None
            if key in owner and owned is not None and owned[1].kind.value == "sdk":
                continue
            uncovered.append((key, tracker["name"], package, owner.get(key)))
    assert not uncovered, uncovered
