"""Declared vs observed: judge every observed data flow against the vendor's declarations and run the checks
of rules/checks/*.yaml over the judgements, the embedded SDKs, the captured requests and the permissions.

Judgement (after PoliCheck, Andow et al. 2020), per (data type, actor, flow, recipient), using the strongest
level observed:
- incorrect:    transmitted although a negative statement (not_collected / not_shared) covers the type;
- consistent:   a positive statement names the type (or a narrower one), or only a negative statement
                exists and nothing was transmitted;
- vague:        only a broader statement covers it (declared `location`, observed `location.precise`);
- omitted:      nothing in the declaration covers it;
- overdeclared: (per statement) declared, but nothing of that type was observed at any level.
Third-party flows (the actor is an SDK, or a request went to a third party) are judged against `shared`
statements naming that recipient (or naming none); first-party flows against `collected` (or `shared`).
"""
from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..catalogue import Catalogue, dotted, load_catalogue
from ..errors import InputError
from ..model import FIRST_PARTY, Actor, ActorKind, Evidence, Finding, Level, Observation, Severity, total_order
from ..rulesdata import Validator, covers, datatypes, load_yaml, rules_dir
from .declarations import COLLECTED, NOT_COLLECTED, NOT_SHARED, SHARED, Declarations, Statement

CATEGORIES = ("consistent", "omitted", "incorrect", "vague", "overdeclared")
_CATEGORY_WEIGHT = {"overdeclared": 0, "consistent": 1, "vague": 2, "omitted": 3, "incorrect": 4}
SUBJECTS = ("judgement", "sdk", "request", "transmission", "permission")
MAX_EVIDENCE = 40   # per finding: enough to follow the chain, bounded for reports of large apps


# -- inputs ------------------------------------------------------------------------------------------------
@total_order
@dataclass(frozen=True)
class Sent:
    """One data type found in one captured request."""

    data_type: str
    request: str                 # request id from the traffic stage
    host: str = ""
    scheme: str = ""             # http | https | "" when unknown
    where: str = ""              # part of the request: query:param, header:name, body:json.path ...
    recipient: str | None = None # catalogue SDK id or organisation
    party: str | None = None     # first | third
    encoding: str | None = None
    value: str | None = field(default=None, compare=False)   # as it may be shown: redacted unless --reveal

    def evidence(self) -> Evidence:
        detail = f"{self.scheme}://{self.host}" if self.host else None
        if self.encoding and self.encoding != "plain":
            detail = f"{detail or ''} ({self.encoding})".strip()
        if self.value:
            detail = f"{detail or ''} value {self.value}".strip()
        return Evidence("request", self.request, self.where or None, detail)


@dataclass(frozen=True)
class PermissionUse:
    name: str
    protection_level: str
    data_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectedSdk:
    id: str
    name: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class AuditInput:
    """Everything observed about one app, from any mix of static scan, runtime hooks and traffic."""

    app: str
    observations: tuple[Observation, ...] = ()
    sdks: tuple[DetectedSdk, ...] = ()
    permissions: tuple[PermissionUse, ...] = ()
    transmissions: tuple[Sent, ...] = ()
    artifact: str | None = None          # the APK, for report locations
    static_scanned: bool = False         # a static scan ran (absence of code paths means something)
    static_complete: bool = False        # ...and read everything (no partial warnings)
    captured: bool = False               # at least one capture was analysed
    warnings: tuple[str, ...] = ()


# -- checks ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    id: str
    title: str
    subject: str
    severity: Severity
    message: str
    help: str
    when: tuple[tuple[str, Any], ...] = ()
    severity_by_level: tuple[tuple[str, Severity], ...] = ()
    source: str = ""

    def condition(self, name: str, default: Any = None) -> Any:
        return dict(self.when).get(name, default)

    def severity_at(self, level: Level | None) -> Severity:
        if level is not None:
            for label, severity in self.severity_by_level:
                if label == level.label:
                    return severity
        return self.severity


@dataclass(frozen=True)
class CheckSet:
    checks: tuple[Check, ...]
    verbs: tuple[tuple[str, str], ...]

    def verb(self, level: Level) -> str:
        return dict(self.verbs).get(level.label, level.label)

    def by_id(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)


