"""Reads the map in rules/apis.yaml must not miss: a contact looked up by phone number (ContactsContract's filter and
lookup URIs), an incoming SMS parsed from its broadcast, a paired or discovered Bluetooth device's address. Each
test names a read the previous map did not find; a smali-built APK for the whole scan, the verdicts on constructed
manifests, and the real apps where an unseen-app scan found them (souch.smsbypass, a2dp.Vol) when they are cached."""
from __future__ import annotations

from pathlib import Path

import pytest
from smali_builds import (activity_smali, build_apk, constructor_smali, launcher_manifest, receiver_smali,
                          require_tools)

from audit.model import Level
from audit.static.apis import load_apis
from audit.static.feasibility import AppLevels, judge
from audit.static.manifest import RequestedPermission

P = "android.permission."
RULES = {r.id: r for r in load_apis()}
SMS_READS = ("sms_intents.get_messages_from_intent", "sms_message.create_from_pdu", "sms_message.get_message_body",
             "sms_message.get_display_message_body", "sms_message.get_originating_address")


def app(*permissions, min_sdk=23, target_sdk=33) -> AppLevels:
    return AppLevels(min_sdk, target_sdk, tuple(RequestedPermission(p if "." in p else P + p) for p in permissions))


def verdict(api_id: str, levels: AppLevels):
    return judge(RULES[api_id], levels)


# -- the rules --------------------------------------------------------------------------------------------
def test_contact_lookups_by_number_email_or_name_are_contacts_queries():
    fields = set(RULES["content_resolver.query.contacts"].fields_any)
    for field in ("ContactsContract$PhoneLookup.CONTENT_FILTER_URI", "ContactsContract$Contacts.CONTENT_FILTER_URI",
                  "ContactsContract$Contacts.CONTENT_LOOKUP_URI",
                  "ContactsContract$CommonDataKinds$Phone.CONTENT_FILTER_URI",
                  "ContactsContract$CommonDataKinds$Email.CONTENT_LOOKUP_URI"):
        assert "android.provider." + field in fields, field
    # every reader of the contacts provider (CursorLoader ...) knows the same URIs
    for api_id in ("content_provider_client.query.contacts", "cursor_loader.contacts",
                   "androidx.cursor_loader.contacts"):
        assert set(RULES[api_id].fields_any) == fields, api_id


@pytest.mark.parametrize("api_id, fields", [
    ("content_resolver.query.call_log", ("CallLog$Calls.CONTENT_FILTER_URI",
                                         "CallLog$Calls.CONTENT_URI_WITH_VOICEMAIL")),
    ("content_resolver.query.sms", ("Telephony$Sms$Outbox.CONTENT_URI", "Telephony$Sms$Conversations.CONTENT_URI",
                                    "Telephony$Mms$Inbox.CONTENT_URI", "Telephony$Threads.CONTENT_URI")),
    ("content_resolver.query.calendar", ("CalendarContract$Attendees.CONTENT_URI",
                                         "CalendarContract$Reminders.CONTENT_URI"))])
def test_the_other_providers_filter_and_table_uris_are_their_queries(api_id, fields):
    for field in fields:
        assert "android.provider." + field in RULES[api_id].fields_any, field


@pytest.mark.parametrize("api_id", SMS_READS)
def test_an_incoming_sms_needs_receive_sms_and_says_so(api_id):
    _t, v = verdict(api_id, app("RECEIVE_SMS"))
    assert v.status == "runtime-permission" and v.permissions == (P + "RECEIVE_SMS",)
    assert "SMS_RECEIVED broadcast" in v.reason and "parsing a PDU itself needs no permission" in v.reason
    assert "allowlisted RECEIVE_SMS" in v.reason            # hard-restricted from Android 10
    _t, v = verdict(api_id, app("READ_SMS"))
    assert v.status == "blocked" and v.reason == "missing RECEIVE_SMS"


def test_sms_intents_exist_from_api_19():
    _t, v = verdict("sms_intents.get_messages_from_intent", app("RECEIVE_SMS", min_sdk=16))
    assert v.api_levels == "API 19+" and "Intents.getMessagesFromIntent does not exist before API 19" in v.reason
    assert "blocked on API 16-18" in v.reason


