"""The typed audit report and the format protocol: every writer takes an `AuditReport` and returns text.

A new format is one file in audit/report/ defining `FORMAT = SomeFormat()` (an object with `name`, `suffix` and
`render(report) -> str`); `formats()` finds it, and every command that writes audit reports offers it.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from ..errors import InputError


@dataclass(frozen=True)
class AuditReport:
    """What `appaudit audit` reports; `to_json()` is the on-disk contract (schema appaudit.audit/1)."""

    schema: str
    app: dict[str, Any]
    artifact: str | None
    inputs: list[dict[str, Any]]
    captures: list[str]
    declarations: dict[str, Any]
    summary: dict[str, Any]
    findings: list[dict[str, Any]]
    inquiry: dict[str, Any] | None
    claims: list[dict[str, Any]]
    data_types: dict[str, dict[str, Any]]
    sdks: list[dict[str, Any]]
    flows: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    partial: bool
    warnings: list[str]
    partial_reasons: list[str] = field(default_factory=list)
    redacted: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "AuditReport":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class ReportFormat(Protocol):
    name: str
    suffix: str

    def render(self, report: AuditReport) -> str: ...


def formats() -> dict[str, ReportFormat]:
    """Every module of this package that defines FORMAT, by name."""
    from .. import report as package
    found: dict[str, ReportFormat] = {package.FORMAT.name: package.FORMAT}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        fmt = getattr(module, "FORMAT", None)
        if fmt is not None:
            found[fmt.name] = fmt
    return dict(sorted(found.items()))


def render(report: AuditReport, name: str) -> str:
    chosen = formats().get(name)
    if chosen is None:
        raise InputError(f"unknown format {name!r} ({', '.join(formats())})")
    return chosen.render(report)
