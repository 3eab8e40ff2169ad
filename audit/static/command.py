"""`appaudit scan APP... [--format json|md] [-o FILE]`."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..report import dumps_json, write_output
from .markdown import render_markdown
from .scan import scan_app


def _check_output(out: str | None, inputs: list[str]) -> None:
    """Refuse a bad -o before a scan that may take a while (write_output checks again when writing)."""
    if out is None or out == "-":
        return
    target = Path(out)
    for item in inputs:
        try:
            if target.exists() and os.path.samefile(item, target):
                raise InputError(f"refusing to overwrite input {item} with the report")
        except OSError:
            continue
    if target.is_dir():
        raise InputError(f"output {target} is a directory")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")


def run(args) -> int:
    output = getattr(args, "output", None)
    _check_output(output, args.apps)
    report = scan_app(args.apps).to_json()
    if getattr(args, "format", "json") == "md":
        content = render_markdown(report)
    else:
        content = dumps_json(report)
    write_output(content, output, args.apps)
    return 0
