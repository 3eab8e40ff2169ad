"""The run folder: what one capture leaves behind, readable even when the capture was killed half way.

Layout (agreed with the traffic and rules stages):
  run.json            tool and rule versions, app hashes, device facts, start/end, options, complete: true|false
  flows.mitm          mitmproxy flows, appended and flushed one by one
  flows.har           the same flows as HAR 1.2 (written when the proxy stops; rebuilt from flows.mitm if needed)
  frida-events.jsonl  one agent event per line, flushed as it arrives
  identifiers.json    truth values: data type -> list of values the device holds / the hooks saw returned
  sslkeylog.txt       TLS keys logged by the program (SSLKEYLOGFILE), when it does
  logs/               capture.log (our steps), app-output.log (the program's stdout/stderr), adb.log

run.json is written first with complete:false and rewritten at the end; a run that dies keeps complete:false.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError
from ..rulesdata import datatypes, load_json, rules_dir

RUN_SCHEMA = "appaudit.run/1"
RUN_FILE = "run.json"
EVENTS_FILE = "frida-events.jsonl"
IDENTIFIERS_FILE = "identifiers.json"
FLOWS_FILE = "flows.mitm"
HAR_FILE = "flows.har"
MAX_EVENT_LINES = 2_000_000        # a reader's bound on one events file (a run of hours stays far below)
MAX_EVENT_LINE_BYTES = 1024 * 1024 # one agent event: a value and a stack of at most maxFrames frames (KBs)


# Values the platform returns instead of the real one (no permission, limit ad tracking, no WiFi): never truth.
PLACEHOLDERS = frozenset({"02:00:00:00:00:00", "00:00:00:00:00:00", "<unknown ssid>", "<none>", "unknown",
                          "null", "00000000-0000-0000-0000-000000000000", "000000000000000", "0"})


def truth_value(value: Any) -> Any:
    """A value as a truth value: quoted SSIDs unquoted, placeholders and empties dropped (None)."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        return None if not text or text.lower() in PLACEHOLDERS else text
    return value


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def make_private(folder: Path) -> None:
    """The run folder 0700 and everything in it 0700 (folders) / 0600 (files), whatever the umask and the mode
    of a folder that existed: flows.har and flows.mitm hold raw identifiers. (The folder's own mode already
    keeps others out of the files while a run writes them; this also holds once they are copied elsewhere.)"""
    os.chmod(folder, 0o700)
    for item in folder.rglob("*"):
        if item.is_symlink():
            continue
        os.chmod(item, 0o700 if item.is_dir() else 0o600)


def rules_version() -> dict[str, str]:
    """A digest of each rules file, so a report can say which rules a run was captured with."""
    out = {}
    root = rules_dir()
    for path in sorted(root.glob("*.yaml")):
        out[path.name] = sha256_file(path)[:16]
    return out


def tool_version() -> str:
    from ..cli import _version
    return _version()


