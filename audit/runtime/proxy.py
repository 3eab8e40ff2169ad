"""The audit proxy: mitmproxy run in-process, on loopback, with a CA made for this run only.

mitmproxy's DumpMaster runs its asyncio loop in a daemon thread. Our addon appends every finished flow to
`flows.mitm` and flushes, so a run killed half way keeps what it saw; `flows.har` is written from the same
flows when the proxy stops. Upstream certificates are not verified (`ssl_insecure`): this is an audit proxy,
and the app under test must reach whatever it talks to, including test servers on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
STARTUP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ProxyEndpoint:
    host: str
    port: int
    ca_cert: Path        # public certificate of the run's CA (PEM)
    ca_bundle: Path      # system CAs + the run's CA, for clients that replace rather than add roots
    confdir: Path        # private (0700): holds the CA key; removed when the proxy stops


CA_PREFIX = "appaudit-ca-"
CA_OWNER_FILE = "owner"
LEGACY_CA_AGE_S = 3600        # a CA folder of an older version (no owner file), unchanged this long: stale


def private_dir(prefix: str) -> Path:
    """A 0700 directory outside the repo and the run folder, for the CA key and trust stores. It names its
    owner (pid and process start time), so that the next capture can remove it if this one is SIGKILLed
    before its own clean-up runs (sweep_stale_ca_dirs)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o700)
    (path / CA_OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid()) or ''}\n")
    return path


