"""Progress of a corpus run on stderr: a bar with apps/s and ETA on a terminal, plain lines otherwise (CI logs)."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..escape import terminal_line


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    BAR_WIDTH = 24
    REDRAW_SECONDS = 0.2

    def __init__(self, total: int, stream: TextIO | None = None, interactive: bool | None = None,
                 skipped: int = 0):
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    def start(self) -> None:
        note = f" ({self.skipped} already done, skipped)" if self.skipped else ""
        self._write_line(f"corpus: {self.total} apps to scan{note}")

    def update(self, result: dict[str, Any]) -> None:
        self.done += 1
        if result.get("status") == "failed":
            self.failed += 1
        if self.interactive:
            if result.get("status") == "failed":
                self._clear()
                self.stream.write(terminal_line(f"  failed {result.get('path')}: {result.get('error')}") + "\n")
            now = time.monotonic()
            if now - self._last_draw >= self.REDRAW_SECONDS or self.done == self.total:
                self._draw()
                self._last_draw = now
        else:
            package = ((result.get("scan") or {}).get("app") or {}).get("package") or "-"
            line = (f"corpus: [{self.done}/{self.total}] {result.get('status')} {package} "
                    f"{result.get('path')} ({result.get('seconds', 0):.1f}s)")
            if result.get("error"):
                line += f": {result.get('error')}"
            self._write_line(line)
        self.stream.flush()

    def _draw(self) -> None:
        filled = int(self.BAR_WIDTH * self.done / self.total) if self.total else self.BAR_WIDTH
        eta = self.eta()
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] {self.done}/{self.total} "
                          f"{self.rate:.2f} apps/s ETA {_duration(eta) if eta is not None else '?'} "
                          f"failed {self.failed}\x1b[K")

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")

    def _write_line(self, text: str) -> None:
        """One line; text from the apps (package names, paths, errors) cannot move the cursor or clear it."""
        if self.interactive:
            self._clear()
        self.stream.write(terminal_line(text) + "\n")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        if self.interactive and self.done:
            self.stream.write("\n")
        self._write_line(summary)
