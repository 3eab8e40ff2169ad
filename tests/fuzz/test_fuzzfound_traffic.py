"""Regression tests for what coverage-guided fuzzing (atheris, session tool, not a dependency) found in the traffic
stage's readers: captures.py, decode.py, the run-folder readers. One test per finding, named after it.

Each builds the smallest input that showed the bug in code and runs the real CLI: exit 0 with a report (partial and
saying why where something was left unread), or one `appaudit: error:` line and exit 2; never an `unexpected`
exception, a traceback or a hang.
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import h2.config
import h2.connection
import pytest
from h2.settings import SettingCodes

from conftest import IMEI, assert_clean_outcome, cli_in_child, har_text, run_cli
from pcap_builds import one_stream_pcap
from test_fuzz_runs import EVENTS, HAR, IDENTIFIERS, RUN, SHEET

from audit.traffic import captures, decode
from audit.traffic.captures import MAX_BODY_BYTES, Request
from audit.traffic.decode import MAX_MULTIPART_PARTS, decode_request

needs_tshark = pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")




def _traffic_json(capture: Path, ids: Path) -> dict:
    outcome = run_cli(["traffic", str(capture), "--identifiers", str(ids)])
    assert_clean_outcome(outcome, allowed=(0,))
    return json.loads(outcome.stdout)


def test_lone_surrogate_in_an_escaped_path_piece(tmp_path, ids):
    """A path piece of 12+ characters holding a `%` escape and a lone surrogate (JSON's `\\udcff` in a HAR URL;
    mitmproxy gives non-UTF-8 path bytes as such surrogates): `unquote_to_bytes(str)` raised UnicodeEncodeError
    and the whole capture was lost to `unexpected`."""
    capture = tmp_path / "surrogate.har"
    capture.write_text(har_text([{"request": {"method": "GET", "headers": [],
                                          "url": f"https://t.example/{IMEI}%41\udcff"}}]))
    report = _traffic_json(capture, ids)
    assert report["captures"][0]["requests"] == 1
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


@needs_tshark
def test_deflated_websocket_messages_inflate_within_a_budget_per_connection(tmp_path, ids):
    """permessage-deflate messages of a pcap's websocket were each inflated up to 32 MiB and a stream's messages
    are all held until it is read: 16 messages of 32 KB (0.5 MB) became 512 MiB of bodies (a 2 MB capture,
    2 GiB). Now one connection inflates to at most MAX_WEBSOCKET_INFLATED; the rest is kept as sent, and the
    report is partial and names the limit."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = (deflate.compress(b"\0" * MAX_BODY_BYTES) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
    message = bytes([0xC1, 0x80 | 127]) + struct.pack(">Q", len(bomb)) + b"\0\0\0\0" + bomb  # FIN|RSV1 text
    messages = 3   # 96 MiB inflated: past the 64 MiB a connection may inflate to
    upgrade = b"GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    capture = one_stream_pcap(upgrade + message * messages, tmp_path / "ws.pcap")
    report = _traffic_json(capture, ids)
    assert report["captures"][0]["requests"] == 1 + messages
    assert report["partial"]
    (hit,) = [h for h in report["limits"] if h["limit"] == "inflated bytes per websocket connection"]
    assert hit["bound"] < messages * MAX_BODY_BYTES and hit["dropped"] >= len(bomb) and hit["unit"] == "compressed bytes"


