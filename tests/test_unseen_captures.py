"""Captures the traffic stage was not built on, fetched from the package registries, and the properties checked by
hand on them held as tests: `appaudit traffic` reads every one without a traceback in every output format, counts
at least the requests an independent reader counts (the HAR's entries; tshark's HTTP/1 requests and HTTP/2 request
HEADERS, decrypting with the capture's own keys), finds every value the capture visibly carries when it is given as
an identifier (query parameters, headers, cookies, form and JSON fields as an independent reading of the HAR lists
them; the query parameters, cookies and user agents tshark reads), and finds a given value only where it was sent
(no false hit).

Sources (pinned by version and the SHA-256 of the archive):
- Debian's wireshark source package (4.0.17): its test captures: HTTP/1 with out-of-order and overlapping TCP
  segments, HTTP/2 and gRPC (h2c and TLS), pcapng files carrying their TLS keys (Decryption Secrets Blocks),
  TLS 1.2/1.3 with key logs, a capture cut at a 96-byte snap length;
- Debian's tcpflow source package (1.6.1): browser page loads, gzip, retransmissions, a stream captured in random
  packet order;
- PyPI's HTTPolice 0.9.0 (sdist): HAR exports of Chrome (HTTP/2), Firefox (form posts, 304s, tracking pixels),
  Fiddler with IE 11 (a CONNECT, a UTF-8 BOM), base64 bodies, a file name with non-ASCII letters;
- npm's har-examples 5.0.1 (ReadMe): HARs written by a tool rather than a browser (query parameters only in
  `queryString`, multipart, params-only postData, data URLs); its HARs are JavaScript objects: node prints them.

Cache: the one tests/test_unseen_apps.py uses. No registry (or no tshark / node): the tests skip, saying why.
Small captures written here test each fix without the network."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import pytest

from audit.model import where_text
from audit.traffic import analyse
from audit.traffic.captures import read_capture
from pcap_builds import write_pcap
import test_traffic_pcap_tls as tls
from test_traffic_pcap_tls import pcapng   # noqa: F401  (a fixture: a loopback TLS capture and its key log)
from test_unseen_apps import _archive as fetched_archive

TOKEN = "Zq7uniqueTOKEN4711xyz"
# one archive per source: (registry, spec, SHA-256 of the archive)
WIRESHARK = ("debian-source", "wireshark=4.0.17-0+deb12u3",
             "62fd1491b6211d1651a16a45ead15808970b3a6a9ebde2537f96722af47aaaa5")
TCPFLOW = ("debian-source", "tcpflow=1.6.1-2", "c1c88513473e12011c0c00bba88dd02013ea3b813b08088f250cbf82b8f42358")
HTTPOLICE = ("pypi-sdist", "HTTPolice==0.9.0", "b49423aa09b42172a8ff7e640e9163eb508dfb06d294a28b3cf79fa5e1671e8b")
HAR_EXAMPLES = ("npm", "har-examples@5.0.1", "c95babe3cf197723c7626c046ead14a8bc439e6b34bb227cd99105ca6224761d")

WS = "wireshark-v4.0.17/test/"
WIRESHARK_CAPTURES = [
    # (member, key log member or None); a pcapng with `dsb` in the name carries its own keys
    ("captures/http.pcap", None), ("captures/http-ooo.pcap", None), ("captures/http-ooo2.pcap", None),
    ("captures/http-brotli.pcapng", None), ("captures/tcp-badsegments.pcap", None),
    ("captures/communityid.pcap.gz", None),
    ("captures/http2-data-reassembly.pcap", "keys/http2-data-reassembly.keys"),
    ("captures/http2-brotli.pcapng", None), ("captures/http2_follow_multistream.pcapng", None),
    ("captures/packet-h2-14_headers.pcapng", None), ("captures/challenge01_ooo_stream.pcapng.gz", None),
    ("captures/tls12-dsb.pcapng", None), ("captures/tls12-chacha20poly1305.pcap", "keys/tls12-chacha20poly1305.keys"),
    ("captures/tls13-rfc8446.pcap", "keys/tls13-rfc8446.keys"),
    ("captures/grpc_person_search_json_with_image.pcapng.gz", None),
    ("captures/grpc_person_search_protobuf_with_image.pcapng.gz", None),
    ("captures/grpc_stream_reassembly_sample.pcapng.gz", None), ("captures/grpc_web.pcapng.gz", None),
]
TCPFLOW_CAPTURES = ["test1.pcap", "test2.pcap", "test3.pcap", "test4.pcap", "test-gzip.pcap", "test1-part1.pcap",
                    "test5-lines.pcap", "test5-lines-randomized2.pcap", "bug6.pcap", "bug8.pcap"]
TCPFLOW_DIR = "tcpflow-tcpflow-1.6.1/"


# -- fetching -----------------------------------------------------------------------------------------------------
def _run(argv: list[str], cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@functools.lru_cache(maxsize=None)
def _archive(registry: str, spec: str, want: str) -> Path | str:
    """The package archive test_unseen_apps fetches and caches, if it is the pinned file."""
    got = fetched_archive(registry, spec)
    if isinstance(got, Path) and hashlib.sha256(got.read_bytes()).hexdigest() != want:
        return f"{got.name} is not the pinned file (SHA-256 differs)"
    return got


@functools.lru_cache(maxsize=None)
def _unpacked(source: tuple, members: tuple[str, ...]) -> Path:
    """The members of a source's archive, unpacked once into the cache (gzip-compressed captures unzipped)."""
    archive = _archive(*source)
    if isinstance(archive, str):
        pytest.skip(archive)
    out = archive.parent / "unpacked"
    if not all((out / m.removesuffix(".gz")).is_file() for m in members):
        with tarfile.open(archive) as tar:
            for member in members:
                info = tar.getmember(member)
                target = out / member.removesuffix(".gz")
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(info).read()
                if member.endswith(".gz"):
                    import gzip
                    data = gzip.decompress(data)
                target.write_bytes(data)
    return out


