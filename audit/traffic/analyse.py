"""Captures + known identifier values -> which identifier left the device, how encoded, to whom (`appaudit.traffic/1`).

`analyse()` is the Python API (used by the rules engine); `TrafficReport.to_json(reveal)` is the on-disk contract:

    schema        "appaudit.traffic/1"
    app           the app package (--app, else what a capture says: tweasel metadata, run.json)
    identifiers   the data types searched for
    captures      [{path, format: har|mitmproxy|pcap|pcapng|run|unknown, status: ok|skipped, requests,
                    partial?: true, reason?}]
    requests      [{id: r1.., time, method, scheme, host, url (matched values redacted), capture, recipient,
                    actor?, note?}]
    transmissions [{data_type, encoding, host, scheme, recipient: {id, name, party, categories}, where, request,
                    actor: {kind, id} | null, value (redacted unless --reveal), value_known,
                    field?, adapter?, reasoning? (when a tracker adapter names the field: rules/trackers/)}]
    bridging      [{scope: request|recipient, recipient, hosts, requests, data_types: [advertising id, persistent..]}]
    observations  model.Observation at level transmitted, source "traffic", recipient + party, evidence
                  kind "request" (ref request id, where "scheme://host where", detail encoding) and "bridging"
    notes, redacted
    partial       true when a capture was skipped or a bound left data unread; then `limits` says which:
    limits        [{limit, bound, where, dropped, unit}] (captures[].limits: the same, per capture)

recipient.id is the catalogue SDK id, "first-party", "org:<domain>" (rules/recipients.yaml), "infrastructure:<tenant
domain>" (cloud / CDN), or "unknown:<registered domain>" (Public Suffix List). `TrafficReport.model_transmissions()`
gives the transmissions as audit.model.Transmission.
"""
from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from ..catalogue import load_catalogue
from ..errors import InputError
from ..escape import json_text
from .. import model
from ..model import Actor, Evidence, Level, Observation, UNKNOWN, sorted_observations
from ..redact import mask_credentials, redact, redact_in, redact_report
from ..rulesdata import Validator, datatypes, load_data
from .adapters import FieldHit, load_adapters, split_where
from .attribution import Attributor, Recipient, join_events
from .captures import CaptureResult, LimitHit, Request, open_capture
from .decode import CaptureBudget, LimitTally, decode_request
from .match import Hit, Identifier, Location, LocationHit, Matcher

SCHEMA = "appaudit.traffic/1"
MAX_EVIDENCE_PER_OBSERVATION = 50


# -- identifiers ------------------------------------------------------------------------------------------
def load_identifiers(path: str | Path) -> dict[str, list]:
    """A JSON/YAML mapping data type -> value(s), validated; keys starting with `_` are comments/metadata."""
    path = Path(path)
    raw = load_data(path, "identifiers file")
    return normalise_identifiers(raw, str(path))


def normalise_identifiers(raw: Any, source: str = "identifiers") -> dict[str, list]:
    check = Validator(source)
    if raw is None:
        return {}
    check.mapping(raw)
    known = datatypes()
    out: dict[str, list] = {}
    for key, value in raw.items():
        coordinates = key in known and known[key].coordinates
        if not isinstance(key, str):
            check.fail(raw, key, "data type keys must be strings")
        if key.startswith("_"):
            continue
        if key not in known:
            close = [k for k in known if k.endswith("." + key) or k.split(".")[-1] == key.split(".")[-1]]
            hint = f" (did you mean {close[0]}?)" if close else ""
            check.fail(raw, key, f"unknown data type {key!r}{hint}; see rules/datatypes.yaml")
        values = value if isinstance(value, list) else [value]
        items = []
        for item in values:
            if coordinates:
                items.append(_location_value(check, raw, key, item, values))
                if items[-1] is None:
                    items.pop()
                    break
                continue
            if isinstance(item, dict):
                item = item.get("value")
            if isinstance(item, bool) or item is None:
                check.fail(raw, key, "expected a string or number (or a list of them)")
            if not isinstance(item, (str, int, float)):
                check.fail(raw, key, f"expected a string or number, found {type(item).__name__}")
            text = str(item).strip()
            if text:
                items.append(text)
        if coordinates and isinstance(value, list) and len(value) == 2 \
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            items = [(float(value[0]), float(value[1]))]
        if items:
            # dict.fromkeys: ordered de-duplication in linear time (`not in list` was quadratic)
            out[key] = list(dict.fromkeys(out.get(key, []) + items))
    return out


