"""The device layer against what runs here: real adb with no device, the agent build, the proxy's private CA,
the QUIC block (an Android-only setting) exercised on a host process, and the Android CA file naming."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.runtime.agent import agent_source, load_apis
from audit.runtime.frida_session import AgentSession
from audit.runtime.proxy import AuditProxy

from test_runtime_helpers import private_adb_server, ptrace_denied  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[1]


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "audit.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_doctor_without_a_device_says_so_prints_the_fix_and_exits_2(private_adb_server):
    result = _cli(["device", "doctor"], private_adb_server)
    assert result.returncode == 2
    assert "[ok  ] adb:" in result.stdout                     # the real adb server answered
    assert "no Android device connected" in result.stdout and "fix: connect a phone" in result.stdout
    error_lines = [l for l in result.stderr.splitlines() if l.startswith("appaudit:")]
    assert error_lines == ["appaudit: error: no Android device connected (`adb devices` lists none)"]
    assert "Traceback" not in result.stderr


def test_capture_on_a_missing_device_exits_2_and_marks_the_run(private_adb_server, tmp_path):
    apk = next((REPO.parent / "shared" / "corpus" / "apks").glob("*.apk"), None)
    if apk is None:
        pytest.skip("../shared corpus absent")
    run = tmp_path / "run"
    result = _cli(["capture", str(apk), "--device", "emulator-5554", "-o", str(run), "--duration", "5"],
                  private_adb_server)
    assert result.returncode == 2 and "no Android device connected" in result.stderr
    import json
    meta = json.loads((run / "run.json").read_text())
    assert meta["complete"] is False and "no Android device" in meta["incomplete_reason"]
    assert len(meta["app"]["files"][0]["sha256"]) == 64


def test_agent_is_built_from_rules_with_the_wheel_bridge():
    apis = load_apis()
    assert apis and all(a.method for a in apis)              # field reads are static-only, left out
    rules_text = (REPO / "rules" / "apis.yaml").read_text() if (REPO / "rules" / "apis.yaml").exists() else ""
    if "field:" in rules_text:
        assert "build.serial_field" not in {a.id for a in apis}
    source = agent_source(java=True)
    assert "globalThis.Java = bridge;" in source and "rpc.exports" in source
    assert "globalThis.Java" not in agent_source(java=False)
    assert all(a.to_agent()["method"] != "<init>" for a in apis)


def test_proxy_is_loopback_only_and_its_ca_key_stays_private(tmp_path):
    with AuditProxy(tmp_path) as proxy:
        endpoint = proxy.endpoint
        assert endpoint.host == "127.0.0.1"
        addrs = proxy._proxyserver().listen_addrs()
        assert addrs and all(a[0] in ("127.0.0.1", "::ffff:127.0.0.1") for a in addrs)
        assert os.stat(endpoint.confdir).st_mode & 0o077 == 0
        key_file = endpoint.confdir / "mitmproxy-ca.pem"
        assert b"PRIVATE KEY" in key_file.read_bytes()
        assert not str(endpoint.confdir).startswith(str(REPO))
    assert not endpoint.confdir.exists()                       # deleted with the proxy
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes()


def test_quic_block_refuses_udp_443_in_a_real_process(tmp_path):
    """Android captures block QUIC so apps fall back to TCP; the same agent code runs on a host process."""
    if ptrace_denied():
        pytest.skip(ptrace_denied())
    import frida
    events: list[dict] = []
    program = ("import socket, sys, time\n"
               "print('started', flush=True)\n"           # attach only to a fully started interpreter
               "sys.stdin.readline()\n"                     # wait until the agent is in
               "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "try:\n    u.connect(('127.0.0.1', 443)); print('udp443 connected')\n"
               "except OSError as e:\n    print('udp443 refused', e.errno)\n"
               "v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.connect(('127.0.0.1', 53)); print('udp53 ok')\n"
               "sys.stdout.flush()\n")
    proc = subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "started"
    session = AgentSession(frida.get_local_device(), proc.pid, events.append, lambda m: None, java=False)
    try:
        session.attach((), native=True, block_quic=True)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out = proc.stdout.read()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e["type"] == "quic_blocked" for e in events):
            time.sleep(0.05)
    finally:
        session.close()
        if proc.poll() is None and proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            except OSError:
                pass
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "udp443 refused 111" in out and "udp53 ok" in out
    blocked = [e for e in events if e["type"] == "quic_blocked"]
    assert blocked and blocked[0]["peer"]["port"] == 443


def test_android_ca_file_name_matches_openssl_subject_hash_old(tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    from cryptography import x509
    from audit.runtime.devices import _openssl_subject_hash_old
    with AuditProxy(tmp_path) as proxy:
        pem = proxy.endpoint.ca_cert.read_bytes()
        expected = subprocess.run([openssl, "x509", "-noout", "-subject_hash_old", "-in",
                                   str(proxy.endpoint.ca_cert)], capture_output=True, text=True,
                                  check=True).stdout.strip()
    assert _openssl_subject_hash_old(x509.load_pem_x509_certificate(pem)) == expected


def test_device_output_parsers():
    from audit.runtime.devices import _free_mb, parse_service_call_string, parse_wifi_ssid
    # `service call iphonesubinfo 1` on an emulator (UTF-16 digits, dots for the zero bytes).
    raw = ("Result: Parcel(\n"
           "  0x00000000: 00000000 0000000f 00350033 00390036 '........3.5.6.9.'\n"
           "  0x00000010: 00380033 00330030 00360035 00330034 '3.8.0.3.5.6.4.3.'\n"
           "  0x00000020: 00300038 00000039                   '8.0.9.....      ')\n")
    assert parse_service_call_string(raw) == "356938035643809"
    assert parse_service_call_string("service: Permission Denial") is None
    assert parse_wifi_ssid('mWifiInfo SSID: "AndroidWifi", BSSID: 02:15:b2:00:01:00, MAC: ...') == "AndroidWifi"
    assert parse_wifi_ssid("mWifiInfo SSID: <unknown ssid>, BSSID: <none>, MAC: ...") is None
    assert _free_mb("/dev/block/dm-5  6082756 2453044 3609712  41% /data") == 3525
    assert _free_mb("df: /data/local/tmp: Permission denied") is None


def test_bundle_members_are_extracted_safely_base_first(tmp_path):
    import zipfile
    from audit.errors import InputError
    from audit.runtime.devices import apk_identity, apks_to_install
    corpus = REPO.parent / "shared" / "corpus" / "apks"
    apk = next(corpus.glob("*.apk"), None) if corpus.is_dir() else None
    if apk is None:
        pytest.skip("../shared corpus absent")
    bundle = tmp_path / "app.apks"
    with zipfile.ZipFile(bundle, "w") as out:
        out.write(apk, "splits/base-en.apk")
        out.write(apk, "splits/base-master.apk")
        out.writestr("toc.pb", b"")
    work = tmp_path / "work"
    work.mkdir()
    from audit.runtime.bundles import DeviceSpec
    apks, obb = apks_to_install(bundle, work, DeviceSpec(abis=("arm64-v8a",), density=420))
    assert [p.name for p in apks] == ["base-master.apk", "base-en.apk"] and obb == []
    assert all(p.parent == work for p in apks)
    assert apk_identity(apks[0]) == apk_identity(apk)
    evil = tmp_path / "evil.xapk"
    with zipfile.ZipFile(evil, "w") as out:
        out.writestr("../../escape.apk", b"x")
    with pytest.raises(InputError, match="unsafe member"):
        apks_to_install(evil, work, DeviceSpec(abis=("arm64-v8a",), density=420))
    assert not (tmp_path.parent / "escape.apk").exists()


class _NoLog:
    def log(self, message: str) -> None:
        pass


def _run_own_context(classes: Path, work: Path, unpin: bool) -> tuple[str, list[dict]]:
    """OwnContext through the proxy, with no trust store for the run CA: only the agent can make it trust it."""
    import frida
    from test_runtime_helpers import Backend
    backend = Backend(work, tls=True)
    events: list[dict] = []
    output: list[bytes] = []
    device = frida.get_local_device()
    with AuditProxy(work) as proxy:
        ep = proxy.endpoint
        ready = work / f"ready-{unpin}"
        env = {**os.environ, "APPAUDIT_HOOKS_READY": str(ready),
               "JAVA_TOOL_OPTIONS": f"-Dhttps.proxyHost={ep.host} -Dhttps.proxyPort={ep.port} -Dhttp.nonProxyHosts="}
        pid = device.spawn([shutil.which("java"), "-cp", str(classes), "com.example.standin.OwnContext",
                            backend.url("/own")], envp=env, stdio="pipe", cwd=str(work))

        def on_output(out_pid, fd, data):
            if out_pid == pid and data:
                output.append(data)

        device.on("output", on_output)
        session = AgentSession(device, pid, events.append, lambda m: None, java=True)
        try:
            session.attach((), native=False, unpin=unpin, ca_pem=ep.ca_cert.read_text())
            device.resume(pid)
            session.hook_java()
            ready.touch()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not session.main_returned.is_set():
                time.sleep(0.05)
        finally:
            session.close()
            device.off("output", on_output)
            # No blocking waitpid on a Frida-spawned child: it would take ptrace stops meant for Frida.
            from audit.runtime.local import _end_process
            _end_process(device, pid, _NoLog(), wait_s=10)
    backend.close()
    return b"".join(output).decode(errors="replace"), events


def test_agent_trust_injection_makes_an_own_sslcontext_trust_the_run_ca(tmp_path, tmp_path_factory):
    """The Android unpinning step's SSLContext.init injection, run on HotSpot (the other hooks need Android
    classes); the control run without it must fail the handshake, or the test proves nothing."""
    if ptrace_denied():
        pytest.skip(ptrace_denied())
    if shutil.which("javac") is None:
        pytest.skip("no JDK")
    from test_runtime_helpers import shared_jvm_classes
    classes = shared_jvm_classes(tmp_path_factory)
    out, events = _run_own_context(classes, tmp_path, unpin=False)
    assert "failed" in out and "SSLHandshakeException" in out, out
    out, events = _run_own_context(classes, tmp_path, unpin=True)
    assert "status 200" in out, out
    unpinned = [e["target"] for e in events if e["type"] == "unpin"]
    assert unpinned == ["javax.net.ssl.SSLContext"]                  # Android-only classes are absent here
    assert not list(tmp_path.glob("hs_err_pid*.log"))                  # the JVM exited cleanly after unload


def test_bundled_sample_hook_list_follows_the_rules_schema():
    from audit.runtime.agent import SAMPLE_APIS, load_request_hooks
    sample = load_apis(SAMPLE_APIS)
    assert {a.id for a in sample} >= {"telephony.get_device_id", "settings.secure.android_id"}
    assert all(h.url.startswith(("this", "arg")) for h in load_request_hooks())


def test_the_apps_other_processes_get_the_agent_and_other_apps_are_let_go(tmp_path):
    """Item 14 without spawn gating (Android only): what ChildProcesses does with each held process, on real
    suspended processes here. The app's `:remote` process gets the agent before it runs; another app's process
    is resumed untouched. (Spawn gating delivering those processes is verified only on a device.)"""
    import frida
    from types import SimpleNamespace
    from audit.runtime.devices import ChildProcesses
    from audit.runtime.events import read_events
    from audit.runtime.runfolder import RunFolder
    from test_runtime_helpers import alive, free_port
    reason = ptrace_denied()
    if reason:
        pytest.skip(reason)
    run = RunFolder.create(tmp_path / "run")
    run.start(options={}, app={"package": "org.example.app", "files": []})
    port = free_port()            # nothing listens: each process tries one connection and ends
    program = [sys.executable, "-c", f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), 5)\n"
               "except OSError:\n    pass\n"]
    device = frida.get_local_device()
    own, other = device.spawn(program), device.spawn(program)
    children = ChildProcesses(device, "org.example.app", load_apis(), {"native": True}, run)
    children._hook(SimpleNamespace(pid=own, identifier="org.example.app:remote"))
    children._hook(SimpleNamespace(pid=other, identifier="com.example.other"))
    while alive(own) or alive(other):     # both were resumed (bounded by the test's timeout)
        time.sleep(0.05)
    assert children.stop() == ["org.example.app:remote"]
    connects = [e for e in read_events(run.path) if e["type"] == "connect" and e["peer"]["port"] == port]
    # A process's first thread has the process id as its thread id.
    assert {e["tid"] for e in connects} == {own}


def test_package_and_target_sdk_read_for_install_agree_with_aapt():
    """What the install reads from each corpus APK's manifest (the low-target flag depends on it) is what aapt,
    the SDK's own tool, reads: for every APK aapt can read."""
    import re
    from audit.runtime.devices import apk_identity
    corpus = REPO.parent / "shared" / "corpus" / "apks"
    aapt = shutil.which("aapt")
    if aapt is None or not corpus.is_dir():
        pytest.skip("aapt or the ../shared corpus absent")
    compared = 0
    for apk in sorted(corpus.glob("*.apk")):
        badging = subprocess.run([aapt, "dump", "badging", str(apk)], capture_output=True, text=True,
                                 timeout=120).stdout
        package = re.search(r"package: name='([^']+)'", badging)
        # Without targetSdkVersion Android takes minSdkVersion (aapt then prints only sdkVersion): so do we, and
        # an old app gets the low-target flag on Android 14.
        target = re.search(r"targetSdkVersion:'(\d+)'", badging) or re.search(r"sdkVersion:'(\d+)'", badging)
        if package is None:
            continue                                  # aapt itself cannot read this one
        assert apk_identity(apk) == (package.group(1), int(target.group(1)) if target else None), apk.name
        compared += 1
    assert compared >= 20
