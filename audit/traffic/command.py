"""`appaudit traffic CAPTURE... [--identifiers FILE] [--app PACKAGE] [--first-party DOMAIN] [--apk APK]
[--trackers FILE] [--format json|md] [-o FILE] [--reveal]`."""
from __future__ import annotations

from ..gcpause import without_cyclic_gc
from ..redact import redact_report
from ..report import check_output, write_output
from .analyse import analyse, json_pieces, load_identifiers, to_markdown


@without_cyclic_gc   # analysis and writing: segments, tuples and dicts for every request, no cycles
def run(args) -> int:
    apk = getattr(args, "apk", None)
    inputs = [*args.captures, *([args.identifiers] if args.identifiers else []), *args.trackers,
              *([apk] if apk else [])]
    check_output(args.output, inputs)
    identifiers = load_identifiers(args.identifiers) if args.identifiers else None
    # Without identifiers the tracker adapters still read what trackers send (rules/trackers/); the report notes
    # that no known value was searched for.
    first_party = [*getattr(args, "first_party", ())]
    app = args.app
    app_code = None
    if apk:
        from .attribution import ScannedApp
        from .firstparty import app_domains
        package, domains = app_domains(apk)
        first_party += domains
        app = app or package
        # stacks are attributed as the static scan attributed the same classes; the APK's own package
        # decides first party there, whatever --app says
        app_code = ScannedApp([apk])
    report = analyse(args.captures, identifiers, app, extra_trackers=args.trackers, first_party_domains=first_party,
                     app_code=app_code)
    if args.format == "md":
        content = to_markdown(report, args.reveal)
        content = content if args.reveal else redact_report(content, report.identifier_values, report.matcher)
    else:
        content = json_pieces(report, args.reveal)
    write_output(content, args.output, inputs)
    return 0