def _location_value(check, raw, key, item, values):
    if isinstance(item, dict):
        lat = item.get("lat", item.get("latitude"))
        lon = item.get("lon", item.get("lng", item.get("longitude")))
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in (lat, lon)):
            check.fail(raw, key, "a location needs numeric lat and lon")
        try:
            lat, lon = float(lat), float(lon)
        except ValueError:
            check.fail(raw, key, "a location needs numeric lat and lon")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            check.fail(raw, key, f"location out of range: {lat}, {lon}")
        return (lat, lon)
    if isinstance(item, (int, float)) and not isinstance(item, bool) and len(values) == 2:
        return None  # [lat, lon] as a plain pair: handled by the caller
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return _location_value(check, raw, key, {"lat": item[0], "lon": item[1]}, values)
    check.fail(raw, key, "expected {lat: .., lon: ..} (or a list of them)")


def _run_identifiers(path: str, notes: list[str]) -> dict[str, list]:
    """A run folder's identifiers.json is written by the capture, not typed by the user: a value that cannot be
    searched for is noted and left out, never a reason to refuse the whole run."""
    try:
        raw = load_data(Path(path), "identifiers file")
    except InputError as exc:
        notes.append(f"run identifiers not used: {exc}")
        return {}
    if not isinstance(raw, dict):
        notes.append(f"{path}: not a mapping; not used")
        return {}
    out: dict[str, list] = {}
    for key, value in raw.items():
        try:
            out = merge_identifiers(out, normalise_identifiers({key: value}, path))
        except InputError as exc:
            notes.append(f"run identifier left out: {exc}")
    return out


def merge_identifiers(*sets: dict[str, list]) -> dict[str, list]:
    out: dict[str, list] = {}
    for ids in sets:
        for key, values in (ids or {}).items():
            out[key] = list(dict.fromkeys(out.get(key, []) + list(values)))
    return out


# -- the report -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestInfo:
    id: str
    time: float | None
    method: str
    scheme: str
    host: str
    url: str
    capture: str
    recipient: Recipient
    actor: Actor | None
    secrets: tuple[str, ...] = ()        # matched substrings of the URL, for redaction
    note: str | None = None

    def to_json(self, reveal: bool) -> dict[str, Any]:
        out = {"id": self.id, "time": self.time, "method": self.method, "host": self.host, "scheme": self.scheme,
               "url": mask_credentials(self.url if reveal else redact_in(self.url, list(self.secrets))), "capture": self.capture,
               "recipient": self.recipient.to_json()}
        if self.actor is not None:
            out["actor"] = self.actor.to_json()
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Transmission:
    data_type: str
    encoding: str
    host: str
    scheme: str
    recipient: Recipient
    where: str
    request: str
    value: str
    actor: Actor | None = None
    capture: str = ""
    value_known: bool = True             # False: a tracker adapter read the field; nobody told us the value
    field: str = ""                      # the adapter's field path (also set when a known value was found there)
    adapter: str = ""                    # "<tracker>/<endpoint>" of rules/trackers/
    reasoning: str = ""                  # why the field carries this data type (the adapter's source)
    method: str = ""
    path: str = ""                       # the URL path, without the query

    def to_json(self, reveal: bool) -> dict[str, Any]:
        out = {"data_type": self.data_type, "encoding": self.encoding, "host": self.host, "scheme": self.scheme,
               "recipient": self.recipient.to_json(), "where": self.where, "request": self.request,
               "actor": self.actor.to_json() if self.actor else None,
               "value": self.value if reveal else redact(self.value), "value_known": self.value_known}
        if self.adapter:
            out.update(field=self.field, adapter=self.adapter, reasoning=self.reasoning)
        return out

    def to_model(self) -> model.Transmission:
        """The shared vocabulary's form (audit.model.Transmission), as the rules read it."""
        part, rest = re.match(r"([^.:]*)[.:]?(.*)", self.where).groups()   # "body.json:a.b" -> body, json:a.b
        return model.Transmission(
            data_type=self.data_type, request=self.request, host=self.host, scheme=self.scheme, method=self.method,
            path=self.path, where=(part, rest) if rest else (part,), encoding=self.encoding, value=self.value,
            value_known=self.value_known, recipient=self.recipient.sdk or self.recipient.id,
            party=self.recipient.party, actor=self.actor, capture=self.capture)


