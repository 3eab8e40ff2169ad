"""Captures + known identifier values -> which identifier left the device, how encoded, to whom (`appaudit.traffic/2`).

`analyse()` is the Python API: its transmissions are `audit.model.Transmission`, the type the rules read, made
here and nowhere else. `TrafficReport.to_json(reveal)` is the on-disk contract:

    schema        "appaudit.traffic/2"  (/1 repeated recipient and reasoning in every transmission and listed the
                  same transmission once per request; /2 refers to tables and lists the requests that sent it)
    app           the app package (--app, else what a capture says: tweasel metadata, run.json)
    identifiers   the data types searched for
    captures      [{path, format: har|mitmproxy|pcap|pcapng|run|unknown, status: ok|skipped, requests,
                    partial?: true, reason?}]
    recipients    {id: {id, name, party, categories, country?, privacy_contact?}}: who received, by id
    requests      [{id: r1.., time, method, scheme, host, url (matched values redacted), capture, recipient (id),
                    actor?, note?}]
    transmissions [{data_type, encoding, host, scheme, method, path, recipient (id), where, request (the first),
                    requests (every request that sent the same, in order), count, actor: {kind, id} | null,
                    value (redacted unless --reveal), value_known, field?, adapter? (when a tracker adapter names
                    the field: rules/trackers/)}]: one per data type, value and place of one endpoint
    reasonings    {adapter: {field: why the field carries its data type (the adapter's source)}}
    bridging      [{scope: request|recipient, recipient (id), hosts, requests, data_types: [advertising id, ..]}]
    observations  model.Observation at level transmitted, source "traffic", recipient + party, evidence
                  kind "request" (ref request id, where "scheme://host where", detail encoding) and "bridging"
    notes, redacted
    partial       true when a capture was skipped or a bound left data unread; then `limits` says which:
    limits        [{limit, bound, where, dropped, unit}] (captures[].limits: the same, per capture)

recipient ids are the catalogue SDK id, "first-party", "org:<domain>" (rules/recipients.yaml), "infrastructure:<tenant
domain>" (cloud / CDN), or "unknown:<registered domain>" (Public Suffix List). `where` is kept as a tuple (the
part with its decoding layers, then each key path below a layer) and written `body.json:a.b` by the writers.
"""
from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import marshal
import re
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import unquote

from ..catalogue import load_catalogue
from ..errors import InputError
from ..escape import json_text
from ..model import Actor, ActorKind, Evidence, Level, Observation, Transmission, UNKNOWN, sorted_observations, where_text
from ..redact import mask_credentials, redact, redact_in, report_redactor
from ..rulesdata import Validator, datatypes, load_data
from .adapters import FieldHit, load_adapters, split_where
from .attribution import Attributor, Recipient, join_events
from .captures import CaptureResult, LimitHit, Request, open_capture
from .decode import CaptureBudget, Decoded, LimitTally, decode_request
from .jsonout import Lines, Rendered, compact, iter_lines, scalar
from .match import Hit, Identifier, Location, LocationHit, Matcher

SCHEMA = "appaudit.traffic/2"
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
Scrub = Callable[[str], str]


def _kept(text: str) -> str:
    return text


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

    def shown_url(self, reveal: bool) -> str:
        """The URL as a report may show it: credentials masked always, matched values unless `reveal`."""
        return mask_credentials(self.url if reveal else redact_in(self.url, list(self.secrets)))

    def to_json(self, reveal: bool, scrub: Scrub = _kept) -> dict[str, Any]:
        out = {"id": self.id, "time": self.time, "method": self.method, "host": scrub(self.host),
               "scheme": self.scheme, "url": scrub(self.shown_url(reveal)), "capture": scrub(self.capture),
               "recipient": scrub(self.recipient.id)}
        if self.actor is not None:
            out["actor"] = self.actor.to_json()
        if self.note:
            out["note"] = scrub(self.note)
        return out


