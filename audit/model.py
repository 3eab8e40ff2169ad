"""The shared vocabulary: every stage speaks in these frozen types.

Sources (static scan, Frida hooks, traffic) produce `Observation`s; the rule engine turns observations and
declarations into `Finding`s; every report format writes findings. JSON forms are produced by `to_json`
so that the on-disk contract lives next to the type it describes.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable


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


@dataclass(frozen=True, order=True)
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


@dataclass(frozen=True, order=True)
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

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "ref": self.ref}
        if self.where is not None:
            out["where"] = self.where
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Evidence":
        return cls(data["kind"], data["ref"], data.get("where"), data.get("detail"))


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
        )

    def sort_key(self) -> tuple:
        return (self.data_type, -self.level, self.actor, self.source, self.recipient or "", self.evidence)


def sorted_observations(observations: Iterable[Observation]) -> list[Observation]:
    return sorted(set(observations), key=Observation.sort_key)


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
        }