@dataclass(frozen=True)
class Bridging:
    """The advertising ID sent together with a persistent identifier: a reset of the ad ID no longer helps."""

    scope: str                           # "request" (one request) | "recipient" (one recipient, one capture)
    recipient: Recipient
    hosts: tuple[str, ...]
    requests: tuple[str, ...]
    data_types: tuple[str, ...]          # the advertising ID first, then the persistent ones

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "recipient": self.recipient.to_json(), "hosts": list(self.hosts),
                "requests": list(self.requests), "data_types": list(self.data_types)}


@dataclass(frozen=True)
class TrafficReport:
    captures: tuple[CaptureResult, ...]
    requests: tuple[RequestInfo, ...]
    transmissions: tuple[Transmission, ...]
    bridging: tuple[Bridging, ...]
    observations: tuple[Observation, ...]
    app_package: str | None
    identifier_types: tuple[str, ...]
    notes: tuple[str, ...] = ()
    identifier_values: tuple[str, ...] = ()   # every value searched for or found: what redaction removes
    matcher: Any = field(default=None, compare=False, repr=False)   # their automaton, reused by redaction
    limits: tuple[LimitHit, ...] = ()    # every bound that left data unread (captures' and decoding's)

    @property
    def partial(self) -> bool:
        return bool(self.limits) or any(c.partial or c.status == "skipped" for c in self.captures)

    def model_transmissions(self) -> list[model.Transmission]:
        return [t.to_model() for t in self.transmissions]

    @property
    def skipped(self) -> list[CaptureResult]:
        return [c for c in self.captures if c.status == "skipped"]

    def to_json(self, reveal: bool = False) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "app": self.app_package,
            "identifiers": list(self.identifier_types),
            "captures": [c.to_json() for c in self.captures],
            "requests": [r.to_json(reveal) for r in self.requests],
            "transmissions": [t.to_json(reveal) for t in self.transmissions],
            "bridging": [b.to_json() for b in self.bridging],
            "observations": [o.to_json() for o in self.observations],
            "notes": list(self.notes),
            "redacted": not reveal,
            "partial": self.partial,
            "limits": [hit.to_json() for hit in self.limits],
            "partial": self.partial,
            "limits": [hit.to_json() for hit in self.limits],
        }


# -- analysis ---------------------------------------------------------------------------------------------
def _build_matcher(identifiers: dict[str, list]) -> Matcher:
    plain, locations = [], []
    for data_type, values in identifiers.items():
        for value in values:
            if isinstance(value, tuple):
                locations.append(Location(data_type, value[0], value[1]))
            else:
                plain.append(Identifier(data_type, value))
    return Matcher(plain, locations)


def _is_child(child: str, parent: str) -> bool:
    return child != parent and child.startswith(parent) and child[len(parent)] in ".:"


MAX_PLACES_PER_VALUE = 200   # one value at more places in one request is reported at the first 200


def _reduce_hits(hits: list[Hit]) -> tuple[list[Hit], int]:
    """One request, many hits of one value: keep the most precise place, with the encoding seen on the wire.

    A base64 value in `query:d` is found twice: as base64 in `query:d` and as plain in its decoded child
    `query:d.base64`. We keep the child's place and the parent's encoding. Returns the hits and how many places
    the per-value bound cut.
    """
    by_value: dict[Identifier, dict[str, Hit]] = {}
    for hit in hits:
        places = by_value.setdefault(hit.identifier, {})
        kept = places.get(hit.where)
        if kept is None or (kept.encoding == "plain" and hit.encoding != "plain"):
            places[hit.where] = hit
    out: list[Hit] = []
    capped = 0
    for ident, places in by_value.items():
        ordered = sorted(places)
        keep = []
        for where in ordered:
            if _has_child(where, ordered):
                continue  # a more precise place exists
            hit = places[where]
            encoding = hit.encoding
            if encoding == "plain":
                encoding = _layer_encoding(where)
            if encoding == "plain":
                for parent in _parents(where):
                    if parent in places and places[parent].encoding != "plain":
                        encoding = places[parent].encoding
                        break
            keep.append(Hit(ident, encoding, where, hit.text))
        capped += max(0, len(keep) - MAX_PLACES_PER_VALUE)
        out.extend(keep[:MAX_PLACES_PER_VALUE])
    return out, capped