def test_a_bluetooth_devices_address_needs_the_permission_that_gave_the_device():
    _t, v = verdict("bluetooth_device.get_address", app("BLUETOOTH", min_sdk=23, target_sdk=30))
    assert v.status == "granted" and v.api_levels == "API 23+" and "paired or connected" in v.reason
    # a scan's results from API 23 only with a location permission (FINE for targets 29+)
    _t, v = verdict("bluetooth_device.get_address", app("BLUETOOTH_ADMIN", min_sdk=21, target_sdk=30))
    # BLUETOOTH_ADMIN was dangerous before API 23 (AOSP's data): accepted at install there
    assert v.status == "runtime-permission" and v.api_levels == "API 21-22" and "missing BLUETOOTH" in v.reason
    assert "works if the user accepts BLUETOOTH_ADMIN when installing the app" in v.reason
    _t, v = verdict("bluetooth_device.get_address",
                    app("BLUETOOTH_ADMIN", "ACCESS_COARSE_LOCATION", min_sdk=23, target_sdk=30))
    assert v.status == "runtime-permission" and v.api_levels == "API 23-28" and "a scan found" in v.reason
    # targeting 31+: BLUETOOTH_CONNECT (paired) or BLUETOOTH_SCAN (discovered), both runtime permissions
    _t, v = verdict("bluetooth_device.get_address", app("BLUETOOTH", min_sdk=31, target_sdk=31))
    assert v.status == "blocked" and "BLUETOOTH_CONNECT or BLUETOOTH_SCAN" in v.reason
    for permission in ("BLUETOOTH_CONNECT", "BLUETOOTH_SCAN"):
        _t, v = verdict("bluetooth_device.get_address", app(permission, min_sdk=31, target_sdk=31))
        assert v.status == "runtime-permission" and v.permissions == (P + permission,)
    assert RULES["bluetooth_device.get_address"].data_type == "device_ids.mac_address"


# -- a whole scan ----------------------------------------------------------------------------------------
MANIFEST = launcher_manifest(
    "org.example.readers", min_sdk=23, launcher="org.example.readers.Main",
    permissions=("android.permission.READ_CONTACTS", "android.permission.RECEIVE_SMS",
                 '<uses-permission android:name="android.permission.BLUETOOTH" android:maxSdkVersion="30"/>',
                 "android.permission.BLUETOOTH_CONNECT"),
    application="""    <receiver android:name="org.example.readers.SmsReceiver" android:exported="true"
              android:permission="android.permission.BROADCAST_SMS">
      <intent-filter>
        <action android:name="android.provider.Telephony.SMS_RECEIVED"/>
      </intent-filter>
    </receiver>
""")

MAIN = activity_smali("org/example/readers/Main", """\
    const-string v0, "+15550100"
    invoke-virtual {p0, v0}, Lorg/example/readers/Main;->nameOf(Ljava/lang/String;)V
    invoke-virtual {p0}, Lorg/example/readers/Main;->paired()V
""", registers=3, more="""
.method public nameOf(Ljava/lang/String;)V
    .registers 9
    sget-object v0, Landroid/provider/ContactsContract$PhoneLookup;->CONTENT_FILTER_URI:Landroid/net/Uri;
    invoke-static {p1}, Landroid/net/Uri;->encode(Ljava/lang/String;)Ljava/lang/String;
    move-result-object v1
    invoke-static {v0, v1}, Landroid/net/Uri;->withAppendedPath(Landroid/net/Uri;Ljava/lang/String;)Landroid/net/Uri;
    move-result-object v2
    invoke-virtual {p0}, Lorg/example/readers/Main;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v1
    const/4 v3, 0x0
    const/4 v4, 0x0
    const/4 v5, 0x0
    const/4 v6, 0x0
    invoke-virtual/range {v1 .. v6}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;
    return-void
.end method

.method public paired()V
    .registers 3
    invoke-static {}, Landroid/bluetooth/BluetoothAdapter;->getDefaultAdapter()Landroid/bluetooth/BluetoothAdapter;
    move-result-object v0
    invoke-virtual {v0}, Landroid/bluetooth/BluetoothAdapter;->getBondedDevices()Ljava/util/Set;
    move-result-object v0
    invoke-interface {v0}, Ljava/util/Set;->iterator()Ljava/util/Iterator;
    move-result-object v0
    invoke-interface {v0}, Ljava/util/Iterator;->next()Ljava/lang/Object;
    move-result-object v1
    check-cast v1, Landroid/bluetooth/BluetoothDevice;
    invoke-virtual {v1}, Landroid/bluetooth/BluetoothDevice;->getAddress()Ljava/lang/String;
    return-void
.end method
""")

RECEIVER = receiver_smali("org/example/readers/SmsReceiver", """\
    invoke-static {p2}, Landroid/provider/Telephony$Sms$Intents;->getMessagesFromIntent(Landroid/content/Intent;)[Landroid/telephony/SmsMessage;
    move-result-object v0
    const/4 v1, 0x0
    aget-object v0, v0, v1
    invoke-virtual {v0}, Landroid/telephony/SmsMessage;->getMessageBody()Ljava/lang/String;
    invoke-virtual {v0}, Landroid/telephony/SmsMessage;->getOriginatingAddress()Ljava/lang/String;
    invoke-virtual {p2}, Landroid/content/Intent;->getExtras()Landroid/os/Bundle;
    move-result-object v0
    const-string v1, "pdus"
    invoke-virtual {v0, v1}, Landroid/os/Bundle;->get(Ljava/lang/String;)Ljava/lang/Object;
    move-result-object v0
    check-cast v0, [Ljava/lang/Object;
    const/4 v1, 0x0
    aget-object v0, v0, v1
    check-cast v0, [B
    invoke-static {v0}, Landroid/telephony/SmsMessage;->createFromPdu([B)Landroid/telephony/SmsMessage;
    move-result-object v0
    invoke-virtual {v0}, Landroid/telephony/SmsMessage;->getDisplayMessageBody()Ljava/lang/String;
""", registers=6)


