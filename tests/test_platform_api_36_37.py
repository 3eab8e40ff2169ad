"""Android 16 (API 36) and Android 17 (API 37) in the platform rules: feasibility judges every level up to the newest
released one (MAX_API), every bound a rule names lies within 1..MAX_API, and the rules that changed in 36 / 37 give
an app targeting 37 a different verdict from one targeting 36 or 35 (constructed manifests, and a smali-built APK
for the whole scan). The source of each fact is written beside the rule in rules/apis.yaml / rules/permissions.yaml.

Checked and left unverified (no source reached here establishes them; the rules keep their API 35 answer on 36-37):
  - the lowest installable target on Android 17 (`platform.min_installable_target`: 24 from API 35; AOSP and
    F-Droid's CompatibilityCheckerUtils confirm 24 for Android 16 only);
  - Android 17's wider SMS one-time-password protection (behaviour changes for all apps): which messages, for
    whom and for how long were not readable in full, so `sms` / `sms_receive` are unchanged;
  - Build.SERIAL's value to apps targeting 27- (`build_serial_field`, read from AOSP through Android 15).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from smali_builds import build_apk, require_tools

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


def test_the_newest_level_still_refuses_apps_targeting_below_24():
    # Android 16 kept Android 15's lowest installable target (24); nothing says Android 17 lowered it
    assert load_platform().lowest_target_installed(36) == 24
    assert load_platform().lowest_target_installed(MAX_API) == 24
    _t, v = judge(RULES["time_zone.get_default"], app(min_sdk=21, target_sdk=23))
    assert v.status == "granted" and v.api_levels == "API 21-34"
    assert f"blocked on API 35+ (an app targeting API 23 cannot be installed from API 35" in v.reason