def _has_child(where: str, ordered: list[str]) -> bool:
    for sep in ".:":
        prefix = where + sep
        index = bisect.bisect_left(ordered, prefix)
        if index < len(ordered) and ordered[index].startswith(prefix):
            return True
    return False


def _parents(where: str) -> list[str]:
    """`a.b:c.d` -> `a.b:c`, `a.b`, `a` (outermost last is not needed: nearest first)."""
    cuts = [i for i, ch in enumerate(where) if ch in ".:"]
    return [where[:i] for i in reversed(cuts)]


def _layer_encoding(where: str) -> str:
    """A value found plain below a base64 or JWT layer went over the wire in that encoding."""
    layers = re.findall(r"\.(base64url|base64|jwt)(?=[.:]|$)", where)
    if not layers:
        return "plain"
    return "base64" if layers[0] == "base64" else "base64url"


def _url_secrets(request: Request, hits: list[Hit], location_hits: list[LocationHit],
                 fields: list[FieldHit] = ()) -> tuple[str, ...]:
    """Substrings of the URL to redact: whatever matched in it, every query value holding a match, and every
    query value an adapter reads an identifier from."""
    secrets = set()
    from urllib.parse import parse_qsl
    taxonomy = datatypes()
    places = {h.where for h in hits} | {h.where for h in location_hits} | \
        {f.where for f in fields if taxonomy[f.data_type].identifier}
    for hit in hits:
        if hit.where.startswith(("path", "query")):
            secrets.add(hit.text)
    for hit in location_hits:
        if hit.where.startswith(("path", "query")):
            secrets.update(hit.text.split(","))
    if not places:
        return ()  # nothing was found in this request: no URL part to redact (most requests)
    path, _, query = request.target.partition("?")
    pieces = [p for p in path.split("/") if p]
    for place in places:  # a decoded path piece (`path:2.base64`): its text is not in the URL, the piece is
        match = re.match(r"path:(\d+)", place)
        if match and int(match.group(1)) < len(pieces):
            secrets.add(pieces[int(match.group(1))])
    for chunk in query.split("&"):
        name, _, value = chunk.partition("=")
        decoded_name = parse_qsl(chunk, keep_blank_values=True)
        key = f"query:{decoded_name[0][0]}" if decoded_name else f"query:{name}"
        if value and any(p == key or _is_child(p, key) for p in places):
            secrets.add(value)
    return tuple(sorted(secrets, key=len, reverse=True))


