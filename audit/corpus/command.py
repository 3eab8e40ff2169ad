"""`appaudit corpus scan` and `appaudit corpus report`."""
from __future__ import annotations

import os
import signal

from ..errors import InputError
from ..report import write_output

DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 4096


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{name} must be a number, got {text!r}") from None


def _stop_on_sigterm() -> None:
    """SIGTERM (a batch system's stop, `timeout`, `kill`) ends the run like Ctrl-C: what was scanned is written,
    the workers are stopped, and `--resume` continues from there."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): leave the default
        pass


def scan(args) -> int:
    from .isolate import WorkerStartError
    from .runner import run_corpus

    _stop_on_sigterm()
    timeout = getattr(args, "timeout", None) or _env_number("APPAUDIT_CORPUS_TIMEOUT", DEFAULT_TIMEOUT)
    memory_mb = int(_env_number("APPAUDIT_CORPUS_MEMORY_MB", DEFAULT_MEMORY_MB))
    try:
        summary = run_corpus(args.sources, args.db, jobs=args.jobs, scheduler=args.scheduler,
                             resume=args.resume, parquet=args.parquet, timeout=timeout, memory_mb=memory_mb,
                             scanner=os.environ.get("APPAUDIT_CORPUS_SCANNER") or "audit.static.scan:scan_app")
    except WorkerStartError as exc:
        raise InputError(str(exc)) from None
    # Failed apps are results, recorded in the database with their reasons: the run itself succeeded.
    return 0 if summary is not None else 2


def report(args) -> int:
    from .api import open_corpus
    from .report import render_html, render_markdown

    with open_corpus(args.db) as corpus:
        content = render_html(corpus) if args.format == "html" else render_markdown(corpus)
    write_output(content, args.output, inputs=[args.db])
    return 0
