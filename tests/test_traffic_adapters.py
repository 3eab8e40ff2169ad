"""Tracker adapters (rules/trackers/*.yaml): fields read without knowing their values, on real bodies."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.traffic import analyse
from audit.traffic.adapters import load_adapters, split_where
from trackhar_support import SHARED, ios_har

ANDROID_HAR = SHARED / "corpus" / "traffic" / "tweasel-reporthar" / "android_second-run.har"
AAID = "1209d0b9-b959-42e6-b921-aa5d9d08c1af"
needs_corpus = pytest.mark.skipif(not ANDROID_HAR.exists(), reason="shared corpus not present")

# The trackers issue 12 names, by the adapter file that covers each.
REQUIRED = {"facebook": "facebook", "branch": "branch", "appsflyer": "appsflyer", "adjust": "adjust",
            "firebase/google analytics": "google", "crashlytics": "firebase", "bugsnag": "bugsnag",
            "sentry": "sentry", "amplitude": "amplitude", "mixpanel": "mixpanel", "onesignal": "onesignal",
            "unity ads": "unity-ads", "ironsource": "ironsource", "applovin": "applovin",
            "yandex appmetrica": "appmetrica", "umeng": "umeng", "bugly": "bugly", "kochava": "kochava",
            "segment": "segment", "braze": "braze"}


def test_every_named_tracker_has_an_adapter_and_every_field_a_reasoning():
    adapters = load_adapters()
    trackers = {e.adapter.split("/")[0] for e in adapters.endpoints}
    assert set(REQUIRED.values()) <= trackers, set(REQUIRED.values()) - trackers
    for endpoint in adapters.endpoints:
        for field in endpoint.fields:
            assert field.reasoning.strip(), (endpoint.adapter, field.path)


def test_split_where_takes_the_layers_out_of_the_place():
    assert split_where("body.form:extinfo.json:[1]") == ("body", ("form", "json"), ("extinfo", "#1"))
    assert split_where("body.json:identity.base64.json:gaid") == ("body", ("json", "base64", "json"),
                                                                  ("identity", "gaid"))
    assert split_where("query:idfa") == ("query", (), ("idfa",))
    assert split_where("body.protobuf:1.14") == ("body", ("protobuf",), ("1", "14"))


@pytest.mark.parametrize("text, message", [
    ("tracker: x\nname: X\nendpoints:\n  - id: a\n    hosts: [a.example]\n    decoding: [rot13]\n    fields: {}\n",
     r"x\.yaml:6: decoding: unknown decoding step 'rot13'"),
    ("tracker: x\nname: X\nendpoints:\n  - id: a\n    hosts: [a.example]\n    decoding: [json]\n    fields:\n"
     "      uid: {type: device_ids.nonsense, reasoning: r}\n", r"x\.yaml:8: type: unknown data type"),
    ("tracker: x\nname: X\nendpoints:\n  - id: a\n    hosts: [a.example]\n    decoding: [json]\n    fields:\n"
     "      uid: {type: device_ids.android_id}\n", r"x\.yaml:8: field uid: missing required field 'reasoning'"),
    ("tracker: x\nname: X\nendpoints:\n  - id: a\n    hosts: [A.Example]\n    decoding: [json]\n    fields: {}\n",
     r"x\.yaml:5: hosts: 'A.Example' is not a lower-case host name"),
    ("tracker: x\nname: X\nsdk: no_such_sdk\nendpoints: []\n", r"x\.yaml:3: sdk: 'no_such_sdk' is not an SDK id"),
])
def test_adapter_files_are_validated_with_file_and_line(tmp_path, text, message):
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(InputError, match=message):
        load_adapters(tmp_path)


@needs_corpus
def test_branch_and_facebook_fields_without_known_values():
    report = analyse([ANDROID_HAR])
    sent = [t for t in report.transmissions if t.host == "api2.branch.io"]
    hardware = [t for t in sent if t.field == "hardware_id"]
    assert hardware and all(t.data_type == "device_ids.sdk_device_id" and not t.value_known for t in hardware)
    assert {t.where for t in hardware} == {("body.json", "hardware_id")}
    assert {t.data_type for t in sent if t.field == "device_fingerprint_id"} == {"device_ids.server_assigned_id"}
    assert {t.value for t in sent if t.field == "model"} == {"sdk_gphone64_x86_64"}
    facebook = [t for t in report.transmissions if t.adapter.startswith("facebook/")]
    assert {(t.field, t.value) for t in facebook} >= {("extinfo[5]", "sdk_gphone64_x86_64"), ("extinfo[4]", "13"),
                                                        ("anon_id", "XZ9dd82044-772f-4b99-b17b-208e9c3cc38b")}
    assert all(report.reasoning(t) for t in facebook)
    document = report.to_json()
    unknown = [t for t in document["transmissions"] if not t["value_known"]]
    assert unknown and all(t["field"] and t["adapter"] and document["reasonings"][t["adapter"]][t["field"]]
                           for t in unknown)
    assert "XZ9dd82044" not in json.dumps(document)                       # redacted by default


@needs_corpus
def test_a_known_value_at_an_adapter_field_is_one_transmission():
    report = analyse([ANDROID_HAR], {"device_ids.advertising_id": AAID})
    places = [(request, t.where) for t in report.transmissions for request in t.all_requests]
    assert len(places) == len(set(places))
    aaid = [t for t in report.transmissions if t.data_type == "device_ids.advertising_id"]
    in_branch = [t for t in aaid if t.host == "api2.branch.io"]
    assert in_branch and all(t.value_known and t.field in ("google_advertising_id", "advertising_ids.aaid")
                             for t in in_branch)
    model = report.transmissions          # audit.model.Transmission: the type the rules read
    assert {m.value_known for m in model} == {True, False}
    branch = next(m for m in model if m.host == "api2.branch.io" and m.where == ("body.json", "hardware_id"))
    assert branch.recipient == "branch" and branch.party == "third" and branch.method == "POST" \
        and branch.path == "/v1/open" and not branch.value_known


@needs_corpus
def test_advertising_id_with_an_sdk_made_id_is_bridging_without_any_known_value():
    report = analyse([ANDROID_HAR])                      # nobody told appaudit a single value
    branch = [b for b in report.bridging if b.recipient.id == "branch" and b.scope == "request"]
    assert branch and all(b.data_types[0] == "device_ids.advertising_id" for b in branch)
    assert all({"device_ids.sdk_device_id", "device_ids.server_assigned_id"} <= set(b.data_types) for b in branch)
    facebook = [b for b in report.bridging if b.recipient.id == "facebook_sdk" and b.scope == "request"]
    assert facebook and all("device_ids.sdk_device_id" in b.data_types for b in facebook)


@pytest.mark.skipif(not (SHARED / "corpus").exists(), reason="shared corpus not present")
def test_real_ios_bodies_kochava_sentry_chartboost(tmp_path):
    report = analyse([ios_har(tmp_path)])
    by_field = {}
    for t in report.transmissions:
        by_field.setdefault((t.adapter.split("/")[0], t.field), set()).add((t.data_type, t.value))
    assert ("device_ids.sdk_device_id", "KI1624129683T1EF36B28AF4F4DCF91A891B9B42C306C") in \
        by_field[("kochava", "kochava_device_id")]
    assert by_field[("kochava", "data.is_genuine")] == {("device_state.rooted", "false")}   # a JSON boolean
    assert ("device_info.screen", "750") in by_field[("kochava", "data.disp_w")]
    assert by_field[("sentry", "**.release")] == {("app_info.app_version", "com.ewa.ewaapp@6.2.5+6.2.5.1")}
    assert by_field[("sentry", "**.sdk.version")] == {("app_info.sdk_version", "6.2.1")}
    assert ("app_info.app_id", "com.fingersoft.hillclimbracing") in by_field[("chartboost", "app.bundle_id")]
    facebook = {t.data_type for t in report.transmissions if t.adapter.startswith("facebook/")}
    assert {"device_state.rooted", "device_info.screen", "device_info.model"} <= facebook


def test_a_request_no_adapter_names_costs_one_lookup():
    from audit.traffic.captures import Request
    adapters = load_adapters()
    request = Request(None, "POST", "https", "example.org", 443, "/v1/open", (), b"{}", "x")
    assert adapters.endpoints_for(request) == []
    branch = Request(None, "POST", "https", "api2.branch.io", 443, "/v1/open", (), b"{}", "x")
    assert [e.adapter for e in adapters.endpoints_for(branch)] == ["branch/v1"]
    assert adapters.endpoints_for(Request(None, "POST", "https", "api2.branch.io", 443, "/v2/other", (), b"",
                                          "x")) == []


def test_endpoints_for_remembers_by_host_path_and_method():
    from audit.traffic.adapters import Adapters
    from audit.traffic.captures import Request
    adapters = Adapters(load_adapters().endpoints)     # a fresh memo

    def request(method, host, target):
        return Request(None, method, "https", host, 443, target, (), b"", "test")

    cases = [("POST", "api2.branch.io", "/v1/open"), ("GET", "api2.branch.io", "/v1/open"),
             ("POST", "api2.branch.io", "/v1/open?x=1"), ("POST", "api2.branch.io", "/v1/unknown"),
             ("POST", "graph.facebook.com", "/v14.0/138566025676/activities"),
             ("GET", "graph.facebook.com", "/v14.0/app"), ("POST", "t.example", "/v1/open")]
    first = [[e.adapter for e in adapters.endpoints_for(request(*case))] for case in cases]
    assert first[0] and first[2] == first[0] and not first[3] and first[4] and not first[6]
    again = [[e.adapter for e in adapters.endpoints_for(request(*case))] for case in cases]
    assert again == first
    # what is remembered is what would be found without the memo
    assert first == [[e.adapter for e in adapters._endpoints_for(host, target.partition("?")[0], method)]
                     for method, host, target in cases]
