"""Android devices over adb (adbutils): `device doctor` and capture on a phone or emulator.

What is verified where (see docs/runtime.md): adb and the doctor's no-device path run here; everything that
needs a device (install, truth values, proxy settings, CA injection, frida-server, monkey) is written for
Android 7-15 but verified only on a real device or emulator.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from .agent import HookedApi
from .fridaserver import frida_server_for, release_url
from .runfolder import RunFolder

MIN_API, MAX_API = 24, 35            # Android 7 .. 15
FRIDA_SERVER = "/data/local/tmp/frida-server"
MIN_FREE_MB = 200
FRIDA_ABI = {"arm64-v8a": "arm64", "armeabi-v7a": "arm", "armeabi": "arm", "x86_64": "x86_64", "x86": "x86"}
ADB_TIMEOUT_S = 30


@dataclass(frozen=True)
class Check:
    name: str
    status: str            # ok | warn | fail
    detail: str
    fix: str | None = None

    def render(self) -> str:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[self.status]
        line = f"[{mark}] {self.name}: {self.detail}"
        if self.fix and self.status != "ok":
            line += f"\n       fix: {self.fix}"
        return line


# -- adb plumbing -------------------------------------------------------------------------------------------
def adb_binary() -> str | None:
    try:
        from adbutils import adb_path
        path = adb_path()
    except Exception:
        path = shutil.which("adb")
    return path if path and Path(path).exists() else None


def adb_client():
    import adbutils
    return adbutils.AdbClient()


def shell(device, command: str, timeout: float = ADB_TIMEOUT_S) -> str:
    return device.shell(command, timeout=timeout).strip()


def root_prefix(device) -> str | None:
    """How to run a command as root: adbd already root (emulators after `adb root`), or su in either dialect."""
    if shell(device, "id -u") == "0":
        return ""
    for form in ("su 0 sh -c", "su -c"):
        if shell(device, f"{form} 'id -u' 2>/dev/null") == "0":
            return form
    return None


def as_root(device, prefix: str, command: str, timeout: float = ADB_TIMEOUT_S) -> str:
    return shell(device, command if prefix == "" else f"{prefix} {shlex.quote(command)}", timeout)


def frida_version() -> str:
    import frida
    return frida.__version__


# -- doctor -------------------------------------------------------------------------------------------------
def doctor_checks(serial: str | None) -> tuple[list[Check], bool]:
    """The checks, in order, and whether a device was found at all."""
    checks: list[Check] = []
    adb = adb_binary()
    if adb is None:
        checks.append(Check("adb", "fail", "adb not found", "install it: sudo apt-get install adb "
                            "(or Android platform-tools) and put it on PATH"))
        return checks, False
    try:
        client = adb_client()
        version = client.server_version()
        checks.append(Check("adb", "ok", f"{adb}, server protocol {version} on port {client.port}"))
        devices = [d for d in client.device_list()]
    except Exception as exc:
        checks.append(Check("adb", "fail", f"adb server not reachable: {exc}",
                            "run `adb kill-server && adb start-server`; check ANDROID_ADB_SERVER_PORT"))
        return checks, False
    serials = [d.serial for d in devices]
    if not serials:
        checks.append(Check("device", "fail", "no Android device connected (`adb devices` lists none)",
                            "connect a phone with USB debugging on and accept the prompt, or start an emulator "
                            "(`emulator -avd NAME`), then check `adb devices`"))
        return checks, False
    if serial is None and len(serials) > 1:
        checks.append(Check("device", "fail", f"several devices: {', '.join(serials)}",
                            "name one: appaudit device doctor SERIAL"))
        return checks, False
    if serial is not None and serial not in serials:
        checks.append(Check("device", "fail", f"{serial} is not listed (listed: {', '.join(serials)})",
                            f"check the serial with `adb devices`; for a network device `adb connect {serial}`"))
        return checks, False
    device = client.device(serial or serials[0])
    checks.append(Check("device", "ok", f"{device.serial} ({shell(device, 'getprop ro.product.model')})"))
    checks.extend(device_checks(device, device.serial))
    return checks, True


def root_command(prefix: str | None, command: str) -> str:
    """The `adb shell ...` line that runs `command` as root on this device (no su on AOSP emulators: adb root)."""
    if prefix == "":
        return f"adb shell {shlex.quote(command)}"
    if prefix is None:
        return f"adb root && adb shell {shlex.quote(command)}"
    return f"adb shell {prefix} {shlex.quote(command)}"


def device_checks(device, serial: str | None = None) -> list[Check]:
    """appstraction-level readiness: each check with the fix for this device."""
    out = []
    api = int(shell(device, "getprop ro.build.version.sdk") or 0)
    release = shell(device, "getprop ro.build.version.release")
    booted = shell(device, "getprop sys.boot_completed") == "1"
    out.append(Check("boot", "ok" if booted else "fail", "boot completed" if booted else "still booting",
                     None if booted else "wait for the home screen: adb wait-for-device shell "
                     "'while [ \"$(getprop sys.boot_completed)\" != 1 ]; do sleep 1; done'"))
    if MIN_API <= api <= MAX_API:
        out.append(Check("api level", "ok", f"{api} (Android {release})"))
    else:
        out.append(Check("api level", "warn", f"{api} (Android {release}) is outside the tested 7-15 range",
                         "use an Android 7-15 device or emulator image"))
    abi = shell(device, "getprop ro.product.cpu.abi")
    arch = FRIDA_ABI.get(abi)
    out.append(Check("architecture", "ok" if arch else "fail", f"{abi or 'unknown'} (frida-server-*-android-"
                     f"{arch or '?'})", None if arch else "frida-server is built for arm, arm64, x86 and x86_64 only"))
    prefix = root_prefix(device)
    out.append(Check("root", "ok" if prefix is not None else "fail",
                     {None: "no root shell (id -u, su)", "": "adbd runs as root"}.get(prefix, f"root via `{prefix}`"),
                     "an emulator image without Play Store: `adb root`; a phone: root it (Magisk); "
                     "frida-server and the system CA store need root"))
    selinux = shell(device, "getenforce") or "unknown"
    out.append(Check("selinux", "ok" if selinux in ("Enforcing", "Permissive") else "warn", selinux,
                     None if selinux in ("Enforcing", "Permissive") else "check `adb shell getenforce`"))
    want = frida_version()
    fetch = (f"appaudit device doctor --fix (downloads {release_url(want, arch or 'ARCH')}; offline: fetch it, "
             f"unxz it and give it as --fix FILE), or by hand: adb push it {FRIDA_SERVER}; "
             + root_command(prefix, f"chmod 755 {FRIDA_SERVER} && {FRIDA_SERVER} -D"))
    have = shell(device, f"{FRIDA_SERVER} --version 2>/dev/null")
    if not have:
        out.append(Check("frida-server", "fail", f"not found at {FRIDA_SERVER}", fetch))
    elif have != want:
        out.append(Check("frida-server", "fail", f"version {have}, but the installed frida is {want}", fetch))
    else:
        user = shell(device, "ps -A -o USER,NAME | grep frida-server | head -n 1").split()
        reachable = frida_reachable(serial or device.serial)
        if not user:
            out.append(Check("frida-server", "fail", f"{have}, not running",
                             root_command(prefix, f"{FRIDA_SERVER} -D")))
        elif user[0] != "root":
            out.append(Check("frida-server", "fail", f"{have}, running as {user[0]}, not root",
                             "kill it and " + root_command(prefix, f"{FRIDA_SERVER} -D")))
        else:
            out.append(Check("frida-server", "ok" if reachable is None else "fail",
                             f"{have}, running as root" + ("" if reachable is None else f", not reachable: "
                                                                                      f"{reachable}"),
                             None if reachable is None else "restart it: " + root_command(
                                 prefix, f"pkill frida-server; {FRIDA_SERVER} -D")))
    gms = shell(device, "pm path com.google.android.gms")
    out.append(Check("play services", "ok" if gms.startswith("package:") else "warn",
                     "installed" if gms.startswith("package:") else "not installed",
                     None if gms.startswith("package:") else "apps calling the advertising ID or fused location "
                     "get errors instead of values; use a Google APIs image for that"))
    awake = "mWakefulness=Awake" in shell(device, "dumpsys power | grep mWakefulness=")
    locked = "mDreamingLockscreen=true" in shell(device, "dumpsys window | grep mDreamingLockscreen")
    out.append(Check("screen", "ok" if awake and not locked else "warn",
                     "on and unlocked" if awake and not locked else ("locked" if awake else "off"),
                     "adb shell input keyevent KEYCODE_WAKEUP && adb shell wm dismiss-keyguard"))
    leftovers = [f"{k}={v}" for k in ("http_proxy", "global_http_proxy_host", "global_http_proxy_port")
                 if (v := shell(device, f"settings get global {k}")) not in ("", "null", ":0")]
    if not leftovers:
        out.append(Check("proxy settings", "ok", "no device-wide proxy (capture never sets one)"))
    else:
        out.append(Check("proxy settings", "warn", f"{', '.join(leftovers)}: left by another tool; other apps' "
                         "traffic goes there", "adb shell settings delete global http_proxy; adb shell settings "
                         "delete global global_http_proxy_host; adb shell settings delete global "
                         "global_http_proxy_port"))
    if prefix is not None:
        store = "APEX conscrypt store (Android 14+)" if api >= 34 else "system store"
        out.append(Check("CA trust", "ok", f"the run's CA will be mounted into the {store} and injected by "
                         "the agent"))
    else:
        out.append(Check("CA trust", "warn", "no root: only the agent's in-app trust injection is possible; "
                         "apps with native TLS or custom stacks may fail",
                         "root the device (see 'root') so the run CA can enter the system store"))
    free_mb = _free_mb(shell(device, "df -k /data/local/tmp | tail -n 1"))
    if free_mb is None:
        out.append(Check("free space", "warn", "could not read `df` output"))
    else:
        out.append(Check("free space", "ok" if free_mb >= MIN_FREE_MB else "fail", f"{free_mb} MB free in /data",
                         f"free at least {MIN_FREE_MB} MB (uninstall apps, clear /data/local/tmp)"))
    return out


def frida_reachable(serial: str) -> str | None:
    """None when the host's frida can talk to the device's frida-server; else why not."""
    import frida
    try:
        frida.get_device_manager().get_device(serial, timeout=5).query_system_parameters()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def fix_frida_server(serial: str | None, binary: str | None) -> None:
    """`--fix [FILE]`: push a frida-server, check it is the host's version, start it as root. Without FILE the
    one for the device's architecture and the host's frida comes from the cache or Frida's releases."""
    path = Path(binary) if binary is not None else None
    if path is not None and not path.is_file():
        raise InputError(f"frida-server file not found: {binary}")
    client = adb_client()
    serials = [d.serial for d in client.device_list()]
    if not serials or (serial is not None and serial not in serials):
        raise InputError("no Android device connected (`adb devices` lists none)" if not serials
                         else f"{serial} is not listed (listed: {', '.join(serials)})")
    device = client.device(serial or serials[0])
    prefix = root_prefix(device)
    if prefix is None:
        raise InputError("no root shell on the device: frida-server must run as root (see `root`)")
    if path is None:
        abi = shell(device, "getprop ro.product.cpu.abi")
        if abi not in FRIDA_ABI:
            raise InputError(f"the device's architecture {abi or 'unknown'} has no frida-server build")
        path = frida_server_for(frida_version(), FRIDA_ABI[abi])
        binary = str(path)
    device.sync.push(str(path), FRIDA_SERVER)
    as_root(device, prefix, f"chmod 755 {FRIDA_SERVER}")
    have, want = shell(device, f"{FRIDA_SERVER} --version 2>&1"), frida_version()
    if have != want:
        raise InputError(f"{binary} reports version {have[:60]!r} on the device; the installed frida is {want}")
    as_root(device, prefix, f"pkill -f {FRIDA_SERVER}; ({FRIDA_SERVER} -D >/dev/null 2>&1 &)")
    time.sleep(1.0)    # the daemon forks; give it a moment before the checks look for it


