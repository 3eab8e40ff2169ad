"""The decoder remembers values it found nothing below (audit/traffic/decode.py `_NOTHING_BELOW`,
`_LONG_NOTHING_BELOW`): a value met again is not decoded again, and remembering never changes what is decoded or
which limit is recorded."""
from __future__ import annotations

import base64

import pytest

from audit.traffic import decode
from audit.traffic.captures import Request
from audit.traffic.decode import MAX_LAYERS, CaptureBudget, Walker, decode_request

# A field list as Facebook's SDK sends it: long runs of the base64url alphabet that decode to nothing worth keeping.
FIELDS = ",".join(["supports_implicit_sdk_logging", "gdpv4_nux_content", "android_sdk_error_categories",
                   "app_events_session_timeout", "auto_event_setup_enabled", "restrictive_data_filter_params"] * 3)
BASE64_LIKE = ("a_" * 100).encode()      # base64url alphabet only (a layer could start here), decodes to garbage


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.setattr(decode, "_NOTHING_BELOW", {})
    monkeypatch.setattr(decode, "_LONG_NOTHING_BELOW", {})
    monkeypatch.setattr(decode, "_long_memo_bytes", 0)


def _request(target: str) -> Request:
    return Request(None, "GET", "https", "graph.example", 443, target, (("User-Agent", "sdk/1.0"),), b"", "test")


def test_a_long_value_with_nothing_below_is_decoded_once(monkeypatch):
    calls = []
    below = Walker._below

    def counting(self, where, data, layers, content_type):
        calls.append(where)
        return below(self, where, data, layers, content_type)

    monkeypatch.setattr(Walker, "_below", counting)
    assert len(FIELDS) > decode._LEAF_MEMO_BYTES
    request = _request(f"/v14.0/app?fields={FIELDS}&format=json")
    first = decode_request(request)
    assert calls.count("query:fields") == 1
    second = decode_request(request)
    assert calls.count("query:fields") == 1           # remembered: not decoded again
    assert second.segments == first.segments and second.limits == first.limits == {}
    assert ("query:fields", FIELDS.encode()) in second.segments


def test_a_remembered_value_still_records_the_layer_cap():
    assert decode._has_layer(BASE64_LIKE)
    first = Walker()
    first.value("x", BASE64_LIKE, 0)
    assert [s.where for s in first.segments] == ["x"] and not first.limits
    assert BASE64_LIKE in decode._LONG_NOTHING_BELOW
    at_cap = Walker()
    at_cap.value("x", BASE64_LIKE, MAX_LAYERS)
    assert at_cap.limits["decoding layers"][2] == "x"  # as without the memo


def test_a_value_whose_decompression_was_tried_is_not_remembered():
    garbage = b"\x1f\x8b" + bytes(range(200))             # a gzip magic, then no gzip stream
    first = Walker(CaptureBudget())
    first.value("x", garbage, 0)
    assert [s.where for s in first.segments] == ["x"] and not first.limits
    assert garbage not in decode._LONG_NOTHING_BELOW      # whether it inflates depends on the capture budget
    spent = CaptureBudget()
    spent.left = 0
    second = Walker(spent)
    second.value("x", garbage, 0)
    assert second.limits["decompressed bytes per capture"][2] == "x"


def test_a_long_document_of_true_false_leaves_is_read_every_time():
    # no segment below it, yet `is_rooted: false` is what a tracker adapter reads: it must not be "nothing below"
    document = b'{"is_rooted": false, "is_emulator": true' + b', "unset": null' * 20 + b"}"
    assert len(document) > decode._LEAF_MEMO_BYTES
    for _ in range(2):
        walker = Walker()
        walker.value("body.form:d", document, 1)
        assert [s.where for s in walker.segments] == ["body.form:d"]
        assert walker.booleans == [("body.form:d.json:is_rooted", b"false"), ("body.form:d.json:is_emulator", b"true")]
    assert document not in decode._LONG_NOTHING_BELOW


def test_a_short_document_of_true_false_leaves_is_read_every_time():
    # the short-value memo on the same terms as the long one: `{"is_rooted":false}` was read by the adapters in
    # the first request that sent it only (its booleans dropped from every later one)
    document = b'{"is_rooted":false}'
    assert len(document) <= decode._LEAF_MEMO_BYTES
    for _ in range(2):
        walker = Walker()
        walker.value("body.form:d", document, 1)
        assert walker.booleans == [("body.form:d.json:is_rooted", b"false")]
    assert document not in decode._NOTHING_BELOW


def test_a_short_value_whose_decompression_was_tried_is_not_remembered():
    garbage = b"\x1f\x8b" + bytes(range(40))               # a gzip magic, then no gzip stream
    assert len(garbage) <= decode._LEAF_MEMO_BYTES
    Walker(CaptureBudget()).value("x", garbage, 0)
    assert garbage not in decode._NOTHING_BELOW
    spent = CaptureBudget()
    spent.left = 0
    second = Walker(spent)
    second.value("x", garbage, 0)
    assert second.limits["decompressed bytes per capture"][2] == "x"


