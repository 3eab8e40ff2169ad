"""Verdicts that must hold on apps nobody here has seen: properties checked over every corpus file, and smali-built
traps the corpus lacks.

Over every file of ../shared/corpus/apks (skipped when absent):
- the scan never crashes (a refusal is an InputError, the CLI's one-line exit 2), and a second scan gives the
  same verdicts;
- a call site whose calling class lies in a detected SDK's namespace is that SDK's;
- no first-party call site in a class a catalogue prefix owns (directly, or relocated by a shading tool under the
  app's own package), unless the app's own package is longer than that prefix (an SDK vendor's own app);
- no call site of an SDK the catalogue lacks (`unidentified:`) in a namespace that is an obfuscator's name;
- no `granted` / `runtime-permission` capability whose permissions the base manifest does not request, as a
  direct child of <manifest>, on the levels the verdict names (read here from the raw XML tree, not from
  the scanner's manifest model), nor one resting on a signature permission;
- every SDK claim rests on code: defined classes under its packages, an entry class or a manifest component
  whose class is defined; never on hosts or manifest keys alone.
The traps: a look-alike app package (`com.adjust.game`, `com.facebook.myapp`), a no-op stand-in of an SDK's
entry class, an SDK's class named only in a string constant, an SDK relocated under the app's package, R8's
`A0.b` package names (unknown, unless only one SDK's named code calls them), a <uses-permission> nested in <application>, a permission requested only by a split, a
shared user id, a manifest component whose class is not in the code, an SDK's generated R classes alone.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from smali_builds import ANDROID_ID, IMEI, build_apk, launcher_manifest, require_tools

from audit.attribution import (AppContext, looks_obfuscated, organisation_of, package_of, relocated_match, under)
from audit.catalogue import load_catalogue
from audit.errors import InputError
from audit.model import ActorKind
from audit.static.apis import load_apis
from audit.static.callsites import class_names
from audit.static.inputs import open_inputs
from audit.static.manifest import _axml_root, permission_rules
from audit.static.scan import _Clock, _through_sdks, scan_app
from audit.static.sdkdetect import MIN_CLASSES

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "apks"
SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".aab")
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name.lower().endswith(SUFFIXES)) if CORPUS.is_dir() else []
ANDROID = "{http://schemas.android.com/apk/res/android}"
# R8 / ProGuard package names: `A0`, `b`, `zz`; a one-character organisation (`com.a`)
_OBFUSCATOR_LABEL = re.compile(r"^[A-Za-z$_][A-Za-z0-9$_]?$")

corpus = pytest.mark.skipif(not FILES, reason=f"shared corpus not present at {CORPUS}")


@lru_cache(maxsize=None)
def _scan(name: str):
    """(report, front stages) of one corpus file, scanned once for all the properties."""
    path = CORPUS / name
    return scan_app([path]), _through_sdks([path], None, _Clock())


def _class(caller: str) -> str:
    return caller.split("->", 1)[0][1:-1].replace("/", ".")


def _base_requests(path: Path) -> dict[str, list[tuple[int | None, bool]]]:
    """Permission -> [(maxSdkVersion, sdk-23 only)] from the base manifest's direct children of <manifest>, the
    only place Android reads them (splits and nested elements request nothing)."""
    opened = open_inputs([path])
    requests: dict[str, list[tuple[int | None, bool]]] = {}
    for apk in opened.apks:
        root = _axml_root(apk.manifest, apk.name)
        if root.get("split"):
            continue
        for child in (root.children if hasattr(root, "children") else list(root)):
            if child.tag in ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m"):
                name = child.get(ANDROID + "name") or child.get("name")
                max_sdk = child.get(ANDROID + "maxSdkVersion")
                requests.setdefault(name, []).append((int(max_sdk, 0) if max_sdk else None,
                                                      child.tag != "uses-permission"))
    return requests


def _levels(api_levels: str) -> tuple[int, int]:
    """`API 21-28`, `API 23+`, `API 26`, `API 14-25, API 30+` -> (lowest, highest) named."""
    numbers = [int(n) for n in re.findall(r"\d+", api_levels)]
    return min(numbers), max(numbers)


# -- the corpus ---------------------------------------------------------------------------------------------------
@corpus
@pytest.mark.parametrize("name", FILES)
def test_the_scan_never_crashes(name):
    try:
        report, _front = _scan(name)
    except InputError:
        return   # refused with one clear line: allowed, though no corpus file is refused today
    report.to_json()


@corpus
@pytest.mark.parametrize("name", FILES)
def test_a_second_scan_gives_the_same_verdicts(name):
    """Every verdict (actors, feasibility, SDKs, hints) is the same on a second scan in the same process."""
    import json
    report, _front = _scan(name)
    assert json.dumps(scan_app([CORPUS / name]).to_json(), sort_keys=True) == \
        json.dumps(report.to_json(), sort_keys=True)


@corpus
@pytest.mark.parametrize("name", FILES)
def test_call_sites_in_a_detected_sdk_s_namespace_are_that_sdk_s(name):
    report, front = _scan(name)
    detected = {s.id for s in report.sdks}
    catalogue, app = front.catalogue, front.app_code
    wrong = []
    for site in report.api_calls:
        cls = _class(site.caller)
        matched = catalogue.match_prefix(cls)
        if matched is None or matched[1].kind is not ActorKind.SDK or matched[1].id not in detected:
            continue
        if any(under(cls, own) and own.count(".") >= matched[0].count(".") for own in app.own_packages):
            continue   # the SDK vendor's own app: its package is longer than the SDK's prefix
        if site.actor != matched[1]:
            wrong.append((site.caller, site.api_id, str(site.actor), matched[1].id))
    assert not wrong


@corpus
@pytest.mark.parametrize("name", FILES)
def test_no_first_party_call_site_in_catalogued_or_relocated_code(name):
    report, front = _scan(name)
    catalogue, app = front.catalogue, front.app_code
    wrong = []
    for site in report.api_calls:
        if site.actor.kind is not ActorKind.FIRST_PARTY:
            continue
        cls = _class(site.caller)
        assert app.is_own(cls), f"{site.caller} is first party outside the app's own packages"
        matched = catalogue.match_prefix(cls)
        longer_own = matched is not None and any(
            under(cls, own) and own.count(".") >= matched[0].count(".") for own in app.own_packages)
        if (matched is not None and not longer_own) or relocated_match(catalogue, cls) is not None:
            wrong.append((site.caller, site.api_id))
    assert not wrong


@corpus
@pytest.mark.parametrize("name", FILES)
def test_no_sdk_is_named_after_an_obfuscator_s_package(name):
    """Over every class the app defines, not only the call sites: an `unidentified:` SDK is a real namespace."""
    _report, front = _scan(name)
    named = set()
    for cls in front.classes:
        actor = front.catalogue.actor_for_class(cls, front.app_code)
        if (actor.id or "").startswith("unidentified:"):
            named.add(actor.id.split(":", 1)[1])
    made_up = []
    for namespace in sorted(named):
        labels = namespace.split(".")
        organisation = organisation_of(namespace)
        if all(_OBFUSCATOR_LABEL.match(label) for label in labels) or (
                organisation and len(organisation.rpartition(".")[2]) == 1):
            made_up.append(namespace)
    assert not made_up


@corpus
@pytest.mark.parametrize("name", FILES)
def test_no_capability_android_would_refuse_is_called_feasible(name):
    report, _front = _scan(name)
    requests = _base_requests(CORPUS / name)
    rules = permission_rules()
    # special access (Usage access: signature|appop) is the user's to grant in Settings, like a dangerous permission
    special = {(api.id, p) for api in load_apis() for item in api.access or () if item.special for p in item.any_of}
    wrong = []
    for site in report.api_calls:
        verdict = site.feasibility
        if verdict is None or verdict.status not in ("granted", "runtime-permission"):
            continue
        low, high = _levels(verdict.api_levels)
        dangerous = False
        for permission in verdict.permissions:
            held = [(max_sdk, sdk23) for max_sdk, sdk23 in requests.get(permission, ())
                    if (max_sdk is None or max_sdk >= low) and (not sdk23 or high >= 23)]
            if not held:
                wrong.append((site.caller, site.api_id, f"{permission} not requested for {verdict.api_levels}"))
            if (site.api_id, permission) in special:
                dangerous = dangerous or verdict.status == "runtime-permission"
                continue
            rule = rules.get(permission)
            if rule is not None and rule.protection_at(high) not in ("normal", "dangerous"):
                wrong.append((site.caller, site.api_id, f"{permission} is {rule.protection_at(high)}"))
            dangerous = dangerous or (rule is not None and rule.protection_at(high) == "dangerous")
        if verdict.status == "runtime-permission" and not dangerous:
            wrong.append((site.caller, site.api_id, "runtime-permission without a dangerous permission"))
    assert not wrong


# what names a read of the advertising ID when no call names AdvertisingIdClient: the action of Play services'
# advertising ID service, and the client's method looked up by name
AD_ID_NAMES = (b"com.google.android.gms.ads.identifier.service.", b"getAdvertisingIdInfo")


@corpus
@pytest.mark.parametrize("name", FILES)
def test_code_naming_the_advertising_id_service_reads_the_advertising_id(name):
    """Code that names Play services' advertising ID service (the Intent action a client binds it by, a string no
    minification renames) or looks the client's getAdvertisingIdInfo up by name reads the advertising ID, whoever
    wrote the client: a renamed AdvertisingIdClient (StatusSaver's AdMob), an SDK's own (Umeng's, Unity Ads'), a
    reflective call (Branch's, Amplitude's). Six corpus files had no advertising ID read, so an inquiry claim that
    the app collects it was contradicted."""
    opened = open_inputs([CORPUS / name])
    if not any(mark in data for apk in opened.apks for _dex_name, data in apk.dexes for mark in AD_ID_NAMES):
        return
    report, _front = _scan(name)
    assert any(o.data_type == "device_ids.advertising_id" for o in report.observations)


@corpus
@pytest.mark.parametrize("name", FILES)
def test_every_sdk_claim_has_class_evidence(name):
    report, front = _scan(name)
    defined = set(class_names(front.dexes))
    catalogue = front.catalogue
    for sdk in report.sdks:
        kinds = {e.kind for e in sdk.evidence}
        classes = sum(int(e.detail.split()[0]) for e in sdk.evidence if e.kind == "sdk-class")
        entry = [e.ref for e in sdk.evidence if e.kind == "entry-class"]
        components = [e.ref for e in sdk.evidence if e.kind == "manifest-component" and e.ref in defined]
        assert classes >= MIN_CLASSES or entry or components, (sdk.id, sorted(kinds))
        assert all(name in defined for name in entry), sdk.id
        for prefix in (e.ref for e in sdk.evidence if e.kind == "sdk-class"):
            under_prefix = [c for c in defined if under(c, prefix)]
            assert under_prefix, (sdk.id, prefix)
            # some class under the prefix is the SDK's own: one may sit under a nested catalogued prefix (AdMob's
            # com.google.android.gms.ads holds the ad-ID library's .identifier), so no single class is asked
            owners = {(catalogue.match_prefix(c) or relocated_match(catalogue, c) or (None, None))[1]
                      for c in sorted(under_prefix)}
            assert sdk.id in {owner.id for owner in owners if owner is not None}, (sdk.id, prefix)


# -- traps the corpus lacks ------------------------------------------------------------------------------------------
def _smali(name: str, body: str = "", super_: str = "java/lang/Object") -> str:
    return f".class public L{name};\n.super L{super_};\n{body}\n"


def _static_call(cls: str, method: str, body: str, params: str = "Landroid/content/Context;",
                 returns: str = "V", registers: int = 4) -> str:
    return (f".method public static {method}({params}){returns}\n    .registers {registers}\n{body}\n"
            f".end method\n")




def _activity(package: str, calls: list[str]) -> str:
    """MainActivity.onCreate calling each static `Lx/Y;->m(Landroid/content/Context;)V` of `calls`."""
    invokes = "\n".join(f"    invoke-static {{p0}}, {call}" for call in calls)
    on_create = (".method protected onCreate(Landroid/os/Bundle;)V\n    .registers 3\n"
                 "    invoke-super {p0, p1}, Landroid/app/Activity;->onCreate(Landroid/os/Bundle;)V\n"
                 f"{invokes}\n"
                 '    const-string v0, "com.appsflyer.AppsFlyerLib"\n'
                 "    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;\n"
                 "    return-void\n.end method\n")
    init = (".method public constructor <init>()V\n    .registers 1\n"
            "    invoke-direct {p0}, Landroid/app/Activity;-><init>()V\n    return-void\n.end method\n")
    return _smali(f"{package.replace('.', '/')}/MainActivity", init + on_create, "android/app/Activity")


LOOKALIKE_MANIFEST = launcher_manifest(
    "com.adjust.game", permissions=("android.permission.ACCESS_WIFI_STATE",),
    application="""    <uses-permission android:name="android.permission.READ_PHONE_STATE"/>
    <meta-data android:name="com.facebook.sdk.ApplicationId" android:value="1234"/>
    <service android:name="com.onesignal.SyncJobService" android:exported="false"/>
""")


@pytest.fixture(scope="module")
def lookalike_apk(tmp_path_factory) -> Path:
    """com.adjust.game: its own `com.adjust.game.sdk` classes, a no-op FirebaseAnalytics, AppsFlyer relocated
    under its package (six classes, one reads the Android ID and calls the renamed A0.c and A0.e -> A0.d, which
    read the IMEI), an R8-named `A0.b` reading the IMEI called by the app's own code and by AppsFlyer, AppsFlyer's
    entry class named only in a string, READ_PHONE_STATE requested inside <application>, a Facebook manifest key
    with Facebook's generated R classes only, and a OneSignal service whose classes are not in the code."""
    require_tools()
    relocated = "com/adjust/game/vendor/com/appsflyer/internal"
    classes = {
        "com/adjust/game/MainActivity": _activity("com.adjust.game", [
            "Lcom/adjust/game/Device;->imei(Landroid/content/Context;)V",
            "LA0/b;->a(Landroid/content/Context;)V",
            f"L{relocated}/AFa1;->id(Landroid/content/Context;)V"]),
        "com/adjust/game/Device": _smali("com/adjust/game/Device", _static_call("", "imei", IMEI)),
        "A0/b": _smali("A0/b", _static_call("", "a", IMEI)),
        f"{relocated}/AFa1": _smali(f"{relocated}/AFa1", _static_call("", "id", ANDROID_ID) + _static_call(
            "", "more", "    invoke-static {p0}, LA0/b;->a(Landroid/content/Context;)V\n"
                        "    invoke-static {p0}, LA0/c;->a(Landroid/content/Context;)V\n"
                        "    invoke-static {p0}, LA0/e;->a(Landroid/content/Context;)V\n    return-void")),
        # renamed code only AppsFlyer's named classes call, directly (A0.c) or through renamed code (A0.e -> A0.d)
        "A0/c": _smali("A0/c", _static_call("", "a", IMEI)),
        "A0/d": _smali("A0/d", _static_call("", "a", IMEI)),
        "A0/e": _smali("A0/e", _static_call("", "a", "    invoke-static {p0}, LA0/d;->a(Landroid/content/Context;)V\n"
                                                      "    return-void")),
        "com/google/firebase/analytics/FirebaseAnalytics": _smali(
            "com/google/firebase/analytics/FirebaseAnalytics",
            _static_call("", "getInstance", "    const/4 v0, 0\n    return-object v0",
                         returns="Lcom/google/firebase/analytics/FirebaseAnalytics;")
            + ".method public logEvent(Ljava/lang/String;Landroid/os/Bundle;)V\n    .registers 3\n"
              "    return-void\n.end method\n"),
    }
    classes.update({f"{relocated}/AFb{i}": _smali(f"{relocated}/AFb{i}") for i in range(5)})
    classes.update({f"com/adjust/game/sdk/Sdk{i}": _smali(f"com/adjust/game/sdk/Sdk{i}") for i in range(6)})
    # resource classes a build generates in a library's package: not the Facebook SDK's code
    classes.update({f"com/facebook/{n}": _smali(f"com/facebook/{n}")
                    for n in ("R", "R$attr", "R$color", "R$id", "R$string", "R$style", "BuildConfig")})
    return build_apk(tmp_path_factory.mktemp("lookalike"), LOOKALIKE_MANIFEST, classes)


def test_lookalike_package_stub_string_and_leftovers_claim_no_sdk(lookalike_apk):
    report = scan_app([lookalike_apk])
    assert [s.id for s in report.sdks] == ["appsflyer"], "only the relocated AppsFlyer code is an SDK"
    hints = {h.id: h for h in report.hints}
    assert "adjust" not in hints, "the app's own com.adjust.game is not Adjust"
    assert "1 class under its packages" in hints["firebase_analytics"].summary, "a no-op stand-in is a hint"
    assert "whose class is not in the code" in hints["onesignal"].summary
    assert hints["facebook_sdk"].summary.endswith("; no code found")
    components = {c["name"]: c for c in report.to_json()["components"]}
    assert components["com.adjust.game.MainActivity"].get("launcher") is True
    assert "launcher" not in components["com.onesignal.SyncJobService"]
    actors = {(_class(s.caller), s.api_id): s.actor for s in report.api_calls}
    assert actors[("com.adjust.game.Device", "telephony.get_device_id")].kind is ActorKind.FIRST_PARTY
    assert actors[("A0.b", "telephony.get_device_id")].kind is ActorKind.UNKNOWN, "the app's own code calls it too"
    for renamed in ("A0.c", "A0.d"):    # called by AppsFlyer's code alone (A0.d through the renamed A0.e)
        assert str(actors[(renamed, "telephony.get_device_id")]) == "sdk:appsflyer", renamed
    relocated = actors[("com.adjust.game.vendor.com.appsflyer.internal.AFa1", "settings.secure.android_id")]
    assert (relocated.kind, relocated.id) == (ActorKind.SDK, "appsflyer")


def test_a_permission_requested_inside_application_is_not_held(lookalike_apk):
    report = scan_app([lookalike_apk])
    assert [p.name for p in report.permissions] == ["android.permission.ACCESS_WIFI_STATE"]
    imei = [s for s in report.api_calls if s.api_id == "telephony.get_device_id"]
    assert imei and all(s.feasibility.status == "blocked" for s in imei)
    assert all("READ_PHONE_STATE" in s.feasibility.reason for s in imei)


SHARED_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.facebook.myapp"{shared}>
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="28"/>
  <application>
    <activity android:name=".MainActivity" android:exported="true"/>
  </application>
</manifest>
"""
SPLIT_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.facebook.myapp"
    split="feature_phone" android:isFeatureSplit="true">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="28"/>
  <uses-permission android:name="android.permission.READ_PHONE_STATE"/>
  <application android:hasCode="true">
    <activity android:name="com.facebook.myapp.phone.PhoneActivity" android:exported="false"/>
  </application>
</manifest>
"""


def _myapp_classes() -> dict[str, str]:
    classes = {"com/facebook/myapp/MainActivity": _activity("com.facebook.myapp", [
        "Lcom/facebook/myapp/Device;->imei(Landroid/content/Context;)V"]),
        "com/facebook/myapp/Device": _smali("com/facebook/myapp/Device", _static_call("", "imei", IMEI))}
    classes.update({f"com/facebook/myapp/ui/Screen{i}": _smali(f"com/facebook/myapp/ui/Screen{i}") for i in range(6)})
    return classes


@pytest.fixture(scope="module")
def myapp_split_set(tmp_path_factory) -> list[Path]:
    """com.facebook.myapp (no permission) with a feature split that requests READ_PHONE_STATE."""
    require_tools()
    work = tmp_path_factory.mktemp("myapp")
    base = build_apk(work, SHARED_MANIFEST.format(shared=""), _myapp_classes(), name="base")
    phone = {"com/facebook/myapp/phone/PhoneActivity": _smali("com/facebook/myapp/phone/PhoneActivity",
                                                              _static_call("", "imei", IMEI))}
    split = build_apk(work, SPLIT_MANIFEST, phone, "-I", str(base), "--feature-of", str(base), name="split")
    return [base, split]


def test_an_sdk_vendor_s_package_prefix_does_not_make_the_app_that_sdk(myapp_split_set):
    report = scan_app(myapp_split_set[:1])
    assert report.sdks == () and not {h.id for h in report.hints} & {"facebook_sdk"}
    assert {s.actor.kind for s in report.api_calls} == {ActorKind.FIRST_PARTY}


def test_a_permission_only_a_split_requests_is_not_held(myapp_split_set):
    report = scan_app(myapp_split_set)
    assert report.app.splits == ("feature_phone",) and report.permissions == ()
    imei = [s for s in report.api_calls if s.api_id == "telephony.get_device_id"]
    assert {_class(s.caller) for s in imei} == {"com.facebook.myapp.Device", "com.facebook.myapp.phone.PhoneActivity"}
    assert all(s.feasibility.status == "blocked" for s in imei)


@pytest.fixture(scope="module")
def shared_uid_apk(tmp_path_factory) -> Path:
    require_tools()
    manifest = SHARED_MANIFEST.format(shared=' android:sharedUserId="com.facebook.shared"')
    return build_apk(tmp_path_factory.mktemp("shared"), manifest, _myapp_classes())


def test_a_shared_user_id_makes_a_missing_permission_unknown_not_blocked(shared_uid_apk):
    report = scan_app([shared_uid_apk])
    (imei,) = [s for s in report.api_calls if s.api_id == "telephony.get_device_id"]
    assert imei.feasibility.status == "unknown"
    assert "shares user id com.facebook.shared" in imei.feasibility.reason
    assert "API 29+" in imei.feasibility.reason and "unavailable to ordinary apps" in imei.feasibility.reason


def test_manifest_merger_leftovers_and_nesting_as_android_reads_them():
    """tools:node="remove" is an instruction to the build's manifest merger; Android ignores the tools namespace,
    so a request that kept it (aapt strips it; other tools and decoded manifests may not) still stands. A request
    inside <application> is no request. Two requests of one permission hold where either applies."""
    from audit.static.manifest import parse_manifest
    text = b"""<manifest xmlns:android="http://schemas.android.com/apk/res/android"
        xmlns:tools="http://schemas.android.com/tools" package="org.example.app">
      <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>
      <uses-permission android:name="android.permission.CAMERA" tools:node="remove"/>
      <uses-permission-sdk-23 android:name="android.permission.READ_CONTACTS"/>
      <uses-permission android:name="android.permission.READ_CONTACTS" android:maxSdkVersion="22"/>
      <uses-permission-sdk-23 android:name="android.permission.READ_SMS"/>
      <uses-permission android:name="android.permission.READ_SMS" android:maxSdkVersion="19"/>
      <application><uses-permission android:name="android.permission.READ_PHONE_STATE"/></application>
    </manifest>"""
    requested = {r.name: r for r in parse_manifest(text, "AndroidManifest.xml").requested}
    assert set(requested) == {"android.permission.CAMERA", "android.permission.READ_CONTACTS",
                              "android.permission.READ_SMS"}
    contacts = requested["android.permission.READ_CONTACTS"]
    assert (contacts.max_sdk, contacts.min_sdk_23) == (None, False), "..22 and 23.. join into every level"
    sms = requested["android.permission.READ_SMS"]
    assert sms.min_sdk_23, "..19 and 23.. do not join: the newer devices' request is kept"


# -- the attribution rules the traps stand on, name by name -------------------------------------------------------------
@pytest.mark.parametrize("class_name, expected", [
    ("com.acme.app.shaded.okhttp3.OkHttpClient", "library:okhttp"),
    ("com.acme.app.libs.com.google.gson.Gson", "library:gson"),
    ("x.y.z.com.google.gson.Gson", "library:gson"),
    ("com.acme.app.vendor.com.adjust.sdk.Adjust", "sdk:adjust"),
    ("com.acme.app.android.support.HelpActivity", "first-party"),   # `android` is no relocation root
    ("com.acme.app.io.Files", "first-party"),
    ("A0.b", "unknown"), ("com.a.a.d", "unknown"), ("com.b.a.C", "unknown"),
    ("crc64a0e0a82d0db9a07d.MainActivity", "unknown"), ("md5b60ffeb829f638581ab2bb9b1a7f4f3f.Platform", "unknown"),
    ("com.adjust.sdk.Adjust", "sdk:adjust"),
])
def test_relocated_and_obfuscated_names(class_name, expected):
    catalogue = load_catalogue()
    from audit.attribution import actor_for_class, app_context
    assert str(actor_for_class(catalogue, class_name, app_context(catalogue, "com.acme.app"))) == expected
    assert looks_obfuscated(class_name) == (expected == "unknown")
    assert package_of(class_name) or expected == "unknown"


def test_a_code_hosting_prefix_is_no_organisation():
    """`net.sourceforge.myapp` does not own every project hosted on SourceForge (`net.sourceforge.jtds`)."""
    catalogue = load_catalogue()
    from audit.attribution import actor_for_class, app_context
    app = app_context(catalogue, "net.sourceforge.myapp")
    assert str(actor_for_class(catalogue, "net.sourceforge.jtds.Driver", app)) == "sdk:unidentified:net.sourceforge.jtds"
    assert str(actor_for_class(catalogue, "net.sourceforge.myapp.Main", app)) == "first-party"


def test_app_context_of_a_lookalike_package_owns_only_itself():
    catalogue = load_catalogue()
    from audit.attribution import actor_for_class, app_context
    app = app_context(catalogue, "com.adjust.game")
    assert isinstance(app, AppContext)
    assert str(actor_for_class(catalogue, "com.adjust.game.sdk.Sdk0", app)) == "first-party"
    assert str(actor_for_class(catalogue, "com.adjust.sdk.Adjust", app)) == "sdk:adjust"


@pytest.mark.parametrize("classes, not_claimed", [
    # every React Native app ships these under com.facebook, without the Facebook SDK
    (["com.facebook.debug.holder.Printer", "com.facebook.debug.holder.PrinterHolder",
      "com.facebook.debug.holder.NoopPrinter", "com.facebook.debug.tags.ReactDebugOverlayTags",
      "com.facebook.debug.debugoverlay.model.DebugOverlayTag", "com.facebook.perftest.PerfTestConfig",
      "com.facebook.react.ReactActivity", "com.facebook.callercontext.ContextChain"], "facebook_sdk"),
    # MapLibre and other map code parse GeoJSON with Mapbox's Java library, without the Mapbox SDK
    ([f"com.mapbox.geojson.{n}" for n in ("Point", "LineString", "Polygon", "Feature", "FeatureCollection",
                                           "Geometry", "BoundingBox")] + ["com.mapbox.turf.TurfMeasurement"],
     "mapbox"),
])
def test_open_source_libraries_under_an_sdk_vendor_s_namespace_are_no_sdk(classes, not_claimed):
    from audit.static.sdkdetect import find_sdks
    found = find_sdks(load_catalogue(), classes, app_package="org.example.app")
    assert not_claimed not in {s.id for s in found.sdks} | {h.id for h in found.hints}
