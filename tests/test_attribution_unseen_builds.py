"""Attribution on app builds the shared corpus lacks, built from smali: the ways real apps break package-based
attribution, each with the verdict it must give (an honest `unknown` rather than a wrong first party, and never the
app's own code called an SDK's).

- R8 / ProGuard moving renamed SDK code into one of the app's own packages (`-repackageclasses com.app`).
- An SDK shaded under the app's package without its top-level label (`com.app.vendor.adjust.sdk`), found by its
  relocated entry class.
- Library code renamed to a top-level name or moved into the app's package, placed by the named library class
  that extends it (AppCompatEditText renamed `k.w`, extended by Material's TextInputEditText).
- Renamed library code known by what renaming keeps (rules/libraries.yaml `renamed_signatures`): AppCompat's
  TwilightManager renamed `e.k` keeps its message and its source-file name.
- An app of an SDK vendor (a sample or test app: `com.unity3d.ads.test`, `com.appsflyer.demo` whose screens sit
  in `com.appsflyer.sample`): the vendor's other code is not the app's by organisation, the sample's screens are
  not the SDK's by prefix.
- Renamed code inside a library family that holds SDKs (`com.google.android.gms.internal.zzafd`, a Runnable
  only constructed by other renamed classes) whose one SDK's evidence is three callers away.
- An app under a generic organisation whose code is split across packages (`com.example.foo.free`, screens in
  `com.example.foo.ui`, data in `com.example.foo.data`): one app, not an SDK the catalogue lacks.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from smali_builds import ANDROID_ID, IMEI, build_apk, require_tools, tools_missing

from audit.attribution import app_context
from audit.catalogue import load_catalogue
from audit.model import Actor, ActorKind
from audit.static.scan import scan_app




needs_tools = pytest.mark.skipif(bool(tools_missing()), reason=str(tools_missing()))


def _class(name: str, body: str = "", super_: str = "java/lang/Object") -> str:
    return f".class public L{name};\n.super L{super_};\n{body}\n"


def _static(method: str, body: str) -> str:
    return (f".method public static {method}(Landroid/content/Context;)V\n    .registers 4\n{body}\n"
            f".end method\n")


def _calls(*targets: str) -> str:
    """A body invoking each static `Lx/Y;->a(Landroid/content/Context;)V` named by its class `x/Y`."""
    return "".join(f"    invoke-static {{p0}}, L{t};->a(Landroid/content/Context;)V\n" for t in targets) + "    return-void"


def _activity(name: str, *targets: str) -> str:
    invokes = "".join(f"    invoke-static {{p0}}, L{t};->a(Landroid/content/Context;)V\n" for t in targets)
    return _class(name, ".method public constructor <init>()V\n    .registers 1\n"
                        "    invoke-direct {p0}, Landroid/app/Activity;-><init>()V\n    return-void\n.end method\n"
                        ".method protected onCreate(Landroid/os/Bundle;)V\n    .registers 3\n"
                        "    invoke-super {p0, p1}, Landroid/app/Activity;->onCreate(Landroid/os/Bundle;)V\n"
                        f"{invokes}    return-void\n.end method\n", "android/app/Activity")


def _manifest(package: str, launcher: str, extra: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="{package}">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>
  <application>
    <activity android:name="{launcher}" android:exported="true">
      <intent-filter>
        <action android:name="android.intent.action.MAIN"/>
        <category android:name="android.intent.category.LAUNCHER"/>
      </intent-filter>
    </activity>
{extra}  </application>
</manifest>
"""


def _actors(apk: Path) -> dict[tuple[str, str], Actor]:
    report = scan_app([apk])
    return {(s.caller.split("->", 1)[0][1:-1].replace("/", "."), s.api_id): s.actor for s in report.api_calls}


