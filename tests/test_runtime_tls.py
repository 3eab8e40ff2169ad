"""TLS and stream edges of a run, on the host: a pinned client's failed handshake recorded with its SNI, the
unpinning fallback patching the check that threw (HotSpot), WebSocket messages kept, a crash ending a run."""
from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import sys
import threading
import time
from pathlib import Path

import pytest

from audit.cli import main
from audit.runtime.events import read_events
from audit.runtime.runfolder import read_run

from test_runtime_helpers import frida_can_attach, jvm_classes, Backend  # noqa: F401 (fixtures)

pytestmark = pytest.mark.timeout(180)

SNI = "pinned.example.test"


def _flows(run: Path) -> list:
    from mitmproxy import io as mitm_io
    with open(run / "flows.mitm", "rb") as handle:
        return list(mitm_io.FlowReader(handle).stream())



@pytest.fixture
def pinned_backend(tmp_path):
    backend = Backend(tmp_path, tls=True)
    pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert((tmp_path / "server.pem").read_text())).hexdigest()
    yield backend, pin
    backend.close()


def _pinned_argv(classes: Path, backend: Backend, pin: str, attempts: int) -> list[str]:
    host, port = backend.server.server_address
    return ["java", "-cp", str(classes), "com.example.standin.Pinned", host, str(port), SNI, pin, str(attempts)]


def test_a_pinned_clients_failed_handshake_is_a_flow_with_its_sni(jvm_classes, pinned_backend, tmp_path):
    backend, pin = pinned_backend
    run = tmp_path / "run"
    assert main(["capture", "com.example.standin", "--device", "local", "--duration", "60", "-o", str(run), "--",
                 *_pinned_argv(jvm_classes, backend, pin, 1)]) == 0
    assert "attempt 1 failed SSLHandshakeException" in (run / "logs" / "app-output.log").read_text()
    assert backend.requests == []                           # pinned: nothing got through
    failed = [f for f in _flows(run) if f.metadata.get("appaudit_tls_failed")]
    assert len(failed) == 1 and failed[0].metadata["appaudit_tls_failed"]["sni"] == SNI
    assert failed[0].error and "TLS handshake failed" in failed[0].error.msg
    meta = read_run(run)
    assert meta["traffic"]["flows"]["tls_failed"] == 1
    listed = meta["traffic"]["tls_failed"][0]
    assert listed["sni"] == SNI and listed["reason"] and listed["conn"]
    # The failed flow is joined to the agent's connection like any other.
    conns = {e.get("conn") for e in read_events(run) if e["type"] == "connect"}
    assert failed[0].metadata["appaudit_conn"] in conns


def test_the_unpinning_fallback_patches_the_check_that_threw(jvm_classes, pinned_backend, tmp_path):
    from audit.runtime.agent import load_apis
    from audit.runtime.command import StopRequest
    from audit.runtime.local import capture_local
    from audit.runtime.runfolder import RunFolder
    backend, pin = pinned_backend
    run = RunFolder.create(tmp_path / "run")
    run.start(options={}, app={"package": "com.example.standin", "files": []})
    capture_local(_pinned_argv(jvm_classes, backend, pin, 20), run, load_apis(), 90, StopRequest(), unpin=True)
    run.finish(True)
    output = (run.path / "logs" / "app-output.log").read_text()
    assert "attempt 1 failed SSLHandshakeException" in output      # the throw that finds the check
    assert "ok HTTP/1.0 200" in output                               # a later attempt went through
    patched = [e for e in read_events(run.path) if e["type"] == "unpin"]
    assert [e["target"] for e in patched] == ["com.example.standin.Pinned$PinningTrustManager.checkServerTrusted"]
    assert patched[0]["via"] == "fallback"
    assert ("GET", "/pinned") in {(m, p) for m, p, _ in backend.requests}


