"""Android 16 (API 36) and Android 17 (API 37) in the platform rules: feasibility judges every level up to the newest
released one (MAX_API), every bound a rule names lies within 1..MAX_API, and the rules that changed in 36 / 37 give
an app targeting 37 a different verdict from one targeting 36 or 35 (constructed manifests, and a smali-built APK
for the whole scan). The source of each fact is written beside the rule in rules/apis.yaml / rules/permissions.yaml.

Checked and left unverified (no source reached here establishes them; the rules keep their API 35 answer on 36-37):
  - the lowest installable target on Android 17 (`platform.min_installable_target`: 24 from API 35; AOSP and
    F-Droid's CompatibilityCheckerUtils confirm 24 for Android 16 only);
  - Android 17's SMS one-time-password protection was read as third-party reviews quote the behaviour-change
    pages (the pages themselves only in part): `sms` / `sms_receive` keep their status and say it in a note;
  - Build.SERIAL's value to apps targeting 27- (`build_serial_field`, read from AOSP through Android 15).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from smali_builds import activity_smali, build_apk, launcher_manifest, require_tools

from audit.rulesdata import load_yaml, rules_dir
from audit.static import feasibility
from audit.static.apis import load_apis, load_platform
from audit.static.feasibility import MAX_API, AppLevels, judge
from audit.static.manifest import RequestedPermission, permission_rules

P = "android.permission."
RULES = {r.id: r for r in load_apis()}


def app(*permissions, min_sdk=23, target_sdk=35) -> AppLevels:
    return AppLevels(min_sdk, target_sdk, tuple(RequestedPermission(p if "." in p else P + p) for p in permissions))


# -- the newest level -----------------------------------------------------------------------------------------
def test_android_16_and_17_are_judged_as_themselves():
    # an app whose minSdk is 37 runs on API 37 only: the verdict must name API 37, not the older level the rules
    # stopped at (before, every app with minSdk 36+ was judged on API 35 alone)
    _t, v = judge(RULES["time_zone.get_default"], app(min_sdk=37, target_sdk=37))
    assert v.status == "granted" and v.api_levels == "API 37+"
    _t, v = judge(RULES["content_resolver.query.contacts"], app("READ_CONTACTS", min_sdk=36, target_sdk=36))
    assert v.status == "runtime-permission" and v.api_levels == "API 36+"
    assert feasibility.MAX_API >= 37
    assert AppLevels(36, 36, ()).levels == range(36, MAX_API + 1)


def test_every_level_up_to_max_api_has_its_android_version_name():
    names = feasibility._ANDROID
    assert names[36] == "16" and names[37] == "17"
    assert set(range(1, MAX_API + 1)) <= set(names)
    assert max(names) == MAX_API, "a version name past MAX_API: raise MAX_API with the rules"


def _bounds_of_access_items():
    for rule in load_apis():
        for item in rule.access or ():
            for field in ("since", "until", "target_min", "target_max"):
                value = getattr(item, field)
                if value is not None:
                    yield f"{rule.access_name}.{field}", value
        if rule.added is not None:
            yield f"{rule.id}.added", rule.added


def test_every_bound_a_rule_names_lies_within_1_and_max_api():
    """A rule about a level past MAX_API would never be applied (feasibility stops at MAX_API), and one below 1
    is no level: either is a rule that silently does nothing."""
    bounds = list(_bounds_of_access_items())
    platform = load_platform()
    bounds += [(f"min_installable_target.since={since}", since) for since, _t in platform.min_installable_target]
    bounds += [(f"min_installable_target.target={target}", target) for _s, target in platform.min_installable_target]
    for grant in platform.dangerous_grants:
        bounds += [("dangerous_grants.since", grant.since)]
        bounds += [("dangerous_grants.until", grant.until)] if grant.until is not None else []
        bounds += [("dangerous_grants.target_max", grant.target_max)] if grant.target_max is not None else []
    for name, rule in permission_rules().items():
        bounds += [(f"{name}.{f}", getattr(rule, f)) for f in ("since", "until", "hard_restricted", "implicit_below_target")
                   if getattr(rule, f) is not None]
        bounds += [(f"{name}.levels", first) for first, _level in rule.levels]
    assert len(bounds) > 200
    outside = [(where, value) for where, value in bounds if not 1 <= value <= MAX_API]
    assert not outside, outside
    # the newest level some rule names is the newest level feasibility judges: the rules know Android 17
    assert max(value for _w, value in bounds) == MAX_API


@pytest.mark.parametrize("target", [35, 36, 37])
def test_every_rule_answers_for_android_16_and_17(target):
    """No access set stops short of the newest levels: an app running on API 36-37 (minSdk 36), with every permission
    any rule names or without any, gets a verdict from the rules for every API the map knows, never "no rule covers
    API 36" (which would make it `unknown`), and its levels are API 36+."""
    every = sorted({p for r in load_apis() for i in r.access or () for p in (*(i.any_of or ()), *i.all_of,
                                                                           *i.if_held, *i.system_only)})
    assert len(every) > 20
    for permissions in ((), tuple(every)):
        levels = AppLevels(36, target, tuple(RequestedPermission(p) for p in permissions))
        for rule in load_apis():
            if rule.access is None:
                continue
            _t, v = judge(rule, levels)
            assert "no rule in rules/apis.yaml covers" not in v.reason, (rule.id, target, v.reason)
            assert v.api_levels == "API 36+", (rule.id, v.api_levels)


