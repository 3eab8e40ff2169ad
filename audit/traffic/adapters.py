"""Tracker adapters (rules/trackers/*.yaml): what a tracker's request carries, read without knowing the values.

An adapter names an endpoint (hosts, a path pattern, methods), the layers the decoder takes off its request
(the step names of audit/traffic/decode.py: json, form, base64, gzip, protobuf ...) and, for each field path,
the data type the field carries and the reasoning for saying so (the SDK's documentation or code). It runs after
decoding, on the segments `request_segments` made: a segment whose place (`where`) is one of the adapter's field
paths is a transmission of that data type, with `value_known: false`.

A field path is the path of keys below a request part, with the decoder's layer names left out:
`extinfo[1]` is found at `body.form:extinfo.json:[1]`, `identity.gaid` at `body.json:identity.base64.json:gaid`.
`*` stands for one key, `[*]` for any list index, a leading `**.` for any keys before the rest. A key `query:name`, `header:name`, `cookie:name` or `path:2`
reads that part of the request instead of the body (an endpoint's `in:` sets its default part).
The layers a segment went through must all be among the endpoint's `decoding` steps (compression is transport
and always allowed): a field sent in another encoding than the adapter describes is not claimed.

File format:

    tracker: branch                    # id, unique across files
    name: Branch
    sdk: branch                        # the catalogue's SDK id (rules/sdks.yaml), when it has one
    source: https://...                # where the endpoints are documented (or the SDK code read)
    endpoints:
      - id: v1                         # unique within the file
        hosts: [api2.branch.io, "*.branch.io"]     # exact names; `*.` matches any subdomain
        path: ^/v1/(install|open|close)$           # regular expression on the URL path (default: any)
        methods: [POST]                            # default: any
        in: body                                   # default part for field paths (default: body)
        decoding: [json]                           # the decoder's steps this endpoint's fields sit below
        fields:
          hardware_id: {type: device_ids.sdk_device_id, reasoning: "https://help.branch.io/..."}
"""
from __future__ import annotations

import functools
import itertools
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple

from ..errors import InputError
from ..rulesdata import Validator, datatypes, load_yaml, rules_dir, validate
from .captures import Request
from .decode import Segment

PARTS = ("body", "query", "header", "cookie", "path")
# The layer names decode.py writes into `where` (`<where>.<step>`): its sniffed compressions, its parsers, its
# base64 / JWT decodings.
COMPRESSION_STEPS = ("gzip", "zlib", "zstd", "br")
DECODING_STEPS = (*COMPRESSION_STEPS, "json", "form", "multipart", "protobuf", "grpc", "base64", "base64url",
                  "jwt", "jwt-header")
_STEP_SET = frozenset(DECODING_STEPS)
MAX_VALUE_CHARS = 512            # a field's value kept for the report (a whole events blob is not needed)
# Values that say "nothing": an SDK sends an empty or zeroed identifier when it has none (limit ad tracking).
_EMPTY_IDENTIFIER = re.compile(r"^(?:[0\-]*|null|none|nil|unknown|undefined|\(null\))$", re.IGNORECASE)
_KEY_TOKEN = re.compile(r"\[(\d+|\*)\]|([^.\[\]]+)")
_SEP = "\x1f"


@dataclass(frozen=True)
class Field:
    part: str
    path: str                    # as written in the adapter
    keys: tuple[str, ...]        # the path's keys as split_where gives them; `*`, `#*` and a leading `**` are wildcards
    data_type: str
    reasoning: str
    identifier: bool             # the data type is an identifier: an empty or zeroed value is not one

    @property
    def wildcard(self) -> bool:
        return any(k in ("*", "#*", "**") for k in self.keys)


_UNSEEN = object()
MAX_MEMO = 1 << 16               # places remembered per endpoint (requests of one tracker repeat their places)


