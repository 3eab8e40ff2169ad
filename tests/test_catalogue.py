"""The curated SDK catalogue (rules/sdks.yaml), the library list (rules/libraries.yaml) and attribution."""
from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from audit.catalogue import CATEGORIES, Catalogue, Library, Sdk, load_catalogue, parse_sdks
from audit.errors import InputError
from audit.model import ActorKind
from audit.rulesdata import load_yaml, rules_dir

REQUIRED_IDS = """backtrace firebase_analytics firebase_crashlytics firebase_messaging firebase_remote_config
firebase_performance google_admob google_analytics amplitude appdynamics cloudcherry appsflyer adjust branch kochava
singular facebook_sdk facebook_audience_network mixpanel countly segment braze onesignal sentry bugsnag instabug
newrelic datadog flurry unity_ads applovin ironsource vungle chartboost inmobi mopub startapp tapjoy fyber mintegral
pangle yandex_metrica yandex_ads huawei_ads huawei_analytics microsoft_appcenter hockeyapp crittercism heap localytics
leanplum clevertap moengage airship pushwoosh batch optimizely smartlook uxcam hotjar fullstory appcenter nielsen
comscore moat integral_ad_science doubleverify criteo taboola outbrain smaato ogury teemo foursquare_pilgrim radar huq
cuebiq x_mode safegraph twitter_kit vk google_tag_manager google_maps appmetrica sensors_data umeng tencent_bugly
jpush""".split()

# A Java package name on boundaries: Java identifiers joined by single dots, no trailing dot, no regex. Mostly lower
# case, but real packages are not always (kotlinx-coroutines' `_COROUTINE`, the desugared JDK's `j$`).
PACKAGE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*")
HOST = re.compile(r"([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}")
ID = re.compile(r"[a-z][a-z0-9_]*")
# Prefixes deliberately owned by two entries: none today. Add (prefix, (id, id)) pairs here with a reason.
SHARED_PREFIXES: dict[str, set[str]] = {}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_catalogue_loads_with_required_sdks(catalogue):
    ids = [sdk.id for sdk in catalogue.sdks]
    assert len(ids) >= 80
    assert len(ids) == len(set(ids))
    missing = [sdk_id for sdk_id in REQUIRED_IDS if catalogue.sdk(sdk_id) is None]
    assert not missing, f"required SDKs missing from rules/sdks.yaml: {missing}"
    for sdk in catalogue.sdks:
        assert ID.fullmatch(sdk.id), sdk.id
        assert sdk.name and sdk.organisation, sdk.id
        assert sdk.categories and set(sdk.categories) <= set(CATEGORIES), sdk.id
        assert sdk.packages or sdk.hosts, f"{sdk.id}: neither packages nor hosts: nothing can ever match it"
        assert sdk.website is None or sdk.website.startswith("https://"), sdk.id
    families = defaultdict(set)
    for sdk in catalogue.sdks:
        if sdk.family:
            families[sdk.family].add(sdk.id)
    assert {"firebase_analytics", "firebase_crashlytics", "firebase_messaging", "firebase_remote_config",
            "firebase_performance"} <= families["firebase"]
    assert {"facebook_sdk", "facebook_audience_network"} <= families["facebook"]


def test_package_prefixes_are_boundary_safe_and_not_shared(catalogue):
    owners: dict[str, set[str]] = defaultdict(set)
    for sdk in catalogue.sdks:
        assert len(sdk.packages) == len(set(sdk.packages)), sdk.id
        for prefix in sdk.packages:
            assert PACKAGE.fullmatch(prefix), f"{sdk.id}: {prefix!r} is not a plain package prefix"
            owners[prefix].add(sdk.id)
    shared = {prefix: ids for prefix, ids in owners.items() if len(ids) > 1}
    assert shared == SHARED_PREFIXES

    library_owner: dict[str, str] = {}
    for library in catalogue.libraries:
        assert ID.fullmatch(library.id) and library.packages, library.id
        for prefix in library.packages:
            assert PACKAGE.fullmatch(prefix), f"{library.id}: {prefix!r} is not a plain package prefix"
            assert prefix not in library_owner, f"{prefix} in both {library_owner.get(prefix)} and {library.id}"
            library_owner[prefix] = library.id
            # The same prefix as an SDK would make the library entry dead: the SDK always wins.
            assert prefix not in owners, f"{prefix}: library {library.id} and SDK {owners.get(prefix)}"
    assert len({lib.id for lib in catalogue.libraries}) == len(catalogue.libraries)