def _h2_client_bytes(requests: list[list[tuple[str, str]]]) -> bytes:
    """What an HTTP/2 client sends (prior knowledge, cleartext): the preface, then each request's HEADERS (no body)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    for headers in requests:
        client.send_headers(client.get_next_available_stream_id(), headers, end_stream=True)
    return client.data_to_send()


@needs_tshark
def test_an_http2_connection_of_more_than_100_requests_is_read_whole(tmp_path, ids):
    """The HTTP/2 replay (our side of the connection, fed the client's bytes) kept h2's default limit of 100
    concurrent streams and never answered a stream, so a connection's 101st request was a protocol error: the
    requests from there on (and those of the same 8 KiB read before it) were lost and the capture marked cut
    short. OkHttp and gRPC keep one connection for hundreds of requests."""
    count = 150
    data = _h2_client_bytes([[(":method", "GET"), (":scheme", "http"), (":authority", "api.example"),
                              (":path", f"/r{n}" + (f"?imei={IMEI}" if n == count - 1 else ""))]
                             for n in range(count)])
    report = _traffic_json(one_stream_pcap(data, tmp_path / "h2.pcap"), ids)
    assert report["captures"][0]["requests"] == count
    assert not report["partial"], report["captures"][0]
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


@needs_tshark
def test_hpack_amplified_headers_are_bounded_per_stream(tmp_path, ids, monkeypatch):
    """HPACK sends a header its table holds as one byte: a 30-byte HEADERS frame naming a 4 KB table entry 15
    times is 60 KB of header text, so 115 KB of client bytes held 228 MiB of headers (and HTTP/2 had no bound on
    requests per stream, as HTTP/1 has). Now the header text of one stream is bounded; the rest of the stream is
    counted, and the report is partial and names the limit. (The bound is lowered here so the case stays small.)"""
    monkeypatch.setattr(captures, "MAX_HEADER_BYTES_PER_STREAM", 1 << 20, raising=False)
    count = 40     # 40 x 60 KB of header text: past the (lowered) bound of 1 MiB
    data = _h2_client_bytes([[(":method", "GET"), (":scheme", "http"), (":authority", "api.example"),
                              (":path", "/")] + [("x-pad", "A" * 4000)] * 15] * count)
    assert len(data) < count * 100 + 5000   # HPACK: every request after the first is a few bytes
    report = _traffic_json(one_stream_pcap(data, tmp_path / "hpack.pcap"), ids)
    assert report["partial"]
    (hit,) = [h for h in report["limits"] if h["limit"] == "header bytes per TCP stream"]
    assert hit["bound"] == 1 << 20 and hit["unit"] == "bytes" and hit["dropped"] > 0
    assert report["captures"][0]["requests"] < count


def test_an_overlong_event_line_is_skipped_unparsed(tmp_path, monkeypatch, clean_apk):
    """frida-events.jsonl was parsed line by line however long a line was, and parsed JSON costs up to 25x its
    text: one 64 MB line of `[{},{},...]` held 1.7 GB in `appaudit traffic RUN` (and in `audit --capture RUN`).
    No agent event is longer than KBs: a line past MAX_EVENT_LINE_BYTES is skipped as garbage, never parsed (the
    events around it are read). Counted here: the longest text any json.loads call was given."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(RUN))
    (run / "flows.har").write_text(json.dumps(HAR))
    (run / "identifiers.json").write_text(json.dumps(IDENTIFIERS))
    overlong = "[" + "{}," * ((4 << 20) // 3) + "{}]"   # 4 MiB
    lines = [json.dumps(e) for e in EVENTS]
    (run / "frida-events.jsonl").write_text("\n".join(lines[:2] + [overlong] + lines[2:]) + "\n")

    longest = [0]
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        longest[0] = max(longest[0], len(text))
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    outcome = run_cli(["traffic", str(run)])
    assert_clean_outcome(outcome, allowed=(0,))
    assert longest[0] < len(overlong)
    report = real_loads(outcome.stdout)
    assert report["captures"][0]["requests"] == 1

    out = tmp_path / "audit.json"
    outcome = run_cli(["audit", str(clean_apk), "--datasheet", str(SHEET), "--capture", str(run), "-o", str(out)])
    assert_clean_outcome(outcome, allowed=(0,))
    assert longest[0] < len(overlong)
    assert "device_ids.android_id" in out.read_text()   # the hooked calls around the skipped line are read


def test_a_fifo_run_json_is_refused_not_waited_on(tmp_path, clean_apk):
    """`audit --capture RUN` read run.json with read_text(), unchecked: a run folder whose run.json is a FIFO
    (its frida-events.jsonl makes it a run folder) blocked for ever, a link to /dev/zero read without end. Now
    run.json is read as every data file is: a regular file of at most 16 MiB, else one error line. Run in a
    child process: a regression fails after the timeout instead of stalling the suite."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "flows.har").write_text(json.dumps(HAR))
    (run / "frida-events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    os.mkfifo(run / "run.json")
    done = cli_in_child(["audit", str(clean_apk), "--datasheet", str(SHEET), "--capture", str(run), "-o",
                         str(tmp_path / "audit.json")])
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("appaudit: error:") and "unexpected" not in lines[0], done.stderr


def test_a_json_body_of_too_many_values_is_searched_as_text(tmp_path, ids, monkeypatch):
    """A JSON body was parsed into objects however many values it held, and parsed JSON costs up to 25x its
    text: 16 MiB of `[{},{},...]` from a 22 KB HAR (gzip) held 870 MB for 15 s; a 32 MiB body, 1.7 GB. Now a
    text of more than MAX_JSON_VALUES values is searched as text only (the IMEI at its end is still found) and
    the report is partial and names the limit. (The bound is lowered here so the case stays small.)"""
    monkeypatch.setattr(decode, "MAX_JSON_VALUES", 10_000, raising=False)
    body = ("[" + "{}," * 50_000 + json.dumps({"imei": IMEI}) + "]").encode()
    capture = tmp_path / "values.har"
    capture.write_text(har_text([{"request": {
        "method": "POST", "url": "https://t.example/batch",
        "headers": [{"name": "Content-Type", "value": "application/json"}, {"name": "Content-Encoding", "value": "gzip"}],
        "postData": {"mimeType": "application/json", "encoding": "base64",
                     "text": base64.b64encode(gzip.compress(body)).decode()}}}]))
    report = _traffic_json(capture, ids)
    assert report["partial"]
    (hit,) = [h for h in report["limits"] if h["limit"] == "JSON values per text"]
    assert hit["bound"] == 10_000 and hit["unit"] == "values" and hit["dropped"] > 50_000
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


def test_a_har_entry_of_too_many_numbers_stops_the_reader(tmp_path, ids, monkeypatch):
    """The HAR reader bounded the objects and arrays of one entry, not its numbers: `[0.5,0.5,...]` costs 8x its
    text once parsed (a 64 MiB HAR held 770 MB for 32 s; the 512 MiB a HAR may have, ~6 GB). Now an entry past
    MAX_ENTRY_VALUES values (commas outside strings) stops the reader there: the entries before it are kept and
    the capture is partial, saying why. (The bound is lowered here; an entry is checked once it passes 8 MiB.)"""
    monkeypatch.setattr(captures, "MAX_ENTRY_VALUES", 100_000, raising=False)
    first = {"request": {"method": "GET", "url": f"https://t.example/a?imei={IMEI}", "headers": []}}
    numbers = "[" + "0.5," * (20 << 18) + "0.5]"    # 20 MiB, 5.2 M values
    text = har_text([first, {"request": {"method": "GET", "url": "https://t.example/b", "headers": []}, "_x": "N"}])
    capture = tmp_path / "numbers.har"
    capture.write_text(text.replace('"N"', numbers))
    report = _traffic_json(capture, ids)
    assert report["captures"][0]["requests"] == 1 and report["partial"]
    assert "values" in report["captures"][0]["reason"]
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


@needs_tshark
def test_an_absolute_form_target_with_an_unbalanced_ipv6_bracket(tmp_path, ids):
    """A plain-HTTP request to a proxy, `GET http://[::1/x HTTP/1.1`: urlsplit raises ValueError (Invalid IPv6 URL)
    and the whole pcap ended as `unexpected`. The request was sent: it is read (split at the first slash), and so
    is the next one on the stream."""
    data = (f"GET http://[::1/x?imei={IMEI} HTTP/1.1\r\nHost: h.example\r\n\r\n"
            f"GET /ok?imei={IMEI} HTTP/1.1\r\nHost: h.example\r\n\r\n").encode()
    report = _traffic_json(one_stream_pcap(data, tmp_path / "ipv6.pcap"), ids)
    assert report["captures"][0]["requests"] == 2
    assert {r for t in report["transmissions"] if t["data_type"] == "device_ids.imei" for r in t["requests"]} \
        == {"r1", "r2"}


@needs_tshark
def test_a_content_length_of_non_ascii_digits(tmp_path, ids):
    """`Content-Length: ²` (the header's bytes read as UTF-8): str.isdigit() accepts it, int() raises ValueError,
    and the whole pcap ended as `unexpected`. Such a length is no length: the request is read without a body."""
    data = f"POST /a?imei={IMEI} HTTP/1.1\r\nHost: h.example\r\nContent-Length: \u00b2\r\n\r\nab".encode()
    report = _traffic_json(one_stream_pcap(data, tmp_path / "length.pcap"), ids)
    assert report["captures"][0]["requests"] == 1
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


@needs_tshark
def test_a_negative_chunk_size_does_not_loop(tmp_path, ids):
    """A chunked body whose size line is `-6`: int(b"-6", 16) is -6, and stepping back 6 bytes after `-6\\r\\n`
    led to the same line again: an endless loop that grew a list for ever (hang, unbounded memory). A size line
    of anything but hex digits ends the body (cut short)."""
    data = (f"POST /a?imei={IMEI} HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n\r\n"
            "-6\r\nabcdef\r\n0\r\n\r\n").encode()
    capture = one_stream_pcap(data, tmp_path / "chunks.pcap")
    done = cli_in_child(["traffic", str(capture), "--identifiers", str(ids)])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["captures"][0]["requests"] == 1 and report["partial"]   # the body is cut short, and says so
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


def test_a_long_dotted_stack_line_is_read_in_linear_time(tmp_path, ids):
    """A stack line that is one long dotted run without `(` (`a.a.a...!`, as a HAR's `_stacktrace`, a flow's
    metadata or a Frida event carries it): the frame regex's search restarted inside the run at every position,
    O(n^2): 40 KB took 28 s, 200 KB ~12 min. The frame names come from a linear scan now (same names)."""
    capture = tmp_path / "stack.har"
    capture.write_text(har_text([{"request": {"method": "GET", "url": f"https://t.example/a?imei={IMEI}", "headers": []},
                              "_stacktrace": "a." * 100_000 + "!\nat com.example.Tracker.send(Tracker.java:1)"}]))
    done = cli_in_child(["traffic", str(capture), "--identifiers", str(ids)])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])


@needs_tshark
def test_http2_frames_larger_than_the_defaults_are_read(tmp_path, ids):
    """A client whose server announced SETTINGS_MAX_FRAME_SIZE 1 MiB and a 16 MiB window sends its body in 1 MiB
    DATA frames (RFC 9113 6.5.2; OkHttp follows its server's settings). The replay kept h2's defaults (16 KiB frames,
    64 KiB window) and refused the frame as a protocol error: the body and the rest of the connection were lost."""
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.update_settings({SettingCodes.MAX_FRAME_SIZE: 1 << 20, SettingCodes.INITIAL_WINDOW_SIZE: 16 << 20})
    server.increment_flow_control_window(16 << 20)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.receive_data(server.data_to_send())
    head = [(":method", "POST"), (":scheme", "http"), (":authority", "api.example"), (":path", "/upload")]
    client.send_headers(1, head)
    client.send_data(1, json.dumps({"pad": "p" * 200_000, "imei": IMEI}).encode(), end_stream=True)
    client.send_headers(3, head[:3] + [(":path", "/next")], end_stream=True)
    report = _traffic_json(one_stream_pcap(client.data_to_send(), tmp_path / "frames.pcap"), ids)
    assert report["captures"][0]["requests"] == 2 and not report["partial"], report["captures"][0]
    assert any(t["data_type"] == "device_ids.imei" and t["where"] == "body.json:imei" for t in report["transmissions"])


def test_a_multipart_body_is_split_no_further_than_the_parts_read():
    """A multipart body of 6.7 M two-byte parts (a 32 MiB body) was split whole before the first 1 000 parts were
    read: +440 MiB of pieces (14x the body). Now it is split no further than MAX_MULTIPART_PARTS; the parts past it
    are still counted. Counted here: the pieces the split made (a bytes subclass that records them)."""
    pieces = []

    class CountingBody(bytes):
        def split(self, *args, **kwargs):
            out = super().split(*args, **kwargs)
            pieces.append(len(out))
            return out

    parts = 20 * MAX_MULTIPART_PARTS
    body = CountingBody(b"--Xab" * parts)
    request = Request(time=None, method="POST", scheme="https", host="t.example", port=443, target="/", capture="c",
                      headers=(("Content-Type", "multipart/form-data; boundary=X"),), body=body)
    decoded = decode_request(request)
    assert pieces and max(pieces) <= MAX_MULTIPART_PARTS + 2
    assert decoded.limits["multipart parts"][3] == parts - MAX_MULTIPART_PARTS
