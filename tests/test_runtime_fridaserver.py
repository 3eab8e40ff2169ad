"""`device doctor --fix` without a file: the frida-server matching the host's frida, downloaded from Frida's
releases (here a real http.server on 127.0.0.1 serving real .xz files, through APPAUDIT_FRIDA_RELEASES), checked
to be an ELF for the device's architecture, cached under APPAUDIT_HOME; what goes wrong is one line and nothing
cached. The device part (push, start) runs against a real adb server with no device."""
from __future__ import annotations

import http.server
import lzma
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.runtime.fridaserver import RELEASES_ENV, elf_arch, frida_server_for, release_url

from test_runtime_helpers import free_port, private_adb_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[1]
VERSION = "17.0.0-test"


def _host_elf() -> tuple[bytes, str]:
    """A real executable of this machine and its frida architecture name."""
    program = Path(shutil.which("true") or "/bin/true").resolve()
    data = program.read_bytes()
    arch = elf_arch(data[:20])
    if arch is None:
        pytest.skip(f"{program} is not an ELF of an architecture frida-server is built for")
    return data, arch


class Releases:
    """Frida's release layout on 127.0.0.1: files[(arch)] = (bytes sent, Content-Length announced or None)."""

    def __init__(self):
        self.files: dict[str, tuple[bytes, int | None]] = {}
        self.requests: list[str] = []
        releases = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                releases.requests.append(self.path)
                for arch, (body, length) in releases.files.items():
                    if self.path == f"/{VERSION}/frida-server-{VERSION}-android-{arch}.xz":
                        self.send_response(200)
                        self.send_header("Content-Length", str(length if length is not None else len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def releases(tmp_path, monkeypatch):
    served = Releases()
    monkeypatch.setenv(RELEASES_ENV, served.url)
    monkeypatch.setenv("APPAUDIT_HOME", str(tmp_path / "home"))
    yield served
    served.close()


def _cached(tmp_path: Path) -> list[str]:
    folder = tmp_path / "home" / "cache" / "frida-server"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_download_is_checked_cached_and_reused(releases, tmp_path):
    binary, arch = _host_elf()
    releases.files[arch] = (lzma.compress(binary, format=lzma.FORMAT_XZ), None)
    path = frida_server_for(VERSION, arch)
    assert path.read_bytes() == binary and os.access(path, os.X_OK)
    assert _cached(tmp_path) == [f"frida-server-{VERSION}-android-{arch}"]
    assert releases.requests == [f"/{VERSION}/frida-server-{VERSION}-android-{arch}.xz"]
    # The second time comes from the cache: no request.
    assert frida_server_for(VERSION, arch) == path
    assert len(releases.requests) == 1


def _one_line_error(arch: str) -> str:
    with pytest.raises(InputError) as caught:
        frida_server_for(VERSION, arch)
    message = str(caught.value)
    assert "\n" not in message
    assert f"fetch {release_url(VERSION, arch)} by hand" in message      # what to do instead, with the URL
    return message


def test_a_binary_for_another_architecture_is_refused(releases, tmp_path):
    binary, arch = _host_elf()
    other = "arm64" if arch != "arm64" else "x86_64"
    releases.files[other] = (lzma.compress(binary, format=lzma.FORMAT_XZ), None)
    assert f"is an ELF for {arch}, not frida-server for {other}" in _one_line_error(other)
    assert _cached(tmp_path) == []


def test_a_file_that_is_no_executable_is_refused(releases, tmp_path):
    releases.files["x86_64"] = (lzma.compress(b"<html>rate limited</html>", format=lzma.FORMAT_XZ), None)
    assert "not an Android ELF executable" in _one_line_error("x86_64")
    assert _cached(tmp_path) == []


@pytest.mark.parametrize("damage, said", [
    ("truncated", "truncated download"),          # the server sent a whole response of half the file
    ("cut", "download cut short"),                # it announced the whole length and closed halfway
    ("corrupt", "corrupt download"),              # bytes changed in the middle: the xz checks fail
])
def test_a_damaged_download_is_one_line_and_nothing_is_cached(releases, tmp_path, damage, said):
    binary, arch = _host_elf()
    packed = lzma.compress(binary, format=lzma.FORMAT_XZ)
    half = len(packed) // 2
    if damage == "truncated":
        releases.files[arch] = (packed[:half], None)
    elif damage == "cut":
        releases.files[arch] = (packed[:half], len(packed))
    else:
        releases.files[arch] = (packed[:half] + bytes(b ^ 0xFF for b in packed[half:half + 64]) + packed[half + 64:],
                                None)
    assert said in _one_line_error(arch)
    assert _cached(tmp_path) == []
    assert not list((tmp_path / "home").rglob("*.part"))


def test_offline_or_missing_release_is_one_line_with_the_url(releases, tmp_path, monkeypatch):
    # A release that does not exist for this version: HTTP 404.
    assert "HTTP 404" in _one_line_error("x86")
    # Offline: nothing listens on the base URL's port.
    monkeypatch.setenv(RELEASES_ENV, f"http://127.0.0.1:{free_port()}")
    assert "offline?" in _one_line_error("x86")
    assert _cached(tmp_path) == []


def test_elf_header_reading():
    def header(bits: int, machine: int) -> bytes:
        return b"\x7fELF" + bytes([bits, 1, 1]) + bytes(11) + machine.to_bytes(2, "little")
    assert elf_arch(header(2, 183)) == "arm64" and elf_arch(header(1, 40)) == "arm"
    assert elf_arch(header(2, 62)) == "x86_64" and elf_arch(header(1, 3)) == "x86"
    assert elf_arch(header(1, 183)) is None                 # a 32-bit AArch64 header is no Android binary
    assert elf_arch(header(2, 8)) is None and elf_arch(b"MZ") is None


def test_doctor_fix_without_a_file_needs_the_device_first(private_adb_server, tmp_path):
    # The architecture comes from the device: without one, one line and no download attempted.
    served = Releases()
    try:
        env = {**private_adb_server, RELEASES_ENV: served.url, "APPAUDIT_HOME": str(tmp_path / "home"),
               "PYTHONPATH": str(REPO)}
        subprocess.run([shutil.which("adb") or "adb", "start-server"], env=env, capture_output=True, timeout=30)
        result = subprocess.run([sys.executable, "-m", "audit.cli", "device", "doctor", "--fix"], cwd=REPO,
                                env=env, capture_output=True, text=True, timeout=60)
    finally:
        served.close()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "appaudit: error: no Android device connected (`adb devices` lists none)"]
    assert served.requests == [] and not (tmp_path / "home").exists()