def _process_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot, /proc/PID/stat field 22): a pid with another start
    time is a new process that reused the number."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def sweep_stale_ca_dirs(root: str | Path | None = None) -> list[Path]:
    """Remove the private CA folders (their keys can sign for any host) of captures that are gone: killed by
    SIGKILL or a crash before AuditProxy.stop ran. Called as each capture starts; folders of captures still
    running (their owner alive, with the same start time) and of other users are left alone."""
    import time
    removed = []
    base = Path(root or tempfile.gettempdir())
    try:
        candidates = [p for p in base.glob(CA_PREFIX + "*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for folder in candidates:
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            owner = folder / CA_OWNER_FILE
            if owner.is_file():
                pid_text, _, started = owner.read_text().strip().partition(" ")
                pid = int(pid_text)
                alive = _process_start(pid)
                if alive is not None and (not started or alive == started):
                    continue
            elif time.time() - folder.stat().st_mtime < LEGACY_CA_AGE_S:
                continue
        except (OSError, ValueError):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


class _FlowRecorder:
    """mitmproxy addon: remembers flows and streams them to flows.mitm as they complete."""

    def __init__(self, mitm_path: Path):
        from mitmproxy import io as mitm_io
        self.flows: list = []
        self.lock = threading.Lock()
        self._handle = open(mitm_path, "ab")
        self._writer = mitm_io.FlowWriter(self._handle)

    def _record(self, flow) -> None:
        with self.lock:
            if self._handle.closed:
                return
            self.flows.append(flow)
            self._writer.add(flow)
            self._handle.flush()

    # A flow is written once, at its end: response, or error for one that never got a response.
    def response(self, flow) -> None:
        self._record(flow)

    def error(self, flow) -> None:
        self._record(flow)

    def close(self) -> None:
        with self.lock:
            if not self._handle.closed:
                self._handle.close()


class _Sinkhole:
    """mitmproxy addon: answer every request here, so what the app sends is recorded but never delivered.

    For audits where letting identifiers reach trackers is itself a harm, and for machines with no network."""

    def request(self, flow) -> None:
        from mitmproxy import http
        flow.response = http.Response.make(204, b"", {"x-appaudit": "sinkhole"})


class AuditProxy:
    """Start with `start()`, stop with `stop()` (idempotent); use as a context manager."""

    def __init__(self, run_dir: Path, listen_port: int = 0, sinkhole: bool = False):
        self.run_dir = Path(run_dir)
        self.listen_port = listen_port
        self.sinkhole = sinkhole
        self.endpoint: ProxyEndpoint | None = None
        self._master = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._recorder: _FlowRecorder | None = None
        self._error: BaseException | None = None
        self._stopped = False

    def __enter__(self) -> "AuditProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def flow_count(self) -> int:
        return len(self._recorder.flows) if self._recorder else 0

    def start(self) -> ProxyEndpoint:
        sweep_stale_ca_dirs()      # keys left by captures that were killed before they could remove them
        confdir = private_dir(CA_PREFIX)
        self._recorder = _FlowRecorder(self.run_dir / "flows.mitm")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(confdir, ready), name="appaudit-proxy",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(STARTUP_TIMEOUT_S) or self._error is not None:
            self.stop()
            raise InputError(f"the capture proxy did not start: {self._error or 'timed out'}")
        port = self._listen_port()
        ca_cert = confdir / "mitmproxy-ca-cert.pem"
        bundle = confdir / "ca-bundle.pem"
        system = next((Path(p) for p in SYSTEM_CA_BUNDLES if Path(p).is_file()), None)
        with open(bundle, "wb") as out:
            if system is not None:
                out.write(system.read_bytes())
                out.write(b"\n")
            out.write(ca_cert.read_bytes())
        self.endpoint = ProxyEndpoint("127.0.0.1", port, ca_cert, bundle, confdir)
        return self.endpoint

    def _serve(self, confdir: Path, ready: threading.Event) -> None:
        from mitmproxy import options
        from mitmproxy.tools.dump import DumpMaster

        async def main() -> None:
            opts = options.Options(listen_host="127.0.0.1", listen_port=self.listen_port,
                                   confdir=str(confdir), ssl_insecure=True)
            master = DumpMaster(opts, with_termlog=False, with_dumper=False)
            if self.sinkhole:
                # eager (the default) would open the upstream connection on CONNECT, before any request
                master.options.update(connection_strategy="lazy")
                master.addons.add(_Sinkhole())
            master.addons.add(self._recorder)
            self._master = master
            self._loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(master.run())
            # The listening socket exists once the proxyserver addon reports an address.
            for _ in range(int(STARTUP_TIMEOUT_S / 0.02)):
                if task.done():
                    break
                if self._proxyserver().listen_addrs():
                    break
                await asyncio.sleep(0.02)
            ready.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to start() or ignored after stop()
            self._error = exc
            ready.set()

    def _proxyserver(self):
        return self._master.addons.get("proxyserver")

    def _listen_port(self) -> int:
        for addr in self._proxyserver().listen_addrs():
            if addr[0] in ("127.0.0.1", "::ffff:127.0.0.1"):
                return int(addr[1])
        addrs = self._proxyserver().listen_addrs()
        if not addrs:
            raise InputError("the capture proxy has no listening address")
        return int(addrs[0][1])

    def stop(self) -> None:
        """Shut mitmproxy down, write flows.har, and delete the private CA directory."""
        if self._stopped:
            return
        self._stopped = True
        if self._master is not None and self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._master.shutdown)
        if self._thread is not None:
            self._thread.join(10)
        if self._recorder is not None:
            self._recorder.close()
            write_har(self._recorder.flows, self.run_dir / "flows.har")
        if self.endpoint is not None:
            shutil.rmtree(self.endpoint.confdir, ignore_errors=True)


def write_har(flows: list, path: Path) -> None:
    from mitmproxy.addons.savehar import SaveHar
    har = SaveHar().make_har(flows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(har, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def har_from_mitm(mitm_path: Path, har_path: Path) -> int:
    """Rebuild flows.har from flows.mitm (after a run that was killed before it could write the HAR)."""
    from mitmproxy import io as mitm_io
    from mitmproxy.exceptions import FlowReadException
    flows = []
    try:
        with open(mitm_path, "rb") as handle:
            for flow in mitm_io.FlowReader(handle).stream():
                flows.append(flow)
    except (FlowReadException, ValueError):
        pass  # a torn last record: keep the flows read so far
    write_har(flows, har_path)
    return len(flows)


def java_truststore(endpoint: ProxyEndpoint) -> Path:
    """A PKCS#12 trust store holding the run's CA, for a JVM's -Djavax.net.ssl.trustStore."""
    store = endpoint.confdir / "truststore.p12"
    keytool = shutil.which("keytool")
    if keytool is None:
        raise InputError("keytool (from a JDK) is needed to trust the capture CA in a JVM; install openjdk")
    result = subprocess.run([keytool, "-importcert", "-noprompt", "-alias", "appaudit-run-ca",
                             "-file", str(endpoint.ca_cert), "-keystore", str(store), "-storetype", "PKCS12",
                             "-storepass", "appaudit"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise InputError(f"keytool could not build the trust store: {result.stderr.strip()[:200]}")
    return store
