"""The `appaudit` command: argument parsing only; each subcommand lives in its stage's `command` module.

Exit codes: 0 success (or nothing at/above --fail-on), 1 findings at/above --fail-on, 2 usage or input error.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import InputError, TimeLimit, WatchdogExpired

FORMATS = ("json", "md")


class _AuditFormats:
    """The audit's --format choices: every ReportFormat module of audit/report (a new format is one file there).
    Read when argparse first asks (a --format given, or --help), so other commands do not import jinja2."""

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    @staticmethod
    def _names() -> list[str]:
        from .report.formats import formats
        return sorted(formats())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for any other bad input
        raise InputError(f"{self.prog}: {message}")


class _CaptureParser(_Parser):
    """`capture APP --device local -- CMD...`: everything after the first `--` is the program, taken before
    argparse sees it (a REMAINDER positional after an optional APP swallows the options that follow APP)."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        cmd: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, cmd = args[:cut], args[cut + 1:]
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.cmd = cmd
        return namespace, extras


def _limit_options(parser: argparse.ArgumentParser) -> None:
    from .watchdog import DEFAULT_MEMORY_MB, DEFAULT_SECONDS
    parser.add_argument("--time-limit", type=float, default=DEFAULT_SECONDS, metavar="S",
                        help=f"seconds before the command stops with a partial report or an error "
                             f"(default {DEFAULT_SECONDS:g}; 0: none)")
    parser.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_MB, metavar="MB",
                        help=f"memory the command may use beyond its start (default {DEFAULT_MEMORY_MB}; 0: none)")


def _output_options(parser: argparse.ArgumentParser, formats=FORMATS) -> None:
    if formats is FORMATS:
        parser.add_argument("--format", choices=formats, default="json", help="report format (default json)")
    else:   # a metavar: argparse would otherwise list the choices (importing every format) for every command
        parser.add_argument("--format", choices=formats, default="json", metavar="FORMAT",
                            help="report format: %(choices)s (default json)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("--reveal", action="store_true",
                        help="show captured identifier values in the report (redacted by default)")
    _limit_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="appaudit", description="Audit what a mobile app collects and sends, "
                     "against what its vendor declares.")
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    scan = sub.add_parser("scan", help="static analysis of an APK, split set, .apks, .xapk, .apkm or .aab")
    scan.add_argument("apps", nargs="+", metavar="APP", help="APK files of one app, or one bundle")
    _output_options(scan)
    scan.set_defaults(handler="audit.static.command:run")

    traffic = sub.add_parser("traffic", help="find known identifiers in captured traffic")
    traffic.add_argument("captures", nargs="+", metavar="CAPTURE",
                         help="HAR, mitmproxy flows, pcap/pcapng (+ sslkeylog), or a run folder")
    traffic.add_argument("--identifiers", metavar="FILE", help="JSON/YAML: data type -> known value(s)")
    traffic.add_argument("--app", metavar="PACKAGE", help="the app's package")
    traffic.add_argument("--first-party", metavar="DOMAIN", action="append", default=[], dest="first_party",
                         help="a domain of the app's own (repeatable; also read from --apk)")
    traffic.add_argument("--apk", metavar="APK", help="the app: its app-link hosts and network security config "
                                                      "domains are first party; a request's stack is attributed "
                                                      "as the app's scan places each class")
    traffic.add_argument("--trackers", metavar="FILE", action="append", default=[],
                         help="extra host lists: Exodus tracker list (JSON), Ghostery TrackerDB (trackerdb.json), "
                              "appaudit SDK list (YAML)")
    _output_options(traffic)
    traffic.set_defaults(handler="audit.traffic.command:run")

    audit = sub.add_parser("audit", help="compare observations with the vendor's declarations")
    audit.add_argument("app", metavar="APP", nargs="*",
                       help="APK files of one app, or one bundle; none to audit --capture traffic alone")
    audit.add_argument("--capture", metavar="RUN|HAR", action="append", default=[],
                       help="run folder or capture file (repeatable)")
    audit.add_argument("--identifiers", metavar="FILE")
    audit.add_argument("--datasheet", metavar="FILE", required=True,
                       help="declarations: appaudit YAML, Play Data-safety CSV or PrivacyInfo.xcprivacy")
    audit.add_argument("--inquiry", metavar="FILE", help="claims YAML to answer claim by claim")
    audit.add_argument("--fail-on", choices=("low", "medium", "high"), help="exit 1 on findings at or above")
    audit.add_argument("--baseline", metavar="FILE", help="previous JSON report: its findings are accepted")
    _output_options(audit, _AuditFormats())
    audit.set_defaults(handler="audit.rules.command:run")

    sub._parser_class = _CaptureParser  # argparse offers no per-subcommand parser class otherwise
    capture = sub.add_parser("capture", help="run the app under Frida and mitmproxy into a run folder",
                             usage="%(prog)s [APP] --device SERIAL|local [options] [-- CMD...]")
    sub._parser_class = _Parser
    capture.add_argument("app", metavar="APP", nargs="?",
                         help="APK (or bundle) to install and run; with --device local, optionally the "
                              "package name the program stands for")
    capture.add_argument("--device", required=True, metavar="SERIAL|local")
    capture.add_argument("--duration", type=float, default=60.0, metavar="S")
    capture.add_argument("--exercise", choices=("monkey", "none"), default="none")
    capture.add_argument("--seed", type=int, default=1, help="monkey seed")
    capture.add_argument("-o", "--output", metavar="RUN_DIR")
    capture.add_argument("--sinkhole", action="store_true",
                         help="the proxy answers every request itself (204): nothing the app sends leaves "
                              "this machine")
    capture.add_argument("--keep-data", action="store_true",
                         help="install over the app's existing data (default: uninstall first, a first run)")
    capture.set_defaults(cmd=[])  # filled by _CaptureParser from what follows `--`
    capture.set_defaults(handler="audit.runtime.command:capture")

    device = sub.add_parser("device", help="device checks")
    device_sub = device.add_subparsers(dest="device_command", metavar="ACTION", parser_class=_Parser)
    device_sub.required = True
    doctor = device_sub.add_parser("doctor", help="check a device is ready for capture; print fixes")
    doctor.add_argument("serial", nargs="?")
    doctor.add_argument("--fix", metavar="FRIDA_SERVER", nargs="?", const="", help="push this frida-server "
                        "binary (same version as the installed frida, the device's architecture) and start it as "
                        "root; without FILE, the matching one from Frida's releases (cached under APPAUDIT_HOME)")
    doctor.set_defaults(handler="audit.runtime.command:doctor")

    corpus = sub.add_parser("corpus", help="scan many apps into DuckDB")
    corpus_sub = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", parser_class=_Parser)
    corpus_sub.required = True
    cscan = corpus_sub.add_parser("scan", help="scan folders or list files of APKs")
    cscan.add_argument("sources", nargs="+", metavar="DIR|LIST")
    cscan.add_argument("--db", required=True, metavar="FILE.duckdb")
    cscan.add_argument("--jobs", type=int, default=1, metavar="N")
    cscan.add_argument("--scheduler", metavar="tcp://HOST:PORT")
    cscan.add_argument("--resume", action="store_true", help="skip apps already done (by sha256)")
    cscan.add_argument("--parquet", metavar="DIR", help="also export the tables as Parquet")
    cscan.add_argument("--timeout", type=float, metavar="S",
                       help="seconds per app before its worker is killed and the app marked failed (default 300)")
    cscan.set_defaults(handler="audit.corpus.command:scan")
    creport = corpus_sub.add_parser("report", help="prevalence report from a corpus database")
    creport.add_argument("--db", required=True, metavar="FILE.duckdb")
    creport.add_argument("--format", choices=("md", "html"), default="md")
    creport.add_argument("-o", "--output", metavar="FILE")
    creport.set_defaults(handler="audit.corpus.command:report")

    sdks = sub.add_parser("sdks", help="the SDK catalogue")
    sdks_sub = sdks.add_subparsers(dest="sdks_command", metavar="ACTION", parser_class=_Parser)
    sdks_sub.required = True
    imp = sdks_sub.add_parser("import-exodus", help="convert an Exodus tracker list to catalogue YAML")
    imp.add_argument("source", metavar="FILE")
    imp.add_argument("-o", "--output", metavar="FILE")
    imp.set_defaults(handler="audit.exodus:import_command")
    return parser