def _free_mb(df_line: str) -> int | None:
    parts = df_line.split()
    # Filesystem 1K-blocks Used Available Use% Mounted-on
    if len(parts) >= 4 and parts[3].isdigit():
        return int(parts[3]) // 1024
    return None


def run_doctor(serial: str | None, fix: str | None = None) -> int:
    """`fix`: None checks only; "" (`--fix` alone) downloads the matching frida-server; a path pushes that file."""
    if fix is not None:
        fix_frida_server(serial, fix or None)
    checks, found = doctor_checks(serial)
    for check in checks:
        print(check.render())
    if not found:
        raise InputError(next((c.detail for c in reversed(checks) if c.status == "fail"), "no device"))
    failed = [c for c in checks if c.status == "fail"]
    print(f"{len(failed)} check(s) failed" if failed else "device ready for capture")
    return 1 if failed else 0


# -- capture on Android -------------------------------------------------------------------------------------
def apk_identity(apk: Path) -> tuple[str, int | None]:
    """The package name and targetSdkVersion of an APK, from its binary manifest with the static scan's own
    bounded reader and parser (no aapt needed on the host)."""
    from ..static.inputs import MANIFEST, MAX_MANIFEST_BYTES, Archive, Budget
    from ..static.manifest import parse_manifest
    archive = Archive(apk, str(apk), Budget())
    try:
        if not archive.has(MANIFEST):
            raise InputError(f"{apk}: no {MANIFEST} (not an APK)")
        manifest = parse_manifest(archive.read(MANIFEST, MAX_MANIFEST_BYTES), f"{apk}!{MANIFEST}")
    finally:
        archive.close()
    return manifest.package, manifest.target_sdk