def _needs(tool: str) -> None:
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed")


# -- the independent readings -------------------------------------------------------------------------------------
def _tshark_counts(capture: Path, keylog: Path | None) -> int:
    """HTTP/1 requests and HTTP/2 request HEADERS as tshark's own dissectors count them (on the ports tshark knows;
    with the capture's own TLS keys, and the key log when given)."""
    keys = ["-o", f"tls.keylog_file:{keylog}"] if keylog else []
    fields = _run(["tshark", "-n", "-r", str(capture), *keys, "-T", "fields", "-E", "occurrence=a",
                   "-e", "http.request.method", "-e", "http2.headers.method"], timeout=300).stdout
    return sum(len([v for v in column.split(",") if v]) for line in fields.splitlines()
               for column in line.split("\t"))


def _tshark_request_values(capture: Path, keylog: Path | None) -> set[str]:
    keys = ["-o", f"tls.keylog_file:{keylog}"] if keylog else []
    fields = _run(["tshark", "-n", "-r", str(capture), *keys, "-T", "fields", "-E", "occurrence=a",
                   "-E", "aggregator=\x1f", "-e", "http.request.uri.query.parameter", "-e", "http.cookie_pair",
                   "-e", "http.user_agent"], timeout=300).stdout
    values = set()
    for line in fields.splitlines():
        query, cookies, agent = (line.split("\t") + ["", "", ""])[:3]
        pairs = [unquote_plus(p.partition("=")[2]) for p in query.split("\x1f")]
        pairs += [p.partition("=")[2] for p in cookies.split("\x1f")] + agent.split("\x1f")
        values |= {value for value in pairs if _distinctive(value)}
    return values


