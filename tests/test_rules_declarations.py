"""Declarations: our YAML data sheet (validated with file:line:field errors), the Play Data-safety CSV export
and Apple's PrivacyInfo.xcprivacy, all into one model."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import InputError
from audit.rules.declarations import load_declarations

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def write(tmp_path: Path, text: str, name: str = "sheet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_webex_datasheet_reads_every_statement_kind():
    sheet = load_declarations(EXAMPLES / "webex-inquiry" / "datasheet.yaml")
    assert sheet.format == "appaudit-yaml" and sheet.app == "org.edukit.classroom"
    kinds = {(s.kind, s.type) for s in sheet.statements}
    assert {("not_collected", t) for t in ("device_ids.advertising_id", "device_ids.imei", "location.precise",
                                            "location.last_known", "location.approximate", "call_logs")} <= kinds
    assert ("accessed", "photos_videos.camera") in kinds and ("accessed", "audio") in kinds
    phone = next(s for s in sheet.statements if s.type == "personal_info.phone_number")
    assert phone.condition_of("service") == "Webex Calling" and phone.where == "datasheet.yaml:46"
    driving = next(s for s in sheet.statements if s.kind == "collected" and s.type == "location.precise")
    assert driving.condition_text().startswith("driving mode was on") and "Footnote 1" in driving.cite
    assert all(s.quote and s.cite for s in sheet.statements)          # every item quotes the letter
    assert [b.type for b in sheet.not_bridged] == ["device_ids.advertising_id+device_ids.imei"]
    assert {x.kind for x in sheet.exclusions} == {"not_used_for", "not_shared_with"}
    assert sheet.sdks == ("backtrace", "firebase", "amplitude", "appdynamics", "cloudcherry") and sheet.sdks_subset
    letter = (EXAMPLES.parent.parent / "shared" / "reference" / "cisco-letter-to-hrw-2022-01-19.txt")
    if letter.is_file():
        text = " ".join(letter.read_text().replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"').split())
        for item in (*sheet.statements, *sheet.exclusions):
            quoted = item.quote.replace("Webex does not: ", "")
            assert quoted.rstrip(".") in text, quoted


def test_unknown_purposes_and_sdk_names_name_the_item_line_and_the_nearest_name(tmp_path):
    path = tmp_path / "sheet.yaml"
    path.write_text("source: s\ncollected:\n  - {type: contacts}\n  - {type: contacts, purposes: [acount_management]}\n")
    with pytest.raises(InputError, match=r"sheet.yaml:4: purposes: unknown purpose 'acount_management' "
                                         r"\(did you mean account_management\?\)"):
        load_declarations(path)
    path.write_text("source: s\nsdks:\n  - firebase\n  - flury\n")
    sheet = load_declarations(path)
    assert any(w.startswith("sheet.yaml:4: sdks: 'flury' is not in the SDK catalogue") and "did you mean flurry" in w
               for w in sheet.warnings), sheet.warnings
    path.write_text("source: s\nnot_collected:\n  - sms\n  - device_ids.imei\n")
    assert [s.where for s in load_declarations(path).statements] == ["sheet.yaml:3", "sheet.yaml:4"]


@pytest.mark.parametrize("text, expected", [
    ("source: s\ncollected:\n  - {type: device_ids.imeii}\n",
     r"sheet.yaml:3: type: unknown data type 'device_ids.imeii'"),
    ("source: s\ncollected:\n  - type: contacts\n    purpose: [x]\n",
     r"sheet.yaml:4: purpose: unknown field \(allowed: cite, condition, note, optional, purposes, quote, type, when\)"),
    ("source: s\nshared:\n  - {type: contacts, recipients: amplitude}\n",
     r"sheet.yaml:3: recipients: expected a list, found str"),
    ("app: x\ncollected: []\n", r"sheet.yaml:1: missing required field 'source'"),
    ("source: s\n\nnot_collected: [sms, imei]\n", r"sheet.yaml:3: not_collected: unknown data type 'imei' "
                                                 r"\(did you mean device_ids.imei\?\)"),
    ("source: s\ncollected:\n  - contacts\n", r"sheet.yaml:2: collected: each collected entry must be a mapping"),
    ("source: s\ncollected:\n  - {type: location.precise}\nnot_collected: [location]\n",
     r"sheet.yaml:4: not_collected: location is listed as not collected but collected at sheet.yaml:3"),
    ("source: s\ncollected: [\n", r"sheet.yaml:\d+:"),
    ("- just a list\n", r"sheet.yaml: the data sheet must be a mapping, found list"),
])
def test_datasheet_errors_name_file_line_field(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected):
        load_declarations(write(tmp_path, text))


def test_datasheet_refuses_yaml_object_tags(tmp_path):
    path = write(tmp_path, "source: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="sheet.yaml:1"):
        load_declarations(path)


def test_play_csv_export():
    sheet = load_declarations(EXAMPLES / "datasheets" / "education-play-datasafety.csv")
    assert sheet.format == "play-csv" and sheet.sdks is None and sheet.unmapped == ()
    by = {(s.kind, s.type): s for s in sheet.statements}
    # Ticked and "collected" only: no sharing statement.
    assert ("collected", "personal_info.phone_number") in by and ("shared", "personal_info.phone_number") not in by
    assert by[("collected", "personal_info.phone_number")].optional is True
    # Collected and shared, with the purposes of each answer.
    assert by[("shared", "device_ids.imei")].purposes == ("analytics",)
    assert by[("collected", "device_ids.imei")].purposes == ("analytics", "fraud_prevention")
    assert by[("collected", "device_ids.imei")].where == "education-play-datasafety.csv:54"
    # Approximate location covers WiFi SSID (Play files WiFi scans under location); precise is not ticked.
    assert ("collected", "network.wifi_ssid") in by and ("collected", "location.precise") not in by
    # Not ticked: not declared (Play has no explicit negative statements).
    assert not any(s.type == "contacts" for s in sheet.statements)
    assert not any(s.kind.startswith("not_") for s in sheet.statements)


def test_play_csv_older_both_answer_and_unmapped(tmp_path):
    header = ("Question ID (machine readable),Response ID (machine readable),Response value,Answer requirement,"
              "Human-friendly question label\n")
    text = header + (
        "PSL_DATA_TYPES_PERSONAL,PSL_NAME,true,MULTIPLE_CHOICE,Personal info / Name\n"
        "PSL_DATA_TYPES_FINANCIAL,PSL_CREDIT_SCORE,true,MULTIPLE_CHOICE,Financial info / Credit score\n"
        "PSL_DATA_USAGE_RESPONSES:PSL_NAME:PSL_DATA_USAGE_COLLECTION_AND_SHARING,"
        "PSL_DATA_USAGE_BOTH_COLLECTED_AND_SHARED,true,MULTIPLE_CHOICE,Data usage and handling (Name) / Both\n")
    sheet = load_declarations(write(tmp_path, text, "old.csv"))
    assert {(s.kind, s.type) for s in sheet.statements} == {("collected", "personal_info.name"),
                                                            ("shared", "personal_info.name")}
    assert sheet.unmapped == ("PSL_CREDIT_SCORE",)


@pytest.mark.parametrize("text, expected", [
    ("Question,Answer\nx,y\n", r"bad.csv:1: header: expected the Play Console Data-safety columns"),
    ("", r"bad.csv:1: empty Data-safety CSV"),
    ("Question ID (machine readable),Response ID (machine readable),Response value,Answer requirement,"
     "Human-friendly question label\nPSL_DATA_USAGE_RESPONSES:PSL_NAME,x,true,MULTIPLE_CHOICE,l\n",
     r"bad.csv:2: Question ID: malformed data-usage question"),
])
def test_play_csv_errors(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected):
        load_declarations(write(tmp_path, text, "bad.csv"))


def test_apple_privacy_manifest():
    sheet = load_declarations(EXAMPLES / "datasheets" / "PrivacyInfo.xcprivacy")
    assert sheet.format == "apple-xcprivacy"
    by = {(s.kind, s.type): s for s in sheet.statements}
    assert by[("collected", "device_ids.advertising_id")].purposes == ("analytics",)
    assert ("shared", "device_ids.advertising_id") not in by            # not tracking, no third-party ads
    assert ("shared", "app_activity.app_interactions") in by            # Tracking = true
    assert "tracking" in by[("collected", "app_activity.app_interactions")].condition
    assert by[("collected", "location.approximate")].where == "PrivacyInfo.xcprivacy:25"
    assert sheet.unmapped == ("NSPrivacyCollectedDataTypeGameplayContent",)


@pytest.mark.parametrize("text, expected", [
    ("<?xml version='1.0'?><plist><dict><key>a</key>", r"bad.xcprivacy(:\d+)?: not a property list"),
    ("<?xml version='1.0'?><!DOCTYPE p [<!ENTITY a 'aaaa'>]><plist><dict/></plist>",
     r"bad.xcprivacy: XML entity declarations are not allowed"),
    ("<?xml version='1.0'?><plist><dict><key>NSPrivacyCollectedDataTypes</key><string>x</string></dict></plist>",
     r"bad.xcprivacy: NSPrivacyCollectedDataTypes: expected an <array>"),
    ("<?xml version='1.0'?><plist><array/></plist>", r"root must be a <dict>"),
    # an encoding Python does not know (expat's LookupError; found by the mutation test below)
    ("<?xml version='1.0' encoding='TF-8'?><plist><dict/></plist>", r"bad.xcprivacy: not a property list"),
])
def test_apple_manifest_errors(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected):
        load_declarations(write(tmp_path, text, "bad.xcprivacy"))


def test_missing_and_directory_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_declarations(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        load_declarations(tmp_path)


# -- robustness: any input is either read or refused with one InputError, never another exception ---------
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import os  # noqa: E402

FUZZ = settings(max_examples=int(os.environ.get("APPAUDIT_FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
PLAY_TEXT = (EXAMPLES / "datasheets" / "education-play-datasafety.csv").read_text()
APPLE_TEXT = (EXAMPLES / "datasheets" / "PrivacyInfo.xcprivacy").read_text()
SHEET_TEXT = (EXAMPLES / "webex-inquiry" / "datasheet.yaml").read_text()


def _mutate(text: str, data) -> str:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    return text[:start] + data.draw(st.text(max_size=20)) + text[end:]


@pytest.mark.parametrize("name, text", [("m.csv", PLAY_TEXT), ("m.xcprivacy", APPLE_TEXT), ("m.yaml", SHEET_TEXT)])
@FUZZ
@given(data=st.data())
def test_mutated_sheets_are_read_or_refused(tmp_path, name, text, data):
    path = tmp_path / name
    path.write_text(_mutate(text, data), encoding="utf-8")
    try:
        sheet = load_declarations(path)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
    else:
        assert all(s.type for s in sheet.statements)