def _build(tmp_path: Path) -> Path:
    require_tools()
    return build_apk(tmp_path / "readers", MANIFEST, {"org/example/readers/Main": MAIN,
                                                      "org/example/readers/SmsReceiver": RECEIVER}, name="readers")


def test_a_scan_finds_the_lookup_the_sms_and_the_device_address(tmp_path):
    from audit.static.scan import scan_app
    report = scan_app([_build(tmp_path)])
    calls = {(c.api_id, c.caller.split(";->")[1].split("(")[0]): c for c in report.api_calls}
    lookup = calls[("content_resolver.query.contacts", "nameOf")]
    assert lookup.data_type == "contacts" and lookup.reachable and lookup.feasibility.status == "runtime-permission"
    for api_id in SMS_READS:
        sms = calls[(api_id, "onReceive")]
        assert sms.data_type == "sms" and sms.reachable, api_id
        assert sms.feasibility.status == "runtime-permission" and "RECEIVE_SMS" in sms.feasibility.reason, api_id
    address = calls[("bluetooth_device.get_address", "paired")]
    assert address.data_type == "device_ids.mac_address" and address.reachable
    # BLUETOOTH (normal, capped at 30) up to API 30, BLUETOOTH_CONNECT from 31 for a target-33 app
    assert address.feasibility.status == "granted" and address.feasibility.api_levels == "API 23-30"
    assert "runtime-permission on API 31+" in address.feasibility.reason
    assert {o.data_type for o in report.observations} >= {"contacts", "sms", "device_ids.mac_address"}


# -- the real apps an unseen-app scan found them in -----------------------------------------------------
def _unseen(member_end: str):
    unseen = pytest.importorskip("test_unseen_apps")
    return unseen._scan(unseen._app(member_end)), unseen._caller_class


def test_souch_smsbypass_looks_contacts_up_by_number_and_reads_incoming_sms():
    report, caller_class = _unseen("souch.smsbypass_9.apk")
    reads = {(c.api_id, caller_class(c.caller)) for c in report.api_calls}
    # Settings.getContactAddress: Uri.withAppendedPath(PhoneLookup.CONTENT_FILTER_URI, number) then query
    assert ("content_resolver.query.contacts", "souch.smsbypass.Settings") in reads
    assert {("sms_message.create_from_pdu", "souch.smsbypass.SMSReceiver"),
            ("sms_message.get_message_body", "souch.smsbypass.SMSReceiver")} <= reads
    # targetSdk 18: RECEIVE_SMS accepted at install until API 28, blocked where it cannot be installed
    pdu = next(c for c in report.api_calls if c.api_id == "sms_message.create_from_pdu")
    assert pdu.feasibility.status == "runtime-permission" and "cannot be installed from API 34" in pdu.feasibility.reason
    assert "works if the user accepts RECEIVE_SMS when installing an app targeting API 22" in pdu.feasibility.reason


def test_a2dp_vol_reads_paired_devices_addresses_and_looks_up_callers():
    report, caller_class = _unseen("a2dp.Vol_137.apk")
    reads = {(c.api_id, caller_class(c.caller)) for c in report.api_calls}
    assert ("content_resolver.query.contacts", "a2dp.Vol.service") in reads
    assert any(api_id == "bluetooth_device.get_address" for api_id, _cls in reads)
    assert any(api_id == "sms_message.create_from_pdu" for api_id, _cls in reads)


# -- the advertising ID read through Play services' service, with no AdvertisingIdClient name left ---------------
AD_ID_ACTION = "com.google.android.gms.ads.identifier.service.START"


def _binder(name: str, action: str, set_action: bool = False) -> str:
    """A class whose static bind(Context) builds the Intent for `action`, in its constructor or with setAction, as
    Play services' client (renamed) and the SDKs that bind the service themselves do."""
    build = (f"""    new-instance v0, Landroid/content/Intent;
    invoke-direct {{v0}}, Landroid/content/Intent;-><init>()V
    const-string v1, "{action}"
    invoke-virtual {{v0, v1}}, Landroid/content/Intent;->setAction(Ljava/lang/String;)Landroid/content/Intent;"""
             if set_action else f"""    new-instance v0, Landroid/content/Intent;
    const-string v1, "{action}"
    invoke-direct {{v0, v1}}, Landroid/content/Intent;-><init>(Ljava/lang/String;)V""")
    return f""".class public L{name};
.super Ljava/lang/Object;

.method public static bind(Landroid/content/Context;)V
    .registers 3
{build}
    const-string v1, "com.google.android.gms"
    invoke-virtual {{v0, v1}}, Landroid/content/Intent;->setPackage(Ljava/lang/String;)Landroid/content/Intent;
    return-void
.end method
"""


