"""`appaudit scan APP... [--format json|md] [-o FILE]`."""
from __future__ import annotations

from pathlib import Path

from ..report import check_output, dumps_json, write_output
from .markdown import render_markdown
from .scan import scan_app


def run(args) -> int:
    output = getattr(args, "output", None)
    # (a folder given as an app is refused by the scan itself, with its own message: not as a report location)
    check_output(output, [app for app in args.apps if not Path(app).is_dir()])
    report = scan_app(args.apps).to_json()
    if getattr(args, "format", "json") == "md":
        content = render_markdown(report)
    else:
        content = dumps_json(report)
    write_output(content, output, args.apps)
    return 0