def test_the_newest_level_still_refuses_apps_targeting_below_24():
    # Android 16 kept Android 15's lowest installable target (24); nothing says Android 17 lowered it
    assert load_platform().lowest_target_installed(36) == 24
    assert load_platform().lowest_target_installed(MAX_API) == 24
    _t, v = judge(RULES["time_zone.get_default"], app(min_sdk=21, target_sdk=23))
    assert v.status == "granted" and v.api_levels == "API 21-34"
    assert f"blocked on API 35+ (an app targeting API 23 cannot be installed from API 35" in v.reason


# -- Android 17: local network protection -----------------------------------------------------------------------
def test_access_local_network_is_a_dangerous_permission_from_api_37():
    """developer.android.com/privacy-and-security/local-network-permission: apps targeting 37 need
    ACCESS_LOCAL_NETWORK (dangerous, API 37) for LAN traffic. Requested by such an app it was `unknown`."""
    rule = permission_rules()[P + "ACCESS_LOCAL_NETWORK"]
    assert rule.since == 37 and rule.protection_at(37) == "dangerous"
    levels = app("ACCESS_LOCAL_NETWORK", min_sdk=30, target_sdk=37)
    assert levels.holds(P + "ACCESS_LOCAL_NETWORK", 37) and levels.dangerous(P + "ACCESS_LOCAL_NETWORK", 37)
    # it does not exist on Android 16: requested there it is nothing
    assert not levels.requests(P + "ACCESS_LOCAL_NETWORK", 36)
    raw = load_yaml(rules_dir() / "permissions.yaml")["permissions"][P + "ACCESS_LOCAL_NETWORK"]
    assert "local-network-permission" in raw["source"]


def test_the_location_button_permission_is_known_from_api_37():
    """USE_LOCATION_BUTTON (API 37, normal): its only use is a precise fix the user hands over by tapping the
    system's button, so requesting it is a declared-permission of location.precise, never `unknown`."""
    from audit.static.manifest import Manifest, permissions_of
    rule = permission_rules()[P + "USE_LOCATION_BUTTON"]
    assert rule.since == 37 and rule.protection_at(37) == "normal" and rule.observe
    assert rule.data_types == ("location.precise",)
    manifest = Manifest("org.example.button", None, None, 30, 37, None, None,
                        (RequestedPermission(P + "USE_LOCATION_BUTTON"),), (), (), ())
    (permission,) = permissions_of(manifest)
    assert permission.protection_level == "normal" and permission.data_types == ("location.precise",)


