"""Fuzzing harness: every mutated input must end in success or one `appaudit: error:` line with exit 2.

`make fuzz` sets APPAUDIT_FUZZ_EXAMPLES=1000 (cases per target, random seeds); the regular suite runs a short,
derandomised form so CI is repeatable.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[2]
LONG = "APPAUDIT_FUZZ_EXAMPLES" in os.environ
IMEI = "353627075111296"        # the identifier the regression captures carry and the `ids` file names
EXAMPLES = int(os.environ.get("APPAUDIT_FUZZ_EXAMPLES", "25"))

settings.register_profile(
    "appaudit-fuzz", max_examples=EXAMPLES, deadline=None, derandomize=not LONG, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.large_base_example])
FUZZ = settings.get_profile("appaudit-fuzz")


def fuzz_cost(times: int) -> settings:
    """For targets whose case costs `times` ordinary cases (tshark runs, a whole audit): fewer examples, so
    that `make fuzz` stays within minutes; never fewer than 5."""
    return settings(FUZZ, max_examples=max(5, EXAMPLES // times))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(argv: list[str]) -> Outcome:
    """The real CLI in-process (a subprocess per case would cost 1 s of imports per case)."""
    from audit.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Outcome(code, out.getvalue(), err.getvalue(), time.monotonic() - start)


def cli_in_child(argv: list, timeout: float = 30) -> subprocess.CompletedProcess:
    """The CLI in a child process: a hang becomes a failed test after `timeout` seconds, not a stalled suite."""
    try:
        return subprocess.run([sys.executable, "-m", "audit.cli", *map(str, argv)], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"appaudit {' '.join(map(str, argv))} did not finish in {timeout}s (hang)")


def assert_clean_outcome(outcome: Outcome, allowed=(0, 2)) -> None:
    assert outcome.code in allowed, (outcome.code, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr
    # the CLI's catch-all for exceptions that are not InputError: each is a bug to fix
    assert "appaudit: error: unexpected " not in outcome.stderr, outcome.stderr
    if outcome.code == 2:
        lines = outcome.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("appaudit: error:"), outcome.stderr


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture
def ids(tmp_path) -> Path:
    """An identifiers file naming IMEI."""
    path = tmp_path / "ids.json"
    path.write_text(json.dumps({"device_ids.imei": IMEI}))
    return path


def har_text(entries: list) -> str:
    """A HAR 1.2 document of these entries."""
    return json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})