def test_hosts_are_lowercase_hostnames_owned_once(catalogue):
    owner: dict[str, str] = {}
    for sdk in catalogue.sdks:
        for host in sdk.hosts:
            assert HOST.fullmatch(host), f"{sdk.id}: {host!r} is not a lower-case host name"
            assert host not in owner, f"{host} listed under both {owner.get(host)} and {sdk.id}"
            owner[host] = sdk.id
    keys: dict[str, str] = {}
    for sdk in catalogue.sdks:
        for key in sdk.manifest_keys:
            assert key not in keys, f"manifest key {key} under both {keys.get(key)} and {sdk.id}"
            keys[key] = sdk.id


def test_bundled_platform_code_is_library_code_never_an_unidentified_sdk(catalogue):
    """Every `platform` prefix of rules/libraries.yaml: a copy of it in an APK (hidden-API stubs such as
    com.android.internal.policy.IKeyguardDismissCallback, the framework's TagSoup) is library code. Found on
    real APKs where both were `unidentified:` SDKs because the two lists of libraries.yaml disagreed."""
    from audit.attribution import attribution_rules
    for prefix in attribution_rules().platform:
        actor = catalogue.actor_for_class(prefix + ".Stub", "org.example.app")
        assert actor.kind is ActorKind.LIBRARY, (prefix, actor)


@pytest.mark.parametrize("class_name", [
    "_COROUTINE._BOUNDARY", "com.android.tools.r8.RecordTag", "j$.util.Optional", "com.ibm.icu.util.TimeZone",
    "org.apache.xerces.jaxp.datatype.XMLGregorianCalendarImpl", "org.eclipse.wst.xml.xpath2.processor.Engine",
    "org.java_websocket.client.WebSocketClient", "com.koushikdutta.async.AsyncServer", "com.rabbitmq.client.Channel",
    "zmq.Ctx", "org.zeromq.ZMQ", "org.jcodec.api.SequenceEncoder", "org.jspecify.annotations.Nullable",
    "com.android.permission.rom.MiuiUtils",
    "cz.msebera.android.httpclient.impl.client.DefaultHttpClient", "org.apache.thrift.protocol.TBinaryProtocol",
    "com.github.scribejava.core.oauth.OAuth10aService"])
def test_common_open_source_libraries_are_libraries(catalogue, class_name):
    """Seen in APKs the corpus lacks (Appium, Airtest and uiautomator2 helper apps; AndStatus, MIUI's Security
    Center): open-source libraries, not SDKs."""
    assert catalogue.actor_for_class(class_name, "org.example.app").kind is ActorKind.LIBRARY


def test_required_libraries_cover_infrastructure(catalogue):
    def actor(name):
        return catalogue.actor_for_class(name, "org.example.app")

    for name in ["androidx.core.app.NotificationCompat", "android.support.v4.app.Fragment", "kotlin.jvm.internal.Intrinsics",
                 "kotlinx.coroutines.Job", "okhttp3.OkHttpClient", "okio.Buffer", "retrofit2.Retrofit",
                 "com.google.gson.Gson", "com.squareup.moshi.Moshi", "com.fasterxml.jackson.databind.ObjectMapper",
                 "com.bumptech.glide.Glide", "com.squareup.picasso.Picasso", "com.facebook.drawee.view.SimpleDraweeView",
                 "io.reactivex.Observable", "dagger.Module", "dagger.hilt.android.HiltAndroidApp", "javax.inject.Inject",
                 "com.google.common.collect.ImmutableList", "com.google.protobuf.GeneratedMessageLite",
                 "io.grpc.ManagedChannel", "org.apache.commons.io.IOUtils", "org.apache.http.client.HttpClient",
                 "org.bouncycastle.crypto.Digest", "org.conscrypt.Conscrypt", "org.jetbrains.annotations.NotNull",
                 "com.google.android.gms.common.GoogleApiAvailability", "com.google.android.exoplayer2.ExoPlayer",
                 "com.airbnb.lottie.LottieAnimationView", "timber.log.Timber", "com.facebook.react.ReactActivity",
                 "com.facebook.soloader.SoLoader", "com.google.firebase.FirebaseApp"]:
        assert actor(name).kind is ActorKind.LIBRARY, name