# -- R8 moving SDK code into the app's package -------------------------------------------------------------------
@pytest.fixture(scope="module")
def repackaged_apk(tmp_path_factory) -> Path:
    """com.app.repack built with `-repackageclasses com.app.repack`: AppsFlyer's kept AppsFlyerLib (named by
    reflection) calls the renamed `com.app.repack.b` (IMEI; it calls `a0`, Android ID) and `e` -> `d` (Android ID);
    the app's kept MainActivity calls the renamed `c` (IMEI) in the same package and `util.f` (Android ID) in a
    package no SDK calls into."""
    require_tools()
    pkg = "com/app/repack"
    classes = {
        f"{pkg}/MainActivity": _activity(f"{pkg}/MainActivity", f"{pkg}/c", f"{pkg}/util/f"),
        "com/appsflyer/AppsFlyerLib": _class("com/appsflyer/AppsFlyerLib",
                                             _static("start", _calls(f"{pkg}/b", f"{pkg}/e"))),
        f"{pkg}/b": _class(f"{pkg}/b", _static("a", IMEI.replace("    return-void", _calls(f"{pkg}/a0")))),
        f"{pkg}/a0": _class(f"{pkg}/a0", _static("a", ANDROID_ID)),   # R8's names for large apps: a0, d1 ...
        f"{pkg}/c": _class(f"{pkg}/c", _static("a", IMEI)),
        f"{pkg}/d": _class(f"{pkg}/d", _static("a", ANDROID_ID)),
        f"{pkg}/e": _class(f"{pkg}/e", _static("a", _calls(f"{pkg}/d"))),
        f"{pkg}/util/f": _class(f"{pkg}/util/f", _static("a", ANDROID_ID)),
    }
    return build_apk(tmp_path_factory.mktemp("repack"), _manifest("com.app.repack", ".MainActivity"), classes)


@needs_tools
def test_sdk_code_moved_into_the_app_package_is_the_sdk_s_or_unknown_never_first_party(repackaged_apk):
    actors = _actors(repackaged_apk)
    # only AppsFlyer's named code calls them, directly or through renamed code of the same package
    assert actors[("com.app.repack.b", "telephony.get_device_id")] == Actor(ActorKind.SDK, "appsflyer")
    assert actors[("com.app.repack.d", "settings.secure.android_id")] == Actor(ActorKind.SDK, "appsflyer")
    assert actors[("com.app.repack.a0", "settings.secure.android_id")] == Actor(ActorKind.SDK, "appsflyer")
    # a renamed class in a package the build moved SDK code into: its name says nothing of who wrote it, and the
    # app calling it does not make it the app's (the app calls SDK code too)
    unplaced = actors[("com.app.repack.c", "telephony.get_device_id")]
    assert unplaced.kind is ActorKind.UNKNOWN and "com.appsflyer.AppsFlyerLib of appsflyer" in unplaced.id
    # the app's renamed code in a package no SDK calls into stays the app's, and kept app classes too
    assert actors[("com.app.repack.util.f", "settings.secure.android_id")].kind is ActorKind.FIRST_PARTY


MATERIAL_EDIT = "com/google/android/material/textfield/TextInputEditText"


def _extending(name: str, parent: str) -> str:
    return _class(name, ".method public constructor <init>()V\n    .registers 1\n"
                        f"    invoke-direct {{p0}}, L{parent};-><init>()V\n    return-void\n.end method\n", parent)


def _renamed_with_constructor(name: str, body: str) -> str:
    return _class(name, ".method public constructor <init>()V\n    .registers 1\n"
                        "    invoke-direct {p0}, Ljava/lang/Object;-><init>()V\n    return-void\n.end method\n"
                  + _static("a", body))


@pytest.fixture(scope="module")
def library_moved_apk(tmp_path_factory) -> Path:
    """com.app.lib without SDKs: Material's TextInputEditText (kept) extends the renamed top-level `B1.w` (IMEI)
    and the renamed `com.app.lib.w` (Android ID), library code R8 renamed, and moved into the app's package;
    `com.app.lib.t` (IMEI), called by the app's MainActivity, sits in that package; the top-level `B1.v` (Android
    ID) is extended by Material's class and by the app's own MyEdit."""
    require_tools()
    pkg = "com/app/lib"
    classes = {
        f"{pkg}/MainActivity": _activity(f"{pkg}/MainActivity", f"{pkg}/t", "B1/w", f"{pkg}/w", "B1/v"),
        "B1/w": _renamed_with_constructor("B1/w", IMEI),
        f"{pkg}/w": _renamed_with_constructor(f"{pkg}/w", ANDROID_ID),
        f"{pkg}/t": _class(f"{pkg}/t", _static("a", IMEI)),
        "B1/v": _renamed_with_constructor("B1/v", ANDROID_ID),
        MATERIAL_EDIT: _extending(MATERIAL_EDIT, "B1/w"),
        "com/google/android/material/textfield/Other": _extending("com/google/android/material/textfield/Other",
                                                                  f"{pkg}/w"),
        "com/google/android/material/chip/Chip": _extending("com/google/android/material/chip/Chip", "B1/v"),
        f"{pkg}/MyEdit": _extending(f"{pkg}/MyEdit", "B1/v"),
    }
    return build_apk(tmp_path_factory.mktemp("libmoved"), _manifest("com.app.lib", ".MainActivity"), classes)


