"""rules/apis.yaml `access` against Android's documented behaviour, one rule per test (the source of each fact is
written beside the rule in rules/apis.yaml). Each test names a case where the previous rules said "can access" to a
call Android refuses, or "blocked" to one it allows; constructed manifests (AppLevels) for the verdicts."""
from __future__ import annotations

import pytest

from audit.static.apis import load_apis
from audit.static.feasibility import AppLevels, judge
from audit.static.manifest import RequestedPermission

P = "android.permission."
RULES = {r.id: r for r in load_apis()}


def app(*permissions, min_sdk=21, target_sdk=33) -> AppLevels:
    return AppLevels(min_sdk, target_sdk, tuple(RequestedPermission(p if "." in p else P + p) for p in permissions))


def verdict(api_id: str, levels: AppLevels):
    return judge(RULES[api_id], levels)


# -- device identifiers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_id", ["telephony.get_device_id", "telephony.get_subscriber_id", "build.get_serial"])
def test_android_10_answers_null_to_old_targets_holding_read_phone_state_and_throws_otherwise(api_id):
    _t, v = verdict(api_id, app("READ_PHONE_STATE", min_sdk=29, target_sdk=28))
    assert v.status == "degraded" and "returns null" in v.reason and not v.possible
    _t, v = verdict(api_id, app("INTERNET", min_sdk=29, target_sdk=28))
    assert v.status == "blocked" and "READ_PRIVILEGED_PHONE_STATE" in v.reason
    _t, v = verdict(api_id, app("READ_PHONE_STATE", min_sdk=29, target_sdk=29))
    assert v.status == "blocked"


def test_methods_added_in_api_26_cannot_run_below_it():
    _t, v = verdict("build.get_serial", app("READ_PHONE_STATE", min_sdk=21, target_sdk=28))
    assert v.status == "runtime-permission" and v.api_levels == "API 26-28"
    assert "Build.getSerial does not exist before API 26" in v.reason
    # the older getDeviceId was there all along
    _t, v = verdict("telephony.get_device_id", app("READ_PHONE_STATE", min_sdk=21, target_sdk=28))
    assert v.api_levels == "API 21-28"


def test_build_serial_field_is_real_for_apps_targeting_27_and_lower_from_api_28():
    # ActivityManagerService.bindApplication (API 28 through 15): targetSdkVersion < P gets the real serial
    _t, v = verdict("build.serial_field", app(min_sdk=29, target_sdk=27))
    assert v.status == "granted" and v.api_levels == "API 29+"
    _t, v = verdict("build.serial_field", app(min_sdk=29, target_sdk=28))
    assert v.status == "degraded" and "unknown" in v.reason
    # on API 26-27 only apps targeting 25 and lower got it
    _t, v = verdict("build.serial_field", app(min_sdk=26, target_sdk=26))
    assert v.status == "granted" and v.api_levels == "API 28+"
    assert "degraded on API 26-27" in v.reason


def test_the_iccid_is_empty_from_api_30_even_with_read_phone_state():
    _t, v = verdict("telephony.subscription_info.get_icc_id", app("READ_PHONE_STATE", min_sdk=30))
    assert v.status == "degraded" and "empty string" in v.reason
    _t, v = verdict("telephony.subscription_info.get_icc_id", app("READ_PHONE_STATE", min_sdk=21))
    assert v.status == "runtime-permission" and v.api_levels == "API 22-29" and "2021-04-05" in v.reason


def test_network_interface_mac_until_api_29_then_constant_or_null():
    # libcore NetworkInterface.getHardwareAddress: null from API 30 (02:00:00:00:00:00 for targets below 30)
    _t, v = verdict("network_interface.get_hardware_address", app(min_sdk=21))
    assert v.status == "granted" and v.api_levels == "API 21-29" and "blocked on API 30+" in v.reason
    _t, v = verdict("network_interface.get_hardware_address", app(min_sdk=30, target_sdk=29))
    assert v.status == "degraded" and "02:00:00:00:00:00" in v.reason
    _t, v = verdict("network_interface.get_hardware_address", app(min_sdk=30, target_sdk=30))
    assert v.status == "blocked"


def test_settings_system_android_id_reads_the_secure_value():
    # android_id is in Settings.System.MOVED_TO_SECURE: the same answer as Settings.Secure, not `unknown`
    _t, v = verdict("settings.system.android_id", app(min_sdk=26))
    assert v.status == "granted" and "signing key" in v.reason


# -- location-derived ------------------------------------------------------------------------------------
def test_neighboring_cells_still_answer_apps_targeting_28_and_lower_on_api_29():
    _t, v = verdict("telephony.get_neighboring_cell_info", app("ACCESS_COARSE_LOCATION", min_sdk=29, target_sdk=28))
    assert v.status == "runtime-permission" and v.api_levels == "API 29+"
    _t, v = verdict("telephony.get_neighboring_cell_info", app("ACCESS_FINE_LOCATION", min_sdk=29, target_sdk=29))
    assert v.status == "blocked" and "SecurityException" in v.reason


# -- accounts --------------------------------------------------------------------------------------------
def test_accounts_from_api_26_by_target_and_read_contacts():
    # AccountManagerService.resolveAccountVisibility: GET_ACCOUNTS still works for apps targeting 25 and lower,
    # READ_CONTACTS shows accounts whose type syncs contacts to any app
    _t, v = verdict("account_manager.get_accounts", app("GET_ACCOUNTS", min_sdk=26, target_sdk=25))
    assert v.status == "runtime-permission" and v.api_levels == "API 26+"
    _t, v = verdict("account_manager.get_accounts", app("READ_CONTACTS", min_sdk=26, target_sdk=33))
    assert v.status == "runtime-permission" and "syncs contacts" in v.reason
    _t, v = verdict("account_manager.get_accounts", app("GET_ACCOUNTS", min_sdk=26, target_sdk=33))
    assert v.status == "degraded" and not v.possible


# -- media -----------------------------------------------------------------------------------------------
def test_media_store_before_api_19_and_under_scoped_storage():
    # READ_EXTERNAL_STORAGE: "enforced starting in API level 19"
    _t, v = verdict("content_resolver.query.media_images", app(min_sdk=16, target_sdk=33))
    assert v.status == "granted" and v.api_levels == "API 16-18" and "not enforced" in v.reason
    # from API 29 an app without the permission sees its own media only: a filtered answer, not an exception
    _t, v = verdict("content_resolver.query.media_images", app(min_sdk=29, target_sdk=33))
    assert v.status == "degraded" and "own media" in v.reason
    _t, v = verdict("content_resolver.query.media_images", app("READ_EXTERNAL_STORAGE", min_sdk=23, target_sdk=33))
    assert v.status == "runtime-permission" and v.api_levels == "API 23-32"
    _t, v = verdict("content_resolver.query.media_images", app("READ_MEDIA_IMAGES", min_sdk=33, target_sdk=33))
    assert v.status == "runtime-permission" and v.api_levels == "API 33+"
    _t, v = verdict("content_resolver.query.media_images",
                    app("READ_MEDIA_VISUAL_USER_SELECTED", min_sdk=33, target_sdk=34))
    assert v.api_levels == "API 34+" and "the user selects" in v.reason