def _distinctive(value: str) -> bool:
    """A value long and particular enough to be searched for alone (not a word every request holds)."""
    return isinstance(value, str) and 8 <= len(value) <= 200 and bool(re.search(r"[A-Za-z0-9]{6}", value))


def _leaves(obj):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _leaves(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _leaves(value)
    elif isinstance(obj, str):
        yield obj


def har_values(entry: dict) -> set[str]:
    """What a HAR entry's request visibly carries, read independently of appaudit: query parameters (of the URL
    and of `queryString`), header values (but the host), cookies, form parameters, JSON leaves or the text of a
    text body."""
    request = entry.get("request") or {}
    out = {v for _, v in parse_qsl(urlsplit(request.get("url") or "").query, keep_blank_values=True)}
    out |= {str(q.get("value")) for q in request.get("queryString") or []}
    out |= {str(h.get("value")) for h in request.get("headers") or []
            if str(h.get("name")).lower() not in ("host", ":authority", "cookie")}
    out |= {str(c.get("value")) for c in request.get("cookies") or []}
    post = request.get("postData") or {}
    out |= {str(p.get("value")) for p in post.get("params") or [] if not p.get("fileName")}
    text = post.get("text")
    if isinstance(text, str) and post.get("encoding") != "base64":
        try:
            out |= set(_leaves(json.loads(text)))
        except ValueError:
            out |= {v for _, v in parse_qsl(text)} if "=" in text and " " not in text else {text}
    return {v for v in out if _distinctive(v)}


# -- running the command ------------------------------------------------------------------------------------------
def _every_format(capture: Path, tmp_path: Path, identifiers: dict | None) -> dict:
    """`appaudit traffic` (in this process: a traceback fails the test) in each output format, without and with
    identifiers: exit 0 and a report each time; the JSON report (with the values revealed) returned."""
    from audit.cli import main
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(identifiers or {"device_ids.advertising_id": "0f4c2a8e-5d1b-4f7a-9c3e-6b2d8a1f0e77"}))
    runs = {"plain.json": [], "ids.json": ["--identifiers", str(ids), "--reveal"],
            "ids.md": ["--identifiers", str(ids), "--format", "md"]}
    for name, extra in runs.items():
        out = tmp_path / f"report.{name}"
        assert main(["traffic", str(capture), *extra, "-o", str(out)]) == 0, name
        assert out.stat().st_size > 0
    return json.loads((tmp_path / "report.ids.json").read_text())


def _check_found(report: dict, wanted: set[str]) -> None:
    found = {t.get("value") for t in report["transmissions"]}
    missed = sorted(wanted - found)
    assert not missed, f"values the capture carries, not found: {missed[:10]}"


# -- real captures: pcap / pcapng ---------------------------------------------------------------------------------
@pytest.mark.parametrize("member,keys", WIRESHARK_CAPTURES, ids=[Path(m).name for m, _ in WIRESHARK_CAPTURES])
def test_wireshark_captures_are_read_whole(member, keys, tmp_path):
    _needs("tshark")
    folder = _unpacked(WIRESHARK, tuple(WS + m for m, _ in WIRESHARK_CAPTURES)
                       + tuple(WS + k for _, k in WIRESHARK_CAPTURES if k))
    capture = tmp_path / Path(member).name.removesuffix(".gz")
    shutil.copy(folder / (WS + member).removesuffix(".gz"), capture)
    keylog = None
    if keys:
        keylog = tmp_path / f"{capture.stem}.keys"       # a key log beside the capture, as find_keylog looks
        shutil.copy(folder / (WS + keys), keylog)
    _check_pcap(capture, keylog, tmp_path)


@pytest.mark.parametrize("name", TCPFLOW_CAPTURES)
def test_tcpflow_captures_are_read_whole(name, tmp_path):
    _needs("tshark")
    folder = _unpacked(TCPFLOW, tuple(TCPFLOW_DIR + "tests/" + n for n in TCPFLOW_CAPTURES))
    capture = tmp_path / name
    shutil.copy(folder / TCPFLOW_DIR / "tests" / name, capture)
    _check_pcap(capture, None, tmp_path)