_WHEN = {
    "judgement": {"flow": str, "category": list, "min_level": str, "max_level": str, "negative_declared": bool},
    "sdk": {"declared": bool},
    "request": {"requires": list, "persistent_min": int, "identifiers_min": int},
    "transmission": {"scheme": str, "identifier": bool},
    "permission": {"protection_level": str, "declared_use": bool},
}


def load_checks(directory: str | Path | None = None) -> CheckSet:
    directory = Path(directory) if directory else rules_dir() / "checks"
    return _load_checks(str(directory))


@functools.lru_cache(maxsize=4)
def _load_checks(directory: str) -> CheckSet:
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise InputError(f"no checks found in {directory}")
    checks: list[Check] = []
    verbs: dict[str, str] = {}
    for path in files:
        raw = load_yaml(path, "checks")
        check = Validator(path)
        check.mapping(raw)
        check.fields(raw, optional={"checks": list, "verbs": dict})
        for label, text in (raw.get("verbs") or {}).items():
            try:
                Level.parse(label)
            except ValueError as exc:
                check.fail(raw["verbs"], label, str(exc))
            verbs[label] = str(text)
        for entry in raw.get("checks") or ():
            check.mapping(entry, raw, "checks")
            check.fields(entry, required={"id": str, "title": str, "subject": str, "severity": str,
                                          "message": str, "help": str},
                         optional={"when": dict, "severity_by_level": dict})
            check.one_of(entry, "subject", SUBJECTS)
            if any(c.id == entry["id"] for c in checks):
                check.fail(entry, "id", f"duplicate check id {entry['id']!r}")
            when = entry.get("when") or {}
            check.fields(when, optional=_WHEN[entry["subject"]])
            for level_key in ("min_level", "max_level"):
                if level_key in when:
                    try:
                        Level.parse(when[level_key])
                    except ValueError as exc:
                        check.fail(when, level_key, str(exc))
            for category in when.get("category", ()):
                if category not in CATEGORIES:
                    check.fail(when, "category", f"unknown category {category!r} ({', '.join(CATEGORIES)})")
            try:
                severity = Severity.parse(entry["severity"])
                by_level = tuple((Level.parse(k).label, Severity.parse(v))
                                 for k, v in (entry.get("severity_by_level") or {}).items())
            except ValueError as exc:
                check.fail(entry, "severity", str(exc))
            checks.append(Check(entry["id"], entry["title"], entry["subject"], severity, entry["message"],
                                " ".join(entry["help"].split()), tuple(sorted(when.items(), key=str)),
                                by_level, str(path)))
    return CheckSet(tuple(checks), tuple(sorted(verbs.items())))


# -- judgements --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Judgement:
    data_type: str
    actor: Actor
    flow: str                           # first | third
    recipient: str | None
    level: Level
    category: str
    evidence: tuple[Evidence, ...]
    declaration: tuple[Statement, ...]  # the statements it was judged against
    negative_declared: bool = False
    sources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"data_type": self.data_type, "actor": self.actor.to_json(), "flow": self.flow,
                "recipient": self.recipient, "level": self.level.label, "category": self.category,
                "declaration": [s.text() for s in self.declaration], "sources": list(self.sources),
                "evidence_count": len(self.evidence)}


@dataclass(frozen=True)
class AuditResult:
    findings: tuple[Finding, ...]
    judgements: tuple[Judgement, ...]
    overdeclared: tuple[Statement, ...]
    checks: CheckSet = field(repr=False, compare=False, default=None)

    def data_types(self, declarations: Declarations) -> dict[str, dict[str, Any]]:
        """Per data type: the strongest level seen, what was declared about it, and the worst category."""
        taxonomy = datatypes()
        out: dict[str, dict[str, Any]] = {}
        types = {j.data_type for j in self.judgements} | {s.type for s in declarations.statements}
        for data_type in sorted(types):
            judged = [j for j in self.judgements if j.data_type == data_type]
            level = max((j.level for j in judged), default=None)
            if judged:
                category = max((j.category for j in judged), key=_CATEGORY_WEIGHT.__getitem__)
            elif any(s.type == data_type for s in self.overdeclared):
                category = "overdeclared"
            else:
                category = "consistent"   # only negative or covering statements, nothing observed
            out[data_type] = {
                "label": taxonomy[data_type].label if data_type in taxonomy else data_type,
                "observed_level": level.label if level is not None else None,
                "category": category,
                "declaration": [s.text() for s in declarations.statements if s.type == data_type]
                or [s.text() for s in declarations.about(data_type)][:3],
                "actors": [j.to_json() for j in judged],
            }
        return out


