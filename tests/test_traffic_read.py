"""Reading a HAR and the per-request bookkeeping: the fast paths give what the general code gives."""
from __future__ import annotations

import importlib
from urllib.parse import parse_qsl, urlsplit

import pytest

from audit.traffic.captures import Request, _har_request, _split_url

analyse_module = importlib.import_module("audit.traffic.analyse")

URLS = [
    "https://graph.facebook.com/v14.0/app?access_token=1%7Cx&fields=a,b&format=json",
    "http://example.com", "http://example.com/", "https://example.com?q=1", "https://example.com?q=1/2?3",
    "https://example.com/a?", "https://user:pw@example.com:8443/p;x?y=1", "https://EXAMPLE.com:443/",
    "https://example.com/p#frag?x", "https://[::1]:8080/p", "https://ex\u00e4mple.com/p",
    "https://example.com/\u00e4?\u00f6",
    "https://example.com/a\tb", "https://exa\nmple.com/a", " https://example.com/", "HTTPS://example.com/x",
    "wss://example.com/socket", "http:/example.com/a", "http://", "https:///path", "example.com/a", "/relative?x=1",
    "", "https://example.com:/p", "https://[::1/p", "http://ex]ample.com/",
]


@pytest.mark.parametrize("url", URLS)
def test_split_url_is_urlsplit(url):
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            _split_url(url)
        return
    assert _split_url(url) == (parts.scheme, parts.netloc, parts.path, parts.query)


def test_a_har_request_without_a_string_url_is_read_as_urlsplit_reads_it():
    entry = {"request": {"url": None, "method": "GET", "headers": [{"name": "Host", "value": "h.example"}]}}
    request = _har_request(entry, "c.har")
    assert (request.host, request.target, request.scheme) == ("h.example", "/", "http")


def test_request_is_a_frozen_value():
    one = Request(1.0, "GET", "https", "h", 443, "/", (), b"", "c")
    assert one == Request(time=1.0, method="GET", scheme="https", host="h", port=443, target="/", headers=(),
                          body=b"", capture="c") and hash(one) == hash(Request(1.0, "GET", "https", "h", 443, "/",
                                                                                     (), b"", "c"))
    with pytest.raises(AttributeError):
        one.host = "x"
    assert one.stack == () and one.note is None and one.body_dropped == 0 and one.url == "https://h/"


@pytest.mark.parametrize("name", ["plain", "a+b", "a%20b", "%E2%82%AC", "a%2Bb+c", "%zz", "x%"])
def test_url_secrets_names_a_query_value_as_parse_qsl_does(name):
    decoded = parse_qsl(f"{name}=SECRETVALUE", keep_blank_values=True)[0][0]
    request = Request(None, "GET", "https", "h", 443, f"/p?other=1&{name}=SECRETVALUE", (), b"", "c")
    hit = analyse_module.Hit(analyse_module.Identifier("device_ids.advertising_id", "zz"), "plain",
                             f"query:{decoded}", "zz")
    assert analyse_module._url_secrets(request, [hit], [], [], frozenset()) == ("SECRETVALUE", "zz")


def _reference_with_fields(sent, fields, reasonings):
    """The straightforward merge (every field's place looked up): what _with_fields must give."""
    by_place = {(f.part, f.keys): f for f in fields}
    claimed, out = set(), []
    for data_type, encoding, where, value in sent:
        part, _, keys = analyse_module.split_where(where)
        hit = by_place.get((part, keys))
        if hit is not None:
            claimed.add((part, keys))
            reasonings[(hit.adapter, hit.field)] = hit.reasoning
            out.append((data_type, encoding, where, value, True, hit.field, hit.adapter))
        else:
            out.append((data_type, encoding, where, value, True, "", ""))
    for f in fields:
        if (f.part, f.keys) not in claimed:
            reasonings[(f.adapter, f.field)] = f.reasoning
            out.append((f.data_type, analyse_module._layer_encoding(f.where), f.where, f.value, False, f.field,
                        f.adapter))
    return out


