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
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from .agent import HookedApi
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
    checks.extend(device_checks(device))
    return checks, True


def device_checks(device) -> list[Check]:
    out = []
    api = int(shell(device, "getprop ro.build.version.sdk") or 0)
    release = shell(device, "getprop ro.build.version.release")
    if MIN_API <= api <= MAX_API:
        out.append(Check("api level", "ok", f"{api} (Android {release})"))
    else:
        out.append(Check("api level", "warn", f"{api} (Android {release}) is outside the tested 7-15 range",
                         "use an Android 7-15 device or emulator image"))
    abi = shell(device, "getprop ro.product.cpu.abi")
    arch = FRIDA_ABI.get(abi)
    out.append(Check("abi", "ok" if arch else "fail", abi or "unknown",
                     None if arch else "frida-server is built for arm, arm64, x86 and x86_64 only"))
    prefix = root_prefix(device)
    out.append(Check("root", "ok" if prefix is not None else "fail",
                     "root shell available" if prefix is not None else "no root shell (id -u, su)",
                     "use an emulator image without Play Store and run `adb root`, or a rooted phone "
                     "(Magisk); frida-server and the system CA store need root"))
    want = frida_version()
    release_name = f"frida-server-{want}-android-{arch or 'ARCH'}.xz"
    fetch = (f"download https://github.com/frida/frida/releases/download/{want}/{release_name}, unxz it, then "
             f"`adb push frida-server-{want}-android-{arch or 'ARCH'} {FRIDA_SERVER}` and "
             f"`adb shell su -c 'chmod 755 {FRIDA_SERVER} && {FRIDA_SERVER} -D'`")
    have = shell(device, f"{FRIDA_SERVER} --version 2>/dev/null")
    if not have:
        out.append(Check("frida-server", "fail", f"not found at {FRIDA_SERVER}", fetch))
    elif have != want:
        out.append(Check("frida-server", "fail", f"version {have}, but the installed frida is {want}", fetch))
    else:
        running = shell(device, "pidof frida-server")
        out.append(Check("frida-server", "ok" if running else "fail",
                         f"{have}, {'running' if running else 'not running'}",
                         None if running else f"adb shell su -c '{FRIDA_SERVER} -D'"))
    proxy = shell(device, "settings get global http_proxy")
    if proxy in ("", "null", ":0"):
        out.append(Check("proxy settings", "ok", "no global proxy set (capture sets and clears its own)"))
    else:
        out.append(Check("proxy settings", "warn", f"global http_proxy is {proxy!r}, left by another tool?",
                         "adb shell settings put global http_proxy :0"))
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


def _free_mb(df_line: str) -> int | None:
    parts = df_line.split()
    # Filesystem 1K-blocks Used Available Use% Mounted-on
    if len(parts) >= 4 and parts[3].isdigit():
        return int(parts[3]) // 1024
    return None


def run_doctor(serial: str | None) -> int:
    checks, found = doctor_checks(serial)
    for check in checks:
        print(check.render())
    if not found:
        raise InputError(next((c.detail for c in reversed(checks) if c.status == "fail"), "no device"))
    failed = [c for c in checks if c.status == "fail"]
    print(f"{len(failed)} check(s) failed" if failed else "device ready for capture")
    return 1 if failed else 0


# -- capture on Android -------------------------------------------------------------------------------------
def _apk_package(apk: Path) -> str:
    aapt = shutil.which("aapt")
    if aapt is None:
        raise InputError("aapt is needed to read the package name (sudo apt-get install aapt)")
    result = subprocess.run([aapt, "dump", "badging", str(apk)], capture_output=True, text=True, timeout=60)
    match = re.search(r"package: name='([^']+)'", result.stdout)
    if not match:
        raise InputError(f"{apk}: not an APK aapt can read")
    return match.group(1)


