"""The shared vocabulary, the safe rules loader, redaction and the CLI's error contract."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.model import Actor, ActorKind, Evidence, Level, Observation, Severity, sorted_observations
from audit.redact import fingerprint, redact, redact_in
from audit.rulesdata import covers, datatypes, load_data, load_yaml, validate

REPO = Path(__file__).resolve().parents[1]
APPAUDIT = [sys.executable, "-m", "audit.cli"]

REQUIRED_TYPES = """device_ids.advertising_id device_ids.android_id device_ids.imei device_ids.imsi
device_ids.sim_serial device_ids.serial device_ids.mac_address location.precise location.approximate
network.wifi_ssid personal_info.phone_number personal_info.email personal_info.accounts contacts call_logs sms
calendar photos_videos audio app_activity.installed_apps app_activity.app_interactions app_info.crash_logs
app_info.diagnostics device_time""".split()


def test_levels_are_ordered_and_round_trip():
    assert (Level.DECLARED_PERMISSION < Level.PRESENT < Level.REACHABLE < Level.INVOKED < Level.TRANSMITTED)
    for level in Level:
        assert Level.parse(level.label) is level
    assert Level.REACHABLE.is_capability and not Level.INVOKED.is_capability
    with pytest.raises(ValueError, match="unknown evidence level"):
        Level.parse("collected")
    assert Severity.parse("high") > Severity.parse("medium") > Severity.parse("low")


def test_observation_json_round_trip_and_deterministic_order():
    obs = Observation("device_ids.imei", Level.REACHABLE, Actor(ActorKind.SDK, "amplitude"), "static",
                      (Evidence("call-site", "Landroid/telephony/TelephonyManager;->getDeviceId()Ljava/lang/String;",
                                "Lcom/amplitude/api/DeviceInfo;->imei()Ljava/lang/String;"),))
    assert Observation.from_json(json.loads(json.dumps(obs.to_json()))) == obs
    other = Observation("contacts", Level.PRESENT, Actor(ActorKind.FIRST_PARTY), "static")
    assert sorted_observations([obs, other, obs]) == sorted_observations([other, obs])


def test_taxonomy_has_required_types_with_labels():
    types = datatypes()
    missing = [t for t in REQUIRED_TYPES if t not in types]
    assert not missing
    assert types["device_ids.imei"].persistent and not types["device_ids.advertising_id"].persistent
    assert types["location.precise"].play_type == "Precise location"
    assert covers("location", "location.precise") and covers("location", "location.last_known")
    assert not covers("location.precise", "location") and not covers("device_ids", "contacts")


def test_yaml_loader_refuses_object_tags_and_names_the_line(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("ok: 1\nboom: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match=r"evil.yaml:2"):
        load_yaml(evil)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(InputError, match=r"broken.yaml:\d+"):
        load_yaml(broken)


def test_yaml_loader_bounds_nesting_and_reports_json_errors(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 500 + "]" * 500)
    with pytest.raises(InputError, match="nesting"):
        load_yaml(deep)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"a": 1,\n "b": }')
    with pytest.raises(InputError, match=r"bad.json:2: invalid JSON"):
        load_data(bad_json)
    with pytest.raises(InputError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_validation_names_file_line_and_field(tmp_path):
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text("source: s\napp: x\ncolected: []\n")
    with pytest.raises(InputError, match=r"sheet.yaml:3: colected: unknown field"):
        validate(load_yaml(sheet), "datasheet", sheet)
    sheet.write_text("source: s\napp: 3\n")
    with pytest.raises(InputError, match=r"sheet.yaml:2: app: expected a string"):
        validate(load_yaml(sheet), "datasheet", sheet)


def test_redaction_keeps_ends_and_is_stable_but_keyed(tmp_path, monkeypatch):
    imei = "353627075111296"
    shown = redact(imei)
    assert shown.startswith("3…6#") and imei not in shown
    assert redact(imei) == shown and redact("353627075111297") != shown
    assert redact_in(f"id={imei}&x=1", [imei]) == f"id={shown}&x=1"
    # The hash is keyed per user: another home gives another fingerprint, so it is not a public digest.
    code = ("import os,sys; sys.path.insert(0, %r); from audit.redact import fingerprint; print(fingerprint(%r))"
            % (str(REPO), imei))
    env = dict(os.environ, APPAUDIT_HOME=str(tmp_path / "other"))
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert other.stdout.strip() != fingerprint(imei)
    assert (tmp_path / "other" / "redaction.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("argv", [[], ["scan"], ["nonsense"], ["audit", "x.apk"], ["corpus"]])
def test_usage_errors_are_one_line_exit_2(argv):
    proc = subprocess.run(APPAUDIT + argv, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("appaudit: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