class RequestLog(Sequence[RequestInfo]):
    """The requests of an analysis, kept in an anonymous temporary file as they are read (one marshal record
    each) and read back in order when a report is written: memory holds 9 bytes per request (and the last few
    hundred, until written), whatever the size of the captures. Recipients are restored from the analysis's
    table (by id).

    Each request's line of the JSON report is rendered once, as it is appended, into a second temporary file:
    what a redacted report writes before the report-wide redaction, whose values are known only at the end.
    `json_blocks` reads those lines back in blocks, and re-renders from its record (the exact path) only a line
    that redaction could change (Redactor.may_change, over a block at once) or, under --reveal, whose URL had
    a matched value redacted."""

    def __init__(self, recipients: dict[str, Recipient]) -> None:
        self._file = tempfile.TemporaryFile()
        self._offsets = array("Q")
        self._end = 0
        self._lines = tempfile.TemporaryFile()
        self._lines_end = 0
        self._pending: list[bytes] = []        # records and lines appended, not yet written
        self._pending_lines: list[bytes] = []
        self._url_redacted = bytearray()    # per request: 1 when its URL shows differently under --reveal
        self._recipients = recipients

    def append(self, info: RequestInfo) -> None:
        self.add(info.id, info.time, info.method, info.scheme, info.host, info.url, info.capture, info.recipient,
                 info.actor, info.secrets, info.note)

    def add(self, request_id: str, time: float | None, method: str, scheme: str, host: str, url: str, capture: str,
            recipient: Recipient, actor: Actor | None, secrets: tuple[str, ...], note: str | None) -> None:
        """Append the request of these fields (a RequestInfo's, without making one)."""
        record = marshal.dumps((request_id, time, method, scheme, host, url, capture, recipient.id,
                                (actor.kind.value, actor.id) if actor is not None else None, secrets, note))
        self._offsets.append(self._end)
        self._pending.append(len(record).to_bytes(4, "little") + record)
        self._end += 4 + len(record)
        shown = redact_in(url, secrets) if secrets else url
        self._url_redacted.append(shown is not url and shown != url)
        line = "".join((_request_head(actor, capture), scalar(host), ', "id": ', scalar(request_id), ', "method": ',
                        scalar(method), ', "note": ' + scalar(note) if note else "", ', "recipient": ',
                        scalar(recipient.id), ', "scheme": ', scalar(scheme), ', "time": ', scalar(time),
                        ', "url": ', scalar(mask_credentials(shown)), "}\n")).encode("utf-8", "surrogatepass")
        self._pending_lines.append(line)
        self._lines_end += len(line)
        if len(self._pending_lines) >= 256:
            self._flush()

    def _flush(self) -> None:
        """Write what was appended since the last flush, at the files' ends (a read may have moved their
        positions): one write per file and 256 requests, not two per request."""
        if self._pending:
            self._file.seek(0, 2)
            self._file.write(b"".join(self._pending))
            self._lines.seek(0, 2)
            self._lines.write(b"".join(self._pending_lines))
            self._pending.clear()
            self._pending_lines.clear()

    def _read(self, offset: int) -> tuple[RequestInfo, int]:
        """The record at `offset` and the offset of the next (each read seeks: a lookup by index while the
        records are iterated moves nothing the iteration relies on)."""
        self._flush()
        self._file.seek(offset)
        size = int.from_bytes(self._file.read(4), "little")
        (request_id, time, method, scheme, host, url, capture, recipient, actor, secrets,
         note) = marshal.loads(self._file.read(size))
        return RequestInfo(request_id, time, method, scheme, host, url, capture, self._recipients[recipient],
                           Actor(ActorKind(actor[0]), actor[1]) if actor is not None else None, secrets,
                           note), offset + 4 + size

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._read(self._offsets[index])[0]

    def __iter__(self) -> Iterator[RequestInfo]:
        offset = 0
        for _ in range(len(self._offsets)):
            info, offset = self._read(offset)
            yield info

    def json_blocks(self, reveal: bool, redactor: Any = None) -> Iterator[str]:
        """The requests as the JSON report writes them (`compact(info.to_json(reveal, redactor.text))` each),
        in blocks of lines (jsonout.Lines). `redactor`: the report-wide one, None under --reveal."""
        def exact(index: int) -> str:
            return compact(self[index].to_json(reveal, redactor.text if redactor is not None else _kept))

        if reveal:
            def changes(first: int, block: str) -> bool:
                return self._url_redacted.find(1, first, first + block.count("\n") + 1) >= 0
        else:
            changes = _redaction_changes(redactor)

        self._flush()
        index, position, rest = 0, 0, b""
        while position < self._lines_end:
            self._lines.seek(position)
            data = rest + self._lines.read(LINES_BLOCK)
            position += len(data) - len(rest)
            cut = data.rfind(b"\n")
            if cut < 0:           # a line longer than a block: read on
                rest = data
                continue
            block, rest = data[:cut].decode("utf-8", "surrogatepass"), data[cut + 1:]
            yield _checked(block, index, changes, exact)
            index += block.count("\n") + 1


LINES_BLOCK = 1 << 16     # bytes of JSON lines read, checked and written at once


def _checked(block: str, first: int, changes: Callable[[int, str], bool], exact: Callable[[int], str]) -> str:
    """`block` (JSON lines, the first the element numbered `first`) with each line that `changes` says may
    differ replaced by `exact(its number)`: a block it passes is kept whole, one it flags is halved until the
    lines it flags are found (a few hits cost a few checks of ever smaller blocks)."""
    if not changes(first, block):
        return block
    if "\n" not in block:
        return exact(first)
    lines = block.split("\n")
    half = len(lines) // 2
    return (_checked("\n".join(lines[:half]), first, changes, exact) + "\n"
            + _checked("\n".join(lines[half:]), first + half, changes, exact))


@functools.lru_cache(maxsize=1024)
def _request_head(actor: Actor | None, capture: str) -> str:
    """The start of a request's JSON line, to the host's value: `compact(info.to_json(False))` is the
    template of RequestLog.add, keys in their sorted order."""
    return ('{"actor": ' + _actor_json(actor) + ', "capture": ' if actor is not None else '{"capture": ') + \
        scalar(capture) + ', "host": '


@functools.lru_cache(maxsize=1024)
def _actor_json(actor: Actor) -> str:
    return compact(actor.to_json())


def _transmission_json(t: Transmission, path: str, reveal: bool, scrub: Scrub) -> dict[str, Any]:
    """One transmission of `appaudit.traffic/2`: the same data type at the same place of the same endpoint, once,
    with every request that sent it (`requests`, `count`); its recipient and its adapter's reasoning by reference.
    `path`: its URL path as shown (TrafficReport._shown_paths)."""
    out = {"data_type": t.data_type, "encoding": t.encoding, "host": scrub(t.host), "scheme": t.scheme,
           "method": t.method, "path": scrub(path), "recipient": scrub(t.recipient or ""),
           "where": scrub(where_text(t.where)), "request": t.request, "requests": list(t.all_requests),
           "count": t.count, "actor": t.actor.to_json() if t.actor else None,
           "value": scrub(t.value if reveal else redact(t.value)), "value_known": t.value_known}
    if t.adapter:
        out.update(field=t.field, adapter=t.adapter)
    return out