ATTRIBUTION = [
    # class, app package, expected kind, expected id
    ("com.facebook.ads.AdView", "org.example.app", ActorKind.SDK, "facebook_audience_network"),
    ("com.facebook.ads.internal.api.AdViewApi", "org.example.app", ActorKind.SDK, "facebook_audience_network"),
    ("com.facebook.login.LoginManager", "org.example.app", ActorKind.SDK, "facebook_sdk"),
    ("com.facebook.appevents.AppEventsLogger", "org.example.app", ActorKind.SDK, "facebook_sdk"),
    ("com.facebook.FacebookSdk", "org.example.app", ActorKind.SDK, "facebook_sdk"),
    ("Lcom/facebook/share/ShareApi;", "org.example.app", ActorKind.SDK, "facebook_sdk"),
    ("com.facebook.react.bridge.ReactContext", "org.example.app", ActorKind.LIBRARY, "react_native"),
    ("com.google.android.gms.ads.AdView", "org.example.app", ActorKind.SDK, "google_admob"),
    ("com.google.android.gms.internal.ads.zzbzr", "org.example.app", ActorKind.SDK, "google_admob"),
    ("com.google.android.gms.ads.identifier.AdvertisingIdClient", "org.example.app", ActorKind.LIBRARY,
     "google_ads_identifier"),
    ("com.google.android.gms.ads.identifier.AdvertisingIdClient$Info", "org.example.app", ActorKind.LIBRARY,
     "google_ads_identifier"),
    ("com.google.ads.interactivemedia.v3.api.ImaSdkFactory", "org.example.app", ActorKind.SDK, "google_ima"),
    ("com.google.android.gms.measurement.AppMeasurement", "org.example.app", ActorKind.SDK, "firebase_analytics"),
    ("com.google.firebase.analytics.FirebaseAnalytics", "org.example.app", ActorKind.SDK, "firebase_analytics"),
    ("com.google.firebase.messaging.FirebaseMessagingService", "org.example.app", ActorKind.SDK, "firebase_messaging"),
    ("com.google.firebase.crashlytics.FirebaseCrashlytics", "org.example.app", ActorKind.SDK, "firebase_crashlytics"),
    ("com.google.firebase.auth.FirebaseAuth", "org.example.app", ActorKind.LIBRARY, "firebase_common"),
    ("com.google.android.gms.location.FusedLocationProviderClient", "org.example.app", ActorKind.LIBRARY,
     "google_play_services"),
    ("com.microsoft.appcenter.crashes.Crashes", "org.example.app", ActorKind.SDK, "appcenter"),
    ("com.microsoft.appcenter.analytics.Analytics", "org.example.app", ActorKind.SDK, "microsoft_appcenter"),
    ("com.huawei.hms.analytics.HiAnalytics", "org.example.app", ActorKind.SDK, "huawei_analytics"),
    ("com.huawei.hms.api.HuaweiApiClient", "org.example.app", ActorKind.SDK, "huawei_mobile_services"),
    ("backtraceio.library.BacktraceClient", "org.example.app", ActorKind.SDK, "backtrace"),
    ("com.appdynamics.eumagent.runtime.Instrumentation", "org.example.app", ActorKind.SDK, "appdynamics"),
    ("com.getcloudcherry.android.CloudCherry", "org.example.app", ActorKind.SDK, "cloudcherry"),
    ("com.amplitude.api.AmplitudeClient", "org.example.app", ActorKind.SDK, "amplitude"),
    # package boundaries: a longer first label is somebody else
    ("com.facebookx.Y", "org.example.app", ActorKind.SDK, "unidentified:com.facebookx"),
    ("com.amplitudeanalytics.Client", "org.example.app", ActorKind.SDK, "unidentified:com.amplitudeanalytics"),
    ("io.sentryx.Hub", "org.example.app", ActorKind.SDK, "unidentified:io.sentryx"),
    # the app package wins for its own code, even when it sits under a catalogue prefix
    ("com.facebook.katana.LoginActivity", "com.facebook.katana", ActorKind.FIRST_PARTY, None),
    ("org.example.app.ui.MainActivity", "org.example.app", ActorKind.FIRST_PARTY, None),
    # ... but a catalogue prefix deeper than the app's package is still that SDK
    ("com.facebook.ads.AdView", "com.facebook", ActorKind.SDK, "facebook_audience_network"),
    ("com.facebook.internal.Utility", "com.facebook", ActorKind.FIRST_PARTY, None),
    # the organisation prefix: unlisted code of the same organisation is first party
    ("com.acme.common.Util", "com.acme.shop", ActorKind.FIRST_PARTY, None),
    ("com.acmex.common.Util", "com.acme.shop", ActorKind.SDK, "unidentified:com.acmex"),
    # ... but a catalogue entry beats the organisation prefix
    ("com.facebook.ads.AdView", "com.facebook.orca", ActorKind.SDK, "facebook_audience_network"),
    # ... and an organisation prefix too generic to be one organisation is not first party
    # (and names an unlisted SDK one level deeper)
    ("org.example.shared.Util", "org.example.app", ActorKind.SDK, "unidentified:org.example.shared"),
    ("com.google.zzz.Thing", "com.google.app", ActorKind.SDK, "unidentified:com.google.zzz"),
    # organisations split with the Public Suffix List, never at a public suffix
    ("uk.co.bbc.news.Story", "uk.co.bbc.iplayer", ActorKind.FIRST_PARTY, None),
    ("uk.co.tracker.ads.Beacon", "uk.co.bbc.iplayer", ActorKind.SDK, "unidentified:uk.co.tracker"),
    ("au.com.nab.common.Util", "au.com.nab.mobile", ActorKind.FIRST_PARTY, None),
    ("au.com.adnet.Sdk", "au.com.nab.mobile", ActorKind.SDK, "unidentified:au.com.adnet"),
    ("jp.co.yahoo.android.common.X", "jp.co.yahoo.android.news", ActorKind.FIRST_PARTY, None),
    ("jp.co.cyberagent.adtech.X", "jp.co.yahoo.android.news", ActorKind.SDK, "unidentified:jp.co.cyberagent"),
    ("br.com.nubank.core.X", "br.com.nubank.app", ActorKind.FIRST_PARTY, None),
    ("br.com.other.X", "br.com.nubank.app", ActorKind.SDK, "unidentified:br.com.other"),
    # obfuscated and unlisted code
    ("a.b.c", "org.example.app", ActorKind.UNKNOWN, None),
    ("La/b/C;", "org.example.app", ActorKind.UNKNOWN, None),
    ("o.ab", "org.example.app", ActorKind.UNKNOWN, None),
    ("net.unlisted.sdk.Tracker", "org.example.app", ActorKind.SDK, "unidentified:net.unlisted"),
    ("shark.internal.Heap", None, ActorKind.LIBRARY, "leakcanary"),
    ("curtainsx.Window", None, ActorKind.SDK, "unidentified:curtainsx"),
]


