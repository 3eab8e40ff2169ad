"""Recipients: registered domains by the Public Suffix List, the catalogue's hosts first, first-party domains
only from what is given (never the package name), cloud and CDN hosts named as the service, Ghostery's
TrackerDB as an importable list, and the share of named hosts on the shared captures."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.catalogue import is_public_suffix, load_catalogue, registered_domain
from audit.errors import InputError
from audit.traffic import analyse
from audit.rulesdata import datatypes
from audit.traffic.adapters import Adapters, load_adapters, parse_adapter
from audit.traffic.attribution import Attributor
from audit.traffic.firstparty import app_domains
from trackhar_support import SHARED, npm_package

APKS = SHARED / "corpus" / "apks"


@pytest.mark.parametrize("host, domain", [
    ("www.bmw.de", "bmw.de"), ("api.ing.nl", "ing.nl"), ("ads.tracker.co.uk", "tracker.co.uk"),
    ("a.b.bbc.co.uk", "bbc.co.uk"), ("d1234.cloudfront.net", "d1234.cloudfront.net"),
    ("mybucket.s3.amazonaws.com", "mybucket.s3.amazonaws.com"), ("x.y.example.com.au", "example.com.au"),
    ("10.0.0.1", "10.0.0.1"), ("co.uk", "co.uk"), ("WWW.BMW.DE.", "bmw.de"),
])
def test_registered_domain_by_the_public_suffix_list(host, domain):
    assert registered_domain(host) == domain


def test_public_suffixes():
    assert is_public_suffix("co.uk") and is_public_suffix("com") and is_public_suffix("cloudfront.net")
    assert not is_public_suffix("bbc.co.uk") and not is_public_suffix("10.0.0.1")


def _recipient(host, app=None, first_party=(), extra=()):
    return Attributor(load_catalogue(tuple(str(e) for e in extra)), app, first_party).recipient(host)


def test_first_party_is_never_guessed_from_the_package_name():
    assert _recipient("ads.tracker.co.uk", "uk.co.bbc.iplayer").party == "third"
    assert _recipient("api.cisco.com", "com.cisco.webex").party == "third"
    assert _recipient("api.cisco.com", "com.cisco.webex", ["cisco.com"]).party == "first"
    assert _recipient("ads.tracker.co.uk", "uk.co.bbc.iplayer", ["bbc.co.uk", "co.uk"]).party == "third"
    assert _recipient("www.bbc.co.uk", "uk.co.bbc.iplayer", ["bbc.co.uk"]).party == "first"


@pytest.mark.parametrize("host, recipient_id", [
    ("fundingchoicesmessages.google.com", "google_admob"),
    ("o-sdk.mediation.unity3d.com", "ironsource"),
    ("configure.mtgglobals.com", "mintegral"),
    ("adexp.liftoff.io", "vungle"),
    ("id5-sync.com", "org:id5-sync.com"),
    ("api.pubnative.net", "org:pubnative.net"),
    ("crashlyticsreports-pa.googleapis.com", "firebase_crashlytics"),   # the catalogue's host before "Google APIs"
])
def test_the_hosts_named_in_issue_12_have_an_organisation(host, recipient_id):
    recipient = _recipient(host)
    assert recipient.id == recipient_id and recipient.name != "unknown organisation" and recipient.party == "third"


def test_every_host_a_tracker_adapter_reads_has_its_organisation():
    """The adapter that reads a tracker's requests names who receives them: no host an adapter names exactly is an
    "unknown organisation" (before: 31 of 134, the web trackers TrackHAR reads, among them Adform, Index Exchange
    and Magnite), and a host a catalogue SDK's adapter reads is that SDK."""
    adapters = load_adapters()
    attributor = Attributor(load_catalogue(()), None)
    for endpoint in adapters.endpoints:
        for host in endpoint.hosts:
            recipient = attributor.recipient("sub." + host[2:] if host.startswith("*.") else host)
            assert recipient.name != "unknown organisation", (endpoint.adapter, host)
            assert recipient.party == "third"
    assert _recipient("b1sync.zemanta.com").id == "outbrain"                    # outbrain.yaml: sdk outbrain
    assert (_recipient("pixel-eu.rubiconproject.com").id, _recipient("pixel-eu.rubiconproject.com").name) == \
        ("tracker:magnite", "Magnite, Inc. (formerly The Rubicon Project)")
    # a cloud host stays the service however many trackers' APIs it serves (the google adapters read
    # www.googleapis.com): whoever uses the project behind it is not in the name
    assert _recipient("www.googleapis.com").id.startswith("infrastructure:")