def analyse(captures: Iterable[str | Path], identifiers: dict | None = None, app_package: str | None = None,
            extra_trackers: Iterable[str | Path] = (), first_party_domains: Iterable[str] = (),
            app_code: Any = None) -> TrafficReport:
    """`app_code`: the attribution.AppContext of the scanned APK (first party from its manifest), when known."""
    captures = [Path(c) for c in captures]
    if not captures:
        raise InputError("no capture given")
    results = [open_capture(path) for path in captures]  # requests are read one at a time below
    readable = [r for r in results if r.status != "skipped"]
    if not readable:
        reasons = "; ".join(f"{r.path}: {r.reason}" for r in results)
        raise InputError(f"nothing could be analysed: {reasons}")

    given = normalise_identifiers(identifiers, "identifiers") if identifiers else {}
    notes: list[str] = []
    from_runs = [_run_identifiers(r.identifiers_path, notes) for r in readable if r.identifiers_path]
    all_ids = merge_identifiers(*from_runs, given)
    if not all_ids:
        notes.append("no identifiers given: no known value searched for; what the tracker adapters read is listed "
                     "(value_known: false)")
    app = app_package or next((r.app_package for r in readable if r.app_package), None)
    catalogue = load_catalogue(tuple(str(p) for p in extra_trackers))
    attributor = Attributor(catalogue, app, first_party_domains, app_code)
    matcher = _build_matcher(all_ids)
    adapters = load_adapters()

    requests: list[RequestInfo] = []
    transmissions: list[Transmission] = []
    counter = 0
    cut_short = 0
    places_capped = 0
    tally = LimitTally()
    for result in readable:
        stacks = _event_stacks(result, counter) if result.events else {}
        budget = CaptureBudget(_size(result.path))
        for request in result.stream():
            counter += 1
            request_id = f"r{counter}"
            recipient = attributor.recipient(request.host) if request.host else \
                Recipient("unknown:", "unknown organisation", "third")
            frames = request.stack or stacks.get(request_id, ())
            actor = attributor.actor_from_stack(frames) if frames else None
            decoded = decode_request(request, budget)
            segments = decoded.segments
            cut_short += decoded.exhausted
            hits, location_hits = matcher.find(segments)
            hits, capped = _reduce_hits(hits)
            places_capped += bool(capped)
            if capped:
                decoded.limits["places per value"] = (MAX_PLACES_PER_VALUE, "places", "hits", capped)
            tally.add(result.path, request_id, decoded.limits)
            fields = adapters.find(request, segments)
            common = dict(host=request.host, scheme=request.scheme, recipient=recipient, request=request_id,
                          actor=actor, capture=result.path, method=request.method,
                          path=(request.target or "/").partition("?")[0])
            sent = [Transmission(hit.identifier.data_type, hit.encoding, where=hit.where, value=hit.identifier.value,
                                 **common) for hit in hits]
            sent += [Transmission(hit.data_type, "plain", where=hit.where, value=hit.text, **common)
                     for hit in location_hits]
            transmissions += _with_fields(sent, fields, common)
            requests.append(RequestInfo(request_id, request.time, request.method, request.scheme, request.host,
                                        request.url, result.path, recipient, actor,
                                        _url_secrets(request, hits, location_hits, fields), request.note))
    readable = [r for r in results if r.status != "skipped"]  # a capture may turn out unreadable when read
    if not readable:
        reasons = "; ".join(f"{r.path}: {r.reason}" for r in results)
        raise InputError(f"nothing could be analysed: {reasons}")
    for result in readable:  # what decoding left out of a capture's requests: that capture was searched in part
        searched_in_part = tally.hits(result.path)
        result.limits.extend(searched_in_part)
        result.partial |= bool(searched_in_part)
    limits = [hit for result in results for hit in result.limits]
    if cut_short:
        notes.append(f"{cut_short} request(s) were larger than the decoding bounds; searched in part")
    if places_capped:
        notes.append(f"{places_capped} request(s) carried one value at more than {MAX_PLACES_PER_VALUE} places; "
                     "the first are listed")
    transmissions = _sorted_transmissions(transmissions)
    bridging = _bridging(transmissions)
    observations = _observations(transmissions, bridging)
    values = {str(v) for vs in all_ids.values() for v in vs if not isinstance(v, tuple)}
    # Values an adapter read are redacted everywhere only for identifier types: a model name, a locale or an app
    # version ("Android", "en") would otherwise be cut out of every sentence of the report.
    taxonomy = datatypes()
    values.update(t.value for t in transmissions
                  if t.value and t.data_type in taxonomy and taxonomy[t.data_type].identifier)
    notes += [f"limit reached: {hit.limit} ({hit.bound}) at {hit.where}: {hit.dropped} {hit.unit} left unread"
              for hit in limits]
    return TrafficReport(tuple(results), tuple(requests), tuple(transmissions), tuple(bridging),
                         tuple(observations), app, tuple(sorted(all_ids)), tuple(notes), tuple(sorted(values)),
                         matcher, tuple(limits))


def _event_stacks(result: CaptureResult, counter: int) -> dict[str, tuple]:
    """Frida events name a request's sender: joined over the whole capture first, on requests without bodies."""
    light = [(f"r{counter + index}", replace(request, body=b""))
             for index, request in enumerate(result.stream(), 1)]
    return join_events(light, result.events)


def _size(path: str) -> int:
    target = Path(path)
    try:
        if target.is_dir():
            return sum(p.stat().st_size for p in target.iterdir() if p.is_file())
        return target.stat().st_size
    except OSError:
        return 0


