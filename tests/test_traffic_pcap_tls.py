"""A pcapng captured here with dumpcap on loopback: TLS (HTTP/1.1 and HTTP/2) decrypted with the key log beside it.

The client writes its TLS secrets to `<capture>.keylog` (Python's SSLContext.keylog_filename, the same NSS
key log format as SSLKEYLOGFILE). Needs dumpcap with capture rights on `lo` (root or CAP_NET_RAW); skipped if not.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from audit.model import where_text
from audit.traffic import analyse

AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
IMEI = "353627075111296"
IDS = {"device_ids.advertising_id": AAID, "device_ids.imei": IMEI}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app-measurement.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _serve(listener: socket.socket, context: ssl.SSLContext, stop: threading.Event) -> None:
    import h2.config
    import h2.connection
    import h2.events
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except OSError:
            continue
        try:
            conn = context.wrap_socket(raw, server_side=True)
            conn.settimeout(5)
            if conn.selected_alpn_protocol() == "h2":
                h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
                h2c.initiate_connection()
                conn.sendall(h2c.data_to_send())
                answered = 0
                while answered < 2:
                    data = conn.recv(65535)
                    if not data:
                        break
                    for event in h2c.receive_data(data):
                        if isinstance(event, h2.events.DataReceived):
                            h2c.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        if isinstance(event, h2.events.StreamEnded):
                            h2c.send_headers(event.stream_id, [(":status", "200"), ("content-length", "0")],
                                             end_stream=True)
                            answered += 1
                    conn.sendall(h2c.data_to_send())
            else:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65535)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next((l.split(b":")[1] for l in head.split(b"\r\n")
                                   if l.lower().startswith(b"content-length")), b"0"))
                while len(body) < length:
                    body += conn.recv(65535)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            conn.close()
        except (OSError, ssl.SSLError):
            raw.close()


def _client_context(keylog: Path, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.keylog_filename = str(keylog)
    context.set_alpn_protocols(alpn)
    return context


def _http1(port: int, keylog: Path) -> None:
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=_client_context(keylog, ["http/1.1"]), timeout=10)
    body = gzip.compress(json.dumps({"app_instance": {"adid": AAID}}).encode())
    conn.request("POST", "/a?x=" + hashlib.sha256(IMEI.encode()).hexdigest(), body=body,
                 headers={"Host": "app-measurement.com", "content-type": "application/json",
                          "content-encoding": "gzip"})
    conn.getresponse().read()
    conn.close()


def _http2(port: int, keylog: Path) -> None:
    import h2.connection
    import h2.events
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = _client_context(keylog, ["h2"]).wrap_socket(raw, server_hostname="api.amplitude.com")
    assert conn.selected_alpn_protocol() == "h2"
    client = h2.connection.H2Connection()
    client.initiate_connection()
    body = ("e=" + base64.b64encode(json.dumps({"imei": IMEI}).encode()).decode()).encode()
    client.send_headers(1, [(":method", "POST"), (":path", "/2/httpapi"), (":authority", "api.amplitude.com"),
                            (":scheme", "https"), ("content-type", "application/x-www-form-urlencoded")])
    client.send_data(1, body, end_stream=True)
    conn.sendall(client.data_to_send())
    # a second stream with a body larger than the default flow-control window: the IMEI sits at its end
    big = b"x" * 150_000 + json.dumps({"serial": IMEI}).encode()
    client.send_headers(3, [(":method", "PUT"), (":path", "/big"), (":authority", "api.amplitude.com"),
                            (":scheme", "https")])
    sent, ended = 0, set()
    while sent < len(big) or len(ended) < 2:
        window = min(client.local_flow_control_window(3), client.max_outbound_frame_size) if sent < len(big) else 0
        if window > 0:
            chunk = big[sent:sent + window]
            sent += len(chunk)
            client.send_data(3, chunk, end_stream=sent >= len(big))
        conn.sendall(client.data_to_send())
        if sent < len(big) and window > 0:
            continue
        data = conn.recv(65535)
        if not data:
            break
        for event in client.receive_data(data):
            if isinstance(event, h2.events.StreamEnded):
                ended.add(event.stream_id)
        conn.sendall(client.data_to_send())
    conn.close()


@pytest.fixture(scope="module")
def pcapng(tmp_path_factory) -> Path:
    if not shutil.which("dumpcap"):
        pytest.skip("dumpcap not installed")
    tmp = tmp_path_factory.mktemp("pcap")
    capture, keylog = tmp / "tls.pcapng", tmp / "tls.pcapng.keylog"
    port = _free_port()
    cert, key = _self_signed(tmp)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    listener = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()
    server = threading.Thread(target=_serve, args=(listener, context, stop), daemon=True)
    server.start()
    dumpcap = subprocess.Popen(["dumpcap", "-i", "lo", "-f", f"tcp port {port}", "-w", str(capture)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        line = b""
        deadline = time.monotonic() + 15
        while b"Capturing on" not in line and time.monotonic() < deadline:
            if dumpcap.poll() is not None:
                pytest.skip(f"dumpcap cannot capture on lo here: {dumpcap.stderr.read().decode()[:200]}")
            line += dumpcap.stderr.readline()
        time.sleep(0.3)
        _http1(port, keylog)
        _http2(port, keylog)
        time.sleep(0.5)
    finally:
        dumpcap.send_signal(signal.SIGTERM)
        dumpcap.wait(15)
        stop.set()
        server.join(5)
        listener.close()
    assert capture.stat().st_size > 0 and keylog.stat().st_size > 0
    return capture


def test_tls_http1_and_http2_are_decrypted_with_the_keylog(pcapng):
    report = analyse([pcapng], IDS)
    (capture,) = report.captures
    assert capture.status == "ok", capture.reason
    assert capture.format == "pcapng"
    found = {(t.data_type, t.encoding, where_text(t.where), t.host, t.scheme) for t in report.transmissions}
    assert ("device_ids.advertising_id", "plain", "body.json:app_instance.adid", "app-measurement.com",
            "https") in found
    assert ("device_ids.imei", "sha256", "query:x", "app-measurement.com", "https") in found
    assert ("device_ids.imei", "base64", "body.form:e.base64.json:imei", "api.amplitude.com", "https") in found
    big = [r for r in report.requests if r.method == "PUT"]
    assert len(big) == 1 and ("device_ids.imei", "plain", "body", "api.amplitude.com", "https") in found
    assert {r.recipient.id for r in report.requests} == {"firebase_analytics", "amplitude"}


def test_without_the_keylog_it_says_what_is_missing(pcapng, tmp_path):
    alone = tmp_path / "alone.pcapng"
    shutil.copy(pcapng, alone)
    from audit.errors import InputError
    with pytest.raises(InputError, match=r"not decrypted .*alone\.pcapng\.keylog"):
        analyse([alone], IDS)