@needs_tools
def test_renamed_library_code_is_placed_by_the_library_class_extending_it(library_moved_apk):
    actors = _actors(library_moved_apk)
    assert actors[("B1.w", "telephony.get_device_id")] == Actor(ActorKind.LIBRARY, "material")
    assert actors[("com.app.lib.w", "settings.secure.android_id")] == Actor(ActorKind.LIBRARY, "material")
    # the app's own class extends it too: nothing says whose it is
    assert actors[("B1.v", "settings.secure.android_id")].kind is ActorKind.UNKNOWN
    # renamed code in a package the build moved library code into: not the app's by its name
    moved = actors[("com.app.lib.t", "telephony.get_device_id")]
    assert moved.kind is ActorKind.UNKNOWN and "textfield.Other of material extends" in moved.id


TWILIGHT = ("Could not get last known location. This is probably because the app does not have any location "
            "permissions. Falling back to hardcoded sunrise/sunset values.")


@pytest.fixture(scope="module")
def signatures_apk(tmp_path_factory) -> Path:
    """com.app.sig without SDKs: the top-level renamed `C1.k` (IMEI) holds TwilightManager's message; the renamed
    `com.app.sig.k` (Android ID), R8-moved into the app's package, keeps `TwilightManager.java` as its source file;
    the app's own kept `com.app.sig.Own` holds the same message, and its renamed `com.app.sig.m` a message any
    app may log ("Failed to get last known location")."""
    require_tools()
    pkg = "com/app/sig"
    said = f'    const-string v2, "{TWILIGHT}"\n'
    classes = {
        f"{pkg}/MainActivity": _activity(f"{pkg}/MainActivity", "C1/k", f"{pkg}/k", f"{pkg}/Own", f"{pkg}/m"),
        "C1/k": _class("C1/k", _static("a", said + IMEI)),
        f"{pkg}/k": _class(f"{pkg}/k", _static("a", ANDROID_ID)).replace(
            ".super Ljava/lang/Object;", '.super Ljava/lang/Object;\n.source "TwilightManager.java"'),
        f"{pkg}/Own": _class(f"{pkg}/Own", _static("a", said + IMEI)),
        f"{pkg}/m": _class(f"{pkg}/m", _static("a", '    const-string v2, "Failed to get last known location"\n'
                                                    + IMEI)),
    }
    return build_apk(tmp_path_factory.mktemp("sig"), _manifest("com.app.sig", ".MainActivity"), classes)


@needs_tools
def test_renamed_library_code_is_known_by_its_message_or_source_file(signatures_apk):
    actors = _actors(signatures_apk)
    assert actors[("C1.k", "telephony.get_device_id")] == Actor(ActorKind.LIBRARY, "androidx")
    assert actors[("com.app.sig.k", "settings.secure.android_id")] == Actor(ActorKind.LIBRARY, "androidx")
    # a kept name is placed by its package; a short message an app may log too places nothing
    assert actors[("com.app.sig.Own", "telephony.get_device_id")].kind is ActorKind.FIRST_PARTY
    assert actors[("com.app.sig.m", "telephony.get_device_id")].kind is ActorKind.FIRST_PARTY


def test_renamed_signatures_name_catalogued_libraries(catalogue):
    from audit.attribution import attribution_rules
    rules = attribution_rules()
    libraries = {lib.id for lib in catalogue.libraries}
    assert rules.signature_strings and rules.signature_files
    assert {lib for _text, lib in rules.signature_strings + rules.signature_files} <= libraries