def device_spec(device) -> "DeviceSpec":
    """The device properties bundle selection depends on (ABI list, density, languages, API level)."""
    from .bundles import DeviceSpec
    abis = tuple(a for a in shell(device, "getprop ro.product.cpu.abilist").split(",") if a) or \
        (shell(device, "getprop ro.product.cpu.abi"),)
    return DeviceSpec(abis=abis, density=parse_wm_density(shell(device, "wm density")) or 420,
                      languages=locale_languages(shell(device, "getprop persist.sys.locale") or
                                                 shell(device, "getprop ro.product.locale")),
                      sdk=int(shell(device, "getprop ro.build.version.sdk") or 0))


def parse_wm_density(output: str) -> int | None:
    """`Physical density: 420` / `Override density: 480` (the override wins, as resources see it)."""
    found = dict(re.findall(r"(Physical|Override) density: (\d+)", output))
    value = found.get("Override") or found.get("Physical")
    return int(value) if value else None


def locale_languages(locale: str) -> tuple[str, ...]:
    """`en-US` -> ('en',); `fr-FR,en-US` (a locale list) -> ('fr', 'en')."""
    out = []
    for part in re.split(r"[,\s]+", locale.strip()):
        language = part.split("-", 1)[0].split("_", 1)[0].lower()
        if re.fullmatch(r"[a-z]{2,3}", language) and language not in out:
            out.append(language)
    return tuple(out) or ("en",)


