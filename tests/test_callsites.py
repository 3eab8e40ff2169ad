"""Sensitive-API call sites: real DroidBench APKs, the education fixture app, and a probe dex assembled here with
smali that exercises args_any / fields_any, wrapper attribution, reachable vs present and switch payloads that
hide a fake invoke in front of a real one."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
from smali_builds import assemble_dex

from audit.model import Actor, ActorKind
from audit.static.apis import load_apis, load_entrypoints, parse_apis
from audit.static.callsites import (CodeIndex, class_names, find_call_sites, string_constants, string_hosts)
from audit.static.dex import DexFile
from audit.errors import InputError
from audit.rulesdata import load_yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
APKS = SHARED / "corpus" / "apks"
SMALI_JAR = Path("/usr/share/java/smali.jar")

IMEI = "Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;"


def _dexes(apk: Path) -> list[DexFile]:
    with zipfile.ZipFile(apk) as z:
        names = sorted((n for n in z.namelist() if re.fullmatch(r"classes\d*\.dex", n)),
                       key=lambda n: (len(n), n))
        return [DexFile(z.read(n), n) for n in names]


def _corpus(name: str) -> Path:
    path = APKS / name
    if not path.is_file():
        pytest.skip(f"shared corpus not present: {path}")
    return path


def _by(sites, **want):
    return [s for s in sites if all(getattr(s, k) == v for k, v in want.items())]


# -- DroidBench ----------------------------------------------------------------------------------------
def test_droidbench_direct_leak_getdeviceid_in_oncreate():
    sites = find_call_sites(_dexes(_corpus("droidbench__DirectLeak1.apk")), app_package="de.ecspride",
                            component_classes=["de.ecspride.MainActivity"])
    imei = _by(sites, api_id="telephony.get_device_id")
    assert [(s.caller, s.api, s.reachable, s.actor) for s in imei] == [
        ("Lde/ecspride/MainActivity;->onCreate(Landroid/os/Bundle;)V", IMEI, True, Actor(ActorKind.FIRST_PARTY))]
    assert imei[0].data_type == "device_ids.imei"


def test_droidbench_location_leak_listener_callback_is_reachable():
    sites = find_call_sites(_dexes(_corpus("droidbench__LocationLeak1.apk")), app_package="de.ecspride",
                            component_classes=["de.ecspride.LocationLeak1"])
    listener = "Lde/ecspride/LocationLeak1$MyLocationListener;->onLocationChanged(Landroid/location/Location;)V"
    got = {(s.api_id, s.caller, s.reachable) for s in sites}
    assert ("location.get_latitude", listener, True) in got
    assert ("location.get_longitude", listener, True) in got
    assert ("location_manager.request_location_updates",
            "Lde/ecspride/LocationLeak1;->onCreate(Landroid/os/Bundle;)V", True) in got
    # the callback is reachable through the hand-off: onCreate instantiates the listener (and passes it to
    # requestLocationUpdates); the path says so, entry method first
    onCreate = "Lde/ecspride/LocationLeak1;->onCreate(Landroid/os/Bundle;)V"
    assert {s.path for s in sites if s.caller == listener} == {(onCreate, listener)}
    # without the manifest component there is no entry point: nothing is reachable, whatever refers to what
    bare = find_call_sites(_dexes(_corpus("droidbench__LocationLeak1.apk")), app_package="de.ecspride")
    assert {(s.api_id, s.reachable, s.path) for s in bare if s.caller == listener} == {
        ("location.get_latitude", False, ()), ("location.get_longitude", False, ())}
    assert _by(bare, api_id="location_manager.request_location_updates")[0].reachable is False


def test_droidbench_private_data_leak_has_no_identifier_or_location_source():
    # PrivateDataLeak1 leaks a password typed into an EditText by SMS: user input, not a data type an API
    # returns. The engine must not invent an IMEI or location source there.
    sites = find_call_sites(_dexes(_corpus("droidbench__PrivateDataLeak1.apk")), app_package="de.ecspride",
                            component_classes=["de.ecspride.PrivateDateLeakage"])
    assert not [s for s in sites if s.data_type.startswith(("device_ids", "location"))]
    assert not [s for s in sites if s.actor.kind is ActorKind.FIRST_PARTY]


# -- the education fixture app (tests/fixtures/README.md is the ground truth) ----------------------------
def test_education_fixture_matches_its_ground_truth(education_apk):
    with zipfile.ZipFile(education_apk) as z:
        dexes = [DexFile(z.read("classes.dex"), "classes.dex")]
    pkg = "org.edukit.classroom"
    sites = find_call_sites(dexes, app_package=pkg, component_classes=[
        f"{pkg}.EduApplication", f"{pkg}.MainActivity", f"{pkg}.LiveLessonActivity"])
    got = {(s.api_id, s.caller.split("->")[0], s.reachable, str(s.actor), s.via) for s in sites}
    device_info = "Lorg/edukit/classroom/DeviceInfo;"
    for api_id in ("telephony.get_device_id", "telephony.get_line1_number", "settings.secure.android_id",
                   "wifi_info.get_ssid", "account_manager.get_accounts"):
        assert (api_id, device_info, True, "first-party", None) in got
    assert ("content_resolver.query.contacts", "Lorg/edukit/classroom/ContactsImporter;", True,
            "first-party", None) in got
    assert ("content_resolver.query.call_log", "Lorg/edukit/classroom/CallHistory;", True,
            "first-party", None) in got
    assert ("telephony.get_imei", "Lorg/edukit/classroom/CompatImei;", True, "first-party",
            "Landroidx/core/telephony/TelephonyManagerCompat;->getImei(Landroid/telephony/TelephonyManager;)"
            "Ljava/lang/String;") in got
    assert ("telephony.get_sim_serial_number", "Lorg/edukit/classroom/Legacy;", False, "first-party",
            None) in got
    assert ("settings.secure.android_id", "Lcom/amplitude/api/AmplitudeClient;", True, "sdk:amplitude",
            None) in got
    # deviceName reads Settings.Secure "bluetooth_name": not the Android ID
    assert not [s for s in sites if "deviceName" in s.caller]
    # the contacts query is contacts only, not call log or SMS
    assert {s.api_id for s in sites if "ContactsImporter" in s.caller} == {"content_resolver.query.contacts"}


# -- the probe dex ---------------------------------------------------------------------------------------
PROBE_PACKAGE = "com.example.probe"
OBJECT_INIT = """.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Ljava/lang/Object;-><init>()V
    return-void
