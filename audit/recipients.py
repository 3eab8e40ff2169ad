"""Naming who receives a request: rules/recipients.yaml (hosts the SDK catalogue does not list, cloud and CDN
suffixes) on top of the catalogue's hosts (catalogue.owner_of_host) and the Public Suffix List.

Order, first match wins: the catalogue's SDK hosts (rules/sdks.yaml and --trackers lists: Exodus, Ghostery's
TrackerDB), the first-party domains given, rules/recipients.yaml `hosts:`, its `infrastructure:` (named as the
service, per tenant), else "unknown organisation" keyed by the registered domain.
"""
from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path

from .catalogue import registered_domain
from .rulesdata import load_yaml, rules_dir, validate


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


def parse_recipients(raw, path: Path) -> RecipientRules:
    validate(raw, "recipients", path, "recipient list")    # an `sdk:` must be an id of rules/sdks.yaml
    hosts = {domain: NamedHost(domain, spec.get("sdk"), spec.get("organisation"), tuple(spec.get("categories") or ()))
             for domain, spec in raw["hosts"].items()}
    infrastructure = [Infrastructure(entry["match"], entry["provider"], entry["kind"])
                      for entry in raw["infrastructure"]]
    return RecipientRules(hosts, tuple(infrastructure))


@functools.lru_cache(maxsize=4)
def _load(path: str) -> RecipientRules:
    return parse_recipients(load_yaml(path, "recipient list"), Path(path))


def load_recipients() -> RecipientRules:
    return _load(str(rules_dir() / "recipients.yaml"))


__all__ = ["RecipientRules", "NamedHost", "Infrastructure", "load_recipients", "registered_domain"]