@dataclass
class Endpoint:
    adapter: str                 # "<tracker>/<endpoint id>"
    sdk: str | None
    organisation: str            # the file's `name`: who runs the tracker
    hosts: tuple[str, ...]
    path: re.Pattern | None
    methods: frozenset[str]
    decoding: frozenset[str]
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        self._exact = {(f.part, f.keys): f for f in self.fields if not f.wildcard}
        self._wild = [f for f in self.fields if f.wildcard]
        self._memo: dict[tuple, Field | None] = {}
        self._templates: dict[str, tuple | None] = {}

    def claim(self, where: str) -> tuple[Field, str, tuple[str, ...]] | None:
        """The field a segment's place is, with the place's part and keys; None when the endpoint names no
        field there or the place went through a layer its decoding does not list."""
        part, layers, keys = split_where(where)
        if keys and self.decoding.issuperset(layers):
            field = self.field_at(part, keys)
            if field is not None:
                return field, part, keys
        return None

    def hit_template(self, where: str) -> tuple | None:
        """What `Adapters.find` needs of a claimed place, made once per place: (part, keys), whether the field is
        an identifier, then the FieldHit's fields but the place and the value; None when unclaimed. Remembered
        by place: the requests of one tracker repeat their places."""
        templates = self._templates
        claimed = self.claim(where)
        template = None
        if claimed is not None:
            field, part, keys = claimed
            template = ((part, keys), field.identifier, field.data_type, part, keys, field.path, self.adapter,
                        field.reasoning)
        if len(templates) >= MAX_MEMO:
            templates.clear()
        templates[where] = template
        return template

    def field_at(self, part: str, keys: tuple[str, ...]) -> Field | None:
        """The field naming this place: an exact path, else the most specific wildcard path (`**.context.app.name`
        over `**.name`); one place, one data type."""
        exact = self._exact.get((part, keys))
        if exact is not None or not self._wild:
            return exact
        place = (part, keys)
        if place in self._memo:
            return self._memo[place]
        joined = _SEP.join(keys)
        matching = [f for f in self._wild if f.part == part and _compiled(f.keys).match(joined)]
        found = max(matching, key=lambda f: ("**" not in f.keys, len(f.path)), default=None)
        if len(self._memo) >= MAX_MEMO:
            self._memo.clear()
        self._memo[place] = found
        return found


class FieldHit(NamedTuple):   # a tuple: one is made for every field of every tracker request (cheap to build)
    data_type: str
    where: str                   # the segment's place, as the decoder named it
    part: str
    keys: tuple[str, ...]        # the place without its layers: what known-value hits are compared on
    value: str
    field: str
    adapter: str
    reasoning: str