.end method
"""

PROBE_SMALI = {
    "com/example/probe/MainActivity": """.class public Lcom/example/probe/MainActivity;
.super Landroid/app/Activity;

.method public constructor <init>()V
    .registers 1
    invoke-direct {p0}, Landroid/app/Activity;-><init>()V
    return-void
.end method

.method protected onCreate(Landroid/os/Bundle;)V
    .registers 4
    invoke-super {p0, p1}, Landroid/app/Activity;->onCreate(Landroid/os/Bundle;)V
    invoke-static {p0}, Lcom/example/probe/Helper;->collect(Landroid/content/Context;)Ljava/lang/String;
    new-instance v0, Lcom/example/probe/Listener;
    invoke-direct {v0}, Lcom/example/probe/Listener;-><init>()V
    const/4 v1, 0x0
    invoke-static {v1}, Lcom/example/probe/IdReader;->read(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    invoke-static {}, Lcom/example/probe/Deep;->run()V
    return-void
.end method
""",
    "com/example/probe/Helper": """.class public Lcom/example/probe/Helper;
.super Ljava/lang/Object;

.method public static collect(Landroid/content/Context;)Ljava/lang/String;
    .registers 3
    invoke-virtual {p0}, Landroid/content/Context;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    const-string v1, "android_id"
    invoke-static {v0, v1}, Landroid/provider/Settings$Secure;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

.method public static deviceName(Landroid/content/Context;)Ljava/lang/String;
    .registers 3
    invoke-virtual {p0}, Landroid/content/Context;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    const-string v1, "bluetooth_name"
    invoke-static {v0, v1}, Landroid/provider/Settings$Secure;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

.method public static contacts(Landroid/content/ContentResolver;)Landroid/database/Cursor;
    .registers 7
    sget-object v1, Landroid/provider/ContactsContract$Contacts;->CONTENT_URI:Landroid/net/Uri;
    const/4 v2, 0x0
    move-object v3, v2
    move-object v4, v2
    move-object v5, v2
    move-object v0, p0
    invoke-virtual/range {v0 .. v5}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    move-result-object v0
    return-object v0
.end method

.method public static callLog(Landroid/content/ContentResolver;)Landroid/database/Cursor;
    .registers 7
    const-string v1, "content://call_log/calls"
    invoke-static {v1}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;
    move-result-object v1
    const/4 v2, 0x0
    move-object v3, v2
    move-object v4, v2
    move-object v5, v2
    move-object v0, p0
    invoke-virtual/range {v0 .. v5}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    move-result-object v0
    return-object v0
.end method

.method public static anyQuery(Landroid/content/ContentResolver;Landroid/net/Uri;)Landroid/database/Cursor;
    .registers 7
    const/4 v2, 0x0
    move-object v3, v2
    move-object v4, v2
    move-object v5, v2
    move-object v0, p0
    move-object v1, p1
    invoke-virtual/range {v0 .. v5}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    move-result-object v0
    return-object v0
.end method
""",
    "com/example/probe/Listener": """.class public Lcom/example/probe/Listener;
.super Ljava/lang/Object;
.implements Landroid/location/LocationListener;

""" + OBJECT_INIT + """
.method public onLocationChanged(Landroid/location/Location;)V
    .registers 4
    invoke-virtual {p1}, Landroid/location/Location;->getLatitude()D
    return-void
.end method

.method public unused(Landroid/location/Location;)V
    .registers 4
    invoke-virtual {p1}, Landroid/location/Location;->getLongitude()D
    return-void
.end method
""",
    "com/example/probe/OrphanListener": """.class public Lcom/example/probe/OrphanListener;
.super Ljava/lang/Object;
.implements Landroid/location/LocationListener;

""" + OBJECT_INIT + """
.method public onLocationChanged(Landroid/location/Location;)V
    .registers 4
    invoke-virtual {p1}, Landroid/location/Location;->getLongitude()D
    return-void
.end method
""",
    "com/example/probe/Legacy": """.class public Lcom/example/probe/Legacy;
.super Ljava/lang/Object;

.method public static readSim(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getSimSerialNumber()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method

.method public static start(Landroid/telephony/TelephonyManager;)V
    .registers 1
    invoke-static {p0}, Lcom/example/probe/Legacy;->number(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    return-void
.end method

.method public static number(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getLine1Number()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "com/example/probe/Boot": """.class public Lcom/example/probe/Boot;
.super Ljava/lang/Object;

.field public static serial:Ljava/lang/String;

.method static constructor <clinit>()V
    .registers 1
    sget-object v0, Landroid/os/Build;->SERIAL:Ljava/lang/String;
    sput-object v0, Lcom/example/probe/Boot;->serial:Ljava/lang/String;
    return-void
.end method
""",
    "com/example/probe/IdReader": """.class public Lcom/example/probe/IdReader;
.super Ljava/lang/Object;

.method public static read(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-static {p0}, Landroidx/core/telephony/TelephonyManagerCompat;->getImei(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "com/example/probe/Deep": """.class public Lcom/example/probe/Deep;
.super Ljava/lang/Object;

.method public static run()V
    .registers 1
    const/4 v0, 0x0
    invoke-static {v0}, Landroidx/lib/Outer;->get(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    return-void
.end method
""",
    "androidx/core/telephony/TelephonyManagerCompat": """.class public Landroidx/core/telephony/TelephonyManagerCompat;
.super Ljava/lang/Object;

.method public static getImei(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getImei()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "androidx/lib/Outer": """.class public Landroidx/lib/Outer;
.super Ljava/lang/Object;

.method public static get(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-static {p0}, Landroidx/lib/Inner;->get(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "androidx/lib/Inner": """.class public Landroidx/lib/Inner;
.super Ljava/lang/Object;

.method public static get(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getMeid()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "androidx/lib/Unused": """.class public Landroidx/lib/Unused;
.super Ljava/lang/Object;

.method public static mac(Landroid/net/wifi/WifiInfo;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/net/wifi/WifiInfo;->getMacAddress()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    # Payloads placed mid-method, in front of the real invoke, each holding the bytes of a fake
    # `invoke-virtual {..}, getSubscriberId` (its method_id exists only through the class annotation).
    "com/example/probe/Switchy": """.class public Lcom/example/probe/Switchy;
.super Ljava/lang/Object;
.annotation runtime Lcom/example/probe/Ref;
    value = Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;
.end annotation

.method public static pick(ILandroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 4
    packed-switch p0, :pswitch_data
    sparse-switch p0, :sswitch_data
    const/4 v0, 4
    new-array v0, v0, [B
    fill-array-data v0, :array_data
    goto :after

    :pswitch_data
    .packed-switch FAKE_KEY
        :after
        :after
    .end packed-switch

    :sswitch_data
    .sparse-switch
        0x5 -> :after
        FAKE_KEY -> :after
    .end sparse-switch

    :array_data
    .array-data 1
        0x6et
        0x10t
        FAKE_LOt
        FAKE_HIt
    .end array-data

    :after
    invoke-virtual {p1}, Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
}


def _assemble(sources: dict[str, str], out: Path) -> DexFile:
    return DexFile(assemble_dex(sources, out).read_bytes(), out.name)


@pytest.fixture(scope="module")
def probe_dex(tmp_path_factory) -> DexFile:
    if not SMALI_JAR.is_file() or shutil.which("java") is None:
        pytest.skip("smali / java not installed (make deb)")
    work = tmp_path_factory.mktemp("probe")
    placeholder = {k: v.replace("FAKE_KEY", "0x7").replace("FAKE_LO", "0x0").replace("FAKE_HI", "0x0")
                   for k, v in PROBE_SMALI.items()}
    first = _assemble(placeholder, work / "first.dex")
    fake = first.find_method("Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;")
    assert fake is not None
    key = f"{(fake << 16) | 0x106e:#x}"    # little-endian bytes: 6e 10 lo hi = invoke-virtual {..}, fake
    final = {k: v.replace("FAKE_KEY", key).replace("FAKE_LO", f"{fake & 0xff:#x}")
             .replace("FAKE_HI", f"{fake >> 8:#x}") for k, v in PROBE_SMALI.items()}
    dex = _assemble(final, work / "classes.dex")
    assert dex.find_method("Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;") == fake
    return dex


def _probe_sites(dex: DexFile, stats=None):
    return find_call_sites([dex], app_package=PROBE_PACKAGE,
                           component_classes=["com.example.probe.MainActivity"], stats=stats)


def test_probe_args_any_and_fields_any(probe_dex):
    sites = _probe_sites(probe_dex)
    helper = "Lcom/example/probe/Helper;"
    got = {(s.api_id, s.caller.split("->")[1].split("(")[0]) for s in sites if s.caller.startswith(helper)}
    assert got == {("settings.secure.android_id", "collect"), ("content_resolver.query.contacts", "contacts"),
                   ("content_resolver.query.call_log", "callLog")}
    # deviceName ("bluetooth_name") and anyQuery (a Uri parameter) match no rule condition


def test_probe_wrapper_attribution(probe_dex):
    sites = _probe_sites(probe_dex)
    imei = _by(sites, api_id="telephony.get_imei")
    assert [(s.caller, str(s.actor), s.via, s.reachable) for s in imei] == [(
        "Lcom/example/probe/IdReader;->read(Landroid/telephony/TelephonyManager;)Ljava/lang/String;",
        "first-party",
        "Landroidx/core/telephony/TelephonyManagerCompat;->getImei(Landroid/telephony/TelephonyManager;)"
        "Ljava/lang/String;", True)]
    meid = _by(sites, api_id="telephony.get_meid")    # two library hops: Deep.run -> Outer.get -> Inner.get
    assert [(s.caller, s.via, s.reachable) for s in meid] == [(
        "Lcom/example/probe/Deep;->run()V",
        "Landroidx/lib/Inner;->get(Landroid/telephony/TelephonyManager;)Ljava/lang/String;", True)]
    mac = _by(sites, api_id="wifi_info.get_mac_address")   # nobody calls the wrapper: kept as the library's
    assert [(s.caller, str(s.actor), s.via, s.reachable) for s in mac] == [(
        "Landroidx/lib/Unused;->mac(Landroid/net/wifi/WifiInfo;)Ljava/lang/String;", "library:androidx", None,
        False)]


def test_probe_reachable_versus_present(probe_dex):
    verdict = {(s.api_id, s.caller.split("(")[0]): s.reachable for s in _probe_sites(probe_dex)}
    assert verdict[("telephony.get_sim_serial_number", "Lcom/example/probe/Legacy;->readSim")] is False
    # number() is referenced, but only by start(), which nothing calls: no path from an entry point
    assert verdict[("telephony.get_line1_number", "Lcom/example/probe/Legacy;->number")] is False
    assert verdict[("location.get_latitude", "Lcom/example/probe/Listener;->onLocationChanged")] is True
    assert verdict[("location.get_longitude", "Lcom/example/probe/OrphanListener;->onLocationChanged")] is False
    # an instantiated class makes its framework callbacks reachable, not its other methods
    assert verdict[("location.get_longitude", "Lcom/example/probe/Listener;->unused")] is False
    # a static initialiser runs when its class is first used; nothing uses Boot
    assert verdict[("build.serial_field", "Lcom/example/probe/Boot;-><clinit>")] is False
    assert verdict[("settings.secure.android_id", "Lcom/example/probe/Helper;->collect")] is True


def test_probe_payloads_hide_fake_invokes_and_keep_the_real_one(probe_dex):
    stats: dict = {}
    sites = _probe_sites(probe_dex, stats)
    assert not _by(sites, api_id="telephony.get_subscriber_id")
    switchy = _by(sites, api_id="telephony.get_device_id")
    assert [s.caller for s in switchy] == [
        "Lcom/example/probe/Switchy;->pick(ILandroid/telephony/TelephonyManager;)Ljava/lang/String;"]
    assert stats["candidates"] > stats["confirmed"]      # the fakes were candidates, then rejected
    # the payload bytes really are where a naive byte scan would see an invoke of getSubscriberId
    fake = probe_dex.find_method("Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;")
    needle = bytes([0x6e, 0x10, fake & 0xff, fake >> 8])
    assert probe_dex.data.count(needle) >= 3


def test_probe_results_are_deterministic(probe_dex):
    first = [s.to_json() for s in _probe_sites(probe_dex)]
    again = DexFile(probe_dex.data, "classes.dex")
    assert [s.to_json() for s in _probe_sites(again)] == first


def test_cross_dex_reachability_and_class_hierarchy(tmp_path):
    """The caller lives in classes2.dex, its caller in classes.dex: reachability crosses dex files."""
    if not SMALI_JAR.is_file() or shutil.which("java") is None:
        pytest.skip("smali / java not installed (make deb)")
    one = _assemble({"com/example/probe/MainActivity": PROBE_SMALI["com/example/probe/MainActivity"]},
                    tmp_path / "classes.dex")
    rest = {k: v for k, v in PROBE_SMALI.items() if k != "com/example/probe/MainActivity"
            and k != "com/example/probe/Switchy"}
    two = _assemble(rest, tmp_path / "classes2.dex")
    sites = find_call_sites([one, two], app_package=PROBE_PACKAGE,
                            component_classes=["com.example.probe.MainActivity"])
    collect = _by(sites, api_id="settings.secure.android_id")
    assert [(s.caller.split("(")[0], s.reachable) for s in collect] == [("Lcom/example/probe/Helper;->collect",
                                                                         True)]
    alone = find_call_sites([two], app_package=PROBE_PACKAGE)
    assert _by(alone, api_id="settings.secure.android_id")[0].reachable is False
    index = CodeIndex([one, two])
    assert "Landroid/app/Activity;" in index.ancestors("Lcom/example/probe/MainActivity;")
    assert "Landroid/location/LocationListener;" in index.ancestors("Lcom/example/probe/Listener;")


# -- strings, classes, rules -------------------------------------------------------------------------------
def test_class_names_and_string_hosts_on_the_corpus():
    dexes = _dexes(_corpus("exodus-core__blooddonation_fr.mobdev.blooddonation.apk"))
    names = class_names(dexes)
    assert len(names) == len(set(names)) == sum(d.class_defs_size for d in dexes)
    assert "fr.mobdev.blooddonation.fragment.MapsFragment" in names
    strings = string_constants(dexes)
    hosts = string_hosts(strings)
    assert "ad.doubleclick.net" in hosts and "a.tile.openstreetmap.org" in hosts
    assert all(("://" in s) or re.fullmatch(r"[a-z0-9.-]+", s) for s in strings)
    assert not [h for h in hosts if h.startswith(("com.", "android."))]


def test_every_api_rule_loads_and_uses_known_types():
    rules = load_apis()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)) >= 60
    for needed in ("telephony.get_device_id", "build.serial_field", "settings.secure.android_id",
                   "gms.advertising_id_info.get_id", "androidx.advertising_id_info.get_id",
                   "location_manager.get_last_known_location", "fused_location.get_last_location",
                   "content_resolver.query.sms", "camera2.open_camera", "audio_record.init",
                   "package_manager.get_installed_packages", "clipboard.get_primary_clip"):
        assert needed in ids
    assert not [r for r in rules if r.class_name == "java.lang.System"]   # currentTimeMillis is not personal
    assert "onLocationChanged" in load_entrypoints().callbacks


@pytest.mark.parametrize("change, message", [
    ({"data_type": "device_ids.imeii"}, r"apis\.yaml:\d+: data_type: unknown data type 'device_ids.imeii'"),
    ({"returns": "value"}, r"apis\.yaml:\d+: returns: 'value' is not one of"),
    ({"colour": "red"}, r"apis\.yaml:\d+: colour: unknown field"),
    ({"field": "SERIAL"}, r"give exactly one of 'method' or 'field'"),
    ({"signature": "(I"}, r"signature: '\(I' is not a Dalvik proto"),
])
def test_api_rule_validation_names_file_line_and_field(tmp_path, change, message):
    entry = {"id": "x.y", "class": "android.telephony.TelephonyManager", "method": "getDeviceId",
             "data_type": "device_ids.imei", "returns": "identifier", **change}
    body = "\n".join(f"    {k}: {v!r}" if k != "signature" else f"    {k}: '{v}'" for k, v in entry.items())
    path = tmp_path / "apis.yaml"
    path.write_text("apis:\n  - " + body.lstrip() + "\n")
    with pytest.raises(InputError, match=message):
        parse_apis(load_yaml(path), path)


def test_both_candidate_strategies_find_the_same_instructions(monkeypatch):
    """bytes.find per index (few targets), one regex alternation (many) and an any-index pass (thousands)
    must find the same instructions, on a real 5 MB dex."""
    import audit.static.callsites as callsites
    dex = _dexes(_corpus("exodus-core__blooddonation_fr.mobdev.blooddonation.apk"))[0]
    targets = {dex.find_method("Landroid/location/Location;->getLatitude()D"),
               dex.find_method("Landroid/location/Location;->getLongitude()D"),
               dex.find_method("Landroid/location/LocationManager;->getLastKnownLocation(Ljava/lang/String;)"
                               "Landroid/location/Location;")}
    assert None not in targets
    fields = dex.find_fields("Landroid/os/Build;", "MODEL")
    few = CodeIndex([dex]).scan(0, methods=targets, fields=fields)
    monkeypatch.setattr(callsites, "FIND_TARGETS_MAX", 0)
    many = CodeIndex([dex]).scan(0, methods=targets, fields=fields)
    monkeypatch.setattr(callsites, "REGEX_TARGETS_MAX", 0)
    huge = CodeIndex([dex]).scan(0, methods=targets, fields=fields)
    assert few == many == huge and len(few) > 20
    assert {h.kind for h in few} == {"method", "field"}


# -- the fast searches find exactly what the plain regular expressions find ---------------------------------
def _corpus_dexes() -> list[DexFile]:
    if not APKS.is_dir():
        pytest.skip(f"shared corpus not present: {APKS}")
    return [dex for apk in sorted(APKS.glob("*.apk")) for dex in _dexes(apk)]


def test_url_and_host_candidates_match_the_single_regex_on_every_corpus_dex():
    from audit.static.callsites import _TLDS, _candidate_starts
    plain = re.compile(rb"(?:https?|wss?)://|\.(?:" + _TLDS.encode() + rb")(?![A-Za-z0-9-])")
    found = 0
    for dex in _corpus_dexes():
        offsets, _order = dex.string_offsets_sorted()
        if not offsets:
            continue
        end = dex.data.find(b"\x00", offsets[-1] + 1)
        expected = [m.start() for m in plain.finditer(dex.data, offsets[0], end)]
        assert sorted(_candidate_starts(dex.data, offsets[0], end)) == expected, dex.name
        found += len(expected)
    assert found > 100
    tricky = b"xhttp://a https://b wss://c ws://d httpss://e ://f p://g h.com x.comx .io/"
    assert sorted(_candidate_starts(tricky, 0, len(tricky))) == [m.start() for m in plain.finditer(tricky)]


def test_index_search_with_high_byte_lookahead_matches_the_plain_alternation():
    import random
    from audit.static.callsites import _OPS_INVOKE, _byte_class, _index_alternation
    dex = _dexes(_corpus("exodus-core__blooddonation_fr.mobdev.blooddonation.apk"))[0]
    start, end = dex.code_area()
    rng = random.Random(5)
    for size in (5, 60, 250):
        wanted = rng.sample(range(dex.method_ids_size), size)
        plain = re.compile(_byte_class(_OPS_INVOKE) + rb"[\x00-\xff](?:"
                           + b"|".join(re.escape(i.to_bytes(2, "little")) for i in sorted(wanted)) + b")", re.DOTALL)
        fast = re.compile(_byte_class(_OPS_INVOKE) + rb"[\x00-\xff]" + _index_alternation(wanted), re.DOTALL)
        def starts(pattern):
            out, pos = [], start
            while (match := pattern.search(dex.data, pos, end)) is not None:
                out.append(match.start())
                pos = match.start() + 1
            return out
        assert starts(fast) == starts(plain)