def _transmission_lines(shown: Iterable[tuple[Transmission, str]], reveal: bool, redactor: Any) -> Iterator[str]:
    """`compact(_transmission_json(t, path, reveal, scrub))` of each (transmission, path as shown), one a line,
    from a template, in blocks of about LINES_BLOCK characters (a line of thousands of request ids alone). The
    strings redaction applies to are checked a batch at once (Redactor.may_change over them joined), each one
    only if that check fails."""
    shown = iter(shown)
    lines: list[str] = []
    size = 0
    while batch := list(itertools.islice(shown, 256)):
        rows = [(t, t.host, path, t.recipient or "", where_text(t.where), t.value if reveal else redact(t.value))
                for t, path in batch]
        if redactor is not None and redactor.active:
            strings = {text for row in rows for text in row[1:] if isinstance(text, str)}
            if redactor.may_change("\n".join(strings)):
                scrub = redactor.text
                rows = [(row[0], *map(scrub, row[1:])) for row in rows]
        for row in rows:
            line = _transmission_line(*row)
            lines.append(line)
            size += len(line)
            if size >= LINES_BLOCK:
                yield "\n".join(lines)
                lines, size = [], 0
    if lines:
        yield "\n".join(lines)


def _transmission_line(t: Transmission, host: str, path: str, recipient: str, where: str, value: Any) -> str:
    """`compact(_transmission_json(t, path, reveal, scrub))`, given its strings as shown (scrubbed)."""
    requests = t.requests
    return "".join((
        '{"actor": ', _actor_json(t.actor) if t.actor else "null",
        ', "adapter": ' + scalar(t.adapter) + ', "count": ' if t.adapter else ', "count": ', scalar(t.count),
        ', "data_type": ', scalar(t.data_type), ', "encoding": ', scalar(t.encoding),
        ', "field": ' + scalar(t.field) + ', "host": ' if t.adapter else ', "host": ', scalar(host),
        ', "method": ', scalar(t.method), ', "path": ', scalar(path), ', "recipient": ', scalar(recipient),
        ', "request": ', scalar(t.request), ', "requests": ',
        requests.json_text() if type(requests) is RequestIds else compact(list(requests or (t.request,))),
        ', "scheme": ', scalar(t.scheme), ', "value": ', scalar(value), ', "value_known": ', scalar(t.value_known),
        ', "where": ', scalar(where), "}"))


def _redaction_changes(redactor: Any) -> Callable[[int, str], bool]:
    """For `_checked`: whether the report-wide redaction may change a line of a block. A line with a JSON
    escape is always checked line by line: its strings are not stretches of its text there."""
    if redactor is None or not redactor.active:
        return lambda first, block: False
    return lambda first, block: "\\" in block or redactor.may_change(block)


@dataclass(frozen=True)
class Bridging:
    """The advertising ID sent together with a persistent identifier: a reset of the ad ID no longer helps."""

    scope: str                           # "request" (each of the requests) | "recipient" (one recipient, one capture)
    recipient: Recipient
    hosts: tuple[str, ...]
    requests: Sequence[str]
    data_types: tuple[str, ...]          # the advertising ID first, then the persistent ones

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "recipient": self.recipient.id, "hosts": list(self.hosts),
                "requests": list(self.requests), "data_types": list(self.data_types)}