def apks_to_install(app: Path, workdir: Path, device: "DeviceSpec") -> tuple[list[Path], list[tuple[Path, str]]]:
    """One APK as is; from a bundle (.apks/.xapk/.apkm) the members bundletool would install on `device`,
    extracted with safe names (base first), and its OBB files as (local file, path under /sdcard)."""
    from .bundles import read_selection
    if app.suffix.lower() == ".apk":
        return [app], []
    try:
        with zipfile.ZipFile(app) as archive:
            for name in archive.namelist():
                pure = PurePosixPath(name)
                if pure.is_absolute() or ".." in pure.parts:
                    raise InputError(f"{app}: unsafe member name {name!r}")
            selection = read_selection(archive, device)
            out, obb = [], []
            for name in selection.members:
                target = workdir / PurePosixPath(name).name
                with archive.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(target)
            for name in selection.obb:
                target = workdir / ("obb-" + PurePosixPath(name).name)
                with archive.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                obb.append((target, str(PurePosixPath(name))))
    except zipfile.BadZipFile:
        raise InputError(f"{app}: neither an APK nor a bundle (.apks/.xapk/.apkm)") from None
    if not out:
        raise InputError(f"{app}: the bundle holds no APK for this device ({', '.join(device.abis)}, "
                         f"{device.density} dpi, API {device.sdk})")
    return out, obb


