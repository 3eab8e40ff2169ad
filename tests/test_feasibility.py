"""Feasibility verdicts (audit/static/feasibility.py) from the platform's rules in rules/apis.yaml `access` and
rules/permissions.yaml, for constructed manifests (each fact issue 10 lists) and over the real corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import InputError
from audit.static.apis import ApiRule, load_apis, parse_apis
from audit.static.feasibility import AppLevels, judge
from audit.static.manifest import RequestedPermission
from audit.rulesdata import load_yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
APKS = SHARED / "corpus" / "apks"
P = "android.permission."
RULES = {r.id: r for r in load_apis()}


def app(*permissions, min_sdk=23, target_sdk=33, **capped) -> AppLevels:
    """An app requesting these permissions (short names), some with maxSdkVersion (NAME=max). minSdk 23 by
    default: below it every requested permission is granted at install (test_api_rules_platform)."""
    requested = [RequestedPermission(p if "." in p else P + p) for p in permissions]
    requested += [RequestedPermission(P + p, max_sdk=m) for p, m in capped.items()]
    return AppLevels(min_sdk, target_sdk, tuple(requested))


def verdict(api_id: str, levels: AppLevels):
    return judge(RULES[api_id], levels)


CHESS = app("INTERNET", "ACCESS_NETWORK_STATE", "WRITE_EXTERNAL_STORAGE", "READ_PHONE_STATE",
            "ACCESS_COARSE_LOCATION", min_sdk=16, target_sdk=28)


def test_the_chess_app_cannot_read_contacts_calendar_accounts_or_a_precise_fix():
    for api_id, permission in (("content_resolver.query.contacts", "READ_CONTACTS"),
                               ("content_resolver.query.calendar", "READ_CALENDAR")):
        _type, v = verdict(api_id, CHESS)
        assert v.status == "blocked" and v.reason == f"missing {permission}" and v.permissions == (P + permission,)
        assert not v.possible
    _type, accounts = verdict("account_manager.get_accounts", CHESS)
    assert not accounts.possible and "GET_ACCOUNTS" in accounts.reason
    # a last-known location with only COARSE is an approximate location
    data_type, fix = verdict("location_manager.get_last_known_location.precise", CHESS)
    # accepted at install on its API 16-22 (before runtime permissions), the user's to allow from API 23: the
    # user's decision either way
    assert data_type == "location.approximate" and fix.status == "runtime-permission" and fix.api_levels == "API 16+"
    assert "API 16-22: works if the user accepts ACCESS_COARSE_LOCATION when installing the app" in fix.reason
    assert "API 23+: works if the user allows ACCESS_COARSE_LOCATION" in fix.reason
    assert fix.permissions == (P + "ACCESS_COARSE_LOCATION",)
    assert verdict("location_manager.request_location_updates", CHESS)[0] == "location.approximate"


def test_a_precise_fix_needs_fine_location():
    data_type, v = verdict("location_manager.get_last_known_location.precise", app("ACCESS_FINE_LOCATION"))
    assert (data_type, v.status) == ("location.precise", "runtime-permission")
    _t, none = verdict("location_manager.get_last_known_location.precise", app("INTERNET"))
    assert none.status == "blocked" and none.reason == "missing ACCESS_FINE_LOCATION or ACCESS_COARSE_LOCATION"


@pytest.mark.parametrize("api_id, first", [("telephony.get_device_id", 23), ("telephony.get_imei", 26),
                                           ("telephony.get_meid", 26), ("telephony.get_subscriber_id", 23),
                                           ("telephony.get_sim_serial_number", 23), ("build.get_serial", 26)])
def test_device_identifiers_until_api_28_then_unavailable(api_id, first):
    # getImei, getMeid and Build.getSerial appeared in API 26: no device below runs them
    _t, old = verdict(api_id, app("READ_PHONE_STATE", min_sdk=23))
    assert old.status == "runtime-permission" and old.api_levels == f"API {first}-28"
    assert f"(API {first}-28)" in old.reason.split(":")[0]
    assert "unavailable to ordinary apps from API 29" in old.reason
    _t, new = verdict(api_id, app("READ_PHONE_STATE", min_sdk=29))
    assert new.status == "blocked" and new.reason.startswith("unavailable to ordinary apps from API 29")
    assert new.api_levels == "API 29+"
    _t, missing = verdict(api_id, app("INTERNET", min_sdk=21))
    assert missing.status == "blocked" and "missing READ_PHONE_STATE" in missing.reason


def test_max_sdk_version_is_honoured():
    _t, v = verdict("telephony.get_device_id", app(min_sdk=21, READ_PHONE_STATE=22))
    assert v.status == "runtime-permission" and v.api_levels == "API 21-22"      # at install: below API 23
    assert "accepts READ_PHONE_STATE when installing" in v.reason
    _t, capped_below = verdict("telephony.get_device_id", app(min_sdk=23, READ_PHONE_STATE=22))
    assert capped_below.status == "blocked"


def test_mac_addresses_are_a_constant_from_api_23():
    # BLUETOOTH was a dangerous permission until API 22 (AOSP data): the user accepted it at install; ACCESS_WIFI_STATE
    # is always normal: granted, nobody asked
    for api_id, permission, before in (("wifi_info.get_mac_address", "ACCESS_WIFI_STATE", "granted"),
                                       ("bluetooth_adapter.get_address", "BLUETOOTH", "runtime-permission")):
        _t, v = verdict(api_id, app(permission, min_sdk=23))
        assert v.status == "degraded" and "02:00:00:00:00:00" in v.reason and not v.possible
        _t, old = verdict(api_id, app(permission, min_sdk=19))
        assert old.status == before and old.api_levels == "API 19-22"


def test_ssid_needs_location_from_27_and_fine_location_from_29():
    _t, v = verdict("wifi_info.get_ssid", app("ACCESS_WIFI_STATE", "ACCESS_COARSE_LOCATION", min_sdk=29))
    assert v.status == "degraded" and "ACCESS_FINE_LOCATION" in v.reason
    _t, v = verdict("wifi_info.get_ssid", app("ACCESS_WIFI_STATE", "ACCESS_COARSE_LOCATION", min_sdk=27))
    assert v.status == "runtime-permission" and v.api_levels == "API 27-28"
    _t, v = verdict("wifi_info.get_bssid", app("ACCESS_WIFI_STATE", "ACCESS_FINE_LOCATION", min_sdk=29))
    assert v.status == "runtime-permission"
    _t, v = verdict("wifi_info.get_ssid", app("ACCESS_WIFI_STATE", min_sdk=21))
    assert v.status == "granted" and v.api_levels == "API 21-26"


def test_scan_results_need_location_from_api_23_unless_targeting_22_and_lower():
    # Android 6 made Wi-Fi scan results location data (WifiPermissionsUtil.canAccessScanResults): an app targeting
    # API 23+ with ACCESS_WIFI_STATE alone gets an empty list there, not on API 27 only
    _t, v = verdict("wifi_manager.get_scan_results", app("ACCESS_WIFI_STATE", min_sdk=18, target_sdk=33))
    assert v.status == "granted" and v.api_levels == "API 18-22"
    assert "an empty list without a location permission from API 23" in v.reason
    _t, legacy = verdict("wifi_manager.get_scan_results", app("ACCESS_WIFI_STATE", min_sdk=18, target_sdk=22))
    assert legacy.status == "granted" and legacy.api_levels == "API 18-26" and "foreground" in legacy.reason
    _t, located = verdict("wifi_manager.get_scan_results",
                          app("ACCESS_WIFI_STATE", "ACCESS_COARSE_LOCATION", min_sdk=23, target_sdk=33))
    assert located.status == "runtime-permission" and located.api_levels == "API 23-28"


@pytest.mark.parametrize("api_id", ["wifi_manager.get_scan_results", "wifi_info.get_ssid",
                                    "telephony.get_all_cell_info"])
def test_coarse_location_still_does_on_api_29_for_apps_targeting_28_and_lower(api_id):
    # WifiPermissionsUtil / LocationAccessPolicy ask for FINE only when the app targets API 29+
    _t, old = verdict(api_id, app("ACCESS_WIFI_STATE", "ACCESS_COARSE_LOCATION", min_sdk=29, target_sdk=28))
    assert old.status == "runtime-permission" and old.api_levels == "API 29+"
    _t, new = verdict(api_id, app("ACCESS_WIFI_STATE", "ACCESS_COARSE_LOCATION", min_sdk=29, target_sdk=29))
    assert new.status != "runtime-permission" and "ACCESS_FINE_LOCATION" in new.reason


def test_advertising_id_needs_ad_id_when_targeting_33():
    ad = "com.google.android.gms.permission.AD_ID"
    _t, v = verdict("gms.advertising_id_info.get_id", app("INTERNET", target_sdk=33))
    assert v.status == "degraded" and "zeros" in v.reason
    _t, v = verdict("gms.advertising_id_info.get_id", app(ad, target_sdk=33))
    assert v.status == "granted" and v.permissions == (ad,) and "opt-out" in v.reason
    _t, v = verdict("gms.advertising_id_info.get_id", app("INTERNET", target_sdk=30))
    assert v.status == "granted" and v.permissions == ()


def test_android_id_is_scoped_from_api_26():
    _t, v = verdict("settings.secure.android_id", app(min_sdk=26))
    assert v.status == "granted" and "signing key" in v.reason
    _t, v = verdict("settings.secure.android_id", app(min_sdk=21))
    assert v.status == "granted" and "every app" in v.reason and "signing key" in v.reason


def test_content_uris_need_their_read_permission():
    for api_id, permission in (("content_resolver.query.contacts", "READ_CONTACTS"),
                               ("content_resolver.query.call_log", "READ_CALL_LOG"),
                               ("content_resolver.query.sms", "READ_SMS"),
                               ("content_resolver.query.calendar", "READ_CALENDAR")):
        _t, v = verdict(api_id, app(permission))
        assert v.status == "runtime-permission" and v.permissions == (P + permission,), api_id


def test_accounts_and_a_permission_that_changed_level():
    # GET_ACCOUNTS: normal (install-time) until API 22, dangerous from 23
    _t, v = verdict("account_manager.get_accounts", app("GET_ACCOUNTS", min_sdk=21))
    assert v.status == "granted" and v.api_levels == "API 21-22"
    assert "GET_ACCOUNTS granted at install" in v.reason and "runtime-permission on API 23-25" in v.reason


def test_no_rule_is_unknown_never_granted():
    without = ApiRule("x.without", "android.Foo", "device_ids.imei", "none", method="bar")     # no `access`
    _t, v = judge(without, app("INTERNET"))
    assert v.status == "unknown" and "no rule" in v.reason
    partial = ApiRule("x.partial", "android.Foo", "device_ids.imei", "none", method="bar",
                      access=RULES["telephony.get_device_id"].access[:1])     # says nothing from API 29 on
    _t, v = judge(partial, app("READ_PHONE_STATE", min_sdk=29))
    assert v.status == "unknown" and "no rule in rules/apis.yaml covers API 29" in v.reason


def test_uses_permission_sdk_23():
    levels = AppLevels(21, 33, (RequestedPermission(P + "READ_CONTACTS", min_sdk_23=True),))
    _t, v = judge(RULES["content_resolver.query.contacts"], levels)
    assert v.status == "runtime-permission" and v.api_levels == "API 23+"


# -- validation of the rules files: file:line errors ------------------------------------------------------
def test_bad_access_items_are_reported_with_file_and_line(tmp_path: Path):
    base = load_yaml(Path(__file__).resolve().parents[1] / "rules" / "apis.yaml")
    assert parse_apis(base, Path("apis.yaml"))
    cases = {
        "unknown set": ("apis:\n  - {id: a.b, class: a.B, method: c, data_type: contacts, returns: none,\n"
                        "     access: nowhere}\naccess:\n  x:\n    - {any_of: []}\n", ":3: access: no rule set"),
        "two kinds": ("apis: []\naccess:\n  x:\n    - {any_of: [], degraded: why}\n", ":4:"),
        "bad level": ("apis: []\naccess:\n  x:\n    - {since: 0, any_of: []}\n", "since: 0 is not an API level"),
        "bad name": ("apis: []\naccess:\n  x:\n    - {any_of: [READ CONTACTS]}\n", "unknown permission 'READ CONTACTS'"),
        "without alone": ("apis: []\naccess:\n  x:\n    - {unavailable: gone, without: zeros}\n",
                          "without goes with any_of"),
        "bad type": ("apis: []\naccess:\n  x:\n    - {any_of: [], data_type: nope}\n", "unknown data type 'nope'"),
    }
    for label, (text, expected) in cases.items():
        path = tmp_path / f"{label.replace(' ', '_')}.yaml"
        path.write_text(text)
        with pytest.raises(InputError) as err:
            parse_apis(load_yaml(path), path)
        assert str(path) in str(err.value) and expected in str(err.value), (label, str(err.value))


# -- the corpus --------------------------------------------------------------------------------------------
def test_every_call_site_of_the_corpus_has_a_verdict_consistent_with_the_manifest():
    from audit.static.scan import scan_app
    if not APKS.is_dir():
        pytest.skip("shared corpus not present")
    apps = [p for p in sorted(APKS.glob("*.apk")) if p.stat().st_size < 2_500_000]
    seen = set()
    for apk in apps:
        report = scan_app([apk])
        requested = {p.name for p in report.permissions}
        for call in report.api_calls:
            v = call.feasibility
            assert v is not None, (apk.name, call.api_id)
            seen.add(v.status)
            # the status of each level the reason names ("runtime-permission on API 23+ (...)")
            seen.update(s for s in ("granted", "runtime-permission", "blocked") if f"{s} on API" in v.reason)
            rule = RULES[call.api_id]
            if rule.access is None:
                assert v.status == "unknown"
            if v.status == "blocked" and v.reason.startswith("missing"):
                # a missing permission is one the app does not request (or requests capped below its range)
                assert not set(v.permissions) & {p.name for p in report.permissions if p.max_sdk is None}
            if v.status in ("granted", "runtime-permission"):
                assert set(v.permissions) <= requested, (apk.name, call.api_id)
        for obs in report.observations:
            if obs.level.label in ("present", "reachable"):
                assert obs.feasibility is not None
                for e in obs.evidence:
                    if e.kind == "call-site" and obs.level.label == "reachable":
                        assert e.path and e.path[-1] == e.where
    assert {"blocked", "runtime-permission", "granted"} <= seen


def test_hard_restricted_permissions_need_the_installers_allowlist_from_android_10():
    """READ_SMS is still the user's to grant on Android 10+, but only once the installer allowlisted it: the
    verdict covers every level where it works and says so for API 29+ (not "only on Android 9 and older")."""
    _t, v = verdict("content_resolver.query.sms", app("READ_SMS", min_sdk=23))
    assert v.status == "runtime-permission" and v.api_levels == "API 23+", v
    # API 37 has a range of its own (Android 17's one-time-password protection, test_platform_api_36_37.py)
    before, after = v.reason.split("; API 29-36: ")
    assert "allowlisted" not in before and "only on" not in before
    assert "allowlisted READ_SMS" in after and "hard-restricted" in after
    assert after.count("allowlisted READ_SMS") == 2 and "; API 37+: " in after
    _t, v = verdict("content_resolver.query.contacts", app("READ_CONTACTS", min_sdk=23, target_sdk=24))
    assert "allowlisted" not in v.reason and v.api_levels == "API 23+"
