"""Naming who receives a request: rules/recipients.yaml (hosts the SDK catalogue does not list, cloud and CDN
suffixes) on top of the catalogue's hosts (catalogue.owner_of_host) and the Public Suffix List.

Order, first match wins: the catalogue's SDK hosts (rules/sdks.yaml and --trackers lists: Exodus, Ghostery's
TrackerDB), the first-party domains given, rules/recipients.yaml `hosts:`, its `infrastructure:` (named as the
service, per tenant), else "unknown organisation" keyed by the registered domain.
"""
from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .catalogue import CATEGORIES, Catalogue, registered_domain
from .rulesdata import Validator, load_yaml, rules_dir


@dataclass(frozen=True)
class NamedHost:
    domain: str                  # the entry that matched (the host or a parent domain)
    sdk: str | None
    organisation: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Infrastructure:
    pattern: str
    provider: str
    kind: str                    # cdn | cloud | cloud storage


@dataclass(frozen=True)
class RecipientRules:
    hosts: dict[str, NamedHost]
    infrastructure: tuple[Infrastructure, ...]

    def named(self, host: str) -> NamedHost | None:
        labels = host.lower().rstrip(".").split(".")
        for start in range(len(labels) - 1):
            entry = self.hosts.get(".".join(labels[start:]))
            if entry is not None:
                return entry
        return None

    def infrastructure_of(self, host: str) -> Infrastructure | None:
        labels = host.lower().rstrip(".").split(".")
        parents = [".".join(labels[start:]) for start in range(len(labels) - 1)]
        for entry in self.infrastructure:
            if any(fnmatch.fnmatchcase(parent, entry.pattern) for parent in parents):
                return entry
        return None


def parse_recipients(raw, path: Path, catalogue: Catalogue) -> RecipientRules:
    check = Validator(path)
    check.mapping(raw)
    check.fields(raw, required={"hosts": dict, "infrastructure": list})
    hosts = {}
    for domain, spec in raw["hosts"].items():
        if not isinstance(domain, str) or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
            check.fail(raw["hosts"], domain, "expected a lower-case host or domain name")
        check.mapping(spec, raw["hosts"], domain)
        check.fields(spec, optional={"sdk": str, "organisation": str, "categories": list, "note": str})
        if ("sdk" in spec) == ("organisation" in spec):
            check.fail(raw["hosts"], domain, "name either the catalogue's `sdk:` or an `organisation:`")
        if "sdk" in spec and catalogue.sdk(spec["sdk"]) is None:
            check.fail(spec, "sdk", f"{spec['sdk']!r} is not an SDK id of rules/sdks.yaml")
        for category in spec.get("categories") or ():
            if category not in CATEGORIES:
                check.fail(spec, "categories", f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
        hosts[domain] = NamedHost(domain, spec.get("sdk"), spec.get("organisation"),
                                  tuple(spec.get("categories") or ()))
    infrastructure = []
    for entry in raw["infrastructure"]:
        check.mapping(entry, raw, "infrastructure")
        check.fields(entry, required={"match": str, "provider": str, "kind": str})
        check.one_of(entry, "kind", ("cdn", "cloud", "cloud storage"))
        infrastructure.append(Infrastructure(entry["match"], entry["provider"], entry["kind"]))
    return RecipientRules(hosts, tuple(infrastructure))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> RecipientRules:
    from .catalogue import load_catalogue
    return parse_recipients(load_yaml(path, "recipient list"), Path(path), load_catalogue())


def load_recipients() -> RecipientRules:
    return _load(str(rules_dir() / "recipients.yaml"))


__all__ = ["RecipientRules", "NamedHost", "Infrastructure", "load_recipients", "registered_domain"]
