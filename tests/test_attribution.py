"""One attribution for every stage (audit/attribution.py), first party from the manifest, SDKs the catalogue
lacks, obfuscated code inside a catalogued family, a total order for every sorted record, and the inputs CI
pipelines have (.aab, loose split sets in a corpus folder), over every file of the shared corpus."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from smali_builds import assemble_dex
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.attribution import (AppContext, actor_for_stack, app_context, namespace_of, organisation_of)
from audit.catalogue import Catalogue, Library, Sdk, load_catalogue
from audit.errors import InputError
from audit.model import (Actor, ActorKind, Evidence, Level, Observation, Transmission, order_key,
                         sorted_observations)
from audit.runtime.events import observations_from_run
from audit.runtime.runfolder import RUN_SCHEMA
from audit.static.callsites import find_call_sites
from audit.static.dex import DexFile
from audit.static.report import CallSite
from audit.static.scan import scan_app
from audit.traffic.attribution import Attributor
from audit.traffic.captures import stack_frames

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "apks"
CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".apk", ".apks", ".xapk", ".apkm", ".aab")) \
    if CORPUS.is_dir() else []
SMALI_JAR = Path("/usr/share/java/smali.jar")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


# -- organisations with the Public Suffix List ---------------------------------------------------------------
@pytest.mark.parametrize("package,organisation", [
    ("uk.co.bbc.iplayer", "uk.co.bbc"), ("au.com.nab.mobile", "au.com.nab"), ("jp.co.yahoo.android.news", "jp.co.yahoo"),
    ("br.com.nubank.app", "br.com.nubank"), ("com.cisco.webex", "com.cisco"), ("io.github.someone.app", "io.github.someone"),
    ("uk.co", None), ("t2.paj", None), ("app", None)])
def test_organisation_is_split_at_the_public_suffix(package, organisation):
    assert organisation_of(package) == organisation


def test_uk_co_app_owns_its_organisation_and_no_other(catalogue):
    app = app_context(catalogue, "uk.co.bbc.iplayer", ["uk.co.bbc.iplayer.MainActivity"])
    assert app.organisations == ("uk.co.bbc",)
    assert catalogue.actor_for_class("uk.co.bbc.sport.Scores", app).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("uk.co.trackerco.Beacon", app) == Actor(ActorKind.SDK, "unidentified:uk.co.trackerco")


def test_generic_prefixes_never_make_an_organisation(catalogue):
    app = app_context(catalogue, "com.example.myapp", ["com.example.myapp.Main"])
    assert app.organisations == () and app.own_packages == ("com.example.myapp",)
    assert catalogue.actor_for_class("com.example.other.X", app) == Actor(ActorKind.SDK, "unidentified:com.example.other")
    assert namespace_of("com.google.android.apps.foo", ["com.google", "com.google.android"]) == "com.google.android.apps"


def test_first_party_from_the_components_when_the_code_is_not_under_the_package(catalogue):
    """App `t2.paj` whose code is `org.t2health.paj`: its screens are there, so that namespace is the app's;
    an SDK's one or two components (even of an SDK the catalogue lacks) do not make it first party."""
    components = ["org.t2health.paj.MainActivity", "org.t2health.paj.SettingsActivity",
                  "org.t2health.paj.reminders.AlarmReceiver", "com.millennialmedia.android.MMActivity",
                  "net.adsuncatalogued.sdk.AdActivity", "com.google.android.gms.ads.AdActivity"]
    app = app_context(catalogue, "t2.paj", components)
    assert catalogue.actor_for_class("org.t2health.paj.db.Store", app).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("org.t2health.common.Util", app).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("com.millennialmedia.android.MMSDK", app) == \
        Actor(ActorKind.SDK, "millennial_media")
    assert catalogue.actor_for_class("net.adsuncatalogued.sdk.Banner", app) == \
        Actor(ActorKind.SDK, "unidentified:net.adsuncatalogued")
    assert catalogue.actor_for_class("com.google.android.gms.ads.AdView", app).id == "google_admob"
    # with a component under the package, foreign component namespaces are not the app's
    mixed = app_context(catalogue, "com.foo.app", ["com.foo.app.Main", "net.adsuncatalogued.sdk.Browser"])
    assert catalogue.actor_for_class("net.adsuncatalogued.sdk.Ads", mixed).id == "unidentified:net.adsuncatalogued"


