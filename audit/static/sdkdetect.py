"""Which catalogue SDKs an app contains, and why: every detection carries its evidence.

Three kinds of evidence, strongest first:
- `sdk-class`: classes the dexes define under an SDK's package prefix (longest prefix wins, on package
  boundaries: Catalogue.match_prefix), one item per prefix with the class count and an example class.
  Classes the call-site attribution gives to the app itself (its own package, under a shorter SDK prefix)
  do not count, so the two never disagree;
- `manifest-key`: a <meta-data> key the SDK reads (its API key or a collection switch);
- `host`: a string constant naming one of the SDK's hosts. Weaker: a URL in the code says the app may talk
  to that service, not that the SDK's code is in it (a first-party REST call, an ad-blocking list ...).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from ..catalogue import Catalogue
from ..model import ActorKind, Evidence
from .report import SdkDetection

MAX_HOSTS_PER_SDK = 5   # evidence items of kind `host`; the detail says how many were found


def detect_sdks(catalogue: Catalogue, class_names: Iterable[str], meta_data: Iterable[str] = (),
                hosts: Iterable[str] = (), app_package: str | None = None) -> tuple[SdkDetection, ...]:
    """class_names: dotted or descriptor names of the classes the dexes define; meta_data: manifest
    <meta-data> keys; hosts: host names found in string constants (callsites.string_hosts)."""
    class_counts: dict[str, Counter] = defaultdict(Counter)     # sdk id -> prefix -> classes
    examples: dict[tuple[str, str], str] = {}
    for name in class_names:
        matched = catalogue.match_prefix(name)
        if matched is None:
            continue
        prefix, actor = matched
        if actor.kind is not ActorKind.SDK:
            continue
        if app_package and catalogue.actor_for_class(name, app_package).kind is ActorKind.FIRST_PARTY:
            continue   # the app's own package under a shorter SDK prefix (an SDK vendor's own app or sample)
        class_counts[actor.id][prefix] += 1
        key = (actor.id, prefix)
        dotted_name = name[1:-1].replace("/", ".") if name.startswith("L") and name.endswith(";") else name
        if key not in examples or dotted_name < examples[key]:
            examples[key] = dotted_name

    keys: dict[str, set[str]] = defaultdict(set)
    for key in meta_data:
        sdk = catalogue.sdk_for_manifest_key(key)
        if sdk is not None:
            keys[sdk.id].add(key)

    host_hits: dict[str, dict[str, str]] = defaultdict(dict)    # sdk id -> host seen -> catalogue entry
    for host in hosts:
        owner = catalogue.owner_of_host(host, app_package)
        if owner is not None and owner.sdk is not None:
            host_hits[owner.sdk.id][host] = owner.host

    detections = []
    for sdk_id in sorted(set(class_counts) | set(keys) | set(host_hits)):
        sdk = catalogue.sdk(sdk_id)
        if sdk is None:
            continue
        evidence: list[Evidence] = []
        for prefix, count in sorted(class_counts.get(sdk_id, {}).items()):
            noun = "class" if count == 1 else "classes"
            evidence.append(Evidence("sdk-class", prefix, examples[(sdk_id, prefix)],
                                     f"{count} {noun} defined under package {prefix}"))
        for key in sorted(keys.get(sdk_id, ())):
            evidence.append(Evidence("manifest-key", key, "AndroidManifest.xml",
                                     "<meta-data> key this SDK reads (value not reported)"))
        seen_hosts = host_hits.get(sdk_id, {})
        only_hosts = not evidence
        for host in sorted(seen_hosts)[:MAX_HOSTS_PER_SDK]:
            entry = seen_hosts[host]
            detail = "host named in a string constant"
            if entry != host:
                detail += f" (catalogue entry {entry})"
            if only_hosts:
                detail += "; host-only evidence is weaker: the SDK's code was not found, only its address"
            if len(seen_hosts) > MAX_HOSTS_PER_SDK:
                detail += f"; {len(seen_hosts)} hosts found, first {MAX_HOSTS_PER_SDK} listed"
            evidence.append(Evidence("host", host, "dex strings", detail))
        detections.append(SdkDetection(sdk.id, sdk.name, sdk.organisation, sdk.categories, tuple(evidence)))
    return tuple(detections)
