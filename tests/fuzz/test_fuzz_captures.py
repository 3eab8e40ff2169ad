"""Mutated HAR/JSON captures, mitmproxy flow files and identifier files through `appaudit traffic`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from conftest import FUZZ, assert_clean_outcome, run_cli
from mutate import byte_mutations, json_mutations

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "traffic" / "mitmproxy-formats"
IDENTIFIERS = {"device_ids.advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d",
               "device_ids.imei": "353627075111296", "location.precise": {"lat": 52.52, "lon": 13.405}}


@pytest.fixture(scope="module")
def identifiers_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ids") / "identifiers.json"
    path.write_text(json.dumps(IDENTIFIERS))
    return path


def _seed(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def _traffic(tmp_path_factory, identifiers_file, data: bytes, suffix: str):
    target = tmp_path_factory.mktemp("case") / f"capture{suffix}"
    target.write_bytes(data)
    outcome = run_cli(["traffic", str(target), "--identifiers", str(identifiers_file)])
    assert_clean_outcome(outcome)
    assert target.read_bytes() == data


@FUZZ
@given(data=st.data())
def test_har_structure_mutations(tmp_path_factory, identifiers_file, data):
    har = json.loads(_seed("har_files_chrome.har").read_text())
    mutated = data.draw(json_mutations(har))
    _traffic(tmp_path_factory, identifiers_file, json.dumps(mutated).encode(), ".har")


@FUZZ
@given(data=st.data())
def test_har_byte_mutations(tmp_path_factory, identifiers_file, data):
    raw = _seed("har_files_firefox.har").read_bytes()
    _traffic(tmp_path_factory, identifiers_file, data.draw(byte_mutations(raw)), ".har")


@FUZZ
@given(data=st.data(), name=st.sampled_from(["dumpfile-7.mitm", "dumpfile-19.mitm", "flows_successful_log.mitm"]))
def test_mitmproxy_flow_mutations(tmp_path_factory, identifiers_file, data, name):
    raw = _seed(name).read_bytes()
    _traffic(tmp_path_factory, identifiers_file, data.draw(byte_mutations(raw)), ".mitm")


@FUZZ
@given(doc=st.recursive(st.one_of(st.none(), st.text(max_size=30), st.integers(), st.floats(allow_nan=False)),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.sampled_from(
                                                    [*IDENTIFIERS, "contacts", "lat", "lon", "x"]), inner,
                                                    max_size=4)), max_leaves=12))
def test_identifier_file_shapes(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("case")
    ids = folder / "ids.json"
    ids.write_text(json.dumps(doc))
    outcome = run_cli(["traffic", str(_seed("har_files_chrome.har")), "--identifiers", str(ids)])
    assert_clean_outcome(outcome)


def test_deeply_nested_json_body_is_bounded(tmp_path, identifiers_file):
    body = "[" * 100_000 + "]" * 100_000
    har = {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [{
        "startedDateTime": "2024-01-01T00:00:00Z", "time": 1,
        "request": {"method": "POST", "url": "https://example.org/x", "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "application/json"}], "queryString": [],
                    "cookies": [], "headersSize": -1, "bodySize": len(body),
                    "postData": {"mimeType": "application/json", "text": body}},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                     "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                     "bodySize": 0}, "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}]}}
    capture = tmp_path / "deep.har"
    capture.write_text(json.dumps(har))
    assert_clean_outcome(run_cli(["traffic", str(capture), "--identifiers", str(identifiers_file)]))


def test_enormous_header_is_bounded(tmp_path, identifiers_file):
    har = json.loads(_seed("har_files_chrome.har").read_text())
    entry = har["log"]["entries"][0]
    entry["request"]["headers"].append({"name": "X-Big", "value": "A" * (8 << 20)})
    capture = tmp_path / "big.har"
    capture.write_text(json.dumps(har))
    assert_clean_outcome(run_cli(["traffic", str(capture), "--identifiers", str(identifiers_file)]))


@pytest.fixture(scope="module")
def flow_states() -> list[dict]:
    """The serialised state of every flow in the real flow files: mutating it (rather than the bytes) keeps
    the tnetstring framing valid, so the damage reaches mitmproxy's migrations and our request reader."""
    from mitmproxy import io as mio

    states = []
    for name in ("flows_successful_log.mitm", "dumpfile-7.mitm", "flows_websocket.mitm"):
        path = SHARED / name
        if path.exists():
            with open(path, "rb") as handle:
                states.extend(flow.get_state() for flow in mio.FlowReader(handle).stream())
    if not states:
        pytest.skip("no mitmproxy flow files in the shared corpus")
    return states


@FUZZ
@given(data=st.data())
def test_mitmproxy_flow_state_mutations(tmp_path_factory, identifiers_file, flow_states, data):
    from mitmproxy.io import tnetstring

    from mutate import tree_mutations

    picked = data.draw(st.lists(st.integers(0, len(flow_states) - 1), min_size=1, max_size=3))
    target = tmp_path_factory.mktemp("case") / "flows.mitm"
    with open(target, "wb") as handle:
        for index in picked:
            tnetstring.dump(data.draw(tree_mutations(flow_states[index])), handle)
    outcome = run_cli(["traffic", str(target), "--identifiers", str(identifiers_file)])
    assert_clean_outcome(outcome)


# -- traffic bounds: an identifier is found, or the report says which limit left it unread -------------------
_LAYERS = {
    "gzip": lambda b: __import__("gzip").compress(b),
    "zlib": lambda b: __import__("zlib").compress(b),
    "base64": lambda b: __import__("base64").b64encode(b),
    # binary goes into JSON as base64, as SDKs send it (JSON strings are text)
    "json": lambda b: json.dumps({"v": b.decode("ascii") if b.isascii()
                                  else __import__("base64").b64encode(b).decode()}).encode(),
    "zstd": lambda b: __import__("zstandard").ZstdCompressor().compress(b),
}


@FUZZ
@given(layers=st.lists(st.sampled_from(sorted(_LAYERS)), max_size=14),
       encoding=st.sampled_from([None, "gzip", "br"]), pad=st.integers(0, 3000))
def test_encoded_identifier_is_found_or_reported_unread(tmp_path_factory, layers, encoding, pad):
    import base64 as b64
    import gzip as gz

    import brotli

    from audit.traffic import analyse

    body = json.dumps({"pad": "p" * pad, "imei": IDENTIFIERS["device_ids.imei"]}).encode()
    for layer in layers:
        body = _LAYERS[layer](body)
    headers = []
    if encoding:
        body = gz.compress(body) if encoding == "gzip" else brotli.compress(body, quality=1)
        headers = [{"name": "Content-Encoding", "value": encoding}]
    entry = {"request": {"method": "POST", "url": "https://t.example/", "headers": headers,
                         "postData": {"mimeType": "application/octet-stream", "encoding": "base64",
                                      "text": b64.b64encode(body).decode()}}}
    har = tmp_path_factory.mktemp("layers") / "capture.har"
    har.write_text(json.dumps({"log": {"entries": [entry]}}))
    report = analyse([har], {"device_ids.imei": IDENTIFIERS["device_ids.imei"]})
    found = any(t.data_type == "device_ids.imei" for t in report.transmissions)
    data = report.to_json()
    assert found or (data["partial"] and data["limits"]), (layers, encoding, data["limits"])
    for hit in data["limits"]:
        assert set(hit) == {"limit", "bound", "where", "dropped", "unit"} and hit["dropped"] > 0