def test_the_launcher_not_the_count_of_components_says_where_the_app_s_code_is(catalogue):
    """A game whose only uncatalogued components are an ad network's: with the launcher known, that network is an
    SDK the catalogue lacks, never the app; the launcher's own package is the app's wherever it lies."""
    components = ["com.unity3d.player.UnityPlayerActivity", "net.adsuncatalogued.sdk.AdActivity",
                  "net.adsuncatalogued.sdk.VideoActivity", "net.adsuncatalogued.sdk.Service"]
    guessed = app_context(catalogue, "com.studio.game", components)
    assert catalogue.actor_for_class("net.adsuncatalogued.sdk.Ads", guessed).kind is ActorKind.FIRST_PARTY
    game = app_context(catalogue, "com.studio.game", components, launchers=["com.unity3d.player.UnityPlayerActivity"])
    assert catalogue.actor_for_class("net.adsuncatalogued.sdk.Ads", game).id == "unidentified:net.adsuncatalogued"
    paj = app_context(catalogue, "t2.paj", components, launchers=["org.t2health.paj.MainActivity"])
    assert catalogue.actor_for_class("org.t2health.paj.db.Store", paj).kind is ActorKind.FIRST_PARTY
    assert catalogue.actor_for_class("net.adsuncatalogued.sdk.Ads", paj).id == "unidentified:net.adsuncatalogued"


def test_the_context_from_a_scan_report_is_the_scan_s_own(catalogue):
    scan = {"app": {"package": "t2.paj"}, "components": [
        {"kind": "application", "name": "org.t2health.paj.PajApp"},
        {"kind": "activity", "name": "org.t2health.paj.MainActivity"},
        {"kind": "activity", "name": "com.millennialmedia.android.MMActivity"}]}
    from audit.attribution import app_context_from_report
    assert app_context_from_report(catalogue, scan) == app_context(
        catalogue, "t2.paj", [c["name"] for c in scan["components"]], "org.t2health.paj.PajApp")
    assert app_context_from_report(catalogue, {"app": {"package": ["x"]}}) == AppContext()
    scan["components"].append({"kind": "activity", "name": "org.t2health.ui.Home", "launcher": True})
    assert app_context_from_report(catalogue, scan) == app_context(
        catalogue, "t2.paj", [], "org.t2health.paj.PajApp", ["org.t2health.ui.Home"])


def test_the_application_class_package_is_first_party(catalogue):
    app = app_context(catalogue, "t2.paj", [], application_class="org.t2health.paj.PajApp")
    assert catalogue.actor_for_class("org.t2health.paj.X", app).kind is ActorKind.FIRST_PARTY
    library_app = app_context(catalogue, "t2.paj", [], application_class="androidx.multidex.MultiDexApplication")
    assert library_app.own_packages == ("t2.paj",)


def test_unidentified_sdks_whatever_the_catalogue_contains():
    """The rule works on any catalogue: an empty one makes every named namespace an unidentified SDK."""
    empty = Catalogue([], [])
    assert empty.actor_for_class("com.vendor.sdk.Tracker", "org.example.app") == \
        Actor(ActorKind.SDK, "unidentified:com.vendor")
    assert empty.actor_for_class("a.b.C", "org.example.app").kind is ActorKind.UNKNOWN
    assert empty.actor_for_class("aab.c.D", "org.example.app").kind is ActorKind.UNKNOWN     # R8, large app
    assert empty.actor_for_class("com.abc.D", "org.example.app").id == "unidentified:com.abc"
    assert empty.actor_for_class("shark.Heap", "org.example.app").id == "unidentified:shark"
    with_vendor = Catalogue([Sdk("vendor", "Vendor", "Vendor", ("analytics",), packages=("com.vendor",))], [])
    assert with_vendor.actor_for_class("com.vendor.sdk.Tracker", "org.example.app").id == "vendor"


