"""Reading a run folder's agent events: observations for the rule engine, sockets for joining traffic.

Attribution is the one every stage uses (audit.attribution.actor_for_stack): the first stack frame outside the
platform, the API's own class and the support libraries decides, as the static engine follows a library
wrapper to its caller.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from ..attribution import actor_for_stack, frame_name
from ..catalogue import load_catalogue
from ..errors import InputError
from ..model import UNKNOWN, Evidence, Level, Observation, sorted_observations
from .runfolder import read_events, read_run  # noqa: F401  (read_events: the one reader, re-exported)


def _iso(epoch) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(float(epoch), _dt.timezone.utc).isoformat(timespec="milliseconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def observations_from_run(run_dir: str | Path, catalogue=None, app_code=None) -> list[Observation]:
    """One `invoked` observation per (data type, actor), with a `hook` evidence per distinct API and caller.
    `app_code`: the attribution.AppContext of the scanned APK, when known (else the run's package).

    Evidence: kind `hook`, ref = the API id, where = the calling method, detail = first time seen (UTC).
    """
    run = read_run(run_dir)
    app = run.get("app")
    app_package = app.get("package") if isinstance(app, dict) else None
    catalogue = catalogue or load_catalogue()
    grouped: dict[tuple, dict[tuple[str, str], str]] = {}
    for event in read_events(run_dir):
        data_type, api, api_class = event.get("data_type"), event.get("api"), event.get("class")
        if event.get("type") != "api" or not isinstance(data_type, str) or not isinstance(api, str):
            continue
        stack = event.get("stack")
        stack = [s for s in stack if isinstance(s, str)] if isinstance(stack, list) else []
        found = actor_for_stack(catalogue, stack, app_code or app_package, api_class if isinstance(api_class, str) else None)
        if found is not None:
            actor, where = found[0], frame_name(found[1])
        else:
            actor, where = UNKNOWN, "?"
        evidence = grouped.setdefault((data_type, actor), {})
        key = (api, where)
        when = _iso(event.get("time"))
        if key not in evidence or (when and when < (evidence[key] or "~")):
            evidence[key] = when
    out = []
    for (data_type, actor), evidence in grouped.items():
        out.append(Observation(
            data_type=data_type, level=Level.INVOKED, actor=actor, source="runtime",
            evidence=tuple(sorted(Evidence("hook", api, where, when) for (api, where), when in evidence.items()))))
    return sorted_observations(out)


# -- sockets: joining proxied requests to the process and thread that opened them ---------------------------
@dataclass(frozen=True)
class SocketRecord:
    local_port: int
    peer: str             # ip:port
    time: float           # host clock (device events corrected by run.json device.clock_offset_s)
    tid: int | None
    backtrace: tuple[str, ...]
    kind: str             # connect | ssl_write
    conn: str | None = None   # the agent's id of a redirected connection (also on the flow: appaudit_conn)


def sockets_from_run(run_dir: str | Path) -> list[SocketRecord]:
    meta = read_run(run_dir)
    device = meta.get("device") if isinstance(meta.get("device"), dict) else {}
    offset = device.get("clock_offset_s") if isinstance(device.get("clock_offset_s"), (int, float)) else 0.0
    out = []
    for event in read_events(run_dir, ("connect", "ssl_write")):
        local, peer = event.get("local") or {}, event.get("peer") or {}
        if not isinstance(local, dict) or not isinstance(peer, dict) or not local.get("port") or not peer:
            continue
        try:
            when = float(event.get("time") or 0) - offset
        except (TypeError, ValueError):
            continue
        out.append(SocketRecord(int(local["port"]), f"{peer.get('ip')}:{peer.get('port')}", when,
                                event.get("tid"), tuple(event.get("backtrace") or ()), event["type"],
                                event.get("conn") if isinstance(event.get("conn"), str) else None))
    return out


def sender_of(client_port: int, when: float, sockets: list[SocketRecord], slack_s: float = 2.0) -> SocketRecord | None:
    """The socket a proxied flow came from: same client port (the proxy's view of the app's local port), the
    latest one opened before the request (ports are reused over a long run)."""
    candidates = [s for s in sockets if s.local_port == client_port and s.time <= when + slack_s]
    if not candidates:
        return None
    connects = [s for s in candidates if s.kind == "connect"] or candidates
    return max(connects, key=lambda s: s.time)


def joined_flows(run_dir: str | Path) -> list[dict]:
    """Each flow of flows.mitm with the socket (thread, backtrace) that sent it, where the agent saw it."""
    from mitmproxy import io as mitm_io
    from mitmproxy.exceptions import FlowReadException

    from .proxy import FLOW_CONN_KEY
    path = Path(run_dir) / "flows.mitm"
    if not path.is_file():
        raise InputError(f"{run_dir}: no flows.mitm")
    sockets = sockets_from_run(run_dir)
    by_conn = {s.conn: s for s in sockets if s.conn is not None}
    # Through `adb reverse` the proxy sees the adb server's ports, never the app's: a client-port match there
    # would be a coincidence, so on a device only the connection id and the request line join.
    device = read_run(run_dir).get("device")
    ports_are_the_apps = not (isinstance(device, dict) and device.get("kind") == "android")
    # TLS writes whose socket could not be named (libcurl's own BIO: SSL_get_fd is -1) still carry the
    # request line: join those by request line and time instead.
    by_line: dict[str, list[dict]] = {}
    for event in read_events(run_dir):
        if event.get("type") == "ssl_write" and event.get("first_line"):
            by_line.setdefault(event["first_line"], []).append(event)
    out = []
    with open(path, "rb") as handle:
        try:
            for flow in mitm_io.FlowReader(handle).stream():
                request = getattr(flow, "request", None)
                if request is None or not flow.client_conn.peername:
                    continue
                # The agent's connection id first (holds through adb reverse), then the client port (host).
                conn = flow.metadata.get(FLOW_CONN_KEY) if isinstance(flow.metadata, dict) else None
                sender, by = by_conn.get(conn), "connection id"
                if sender is None and ports_are_the_apps:
                    sender, by = sender_of(int(flow.client_conn.peername[1]), request.timestamp_start, sockets), \
                        "client port"
                joined = None if sender is None else {"tid": sender.tid, "kind": sender.kind,
                                                      "backtrace": list(sender.backtrace), "by": by}
                if joined is None:
                    line = f"{request.method} {request.path} {request.http_version}"
                    near = [e for e in by_line.get(line, ()) if abs(float(e.get("time", 0)) -
                                                                  request.timestamp_start) < 5]
                    if near:
                        best = min(near, key=lambda e: abs(float(e["time"]) - request.timestamp_start))
                        joined = {"tid": best.get("tid"), "kind": "ssl_write",
                                  "backtrace": list(best.get("backtrace") or ()), "by": "request line"}
                out.append({"flow": flow.id, "url": request.pretty_url,
                            "client_port": flow.client_conn.peername[1], "sender": joined})
        except (FlowReadException, ValueError):
            pass  # torn tail of a killed run
    return out
