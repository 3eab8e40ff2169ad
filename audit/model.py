"""The shared vocabulary: every stage speaks in these frozen types.

Sources (static scan, Frida hooks, traffic) produce `Observation`s; the rule engine turns observations and
declarations into `Finding`s; every report format writes findings. JSON forms are produced by `to_json`
so that the on-disk contract lives next to the type it describes.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import operator
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence


def order_key(value: Any) -> tuple:
    """The sort key of a record of the shared types (a dataclass): its compared fields in order, each preceded by
    whether it is present, so an absent optional field (None) sorts before every present value and two records
    that differ only in `via=None` / `via="..."` compare instead of raising TypeError (Python compares equal
    tuple elements without calling `<`, so None is never ordered against None or a string). Nested records
    compare by their own total order."""
    return _key_function(type(value))(value)


@functools.cache
def _key_function(cls: type):
    """`lambda o: (o.a is not None, o.a, o.b is not None, o.b, ...)` for a dataclass's compared fields,
    generated once per class as dataclasses generate their own comparisons (tuple comparison runs in C)."""
    names = [f.name for f in dataclasses.fields(cls) if f.compare]
    if not all(name.isidentifier() for name in names):
        raise TypeError(f"{cls.__name__}: field names must be identifiers")
    body = ", ".join(f"o.{name} is not None, o.{name}" for name in names)
    return eval(f"lambda o: ({body},)")   # noqa: S307 - built from the class's own field names only


def total_order(cls):
    """Class decorator for a frozen dataclass (declared without order=True): <, <=, >, >= by order_key."""
    def make(op):
        def method(self, other):
            if other.__class__ is not self.__class__:
                return NotImplemented
            key = _key_function(cls)
            return op(key(self), key(other))
        return method
    for name, op in (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
                     ("__ge__", operator.ge)):
        setattr(cls, name, make(op))
    return cls


class Level(enum.IntEnum):
    """How strongly an observation is backed, weakest first."""

    DECLARED_PERMISSION = 0
    PRESENT = 1
    REACHABLE = 2
    INVOKED = 3
    TRANSMITTED = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, text: str) -> "Level":
        try:
            return cls[text.upper().replace("-", "_")]
        except KeyError:
            raise ValueError(f"unknown evidence level {text!r}; expected one of "
                             + ", ".join(level.label for level in cls)) from None

    @property
    def is_capability(self) -> bool:
        """Present or reachable code shows what an app can do, not what it did."""
        return self <= Level.REACHABLE


class ActorKind(str, enum.Enum):
    FIRST_PARTY = "first-party"
    SDK = "sdk"
    LIBRARY = "library"
    UNKNOWN = "unknown"


class Severity(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; expected low, medium or high") from None


@total_order
@dataclass(frozen=True)
class Actor:
    """Who does it: the app itself, a named SDK, a support library, or code that cannot be placed."""

    kind: ActorKind
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Actor":
        return cls(ActorKind(data["kind"]), data.get("id"))

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}" if self.id else self.kind.value


FIRST_PARTY = Actor(ActorKind.FIRST_PARTY)
UNKNOWN = Actor(ActorKind.UNKNOWN)


@dataclass(frozen=True)
class DataType:
    """One entry of rules/datatypes.yaml."""

    id: str
    label: str
    play_category: str
    play_type: str
    apple_category: str
    persistent: bool = False
    identifier: bool = False
    parent: str | None = None
    resettable: bool = False      # an identifier the user can reset (the advertising ID): bridging defeats it
    coordinates: bool = False     # its values are a latitude/longitude pair


@total_order
@dataclass(frozen=True)
class Evidence:
    """One pointer to where something was seen.

    kind: call-site | permission | sdk-class | manifest-key | string | hook | request | bridging ...
    ref:  what was seen (an API in Dalvik form, a permission name, a request id)
    where: where it was seen (the calling method, the part of the request, the file)
    """

    kind: str
    ref: str
    where: str | None = None
    detail: str | None = None
    path: tuple[str, ...] = ()   # call-site evidence: entry method, ..., calling method (shortest call path)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "ref": self.ref}
        if self.where is not None:
            out["where"] = self.where
        if self.detail is not None:
            out["detail"] = self.detail
        if self.path:
            out["path"] = list(self.path)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Evidence":
        return cls(data["kind"], data["ref"], data.get("where"), data.get("detail"),
                   tuple(data.get("path") or ()))


FEASIBILITY_STATUSES = ("granted", "runtime-permission", "blocked", "degraded", "unknown")
HANDED_OVER = "no permission needed: "   # a handover's feasibility reason, before what Android hands over


@total_order
@dataclass(frozen=True)
class Feasibility:
    """Whether Android would let this app obtain a data type through an API, at the app's SDK levels.

    status: granted (install-time or no permission) | runtime-permission (works if the user allows) |
            blocked (missing permission, or unavailable to ordinary apps at these API levels) |
            degraded (returns a constant such as 02:00:00:00:00:00) | unknown (no rule decides it)
    """

    status: str
    reason: str
    permissions: tuple[str, ...] = ()
    api_levels: str = ""

    def __post_init__(self) -> None:
        if self.status not in FEASIBILITY_STATUSES:
            raise ValueError(f"unknown feasibility status {self.status!r}")

    @property
    def possible(self) -> bool:
        """Android may let the read succeed (possibly after the user allows it)."""
        return self.status in ("granted", "runtime-permission", "unknown")

    @property
    def handed_over(self) -> bool:
        """Android hands the app one item, not the store (a picked contact: rules/apis.yaml `handover`)."""
        return self.reason.startswith(HANDED_OVER)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "permissions": list(self.permissions),
                "api_levels": self.api_levels}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Feasibility":
        return cls(data["status"], data.get("reason", ""), tuple(data.get("permissions") or ()),
                   data.get("api_levels", ""))


@dataclass(frozen=True)
class Observation:
    """A data type seen at some level, done by some actor, from some source (static/runtime/traffic)."""

    data_type: str
    level: Level
    actor: Actor
    source: str
    evidence: tuple[Evidence, ...] = ()
    recipient: str | None = None  # for transmitted: the organisation / SDK id that received it
    party: str | None = None      # for transmitted: "first" or "third"
    feasibility: Feasibility | None = None   # for capabilities (present/reachable): can Android let it succeed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "data_type": self.data_type,
            "level": self.level.label,
            "actor": self.actor.to_json(),
            "source": self.source,
            "evidence": [e.to_json() for e in self.evidence],
        }
        if self.recipient is not None:
            out["recipient"] = self.recipient
        if self.party is not None:
            out["party"] = self.party
        if self.feasibility is not None:
            out["feasibility"] = self.feasibility.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Observation":
        return cls(
            data_type=data["data_type"],
            level=Level.parse(data["level"]),
            actor=Actor.from_json(data["actor"]),
            source=data.get("source", "unknown"),
            evidence=tuple(Evidence.from_json(e) for e in data.get("evidence", ())),
            recipient=data.get("recipient"),
            party=data.get("party"),
            feasibility=Feasibility.from_json(data["feasibility"]) if data.get("feasibility") else None,
        )

    def sort_key(self) -> tuple:
        # order_key last: observations equal in the first fields (e.g. differing only in party) still come out
        # in one order whatever order they went in
        return (self.data_type, -self.level, self.actor, self.source, self.recipient or "", self.evidence,
                self.feasibility or Feasibility("unknown", ""), order_key(self))


def sorted_observations(observations: Iterable[Observation]) -> list[Observation]:
    return sorted(set(observations), key=Observation.sort_key)


@dataclass(frozen=True)
class Transmission:
    """One data type seen leaving the device in one captured request: made by the traffic stage, read by the
    rules and every report. `value_known` is False when a tracker adapter recognised the field (its path says
    which) without the auditor having told the value."""

    data_type: str
    request: str                  # request id within the analysis (r1, r2 ...)
    host: str = ""
    scheme: str = ""              # http | https | "" when unknown
    method: str = ""
    path: str = ""                # the URL path, credentials and identifiers redacted by the writer
    where: tuple[str, ...] = ()   # place in the request: ("query", "param"), ("header", "name"), ("body.json", "a.b"),
                                  # ("body.form", "e.json", "[0].adid"): the part and its layers, then each key path
    encoding: str = "plain"
    value: str | None = None      # the raw value where known; writers redact unless --reveal
    value_known: bool = True
    recipient: str | None = None  # catalogue SDK id or organisation
    party: str | None = None      # first | third
    actor: Actor | None = None    # who sent it (stack trace, or the SDK owning the host)
    capture: str = ""
    field: str = ""               # the tracker adapter's field path (rules/trackers/), when an adapter names it
    adapter: str = ""             # "<tracker>/<endpoint>" of that adapter
    requests: Sequence[str] = ()  # every request that sent the same (first is `request`); () means `request` alone
    count: int = 1                # how many requests sent it (more than len(requests) when a bound cut the list)

    @property
    def all_requests(self) -> Sequence[str]:
        return self.requests or (self.request,)

    def sort_key(self) -> tuple:
        return (self.capture, self.request, self.data_type, self.where, self.encoding, order_key(self))


def where_text(where: tuple[str, ...]) -> str:
    """A place inside a request, formatted only for output: ("query", "imei") -> query:imei,
    ("body.json", "a.b") -> body.json:a.b (the part with the decoder's layers, then the keys below each layer)."""
    return ":".join(where)


@dataclass(frozen=True)
class Finding:
    """One judgement of the rule engine, written by every report format."""

    rule: str
    severity: Severity
    message: str
    data_type: str | None = None
    level: Level | None = None
    actor: Actor | None = None
    category: str | None = None  # consistent | omitted | incorrect | vague | overdeclared (PoliCheck)
    evidence: tuple[Evidence, ...] = ()
    declaration: str | None = None  # the statement it was judged against, as text
    location: str | None = None     # for SARIF: the calling class or the input file
    fingerprint: str = field(default="", compare=False)
    statement: str | None = None    # file:line of the data-sheet statement it was judged against

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "data_type": self.data_type,
            "level": self.level.label if self.level is not None else None,
            "actor": self.actor.to_json() if self.actor else None,
            "category": self.category,
            "evidence": [e.to_json() for e in self.evidence],
            "declaration": self.declaration,
            "location": self.location,
            "fingerprint": self.fingerprint,
            "statement": self.statement,
        }