def _check_pcap(capture: Path, keylog: Path | None, tmp_path: Path) -> None:
    values = _tshark_request_values(capture, keylog)
    report = _every_format(capture, tmp_path, {"personal_info.user_id": sorted(values)} if values else None)
    assert len(report["requests"]) >= _tshark_counts(capture, keylog)
    _check_found(report, values)
    read = read_capture(capture)
    assert read.status == "ok" and len(read.requests) == len(report["requests"])
    # what the report calls sent is in the request it names (no false hit): plain values in its URL or headers
    by_id = {f"r{i}": r for i, r in enumerate(read.requests, 1)}
    for sent in report["transmissions"]:
        if sent.get("value_known") and sent.get("encoding") == "plain" and sent["where"].startswith("query"):
            request = by_id[sent["requests"][0]]
            assert sent["value"] in unquote_plus(request.target), (sent, request.target)


# -- real captures: HAR -------------------------------------------------------------------------------------------
HTTPOLICE_DIR = "HTTPolice-0.9.0/test/har_data/"
HTTPOLICE_HARS = ["chrome_http2.har", "chrome_text.har", "chrome_https_fail.har", "firefox_gif.har",
                  "firefox_post_form.har", "firefox_304.har", "firefox_empty.har", "fiddler+ie11_connect.har",
                  "bad_base64.har", "unknown_response_body.har", "fünný nãme.har", "1066_3.har", "1244_3.har"]


@pytest.mark.parametrize("name", HTTPOLICE_HARS)
def test_httpolice_hars_are_read_whole(name, tmp_path):
    folder = _unpacked(HTTPOLICE, tuple(HTTPOLICE_DIR + n for n in HTTPOLICE_HARS))
    _check_har(folder / HTTPOLICE_DIR / name, tmp_path)


@functools.lru_cache(maxsize=None)
def _har_examples() -> Path:
    _needs("node")
    archive = _archive(*HAR_EXAMPLES)
    if isinstance(archive, str):
        pytest.skip(archive)
    out = archive.parent / "hars"
    if not out.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(archive.parent / "unpacked", filter="data")
        script = ("const m = require(process.argv[1]); const fs = require('fs'); const all = m.default || m;"
                  "for (const [k, v] of Object.entries(all)) if (v && v.log)"
                  " fs.writeFileSync(process.argv[2] + '/' + k + '.har', JSON.stringify(v));")
        tmp = archive.parent / "hars.partial"
        tmp.mkdir(exist_ok=True)
        done = _run(["node", "-e", script, str(archive.parent / "unpacked/package/dist/index.cjs"), str(tmp)])
        if done.returncode != 0:
            pytest.skip(f"node cannot load har-examples: {done.stderr[-300:]}")
        tmp.rename(out)
    return out


HAR_EXAMPLE_NAMES = ["application-form-encoded", "application-json", "cookies", "full", "headers", "https",
                     "jsonObj-multiline", "jsonObj-null-value", "multipart-data", "multipart-data-dataurl",
                     "multipart-file", "multipart-form-data", "query", "query-encoded", "short", "text-plain", "xml"]


@pytest.mark.parametrize("name", HAR_EXAMPLE_NAMES)
def test_tool_written_hars_are_read_whole(name, tmp_path):
    _check_har(_har_examples() / f"{name}.har", tmp_path)


