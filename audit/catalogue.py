"""The SDK and library catalogue (rules/sdks.yaml, rules/libraries.yaml) and the matching of hosts.

Who a class, a stack or a host belongs to is decided in one place, audit/attribution.py, which reads the
catalogue through match_prefix (the longest catalogue prefix owning a class, on package boundaries:
`com.facebook` matches `com.facebook.ads.X`, never `com.facebookx.Y`).
A host belongs to the SDK whose hosts list it or one of its parent domains (whole labels, never a cut-down
registered domain only); failing that, to the app when a first-party domain given for it (never one guessed
from the package name) is the host or a parent; registered domains come from the Public Suffix List.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from . import attribution
from .attribution import dotted, looks_obfuscated  # noqa: F401 - the names callers import from here
from .errors import InputError
from .model import Actor, ActorKind
from .rulesdata import Validator, load_data, load_yaml, rules_dir, validate

CATEGORIES = ("analytics", "advertisement", "attribution", "crash_reporting", "profiling", "identification",
              "location", "social", "push", "apm", "customer_feedback", "payments", "other")

@dataclass(frozen=True)
class Sdk:
    id: str
    name: str
    organisation: str
    categories: tuple[str, ...]
    packages: tuple[str, ...] = ()
    manifest_keys: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    entry_classes: tuple[str, ...] = ()   # classes whose definition alone shows the SDK is there (sdkdetect)
    exodus: tuple[str, ...] = ()          # ids of the Exodus Privacy trackers this entry covers
    family: str | None = None
    website: str | None = None
    source: str = "appaudit"
    country: str | None = None           # where the organisation is based (imported lists that say so: Ghostery)
    privacy_contact: str | None = None   # whom to ask about the data (Ghostery's TrackerDB)

    def answers_to(self, name: str) -> bool:
        """A declaration naming `firebase` covers `firebase_analytics`; one naming the id covers itself."""
        name = name.lower()
        return name in (self.id, self.family) or name == self.name.lower()


@dataclass(frozen=True)
class Library:
    id: str
    name: str
    packages: tuple[str, ...]
    # A cross-platform framework, plugin or runtime runs what the app's code in another language (Dart,
    # JavaScript, C#, C++ ...) asks through a bridge or JNI: no Java caller shows the app's call, so what it can do
    # is the app's (rules/libraries.yaml)
    bridge: str | None = None


@dataclass(frozen=True)
class HostOwner:
    host: str                    # the catalogue entry that matched (the host or a parent domain)
    sdk: Sdk | None
    organisation: str
    categories: tuple[str, ...]
    party: str                   # "first" or "third"


@dataclass
class Catalogue:
    sdks: list[Sdk]
    libraries: list[Library]
    _by_prefix: dict[str, Actor] = field(default_factory=dict, repr=False)
    _by_host: dict[str, Sdk] = field(default_factory=dict, repr=False)
    _by_key: dict[str, Sdk] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Sdk] = field(default_factory=dict, repr=False)
    _libraries_by_id: dict[str, Library] = field(default_factory=dict, repr=False)
    _sdk_parents: set[str] = field(default_factory=set, repr=False)
    _roots: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        for lib in self.libraries:
            self._libraries_by_id.setdefault(lib.id, lib)
            for prefix in lib.packages:
                self._by_prefix.setdefault(prefix, Actor(ActorKind.LIBRARY, lib.id))
        for sdk in self.sdks:
            self._by_id.setdefault(sdk.id, sdk)
            for prefix in sdk.packages:
                labels = prefix.split(".")
                self._sdk_parents.update(".".join(labels[:end]) for end in range(1, len(labels)))
                # An SDK prefix overrides a library one: com.google.android.gms.ads is an SDK inside gms.
                existing = self._by_prefix.get(prefix)
                if existing is None or existing.kind is ActorKind.LIBRARY:
                    self._by_prefix[prefix] = Actor(ActorKind.SDK, sdk.id)
            for host in sdk.hosts:
                self._by_host.setdefault(host.lower().lstrip("."), sdk)
            for key in sdk.manifest_keys:
                self._by_key.setdefault(key, sdk)
        self._roots = frozenset(prefix.split(".", 1)[0] for prefix in self._by_prefix)

    # -- lookup ---------------------------------------------------------------------------------------------
    def sdk(self, sdk_id: str) -> Sdk | None:
        return self._by_id.get(sdk_id)

    def library(self, library_id: str) -> Library | None:
        return self._libraries_by_id.get(library_id)

    def sdk_for_manifest_key(self, key: str) -> Sdk | None:
        return self._by_key.get(key)

    def match_prefix(self, class_name: str) -> tuple[str, Actor] | None:
        """The longest catalogue prefix owning a class, on package boundaries.

        An entry may also name a class (imported Exodus signatures do, e.g. `io.radar.sdk.Radar`): it owns that
        class and its inner classes."""
        parts = dotted(class_name).split(".")
        outer = ".".join(parts[:-1] + [parts[-1].split("$", 1)[0]])
        if len(parts) > 1 and outer in self._by_prefix:
            return outer, self._by_prefix[outer]
        for end in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:end])
            actor = self._by_prefix.get(prefix)
            if actor is not None:
                return prefix, actor
        return None

    def roots(self) -> frozenset[str]:
        """The first labels of every catalogue prefix (`com`, `okhttp3` ...): where a relocated copy of
        catalogued code may start (attribution.relocated_match)."""
        return self._roots

    def holds_sdks(self, class_name: str) -> bool:
        """The catalogue entry owning this class is a family with SDKs inside it (com.google.android.gms holds
        com.google.android.gms.ads): its renamed classes may be any of them."""
        matched = self.match_prefix(class_name)
        return matched is not None and matched[0] in self._sdk_parents

    def actor_for_class(self, class_name: str, app: "attribution.AppContext | str | None") -> Actor:
        """See audit.attribution.actor_for_class: `app` is the app's package or its AppContext."""
        return attribution.actor_for_class(self, class_name, app)

    def owner_of_host(self, host: str, app_package: str | None = None,
                      first_party_domains: Iterable[str] = ()) -> HostOwner | None:
        """Who a host belongs to: the catalogue's hosts first (an SDK's host stays the SDK's whoever says the
        domain is theirs), then the first-party domains given (from the app's manifest, the declaration's
        `first_party_domains:`, the user), matched on whole labels up to the registered domain. First-party
        domains are never guessed from the package name (`uk.co.bbc.iplayer` would make every `.co.uk` host
        the app's own), and a public suffix (`co.uk`, `cloudfront.net`) is never one. `app_package` is kept
        for callers; it no longer decides anything here."""
        host = host.lower().rstrip(".")
        labels = host.split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            sdk = self._by_host.get(candidate)
            if sdk is not None:
                return HostOwner(candidate, sdk, sdk.organisation, sdk.categories, "third")
        first = {d for d in (normal_domain(d) for d in first_party_domains) if d and not is_public_suffix(d)}
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            if candidate in first:
                return HostOwner(candidate, None, "first party", (), "first")
        return None