def test_a_host_several_trackers_read_is_not_given_to_one_of_them(tmp_path):
    def adapter(tracker, name):
        return {"tracker": tracker, "name": name, "source": "test", "endpoints": [
            {"id": "e", "hosts": ["shared.example"], "decoding": ["json"],
             "fields": {"id": {"type": "device_ids.sdk_device_id", "reasoning": "test"}}}]}
    seen: dict = {}
    one = parse_adapter(adapter("one", "One Ltd"), tmp_path / "one.yaml", datatypes(), seen)
    two = parse_adapter(adapter("two", "Two Ltd"), tmp_path / "two.yaml", datatypes(), seen)
    assert Adapters(one).tracker_at("SHARED.example.") == ("one", "One Ltd", None)
    assert Adapters(one + two).tracker_at("shared.example") is None
    assert Adapters(one).tracker_at("other.example") is None


@pytest.mark.parametrize("host, provider, tenant", [
    ("d1234.cloudfront.net", "Amazon CloudFront", "d1234.cloudfront.net"),
    ("photos.s3.eu-west-1.amazonaws.com", "Amazon S3", "photos.s3.eu-west-1.amazonaws.com"),
    ("backups.s3.amazonaws.com", "Amazon S3", "backups.s3.amazonaws.com"),
    ("storage.googleapis.com", "Google Cloud Storage", "storage.googleapis.com"),
    ("myapp.azurewebsites.net", "Azure App Service", "myapp.azurewebsites.net"),
    ("img.akamaized.net", "Akamai", "img.akamaized.net"),
    ("shop.global.ssl.fastly.net", "Fastly", "shop.global.ssl.fastly.net"),
])
def test_cloud_and_cdn_hosts_are_named_as_the_service_per_tenant(host, provider, tenant):
    recipient = _recipient(host)
    assert recipient.id == f"infrastructure:{tenant}" and recipient.name.startswith(provider)
    assert recipient.sdk is None and recipient.categories and recipient.categories[0] in ("cdn", "cloud",
                                                                                            "cloud storage")
    # two tenants of one service are two recipients, not one organisation
    assert _recipient("x" + host).id == f"infrastructure:x{tenant}"


@pytest.mark.skipif(not APKS.exists(), reason="shared corpus not present")
def test_first_party_domains_from_the_app_itself():
    # a verified app link (<intent-filter android:autoVerify="true">) on the app's own activity
    assert app_domains(APKS / "adnanmasd__mercatovip_cordova.apk") == ("com.mercatovip.app", ["mercatovip.com"])
    # its network security config names 127.0.0.1 only: an address is nobody's domain
    assert app_domains(APKS / "tajgarhwa__StatusSaver_2021.apk")[1] == []
    # Branch's test bed declares *.app.link links: Branch's hosts, never the app's
    assert app_domains(APKS / "branch__Branch-SDK-TestBed-release-unsigned_1.4.1.apk")[1] == []


@pytest.fixture(scope="module")
def trackerdb(request) -> Path:
    return npm_package(request.config, "@ghostery/trackerdb", "dist/trackerdb.json") / "dist" / "trackerdb.json"


def test_ghostery_trackerdb_names_organisations(trackerdb):
    catalogue = load_catalogue((str(trackerdb),))
    imported = [s for s in catalogue.sdks if s.source == "ghostery"]
    assert len(imported) > 2000 and all(s.hosts and not s.packages for s in imported)
    recipient = _recipient("x.mmtro.com", extra=[trackerdb])          # only TrackerDB knows 1000mercis
    assert recipient.id == "ghostery_1000mercis" and recipient.name == "1000mercis"
    assert recipient.to_json()["country"] == "FR" and "@" in recipient.to_json()["privacy_contact"]
    assert _recipient("x.mmtro.com").name == "unknown organisation"
    # our catalogue's hosts stay ours; TrackerDB's hosting entries (CloudFront) are not organisations
    assert _recipient("api2.branch.io", extra=[trackerdb]).id == "branch"
    assert _recipient("d1.cloudfront.net", extra=[trackerdb]).id == "infrastructure:d1.cloudfront.net"