def test_the_advertising_id_is_read_where_minification_renamed_its_client(tmp_path):
    """StatusSaver's AdMob build renames AdvertisingIdClient to com.google.android.gms.ads.c.a: no call names the
    client, so the scan found no advertising ID read in an app with AdMob, and HRW's claim "collects the
    advertising ID" was contradicted. The method that builds the Intent binding Play services' advertising ID
    service (its action, a string renaming keeps) is the read; an SDK binding it itself (setAction) too, an Intent
    for another service not."""
    require_tools()
    from audit.static.scan import scan_app
    main = activity_smali("org/example/adid/MainActivity", """\
    invoke-static {p0}, Lcom/google/android/gms/ads/c/a;->bind(Landroid/content/Context;)V
    invoke-static {p0}, Lcom/facebook/internal/b;->bind(Landroid/content/Context;)V
    invoke-static {p0}, Lorg/example/adid/Sync;->bind(Landroid/content/Context;)V
""")
    apk = build_apk(tmp_path / "adid", launcher_manifest("org.example.adid", target_sdk=30), {
        "org/example/adid/MainActivity": main,
        "com/google/android/gms/ads/c/a": _binder("com/google/android/gms/ads/c/a", AD_ID_ACTION),
        "com/facebook/internal/b": _binder("com/facebook/internal/b",
                                           "com.google.android.gms.ads.identifier.service.PERSISTENT_START", True),
        "org/example/adid/Sync": _binder("org/example/adid/Sync", "org.example.adid.SYNC")}, name="adid")
    report = scan_app([apk])
    reads = {(c.api_id, c.caller.split(";->")[0]) for c in report.api_calls
             if c.data_type == "device_ids.advertising_id"}
    assert reads == {("gms.advertising_id_service.intent", "Lcom/google/android/gms/ads/c/a"),
                     ("gms.advertising_id_service.set_action", "Lcom/facebook/internal/b")}
    actors = {o.actor.id: o for o in report.observations if o.data_type == "device_ids.advertising_id"}
    assert set(actors) == {"google_admob", "facebook_sdk"}
    assert all(o.level == Level.REACHABLE and o.feasibility.status == "granted" for o in actors.values())


REFLECTIVE_READ = """.class public Lcom/amplitude/api/DeviceInfo;
.super Ljava/lang/Object;

.method public static advertisingId(Landroid/content/Context;Ljava/lang/String;)V
    .registers 6
    const-string v0, "com.google.android.gms.ads.identifier.AdvertisingIdClient"
    invoke-static {v0}, Ljava/lang/Class;->forName(Ljava/lang/String;)Ljava/lang/Class;
    move-result-object v0
    const-string v1, "getAdvertisingIdInfo"
    const/4 v2, 0x1
    new-array v2, v2, [Ljava/lang/Class;
    const/4 v3, 0x0
    const-class v4, Landroid/content/Context;
    aput-object v4, v2, v3
    invoke-virtual {v0, v1, v2}, Ljava/lang/Class;->getMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    invoke-static {v0, p1}, Lcom/amplitude/api/DeviceInfo;->lookup(Ljava/lang/Class;Ljava/lang/String;)V
    return-void
.end method

.method public static lookup(Ljava/lang/Class;Ljava/lang/String;)V
    .registers 3
    const/4 v0, 0x0
    invoke-virtual {p0, p1, v0}, Ljava/lang/Class;->getDeclaredMethod(Ljava/lang/String;[Ljava/lang/Class;)Ljava/lang/reflect/Method;
    return-void
.end method
"""


def test_the_advertising_id_read_by_reflection_is_found_and_left_to_the_runtime_hook_of_the_client(tmp_path):
    """Branch's SystemObserver and Amplitude's DeviceInfo call AdvertisingIdClient.getAdvertisingIdInfo through
    Class.forName / getMethod (they do not link Play services): no call named the client and the scan found no
    read. The method that looks getAdvertisingIdInfo up by name reads the ID; a lookup of another name (the
    string in a register, not a constant) does not. The Frida agent does not hook java.lang.Class for it: the
    client's method, reached by the reflective call, is hooked itself."""
    require_tools()
    from audit.runtime.agent import load_apis as hooked_apis
    from audit.static.scan import scan_app
    main = activity_smali("org/example/reflect/MainActivity", """\
    const-string v0, "getDeviceInfo"
    invoke-static {p0, v0}, Lcom/amplitude/api/DeviceInfo;->advertisingId(Landroid/content/Context;Ljava/lang/String;)V
""")
    apk = build_apk(tmp_path / "reflect", launcher_manifest("org.example.reflect", target_sdk=30), {
        "org/example/reflect/MainActivity": main, "com/amplitude/api/DeviceInfo": REFLECTIVE_READ}, name="reflect")
    report = scan_app([apk])
    reads = [(c.api_id, c.caller.split("->")[1].split("(")[0]) for c in report.api_calls
             if c.data_type == "device_ids.advertising_id"]
    assert reads == [("reflection.advertising_id_client.get_method", "advertisingId")]
    (read,) = [o for o in report.observations if o.data_type == "device_ids.advertising_id"]
    assert read.actor.id == "amplitude" and read.level == Level.REACHABLE
    hooked = {h.id for h in hooked_apis()}
    assert "gms.advertising_id_client.get_info" in hooked and "gms.advertising_id_service.intent" in hooked
    assert not {r.id for r in load_apis() if r.class_name == "java.lang.Class"} & hooked