# -- host helpers -----------------------------------------------------------------------------------------
def normal_domain(name: str) -> str:
    """`https://Example.org:443/x`, `*.example.org`, `.example.org.` -> `example.org`."""
    name = str(name).strip().lower()
    name = re.sub(r"^[a-z][a-z0-9+.-]*://", "", name).split("/")[0]
    if not name.startswith("["):
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return name.lstrip("*").strip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def is_public_suffix(domain: str) -> bool:
    """`co.uk`, `com`, `cloudfront.net` (the Public Suffix List, ICANN and private sections)."""
    return not _is_ip(domain) and attribution.public_suffix_list().privatesuffix(domain, accept_unknown=True) is None


def registered_domain(host: str) -> str:
    """The domain one organisation registered, by the Public Suffix List: `www.bmw.de` -> `bmw.de`,
    `api.ing.nl` -> `ing.nl`, `ads.tracker.co.uk` -> `tracker.co.uk`; in the private section a tenant is its
    own domain (`d1.cloudfront.net`, `bucket.s3.amazonaws.com`). IP addresses and bare suffixes stay as given."""
    host = host.lower().strip().rstrip(".")
    if not host or _is_ip(host):
        return host
    return attribution.public_suffix_list().privatesuffix(host, accept_unknown=True) or host