@pytest.mark.parametrize("route", ["value", "json", "form"])
def test_a_remembered_short_value_still_records_the_layer_cap(route):
    short = b"{not json at all"                            # nothing below it, yet a layer could start at `{`
    assert decode._has_layer(short) and len(short) <= decode._LEAF_MEMO_BYTES
    Walker().value("x", short, 0)
    assert short in decode._NOTHING_BELOW
    at_cap = Walker()
    if route == "value":
        at_cap.value("x", short, MAX_LAYERS)
    elif route == "json":                                  # a JSON string leaf, emitted inline by the walk
        at_cap._walk("x.json:", False, {"k": short.decode()}, 0, MAX_LAYERS - 1)
    else:                                                  # a form value, emitted inline by `values`
        at_cap.values([("x.form:k", short.decode())], MAX_LAYERS)
    assert "decoding layers" in at_cap.limits              # as without the memo


def test_the_long_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(decode, "_LONG_MEMO_TOTAL_BYTES", 3 * 300)
    for index in range(10):
        Walker().value("x", (f"{index:03d}" + "a_" * 150).encode()[:300], 0)
        assert decode._long_memo_bytes <= 3 * 300
        assert sum(map(len, decode._LONG_NOTHING_BELOW)) == decode._long_memo_bytes
    assert 1 <= len(decode._LONG_NOTHING_BELOW) <= 3


# -- the matcher's memo of short segments that held no hit (audit/traffic/match.py Matcher._clean) ---------------
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def _segments(*pairs) -> list:
    return [decode.Segment(where, data) for where, data in pairs]


def test_segments_without_a_hit_are_searched_once_and_hits_stay_the_same():
    from audit.traffic.match import Identifier, Matcher
    matcher = Matcher([Identifier("device_ids.advertising_id", AAID)])
    segments = _segments(("query:model", b"sdk_gphone64_x86_64"), ("query:id", AAID.encode()),
                         ("query:md5", b"x" + AAID.upper().encode()), ("query:event", b"fb_mobile_activate_app"))
    first, _ = matcher.find(segments)
    assert [(h.where, h.encoding) for h in first] == [("query:id", "plain"), ("query:md5", "plain")]
    assert b"sdk_gphone64_x86_64" in matcher._clean and b"fb_mobile_activate_app" in matcher._clean
    assert AAID.encode() not in matcher._clean and b"x" + AAID.upper().encode() not in matcher._clean
    again, _ = matcher.find(segments)
    assert again == first
    # a remembered value next to a new one: the new one's hits and places are what they would be alone
    more, _ = matcher.find(_segments(("query:model", b"sdk_gphone64_x86_64"),
                                     ("body.json:aaid", base64.b64encode(AAID.encode()))))
    assert [(h.where, h.encoding) for h in more] == [("body.json:aaid", "base64")]


def test_with_locations_every_segment_is_searched():
    from audit.traffic.match import Identifier, Location, Matcher
    matcher = Matcher([Identifier("device_ids.advertising_id", AAID)], [Location("location", 52.52, 13.405)])
    segments = _segments(("query:lat", b"52.5200"), ("query:model", b"sdk_gphone64_x86_64"),
                         ("query:lon", b"13.4050"))
    _, first = matcher.find(segments)
    _, again = matcher.find(segments)
    assert first == again and [h.where for h in first] == ["query:lat"]
    assert not matcher._clean    # numbers are paired by their distance in the text of all segments


def test_longer_segments_without_a_hit_are_remembered_within_a_byte_budget(monkeypatch):
    """Segments of 129 B - 4 KiB that held no hit (a field list, a user agent) are left out of the next searches,
    their bytes in all bounded; the hits stay those of searching everything."""
    from audit.traffic import match
    from audit.traffic.match import Identifier, Matcher
    real_starts = match._Starts
    fields = b"supports_implicit_sdk_logging%2Cgdpv4_nux_content%2C" * 4
    carrier = b"x" * 150 + base64.b64encode(AAID.encode())
    matcher = Matcher([Identifier("device_ids.advertising_id", AAID)])
    segments = _segments(("query:fields", fields), ("body.json:blob", carrier), ("query:model", b"sdk_gphone64"))
    first, _ = matcher.find(segments)
    assert [(h.where, h.encoding) for h in first] == [("body.json:blob", "base64")]
    assert fields in matcher._clean_long and carrier not in matcher._clean_long
    searched = []
    monkeypatch.setattr(match, "_Starts", lambda segs, datas: searched.extend(datas) or real_starts(segs, datas))
    assert matcher.find(segments)[0] == first
    assert fields not in searched and carrier in searched
    # many distinct ones: forgotten all at once when the budget is spent, never more than it held
    monkeypatch.setattr(match, "CLEAN_LONG_TOTAL", 10_000)
    for index in range(200):
        matcher.find(_segments(("query:fields", fields + str(index).encode())))
        assert matcher._clean_long_bytes == sum(map(len, matcher._clean_long)) <= 10_000
