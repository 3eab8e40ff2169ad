"""Throw-away test apps assembled from smali text in a test's temporary folder (the Debian smali jar and aapt), for
properties the corpus and the signed fixture apps (tests/fixtures/build.py, cached and reproducible) lack.

    apk = build_apk(work, MANIFEST, {"org/example/Main": SMALI_TEXT})    # unsigned APK: manifest + classes.dex
    dex = assemble_dex({"org/example/Main": SMALI_TEXT}, work / "classes.dex")

Classes map a class path (`org/example/Main`) to the whole smali text of that class."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

import pytest

from audit.attribution import attribution_rules, dotted

FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
SMALI_JAR = Path("/usr/share/java/smali.jar")

# Method bodies of a static method taking a Context in p0 (smali registers v0, v1): the reads most tests need
IMEI = """    const-string v0, "phone"
    invoke-virtual {p0, v0}, Landroid/content/Context;->getSystemService(Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v0
    check-cast v0, Landroid/telephony/TelephonyManager;
    invoke-virtual {v0}, Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;
    move-result-object v0
    return-void"""
ANDROID_ID = """    invoke-virtual {p0}, Landroid/content/Context;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    const-string v1, "android_id"
    invoke-static {v0, v1}, Landroid/provider/Settings$Secure;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    move-result-object v0
    return-void"""


def tools_missing(aapt: bool = True) -> str | None:
    """Why these builds cannot run here, or None."""
    if not SMALI_JAR.is_file() or shutil.which("java") is None:
        return "smali / java not installed (make deb)"
    if aapt and (shutil.which("aapt") is None or not FRAMEWORK_RES.is_file()):
        return "aapt / android-framework-res not installed (make deb)"
    return None


def require_tools(aapt: bool = True) -> None:
    """Skip the test, saying why, where the tools are missing."""
    missing = tools_missing(aapt)
    if missing:
        pytest.skip(missing)


def assemble_dex(classes: dict[str, str], out: Path) -> Path:
    """One DEX file from smali classes; their sources are written beside it (OUT-stem_smali/)."""
    source = out.parent / f"{out.stem}_smali"
    shutil.rmtree(source, ignore_errors=True)
    for name, text in classes.items():
        path = source / f"{name}.smali"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # C1 only: smali runs for about a second, the C2 compiler never pays off
    subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-jar", str(SMALI_JAR), "assemble", "--api", "21",
                    "-o", str(out), str(source)], check=True, capture_output=True, timeout=300)
    return out


def build_apk(work: Path, manifest: str, classes: dict[str, str], *aapt_extra: str, name: str = "app") -> Path:
    """An unsigned APK (WORK/NAME.apk) from a manifest text and smali classes; aapt_extra: more aapt arguments."""
    work.mkdir(parents=True, exist_ok=True)
    dex = assemble_dex(classes, work / f"{name}.dex")
    manifest_path = work / f"{name}-manifest" / "AndroidManifest.xml"     # aapt wants this file name
    manifest_path.parent.mkdir(exist_ok=True)
    manifest_path.write_text(manifest)
    apk = work / f"{name}.apk"
    subprocess.run(["aapt", "package", "-f", "-M", str(manifest_path), "-I", str(FRAMEWORK_RES), "-F", str(apk),
                    *aapt_extra], check=True, capture_output=True, timeout=120)
    with zipfile.ZipFile(apk, "a") as archive:
        archive.write(dex, "classes.dex")
    return apk


def launcher_manifest(package: str, min_sdk: int = 21, target_sdk: int = 33, permissions: tuple[str, ...] = (),
                      launcher: str = ".MainActivity", application: str = "", top: str = "") -> str:
    """The AndroidManifest.xml text of an app with one launcher activity. `permissions`: names, or whole
    `<uses-permission .../>` elements where they need attributes; `application`: more XML inside <application>
    (receivers, services, meta-data); `top`: more XML directly inside <manifest>."""
    uses = "".join(f"  {p}\n" if p.lstrip().startswith("<") else f'  <uses-permission android:name="{p}"/>\n'
                   for p in permissions)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="{package}">
  <uses-sdk android:minSdkVersion="{min_sdk}" android:targetSdkVersion="{target_sdk}"/>
{uses}{top}  <application>
{application}    <activity android:name="{launcher}" android:exported="true">
      <intent-filter>
        <action android:name="android.intent.action.MAIN"/>
        <category android:name="android.intent.category.LAUNCHER"/>
      </intent-filter>
    </activity>
  </application>
</manifest>
"""


def constructor_smali(superclass: str) -> str:
    """The no-argument constructor that calls `superclass`'s (a class path: android/app/Activity)."""
    return f""".method public constructor <init>()V
    .registers 1
    invoke-direct {{p0}}, L{superclass};-><init>()V
    return-void
.end method
"""


def activity_smali(name: str, on_create: str, registers: int = 3, more: str = "") -> str:
    """The smali of an Activity (`name` a class path: org/example/Main) whose onCreate calls the superclass's and
    then runs `on_create` (smali lines, its return-void added); `more`: further methods, whole."""
    return f""".class public L{name};
.super Landroid/app/Activity;

{constructor_smali("android/app/Activity")}
.method protected onCreate(Landroid/os/Bundle;)V
    .registers {registers}
    invoke-super {{p0, p1}}, Landroid/app/Activity;->onCreate(Landroid/os/Bundle;)V
{on_create.rstrip()}
    return-void
.end method
{more}"""


def receiver_smali(name: str, on_receive: str, registers: int = 5) -> str:
    """The smali of a BroadcastReceiver (`name` a class path) whose onReceive (Context p1, Intent p2) runs
    `on_receive` (smali lines, its return-void added)."""
    return f""".class public L{name};
.super Landroid/content/BroadcastReceiver;

{constructor_smali("android/content/BroadcastReceiver")}
.method public onReceive(Landroid/content/Context;Landroid/content/Intent;)V
    .registers {registers}
{on_receive.rstrip()}
    return-void
.end method
"""


def instrumentation_manifest(package: str, target: str, runner: str = "androidx.test.runner.AndroidJUnitRunner",
                             target_sdk: int = 33, permissions: tuple[str, ...] = ()) -> str:
    """The AndroidManifest.xml text of a test APK: `package` instruments `target` with `runner`, no component."""
    uses = "".join(f'  <uses-permission android:name="{p}"/>\n' for p in permissions)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="{package}">
  <uses-sdk android:minSdkVersion="21" android:targetSdkVersion="{target_sdk}"/>
{uses}  <instrumentation android:name="{runner}" android:targetPackage="{target}"/>
  <application/>
</manifest>
"""


def dexdump_listings(apk: Path, *options: str) -> Iterator[str]:
    """What dexdump (AOSP's own tool, not our reader) prints for each classes*.dex of the APK, with `options`."""
    if not shutil.which("dexdump"):
        pytest.skip("dexdump is not installed (Debian's dexdump)")
    with tempfile.TemporaryDirectory() as work, zipfile.ZipFile(apk) as zf:
        for member in zf.namelist():
            if re.fullmatch(r"classes\d*\.dex", member):
                path = Path(work) / member
                path.write_bytes(zf.read(member))
                yield subprocess.run(["dexdump", *options, str(path)], capture_output=True, text=True,
                                     errors="replace", timeout=600).stdout   # MUTF-8 names (surrogates) are not UTF-8


def defined_classes(apk: Path) -> frozenset[str]:
    """The classes the APK's dexes define, as dexdump lists them: not our reader."""
    return frozenset(dotted(m) for listing in dexdump_listings(apk)
                     for m in re.findall(r"Class descriptor\s*: '(L[^']+;)'", listing))


def runtimes_in(classes: frozenset[str], components: Iterable[str]) -> list[str]:
    """The names of the runtimes (rules/libraries.yaml `runtimes_not_read`) an app has, judged from the classes its
    dexes define (as defined_classes lists them) and its manifest's component names: the scan must say it did
    not read their code."""
    components = set(components)
    return [r.name for r in attribution_rules().runtimes_not_read
            if components.intersection(r.components)
            or any(name.startswith(f"{package}.") for name in classes for package in r.packages)]


DEX_LOADER_INIT = re.compile(r"Ldalvik/system/(?:DexClassLoader|InMemoryDexClassLoader|PathClassLoader|"
                             r"DelegateLastClassLoader|BaseDexClassLoader);\.<init>")


def loads_dex_it_carries(apk: Path) -> bool:
    """Whether an APK carries dex code Android does not load (a dex, or an archive holding one that is no app of
    its own, in assets/, res/raw/ or the root) and its dexes construct a dex class loader, as zipfile and
    dexdump -d (AOSP's disassembler, not our reader) show: the scan must read that code too."""
    with zipfile.ZipFile(apk) as zf:
        def dex_inside(info: zipfile.ZipInfo) -> bool:
            data = zf.read(info)
            if data[:4] == b"dex\n":
                return True
            try:
                names = zipfile.ZipFile(io.BytesIO(data)).namelist() if data[:4] == b"PK\x03\x04" else []
                return "AndroidManifest.xml" not in names and any(re.fullmatch(r"classes\d*\.dex", n.rpartition("/")[2])
                                                                  for n in names)
            except zipfile.BadZipFile:
                return False
        carried = [i for i in zf.infolist() if not i.is_dir() and not re.fullmatch(r"classes\d*\.dex", i.filename)
                   and (i.filename.startswith(("assets/", "res/raw/")) or "/" not in i.filename) and dex_inside(i)]
    return bool(carried) and any(DEX_LOADER_INIT.search(listing) for listing in dexdump_listings(apk, "-d"))