def _field(where, data_type="device.model", value="v", field="f", adapter="t/e", reasoning="why"):
    part, _, keys = analyse_module.split_where(where)
    return analyse_module.FieldHit(data_type, where, part, keys, value, field, adapter, reasoning)


@pytest.mark.parametrize("sent_places,field_places", [
    ([], ["body.json:a", "query:b"]),
    (["query:id"], []),
    (["query:id"], ["query:id", "query:other"]),
    (["body.json:device.adid", "query:x.base64"], ["body.json:device.adid", "query:x", "body.json:device.model"]),
    (["body.form:e.json:[0].adid"], ["body.form:e.json:[0].adid", "body.form:e.json:[1].adid"]),
    (["query:id"], ["query:id", "query:id"]),          # two fields at one place: the last one claims it
    (["header:x-id", "header:x-id"], ["header:x-id"]),  # one field, two known values there
    (["cookie:a"], ["header:a", "cookie:b"]),           # same keys, another part: not claimed
])
def test_with_fields_merges_as_the_reference_does(sent_places, field_places):
    sent = [("device_ids.advertising_id", "plain", where, f"value{i}") for i, where in enumerate(sent_places)]
    fields = [_field(where, field=f"f{i}", reasoning=f"why{i}") for i, where in enumerate(field_places)]
    want_reasonings = {}
    want = _reference_with_fields(sent, fields, want_reasonings)
    got = analyse_module._with_fields(sent, fields)
    # the encoding of a field read without a known value is left to _Found (its place's layers say it)
    assert [(d, analyse_module._layer_encoding(w) if e is None else e, w, v, k, f, a)
            for d, e, w, v, k, f, a, _ in got] == want
    assert all(e is None for _, e, _, _, known, _, _, _ in got if not known)
    assert {(a, f): why for *_, f, a, why in got if a} == want_reasonings


def test_found_lists_transmissions_as_one_flat_table_would():
    """_Found keeps a table per endpoint: the transmissions still come by first request, then data type, place
    and encoding, ties in the order found."""
    found = analyse_module._Found()
    common_a = ("a.example", "https", "GET", "/a", "unknown:a.example", "third", None, "c.har")
    common_b = ("b.example", "https", "POST", "/b", "unknown:b.example", "third", None, "c.har")
    item = lambda data_type, where, value, field="": (data_type, "plain", where, value, not field, field,  # noqa
                                                      "t/e" if field else "", "why" if field else "")
    found.add_request(common_a, [item("x.t", "query:z", "1"), item("x.t", "query:z", "1", "f1"),
                                 item("a.t", "query:y", "2")], 1, ())
    found.add_request(common_b, [item("a.t", "query:y", "2")], 2, ())
    found.add_request(common_a, [item("a.t", "query:y", "2"), item("a.t", "query:a", "3")], 3, ())
    found.add_request(common_a, [item("a.t", "query:y", "2"), item("a.t", "query:y", "2")], 4, ())
    transmissions, paths = found.transmissions()
    assert [(t.request, t.data_type, t.where, t.host, t.field, t.all_requests) for t in transmissions] == [
        ("r1", "a.t", ("query", "y"), "a.example", "", ("r1", "r3", "r4")),
        ("r1", "x.t", ("query", "z"), "a.example", "", ("r1",)),
        ("r1", "x.t", ("query", "z"), "a.example", "f1", ("r1",)),
        ("r2", "a.t", ("query", "y"), "b.example", "", ("r2",)),
        ("r3", "a.t", ("query", "a"), "a.example", "", ("r3",)),
    ]
    assert [t.count for t in transmissions] == [3, 1, 1, 1, 1] and paths == ("/a", "/a", "/a", "/b", "/a")
    assert found.reasonings == {("t/e", "f1"): "why"}