@dataclass(frozen=True)
class TrafficReport:
    captures: tuple[CaptureResult, ...]
    requests: Sequence[RequestInfo]      # a RequestLog: read back from disk in order
    transmissions: tuple[Transmission, ...]
    bridging: tuple[Bridging, ...]
    observations: tuple[Observation, ...]
    app_package: str | None
    identifier_types: tuple[str, ...]
    notes: tuple[str, ...] = ()
    identifier_values: tuple[str, ...] = ()   # every value searched for or found: what redaction removes
    matcher: Any = field(default=None, compare=False, repr=False)   # their automaton, reused by redaction
    limits: tuple[LimitHit, ...] = ()    # every bound that left data unread (captures' and decoding's)
    recipients: dict[str, Recipient] = field(default_factory=dict, compare=False)   # by id: who received
    reasonings: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)   # (adapter, field) -> why
    redacted_paths: tuple[str, ...] = ()     # each transmission's URL path as a redacted report shows it

    @property
    def partial(self) -> bool:
        return bool(self.limits) or any(c.partial or c.status == "skipped" for c in self.captures)

    @property
    def skipped(self) -> list[CaptureResult]:
        return [c for c in self.captures if c.status == "skipped"]

    def recipient(self, sent: Transmission) -> Recipient:
        return self.recipients[sent.recipient]

    def reasoning(self, sent: Transmission) -> str:
        """Why the adapter says the field carries the data type (its source), "" when no adapter named it."""
        return self.reasonings.get((sent.adapter, sent.field), "")

    def shown_transmissions(self, reveal: bool) -> list[Transmission]:
        """The transmissions as the rules and other reports may keep them: values redacted unless `reveal`, the
        URL path with the matched values of its first request redacted and credentials masked always."""
        return [replace(sent, path=path, value=(sent.value if reveal else redact(sent.value)) if sent.value else None)
                for sent, path in self._shown_paths(reveal)]

    def _shown_paths(self, reveal: bool) -> Iterable[tuple[Transmission, str]]:
        """Each transmission with its URL path as shown: credentials masked always, and unless `reveal` what its
        first request's URL carried (as that request's shown URL)."""
        if reveal or len(self.redacted_paths) != len(self.transmissions):
            return ((sent, mask_credentials(sent.path)) for sent in self.transmissions)
        return zip(self.transmissions, self.redacted_paths)

    def json_lines(self, reveal: bool, redactor: Any = None) -> dict[str, Lines]:
        """The requests and transmissions as the JSON report writes them, in blocks of lines (jsonout.Lines):
        each what `to_json(reveal, redactor.text)` makes of it, rendered from a template (requests as they
        were appended) and redacted report-wide only where redaction may change it. `redactor`: None under
        --reveal."""
        if isinstance(self.requests, RequestLog):
            request_blocks = self.requests.json_blocks(reveal, redactor)
        else:   # requests given otherwise (a report made by hand): each line by the exact path
            scrub = redactor.text if redactor is not None else _kept
            request_blocks = (compact(info.to_json(reveal, scrub)) for info in self.requests)
        transmission_blocks = _transmission_lines(self._shown_paths(reveal), reveal, redactor)
        return {"requests": Lines(request_blocks), "transmissions": Lines(transmission_blocks)}

    def to_json(self, reveal: bool = False, scrub: Scrub = _kept, lazy: bool = False) -> dict[str, Any]:
        """The report as `appaudit.traffic/2`. `scrub` redacts a captured string (identifier values wherever
        they appear): applied to the fields that hold what a capture carried, never walked over the whole.
        `lazy`: requests and transmissions as jsonout.Rendered lists, made while they are written."""
        requests = Rendered(self.requests, lambda r: r.to_json(reveal, scrub))
        transmissions = Rendered(self._shown_paths(reveal) if lazy else list(self._shown_paths(reveal)),
                                 lambda shown: _transmission_json(*shown, reveal, scrub))
        reasonings: dict[str, dict[str, str]] = {}
        for t in self.transmissions:
            if t.adapter:
                reasonings.setdefault(t.adapter, {})[t.field] = self.reasonings.get((t.adapter, t.field), "")
        return {
            "schema": SCHEMA,
            "app": self.app_package,
            "identifiers": list(self.identifier_types),
            "captures": [c.to_json() for c in self.captures],
            "recipients": {scrub(key): _recipient_json(r, scrub) for key, r in sorted(self.recipients.items())},
            "requests": requests if lazy else list(requests.items),
            "transmissions": transmissions if lazy else list(transmissions.items),
            "reasonings": reasonings,
            "bridging": [b.to_json() for b in self.bridging],
            "observations": [o.to_json() for o in self.observations],
            "notes": list(self.notes),
            "redacted": not reveal,
            "partial": self.partial,
            "limits": [hit.to_json() for hit in self.limits],
        }


def _recipient_json(recipient: Recipient, scrub: Scrub) -> dict[str, Any]:
    out = recipient.to_json()
    out["id"] = scrub(out["id"])
    out["name"] = scrub(out["name"])
    return out


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
    ident = places = None
    for hit in hits:
        if hit.identifier is not ident:   # hits of one value come together: one lookup (and hash) for them
            ident = hit.identifier
            places = by_value.get(ident)
            if places is None:
                places = by_value[ident] = {}
        kept = places.get(hit.where)
        if kept is None or (kept.encoding == "plain" and hit.encoding != "plain"):
            places[hit.where] = hit
    out: list[Hit] = []
    capped = 0
    for ident, places in by_value.items():
        if len(places) == 1:   # one place: no child, no parent (most values)
            (where, hit), = places.items()
            encoding = hit.encoding
            if encoding == "plain":
                encoding = _layer_encoding(where)
            out.append(hit if encoding == hit.encoding else Hit(ident, encoding, where, hit.text))
            continue
        ordered = sorted(places)
        # only a place found in another encoding than plain can lend its encoding to a place below it
        encoded = {where: hit.encoding for where, hit in places.items() if hit.encoding != "plain"}
        keep = []
        for where in ordered:
            if _has_child(where, ordered):
                continue  # a more precise place exists
            hit = places[where]
            encoding = hit.encoding
            if encoding == "plain":
                encoding = _layer_encoding(where)
            if encoding == "plain" and encoded:
                encoding = _parent_encoding(where, encoded)
            keep.append(hit if encoding == hit.encoding else Hit(ident, encoding, where, hit.text))
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


def _parent_encoding(where: str, encoded: dict[str, str]) -> str:
    """The encoding of the nearest enclosing place among `encoded` (place -> its encoding, not plain): for
    `a.b:c.d`, `a.b:c`, then `a.b`, then `a`; plain when none is. Few places: each is tried as a prefix;
    many: the place is walked from its end, one prefix at a time (no list of every prefix is made)."""
    if len(encoded) <= 8:
        nearest = None
        for place in encoded:
            if len(place) < len(where) and where[len(place)] in ".:" and where.startswith(place) \
                    and (nearest is None or len(place) > len(nearest)):
                nearest = place
        return "plain" if nearest is None else encoded[nearest]
    end = len(where)
    while True:
        cut = max(where.rfind(".", 0, end), where.rfind(":", 0, end))
        if cut < 0:
            return "plain"
        encoding = encoded.get(where[:cut])
        if encoding is not None:
            return encoding
        end = cut


