"""Reading captures into one request shape: HAR, mitmproxy flow files, `appaudit capture` run folders, pcap/pcapng.

Every reader returns a `CaptureResult`: the requests it could read, and a status. A capture that cannot be read at
all is `skipped` with a one-line reason; one that breaks half way is `ok`, keeps what it read and is marked
`partial` with the reason.
Nothing here raises for a bad capture: `analyse` decides whether the whole call failed (nothing readable).

pcap/pcapng: tshark reassembles each TCP stream (`-z follow,tcp,raw`) and, with a TLS key log beside the capture
(`<name>.keylog`, `<stem>.keylog`, `sslkeylog.txt`, `keylog.txt`) or with the keys a pcapng carries itself (Decryption
Secrets Blocks, as PCAPdroid and `editcap --inject-secrets` write them), the decrypted TLS stream (`-z follow,tls,raw`).
A request whose head the capture cuts (a snap length, a capture stopped mid-request) is read as far as it goes and
marks the capture partial. After an `Upgrade: h2c` the stream is read as HTTP/2; after an `Upgrade: websocket` the
client's frames are its messages (requests `WS`, as a HAR's `_webSocketMessages` sends).
We parse HTTP/1 and HTTP/2 (hpack via the `h2` package that mitmproxy ships) ourselves from the client's bytes, so
bodies arrive byte-exact (tshark's own http.file_data field is text and stops at the first NUL).

Streaming: `open_capture` checks what is cheap (format, size, a run folder's metadata) and `CaptureResult.stream()`
yields the requests one at a time, so memory follows the largest entry, not the file: a HAR is read entry by entry
by an incremental scanner (`json`'s C raw_decode on a sliding window of the file), a mitmproxy file flow by flow,
a pcap TCP stream by TCP stream from tshark's output. `read_capture` is the same, collected into a list.

Every bound that leaves something unread is recorded as a `LimitHit` (which limit, where, how much was dropped)
and marks the capture `partial`: nothing is dropped silently.
"""
from __future__ import annotations

import base64
import codecs
import datetime as _dt
import functools
import json
import math
import operator
import os
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit

MAX_CAPTURE_BYTES = 2 * 1024 ** 3       # a single capture file we are willing to read
MAX_JSON_CAPTURE_BYTES = 512 * 1024 ** 2  # a HAR file (read entry by entry)
MAX_ENTRY_CONTAINERS = 500_000          # JSON objects/arrays in one HAR entry: ~100 bytes of RSS each once parsed
MAX_ENTRY_VALUES = 4_000_000            # JSON values in one HAR entry: a number costs 32 bytes and a list slot once parsed
HAR_WINDOW = 1024 * 1024                # the scanner's read size (doubled while one entry does not fit)
MAX_BODY_BYTES = 32 * 1024 * 1024       # one request body, before decoding
MAX_REQUESTS_PER_CAPTURE = 200_000
MAX_PCAP_STREAMS = 5_000
MAX_WEBSOCKET_MESSAGES = 10_000         # client messages of one websocket connection
MAX_WEBSOCKET_INFLATED = 64 * 1024 * 1024   # permessage-deflate output of one connection, all messages together
MAX_REQUESTS_PER_STREAM = 10_000        # HTTP/1 and HTTP/2 requests on one TCP stream
MAX_HEADER_BYTES_PER_STREAM = 64 * 1024 * 1024   # HTTP/2 header text of one TCP stream, after HPACK
TSHARK_TIMEOUT_S = 300
FOLLOW_BATCH = 150                      # -z follow taps per tshark run (each run re-reads the file)
KEYLOG_NAMES = ("{name}.keylog", "{stem}.keylog", "{stem}.keys", "sslkeylog.txt", "sslkeylog.log", "keylog.txt")


@dataclass(frozen=True, init=False)
class Request:
    """One request that left the device, as read from a capture (identifier values still in it)."""

    time: float | None
    method: str
    scheme: str                          # http | https (ws/wss messages keep their connection's scheme)
    host: str
    port: int | None
    target: str                          # path and query as sent
    headers: tuple[tuple[str, str], ...]
    body: bytes
    capture: str
    stack: tuple[str, ...] = ()          # Java frames `com.foo.Bar.method` when the capture carries them
    note: str | None = None              # e.g. "websocket message", "CONNECT tunnel (not decrypted)"
    body_dropped: int = 0                # body bytes beyond MAX_BODY_BYTES, not kept (the report says so)

    def __init__(self, time: float | None, method: str, scheme: str, host: str, port: int | None, target: str,
                 headers: tuple[tuple[str, str], ...], body: bytes, capture: str, stack: tuple[str, ...] = (),
                 note: str | None = None, body_dropped: int = 0) -> None:
        # One is made per request read: the fields go into the instance at once, not by the object.__setattr__
        # call per field that dataclasses generates for a frozen class (~0.9 against ~1.7 us a request).
        self.__dict__.update(time=time, method=method, scheme=scheme, host=host, port=port, target=target,
                             headers=headers, body=body, capture=capture, stack=stack, note=note,
                             body_dropped=body_dropped)

    @property
    def url(self) -> str:
        if self.method == "CONNECT":
            return f"{self.host}:{self.port}" if self.port else self.host
        default = _DEFAULT_PORTS.get(self.scheme)
        netloc = self.host if self.port in (None, default) else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.target}"

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class LimitHit:
    """A bound that left data unread: which one (and its value), where, and how much was dropped (in `unit`)."""

    limit: str                           # e.g. "requests per capture", "decoding layers", "body bytes"
    bound: int
    where: str                           # the capture, and the request id / place when it is one request
    dropped: int
    unit: str                            # entries | requests | bytes | compressed bytes | layers | streams | ...

    def to_json(self) -> dict[str, Any]:
        return {"limit": self.limit, "bound": self.bound, "where": self.where, "dropped": self.dropped,
                "unit": self.unit}


@dataclass
class CaptureResult:
    path: str
    format: str
    status: str = "ok"                   # ok | skipped
    reason: str | None = None
    partial: bool = False                # read, but not all of it (truncated, undecrypted TLS, incomplete run)
    requests: list[Request] = field(default_factory=list)   # filled by read_capture; stream() does not keep them
    identifiers: dict[str, Any] | None = None   # a run folder's identifiers.json (raw, validated by analyse)
    identifiers_path: str | None = None
    events: list[dict] = field(default_factory=list)  # a run folder's frida events that can place a request
    app_package: str | None = None       # what the capture says it recorded (tweasel metadata, run.json)
    limits: list[LimitHit] = field(default_factory=list)
    request_count: int = 0               # requests read (by the last complete stream())
    _source: Callable[[CaptureResult], Iterator[Request]] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "format": self.format, "status": self.status,
               "requests": self.request_count or len(self.requests)}
        if self.partial:
            out["partial"] = True
        if self.reason:
            out["reason"] = self.reason
        if self.limits:
            out["limits"] = [hit.to_json() for hit in self.limits]
        return out

    def hit(self, limit: str, bound: int, dropped: int, unit: str, where: str | None = None) -> None:
        """Record a bound that dropped data: the capture becomes partial and says so."""
        self.limits.append(LimitHit(limit, bound, where or self.path, dropped, unit))
        self.partial = True

    def add_reason(self, text: str) -> None:
        self.reason = f"{self.reason}; {text}" if self.reason else text

    def stream(self) -> Iterator[Request]:
        """The capture's requests, one at a time; can be called again (it re-reads). A reader error before the
        first request makes the capture `skipped`; after it, `partial` with the reason."""
        if self._source is None or self.status == "skipped":
            yield from self.requests
            return
        self.limits.clear()
        self.partial, self.reason, count = False, None, 0
        try:
            for request in self._source(self):
                count += 1
                yield request
        except CaptureUnreadable as exc:
            if count:
                self.add_reason(f"stopped after {count} requests: {exc}")
                self.partial = True
            else:
                self.status, self.reason = "skipped", str(exc)
        self.request_count = count


