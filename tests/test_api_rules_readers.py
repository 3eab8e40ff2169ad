"""Reads the map in rules/apis.yaml must not miss: a contact looked up by phone number (ContactsContract's filter and
lookup URIs), an incoming SMS parsed from its broadcast, a paired or discovered Bluetooth device's address. Each
test names a read the previous map did not find; a smali-built APK for the whole scan, the verdicts on constructed
manifests, and the real apps where an unseen-app scan found them (souch.smsbypass, a2dp.Vol) when they are cached."""
from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from audit.static.apis import load_apis
from audit.static.feasibility import AppLevels, judge
from audit.static.manifest import RequestedPermission

P = "android.permission."
RULES = {r.id: r for r in load_apis()}
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
SMALI_JAR = Path("/usr/share/java/smali.jar")
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
