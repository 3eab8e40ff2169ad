"""The audit proxy: mitmproxy run in-process, on loopback, with a CA made for this run only.

mitmproxy's DumpMaster runs its asyncio loop in a daemon thread. Our addon appends every finished flow to
`flows.mitm` (flushed, so a run killed half way keeps what it saw) and to `flows.har.part`, completed and
renamed to `flows.har` when the proxy stops; no flow is held in memory after it is written. Upstream certificates are not verified (`ssl_insecure`): this is an audit proxy,
and the app under test must reach whatever it talks to, including test servers on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
STARTUP_TIMEOUT_S = 20.0
MAX_TLS_FAILURES_LISTED = 200
GATE_WAIT_STEPS, GATE_WAIT_STEP_S = 150, 0.02


@dataclass(frozen=True)
class ProxyEndpoint:
    host: str
    port: int
    ca_cert: Path        # public certificate of the run's CA (PEM)
    ca_bundle: Path      # system CAs + the run's CA, for clients that replace rather than add roots
    confdir: Path        # private (0700): holds the CA key; removed when the proxy stops
    socks_port: int = 0  # SOCKS5 listener the agent redirects the app's connections to
    token: str = ""      # SOCKS5 user name only the agent knows: no other process enters the run


CA_PREFIX = "appaudit-ca-"
CA_OWNER_FILE = "owner"
CA_SPAWNED_FILE = "spawned"   # the programs the capture started: ended by the sweep if the capture was killed
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


def record_spawned(confdir: Path, pid: int) -> None:
    """Name a program the capture started (pid and start time) beside the CA key, so that if the capture is
    SIGKILLed the next capture's sweep ends the program too, not only removes the key."""
    with open(confdir / CA_SPAWNED_FILE, "a", encoding="utf-8") as handle:
        handle.write(f"{pid} {_process_start(pid) or ''}\n")