class CaptureUnreadable(Exception):
    """Internal: this capture cannot be read; the message becomes the `skipped` reason."""


# -- helpers ----------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return "" if value is None else str(value)


@functools.lru_cache(maxsize=4096)   # a capture talks to few hosts: each authority is split once
def _split_host(authority: str, scheme: str) -> tuple[str, int | None]:
    authority = authority.strip().rsplit("@", 1)[-1]
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif authority.count(":") == 1:
        host, _, port = authority.partition(":")
    else:
        host, port = authority, ""
    try:
        number = int(port) if port else {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        number = None
    return host.lower().rstrip("."), number


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range (10**400) is no time
            return None
        if not math.isfinite(number):   # NaN or infinity: no time, and not valid JSON either
            return None
        return number / 1000.0 if number > 1e12 else number
    if not isinstance(value, (str, bytes)):   # a list, an object ...: no time
        return None
    try:
        return _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        try:
            return _epoch(float(value))
        except (ValueError, OverflowError):
            return None


def _check_size(path: Path, limit: int) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CaptureUnreadable(f"cannot read: {exc.strerror or exc}") from None
    if size > limit:
        raise CaptureUnreadable(f"{size} bytes, larger than the {limit} allowed")
    if size == 0:
        raise CaptureUnreadable("empty file")


# A frame is the first dotted name (`[\w$]+(\.[\w$<>-]+)+`) followed by `(` or the end of the line. Found without
# a regex search, whose restarts inside one long dotted run took O(n^2): a 40 KB `a.a.a...!` stack took 28 s.
_NAME_RUN = re.compile(r"[\w$.<>-]+")
_AFTER_NAME = re.compile(r"\s*(?:\(|\Z)")


def _name_char(char: str) -> bool:
    return char.isalnum() or char in "_$"     # what `[\w$]` takes in a str pattern


def _frame_name(line: str) -> str | None:
    r"""The leftmost name `re.search(r"([\w$]+(?:\.[\w$<>-]+)+)\s*(?:\(|$)", line)` would give, in linear time:
    each run of name characters is looked at once; in a run followed by `(` or the end, the name is the longest
    valid suffix (after its last `..`; its first part the word characters before the first dot it keeps)."""
    for run in _NAME_RUN.finditer(line):
        text = run.group(0)
        if text.endswith(".") or not _AFTER_NAME.match(line, run.end()):
            continue
        segments = text[text.rfind("..") + 2:].split(".") if ".." in text else text.split(".")
        for index in range(len(segments) - 1):
            segment = segments[index]
            if not segment or not _name_char(segment[-1]):
                continue
            start = len(segment)
            while start and _name_char(segment[start - 1]):
                start -= 1
            return segment[start:] + "." + ".".join(segments[index + 1:])
    return None


def stack_frames(raw: Any) -> tuple[str, ...]:
    """PiRogue `_stacktrace`, our Frida events: a Java stack as text, a list of strings, or a list of frames."""
    frames: list[str] = []
    if isinstance(raw, str):
        lines = raw.splitlines() if "\n" in raw else raw.split(" at ")
        for line in lines:
            name = _frame_name(line.strip())
            if name:
                frames.append(name)
    elif isinstance(raw, list):
        for item in raw[:256]:
            if isinstance(item, str):
                frames.extend(stack_frames(item))
            elif isinstance(item, dict):
                cls = item.get("class") or item.get("className") or item.get("declaringClass") or ""
                method = item.get("method") or item.get("methodName") or ""
                if cls:
                    frames.append(f"{cls}.{method}" if method else str(cls))
    elif isinstance(raw, dict):
        return stack_frames(raw.get("frames") or raw.get("stack") or raw.get("stacktrace"))
    return tuple(frames)


# -- format detection -------------------------------------------------------------------------------------
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a")


def sniff_format(path: Path) -> str:
    if path.is_dir():
        return "run"
    if not path.is_file():  # a FIFO or device: open() could block for ever or read without end
        raise CaptureUnreadable("not a regular file or directory")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[:4] in PCAP_MAGICS:
        return "pcapng" if head[:4] == b"\x0a\x0d\x0d\x0a" else "pcap"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "har"
    if path.suffix.lower() in (".pcap", ".pcapng", ".cap"):
        return "pcap"
    if path.suffix.lower() in (".har", ".json"):
        return "har"
    # mitmproxy's tnetstring dumps start with a length prefix `NNN:`
    if re.match(rb"^\d+:", head):
        return "mitmproxy"
    return "unknown"


def open_capture(path: Path) -> CaptureResult:
    """Check what is cheap (existence, format, size, a run folder's metadata); `stream()` reads the requests.
    Never raises for bad content (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        return CaptureResult(str(path), "unknown", "skipped", "not found")
    try:
        kind = sniff_format(path)
    except CaptureUnreadable as exc:
        return CaptureResult(str(path), "unknown", "skipped", str(exc))
    except OSError as exc:
        return CaptureResult(str(path), "unknown", "skipped", f"cannot read: {exc.strerror or exc}")
    opener = {"run": _open_run_folder, "har": _open_har, "mitmproxy": _open_mitmproxy, "pcap": _open_pcap,
              "pcapng": _open_pcap}.get(kind)
    if opener is None:
        return CaptureResult(str(path), "unknown", "skipped",
                             "not a HAR, mitmproxy flow file, pcap/pcapng or run folder")
    try:
        return opener(path)
    except CaptureUnreadable as exc:
        return CaptureResult(str(path), kind, "skipped", str(exc))


def read_capture(path: Path) -> CaptureResult:
    """Read any supported capture into `requests`; never raises for bad content (see the module docstring)."""
    result = open_capture(path)
    if result._source is not None and result.status != "skipped":
        requests = list(result.stream())
        result.requests, result._source = requests, None
    return result


# -- HAR --------------------------------------------------------------------------------------------------
class _JsonWindow:
    """A JSON text read through a sliding window: values are parsed one at a time by `json`'s C scanner.

    A value cut by the end of the window is parsed again once the window holds more (the window doubles while
    one value does not fit, so a value is parsed O(1) times over); what was consumed is dropped from the window.
    """

    def __init__(self, handle) -> None:
        self.handle = handle
        self.text = ""
        self.pos = 0
        self.offset = 0                  # bytes of the file read so far
        self.eof = False
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.scan = json.JSONDecoder().raw_decode
        self.started = False
        self.unterminated = False        # the last parse ran into a string the window ends inside

    def _more(self, size: int) -> int:
        """Read `size` more bytes into the window; returns where the new text starts in it."""
        # the window's memory is what one entry needs: drop what was consumed before anything else is held
        rest = self.text[self.pos:] if self.pos else self.text
        self.text, self.pos = "", 0
        data = self.handle.read(size)
        self.offset += len(data)
        self.eof = not data
        try:
            text = self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise CaptureUnreadable(f"not UTF-8 text (byte {self.offset - len(data) + exc.start})") from None
        del data
        if not self.started:
            text, self.started = text.lstrip("\ufeff"), bool(text)
        self.text = rest + text if rest else text
        return len(rest)

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            text, pos = self.text, self.pos
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            self.pos = pos
            if pos < len(text) or self.eof:
                return text[pos] if pos < len(text) else ""
            self._more(HAR_WINDOW)

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise CaptureUnreadable(f"invalid JSON at byte {self.byte_position()}: expected {char!r}"
                                    + (f", found {found!r}" if found else ", found the end of the file"))
        self.pos += 1

    def byte_position(self) -> int:
        return max(0, self.offset - len(self.text[self.pos:].encode("utf-8", "surrogatepass")))

    def value(self) -> Any:
        self.peek()
        if not self.eof and len(self.text) - self.pos < HAR_WINDOW // 8:
            # read on before parsing a value that may be cut by the window's end: a failed parse costs the
            # parse and json's error position (a count over the whole window)
            self._more(HAR_WINDOW)
        want = HAR_WINDOW
        while True:
            try:
                value, end = self.scan(self.text, self.pos)
                if end < len(self.text) or self.eof:
                    self.pos = end
                    if end > 8 * HAR_WINDOW:  # a large value: let its text go before it is used
                        self.text, self.pos = self.text[end:], 0
                    return value
                # a number at the very end of the window may go on in the next read
            except json.JSONDecodeError as exc:
                if self.eof or (exc.pos < len(self.text) - 64 and not exc.msg.startswith("Unterminated string")):
                    raise CaptureUnreadable(f"invalid JSON at byte {self.byte_position() + exc.pos - self.pos}: "
                                            f"{exc.msg}") from None
                self.unterminated = exc.msg.startswith("Unterminated string")
            except RecursionError:
                raise CaptureUnreadable("JSON nesting too deep") from None
            except ValueError as exc:  # e.g. the int-conversion digit limit
                raise CaptureUnreadable(f"invalid JSON: {_one_line(exc)}") from None
            pending = len(self.text) - self.pos
            if pending > 8 * HAR_WINDOW and self.text.count("{", self.pos) + self.text.count("[", self.pos) \
                    > MAX_ENTRY_CONTAINERS:
                raise CaptureUnreadable(f"a JSON value of more than {MAX_ENTRY_CONTAINERS} objects/arrays "
                                        f"at byte {self.byte_position()}")
            # Numbers too: `[0.5,0.5,...]` costs 8x its text once parsed (a 64 MiB HAR held 770 MB, 512 MiB would
            # hold 6 GB). Commas are counted at C speed; only when they pass the bound are those inside strings
            # (a JSON text sent as a body) told apart, so a real entry is never refused for its body's commas.
            if pending > 8 * HAR_WINDOW and self.text.count(",", self.pos) > MAX_ENTRY_VALUES \
                    and _JSON_STRING.sub("", self.text[self.pos:]).count(",") > MAX_ENTRY_VALUES:
                raise CaptureUnreadable(f"a JSON value of more than {MAX_ENTRY_VALUES} values "
                                        f"at byte {self.byte_position()}")
            # Read on: the window doubles up to 64 MiB steps; while a string is still open and the new text has no
            # quote at all, it cannot have ended: no parse until one comes (a 500 MB value is parsed once or twice).
            want = max(want, min(pending, 64 * HAR_WINDOW))
            start = self._more(want)
            while self.unterminated and not self.eof and self.text.find('"', start) < 0:
                want = max(want, min(len(self.text), 64 * HAR_WINDOW))
                start = self._more(want)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _open_har(path: Path) -> CaptureResult:
    _check_size(path, MAX_JSON_CAPTURE_BYTES)
    result = CaptureResult(str(path), "har", _source=_stream_har)
    # The app a capture names is wanted before its requests are read: from the members of `log` before the
    # entries (which also shows the file is a HAR), else from its last member (where tweasel writes it).
    with open(path, "rb") as handle:
        window = _JsonWindow(handle)
        for log_key in _log_members(window):
            if log_key == "entries" and window.peek() == "[":
                result.app_package = result.app_package or _tweasel_app(_trailing_value(path, "_tweasel"))
                return result
            value = window.value()
            if log_key == "_tweasel":
                result.app_package = _tweasel_app(value)
    raise CaptureUnreadable("not a HAR file (no log.entries)")


def _trailing_value(path: Path, key: str) -> Any:
    """The value of `"key":` when it is the last member of `log` (HAR tools append their metadata there)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 256 * 1024))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    start = tail.rfind(f'"{key}"')
    match = re.compile(r'"%s"\s*:\s*' % re.escape(key)).match(tail, start) if start >= 0 else None
    if not match:
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(tail, match.end())
    except (ValueError, RecursionError):
        return None
    # inside a string the key's quotes would be escaped: unescaped, it is a member; the rest must close log and root
    return value if re.fullmatch(r"\s*}\s*}\s*", tail[end:]) else None


