"""Report writers. Every format takes the same report object (a JSON-ready dict with a `schema` key)."""
from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError


def dumps_json(report: dict[str, Any]) -> str:
    """Deterministic JSON: sorted keys, fixed separators, trailing newline."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_output(out: str | Path | None, inputs: Iterable[str | Path] = ()) -> Path | None:
    """The report's path, refused when it is one of the user's inputs, a directory or in a missing folder.
    Commands call it before long work too, so a bad -o costs nothing."""
    if out is None or str(out) == "-":
        return None
    target = Path(out)
    for item in inputs:
        try:
            if Path(item).exists() and target.exists() and os.path.samefile(item, target):
                raise InputError(f"refusing to overwrite input {item} with the report")
        except OSError:
            continue
    if target.is_dir():
        raise InputError(f"output {target} is a directory")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")
    return target


def write_output(content: str | bytes, out: str | Path | None, inputs: Iterable[str | Path] = ()) -> None:
    """Write to stdout or atomically to a file that is not one of the user's inputs."""
    if out is None or str(out) == "-":
        if isinstance(content, bytes):
            sys.stdout.buffer.write(content)
        else:
            sys.stdout.write(content)
        sys.stdout.flush()
        return
    target = check_output(out, inputs)
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    if target.is_symlink():
        target = target.resolve()   # follow the link: replacing it would cut it
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        # A FIFO, a terminal, /dev/null or /dev/stdout: write through. An atomic replace would swap the
        # node for a regular file (as root, /dev/null itself).
        with open(target, "wb") as handle:
            handle.write(data)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp's 0600 would make reports unreadable to the team
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


class JsonFormat:
    name, suffix = "json", ".json"

    def render(self, report) -> str:
        return dumps_json(report.to_json())


FORMAT = JsonFormat()