class RunFolder:
    """Create with `RunFolder.create(path)`; `start(...)` writes run.json (complete:false) at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.logs = self.path / "logs"
        self._meta: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._events = None
        self._log = None
        self.identifiers: dict[str, list] = {}
        self.event_counts: dict[str, int] = {}
        self.connect_ports: set[int] = set()    # local ports of the app's connections (the proxy's gate)

    @classmethod
    def create(cls, path: str | Path | None) -> "RunFolder":
        if path is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            path = Path(f"run-{stamp}")
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise InputError(f"run folder {path} already exists and is not empty; choose a new -o RUN_DIR")
        if not path.parent.exists():
            raise InputError(f"folder {path.parent} does not exist")
        try:
            path.mkdir(exist_ok=True, mode=0o700)   # identifier values live here: keep it private
            (path / "logs").mkdir(exist_ok=True, mode=0o700)
            make_private(path)      # also an empty folder that existed (mkdir's mode applies to new ones only)
        except OSError as exc:
            raise InputError(f"cannot create run folder {path}: {exc.strerror}") from None
        return cls(path)

    # -- run.json -------------------------------------------------------------------------------------------
    def start(self, **meta: Any) -> None:
        self._meta = {"schema": RUN_SCHEMA, "tool": {"name": "appaudit", "version": tool_version()},
                      "rules": rules_version(), "started": utc_now(), "ended": None, "complete": False,
                      "pid": os.getpid(), **meta}
        self._events = open(self.path / EVENTS_FILE, "a", encoding="utf-8")
        self._log = open(self.logs / "capture.log", "a", encoding="utf-8")
        self.write_meta()

    @property
    def meta(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._meta)

    def update(self, **meta: Any) -> None:
        with self._lock:
            self._meta.update(meta)
        self.write_meta()

    def write_meta(self) -> None:
        with self._lock:
            _atomic_json(self.path / "run.json", self._meta)

    def announced(self, port: int) -> bool:
        """Did the agent report a connection from this local port (the HTTP proxy's gate on the host)?"""
        return port in self.connect_ports

    def partial_reasons(self) -> list[dict]:
        """What the run is known to miss: traffic that left uncaptured, connections refused because they could
        not be redirected, hook events dropped by the per-API limit. Empty when nothing is known missing."""
        out = []
        for kind, what in (("escape", "connections that left uncaptured (UDP other than DNS)"),
                           ("redirect_failed", "connections refused because they could not be redirected")):
            if self.event_counts.get(kind):
                out.append({"limit": kind, "what": what, "count": self.event_counts[kind]})
        hooks = self._meta.get("hooks") if isinstance(self._meta.get("hooks"), dict) else {}
        dropped = sum((hooks.get("dropped") or {}).values())
        if dropped:
            out.append({"limit": "max_events_per_api", "what": "hook events past the per-API limit, counted only",
                        "count": dropped, "by_api": dict(sorted(hooks["dropped"].items()))})
        return out

    def finish(self, complete: bool, reason: str | None = None, **meta: Any) -> None:
        self._meta.update(meta)
        self._meta["partial"] = self.partial_reasons()
        self._meta["ended"] = utc_now()
        self._meta["complete"] = bool(complete)
        if reason:
            self._meta["incomplete_reason" if not complete else "note"] = reason
        self._meta["files"] = sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                                     if p.is_file() and not p.name.startswith("."))
        self.write_identifiers()
        self.write_meta()
        for handle in (self._events, self._log):
            if handle is not None and not handle.closed:
                handle.close()
        make_private(self.path)

    # -- streams --------------------------------------------------------------------------------------------
    def event(self, event: dict) -> None:
        """Append one agent event, flushed so a killed run keeps it; remember returned identifiers."""
        line = json.dumps(event, sort_keys=True, ensure_ascii=False)
        with self._lock:
            if self._events is None or self._events.closed:
                return
            kind = str(event.get("type"))
            self.event_counts[kind] = self.event_counts.get(kind, 0) + 1
            local = event.get("local")
            if kind == "connect" and isinstance(local, dict) and isinstance(local.get("port"), int):
                self.connect_ports.add(local["port"])
            self._events.write(line + "\n")
            self._events.flush()
        if event.get("type") == "api" and event.get("value") not in (None, ""):
            value, data_type = event["value"], event.get("data_type") or ""
            # A location is a truth value only as a lat/lon pair (a lone getLatitude() result is not).
            entry = datatypes().get(data_type)
            if entry is None or not entry.coordinates or (isinstance(value, dict) and {"lat", "lon"} <= set(value)):
                self.add_identifier(data_type, value)

    def add_identifier(self, data_type: str | None, value: Any) -> None:
        value = truth_value(value)
        if not data_type or value is None:
            return
        with self._lock:
            values = self.identifiers.setdefault(data_type, [])
            if value not in values:
                values.append(value)

    def write_identifiers(self) -> None:
        with self._lock:
            data = {k: list(v) for k, v in sorted(self.identifiers.items())}
        _atomic_json(self.path / IDENTIFIERS_FILE, data)
        os.chmod(self.path / IDENTIFIERS_FILE, 0o600)

    def log(self, message: str) -> None:
        with self._lock:
            if self._log is not None and not self._log.closed:
                self._log.write(f"{utc_now()} {message}\n")
                self._log.flush()


def is_run_folder(path: str | Path) -> bool:
    """The one definition of a run folder, for every reader: a folder with run.json or the agent's events."""
    path = Path(path)
    return path.is_dir() and ((path / RUN_FILE).is_file() or (path / EVENTS_FILE).is_file())


def _event_lines(handle) -> Iterator[str]:
    """The lines of an events file, each at most MAX_EVENT_LINE_BYTES; a longer one is skipped, read piece by
    piece and dropped, as garbage: no agent event is that long, and parsed JSON costs up to 25x its text (one
    64 MB line of `[{},{},...]` held 1.7 GB)."""
    while True:
        line = handle.readline(MAX_EVENT_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_EVENT_LINE_BYTES:
            while line and not line.endswith("\n"):
                line = handle.readline(MAX_EVENT_LINE_BYTES)
            continue
        yield line


def read_events(run_dir: str | Path, types: tuple[str, ...] | None = None,
                max_lines: int = MAX_EVENT_LINES) -> Iterator[dict]:
    """The one reader of frida-events.jsonl: every well-formed event (of `types`, when given), streamed; a torn
    last line (a killed run), garbage and pathological nesting are skipped, not errors."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(_event_lines(handle)):
            if number >= max_lines:
                return
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(event, dict) and (types is None or event.get("type") in types):
                yield event


def run_state(meta: dict[str, Any]) -> tuple[bool, list[str]]:
    """(partial?, reasons) of a run from its run.json: incomplete (stopped, crashed) or missing known data."""
    reasons = []
    if meta.get("complete") is False:
        reasons.append(f"run incomplete: {meta.get('incomplete_reason') or 'the capture did not finish'}")
    for limit in meta.get("partial") or []:
        if isinstance(limit, dict):
            reasons.append(f"{limit.get('what', limit.get('limit'))}: {limit.get('count')}")
    return bool(reasons), reasons


def read_run(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    if not path.exists():
        raise InputError(f"{run_dir} is not a run folder (no run.json)")
    # read as every data file is: a regular file of at most 16 MiB (a FIFO run.json blocked `audit --capture RUN`
    # for ever; a link to /dev/zero was read without end)
    data = load_json(path, "run metadata")
    if not isinstance(data, dict) or data.get("schema") != RUN_SCHEMA:
        raise InputError(f"{path}: not an appaudit run (schema {RUN_SCHEMA} expected)")
    return data