def _stream_har(result: CaptureResult) -> Iterator[Request]:
    path = Path(result.path)
    bad = 0
    with open(path, "rb") as handle:
        window = _JsonWindow(handle)
        found = False
        for log_key in _log_members(window):
            if log_key == "entries" and window.peek() == "[":
                found = True
                count = 0
                for entry in _items(window):
                    count += 1
                    if count > MAX_REQUESTS_PER_CAPTURE:
                        left = 1 + _count_items(window)
                        result.hit("requests per capture", MAX_REQUESTS_PER_CAPTURE, left, "entries")
                        window.expect("]")
                        break
                    try:
                        request = _har_request(entry, result.path)
                        sends = _har_websocket_sends(entry, request, result)
                    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                        bad += 1
                        continue
                    yield request
                    if sends:
                        yield from sends
            elif log_key == "_tweasel":
                app = _tweasel_app(window.value())
                result.app_package = result.app_package or app
            else:
                window.value()
        if not found:
            raise CaptureUnreadable("not a HAR file (no log.entries)")
    if bad:
        result.partial = True
        result.add_reason(f"{bad} malformed entries skipped")
        result.limits.append(LimitHit("malformed entries", 0, result.path, bad, "entries"))


def _log_members(window: _JsonWindow) -> Iterator[str]:
    """The member names of a HAR's `log` object, members of the root before it skipped; the caller consumes
    each value."""
    window.expect("{")
    for key in _members(window):
        if key != "log":
            window.value()
            continue
        window.expect("{")
        yield from _members(window)


def _members(window: _JsonWindow) -> Iterator[str]:
    """The keys of the object whose `{` was just consumed; the caller consumes each value."""
    if window.peek() == "}":
        window.pos += 1
        return
    while True:
        if window.peek() != '"':
            window.expect('"')
        key = window.value()
        window.expect(":")
        yield key
        if window.peek() == ",":
            window.pos += 1
            continue
        window.expect("}")
        return


def _items(window: _JsonWindow) -> Iterator[Any]:
    window.expect("[")
    if window.peek() == "]":
        window.pos += 1
        return
    while True:
        yield window.value()
        if window.peek() == ",":
            window.pos += 1
            continue
        window.expect("]")
        return


def _count_items(window: _JsonWindow) -> int:
    """The items left in the array being read (parsed and dropped, for the report's 'how much was left')."""
    count = 0
    try:
        while window.peek() == ",":
            window.pos += 1
            window.value()
            count += 1
    except CaptureUnreadable:
        pass
    return count


