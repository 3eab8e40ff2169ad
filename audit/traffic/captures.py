"""Reading captures into one request shape: HAR, mitmproxy flow files, `appaudit capture` run folders, pcap/pcapng.

Every reader returns a `CaptureResult`: the requests it could read, and a status. A capture that cannot be read at
all is `skipped` with a one-line reason; one that breaks half way is `ok`, keeps what it read and is marked
`partial` with the reason.
Nothing here raises for a bad capture: `analyse` decides whether the whole call failed (nothing readable).

pcap/pcapng: tshark reassembles each TCP stream (`-z follow,tcp,raw`) and, with a TLS key log beside the capture
(`<name>.keylog`, `<stem>.keylog`, `sslkeylog.txt`, `keylog.txt`), the decrypted TLS stream (`-z follow,tls,raw`).
We parse HTTP/1 and HTTP/2 (hpack via the `h2` package that mitmproxy ships) ourselves from the client's bytes, so
bodies arrive byte-exact (tshark's own http.file_data field is text and stops at the first NUL).
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_CAPTURE_BYTES = 2 * 1024 ** 3       # a single capture file we are willing to read
MAX_JSON_CAPTURE_BYTES = 512 * 1024 ** 2  # HAR / JSONL are parsed in memory
MAX_JSON_CAPTURE_OBJECTS = 4_000_000  # ~1 GiB of parsed dicts at most, whatever the file size
MAX_BODY_BYTES = 32 * 1024 * 1024       # one request body, before decoding
MAX_REQUESTS_PER_CAPTURE = 200_000
MAX_PCAP_STREAMS = 5_000
TSHARK_TIMEOUT_S = 300
FOLLOW_BATCH = 150                      # -z follow taps per tshark run (each run re-reads the file)
KEYLOG_NAMES = ("{name}.keylog", "{stem}.keylog", "{stem}.keys", "sslkeylog.txt", "sslkeylog.log", "keylog.txt")


@dataclass(frozen=True)
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

    @property
    def url(self) -> str:
        if self.method == "CONNECT":
            return f"{self.host}:{self.port}" if self.port else self.host
        default = {"http": 80, "https": 443}.get(self.scheme)
        netloc = self.host if self.port in (None, default) else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.target}"

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass
class CaptureResult:
    path: str
    format: str
    status: str = "ok"                   # ok | skipped
    reason: str | None = None
    partial: bool = False                # read, but not all of it (truncated, undecrypted TLS, incomplete run)
    requests: list[Request] = field(default_factory=list)
    identifiers: dict[str, Any] | None = None   # a run folder's identifiers.json (raw, validated by analyse)
    identifiers_path: str | None = None
    events: list[dict] = field(default_factory=list)  # a run folder's frida events that can place a request
    app_package: str | None = None       # what the capture says it recorded (tweasel metadata, run.json)

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "format": self.format, "status": self.status, "requests": len(self.requests)}
        if self.partial:
            out["partial"] = True
        if self.reason:
            out["reason"] = self.reason
        return out


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
        return number / 1000.0 if number > 1e12 else number
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


_JAVA_FRAME = re.compile(r"(?:at\s+)?([\w$]+(?:\.[\w$<>-]+)+)\s*(?:\(|$)")


def stack_frames(raw: Any) -> tuple[str, ...]:
    """PiRogue `_stacktrace`, our Frida events: a Java stack as text, a list of strings, or a list of frames."""
    frames: list[str] = []
    if isinstance(raw, str):
        lines = raw.splitlines() if "\n" in raw else raw.split(" at ")
        for line in lines:
            match = _JAVA_FRAME.search(line.strip())
            if match:
                frames.append(match.group(1))
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


def read_capture(path: Path) -> CaptureResult:
    """Read any supported capture; never raises for bad content (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        return CaptureResult(str(path), "unknown", "skipped", "not found")
    try:
        kind = sniff_format(path)
    except CaptureUnreadable as exc:
        return CaptureResult(str(path), "unknown", "skipped", str(exc))
    except OSError as exc:
        return CaptureResult(str(path), "unknown", "skipped", f"cannot read: {exc.strerror or exc}")
    reader = {"run": read_run_folder, "har": read_har, "mitmproxy": read_mitmproxy, "pcap": read_pcap,
              "pcapng": read_pcap}.get(kind)
    if reader is None:
        return CaptureResult(str(path), "unknown", "skipped",
                             "not a HAR, mitmproxy flow file, pcap/pcapng or run folder")
    try:
        return reader(path)
    except CaptureUnreadable as exc:
        return CaptureResult(str(path), kind, "skipped", str(exc))


# -- HAR --------------------------------------------------------------------------------------------------
def read_har(path: Path) -> CaptureResult:
    _check_size(path, MAX_JSON_CAPTURE_BYTES)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        # json.loads costs ~270 bytes of RSS per tiny object: bound the count before parsing
        if raw.count(b"{") > MAX_JSON_CAPTURE_OBJECTS:
            raise CaptureUnreadable(f"too many JSON objects (more than {MAX_JSON_CAPTURE_OBJECTS})")
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise CaptureUnreadable(f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CaptureUnreadable(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # e.g. the int-conversion digit limit
        raise CaptureUnreadable(f"invalid JSON: {_one_line(exc)}") from None
    except RecursionError:
        raise CaptureUnreadable("JSON nesting too deep") from None
    log = data.get("log") if isinstance(data, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise CaptureUnreadable("not a HAR file (no log.entries)")
    result = CaptureResult(str(path), "har")
    result.app_package = _tweasel_app(log.get("_tweasel"))
    bad = 0
    for entry in log["entries"][:MAX_REQUESTS_PER_CAPTURE]:
        try:
            request = _har_request(entry, str(path))
            result.requests.append(request)
            result.requests.extend(_har_websocket_sends(entry, request))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            bad += 1
    if bad:
        result.partial = True
        result.reason = f"{bad} malformed entries skipped"
    if bad and not result.requests:
        raise CaptureUnreadable(f"no readable entries ({bad} malformed)")
    return result


def _har_websocket_sends(entry: dict, opening: Request) -> list[Request]:
    """Chrome's `_webSocketMessages`: what the client sent over an upgraded connection leaves the device too."""
    out = []
    for message in (entry.get("_webSocketMessages") or [])[:10_000]:
        if not isinstance(message, dict) or message.get("type") != "send":
            continue
        data = message.get("data") or ""
        body = base64.b64decode(data + "=" * (-len(data) % 4)) if message.get("opcode") == 2 else \
            str(data).encode("utf-8", "surrogatepass")
        out.append(Request(time=_epoch(message.get("time")), method="WS", scheme=opening.scheme, host=opening.host,
                           port=opening.port, target=opening.target, headers=(), body=body[:MAX_BODY_BYTES],
                           capture=opening.capture, stack=opening.stack, note="websocket message"))
    return out


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


def _har_request(entry: dict, capture: str) -> Request:
    req = entry["request"]
    url = req["url"]
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    headers = tuple((str(h["name"]), _text(h.get("value"))) for h in req.get("headers") or ())
    authority = parts.netloc or next((v for k, v in headers if k.lower() in ("host", ":authority")), "")
    host, port = _split_host(authority, scheme)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    body = b""
    post = req.get("postData") or {}
    if isinstance(post, dict):
        text = post.get("text")
        encoding = post.get("encoding") or post.get("_encoding")
        if isinstance(text, str) and text:
            if encoding == "base64":
                body = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
            else:
                body = text.encode("utf-8", "surrogatepass")
        elif post.get("params"):
            from urllib.parse import urlencode
            body = urlencode([(str(p.get("name", "")), _text(p.get("value"))) for p in post["params"]]).encode()
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers += (("content-type", post.get("mimeType") or "application/x-www-form-urlencoded"),)
    # Cookies listed apart from the headers (Charles, some tools) are part of the request too.
    if not any(k.lower() == "cookie" for k, _ in headers) and req.get("cookies"):
        cookie = "; ".join(f"{c.get('name')}={_text(c.get('value'))}" for c in req["cookies"] if isinstance(c, dict))
        headers += (("cookie", cookie),)
    stack = stack_frames(entry.get("_stacktrace") or req.get("_stacktrace") or entry.get("_stack"))
    return Request(time=_epoch(entry.get("startedDateTime")), method=str(req.get("method") or "GET").upper(),
                   scheme="https" if scheme in ("https", "wss") else "http", host=host, port=port, target=target,
                   headers=headers, body=body[:MAX_BODY_BYTES], capture=capture, stack=stack)


# -- mitmproxy flow files ---------------------------------------------------------------------------------
def read_mitmproxy(path: Path) -> CaptureResult:
    from mitmproxy import http as mhttp
    from mitmproxy import io as mio

    _check_size(path, MAX_CAPTURE_BYTES)
    result = CaptureResult(str(path), "mitmproxy")
    other = 0
    try:
        with open(path, "rb") as handle:
            for flow in mio.FlowReader(handle).stream():
                if not isinstance(flow, mhttp.HTTPFlow):
                    other += 1
                    continue
                result.requests.extend(_mitm_requests(flow, str(path)))
                if len(result.requests) >= MAX_REQUESTS_PER_CAPTURE:
                    break
    except OSError as exc:
        raise CaptureUnreadable(f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # mitmproxy's loader on hostile state raises anything (AttributeError, ...)
        if not result.requests:
            raise CaptureUnreadable(f"not a readable mitmproxy flow file: {_one_line(exc)}") from None
        result.partial = True
        result.reason = f"stopped after {len(result.requests)} requests: {_one_line(exc)}"
    if not result.requests and not other:
        raise CaptureUnreadable("no flows in file")
    return result


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _mitm_requests(flow, capture: str) -> list[Request]:
    req = flow.request
    scheme = "https" if req.scheme in ("https", "wss") else "http"
    headers = tuple((_text(k), _text(v)) for k, v in req.headers.fields)
    body = req.raw_content or b""
    host = (req.pretty_host or req.host or "").lower().rstrip(".")
    metadata = flow.metadata if isinstance(flow.metadata, dict) else {}
    stack = stack_frames(metadata.get("stacktrace") or metadata.get("_stacktrace"))
    out = [Request(time=req.timestamp_start, method=req.method.upper(), scheme=scheme, host=host, port=req.port,
                   target=req.path or "/", headers=headers, body=body[:MAX_BODY_BYTES], capture=capture,
                   stack=stack)]
    websocket = getattr(flow, "websocket", None)
    if websocket is not None:
        for message in websocket.messages[:10_000]:
            if message.from_client:
                out.append(Request(time=message.timestamp, method="WS", scheme=scheme, host=host, port=req.port,
                                   target=req.path or "/", headers=(), body=message.content[:MAX_BODY_BYTES],
                                   capture=capture, stack=stack, note="websocket message"))
    return out


# -- run folders ------------------------------------------------------------------------------------------
def read_run_folder(path: Path) -> CaptureResult:
    flows = [p for p in (path / "flows.mitm", path / "flows.har") if p.is_file() and p.stat().st_size > 0]
    pcaps = sorted(p for p in path.iterdir() if p.suffix.lower() in (".pcap", ".pcapng"))
    run_json = path / "run.json"
    if not flows and not pcaps:
        if run_json.exists() or (path / "frida-events.jsonl").exists():
            raise CaptureUnreadable("run folder has no flows.mitm or flows.har (no traffic was recorded)")
        raise CaptureUnreadable("a folder that is not a run folder (no run.json, flows.mitm or flows.har)")
    # flows.har is written from the same flows as flows.mitm: read one of them, the lossless one first.
    result = CaptureResult(str(path), "run")
    reasons: list[str] = []
    for source in flows[:1] + pcaps:
        reader = {".mitm": read_mitmproxy, ".har": read_har}.get(source.suffix, read_pcap)
        try:
            sub = reader(source)
        except CaptureUnreadable as exc:
            if source.suffix == ".mitm" and len(flows) > 1:
                try:
                    sub = read_har(flows[1])
                    reasons.append(f"flows.mitm unreadable ({exc}); read flows.har")
                except CaptureUnreadable as exc2:
                    reasons.append(f"flows.mitm: {exc}; flows.har: {exc2}")
                    continue
            else:
                reasons.append(f"{source.name}: {exc}")
                continue
        result.requests.extend(sub.requests)
        if sub.reason:
            reasons.append(f"{Path(sub.path).name}: {sub.reason}")
    info = _read_json_quiet(run_json)
    if isinstance(info, dict):
        from ..runtime.runfolder import run_state     # incomplete, or data known missing (escaped traffic)
        reasons.extend(run_state(info)[1])
        app = info.get("app") or info.get("package")
        if isinstance(app, dict):
            app = app.get("package") or app.get("id")
        if isinstance(app, str) and "." in app and "/" not in app and not app.endswith(".apk"):
            result.app_package = app
    ids = path / "identifiers.json"
    if ids.is_file():
        result.identifiers_path = str(ids)
    result.events = _read_events(path / "frida-events.jsonl")
    if not result.requests and reasons:
        raise CaptureUnreadable("; ".join(reasons))
    if reasons:
        result.partial = True
        result.reason = "; ".join(reasons)
    return result


def _read_json_quiet(path: Path) -> Any:
    try:
        if path.is_file() and path.stat().st_size < 16 * 1024 * 1024:
            return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return None


def _read_events(path: Path) -> list[dict]:
    """Frida events that can name a request's sender: they carry a stack and a network destination."""
    out: list[dict] = []
    if not path.is_file():
        return out
    try:
        with open(path, "rb") as handle:
            for number, line in enumerate(handle):
                if number > 2_000_000:
                    break
                try:
                    event = json.loads(line)
                except (ValueError, RecursionError):
                    continue  # a run killed mid-write leaves a torn last line
                if not isinstance(event, dict):
                    continue
                # the agent's `request` events: a URL and the Java stack that asked for it (hooks/network.yaml)
                if event.get("stack") and (event.get("url") or event.get("host") or event.get("sni")):
                    out.append(event)
    except OSError:
        return out
    return out


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


def _run_tshark(args: list[str]) -> str:
    env = dict(os.environ, LC_ALL="C")
    try:
        proc = subprocess.run([_tshark(), "-n", *args], capture_output=True, timeout=TSHARK_TIMEOUT_S, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CaptureUnreadable(f"tshark took longer than {TSHARK_TIMEOUT_S}s") from None
    err = proc.stderr.decode("utf-8", "replace")
    problems = [line for line in err.splitlines() if line.strip() and "Running as user" not in line]
    if proc.returncode != 0 and not proc.stdout:
        raise CaptureUnreadable(f"tshark: {problems[0] if problems else 'failed'}"[:300])
    return proc.stdout.decode("utf-8", "replace")


def read_pcap(path: Path) -> CaptureResult:
    _check_size(path, MAX_CAPTURE_BYTES)
    fmt = sniff_format(path)
    keylog = find_keylog(path)
    result = CaptureResult(str(path), fmt if fmt in ("pcap", "pcapng") else "pcap")
    streams = _pcap_streams(path, keylog)
    if not streams:
        raise CaptureUnreadable("no TCP stream with data (nothing HTTP to read)")
    ids = sorted(streams)[:MAX_PCAP_STREAMS]
    tcp = _follow(path, "tcp", ids, None)
    tls = _follow(path, "tls", [i for i in ids if streams[i]["tls"]], keylog) if keylog else {}
    undecrypted = 0
    truncated = 0
    for sid in ids:
        info = streams[sid]
        plain = tcp.get(sid) or b""
        if _looks_like_request(plain):
            # plain HTTP, or the plain CONNECT that opens a proxied TLS tunnel
            requests, broken = _parse_client_bytes(plain, "http", info, str(path))
            truncated += broken
            result.requests.extend(requests)
        if info["tls"]:
            client = tls.get(sid)
            if not client:
                undecrypted += 1
                continue
            requests, broken = _parse_client_bytes(client, "https", info, str(path))
            truncated += broken
            result.requests.extend(requests)
    reasons = []
    if undecrypted:
        reasons.append(f"{undecrypted} TLS stream(s) not decrypted ("
                       + (f"key log {keylog.name} has no keys for them)" if keylog else
                          f"no key log beside the capture: {path.name}.keylog or sslkeylog.txt)"))
    if truncated:
        reasons.append(f"{truncated} request(s) cut short")
    if not result.requests:
        raise CaptureUnreadable("; ".join(reasons) if reasons else "no HTTP requests in the capture")
    if reasons:
        result.partial = True
        result.reason = "; ".join(reasons)
    return result


def _pcap_streams(path: Path, keylog: Path | None) -> dict[int, dict]:
    args = ["-r", str(path), "-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=\t",
            "-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
            "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tls.handshake.extensions_server_name",
            "-e", "tls.record.content_type"]
    if keylog:
        args[2:2] = ["-o", f"tls.keylog_file:{keylog}"]
    out = _run_tshark(args)
    streams: dict[int, dict] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < 10 or not cols[0].strip().isdigit():
            continue
        sid = int(cols[0])
        info = streams.get(sid)
        if info is None:
            info = streams[sid] = {"time": _epoch(cols[1]) if cols[1] else None,
                                   "server": cols[5] or cols[6], "port": _int(cols[7]),
                                   "client_port": _int(cols[4]), "sni": "", "tls": False}
        if cols[8] and not info["sni"]:
            info["sni"] = cols[8].split(",")[0]
        if cols[9]:
            info["tls"] = True
    return streams


def _int(text: str) -> int | None:
    try:
        return int(text.split(",")[0])
    except ValueError:
        return None


def _follow(path: Path, proto: str, ids: list[int], keylog: Path | None) -> dict[int, bytes]:
    """Client-to-server bytes of each stream (tshark's node 0 is the side that sent the first packet)."""
    out: dict[int, bytes] = {}
    for start in range(0, len(ids), FOLLOW_BATCH):
        batch = ids[start:start + FOLLOW_BATCH]
        args = ["-r", str(path), "-q"]
        if keylog:
            args += ["-o", f"tls.keylog_file:{keylog}"]
        for sid in batch:
            args += ["-z", f"follow,{proto},raw,{sid}"]
        text = _run_tshark(args)
        for block in text.split("=" * 67):
            match = re.search(r"Filter: \w+\.stream eq (\d+)", block)
            if not match:
                continue
            sid = int(match.group(1))
            sides: tuple[list[bytes], list[bytes]] = ([], [])
            started = False
            for line in block.splitlines():
                if line.startswith("Node 1:"):
                    started = True
                    continue
                if not started or not line.strip():
                    continue
                try:
                    sides[line.startswith("\t")].append(bytes.fromhex(line.strip()))
                except ValueError:
                    continue
            first, second = (b"".join(side)[:MAX_BODY_BYTES * 4] for side in sides)
            # Node 0 is whoever tshark saw first, which for decrypted TLS can be the server: the client is the
            # side that speaks a request.
            client = second if _looks_like_request(second) and not _looks_like_request(first) else first
            if client:
                out[sid] = client
    return out


def _looks_like_request(data: bytes) -> bool:
    line_end = data.find(b"\r\n")
    return data.startswith(b"PRI * HTTP/2.0") or (line_end > 0 and bool(_REQUEST_LINE.match(data[:line_end])))


_REQUEST_LINE = re.compile(rb"^([A-Z]{3,10}) (\S+) HTTP/1\.[01]\r?$")


def _parse_client_bytes(data: bytes, scheme: str, info: dict, capture: str) -> tuple[list[Request], int]:
    if data.startswith(b"PRI * HTTP/2.0"):
        return _parse_h2(data, scheme, info, capture)
    requests: list[Request] = []
    pos, broken = 0, 0
    while pos < len(data) and len(requests) < 10_000:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = data[pos:end].split(b"\r\n")
        match = _REQUEST_LINE.match(head[0])
        if not match:
            break
        headers = []
        for line in head[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                headers.append((_text(name.strip()), _text(value.strip())))
        pos = end + 4
        lower = {k.lower(): v for k, v in headers}
        body = b""
        if "chunked" in lower.get("transfer-encoding", "").lower():
            body, pos, ok = _dechunk(data, pos)
            broken += not ok
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        elif lower.get("content-length", "").strip().isdigit():
            length = int(lower["content-length"])
            body = data[pos:pos + length]
            broken += len(body) < length
            pos += length
        method, target = _text(match.group(1)), _text(match.group(2))
        req_scheme, authority = scheme, lower.get("host") or ""
        if target.startswith(("http://", "https://")):   # absolute form: a request to a proxy
            parts = urlsplit(target)
            req_scheme, authority = parts.scheme, parts.netloc
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        elif method == "CONNECT":
            authority = target
        if not authority:
            authority = info.get("sni") or info.get("server") or ""
        host, port = _split_host(authority, req_scheme)
        requests.append(Request(time=info.get("time"), method=method, scheme=req_scheme, host=host, port=port,
                                target=target, headers=tuple(headers), body=body[:MAX_BODY_BYTES],
                                capture=capture, note="CONNECT tunnel" if method == "CONNECT" else None))
        if method == "CONNECT":
            break  # what follows is the tunnelled (TLS) stream
    return requests, broken


def _dechunk(data: bytes, pos: int) -> tuple[bytes, int, bool]:
    parts = []
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return b"".join(parts), len(data), False
        try:
            size = int(data[pos:line_end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return b"".join(parts), len(data), False
        pos = line_end + 2
        if size == 0:
            trailer_end = data.find(b"\r\n", pos)
            return b"".join(parts), (trailer_end + 2 if trailer_end >= 0 else len(data)), True
        parts.append(data[pos:pos + size])
        if pos + size > len(data):
            return b"".join(parts), len(data), False
        pos += size + 2


def _parse_h2(data: bytes, scheme: str, info: dict, capture: str) -> tuple[list[Request], int]:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None,
                                                                 validate_inbound_headers=False))
    conn.initiate_connection()
    pending: dict[int, dict] = {}
    order: list[int] = []
    broken = 0
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
                pending[event.stream_id] = {"headers": [(_text(k), _text(v)) for k, v in event.headers],
                                            "body": [], "size": 0}
                order.append(event.stream_id)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id in pending:
                item = pending[event.stream_id]
                if item["size"] < MAX_BODY_BYTES:
                    item["body"].append(event.data)
                    item["size"] += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        conn.clear_outbound_data_buffer()
    requests = []
    for sid in order:
        item = pending[sid]
        pseudo = {k: v for k, v in item["headers"] if k.startswith(":")}
        headers = tuple((k, v) for k, v in item["headers"] if not k.startswith(":"))
        authority = pseudo.get(":authority") or dict((k.lower(), v) for k, v in headers).get("host") \
            or info.get("sni") or info.get("server") or ""
        host, port = _split_host(authority, scheme)
        requests.append(Request(time=info.get("time"), method=pseudo.get(":method", "GET"), scheme=scheme,
                                host=host, port=port, target=pseudo.get(":path", "/"), headers=headers,
                                body=b"".join(item["body"])[:MAX_BODY_BYTES], capture=capture))
    return requests, broken
