"""`appaudit traffic CAPTURE... --identifiers FILE [--app PACKAGE] [--format json|md] [-o FILE] [--reveal]`."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..redact import redact_report
from ..report import check_output, write_output
from .analyse import analyse, dumps, load_identifiers, to_markdown


def run(args) -> int:
    inputs = [*args.captures, *([args.identifiers] if args.identifiers else []), *args.trackers]
    check_output(args.output, inputs)
    identifiers = load_identifiers(args.identifiers) if args.identifiers else None
    if identifiers is None and not any(Path(c).is_dir() and (Path(c) / "identifiers.json").is_file()
                                       for c in args.captures):
        raise InputError("no identifiers to search for: pass --identifiers FILE (JSON/YAML: data type -> value), "
                         "or a run folder that has identifiers.json")
    report = analyse(args.captures, identifiers, args.app, extra_trackers=args.trackers)
    if args.format == "md":
        content = to_markdown(report, args.reveal)
        content = content if args.reveal else redact_report(content, report.identifier_values, report.matcher)
    else:
        content = dumps(report, args.reveal)
    write_output(content, args.output, inputs)
    return 0
