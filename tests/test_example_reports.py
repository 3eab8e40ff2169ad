"""The committed reports/ are what `make demo` writes today: they are the example users read first, and a rule or
catalogue change that alters a verdict must show there (they once lagged a session behind: a finding missing).

Only the static reports are compared; the with-capture ones carry the times of a live Frida run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STATIC_REPORTS = ("webex-inquiry.json", "webex-inquiry.md", "webex-inquiry.html", "webex-inquiry.sarif",
                  "education-play-datasafety.json", "education-play-datasafety.md")


def test_committed_static_reports_are_what_make_demo_writes(tmp_path, education_apk):
    # education_apk: the fixture builds (smali and aapt are here), else the test skips there
    done = subprocess.run([sys.executable, str(REPO / "examples" / "make_reports.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    stale = [name for name in STATIC_REPORTS
             if (tmp_path / name).read_bytes() != (REPO / "reports" / name).read_bytes()]
    assert not stale, f"reports/ is stale ({', '.join(stale)}): run `make demo` and commit reports/"