@pytest.fixture(scope="module")
def shaded_apk(tmp_path_factory) -> Path:
    """com.app.shade with Adjust shaded as `com.app.shade.vendor.adjust.sdk` (its entry class Adjust there, its
    ActivityHandler reading the Android ID), and the app's own `com.app.shade.vendor.maps.Geo` reading the IMEI."""
    require_tools()
    shaded = "com/app/shade/vendor/adjust/sdk"
    classes = {
        "com/app/shade/MainActivity": _activity("com/app/shade/MainActivity", f"{shaded}/Adjust",
                                                "com/app/shade/vendor/maps/Geo"),
        f"{shaded}/Adjust": _class(f"{shaded}/Adjust", _static("a", _calls(f"{shaded}/ActivityHandler"))),
        f"{shaded}/ActivityHandler": _class(f"{shaded}/ActivityHandler", _static("a", ANDROID_ID)),
        "com/app/shade/vendor/maps/Geo": _class("com/app/shade/vendor/maps/Geo", _static("a", IMEI)),
    }
    return build_apk(tmp_path_factory.mktemp("shade"), _manifest("com.app.shade", ".MainActivity"), classes)


@needs_tools
def test_an_sdk_shaded_without_its_top_level_label_is_found_by_its_entry_class(shaded_apk):
    actors = _actors(shaded_apk)
    assert actors[("com.app.shade.vendor.adjust.sdk.ActivityHandler", "settings.secure.android_id")] == \
        Actor(ActorKind.SDK, "adjust")
    assert actors[("com.app.shade.vendor.maps.Geo", "telephony.get_device_id")].kind is ActorKind.FIRST_PARTY


# -- apps of SDK vendors, apps under generic organisations --------------------------------------------------------
@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_an_sdk_vendor_s_other_code_is_not_first_party_by_organisation(catalogue):
    """The Unity Ads test app: its organisation com.unity3d ships Unity Ads, so an uncatalogued part of the SDK
    (`com.unity3d.scar`) is unknown, not the app's; its own package stays first party, the SDK stays the SDK."""
    app = app_context(catalogue, "com.unity3d.ads.test", ["com.unity3d.ads.test.Runner"])
    scar = catalogue.actor_for_class("com.unity3d.scar.adapter.Loader", app)
    assert scar.kind is ActorKind.UNKNOWN and "com.unity3d" in scar.id and "unity_ads" in scar.id
    assert catalogue.actor_for_class("com.unity3d.ads.test.Case", app).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("com.unity3d.services.core.Device", app) == Actor(ActorKind.SDK, "unity_ads")
    # an organisation that ships no SDK still owns its packages
    other = app_context(catalogue, "com.foo.app", ["com.foo.android.Main"], None, ["com.foo.android.Main"])
    assert catalogue.actor_for_class("com.foo.core.Store", other).kind is ActorKind.FIRST_PARTY


def test_a_vendor_sample_s_screens_are_the_app_s_an_engine_launcher_stays_the_engine(catalogue):
    sample = app_context(catalogue, "com.appsflyer.demo", ["com.appsflyer.sample.MainActivity"], None,
                         ["com.appsflyer.sample.MainActivity"])
    assert catalogue.actor_for_class("com.appsflyer.sample.Tracker", sample).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("com.appsflyer.internal.AFa1", sample) == Actor(ActorKind.SDK, "appsflyer")
    # the launcher holds the SDK's entry class: the SDK's own screen, not the sample's
    entry = app_context(catalogue, "com.appsflyer.demo", ["com.appsflyer.Debug"], None, ["com.appsflyer.Debug"])
    assert catalogue.actor_for_class("com.appsflyer.AppsFlyerLib", entry) == Actor(ActorKind.SDK, "appsflyer")
    game = app_context(catalogue, "com.mygame", ["com.unity3d.player.UnityPlayerActivity"], None,
                       ["com.unity3d.player.UnityPlayerActivity"])
    assert catalogue.actor_for_class("com.unity3d.player.UnityPlayer", game).kind is ActorKind.LIBRARY


def test_one_app_split_across_packages_of_a_generic_organisation_is_first_party(catalogue):
    app = app_context(catalogue, "com.example.foo.free", ["com.example.foo.ui.MainActivity"], None,
                      ["com.example.foo.ui.MainActivity"])
    assert catalogue.actor_for_class("com.example.foo.data.Repo", app).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("com.example.bar.Lib", app) == Actor(ActorKind.SDK, "unidentified:com.example.bar")
    # what they share is a catalogue prefix: not the app's (a sample inside Play services' namespace)
    gms = app_context(catalogue, "com.google.android.gms.samples.maps", ["com.google.android.gms.ads.demo.Main"],
                      None, ["com.google.android.gms.ads.demo.Main"])
    assert catalogue.actor_for_class("com.google.android.gms.common.api.Client", gms).kind is ActorKind.LIBRARY