# -- Android 17: ContactsProvider (CP2) for apps targeting 37 ---------------------------------------------------
@pytest.mark.parametrize("target", [35, 36, 37])
def test_contacts_stay_readable_with_read_contacts_and_targets_37_lose_the_account_columns(target):
    _t, v = judge(RULES["content_resolver.query.contacts"], app("READ_CONTACTS", min_sdk=30, target_sdk=target))
    assert v.status == "runtime-permission" and v.api_levels == "API 30+"
    says_restricted = "without the PII columns" in v.reason
    assert says_restricted == (target >= 37)
    if target >= 37:
        assert v.reason.startswith("API 30-36: works if the user allows READ_CONTACTS; API 37+: works if the user "
                                   "allows READ_CONTACTS (from API 37 an app targeting 37+")
    # without the permission nothing changes: blocked on every level, Android 17 included
    _t, v = judge(RULES["content_resolver.query.contacts"], app("INTERNET", min_sdk=30, target_sdk=target))
    assert v.status == "blocked" and v.api_levels == "API 30+"


# -- Android 17: SMS one-time passwords --------------------------------------------------------------------------
@pytest.mark.parametrize("api_id,permission", [("content_resolver.query.sms", "READ_SMS"),
                                               ("sms_message.get_message_body", "RECEIVE_SMS")])
@pytest.mark.parametrize("target", [35, 36, 37])
def test_one_time_passwords_reach_sms_readers_three_hours_late_on_android_17(api_id, permission, target):
    _t, v = judge(RULES[api_id], app(permission, min_sdk=30, target_sdk=target))
    # the other messages stay readable: the user's to allow on every level, Android 17 included
    assert v.status == "runtime-permission" and v.api_levels == "API 30+"
    before, _sep, on_37 = v.reason.partition("API 37+: ")
    assert "three hours late" in on_37 and "three hours late" not in before
    # a target-37 app loses every message holding a one-time password for three hours; an older target only the
    # WebOTP-format ones meant for another app
    assert ("a message holding a one-time password reaches an app targeting 37+" in on_37) == (target >= 37)
    assert ("in WebOTP format meant for another app" in on_37) == (target < 37)


# -- one scan of a real APK targeting 37 ------------------------------------------------------------------------
MANIFEST = launcher_manifest("org.example.android17", min_sdk=36, target_sdk="{target}", launcher="org.example.android17.Main",
                             permissions=("android.permission.INTERNET", "android.permission.READ_CONTACTS",
                                          "android.permission.ACCESS_LOCAL_NETWORK"))

MAIN = activity_smali("org/example/android17/Main", """\
    invoke-virtual {p0}, Landroid/app/Activity;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    sget-object v1, Landroid/provider/ContactsContract$Data;->CONTENT_URI:Landroid/net/Uri;
    const/4 v2, 0x0
    invoke-virtual/range {v0 .. v5}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    invoke-static {}, Ljava/util/TimeZone;->getDefault()Ljava/util/TimeZone;
""", registers=8)


def _scan(tmp_path: Path, target: int):
    from audit.static.scan import scan_app
    require_tools()
    apk = build_apk(tmp_path / f"t{target}", MANIFEST.replace("{target}", str(target)),
                    {"org/example/android17/Main": MAIN}, name=f"android17_t{target}")
    return scan_app([apk])


@pytest.mark.parametrize("target", [35, 36, 37])
def test_a_scan_of_an_app_for_android_16_and_17(tmp_path, target):
    report = _scan(tmp_path, target)
    by_api = {c.api_id: c for c in report.api_calls}
    contacts = by_api["content_resolver.query.contacts"].feasibility
    assert contacts.status == "runtime-permission" and contacts.api_levels == "API 36+"
    assert ("without the PII columns" in contacts.reason) == (target >= 37)
    assert by_api["time_zone.get_default"].feasibility.api_levels == "API 36+"
    # the local network permission is known: dangerous, never `unknown`
    local = {p.name: p for p in report.permissions}[P + "ACCESS_LOCAL_NETWORK"]
    assert local.protection_level == "dangerous"