@functools.lru_cache(maxsize=1 << 14)
def _layer_encoding(where: str) -> str:
    """A value found plain below a base64 or JWT layer went over the wire in that encoding."""
    layers = re.findall(r"\.(base64url|base64|jwt)(?=[.:]|$)", where)
    if not layers:
        return "plain"
    return "base64" if layers[0] == "base64" else "base64url"


def _url_secrets(request: Request, hits: list[Hit], location_hits: list[LocationHit],
                 fields: list[FieldHit], identifier_types: frozenset[str]) -> tuple[str, ...]:
    """Substrings of the URL to redact: whatever matched in it, every query value holding a match, and every
    query value an adapter reads an identifier (a data type of `identifier_types`) from."""
    secrets = set()
    for hit in hits:
        if hit.where.startswith(("path", "query")):
            secrets.add(hit.text)
    for hit in location_hits:
        if hit.where.startswith(("path", "query")):
            secrets.update(hit.text.split(","))
    # the places in the URL where something was found: only these name more of it to redact
    url_parts = ("path:", "query:")
    in_url = {h.where for h in hits if h.where.startswith(url_parts)}
    in_url.update(h.where for h in location_hits if h.where.startswith(url_parts))
    in_url |= {f.where for f in fields if f.data_type in identifier_types and f.where.startswith(url_parts)}
    if not in_url:
        return tuple(sorted(secrets, key=len, reverse=True))
    path, _, query = request.target.partition("?")
    in_path = [place for place in in_url if place.startswith("path:")]
    in_query = [place for place in in_url if place.startswith("query:")]
    if in_path:
        pieces = [p for p in path.split("/") if p]
        for place in in_path:  # a decoded path piece (`path:2.base64`): its text is not in the URL, the piece is
            match = re.match(r"path:(\d+)", place)
            if match and int(match.group(1)) < len(pieces):
                secrets.add(pieces[int(match.group(1))])
    for chunk in query.split("&") if in_query else ():
        name, _, value = chunk.partition("=")
        if not value:
            continue
        # the name as parse_qsl decodes it (what the decoder names the place by), without its call per chunk
        key = "query:" + (unquote(name.replace("+", " ")) if "%" in name or "+" in name else name)
        if any(p == key or _is_child(p, key) for p in in_query):
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

    found = _Found()
    requests = RequestLog(found.recipients)
    identifier_types = frozenset(key for key, entry in datatypes().items() if entry.identifier)
    searching = bool(matcher.needle_count or matcher.locations)
    counter = 0
    cut_short = 0
    places_capped = 0
    tally = LimitTally()
    # Attribution depends on the host alone: each host is attributed once (the first request of each recipient
    # still enters found.recipients first, so its order is unchanged); bounded like Attributor's own cache.
    by_host: dict[str, Recipient] = {}
    for result in readable:
        stacks = _event_stacks(result, counter) if result.events else {}
        budget = CaptureBudget(_size(result.path))
        for request in result.stream():
            counter += 1
            request_id = f"r{counter}"
            recipient = by_host.get(request.host)
            if recipient is None:
                recipient = attributor.recipient(request.host) if request.host else NO_HOST
                if len(by_host) >= MAX_HOSTS_REMEMBERED:
                    by_host.clear()
                by_host[request.host] = recipient
                found.recipients.setdefault(recipient.id, recipient)
            frames = request.stack or stacks.get(request_id, ())
            actor = attributor.actor_from_stack(frames) if frames else None
            if searching or adapters.endpoints_for(request):
                decoded = decode_request(request, budget)
            else:   # no value to look for and no adapter to read it: decoding would find nothing to report
                decoded = Decoded([], {})
            segments = decoded.segments
            cut_short += decoded.exhausted
            hits, location_hits = matcher.find(segments)
            if hits:
                hits, capped = _reduce_hits(hits)
                if capped:
                    places_capped += 1
                    decoded.limits["places per value"] = (MAX_PLACES_PER_VALUE, "places", "hits", capped)
            if decoded.limits:
                tally.add(result.path, request_id, decoded.limits)
            fields = adapters.find(request, segments, decoded.booleans)
            # most requests carry nothing found: no secrets to look for, nothing to add
            if hits or location_hits or fields:
                secrets = _url_secrets(request, hits, location_hits, fields, identifier_types)
                sent = [(hit.identifier.data_type, hit.encoding, hit.where, hit.identifier.value)
                        for hit in hits]
                if location_hits:
                    sent += [(hit.data_type, "plain", hit.where, hit.text) for hit in location_hits]
                common = (request.host, request.scheme, request.method, (request.target or "/").partition("?")[0],
                          recipient.id, recipient.party, actor, result.path)
                found.add_request(common, _with_fields(sent, fields), counter, secrets)
            else:
                secrets = ()
            requests.add(request_id, request.time, request.method, request.scheme, request.host, request.url,
                         result.path, recipient, actor, secrets, request.note)
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
    if found.cut:
        limits.append(LimitHit("requests listed per transmission", MAX_REQUESTS_PER_TRANSMISSION, "transmissions",
                               found.cut, "request ids"))
    if found.dropped:
        limits.append(LimitHit("transmissions", MAX_TRANSMISSIONS, "transmissions", found.dropped,
                               "transmissions (a request each)"))
    transmissions, redacted_paths = found.transmissions()
    bridging = _bridging(transmissions, found.recipients)
    observations = _observations(transmissions, bridging)
    values = {str(v) for vs in all_ids.values() for v in vs if not isinstance(v, tuple)}
    # Values an adapter read are redacted everywhere only for identifier types: a model name, a locale or an app
    # version ("Android", "en") would otherwise be cut out of every sentence of the report.
    taxonomy = datatypes()
    values.update(t.value for t in transmissions
                  if t.value and t.data_type in taxonomy and taxonomy[t.data_type].identifier)
    notes += [f"limit reached: {hit.limit} ({hit.bound}) at {hit.where}: {hit.dropped} {hit.unit} left unread"
              for hit in limits]
    return TrafficReport(tuple(results), requests, transmissions, tuple(bridging),
                         tuple(observations), app, tuple(sorted(all_ids)), tuple(notes), tuple(sorted(values)),
                         matcher, tuple(limits), found.recipients, found.reasonings, redacted_paths)


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