@pytest.fixture(scope="module")
def vendor_sample_apk(tmp_path_factory) -> Path:
    """com.appsflyer.demo, its launcher com.appsflyer.sample.MainActivity reading the IMEI itself and starting
    AppsFlyerLib, which reads the Android ID."""
    require_tools()
    classes = {
        "com/appsflyer/sample/MainActivity": _activity("com/appsflyer/sample/MainActivity",
                                                       "com/appsflyer/sample/Device", "com/appsflyer/AppsFlyerLib"),
        "com/appsflyer/sample/Device": _class("com/appsflyer/sample/Device", _static("a", IMEI)),
        "com/appsflyer/AppsFlyerLib": _class("com/appsflyer/AppsFlyerLib", _static("a", ANDROID_ID)),
    }
    return build_apk(tmp_path_factory.mktemp("sample"),
                  _manifest("com.appsflyer.demo", "com.appsflyer.sample.MainActivity"), classes)


@needs_tools
def test_a_vendor_sample_app_is_first_party_and_its_sdk_the_sdk(vendor_sample_apk):
    actors = _actors(vendor_sample_apk)
    assert actors[("com.appsflyer.sample.Device", "telephony.get_device_id")].kind is ActorKind.FIRST_PARTY
    assert actors[("com.appsflyer.AppsFlyerLib", "settings.secure.android_id")] == Actor(ActorKind.SDK, "appsflyer")


# -- libraries the catalogue lacked --------------------------------------------------------------------------------
@pytest.mark.parametrize("class_name,library", [
    ("hilt_aggregated_deps._com_app_MainActivity_GeneratedInjector", "dagger"),   # every Hilt app has these
    ("com.luck.picture.lib.config.PictureMimeType", "media_pickers"),
    ("pub.devrel.easypermissions.EasyPermissions", "permission_helpers"),
    ("net.openid.appauth.browser.BrowserSelector", "browser_helpers"),
    ("com.wdullaer.materialdatetimepicker.date.DatePickerDialog", "date_libraries"),
    ("io.nlopez.smartlocation.SmartLocation", "location_wrappers")])
def test_common_libraries_that_call_sensitive_apis_act_for_their_caller(catalogue, class_name, library):
    """Not `unidentified:` SDKs: a library's call is attributed to the code that calls it."""
    assert catalogue.actor_for_class(class_name, "com.app.x") == Actor(ActorKind.LIBRARY, library)


# -- renamed family code placed by evidence three callers away ------------------------------------------------------
GMS = "com/google/android/gms/internal"


@pytest.fixture(scope="module")
def family_chain_apk(tmp_path_factory) -> Path:
    """zzqa (a Runnable reading the IMEI in run(), which nothing invokes by name) is constructed by zzqb.a, called
    by zzqc.b, called by zzqd.c, whose string names AdMob's host: AdMob's Play services internals, as
    blooddonation's zzafd (advertising ID) <- zzafc <- zzabl <- zzabt."""
    require_tools()
    runnable = (f".class public L{GMS}/zzqa;\n.super Ljava/lang/Object;\n.implements Ljava/lang/Runnable;\n"
                ".field private final c:Landroid/content/Context;\n"
                ".method public constructor <init>(Landroid/content/Context;)V\n    .registers 2\n"
                "    invoke-direct {p0}, Ljava/lang/Object;-><init>()V\n"
                f"    iput-object p1, p0, L{GMS}/zzqa;->c:Landroid/content/Context;\n    return-void\n.end method\n"
                ".method public run()V\n    .registers 4\n"
                f"    iget-object p0, p0, L{GMS}/zzqa;->c:Landroid/content/Context;\n"
                + IMEI.replace("return-void", "return-void") + "\n.end method\n")
    build = (f"    new-instance v0, L{GMS}/zzqa;\n    invoke-direct {{v0, p0}}, L{GMS}/zzqa;-><init>(Landroid/content/Context;)V\n"
             "    return-void")
    classes = {
        "com/app/chain/MainActivity": _activity("com/app/chain/MainActivity", f"{GMS}/zzqd"),
        f"{GMS}/zzqa": runnable,
        f"{GMS}/zzqb": _class(f"{GMS}/zzqb", _static("a", build)),
        f"{GMS}/zzqc": _class(f"{GMS}/zzqc", _static("a", _calls(f"{GMS}/zzqb"))),
        f"{GMS}/zzqd": _class(f"{GMS}/zzqd", _static("a", '    const-string v0, "https://googleads.g.doubleclick.net/mads/gma"\n'
                                                           + _calls(f"{GMS}/zzqc"))),
    }
    return build_apk(tmp_path_factory.mktemp("chain"), _manifest("com.app.chain", ".MainActivity"), classes)