def flow_of(observation: Observation) -> tuple[str, str | None]:
    """first/third and the recipient: a transmission by its destination, anything else by who does it."""
    if observation.level is Level.TRANSMITTED and observation.party in ("first", "third"):
        if observation.party == "first":
            return "first", None
        return "third", observation.recipient or observation.actor.id
    if observation.actor.kind is ActorKind.SDK:
        return "third", observation.actor.id
    return "first", None


def recipient_matches(names: Iterable[str], recipient: str | None, catalogue: Catalogue) -> bool:
    names = [n.lower() for n in names]
    if not names:
        return True   # "shared with third parties", unnamed, covers any recipient
    if recipient is None:
        return False
    sdk = catalogue.sdk(recipient)
    if sdk is not None:
        return any(sdk.answers_to(n) or n == sdk.organisation.lower() for n in names)
    return recipient.lower() in names


def judge(observations: Iterable[Observation], declarations: Declarations,
          catalogue: Catalogue | None = None) -> tuple[list[Judgement], list[Statement]]:
    catalogue = catalogue or load_catalogue()
    groups: dict[tuple, list[Observation]] = defaultdict(list)
    for obs in observations:
        flow, recipient = flow_of(obs)
        groups[(obs.data_type, obs.actor, flow, recipient)].append(obs)
    judgements = []
    for (data_type, actor, flow, recipient), group in sorted(groups.items(), key=lambda kv: _group_key(kv[0])):
        level = max(o.level for o in group)
        negatives = [s for s in declarations.of_kind(NOT_COLLECTED) if s.covers(data_type)]
        if flow == "third":
            negatives += [s for s in declarations.of_kind(NOT_SHARED) if s.covers(data_type)]
            positives = [s for s in declarations.of_kind(SHARED)
                         if recipient_matches(s.recipients, recipient, catalogue)]
        else:
            positives = declarations.of_kind(COLLECTED, SHARED)
        exact = [s for s in positives if covers(data_type, s.type)]   # same type, or declared narrower
        broad = [s for s in positives if s.covers(data_type) and s.type != data_type]
        if negatives and level is Level.TRANSMITTED:
            category, against = "incorrect", negatives
        elif exact:
            category, against = "consistent", exact
        elif broad:
            category, against = "vague", broad
        elif negatives:
            category, against = "consistent", negatives
        else:
            # Name what the sheet does say about the type (e.g. shared with someone else) to help the reader.
            category, against = "omitted", declarations.about(data_type)[:3]
        evidence = sorted({e for o in group for e in o.evidence}, key=_evidence_key)
        judgements.append(Judgement(data_type, actor, flow, recipient, level, category, tuple(evidence),
                                    tuple(against), bool(negatives),
                                    tuple(sorted({o.source for o in group}))))
    overdeclared = [s for s in declarations.statements if s.positive and not any(
        covers(s.type, o.data_type) or covers(o.data_type, s.type) for o in _flat(groups))]
    return judgements, overdeclared


def _flat(groups: dict) -> list[Observation]:
    return [o for group in groups.values() for o in group]


def _group_key(key: tuple) -> tuple:
    data_type, actor, flow, recipient = key
    return (data_type, actor.kind.value, actor.id or "", flow, recipient or "")


def _evidence_key(evidence: Evidence) -> tuple:
    order = {"request": 0, "hook": 1, "call-site": 2}
    return (order.get(evidence.kind, 3), evidence.kind, evidence.ref, evidence.where or "", evidence.detail or "")


# -- findings ----------------------------------------------------------------------------------------------
def fingerprint(rule: str, data_type: str | None, actor: Actor | None, evidence: Iterable[Evidence]) -> str:
    """Stable across runs and wording changes: rule, data type, actor and the evidence refs, never values."""
    refs = sorted({f"{e.kind}|{e.ref}|{e.where or ''}" for e in evidence})
    text = "\x1f".join([rule, data_type or "", str(actor or ""), *refs])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _finding(check: Check, severity: Severity, message: str, *, data_type=None, level=None, actor=None,
             category=None, evidence=(), declaration=None, location=None) -> Finding:
    evidence = tuple(evidence)
    return Finding(rule=check.id, severity=severity, message=message, data_type=data_type, level=level,
                   actor=actor, category=category, evidence=evidence[:MAX_EVIDENCE], declaration=declaration,
                   location=location, fingerprint=fingerprint(check.id, data_type, actor, evidence))


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, **fields: Any) -> str:
    return template.format_map(_Safe({k: ("" if v is None else v) for k, v in fields.items()}))