def _check_har(path: Path, tmp_path: Path) -> None:
    har = json.loads(path.read_text(encoding="utf-8-sig"))
    entries = har["log"]["entries"]
    wanted: dict[str, set[int]] = {}
    for number, entry in enumerate(entries, 1):
        for value in har_values(entry):
            wanted.setdefault(value, set()).add(number)
    capture = tmp_path / "capture.har"
    shutil.copy(path, capture)
    report = _every_format(capture, tmp_path, {"personal_info.user_id": sorted(wanted)} if wanted else None)
    sends = sum(1 for e in entries for m in e.get("_webSocketMessages") or [] if m.get("type") == "send")
    assert len(report["requests"]) == len(entries) + sends
    _check_found(report, set(wanted))
    for sent in report["transmissions"]:
        value = sent.get("value")
        if sent.get("value_known") and value in wanted:
            # found in the requests that carry it, and only there when it was found as sent
            numbers = {int(r[1:]) for r in sent["requests"]}
            if sent.get("encoding") == "plain":
                assert numbers <= wanted[value] or all(
                    value in json.dumps(entries[n - 1]["request"], ensure_ascii=False)
                    or value in unquote_plus(json.dumps(entries[n - 1]["request"], ensure_ascii=False))
                    for n in numbers), (value, numbers, wanted[value])


# -- what the real captures showed, each on a small capture written here -----------------------------------------
def _one_stream(data: bytes, path: Path, port: int = 80, tokens: int = 0):
    """The report on a pcap of one client stream (10.0.0.1 to 10.0.0.2:port), searching TOKEN1 .. TOKEN<tokens>."""
    ids = {"personal_info.user_id": [f"{TOKEN}{n}" for n in range(1, tokens + 1)]} if tokens else None
    return analyse([write_pcap([("10.0.0.1", 40000, "10.0.0.2", port, 1, data)], path)], ids)


def _found(report) -> set[tuple[str, str]]:
    """(value, place) of every transmission of a report."""
    return {(t.value, where_text(t.where)) for t in report.transmissions}


def test_a_request_whose_head_the_capture_cuts_is_read_and_marked(tmp_path):
    """The capture ends inside a request's head (a stopped capture; a snap length): the request line and the
    header lines it holds were sent and are read; the capture says a request was cut short."""
    _needs("tshark")
    whole = f"GET /a?uid={TOKEN}1 HTTP/1.1\r\nHost: api.example.net\r\n\r\n".encode()
    cut = f"POST /b?uid={TOKEN}2 HTTP/1.1\r\nHost: api.example.net\r\nX-Device: {TOKEN}3\r\nContent-Le".encode()
    line_only = f"GET /c/{TOKEN}4/pixel.gif HT".encode()
    capture = write_pcap([("10.0.0.1", 40000, "10.0.0.2", 80, 1, whole), ("10.0.0.1", 40000, "10.0.0.2", 80,
                     1 + len(whole), cut), ("10.0.0.1", 40001, "10.0.0.3", 80, 1, line_only)], tmp_path / "cut.pcap")
    report = analyse([capture], {"personal_info.user_id": [f"{TOKEN}{n}" for n in range(1, 5)]})
    found = _found(report)
    assert {(f"{TOKEN}1", "query:uid"), (f"{TOKEN}2", "query:uid"), (f"{TOKEN}3", "header:x-device")} <= found
    assert any(value == f"{TOKEN}4" and where.startswith("path") for value, where in found), found
    (result,) = report.captures
    assert result.partial and "2 request(s) cut short" in result.reason
    assert [r.method for r in report.requests] == ["GET", "POST", "GET"]
    assert report.requests[2].host == "10.0.0.3"      # no Host header was captured: the server's address


def test_bytes_that_are_no_request_after_one_mark_the_capture_partial(tmp_path):
    _needs("tshark")
    data = f"GET /a?uid={TOKEN}1 HTTP/1.1\r\nHost: h.example\r\n\r\n\x16\x03\x01garbage".encode()
    report = _one_stream(data, tmp_path / "g.pcap")
    (result,) = report.captures
    assert len(report.requests) == 1 and result.partial