def test_found_names_the_encoding_of_a_field_read_without_a_known_value():
    found = analyse_module._Found()
    common = ("a.example", "https", "GET", "/a", "unknown:a.example", "third", None, "c.har")
    found.add_request(common, [("device.model", None, "body.form:d.base64.json:m", "Pixel", False, "m", "t/e", "w"),
                               ("device.model", None, "body.json:m", "Pixel", False, "m", "t/e", "w")], 1, ())
    assert [(t.encoding, t.where) for t in found.transmissions()[0]] == [
        ("base64", ("body.form", "d.base64.json", "m")), ("plain", ("body.json", "m"))]


def test_found_bounds_the_transmissions_kept(monkeypatch):
    monkeypatch.setattr(analyse_module, "MAX_TRANSMISSIONS", 2)
    found = analyse_module._Found()
    common = ("a.example", "https", "GET", "/a", "unknown:a.example", "third", None, "c.har")
    found.add_request(common, [("t", "plain", f"query:{n}", "v", True, "", "", "") for n in range(5)], 1, ())
    found.add_request(common, [("t", "plain", "query:0", "v", True, "", "", "")], 2, ())
    assert found.dropped == 3 and [t.count for t in found.transmissions()[0]] == [2, 1]


def _reference_reduce_hits(hits):
    """The straightforward reduction (every prefix of every place listed): what _reduce_hits must give."""
    by_value = {}
    for hit in hits:
        places = by_value.setdefault(hit.identifier, {})
        kept = places.get(hit.where)
        if kept is None or (kept.encoding == "plain" and hit.encoding != "plain"):
            places[hit.where] = hit
    out, capped = [], 0
    for ident, places in by_value.items():
        ordered = sorted(places)
        keep = []
        for where in ordered:
            if any(other != where and other.startswith(where) and other[len(where)] in ".:" for other in ordered):
                continue
            hit = places[where]
            encoding = hit.encoding
            if encoding == "plain":
                encoding = analyse_module._layer_encoding(where)
            if encoding == "plain":
                cuts = [i for i, ch in enumerate(where) if ch in ".:"]
                for parent in (where[:i] for i in reversed(cuts)):
                    if parent in places and places[parent].encoding != "plain":
                        encoding = places[parent].encoding
                        break
            keep.append(analyse_module.Hit(ident, encoding, where, hit.text))
        capped += max(0, len(keep) - analyse_module.MAX_PLACES_PER_VALUE)
        out.extend(keep[:analyse_module.MAX_PLACES_PER_VALUE])
    return out, capped


def _hits(*spec):
    ids = {name: analyse_module.Identifier("device_ids.advertising_id", name) for name in ("ad", "other")}
    return [analyse_module.Hit(ids[name], encoding, where, "t") for name, encoding, where in spec]


@pytest.mark.parametrize("hits", [
    _hits(("ad", "plain", "query:d")),
    _hits(("ad", "base64", "query:d"), ("ad", "plain", "query:d.base64")),
    _hits(("ad", "plain", "query:d.base64")),
    _hits(("ad", "url", "body"), ("ad", "plain", "body.json:a.b"), ("ad", "plain", "body.json:a")),
    _hits(("ad", "hex", "body.form:e"), ("ad", "plain", "body.form:e.json:x"), ("other", "plain", "header:x"),
          ("ad", "plain", "body.form:e.json:x"), ("ad", "md5", "header:y"), ("ad", "plain", "header:y")),
    _hits(("ad", "plain", ".x"), ("ad", "sha1", ""), ("ad", "plain", ":y.z"), ("ad", "plain", "a..b")),
    _hits(("ad", "base64", "body"), ("ad", "plain", "body.gzip"), ("ad", "plain", "body.gzip.json:k")),
    _hits(("ad", "hex", "body"), ("ad", "url", "body.form:e"), ("ad", "plain", "body.form:e.json:x")),  # nearest
    _hits(*[("ad", "plain", f"body.json:[{n}]") for n in range(analyse_module.MAX_PLACES_PER_VALUE + 7)]),
])
def test_reduce_hits_as_the_reference_does(hits):
    assert analyse_module._reduce_hits(hits) == _reference_reduce_hits(hits)


