"""The traffic command runs with the cyclic GC paused (a speed measure, audit/gcpause.py) and leaves the
collector as it found it, on success and on refusal alike. (The scan's own check is in test_scan.py.)"""
from __future__ import annotations

import gc
import json

from audit.cli import main
from audit.gcpause import without_cyclic_gc
import audit.traffic.command as command


def _har(path):
    entry = {"startedDateTime": "2023-04-07T12:00:00.000Z",
             "request": {"method": "GET", "url": "https://a.example/x?id=1", "headers": []},
             "response": {"status": 200, "headers": [], "content": {"size": 0}}}
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    return path


def test_the_traffic_command_pauses_the_cyclic_gc_and_restores_its_state(tmp_path, monkeypatch):
    real = command.analyse
    during = []

    def analyse(*args, **kwargs):      # the real analysis, noting the collector's state while it runs
        during.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "analyse", analyse)
    har = _har(tmp_path / "x.har")
    bad = tmp_path / "bad.har"
    bad.write_text("not json")
    original = gc.isenabled()
    after = []
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            assert main(["traffic", str(har), "-o", str(tmp_path / "r.json")]) == 0
            after.append(gc.isenabled())
            assert main(["traffic", str(bad), "-o", str(tmp_path / "r2.json")]) == 2
            after.append(gc.isenabled())
    finally:
        (gc.enable if original else gc.disable)()
    assert during == [False] * 4          # paused while analysing, whatever the state before
    assert after == [True, True, False, False]
    assert json.loads((tmp_path / "r.json").read_text())["requests"]


def test_a_paused_function_restores_the_collector_when_it_raises():
    @without_cyclic_gc
    def fails():
        assert not gc.isenabled()
        raise ValueError("boom")

    original = gc.isenabled()
    gc.enable()
    try:
        try:
            fails()
        except ValueError:
            pass
        assert gc.isenabled()
    finally:
        (gc.enable if original else gc.disable)()
