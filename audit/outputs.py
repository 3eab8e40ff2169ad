"""Where a command writes: refused when it would overwrite or land inside what the user gave, written
atomically, and every failure of the disk (full, read-only, gone) one InputError naming the path.

    check_output(out, inputs)   before any long work: the path, or None for stdout
    write_output(data, out, inputs)
    refuse_inside_inputs(target, inputs, what)   also for --db (audit/corpus/store.py)
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import InputError


def disk_error(path: str | Path, exc: OSError, doing: str = "cannot write") -> InputError:
    """An OSError of the file system as the one line the CLI prints: what, where, why."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted", errno.ENOENT: "no such file or folder",
               errno.EIO: "input/output error"}
    reason = reasons.get(exc.errno) or (exc.strerror or str(exc))
    return InputError(f"{doing} {path}: {reason}")


def _resolved(path: str | Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def refuse_inside_inputs(target: str | Path, inputs: Iterable[str | Path], what: str = "the report") -> None:
    """InputError when `target` is one of `inputs`, or lies inside an input folder (a run folder given as a
    capture): writing there would overwrite or mix with what the user gave."""
    real = _resolved(target)
    for item in inputs:
        if item is None:
            continue
        source = _resolved(item)
        try:
            same = real.exists() and Path(item).exists() and os.path.samefile(item, real)
        except OSError:
            same = False
        if same or real == source:
            raise InputError(f"refusing to overwrite input {item} with {what}")
        if Path(item).is_dir() and (source in real.parents):
            raise InputError(f"refusing to write {what} inside input folder {item}: {target}")


def check_output(out: str | Path | None, inputs: Iterable[str | Path] = ()) -> Path | None:
    """The report's path, refused when it is one of the user's inputs or inside one, a directory or in a
    missing folder. Commands call it before long work too, so a bad -o costs nothing."""
    if out is None or str(out) == "-":
        return None
    target = Path(out)
    refuse_inside_inputs(target, list(inputs))
    if target.is_dir():
        raise InputError(f"output {target} is a directory")
    if not target.parent.exists():
        raise InputError(f"output folder {target.parent} does not exist")
    return target


def write_output(content: str | bytes | Iterable[str], out: str | Path | None,
                 inputs: Iterable[str | Path] = ()) -> None:
    """Write to stdout or atomically to a file that is not one of the user's inputs; a disk that is full or
    read-only is an InputError naming the file, and leaves no partial report behind. `content` may be an
    iterable of text pieces (a large report written as it is made)."""
    if out is None or str(out) == "-":
        if isinstance(content, (str, bytes)):
            _to_stdout([content])
            return
        # pieces made while written: made in full first (on disk), so an error midway prints nothing
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
            try:
                for piece in content:
                    spool.write(piece.decode("utf-8") if isinstance(piece, bytes) else piece)
                spool.seek(0)
            except OSError as exc:
                raise disk_error(tempfile.gettempdir(), exc, "cannot hold the report in") from None
            _to_stdout(iter(lambda: spool.read(1 << 20), ""))
        return
    pieces = [content] if isinstance(content, (str, bytes)) else content
    target = check_output(out, inputs)
    try:
        _write(target, pieces)
    except OSError as exc:
        raise disk_error(target, exc) from None


def _write(target: Path, pieces: Iterable[str | bytes]) -> None:
    if target.is_symlink():
        target = target.resolve()   # follow the link: replacing it would cut it
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        # A FIFO, a terminal, /dev/null or /dev/stdout: write through. An atomic replace would swap the
        # node for a regular file (as root, /dev/null itself).
        with open(target, "wb") as handle:
            _write_pieces(handle, pieces)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_pieces(handle, pieces)
            handle.flush()
            os.fsync(handle.fileno())   # a full disk shows here, not after the old report was replaced
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp's 0600 would make reports unreadable to the team
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_stdout(pieces: Iterable[str | bytes]) -> None:
    for piece in pieces:
        if isinstance(piece, bytes):
            sys.stdout.buffer.write(piece)
        else:
            sys.stdout.write(piece)
    sys.stdout.flush()


def _write_pieces(handle, pieces: Iterable[str | bytes]) -> None:
    for piece in pieces:
        handle.write(piece if isinstance(piece, bytes) else piece.encode("utf-8"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