def test_a_complete_stream_is_not_marked(tmp_path):
    _needs("tshark")
    data = f"GET /a?uid={TOKEN}1 HTTP/1.1\r\nHost: h.example\r\n\r\nGET /b HTTP/1.1\r\nHost: h.example\r\n\r\n"
    report = _one_stream(data.encode(), tmp_path / "ok.pcap")
    (result,) = report.captures
    assert len(report.requests) == 2 and not result.partial and result.reason is None


def test_query_parameters_listed_only_in_query_string_are_sent(tmp_path):
    """API clients and converted HARs may give the parameters only in `queryString` (the URL without a query);
    browsers give both, and a parameter is then read once."""
    har = {"log": {"entries": [
        {"request": {"method": "GET", "url": "https://api.example.net/v1/track",
                     "queryString": [{"name": "uid", "value": f"{TOKEN}1"},
                                     {"name": "enc", "value": f"{TOKEN}2%26more%3D1"}], "headers": []}},
        {"request": {"method": "GET", "url": f"https://api.example.net/v1/t?uid={TOKEN}3&q=a+b",
                     "queryString": [{"name": "uid", "value": f"{TOKEN}3"}, {"name": "q", "value": "a b"}],
                     "headers": []}}]}}
    path = tmp_path / "tool.har"
    path.write_text(json.dumps(har))
    report = analyse([path], {"personal_info.user_id": [f"{TOKEN}1", f"{TOKEN}2&more=1", f"{TOKEN}3"]})
    found = _found(report)
    assert (f"{TOKEN}1", "query:uid") in found and (f"{TOKEN}3", "query:uid") in found
    assert any(value == f"{TOKEN}2&more=1" and where.startswith("query") for value, where in found), found
    urls = [r.url for r in report.requests]
    assert urls[1] == f"https://api.example.net/v1/t?uid={TOKEN}3&q=a+b"    # nothing listed twice


def test_a_pcapng_carrying_its_own_tls_keys_is_decrypted(pcapng, tmp_path):
    """PCAPdroid and `editcap --inject-secrets` put the TLS keys into the pcapng (Decryption Secrets Block):
    tshark decrypts with them, no key log beside the capture needed."""
    _needs("editcap")
    capture = pcapng
    embedded = tmp_path / "embedded.pcapng"
    done = _run(["editcap", "--inject-secrets", f"tls,{capture}.keylog", str(capture), str(embedded)])
    assert done.returncode == 0, done.stderr
    report = analyse([embedded], tls.IDS)
    (result,) = report.captures
    assert result.status == "ok", result.reason
    found = {(t.data_type, where_text(t.where), t.scheme) for t in report.transmissions}
    assert ("device_ids.advertising_id", "body.json:app_instance.adid", "https") in found
    # the same as with the key log beside the capture (a loopback capture may itself end mid-stream: both alike)
    beside = analyse([capture], tls.IDS)
    assert len(report.requests) == len(beside.requests) and result.partial == beside.captures[0].partial
    assert found == {(t.data_type, where_text(t.where), t.scheme) for t in beside.transmissions}
    # without the keys, in the capture or beside it, it still says what is missing
    from audit.errors import InputError
    with pytest.raises(InputError, match=r"not decrypted .*no key log"):
        alone = tmp_path / "alone.pcapng"
        shutil.copy(capture, alone)
        analyse([alone], tls.IDS)


def _grpc_frame(payload: bytes, compressed: bool = False) -> bytes:
    import gzip
    data = gzip.compress(payload) if compressed else payload
    return bytes([compressed]) + len(data).to_bytes(4, "big") + data