def actor_text(actor: Actor | None, catalogue: Catalogue) -> str:
    if actor is None or actor.kind is ActorKind.FIRST_PARTY:
        return "The app"
    if actor.kind is ActorKind.SDK:
        sdk = catalogue.sdk(actor.id or "")
        return f"SDK {sdk.name} ({actor.id})" if sdk else f"SDK {actor.id}"
    if actor.kind is ActorKind.LIBRARY:
        return f"Library {actor.id}"
    return f"Unattributed code{f' in {actor.id}' if actor.id else ''}"


def recipient_text(recipient: str | None, catalogue: Catalogue) -> str:
    if not recipient:
        return ""
    sdk = catalogue.sdk(recipient)
    return f"{sdk.name} ({recipient})" if sdk else recipient


def calling_class(evidence: Iterable[Evidence]) -> str | None:
    """For SARIF: the class of the first call site (`Lcom/x/Y;->m()V` -> com.x.Y)."""
    for item in evidence:
        if item.kind == "call-site" and item.where:
            return dotted(item.where.split("->")[0])
    return None


def _label(data_type: str) -> str:
    entry = datatypes().get(data_type)
    return entry.label if entry else data_type


def evaluate(audit: AuditInput, declarations: Declarations, checks: CheckSet | None = None,
             catalogue: Catalogue | None = None) -> AuditResult:
    checks = checks or load_checks()
    catalogue = catalogue or load_catalogue()
    judgements, overdeclared = judge(audit.observations, declarations, catalogue)
    findings: list[Finding] = []
    for check in checks.checks:
        runner = {"judgement": _judgement_findings, "sdk": _sdk_findings, "request": _request_findings,
                  "transmission": _transmission_findings, "permission": _permission_findings}[check.subject]
        findings.extend(runner(check, checks, audit, declarations, judgements, catalogue))
    findings = _unique(findings)
    findings.sort(key=lambda f: (-f.severity, f.rule, f.data_type or "", str(f.actor or ""), f.fingerprint))
    return AuditResult(tuple(findings), tuple(judgements), tuple(overdeclared), checks)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for item in findings:
        if item.fingerprint not in seen:
            seen.add(item.fingerprint)
            out.append(item)
    return out


def _judgement_findings(check, checks, audit, declarations, judgements, catalogue):
    flow = check.condition("flow", "any")
    categories = check.condition("category")
    low = Level.parse(check.condition("min_level", "declared-permission"))
    high = Level.parse(check.condition("max_level", "transmitted"))
    negative = check.condition("negative_declared")
    for j in judgements:
        if flow != "any" and j.flow != flow:
            continue
        if categories and j.category not in categories:
            continue
        if not low <= j.level <= high or (negative is not None and j.negative_declared != negative):
            continue
        declaration = "; ".join(s.text() for s in j.declaration) or "no statement"
        recipient = recipient_text(j.recipient, catalogue)
        message = render(check.message, actor=actor_text(j.actor, catalogue), verb=checks.verb(j.level),
                         label=_label(j.data_type), data_type=j.data_type, level=j.level.label,
                         recipient=recipient, recipient_text=f" to {recipient}" if recipient and
                         j.level is Level.TRANSMITTED else "", with_whom=f" with {recipient}" if recipient else "",
                         declaration=declaration)
        yield _finding(check, check.severity_at(j.level), message, data_type=j.data_type, level=j.level,
                       actor=j.actor, category=j.category, evidence=j.evidence, declaration=declaration,
                       location=calling_class(j.evidence) or audit.artifact)


def _sdk_declared(detected: DetectedSdk, names: Iterable[str], catalogue: Catalogue) -> bool:
    sdk = catalogue.sdk(detected.id)
    for name in names:
        if sdk is not None and sdk.answers_to(name):
            return True
        if name.lower() in (detected.id.lower(), detected.name.lower()):
            return True
    return False


