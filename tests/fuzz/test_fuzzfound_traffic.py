"""Regression tests for what coverage-guided fuzzing (atheris, session tool, not a dependency) found in the traffic
stage's readers: captures.py, decode.py, the run-folder readers. One test per finding, named after it.

Each builds the smallest input that showed the bug in code and runs the real CLI: exit 0 with a report (partial and
saying why where something was left unread), or one `appaudit: error:` line and exit 2; never an `unexpected`
exception, a traceback or a hang.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_clean_outcome, run_cli

IMEI = "353627075111296"


@pytest.fixture
def ids(tmp_path) -> Path:
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"device_ids.imei": IMEI}))
    return path


def _har(entries: list) -> str:
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})


def _traffic_json(capture: Path, ids: Path) -> dict:
    outcome = run_cli(["traffic", str(capture), "--identifiers", str(ids)])
    assert_clean_outcome(outcome, allowed=(0,))
    return json.loads(outcome.stdout)


def test_lone_surrogate_in_an_escaped_path_piece(tmp_path, ids):
    """A path piece of 12+ characters holding a `%` escape and a lone surrogate (JSON's `\\udcff` in a HAR URL;
    mitmproxy gives non-UTF-8 path bytes as such surrogates): `unquote_to_bytes(str)` raised UnicodeEncodeError
    and the whole capture was lost to `unexpected`."""
    capture = tmp_path / "surrogate.har"
    capture.write_text(_har([{"request": {"method": "GET", "headers": [],
                                          "url": f"https://t.example/{IMEI}%41\udcff"}}]))
    report = _traffic_json(capture, ids)
    assert report["captures"][0]["requests"] == 1
    assert any(t["data_type"] == "device_ids.imei" for t in report["transmissions"])