NO_HOST = Recipient("unknown:", "unknown organisation", "third")
MAX_HOSTS_REMEMBERED = 1 << 16           # host -> recipient during one analysis; forgotten all at once beyond
MAX_REQUESTS_PER_TRANSMISSION = 10_000   # request ids listed per transmission; beyond that they are counted
MAX_TRANSMISSIONS = 100_000              # distinct transmissions kept (~50 MB); beyond, counted (the report is partial)


class _Found:
    """The transmissions as they are found, each kept once however many requests sent it: a key (the request's
    endpoint, recipient, sender and capture, then what was sent where) -> the request ids. Memory grows with
    what is distinct, plus one reference per request that sent it, not with a record per request."""

    def __init__(self) -> None:
        self.sent: dict[tuple, dict[tuple, list]] = {}   # common -> item -> [request ids, count, secrets]
        self.size = 0                              # transmissions in self.sent
        self.recipients: dict[str, Recipient] = {}
        self.reasonings: dict[tuple[str, str], str] = {}
        self.cut = 0                               # request ids beyond MAX_REQUESTS_PER_TRANSMISSION
        self.dropped = 0                           # transmissions beyond MAX_TRANSMISSIONS

    def add_request(self, common: tuple, items: list[tuple], request: int, secrets: tuple[str, ...]) -> None:
        """What one request sent: `common` (its endpoint, recipient, sender and capture) and one item per
        transmission (what was sent where, as _with_fields gives it); `request`: its number (r1 is 1);
        `secrets`: what its URL carried (RequestInfo.secrets), for the path as a report shows it. Keyed by
        `common` first: a request's items are looked up in its endpoint's table without a long key made and
        hashed for each."""
        group = self.sent.get(common)
        for item in items:
            entry = group.get(item) if group is not None else None
            if entry is None:
                if item[6]:   # an adapter's field: why it carries its data type
                    self.reasonings[(item[6], item[5])] = item[7]
                if self.size >= MAX_TRANSMISSIONS:
                    self.dropped += 1
                    continue
                if group is None:
                    group = self.sent[common] = {}
                group[item] = [array("L", (request,)), 1, secrets]
                self.size += 1
                continue
            numbers = entry[0]
            if numbers[-1] == request:
                continue   # the same found twice in one request
            entry[1] += 1
            if len(numbers) < MAX_REQUESTS_PER_TRANSMISSION:
                numbers.append(request)
            else:
                self.cut += 1

    def transmissions(self) -> tuple[tuple[Transmission, ...], tuple[str, ...]]:
        """The transmissions, and the URL path of each as a redacted report shows it (its first request's)."""
        out = []
        shown: dict[tuple, str] = {}   # (path, secrets) -> the path as shown: endpoints repeat
        # each entry let go as its transmission is made: the two are not held at once
        while self.sent:
            common, group = self.sent.popitem()
            host, scheme, method, path, recipient, party, actor, capture = common
            made = []
            while group:
                item, (numbers, count, secrets) = group.popitem()
                data_type, encoding, where, value, value_known, field_path, adapter, _ = item
                if encoding is None:   # read by an adapter: as its place's layers say (_with_fields)
                    encoding = _layer_encoding(where)
                place = _place(where)
                sent = Transmission(data_type, f"r{numbers[0]}", host, scheme, method, path, place, encoding,
                                    value, value_known, recipient, party, actor, capture, field_path, adapter,
                                    RequestIds(numbers) if len(numbers) > 1 else (), count)
                path_shown = shown.get((path, secrets))
                if path_shown is None:
                    path_shown = shown[(path, secrets)] = mask_credentials(redact_in(path, list(secrets)))
                made.append(((numbers[0], data_type, place, encoding), sent, path_shown))
            made.reverse()   # popitem gives the last found first
            out += made
        # by the first request, as found (a stable sort keeps the order within one request: the transmissions
        # first found in one request all share its `common`, so they were in one group, in the order found)
        out.sort(key=itemgetter(0))
        return tuple(sent for _, sent, _ in out), tuple(path for _, _, path in out)


