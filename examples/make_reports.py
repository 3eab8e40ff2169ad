#!/usr/bin/env python3
"""`make demo`: build the education fixture app, audit it against the Webex worked example, write reports/.

    python examples/make_reports.py [--capture RUN_OR_HAR ...] [--identifiers FILE] [--out reports]

Writes, for the Webex inquiry (examples/webex-inquiry/) run against the education fixture:
    reports/webex-inquiry.{json,md,html,sarif}
and the same app judged against its (fictional) Google Play Data-safety export:
    reports/education-play-datasafety.{json,md}
Paths inside the reports are relative to the repository, so the files are identical on every machine.
With a capture (a run folder from `appaudit capture` or a HAR) the audit also judges what was transmitted.

`--live-capture` (what `make demo` passes) also makes a real capture here: the JVM stand-in of tests/jvm/ — a
host program whose classes carry the Android API names, with a stand-in Amplitude SDK — runs under Frida and the
in-process mitmproxy in sinkhole mode, sending to the education app's own host and to Amplitude's; nothing leaves
the machine. The audit with that run folder goes to reports/webex-inquiry-with-capture.{json,md,html}. The
stand-in is not the APK: it shows the runtime and traffic stages end to end where no Android emulator can run.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audit.errors import InputError  # noqa: E402
from audit.report import write_output  # noqa: E402
from audit.rules.command import audit_app, gate, render  # noqa: E402

EXAMPLE = Path("examples/webex-inquiry")
PLAY_CSV = Path("examples/datasheets/education-play-datasafety.csv")
APK_DIR = Path("build/demo")


def build_fixture() -> Path:
    spec = importlib.util.spec_from_file_location("appaudit_fixture_build", REPO / "tests/fixtures/build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    (REPO / APK_DIR).mkdir(parents=True, exist_ok=True)
    built = Path(module.build("education", REPO / APK_DIR))
    return APK_DIR / built.name


JVM_SOURCES = Path("tests/jvm")
FIRST_PARTY_URL = "https://api.edukit.org/v1/telemetry"
SDK_URL = "https://api2.amplitude.com/2/httpapi"


def live_capture() -> Path | None:
    """A real capture of the JVM stand-in (sinkhole mode) into build/demo/run; None when no JDK is here."""
    if not (shutil.which("javac") and shutil.which("java")):
        print("make_reports: no JDK: skipping the live capture", file=sys.stderr)
        return None
    classes, run = APK_DIR / "jvm", APK_DIR / "run"
    shutil.rmtree(classes, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)   # build/demo is ours; a run folder is never overwritten in place
    classes.mkdir(parents=True)
    sources = sorted(str(p) for p in JVM_SOURCES.rglob("*.java"))
    subprocess.run(["javac", "-nowarn", "-d", str(classes), *sources], check=True)
    capture = subprocess.run(
        [sys.executable, "-m", "audit.cli", "capture", "org.edukit.classroom", "--device", "local", "--sinkhole",
         "--duration", "60", "-o", str(run), "--", "java", "-cp", str(classes), "com.example.standin.Main",
         FIRST_PARTY_URL, SDK_URL], capture_output=True, text=True)
    if capture.returncode != 0:
        raise InputError(f"live capture failed: {capture.stderr.strip()}")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", action="append", default=[], metavar="RUN|HAR")
    parser.add_argument("--identifiers", metavar="FILE")
    parser.add_argument("--out", default="reports", metavar="DIR")
    parser.add_argument("--reveal", action="store_true")
    parser.add_argument("--live-capture", action="store_true",
                        help="also capture the JVM stand-in under Frida + mitmproxy (sinkhole) and audit with it")
    args = parser.parse_args(argv)
    os.chdir(REPO)   # relative paths in the reports
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        apk = build_fixture()
        webex = audit_app([str(apk)], str(EXAMPLE / "datasheet.yaml"), args.capture, args.identifiers,
                          str(EXAMPLE / "claims.yaml"), reveal=args.reveal)
        for fmt in ("json", "md", "html", "sarif"):
            write_output(render(webex, fmt), out / f"webex-inquiry.{fmt}")
        run = live_capture() if args.live_capture else None
        if run is not None:
            live = audit_app([str(apk)], str(EXAMPLE / "datasheet.yaml"), [*args.capture, str(run)],
                             args.identifiers, str(EXAMPLE / "claims.yaml"), reveal=args.reveal)
            for fmt in ("json", "md", "html"):
                write_output(render(live, fmt), out / f"webex-inquiry-with-capture.{fmt}")
            print(f"live capture {run}: {live.summary['findings']} findings; claims "
                  f"{', '.join(f'{k} {v}' for k, v in live.summary['claims'].items())}")
        play = audit_app([str(apk)], str(PLAY_CSV), args.capture, args.identifiers, reveal=args.reveal)
        for fmt in ("json", "md"):
            write_output(render(play, fmt), out / f"education-play-datasafety.{fmt}")
    except InputError as exc:
        print(f"make_reports: error: {exc}", file=sys.stderr)
        return 2
    claims = webex.summary["claims"]
    print(f"{apk}: {webex.summary['findings']} findings against the Webex data sheet "
          f"({', '.join(f'{k} {v}' for k, v in webex.summary['by_severity'].items())}); claims "
          f"{', '.join(f'{k} {v}' for k, v in claims.items())}; "
          f"{play.summary['findings']} findings against the Play Data-safety export")
    print(f"reports written to {out}/ (webex-inquiry.json/.md/.html/.sarif, education-play-datasafety.json/.md)")
    print(f"CI gate at --fail-on medium would exit {gate(webex, 'medium')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