@functools.lru_cache(maxsize=1 << 16)
def split_where(where: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """`body.form:extinfo.json:[1]` -> ("body", ("form", "json"), ("extinfo", "#1")): part, layers, keys."""
    chunks = where.split(":")
    head = chunks[0].split(".")
    part, layers, keys = head[0], list(head[1:]), []
    for chunk in chunks[1:]:
        tokens = [m.group(1) and f"#{m.group(1)}" or m.group(2) for m in _KEY_TOKEN.finditer(chunk)]
        end = len(tokens)
        while end > 1 and tokens[end - 1] in _STEP_SET:   # `identity.base64`: the key, then its layers
            end -= 1
        keys.extend(tokens[:end])
        layers.extend(tokens[end:])
    return part, tuple(layers), tuple(keys)


def field_keys(path: str) -> tuple[str, ...]:
    """`**.data[*].x` -> ("**", "data", "#*", "x"); `extinfo[1]` -> ("extinfo", "#1")."""
    prefix = ()
    if path.startswith("**."):   # at any depth: an envelope or batch puts the same document at several places
        prefix, path = ("**",), path[3:]
    return prefix + tuple(m.group(1) and f"#{m.group(1)}" or m.group(2) for m in _KEY_TOKEN.finditer(path))


@functools.lru_cache(maxsize=4096)
def _compiled(keys: tuple[str, ...]) -> re.Pattern:
    parts, prefix = [], ""
    for key in keys:
        if key == "**":
            prefix = f"(?:[^{_SEP}]+{_SEP})*"
        elif key == "#*":
            parts.append(r"#\d+")
        elif key == "*":
            parts.append(f"[^{_SEP}]+")
        else:
            parts.append(re.escape(key))
    return re.compile(prefix + _SEP.join(parts) + r"\Z")


# -- loading ----------------------------------------------------------------------------------------------
def parse_adapter(raw, path: Path, known_types: dict, seen_trackers: dict[str, Path]) -> list[Endpoint]:
    validate(raw, "trackers", path, "tracker adapter")   # rules/schemas/trackers.schema.json; the rest follows
    check = Validator(path)
    tracker = raw["tracker"]
    if tracker in seen_trackers:
        check.fail(raw, "tracker", f"tracker {tracker!r} is also defined in {seen_trackers[tracker]}")
    seen_trackers[tracker] = path
    check.unique(raw["endpoints"], "id", "endpoint id")
    out = []
    for entry in raw["endpoints"]:
        pattern = None
        if entry.get("path") is not None:
            try:
                pattern = re.compile(entry["path"])
            except re.error as exc:
                check.fail(entry, "path", f"bad regular expression: {exc}")
        default_part = entry.get("in") or "body"
        fields = []
        for key, spec in entry["fields"].items():
            part, sep, rest = key.partition(":")
            if sep and part in PARTS:
                field_part, field_path = part, rest
            else:
                field_part, field_path = default_part, key
            if not _KEY_TOKEN.search(field_path) and field_part not in ("body", "query"):
                check.fail(entry["fields"], key, "a field path needs at least one key")
            fields.append(Field(field_part, key, field_keys(field_path), spec["type"], spec["reasoning"],
                                known_types[spec["type"]].identifier))
        out.append(Endpoint(f"{tracker}/{entry['id']}", raw.get("sdk"), raw["name"], tuple(entry["hosts"]), pattern,
                            frozenset(m.upper() for m in entry.get("methods") or ()),
                            frozenset(entry["decoding"]) | frozenset(COMPRESSION_STEPS), tuple(fields)))
    return out


def load_adapters(directory: str | Path | None = None) -> "Adapters":
    return _load(str(Path(directory) if directory else rules_dir() / "trackers"))


@functools.lru_cache(maxsize=4)
def _load(directory: str) -> "Adapters":
    root = Path(directory)
    if not root.is_dir():
        return Adapters(())
    known = datatypes()
    seen: dict[str, Path] = {}
    endpoints: list[Endpoint] = []
    for path in sorted(root.glob("*.yaml")):
        endpoints += parse_adapter(load_yaml(path, "tracker adapter"), path, known, seen)
    return Adapters(tuple(endpoints))


# -- matching ---------------------------------------------------------------------------------------------
class Adapters:
    """All endpoints, indexed by host: a request to a host no adapter names costs one dict lookup."""

    def __init__(self, endpoints: Iterable[Endpoint]):
        self.endpoints = tuple(endpoints)
        self._exact: dict[str, list[Endpoint]] = {}
        self._suffix: dict[str, list[Endpoint]] = {}
        self._memo: dict[tuple, tuple[Endpoint, ...]] = {}
        for endpoint in self.endpoints:
            for host in endpoint.hosts:
                if host.startswith("*."):
                    self._suffix.setdefault(host[2:], []).append(endpoint)
                else:
                    self._exact.setdefault(host, []).append(endpoint)

    def endpoints_for(self, request: Request) -> list[Endpoint]:
        path = (request.target or "/").partition("?")[0] or "/"
        key = (request.host, path, request.method)   # the requests of an app repeat their endpoints
        found = self._memo.get(key)
        if found is None:
            found = self._endpoints_for(request.host, path, request.method)
            if len(self._memo) >= MAX_MEMO:
                self._memo.clear()
            self._memo[key] = found
        return list(found)

    def _endpoints_for(self, host: str | None, path: str, method: str | None) -> tuple[Endpoint, ...]:
        found = self._at_host(host)
        if not found:
            return ()
        method = (method or "").upper()
        return tuple(e for e in found if (not e.methods or method in e.methods)
                     and (e.path is None or e.path.search(path)))

    def _at_host(self, host: str | None) -> list[Endpoint]:
        host = (host or "").lower().rstrip(".")
        found = list(self._exact.get(host, ()))
        if self._suffix:
            labels = host.split(".")
            for start in range(1, len(labels) - 1):
                found += self._suffix.get(".".join(labels[start:]), ())
        return found

    def tracker_at(self, host: str | None) -> tuple[str, str, str | None] | None:
        """(tracker id, organisation, catalogue SDK id) of the adapters naming this host, whatever the path: the
        adapter that reads a tracker's requests also says who receives them. None when no adapter names the
        host, or adapters of several organisations do."""
        owners = {(e.adapter.partition("/")[0], e.organisation, e.sdk) for e in self._at_host(host)}
        return owners.pop() if len(owners) == 1 else None

    def find(self, request: Request, segments: list[Segment], booleans: list[Segment] = ()) -> list[FieldHit]:
        """The fields the request's endpoints name, among its decoded segments and its JSON true/false leaves
        (decode.Decoded.booleans: `is_rooted: false` is a transmission of the rooted flag)."""
        endpoints = self.endpoints_for(request)
        if not endpoints:
            return []
        hits: dict[tuple, FieldHit] = {}
        for endpoint in endpoints:
            claim, claims = endpoint.hit_template, endpoint._templates
            for where, data in itertools.chain(segments, booleans):
                template = claims.get(where, _UNSEEN)   # hit_template()'s memo, looked up without a call
                if template is _UNSEEN:
                    template = claim(where)
                if template is None:
                    continue
                value = data.decode("utf-8", "replace")
                place, identifier, data_type, part, keys, path, adapter, reasoning = template
                if identifier and _EMPTY_IDENTIFIER.match(value.strip()):
                    continue
                kept = hits.get(place)
                if kept is None or len(where) < len(kept[1]):   # the outermost: what was sent
                    hits[place] = _new_field_hit(FieldHit, (data_type, where, part, keys, value[:MAX_VALUE_CHARS],
                                                            path, adapter, reasoning))
        return sorted(hits.values(), key=_BY_WHERE_THEN_TYPE)


_new_field_hit = tuple.__new__             # FieldHit(...) without NamedTuple's Python-level __new__ (one per field)
_BY_WHERE_THEN_TYPE = operator.itemgetter(1, 0)   # (hit.where, hit.data_type), at C speed
