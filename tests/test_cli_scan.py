"""`appaudit scan` through the real command line in a subprocess: output formats, and bad input ending in
exactly one `appaudit: error:` line and exit code 2, never a traceback or a hang."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENTRY = REPO / ".venv" / "bin" / "appaudit"
APPAUDIT = [str(ENTRY)] if ENTRY.exists() else [sys.executable, "-m", "audit.cli"]


def appaudit(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("APPAUDIT_DEBUG", None)
    return subprocess.run([*APPAUDIT, "scan", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=REPO)


@pytest.fixture(scope="module")
def clean_parts(clean_apk) -> dict[str, bytes]:
    with zipfile.ZipFile(clean_apk) as z:
        return {"AndroidManifest.xml": z.read("AndroidManifest.xml"), "classes.dex": z.read("classes.dex")}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _bomb(path: Path, manifest: bytes) -> Path:
    """An APK whose classes.dex inflates to 300 MiB of zeros (more than the 256 MiB entry cap); ~300 KiB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("AndroidManifest.xml", manifest)
        with z.open("classes.dex", "w", force_zip64=True) as handle:
            block = b"\0" * (1024 * 1024)
            for _ in range(300):
                handle.write(block)
    return path


BAD_INPUTS = {
    "missing path": (lambda d, parts, apk: d / "nope.apk", "no such file"),
    "directory": (lambda d, parts, apk: d, "is a directory"),
    "empty file": (lambda d, parts, apk: _write(d / "empty.apk", b""), "is empty"),
    "not a zip": (lambda d, parts, apk: _write(d / "notes.apk", b"just some text\n" * 20), "not a valid zip"),
    "truncated apk": (lambda d, parts, apk: _write(d / "cut.apk", apk.read_bytes()[:-5000]), "not a valid zip"),
    "zip bomb": (lambda d, parts, apk: _bomb(d / "bomb.apk", parts["AndroidManifest.xml"]), "zip bomb"),
    "garbage classes.dex": (lambda d, parts, apk: _zip(d / "gdex.apk", {
        "AndroidManifest.xml": parts["AndroidManifest.xml"], "classes.dex": os.urandom(3000)}),
        "no readable code"),
    "malformed manifest": (lambda d, parts, apk: _zip(d / "gman.apk", {
        "AndroidManifest.xml": b"\x03\x00\x08\x00" + os.urandom(500), "classes.dex": parts["classes.dex"]}),
        "malformed manifest in"),
    "zip without manifest": (lambda d, parts, apk: _zip(d / "plain.apk", {"a.txt": b"a"}), "neither an APK"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, clean_parts, clean_apk, case):
    make, message = BAD_INPUTS[case]
    target = make(tmp_path, clean_parts, clean_apk)
    done = appaudit(target, "-o", tmp_path / "out.json")
    assert done.returncode == 2, (case, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("appaudit: error:"), (case, done.stderr)
    assert message in lines[0], (case, lines[0])
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "out.json").exists()


def test_json_to_stdout_and_identical_across_processes(education_apk):
    first = appaudit(education_apk, env={"PYTHONHASHSEED": "1"})
    second = appaudit(education_apk, env={"PYTHONHASHSEED": "2"})
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stderr == ""
    assert first.stdout == second.stdout
    report = json.loads(first.stdout)
    assert report["schema"] == "appaudit.scan/1" and report["app"]["package"] == "org.edukit.classroom"


def test_markdown_report_to_a_file(tmp_path, education_apk):
    out = tmp_path / "report.md"
    done = appaudit(education_apk, "--format", "md", "-o", out)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
    text = out.read_text()
    assert text.startswith("# Static scan: EduKit Classroom")
    for section in ("## Inputs", "## Permissions", "## SDKs", "## Sensitive API call sites", "## Observations"):
        assert section in text
    assert "`android.permission.READ_PHONE_STATE` | dangerous" in text
    assert "Amplitude (`amplitude`)" in text and "sdk-class `com.amplitude`" in text
    assert "### IMEI / MEID" in text
    assert hashlib.sha256(education_apk.read_bytes()).hexdigest() in text


def test_split_set_on_the_command_line(split_set):
    done = appaudit(*split_set)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["app"]["splits"] == ["config.en", "feature_maps"] and not report["partial"]


def test_refuses_to_overwrite_an_input(tmp_path, clean_apk):
    copy = tmp_path / "app.apk"
    copy.write_bytes(clean_apk.read_bytes())
    before = copy.read_bytes()
    done = appaudit(copy, "-o", copy)
    assert done.returncode == 2 and done.stderr.startswith("appaudit: error: refusing to overwrite input")
    assert copy.read_bytes() == before


def test_bad_output_path_is_refused_before_scanning(tmp_path, education_apk):
    done = appaudit(education_apk, "-o", tmp_path / "no" / "such" / "folder" / "out.json")
    assert done.returncode == 2 and done.stderr.startswith("appaudit: error: output folder")
    assert len(done.stderr.splitlines()) == 1