def test_every_message_of_a_streaming_grpc_body_is_decoded():
    """A client-streaming gRPC call sends many length-prefixed messages in one body (wireshark's
    grpc_stream_reassembly_sample), each compressed or not, protobuf or JSON; the capture may cut the last."""
    from audit.traffic.captures import Request
    from audit.traffic.decode import decode_request

    def proto(value: bytes) -> bytes:
        return b"\x0a" + bytes([len(value)]) + value

    body = (_grpc_frame(proto(b"first message")) + _grpc_frame(proto(f"{TOKEN}1".encode()), compressed=True)
            + _grpc_frame(json.dumps({"uid": f"{TOKEN}2"}).encode()))
    cut = body + _grpc_frame(proto(f"{TOKEN}3".encode()))[:-2]
    for data in (body, cut):
        request = Request(None, "POST", "https", "api.example.net", 443, "/svc.Events/Stream",
                          (("content-type", "application/grpc"),), data, "c")
        segments = {(s.where, s.data) for s in decode_request(request).segments}
        assert ("body.grpc:1", f"{TOKEN}1".encode()) in segments, segments
        assert ("body.grpc.json:uid", f"{TOKEN}2".encode()) in segments
    assert ("body.grpc:1", f"{TOKEN}3"[:-2].encode()) not in segments   # (a cut field is no field)


def test_http2_after_an_h2c_upgrade_is_read(tmp_path):
    """A cleartext HTTP/1.1 request asking `Upgrade: h2c`, answered 101: the client's bytes go on in HTTP/2 on the
    same connection, and those requests left the device too."""
    _needs("tshark")
    import h2.config
    import h2.connection

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(3, [(":method", "POST"), (":path", f"/v1/e?uid={TOKEN}2"), (":scheme", "http"),
                            (":authority", "api.example.net"), ("content-type", "application/json")])
    client.send_data(3, json.dumps({"device": f"{TOKEN}3"}).encode(), end_stream=True)
    first = (f"GET /v1/hello?uid={TOKEN}1 HTTP/1.1\r\nHost: api.example.net\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n").encode()
    data = first + client.data_to_send()
    report = _one_stream(data, tmp_path / "h2c.pcap", tokens=3)
    found = _found(report)
    assert {(f"{TOKEN}1", "query:uid"), (f"{TOKEN}2", "query:uid"), (f"{TOKEN}3", "body.json:device")} <= found
    (result,) = report.captures
    assert [r.method for r in report.requests] == ["GET", "POST"] and not result.partial, result.reason


def test_a_request_whose_lines_end_in_a_bare_line_feed_is_read_whole(tmp_path):
    _needs("tshark")
    data = (f"POST /log?uid={TOKEN}1 HTTP/1.1\nHost: iot.example.net\nX-Serial: {TOKEN}2\nContent-Length: 29\n\n"
            f"serial={TOKEN}3\nGET /next HTTP/1.1\r\nHost: iot.example.net\r\n\r\n").encode()
    assert len(f"serial={TOKEN}3") == 29
    report = _one_stream(data, tmp_path / "lf.pcap", tokens=3)
    found = _found(report)
    assert {(f"{TOKEN}1", "query:uid"), (f"{TOKEN}2", "header:x-serial"), (f"{TOKEN}3", "body.form:serial")} <= found
    (result,) = report.captures
    assert [r.method for r in report.requests] == ["POST", "GET"] and not result.partial, result.reason


def test_a_cut_stream_of_another_protocol_is_no_request(tmp_path):
    """Only an HTTP method starts a request the capture cut: FTP's commands look alike (`RETR /pub/file`)."""
    _needs("tshark")
    ftp = b"CWD /pub\r\nRETR /pub/file.txt\r\n"   # a capture started mid-session
    http = f"GET /a?uid={TOKEN}1 HTTP/1.1\r\nHost: h.example\r\n\r\n".encode()
    report = analyse([write_pcap([("10.0.0.1", 40000, "10.0.0.2", 21, 1, ftp),
                             ("10.0.0.1", 40001, "10.0.0.2", 80, 1, http)], tmp_path / "ftp.pcap")])
    assert [r.method for r in report.requests] == ["GET"] and not report.captures[0].partial


