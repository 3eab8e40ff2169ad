"""Runtime capture on the `local` device: real mitmproxy, real Frida on a real JVM and real host programs.

The JVM stand-in (tests/jvm/) carries the Android API names, so the very agent and hook list used on a device
run here: rules/apis.yaml -> Frida Java hooks on HotSpot -> frida-events.jsonl -> observations_from_run.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.cli import main
from audit.model import ActorKind, Level
from audit.runtime.agent import load_apis
from audit.runtime.events import joined_flows, observations_from_run, read_events
from audit.runtime.proxy import har_from_mitm
from audit.runtime.runfolder import read_run

from test_runtime_helpers import frida_can_attach, jvm_classes, Backend, alive, java_constant, shared_jvm_classes  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]


def _mitm_flows(run: Path) -> list:
    from mitmproxy import io as mitm_io
    with open(run / "flows.mitm", "rb") as handle:
        return list(mitm_io.FlowReader(handle).stream())



@pytest.fixture
def backends(tmp_path):
    first, third = Backend(), Backend(tmp_path, tls=True)
    yield first, third
    first.close()
    third.close()


@pytest.fixture(scope="module")
def jvm_run(jvm_classes, tmp_path_factory):
    """One capture of the stand-in app, shared by the assertions below (a JVM start costs seconds)."""
    folder = tmp_path_factory.mktemp("jvm-run")
    first, third = Backend(), Backend(folder, tls=True)
    run = folder / "run"
    started = time.monotonic()
    code = main(["capture", "com.example.standin", "--device", "local", "--duration", "60", "-o", str(run),
                 "--", "java", "-cp", str(jvm_classes), "com.example.standin.Main",
                 first.url("/collect"), third.url("/2/httpapi")])
    elapsed = time.monotonic() - started
    first.close()
    third.close()
    return {"code": code, "run": run, "elapsed": elapsed, "first": first.requests, "third": third.requests}


def test_jvm_capture_completes_and_traffic_goes_through_the_proxy(jvm_run):
    assert jvm_run["code"] == 0
    # The JVM ended by itself (main returned, agent unloaded) before the 60 s duration ran out.
    result = json.loads((jvm_run["run"] / "run.json").read_text())["result"]
    assert result["exited"] is True and result["duration_s"] < 60
    imei = java_constant("android/telephony/TelephonyManager.java", "TEST_IMEI")
    adid = java_constant("com/google/android/gms/ads/identifier/AdvertisingIdClient.java", "TEST_ADID")
    assert len(jvm_run["first"]) == 1 and imei.encode() in jvm_run["first"][0][2]
    assert len(jvm_run["third"]) == 1 and adid.encode() in jvm_run["third"][0][2]
    run = jvm_run["run"]
    meta = read_run(run)
    assert meta["complete"] is True and meta["ended"] and meta["result"]["exited"] is True
    assert meta["app"]["package"] == "com.example.standin"
    urls = sorted(f.request.pretty_url for f in _mitm_flows(run))
    assert [u.rsplit("/", 2)[-1] for u in urls] == ["collect", "httpapi"]
    assert any(u.startswith("https://") for u in urls)   # TLS intercepted with the run's CA in a trust store
    har = json.loads((run / "flows.har").read_text())
    assert len(har["log"]["entries"]) == 2


def test_jvm_hooks_come_from_the_rules_and_record_returned_values(jvm_run):
    run = jvm_run["run"]
    called = {("android.telephony.TelephonyManager", "getDeviceId"),
              ("android.provider.Settings$Secure", "getString"),
              ("com.google.android.gms.ads.identifier.AdvertisingIdClient$Info", "getId"),
              ("android.location.LocationManager", "getLastKnownLocation")}
    expected = {a.id for a in load_apis() if (a.java_class, a.method) in called}
    assert expected, "rules/apis.yaml lists none of the stand-in's APIs"
    state = read_run(run)["hooks"]["java"]
    assert expected <= {api for api, hook in state.items() if hook["status"] == "installed"}
    api_events = [e for e in read_events(run) if e["type"] == "api"]
    assert expected <= {e["api"] for e in api_events}
    for event in api_events:
        assert event["stack"] and event["thread"] == "main" and event["time"] > 0
    identifiers = json.loads((run / "identifiers.json").read_text())
    imei = java_constant("android/telephony/TelephonyManager.java", "TEST_IMEI")
    android_id = java_constant("android/provider/Settings.java", "TEST_ANDROID_ID")
    assert imei in identifiers["device_ids.imei"]
    assert identifiers["device_ids.android_id"] == [android_id]   # bluetooth_name did not count (args_any)
    lat = float(java_constant("android/location/LocationManager.java", "TEST_LAT"))
    location_type = next(a.data_type for a in load_apis() if a.method == "getLastKnownLocation")
    assert {"lat": lat, "lon": float(java_constant("android/location/LocationManager.java", "TEST_LON"))} \
        in identifiers[location_type]
    assert os.stat(run / "identifiers.json").st_mode & 0o077 == 0


def test_observations_attribute_callers_like_the_static_engine(jvm_run):
    observations = observations_from_run(jvm_run["run"])
    assert all(o.level is Level.INVOKED and o.source == "runtime" for o in observations)
    by_type: dict[str, set[str]] = {}
    for o in observations:
        by_type.setdefault(o.data_type, set()).add(str(o.actor))
        assert all(e.kind == "hook" and e.detail for e in o.evidence)
    assert by_type["device_ids.imei"] == {"first-party"}       # Main reads it itself
    assert by_type["device_ids.advertising_id"] == {"sdk:amplitude"}
    assert by_type["device_ids.android_id"] == {"sdk:amplitude"}
    sdk_obs = next(o for o in observations if o.data_type == "device_ids.android_id")
    assert {e.where for e in sdk_obs.evidence} == {"com.amplitude.api.AmplitudeClient.logEvent"}
    assert all(o.actor.kind is not ActorKind.UNKNOWN for o in observations)


def test_python_program_native_hooks_join_requests_to_sockets(backends, tmp_path):
    _, third = backends
    run = tmp_path / "run"
    program = ("import urllib.request\n"
               f"r = urllib.request.urlopen(urllib.request.Request({third.url('/v1/track')!r}, "
               "data=b'{\"user\":\"u-1\"}', method='POST'), timeout=10)\n"
               "print(r.status)\n")
    assert main(["capture", "--device", "local", "--duration", "30", "-o", str(run), "--",
                 sys.executable, "-c", program]) == 0
    assert len(third.requests) == 1
    meta = read_run(run)
    proxy_port = meta["proxy"]["port"]
    events = list(read_events(run))
    connects = [e for e in events if e["type"] == "connect" and e["peer"]["port"] == proxy_port]
    assert connects and connects[0]["backtrace"] and connects[0]["local"]["port"]
    writes = [e for e in events if e["type"] == "ssl_write"]
    assert any(e["first_line"] == "POST /v1/track HTTP/1.1" for e in writes)
    assert {e["api"] for e in writes} & {"SSL_write", "SSL_write_ex"}
    assert any(e["type"] == "dns" for e in events)
    joined = joined_flows(run)
    assert len(joined) == 1 and joined[0]["sender"] is not None
    assert joined[0]["client_port"] == connects[0]["local"]["port"] and joined[0]["sender"]["by"] == "client port"
    # The same run as if it came through `adb reverse` (the proxy then sees the adb server's ports): no client-port
    # join, the TLS write's request line still names the sender.
    meta["device"] = {**meta.get("device", {}), "kind": "android"}
    (run / "run.json").write_text(json.dumps(meta))
    joined = joined_flows(run)
    assert joined[0]["sender"]["by"] == "request line"
    # Python's TLS keys were logged through SSLKEYLOGFILE.
    assert "CLIENT_" in (run / "sslkeylog.txt").read_text()


def test_curl_is_captured_through_libssl(backends, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl not installed")
    _, third = backends
    run = tmp_path / "run"
    assert main(["capture", "--device", "local", "--duration", "30", "-o", str(run), "--",
                 "curl", "-sS", "-o", "/dev/null", "--data", "adid=abc", third.url("/curl")]) == 0
    assert third.requests and third.requests[0][1] == "/curl"
    writes = [e for e in read_events(run) if e["type"] == "ssl_write"]
    assert any("libssl" in e["module"] and e["first_line"] == "POST /curl HTTP/1.1" for e in writes)
    assert read_run(run)["complete"] is True
    joined = joined_flows(run)
    assert len(joined) == 1 and joined[0]["sender"]["backtrace"]


def test_sigterm_mid_run_leaves_a_readable_incomplete_folder(backends, tmp_path):
    first, _ = backends
    run = tmp_path / "run"
    program = ("import time, urllib.request\n"
               "while True:\n"
               f"    urllib.request.urlopen({first.url('/tick')!r}, timeout=10).read()\n"
               "    time.sleep(0.1)\n")
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "capture", "--device", "local", "--duration",
                             "60", "-o", str(run), "--", sys.executable, "-c", program], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(first.requests) < 3:
            time.sleep(0.1)
        assert len(first.requests) >= 3, "the program never got going"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    assert "complete: false" in err and "Traceback" not in err
    meta = read_run(run)
    assert meta["complete"] is False and "SIGTERM" in meta["incomplete_reason"] and meta["ended"]
    assert not alive(meta["process"]["pid"])                  # the program did not outlive the capture
    flows = _mitm_flows(run)
    assert len(flows) >= 3
    assert len(json.loads((run / "flows.har").read_text())["log"]["entries"]) == len(flows)


def test_sigkill_leaves_run_json_incomplete_and_streams_readable(backends, tmp_path):
    first, _ = backends
    run = tmp_path / "run"
    program = ("import time, urllib.request\n"
               "while True:\n"
               f"    urllib.request.urlopen({first.url('/tick')!r}, timeout=10).read()\n"
               "    time.sleep(0.1)\n")
    private_tmp = tmp_path / "tmp"          # a SIGKILLed capture cannot delete its CA dir: keep it in here
    private_tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "audit.cli", "capture", "--device", "local", "--duration",
                             "60", "-o", str(run), "--", sys.executable, "-c", program], cwd=REPO,
                            env={**os.environ, "TMPDIR": str(private_tmp)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(first.requests) < 3:
            time.sleep(0.1)
        child = read_run(run).get("process", {}).get("pid")
        proc.kill()                                  # no handler runs: nothing is finalised
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if child and alive(child):
            os.kill(child, signal.SIGKILL)           # the program we had spawned through Frida
        _kill_frida_helpers_under(private_tmp)
    meta = read_run(run)
    assert meta["complete"] is False and meta["ended"] is None
    assert [p.name for p in private_tmp.iterdir() if p.name.startswith("appaudit-ca-")]   # left, and private
    assert all(os.stat(p).st_mode & 0o077 == 0 for p in private_tmp.glob("appaudit-ca-*"))
    assert [e for e in read_events(run) if e["type"] == "connect"]
    assert har_from_mitm(run / "flows.mitm", tmp_path / "rebuilt.har") >= 1


def _kill_frida_helpers_under(folder: Path) -> None:
    """Frida's helper daemon outlives a SIGKILLed host; ours runs from the TMPDIR we gave that host."""
    import psutil
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if cmdline and cmdline[0].startswith(str(folder)):
            try:
                proc.kill()
            except psutil.Error:
                pass