# -- loading ----------------------------------------------------------------------------------------------
def _as_tuple(value) -> tuple[str, ...]:
    return tuple(value or ())


def parse_sdks(raw, path: Path, source: str = "appaudit") -> list[Sdk]:
    validate(raw, "sdks", path, "SDK catalogue")
    check = Validator(path)
    check.unique(raw["sdks"], "id", "SDK id")
    out = []
    for entry in raw["sdks"]:
        for name in entry.get("entry_classes") or ():
            if not any(name.startswith(prefix + ".") for prefix in entry.get("packages") or ()):
                check.fail(entry, "entry_classes", f"{name} is not under one of the entry's packages")
        out.append(Sdk(
            id=entry["id"], name=entry["name"], organisation=entry.get("organisation") or entry["name"],
            categories=tuple(entry["categories"]), packages=_as_tuple(entry.get("packages")),
            manifest_keys=_as_tuple(entry.get("manifest_keys")), hosts=_as_tuple(entry.get("hosts")),
            family=entry.get("family"), website=entry.get("website"), source=entry.get("source") or source,
            entry_classes=_as_tuple(entry.get("entry_classes")),
            exodus=tuple(str(item) for item in entry.get("exodus") or ())))
    return out


def parse_libraries(raw, path: Path) -> list[Library]:
    validate(raw, "libraries", path, "library list")
    return [Library(entry["id"], entry["name"], _as_tuple(entry["packages"]), entry.get("bridge"))
            for entry in raw.get("libraries") or ()]


@functools.lru_cache(maxsize=8)
def _load(rules: str, extra: tuple[str, ...]) -> Catalogue:
    root = Path(rules)
    sdks = parse_sdks(load_yaml(root / "sdks.yaml", "SDK catalogue"), root / "sdks.yaml")
    libraries = parse_libraries(load_yaml(root / "libraries.yaml", "library list"), root / "libraries.yaml")
    for path in extra:
        sdks = merge_extra(sdks, load_extra(Path(path)))
    return Catalogue(sdks, libraries)


def merge_extra(sdks: list[Sdk], extra: Iterable[Sdk]) -> list[Sdk]:
    """Add an extra list to a catalogue: an entry with a known id (an Exodus tracker that is one of ours)
    extends that SDK's packages, manifest keys and hosts, keeping its name and categories; others are appended."""
    out = list(sdks)
    index = {sdk.id: position for position, sdk in enumerate(out)}
    for sdk in extra:
        position = index.get(sdk.id)
        if position is None:
            index[sdk.id] = len(out)
            out.append(sdk)
            continue
        known = out[position]
        out[position] = replace(
            known, packages=tuple(dict.fromkeys(known.packages + sdk.packages)),
            manifest_keys=tuple(dict.fromkeys(known.manifest_keys + sdk.manifest_keys)),
            hosts=tuple(dict.fromkeys(known.hosts + sdk.hosts)))
    return out


def load_catalogue(extra: Iterable[str | Path] = ()) -> Catalogue:
    """The project's catalogue, plus extra lists (our YAML form or the Exodus JSON format)."""
    return _load(str(rules_dir()), tuple(str(p) for p in extra))


def sdk_ids() -> list[str]:
    """The ids of the catalogue (a vocabulary of the rule schemas: rulesdata.VOCABULARIES)."""
    return [sdk.id for sdk in load_catalogue().sdks]


def load_extra(path: Path) -> list[Sdk]:
    raw = load_data(path, "tracker list")
    if isinstance(raw, dict) and "trackers" in raw:
        from .exodus import sdks_from_exodus
        return sdks_from_exodus(raw, path)
    if isinstance(raw, dict) and "sdks" in raw:
        return parse_sdks(raw, path, source=str(path))
    from .ghostery import is_trackerdb, sdks_from_trackerdb
    if is_trackerdb(raw):
        return sdks_from_trackerdb(raw, path)
    raise InputError(f"{path}: neither an appaudit SDK list (sdks:), an Exodus tracker list (trackers:) nor "
                     "Ghostery's TrackerDB (patterns:, organizations:)")
