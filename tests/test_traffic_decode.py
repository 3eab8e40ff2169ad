"""Decoding layers, encodings and bounds, on real tracker bodies (../shared) and on hostile input."""
from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from audit.model import where_text
from audit.traffic.analyse import analyse
from audit.traffic.captures import Request
from audit.traffic.decode import MAX_INFLATE_BYTES, inflate, parse_protobuf, request_segments
from audit.traffic.match import Identifier, Location, Matcher, base64_cores

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IOS = SHARED / "corpus" / "traffic" / "ios-tracker-requests"
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def _request(body: bytes = b"", target: str = "/", headers=()) -> Request:
    return Request(None, "POST", "https", "t.example", 443, target, tuple(headers), body, "test")


def _find(request: Request, identifiers, locations=()):
    hits, loc = Matcher(identifiers, locations).find(request_segments(request)[0])
    return {(h.identifier.data_type, h.encoding, h.where) for h in hits}, loc


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
    ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
])
def test_content_encodings(encoding, compress):
    body = compress(json.dumps({"a": {"b": [AAID]}}).encode())
    found, _ = _find(_request(body, headers=[("content-encoding", encoding), ("content-type", "application/json")]),
                     [Identifier("device_ids.advertising_id", AAID)])
    assert ("device_ids.advertising_id", "plain", "body.json:a.b[0]") in found


def test_base64_cores_cover_every_alignment():
    value = AAID.encode()
    for prefix in (b"", b"x", b"xy", b"xyz"):
        for suffix in (b"", b"!", b"!!"):
            encoded = base64.b64encode(prefix + value + suffix).decode()
            assert any(core in encoded for core in base64_cores(value)), (prefix, suffix)


