"""Reproducing an inquiry: answer a list of claims about an app, one by one, from the evidence.

Verdicts, and what they require (the asymmetry is deliberate; a wrong "contradicted" is worse than none):

- collects TYPE   supported    the type was *transmitted* (found in captured traffic). Collection, for Google
                               Play, Apple and the GDPR alike, is data leaving the device.
                  inconclusive the app can access it (code path, runtime read) but no capture showed it
                               leaving: a capability, not collection. Also when a capture ran without it:
                               a run cannot prove the feature that would send it was exercised.
                  contradicted a complete static scan found no code path to the type, the permissions the app
                               requests unlock none of its APIs, Android gives it to this app only with a
                               permission (its API rules judged with the app's levels and none: _gated; a
                               handover the scan would have found, such as the contact picker, aside), and no
                               capture or hook saw it; or (_unobtainable)
                               it found code, but Android refuses every read of it to this app (blocked or
                               degraded on every level the app installs on), and no capture or hook saw it;
                               or, after a scan that did not read everything (the manifest still whole),
                               Android refuses every API that yields the type to this app.
- accesses TYPE   supported    reachable code reads it and Android lets it, or a hook saw it read at runtime.
                  inconclusive only unreachable (present) code or only a permission; only a handover (the
                               contact the user picks: what Android hands over, no access of the app's own);
                               or refused code found by a scan that was not complete.
                  contradicted as for collects.
- shares {type, recipient}  supported when the type was transmitted to that third party (or, with no
                  recipient named, to any third party); inconclusive when only the recipient's SDK code can
                  access it; contradicted as for collects (the app cannot obtain the type at all).
- bridges [A, B]  supported when one request, or one recipient, received both; inconclusive when both are
                  only accessible; contradicted when either one is unobtainable (as for collects).
- embeds SDK      supported when the scan found the SDK's classes or manifest keys (or traffic to its hosts);
                  contradicted when a complete scan found none of them (obfuscation can hide package names:
                  the note says so); inconclusive when the scan was partial, when the app names the SDK's
                  hosts or keys without its code (a hint: renamed code is as likely as leftovers), or when
                  the catalogue knows the SDK by hosts alone (Unity Analytics, in the engine's native code).
- sdk_count N     supported when at least N distinct SDKs were found; inconclusive when fewer (the catalogue
                  may not know them all). Never contradicted from static evidence.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..catalogue import Catalogue, load_catalogue
from ..model import Evidence, Level, Observation
from ..rulesdata import LineDict, Validator, covers, load_yaml as _raw_load_yaml, rules_dir, schema, validate
from .declarations import NEGATIVE, NOT_SHARED, SHARED, Declarations, load_yaml, nearest
from .engine import (AuditInput, evidence_key, flow_of, judge, load_checks, recipient_matches, request_evidence,
                     requests, sdk_declared)

VERDICTS = ("supported", "contradicted", "inconclusive")
MAX_CLAIM_EVIDENCE = 20
MAX_NAMED_APIS = 3               # APIs a note names


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    kind: str
    subject: Any            # a type, {type, recipient}, [A, B], an SDK name, or a number
    where: str = ""


@dataclass(frozen=True)
class Inquiry:
    title: str
    source: str | None
    claims: tuple[Claim, ...]
    path: str


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: str
    level: Level | None
    evidence: tuple[Evidence, ...]
    declaration: tuple[str, ...]
    note: str
    category: str | None = None    # the vendor's statement judged against the same evidence (docs/verdicts.md)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.claim.id, "text": self.claim.text, "kind": self.claim.kind,
                "subject": self.claim.subject, "verdict": self.verdict,
                "level": self.level.label if self.level is not None else None,
                "evidence": [e.to_json() for e in self.evidence], "declaration": list(self.declaration),
                "note": self.note, "category": self.category}


# -- loading -----------------------------------------------------------------------------------------------
def claim_kinds() -> tuple[str, ...]:
    """What a claim may state, one per claim (rules/schemas/inquiry.schema.json: every field but id, text, note)."""
    fields = schema("inquiry")["properties"]["claims"]["items"]["properties"]
    return tuple(name for name in fields if name not in ("id", "text", "note"))


def load_inquiry(path: str | Path) -> Inquiry:
    path = Path(path)
    raw = load_yaml(path, "inquiry")
    validate(raw, "inquiry", path, "inquiry")
    check = Validator(path)
    check.unique(raw["claims"], "id", "claim id")
    claims = []
    for entry in raw["claims"]:
        kinds = [k for k in claim_kinds() if entry.get(k) is not None]
        if len(kinds) != 1:
            check.fail(entry, "id", f"claim {entry['id']!r} needs exactly one of {', '.join(claim_kinds())}"
                                    f" (found {', '.join(kinds) or 'none'})")
        kind = kinds[0]
        subject = entry[kind]
        if kind == "shares":
            subject = {"type": subject["type"], "recipient": subject.get("recipient")}
        elif kind == "bridges":
            subject = list(subject)
        line = entry.line_of("id") if isinstance(entry, LineDict) else "?"
        claims.append(Claim(entry["id"], " ".join(entry["text"].split()), kind, subject, f"{path.name}:{line}"))
    return Inquiry(raw["title"], raw.get("source"), tuple(claims), str(path))


# -- answering ---------------------------------------------------------------------------------------------
def answer(inquiry: Inquiry, audit: AuditInput, declarations: Declarations,
           catalogue: Catalogue | None = None) -> list[ClaimResult]:
    catalogue = catalogue or load_catalogue()
    checks = load_checks()
    judgements, _ = judge(audit.observations, declarations, catalogue, checks, audit.captured, audit.platform,
                          collapse=False)
    out = []
    for claim in inquiry.claims:
        result = _answer(claim, audit, declarations, catalogue)
        if claim.kind == "bridges":
            category = _bridging_category(claim, result, audit, declarations)
        else:
            category = _vendor_category(claim, judgements, checks)
        out.append(replace(result, category=category))
    return out


def _bridging_category(claim: Claim, result: ClaimResult, audit: AuditInput, declarations: Declarations
                       ) -> str | None:
    """A denial of bridging is contradicted by a request (or recipient) receiving both, consistent as far as an
    analysed capture goes otherwise; without a capture nothing can be said about it."""
    if not declarations.bridging_denied(claim.subject):
        return None
    if result.verdict == "supported":
        return "contradicted"
    return "consistent" if audit.captured else None


def _vendor_category(claim: Claim, judgements: list, checks) -> str | None:
    """How the vendor's statement fares against the evidence for the claim's data types: the worst category of
    the chains it covers, with the condition when a conditional statement is what makes it consistent."""
    if claim.kind in ("collects", "accesses"):
        types = [claim.subject]
    elif claim.kind == "shares":
        types = [claim.subject["type"]]
    elif claim.kind == "bridges":
        types = list(claim.subject)
    else:
        return None
    chains = [j for j in judgements if any(covers(t, j.data_type) for t in types)
              and j.level >= Level.PRESENT and (claim.kind != "shares" or j.flow == "third")]
    if not chains:
        return None
    worst = max(chains, key=lambda j: checks.rank(j.category))
    return f"{worst.category} if {worst.condition}" if worst.condition else worst.category


def _of_type(audit: AuditInput, data_type: str) -> list[Observation]:
    return [o for o in audit.observations if covers(data_type, o.data_type)]


def _evidence(observations: list[Observation], minimum: Level = Level.DECLARED_PERMISSION) -> tuple[Evidence, ...]:
    items = {e for o in observations if o.level >= minimum for e in o.evidence}
    return tuple(sorted(items, key=evidence_key)[:MAX_CLAIM_EVIDENCE])


def _strongest(observations: list[Observation]) -> Level | None:
    return max((o.level for o in observations), default=None)


def _absence(audit: AuditInput, data_type: str) -> str | None:
    """Why we may say the app does not handle `data_type` at all; None when we may not."""
    if not audit.static_scanned:
        return None
    if not audit.static_complete:
        return None
    if _of_type(audit, data_type):
        return None
    if audit.app_levels is not None:
        # the permissions it requests judged as Android judges them for this app, API by API: WRITE_EXTERNAL_STORAGE
        # unlocks the gallery but no camera, READ_PHONE_STATE no phone number from API 30
        if not _android_refuses(audit.app_levels, data_type, _not_asked(audit)):
            return None
    elif any(covers(data_type, t) for p in audit.permissions for t in p.data_types) or any(
            p.name in _api_permissions(str(rules_dir()), data_type) for p in audit.permissions):
        return None   # a permission for the type, or one rules/apis.yaml names for reading it (FINE for cell info)
    if not _detectable(data_type):
        return None   # no API rule could have found it: silence is not evidence
    if not _gated(audit, data_type):
        return None   # readable without any permission (the clock, the build): no code found is weak evidence
    return (f"a complete static scan found no code path to {data_type} and the app requests no permission "
            f"unlocking it{_unseen(audit)} (reflection, native code or downloaded code are outside static reach)")


def _unseen(audit: AuditInput) -> str:
    """What a contradiction adds when captures were analysed too: none of them saw the type."""
    return "; no capture or hook saw it" if audit.captured else ""


def _unobtainable(audit: AuditInput, data_type: str) -> str | None:
    """Why the app cannot obtain `data_type` at all; None when it may. Either no code path and no permission
    (_absence), or a complete scan found code whose every read Android refuses to this app and nothing read or
    sent it at runtime (_refused): the missing permission or the platform's restriction that makes a missing
    code path strong evidence holds for the code that is there too. After a scan that did not read everything
    (a dex left out, splits not given, the time limit), the manifest was still read whole: where Android refuses
    every API that yields the type to this app, no code, read or not, obtains it."""
    absent = _absence(audit, data_type)
    if absent or not audit.static_scanned:
        return absent
    if not audit.static_complete:
        if audit.app_levels is None or not _android_refuses(audit.app_levels, data_type, _not_linked(audit)):
            return None
        return (f"Android refuses every read of {data_type} to this app (no permission it requests unlocks one on "
                f"any level it installs on): the scan did not read everything, but no code could obtain it"
                f"{_unseen(audit)}")
    refused = _refused(_of_type(audit, data_type))
    if refused is None:
        return None
    return f"the code is there, but Android refuses it to this app: {refused}{_unseen(audit)}"


@functools.lru_cache(maxsize=256)
def _api_permissions(rules: str, data_type: str) -> frozenset[str]:
    """Every permission an `access` item of rules/apis.yaml names for an API of `data_type`, a narrower or a
    broader type: the permission table's `data_types` list what a permission is for, the API rules what it
    actually lets an app read, and holding any of them makes a missing code path weak evidence."""
    from ..static.apis import load_apis
    return frozenset(name for rule in load_apis() for item in rule.access
                     if covers(data_type, item.data_type or rule.data_type)
                     or covers(item.data_type or rule.data_type, data_type)
                     for name in (*(item.any_of or ()), *(item.all_of or ())))


def _detectable(data_type: str) -> bool:
    """Whether rules/apis.yaml has any API for the type (or a narrower one): only then is a scan that found no
    code path evidence of absence."""
    from ..static.apis import load_apis
    return any(covers(data_type, rule.data_type) or covers(rule.data_type, data_type) for rule in load_apis())


@functools.lru_cache(maxsize=4)
def _gated_types(rules: str) -> frozenset[str]:
    raw = _raw_load_yaml(Path(rules) / "permissions.yaml", "permission list") or {}
    return frozenset(t for spec in (raw.get("permissions") or {}).values() if isinstance(spec, dict)
                     for t in spec.get("data_types") or ())


def _gated(audit: AuditInput, data_type: str) -> bool:
    """Whether Android guards the type with a permission for this app: only then does "the app requests no such
    permission" make a missing code path strong evidence. For a scanned app, every API that yields the type (or a
    narrower one) is judged as if the app requested no permission, on the levels it installs on: one that
    Android would answer (`granted`, or `unknown`: not decided) leaves the type unguarded. The advertising ID
    needs AD_ID only from target API 33, the installed apps QUERY_ALL_PACKAGES only from target 30: for older
    targets finding no code is no proof (a renamed or reflective read, as minified SDKs do, is not found by name).
    Without a scan, whether the permission table names the type at all."""
    if audit.app_levels is None:
        return any(covers(data_type, t) for t in _gated_types(str(rules_dir())))
    # (a shared user id may hold what this app does not request: its verdicts stay unknown)
    return _android_refuses(replace(audit.app_levels, requested=()), data_type, _not_asked(audit))


def _unguarded(audit: AuditInput, data_type: str) -> list[str]:
    """The first APIs that give the type to this app without a permission (what keeps _gated from holding)."""
    judged = _refusals(replace(audit.app_levels, requested=()), data_type, _not_asked(audit))
    return [api for api, refused in judged if not refused][:MAX_NAMED_APIS]


def _not_asked(audit: AuditInput) -> frozenset[str]:
    """The APIs a complete scan's missing code path leaves out of the question: those the app cannot call
    (_not_linked) and the handovers it would have found (_handovers_found_renamed)."""
    return _not_linked(audit) | _handovers_found_renamed()


def _yields(rule, data_type: str) -> bool:
    """An API rule yields the type: its own type or a narrower one, or an access item that yields it (a fused
    location request gives a precise fix; a gallery query gives no camera)."""
    return covers(data_type, rule.data_type) or any(item.data_type and covers(data_type, item.data_type)
                                                    for item in rule.access or ())


def _not_linked(audit: AuditInput) -> frozenset[str]:
    """The APIs this app cannot call, renamed or not: their library's manifest key (rules/apis.yaml
    `manifest_key`, merged into every app that links it) is not in the scanned manifest."""
    from ..static.apis import load_apis
    keys = set(audit.manifest_keys)
    return frozenset(rule.id for rule in load_apis() if rule.manifest_key and rule.manifest_key not in keys)


@functools.lru_cache(maxsize=1)
def _handovers_found_renamed() -> frozenset[str]:
    """The APIs through which Android hands over one item without the permission (rules/apis.yaml `handover`)
    and that a scan finds whatever the build renamed (the contact picker's Intent, the SMS Retriever's extra,
    androidx's picker contracts): a complete scan that found none is evidence the app takes no such way around
    the permission. One through an SDK class (Play services' phone number hint) may have been renamed."""
    from ..static.apis import load_apis
    return frozenset(rule.id for rule in load_apis() if rule.handover and rule.found_renamed)


def _android_refuses(levels, data_type: str, not_asked: frozenset[str] = frozenset()) -> bool:
    """Whether every API that yields the type (_yields) is blocked or degraded for an app of these levels and
    requested permissions (feasibility.AppLevels), the APIs `not_asked` left out."""
    judged = _refusals(levels, data_type, not_asked)
    return bool(judged) and all(refused for _api, refused in judged)


@functools.lru_cache(maxsize=256)
def _refusals(levels, data_type: str, not_asked: frozenset[str]) -> tuple[tuple[str, bool], ...]:
    """(API id, whether Android refuses it: blocked or degraded) for every API that yields the type, judged for
    an app of these levels and requested permissions, the APIs `not_asked` left out."""
    from ..static.apis import load_apis
    from ..static.feasibility import judge
    return tuple((rule.id, judge(rule, levels)[1].status in ("blocked", "degraded")) for rule in load_apis()
                 if rule.id not in not_asked and _yields(rule, data_type))


def _declared(declarations: Declarations, data_type: str, kinds=None) -> tuple[str, ...]:
    return tuple(s.text() for s in declarations.about(data_type) if kinds is None or s.kind in kinds) or (
        f"no statement about {data_type}",)


def _answer(claim: Claim, audit: AuditInput, declarations: Declarations, catalogue: Catalogue) -> ClaimResult:
    kind = claim.kind
    if kind in ("collects", "accesses"):
        data_type = claim.subject
        observed = _of_type(audit, data_type)
        level = _strongest(observed)
        declared = _declared(declarations, data_type)
        threshold = Level.TRANSMITTED if kind == "collects" else Level.REACHABLE
        refused = _refused(observed)   # refused code supports no claim; it contradicts one after a complete scan
        # a picked contact or a photo taken in the camera app is not an access of the app's own
        handed = level is not None and _handed_over([o for o in observed if o.level == level])
        if level is not None and level >= threshold and refused is None and not (kind == "accesses" and handed):
            verb = "transmitted" if level is Level.TRANSMITTED else f"{level.label} (accessed)"
            return ClaimResult(claim, "supported", level, _evidence(observed, threshold), declared,
                               f"{data_type} {verb}: {_who(observed, level)}")
        absent = _unobtainable(audit, data_type)
        if absent:
            return ClaimResult(claim, "contradicted", level, _evidence(observed), declared, absent)
        if level is None:
            note = "no evidence either way" + ("" if audit.static_complete else " (static scan incomplete or absent)")
        elif kind == "collects":
            note = (f"capability only: strongest evidence for {data_type} is {level.label} "
                    f"({_who(observed, level)}), but "
                    + ("no analysed capture carried it; a run cannot prove the sending feature was exercised"
                       if audit.captured else "no capture was analysed, so collection cannot be shown"))
        elif handed and level >= threshold:
            note = f"only what Android hands over ({_who(observed, level)}), no access of the app's own"
        elif refused is None:
            note = f"only {level.label} evidence ({_who(observed, level)}): no reachable code path or runtime read"
        else:
            note = f"{level.label} code ({_who(observed, level)}), but the static scan was incomplete"
        if refused is not None:
            note += f"; the code is there, but Android refuses it to this app: {refused}"
        if absent is None and level is None and audit.static_complete and not _gated(audit, data_type):
            note += (f"; Android gives {data_type} without a permission"
                     + (f" ({', '.join(_unguarded(audit, data_type))})" if audit.app_levels is not None else "")
                     + ", so finding no known API is not proof of absence")
        return ClaimResult(claim, "inconclusive", level, _evidence(observed), declared, note)

    if kind == "shares":
        data_type, recipient = claim.subject["type"], claim.subject.get("recipient")
        observed = [o for o in _of_type(audit, data_type) if flow_of(o)[0] == "third"
                    and recipient_matches([recipient] if recipient else [], flow_of(o)[1], catalogue)]
        level = _strongest(observed)
        declared = _declared(declarations, data_type, (SHARED, NOT_SHARED, *NEGATIVE))
        to_whom = recipient or "a third party"
        if level is Level.TRANSMITTED:
            return ClaimResult(claim, "supported", level, _evidence(observed, Level.TRANSMITTED), declared,
                               f"{data_type} sent to {to_whom}")
        absent = _unobtainable(audit, data_type)
        if absent:
            return ClaimResult(claim, "contradicted", level, _evidence(observed), declared, absent)
        embedded = recipient is None or any(sdk_declared(s, [recipient], catalogue) for s in audit.sdks)
        note = (f"capability only: {to_whom} code reaches {data_type} at level {level.label}; "
                f"no capture showed it sent"
                if level is not None else
                f"no evidence that {to_whom} receives {data_type}"
                + ("" if embedded else f"; {recipient} was not found embedded"))
        return ClaimResult(claim, "inconclusive", level, _evidence(observed), declared, note)

    if kind == "bridges":
        first, second = claim.subject
        declared = tuple(s.text() for s in declarations.bridging_denied([first, second])) + \
            _declared(declarations, first) + _declared(declarations, second)
        for request, items in requests(audit).items():
            types = {s.data_type for s in items}
            if any(covers(first, t) for t in types) and any(covers(second, t) for t in types):
                evidence = tuple(request_evidence(s) for s in items
                                 if covers(first, s.data_type) or covers(second, s.data_type))
                return ClaimResult(claim, "supported", Level.TRANSMITTED, evidence, declared,
                                   f"request {request} to {items[0].host or '?'} carries both")
        sent = [o for o in audit.observations if o.level is Level.TRANSMITTED]
        by_recipient: dict[str, set] = {}
        for o in sent:
            by_recipient.setdefault(o.recipient or "?", set()).add(o.data_type)
        for recipient, types in sorted(by_recipient.items()):
            if recipient != "?" and any(covers(first, t) for t in types) and any(covers(second, t) for t in types):
                evidence = _evidence([o for o in sent if o.recipient == recipient
                                      and (covers(first, o.data_type) or covers(second, o.data_type))])
                return ClaimResult(claim, "supported", Level.TRANSMITTED, evidence, declared,
                                   f"{recipient} received both (in separate requests)")
        for data_type in (first, second):
            absent = _unobtainable(audit, data_type)
            if absent:
                refused_code = _of_type(audit, data_type)
                return ClaimResult(claim, "contradicted", _strongest(refused_code), _evidence(refused_code),
                                   declared, absent)
        observed = _of_type(audit, first) + _of_type(audit, second)
        levels = [_strongest(_of_type(audit, t)) for t in (first, second)]
        weakest = min((lv for lv in levels if lv is not None), default=None) if all(levels) else None
        return ClaimResult(claim, "inconclusive", weakest, _evidence(observed), declared,
                           "both are accessible but no request or recipient was seen receiving both"
                           if all(levels) else "evidence for only one of the two")

    if kind == "embeds":
        name = claim.subject
        listed = declarations.sdks is not None and any(
            n.lower() == name.lower() or (catalogue.sdk(n) and catalogue.sdk(n).answers_to(name))
            for n in declarations.sdks)
        declared = (f"SDK list {'names' if listed else 'does not name'} {name}: "
                    + (", ".join(declarations.sdks) if declarations.sdks is not None else "no SDK list"),)
        found = [s for s in audit.sdks if sdk_declared(s, [name], catalogue)]
        if found:
            evidence = tuple(e for s in found for e in s.evidence)[:MAX_CLAIM_EVIDENCE]
            return ClaimResult(claim, "supported", Level.PRESENT, evidence, declared,
                               "found: " + ", ".join(f"{s.name} ({s.id})" for s in found))
        sent = [o for o in audit.observations if o.level is Level.TRANSMITTED and o.recipient
                and recipient_matches([name], o.recipient, catalogue)]
        if sent:
            return ClaimResult(claim, "supported", Level.TRANSMITTED, _evidence(sent), declared,
                               f"no classes found, but traffic went to {name}'s hosts")
        answering = [s for s in catalogue.sdks if s.answers_to(name)]
        known = bool(answering)
        # an SDK the catalogue knows by hosts alone (Unity Analytics, in the engine's native code): no scan finds it
        hosts_only = [s for s in answering if not s.packages and not s.manifest_keys]
        named = [h for h in audit.sdk_hints if sdk_declared(h, [name], catalogue)]
        if named:   # its hosts or keys are in the app: renamed code is as likely as leftovers
            evidence = tuple(e for h in named for e in h.evidence)[:MAX_CLAIM_EVIDENCE]
            return ClaimResult(claim, "inconclusive", None, evidence, declared,
                               f"no classes of {name} found, but the app names it ("
                               + "; ".join(f"{e.kind} {e.ref}" for e in evidence)
                               + "): its code may be there under names obfuscation gave it")
        if audit.static_complete and known and not hosts_only:
            return ClaimResult(claim, "contradicted", None, (), declared,
                               f"a complete scan found no classes, manifest keys or traffic of {name} "
                               "(obfuscation that renames its packages would hide it)")
        names = [n for sdk in catalogue.sdks for n in (sdk.id, sdk.family) if n]
        if not known:
            note = f"{name} is not in the SDK catalogue{nearest(name.lower(), names)}"
        elif hosts_only:
            note = (f"no traffic to {', '.join(h for s in hosts_only for h in s.hosts)} was seen, and "
                    f"{', '.join(s.name for s in hosts_only)} has no Java classes or manifest keys a scan could find")
        else:
            note = "static scan incomplete"
        return ClaimResult(claim, "inconclusive", None, (), declared, note)

    if kind == "sdk_count":
        wanted = int(claim.subject)
        found = sorted({s.id for s in audit.sdks})
        declared = (f"SDK list names {len(declarations.sdks)}: {', '.join(declarations.sdks)}"
                    if declarations.sdks is not None else "no SDK list",)
        evidence = tuple(Evidence("sdk", s) for s in found)
        if len(found) >= wanted:
            return ClaimResult(claim, "supported", Level.PRESENT if found else None, evidence, declared,
                               f"{len(found)} SDKs found: {', '.join(found) or 'none'}")
        return ClaimResult(claim, "inconclusive", Level.PRESENT if found else None, evidence, declared,
                           f"only {len(found)} found ({', '.join(found) or 'none'}); the catalogue may not know "
                           "every SDK, so a lower count does not contradict the claim")
    raise AssertionError(kind)


def _refused(observations: list[Observation]) -> str | None:
    """Why Android refuses every read the code could make (None when any read is possible, was seen at runtime,
    or nothing is known): a blocked capability supports no "can access" claim."""
    code = [o for o in observations if o.level >= Level.PRESENT]
    if not code or any(not o.level.is_capability for o in code):
        return None
    known = [o.feasibility for o in code]
    if any(f is None or f.possible for f in known):
        return None
    return "; ".join(sorted({f.reason for f in known}))


def _who(observations: list[Observation], level: Level) -> str:
    """Who acted at `level`, to whom, and for a capability that Android narrows to one item handed over, what that
    is ("only the contact the user picks ..."): an access through a picker is not a read of the contact list."""
    at_level = [o for o in observations if o.level == level]
    out = "by " + ", ".join(sorted({str(o.actor) for o in at_level}))
    recipients = sorted({o.recipient for o in at_level if o.recipient})
    if recipients:
        out += " to " + ", ".join(recipients)
    if _handed_over(at_level):
        out += "; Android: " + "; ".join(sorted({o.feasibility.reason for o in at_level}))
    return out


def _handed_over(observations: list[Observation]) -> bool:
    """Every one a capability through which Android hands over one item (rules/apis.yaml `handover`)."""
    return bool(observations) and all(o.feasibility is not None and o.feasibility.handed_over for o in observations)