@needs_tools
def test_renamed_family_code_is_placed_by_evidence_three_callers_away(family_chain_apk):
    assert _actors(family_chain_apk)[("com.google.android.gms.internal.zzqa", "telephony.get_device_id")] == \
        Actor(ActorKind.SDK, "google_admob")


# -- over every corpus file ----------------------------------------------------------------------------------------
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "apks"
CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir()
                      if p.name.lower().endswith((".apk", ".apks", ".xapk", ".apkm", ".aab"))) if CORPUS.is_dir() else []


def _first_party_classes_other_code_calls_or_extends(path: Path) -> list[tuple[str, str, str]]:
    """(called method or class, calling method or subclass, SDK or library) for each invoke by a catalogued SDK's
    code of a method of a class that makes a first-party call site, and each catalogued class extending one."""
    from audit.static.callsites import CodeIndex
    from audit.static.scan import _Clock, _through_sdks

    report = scan_app([path])
    front = _through_sdks([path], None, _Clock())
    own = {s.caller.split("->", 1)[0] for s in report.api_calls if s.actor.kind is ActorKind.FIRST_PARTY}
    wanted = []
    for dex in front.dexes:
        classes = dex.class_descriptors()
        method_idx, _flags, _code, owners = dex.method_table()
        wanted += [dex.method_descriptor(m) for m, owner in zip(method_idx, owners) if classes[owner] in own]
    index = CodeIndex(front.dexes)
    callers, _ = index.references(wanted) if wanted else ({}, {})
    found = []
    for cls in sorted(own):       # catalogued code extending it (separately compiled code cannot extend the app's)
        for child in index.descendants(cls):
            actor = front.catalogue.actor_for_class(child, report.app_code)
            if actor.kind is ActorKind.LIBRARY or (actor.kind is ActorKind.SDK and not actor.id.startswith("unid")):
                found.append((cls, child, actor.id))
    for descriptor, refs in sorted(callers.items()):
        for ref in refs:
            actor = front.catalogue.actor_for_class(ref.class_descriptor, report.app_code)
            if actor.kind is ActorKind.SDK and not (actor.id or "").startswith("unidentified:"):
                found.append((descriptor, ref.descriptor, actor.id))
    return found


@needs_tools
def test_the_property_below_sees_code_moved_into_the_app_package(repackaged_apk, library_moved_apk):
    assert _first_party_classes_other_code_calls_or_extends(repackaged_apk) == []
    assert _first_party_classes_other_code_calls_or_extends(library_moved_apk) == []


@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_no_first_party_call_site_is_in_a_class_sdk_code_calls(name):
    """A separately compiled SDK never calls the app's own classes by name (it calls back through its own
    interfaces), and no library or SDK extends them: a first-party calling class whose methods a catalogued SDK's
    code invokes, or that catalogued code extends, is code the build moved into the app's package."""
    assert _first_party_classes_other_code_calls_or_extends(CORPUS / name) == []