def _har_websocket_sends(entry: dict, opening: Request, result: CaptureResult) -> list[Request]:
    """Chrome's `_webSocketMessages`: what the client sent over an upgraded connection leaves the device too."""
    out = []
    messages = entry.get("_webSocketMessages")
    if not messages:   # (most entries)
        return out
    sent = [m for m in messages if isinstance(m, dict) and m.get("type") == "send"]
    if len(sent) > MAX_WEBSOCKET_MESSAGES:
        result.hit("websocket messages per connection", MAX_WEBSOCKET_MESSAGES, len(sent) - MAX_WEBSOCKET_MESSAGES,
                   "messages", f"{result.path} {opening.url}")
    for message in sent[:MAX_WEBSOCKET_MESSAGES]:
        data = message.get("data") or ""
        if message.get("opcode") == 2:
            body, dropped = _base64_body(str(data))
        else:
            body, dropped = _capped(str(data).encode("utf-8", "surrogatepass"))
        out.append(Request(time=_epoch(message.get("time")), method="WS", scheme=opening.scheme, host=opening.host,
                           port=opening.port, target=opening.target, headers=(), body=body,
                           capture=opening.capture, stack=opening.stack, note="websocket message",
                           body_dropped=dropped))
    return out


def _capped(body: bytes) -> tuple[bytes, int]:
    """A body within MAX_BODY_BYTES, and how many bytes were left out."""
    if len(body) <= MAX_BODY_BYTES:
        return body, 0
    return body[:MAX_BODY_BYTES], len(body) - MAX_BODY_BYTES


