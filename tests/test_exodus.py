"""The Exodus tracker list importer: signature reduction, matching to our catalogue, the CLI and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.catalogue import CATEGORIES, load_catalogue, load_extra
from audit.errors import InputError
from audit.exodus import (EXODUS_CATEGORIES, convert, reduce_code_signature, reduce_network_signature,
                          sdks_from_exodus)
from audit.rulesdata import load_yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXODUS = SHARED / "signatures" / "exodus-trackers.json"
APPAUDIT = [sys.executable, "-m", "audit.cli"]

needs_shared = pytest.mark.skipif(not EXODUS.is_file(), reason="../shared/signatures/exodus-trackers.json absent")


@pytest.mark.parametrize("pattern,expected", [
    ("com.appsflyer.", "com.appsflyer"),
    ("com\\.adjust\\.sdk\\.", "com.adjust.sdk"),
    ("com.amplitude", "com.amplitude"),
    ("io.radar.sdk.Radar", "io.radar.sdk.Radar"),           # a class name stays a class name
    ("^com.foo.bar.", "com.foo.bar"),
    (" com.mixpanel. ", "com.mixpanel"),
    (".LigatusManager", None),                               # anywhere in a class name
    (".tealium.", None),
    ("com.foo.*", None),
    ("com.github.backtrace-labs.", None),                    # not a Java name
    ("com.(foo|bar)", None),
])
def test_reduce_code_signature(pattern, expected):
    reduced, reason = reduce_code_signature(pattern)
    assert reduced == expected
    assert bool(reason) == (expected is None)


@pytest.mark.parametrize("pattern,expected", [
    ("appsflyer\\.com", "appsflyer.com"),
    ("api\\.amplitude\\.com", "api.amplitude.com"),
    ("\\.facebook\\.com", "facebook.com"),                   # "any subdomain of": our hosts match subdomains
    (".*\\.jiguang\\.cn", "jiguang.cn"),
    (".target\\.my\\.com", "target.my.com"),
    ("dispatcher\\.mng\\-ads\\.com", "dispatcher.mng-ads.com"),
    ("Appnext.com", "appnext.com"),
    ("mst[0-9]*\\.is\\.autonavi\\.com", None),
    ("adservice\\.google\\..*", None),
    ("\\.exacttarget\\.", None),
    ("54\\.243\\.73\\.253:8080/SilverPush/", None),
    ("fidzup", None),                                        # one label: not a host
    ("data.\\altbeacon\\.org", None),
    ("54\\.243\\.73\\.253", None),                           # an address, not a host name
])
def test_reduce_network_signature(pattern, expected):
    reduced, reason = reduce_network_signature(pattern)
    assert reduced == expected
    assert bool(reason) == (expected is None)


SMALL = {"trackers": {
    "1": {"name": "Facebook Login", "code_signature": "com.facebook.login", "network_signature": "\\.facebook\\.com",
          "categories": ["Identification"], "website": "https://developers.facebook.com"},
    "2": {"name": "Facebook Ads", "code_signature": "com.facebook.ads", "network_signature": "",
          "categories": ["Advertisement"], "website": ""},
    "3": {"name": "Facebook Analytics", "code_signature": "com.facebook.appevents|com.facebook.CampaignTrackingReceiver",
          "network_signature": "\\.facebook\\.com", "categories": ["Analytics"]},
    "4": {"name": "Acme Tracker", "code_signature": "com.acme.tracker.|.AcmeAnywhere", "categories": ["Location"],
          "network_signature": "t\\.acme\\.io|mst[0-9]*\\.acme\\.io"},
    "5": {"name": "Acme-Tracker", "code_signature": "net.acme2.", "network_signature": None, "categories": []},
    "6": {"name": "Nothing", "code_signature": "", "network_signature": "", "categories": ["Analytics"]},
    "7": {"name": "Flipper", "code_signature": "com.facebook.flipper", "categories": ["Analytics"]},
    "8": {"name": "Pangle", "code_signature": "com.bytedance", "categories": ["Advertisement", "Brand new"]},
    "9": {"name": "Lone class", "code_signature": "com.lone.sdk.Lone", "categories": ["Crash reporting"]},
}}


def test_merging_slugs_and_skipped_on_a_small_list():
    result = convert(SMALL, Path("small.json"))
    by_id = {sdk.id: sdk for sdk in result.sdks}
    # Trackers that are ours keep our id; several of them merge into one record.
    assert result.matched == {"1": "facebook_sdk", "2": "facebook_audience_network", "3": "facebook_sdk",
                              "8": "pangle"}
    facebook = by_id["facebook_sdk"]
    assert facebook.name == "Facebook Login / Facebook Analytics" and facebook.organisation == "Meta"
    assert facebook.packages == ("com.facebook.login", "com.facebook.appevents", "com.facebook.CampaignTrackingReceiver")
    assert facebook.hosts == ("facebook.com",) and facebook.categories == ("analytics", "identification")
    assert facebook.family == "facebook" and facebook.source == "exodus"
    # Flipper is a library of ours under com.facebook, so it is not facebook_sdk.
    assert "exodus_flipper" in by_id and "7" not in result.matched
    # Others get exodus_<slug>; a slug clash takes the Exodus id.
    assert by_id["exodus_acme_tracker"].packages == ("com.acme.tracker",)
    assert by_id["exodus_acme_tracker"].hosts == ("t.acme.io",)
    assert by_id["exodus_acme_tracker_5"].packages == ("net.acme2",)
    assert by_id["exodus_acme_tracker_5"].categories == ("other",)
    assert by_id["pangle"].categories == ("advertisement", "other")   # unknown Exodus category -> other
    assert by_id["exodus_lone_class"].categories == ("crash_reporting",)
    # Nothing is silently dropped.
    assert [(s.tracker, s.signature, s.pattern) for s in result.skipped] == [
        ("4", "code", ".AcmeAnywhere"), ("4", "network", "mst[0-9]*\\.acme\\.io")]
    assert result.unusable == ("6 Nothing",)
    assert (result.trackers, result.imported) == (9, 8)


def test_class_name_signature_attributes_only_that_class(tmp_path):
    out = tmp_path / "small.json"
    out.write_text(json.dumps(SMALL))
    catalogue = load_catalogue([out])
    assert catalogue.actor_for_class("com.lone.sdk.Lone$1", None).id == "exodus_lone_class"
    assert catalogue.actor_for_class("com.lone.sdk.Other", None).id == "unidentified:com.lone"   # not catalogued
    # Merged trackers extend ours without replacing its name or duplicating the id.
    assert [s.id for s in catalogue.sdks].count("facebook_sdk") == 1
    assert catalogue.sdk("facebook_sdk").name == load_catalogue().sdk("facebook_sdk").name
    assert catalogue.actor_for_class("com.facebook.ads.AdView", None).id == "facebook_audience_network"
    assert catalogue.owner_of_host("t.acme.io").sdk.id == "exodus_acme_tracker"


@needs_shared
def test_real_exodus_list_is_imported_whole():
    raw = json.loads(EXODUS.read_text(encoding="utf-8"))
    result = convert(raw, EXODUS)
    trackers = raw["trackers"]
    assert result.trackers == len(trackers) >= 400
    assert result.imported >= 400
    ids = [sdk.id for sdk in result.sdks]
    assert len(ids) == len(set(ids))
    by_id = {sdk.id: sdk for sdk in result.sdks}
    ours = {sdk.id for sdk in load_catalogue().sdks}
    by_name = {t["name"]: key for key, t in trackers.items()}
    for name, expected in [("AppsFlyer", "appsflyer"), ("Facebook Ads", "facebook_audience_network"),
                           ("Facebook Login", "facebook_sdk"), ("Google AdMob", "google_admob"),
                           ("Google CrashLytics", "firebase_crashlytics"), ("Backtrace", "backtrace"),
                           ("Appdynamics", "appdynamics"), ("Unity3d Ads", "unity_ads"), ("Sentry", "sentry")]:
        assert result.matched.get(by_name[name]) == expected, name
    # Every alternative of every signature is accounted for: reduced into the tracker's record, or skipped.
    skipped = {(s.tracker, s.signature, s.pattern) for s in result.skipped}
    where = {key: sdk_id for sdk_id, keys in result.exodus_ids.items() for key in keys}
    for key, tracker in trackers.items():
        for kind, field, reducer in (("code", "code_signature", reduce_code_signature),
                                     ("network", "network_signature", reduce_network_signature)):
            for alternative in filter(None, (a.strip() for a in (tracker.get(field) or "").split("|"))):
                reduced, _ = reducer(alternative)
                if reduced is None:
                    assert (key, kind, alternative) in skipped
                else:
                    sdk = by_id[where[key]]
                    assert reduced in (sdk.packages if kind == "code" else sdk.hosts), (key, alternative)
        if key not in where:
            assert any(u.startswith(f"{key} ") for u in result.unusable)
        else:
            sdk = by_id[where[key]]
            assert sdk.id in ours or sdk.id.startswith("exodus_")
            assert (sdk.id in ours) == (key in result.matched)
            assert set(sdk.categories) <= set(CATEGORIES)
            for category in tracker["categories"]:
                assert EXODUS_CATEGORIES[category] in sdk.categories
    patterns = {s.pattern for s in result.skipped}
    assert "mst[0-9]*\\.is\\.autonavi\\.com" in patterns and "adservice\\.google\\..*" in patterns


@needs_shared
def test_load_extra_reads_the_exodus_json_directly():
    extra = load_extra(EXODUS)
    assert len(extra) >= 300 and all(sdk.source == "exodus" for sdk in extra)
    catalogue = load_catalogue([EXODUS])
    assert len({s.id for s in catalogue.sdks}) == len(catalogue.sdks)
    assert catalogue.sdk("amplitude").name == "Amplitude"           # ours keep their names
    # An Exodus tracker with no code signature stays its own record, layered on top; the host stays ours.
    assert catalogue.sdk("exodus_crowdtangle").source == "exodus"
    assert catalogue.owner_of_host("api.crowdtangle.com").sdk.id == "crowdtangle"


def _run(*argv, cwd=None):
    return subprocess.run([*APPAUDIT, *map(str, argv)], capture_output=True, text=True, timeout=120, cwd=cwd)


@needs_shared
def test_cli_writes_deterministic_yaml_that_load_extra_reads_back(tmp_path):
    out = tmp_path / "exodus.yaml"
    done = _run("sdks", "import-exodus", EXODUS, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    summary = done.stderr.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith("appaudit: imported ")
    assert "skipped" in summary[0] and "regexes" in summary[0]
    text = out.read_text(encoding="utf-8")
    raw = load_yaml(out)
    assert raw["skipped"] and {"tracker", "name", "signature", "pattern", "reason"} == set(raw["skipped"][0])
    assert all(entry["source"] == "exodus" for entry in raw["sdks"])
    extra = load_extra(out)
    assert extra == sdks_from_exodus(json.loads(EXODUS.read_text(encoding="utf-8")), EXODUS)
    catalogue = load_catalogue([out])
    assert catalogue.sdk("exodus_teemo") is None and catalogue.sdk("teemo").source == "appaudit"
    # stdout form is byte-identical to the file
    again = _run("sdks", "import-exodus", EXODUS)
    assert again.returncode == 0 and again.stdout == text


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    cases = {
        "not-json.json": "{trackers: nope",
        "shape.json": json.dumps({"sdks": []}),
        "trackers-int.json": json.dumps({"trackers": 5}),
        "no-name.json": json.dumps({"trackers": {"1": {"code_signature": "com.x."}}}),
        "code-list.json": json.dumps({"trackers": {"1": {"name": "X", "code_signature": ["com.x."]}}}),
        "categories.json": json.dumps({"trackers": {"1": {"name": "X", "categories": "Analytics"}}}),
        "tracker-str.json": json.dumps({"trackers": {"1": "X"}}),
        "binary.json": b"\xff\xfe\x00garbage",
        "list.json": json.dumps([1, 2, 3]),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        done = _run("sdks", "import-exodus", path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (name, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("appaudit: error: "), (name, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == ""
    for argv in (["sdks", "import-exodus", tmp_path / "missing.json"], ["sdks", "import-exodus", tmp_path],
                 ["sdks", "import-exodus"]):
        done = _run(*argv)
        assert done.returncode == 2 and done.stderr.startswith("appaudit: error: ")
        assert len(done.stderr.strip().splitlines()) == 1


def test_cli_refuses_to_overwrite_its_input(tmp_path):
    source = tmp_path / "small.json"
    source.write_text(json.dumps(SMALL))
    before = source.read_bytes()
    done = _run("sdks", "import-exodus", source, "-o", source)
    assert done.returncode == 2 and "refusing to overwrite input" in done.stderr
    assert source.read_bytes() == before


def test_sdks_from_exodus_rejects_wrong_shapes():
    for raw in ({}, {"trackers": None}, {"trackers": {"1": {"name": ""}}}, []):
        with pytest.raises(InputError):
            sdks_from_exodus(raw, Path("x.json"))
