"""Import the Exodus Privacy tracker list (https://reports.exodus-privacy.eu.org/api/trackers) as catalogue SDKs.

Exodus describes a tracker by two `|`-separated regular expressions: `code_signature` over class names and
`network_signature` over host names. The catalogue matches plain package prefixes and plain hosts instead
(rules/sdks.yaml), so each alternative is reduced where it is plain:

- code: `com.foo.`, `com\\.foo\\.` and `com.foo` all become the prefix `com.foo` (Exodus writes dots unescaped
  and means them literally); a class name (`io.radar.sdk.Radar`) is kept as is: the catalogue matches it as
  that class and its inner classes;
- network: `\\.`, `\\-` are unescaped; a leading `.`, `.*\\.` or `\\.` ("any subdomain of") is dropped since a
  catalogue host already matches its subdomains;
- anything else (a real regex: `mst[0-9]*\\.is\\.autonavi\\.com`, `adservice\\.google\\..*`, an alternative that
  matches anywhere in a class name such as `.LigatusManager`, a host with a port or path) cannot be reduced
  without changing its meaning and is reported as skipped, never silently dropped.

A tracker that is one of ours (its code prefixes fall under one of our SDKs' prefixes, or ours under its) keeps
our id, and several such trackers are merged into one record (Facebook Analytics, Login, Share ... ->
facebook_sdk); the others get `exodus_<slug of the name>`.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from .catalogue import CATEGORIES, Sdk, parse_libraries, parse_sdks
from .errors import InputError
from .rulesdata import load_data, load_yaml, rules_dir

# Exodus category names -> ours (catalogue.CATEGORIES). An unknown or missing category becomes "other".
EXODUS_CATEGORIES = {
    "Advertisement": "advertisement",
    "Analytics": "analytics",
    "Crash reporting": "crash_reporting",
    "Identification": "identification",
    "Location": "location",
    "Profiling": "profiling",
}

_JAVA_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*")
_HOST_NAME = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ANY_SUBDOMAIN = (".*.", ".")   # after unescaping: `.*\.host` and `\.host` mean "host or a subdomain"


@dataclass(frozen=True)
class SkippedSignature:
    tracker: str        # the Exodus tracker id
    name: str
    signature: str      # "code" or "network"
    pattern: str
    reason: str


@dataclass(frozen=True)
class ExodusImport:
    sdks: tuple[Sdk, ...]
    skipped: tuple[SkippedSignature, ...]
    trackers: int                         # trackers in the list
    imported: int                         # trackers that gave at least one prefix or host
    matched: dict[str, str] = field(default_factory=dict)   # Exodus id -> our SDK id it was merged into
    unusable: tuple[str, ...] = ()        # "id name" of trackers without any usable signature
    exodus_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)   # our/slug id -> Exodus ids


# -- reducing signatures -----------------------------------------------------------------------------------
def reduce_code_signature(pattern: str) -> tuple[str | None, str]:
    """A plain package prefix (or class name) for one code alternative, or None and why not."""
    text = pattern.strip()
    if text.startswith("."):
        return None, "matches anywhere in a class name, not a package prefix"
    text = text.replace("\\.", ".").removeprefix("^").rstrip(".")
    if _JAVA_NAME.fullmatch(text):
        return text, ""
    if re.search(r"[\\*+?()\[\]{}^$]", text):
        return None, "regular expression"
    return None, "not a Java package or class name"


def reduce_network_signature(pattern: str) -> tuple[str | None, str]:
    """A plain host for one network alternative, or None and why not."""
    text = pattern.strip().lower().replace("\\.", ".").replace("\\-", "-").removeprefix("^").removesuffix("$")
    for lead in _ANY_SUBDOMAIN:
        if text.startswith(lead):
            text = text[len(lead):]
            break
    if _HOST_NAME.fullmatch(text):
        return text, ""
    if re.search(r"[:/]", text) and not re.search(r"[\\*+?()\[\]{}^$]", text):
        return None, "host with a port or path"
    if re.search(r"[\\*+?()\[\]{}^$]", text) or text.endswith("."):
        return None, "regular expression"
    return None, "not a host name"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "tracker"


# -- reading the list --------------------------------------------------------------------------------------
def _trackers(raw: Any, path: Path) -> list[tuple[str, dict]]:
    if not isinstance(raw, dict) or "trackers" not in raw:
        raise InputError(f"{path}: not an Exodus tracker list (expected a JSON object with a \"trackers\" member)")
    trackers = raw["trackers"]
    if isinstance(trackers, dict):
        items = [(str(key), value) for key, value in trackers.items()]
    elif isinstance(trackers, list):
        items = [(str(value.get("id", index)) if isinstance(value, dict) else str(index), value)
                 for index, value in enumerate(trackers)]
    else:
        raise InputError(f"{path}: trackers: expected a mapping of id -> tracker, found {type(trackers).__name__}")
    for key, tracker in items:
        where = f"{path}: trackers[{key}]"
        if not isinstance(tracker, dict):
            raise InputError(f"{where}: expected a tracker object, found {type(tracker).__name__}")
        if not isinstance(tracker.get("name"), str) or not tracker["name"].strip():
            raise InputError(f"{where}: name: expected a non-empty string")
        for signature in ("code_signature", "network_signature", "website"):
            if tracker.get(signature) is not None and not isinstance(tracker[signature], str):
                raise InputError(f"{where}: {signature}: expected a string, found "
                                 f"{type(tracker[signature]).__name__}")
        categories = tracker.get("categories")
        if categories is not None and (not isinstance(categories, list)
                                       or not all(isinstance(c, str) for c in categories)):
            raise InputError(f"{where}: categories: expected a list of strings")
    return items


def _our_owners(rules: Path) -> tuple[list[Sdk], dict[str, str | None]]:
    """Our SDKs and a prefix -> SDK id map in which library prefixes map to None (not an SDK)."""
    ours = parse_sdks(load_yaml(rules / "sdks.yaml", "SDK catalogue"), rules / "sdks.yaml")
    owners: dict[str, str | None] = {}
    for library in parse_libraries(load_yaml(rules / "libraries.yaml", "library list"), rules / "libraries.yaml"):
        for prefix in library.packages:
            owners.setdefault(prefix, None)
    for sdk in ours:
        for prefix in sdk.packages:
            if owners.get(prefix) is None:
                owners[prefix] = sdk.id
    return ours, owners


def _match_ours(packages: Iterable[str], owners: dict[str, str | None], order: dict[str, int]) -> str | None:
    """The SDK of ours these Exodus prefixes belong to: each prefix votes for the SDK owning its longest
    catalogue prefix (nothing if that is a library), or, when none owns it, for our SDKs nested under it."""
    votes: Counter[str] = Counter()
    for package in packages:
        parts = package.split(".")
        owner_found = False
        for end in range(len(parts), 0, -1):
            prefix = ".".join(parts[:end])
            if prefix in owners:
                owner_found = True
                if owners[prefix] is not None:
                    votes[owners[prefix]] += 1
                break
        if not owner_found:
            for sdk_id in {sdk for prefix, sdk in owners.items() if sdk and prefix.startswith(package + ".")}:
                votes[sdk_id] += 1
    if not votes:
        return None
    return min(votes, key=lambda sdk_id: (-votes[sdk_id], order[sdk_id]))


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def convert(raw: Any, path: str | Path, rules: Path | None = None) -> ExodusImport:
    """The whole conversion, with what was skipped and which trackers were merged into ours."""
    path = Path(path)
    items = _trackers(raw, path)
    ours, owners = _our_owners(rules or rules_dir())
    our_by_id = {sdk.id: sdk for sdk in ours}
    order = {sdk.id: index for index, sdk in enumerate(ours)}

    skipped: list[SkippedSignature] = []
    unusable: list[str] = []
    matched: dict[str, str] = {}
    groups: dict[str, list[tuple[str, dict, tuple[str, ...], tuple[str, ...]]]] = {}
    used_slugs: set[str] = set(our_by_id)
    for key, tracker in sorted(items, key=lambda item: (int(item[0]) if item[0].isdigit() else 1 << 62, item[0])):
        name = tracker["name"].strip()
        packages, hosts = [], []
        for kind, text, reducer, out in (("code", tracker.get("code_signature") or "", reduce_code_signature,
                                          packages),
                                         ("network", tracker.get("network_signature") or "",
                                          reduce_network_signature, hosts)):
            for alternative in text.split("|"):
                if not alternative.strip():
                    continue
                reduced, reason = reducer(alternative)
                if reduced is None:
                    skipped.append(SkippedSignature(key, name, kind, alternative.strip(), reason))
                else:
                    out.append(reduced)
        packages, hosts = _unique(packages), _unique(hosts)
        if not packages and not hosts:
            unusable.append(f"{key} {name}")
            continue
        target = _match_ours(packages, owners, order) if packages else None
        if target is not None:
            matched[key] = target
        else:
            target = "exodus_" + slug(name)
            if target in used_slugs:
                target = f"{target}_{slug(key)}"
            used_slugs.add(target)
        groups.setdefault(target, []).append((key, tracker, packages, hosts))

    sdks = []
    exodus_ids: dict[str, tuple[str, ...]] = {}
    for sdk_id in sorted(groups):
        members = groups[sdk_id]
        ours_sdk = our_by_id.get(sdk_id)
        names = _unique(tracker["name"].strip() for _, tracker, _, _ in members)
        categories = {EXODUS_CATEGORIES.get(c, "other") for _, tracker, _, _ in members
                      for c in tracker.get("categories") or ()} or {"other"}
        website = next((t["website"].strip() for _, t, _, _ in members if (t.get("website") or "").strip()), None)
        sdks.append(Sdk(
            id=sdk_id, name=" / ".join(names),
            organisation=ours_sdk.organisation if ours_sdk else names[0],
            categories=tuple(c for c in CATEGORIES if c in categories),
            packages=_unique(p for _, _, packages, _ in members for p in packages),
            hosts=_unique(h for _, _, _, hosts in members for h in hosts),
            family=ours_sdk.family if ours_sdk else None,
            website=website, source="exodus"))
        exodus_ids[sdk_id] = tuple(key for key, _, _, _ in members)
    return ExodusImport(tuple(sdks), tuple(skipped), trackers=len(items),
                        imported=sum(len(m) for m in groups.values()), matched=matched,
                        unusable=tuple(unusable), exodus_ids=exodus_ids)


def sdks_from_exodus(raw: dict, path: str | Path) -> list[Sdk]:
    """Catalogue records for an Exodus tracker list (the `trackers` API format); see `convert`."""
    return list(convert(raw, path).sdks)


# -- our YAML form -----------------------------------------------------------------------------------------
def to_yaml(result: ExodusImport, source_name: str) -> str:
    """Deterministic catalogue YAML (rules/sdks.yaml schema) with the skipped signatures listed after it."""
    entries = []
    for sdk in result.sdks:
        entry: dict[str, Any] = {"id": sdk.id, "name": sdk.name, "organisation": sdk.organisation}
        if sdk.family:
            entry["family"] = sdk.family
        entry["categories"] = list(sdk.categories)
        if sdk.packages:
            entry["packages"] = list(sdk.packages)
        if sdk.hosts:
            entry["hosts"] = list(sdk.hosts)
        if sdk.website:
            entry["website"] = sdk.website
        entry["source"] = "exodus"
        entry["note"] = "Exodus tracker " + ", ".join(result.exodus_ids.get(sdk.id, ()))
        entries.append(entry)
    skipped = [{"tracker": s.tracker, "name": s.name, "signature": s.signature, "pattern": s.pattern,
                "reason": s.reason} for s in result.skipped]
    header = (f"# Imported from {source_name} by `appaudit sdks import-exodus`: {summary(result)}.\n"
              "# Regenerate rather than edit. An entry with an id from rules/sdks.yaml adds its prefixes and hosts\n"
              "# to ours; `skipped` lists the signatures that are real regular expressions, kept for review.\n")
    body = yaml.dump({"sdks": entries, "skipped": skipped, "unusable_trackers": list(result.unusable)},
                     Dumper=_CatalogueDumper, sort_keys=False, allow_unicode=True, width=120)
    return header + body


class _CatalogueDumper(yaml.SafeDumper):
    """Lists of strings on one line (`packages: [a, b]`), as in rules/sdks.yaml; everything else block style."""


def _represent_list(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
    flow = all(isinstance(item, str) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_CatalogueDumper.add_representer(list, _represent_list)


def summary(result: ExodusImport) -> str:
    return (f"imported {result.imported} of {result.trackers} trackers as {len(result.sdks)} SDKs "
            f"({len(result.matched)} of them under catalogue ids), skipped {len(result.skipped)} regexes, "
            f"{len(result.unusable)} without a usable signature")


def import_command(args) -> int:
    """`appaudit sdks import-exodus FILE [-o OUT]`."""
    source = Path(args.source)
    raw = load_data(source, "Exodus tracker list")
    result = convert(raw, source)
    from .report import write_output
    write_output(to_yaml(result, source.name), args.output, inputs=[source])
    print(f"appaudit: {summary(result)}", file=sys.stderr)
    return 0