# -- what Android hands over one item at a time: pickers and the SMS Retriever -----------------------------
def _intent_builder(name: str, build: str) -> str:
    """A class whose static go() builds an Intent as `build` says (the Intent in v0)."""
    return f""".class public L{name};
.super Ljava/lang/Object;

.method public static go()V
    .registers 3
{build}
    return-void
.end method
"""


def _new_intent(action: str, then: str = "") -> str:
    return f"""    new-instance v0, Landroid/content/Intent;
    const-string v1, "{action}"
    invoke-direct {{v0, v1}}, Landroid/content/Intent;-><init>(Ljava/lang/String;)V
{then}"""


def _set_type(mime: str) -> str:
    return f"""    const-string v1, "{mime}"
    invoke-virtual {{v0, v1}}, Landroid/content/Intent;->setType(Ljava/lang/String;)Landroid/content/Intent;"""


def _intent_on(action: str, uri_field: str) -> str:
    return f"""    new-instance v0, Landroid/content/Intent;
    const-string v1, "{action}"
    sget-object v2, {uri_field}:Landroid/net/Uri;
    invoke-direct {{v0, v1, v2}}, Landroid/content/Intent;-><init>(Ljava/lang/String;Landroid/net/Uri;)V"""


CONTACTS_URI = "Landroid/provider/ContactsContract$Contacts;->CONTENT_URI"
OTP_RECEIVER = receiver_smali("org/example/picks/OtpReceiver", """\
    invoke-virtual {p2}, Landroid/content/Intent;->getExtras()Landroid/os/Bundle;
    move-result-object v0
    const-string v1, "com.google.android.gms.auth.api.phone.EXTRA_SMS_MESSAGE"
    invoke-virtual {v0, v1}, Landroid/os/Bundle;->get(Ljava/lang/String;)Ljava/lang/Object;
""")


def test_pickers_and_the_sms_retriever_hand_over_one_item_without_the_permission(tmp_path):
    """An app that requests no contacts, storage, camera or SMS permission still receives the contact the user
    picks (ACTION_PICK / GET_CONTENT on a contacts URI or type), the photos picked in the photo or gallery picker,
    the photo the user takes in the camera app, and the one-time-code SMS of Play services' SMS Retriever: the scan found none of these, so HRW's "collects
    information about users' contacts" was contradicted for such an app. The method that builds the picker's
    Intent names the action and the type, both needed: an Intent that views a contact, inserts one or shares an
    image reads nothing."""
    require_tools()
    from audit.static.scan import scan_app
    classes = {
        "org/example/picks/PickContact": _intent_on("android.intent.action.PICK", CONTACTS_URI),
        "org/example/picks/PickNumber": _new_intent("android.intent.action.GET_CONTENT",
                                                    _set_type("vnd.android.cursor.item/phone_v2")),
        "org/example/picks/ViewContact": _intent_on("android.intent.action.VIEW", CONTACTS_URI),
        "org/example/picks/InsertContact": _new_intent("android.intent.action.INSERT",
                                                       _set_type("vnd.android.cursor.dir/raw_contact")),
        "org/example/picks/PickPhotos": _new_intent("android.provider.action.PICK_IMAGES"),
        "org/example/picks/Gallery": _new_intent("android.intent.action.GET_CONTENT", _set_type("image/*")),
        "org/example/picks/Share": _new_intent("android.intent.action.SEND", _set_type("image/png")),
        "org/example/picks/Capture": _new_intent("android.media.action.IMAGE_CAPTURE"),
    }
    calls = "".join(f"    invoke-static {{}}, Lorg/example/picks/{name.rsplit('/', 1)[1]};->go()V\n"
                    for name in classes)
    smali = {name: _intent_builder(name, build) for name, build in classes.items()}
    smali["org/example/picks/MainActivity"] = activity_smali("org/example/picks/MainActivity", calls)
    smali["org/example/picks/OtpReceiver"] = OTP_RECEIVER
    manifest = launcher_manifest("org.example.picks").replace(
        "</application>", '<receiver android:name=".OtpReceiver" android:exported="true"/></application>')
    report = scan_app([build_apk(tmp_path / "picks", manifest, smali, name="picks")])
    handed = ("contacts", "photos_videos", "photos_videos.camera", "sms")
    reads = {(c.api_id, c.caller.split(";->")[0].rsplit("/", 1)[1]) for c in report.api_calls
             if c.data_type in handed}
    assert reads == {("intent.pick_contact", "PickContact"), ("intent.set_type.pick_contact", "PickNumber"),
                     ("intent.pick_images", "PickPhotos"), ("intent.set_type.pick_media", "Gallery"),
                     ("intent.image_capture", "Capture"), ("bundle.get.retrieved_sms", "OtpReceiver")}
    for call in report.api_calls:
        if call.data_type in handed:
            assert call.feasibility.status == "granted", call
            assert call.feasibility.reason.startswith("no permission needed: only the "), call.feasibility.reason
    picked = {o.data_type: o for o in report.observations if o.source == "static" and o.level >= Level.PRESENT}
    assert {"contacts", "photos_videos", "sms"} <= set(picked)
    assert "not the contact list" in picked["contacts"].feasibility.reason