def truth_values(device, serial: str, run: RunFolder, prefix: str | None) -> None:
    """What the device really holds, for the traffic matcher (identifiers.json). ANDROID_ID is not read here:
    since API 26 `settings get secure android_id` is the shell's own per-app value; the agent reads the app's
    inside the app. Nothing that failed or is a platform placeholder is recorded (RunFolder.add_identifier)."""
    imei_cmd = "service call iphonesubinfo 1"
    imei = parse_service_call_string(as_root(device, prefix, imei_cmd) if prefix is not None
                                     else shell(device, imei_cmd))
    if imei and re.fullmatch(r"\d{14,16}", imei):
        run.add_identifier("device_ids.imei", imei)
    if prefix is not None:
        adid = parse_adid_prefs(as_root(device, prefix, f"cat {GMS_ADID_PREFS} 2>/dev/null"))
        if adid:
            run.add_identifier("device_ids.advertising_id", adid)
    if serial.startswith("emulator-"):
        lat, lon = 52.3731, 4.8922    # a fixed, recognisable fix: Amsterdam Centraal
        adb = adb_binary()
        result = subprocess.run([adb, "-s", serial, "emu", "geo", "fix", str(lon), str(lat)], capture_output=True,
                                text=True, timeout=ADB_TIMEOUT_S)
        if result.returncode != 0 or "OK" not in result.stdout:
            run.log(f"geo fix failed ({(result.stdout + result.stderr).strip()[:100]}): location not recorded")
    # What the location service holds (a phone's real fix, or the emulator's once the fix took).
    for fix in parse_dumpsys_location(shell(device, "dumpsys location")):
        run.add_identifier("location.precise", fix)
    ssid = parse_wifi_ssid(shell(device, "dumpsys wifi | grep -m1 'mWifiInfo'"))
    if ssid:
        run.add_identifier("network.wifi_ssid", ssid)


GMS_ADID_PREFS = "/data/data/com.google.android.gms/shared_prefs/adid_settings.xml"


def parse_adid_prefs(xml: str) -> str | None:
    """Play Services' advertising ID from its shared prefs: <string name="adid_key">UUID</string>."""
    match = re.search(r'<string name="adid_key">([0-9a-fA-F-]{36})</string>', xml or "")
    return match.group(1).lower() if match else None


def parse_dumpsys_location(output: str) -> list[dict]:
    """Last known fixes from `dumpsys location`: `Location[gps 52.373100,4.892200 hAcc=...` (API 30-34 form)."""
    out = []
    for lat, lon in re.findall(r"Location\[\w+ (-?\d+\.\d+),(-?\d+\.\d+)", output or ""):
        fix = {"lat": round(float(lat), 6), "lon": round(float(lon), 6)}
        if fix not in out and (fix["lat"], fix["lon"]) != (0.0, 0.0):
            out.append(fix)
    return out


def parse_service_call_string(raw: str) -> str | None:
    """The string in a `service call` Parcel dump: the text between quotes, dots (non-printables) dropped.

    Result: Parcel(
      0x00000000: 00000000 0000000f 00350033 00390036 '........3.5.6.9.'
      ...)
    """
    if "Parcel(" not in raw:
        return None
    text = "".join(re.findall(r"'([^']*)'", raw)).replace(".", "").strip()
    return text or None


def parse_wifi_ssid(line: str) -> str | None:
    """`mWifiInfo SSID: "HomeNet", BSSID: ...` (quotes since Android 7) -> HomeNet; unknown SSIDs -> None."""
    match = re.search(r'SSID: (?:"([^"]*)"|([^,]*)),', line)
    if not match:
        return None
    ssid = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
    return None if not ssid or ssid in ("<unknown ssid>", "<none>") else ssid


CA_OK_MARK = "APPAUDIT-CA-OK"