@pytest.mark.parametrize("count", [1, 6, 7, 40])   # each way of finding the nearest encoded parent
def test_the_nearest_encoded_parent_whatever_the_number_of_places(count):
    encoded = {f"body.json:k{n}": "hex" for n in range(count - 1)}
    encoded.update({"": "md5", "body": "base64", "body.form:e": "url"})
    find = analyse_module._parent_encoding
    assert find("body.form:e.json:x", encoded) == "url" and find("body.gzip", encoded) == "base64"
    assert find(".x", encoded) == "md5" and find("bodyx", encoded) == "plain" and find("body", encoded) == "plain"
    assert find("body.json:k0.base64", encoded) == ("hex" if count > 1 else "base64")


@pytest.mark.parametrize("listed", [
    [], [{"name": "Host", "value": "h"}, {"name": "X", "value": ""}],
    [{"name": "X"}], [{"name": "X", "value": None}], [{"name": 7, "value": 8.5}], [{"name": "X", "value": ["a"]}],
    [{"name": "X", "value": "a", "comment": "c"}, {"name": "Y", "value": True}],
    [{"value": "a"}], ["X: a"], [["X", "a"]], "X: a", {"name": "X", "value": "a"}, 5, [None],
])
def test_har_headers_are_the_general_conversion(listed):
    from audit.traffic.captures import _har_headers, _text

    def general():
        return tuple((str(h["name"]), _text(h.get("value"))) for h in listed)
    try:
        want = general()
    except (KeyError, TypeError, AttributeError) as exc:
        with pytest.raises(type(exc)):
            _har_headers(listed)
        return
    assert _har_headers(listed) == want


def test_url_secrets_only_from_what_was_found_in_the_url():
    ident = analyse_module.Identifier("device_ids.advertising_id", "AD-ID-1234")
    request = Request(None, "GET", "https", "h", 443, "/v1/AD-ID-1234/x?ad=AD-ID-1234&q=zz&u=u1", (), b"", "c")
    in_body = analyse_module.Hit(ident, "plain", "body.json:ad", "AD-ID-1234")
    whole_query = analyse_module.Hit(ident, "plain", "query", "AD-ID-1234")
    in_path = analyse_module.Hit(ident, "plain", "path:1", "AD-ID-1234")
    user = _field("query:u", data_type="device_ids.sdk_device_id", value="u1")
    model = _field("query:q", data_type="device.model", value="zz")
    types = frozenset({"device_ids.sdk_device_id", "device_ids.advertising_id"})
    secrets = analyse_module._url_secrets
    assert secrets(request, [in_body], [], [model], types) == ()
    assert secrets(request, [whole_query], [], [], types) == ("AD-ID-1234",)
    assert secrets(request, [in_path], [], [user, model], types) == ("AD-ID-1234", "u1")


def _sent(n, numbers, where="query:x"):
    return analyse_module.Transmission("device_ids.advertising_id", f"r{numbers[0]}", "h", "https", "GET", "/",
                                       (where,), "plain",
                                       requests=analyse_module.RequestIds(numbers) if len(numbers) > 1 else ())


@pytest.mark.parametrize("group", [
    [_sent(0, [1])],
    [_sent(i, list(range(i * 3 + 1, 400, 7)), f"query:p{i % 3}") for i in range(60)],      # by first request
    [_sent(i, [i + 1, i + 2, 200 + i], f"query:p{i % 2}") for i in range(120)],           # ties on numbers
    [_sent(i, [500 - i, 900 - i]) for i in range(80)],                                   # not in order
    [_sent(i, [i + 1]) for i in range(40)] + [_sent(99, [3, 4, 5])] + [_sent(i, [i + 50]) for i in range(40)],
    [_sent(i, [i + 10]) for i in range(60)] + [_sent(99, [2])],                            # the smallest last
])
def test_first_sent_is_the_smallest_of_all(group):
    every = [(n, t.where, t.encoding, index) for index, t in enumerate(group)
             for n in analyse_module._request_numbers(t)]
    assert analyse_module._first_sent(group) == sorted(every)[:analyse_module.MAX_EVIDENCE_PER_OBSERVATION]