def _sdk_findings(check, checks, audit, declarations, judgements, catalogue):
    if declarations.sdks is None:
        return   # the sheet says nothing about SDKs: nothing to compare (reported as a warning by the command)
    want = check.condition("declared")
    for detected in audit.sdks:
        if want is not None and _sdk_declared(detected, declarations.sdks, catalogue) != want:
            continue
        actor = Actor(ActorKind.SDK, detected.id)
        yield _finding(check, check.severity, render(check.message, sdk=detected.id, sdk_name=detected.name),
                       actor=actor, evidence=detected.evidence,
                       declaration="SDKs declared: " + (", ".join(declarations.sdks) or "none"),
                       location=audit.artifact)


def requests(audit: AuditInput) -> dict[str, list[Sent]]:
    grouped: dict[str, list[Sent]] = defaultdict(list)
    for sent in sorted(set(audit.transmissions)):
        grouped[sent.request].append(sent)
    return dict(sorted(grouped.items()))


def _request_findings(check, checks, audit, declarations, judgements, catalogue):
    taxonomy = datatypes()
    requires = set(check.condition("requires", ()))
    for request, items in requests(audit).items():
        types = sorted({s.data_type for s in items if s.data_type in taxonomy and taxonomy[s.data_type].identifier})
        if not requires <= set(types) or len(types) < check.condition("identifiers_min", 0):
            continue
        others = [t for t in types if t not in requires]
        persistent = [t for t in others if taxonomy[t].persistent]
        if len(persistent) < check.condition("persistent_min", 0):
            continue
        if requires and not others:
            continue
        described = others if requires else types
        host = next((s.host for s in items if s.host), "?")
        recipient = next((s.recipient for s in items if s.recipient), None)
        actor = Actor(ActorKind.SDK, recipient) if recipient and catalogue.sdk(recipient) else None
        message = render(check.message, request=request, host=host,
                         types=", ".join(f"{_label(t)} ({t})" for t in described))
        evidence = [s.evidence() for s in items if s.data_type in types]
        yield _finding(check, check.severity, message, data_type="+".join(types), level=Level.TRANSMITTED,
                       actor=actor, evidence=evidence, location=host,
                       declaration=_declaration_about(declarations, types))


def _transmission_findings(check, checks, audit, declarations, judgements, catalogue):
    taxonomy = datatypes()
    scheme = check.condition("scheme")
    identifier = check.condition("identifier")
    for sent in sorted(set(audit.transmissions)):
        if scheme is not None and sent.scheme != scheme:
            continue
        entry = taxonomy.get(sent.data_type)
        if identifier is not None and (entry is None or entry.identifier != identifier):
            continue
        actor = Actor(ActorKind.SDK, sent.recipient) if sent.recipient and catalogue.sdk(sent.recipient) else None
        message = render(check.message, label=_label(sent.data_type), data_type=sent.data_type, host=sent.host,
                         request=sent.request, where=sent.where or "?", scheme=sent.scheme)
        yield _finding(check, check.severity, message, data_type=sent.data_type, level=Level.TRANSMITTED,
                       actor=actor, evidence=[sent.evidence()], location=sent.host or audit.artifact,
                       declaration=_declaration_about(declarations, [sent.data_type]))


def _declaration_about(declarations: Declarations, types: Iterable[str]) -> str:
    texts = list(dict.fromkeys(s.text() for t in types for s in declarations.about(t)))
    return "; ".join(texts) or "no statement about " + ", ".join(types)


def _permission_findings(check, checks, audit, declarations, judgements, catalogue):
    wanted_level = check.condition("protection_level")
    declared_use = check.condition("declared_use")
    positives = [s for s in declarations.statements if s.positive]
    for permission in sorted(audit.permissions, key=lambda p: p.name):
        if wanted_level and permission.protection_level != wanted_level:
            continue
        if not permission.data_types:
            continue   # we do not know what it unlocks: no claim either way
        used = any(covers(s.type, t) or covers(t, s.type) for s in positives for t in permission.data_types)
        if declared_use is not None and used != declared_use:
            continue
        types = ", ".join(f"{_label(t)} ({t})" for t in permission.data_types)
        message = render(check.message, permission=permission.name, types=types)
        yield _finding(check, check.severity, message, data_type=",".join(permission.data_types),
                       level=Level.DECLARED_PERMISSION, actor=FIRST_PARTY,
                       evidence=[Evidence("permission", permission.name, "AndroidManifest.xml",
                                          permission.protection_level)],
                       declaration="no statement covers " + ", ".join(permission.data_types),
                       location=audit.artifact)