@dataclass(frozen=True)
class CaPaths:
    """Where the CA scripts act: Android's paths, or a scratch tree in a test's own mount namespace."""

    store: str = "/system/etc/security/cacerts"
    apex: str = "/apex/com.android.conscrypt/cacerts"       # Android 14+: what apps read
    work: str = "/data/local/tmp/appaudit-ca"
    zygotes: str = "pidof zygote zygote64"                   # shell command printing the zygotes' pids
    system_server: str = "pidof -s system_server"


def system_ca_script(name: str, remote: str, api: int, paths: CaPaths = CaPaths()) -> str:
    """The root shell script that puts the run CA (`remote`, pushed already) into the system store, ending with
    CA_OK_MARK only if every step worked. A copy of the store on a tmpfs over the store; on 14+ that folder
    bind-mounted over the APEX store inside zygote's and system_server's mount namespaces (apps fork from
    zygote and inherit it). Mounts of an earlier run are removed first, in every namespace: none stack up."""
    store, apex, work = paths.store, paths.apex, paths.work
    script = (
        "set -e; "
        f"while grep -q ' {store} ' /proc/mounts; do umount {store}; done; "
        f"mkdir -p {work}; rm -f {work}/*; "
        f"cp {apex}/* {work}/ 2>/dev/null || cp {store}/* {work}/; "
        f"cp {remote} {work}/; "
        f"mount -t tmpfs tmpfs {store}; "
        f"cp {work}/* {store}/; "
        f"chown root:root {store}/*; chmod 644 {store}/*; "
        f"chcon u:object_r:system_file:s0 {store}/*; ")
    if api >= 34:
        inside = (f"set -e; while grep -q \" {apex} \" /proc/self/mounts; do umount {apex}; done; "
                  f"mount --bind {store} {apex}")
        script += (f"for pid in $({paths.zygotes}) $({paths.system_server}); do "
                   f"nsenter --mount=/proc/$pid/ns/mnt -- sh -c '{inside}'; done; ")
    return script + f"echo {CA_OK_MARK}"


def zygote_views_script(name: str, paths: CaPaths = CaPaths()) -> str:
    """Prints `PID` for each zygote that does not see the CA file in its APEX store (`PID FILE` when it does)."""
    return (f"for pid in $({paths.zygotes}); do echo \"$pid $(nsenter --mount=/proc/$pid/ns/mnt -- "
            f"ls {paths.apex}/{name} 2>/dev/null)\"; done")


def zygotes_missing(listing: str, name: str) -> list[str]:
    return [line.split()[0] for line in listing.splitlines() if line.strip() and not line.strip().endswith(name)]


def install_system_ca(device, prefix: str, api: int, ca_pem: bytes, run: RunFolder) -> dict:
    """Mount a copy of the system CA store with the run CA added (tmpfs; gone after a reboot), then verify it:
    the file, its mode 644, its SELinux label, and on 14+ its presence in every zygote's view. A failure stops
    the capture with the step that failed."""
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(ca_pem)
    name = f"{_openssl_subject_hash_old(cert)}.0"
    remote = f"/data/local/tmp/{name}"
    store = CaPaths().store
    device.sync.push(ca_pem, remote)
    output = as_root(device, prefix, system_ca_script(name, remote, api), timeout=60)
    run.log("system CA store: " + output[:300])
    if CA_OK_MARK not in output:
        raise InputError(f"installing the run CA into the system store failed: {output.strip()[:200]}")
    check = parse_ca_check(as_root(device, prefix, f"stat -c '%a' {store}/{name}; ls -Z {store}/{name}"))
    views = zygotes_missing(as_root(device, prefix, zygote_views_script(name)), name) if api >= 34 else []
    problems = [p for p in (None if check["mode"] == "644" else f"mode {check['mode']}",
                            None if "system_file" in check["label"] else f"label {check['label'] or '?'}",
                            f"missing in zygote {', '.join(views)}" if views else None) if p]
    if problems:
        raise InputError(f"the run CA is in the system store but not usable: {'; '.join(problems)}")
    return {"file": f"{store}/{name}", "mode": check["mode"], "label": check["label"], "apex_bound": api >= 34}


