"""Declared vs observed: judge every evidence chain against the vendor's declarations and run the checks of
rules/checks/*.yaml over the judgements, the embedded SDKs, the captured requests and the permissions.

The verdict model (docs/verdicts.md; the categories, severities and collapse families are data in
rules/checks/default.yaml). Per (data type, actor, flow, recipient) chain, at the strongest level observed
(present -> reachable -> invoked -> transmitted, joined across the static scan, the hooks and the captures):
- contradicted: transmitted although a negative statement (not_collected / not_shared) covers the type;
- consistent:   a positive statement that fits the observation names the type (or a narrower one); or a
                negative statement exists and Android refuses the capability to this app;
- vague:        only a broader positive statement covers it (declared `location`, observed `location.precise`);
- contested:    a negative statement covers it, and code can read it (present, reachable or invoked) and
                Android would let it: ranked above silence, never shown as consistent;
- omitted:      nothing in the declaration covers it (the sheet is silent);
- overdeclared: (per statement) declared, but nothing of that type was observed at any level.
Third-party flows (the actor is an SDK, or a request went to a third party) are judged against `shared`
statements naming that recipient (or naming none); first-party flows against `collected` (or `shared`).
A conditional statement (`when:`) covers observations that fit its condition, and the verdict names it
("consistent if driving mode was on").
"""
from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from ..catalogue import Catalogue, dotted, load_catalogue
from ..errors import InputError
from ..model import (FIRST_PARTY, Actor, ActorKind, Evidence, Feasibility, Finding, Level, Observation, Severity,
                     Transmission)
from ..rulesdata import Validator, covers, datatypes, load_yaml, rules_dir, validate
from .declarations import ACCESSED, COLLECTED, NOT_COLLECTED, NOT_SHARED, SHARED, Declarations, Statement

MAX_EVIDENCE = 40   # per finding: enough to follow the chain, bounded for reports of large apps


# -- inputs ------------------------------------------------------------------------------------------------
from ..model import where_text  # noqa: E402  (a place in a request, formatted for output: one definition, in model)


def request_evidence(sent: Transmission) -> Evidence:
    """The request link of a chain: method, URL and encoding as detail, the field as `where`, the value as the
    writer was allowed to keep it (redacted unless --reveal)."""
    url = f"{sent.scheme}://{sent.host}{sent.path}" if sent.host else ""
    detail = " ".join(x for x in (sent.method, url) if x) or None
    if sent.encoding and sent.encoding != "plain":
        detail = f"{detail or ''} ({sent.encoding})".strip()
    if sent.value:
        detail = f"{detail or ''} value {sent.value}".strip()
    return Evidence("request", sent.request, where_text(sent.where) or None, detail)


def sender(sent: Transmission, catalogue: Catalogue) -> Actor:
    """Who sent it: the stack's actor; without a stack, the SDK that owns the host (its own endpoint), the app
    for its own hosts, else unknown."""
    if sent.actor is not None and sent.actor.kind is not ActorKind.UNKNOWN:
        return sent.actor
    if sent.recipient and catalogue.sdk(sent.recipient):
        return Actor(ActorKind.SDK, sent.recipient)
    if sent.party == "first":
        return FIRST_PARTY
    return sent.actor or Actor(ActorKind.UNKNOWN)


