"""Hostile APK parts built on purpose (tests/hostile_builders.py): each bound holds by construction.

Complexity is checked by comparing n with 4n in one run (CPU time, a generous ratio: linear work gives ~4,
quadratic ~16), never against a wall-clock limit.
"""
from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

import hostile_builders as hb  # tests/ is on sys.path (rootdir conftest)
from audit.errors import InputError
from audit.static.axml import ANDROID, parse_axml
from audit.static.callsites import CodeIndex, entry_class_descriptors, string_constants
from audit.static.dex import DexFile
from audit.static.inputs import open_inputs
from audit.static.manifest import arsc_string
from audit.static.scan import scan_app

LINEAR_RATIO = 9.0     # 4n costs about 4x n when linear, 16x when quadratic


def _cpu(fn, *args) -> float:
    best = None
    for _ in range(2):      # the best of two: one slow sample on a loaded machine must not fail the test
        start = time.process_time()
        fn(*args)
        spent = time.process_time() - start
        best = spent if best is None else min(best, spent)
    return max(best, 1e-3)


def _scales_linearly(build, run, n: int) -> None:
    small, large = build(n), build(4 * n)
    ratio = _cpu(run, large) / _cpu(run, small)
    assert ratio < LINEAR_RATIO, f"4n cost {ratio:.1f}x n"


# -- zip methods --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, name", [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
def test_members_compressed_with_methods_android_refuses_are_not_inflated(clean_apk, tmp_path, method, name):
    parts = hb.members(clean_apk)
    parts["classes.dex"] = b"\0" * (16 * 1024 * 1024)
    apk = hb.write_apk(tmp_path / "m.apk", parts, {"classes.dex": method})
    with pytest.raises(InputError) as caught:
        scan_app([str(apk)])
    assert f"({name}) is not one Android accepts" in str(caught.value)
    opened = None
    parts["classes2.dex"] = hb.members(clean_apk)["classes.dex"]
    apk = hb.write_apk(tmp_path / "m2.apk", parts, {"classes.dex": method})
    opened = open_inputs([apk])
    assert [n for n, _ in opened.apks[0].dexes] == [f"{apk}!classes2.dex"]
    assert name in opened.apks[0].unreadable_dexes[0]
    report = scan_app([str(apk)])
    assert report.partial and any(name in w for w in report.warnings)


# -- string pools -------------------------------------------------------------------------------------------
def test_aliased_axml_strings_are_decoded_once():
    root = parse_axml(hb.axml_aliased_strings(200_000, 500), "aliased")
    values = [v for k, v in root.attrib.items() if k.startswith("a")]
    assert len(values) == 500 and len(values[0]) == 200_000
    assert all(v is values[0] for v in values)
    assert root.get("package") == "org.edukit.calculator"


def test_overlapping_axml_strings_hit_the_decoding_budget():
    with pytest.raises(InputError, match="decode to more than"):
        parse_axml(hb.axml_aliased_strings(20_000, 2_000, overlap=True), "overlap")
    root = parse_axml(hb.axml_aliased_strings(20_000, 1, overlap=True), "one suffix")   # within the budget
    assert len(root.get("a0")) == 19_999


def test_resources_and_manifest_share_one_string_pool_decoder():
    import audit.static.manifest as manifest
    assert not hasattr(manifest, "_pool_string")
    assert manifest.StringPool is __import__("audit.static.axml", fromlist=["StringPool"]).StringPool


def test_sparse_offset16_type_chunk_claiming_billions_of_entries_is_refused_unread():
    def lookup(table):
        return arsc_string(table, 0x7F020001)
    assert lookup(hb.arsc_sparse_claiming(0x7FFFFFFF, 1 << 20)) is None
    _scales_linearly(lambda n: hb.arsc_sparse_claiming(0x7FFFFFFF, n), lookup, 1 << 20)


# -- dex ----------------------------------------------------------------------------------------------------
def test_dex_string_aliases_share_one_object_and_overlaps_hit_the_budget():
    dex = DexFile(hb.dex_overlapping_strings(1 << 20, 64), "overlap.dex")
    with pytest.raises(InputError, match="string_ids overlapping"):
        for index in range(dex.string_ids_size):
            dex.string(index)


def test_url_scan_is_linear_in_one_long_string():
    def run(data):
        return string_constants([DexFile(data, "long.dex")])
    found = run(hb.dex_long_url_string(1 << 16))
    assert found and found[0].startswith("https://x.example/")
    _scales_linearly(hb.dex_long_url_string, run, 1 << 18)