class RequestIds(Sequence[str]):
    """The ids of the requests that sent one transmission ("r1", "r7" ...), kept as 4-byte numbers: a
    transmission sent by every request of a large capture costs 4 bytes a request, made into text when read."""

    __slots__ = ("_numbers",)

    def __init__(self, numbers: Iterable[int]) -> None:
        self._numbers = array("L", numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(f"r{n}" for n in self._numbers[index])
        return f"r{self._numbers[index]}"

    def __iter__(self) -> Iterator[str]:
        return (f"r{n}" for n in self._numbers)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RequestIds):
            return self._numbers == other._numbers
        return isinstance(other, tuple) and tuple(self) == other

    def __hash__(self) -> int:
        return hash(tuple(self))   # equal to the tuple of the same ids, as __eq__ says

    # model.order_key compares fields: ordered as the tuple of the same ids
    def __lt__(self, other: Sequence[str]) -> bool:
        return tuple(self) < tuple(other)

    def __gt__(self, other: Sequence[str]) -> bool:
        return tuple(self) > tuple(other)

    def __le__(self, other: Sequence[str]) -> bool:
        return tuple(self) <= tuple(other)

    def __ge__(self, other: Sequence[str]) -> bool:
        return tuple(self) >= tuple(other)

    def __repr__(self) -> str:
        return f"RequestIds({list(self)!r})"

    def json_text(self) -> str:
        """The ids as a JSON list (as jsonout's encoder writes it), joined at C speed: a transmission sent by
        thousands of requests is one of the largest lines of a report."""
        return '["r' + '", "r'.join(map(str, self._numbers)) + '"]' if self._numbers else "[]"


@functools.lru_cache(maxsize=1 << 14)
def _place(where: str) -> tuple[str, ...]:
    """The decoder's place as the shared vocabulary keeps it: the part with its layers, then each key path below
    a layer (`body.form:e.json:[0].adid` -> ("body.form", "e.json", "[0].adid")); `where_text` writes it back."""
    return tuple(where.split(":"))


def _with_fields(sent: list[tuple], fields: list[FieldHit]) -> list[tuple]:
    """Known-value transmissions (data type, encoding, place, value) plus what the tracker adapters read, each
    as (data type, encoding, place, value, value known, field, adapter, reasoning). Where a known value was found
    at a field an adapter names, the two are one transmission: the known value's data type (what the auditor knows
    it is), with the adapter's field path.

    A field read without a known value has the encoding of its place's layers: None here, named by
    _Found.transmissions once per transmission (not once per field of every request). The reasoning is the
    adapter's for the field (one per adapter and field: rules/trackers/ names each once), recorded by _Found
    when the transmission is first found."""
    if not fields:
        return [(*item, True, "", "", "") for item in sent]
    if not sent:   # no known value to merge with: each field is a transmission of its own
        return [(f.data_type, None, f.where, f.value, False, f.field, f.adapter, f.reasoning) for f in fields]
    sent_places = [split_where(where) for _, _, where, _ in sent]
    sent_keys = {keys for _, _, keys in sent_places}
    # a field at the place of a known value is claimed by it (the last such field, as a dict keeps the last);
    # the others are transmissions of their own. Only a field whose keys a known value has is looked at twice.
    by_place: dict[tuple, FieldHit] = {}
    unclaimed = []
    for f in fields:
        if f.keys in sent_keys and any(part == f.part and keys == f.keys for part, _, keys in sent_places):
            by_place[(f.part, f.keys)] = f
        else:
            unclaimed.append(f)
    out = []
    for (data_type, encoding, where, value), (part, _, keys) in zip(sent, sent_places):
        hit = by_place.get((part, keys)) if by_place else None
        if hit is not None:
            out.append((data_type, encoding, where, value, True, hit.field, hit.adapter, hit.reasoning))
        else:
            out.append((data_type, encoding, where, value, True, "", "", ""))
    out += [(f.data_type, None, f.where, f.value, False, f.field, f.adapter, f.reasoning) for f in unclaimed]
    return out


def _request_number(request_id: str) -> int:
    return int(request_id[1:])


def _request_numbers(t: Transmission) -> Sequence[int]:
    """The numbers of the requests that sent `t`, in order (request ids are `r<number>`): a RequestIds holds
    them as numbers already, not made into text to be parsed back."""
    if isinstance(t.requests, RequestIds):
        return t.requests._numbers
    return [_request_number(request) for request in t.all_requests]


