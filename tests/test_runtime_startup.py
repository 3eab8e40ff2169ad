"""The runtime's hold on one app, on HotSpot with the JVM stand-in (tests/jvm/com/example/standin/Startup.java):
hooks in before main's first line, abstract/interface targets, a late URLClassLoader, nested overloads, noisy
hooks, traffic that ignores proxy settings, and a second program on the same machine kept out of the run.

One capture (a JVM start costs seconds here) is shared by the assertions; it runs as a CLI subprocess so that a
second program can act while the app runs.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.runtime.events import read_events
from audit.runtime.runfolder import read_run

from test_runtime_helpers import frida_can_attach, Backend, java_constant, shared_jvm_classes  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGE = Path("com/google/android/gms/ads/identifier")

# The second program: a direct request, a request through the run's HTTP listener, and SOCKS5 with a wrong token.
OTHER_PROGRAM = r"""
import json, socket, sys, urllib.request
backend, proxy_port, socks_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = {}
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out["direct"] = direct.open(backend + "/other-app", timeout=10).status
try:
    via = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{proxy_port}"}))
    out["http_proxy"] = via.open(backend + "/other-app-via-http-proxy", timeout=10).status
except Exception as exc:
    out["http_proxy"] = type(exc).__name__
s = socket.create_connection(("127.0.0.1", socks_port), timeout=10)
s.sendall(b"\x05\x01\x02")
s.recv(2)
user, password = b"not-the-run-token", b"1"
s.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
out["socks_auth"] = list(s.recv(2))
print(json.dumps(out))
"""


def _wait_for(predicate, what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _events(run: Path, kind: str) -> list[dict]:
    return [e for e in read_events(run) if e.get("type") == kind]


@pytest.fixture(scope="module")
def startup_run(tmp_path_factory):
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac/java) on PATH")
    classes = shared_jvm_classes(tmp_path_factory)
    folder = tmp_path_factory.mktemp("startup")
    app, plugin = folder / "app", folder / "plugin"
    shutil.copytree(classes, app)
    # The advertising-ID client lives only in a folder the app opens with a URLClassLoader after start.
    (plugin / PLUGIN_PACKAGE).parent.mkdir(parents=True)
    shutil.move(str(app / PLUGIN_PACKAGE), str(plugin / PLUGIN_PACKAGE))
    backend = Backend()
    host, port = backend.server.server_address
    run, go = folder / "run", folder / "go"
    capture = subprocess.Popen(
        [sys.executable, "-m", "audit.cli", "capture", "com.example.standin", "--device", "local", "--duration",
         "120", "-o", str(run), "--", "java", "-cp", str(app), "com.example.standin.Startup", str(plugin), host,
         str(port), str(go)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (run / "run.json").is_file() and read_run(run).get("proxy", {}).get("socks_port"),
                  "the proxy")
        _wait_for(lambda: any(r[1] == "/raw-socket" for r in backend.requests), "the app's traffic")
        proxy = read_run(run)["proxy"]
        other = subprocess.run([sys.executable, "-c", OTHER_PROGRAM, backend.url(""), str(proxy["port"]),
                                str(proxy["socks_port"])], capture_output=True, text=True, timeout=60)
        go.touch()
        out, err = capture.communicate(timeout=120)
    finally:
        if capture.poll() is None:
            capture.kill()
        backend.close()
    return {"run": run, "code": capture.returncode, "stderr": err, "other": other,
            "requests": [r[1] for r in backend.requests], "output": (run / "logs" / "app-output.log").read_text()}


def test_startup_capture_is_complete_and_nothing_is_missing(startup_run):
    assert startup_run["code"] == 0, startup_run["stderr"]
    meta = read_run(startup_run["run"])
    assert meta["complete"] is True and meta["partial"] == []
    assert meta["result"]["exited"] is True   # main returned; the agent left before exit()


def test_hooks_are_in_before_the_first_line_of_main(startup_run):
    run = startup_run["run"]
    ready = _events(run, "java_ready")
    assert len(ready) == 1 and ready[0]["when"] == "startup"
    first = [e for e in _events(run, "api") if e["api"] == "telephony.get_device_id"]
    assert len(first) == 1 and "com.example.standin.Startup.main(Startup.java:" in first[0]["stack"][1]
    assert first[0]["value"] == java_constant("android/telephony/TelephonyManager.java", "TEST_IMEI")
    assert ready[0]["time"] <= first[0]["time"]
    hooks = read_run(run)["hooks"]
    assert hooks["java_at"] == "startup" and hooks["final"] is True
    assert hooks["java"]["telephony.get_device_id"]["status"] == "installed"


def test_abstract_and_interface_targets_fire_in_their_implementations(startup_run):
    run = startup_run["run"]
    by_api = {e["api"]: e for e in _events(run, "api")}
    packages = by_api["package_manager.get_installed_packages"]
    assert packages["implementation"] == "android.app.ApplicationPackageManager"
    assert any("Startup.main" in f for f in packages["stack"])
    # The interface's implementation is loaded only at its first use, after start: found by the loader watch.
    fused = by_api["fused_location.get_last_location"]
    assert fused["implementation"] == "com.google.android.gms.internal.location.zzbi"
    state = read_run(run)["hooks"]["java"]
    assert state["package_manager.get_installed_packages"]["classes"] == ["android.app.ApplicationPackageManager"]
    assert "com.google.android.gms.internal.location.zzbi" in state["fused_location.get_last_location"]["classes"]
    # Not called and abstract, no implementation loaded: failed with that reason, not "installed".
    never = state["clipboard.get_primary_clip"]
    assert never["status"] == "never_loaded"


def test_a_class_from_a_late_url_class_loader_is_hooked(startup_run):
    run = startup_run["run"]
    adid = java_constant("com/google/android/gms/ads/identifier/AdvertisingIdClient.java", "TEST_ADID")
    assert f"late loader adid {adid}" in startup_run["output"]
    late = [e for e in _events(run, "api") if e["api"] == "gms.advertising_id_info.get_id"]
    assert [e["value"] for e in late] == [adid]
    assert read_run(run)["hooks"]["java"]["gms.advertising_id_info.get_id"]["status"] == "installed"


def test_nested_overloads_report_one_call(startup_run):
    queries = [e for e in _events(startup_run["run"], "api") if e["api"] == "content_resolver.query.contacts"]
    assert len(queries) == 1
    assert queries[0]["signature"].count(";") == 6           # the outer, five-argument overload


def test_a_noisy_hook_is_reported_once_and_counted(startup_run):
    run = startup_run["run"]
    from_loop = [e for e in _events(run, "api") if e["api"] == "time_zone.get_default"
                 and any("Startup.main" in f for f in e["stack"])]
    assert len(from_loop) == 1
    assert read_run(run)["hooks"]["repeats"]["time_zone.get_default"] >= 299


def test_traffic_that_ignores_proxy_settings_is_captured(startup_run):
    run = startup_run["run"]
    assert {"/no-proxy", "/raw-socket"} <= set(startup_run["requests"])
    from mitmproxy import io as mitm_io
    with open(run / "flows.mitm", "rb") as handle:
        flows = [f for f in mitm_io.FlowReader(handle).stream()]
    by_path = {f.request.path: f for f in flows if hasattr(f, "request")}
    socks = {e["conn"]: e for e in _events(run, "connect") if e.get("via") == "socks5"}
    for path in ("/no-proxy", "/raw-socket"):
        flow = by_path[path]
        assert flow.client_conn.proxy_mode.type_name == "socks5"
        conn = flow.metadata["appaudit_conn"]          # the join key the agent chose: no client port needed
        assert socks[conn]["peer"]["port"] == int(flow.server_conn.address[1])
    from audit.runtime.events import joined_flows
    joined = {j["url"].rsplit("/", 1)[-1]: j["sender"] for j in joined_flows(run)}
    assert joined["no-proxy"]["by"] == joined["raw-socket"]["by"] == "connection id"
    assert joined["raw-socket"]["backtrace"]              # the native stack of the app's connect


def test_a_second_program_on_the_machine_stays_out_of_the_run(startup_run):
    other = startup_run["other"]
    assert other.returncode == 0, other.stderr
    result = json.loads(other.stdout)
    assert result["direct"] == 200 and "/other-app" in startup_run["requests"]
    assert result["http_proxy"] != 200 and result["socks_auth"] == [1, 1]
    assert "/other-app-via-http-proxy" not in startup_run["requests"]
    run = startup_run["run"]
    from mitmproxy import io as mitm_io
    with open(run / "flows.mitm", "rb") as handle:
        paths = [f.request.path for f in mitm_io.FlowReader(handle).stream() if hasattr(f, "request")]
    assert paths and not [p for p in paths if p.startswith("/other-app")]
    counts = read_run(run)["traffic"]["flows"]
    assert counts["foreign_rejected"] >= 1 and counts["socks_rejected"] >= 1


def test_udp_that_escapes_is_recorded_and_makes_the_run_partial(tmp_path):
    from audit.cli import main
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
        program = ("import socket\n"
                   "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   f"s.sendto(b'telemetry', ('127.0.0.1', {port}))\n")
        run = tmp_path / "run"
        assert main(["capture", "--device", "local", "--duration", "30", "-o", str(run), "--",
                     sys.executable, "-c", program]) == 0
        assert sink.recv(100) == b"telemetry"
    escapes = _events(run, "escape")
    assert len(escapes) == 1 and escapes[0]["peer"]["port"] == port and escapes[0]["via"] == "sendto"
    meta = read_run(run)
    assert meta["partial"] == [{"limit": "escape", "count": 1,
                                "what": "connections that left uncaptured (UDP other than DNS)"}]


RAW_CLIENT = """
import socket, sys
for payload in (b"GET /sinkholed HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n", b"\\x00\\x01binary telemetry"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    s.sendall(payload)
    s.settimeout(5)
    try:
        print(repr(s.recv(64)[:12]))
    except OSError as exc:
        print("closed", type(exc).__name__)
    s.close()
"""


def test_sinkhole_holds_for_raw_sockets_too(tmp_path):
    """A raw socket (no proxy settings) is redirected by the agent; with --sinkhole nothing reaches the server:
    HTTP is answered by the proxy, anything else is cut off before an upstream connection exists."""
    from audit.cli import main
    backend = Backend()
    try:
        run = tmp_path / "run"
        assert main(["capture", "--device", "local", "--sinkhole", "--duration", "60", "-o", str(run), "--",
                     sys.executable, "-c", RAW_CLIENT, str(backend.server.server_address[1])]) == 0
    finally:
        backend.close()
    assert backend.requests == []
    assert "b'HTTP/1.1 204'" in (run / "logs" / "app-output.log").read_text()
    from mitmproxy import io as mitm_io
    with open(run / "flows.mitm", "rb") as handle:
        flows = list(mitm_io.FlowReader(handle).stream())
    http = [f for f in flows if hasattr(f, "request")]
    assert [f.request.path for f in http] == ["/sinkholed"] and http[0].server_conn.peername is None
    assert all(f.metadata.get("appaudit_conn") for f in flows)