def _classes_carrying_signatures(path: Path) -> list[tuple[str, str, str]]:
    """(class, the signature it carries, its actor) for each class of the app holding a `renamed_signatures`
    string constant (const-string / const-string/jumbo of it, confirmed in the method's body) or source-file
    name."""
    import re
    import struct

    from audit.attribution import attribution_rules
    from audit.static.scan import _Clock, _through_sdks

    rules = attribution_rules()
    front = _through_sdks([path], None, _Clock())
    app = scan_app([path]).app_code
    out = []
    for dex in front.dexes:
        classes = dex.class_descriptors()
        files = dict(rules.signature_files)
        for i, desc in enumerate(classes):
            at = dex.class_defs_off + 32 * i + 16
            source = int.from_bytes(dex.data[at:at + 4], "little")
            if source < dex.string_ids_size and dex.string(source) in files:
                out.append((desc, dex.string(source), front.catalogue.actor_for_class(desc, app)))
        start, end = dex.code_area()
        for text, _library in rules.signature_strings:
            idx = dex.find_string(text)
            if idx is None:
                continue
            pattern = re.compile(re.escape(b"\x1a") + b"[\x00-\xff]" + re.escape(struct.pack("<H", idx))
                                 if idx < 65536 else re.escape(b"\x1b") + b"[\x00-\xff]" + re.escape(struct.pack("<I", idx)),
                                 re.DOTALL)
            for match in pattern.finditer(dex.data, start, end):
                method = dex.method_at(match.start())
                if method is not None and idx in dex.body(method).strings:
                    desc = classes[method.class_def]
                    out.append((desc, text[:30], front.catalogue.actor_for_class(desc, app)))
    return out


@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_renamed_signatures_occur_only_in_their_library_s_code(name):
    """Each signature string or source-file name, wherever a corpus app holds it in a class with a real name, lies
    in that library (AndroidX or its predecessor, the support library): a signature found in other code would
    make renamed app code a library's."""
    from audit.attribution import looks_obfuscated, obfuscated_class_name

    for desc, signature, actor in _classes_carrying_signatures(CORPUS / name):
        if looks_obfuscated(desc) or obfuscated_class_name(desc):
            continue
        assert actor.kind is ActorKind.LIBRARY and actor.id in ("androidx", "android_support"), (desc, signature)


@needs_tools
def test_the_signature_property_sees_a_signature_in_the_app_s_code(signatures_apk):
    assert [(d, a.kind) for d, _s, a in _classes_carrying_signatures(signatures_apk) if "Own" in d] == \
        [("Lcom/app/sig/Own;", ActorKind.FIRST_PARTY)]


def _first_party_outside_the_app(path: Path, catalogue) -> list[str]:
    """The first-party calling classes that lie neither under one of the app's own packages nor under an
    organisation of the app that ships no catalogued SDK, or whose package holds a catalogued SDK's entry class
    relocated (`x.y.adjust.sdk` for `com.adjust.sdk.Adjust`)."""
    from audit.attribution import under

    report = scan_app([path])
    context = report.app_code
    # `adjust.sdk.Adjust` for com.adjust.sdk.Adjust: an entry class without its top-level label
    entry_tails = {e.split(".", 1)[1] for sdk in catalogue.sdks for e in sdk.entry_classes}
    from audit.static.scan import _Clock, _through_sdks
    defined = {d[1:-1].replace("/", ".") for dex in _through_sdks([path], None, _Clock()).dexes
               for d in dex.class_descriptors()}
    by_simple_name: dict[str, set[str]] = {}
    for tail in entry_tails:
        by_simple_name.setdefault(tail.rpartition(".")[2], set()).add(tail)
    relocated_roots = {name.rpartition(".")[0] for name in defined for tail in by_simple_name.get(name.rpartition(".")[2], ())
                       if name.endswith("." + tail) and catalogue.match_prefix(name) is None}
    out = []
    for site in report.api_calls:
        if site.actor.kind is not ActorKind.FIRST_PARTY:
            continue
        cls = site.caller.split("->", 1)[0][1:-1].replace("/", ".")
        inside = any(under(cls, p) for p in context.own_packages) or any(
            under(cls, o) and not any(under(p, o) for sdk in catalogue.sdks for p in sdk.packages)
            for o in context.organisations)
        relocated = any(under(cls, root) for root in relocated_roots)
        if not inside or relocated:
            out.append(cls)
    return sorted(set(out))


@needs_tools
def test_the_first_party_property_sees_a_shaded_sdk(shaded_apk, catalogue):
    assert _first_party_outside_the_app(shaded_apk, catalogue) == []


@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not present at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_first_party_lies_in_the_app_s_packages_or_an_organisation_shipping_no_sdk(name, catalogue):
    """Every first-party call site's class lies under one of the app's own packages, or under an organisation of
    the app that ships no catalogued SDK; and no catalogued SDK's entry class sits, relocated, in its package."""
    assert _first_party_outside_the_app(CORPUS / name, catalogue) == []