# -- the OAID, the advertising ID of Huawei's and Chinese makers' devices ------------------------------------
OAID_READS = """.class public Lcom/example/sdk/oaid/Reader;
.super Ljava/lang/Object;

.method public static huawei(Landroid/content/Context;)V
    .registers 3
    new-instance v0, Landroid/content/Intent;
    const-string v1, "com.uodis.opendevice.OPENIDS_SERVICE"
    invoke-direct {v0, v1}, Landroid/content/Intent;-><init>(Ljava/lang/String;)V
    return-void
.end method

.method public static oppo(Landroid/content/Context;)V
    .registers 3
    new-instance v0, Landroid/content/Intent;
    invoke-direct {v0}, Landroid/content/Intent;-><init>()V
    const-string v1, "action.com.heytap.openid.OPEN_ID_SERVICE"
    invoke-virtual {v0, v1}, Landroid/content/Intent;->setAction(Ljava/lang/String;)Landroid/content/Intent;
    return-void
.end method

.method public static hms(Landroid/content/Context;)V
    .registers 2
    invoke-static {p0}, Lcom/huawei/hms/ads/identifier/AdvertisingIdClient;->getAdvertisingIdInfo(Landroid/content/Context;)Lcom/huawei/hms/ads/identifier/AdvertisingIdClient$Info;
    move-result-object v0
    invoke-virtual {v0}, Lcom/huawei/hms/ads/identifier/AdvertisingIdClient$Info;->getId()Ljava/lang/String;
    return-void
.end method
"""


def _global_setting(method: str, key: str) -> str:
    """A static method(Context) that reads the Settings.Global `key`."""
    return f""".method public static {method}(Landroid/content/Context;)V
    .registers 3
    invoke-virtual {{p0}}, Landroid/content/Context;->getContentResolver()Landroid/content/ContentResolver;
    move-result-object v0
    const-string v1, "{key}"
    invoke-static {{v0, v1}}, Landroid/provider/Settings$Global;->getString(Landroid/content/ContentResolver;Ljava/lang/String;)Ljava/lang/String;
    return-void
.end method
"""


OAID_READS += _global_setting("setting", "pps_oaid") + _global_setting("other", "auto_time")


def test_the_oaid_is_its_own_identifier_read_through_huawei_msa_or_the_makers_services(tmp_path):
    """Chinese apps and SDKs read the OAID, not Google's advertising ID: through Huawei's client, the MSA SDK, or
    the provider itself (Huawei's and OPPO's service actions, Huawei's pps_oaid setting). The scan found none of
    these, and the tracker adapters filed an OAID they read as Google's advertising ID, which would support a claim
    about the Android Advertising ID with another identifier. Each is a device_ids.oaid read, no permission needed;
    another global setting is not."""
    require_tools()
    from audit.static.scan import scan_app
    calls = "".join(f"    invoke-static {{p0}}, Lcom/example/sdk/oaid/Reader;->{m}(Landroid/content/Context;)V\n"
                    for m in ("huawei", "oppo", "setting", "hms", "other"))
    apk = build_apk(tmp_path / "oaid", launcher_manifest("org.example.oaid"), {
        "org/example/oaid/MainActivity": activity_smali("org/example/oaid/MainActivity", calls),
        "com/example/sdk/oaid/Reader": OAID_READS}, name="oaid")
    report = scan_app([apk])
    reads = {(c.api_id, c.caller.split("->")[1].split("(")[0]) for c in report.api_calls
             if c.data_type == "device_ids.oaid"}
    assert reads == {("oaid_service.intent", "huawei"), ("oaid_service.set_action", "oppo"),
                     ("settings.global.pps_oaid", "setting"), ("hms.advertising_id_client.get_info", "hms"),
                     ("hms.advertising_id_info.get_id", "hms")}
    assert not [o for o in report.observations if o.data_type == "device_ids.advertising_id"]
    assert all(c.feasibility.status == "granted" for c in report.api_calls if c.data_type == "device_ids.oaid")
    from audit.traffic.adapters import load_adapters
    read = {(e.adapter.split("/")[0], f.path): f.data_type for e in load_adapters().endpoints for f in e.fields
            if "oaid" in f.path.lower()}
    assert {tracker for tracker, _path in read} >= {"appsflyer", "umeng"}
    assert set(read.values()) == {"device_ids.oaid"}, read