class _Version(argparse.Action):
    """`--version`, with the installed version looked up only when asked (importlib.metadata costs ~30 ms of
    every command's start)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"appaudit {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("appaudit")
    except PackageNotFoundError:
        return "0+unknown"


def _handler(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _one_line(exc: BaseException) -> str:
    """Messages may quote input (a YAML line, a header, a member name): one line on stderr, whatever they
    contain, with no control or bidi character reaching the terminal and no credential it may quote (stderr
    ends up in CI logs)."""
    from .escape import terminal_line
    from .redact import mask_credentials
    return terminal_line(mask_credentials(" ".join(str(exc).split())))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    watchdog = None
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "time_limit"):
            code = _handler(args.handler)(args)
            return 0 if code is None else int(code)
        from .watchdog import Watchdog
        with Watchdog(args.time_limit, args.memory_limit) as watchdog:
            code = _handler(args.handler)(args)
        if watchdog.fired:   # a stage stopped early and kept what it found: the report says so, the exit too
            raise TimeLimit(f"time limit of {args.time_limit:g} s reached (--time-limit); the report written "
                            "is partial")
        return 0 if code is None else int(code)
    except WatchdogExpired as exc:
        print(f"appaudit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("appaudit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if watchdog is not None and watchdog.fired and not isinstance(exc, (InputError, MemoryError)):
            # The limit interrupted whatever was running (an import, an except clause): what surfaced is a
            # consequence of that, not a bug; the cause is the limit.
            exc = TimeLimit(f"time limit of {watchdog.seconds:g} s reached (--time-limit)")
        return _report_error(exc)


def _report_error(exc: Exception) -> int:
    """The one line for an exception that ended a command; the exit code."""
    if isinstance(exc, InputError):
        print(f"appaudit: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    if isinstance(exc, BrokenPipeError):
        return 0
    if isinstance(exc, MemoryError):   # every reader is bounded; this is the last line of defence, still one line
        print("appaudit: error: out of memory while reading the input (the --memory-limit, or the machine's; "
              "see docs/hostile-inputs.md for the bounds)", file=sys.stderr)
        return 2
    if os.environ.get("APPAUDIT_DEBUG"):   # a bug must not print a traceback into a CI log full of personal data
        raise exc
    print(f"appaudit: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
          "(set APPAUDIT_DEBUG=1 for details)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