def test_protobuf_paths_and_rejects_garbage():
    message = bytes([0x0A, 0x05]) + b"hello" + bytes([0x12, 0x04, 0x18, 0x96, 0x01, 0x20])[:0] \
        + bytes([0x12, 0x03, 0x18, 0x96, 0x01])
    fields = parse_protobuf(message)
    assert ("1", b"hello") in fields and ("2.3", "150") in fields
    assert parse_protobuf(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff") is None
    assert parse_protobuf(b"\x0a\x10short") is None


def test_bounds_against_hostile_input():
    bomb = gzip.compress(b"\x00" * (MAX_INFLATE_BYTES * 2))
    assert inflate(bomb, "gzip") is None
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    segments, _ = request_segments(_request(deep, headers=[("content-type", "application/json")]))
    assert [s.where for s in segments] == ["path", "header:content-type", "body"]  # too deep for JSON: kept raw, searched raw
    nested = base64.b64encode(AAID.encode())
    for _ in range(20):  # base64 of base64 of ... : the layer bound stops it, the outer layers still match
        nested = base64.b64encode(nested)
    segments, _ = request_segments(_request(nested))
    assert len(segments) <= 10
    many = ("&".join(f"k{i}={i}" for i in range(100_000))).encode()
    segments, exhausted = request_segments(_request(many))
    assert len(segments) <= 20_000 and exhausted  # bounded by counting, never by wall time (tests_traffic_limits)


def test_location_precision_decides_the_data_type():
    loc = [Location("location.precise", 52.5200, 13.4050)]
    _, precise = _find(_request(b'{"lat": 52.52003, "lng": 13.40498}'), [], loc)
    assert [(h.data_type, h.where) for h in precise] == [("location.precise", "body.json:lat")]
    _, coarse = _find(_request(b"", "/geo?la=52.5&lo=13.4"), [], loc)
    assert [h.data_type for h in coarse] == ["location.approximate"]
    _, none = _find(_request(b'{"version": "13.4.1", "lat": 48.1}'), [], loc)
    assert none == []


@pytest.mark.skipif(not IOS.is_dir(), reason="../shared corpus not present")
def test_real_ios_tracker_bodies(tmp_path):
    entries = []
    for name, how in [("24057-newsbreak-location.txt", "query"), ("40112-pons-clipboard.txt", "query"),
                      ("20763-meitu-wifi.json", "json"), ("43107-poparazzi-contacts.json", "json"),
                      ("23925-pacer-location.txt", "form"), ("11476-hillclimbracing-device-params.json", "json")]:
        text = (IOS / name).read_text()
        if how == "query":
            entries.append({"request": {"method": "GET", "url": "https://api.particlenews.com" + text.strip(),
                                        "headers": []}, "startedDateTime": "2021-06-20T17:34:30Z"})
        else:
            ctype = "application/json" if how == "json" else "application/x-www-form-urlencoded"
            entries.append({"request": {"method": "POST", "url": f"https://tracker.example/{name}",
                                        "headers": [{"name": "content-type", "value": ctype}],
                                        "postData": {"mimeType": ctype, "text": text}},
                            "startedDateTime": "2021-06-20T17:34:30Z"})
    har = tmp_path / "ios.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    ids = {"location.precise": {"lat": 52.2352, "lon": 10.5642}, "contacts": ["JGKfozntbF TBFFZbBYea"],
           "personal_info.phone_number": "+4915557543434", "device_ids.mac_address": "3C:A6:2F:BC:5E:65",
           "device_ids.device_name": "R2Gl5OLv20", "clipboard": "LDDsvPqQdT",
           "device_ids.android_id": "0EC765F5-5CCE-44D2-8CF5-B3458F258E11"}
    report = analyse([har], ids)
    found = {(t.data_type, where_text(t.where)) for t in report.transmissions}
    assert ("location.precise", "query:latitude") in found                        # newsbreak
    assert ("device_ids.android_id", "query:deviceID") in found
    assert ("clipboard", "query:q") in found                                      # pons autocomplete
    assert ("device_ids.mac_address", "body.json:carrior") in found               # meitu: BSSID in "carrior"
    assert ("contacts", "body.json:data[0].attributes.full_name") in found       # poparazzi
    assert ("personal_info.phone_number", "body.json:data[0].attributes.phone_numbers[0]") in found
    assert ("location.precise", "body.form:system_location.json:coordinate.latitude") in found  # pacer
    assert ("device_ids.device_name", "body.json:device.device_name") in found   # hill climb racing
    # and nothing was invented: every transmission is one of the values given
    assert {t.data_type for t in report.transmissions} <= set(ids) | {"location.approximate"}
    hidden = json.dumps(report.to_json(reveal=False))
    assert "R2Gl5OLv20" not in hidden and "0EC765F5-5CCE-44D2-8CF5-B3458F258E11" not in hidden
    assert "52.23529241882057" not in hidden


from hypothesis import given, settings, strategies as st  # noqa: E402

_ID_TEXT = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)


@settings(max_examples=150, deadline=None)
@given(value=_ID_TEXT, before=st.binary(max_size=7), after=st.binary(max_size=7),
       encoding=st.sampled_from(["plain", "hex", "md5", "sha1", "sha256", "base64", "base64url"]))
def test_a_value_is_found_whatever_surrounds_it(value, before, after, encoding):
    import hashlib
    raw = value.encode()
    if encoding in ("base64", "base64url"):
        blob = base64.b64encode(before + raw + after)
        if encoding == "base64url":
            blob = blob.translate(bytes.maketrans(b"+/", b"-_"))
        body = b'{"x": "' + blob + b'"}'
    else:
        text = {"plain": value, "hex": raw.hex(), "md5": hashlib.md5(raw).hexdigest(),
                "sha1": hashlib.sha1(raw).hexdigest(), "sha256": hashlib.sha256(raw).hexdigest()}[encoding]
        body = before.hex().encode() + b" " + text.encode() + b" " + after.hex().encode()
    hits, _ = Matcher([Identifier("device_ids.serial", value)]).find(
        request_segments(_request(body, headers=[("content-type", "application/octet-stream")]))[0])
    assert hits, (encoding, body[:200])