# -- one stack, three stages, one actor ----------------------------------------------------------------------
STACK = ["java.lang.Thread.getStackTrace(Thread.java:1720)",
         "android.telephony.TelephonyManager.getDeviceId(TelephonyManager.java:1)",
         "okhttp3.internal.Beacon.send(Beacon.java:31)",
         "com.amplitude.api.AmplitudeClient.logEvent(AmplitudeClient.java:10)",
         "org.t2health.paj.MainActivity.onCreate(MainActivity.java:5)"]

SMALI = {
    "okhttp3/internal/Beacon": """.class public Lokhttp3/internal/Beacon;
.super Ljava/lang/Object;
.method public static send(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "com/amplitude/api/AmplitudeClient": """.class public Lcom/amplitude/api/AmplitudeClient;
.super Ljava/lang/Object;
.method public static logEvent(Landroid/telephony/TelephonyManager;)V
    .registers 1
    invoke-static {p0}, Lokhttp3/internal/Beacon;->send(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    return-void
.end method
""",
    "org/t2health/paj/MainActivity": """.class public Lorg/t2health/paj/MainActivity;
.super Landroid/app/Activity;
.method public onCreate(Landroid/os/Bundle;)V
    .registers 3
    const/4 v0, 0x0
    invoke-static {v0}, Lcom/amplitude/api/AmplitudeClient;->logEvent(Landroid/telephony/TelephonyManager;)V
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getLine1Number()Ljava/lang/String;
    return-void
.end method
""",
    "com/millennialmedia/android/MMSDK": """.class public Lcom/millennialmedia/android/MMSDK;
.super Ljava/lang/Object;
.method public static id(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getSubscriberId()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    # R8-renamed classes inside Google Play services: one names an AdMob host, one names nothing.
    "com/google/android/gms/internal/zzq": """.class public Lcom/google/android/gms/internal/zzq;
.super Ljava/lang/Object;
.method public static zza(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 3
    const-string v1, "https://googleads.g.doubleclick.net/mads/gma"
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getSimSerialNumber()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
    "com/google/android/gms/internal/zzr": """.class public Lcom/google/android/gms/internal/zzr;
.super Ljava/lang/Object;
.method public static zza(Landroid/telephony/TelephonyManager;)Ljava/lang/String;
    .registers 2
    invoke-virtual {p0}, Landroid/telephony/TelephonyManager;->getMeid()Ljava/lang/String;
    move-result-object v0
    return-object v0
.end method
""",
}
COMPONENTS = ["org.t2health.paj.MainActivity", "org.t2health.paj.Settings"]


@pytest.fixture(scope="module")
def stage_dex(tmp_path_factory) -> DexFile:
    if not SMALI_JAR.is_file() or shutil.which("java") is None:
        pytest.skip("smali / java not installed")
    out = assemble_dex(SMALI, tmp_path_factory.mktemp("stages") / "classes.dex")
    return DexFile(out.read_bytes(), out.name)


def test_one_stack_through_the_three_stages_gives_one_actor(catalogue, stage_dex, tmp_path):
    app = app_context(catalogue, "t2.paj", COMPONENTS)
    sites = find_call_sites([stage_dex], catalogue=catalogue, app_package=app, component_classes=COMPONENTS)
    (static,) = [s.actor for s in sites if s.api_id == "telephony.get_device_id"]

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, "app": {"package": "t2.paj"}}))
    (run / "frida-events.jsonl").write_text(json.dumps({
        "type": "api", "data_type": "device_ids.imei", "api": "telephony.get_device_id",
        "class": "android.telephony.TelephonyManager", "stack": STACK, "time": 1}) + "\n")
    (runtime,) = [o.actor for o in observations_from_run(run, catalogue)]

    traffic = Attributor(catalogue, "t2.paj").actor_from_stack(stack_frames("\n".join(f"at {f}" for f in STACK)))
    assert static == runtime == traffic == Actor(ActorKind.SDK, "amplitude")
    assert actor_for_stack(catalogue, STACK, "t2.paj")[1] == STACK[3]


def test_a_stack_of_library_frames_only_is_the_library(catalogue):
    stack = ["okhttp3.internal.Beacon.send(Beacon.java:31)", "java.lang.Thread.run(Thread.java:1)"]
    assert actor_for_stack(catalogue, stack, "t2.paj")[0] == Actor(ActorKind.LIBRARY, "okhttp")
    assert actor_for_stack(catalogue, ["java.lang.Thread.run(Thread.java:1)"], "t2.paj") is None


def test_static_actors_first_party_unidentified_and_obfuscated(catalogue, stage_dex):
    app = app_context(catalogue, "t2.paj", COMPONENTS)
    actors = {s.api_id: s.actor for s in find_call_sites([stage_dex], catalogue=catalogue, app_package=app,
                                                          component_classes=COMPONENTS)}
    assert actors["telephony.get_line1_number"].kind is ActorKind.FIRST_PARTY
    assert actors["telephony.get_subscriber_id"] == Actor(ActorKind.SDK, "millennial_media")
    # the same code with a catalogue that lacks the SDK: an SDK all the same, named by its namespace
    without = Catalogue([s for s in catalogue.sdks if s.id != "millennial_media"], catalogue.libraries)
    unnamed = {s.api_id: s.actor for s in find_call_sites([stage_dex], catalogue=without, app_package=app,
                                                           component_classes=COMPONENTS)}
    assert unnamed["telephony.get_subscriber_id"] == Actor(ActorKind.SDK, "unidentified:com.millennialmedia")
    # obfuscated Play services code: placed by its own host string, or unknown with the reason - never library
    assert actors["telephony.get_sim_serial_number"] == Actor(ActorKind.SDK, "google_admob")
    unplaced = actors["telephony.get_meid"]
    assert unplaced.kind is ActorKind.UNKNOWN and "renamed code" in unplaced.id and "google_play_services" in unplaced.id


# -- total order ---------------------------------------------------------------------------------------------
optional_text = st.one_of(st.none(), st.text(max_size=4))
actors = st.builds(Actor, st.sampled_from(list(ActorKind)), optional_text)
call_sites = st.builds(CallSite, data_type=st.text(max_size=3), api=st.text(max_size=3), caller=st.text(max_size=3),
                       actor=actors, api_id=st.text(max_size=3), reachable=st.booleans(), via=optional_text)
evidence = st.builds(Evidence, st.text(max_size=3), st.text(max_size=3), optional_text, optional_text,
                     st.lists(st.text(max_size=2), max_size=2).map(tuple))


@settings(max_examples=200, deadline=None)
@given(st.lists(call_sites, max_size=12), st.randoms())
def test_call_sites_with_every_optional_field_varied_sort_and_serialise(sites, rnd):
    ordered = sorted(set(sites))
    shuffled = list(set(sites))
    rnd.shuffle(shuffled)
    assert sorted(shuffled) == ordered == sorted(shuffled, key=order_key)
    assert json.dumps([s.to_json() for s in ordered]) == json.dumps([s.to_json() for s in sorted(shuffled)])
    for a, b in zip(ordered, ordered[1:]):
        assert a <= b and not b < a


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(Observation, st.text(max_size=2), st.sampled_from(list(Level)), actors,
                          st.text(max_size=2), st.lists(evidence, max_size=3).map(tuple), optional_text,
                          optional_text), max_size=8))
def test_observations_and_evidence_sort_whatever_is_absent(observations):
    once = sorted_observations(observations)
    assert sorted_observations(reversed(observations)) == once
    assert [o.to_json() for o in once] == [o.to_json() for o in sorted_observations(once)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.builds(Transmission, st.text(max_size=2), st.text(max_size=2), value=optional_text,
                          recipient=optional_text, party=optional_text, actor=st.one_of(st.none(), actors),
                          value_known=st.booleans()), max_size=8))
def test_transmissions_sort_whatever_is_absent(transmissions):
    once = sorted(transmissions, key=Transmission.sort_key)
    assert sorted(reversed(transmissions), key=Transmission.sort_key) == once


def test_two_call_sites_differing_only_in_via_compare():
    """The crash of issue 16: one site with via=None, one with a wrapper, otherwise equal."""
    base = dict(data_type="device_ids.imei", api="A", caller="C", actor=Actor(ActorKind.UNKNOWN), api_id="x",
                reachable=True)
    sites = [CallSite(**base, via="Lw;->m()V"), CallSite(**base)]
    assert sorted(sites)[0].via is None
    assert sorted([Actor(ActorKind.UNKNOWN, "p"), Actor(ActorKind.UNKNOWN)])[0].id is None


# -- every real file ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not present at {CORPUS}")
def test_every_corpus_file_gives_a_report():
    """No exit 2 and no crash on any real app or bundle; and the report is deterministic."""
    refused = {}
    for path in CORPUS_FILES:
        try:
            report = scan_app([path])
        except InputError as exc:
            refused[path.name] = str(exc)
            continue
        assert report.app.package, path.name
        assert json.dumps(report.to_json()) == json.dumps(scan_app([path]).to_json()), path.name
    assert refused == {}


@pytest.mark.skipif(not (CORPUS / "zenstateofmind__makemezen_release.aab").is_file(), reason="corpus .aab absent")
def test_aab_scans_as_the_apk_of_the_same_app():
    aab = scan_app([CORPUS / "zenstateofmind__makemezen_release.aab"]).to_json()
    apk = scan_app([CORPUS / "zenstateofmind__makemezen.apk"]).to_json()
    for key in ("app", "permissions", "components", "meta_data", "sdks", "api_calls", "observations"):
        assert aab[key] == apk[key], key
    assert aab["app"]["label"] == "Make Me Zen"           # from the bundle's resources.pb
    assert aab["inputs"][0]["role"] == "bundle" and not aab["partial"]


@pytest.mark.skipif(not (CORPUS / "zenstateofmind__makemezen_release.aab").is_file(), reason="corpus .aab absent")
def test_damaged_bundle_protobufs_give_an_error_or_nothing_never_a_crash():
    import zipfile
    from audit.static.protoxml import parse_proto_xml, proto_resource_string
    with zipfile.ZipFile(CORPUS / "zenstateofmind__makemezen_release.aab") as bundle:
        manifest = bundle.read("base/manifest/AndroidManifest.xml")
        table = bundle.read("base/resources.pb")
    rnd = random.Random(16)
    for _ in range(300):
        data = bytearray(manifest)
        for _flip in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        data = bytes(data[:rnd.randint(1, len(data))]) if rnd.random() < 0.3 else bytes(data)
        try:
            parse_proto_xml(data, "mutant")
        except InputError:
            pass
    for _ in range(100):
        data = bytearray(table)
        for _flip in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        assert proto_resource_string(bytes(data), 0x7F0C0027) is None or \
            isinstance(proto_resource_string(bytes(data), 0x7F0C0027), str)


def test_protobuf_manifest_reader_is_bounded():
    from audit.static.protoxml import parse_proto_xml
    for data in (b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05\x1a\x03abc\x0a", b"\x0b", b"\x0a" + b"\x80" * 11, b""):
        with pytest.raises(InputError):
            parse_proto_xml(data, "hostile")
    # 2000 nested elements: refused at the depth bound, without recursion
    node = b""
    for _ in range(2000):
        element = b"\x1a\x01e" + (b"\x2a" + _varint(len(node)) + node if node else b"")
        node = b"\x0a" + _varint(len(element)) + element
    with pytest.raises(InputError, match="deeper"):
        parse_proto_xml(node, "deep")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# -- corpus folders with loose split sets ------------------------------------------------------------------------
def test_corpus_groups_a_loose_split_set_into_one_app(split_set, clean_apk, tmp_path):
    from audit.corpus.sources import discover
    from audit.corpus.worker import scan_file, unit_digest
    folder = tmp_path / "apps"
    folder.mkdir()
    for path in [*split_set, clean_apk]:
        shutil.copy(path, folder / Path(path).name)
    units = discover([str(folder)])
    groups = [u for u in units if isinstance(u, list)]
    assert len(units) == 2 and len(groups) == 1 and len(groups[0]) == 3
    base = groups[0][0]
    result = scan_file(groups[0], scan_app)
    assert result["status"] == "ok" and result["path"] == base
    assert result["scan"]["app"]["splits"] == ["config.en", "feature_maps"]
    assert result["sha256"] == unit_digest(list(groups[0]))[0] != unit_digest(base)[0]
    # the same set given to `scan` together gives the same report
    together = scan_app(groups[0]).to_json()
    assert {k: v for k, v in together.items() if k != "inputs"} == \
        {k: v for k, v in result["scan"].items() if k != "inputs"}


names = st.text(alphabet=st.sampled_from("abcz.$/;LA0_-\u00e9\u4e2d \t()"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(names, st.one_of(st.none(), names), st.lists(names, max_size=4))
def test_attribution_never_raises_on_any_name(catalogue, class_name, package, frames):
    """Class names, packages and frames come from hostile APKs, run folders and captures."""
    app = app_context(catalogue, package, frames, class_name)
    for context in (app, package):
        actor = catalogue.actor_for_class(class_name, context)
        assert isinstance(actor, Actor)
        found = actor_for_stack(catalogue, frames + [class_name], context, class_name)
        assert found is None or isinstance(found[0], Actor)
    organisation_of(class_name)
    namespace_of(class_name)


def test_attribution_rules_are_checked_with_file_and_line(tmp_path, monkeypatch):
    from audit import attribution
    (tmp_path / "libraries.yaml").write_text("libraries: []\nplatform: [java, 3]\n")
    monkeypatch.setenv("APPAUDIT_RULES", str(tmp_path))
    with pytest.raises(InputError, match=r"libraries.yaml:2: platform: expected a list of package prefixes"):
        attribution.attribution_rules()


def test_the_one_entry_point_takes_a_class_a_stack_or_a_host(catalogue):
    from audit.attribution import attribute
    assert attribute(catalogue, "t2.paj", class_name="com.amplitude.api.AmplitudeClient").id == "amplitude"
    assert attribute(catalogue, "t2.paj", stack=STACK) == Actor(ActorKind.SDK, "amplitude")
    assert attribute(catalogue, "t2.paj", host="api2.amplitude.com") == Actor(ActorKind.SDK, "amplitude")
    assert attribute(catalogue, "t2.paj", host="example.org") == Actor(ActorKind.UNKNOWN)
    assert attribute(catalogue, "t2.paj", stack=["java.lang.Thread.run(Thread.java:1)"]) == Actor(ActorKind.UNKNOWN)


@pytest.mark.skipif(not (CORPUS / "zenstateofmind__makemezen_release.aab").is_file(), reason="corpus .aab absent")
def test_a_bundle_feature_module_is_a_split_of_the_app(tmp_path):
    """A dynamic-feature module's manifest in an .aab need not carry `split=`: its folder names it."""
    import zipfile
    source = CORPUS / "zenstateofmind__makemezen_release.aab"
    bundle = tmp_path / "with-feature.aab"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as out:
        for info in original.infolist():
            out.writestr(info.filename, original.read(info))
        out.writestr("maps/manifest/AndroidManifest.xml", original.read("base/manifest/AndroidManifest.xml"))
        out.writestr("maps/dex/classes.dex", original.read("base/dex/classes.dex"))
    report = scan_app([bundle])
    assert report.app.splits == ("maps",) and not report.partial
    assert report.app.package == "com.timeto.makemezen"


def test_the_manifests_first_party_reaches_the_runtime_and_traffic_stages(catalogue, tmp_path):
    """An app whose code lives outside its package (t2.paj → org.t2health.paj): with the scanned manifest's
    context, a hooked read and a request sent from that code are the app's own, not an unidentified SDK's."""
    stack = ["android.telephony.TelephonyManager.getDeviceId(TelephonyManager.java:1)",
             "org.t2health.paj.db.Store.save(Store.java:12)"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"schema": RUN_SCHEMA, "app": {"package": "t2.paj"}}))
    (run / "frida-events.jsonl").write_text(json.dumps({
        "type": "api", "data_type": "device_ids.imei", "api": "telephony.get_device_id",
        "class": "android.telephony.TelephonyManager", "stack": stack, "time": 1}) + "\n")
    app = app_context(catalogue, "t2.paj", ["org.t2health.paj.MainActivity"])
    without = [o.actor for o in observations_from_run(run, catalogue)]
    with_manifest = [o.actor for o in observations_from_run(run, catalogue, app_code=app)]
    assert without == [Actor(ActorKind.SDK, "unidentified:org.t2health")]
    assert [a.kind for a in with_manifest] == [ActorKind.FIRST_PARTY]
    sender = Attributor(catalogue, "t2.paj", app_code=app).actor_from_stack(stack)
    assert sender.kind is ActorKind.FIRST_PARTY