def _contract(name: str, build: str) -> str:
    """An androidx ActivityResultContracts member: its createIntent builds the picker's Intent (v0); its second
    constructor calls the first, as Kotlin's default arguments make PickMultipleVisualMedia's do."""
    return f""".class public final L{name};
.super Ljava/lang/Object;

{constructor_smali("java/lang/Object")}
.method public constructor <init>(I)V
    .registers 2
    invoke-direct {{p0}}, L{name};-><init>()V
    return-void
.end method

.method public createIntent(Landroid/content/Context;)Landroid/content/Intent;
    .registers 4
{build}
    return-object v0
.end method
"""


def test_androidx_picker_contracts_count_where_the_app_uses_them_not_where_the_library_keeps_them(tmp_path):
    """androidx.activity ships ActivityResultContracts.PickContact and PickVisualMedia, which build the pickers'
    Intents; an unminified build keeps them whether the app uses them or not (found in 3 of the unseen apps, in
    none of them used). The library's own Intents do not count: the app constructing a contract does, or launching
    a content contract on an image type; the library chaining its own constructors does not."""
    require_tools()
    from audit.static.scan import scan_app
    contracts = "androidx/activity/result/contract/ActivityResultContracts"
    main = activity_smali("org/example/contracts/MainActivity", f"""\
    new-instance v0, L{contracts}$PickVisualMedia;
    invoke-direct {{v0}}, L{contracts}$PickVisualMedia;-><init>()V
    const/4 v0, 0x0
    const-string v1, "image/*"
    invoke-virtual {{v0, v1}}, Landroidx/activity/result/ActivityResultLauncher;->launch(Ljava/lang/Object;)V
""")
    launcher = """.class public abstract Landroidx/activity/result/ActivityResultLauncher;
.super Ljava/lang/Object;

.method public launch(Ljava/lang/Object;)V
    .registers 2
    return-void
.end method
"""
    apk = build_apk(tmp_path / "contracts", launcher_manifest("org.example.contracts"), {
        "org/example/contracts/MainActivity": main,
        "androidx/activity/result/ActivityResultLauncher": launcher,
        f"{contracts}$PickContact": _contract(f"{contracts}$PickContact", _new_intent(
            "android.intent.action.PICK", _set_type("vnd.android.cursor.dir/contact"))),
        f"{contracts}$PickVisualMedia": _contract(f"{contracts}$PickVisualMedia", _new_intent(
            "android.provider.action.PICK_IMAGES"))}, name="contracts")
    report = scan_app([apk])
    reads = {(c.api_id, c.caller.split(";->")[0].rsplit("/", 1)[1]) for c in report.api_calls
             if c.data_type in ("contacts", "photos_videos")}
    assert reads == {("androidx.pick_visual_media_contract", "MainActivity"),
                     ("androidx.launch_content_contract.media", "MainActivity")}
    assert not [o for o in report.observations if o.data_type == "contacts"]


HMS_LOCATION = """.class public Lorg/example/hms/Where;
.super Ljava/lang/Object;

.method public static last(Lcom/huawei/hms/location/FusedLocationProviderClient;)V
    .registers 1
    invoke-virtual {p0}, Lcom/huawei/hms/location/FusedLocationProviderClient;->getLastLocation()Lcom/huawei/hmf/tasks/Task;
    return-void
.end method
"""


def test_huawei_builds_read_the_location_through_hms_core(tmp_path):
    """A Huawei-flavoured build reads the fused location through HMS Core's location kit, not Play services':
    the same permissions, the same verdict."""
    require_tools()
    from audit.static.scan import scan_app
    main = activity_smali("org/example/hms/MainActivity", """\
    const/4 v0, 0x0
    invoke-static {v0}, Lorg/example/hms/Where;->last(Lcom/huawei/hms/location/FusedLocationProviderClient;)V
""")
    apk = build_apk(tmp_path / "hms", launcher_manifest("org.example.hms", permissions=(
        "android.permission.ACCESS_COARSE_LOCATION",)), {"org/example/hms/MainActivity": main,
                                                         "org/example/hms/Where": HMS_LOCATION}, name="hms")
    report = scan_app([apk])
    (read,) = [c for c in report.api_calls if c.data_type.startswith("location")]
    assert read.api_id == "hms_fused_location.get_last_location" and read.data_type == "location.last_known"
    assert read.feasibility.status == "runtime-permission"


APP_SET_READ = """.class public Lcom/example/sdk/appset/Reader;
.super Ljava/lang/Object;

.method public static read(Lcom/google/android/gms/appset/AppSetIdClient;Lcom/google/android/gms/appset/AppSetIdInfo;)V
    .registers 2
    invoke-interface {p0}, Lcom/google/android/gms/appset/AppSetIdClient;->getAppSetIdInfo()Lcom/google/android/gms/tasks/Task;
    invoke-virtual {p1}, Lcom/google/android/gms/appset/AppSetIdInfo;->getId()Ljava/lang/String;
    return-void
.end method
"""