def _base64_body(text: str) -> tuple[bytes, int]:
    """Decode only the base64 text that fits MAX_BODY_BYTES (a 500 MB blob is not decoded whole to be cut)."""
    keep = (MAX_BODY_BYTES // 3 + 1) * 4
    head = text[:keep]
    body = base64.b64decode(head + "=" * (-len(head) % 4), validate=False)
    dropped = max(0, (len(text) - len(head)) * 3 // 4)
    body, cut = _capped(body)
    return body, dropped + cut


def _tweasel_app(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return None
    apps = meta.get("apps")
    if isinstance(apps, list) and len(apps) == 1 and isinstance(apps[0], dict) and apps[0].get("id"):
        return str(apps[0]["id"])
    options = meta.get("options")
    if isinstance(options, dict) and options.get("mode") == "allowlist":
        listed = options.get("apps") or []
        if len(listed) == 1:
            return str(listed[0])
    return None


def _split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme, netloc, path, query) as urlsplit gives them, without its work for a plain http(s) URL: one
    without white space or controls to strip, fragment, brackets or non-ASCII host (anything else: urlsplit)."""
    if url.startswith("https://"):
        scheme, start = "https", 8
    elif url.startswith("http://"):
        scheme, start = "http", 7
    else:
        scheme = ""
    if scheme and "#" not in url and "\t" not in url and "\n" not in url and "\r" not in url:
        end = len(url)
        for delimiter in "/?":
            found = url.find(delimiter, start, end)
            if found >= 0:
                end = found
        netloc = url[start:end]
        if netloc.isascii() and "[" not in netloc and "]" not in netloc:
            path, _, query = url[end:].partition("?")
            return scheme, netloc, path, query
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path, parts.query


_NAME_VALUE = operator.itemgetter("name", "value")


def _har_headers(listed: Any) -> tuple[tuple[str, str], ...]:
    """A HAR request's headers as (name, value) text pairs. Most are already: taken as they are, in one pass
    in C; anything else (a value missing, not text, an item not an object) goes the general way, which
    converts or raises as it always did."""
    try:
        pairs = tuple(map(_NAME_VALUE, listed))
    except (KeyError, TypeError):
        return _har_headers_converted(listed)
    for name, value in pairs:
        if type(name) is not str or type(value) is not str:
            return _har_headers_converted(listed)
    return pairs


def _har_headers_converted(listed: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(h["name"]), _text(h.get("value"))) for h in listed)


# what stays as it is when a listed query parameter is written into the URL: the list holds the text as the tool
# wrote it, often percent-encoded already (ReadMe's and httpsnippet's fixtures): its %xx, & and = are kept as given
_QUERY_KEEP = "%/:@!$'()*,;~[]&=+?"


def _with_listed_query(query: str, listed: list) -> str:
    """The URL's query and every parameter of the HAR's `queryString` list it does not hold. Browsers write both
    from one URL; other tools (API clients, hand-written and converted HARs) may give the parameters only in the
    list, and those are sent too."""
    raw = {tuple(pair.partition("=")[::2]) for pair in query.split("&")} if query else set()
    decoded = set(parse_qsl(query, keep_blank_values=True))
    added = []
    for item in listed:
        if not isinstance(item, dict):
            continue
        name, value = _text(item.get("name")), _text(item.get("value"))
        if (name, value) in raw or (name, value) in decoded or (unquote_plus(name), unquote_plus(value)) in decoded:
            continue
        added.append(f"{quote(name, safe=_QUERY_KEEP)}={quote(value, safe=_QUERY_KEEP)}")
    return "&".join(([query] if query else []) + added)


def _har_request(entry: dict, capture: str) -> Request:
    req = entry["request"]
    url = req["url"]
    scheme, netloc, path, query = _split_url(url) if type(url) is str else urlsplit(url)[:4]
    scheme = (scheme or "http").lower()
    headers = _har_headers(req.get("headers") or ())
    authority = netloc or next((v for k, v in headers if k.lower() in ("host", ":authority")), "")
    host, port = _split_host(authority, scheme)
    listed = req.get("queryString")
    if listed and type(listed) is list and (not query or len(listed) > query.count("&") + 1):
        query = _with_listed_query(query, listed)
    target = path or "/"
    if query:
        target += "?" + query
    body, dropped = b"", 0
    post = req.get("postData") or {}
    if isinstance(post, dict):
        text = post.get("text")
        encoding = post.get("encoding") or post.get("_encoding")
        if isinstance(text, str) and text:
            if encoding == "base64":
                body, dropped = _base64_body(text)
            else:
                body, dropped = _capped(text[:MAX_BODY_BYTES].encode("utf-8", "surrogatepass"))
                dropped += len(text[MAX_BODY_BYTES:].encode("utf-8", "surrogatepass")) if len(text) > MAX_BODY_BYTES \
                    else 0
        elif post.get("params"):
            body, dropped = _capped(urlencode([(str(p.get("name", "")), _text(p.get("value")))
                                               for p in post["params"]]).encode())
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers += (("content-type", post.get("mimeType") or "application/x-www-form-urlencoded"),)
    # Cookies listed apart from the headers (Charles, some tools) are part of the request too.
    if req.get("cookies") and not any(k.lower() == "cookie" for k, _ in headers):
        cookie = "; ".join(f"{c.get('name')}={_text(c.get('value'))}" for c in req["cookies"] if isinstance(c, dict))
        headers += (("cookie", cookie),)
    raw_stack = entry.get("_stacktrace") or req.get("_stacktrace") or entry.get("_stack")
    return Request(time=_epoch(entry.get("startedDateTime")), method=str(req.get("method") or "GET").upper(),
                   scheme="https" if scheme in ("https", "wss") else "http", host=host, port=port, target=target,
                   headers=headers, body=body, capture=capture, stack=stack_frames(raw_stack) if raw_stack else (),
                   body_dropped=dropped)


# -- mitmproxy flow files ---------------------------------------------------------------------------------
def _open_mitmproxy(path: Path) -> CaptureResult:
    _check_size(path, MAX_CAPTURE_BYTES)
    return CaptureResult(str(path), "mitmproxy", _source=_stream_mitmproxy)


def _stream_mitmproxy(result: CaptureResult) -> Iterator[Request]:
    from mitmproxy import http as mhttp
    from mitmproxy import io as mio

    path = Path(result.path)
    other = count = 0
    try:
        with open(path, "rb") as handle:
            for flow in mio.FlowReader(handle).stream():
                if not isinstance(flow, mhttp.HTTPFlow):
                    other += 1
                    continue
                if count >= MAX_REQUESTS_PER_CAPTURE:
                    left = path.stat().st_size - handle.tell()
                    result.hit("requests per capture", MAX_REQUESTS_PER_CAPTURE, left, "bytes")
                    break
                for request in _mitm_requests(flow, result):
                    count += 1
                    yield request
    except OSError as exc:
        raise CaptureUnreadable(f"cannot read: {exc.strerror or exc}") from None
    except CaptureUnreadable:
        raise
    except Exception as exc:  # mitmproxy's loader on hostile state raises anything (AttributeError, ...)
        if not count:
            raise CaptureUnreadable(f"not a readable mitmproxy flow file: {_one_line(exc)}") from None
        result.partial = True
        result.add_reason(f"stopped after {count} requests: {_one_line(exc)}")
    if not count and not other:
        raise CaptureUnreadable("no flows in file")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _mitm_requests(flow, result: CaptureResult) -> list[Request]:
    capture = result.path
    req = flow.request
    scheme = "https" if req.scheme in ("https", "wss") else "http"
    headers = tuple((_text(k), _text(v)) for k, v in req.headers.fields)
    body, dropped = _capped(req.raw_content or b"")
    host = (req.pretty_host or req.host or "").lower().rstrip(".")
    metadata = flow.metadata if isinstance(flow.metadata, dict) else {}
    stack = stack_frames(metadata.get("stacktrace") or metadata.get("_stacktrace"))
    out = [Request(time=_epoch(req.timestamp_start), method=req.method.upper(), scheme=scheme, host=host, port=req.port,
                   target=req.path or "/", headers=headers, body=body, capture=capture, stack=stack,
                   body_dropped=dropped)]
    websocket = getattr(flow, "websocket", None)
    if websocket is not None:
        sent = [m for m in websocket.messages if m.from_client]
        if len(sent) > MAX_WEBSOCKET_MESSAGES:
            result.hit("websocket messages per connection", MAX_WEBSOCKET_MESSAGES,
                       len(sent) - MAX_WEBSOCKET_MESSAGES, "messages", f"{capture} {out[0].url}")
        for message in sent[:MAX_WEBSOCKET_MESSAGES]:
            content, cut = _capped(message.content)
            out.append(Request(time=_epoch(message.timestamp), method="WS", scheme=scheme, host=host, port=req.port,
                               target=req.path or "/", headers=(), body=content, capture=capture, stack=stack,
                               note="websocket message", body_dropped=cut))
    return out


# -- run folders ------------------------------------------------------------------------------------------
def _open_run_folder(path: Path) -> CaptureResult:
    flows = [p for p in (path / "flows.mitm", path / "flows.har") if p.is_file() and p.stat().st_size > 0]
    pcaps = sorted(p for p in path.iterdir() if p.suffix.lower() in (".pcap", ".pcapng"))
    run_json = path / "run.json"
    if not flows and not pcaps:
        if run_json.exists() or (path / "frida-events.jsonl").exists():
            raise CaptureUnreadable("run folder has no flows.mitm or flows.har (no traffic was recorded)")
        raise CaptureUnreadable("a folder that is not a run folder (no run.json, flows.mitm or flows.har)")
    result = CaptureResult(str(path), "run", _source=_stream_run_folder)
    info = _read_json_quiet(run_json)
    if isinstance(info, dict):
        app = info.get("app") or info.get("package")
        if isinstance(app, dict):
            app = app.get("package") or app.get("id")
        if isinstance(app, str) and "." in app and "/" not in app and not app.endswith(".apk"):
            result.app_package = app
    ids = path / "identifiers.json"
    if ids.is_file():
        result.identifiers_path = str(ids)
    result.events = _request_events(path)
    return result


def _stream_run_folder(result: CaptureResult) -> Iterator[Request]:
    path = Path(result.path)
    flows = [p for p in (path / "flows.mitm", path / "flows.har") if p.is_file() and p.stat().st_size > 0]
    pcaps = sorted(p for p in path.iterdir() if p.suffix.lower() in (".pcap", ".pcapng"))
    reasons: list[str] = []
    count = 0
    # flows.har is written from the same flows as flows.mitm: read one of them, the lossless one first.
    for source in flows[:1] + pcaps:
        sub = open_capture(source)
        yield from _requests_of(sub)
        if sub.status == "skipped" and source.suffix == ".mitm" and len(flows) > 1:
            fallback = open_capture(flows[1])
            yield from _requests_of(fallback)
            if fallback.status == "skipped":
                reasons.append(f"flows.mitm: {sub.reason}; flows.har: {fallback.reason}")
                continue
            reasons.append(f"flows.mitm unreadable ({sub.reason}); read flows.har")
            sub = fallback
        elif sub.status == "skipped":
            reasons.append(f"{source.name}: {sub.reason}")
            continue
        count += sub.request_count
        if sub.reason:
            reasons.append(f"{Path(sub.path).name}: {sub.reason}")
        result.limits.extend(sub.limits)
        result.partial |= sub.partial
    info = _read_json_quiet(path / "run.json")
    if isinstance(info, dict):
        from ..runtime.runfolder import run_state     # incomplete, or data known missing (escaped traffic)
        reasons.extend(run_state(info)[1])
    if not count and reasons:
        raise CaptureUnreadable("; ".join(reasons))
    if reasons:
        result.partial = True
        result.add_reason("; ".join(reasons))


def _requests_of(sub: CaptureResult) -> Iterator[Request]:
    if sub.status != "skipped":
        yield from sub.stream()


def _read_json_quiet(path: Path) -> Any:
    try:
        if path.is_file() and path.stat().st_size < 16 * 1024 * 1024:
            return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return None


def _request_events(run_dir: Path) -> list[dict]:
    """Frida events that can name a request's sender: the agent's `request` events (hooks/network.yaml), which
    carry the Java stack that asked for a URL, host or SNI. Read by runfolder.read_events, the one reader."""
    from ..runtime.runfolder import read_events
    try:
        return [event for event in read_events(run_dir)
                if event.get("stack") and (event.get("url") or event.get("host") or event.get("sni"))]
    except OSError:
        return []


# -- pcap / pcapng ----------------------------------------------------------------------------------------
def find_keylog(path: Path) -> Path | None:
    for pattern in KEYLOG_NAMES:
        candidate = path.parent / pattern.format(name=path.name, stem=path.stem)
        if candidate.is_file():
            return candidate
    return None


def _tshark() -> str:
    exe = shutil.which("tshark")
    if not exe:
        raise CaptureUnreadable("tshark is not installed (apt-get install tshark) to read pcap files")
    return exe


MAX_STREAM_BYTES = MAX_BODY_BYTES * 4     # one side of one TCP stream


class _Tshark:
    """One tshark run whose output is read line by line as it comes (never the whole dump at once)."""

    def __init__(self, args: list[str]) -> None:
        import tempfile
        import threading

        self.errors = tempfile.TemporaryFile()
        env = dict(os.environ, LC_ALL="C")
        self.proc = subprocess.Popen([_tshark(), "-n", *args], stdout=subprocess.PIPE, stderr=self.errors,
                                     stdin=subprocess.DEVNULL, env=env)
        self.timed_out = False
        self.timer = threading.Timer(TSHARK_TIMEOUT_S, self._kill)
        self.timer.daemon = True
        self.timer.start()

    def _kill(self) -> None:
        self.timed_out = True
        self.proc.kill()

    def lines(self) -> Iterator[bytes]:
        try:
            yield from self.proc.stdout
        finally:
            self.proc.stdout.close()
            self.proc.wait()
            self.timer.cancel()

    def problems(self) -> list[str]:
        self.errors.seek(0)
        err = self.errors.read(64 * 1024).decode("utf-8", "replace")
        self.errors.close()
        if self.timed_out:
            raise CaptureUnreadable(f"tshark took longer than {TSHARK_TIMEOUT_S}s")
        return [line for line in err.splitlines() if line.strip() and "Running as user" not in line]


def _open_pcap(path: Path) -> CaptureResult:
    _check_size(path, MAX_CAPTURE_BYTES)
    _tshark()
    fmt = sniff_format(path)
    return CaptureResult(str(path), fmt if fmt in ("pcap", "pcapng") else "pcap", _source=_stream_pcap)


def _stream_pcap(result: CaptureResult) -> Iterator[Request]:
    path = Path(result.path)
    keylog = find_keylog(path)
    # A pcapng can carry its TLS keys itself (Decryption Secrets Blocks: PCAPdroid's and `editcap
    # --inject-secrets` output); tshark decrypts with them unasked, so its TLS streams are followed as with a key log
    embedded = result.format == "pcapng" and pcapng_has_secrets(path)
    decrypting = bool(keylog) or embedded
    streams = _pcap_streams(path, keylog, result)
    if not streams:
        raise CaptureUnreadable("no TCP stream with data (nothing HTTP to read)")
    ids = sorted(streams)
    undecrypted = truncated = count = 0
    for start in range(0, len(ids), FOLLOW_BATCH):
        batch = ids[start:start + FOLLOW_BATCH]
        held: dict[int, list[Request]] = {}   # CONNECT requests of TLS streams, yielded with their TLS stream
        for sid, plain in _follow(path, "tcp", batch, None, result):
            info = streams[sid]
            if not _looks_like_request(plain) and not _REQUEST_START.match(plain):
                continue
            # plain HTTP, or the plain CONNECT that opens a proxied TLS tunnel
            requests, broken = _parse_client_bytes(plain, "http", info, result)
            truncated += broken
            if info["tls"] and decrypting:
                held[sid] = requests
                continue
            count += len(requests)
            yield from requests
        tls_ids = [sid for sid in batch if streams[sid]["tls"]]
        decrypted: set[int] = set()
        if decrypting and tls_ids:
            for sid, client in _follow(path, "tls", tls_ids, keylog, result):
                decrypted.add(sid)
                requests, broken = _parse_client_bytes(client, "https", streams[sid], result)
                truncated += broken
                requests = held.pop(sid, []) + requests
                count += len(requests)
                yield from requests
        for sid in sorted(held):
            count += len(held[sid])
            yield from held[sid]
        undecrypted += len(set(tls_ids) - decrypted)
    reasons = []
    if undecrypted:
        reasons.append(f"{undecrypted} TLS stream(s) not decrypted ("
                       + (f"key log {keylog.name} has no keys for them)" if keylog else
                          "the keys embedded in the capture do not cover them)" if embedded else
                          f"no key log beside the capture: {path.name}.keylog or sslkeylog.txt)"))
    if truncated:
        reasons.append(f"{truncated} request(s) cut short")
    if not count:
        raise CaptureUnreadable("; ".join(reasons) if reasons else "no HTTP requests in the capture")
    if reasons:
        result.partial = True
        result.add_reason("; ".join(reasons))


PCAPNG_SECRETS = 0x0000000A      # Decryption Secrets Block


def pcapng_has_secrets(path: Path) -> bool:
    """Whether a pcapng holds a Decryption Secrets Block: its block headers are walked (8 bytes read per
    block, the bodies skipped), stopping at the first one. A file that stops making sense stops the walk."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            order, offset = "<", 0
            while offset + 12 <= size:
                handle.seek(offset)
                head = handle.read(12)
                if len(head) < 12:
                    return False
                if head[:4] == b"\x0a\x0d\x0d\x0a":    # a section header: its byte order applies from here on
                    order = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
                kind, length = struct.unpack(order + "II", head[:8])
                if kind == PCAPNG_SECRETS:
                    return True
                if length < 12 or length % 4:
                    return False
                offset += length
    except OSError:
        return False
    return False


def _pcap_streams(path: Path, keylog: Path | None, result: CaptureResult) -> dict[int, dict]:
    """Stream id -> what the packets say about it, for the first MAX_PCAP_STREAMS streams (the rest counted)."""
    args = ["-r", str(path), "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=\t",
            "-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
            "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tls.handshake.extensions_server_name",
            "-e", "tls.record.content_type"]
    if keylog:
        args[2:2] = ["-o", f"tls.keylog_file:{keylog}"]
    run = _Tshark(args)
    streams: dict[int, dict] = {}
    beyond: set[int] = set()
    for raw in run.lines():
        cols = raw.decode("utf-8", "replace").rstrip("\r\n").split("\t")
        if len(cols) < 10 or not cols[0].strip().isdigit():
            continue
        sid = int(cols[0])
        info = streams.get(sid)
        if info is None:
            if len(streams) >= MAX_PCAP_STREAMS:
                if len(beyond) < 10 * MAX_PCAP_STREAMS:
                    beyond.add(sid)
                continue
            info = streams[sid] = {"time": _epoch(cols[1]) if cols[1] else None,
                                   "server": cols[5] or cols[6], "port": _int(cols[7]),
                                   "client_port": _int(cols[4]), "sni": "", "tls": False}
        if cols[8] and not info["sni"]:
            info["sni"] = cols[8].split(",")[0]
        if cols[9]:
            info["tls"] = True
    problems = run.problems()
    if run.proc.returncode != 0 and not streams:
        raise CaptureUnreadable(f"tshark: {problems[0] if problems else 'failed'}"[:300])
    if beyond:
        result.hit("TCP streams per capture", MAX_PCAP_STREAMS, len(beyond), "streams")
    if any("cut short" in line for line in problems):
        # the last record is incomplete: what it carried is not in any stream
        result.hit("pcap cut short", 0, 1, "packets")
    return streams


def _int(text: str) -> int | None:
    try:
        return int(text.split(",")[0])
    except ValueError:
        return None


def _follow(path: Path, proto: str, ids: list[int], keylog: Path | None,
            result: CaptureResult) -> Iterator[tuple[int, bytes]]:
    """(stream id, client-to-server bytes) per stream, as tshark prints them; tshark's node 0 is the side that
    sent the first packet. One stream's bytes are held at a time."""
    args = ["-r", str(path), "-q"]
    if keylog:
        args += ["-o", f"tls.keylog_file:{keylog}"]
    for sid in reversed(ids):  # tshark prints the taps last registered first: the streams come in id order
        args += ["-z", f"follow,{proto},raw,{sid}"]
    run = _Tshark(args)
    sid: int | None = None
    sides: tuple[list[bytes], list[bytes]] = ([], [])
    sizes = [0, 0]
    started = False
    for raw in run.lines():
        if raw.startswith(b"====="):
            if sid is not None and started:
                yield from _follow_block(sid, sides, sizes, proto, result)
            sid, sides, sizes, started = None, ([], []), [0, 0], False
            continue
        if sid is None:
            match = re.match(rb"Filter: \w+\.stream eq (\d+)", raw)
            if match:
                sid = int(match.group(1))
            continue
        if raw.startswith(b"Node 1:"):
            started = True
            continue
        if not started or not raw.strip():
            continue
        side = 1 if raw.startswith(b"\t") else 0
        try:
            chunk = bytes.fromhex(raw.strip().decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            continue
        if sizes[side] < MAX_STREAM_BYTES:
            sides[side].append(chunk[:MAX_STREAM_BYTES - sizes[side]])
        sizes[side] += len(chunk)
    if sid is not None and started:
        yield from _follow_block(sid, sides, sizes, proto, result)
    problems = run.problems()
    if run.proc.returncode != 0 and problems and not any("cut short" in line for line in problems):
        result.add_reason(f"tshark: {problems[0]}"[:300])
        result.partial = True


def _follow_block(sid: int, sides: tuple[list[bytes], list[bytes]], sizes: list[int], proto: str,
                  result: CaptureResult) -> Iterator[tuple[int, bytes]]:
    first, second = (b"".join(side) for side in sides)
    # Node 0 is whoever tshark saw first, which for decrypted TLS can be the server: the client is the
    # side that speaks a request.
    client_side = 1 if _looks_like_request(second) and not _looks_like_request(first) else 0
    client = (first, second)[client_side]
    if sizes[client_side] > MAX_STREAM_BYTES:
        result.hit("bytes per TCP stream", MAX_STREAM_BYTES, sizes[client_side] - MAX_STREAM_BYTES, "bytes",
                   f"{result.path} {proto}.stream {sid}")
    if client:
        yield sid, client


def _looks_like_request(data: bytes) -> bool:
    line_end = data.find(b"\r\n")
    return data.startswith(b"PRI * HTTP/2.0") or (line_end > 0 and bool(_REQUEST_LINE.match(data[:line_end])))


_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S+) HTTP/1\.[01]\r?$")
# The start of a request whose head the capture holds only part of (a snap length, a capture stopped mid-request):
# an HTTP method (named: FTP's `RETR /path` and the like are no request) and the start of a target (origin form,
# absolute form, CONNECT's host:port, OPTIONS *)
_REQUEST_START = re.compile(rb"(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE|QUERY|PROPFIND|PROPPATCH|MKCOL|"
                            rb"COPY|MOVE|LOCK|UNLOCK|REPORT|SEARCH|MKCALENDAR) (/|https?://|\*|[A-Za-z0-9.-]+:\d)"
                            rb"([^ \r\n]*)")


def _parse_client_bytes(data: bytes, scheme: str, info: dict, result: CaptureResult) -> tuple[list[Request], int]:
    capture = result.path
    if data.startswith(b"PRI * HTTP/2.0"):
        return _parse_h2(data, scheme, info, result)
    requests: list[Request] = []
    pos, broken = 0, 0
    while pos < len(data):
        if len(requests) >= MAX_REQUESTS_PER_STREAM:
            result.hit("requests per TCP stream", MAX_REQUESTS_PER_STREAM, len(data) - pos, "bytes",
                       f"{capture} tcp.stream to {info.get('server')}:{info.get('port')}")
            break
        while data[pos:pos + 1] in (b"\r", b"\n"):   # empty lines before a request line are ignored (RFC 9112 2.2)
            pos += 1
        if pos >= len(data):
            break
        if data.startswith(b"PRI * HTTP/2.0", pos):
            # an HTTP/1.1 request that asked for `Upgrade: h2c` was answered 101: the rest is HTTP/2
            more, h2_broken = _parse_h2(data[pos:], scheme, info, result)
            return requests + more, broken + h2_broken
        end, blank = data.find(b"\r\n\r\n", pos), 4
        bare = data.find(b"\n\n", pos, end if end >= 0 else len(data))
        if bare >= 0:   # lines ended by a bare LF (hand-made clients, embedded devices): servers accept them too
            end, blank = bare, 2
        cut = end < 0
        if cut:
            # the capture ends inside a request's head: what it holds was sent, and is read (marked cut short)
            end = len(data)
        head = [line.rstrip(b"\r") for line in data[pos:end].split(b"\n")]
        match = (_REQUEST_START if cut else _REQUEST_LINE).match(head[0])
        if not match:
            # bytes that are not a request where one should start: what they carried is not read
            broken += bool(data[pos:].strip())
            break
        broken += cut
        headers = []
        for line in head[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                headers.append((_text(name.strip()), _text(value.strip())))
        pos = end + blank
        lower = {k.lower(): v for k, v in headers}
        body = b""
        if cut:
            pass
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            body, pos, ok = _dechunk(data, pos)
            broken += not ok
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        elif lower.get("content-length", "").strip().isdigit() and lower["content-length"].isascii():
            # (ASCII: str.isdigit() also takes `²` and other digits int() refuses with ValueError)
            length = int(lower["content-length"])
            body = data[pos:pos + length]
            broken += len(body) < length
            pos += length
        method, target = _text(match.group(1)), _text(match.group(2) + (match.group(3) if cut else b""))
        req_scheme, authority = scheme, lower.get("host") or ""
        if target.startswith(("http://", "https://")):   # absolute form: a request to a proxy
            try:
                parts = urlsplit(target)
                req_scheme, authority = parts.scheme, parts.netloc
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            except ValueError:
                # an unbalanced IPv6 bracket (`http://[::1/x`): urlsplit refuses it, and the ValueError ended the
                # whole capture as `unexpected`. The request was sent all the same: split at the first slash.
                req_scheme, _, rest = target.partition("://")
                authority, slash, path = rest.partition("/")
                target = slash + path or "/"
        elif method == "CONNECT":
            authority = target
        host, port = _endpoint(authority, req_scheme, info)
        body, dropped = _capped(body)
        requests.append(Request(time=info.get("time"), method=method, scheme=req_scheme, host=host, port=port,
                                target=target, headers=tuple(headers), body=body, body_dropped=dropped,
                                capture=capture, note="CONNECT tunnel" if method == "CONNECT" else
                                "cut short: the capture holds only the start of its head" if cut else None))
        if method == "CONNECT" or cut:
            break  # what follows is the tunnelled (TLS) stream
        if "websocket" in lower.get("upgrade", "").lower() and pos < len(data):
            # the connection became a WebSocket: what the client sends on it are its (masked) messages
            messages, ws_broken = _websocket_sends(data[pos:], requests[-1], result)
            return requests + messages, broken + ws_broken
    return requests, broken


def _websocket_sends(data: bytes, opening: Request, result: CaptureResult) -> tuple[list[Request], int]:
    """The client's WebSocket messages (RFC 6455: frames masked by the client; fragments joined; control frames
    skipped) as requests, like a HAR's `_webSocketMessages` sends. Counts a message the capture cuts as broken."""
    out: list[Request] = []
    pos, parts, size = 0, [], 0
    deflated = False     # RSV1 on a message's first frame: permessage-deflate (RFC 7692), one context per connection
    inflater = None
    inflated = 0         # bytes the connection's messages inflated to (MAX_WEBSOCKET_INFLATED)
    not_inflated = broken = 0
    while pos + 2 <= len(data):
        first, second = data[pos], data[pos + 1]
        length, head = second & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[pos + 2:pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[pos + 2:pos + 10], "big"), 10
        mask = data[pos + head:pos + head + 4] if second & 0x80 else b""
        start = pos + head + len(mask)
        payload = data[start:start + length]
        cut = start > len(data) or len(payload) < length
        if mask:
            key = (mask * (len(payload) // 4 + 1))[:len(payload)]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")
        pos = start + length
        if first & 0x0F >= 8:        # close, ping, pong
            continue
        if first & 0x0F:             # a message's first frame (0 continues one)
            deflated = bool(first & 0x40)
        if size < MAX_BODY_BYTES:
            parts.append(payload[:MAX_BODY_BYTES - size])
        size += len(payload)
        if first & 0x80 or cut:      # FIN: the message is whole
            if len(out) >= MAX_WEBSOCKET_MESSAGES:
                result.hit("websocket messages per connection", MAX_WEBSOCKET_MESSAGES, 1, "messages",
                           f"{result.path} {opening.url}")
                break
            body = b"".join(parts)
            if deflated:
                # Deflate reaches ~1000:1 and a stream's messages are all held until the stream is read: without a
                # budget per connection, 0.5 MB of 32 KB messages became 512 MiB of bodies. Past the budget a
                # message is kept as sent (compressed), and its compressed bytes counted.
                room = min(MAX_BODY_BYTES, MAX_WEBSOCKET_INFLATED - inflated)
                if room <= 0:
                    not_inflated += len(body)
                else:
                    inflater = inflater or zlib.decompressobj(-15)
                    try:
                        body = inflater.decompress(body + b"\x00\x00\xff\xff", room)
                        inflated += len(body)
                        if len(body) >= room:
                            # cut by the bound: the rest of this message (and the context the next ones need) is lost
                            not_inflated += max(1, len(inflater.unconsumed_tail))
                            inflater = None
                    except zlib.error:
                        inflater = None   # kept as sent; the next messages' context is lost with it
            out.append(Request(time=opening.time, method="WS", scheme=opening.scheme, host=opening.host,
                               port=opening.port, target=opening.target, headers=(), body=body,
                               capture=opening.capture, note="websocket message",
                               body_dropped=max(0, size - MAX_BODY_BYTES)))
            parts, size = [], 0
        if cut:
            broken = 1
            break
    if not_inflated:
        result.hit("inflated bytes per websocket connection", MAX_WEBSOCKET_INFLATED, not_inflated,
                   "compressed bytes", f"{result.path} {opening.url}")
    return out, broken or int(pos < len(data) or bool(parts))


def _endpoint(authority: str | None, scheme: str, info: dict) -> tuple[str, int | None]:
    """Host and port of a request: its authority (Host, :authority, CONNECT's target), else (HTTP/1.0, a head cut
    off) the server the packets went to (the TLS SNI, else its address) on the TCP port they went to."""
    if authority:
        return _split_host(authority, scheme)
    server = info.get("sni") or info.get("server") or ""
    if server.count(":") > 1 and not server.startswith("["):
        server = f"[{server}]"    # an IPv6 address: its colons are no port
    host, port = _split_host(server, scheme)
    return host, info.get("port") or port


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int, bool]:
    parts = []
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return b"".join(parts), len(data), False
        token = data[pos:line_end].split(b";")[0].strip() or b"0"
        # hex digits only: int(token, 16) also takes a sign, `0x` and `_`, and a size of -6 after `-6\r\n` led back
        # to the same line: an endless loop, growing `parts`
        if token.strip(b"0123456789abcdefABCDEF"):
            return b"".join(parts), len(data), False
        size = int(token, 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = data.find(b"\r\n", pos)
            return b"".join(parts), (trailer_end + 2 if trailer_end >= 0 else len(data)), True
        parts.append(data[pos:pos + size])
        if pos + size > len(data):
            return b"".join(parts), len(data), False
        pos += size + 2


def _parse_h2(data: bytes, scheme: str, info: dict, result: CaptureResult) -> tuple[list[Request], int]:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None,
                                                                 validate_inbound_headers=False))
    # The replay sees only the client's bytes: the limits the real server announced are not ours to enforce. h2's
    # defaults refused a connection's 101st open stream, and a DATA frame over 16 KiB or 64 KiB of window (a client
    # may send them once its server allowed it: RFC 9113 6.5.2), as protocol errors that lost the rest of the
    # connection. Each stream the client ends is answered below, as the server did, so that h2 forgets it.
    conn.local_settings.max_concurrent_streams = 2 ** 31 - 1
    conn.local_settings.initial_window_size = 2 ** 31 - 1
    conn.local_settings.acknowledge()
    conn.max_inbound_frame_size = conn.incoming_buffer.max_frame_size = 2 ** 24 - 1
    conn.initiate_connection()
    conn.increment_flow_control_window(2 ** 31 - 1 - conn.inbound_flow_control_window)
    pending: dict[int, dict] = {}
    order: list[int] = []
    broken = header_bytes = 0
    limit = None
    # Fed in small pieces, acknowledging data as it comes, so the replay never exceeds the flow-control windows
    # our side of the connection would have granted (a body over 64 KiB in one call would be refused).
    for start in range(0, len(data), 8192):
        try:
            events = conn.receive_data(data[start:start + 8192])
        except h2.exceptions.ProtocolError:
            broken = 1
            break
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = [(_text(k), _text(v)) for k, v in event.headers]
                # HPACK sends a header the table holds as one byte: 30 bytes of HEADERS frame became 64 KiB of
                # header text, 115 KB of client bytes 228 MiB. Bounded per stream, as HTTP/1's requests are.
                header_bytes += sum(len(k) + len(v) for k, v in headers)
                if len(order) >= MAX_REQUESTS_PER_STREAM:
                    limit = ("requests per TCP stream", MAX_REQUESTS_PER_STREAM)
                elif header_bytes > MAX_HEADER_BYTES_PER_STREAM:
                    limit = ("header bytes per TCP stream", MAX_HEADER_BYTES_PER_STREAM)
                if limit:
                    break
                pending[event.stream_id] = {"headers": headers, "body": [], "size": 0}
                order.append(event.stream_id)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id in pending:
                item = pending[event.stream_id]
                if item["size"] < MAX_BODY_BYTES:
                    item["body"].append(event.data[:MAX_BODY_BYTES - item["size"]])
                item["size"] += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                # answered, as the real server did: a stream left half-open stays in h2's table, which it walks
                # for every new stream (OkHttp and gRPC keep one connection for hundreds of requests)
                try:
                    conn.send_headers(event.stream_id, [(b":status", b"200")], end_stream=True)
                except h2.exceptions.H2Error:
                    pass
        conn.clear_outbound_data_buffer()
        if limit:   # the rest of the stream is counted, not read
            result.hit(*limit, len(data) - start, "bytes", f"{result.path} tcp.stream to {info.get('server')}:"
                       f"{info.get('port')}")
            break
    capture = result.path
    requests = []
    for sid in order:
        item = pending[sid]
        pseudo = {k: v for k, v in item["headers"] if k.startswith(":")}
        headers = tuple((k, v) for k, v in item["headers"] if not k.startswith(":"))
        host, port = _endpoint(pseudo.get(":authority") or dict((k.lower(), v) for k, v in headers).get("host"),
                               scheme, info)
        requests.append(Request(time=info.get("time"), method=pseudo.get(":method", "GET"), scheme=scheme,
                                host=host, port=port, target=pseudo.get(":path", "/"), headers=headers,
                                body=b"".join(item["body"]), capture=capture,
                                body_dropped=max(0, item["size"] - MAX_BODY_BYTES)))
    return requests, broken
