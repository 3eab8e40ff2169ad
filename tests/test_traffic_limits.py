"""Traffic bounds hold by construction and never drop data silently: every limit that leaves something unread marks
the report `partial` and says which limit, where and how much (`limits: [{limit, bound, where, dropped, unit}]`).
Work is counted (bytes decompressed, memory traced, n against 4n), never timed."""
from __future__ import annotations

import base64
import gzip
import json
import shutil
import tracemalloc
from pathlib import Path

import brotli
import pytest
import zstandard

from audit.report import dumps_json
from audit.traffic import analyse
from audit.traffic import captures as captures_module
from audit.traffic import decode as decode_module
from audit.traffic.analyse import dumps
from audit.traffic.captures import Request, open_capture, read_capture
from audit.traffic.decode import MAX_INFLATE_BYTES, CaptureBudget, decode_request, inflate_bounded
from audit.traffic.jsonout import Rendered

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TRAFFIC = SHARED / "corpus" / "traffic"
needs_shared = pytest.mark.skipif(not TRAFFIC.is_dir(), reason="../shared corpus not present")
needs_tshark = pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
IDS = {"device_ids.advertising_id": AAID}


def _entry(url: str, body: str | None = None, encoding: str | None = None, headers=()) -> dict:
    request = {"method": "POST" if body is not None else "GET", "url": url,
               "headers": [{"name": k, "value": v} for k, v in headers]}
    if body is not None:
        request["postData"] = {"mimeType": "application/octet-stream", "text": body}
        if encoding:
            request["postData"]["encoding"] = encoding
    return {"startedDateTime": "2024-01-01T00:00:00Z", "request": request, "response": {"status": 200}}


def _har(path: Path, entries: list[dict], **log) -> Path:
    path.write_text(json.dumps({"log": {"version": "1.2", **log, "entries": entries}}))
    return path


def _limits(report) -> dict[str, dict]:
    data = report.to_json()
    return {hit["limit"]: hit for hit in data["limits"]}


def _found(report) -> set[str]:
    return {r for t in report.transmissions if t.data_type == "device_ids.advertising_id" for r in t.all_requests}


# -- the HAR scanner --------------------------------------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("window", [7, 64, 1000])
def test_har_scanner_reads_the_same_requests_whatever_its_window(monkeypatch, window):
    hars = sorted(TRAFFIC.rglob("*.har"))
    expected = {har: read_capture(har).requests for har in hars}
    monkeypatch.setattr(captures_module, "HAR_WINDOW", window)
    for har in hars:
        assert read_capture(har).requests == expected[har], har.name