def _end_spawned(folder: Path) -> None:
    """SIGKILL the programs a dead capture started that still run: only the very process (same start time, so
    never a process that reused the pid) and only this user's."""
    try:
        lines = (folder / CA_SPAWNED_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        pid_text, _, started = line.strip().partition(" ")
        try:
            pid = int(pid_text)
            if started and _process_start(pid) == started and os.stat(f"/proc/{pid}").st_uid == os.getuid():
                os.kill(pid, signal.SIGKILL)
        except (ValueError, OSError):
            continue


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
        _end_spawned(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


class _SeenServers:
    """The `servers_seen` SaveHar.flow_entry wants, holding connection ids rather than whole connections."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def __contains__(self, server) -> bool:
        return server.id in self.ids

    def add(self, server) -> None:
        self.ids.add(server.id)


class HarStream:
    """flows.har written entry by entry (nothing kept in memory); `close()` completes the JSON and renames it in
    place, so a flows.har that exists is whole. A killed run has only flows.har.part: rebuild with har_from_mitm."""

    def __init__(self, path: Path):
        from mitmproxy import version
        from mitmproxy.addons.savehar import SaveHar
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self._har = SaveHar()
        self._servers = _SeenServers()
        # 0600: the HAR holds the captured identifiers raw
        self._handle = open(os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                            encoding="utf-8")
        creator = {"name": "mitmproxy", "version": version.VERSION, "comment": ""}
        self._handle.write('{"log": {"version": "1.2", "creator": %s, "pages": [], "entries": [\n'
                           % json.dumps(creator))
        self.count = 0

    def add(self, flow) -> None:
        from mitmproxy import http
        if not isinstance(flow, http.HTTPFlow) or self._handle.closed:
            return
        entry = self._har.flow_entry(flow, self._servers)
        self._handle.write((",\n" if self.count else "") + json.dumps(entry, indent=1))
        self.count += 1

    def close(self) -> None:
        if self._handle.closed:
            return
        self._handle.write("\n]}}\n")
        self._handle.close()
        os.replace(self.part, self.path)


FLOW_CONN_KEY = "appaudit_conn"      # flow.metadata: the agent's id of the connection (see hooks/agent.js)


class _FlowRecorder:
    """mitmproxy addon: streams every finished flow to flows.mitm and flows.har as it completes.

    A flow is written once, at its end, as mitmproxy's own Save addon does: HTTP at response/error, WebSocket at
    websocket_end (with all its messages), raw TCP at tcp_end/tcp_error. A client whose TLS handshake failed (a
    pinned app rejecting the run's certificate) is written as a TCP flow with the SNI and the reason, so the host
    it contacted is in the run. Only counts stay in memory."""

    def __init__(self, run_dir: Path, token: str | None = None, client_gate=None):
        from mitmproxy import io as mitm_io
        self.client_gate = client_gate
        self.lock = threading.Lock()
        self._handle = open(os.open(run_dir / "flows.mitm", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        self._writer = mitm_io.FlowWriter(self._handle)
        self._har = HarStream(run_dir / "flows.har")
        self.token = token
        self._conn_ids: dict[str, str] = {}     # client connection id -> the agent's connection id
        self.counts = {"http": 0, "websocket": 0, "tcp": 0, "tls_failed": 0, "socks_rejected": 0,
                       "foreign_rejected": 0}
        self.tls_failures: list[dict] = []

    def _record(self, flow, kind: str) -> None:
        conn = self._conn_ids.get(flow.client_conn.id)
        if conn is not None:
            flow.metadata[FLOW_CONN_KEY] = conn
        with self.lock:
            if self._handle.closed:
                return
            self._writer.add(flow)
            self._handle.flush()
            self._har.add(flow)
            self.counts[kind] += 1

    # SOCKS5: the agent authenticates with the run's token and names its connection in the password.
    def socks5_auth(self, data) -> None:
        if self.token is not None and data.username == self.token:
            data.valid = True
            self._conn_ids[data.client_conn.id] = data.password
        else:
            self.counts["socks_rejected"] += 1

    async def client_connected(self, client) -> None:
        """HTTP listener: with a gate (the host device, where client ports are the app's own), only connections
        the agent announced from inside the app are served; anything else on the machine is turned away."""
        if self.client_gate is None or client.proxy_mode.type_name != "regular" or not client.peername:
            return
        try:
            for _ in range(GATE_WAIT_STEPS):   # the agent's connect event may arrive just after the connection
                if self.client_gate(int(client.peername[1])):
                    return
                await asyncio.sleep(GATE_WAIT_STEP_S)
        except asyncio.CancelledError:         # the proxy is shutting down: nothing more is served
            pass
        client.error = "appaudit: not a connection of the audited app"
        self.counts["foreign_rejected"] += 1

    def client_disconnected(self, client) -> None:
        self._conn_ids.pop(client.id, None)

    def response(self, flow) -> None:
        if flow.websocket is None:
            self._record(flow, "http")

    def error(self, flow) -> None:
        self.response(flow)

    def websocket_end(self, flow) -> None:
        self._record(flow, "websocket")

    def tcp_end(self, flow) -> None:
        self._record(flow, "tcp")

    def tcp_error(self, flow) -> None:
        self.tcp_end(flow)

    def tls_failed_client(self, data) -> None:
        from mitmproxy import flow as mflow
        from mitmproxy import tcp
        client = data.context.client
        server = data.context.server
        reason = str(data.conn.error or "TLS handshake failed")
        record = tcp.TCPFlow(client, server)
        record.error = mflow.Error(f"client TLS handshake failed: {reason}")
        record.metadata["appaudit_tls_failed"] = {"sni": client.sni, "reason": reason}
        self._record(record, "tls_failed")
        if len(self.tls_failures) < MAX_TLS_FAILURES_LISTED:
            address = server.address
            self.tls_failures.append({"sni": client.sni, "reason": reason,
                                      "server": f"{address[0]}:{address[1]}" if address else None,
                                      "conn": self._conn_ids.get(client.id)})

    def close(self) -> None:
        with self.lock:
            if not self._handle.closed:
                self._handle.close()
                self._har.close()


class _Sinkhole:
    """mitmproxy addon: answer every request here, so what the app sends is recorded but never delivered.

    For audits where letting identifiers reach trackers is itself a harm, and for machines with no network.
    Any upstream connection at all (raw TCP through SOCKS, a TLS server hello) is refused."""

    def request(self, flow) -> None:
        from mitmproxy import http
        flow.response = http.Response.make(204, b"", {"x-appaudit": "sinkhole"})

    def server_connect(self, data) -> None:
        data.server.error = "appaudit --sinkhole: nothing is delivered"


class AuditProxy:
    """Start with `start()`, stop with `stop()` (idempotent); use as a context manager."""

    def __init__(self, run_dir: Path, listen_port: int = 0, sinkhole: bool = False, client_gate=None):
        self.run_dir = Path(run_dir)
        self.client_gate = client_gate
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
        if self._recorder is None:
            return 0
        return sum(n for kind, n in self._recorder.counts.items() if not kind.endswith("_rejected"))

    @property
    def summary(self) -> dict:
        """Counts per kind of flow written, and the failed client TLS handshakes (the first 200)."""
        if self._recorder is None:
            return {}
        return {"flows": dict(self._recorder.counts), "tls_failed": list(self._recorder.tls_failures)}

    def start(self) -> ProxyEndpoint:
        import secrets
        sweep_stale_ca_dirs()      # keys left by captures that were killed before they could remove them
        confdir = private_dir(CA_PREFIX)
        token = secrets.token_hex(16)
        self._recorder = _FlowRecorder(self.run_dir, token, self.client_gate)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(confdir, ready), name="appaudit-proxy",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(STARTUP_TIMEOUT_S) or self._error is not None:
            self.stop()
            raise InputError(f"the capture proxy did not start: {self._error or 'timed out'}")
        port, socks_port = self._listen_port("regular"), self._listen_port("socks5")
        ca_cert = confdir / "mitmproxy-ca-cert.pem"
        bundle = confdir / "ca-bundle.pem"
        system = next((Path(p) for p in SYSTEM_CA_BUNDLES if Path(p).is_file()), None)
        with open(bundle, "wb") as out:
            if system is not None:
                out.write(system.read_bytes())
                out.write(b"\n")
            out.write(ca_cert.read_bytes())
        self.endpoint = ProxyEndpoint("127.0.0.1", port, ca_cert, bundle, confdir, socks_port, token)
        return self.endpoint

    def _serve(self, confdir: Path, ready: threading.Event) -> None:
        from mitmproxy import options
        from mitmproxy.tools.dump import DumpMaster

        async def main() -> None:
            # Two listeners: HTTP proxy (set inside the app's processes as its proxy settings) and SOCKS5 (where
            # the agent redirects every other connection of the app).
            opts = options.Options(listen_host="127.0.0.1", listen_port=self.listen_port,
                                   mode=["regular", "socks5@0"], confdir=str(confdir), ssl_insecure=True)
            master = DumpMaster(opts, with_termlog=False, with_dumper=False)
            # SOCKS5 asks for user/password when `proxyauth` is set; our recorder checks the run token, and the
            # stock addon is removed so the HTTP listener does not demand credentials too.
            master.addons.remove(master.addons.get("proxyauth"))
            master.options.update(proxyauth="appaudit:socks-token-checked-by-the-recorder")
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

    def _listen_port(self, mode: str) -> int:
        for server in self._proxyserver().servers:
            if server.mode.type_name == mode:
                for addr in server.listen_addrs:
                    if addr[0] in ("127.0.0.1", "::ffff:127.0.0.1"):
                        return int(addr[1])
        raise InputError(f"the capture proxy has no {mode} listener")

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
        if self.endpoint is not None:
            shutil.rmtree(self.endpoint.confdir, ignore_errors=True)


def har_from_mitm(mitm_path: Path, har_path: Path) -> int:
    """Rebuild flows.har from flows.mitm (after a run that was killed before it could finish the HAR)."""
    from mitmproxy import io as mitm_io
    from mitmproxy.exceptions import FlowReadException
    har = HarStream(har_path)
    try:
        with open(mitm_path, "rb") as handle:
            for flow in mitm_io.FlowReader(handle).stream():
                har.add(flow)
    except (FlowReadException, ValueError):
        pass  # a torn last record: keep the flows read so far
    finally:
        har.close()
    return har.count


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