def _bridging(transmissions: list[Transmission], recipients: dict[str, Recipient]) -> list[Bridging]:
    """A resettable identifier (rules/datatypes.yaml: the advertising ID) sent with persistent ones."""
    taxonomy = datatypes()
    persistent = {k for k, v in taxonomy.items() if v.persistent}
    resettable = sorted(k for k, v in taxonomy.items() if v.resettable)
    wanted = persistent.union(resettable)
    out: list[Bridging] = []
    by_request: dict[int, tuple[Transmission, set]] = {}
    for t in transmissions:
        if t.data_type in wanted:
            for number in _request_numbers(t):
                entry = by_request.get(number)
                if entry is None:
                    by_request[number] = (t, {t.data_type})
                else:
                    entry[1].add(t.data_type)
    # Requests that bridged the same types for the same recipient and host: one entry with all of them.
    in_requests: dict[tuple, array] = {}
    for number in sorted(by_request):
        first, types = by_request[number]
        linked = tuple(sorted(types & persistent))
        for anchor in resettable:
            if anchor in types and linked:
                in_requests.setdefault((first.recipient, first.host, anchor, linked), array("L")).append(number)
    for (recipient, host, anchor, linked), numbers in in_requests.items():
        out.append(Bridging("request", recipients[recipient], (host,), RequestIds(numbers), (anchor, *linked)))
    # One recipient within one session (capture) collecting both, in different requests.
    by_recipient: dict[tuple[str, str], list[Transmission]] = {}
    for t in transmissions:
        by_recipient.setdefault((t.capture, t.recipient), []).append(t)
    for ((capture, recipient_id), group), anchor in itertools.product(by_recipient.items(), resettable):
        ad = [t for t in group if t.data_type == anchor]
        other = [t for t in group if t.data_type in persistent]
        if not ad or not other:
            continue
        ad_requests = {n for t in ad for n in _request_numbers(t)}
        other_requests = {n for t in other for n in _request_numbers(t)}
        if ad_requests & other_requests and ad_requests == other_requests:
            continue  # fully covered by the per-request entries
        requests = [f"r{n}" for n in sorted(ad_requests | other_requests)]
        hosts = tuple(sorted({t.host for t in ad + other}))
        out.append(Bridging("recipient", recipients[recipient_id], hosts, tuple(requests),
                            (anchor, *sorted({t.data_type for t in other}))))
    return out


def _first_sent(group: list[Transmission]) -> list[tuple[int, tuple[str, ...], str, int]]:
    """The first requests that sent one of `group`, each place once per request: the smallest
    MAX_EVIDENCE_PER_OBSERVATION (request number, place, encoding, index in the group), in order.

    A transmission's requests are in the order they were read: only its first few can be among the first. And
    the transmissions come by their first request (as _Found lists them): once that many requests are known to
    come before the next transmission's first, neither it nor any after it can be among the first."""
    requests = [_request_numbers(t) for t in group]
    # not by first request (not as _Found lists them): every transmission is looked at
    in_order = all(one[0] <= other[0] for one, other in zip(requests, requests[1:]))
    pool = []
    pending: list[int] = []     # the pooled request numbers not yet known to come before a first request
    before = 0                  # pooled request numbers known to come before the current first request
    for index, (t, numbers) in enumerate(zip(group, requests)):
        while pending and pending[0] < numbers[0]:
            heapq.heappop(pending)
            before += 1
        if in_order and before >= MAX_EVIDENCE_PER_OBSERVATION:
            break
        for n in numbers[:MAX_EVIDENCE_PER_OBSERVATION]:
            pool.append((n, t.where, t.encoding, index))
            heapq.heappush(pending, n)
    return heapq.nsmallest(MAX_EVIDENCE_PER_OBSERVATION, pool)


def _observations(transmissions: list[Transmission], bridging: list[Bridging]) -> list[Observation]:
    groups: dict[tuple, list[Transmission]] = {}
    for t in transmissions:
        groups.setdefault((t.data_type, t.actor or UNKNOWN, t.recipient, t.party), []).append(t)
    out = []
    bridged = {}
    for b in bridging:
        for data_type in b.data_types:
            bridged.setdefault((data_type, b.recipient.id), []).append(b)
    for (data_type, actor, recipient, party), group in groups.items():
        sent = _first_sent(group)
        evidence = [Evidence("request", f"r{n}", f"{group[index].scheme}://{group[index].host} {where_text(where)}",
                             encoding) for n, where, encoding, index in sent]
        for b in bridged.get((data_type, recipient), [])[:5]:
            evidence.append(Evidence("bridging", "+".join(b.data_types), ",".join(b.requests[:10]), b.scope))
        out.append(Observation(data_type, Level.TRANSMITTED, actor, "traffic", tuple(sorted(set(evidence))),
                               recipient, party))
    return sorted_observations(out)


def dumps(report: TrafficReport, reveal: bool = False) -> str:
    """The report's JSON text: the JSON value `audit.report.dumps_json` writes, one line per element (see
    json_pieces)."""
    return "".join(json_pieces(report, reveal))


def json_pieces(report: TrafficReport, reveal: bool = False) -> Iterator[str]:
    """The report's JSON text in pieces, requests and transmissions in blocks of lines (a report of any size is
    never whole in memory), identifier values redacted unless `reveal`: in the fields that hold what a capture
    carried (requests, transmissions, recipients) and in the small remaining parts by a walk, each only where
    Redactor.may_change says redaction can change something (TrafficReport.json_lines); the text is that of
    redacting every such string in turn."""
    if reveal:
        redactor = None
        data = report.to_json(True, lazy=True)
    else:
        redactor = report_redactor(report.identifier_values, report.matcher)
        data = report.to_json(False, redactor.text, lazy=True)
        walked = {key: data[key] for key in ("captures", "bridging", "observations", "notes", "limits")}
        text = compact(walked)   # its strings, each a stretch of it unless written with an escape
        if "\\" in text or redactor.may_change(text):   # else the walk would give the same back, slower
            data.update(redactor.report(walked))
    data.update(report.json_lines(reveal, redactor))   # the same text as data's lazy lists, made faster
    for piece in iter_lines(data):
        yield json_text(piece)
    yield "\n"


from .markdown import to_markdown  # noqa: E402  (re-exported: the report and its Markdown form go together)

__all__ = ["analyse", "load_identifiers", "TrafficReport", "Bridging", "to_markdown"]