def test_a_damaged_trackerdb_is_one_clear_error(tmp_path):
    bad = tmp_path / "trackerdb.json"
    bad.write_text(json.dumps({"patterns": {"x": "not a mapping"}, "organizations": {}}))
    with pytest.raises(InputError, match=r"trackerdb\.json: patterns\.x: expected a mapping"):
        load_catalogue((str(bad),))


def _capture_hosts() -> list[Path]:
    traffic = SHARED / "corpus" / "traffic"
    return sorted(p for p in traffic.glob("*/*") if p.suffix in (".har", ".mitm", ".pcap"))


@pytest.mark.skipif(not (SHARED / "corpus").exists(), reason="shared corpus not present")
def test_share_of_named_recipients_on_the_shared_captures(trackerdb, capsys):
    hosts: dict[str, str] = {}
    with_db: dict[str, str] = {}
    for capture in _capture_hosts():
        try:
            report = analyse([capture])
            extended = analyse([capture], extra_trackers=[trackerdb])
        except InputError:
            continue
        hosts.update({r.host: r.recipient.name for r in report.requests if r.host})
        with_db.update({r.host: r.recipient.name for r in extended.requests if r.host})
    named = sum(name != "unknown organisation" for name in hosts.values())
    named_db = sum(name != "unknown organisation" for name in with_db.values())
    with capsys.disabled():
        print(f"\nnamed recipients on the shared captures: {named}/{len(hosts)} hosts; "
              f"with Ghostery's TrackerDB {named_db}/{len(with_db)}")
    assert hosts and named_db >= named
    # every tracker host of the Android capture is named
    android = analyse([SHARED / "corpus" / "traffic" / "tweasel-reporthar" / "android_second-run.har"])
    assert all(r.recipient.name != "unknown organisation" for r in android.requests)


@pytest.mark.skipif(not APKS.exists(), reason="shared corpus not present")
def test_cli_first_party_from_the_user_and_from_the_apk(tmp_path):
    import subprocess
    import sys
    har = tmp_path / "own.har"
    entry = {"startedDateTime": "2024-01-01T00:00:00Z", "time": 1, "request": {
        "method": "GET", "url": "https://api.mercatovip.com/v1/x", "httpVersion": "HTTP/1.1", "cookies": [],
        "queryString": [], "headers": [], "headersSize": -1, "bodySize": 0},
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
                     "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                     "bodySize": 0}, "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))

    def party(*extra):
        proc = subprocess.run([sys.executable, "-m", "audit.cli", "traffic", str(har), *map(str, extra)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        return report["recipients"][report["requests"][0]["recipient"]]["party"]

    assert party() == "third"
    assert party("--app", "com.mercatovip.app") == "third"                 # the package name proves nothing
    assert party("--first-party", "mercatovip.com") == "first"
    assert party("--apk", APKS / "adnanmasd__mercatovip_cordova.apk") == "first"   # its verified app link


@pytest.mark.skipif(not APKS.exists(), reason="shared corpus not present")
def test_network_security_config_domains_are_first_party(tmp_path):
    """A real APK whose network security config names 127.0.0.1, with that string changed to a domain of the
    same length in the compiled XML's string pool (zip rewritten; signatures are not what is read here)."""
    import zipfile
    source = APKS / "tajgarhwa__StatusSaver_2021.apk"
    patched = tmp_path / "nsc.apk"
    member = "res/xml/network_security_config.xml"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == member:
                for old, new in ((b"127.0.0.1", b"myapp.org"),
                                 ("127.0.0.1".encode("utf-16-le"), "myapp.org".encode("utf-16-le"))):
                    data = data.replace(old, new)
                assert b"myapp" in data or "myapp".encode("utf-16-le") in data
            zout.writestr(info, data)
    assert app_domains(source)[1] == []
    assert app_domains(patched)[1] == ["myapp.org"]