def _spki_pin(cert_pem: str) -> str:
    """OkHttp's pin format: sha256/ + base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo."""
    import base64
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    spki = x509.load_pem_x509_certificate(cert_pem.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256/" + base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _obfuscated_pinning_run(classes: Path, backend: Backend, pin: str, folder: Path, attempts: int,
                            unpin: bool) -> Path:
    from audit.runtime.agent import load_apis
    from audit.runtime.command import StopRequest
    from audit.runtime.local import capture_local
    from audit.runtime.runfolder import RunFolder
    # The obfuscated OkHttp (package `o`) lives only in a plugin folder the app opens after start.
    app, plugin = folder / "app", folder / "plugin"
    shutil.copytree(classes, app)
    plugin.mkdir()
    shutil.move(str(app / "o"), str(plugin / "o"))
    host, port = backend.server.server_address
    run = RunFolder.create(folder / "run")
    run.start(options={}, app={"package": "com.example.standin", "files": []})
    # The fallback is off: only a patch found by the signature can let an attempt through.
    capture_local(["java", "-cp", str(app), "com.example.standin.ObfuscatedPinning", str(plugin), host, str(port),
                   SNI, pin, str(attempts)], run, load_apis(), 90, StopRequest(), unpin=unpin, unpin_fallback=False)
    run.finish(True)
    return run.path


def test_an_obfuscated_okhttp_pinner_is_found_by_its_signature(jvm_classes, pinned_backend, tmp_path):
    backend, _ = pinned_backend
    pin = _spki_pin((tmp_path / "server.pem").read_text())       # the server's own key: the proxy's differs
    # Control: the pinner really rejects the run's certificate when nothing patches it.
    control = _obfuscated_pinning_run(jvm_classes, backend, pin, tmp_path / "control", 1, unpin=False)
    output = (control / "logs" / "app-output.log").read_text()
    assert "attempt 1 failed SSLPeerUnverifiedException: Certificate pinning failure!" in output
    assert backend.requests == []

    run = _obfuscated_pinning_run(jvm_classes, backend, pin, tmp_path / "unpinned", 3, unpin=True)
    output = (run / "logs" / "app-output.log").read_text()
    # On HotSpot a class of a URLClassLoader is patched just after its load (docs/runtime.md): a later attempt
    # goes through at the latest.
    assert "ok HTTP/1.0 200" in output, output
    assert ("GET", "/okhttp-pinned") in {(m, p) for m, p, _ in backend.requests}
    events = [e for e in read_events(run) if e["type"] == "unpin"]
    assert {e["via"] for e in events} == {"signature"}
    assert {(e["target"], tuple(e["parameters"])) for e in events} == {
        ("o.k.a", ("java.lang.String", "java.util.List")),      # check
        ("o.k.a", ("java.lang.String", "o.f")),                 # check$okhttp with its (renamed) Function0
    }
    evidence = events[0]["evidence"]
    assert "Set field a" in evidence and "CertificateChainCleaner field b" in evidence
    assert '"Certificate pinning failure!"' in evidence
    # The look-alike (a singleton with a Set and a (String, List) method) is left alone and still works.
    assert "look-alike registered 1" in output
    assert not [e for e in read_events(run) if e["type"] == "error"]
    hooks = read_run(run)["hooks"]
    assert hooks["unpinned"] == ["o.k.a", "o.k.a"]
    # The cost: every app class looked at once, the method list read only past the Set-field filter (o.k and
    # the look-alike o.m), one match.
    search = hooks["pinner_search"]
    assert search["classes"] >= 6 and search["with_set_field"] == 2 and search["with_check_method"] == 2
    assert search["matched"] == 1


# The ART search, run on HotSpot from the test: ART resolves app classes without ClassLoader.loadClass, so there
# the pinner is found by walking the loaded classes (at start and at TLS handshakes), confirmed by its chain-cleaner
# field alone (dex class files are not readable as resources). `isArt` is answered true for the walk only.
ART_SCAN = r"""
rpc.exports.artScan = function () {
  const out = {};
  Java.performNow(() => {
    const vm = isArt;
    isArt = () => true;
    try { pinnerScanAt = 0; scanLoadedForPinners(); } finally { isArt = vm; }
    out.unpinned = unpinned.slice();
    out.search = Object.assign({}, pinnerSearch);
  });
  return out;
};
"""


