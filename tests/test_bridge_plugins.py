"""Cross-platform plugins (rules/libraries.yaml `bridge`): Flutter, React Native, Expo, Capacitor and Cordova plugins
whose Java code reads what the app's Dart or JavaScript asks for through the framework's bridge.

No Java caller shows the app's call, and a plugin is no third party: a read inside one is neither an unidentified
SDK (a third-party flow) nor a library's own code (dropped from the findings), but the app's capability.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from smali_builds import ANDROID_ID, build_apk, launcher_manifest, require_tools

from audit.catalogue import load_catalogue
from audit.model import Actor, ActorKind, Evidence, Level, Observation
from audit.rules.declarations import Declarations, Statement
from audit.rules.engine import AuditInput, evaluate
from audit.static.scan import scan_app

# One plugin class of each namespace, as the plugins' sources declare them
PLUGIN_CLASSES = [
    "dev/fluttercommunity/plus/device_info/MethodCallHandlerImpl",       # Flutter: device_info_plus
    "com/baseflow/geolocator/GeolocatorPlugin",                          # Flutter: geolocator
    "io/flutter/plugins/deviceinfo/MethodCallHandlerImpl",               # Flutter: the team's old device_info
    "com/learnium/RNDeviceInfo/RNDeviceInfoModule",                      # React Native: react-native-device-info
    "expo/modules/application/ApplicationModule",                        # Expo: expo-application
    "com/capacitorjs/plugins/device/Device",                             # Capacitor: @capacitor/device
    "org/apache/cordova/device/Device",                                  # Cordova: cordova-plugin-device
]
MANIFEST = launcher_manifest("com.acme.shop", min_sdk=24, target_sdk=35)


def _reader(name: str) -> str:
    """A plugin class whose method reads the Android ID and that no Java code calls (the bridge does)."""
    return (f".class public L{name};\n.super Ljava/lang/Object;\n"
            f".method public static read(Landroid/content/Context;)V\n    .registers 3\n{ANDROID_ID}\n.end method\n")


@pytest.fixture(scope="module")
def plugin_apk(tmp_path_factory) -> Path:
    require_tools()
    classes = {"com/acme/shop/MainActivity": ".class public Lcom/acme/shop/MainActivity;\n"
                                            ".super Landroid/app/Activity;\n"}
    classes.update({name: _reader(name) for name in PLUGIN_CLASSES})
    classes["okhttp3/internal/Platform"] = _reader("okhttp3/internal/Platform")   # a library's own read
    return build_apk(tmp_path_factory.mktemp("plugins"), MANIFEST, classes)


def test_a_plugins_read_is_its_bridge_librarys_not_an_unidentified_sdks(plugin_apk):
    catalogue = load_catalogue()
    actors = {site.caller.split("->", 1)[0][1:-1]: site.actor for site in scan_app([plugin_apk]).api_calls}
    assert set(actors) == {*PLUGIN_CLASSES, "okhttp3/internal/Platform"}
    for name in PLUGIN_CLASSES:
        actor = actors[name]
        assert actor.kind is ActorKind.LIBRARY, (name, actor)
        assert catalogue.library(actor.id).bridge in ("Dart", "JavaScript"), (name, actor)


def test_what_a_plugin_can_read_is_judged_as_the_apps(plugin_apk):
    """A vendor saying it does not collect the Android ID is contested by every plugin that can read it (a
    first-party flow, named with the language that drives it); a library's own read stays nobody's."""
    report = scan_app([plugin_apk])
    sheet = Declarations("com.acme.shop", "test sheet", "sheet.yaml", "appaudit-yaml",
                         (Statement("not_collected", "device_ids.android_id", where="sheet.yaml:3"),), None)
    result = evaluate(AuditInput("com.acme.shop", tuple(report.observations), artifact="app.apk"), sheet)
    contested = [f for f in result.findings if f.rule == "not-collected-contested"]
    bridged = {a.id for a in {site.actor for site in report.api_calls} if a.id != "okhttp"}
    assert len(contested) == len(bridged) == 5
    assert all("run by the app's" in f.message for f in contested)
    assert not [f for f in result.findings if "okhttp" in f.message]


def test_every_bridge_library_names_a_language_and_no_sdk_hides_under_it():
    """The data: a bridge names the language of the app code it runs for, and each of its prefixes is its own (no
    SDK or other library claims the same prefix; an SDK's own plugin has a longer prefix and stays the SDK)."""
    catalogue = load_catalogue()
    bridges = [lib for lib in catalogue.libraries if lib.bridge]
    languages = {"Dart", "JavaScript", "C#", "C++", "C++, Lua or JavaScript", "GDScript", "GML", "Python",
                 "ActionScript", "C, C++ or Delphi", "App Inventor blocks"}
    assert bridges and all(lib.bridge in languages for lib in bridges), {lib.bridge for lib in bridges}
    for lib in bridges:
        for prefix in lib.packages:
            matched = catalogue.match_prefix(prefix + ".Plugin")
            assert matched == (prefix, Actor(ActorKind.LIBRARY, lib.id)), (prefix, matched)


def test_a_library_without_a_bridge_keeps_its_capabilities_out_of_the_findings():
    site = Evidence("call-site", "Landroid/provider/Settings$Secure;->getString", "Lokhttp3/internal/Platform;->m()V")
    observation = Observation("device_ids.android_id", Level.REACHABLE, Actor(ActorKind.LIBRARY, "okhttp"),
                              "static", (site,))
    sheet = Declarations("com.acme.shop", "test sheet", "sheet.yaml", "appaudit-yaml",
                         (Statement("not_collected", "device_ids.android_id", where="sheet.yaml:3"),), None)
    assert not evaluate(AuditInput("com.acme.shop", (observation,), artifact="app.apk"), sheet).findings
    bridged = Observation("device_ids.android_id", Level.REACHABLE, Actor(ActorKind.LIBRARY, "flutter_plugins"),
                          "static", (site,))
    findings = evaluate(AuditInput("com.acme.shop", (bridged,), artifact="app.apk"), sheet).findings
    assert [f.rule for f in findings] == ["not-collected-contested"]


# The Java side of runtimes that run the app's logic in another language, one class of each (as the engines ship
# them), reading what the game's C#, C++ or script asks for through JNI: Unreal's GameActivity has
# AndroidThunkJava_GetAndroidId, Godot's GodotIO getUniqueID
RUNTIME_CLASSES = ["com/epicgames/ue4/GameActivity", "com/epicgames/unreal/GameActivity",
                   "com/unity3d/player/UnityPlayer", "org/godotengine/godot/GodotIO", "mono/android/Runtime",
                   "org/kivy/android/PythonActivity", "org/qtproject/qt/android/QtNative", "com/tns/Runtime",
                   # cross-platform frameworks' core modules, read for the app's JavaScript, Dart or blocks
                   "com/facebook/react/modules/clipboard/ClipboardModule", "io/flutter/plugin/platform/PlatformPlugin",
                   "org/apache/cordova/engine/SystemWebChromeClient", "com/getcapacitor/BridgeWebChromeClient",
                   "com/google/appinventor/components/runtime/LocationSensor"]


def test_what_a_runtimes_java_side_reads_for_the_apps_own_logic_is_the_apps(tmp_path):
    """Unity, Unreal, Godot, .NET, Kivy, Qt and NativeScript run the app's logic in another language; their Java
    side reads the Android ID (or the advertising ID, the location) when that code asks, through JNI, which no
    Java caller shows. React Native's, Flutter's, Cordova's, Capacitor's and App Inventor's core modules do the
    same for the app's JavaScript, Dart or blocks. They were libraries without a bridge, so their reads were
    dropped as a library's own and a vendor's "we do not collect the Android ID" stood uncontested. They now
    carry their language as a bridge: each read is the app's capability and contests the denial. libGDX is Java
    the app calls like any library: its read stays the library's."""
    require_tools()
    classes = {"com/acme/game/MainActivity": ".class public Lcom/acme/game/MainActivity;\n"
                                            ".super Landroid/app/Activity;\n"}
    classes.update({name: _reader(name) for name in [*RUNTIME_CLASSES, "com/badlogic/gdx/backends/android/Info"]})
    report = scan_app([build_apk(tmp_path, launcher_manifest("com.acme.game", min_sdk=24, target_sdk=35), classes)])
    catalogue = load_catalogue()
    actors = {site.caller.split("->", 1)[0][1:-1]: site.actor for site in report.api_calls}
    assert set(actors) == {*RUNTIME_CLASSES, "com/badlogic/gdx/backends/android/Info"}
    assert all(catalogue.library(actors[name].id).bridge for name in RUNTIME_CLASSES), actors
    assert actors["com/badlogic/gdx/backends/android/Info"] == Actor(ActorKind.LIBRARY, "libgdx")
    sheet = Declarations("com.acme.game", "test sheet", "sheet.yaml", "appaudit-yaml",
                         (Statement("not_collected", "device_ids.android_id", where="sheet.yaml:3"),), None)
    result = evaluate(AuditInput("com.acme.game", tuple(report.observations), artifact="app.apk"), sheet)
    contested = [f for f in result.findings if f.rule == "not-collected-contested"]
    runtimes = {actors[name].id for name in RUNTIME_CLASSES}
    assert len(contested) == len(runtimes) == 12, [f.message for f in contested]
    assert all("run by the app's" in f.message for f in contested)
    assert not [f for f in result.findings if "libgdx" in f.message]