@pytest.mark.parametrize("class_name,app,kind,actor_id", ATTRIBUTION)
def test_attribution(catalogue, class_name, app, kind, actor_id):
    actor = catalogue.actor_for_class(class_name, app)
    assert (actor.kind, actor.id) == (kind, actor_id)


def test_sdk_nested_in_app_package_is_still_the_sdk():
    """An app package that is an ancestor of an SDK prefix does not swallow the SDK."""
    cat = Catalogue([Sdk("inner", "Inner", "Inner Co", ("analytics",), packages=("org.example.app.vendor.inner",))],
                    [])
    assert cat.actor_for_class("org.example.app.vendor.inner.X", "org.example.app").id == "inner"
    assert cat.actor_for_class("org.example.app.vendor.X", "org.example.app").kind is ActorKind.FIRST_PARTY


def test_class_name_entries_own_the_class_and_its_inner_classes():
    cat = Catalogue([Sdk("crit", "Crit", "Crit", ("crash_reporting",), packages=("com.vendor.app.Crittercism",))],
                    [Library("lib", "Lib", ("com.vendor",))])
    assert cat.actor_for_class("com.vendor.app.Crittercism", None).id == "crit"
    assert cat.actor_for_class("Lcom/vendor/app/Crittercism$Config;", None).id == "crit"
    assert cat.actor_for_class("com.vendor.app.Other", None).id == "lib"
    assert cat.actor_for_class("com.vendor.app.CrittercismX", None).id == "lib"