def apks_to_install(app: Path, workdir: Path) -> list[Path]:
    """One APK as is; a bundle (.apks/.xapk/.apkm) as its top-level APK members, extracted with safe names."""
    if app.suffix.lower() == ".apk":
        return [app]
    try:
        with zipfile.ZipFile(app) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".apk")]
            out = []
            for name in names:
                pure = PurePosixPath(name)
                if pure.is_absolute() or ".." in pure.parts:
                    raise InputError(f"{app}: unsafe member name {name!r}")
                target = workdir / pure.name
                with archive.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                out.append(target)
    except zipfile.BadZipFile:
        raise InputError(f"{app}: neither an APK nor a bundle (.apks/.xapk/.apkm)") from None
    if not out:
        raise InputError(f"{app}: the bundle holds no APK")
    base = [p for p in out if p.name in ("base.apk", "base-master.apk")]
    return base + [p for p in out if p not in base]


def install(device, serial: str, apks: list[Path], run: RunFolder) -> None:
    adb = adb_binary()
    cmd = [adb, "-s", serial, "install-multiple" if len(apks) > 1 else "install", "-r", "-g",
           *[str(p) for p in apks]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    run.log(f"{' '.join(cmd[3:5])}: {result.stdout.strip()} {result.stderr.strip()}")
    if result.returncode != 0 or "Success" not in result.stdout:
        raise InputError(f"installing the app failed: {(result.stderr or result.stdout).strip()[:200]}")


def truth_values(device, serial: str, run: RunFolder, prefix: str | None) -> None:
    """What the device really holds, for the traffic matcher (identifiers.json)."""
    android_id = shell(device, "settings get secure android_id")
    if re.fullmatch(r"[0-9a-f]{8,16}", android_id or ""):
        run.add_identifier("device_ids.android_id", android_id)
    imei_cmd = "service call iphonesubinfo 1"
    imei = parse_service_call_string(as_root(device, prefix, imei_cmd) if prefix is not None
                                     else shell(device, imei_cmd))
    if imei and re.fullmatch(r"\d{14,16}", imei):
        run.add_identifier("device_ids.imei", imei)
    if serial.startswith("emulator-"):
        lat, lon = 52.3731, 4.8922    # a fixed, recognisable fix: Amsterdam Centraal
        adb = adb_binary()
        subprocess.run([adb, "-s", serial, "emu", "geo", "fix", str(lon), str(lat)], capture_output=True,
                       timeout=ADB_TIMEOUT_S)
        run.add_identifier("location.precise", {"lat": lat, "lon": lon})
    ssid = parse_wifi_ssid(shell(device, "dumpsys wifi | grep -m1 'mWifiInfo'"))
    if ssid:
        run.add_identifier("network.wifi_ssid", ssid)


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


def install_system_ca(device, prefix: str, api: int, ca_pem: bytes, run: RunFolder) -> None:
    """Mount a copy of the system CA store with the run CA added (tmpfs; gone after a reboot).

    Android 14+ reads CAs from the conscrypt APEX in each app's mount namespace: bind the same folder over
    /apex/com.android.conscrypt/cacerts inside zygote's namespaces too.
    """
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(ca_pem)
    subject_hash = _openssl_subject_hash_old(cert)
    remote = f"/data/local/tmp/{subject_hash}.0"
    device.sync.push(ca_pem, remote)
    script = (
        "set -e; mkdir -p /data/local/tmp/appaudit-ca; rm -f /data/local/tmp/appaudit-ca/*; "
        "cp /apex/com.android.conscrypt/cacerts/* /data/local/tmp/appaudit-ca/ 2>/dev/null || "
        "cp /system/etc/security/cacerts/* /data/local/tmp/appaudit-ca/; "
        f"cp {remote} /data/local/tmp/appaudit-ca/; "
        "mount -t tmpfs tmpfs /system/etc/security/cacerts; "
        "cp /data/local/tmp/appaudit-ca/* /system/etc/security/cacerts/; "
        "chown root:root /system/etc/security/cacerts/*; chmod 644 /system/etc/security/cacerts/*; "
        "chcon u:object_r:system_file:s0 /system/etc/security/cacerts/* || true")
    if api >= 34:
        script += ("; for pid in $(pidof zygote zygote64) $(pidof -s system_server); do "
                   "nsenter --mount=/proc/$pid/ns/mnt -- mount --bind /system/etc/security/cacerts "
                   "/apex/com.android.conscrypt/cacerts || true; done")
    run.log("system CA store: " + as_root(device, prefix, script, timeout=60)[:300])


def _openssl_subject_hash_old(cert) -> str:
    """Android names CA files by OpenSSL's old (MD5) subject hash."""
    import hashlib
    digest = hashlib.md5(cert.subject.public_bytes()).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def capture_android(serial: str, apps: list[Path], run: RunFolder, apis: tuple[HookedApi, ...],
                    duration: float, exercise: str, seed: int, stop, sinkhole: bool = False,
                    keep_data: bool = False) -> str | None:
    import frida
    from .frida_session import AgentSession
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
    adb = adb_binary()
    api = int(shell(device, "getprop ro.build.version.sdk") or 0)
    prefix = root_prefix(device)
    run.update(device={"serial": serial, "kind": "android", "api": api,
                       "release": shell(device, "getprop ro.build.version.release"),
                       "model": shell(device, "getprop ro.product.model"),
                       "abi": shell(device, "getprop ro.product.cpu.abi"),
                       "fingerprint": shell(device, "getprop ro.build.fingerprint"),
                       "frida": frida_version()})
    workdir = Path(tempfile.mkdtemp(prefix="appaudit-apks-"))
    apks = [p for app in apps for p in apks_to_install(app, workdir)]
    package = _apk_package(apks[0])
    run.update(app={**run.meta.get("app", {}), "package": package})
    install(device, serial, apks, run)
    truth_values(device, serial, run, prefix)
    proxy = AuditProxy(run.path, sinkhole=sinkhole)
    undo: list[tuple[str, list[str] | str]] = []
    session = monkey = None
    try:
        endpoint = proxy.start()
        port = endpoint.port
        subprocess.run([adb, "-s", serial, "reverse", f"tcp:{port}", f"tcp:{port}"], check=True,
                       capture_output=True, timeout=ADB_TIMEOUT_S)
        undo.append(("host", [adb, "-s", serial, "reverse", "--remove", f"tcp:{port}"]))
        shell(device, f"settings put global http_proxy 127.0.0.1:{port}")
        undo.append(("shell", "settings put global http_proxy :0"))
        run.log(f"proxy 127.0.0.1:{port} reversed onto the device and set as global http_proxy")
        ca_pem = endpoint.ca_cert.read_bytes()
        if prefix is not None:
            install_system_ca(device, prefix, api, ca_pem, run)
        frida_device = frida.get_device_manager().get_device(serial, timeout=10)
        pid = frida_device.spawn([package])
        session = AgentSession(frida_device, pid, run.event, run.log, java=True)
        session.attach(apis, native=True, block_quic=True, unpin=True, ca_pem=ca_pem.decode("ascii"),
                       retry_java_s=int(duration))
        result = session.hook_java(timeout=5)
        frida_device.resume(pid)
        run.update(process={"pid": pid, "package": package},
                   hooks={"native": session.status.get("native", []),
                          "java": result["hooked"] if result else [],
                          "java_pending": result["pending"] if result else []})
        if exercise == "monkey":
            monkey = subprocess.Popen([adb, "-s", serial, "shell", "monkey", "-p", package, "-s", str(seed),
                                       "--throttle", "300", "--pct-syskeys", "0", "-v", "100000"],
                                      stdout=open(run.logs / "monkey.log", "wb"), stderr=subprocess.STDOUT)
        started = time.monotonic()
        while not stop.is_set() and time.monotonic() - started < duration and not session.detached.is_set():
            stop.wait(0.2)
    finally:
        if monkey is not None and monkey.poll() is None:
            monkey.terminate()
            shell(device, "pkill -f com.android.commands.monkey || true")
        if session is not None:
            session.close()
        shell(device, f"am force-stop {shlex.quote(package)}")
        for kind, command in reversed(undo):   # undo the device settings even on Ctrl-C
            try:
                if kind == "host":
                    subprocess.run(command, capture_output=True, timeout=ADB_TIMEOUT_S)
                else:
                    shell(device, command)
            except Exception as exc:
                run.log(f"undo {command}: {exc}")
        proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