@pytest.mark.parametrize("argv, message", [
    (["capture", "--device", "local"], "needs the program"),
    (["capture", "--device", "local", "--", "no-such-program-xyz"], "program not found"),
    (["capture", "--device", "local", "--exercise", "monkey", "--", "true"], "needs an Android device"),
    (["capture", "--device", "local", "--duration", "-1", "--", "true"], "--duration"),
    (["capture", "app.apk", "--device", "emulator-5554", "--", "true"], "only for --device local"),
    (["capture", "--device", "emulator-5554"], "needs the APP"),
    (["capture", "missing.apk", "--device", "emulator-5554"], "app not found"),
])
def test_bad_capture_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("appaudit: error: ") and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())                        # no run folder left for bad input


def test_existing_run_folder_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    assert main(["capture", "--device", "local", "-o", str(run), "--", "true"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (run / "keep.txt").read_text() == "mine" and len(list(run.iterdir())) == 1


def test_request_hooks_let_the_traffic_stage_name_the_sending_sdk(jvm_run):
    run = jvm_run["run"]
    requests = [e for e in read_events(run) if e["type"] == "request"]
    assert sorted(e["url"].rsplit("/", 1)[-1] for e in requests) == ["collect", "httpapi"]
    sdk_request = next(e for e in requests if e["url"].endswith("/httpapi"))
    assert any(f.startswith("com.amplitude.api.AmplitudeHttp.post") for f in sdk_request["stack"])
    # The traffic stage reads the run folder as agreed: flows, identifiers.json and these events.
    from audit.traffic.analyse import analyse
    report = analyse([run]).to_json()
    senders = {(o["data_type"], o["actor"]["kind"], o["actor"].get("id")) for o in report["observations"]
               if o["level"] == "transmitted"}
    assert ("device_ids.advertising_id", "sdk", "amplitude") in senders
    assert ("device_ids.imei", "first-party", None) in senders


def test_duration_ends_a_program_that_would_run_forever(tmp_path):
    run = tmp_path / "run"
    # (a duration not honoured would never return: pytest-timeout ends that; no wall-clock limit here)
    assert main(["capture", "--device", "local", "--duration", "1.5", "-o", str(run), "--",
                 sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]) == 0
    meta = read_run(run)
    assert meta["complete"] is True and meta["result"]["exited"] is False
    assert meta["result"]["duration_s"] >= 1.5
    assert meta["result"]["duration_s"] >= 1.5
    assert not alive(meta["process"]["pid"])


def test_a_torn_last_event_line_is_skipped_not_fatal(jvm_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(jvm_run["run"], copy)
    whole = len(list(read_events(copy)))
    with open(copy / "frida-events.jsonl", "a") as handle:
        handle.write('{"type": "api", "api": "telephony.get_dev')      # a capture killed mid-write
    assert len(list(read_events(copy))) == whole
    assert observations_from_run(copy) == observations_from_run(jvm_run["run"])


SINKHOLE_CLIENT = """
import json, urllib.request
body = json.dumps({"api_key": "k", "events": [{"device_id": "a1b2c3d4-0000-4000-8000-00000000abcd"}]}).encode()
for url in ("https://api2.amplitude.com/2/httpapi", "http://api.edukit.org/v1/telemetry"):
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as reply:
        print(url, reply.status, reply.headers.get("x-appaudit"))
"""


def test_sinkhole_records_requests_to_real_hostnames_and_delivers_none(tmp_path):
    """No network here, and none needed: the proxy answers every request itself, over TLS too."""
    run = tmp_path / "run"
    code = main(["capture", "org.edukit.classroom", "--device", "local", "--sinkhole", "--duration", "60",
                 "-o", str(run), "--", sys.executable, "-c", SINKHOLE_CLIENT])
    assert code == 0
    printed = (run / "logs" / "app-output.log").read_text()
    assert "https://api2.amplitude.com/2/httpapi 204 sinkhole" in printed
    assert "http://api.edukit.org/v1/telemetry 204 sinkhole" in printed
    flows = _mitm_flows(run)
    assert sorted(f.request.pretty_url for f in flows) == ["http://api.edukit.org/v1/telemetry",
                                                         "https://api2.amplitude.com/2/httpapi"]
    assert all(f.response.status_code == 204 and f.server_conn.peername is None for f in flows)
    assert read_run(run)["options"]["sinkhole"] is True