HOSTS = [
    ("eu.api.amplitude.com", "amplitude"),
    ("api2.amplitude.com", "amplitude"),
    ("notamplitude.com", None),
    ("amplitude.com.evil.example", None),
    ("col.eum-appdynamics.com", "appdynamics"),
    ("fra-col.eum-appdynamics.com", "appdynamics"),
    ("api.getcloudcherry.com", "cloudcherry"),
    ("getcloudcherry.com", "cloudcherry"),
    ("graph.facebook.com", "facebook_sdk"),
    ("an.facebook.com", "facebook_audience_network"),
    ("APP-MEASUREMENT.COM.", "firebase_analytics"),
    ("settings.crashlytics.com", "firebase_crashlytics"),
    ("firebase-settings.crashlytics.com", "firebase_crashlytics"),
    ("googleads.g.doubleclick.net", "google_admob"),
    ("o123.ingest.sentry.io", "sentry"),
    ("submit.backtrace.io", "backtrace"),
    ("startup.mobile.yandex.net", "yandex_metrica"),
    ("banners.mobile.yandex.net", "yandex_ads"),
    ("mobile.yandex.net", None),
    ("example.com", None),
    ("com", None),
]


@pytest.mark.parametrize("host,sdk_id", HOSTS)
def test_owner_of_host_matches_whole_labels(catalogue, host, sdk_id):
    owner = catalogue.owner_of_host(host)
    assert (owner.sdk.id if owner else None) == sdk_id
    if owner:
        assert owner.party == "third" and owner.organisation == owner.sdk.organisation


def test_first_party_hosts_come_from_given_domains_never_the_package_name(catalogue):
    # issue 12: reversing the package guessed `co.uk` for uk.co.bbc.iplayer and `cisco.com` for any com.cisco.*
    assert catalogue.owner_of_host("api.cisco.com", "com.cisco.webex") is None
    assert catalogue.owner_of_host("ads.tracker.co.uk", "uk.co.bbc.iplayer") is None
    owner = catalogue.owner_of_host("api.cisco.com", "com.cisco.webex", first_party_domains=["cisco.com"])
    assert owner.party == "first" and owner.sdk is None
    owner = catalogue.owner_of_host("analytics.example.org", None, first_party_domains=["https://Example.org/"])
    assert owner.party == "first"
    # a public suffix is nobody's first-party domain; the catalogue's hosts stay the SDK's
    assert catalogue.owner_of_host("ads.tracker.co.uk", None, first_party_domains=["co.uk", "uk"]) is None
    assert catalogue.owner_of_host("graph.facebook.com", None, first_party_domains=["facebook.com"]).party == "third"


def test_manifest_keys(catalogue):
    assert catalogue.sdk_for_manifest_key("com.google.android.gms.ads.APPLICATION_ID").id == "google_admob"
    assert catalogue.sdk_for_manifest_key("com.facebook.sdk.ApplicationId").id == "facebook_sdk"
    assert catalogue.sdk_for_manifest_key("io.sentry.dsn").id == "sentry"
    assert catalogue.sdk_for_manifest_key("unknown.key") is None


def test_declarations_by_family_and_name(catalogue):
    assert catalogue.sdk("firebase_crashlytics").answers_to("Firebase")
    assert catalogue.sdk("facebook_audience_network").answers_to("facebook")
    assert catalogue.sdk("amplitude").answers_to("Amplitude")
    assert not catalogue.sdk("amplitude").answers_to("firebase")


def _rules_copy(tmp_path: Path, sdks_text: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(rules_dir(), rules)
    (rules / "sdks.yaml").write_text(sdks_text, encoding="utf-8")
    return rules


@pytest.mark.parametrize("entry,message", [
    ("  - {id: x, name: X, categories: [spying]}\n", r"sdks\.yaml:3: categories: unknown category 'spying'"),
    ("  - {id: x, name: X, categories: [other], package: [a.b]}\n", r"sdks\.yaml:3: package: unknown field"),
    ("  - {id: x, name: X, categories: [other], hosts: [\"\"]}\n", r"sdks\.yaml:3: hosts: expected a list"),
    ("  - {id: x, categories: [other]}\n", r"sdks\.yaml:3: missing required field 'name'"),
])
def test_invalid_catalogue_names_file_line_field(tmp_path, monkeypatch, entry, message):
    rules = _rules_copy(tmp_path, "# test\nsdks:\n" + entry)
    monkeypatch.setenv("APPAUDIT_RULES", str(rules))
    with pytest.raises(InputError, match=message):
        load_catalogue()


def test_duplicate_ids_are_refused(tmp_path):
    path = tmp_path / "sdks.yaml"
    path.write_text("sdks:\n  - {id: x, name: X, categories: [other]}\n  - {id: x, name: Y, categories: [other]}\n")
    with pytest.raises(InputError, match=r"sdks\.yaml:3: id: duplicate SDK id 'x'"):
        parse_sdks(load_yaml(path), path)