def _with_fields(sent: list[Transmission], fields: list[FieldHit], common: dict) -> list[Transmission]:
    """Known-value transmissions plus what the tracker adapters read. Where a known value was found at a field an
    adapter names, the two are one transmission: the known value's data type (what the auditor knows it is),
    with the adapter's field path and reasoning."""
    if not fields:
        return sent
    by_place: dict[tuple, FieldHit] = {(f.part, f.keys): f for f in fields}
    claimed: set[tuple] = set()
    out = []
    for t in sent:
        part, _, keys = split_where(t.where)
        field = by_place.get((part, keys))
        if field is not None:
            claimed.add((part, keys))
            t = replace(t, field=field.field, adapter=field.adapter, reasoning=field.reasoning)
        out.append(t)
    for f in fields:
        if (f.part, f.keys) not in claimed:
            out.append(Transmission(f.data_type, _layer_encoding(f.where), where=f.where, value=f.value,
                                    value_known=False, field=f.field, adapter=f.adapter, reasoning=f.reasoning,
                                    **common))
    return out


def _sorted_transmissions(items: list[Transmission]) -> list[Transmission]:
    unique = list(dict.fromkeys(items))
    return sorted(unique, key=lambda t: (int(t.request[1:]), t.data_type, t.where, t.encoding))


def _bridging(transmissions: list[Transmission]) -> list[Bridging]:
    """A resettable identifier (rules/datatypes.yaml: the advertising ID) sent with persistent ones."""
    taxonomy = datatypes()
    persistent = {k for k, v in taxonomy.items() if v.persistent}
    resettable = sorted(k for k, v in taxonomy.items() if v.resettable)
    out: list[Bridging] = []
    by_request: dict[str, list[Transmission]] = {}
    for t in transmissions:
        by_request.setdefault(t.request, []).append(t)
    for request_id, group in by_request.items():
        types = {t.data_type for t in group}
        linked = sorted(types & persistent)
        for anchor in resettable:
            if anchor in types and linked:
                out.append(Bridging("request", group[0].recipient, (group[0].host,), (request_id,),
                                    (anchor, *linked)))
    # One recipient within one session (capture) collecting both, in different requests.
    by_recipient: dict[tuple[str, str], list[Transmission]] = {}
    for t in transmissions:
        by_recipient.setdefault((t.capture, t.recipient.id), []).append(t)
    for ((capture, recipient_id), group), anchor in itertools.product(by_recipient.items(), resettable):
        ad = [t for t in group if t.data_type == anchor]
        other = [t for t in group if t.data_type in persistent]
        if not ad or not other:
            continue
        ad_requests = {t.request for t in ad}
        other_requests = {t.request for t in other}
        if ad_requests & other_requests and ad_requests == other_requests:
            continue  # fully covered by the per-request entries
        requests = sorted(ad_requests | other_requests, key=lambda r: int(r[1:]))
        hosts = tuple(sorted({t.host for t in ad + other}))
        out.append(Bridging("recipient", group[0].recipient, hosts, tuple(requests),
                            (anchor, *sorted({t.data_type for t in other}))))
    return out


def _observations(transmissions: list[Transmission], bridging: list[Bridging]) -> list[Observation]:
    groups: dict[tuple, list[Transmission]] = {}
    for t in transmissions:
        groups.setdefault((t.data_type, t.actor or UNKNOWN, t.recipient.id, t.recipient.party), []).append(t)
    out = []
    bridged = {}
    for b in bridging:
        for data_type in b.data_types:
            bridged.setdefault((data_type, b.recipient.id), []).append(b)
    for (data_type, actor, recipient, party), group in groups.items():
        evidence = [Evidence("request", t.request, f"{t.scheme}://{t.host} {t.where}", t.encoding)
                    for t in group[:MAX_EVIDENCE_PER_OBSERVATION]]
        for b in bridged.get((data_type, recipient), [])[:5]:
            evidence.append(Evidence("bridging", "+".join(b.data_types), ",".join(b.requests[:10]), b.scope))
        out.append(Observation(data_type, Level.TRANSMITTED, actor, "traffic", tuple(sorted(set(evidence))),
                               recipient, party))
    return sorted_observations(out)


def dumps(report: TrafficReport, reveal: bool = False) -> str:
    """`audit.report.dumps_json` of the (redacted) report, byte for byte, by a faster writer."""
    from .jsonout import dumps_indented
    data = report.to_json(reveal)
    text = dumps_indented(data if reveal else redact_report(data, report.identifier_values, report.matcher)) + "\n"
    return json_text(text)


from .markdown import to_markdown  # noqa: E402  (re-exported: the report and its Markdown form go together)

__all__ = ["analyse", "load_identifiers", "TrafficReport", "Transmission", "Bridging", "to_markdown"]
