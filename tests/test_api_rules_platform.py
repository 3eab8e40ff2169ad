"""rules/apis.yaml `access` against Android's documented behaviour, one rule per test (the source of each fact is
written beside the rule in rules/apis.yaml). Each test names a case where the previous rules said "can access" to a
call Android refuses, or "blocked" to one it allows; constructed manifests (AppLevels) for the verdicts, and one
smali-built APK for the whole scan."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from smali_builds import activity_smali, build_apk, launcher_manifest, require_tools

from audit.static.apis import ApiRule, load_apis
from audit.static.feasibility import AppLevels, judge
from audit.static.manifest import RequestedPermission

P = "android.permission."
RULES = {r.id: r for r in load_apis()}
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "DataSafety_labelling.csv"


def app(*permissions, min_sdk=23, target_sdk=33) -> AppLevels:
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
    # the older getDeviceId was there all along (accepted at install below API 23)
    _t, v = verdict("telephony.get_device_id", app("READ_PHONE_STATE", min_sdk=21, target_sdk=28))
    assert v.status == "runtime-permission" and v.api_levels == "API 21-28"
    assert "API 21-22: works if the user accepts READ_PHONE_STATE when installing the app" in v.reason


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
    _t, v = verdict("telephony.subscription_info.get_icc_id", app("READ_PHONE_STATE", min_sdk=23))
    assert v.status == "runtime-permission" and v.api_levels == "API 23-29" and "2021-04-05" in v.reason


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


# -- how a dangerous permission is granted, and which apps a level installs (rules/apis.yaml `platform`) ----
def test_every_requested_dangerous_permission_was_granted_at_install_before_api_23():
    # source.android.com "Runtime permissions": install-time permissions on Android 5.1 and lower, whatever the
    # target SDK (a2dp.Vol: minSdk 15, targetSdk 25, reads the last known fix)
    _t, v = verdict("location_manager.get_last_known_location", app("ACCESS_FINE_LOCATION", min_sdk=15, target_sdk=25))
    # the user's decision either way (at install, then at runtime): runtime-permission, never `granted`
    assert v.status == "runtime-permission" and v.api_levels == "API 15+"
    assert v.reason.startswith("API 15-22: works if the user accepts ACCESS_FINE_LOCATION when installing the app "
                               "(before Android 6.0")
    assert "API 23+: works if the user allows ACCESS_FINE_LOCATION" in v.reason


def test_an_app_targeting_22_and_lower_keeps_install_time_grants_until_api_28_then_is_reviewed_then_refused():
    # souch.smsbypass: minSdk 8, targetSdk 18, reads contacts
    _t, v = verdict("content_resolver.query.contacts", app("READ_CONTACTS", min_sdk=8, target_sdk=18))
    assert v.status == "runtime-permission" and v.api_levels == "API 8-33" and v.permissions == (P + "READ_CONTACTS",)
    assert "API 23-28: works if the user accepts READ_CONTACTS when installing an app targeting API 22 and lower " \
           "(granted at install" in v.reason
    assert "revoke it in Settings: the call then returns empty data" in v.reason
    assert "API 29-33: works if the user allows READ_CONTACTS on the screen Android shows before the first " \
           "launch" in v.reason
    assert "blocked on API 34+ (an app targeting API 18 cannot be installed from API 34" in v.reason
    # never "can access" where Android does not install it
    _t, v = verdict("content_resolver.query.contacts", app("READ_CONTACTS", min_sdk=34, target_sdk=18))
    assert v.status == "blocked" and not v.possible and "INSTALL_FAILED_DEPRECATED_SDK_VERSION" in v.reason


def test_android_15_installs_no_app_targeting_below_24():
    # Android 14 refuses targets below 23, Android 15 below 24; no permission involved
    _t, v = verdict("time_zone.get_default", app(min_sdk=23, target_sdk=23))
    assert v.status == "granted" and v.api_levels == "API 23-34"
    assert "blocked on API 35+ (an app targeting API 23 cannot be installed from API 35" in v.reason
    _t, v = verdict("time_zone.get_default", app(min_sdk=21, target_sdk=24))
    assert v.status == "granted" and v.api_levels == "API 21+"
    # an app naming no <uses-sdk> targets API 1 (a target-3 app alike): accepted at install where it installs
    no_sdk = AppLevels(None, None, (RequestedPermission(P + "READ_PHONE_STATE"),))
    _t, v = judge(RULES["telephony.get_device_id"], no_sdk)
    assert v.status == "runtime-permission" and v.api_levels == "API 1-28"
    assert "degraded on API 29-33 (returns null" in v.reason and "cannot be installed from API 34" in v.reason


def test_platform_rules_are_validated(tmp_path):
    from audit.errors import InputError
    from audit.rulesdata import load_yaml
    from audit.static.apis import parse_apis
    path = tmp_path / "apis.yaml"
    path.write_text("apis: []\nplatform:\n  min_installable_target: []\n  dangerous_grants:\n"
                    "    - {status: granted, reason: at install}\n")
    with pytest.raises(InputError, match="does not name"):
        parse_apis(load_yaml(path), path)


# -- location-derived ------------------------------------------------------------------------------------
def test_neighboring_cells_still_answer_apps_targeting_28_and_lower_on_api_29():
    _t, v = verdict("telephony.get_neighboring_cell_info", app("ACCESS_COARSE_LOCATION", min_sdk=29, target_sdk=28))
    assert v.status == "runtime-permission" and v.api_levels == "API 29+"
    _t, v = verdict("telephony.get_neighboring_cell_info", app("ACCESS_FINE_LOCATION", min_sdk=29, target_sdk=29))
    assert v.status == "blocked" and "SecurityException" in v.reason


def test_android_12_lets_the_user_downgrade_to_approximate_and_wants_coarse_with_fine():
    _t, v = verdict("location_manager.request_location_updates",
                    app("ACCESS_FINE_LOCATION", "ACCESS_COARSE_LOCATION", min_sdk=31, target_sdk=31))
    assert v.status == "runtime-permission" and "approximate location only" in v.reason
    # an app targeting 31+ that requests FINE alone: some releases ignore the request (said, not assumed refused)
    for api_id in ("location_manager.request_location_updates", "location_manager.get_last_known_location"):
        _t, v = verdict(api_id, app("ACCESS_FINE_LOCATION", min_sdk=31, target_sdk=31))
        assert v.status == "runtime-permission" and "without ACCESS_COARSE_LOCATION" in v.reason, api_id
        _t, v = verdict(api_id, app("ACCESS_FINE_LOCATION", min_sdk=31, target_sdk=30))
        assert "without ACCESS_COARSE_LOCATION" not in v.reason, api_id
    # the user's choice of approximate location applies to every target on API 31+, never before
    _t, v = verdict("location_manager.request_location_updates", app("ACCESS_FINE_LOCATION", min_sdk=30, target_sdk=30))
    assert v.reason.startswith("API 30: works") and "API 31+: " in v.reason and "approximate location only" in v.reason


def test_camera_and_microphone_only_in_the_foreground_from_api_28():
    for api_id, permission in (("camera.open", "CAMERA"), ("audio_record.start_recording", "RECORD_AUDIO")):
        _t, v = verdict(api_id, app(permission, min_sdk=26))
        assert v.status == "runtime-permission" and v.api_levels == "API 26+"
        assert "API 28+: works" in v.reason and "not from the background" in v.reason.split("API 28+")[1]


def test_nmea_needs_fine_location():
    _t, v = verdict("location_manager.add_nmea_listener", app("ACCESS_COARSE_LOCATION"))
    assert v.status == "blocked" and v.permissions == (P + "ACCESS_FINE_LOCATION",)
    data_type, v = verdict("location_manager.add_nmea_listener", app("ACCESS_FINE_LOCATION"))
    assert (data_type, v.status) == ("location.precise", "runtime-permission")


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


# -- added APIs ------------------------------------------------------------------------------------------
def test_usage_stats_are_special_access_the_user_grants():
    # PACKAGE_USAGE_STATS is signature|appop: never granted at install, but the user's to allow in Settings
    _t, v = verdict("usage_stats_manager.query_events", app("PACKAGE_USAGE_STATS", min_sdk=21))
    assert v.status == "runtime-permission" and "Usage access" in v.reason and v.possible
    _t, v = verdict("usage_stats_manager.query_events", app(min_sdk=21))
    assert v.status == "degraded" and "empty" in v.reason
    # the same item without `special` is what a signature permission gives: nothing
    item = RULES["usage_stats_manager.query_events"].access[0]
    plain = ApiRule("x.plain", "android.Foo", "app_activity.app_interactions", "none", method="bar",
                    access=(type(item)(any_of=item.any_of),))
    _t, v = judge(plain, app("PACKAGE_USAGE_STATS", min_sdk=21))
    assert v.status == "blocked"


def test_running_apps_only_the_callers_own_from_lollipop():
    _t, v = verdict("activity_manager.get_running_tasks", app("GET_TASKS", min_sdk=16))
    assert v.possible and v.api_levels == "API 16-20"
    _t, v = verdict("activity_manager.get_recent_tasks", app("GET_TASKS", min_sdk=21))
    assert v.status == "degraded"
    _t, v = verdict("activity_manager.get_running_app_processes", app(min_sdk=23))
    assert v.status == "degraded" and "own processes" in v.reason


def test_bluetooth_devices_need_bluetooth_connect_when_targeting_31():
    for api_id in ("bluetooth_adapter.get_bonded_devices", "bluetooth_device.get_name"):
        _t, v = verdict(api_id, app("BLUETOOTH", min_sdk=31, target_sdk=31))
        assert v.status == "blocked" and "BLUETOOTH_CONNECT" in v.reason
        _t, v = verdict(api_id, app("BLUETOOTH", min_sdk=31, target_sdk=30))
        assert v.status == "granted"


def test_carrier_needs_no_permission_but_the_subscription_list_does():
    _t, v = verdict("telephony.get_network_operator_name", app())
    assert v.status == "granted"
    _t, v = verdict("subscription_manager.get_active_subscription_info_list", app())
    assert v.status == "blocked" and "READ_PHONE_STATE" in v.reason


def test_reference_apis_with_a_data_safety_label_are_mapped_or_left_out_for_a_stated_reason():
    """../shared/reference (an API -> Data-safety mapping): each API it labels is in rules/apis.yaml, or left out
    here with the reason."""
    if not REFERENCE.is_file():
        pytest.skip("shared reference not present")
    left_out = {
        # not data about the user or device (own-app state, capabilities)
        "android.app.usage.UsageStatsManager.getAppStandbyBucket": "the app's own standby bucket",
        "android.bluetooth.BluetoothDevice.getType": "a device class constant",
        "android.bluetooth.BluetoothDevice.getUuids": "profile UUIDs, not identifying",
        "android.telephony.TelephonyManager.getPhoneCount": "a number of SIM slots",
        "android.telephony.TelephonyManager.getDataNetworkType": "a radio technology constant",
        "android.telephony.TelephonyManager.getVoiceNetworkType": "a radio technology constant",
        "android.telephony.TelephonyManager.getSimSpecificCarrierId": "a carrier id (network.carrier needs no API)",
        "android.content.ContentProvider.openAssetFile": "the app's own provider serving files",
        "android.content.ContentProvider.openTypedAssetFile": "the app's own provider serving files",
        "android.app.WallpaperManager.getDrawable": "its permission changed per release without a source here",
        # account data of the app's own authenticator only (the authenticator's uid or signature)
        "android.accounts.AccountManager.addAccount": "writes an account",
        "android.accounts.AccountManager.getAuthToken": "a token the authenticator or the user grants",
        "android.accounts.AccountManager.getPassword": "own authenticator only",
        "android.accounts.AccountManager.setPassword": "writes",
        "android.accounts.AccountManager.getUserData": "own authenticator only",
        "android.accounts.AccountManager.setUserData": "writes",
        "android.accounts.AccountManager.getAccountsByTypeForPackage": "hidden API (@hide)",
        # labelled but the data comes from elsewhere in the map
        "android.telephony.TelephonyManager.getCardIdForDefaultEuicc": "an index, not the EID",
        "android.telephony.TelephonyManager.getGroupIdLevel1": "an operator group id, not the user's",
        "android.telephony.TelephonyManager.getDeviceSoftwareVersion": "the IMEI SV: a software version",
        "android.telephony.TelephonyManager.getVoiceMailNumber": "the carrier's voicemail number",
        "android.telephony.PhoneNumberUtils.isVoiceMailNumber": "a yes/no about a number the app has",
        "android.telecom.TelecomManager.isVoiceMailNumber": "a yes/no about a number the app has",
        "android.telecom.TelecomManager.getCallCapablePhoneAccounts": "phone account handles, not numbers",
        "android.telecom.TelecomManager.getDefaultOutgoingPhoneAccount": "a phone account handle",
        "android.bluetooth.BluetoothHeadset.getConnectedDevices": "a profile proxy list (BluetoothDevice.getName "
                                                                    "is mapped)",
        "android.bluetooth.BluetoothHearingAid.getDevicesMatchingConnectionStates": "as above",
        "android.bluetooth.BluetoothManager.getConnectedDevices": "as above",
        "android.bluetooth.BluetoothManager.getDevicesMatchingConnectionStates": "as above",
        "android.bluetooth.BluetoothA2dp.getConnectedDevices": "as above",
        "android.bluetooth.BluetoothA2dp.getDevicesMatchingConnectionStates": "as above",
        "android.accounts.AccountManager.getPreviousName": "own authenticator only",
        "android.telephony.TelephonyManager.getVisualVoicemailPackageName": "the voicemail app's package name",
        "android.media.RingtoneManager.getRingtone": "a playable system sound, not the user's files",
        # satellites and callbacks: no position in them, or no call site to find
        "android.location.LocationManager.addGpsStatusListener": "satellite status, no position (NMEA is mapped)",
        "android.location.LocationManager.registerGnssStatusCallback": "satellite status, no position",
        "android.telephony.PhoneStateListener.onCellInfoChanged": "a callback the app overrides, never a call site",
        "android.telephony.PhoneStateListener.onCellLocationChanged": "a callback the app overrides",
        "android.telephony.TelephonyManager.getServiceState": "READ_PHONE_STATE plus (API 29+) location for its "
                                                              "cell fields: not mapped until checked level by level",
        # device state and diagnostics: no permission on any level and called by every disk cache and crash
        # reporter; the map keeps to data about the user and device identity
        "android.os.BatteryManager.getIntProperty": "device state",
        "android.os.BatteryManager.getLongProperty": "device state",
        "android.os.Debug.getMemoryInfo": "the app's own memory",
        "android.os.Debug.getNativeHeapAllocatedSize": "the app's own heap",
        "android.os.Debug.getNativeHeapFreeSize": "the app's own heap",
        "android.os.Debug.getNativeHeapSize": "the app's own heap",
        "android.os.Debug.getRuntimeStat": "the app's own runtime",
        "android.os.health.HealthStats.getMeasurement": "the app's own power use",
        "android.os.health.HealthStats.getStats": "the app's own power use",
        "android.os.PowerManager.getCurrentThermalStatus": "device state",
        "android.os.StrictMode.getThreadPolicy": "the app's own policy",
        "android.os.StrictMode.getVmPolicy": "the app's own policy",
        "android.app.AppOpsManager.startWatchingMode": "the app's own app-ops",
        "android.app.AppOpsManager.startWatchingStarted": "the app's own app-ops",
        "java.io.File.getFreeSpace": "storage space, called by every disk cache",
        "java.io.File.getTotalSpace": "storage space",
        "java.io.File.getUsableSpace": "storage space",
    }
    mapped = {f"{r.class_name.replace('$', '.')}.{r.method or r.field}" for r in RULES.values()}
    missing = []
    with REFERENCE.open(newline="") as fh:
        for row in csv.DictReader(fh):
            api, label = (row.get("FUNCTIONS") or "").strip(), (row.get("FINAL") or "").strip()
            if not api or not label or label == "1":      # unlabelled, or the study's marker for "no label"
                continue
            if api.replace("$", ".") not in mapped and api not in left_out:
                missing.append(f"{api} ({label})")
    assert not missing, "\n".join(missing)


# -- a whole scan ----------------------------------------------------------------------------------------

MANIFEST = launcher_manifest("org.example.legacytarget", min_sdk=28, target_sdk=25, launcher="org.example.legacytarget.Main",
                             permissions=("android.permission.GET_ACCOUNTS", "android.permission.PACKAGE_USAGE_STATS"))

MAIN = activity_smali("org/example/legacytarget/Main", """\
    invoke-static {p0}, Landroid/accounts/AccountManager;->get(Landroid/content/Context;)Landroid/accounts/AccountManager;
    move-result-object v0
    invoke-virtual {v0}, Landroid/accounts/AccountManager;->getAccounts()[Landroid/accounts/Account;
    sget-object v1, Landroid/os/Build;->SERIAL:Ljava/lang/String;
    invoke-virtual {p0}, Landroid/app/Activity;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v2
    const-string v3, "android_id"
    invoke-static {v2, v3}, Landroid/provider/Settings$System;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    const-string v3, "usagestats"
    invoke-virtual {p0, v3}, Landroid/app/Activity;->getSystemService(Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v4
    check-cast v4, Landroid/app/usage/UsageStatsManager;
    const-wide/16 v5, 0x0
    invoke-virtual {v4, v5, v6, v5, v6}, Landroid/app/usage/UsageStatsManager;->queryEvents(JJ)Landroid/app/usage/UsageEvents;
""", registers=8)


def _build(tmp_path: Path) -> Path:
    require_tools()
    return build_apk(tmp_path / "legacytarget", MANIFEST, {"org/example/legacytarget/Main": MAIN}, name="legacy")


def test_a_scan_of_an_app_targeting_25_on_api_28_and_later(tmp_path):
    """minSdk 28, targetSdk 25: GET_ACCOUNTS still lists accounts, Build.SERIAL is the real serial, Usage access is
    the user's to grant, Settings.System's android_id is the Android ID: each of them was `degraded`, `blocked` or
    `unknown` before."""
    from audit.static.scan import scan_app
    report = scan_app([_build(tmp_path)])
    by_api = {c.api_id: c for c in report.api_calls}
    expected = {"account_manager.get_accounts": "runtime-permission", "build.serial_field": "granted",
                "settings.system.android_id": "granted", "usage_stats_manager.query_events": "runtime-permission"}
    assert {a: by_api[a].feasibility.status for a in expected if a in by_api} == expected
    assert all(by_api[a].reachable for a in expected)


def test_special_access_is_an_app_op_in_aosps_own_data():
    """`special` lets a requested signature permission count as the user's to grant: only true of app-op
    permissions (protectionLevel ...|appop in AOSP's data, as androguard ships it), on every level it is used."""
    import json
    import os
    import re
    androguard = pytest.importorskip("androguard")
    folder = Path(os.path.dirname(androguard.__file__)) / "core" / "api_specific_resources" / "aosp_permissions"
    data = {int(re.search(r"_(\d+)\.json$", p.name).group(1)): json.loads(p.read_text())["permissions"]
            for p in folder.glob("permissions_*.json")}
    if not data:
        pytest.skip("androguard ships no AOSP permission data")
    checked = 0
    for rule in RULES.values():
        for item in rule.access or ():
            if not item.special:
                continue
            for permission in item.any_of:
                for api in sorted(data):
                    if api >= max(item.since, rule.added or 1) and permission in data[api]:
                        assert "appop" in data[api][permission]["protectionLevel"].split("|"), (permission, api)
                        checked += 1
    assert checked


# -- what ordinary apps are refused, a system app may get (rules/apis.yaml `system_only`) -------------------------
def test_an_app_requesting_the_privileged_permission_may_be_a_system_app_unknown_not_refused():
    # READ_PRIVILEGED_PHONE_STATE is signature|privileged|role (AOSP data): a store app requesting it is refused,
    # a privileged preinstalled app is granted it; the APK cannot say which this is
    _t, v = verdict("telephony.get_device_id", app("READ_PHONE_STATE", "READ_PRIVILEGED_PHONE_STATE", min_sdk=29,
                                                   target_sdk=30))
    assert v.status == "unknown" and v.possible and v.permissions == (P + "READ_PRIVILEGED_PHONE_STATE",)
    assert "requests READ_PRIVILEGED_PHONE_STATE, which Android grants only to a privileged app" in v.reason
    # an old target holding READ_PHONE_STATE too (the null of Android 10 is for ordinary apps)
    _t, v = verdict("telephony.get_imei", app("READ_PHONE_STATE", "READ_PRIVILEGED_PHONE_STATE", min_sdk=29,
                                              target_sdk=28))
    assert v.status == "unknown" and v.reason.startswith("returns null")
    # without it: refused, as before
    _t, v = verdict("telephony.get_device_id", app("READ_PHONE_STATE", min_sdk=29, target_sdk=30))
    assert v.status == "blocked"
    # the MAC constant and other apps' processes alike
    _t, v = verdict("wifi_info.get_mac_address", app("ACCESS_WIFI_STATE", "LOCAL_MAC_ADDRESS", min_sdk=23))
    assert v.status == "unknown" and "02:00:00:00:00:00" in v.reason and "LOCAL_MAC_ADDRESS" in v.reason
    _t, v = verdict("wifi_info.get_mac_address", app("ACCESS_WIFI_STATE", min_sdk=23))
    assert v.status == "degraded"
    _t, v = verdict("activity_manager.get_running_app_processes", app("REAL_GET_TASKS", min_sdk=23))
    assert v.status == "unknown" and "REAL_GET_TASKS" in v.reason


def test_an_app_sharing_a_platform_user_id_is_part_of_the_system():
    # android:sharedUserId="android.uid.system" installs only with the platform's signature
    system = AppLevels(29, 30, (RequestedPermission(P + "READ_PHONE_STATE"),), "android.uid.system")
    _t, v = judge(RULES["telephony.get_device_id"], system)
    assert v.status == "unknown" and "shares the platform's user id android.uid.system" in v.reason
    # a shared user id of the app's own signer is not the platform's
    own = AppLevels(29, 30, (RequestedPermission(P + "READ_PHONE_STATE"),), "com.example.shared")
    _t, v = judge(RULES["telephony.get_device_id"], own)
    assert v.status == "blocked"