def test_har_with_bom_unicode_and_metadata_after_the_entries(tmp_path):
    entries = [_entry(f"https://t.example/é?i={i}&adid={AAID}") for i in range(3)]
    path = tmp_path / "x.har"
    text = json.dumps({"log": {"entries": entries, "pages": [{"title": "☃" * 10}],
                               "_tweasel": {"apps": [{"id": "org.sample.app"}]}}}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = open_capture(path)
    assert result.app_package == "org.sample.app"  # known before the entries are read
    assert [r.target for r in result.stream()] == [f"/é?i={i}&adid={AAID}" for i in range(3)]
    report = analyse([path], IDS)
    assert len(_found(report)) == 3 and not report.partial


def test_har_reading_keeps_one_entry_in_memory_n_against_4n(tmp_path):
    """Peak traced memory while streaming a HAR does not grow with the number of entries."""
    body = json.dumps({"events": [{"n": i, "x": "y" * 40} for i in range(40)]})

    def peak(count: int) -> int:
        path = _har(tmp_path / f"{count}.har", [_entry(f"https://t.example/{i}", body) for i in range(count)])
        tracemalloc.start()
        seen = sum(1 for _ in open_capture(path).stream())
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert seen == count
        return high

    small, large = peak(500), peak(2000)
    assert large < 2 * small, (small, large)


def test_invalid_json_after_some_entries_keeps_them_and_says_where(tmp_path):
    good = json.dumps({"log": {"entries": [_entry(f"https://t.example/?adid={AAID}")] * 3}})
    path = tmp_path / "cut.har"
    path.write_text(good[:-3] + ', {"request": ')  # cut in the fourth entry
    report = analyse([path], IDS)
    (capture,) = report.captures
    assert capture.status == "ok" and capture.partial and "stopped after 3 requests" in capture.reason
    assert len(_found(report)) == 3 and report.to_json()["partial"] is True


# -- limits on what is read -------------------------------------------------------------------------------
def test_an_identifier_after_the_entry_limit_is_reported_as_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(captures_module, "MAX_REQUESTS_PER_CAPTURE", 5)
    entries = [_entry(f"https://t.example/{i}") for i in range(5)] + \
        [_entry(f"https://t.example/late?adid={AAID}")] * 3
    report = analyse([_har(tmp_path / "many.har", entries, _tweasel={"apps": [{"id": "a.b"}]})], IDS)
    assert not _found(report) and report.app_package == "a.b"  # still read past the limit
    hit = _limits(report)["requests per capture"]
    assert (hit["bound"], hit["dropped"], hit["unit"]) == (5, 3, "entries") and hit["where"].endswith("many.har")
    assert report.to_json()["partial"] is True and report.to_json()["captures"][0]["limits"][0] == hit


def test_an_identifier_beyond_the_body_limit_is_reported_as_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(captures_module, "MAX_BODY_BYTES", 1000)
    monkeypatch.setattr(decode_module, "MAX_BODY_BYTES", 1000)
    text = "x" * 1500 + AAID
    raw = base64.b64encode(b"y" * 1500 + AAID.encode()).decode()
    report = analyse([_har(tmp_path / "big.har", [_entry("https://t.example/a", text),
                                                  _entry("https://t.example/b", raw, "base64")])], IDS)
    assert not _found(report)
    hit = _limits(report)["body bytes"]
    assert hit["bound"] == 1000 and hit["dropped"] == (1500 + 36 - 1000) * 2 and "r1 body" in hit["where"]
    assert "and 1 more request" in hit["where"]


def test_every_decoding_layer_limit_is_counted(tmp_path):
    nested = AAID.encode()
    for _ in range(12):  # base64 of base64 of ...: past the layer cap
        nested = base64.b64encode(nested)
    report = analyse([_har(tmp_path / "deep.har", [_entry("https://t.example/", nested.decode())])], IDS)
    hit = _limits(report)["decoding layers"]
    assert hit["bound"] == decode_module.MAX_LAYERS and hit["dropped"] >= 1 and "r1 body" in hit["where"]
    (capture,) = report.to_json()["captures"]  # the capture was searched in part: it says so too (the audit reads it)
    assert capture["partial"] is True and capture["limits"] == report.to_json()["limits"]
    shallow = base64.b64encode(base64.b64encode(AAID.encode())).decode()
    report = analyse([_har(tmp_path / "ok.har", [_entry("https://t.example/", shallow)])], IDS)
    assert _found(report) == {"r1"} and not report.partial and report.to_json()["limits"] == []


def test_places_per_value_beyond_the_bound_are_counted(tmp_path):
    body = json.dumps({f"k{i}": AAID for i in range(250)})
    report = analyse([_har(tmp_path / "p.har", [_entry("https://t.example/", body)])], IDS)
    hit = _limits(report)["places per value"]
    assert (hit["bound"], hit["dropped"], hit["unit"]) == (200, 50, "places")


# -- decompression budgets --------------------------------------------------------------------------------
@pytest.mark.parametrize("method,compress", [
    ("gzip", gzip.compress), ("br", lambda d: brotli.compress(d, quality=1)),
    ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
])
def test_a_bomb_costs_its_budget_and_no_more(method, compress):
    bomb = compress(b"\x00" * (8 * 1024 * 1024))
    out, left = inflate_bounded(bomb, method, 64 * 1024)
    assert len(out) == 64 * 1024 and left > 0          # cut at the budget, and the cut is known
    out, left = inflate_bounded(bomb, method, 16 * 1024 * 1024)
    assert len(out) == 8 * 1024 * 1024 and left == 0   # within the budget: all of it


def test_a_cut_transport_decoding_still_searches_the_body_as_sent():
    """A brotli stream stores short literals as they are: the IMEI after 64 MiB of zeros is in the bytes sent,
    past the decompression budget; the cut is reported and the bytes as sent are searched too."""
    body = brotli.compress(b"\x00" * (64 * 1024 * 1024) + f"adid={AAID}".encode(), quality=5)
    request = Request(None, "POST", "https", "t.example", 443, "/", (("content-encoding", "br"),), body, "x")
    decoded = decode_request(request)
    assert "decompressed bytes per input" in decoded.limits
    assert [s.data for s in decoded.segments if s.where == "body.as-sent"] == [body]
    complete = Request(None, "POST", "https", "t.example", 443, "/", (("content-encoding", "br"),),
                       brotli.compress(b"small"), "x")
    assert "body.as-sent" not in {s.where for s in decode_request(complete).segments}


def test_double_gzip_requests_share_one_capture_budget():
    inner = gzip.compress(b"\x00" * (4 * MAX_INFLATE_BYTES))
    bomb = gzip.compress(inner)
    request = Request(None, "POST", "https", "t.example", 443, "/", (("content-encoding", "gzip"),), bomb, "x")
    budget = CaptureBudget(0)
    total = budget.left
    work = []
    for _ in range(40):
        before = budget.left
        decoded = decode_request(request, budget)
        work.append(before - budget.left)
        assert "decompressed bytes per input" in decoded.limits or "decompressed bytes per capture" in \
            decoded.limits or "decompressed bytes per request" in decoded.limits
    assert sum(work) <= total                     # never more than the capture's budget in all
    assert work[-1] == 0                          # and once spent, a bomb costs nothing more
    assert "decompressed bytes per capture" in decoded.limits


def test_compressed_identifier_past_the_capture_budget_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(decode_module, "CAPTURE_INFLATE_BASE", 1024)
    monkeypatch.setattr(decode_module, "CAPTURE_INFLATE_RATIO", 0)
    filler = base64.b64encode(gzip.compress(b"z" * 4096)).decode()
    late = base64.b64encode(gzip.compress(json.dumps({"adid": AAID}).encode())).decode()
    plain = json.dumps({"adid": AAID})
    entries = [_entry("https://t.example/1", filler, "base64", [("content-encoding", "gzip")]),
               _entry("https://t.example/2", late, "base64", [("content-encoding", "gzip")]),
               _entry("https://t.example/3", plain)]
    report = analyse([_har(tmp_path / "b.har", entries)], IDS)
    assert _found(report) == {"r3"}   # the plain one is still searched
    hit = _limits(report)["decompressed bytes per capture"]
    assert hit["unit"] == "compressed bytes" and hit["dropped"] > 0 and "r1" in hit["where"]


# -- pcaps ------------------------------------------------------------------------------------------------
@needs_shared
@needs_tshark
def test_pcap_streams_beyond_the_limit_are_counted(monkeypatch):
    monkeypatch.setattr(captures_module, "MAX_PCAP_STREAMS", 1)
    result = read_capture(TRAFFIC / "pcapdroid" / "metadata.pcap")
    (hit,) = [h for h in result.limits if h.limit == "TCP streams per capture"]
    assert hit.bound == 1 and hit.dropped >= 1 and hit.unit == "streams" and result.partial


@needs_shared
@needs_tshark
def test_a_pcap_whose_last_packet_is_cut_says_so(tmp_path):
    raw = (TRAFFIC / "pcapdroid" / "two_flows.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:-7])
    result = read_capture(cut)
    assert result.status == "ok" and result.partial
    assert [h.limit for h in result.limits] == ["pcap cut short"]
    assert not read_capture(TRAFFIC / "pcapdroid" / "two_flows.pcap").limits


# -- the report -------------------------------------------------------------------------------------------
@needs_shared
def test_report_text_is_the_standard_json_value():
    report = analyse(sorted(TRAFFIC.rglob("*.har")), IDS)
    data = report.to_json()
    from audit.redact import redact_report
    text = dumps(report)
    assert json.loads(text) == json.loads(dumps_json(redact_report(data, report.identifier_values, report.matcher)))
    assert text == dumps(report)   # deterministic
    assert data["partial"] is False and data["limits"] == []
    # one line per request: each line of the requests list is one whole request, in order
    lines = text.splitlines()
    start = lines.index('  "requests": [') + 1
    end = next(index for index in range(start, len(lines)) if lines[index].startswith("  ]"))
    shown = json.loads(text)["requests"]
    assert [json.loads(line.rstrip(",")) for line in lines[start:end]] == shown and len(shown) == len(data["requests"])


@pytest.mark.parametrize("value, expected", [
    ({}, {}), ([], []), ({"a": Rendered([], str)}, {"a": []}),
    ({"a": 1, "b": Rendered([], str), "c": Rendered([1, 2], lambda x: {"x": [x]})},
     {"a": 1, "b": [], "c": [{"x": [1]}, {"x": [2]}]}),
    ({"z": Rendered([{"k": {1, 2}}], lambda x: [sorted(x["k"])]), "a": [None, 1.5, "é"], "d": {"y": {"b": 1, "a": 2}}},
     {"z": [[[1, 2]]], "a": [None, 1.5, "é"], "d": {"y": {"a": 2, "b": 1}}}),
    ({"n": {"in": Rendered([3], lambda x: x + 1)}, "e": {}, "t": (1, "\u202e")}, {"n": {"in": [4]}, "e": {}, "t": [1, "\u202e"]}),
    ({1: "int key"}, {"1": "int key"}), ("x", "x"), ([[[]]], [[[]]])])
def test_streamed_json_pieces_are_the_json_value(value, expected):
    from audit.traffic.jsonout import iter_lines
    text = "".join(iter_lines(value))
    assert json.loads(text) == expected
    assert text == "".join(iter_lines(value))
    if isinstance(value, dict) and value and all(isinstance(key, str) for key in value):   # keys sorted, each top-level key on a line of its own
        keys = [line.split('"')[1] for line in text.splitlines()[1:-1] if line.startswith(("  \"", ",  \""))]
        assert keys == sorted(value)


def test_percent_decoding_fast_paths_equal_the_plain_ones():
    """Redaction reads %XX escapes on every URL: its C-speed paths (binascii, slices) give what the per-escape
    regex and the per-character loop give, over texts mixing escapes, broken escapes, `=`, line ends, non-ASCII."""
    import random
    from audit.redact import _ASCII_LOWER, _PERCENT, _percent_char, _percent_decoded, _percent_lowered

    def decoded_slowly(text):
        chars, spans, pos = [], [], 0
        for match in _PERCENT.finditer(text):
            for i in range(pos, match.start()):
                chars.append(text[i])
                spans.append((i, i + 1))
            chars.append(chr(int(match.group(0)[1:], 16)))
            spans.append((match.start(), match.end()))
            pos = match.end()
        for i in range(pos, len(text)):
            chars.append(text[i])
            spans.append((i, i + 1))
        return "".join(chars), spans

    pieces = ["%", "=", "a", "B", "3", "f", "%2", "%3D", "%41", "%c3", "%C3%A9", "_", "+", " ", "\t", "%%", "%zz",
              "é", "\n", "=41", "=\r", "%0a", "%0D%0A", "%20", "%3d%3D", "=\n"]
    rng = random.Random(12)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        lowered = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
        assert _percent_lowered(lowered) == _PERCENT.sub(_percent_char, lowered), text
        assert _percent_decoded(text) == decoded_slowly(text), text