def test_the_app_set_id_is_a_device_id_any_app_reads(tmp_path):
    """Ad SDKs read Google's App Set ID (one id for a developer's apps on the device), a 'Device or other IDs'
    item of Play's form: the scan found no read of it."""
    require_tools()
    from audit.static.scan import scan_app
    main = activity_smali("org/example/appset/MainActivity", """\
    const/4 v0, 0x0
    invoke-static {v0, v0}, Lcom/example/sdk/appset/Reader;->read(Lcom/google/android/gms/appset/AppSetIdClient;Lcom/google/android/gms/appset/AppSetIdInfo;)V
""")
    apk = build_apk(tmp_path / "appset", launcher_manifest("org.example.appset"), {
        "org/example/appset/MainActivity": main, "com/example/sdk/appset/Reader": APP_SET_READ}, name="appset")
    reads = {c.api_id: c.feasibility.status for c in scan_app([apk]).api_calls
             if c.data_type == "device_ids.app_set_id"}
    assert reads == {"gms.app_set_id_client.get_info": "granted", "gms.app_set_id_info.get_id": "granted"}


# -- what a page in the app's WebView reads on the app's permissions ------------------------------------------
def _chrome_client(name: str, methods: str) -> str:
    """A WebChromeClient subclass (`name` a class path) with these methods."""
    return f".class public L{name};\n.super Landroid/webkit/WebChromeClient;\n\n" \
           f"{constructor_smali('android/webkit/WebChromeClient')}\n{methods}"


WEB_CHROME = _chrome_client("org/example/web/Chrome", """.method public onPermissionRequest(Landroid/webkit/PermissionRequest;)V
    .registers 5
    const/4 v0, 0x1
    new-array v0, v0, [Ljava/lang/String;
    const/4 v1, 0x0
    const-string v2, "android.webkit.resource.VIDEO_CAPTURE"
    aput-object v2, v0, v1
    invoke-virtual {p1, v0}, Landroid/webkit/PermissionRequest;->grant([Ljava/lang/String;)V
    return-void
.end method

.method public onGeolocationPermissionsShowPrompt(Ljava/lang/String;Landroid/webkit/GeolocationPermissions$Callback;)V
    .registers 5
    const/4 v0, 0x1
    const/4 v1, 0x0
    invoke-interface {p2, p1, v0, v1}, Landroid/webkit/GeolocationPermissions$Callback;->invoke(Ljava/lang/String;ZZ)V
    return-void
.end method
""")
BLANKET_GRANT = _chrome_client("org/example/web/Drm", """.method public onPermissionRequest(Landroid/webkit/PermissionRequest;)V
    .registers 3
    invoke-virtual {p1}, Landroid/webkit/PermissionRequest;->getResources()[Ljava/lang/String;
    move-result-object v0
    invoke-virtual {p1, v0}, Landroid/webkit/PermissionRequest;->grant([Ljava/lang/String;)V
    return-void
.end method
""")


@pytest.mark.parametrize("permissions, status", [
    (("android.permission.CAMERA", "android.permission.ACCESS_FINE_LOCATION"), "runtime-permission"),
    ((), "blocked")])
def test_a_webview_page_reads_the_camera_and_location_the_app_grants_it(tmp_path, permissions, status):
    """A page's getUserMedia and navigator.geolocation run in the app's process, on the app's permissions, once
    its WebChromeClient grants the request: the scan saw no camera or location call in such an app. A grant
    naming the video resource reads the camera; a blanket grant of what the page asks names nothing and is not
    counted. The framework calls the client's callbacks: reachable from where the app makes the client."""
    require_tools()
    from audit.static.scan import scan_app
    main = activity_smali("org/example/web/MainActivity", """\
    new-instance v0, Lorg/example/web/Chrome;
    invoke-direct {v0}, Lorg/example/web/Chrome;-><init>()V
    new-instance v0, Lorg/example/web/Drm;
    invoke-direct {v0}, Lorg/example/web/Drm;-><init>()V""")
    smali = {"org/example/web/MainActivity": main, "org/example/web/Chrome": WEB_CHROME,
             "org/example/web/Drm": BLANKET_GRANT}
    report = scan_app([build_apk(tmp_path, launcher_manifest("org.example.web", permissions=permissions), smali)])
    reads = {(c.api_id, c.caller.split(";->")[0].rsplit("/", 1)[1], c.reachable) for c in report.api_calls}
    assert reads == {("webview.permission_request.grant.camera", "Chrome", True),
                     ("webview.geolocation_callback.invoke", "Chrome", True)}
    types = {c.api_id: c.data_type for c in report.api_calls}
    assert types["webview.permission_request.grant.camera"] == "photos_videos.camera"
    assert types["webview.geolocation_callback.invoke"].partition(".")[0] == "location"
    assert {c.feasibility.status for c in report.api_calls} == {status}, [c.feasibility for c in report.api_calls]
