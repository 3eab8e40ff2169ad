"""Helpers for the runtime tests: local HTTP(S) servers standing in for first- and third-party backends."""
from __future__ import annotations

import datetime
import http.server
import ipaddress
import os
import shutil
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

JVM_SOURCES = Path(__file__).resolve().parent / "jvm"


class _Recorder(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append((self.command, self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Backend:
    """A threaded HTTP or HTTPS (self-signed: the proxy does not verify upstream) server on 127.0.0.1."""

    def __init__(self, folder: Path | None = None, tls: bool = False):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.server.requests = []
        self.scheme = "https" if tls else "http"
        if tls:
            cert, key = _self_signed(folder)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list:
        return self.server.requests

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def compile_jvm(out: Path) -> Path:
    javac = shutil.which("javac")
    if javac is None:
        return None
    sources = [str(p) for p in JVM_SOURCES.rglob("*.java")]
    subprocess.run([javac, "-d", str(out), *sources], check=True, capture_output=True, timeout=120)
    return out


def shared_jvm_classes(tmp_path_factory) -> Path | None:
    """The stand-in compiled once per test session (javac costs seconds on this machine)."""
    out = tmp_path_factory.getbasetemp() / "jvm-classes"
    if not (out / "com" / "example" / "standin" / "Main.class").exists():
        out.mkdir(exist_ok=True)
        if compile_jvm(out) is None:
            return None
    return out


def java_constant(relative: str, name: str) -> str:
    """A constant of the stand-in program, read from its source so the test and the program cannot drift."""
    import re
    text = (JVM_SOURCES / relative).read_text()
    match = re.search(rf"\b{name}\s*=\s*\"?([^\";]+)\"?;", text)
    assert match, f"{name} not in {relative}"
    return match.group(1)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        import psutil
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except Exception:
        return False


_PTRACE: list = []


def ptrace_denied() -> str | None:
    """Why Frida cannot attach to our own child processes here (ptrace denied), or None. Checked once."""
    if not _PTRACE:
        import subprocess
        import sys
        try:
            import frida
            # attach only to a fully started interpreter (injecting into one mid-start can crash the loader)
            child = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); import time; time.sleep(30)"],
                                     stdout=subprocess.PIPE, text=True)
            try:
                child.stdout.readline()
                frida.get_local_device().attach(child.pid).detach()
                _PTRACE.append(None)
            except frida.PermissionDeniedError as exc:
                _PTRACE.append(f"Frida may not attach here (ptrace denied: {exc})")
            except frida.NotSupportedError:
                _PTRACE.append(None)        # not a permission problem: let the tests say what fails
            finally:
                child.kill()
                child.wait()
                child.stdout.close()
        except ImportError:
            _PTRACE.append("frida is not installed")
    return _PTRACE[0]


# Fixtures shared by the runtime test modules (imported there by name, which is how pytest picks them up).
@pytest.fixture(autouse=True)
def frida_can_attach():
    """Frida needs ptrace on our own children: skip, with the reason, where it is denied."""
    reason = ptrace_denied()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def jvm_classes(tmp_path_factory):
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("no JDK (javac/java) on PATH")
    return shared_jvm_classes(tmp_path_factory)


@pytest.fixture
def private_adb_server():
    """The environment of an adb server of our own on a free port, killed afterwards (never the user's 5037)."""
    adb = shutil.which("adb")
    if adb is None:
        pytest.skip("adb not installed")
    port = free_port()
    env = {**os.environ, "ANDROID_ADB_SERVER_PORT": str(port)}
    yield env
    subprocess.run([adb, "-P", str(port), "kill-server"], capture_output=True, timeout=30)