def parse_ca_check(output: str) -> dict:
    """`644` then `u:object_r:system_file:s0 /system/etc/security/cacerts/abcd1234.0` -> mode and label."""
    lines = [l.strip() for l in (output or "").splitlines() if l.strip()]
    mode = lines[0] if lines and lines[0].isdigit() else ""
    label = next((l.split()[0] for l in lines[1:] if l.startswith("u:")), "")
    return {"mode": mode, "label": label}


def _openssl_subject_hash_old(cert) -> str:
    """Android names CA files by OpenSSL's old (MD5) subject hash."""
    import hashlib
    digest = hashlib.md5(cert.subject.public_bytes()).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def capture_android(serial: str, apps: list[Path], run: RunFolder, apis: tuple[HookedApi, ...],
                    duration: float, exercise: str, seed: int, stop, sinkhole: bool = False,
                    keep_data: bool = False) -> str | None:
    """Install, hook and exercise the app; returns why the run is incomplete (the app died), or None."""
    import frida
    from .adbsteps import Adb, DeviceSetup, install_commands, leftover_proxy, run_install
    from .frida_session import AgentSession, hook_summary
    from .proxy import AuditProxy
    checks, found = doctor_checks(serial)
    if not found:
        raise InputError(next((c.detail for c in reversed(checks) if c.status == "fail"), "no device"))
    blocking = [c for c in checks if c.status == "fail"]
    if blocking:
        raise InputError(f"device not ready: {blocking[0].name}: {blocking[0].detail} "
                         "(run `appaudit device doctor` for the fixes)")
    client = adb_client()
    device = client.device(serial)
    adb = Adb(adb_binary(), serial, run.log)
    spec = device_spec(device)
    api = spec.sdk
    prefix = root_prefix(device)
    run.update(device={"serial": serial, "kind": "android", "api": api,
                       "release": shell(device, "getprop ro.build.version.release"),
                       "model": shell(device, "getprop ro.product.model"), "abis": list(spec.abis),
                       "density": spec.density, "languages": list(spec.languages),
                       "fingerprint": shell(device, "getprop ro.build.fingerprint"), "frida": frida_version(),
                       "clock_offset_s": clock_offset(device)})
    leftovers = leftover_proxy({k: shell(device, f"settings get global {k}") for k in
                                ("http_proxy", "global_http_proxy_host", "global_http_proxy_port")})
    if leftovers:   # not ours to change; the app's traffic does not depend on it, other apps' would be elsewhere
        run.log(f"device-wide proxy settings left by another tool: {', '.join(leftovers)}")
    workdir = Path(tempfile.mkdtemp(prefix="appaudit-apks-"))
    proxy = AuditProxy(run.path, sinkhole=sinkhole)
    setup = session = monkey = children = None
    crashed = None
    try:
        apks, obb = [], []
        for app in apps:
            members, files = apks_to_install(app, workdir, spec)
            apks.extend(members)
            obb.extend(files)
        package, target_sdk = apk_identity(apks[0])
        run.update(app={**run.meta.get("app", {}), "package": package, "installed": [p.name for p in apks],
                        "obb": [remote for _, remote in obb]})
        run_install(adb, install_commands(apks, package, api, target_sdk, keep_data, obb))
        truth_values(device, serial, run, prefix)
        endpoint = proxy.start()
        setup = DeviceSetup(adb, package, (endpoint.port, endpoint.socks_port))
        setup.apply()
        run.log(f"proxy 127.0.0.1:{endpoint.port} (HTTP) and :{endpoint.socks_port} (SOCKS5) reversed onto the "
                "device; the agent points only the app's processes at them")
        ca_pem = endpoint.ca_cert.read_bytes()
        if prefix is not None:
            run.update(ca=install_system_ca(device, prefix, api, ca_pem, run))
        frida_device = frida.get_device_manager().get_device(serial, timeout=10)
        options = dict(native=True, block_quic=True, unpin=True, ca_pem=ca_pem.decode("ascii"), endpoint=endpoint,
                       loopback=False)
        children = ChildProcesses(frida_device, package, apis, options, run)
        children.start()
        pid = frida_device.spawn([package])
        session = AgentSession(frida_device, pid, run.event, run.log, java=True)
        session.attach(apis, **options)
        frida_device.resume(pid)
        run.update(process={"pid": pid, "package": package}, hooks=hook_summary(session.final_status()),
                   proxy={"host": endpoint.host, "port": endpoint.port, "socks_port": endpoint.socks_port})
        if session.wait_java():
            _app_truth(session, run)
        if exercise == "monkey":
            monkey = subprocess.Popen([adb.binary, "-s", serial, "shell", "monkey", "-p", package, "-s", str(seed),
                                       "--throttle", "300", "--pct-syskeys", "0", "--ignore-crashes",
                                       "--ignore-timeouts", "--ignore-security-exceptions", "-v", "100000"],
                                      stdout=open(run.logs / "monkey.log", "wb"), stderr=subprocess.STDOUT)
        started = time.monotonic()
        while not stop.is_set() and time.monotonic() - started < duration and not session.detached.is_set():
            stop.wait(0.2)
        if session.detached.is_set() and not stop.is_set():
            crashed = f"the app's process ended during the run ({session.detach_reason}" + \
                (f", {session.crash}" if session.crash else "") + ")"
    finally:
        if monkey is not None and monkey.poll() is None:
            monkey.terminate()
            adb.run("shell", "pkill -f com.android.commands.monkey", check=False)
        if children is not None:
            run.update(child_processes=children.stop())
        if session is not None:
            session.close()
            run.update(hooks=hook_summary(session.final_status()))
        if setup is not None:
            failures = setup.undo()             # every step, even after a failing one
            run.update(undo={"issued": [" ".join(a) for a in adb.issued], "failures": failures})
        proxy.stop()
        run.update(traffic=proxy.summary)
        shutil.rmtree(workdir, ignore_errors=True)
    return crashed


