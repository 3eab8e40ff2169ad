"""A real mitmdump on 127.0.0.1 that records flows to a file, for the traffic tests.

mitmdump answers every request itself (answer_addon.py) and connects upstream lazily, so HTTPS to any host name
works without DNS or network: the client trusts the CA mitmdump made in a temporary confdir.
"""
from __future__ import annotations

import http.client
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MITMDUMP = Path(sys.executable).with_name("mitmdump")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mitmdump:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.confdir = self.workdir / "confdir"
        self.confdir.mkdir(mode=0o700, exist_ok=True)
        self.flows = self.workdir / "flows.mitm"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Mitmdump":
        self.proc = subprocess.Popen(
            [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", str(self.port), "-q",
             "--set", f"confdir={self.confdir}", "--set", "connection_strategy=lazy",
             "-s", str(HERE / "answer_addon.py"), "-w", str(self.flows)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited: {self.proc.stderr.read().decode()[:500]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                if (self.confdir / "mitmproxy-ca-cert.pem").exists():
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("mitmdump did not start within 30 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # lets mitmdump flush and close the flow file
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    # -- clients ----------------------------------------------------------------------------------------------
    def send(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> int:
        """One request through the proxy: plain HTTP in absolute form, HTTPS through a CONNECT tunnel."""
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(headers or {})
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=str(self.confdir / "mitmproxy-ca-cert.pem"))
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=20)
            conn.set_tunnel(parts.hostname, parts.port or 443)
            conn.request(method, target, body=body, headers=headers)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            conn.request(method, url, body=body, headers=headers)
        status = conn.getresponse().status
        conn.close()
        return status