def _ws_frame(payload: bytes, opcode: int = 1, fin: bool = True, key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big") if size < 65536 \
        else bytes([0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode]) + length + key + masked


def test_websocket_messages_a_client_sends_in_a_pcap_are_read(tmp_path):
    """A `ws://` connection in a pcap: after the upgrade request the client's frames are masked WebSocket
    messages (text, binary, fragmented, long); each is a request, as a HAR's `_webSocketMessages` sends are."""
    _needs("tshark")
    upgrade = ("GET /socket HTTP/1.1\r\nHost: rt.example.net\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    long_text = json.dumps({"pad": "x" * 300, "uid": f"{TOKEN}4"}).encode()
    frames = (_ws_frame(json.dumps({"uid": f"{TOKEN}1"}).encode()) + _ws_frame(b"", opcode=9)
              + _ws_frame(f"{TOKEN}2".encode(), opcode=2)
              + _ws_frame(f'{{"uid": "{TOKEN}'.encode(), fin=False) + _ws_frame(b'3"}', opcode=0)
              + _ws_frame(long_text))
    report = _one_stream(upgrade + frames, tmp_path / "ws.pcap", tokens=4)
    found = _found(report)
    assert {(f"{TOKEN}1", "body.json:uid"), (f"{TOKEN}2", "body"), (f"{TOKEN}3", "body.json:uid"),
            (f"{TOKEN}4", "body.json:uid")} <= found, found
    assert [r.method for r in report.requests] == ["GET", "WS", "WS", "WS", "WS"]
    assert not report.captures[0].partial, report.captures[0].reason


def test_compressed_websocket_messages_are_inflated(tmp_path):
    """permessage-deflate (RFC 7692; browsers and OkHttp offer it): a message's first frame has RSV1 set and its
    payload is raw deflate, the context carried from message to message."""
    _needs("tshark")
    import zlib
    upgrade = ("GET /socket HTTP/1.1\r\nHost: rt.example.net\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode()
    deflate = zlib.compressobj(wbits=-15)
    frames = b""
    for n in (1, 2):
        text = json.dumps({"uid": f"{TOKEN}{n}", "event": "open"}).encode()
        payload = (deflate.compress(text) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
        frame = _ws_frame(payload)
        frames += bytes([frame[0] | 0x40]) + frame[1:]
    report = _one_stream(upgrade + frames, tmp_path / "wsd.pcap", tokens=2)
    found = _found(report)
    assert {(f"{TOKEN}1", "body.json:uid"), (f"{TOKEN}2", "body.json:uid")} <= found, found


def test_a_request_without_a_host_is_placed_at_the_server_and_port_it_went_to(tmp_path):
    """No Host header (HTTP/1.0, or cut off by the capture): the request went to the packets' server address and
    TCP port, not to the scheme's default port."""
    _needs("tshark")
    data = f"GET /status?uid={TOKEN}1 HTTP/1.0\r\nUser-Agent: probe\r\n\r\n".encode()
    report = _one_stream(data, tmp_path / "nohost.pcap", port=8080)
    (request,) = report.requests
    assert (request.host, request.url) == ("10.0.0.2", f"http://10.0.0.2:8080/status?uid={TOKEN}1")


def test_a_grpc_web_text_body_is_decoded_to_its_messages():
    """gRPC-Web's text mode (`application/grpc-web-text`, wireshark's grpc_web capture) sends the frames in
    base64: the messages' fields are read below it (for the adapters' field paths), not only the base64 text."""
    import base64
    from audit.traffic.captures import Request
    from audit.traffic.decode import decode_request
    value = f"{TOKEN}1".encode()
    frame = _grpc_frame(b"\x0a" + bytes([len(value)]) + value)
    request = Request(None, "POST", "https", "api.example.net", 443, "/greet.Greeter/SayHello",
                      (("content-type", "application/grpc-web-text"),), base64.b64encode(frame), "c")
    segments = {(s.where, s.data) for s in decode_request(request).segments}
    assert ("body.base64.grpc:1", f"{TOKEN}1".encode()) in segments, segments