def transmitted_observations(transmissions: Iterable[Transmission], catalogue: Catalogue | None = None
                             ) -> list[Observation]:
    """One transmitted observation per (type, sender, recipient, party): the last link of each chain."""
    catalogue = catalogue or load_catalogue()
    groups: dict[tuple, list[Evidence]] = defaultdict(list)
    for sent in transmissions:
        groups[(sent.data_type, sender(sent, catalogue), sent.recipient, sent.party)].append(request_evidence(sent))
    return [Observation(t, Level.TRANSMITTED, actor, "traffic", tuple(sorted(set(ev))), recipient, party)
            for (t, actor, recipient, party), ev in groups.items()]


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

    app: str | None
    observations: tuple[Observation, ...] = ()
    sdks: tuple[DetectedSdk, ...] = ()
    permissions: tuple[PermissionUse, ...] = ()
    transmissions: tuple[Transmission, ...] = ()
    artifact: str | None = None          # the APK, for report locations
    static_scanned: bool = False         # a static scan ran (absence of code paths means something)
    static_complete: bool = False        # ...and read everything (no partial warnings)
    captured: bool = False               # at least one capture was analysed
    warnings: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()        # which evidence could not be read in full, and why
    platform: str = "android"
    app_levels: Any = None               # feasibility.AppLevels of the scanned app (None without a scan)
    sdk_hints: tuple[DetectedSdk, ...] = ()   # SDKs the app names (hosts, keys) whose code was not found
    manifest_keys: tuple[str, ...] = ()  # the scanned manifest's <meta-data> keys (which libraries it links)


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
    escalate: tuple[tuple[str, Any], ...] = ()   # request checks: {requires, severity, reason}

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
    categories: tuple[tuple[str, int, str, str], ...] = ()        # (id, rank, colour, meaning)
    severities: tuple[tuple[tuple[str, str, str], Severity], ...] = ()   # (category, flow|any, level) -> severity
    blocked_cap: Severity = Severity.LOW
    collapse: tuple[tuple[str, ...], ...] = ()

    def verb(self, level: Level) -> str:
        return dict(self.verbs).get(level.label, level.label)

    def by_id(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def rank(self, category: str) -> int:
        return next((r for c, r, _, _ in self.categories if c == category), -1)

    def colours(self) -> dict[str, str]:
        return {c: colour for c, _, colour, _ in self.categories}

    def severity_of(self, category: str, flow: str, level: Level, capped: bool = False) -> Severity | None:
        """The verdict table: None means no finding. `capped`: a capability Android refuses, or one through which
        it only hands over what the user picks, is capped (blocked_cap)."""
        table = dict(self.severities)
        found = table.get((category, flow, level.label), table.get((category, "any", level.label)))
        if found is not None and capped and level.is_capability:
            found = min(found, self.blocked_cap)
        return found


def load_checks(directory: str | Path | None = None) -> CheckSet:
    directory = Path(directory) if directory else rules_dir() / "checks"
    return _load_checks(str(directory))


def _load_verdicts(check: Validator, raw: dict, categories: list, severities: dict, collapse: list) -> Severity | None:
    for name, spec in (raw.get("categories") or {}).items():
        categories.append((name, spec["rank"], spec["colour"], spec.get("meaning", "")))
    known = {c[0] for c in categories}
    for category, flows in (raw.get("severity") or {}).items():
        if category not in known:
            check.fail(raw["severity"], category, f"unknown category {category!r} ({', '.join(sorted(known))})")
        for flow, levels in flows.items():
            for label, text in levels.items():
                if text != "none":
                    severities[(category, flow, label)] = Severity.parse(text)
    collapse.extend(tuple(family) for family in raw.get("collapse") or ())
    return Severity.parse(raw["blocked_cap"]) if raw.get("blocked_cap") else None


@functools.lru_cache(maxsize=4)
def _load_checks(directory: str) -> CheckSet:
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise InputError(f"no checks found in {directory}")
    checks: list[Check] = []
    verbs: dict[str, str] = {}
    categories: list[tuple[str, int, str, str]] = []
    severities: dict[tuple[str, str, str], Severity] = {}
    collapse: list[tuple[str, ...]] = []
    blocked_cap = Severity.LOW
    for path in files:
        raw = load_yaml(path, "checks")
        validate(raw, "checks", path, "checks")   # rules/schemas/checks.schema.json; the rest follows
        check = Validator(path)
        blocked_cap = _load_verdicts(check, raw, categories, severities, collapse) or blocked_cap
        verbs.update((label, str(text)) for label, text in (raw.get("verbs") or {}).items())
        for entry in raw.get("checks") or ():
            if any(c.id == entry["id"] for c in checks):
                check.fail(entry, "id", f"duplicate check id {entry['id']!r}")
            when = entry.get("when") or {}
            escalate = entry.get("escalate") or {}
            if escalate:
                escalate = dict(escalate, severity=Severity.parse(escalate["severity"]),
                                reason=" ".join(escalate["reason"].split()))
            by_level = tuple((label, Severity.parse(text))
                             for label, text in (entry.get("severity_by_level") or {}).items())
            checks.append(Check(entry["id"], entry["title"], entry["subject"], Severity.parse(entry["severity"]),
                                entry["message"], " ".join(entry["help"].split()), tuple(sorted(when.items(), key=str)),
                                by_level, str(path), tuple(sorted(escalate.items(), key=str))))
    names = {c[0] for c in categories}
    for item in checks:
        for category in item.condition("category", ()):
            if names and category not in names:
                raise InputError(f"{item.source}: check {item.id}: unknown category {category!r} "
                                 f"({', '.join(sorted(names))})")
    return CheckSet(tuple(checks), tuple(sorted(verbs.items())), tuple(sorted(categories, key=lambda c: c[1])),
                    tuple(sorted(severities.items())), blocked_cap, tuple(collapse))


# -- one fact per call site --------------------------------------------------------------------------------
def collapse_families(observations: Iterable[Observation], families: Iterable[tuple[str, ...]],
                      named: Iterable[str] = ()) -> list[Observation]:
    """One calling method that reads a location gives one fact, not one per type of the family: its call-site (or
    hooked-call) evidence is kept under the first feasible type of the family (most specific first), preferring a
    type the data sheet names (the fact is judged by the statement that speaks about it); the rest dropped."""
    observations = list(observations)
    named = set(named)
    member = {t: (index, rank) for index, family in enumerate(families) for rank, t in enumerate(family)}

    def site(o: Observation, e: Evidence) -> tuple | None:
        if e.kind not in ("call-site", "hook") or o.data_type not in member or o.level is Level.TRANSMITTED:
            return None
        return (member[o.data_type][0], o.actor, e.where)

    chosen: dict[tuple, tuple] = {}
    for o in observations:
        feasible = o.feasibility is None or o.feasibility.possible
        for e in o.evidence:
            key = site(o, e)
            if key is not None:
                rank = (not feasible, o.data_type not in named, member[o.data_type][1])
                if key not in chosen or rank < chosen[key]:
                    chosen[key] = rank
    out: list[Observation] = []
    moved: dict[tuple, list[Evidence]] = defaultdict(list)
    for o in observations:
        kept = []
        for e in o.evidence:
            key = site(o, e)
            if key is None or chosen[key][2] == member[o.data_type][1]:
                kept.append(e)
            else:
                moved[(key, o.level, o.source)].append(e)
        if kept or not o.evidence:
            out.append(replace(o, evidence=tuple(kept)) if len(kept) != len(o.evidence) else o)
    # Evidence of a broader read (Location.getLatitude beside getLastKnownLocation) joins the chosen type.
    by_site: dict[tuple, Observation] = {}
    for o in out:
        for e in o.evidence:
            key = site(o, e)
            if key is not None:
                by_site.setdefault((key, o.level, o.source), o)
    for (key, level, source), evidence in moved.items():
        target = by_site.get((key, level, source))
        if target is None:
            family = next(f for f in families if member[f[0]][0] == key[0])
            winner = family[chosen[key][2]]
            target = next((o for o in out if o.data_type == winner and o.actor == key[1]), None)
        if target is not None:
            index = out.index(target)
            out[index] = replace(target, evidence=tuple(sorted(set(target.evidence) | set(evidence))))
            by_site[(key, level, source)] = out[index]
    return out


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
    feasibility: Feasibility | None = None   # of the capability, when the chain ends below invoked
    condition: str | None = None        # the condition of the statement that makes it consistent
    captured: bool = False              # a capture was analysed: absence of a transmission means something

    @property
    def feasible(self) -> bool:
        return self.feasibility is None or self.feasibility.possible or not self.level.is_capability

    @property
    def handed_over(self) -> bool:
        """A capability through which Android hands over only what the user picks (chain_feasibility prefers a
        read of the app's own): capped like a refused one, a denial is barely contested by it."""
        return self.feasibility is not None and self.level.is_capability and self.feasibility.handed_over

    def note(self) -> str | None:
        """Why the category holds, where the category alone would mislead."""
        if not self.feasible:
            return (f"{self.actor}: {self.category}: the code is there; Android refuses it to this app "
                    f"({self.feasibility.reason})")
        if self.handed_over:
            return f"{self.actor}: {self.category}: {self.feasibility.reason}"
        if self.condition:
            return f"{self.actor}: {self.category} if {self.condition}"
        return None

    def chain(self) -> dict[str, list[dict[str, Any]]]:
        """The evidence by link: call sites (with their path), hooked reads, requests."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in self.evidence:
            link = {"call-site": "code", "hook": "invoked", "request": "transmitted"}.get(e.kind, e.kind)
            out.setdefault(link, []).append(e.to_json())
        return out

    def to_json(self) -> dict[str, Any]:
        out = {"data_type": self.data_type, "actor": self.actor.to_json(), "flow": self.flow,
               "recipient": self.recipient, "level": self.level.label, "category": self.category,
               "declaration": [s.text() for s in self.declaration], "sources": list(self.sources),
               "evidence_count": len(self.evidence)}
        if self.feasibility is not None:
            out["feasibility"] = self.feasibility.to_json()
        if self.condition:
            out["condition"] = self.condition
        return out


@dataclass(frozen=True)
class AuditResult:
    findings: tuple[Finding, ...]
    judgements: tuple[Judgement, ...]
    overdeclared: tuple[Statement, ...]
    checks: CheckSet = field(repr=False, compare=False, default=None)

    def data_types(self, declarations: Declarations) -> dict[str, dict[str, Any]]:
        """Per data type: the strongest level seen, what was declared about it, and the worst category."""
        taxonomy = datatypes()
        checks = self.checks or load_checks()
        out: dict[str, dict[str, Any]] = {}
        types = {j.data_type for j in self.judgements} | {s.type for s in declarations.statements}
        for data_type in sorted(types):
            judged = [j for j in self.judgements if j.data_type == data_type]
            level = max((j.level for j in judged), default=None)
            if judged:
                category = max((j.category for j in judged), key=checks.rank)
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
                "notes": sorted({note for j in judged if (note := j.note())}),
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


def fits(statement: Statement, group: list[Observation], platform: str) -> bool:
    """Whether a statement's condition can hold for these observations: a platform condition must name the
    app's platform; a permission condition needs the permission among those the reads require (unknown: fits)."""
    if statement.condition_of("platform") not in (None, platform):
        return False
    permission = statement.condition_of("permission")
    if permission:
        needed = {p for o in group if o.feasibility is not None for p in o.feasibility.permissions}
        return not needed or permission in needed
    return True


def chain_feasibility(group: list[Observation]) -> Feasibility | None:
    """The capability's feasibility: possible if any read is possible; blocked only when every read with a
    known feasibility is refused and nothing was seen at runtime."""
    known = [o.feasibility for o in group if o.feasibility is not None and o.level.is_capability]
    if not known:
        return None
    possible = [f for f in known if f.possible]
    own = [f for f in possible if not f.handed_over]   # a read of its own before the contact the user picks
    return min(own or possible) if possible else min(known)


def judge(observations: Iterable[Observation], declarations: Declarations, catalogue: Catalogue | None = None,
          checks: CheckSet | None = None, captured: bool = False, platform: str = "android",
          collapse: bool = True) -> tuple[list[Judgement], list[Statement]]:
    """Chains and their categories. `collapse=False` keeps every type a call site reads (an inquiry asks about
    last-known and precise location separately); findings always collapse."""
    catalogue = catalogue or load_catalogue()
    checks = checks or load_checks()
    # A library's own code (rules/libraries.yaml: logging, HTTP servers, image loaders ...) collects nothing for
    # anyone: what it can do is judged at whoever calls it (call sites inside wrappers carry that caller already).
    # A cross-platform framework, plugin or runtime (`bridge`) is called by the app's code in another language
    # (Dart, JavaScript, C# ...), which no Java caller shows: what it can do is the app's, a first-party flow.
    observations = [o for o in observations if not (o.actor.kind is ActorKind.LIBRARY and o.level.is_capability
                                                    and not _bridge(o.actor, catalogue))]
    seen = observations
    if collapse:
        observations = collapse_families(observations, checks.collapse, {s.type for s in declarations.statements})
    groups: dict[tuple, list[Observation]] = defaultdict(list)
    for obs in observations:
        flow, recipient = flow_of(obs)
        groups[(obs.data_type, obs.actor, flow, recipient)].append(obs)
    judgements = []
    applicable = [s for s in declarations.statements if s.condition_of("platform") in (None, platform)]
    for (data_type, actor, flow, recipient), group in sorted(groups.items(), key=lambda kv: _group_key(kv[0])):
        level = max(o.level for o in group)
        feasibility = chain_feasibility(group) if level.is_capability else None
        feasible = feasibility is None or feasibility.possible
        negatives = [s for s in applicable if s.kind == NOT_COLLECTED and s.covers(data_type)]
        if flow == "third":
            negatives += [s for s in applicable if s.kind == NOT_SHARED and s.covers(data_type)
                          and recipient_matches(s.recipients, recipient, catalogue)]
            positives = [s for s in applicable if s.kind == SHARED
                         and recipient_matches(s.recipients, recipient, catalogue)]
        else:
            positives = [s for s in applicable if s.kind in (COLLECTED, SHARED)]
        if level < Level.TRANSMITTED:   # "the app accesses the camera" covers use on the device, not a sending
            positives += [s for s in applicable if s.kind == ACCESSED]
        positives = [s for s in positives if fits(s, group, platform)]
        exact = [s for s in positives if covers(data_type, s.type)]   # same type, or declared narrower
        broad = [s for s in positives if s.covers(data_type) and s.type != data_type]
        condition = None
        # A statement naming the type (or a narrower one) decides; then a denial, which is more specific than a
        # broader positive statement ("collects location" beside "does not collect precise location").
        if exact:
            category, against = "consistent", exact
            condition = _condition_text(exact)
        elif negatives and level is Level.TRANSMITTED:
            category, against = "contradicted", negatives
        elif negatives and level >= Level.PRESENT and feasible:
            category, against = "contested", negatives
        elif negatives:
            category, against = "consistent", negatives   # a permission only, or Android refuses the read
        elif broad:
            category, against = "vague", broad
            condition = _condition_text(broad)
        else:
            # Name what the sheet does say about the type (e.g. shared with someone else) to help the reader.
            category, against = "omitted", declarations.about(data_type)[:3]
        evidence = sorted({e for o in group for e in o.evidence}, key=evidence_key)
        judgements.append(Judgement(data_type, actor, flow, recipient, level, category, tuple(evidence),
                                    tuple(against), bool(negatives), tuple(sorted({o.source for o in group})),
                                    feasibility, condition, captured))
    overdeclared = [s for s in declarations.statements if s.positive and not any(
        covers(s.type, o.data_type) or covers(o.data_type, s.type) for o in seen)]
    return judgements, overdeclared


def _condition_text(statements: list[Statement]) -> str | None:
    """When every covering statement is conditional, the verdict holds only under one of the conditions."""
    if any(not s.conditional for s in statements):
        return None
    return " or ".join(dict.fromkeys(s.condition_text() for s in statements))


def _group_key(key: tuple) -> tuple:
    data_type, actor, flow, recipient = key
    return (data_type, actor.kind.value, actor.id or "", flow, recipient or "")


def evidence_key(evidence: Evidence) -> tuple:
    order = {"request": 0, "hook": 1, "call-site": 2}
    return (order.get(evidence.kind, 3), evidence.kind, evidence.ref, evidence.where or "", evidence.detail or "")


# -- findings ----------------------------------------------------------------------------------------------
def fingerprint(rule: str, data_type: str | None, actor: Actor | None, evidence: Iterable[Evidence]) -> str:
    """Stable across runs and wording changes: rule, data type, actor and the evidence refs, never values."""
    refs = sorted({f"{e.kind}|{e.ref}|{e.where or ''}" for e in evidence})
    text = "\x1f".join([rule, data_type or "", str(actor or ""), *refs])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _finding(check: Check, severity: Severity, message: str, *, data_type=None, level=None, actor=None,
             category=None, evidence=(), declaration=None, location=None, statement=None) -> Finding:
    evidence = tuple(evidence)
    return Finding(rule=check.id, severity=severity, message=message, data_type=data_type, level=level,
                   actor=actor, category=category, evidence=evidence[:MAX_EVIDENCE], declaration=declaration,
                   location=location, fingerprint=fingerprint(check.id, data_type, actor, evidence),
                   statement=statement)


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
        bridge = _bridge(actor, catalogue)
        return f"Library {actor.id} (run by the app's {bridge} code)" if bridge else f"Library {actor.id}"
    return f"Unattributed code{f' in {actor.id}' if actor.id else ''}"


def _bridge(actor: Actor, catalogue: Catalogue) -> str | None:
    """The language of the app code a cross-platform plugin library runs for, or None."""
    library = catalogue.library(actor.id or "") if actor.kind is ActorKind.LIBRARY else None
    return library.bridge if library is not None else None


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
    judgements, overdeclared = judge(audit.observations, declarations, catalogue, checks, audit.captured,
                                     audit.platform)
    findings: list[Finding] = []
    for check in checks.checks:
        runner = {"judgement": _judgement_findings, "sdk": _sdk_findings, "request": _request_findings,
                  "transmission": _transmission_findings, "permission": _permission_findings,
                  "recipient": _recipient_findings}[check.subject]
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


def observed_text(j: Judgement, catalogue: Catalogue) -> str:
    """What the captures say about this chain: only a capture that was analysed can say nothing was sent."""
    if j.level is Level.TRANSMITTED:
        return ""
    if not j.captured:
        return "; no capture was analysed"
    to = recipient_text(j.recipient, catalogue) if j.flow == "third" else "any recipient"
    return f"; the analysed captures show no transmission of it to {to or 'a third party'}"


def feasibility_text(j: Judgement) -> str:
    if j.handed_over:
        return f" ({j.feasibility.reason})"
    if j.feasible or j.feasibility is None:
        return ""
    return f" (the code is there; Android refuses it to this app: {j.feasibility.reason})"


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
        severity = checks.severity_of(j.category, j.flow, j.level, not j.feasible or j.handed_over) \
            if checks.severities else check.severity_at(j.level)
        if severity is None:
            continue
        declaration = "; ".join(s.text() for s in j.declaration) or "no statement"
        recipient = recipient_text(j.recipient, catalogue)
        verb = checks.verb(j.level) if j.feasible else "contains code that would access"
        message = render(check.message, actor=actor_text(j.actor, catalogue), verb=verb,
                         label=_label(j.data_type), data_type=j.data_type, level=j.level.label,
                         recipient=recipient, recipient_text=f" to {recipient}" if recipient and
                         j.level is Level.TRANSMITTED else "", with_whom=f" with {recipient}" if recipient else "",
                         declaration=declaration, observed=observed_text(j, catalogue),
                         feasibility=feasibility_text(j), condition=j.condition or "")
        yield _finding(check, severity, message, data_type=j.data_type, level=j.level,
                       actor=j.actor, category=j.category, evidence=j.evidence, declaration=declaration,
                       location=calling_class(j.evidence) or audit.artifact,
                       statement=j.declaration[0].where if j.declaration else declarations.path_line)


def sdk_declared(detected: DetectedSdk, names: Iterable[str], catalogue: Catalogue) -> bool:
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
        if want is not None and sdk_declared(detected, declarations.sdks, catalogue) != want:
            continue
        actor = Actor(ActorKind.SDK, detected.id)
        yield _finding(check, check.severity, render(check.message, sdk=detected.id, sdk_name=detected.name),
                       actor=actor, evidence=detected.evidence,
                       declaration="SDKs declared: " + (", ".join(declarations.sdks) or "none"),
                       location=audit.artifact, statement=declarations.sdks_where)


def requests(audit: AuditInput) -> dict[str, list[Transmission]]:
    grouped: dict[str, list[Transmission]] = defaultdict(list)
    for sent in sorted(set(audit.transmissions), key=Transmission.sort_key):
        for request in sent.all_requests:   # the same sent by many requests is one transmission
            grouped[request].append(sent)
    return dict(sorted(grouped.items()))


def _request_findings(check, checks, audit, declarations, judgements, catalogue):
    taxonomy = datatypes()
    requires = set(check.condition("requires", ()))
    escalate = dict(check.escalate)
    categories = set(check.condition("play_categories", ()))
    counts = {t for t, entry in taxonomy.items()
              if entry.identifier and (not categories or entry.play_category in categories)}
    for request, items in requests(audit).items():
        types = sorted({s.data_type for s in items if s.data_type in counts})
        if not requires <= set(types) or len(types) < check.condition("identifiers_min", 0):
            continue
        others = [t for t in types if t not in requires]
        persistent = [t for t in others if taxonomy[t].persistent]
        if len(persistent) < check.condition("persistent_min", 0):
            continue
        if requires and not others:
            continue
        severity, reason = check.severity, ""
        if escalate and set(escalate["requires"]) <= set(types):
            severity, reason = max(severity, escalate["severity"]), f"; {escalate['reason']}"
        described = others if requires else types
        host = next((s.host for s in items if s.host), "?")
        sent_by = sender(items[0], catalogue)
        actor = sent_by if sent_by.kind is ActorKind.SDK else None
        message = render(check.message, request=request, host=host, reason=reason,
                         types=", ".join(f"{_label(t)} ({t})" for t in described))
        evidence = [request_evidence(s) for s in items if s.data_type in types]
        denied = declarations.bridging_denied(types)
        about = denied + [s for t in types for s in declarations.about(t)]
        declaration = "; ".join([*(s.text() for s in denied), _declaration_about(declarations, types)])
        yield _finding(check, max(severity, Severity.HIGH) if denied else severity, message,
                       data_type="+".join(types), level=Level.TRANSMITTED, actor=actor, evidence=evidence,
                       location=host, declaration=declaration, category="contradicted" if denied else None,
                       statement=about[0].where if about else declarations.path_line)


def _transmission_findings(check, checks, audit, declarations, judgements, catalogue):
    taxonomy = datatypes()
    scheme = check.condition("scheme")
    identifier = check.condition("identifier")
    for sent in sorted(set(audit.transmissions), key=Transmission.sort_key):
        if scheme is not None and sent.scheme != scheme:
            continue
        entry = taxonomy.get(sent.data_type)
        if identifier is not None and (entry is None or entry.identifier != identifier):
            continue
        sent_by = sender(sent, catalogue)
        message = render(check.message, label=_label(sent.data_type), data_type=sent.data_type, host=sent.host,
                         request=sent.request, where=where_text(sent.where) or "?", scheme=sent.scheme)
        about = declarations.about(sent.data_type)
        yield _finding(check, check.severity, message, data_type=sent.data_type, level=Level.TRANSMITTED,
                       actor=sent_by if sent_by.kind is ActorKind.SDK else None, evidence=[request_evidence(sent)],
                       location=sent.host or audit.artifact,
                       declaration=_declaration_about(declarations, [sent.data_type]),
                       statement=about[0].where if about else declarations.path_line)


def _recipient_findings(check, checks, audit, declarations, judgements, catalogue):
    """Data sent to a recipient whose catalogue categories the sheet excludes (no ad-tech, no profiling)."""
    exclusions = declarations.exclusions
    if not exclusions:
        return
    by_recipient: dict[str, list[Transmission]] = defaultdict(list)
    for sent in sorted(set(audit.transmissions), key=Transmission.sort_key):
        if sent.party == "third" and sent.recipient:
            by_recipient[sent.recipient].append(sent)
    for recipient, items in sorted(by_recipient.items()):
        sdk = catalogue.sdk(recipient)
        categories = set(sdk.categories) if sdk else set()
        hits = [x for x in exclusions if categories & set(x.recipient_categories)]
        if not hits:
            continue
        types = sorted({s.data_type for s in items})
        message = render(check.message, types=", ".join(f"{_label(t)} ({t})" for t in types),
                         recipient=recipient_text(recipient, catalogue), categories=", ".join(sorted(categories)),
                         declaration="; ".join(x.text() for x in hits))
        yield _finding(check, check.severity, message, data_type="+".join(types), level=Level.TRANSMITTED,
                       actor=Actor(ActorKind.SDK, recipient) if sdk else None, category="contradicted",
                       evidence=[request_evidence(s) for s in items], location=items[0].host,
                       declaration="; ".join(x.text() for x in hits), statement=hits[0].where)


def _declaration_about(declarations: Declarations, types: Iterable[str]) -> str:
    texts = list(dict.fromkeys(s.text() for t in types for s in declarations.about(t)))
    return "; ".join(texts) or "no statement about " + ", ".join(types)


def _permission_findings(check, checks, audit, declarations, judgements, catalogue):
    wanted_level = check.condition("protection_level")
    declared_use = check.condition("declared_use")
    for permission in sorted(audit.permissions, key=lambda p: p.name):
        if wanted_level and permission.protection_level != wanted_level:
            continue
        if not permission.data_types:
            continue   # we do not know what it unlocks: no claim either way
        # Any statement, positive or negative, is a statement about the type: the permission check never says
        # "nothing covers X" beside a sheet that denies X (the denial is judged on the code that reads it).
        said = [s for t in permission.data_types for s in declarations.about(t)]
        if declared_use is not None and bool(said) != declared_use:
            continue
        types = ", ".join(f"{_label(t)} ({t})" for t in permission.data_types)
        message = render(check.message, permission=permission.name, types=types)
        yield _finding(check, check.severity, message, data_type=",".join(permission.data_types),
                       level=Level.DECLARED_PERMISSION, actor=FIRST_PARTY,
                       evidence=[Evidence("permission", permission.name, "AndroidManifest.xml",
                                          permission.protection_level)],
                       declaration=_declaration_about(declarations, permission.data_types),
                       location=audit.artifact, statement=declarations.path_line)