class ChildProcesses:
    """The app's other processes (`android:process=":x"` services, often an SDK's): Frida's spawn gating holds
    each new process; the app's own get the same agent before they run, any other is let go at once."""

    def __init__(self, device, package: str, apis, options: dict, run: RunFolder):
        self.device, self.package, self.apis, self.options, self.run = device, package, apis, options, run
        self.sessions: list = []
        self.names: list[str] = []

    def start(self) -> None:
        self.device.on("spawn-added", self._on_spawn)
        self.device.enable_spawn_gating()

    def _on_spawn(self, spawn) -> None:
        threading.Thread(target=self._hook, args=(spawn,), daemon=True, name="appaudit-child").start()

    def _hook(self, spawn) -> None:
        from .frida_session import AgentSession
        if spawn.identifier == self.package:
            return                          # the app's main process: spawned, hooked and resumed by the capture
        try:
            if (spawn.identifier or "").startswith(self.package + ":"):
                session = AgentSession(self.device, spawn.pid, self.run.event, self.run.log, java=True)
                session.attach(self.apis, **self.options)
                self.sessions.append(session)
                self.names.append(spawn.identifier)
                self.run.log(f"hooked the app's process {spawn.identifier} (pid {spawn.pid})")
        except Exception as exc:
            self.run.log(f"could not hook {spawn.identifier}: {exc}")
        finally:
            try:
                self.device.resume(spawn.pid)
            except Exception as exc:
                self.run.log(f"resume {spawn.pid}: {exc}")

    def stop(self) -> list[str]:
        try:
            self.device.disable_spawn_gating()
            self.device.off("spawn-added", self._on_spawn)
        except Exception as exc:
            self.run.log(f"spawn gating: {exc}")
        for session in self.sessions:
            session.close()
        return list(self.names)


def _app_truth(session, run: RunFolder) -> None:
    """ANDROID_ID and the advertising ID as the app itself gets them (read inside the app by the agent)."""
    try:
        values = session.script.exports_sync.app_truth()
    except Exception as exc:
        run.log(f"reading identifiers inside the app: {exc}")
        return
    for data_type, value in (values or {}).items():
        run.add_identifier(data_type, value)


def clock_offset(device) -> float | None:
    """Device clock minus host clock (s), from `date +%s.%N` read between two host readings: agent event times
    are device time, flows host time; subtract this from agent times to compare."""
    before = time.time()
    raw = shell(device, "date +%s.%N")
    after = time.time()
    try:
        return round(float(raw) - (before + after) / 2, 3)
    except ValueError:
        return None