def test_one_interfaces_list_shared_by_every_class_is_indexed_once():
    def run(data):
        index = CodeIndex([DexFile(data, "shared.dex")])
        entry_class_descriptors(index, ["org.edukit.calculator.MainActivity"])
        index.descendants("Lh/C00000;")
        return index
    index = run(hb.dex_shared_interfaces(2000))
    assert index.hierarchy_cut >= 1          # counted, and reported by the scan as a limit
    _scales_linearly(hb.dex_shared_interfaces, run, 4000)


def test_a_limit_that_drops_hierarchy_marks_the_scan_partial(clean_apk, tmp_path):
    parts = hb.members(clean_apk)
    parts["classes.dex"] = hb.dex_shared_interfaces(1000)
    report = scan_app([str(hb.write_apk(tmp_path / "h.apk", parts))])
    assert report.partial
    assert any(w.startswith("limit MAX_HIERARCHY:") for w in report.warnings)


# -- nothing leaked -----------------------------------------------------------------------------------------
IMEI = "353627075111296"


def _har(urls: list[str], body: str | None = None) -> str:
    import json
    entries = []
    for url in urls:
        request = {"method": "POST" if body else "GET", "url": url, "httpVersion": "HTTP/1.1", "headers": [],
                   "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1}
        if body:
            request["postData"] = {"mimeType": "text/plain", "text": body}
        entries.append({"startedDateTime": "2026-11-24T10:00:00Z", "time": 1, "request": request,
                        "response": {"status": 200, "headers": [], "content": {"size": 0}}})
    return json.dumps({"log": {"version": "1.2", "entries": entries}})


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_identifiers_are_redacted_in_hosts_encoded_paths_and_crowded_queries(tmp_path, fmt):
    import json
    from audit.cli import main
    encoded = "".join(f"%{ord(c):02X}" for c in IMEI[:6]) + IMEI[6:]
    har = tmp_path / "leak.har"
    har.write_text(_har([f"https://{IMEI}.dns.example/x", f"https://a.example/p/{encoded}/q",
                         f"https://b.example/c?id={IMEI}&n=1"], body=("imei=" + IMEI + "&") * 300))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"device_ids.imei": IMEI}))
    out = tmp_path / f"report.{fmt}"
    assert main(["traffic", str(har), "--identifiers", str(ids), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    assert IMEI not in text and encoded not in text and IMEI[6:] not in text
    assert "3…6#" in text
    assert main(["traffic", str(har), "--identifiers", str(ids), "--format", fmt, "--reveal", "-o", str(out)]) == 0
    assert IMEI in out.read_text()


def test_redaction_is_one_pass_whatever_the_number_of_values():
    from audit.redact import Redactor
    values = [f"{350000000000000 + i * 7919}" for i in range(500)]
    redactor = Redactor(values)
    report = {"findings": [{"text": f"value {values[i]} at {values[-i - 1]}.host", "n": i} for i in range(200)]}
    out = redactor.report(report)
    assert not any(v in str(out) for v in values)
    assert out["findings"][0]["n"] == 0
    # the work per string does not grow with the number of values: one automaton pass
    big = Redactor(values + [f"{360000000000000 + i}" for i in range(4000)])
    text = " ".join(values[:50]) * 20
    small_cost = _cpu(lambda t: [redactor.text(t) for _ in range(200)], text)
    big_cost = _cpu(lambda t: [big.text(t) for _ in range(200)], text)
    assert big_cost / small_cost < 3


@pytest.mark.parametrize("content, problem", [("", "empty"), ("ab", "2 characters long"),
                                              ("z" * 64, "not hex")])
def test_a_bad_redaction_key_is_one_error_naming_the_file(tmp_path, content, problem):
    import os
    import subprocess
    import sys
    home = tmp_path / "home"
    home.mkdir()
    (home / "redaction.key").write_text(content)
    har = tmp_path / "one.har"
    har.write_text(_har([f"https://a.example/?id={IMEI}"]))
    ids = tmp_path / "ids.json"
    ids.write_text('{"device_ids.imei": "%s"}' % IMEI)
    done = subprocess.run([sys.executable, "-m", "audit.cli", "traffic", str(har), "--identifiers", str(ids)],
                          capture_output=True, text=True, env=dict(os.environ, APPAUDIT_HOME=str(home)))
    assert done.returncode == 2 and not done.stdout
    line, = done.stderr.strip().splitlines()
    assert line.startswith("appaudit: error: ") and str(home / "redaction.key") in line and problem in line


def test_a_new_redaction_key_is_written_whole_and_private(tmp_path):
    import os
    import subprocess
    import sys
    home = tmp_path / "home"
    code = "from audit.redact import fingerprint; print(fingerprint('x'))"
    env = dict(os.environ, APPAUDIT_HOME=str(home))
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    key = home / "redaction.key"
    assert len(key.read_text()) == 64 and key.stat().st_mode & 0o077 == 0
    assert [p.name for p in home.iterdir()] == ["redaction.key"]        # no temporary file left behind
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout == first.stdout


# -- nothing injected ---------------------------------------------------------------------------------------
INJECTED = "x\r# all checks passed\n<script>alert(1)</script>![t](http://t.example/p.png)\x1b[2J\u202eevil|`"


def test_one_escaper_per_output_kind():
    from audit import escape
    line = escape.terminal_line(INJECTED)
    assert "\x1b" not in line and "\r" not in line and "\n" not in line and "\u202e" not in line
    assert "\\x1b[2J" in line and "\\u202e" in line
    md = escape.markdown(INJECTED)
    assert "\r" not in md and "\n" not in md and "\\<script\\>" in md and "!\\[t\\]" in md and "\\|" in md
    assert "\x1b" not in md and "\u202e" not in md
    assert escape.markdown("# heading") == "\\# heading" and escape.markdown("1. item") == "1\\. item"
    assert escape.markdown("device_ids.imei") == "device_ids.imei"
    assert escape.code("a`b|c") == "`a'b\\|c`"
    page = escape.html(INJECTED)
    assert "<script>" not in page and "\u202e" not in page and "&lt;script&gt;" in page


def test_no_writer_defines_its_own_escaper():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "audit"
    for path in root.rglob("*.py"):
        if path.name == "escape.py":
            continue
        text = path.read_text()
        assert not re.search(r"\.replace\(\"\|\", \"\\\\\\\\\|\"\)", text), path      # a private pipe escaper
        assert "from html import escape" not in text and "html.escape(" not in text, path


def test_markdown_reports_show_hostile_names_as_text(tmp_path):
    import json
    from audit.cli import main
    from audit.traffic.analyse import analyse, to_markdown
    har = tmp_path / "h.har"
    host = "evil.example"
    har.write_text(_har([f"https://{host}/?id={IMEI}"]))
    report = analyse([har], {"device_ids.imei": [IMEI]}, app_package="com.x\r# all checks passed\x1b[2J")
    text = to_markdown(report)
    assert "\r" not in text and "\x1b" not in text and "\n# all checks passed" not in text
    from audit.static.markdown import render_markdown
    scan = {"app": {"package": "p", "label": "<img src=x onerror=alert(1)>\r# ok"}, "inputs": [],
            "permissions": [], "sdks": [], "api_calls": [], "observations": [], "components": [],
            "meta_data": [], "partial": True, "warnings": ["member \x1b[2Jname\u202e"]}
    page = render_markdown(scan)
    assert "\\<img" in page and "\n<img" not in page and "\r" not in page and "\x1b" not in page and "\u202e" not in page


def test_error_lines_and_progress_lines_escape_control_characters(tmp_path, capsys):
    import io
    from audit.cli import main
    bad = tmp_path / "evil\x1b[2J\u202e.apk"
    bad.write_bytes(b"not a zip")
    assert main(["scan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err and "\\x1b[2J" in err and len(err.splitlines()) == 1
    from audit.corpus.progress import Progress
    stream = io.StringIO()
    progress = Progress(1, stream=stream, interactive=False)
    progress.update({"status": "failed", "path": "a\rb\x1b[2J.apk", "error": "bad\nname"})
    out = stream.getvalue()
    assert "\x1b" not in out and "\r" not in out and out.count("\n") == 1


# -- the watchdog -------------------------------------------------------------------------------------------
def test_watchdog_raises_time_limit_once_then_ends_the_run():
    from audit.errors import TimeLimit, WatchdogExpired
    from audit.watchdog import Watchdog
    import signal
    outer = signal.getitimer(signal.ITIMER_REAL)[0]      # pytest-timeout's alarm, when it runs: put back after
    caught = []
    with pytest.raises(WatchdogExpired):
        with Watchdog(0.2, None) as watchdog:
            while True:               # a stage that swallows everything it can: only the second signal ends it
                try:
                    while True:
                        pass
                except TimeLimit as exc:
                    caught.append(str(exc))
    assert watchdog.fired and len(caught) == 1 and "--time-limit" in caught[0]
    after = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (after == 0.0) if outer == 0.0 else (0.0 < after <= outer)


def test_watchdog_memory_limit_is_a_memory_error_and_is_restored():
    import resource
    from audit.watchdog import Watchdog
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        with Watchdog(None, 64):
            bytearray(256 * 1024 * 1024)
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_cli_time_limit_is_one_error_line():
    """A command that would run for 30 s (its handler replaced by a sleep) under a 0.2 s limit."""
    import subprocess
    import sys
    code = ("import time, sys\nfrom audit import cli\n"
            "cli._handler = lambda spec: (lambda args: time.sleep(30))\n"
            "sys.exit(cli.main(['scan', 'x.apk', '--time-limit', '0.2']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert line.startswith("appaudit: error: time limit of 0.2 s reached")


# -- faults are input errors --------------------------------------------------------------------------------
def _one_error(done, *fragments, progress: bool = False) -> str:
    """Exit 2 and one error line (after the progress lines of a corpus run, with progress=True)."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and (progress or len(lines) == 1), done.stderr
    line = lines[-1]
    assert line.startswith("appaudit: error: ") and "unexpected" not in line, line
    for fragment in fragments:
        assert fragment in line, line
    return line


def _cli(*argv, **kwargs):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "audit.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_report_on_a_full_disk_is_one_error_line(clean_apk):
    _one_error(_cli("scan", clean_apk, "-o", "/dev/full"), "/dev/full", "the disk is full")


def test_report_inside_an_input_folder_or_over_an_input_is_refused(tmp_path, clean_apk):
    run = tmp_path / "run"
    run.mkdir()
    capture = run / "flows.har"
    capture.write_text(_har([f"https://a.example/?id={IMEI}"]))
    ids = tmp_path / "ids.json"
    ids.write_text('{"device_ids.imei": "%s"}' % IMEI)
    before = capture.read_bytes()
    _one_error(_cli("traffic", run, "--identifiers", ids, "-o", run / "flows.mitm"), "inside input folder")
    _one_error(_cli("traffic", capture, "--identifiers", ids, "-o", capture), "refusing to overwrite input")
    _one_error(_cli("audit", clean_apk, "--datasheet", tmp_path / "none.yaml", "--capture", run,
                    "-o", capture), "refusing")
    assert capture.read_bytes() == before and not (run / "flows.mitm").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only; skipped elsewhere): a disk that fills up mid-run."""
    import subprocess
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_database_on_a_full_disk_leaves_no_file_that_later_runs_refuse(tiny_disk, tmp_path, corpus_dir):
    import shutil
    apks = tmp_path / "apks"
    apks.mkdir()
    for apk in sorted(corpus_dir.glob("droidbench__*.apk"))[:2]:
        shutil.copy(apk, apks)
    (tiny_disk / "filler").write_bytes(b"\0" * (60 * 1024))
    db = tiny_disk / "c.duckdb"
    _one_error(_cli("corpus", "scan", apks, "--db", db), "the disk is full", progress=True)
    assert not db.exists() or db.stat().st_size > 0
    (tiny_disk / "filler").unlink()
    for leftover in tiny_disk.iterdir():
        leftover.unlink()
    db.write_bytes(b"")        # what an older version left behind: a 0-byte file is nobody's data
    done = _cli("corpus", "scan", apks, "--db", db)
    assert done.returncode == 0, done.stderr


def test_database_that_fills_mid_run_keeps_what_was_committed(tmp_path, corpus_dir):
    import subprocess
    import shutil
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        first, everything = tmp_path / "first", tmp_path / "all"
        first.mkdir()
        everything.mkdir()
        apks = sorted(corpus_dir.glob("*.apk"))
        for apk in apks[:6]:
            shutil.copy(apk, first)
        for apk in apks:
            shutil.copy(apk, everything)
        db = mount / "c.duckdb"
        assert _cli("corpus", "scan", first, "--db", db).returncode == 0
        done = _cli("corpus", "scan", everything, "--db", db, "--resume")
        if done.returncode == 0:
            pytest.skip("the corpus fitted on the small disk")
        _one_error(done, "cannot write to --db", "the disk is full", progress=True)
        report = _cli("corpus", "report", "--db", db)
        assert report.returncode == 0 and "apps in the corpus" in report.stdout
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_key_written_twice_in_yaml_is_an_error_naming_both_lines(tmp_path, clean_apk):
    from audit.rulesdata import load_yaml
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text("app: org.edukit.calculator\ncollected:\n  - device_ids.imei\nshared: []\ncollected: []\n")
    with pytest.raises(InputError, match=r"sheet.yaml:5: duplicate key 'collected' \(lines 2 and 5\)"):
        load_yaml(sheet)
    merged = tmp_path / "merge.yaml"
    merged.write_text("base: &b {k: 1, j: 2}\nchild:\n  <<: *b\n  k: 3\n")      # overriding a merge is fine
    assert load_yaml(merged)["child"] == {"k": 3, "j": 2}
    _one_error(_cli("audit", clean_apk, "--datasheet", sheet), "duplicate key 'collected'", "lines 2 and 5")


# -- private files ------------------------------------------------------------------------------------------
def test_run_folders_are_private_whatever_the_target_folders_mode(tmp_path):
    import os
    import stat
    from audit.runtime.runfolder import RunFolder
    target = tmp_path / "run"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)
    old = os.umask(0o022)
    try:
        run = RunFolder.create(target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o700
        run.start(options={})
        (target / "flows.har").write_text("{}")          # as the proxy writes it, under the umask
        run.finish(True)
    finally:
        os.umask(old)
    for item in target.rglob("*"):
        assert stat.S_IMODE(item.stat().st_mode) == (0o700 if item.is_dir() else 0o600), item


def test_ca_folders_of_killed_captures_are_swept_at_the_next_start(tmp_path):
    import signal
    import subprocess
    import sys
    from audit.runtime.proxy import CA_PREFIX, private_dir, sweep_stale_ca_dirs
    # a stand-in capture: its CA folder, and a program it started (which outlives it when it is SIGKILLed)
    code = ("import os, subprocess, sys, tempfile, time\ntempfile.tempdir = sys.argv[1]\n"
            "from audit.runtime.proxy import private_dir, record_spawned\n"
            "d = private_dir('appaudit-ca-'); (d / 'mitmproxy-ca.pem').write_text('KEY')\n"
            "app = subprocess.Popen(['sleep', '600']); record_spawned(d, app.pid)\n"
            "print(d, app.pid, flush=True); time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    folder, app_pid = child.stdout.readline().split()
    killed, app_pid = Path(folder), int(app_pid)
    assert killed.is_dir()
    assert sweep_stale_ca_dirs(tmp_path) == []          # its capture still runs: left alone
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert Path(f"/proc/{app_pid}").exists()            # the app outlived its capture
    import tempfile
    saved = tempfile.tempdir
    tempfile.tempdir = str(tmp_path)
    try:
        mine = private_dir(CA_PREFIX)                    # this process's own: alive, kept
    finally:
        tempfile.tempdir = saved
    assert sweep_stale_ca_dirs(tmp_path) == [killed]
    assert not killed.exists() and mine.is_dir()
    for _ in range(200):                                  # SIGKILLed by the sweep; reaped by init (a zombie meanwhile)
        state = Path(f"/proc/{app_pid}/stat")
        if not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        import time
        time.sleep(0.05)
    else:
        raise AssertionError("the app the killed capture started still runs")


def test_script_shims_are_looked_through_or_named(tmp_path):
    import os
    import sys
    from audit.runtime.local import resolve_program
    shim = tmp_path / "python3"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')       # what pyenv's shim does, in short
    os.chmod(shim, 0o755)
    program, *rest = resolve_program([str(shim), "app.py"])
    assert rest == ["app.py"] and open(program, "rb").read(4) == b"\x7fELF"
    other = tmp_path / "tool"
    other.write_text("#!/bin/sh\necho hi\n")
    os.chmod(other, 0o755)
    with pytest.raises(InputError, match=r"is a script .*#!/bin/sh.*-- /bin/sh "):
        resolve_program([str(other)])


def test_json_reports_show_invisible_characters_as_escapes():
    """A label or a captured string with a bidi override or a C1 control (CSI, which json leaves raw) reaches a
    terminal as an escape, and parses back to the very same value."""
    import json as _json
    from audit.report import dumps_json
    value = {"label": "safe\u202eexe.apk\x9b2J\x7f\u2028\U000e0001", "plain": "ok ünïcode"}
    text = dumps_json(value)
    assert _json.loads(text) == value
    assert not any(ch in text for ch in "\u202e\x9b\x7f\u2028\U000e0001") and "ünïcode" in text
    assert "\\u202e" in text and "\\udb40\\udc01" in text