def test_the_art_search_finds_a_loaded_pinner_by_its_chain_cleaner_field(jvm_classes, tmp_path):
    import frida
    from audit.runtime.agent import agent_config, agent_source, load_apis
    from test_runtime_helpers import free_port
    app, plugin = tmp_path / "app", tmp_path / "plugin"
    shutil.copytree(jvm_classes, app)
    plugin.mkdir()
    shutil.move(str(app / "o"), str(plugin / "o"))
    java = shutil.which("java")
    # Nothing listens on the port: the app keeps failing to connect (and stays alive) after loading the pinner.
    argv = [str(Path(java).resolve()), "-cp", str(app), "com.example.standin.ObfuscatedPinning", str(plugin),
            "127.0.0.1", str(free_port()), SNI, "sha256/AAAA", "200"]
    device = frida.get_local_device()
    messages: list = []
    output: list = []
    pid = device.spawn(argv, stdio="pipe")

    def on_output(out_pid, fd, data):
        if out_pid == pid:
            output.append(data)

    device.on("output", on_output)
    session = device.attach(pid)
    try:
        script = session.create_script(agent_source(True) + ART_SCAN)
        script.on("message", lambda message, data: messages.append(message.get("payload")))
        script.load()
        # No unpinning by the loader watch: only the walk can find the pinner.
        script.exports_sync.init(agent_config(load_apis(), java=True, native=False, unpin=False))
        device.resume(pid)
        while b"attempt 1 failed" not in b"".join(output):      # the plugin's classes are loaded by then
            time.sleep(0.05)
        found = script.exports_sync.art_scan()
        script.unload()
    finally:
        session.detach()
        device.kill(pid)
        device.off("output", on_output)
    assert found["unpinned"] == ["o.k.a", "o.k.a"] and found["search"]["matched"] == 1
    events = [m for m in messages if isinstance(m, dict) and m.get("type") == "unpin"]
    assert {e["via"] for e in events} == {"signature"}
    assert "CertificateChainCleaner field b" in events[0]["evidence"]
    assert not any('"Certificate pinning failure!"' in e for e in events[0]["evidence"])   # not readable on ART
    assert not [m for m in messages if isinstance(m, dict) and m.get("type") == "error"]


WS_CLIENT = """
import sys
from websockets.sync.client import connect
with connect(sys.argv[1]) as ws:
    for text in ("hello adid=38400000-8cf0-11bd-b23e-10b96e40000d", "second"):
        ws.send(text)
        print(ws.recv())
"""


def test_websocket_messages_are_kept_in_the_run(tmp_path):
    from websockets.sync.server import serve

    def echo(ws):
        for message in ws:
            ws.send("echo " + message)

    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.socket.getsockname()[1]
        run = tmp_path / "run"
        assert main(["capture", "--device", "local", "--duration", "60", "-o", str(run), "--",
                     sys.executable, "-c", WS_CLIENT, f"ws://127.0.0.1:{port}/feed"]) == 0
        server.shutdown()
    assert "echo second" in (run / "logs" / "app-output.log").read_text()
    flows = [f for f in _flows(run) if getattr(f, "websocket", None) is not None]
    assert len(flows) == 1
    sent = [m.text for m in flows[0].websocket.messages if m.from_client]
    assert sent == ["hello adid=38400000-8cf0-11bd-b23e-10b96e40000d", "second"]
    har = json.loads((run / "flows.har").read_text())
    assert len(har["log"]["entries"]) == 1 and not (run / "flows.har.part").exists()
    assert read_run(run)["traffic"]["flows"]["websocket"] == 1


def test_a_program_that_dies_without_exit_leaves_the_run_incomplete(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["capture", "--device", "local", "--duration", "60", "-o", str(run), "--", sys.executable, "-c",
                 "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
    assert code == 2
    meta = read_run(run)
    assert meta["complete"] is False and "without calling exit()" in meta["incomplete_reason"]
    assert "complete: false" in capsys.readouterr().err


def test_a_program_that_exits_with_a_status_is_complete(tmp_path):
    run = tmp_path / "run"
    assert main(["capture", "--device", "local", "--duration", "60", "-o", str(run), "--", sys.executable, "-c",
                 "import sys\nsys.exit(3)"]) == 0
    meta = read_run(run)
    assert meta["complete"] is True and meta["result"]["exit_status"] == 3
